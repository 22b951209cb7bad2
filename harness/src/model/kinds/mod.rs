//! One module per service kind: how to recognise it, what it listens on and
//! what it sends where. [`ALL`] lists them; the first kind that matches a
//! service wins.

pub mod alertmanager;
pub mod app;
pub mod collector;
pub mod grafana;
pub mod jaeger;
pub mod loki;
pub mod prometheus;
pub mod promtail;
pub mod sdk;

use super::{Ctx, Link, Listener};

/// A service kind of the model.
pub trait Kind: Sync {
    /// Short name (`prometheus`, `loki`, `otel-collector`, …).
    fn name(&self) -> &'static str;
    /// True when this service is of this kind (image, role label).
    fn matches(&self, ctx: &Ctx) -> bool;
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
];

/// The kind of a service, if the model knows it.
pub fn kind_of(ctx: &Ctx) -> Option<&'static dyn Kind> {
    ALL.iter().copied().find(|k| k.matches(ctx))
}

/// The kind with this name.
pub fn by_name(name: &str) -> Option<&'static dyn Kind> {
    ALL.iter().copied().find(|k| k.name() == name)
}

/// `image` (any registry, any tag) names this repository fragment.
pub(crate) fn image_has(ctx: &Ctx, frag: &str) -> bool {
    ctx.svc.image.contains(frag)
}

/// A listener from a `host:port` address value (flag, env or config) or the default.
pub(crate) fn from_addr(value: Option<(String, crate::lint::compose::Origin)>, default_bind: &str, default_port: u16, proto: super::Proto, serves: &'static str) -> Option<Listener> {
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
pub(crate) fn link(ctx: &Ctx, value: &str, default_port: Option<u16>, proto: super::Proto, expects: &'static [&'static str], what: String, rule: &'static str, at: crate::lint::compose::Origin) -> Link {
    let (host, port) = match crate::lint::compose::host_port(value) {
        Some(hp) => hp,
        None => {
            let rest = value.split_once("://").map_or(value, |(_, r)| r);
            let host = rest.split(['/', ':', '?']).next().unwrap_or_default().to_owned();
            (host, default_port.unwrap_or(0))
        }
    };
    Link { from: ctx.svc.name.clone(), host, port, proto, expects, what, rule, value: value.to_owned(), at, to: None }
}
