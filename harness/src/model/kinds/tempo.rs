//! Grafana Tempo: HTTP API on `server.http_listen_port` (default 3200 since v2.8.0,
//! 80 before), gRPC on `server.grpc_listen_port` (9095), the distributor's OTLP
//! receivers on `distributor.receivers.otlp.protocols.{grpc,http}.endpoint` (default
//! `localhost:4317`/`localhost:4318` since v2.7.0, which vendors a collector ≥ 0.104,
//! `0.0.0.0` before); `multitenancy_enabled` (default false) means every request needs
//! `X-Scope-OrgID`. Its metrics-generator remote-writes to
//! `metrics_generator.storage.remote_write[].url`. The image has no default config
//! (`ENTRYPOINT ["/tempo"]` only): without `-config.file` it runs on its defaults.
//! Source: grafana/tempo `cmd/tempo/app/config.go`, `modules/distributor/receiver/`,
//! `cmd/tempo/Dockerfile` at v2.7.0, v2.8.0 and v3.0.3.

use super::super::{Ctx, Link, Listener, Proto, split_bind};

pub struct Tempo;

/// The default HTTP port of this Tempo version.
fn http_default(ctx: &Ctx) -> u16 {
    if ctx.image.older_than((2, 8, 0)) { 80 } else { 3200 }
}

impl super::Kind for Tempo {
    fn name(&self) -> &'static str {
        "tempo"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/tempo"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("config.expand-env")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let mut out = super::loki::server_listeners(ctx, http_default(ctx), 9095, "tempo");
        let host = if ctx.image.older_than((2, 7, 0)) { "0.0.0.0" } else { "localhost" };
        let Some(cfg) = ctx.config else { return out };
        let Some(protocols) = cfg.get(&["distributor", "receivers", "otlp", "protocols"]) else { return out };
        for (key, port, proto) in [("grpc", 4317, Proto::OtlpGrpc), ("http", 4318, Proto::OtlpHttp)] {
            let Some(p) = protocols.get(key) else { continue };
            let listener = match p.get("endpoint").and_then(crate::read::compose::scalar) {
                Some(v) => split_bind(&v).map(|(bind, port)| Listener { port, proto, serves: "otlp", bind, at: ctx.at("endpoint", Some(&v)) }),
                None => Some(Listener { port, proto, serves: "otlp", bind: host.into(), at: ctx.at(&format!("{key}:"), None) }),
            };
            out.extend(listener);
        }
        out
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(cfg) = ctx.config else { return Vec::new() };
        let writes = cfg.get(&["metrics_generator", "storage", "remote_write"]).and_then(|w| w.as_sequence()).cloned().unwrap_or_default();
        writes
            .iter()
            .filter_map(|w| w.get("url").and_then(crate::read::compose::scalar))
            .map(|u| {
                let at = cfg.origin("url", Some(&u));
                super::link(ctx, &u, Some(80), Proto::Http, &["prometheus"], "metrics-generator remote write".into(), "tempo-remote-write-unknown-service", at)
            })
            .collect()
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "tempo" && l.proto == Proto::Http).map(|l| (l.port, "/ready"))
    }
}

/// True when this Tempo requires a tenant (`multitenancy_enabled: true`).
pub fn multitenant(ctx: &Ctx) -> bool {
    ctx.config.and_then(|c| c.get(&["multitenancy_enabled"])).and_then(serde_yaml::Value::as_bool).unwrap_or(false)
}
