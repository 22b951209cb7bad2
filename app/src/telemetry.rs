//! Logs and traces: JSON log lines on stdout, spans exported over OTLP/gRPC.
//!
//! One `tracing` span per request feeds both: `tracing-opentelemetry` turns it
//! into an OpenTelemetry span (exported by the batch processor, so an
//! unreachable collector never blocks a request), and the request's log line
//! carries that span's trace and span ids.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Config, TracesExporter};

/// Service name used when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "fastapi-backend";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("cannot install the log subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; [`Telemetry::shutdown`] flushes pending spans.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Flushes and stops the exporter. Blocking: call it off the async runtime.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("{{\"level\":\"WARN\",\"message\":\"span flush on shutdown failed: {e}\"}}");
        }
    }
}

/// The resource every span carries: `service.name`, `service.version` (this
/// crate's version) and `deployment.environment` when configured; the
/// `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` variables win over these.
pub fn resource(config: &Config) -> Resource {
    let from_env = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let env_has = |key: &str| from_env.split(',').any(|kv| kv.trim().starts_with(&format!("{key}=")));
    let mut attrs = Vec::new();
    if !env_has("service.version") {
        attrs.push(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    if let (Some(env), false) = (&config.deployment_environment, env_has("deployment.environment")) {
        attrs.push(KeyValue::new("deployment.environment", env.clone()));
    }
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok_and(|v| !v.is_empty()) || env_has("service.name");
    if !named {
        attrs.push(KeyValue::new("service.name", DEFAULT_SERVICE_NAME));
    }
    // The standard detectors (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, SDK info) come
    // last so they override the defaults above; their `unknown_service` fallback does not.
    let detected = Resource::builder().build();
    let detected = detected
        .iter()
        .filter(|(k, _)| named || k.as_str() != "service.name")
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
    Resource::builder_empty().with_attributes(attrs).with_attributes(detected).build()
}

/// Installs the global log subscriber, propagator and tracer provider.
pub fn init(config: &Config) -> Result<Telemetry, TelemetryError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::new("info"),
    };
    let mut provider = SdkTracerProvider::builder().with_resource(resource(config));
    if let TracesExporter::Otlp { endpoint } = &config.traces {
        use opentelemetry_otlp::WithExportConfig;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer("reference-app");

    let logs = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    // The app's own spans only: log events stay log lines (not span events), and
    // the spans of libraries (h2, hyper, tonic) — among them the exporter's own
    // gRPC connection, which would feed back into the export — are not exported.
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| m.is_span() && m.target().starts_with(env!("CARGO_CRATE_NAME"))));
    // RUST_LOG filters log lines only: spans are exported whatever the log level.
    tracing_subscriber::registry().with(logs.with_filter(filter)).with(traces).try_init()?;
    Ok(Telemetry { provider })
}
