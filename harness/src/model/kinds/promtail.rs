//! Promtail: HTTP on `server.http_listen_port` (default 9080); pushes to each
//! `clients[].url`, and reads the logs of the containers its Docker target
//! selects (`docker_sd_configs` filters; every container without filters).

use super::super::{Ctx, Link, Listener, Proto};

pub struct Promtail;

impl super::Kind for Promtail {
    fn name(&self) -> &'static str {
        "promtail"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/promtail", "bitnami/promtail"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn default_config(&self, _: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some("/etc/promtail/config.yml")
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("config.expand-env")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        super::loki::server_listeners(ctx, 9080, 9095, "promtail")
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(p) = ctx.stack.promtail.as_ref().filter(|p| p.svc.as_deref() == Some(ctx.svc.name.as_str())) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for c in &p.cfg.clients {
            let at = crate::read::compose::Origin { file: p.rel.clone(), line: crate::read::locate::line_of(&p.text, &c.url) };
            out.push(super::link(ctx, &c.url, Some(80), Proto::Http, &["loki"], "push logs".into(), "promtail-client-unknown-service", at));
        }
        // The containers whose logs it reads (no port: checked by promtail-filter-no-match).
        for sc in &p.cfg.scrape_configs {
            for sd in &sc.docker_sd_configs {
                let filters: Vec<(String, Option<String>)> = sd
                    .filters
                    .iter()
                    .filter(|f| f.name == "label")
                    .flat_map(|f| f.values.iter())
                    .map(|v| match v.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                        None => (v.clone(), None),
                    })
                    .collect();
                for s in &ctx.stack.compose.services {
                    let selected = filters.iter().all(|(k, v)| s.labels.get(k).is_some_and(|x| v.as_ref().is_none_or(|v| v == x)));
                    if selected && s.name != ctx.svc.name {
                        let at = crate::read::compose::Origin { file: p.rel.clone(), line: crate::read::locate::line_of(&p.text, "docker_sd_configs") };
                        out.push(super::super::Link {
                            from: ctx.svc.name.clone(),
                            host: s.name.clone(),
                            port: 0,
                            proto: Proto::DockerLogs,
                            expects: &[],
                            what: format!("read logs ({})", sc.job_name),
                            rule: "",
                            value: "docker.sock".into(),
                            at,
                            to: None,
                        });
                    }
                }
            }
        }
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.proto == Proto::Http).map(|l| (l.port, "/ready"))
    }
}
