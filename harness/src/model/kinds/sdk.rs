//! Any service with an OpenTelemetry SDK configured through the environment
//! (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`):
//! its OTLP trace export is a link.
//!
//! The protocol default is gRPC: what the Python SDK's `otlp` exporter (the
//! FastAPI original) and the reference app use. `http/protobuf` and `http/json` mean OTLP/HTTP.

use super::super::{Ctx, Link, Proto};

pub fn links(ctx: &Ctx) -> Vec<Link> {
    if ctx.env("OTEL_TRACES_EXPORTER").is_some_and(|(v, _)| v == "none") {
        return Vec::new();
    }
    let Some((endpoint, at)) = ctx.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| ctx.env("OTEL_EXPORTER_OTLP_ENDPOINT")) else {
        return Vec::new();
    };
    let (proto, named) = match ctx.env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| ctx.env("OTEL_EXPORTER_OTLP_PROTOCOL")) {
        Some((p, _)) if p.starts_with("http") => (Proto::OtlpHttp, p),
        Some((p, _)) => (Proto::OtlpGrpc, p),
        None => (Proto::OtlpGrpc, "grpc (the SDK default)".into()),
    };
    let default = if proto == Proto::OtlpHttp { 4318 } else { 4317 };
    let mut l = super::link(ctx, &endpoint, Some(default), proto, &["otlp"], format!("OTLP traces ({named})"), "otlp-endpoint-unknown-service", at);
    if !endpoint.contains("://") && crate::read::compose::host_port(&endpoint).is_none() {
        l.port = default;
    }
    vec![l]
}
