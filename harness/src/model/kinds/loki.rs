//! Loki: HTTP on `server.http_listen_port` (default 3100) at
//! `server.http_listen_address` (default all interfaces), gRPC on
//! `server.grpc_listen_port` (default 9095), or the `-server.*` flags; its
//! ruler notifies `ruler.alertmanager_url` (comma-separated).

use super::super::{Ctx, Link, Listener, Proto};

pub struct Loki;

/// The `server:` block's listeners of a Loki-style config (Loki and Promtail share it).
pub(crate) fn server_listeners(ctx: &Ctx, http_default: u16, grpc_default: u16, serves: &'static str) -> Vec<Listener> {
    let cfg = |k: &str| ctx.config.and_then(|c| c.get(&["server", k])).and_then(crate::read::compose::scalar);
    let flag = |k: &str| ctx.flag(&format!("server.{k}"));
    let pick = |cfg_key: &str, flag_key: &str| -> Option<(String, crate::read::compose::Origin)> {
        flag(flag_key).or_else(|| cfg(cfg_key).map(|v| (v.clone(), ctx.at(cfg_key, Some(&v)).unwrap_or_default())))
    };
    let bind = pick("http_listen_address", "http-listen-address").map(|(v, _)| v).unwrap_or_default();
    let mut out = Vec::new();
    let http = pick("http_listen_port", "http-listen-port");
    let port = http.as_ref().and_then(|(v, _)| v.parse().ok()).unwrap_or(http_default);
    out.push(Listener { port, proto: Proto::Http, serves, bind: bind.clone(), at: http.map(|(_, at)| at) });
    let grpc = pick("grpc_listen_port", "grpc-listen-port");
    let gport = grpc.as_ref().and_then(|(v, _)| v.parse().ok()).unwrap_or(grpc_default);
    let gbind = pick("grpc_listen_address", "grpc-listen-address").map(|(v, _)| v).unwrap_or_default();
    if gport != 0 {
        out.push(Listener { port: gport, proto: Proto::Grpc, serves, bind: gbind, at: grpc.map(|(_, at)| at) });
    }
    out
}

impl super::Kind for Loki {
    fn name(&self) -> &'static str {
        "loki"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/loki", "bitnami/grafana-loki"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn default_config(&self, _: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some("/etc/loki/local-config.yaml")
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("config.expand-env")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        server_listeners(ctx, 3100, 9095, "loki")
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        let Some(l) = ctx.stack.loki.as_ref().filter(|l| l.svc.as_deref() == Some(ctx.svc.name.as_str())) else {
            return Vec::new();
        };
        let Some(url) = l.cfg.ruler.as_ref().and_then(|r| r.alertmanager_url.as_ref()) else {
            return Vec::new();
        };
        url.split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| {
                let at = crate::read::compose::Origin { file: l.rel.clone(), line: crate::read::locate::line_of(&l.text, u) };
                super::link(ctx, u, Some(80), Proto::Http, &["alertmanager"], "ruler alerts".into(), "loki-ruler-alertmanager-unknown-service", at)
            })
            .collect()
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.proto == Proto::Http).map(|l| (l.port, "/ready"))
    }
}
