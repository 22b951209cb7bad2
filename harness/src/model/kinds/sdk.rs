//! Any service with an OpenTelemetry SDK configured through the environment
//! (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`):
//! its OTLP trace export is a link.
//!
//! `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` says the transport (`grpc`, `http/protobuf`,
//! `http/json`). Unset, the SDK's default differs by language (gRPC in Python's `otlp`
//! exporter and Go's contrib, HTTP in JavaScript and Java's agent), so the endpoint says it:
//! a `/v1/traces` path or port 4318 is OTLP/HTTP, port 4317 OTLP/gRPC; otherwise the
//! transport is unknown ([`Proto::Otlp`]) and only "this port serves OTLP" is judged.

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
        None => match infer(&endpoint) {
            Some(Proto::OtlpHttp) => (Proto::OtlpHttp, "http by its port or path".into()),
            Some(_) => (Proto::OtlpGrpc, "grpc by port 4317".into()),
            None => (Proto::Otlp, "protocol unset: the SDK's default".into()),
        },
    };
    let default = if proto == Proto::OtlpHttp { 4318 } else { 4317 };
    let mut l = super::link(ctx, &endpoint, Some(default), proto, &["otlp"], format!("OTLP traces ({named})"), "otlp-endpoint-unknown-service", at);
    if !endpoint.contains("://") && crate::read::compose::host_port(&endpoint).is_none() {
        l.port = default;
    }
    vec![l]
}

/// The OTLP transport an endpoint's path or port names: `/v1/traces` or 4318 is HTTP, 4317 gRPC.
pub fn infer(endpoint: &str) -> Option<Proto> {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    if rest.split_once('/').is_some_and(|(_, path)| path.starts_with("v1/")) {
        return Some(Proto::OtlpHttp);
    }
    match crate::read::compose::host_port(endpoint).map(|(_, p)| p) {
        Some(4318) => Some(Proto::OtlpHttp),
        Some(4317) => Some(Proto::OtlpGrpc),
        _ => None,
    }
}
