//! Prometheus: listens on `--web.listen-address` (default `0.0.0.0:9090`);
//! scrapes its static targets and notifies its Alertmanagers.

use super::super::{Ctx, Link, Listener, Proto};

pub struct Prometheus;

impl super::Kind for Prometheus {
    fn name(&self) -> &'static str {
        "prometheus"
    }
    fn images(&self) -> &'static [&'static str] {
        &["prom/prometheus", "prometheus/prometheus", "bitnami/prometheus", "ubuntu/prometheus"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn default_config(&self, _: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some("/etc/prometheus/prometheus.yml")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        super::from_addr(ctx.flag("web.listen-address"), "0.0.0.0", 9090, Proto::Http, "prometheus").into_iter().collect()
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(p) = ctx.stack.prom.as_ref().filter(|p| p.svc.as_deref() == Some(ctx.svc.name.as_str())) else {
            return Vec::new();
        };
        let at = |t: &str| crate::read::compose::Origin { file: p.rel.clone(), line: crate::read::locate::line_of(&p.text, t) };
        let mut out = Vec::new();
        for sc in &p.cfg.scrape_configs {
            for t in sc.static_configs.iter().flat_map(|c| &c.targets) {
                let path = sc.metrics_path.as_deref().unwrap_or("/metrics");
                out.push(super::link(ctx, t, None, Proto::Http, &[], format!("scrape {} {path}", sc.job_name), "scrape-target-unknown-service", at(t)));
            }
        }
        for am in p.cfg.alerting.iter().flat_map(|a| &a.alertmanagers) {
            for t in am.static_configs.iter().flat_map(|c| &c.targets) {
                out.push(super::link(ctx, t, None, Proto::Http, &["alertmanager"], "alerts".into(), "alerting-target-unknown-service", at(t)));
            }
        }
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.first().map(|l| (l.port, "/-/ready"))
    }
}
