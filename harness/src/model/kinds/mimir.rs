//! Grafana Mimir and Cortex (its predecessor, the same APIs): one HTTP port
//! (`server.http_listen_port`, default 8080 in Mimir, 80 in Cortex) that serves the
//! Prometheus query API (`/prometheus`, Cortex also `/api/prom`), remote write
//! (`/api/v1/push`) and, when enabled, the Alertmanager (`/alertmanager`); gRPC on
//! `server.grpc_listen_port` (9095). Source: grafana/mimir `pkg/mimir/mimir.go`,
//! `pkg/api/api.go`; cortexproject/cortex v1.21.1 `pkg/api/api.go`, `pkg/cortex/cortex.go`.

use super::super::{Ctx, Link, Listener, Proto};

pub struct Mimir;

impl super::Kind for Mimir {
    fn name(&self) -> &'static str {
        "mimir"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/mimir", "cortexproject/cortex", "grafana/enterprise-metrics"]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config.file"]
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("config.expand-env")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let http = if ctx.image.is("grafana/mimir") || ctx.image.is("grafana/enterprise-metrics") { 8080 } else { 80 };
        let mut out = super::loki::server_listeners(ctx, http, 9095, "prometheus");
        // The same HTTP port serves the Alertmanager API.
        if let Some(h) = out.iter().find(|l| l.proto == Proto::Http).cloned() {
            out.push(Listener { serves: "alertmanager", ..h });
        }
        out
    }
    fn links(&self, _ctx: &Ctx) -> Vec<Link> {
        Vec::new()
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.proto == Proto::Http).map(|l| (l.port, "/ready"))
    }
}
