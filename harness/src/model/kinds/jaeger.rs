//! Jaeger v2: one binary configured like a collector. OTLP receivers as in
//! [`super::collector`], the query API/UI on `extensions.jaeger_query.http.endpoint`
//! (default port 16686) and gRPC on `…grpc.endpoint` (16685), health on
//! `healthcheckv2` (13133); a remote storage backend
//! (`extensions.jaeger_storage.backends.<name>.grpc.endpoint`) is a link. Without a
//! config: the all-in-one defaults. Jaeger v1 (`all-in-one:1.x`): agent on 6831/udp and
//! 6832/udp, sampling 5778, collector 14268/14250, OTLP 4317/4318 on all interfaces
//! (`collector.otlp.enabled` defaults to true), query 16686. `jaeger-remote-storage`:
//! gRPC 17271, health 17270. Source: jaegertracing/jaeger v1.51.0
//! `cmd/all-in-one/Dockerfile`, `cmd/collector/app/flags/flags.go`; v2.20.0
//! `cmd/jaeger/config-remote-storage.yaml`.

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
        let plain = |list: &[(u16, Proto, &'static str)], bind: &str| -> Vec<Listener> { list.iter().map(|&(port, proto, serves)| Listener { port, proto, serves, bind: bind.into(), at: None }).collect() };
        if ctx.image.is("jaegertracing/jaeger-remote-storage") && ctx.config.is_none() {
            return plain(&[(17271, Proto::Grpc, "jaeger-remote-storage"), (17270, Proto::Http, "health")], "");
        }
        if ctx.image.semver().is_some_and(|v| v.0 == 1) && ctx.config.is_none() {
            return plain(
                &[
                    (6831, Proto::Udp, "jaeger-agent"),
                    (6832, Proto::Udp, "jaeger-agent"),
                    (5778, Proto::Http, "jaeger-sampling"),
                    (14268, Proto::Http, "jaeger-collector"),
                    (14250, Proto::Grpc, "jaeger-collector"),
                    (4317, Proto::OtlpGrpc, "otlp"),
                    (4318, Proto::OtlpHttp, "otlp"),
                    (16686, Proto::Http, "jaeger-query"),
                    (16685, Proto::Grpc, "jaeger-query-grpc"),
                    (14269, Proto::Http, "health"),
                ],
                "",
            );
        }
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
        let mut out = super::collector::config_links(ctx, cfg);
        // Remote storage backends (gRPC), read and written.
        for (_, backend) in cfg.get(&["extensions", "jaeger_storage", "backends"]).and_then(|b| b.as_mapping()).into_iter().flatten() {
            let Some(grpc) = backend.get("grpc") else { continue };
            for ep in [grpc.get("endpoint"), grpc.get("writer").and_then(|w| w.get("endpoint"))].into_iter().flatten().filter_map(crate::read::compose::scalar) {
                let at = cfg.origin("endpoint", Some(&ep));
                out.push(super::link(ctx, &ep, None, Proto::Grpc, &["jaeger-remote-storage"], "remote storage".into(), "jaeger-storage-unknown-service", at));
            }
        }
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "jaeger-query").map(|l| (l.port, "/"))
    }
}
