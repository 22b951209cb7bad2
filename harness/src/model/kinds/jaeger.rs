//! Jaeger v2: one binary configured like a collector. OTLP receivers as in
//! [`super::collector`], the query API/UI on `extensions.jaeger_query.http.endpoint`
//! (default port 16686) and gRPC on `…grpc.endpoint` (16685), health on
//! `healthcheckv2` (13133). Without a config: the all-in-one defaults.

use super::super::{Ctx, Link, Listener, Proto, split_bind};

pub struct Jaeger;

impl super::Kind for Jaeger {
    fn name(&self) -> &'static str {
        "jaeger"
    }
    fn images(&self) -> &'static [&'static str] {
        &[
            "jaegertracing/jaeger",
            "jaegertracing/all-in-one",
            "jaegertracing/jaeger-collector",
            "jaegertracing/jaeger-query",
            "jaegertracing/jaeger-ingester",
            "jaegertracing/jaeger-agent",
            "jaegertracing/jaeger-remote-storage",
        ]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config"]
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let defaults = [(4317, Proto::OtlpGrpc, "otlp"), (4318, Proto::OtlpHttp, "otlp"), (16686, Proto::Http, "jaeger-query"), (16685, Proto::Grpc, "jaeger-query-grpc"), (13133, Proto::Http, "health")];
        let Some(cfg) = ctx.config.filter(|c| c.get(&["service"]).is_some()) else {
            return defaults.into_iter().map(|(port, proto, serves)| Listener { port, proto, serves, bind: String::new(), at: None }).collect();
        };
        let mut out = super::collector::otlp_listeners(ctx, cfg);
        let ext = super::collector::extensions(cfg);
        let endpoint = |path: &[&str], port: u16, proto: Proto, serves: &'static str| -> Listener {
            match cfg.get(path).and_then(|v| v.get("endpoint")).and_then(crate::read::compose::scalar) {
                Some(v) => {
                    let (bind, p) = split_bind(&v).unwrap_or((String::new(), port));
                    Listener { port: p, proto, serves, bind, at: ctx.at("endpoint", Some(&v)) }
                }
                None => Listener { port, proto, serves, bind: String::new(), at: None },
            }
        };
        if ext.iter().any(|e| e == "jaeger_query") {
            out.push(endpoint(&["extensions", "jaeger_query", "http"], 16686, Proto::Http, "jaeger-query"));
            out.push(endpoint(&["extensions", "jaeger_query", "grpc"], 16685, Proto::Grpc, "jaeger-query-grpc"));
        }
        if let Some(h) = ext.iter().find(|e| e.starts_with("healthcheckv2") || e.starts_with("health_check")) {
            out.push(endpoint(&["extensions", h, "http"], 13133, Proto::Http, "health"));
        }
        out
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(cfg) = ctx.config else { return Vec::new() };
        let exporters: std::collections::BTreeMap<String, Option<crate::read::configs::CollectorExporter>> =
            cfg.get(&["exporters"]).and_then(|e| serde_yaml::from_value(e.clone()).ok()).unwrap_or_default();
        super::collector::exporter_links(ctx, &exporters, &cfg.rel, &cfg.text)
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "jaeger-query").map(|l| (l.port, "/"))
    }
}
