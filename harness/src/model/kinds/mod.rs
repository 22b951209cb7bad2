//! One module per service kind: how to recognise it, what it listens on and
//! what it sends where. [`ALL`] lists them; the first kind that matches a
//! service wins.

pub mod alertmanager;
pub mod alloy;
pub mod app;
pub mod collector;
pub mod grafana;
pub mod jaeger;
pub mod kafka;
pub mod loki;
pub mod mimir;
pub mod prometheus;
pub mod promtail;
pub mod proxy;
pub mod sdk;
pub mod tempo;

use super::{Ctx, Link, Listener};
use crate::read::compose::ServiceInfo;

/// A service kind of the model.
pub trait Kind: Sync {
    /// Short name (`prometheus`, `loki`, `otel-collector`, …).
    fn name(&self) -> &'static str;
    /// Its image repositories, matched exactly by path component whatever the
    /// registry or mirror ([`crate::read::image::ImageRef::is`]).
    fn images(&self) -> &'static [&'static str] {
        &[]
    }
    /// True when this service is of this kind: by default, its image is one of [`Self::images`].
    fn matches(&self, svc: &ServiceInfo) -> bool {
        crate::read::image::ImageRef::parse(&svc.image).is_any(self.images())
    }
    /// The flags it reads its config file from (`config.file` matches `--config.file=`,
    /// `-config.file `; `config` matches `--config=file:…`, repeatable).
    fn config_flags(&self) -> &'static [&'static str] {
        &[]
    }
    /// The config path its image's default command reads (a fact of the image).
    fn default_config(&self, image: &crate::read::image::ImageRef) -> Option<&'static str> {
        let _ = image;
        None
    }
    /// A config path given as a positional argument (Alloy's `run … /etc/alloy/config.alloy`).
    fn positional_config(&self, svc: &ServiceInfo) -> Option<String> {
        let _ = svc;
        None
    }
    /// Its config is YAML (Alloy's is its own syntax, parsed by its module, unless it runs
    /// its OTel engine on a collector config).
    fn config_is_yaml(&self, svc: &ServiceInfo) -> bool {
        let _ = svc;
        true
    }
    /// How it expands `${…}` in its config: `None`; `Some(flag)` when a flag turns
    /// expansion on (`config.expand-env`); `Some("")` when it always does (the collector's `${env:VAR}`).
    fn config_env_expansion(&self) -> Option<&'static str> {
        None
    }
    /// Links to it are judged (its listeners are known). A pass-through proxy is not.
    fn judged(&self) -> bool {
        true
    }
    /// What it listens on: from its config, flags or environment, image defaults as fallback.
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener>;
    /// What it sends where.
    fn links(&self, ctx: &Ctx) -> Vec<Link>;
    /// The port its readiness endpoint answers on, and the path.
    fn readiness(&self, listeners: &[Listener]) -> Option<(u16, &'static str)> {
        let _ = listeners;
        None
    }
}

/// Every kind the model knows, in matching order.
pub const ALL: &[&dyn Kind] = &[
    &app::App,
    &prometheus::Prometheus,
    &alertmanager::Alertmanager,
    &loki::Loki,
    &promtail::Promtail,
    &collector::Collector,
    &jaeger::Jaeger,
    &grafana::Grafana,
    &tempo::Tempo,
    &mimir::Mimir,
    &alloy::Alloy,
    &kafka::Kafka,
    &proxy::Proxy,
];

/// The kind of a service, if the model knows it.
pub fn kind_of(svc: &ServiceInfo) -> Option<&'static dyn Kind> {
    ALL.iter().copied().find(|k| k.matches(svc))
}

/// The kind with this name.
pub fn by_name(name: &str) -> Option<&'static dyn Kind> {
    ALL.iter().copied().find(|k| k.name() == name)
}


/// A listener from a `host:port` address value (flag, env or config) or the default.
pub(crate) fn from_addr(value: Option<(String, crate::read::compose::Origin)>, default_bind: &str, default_port: u16, proto: super::Proto, serves: &'static str) -> Option<Listener> {
    match value {
        Some((v, at)) => {
            if v.trim().is_empty() {
                return None; // explicitly disabled (e.g. --cluster.listen-address=)
            }
            let (bind, port) = super::split_bind(&v).unwrap_or((v.clone(), default_port));
            Some(Listener { port, proto, serves, bind, at: Some(at) })
        }
        None => Some(Listener { port: default_port, proto, serves, bind: default_bind.into(), at: None }),
    }
}

/// A link helper: the URL or `host:port` value, parsed.
// Each kind names a link's facts in one call, one line per link; a builder would spread them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn link(ctx: &Ctx, value: &str, default_port: Option<u16>, proto: super::Proto, expects: &'static [&'static str], what: String, rule: &'static str, at: crate::read::compose::Origin) -> Link {
    let (host, port) = match crate::read::compose::host_port(value) {
        Some(hp) => hp,
        None => {
            let rest = value.split_once("://").map_or(value, |(_, r)| r);
            let host = rest.split(['/', ':', '?']).next().unwrap_or_default().to_owned();
            (host, default_port.unwrap_or(0))
        }
    };
    Link { from: ctx.svc.name.clone(), host, port, proto, expects, what, rule, value: value.to_owned(), at, to: None }
}
