//! Alertmanager: its API on `--web.listen-address` (default `:9093`), cluster
//! gossip on `--cluster.listen-address` (default `0.0.0.0:9094`, empty turns it
//! off); it notifies its webhook receivers.

use super::super::{Ctx, Link, Listener, Proto};

pub struct Alertmanager;

impl super::Kind for Alertmanager {
    fn name(&self) -> &'static str {
        "alertmanager"
    }
    fn images(&self) -> &'static [&'static str] {
        &["prom/alertmanager", "prometheus/alertmanager", "bitnami/alertmanager", "ubuntu/alertmanager"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn default_config(&self, _: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some("/etc/alertmanager/alertmanager.yml")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let mut out: Vec<Listener> = super::from_addr(ctx.flag("web.listen-address"), "", 9093, Proto::Http, "alertmanager").into_iter().collect();
        out.extend(super::from_addr(ctx.flag("cluster.listen-address"), "0.0.0.0", 9094, Proto::Gossip, "alertmanager-cluster"));
        out
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(a) = ctx.stack.alertmanager.as_ref().filter(|a| a.svc.as_deref() == Some(ctx.svc.name.as_str())) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &a.cfg.receivers {
            for w in &r.webhook_configs {
                let Some(url) = &w.url else { continue };
                // Receivers outside the stack (a host with a dot, e.g. hooks.slack.com) are not links of it.
                let host = crate::read::compose::host_port(url).map(|h| h.0).unwrap_or_default();
                if host.contains('.') && !super::super::is_local(&host) {
                    continue;
                }
                let at = crate::read::compose::Origin { file: a.rel.clone(), line: crate::read::locate::line_of(&a.text, url) };
                out.push(super::link(ctx, url, Some(80), Proto::Http, &[], format!("notify {}", r.name), "alertmanager-receiver-unknown-service", at));
            }
        }
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "alertmanager").map(|l| (l.port, "/-/ready"))
    }
}
