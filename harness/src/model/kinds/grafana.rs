//! Grafana: HTTP on `GF_SERVER_HTTP_PORT` (default 3000) at `GF_SERVER_HTTP_ADDR`;
//! each provisioned datasource's `url` is a link, and what it must reach
//! follows from the datasource type (a Jaeger datasource needs Jaeger's query
//! API, not its OTLP port).

use super::super::{Ctx, Link, Listener, Proto};

pub struct Grafana;

/// What a datasource of this type must reach.
pub fn expects(ds_type: &str) -> &'static [&'static str] {
    match ds_type {
        "prometheus" => &["prometheus"],
        "loki" => &["loki"],
        "jaeger" => &["jaeger-query"],
        "tempo" => &["tempo"],
        "alertmanager" => &["alertmanager"],
        _ => &[],
    }
}

impl super::Kind for Grafana {
    fn name(&self) -> &'static str {
        "grafana"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise", "bitnami/grafana"]
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let port = ctx.env("GF_SERVER_HTTP_PORT").and_then(|(v, at)| Some((v.parse().ok()?, at)));
        let bind = ctx.env("GF_SERVER_HTTP_ADDR").map(|(v, _)| v).unwrap_or_default();
        vec![Listener { port: port.as_ref().map_or(3000, |p| p.0), proto: Proto::Http, serves: "grafana", bind, at: port.map(|p| p.1) }]
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        if ctx.stack.grafana_svc.as_deref() != Some(ctx.svc.name.as_str()) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for d in &ctx.stack.datasources {
            for ds in &d.doc.datasources {
                let Some(url) = &ds.url else { continue };
                let at = crate::read::compose::Origin { file: d.rel.clone(), line: crate::read::locate::line_of(&d.text, url) };
                out.push(super::link(ctx, url, Some(80), Proto::Http, expects(&ds.kind), format!("datasource {} ({})", ds.uid.as_deref().unwrap_or(&ds.name), ds.kind), "datasource-url-unknown-service", at));
            }
        }
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.first().map(|l| (l.port, "/api/health"))
    }
}
