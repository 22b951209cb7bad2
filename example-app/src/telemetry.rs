//! Traces: an OpenTelemetry tracer provider exporting over OTLP HTTP/protobuf
//! (`POST …/v1/traces`) from the SDK's batch processor, which runs on its own
//! thread: a slow or unreachable trace store never delays a request. A failed
//! export is one logfmt `warn` line, nothing more.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};

use crate::config::Config;
use crate::logfmt::{Level, Logger};

/// The instrumentation scope of the app's spans.
pub const SCOPE: &str = "example-shop";

/// The resource every span carries: `service.name` (from `OTEL_SERVICE_NAME`,
/// default `shop`), `service.version`, and what `OTEL_RESOURCE_ATTRIBUTES` adds.
pub fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .with_service_name(service_name.to_owned())
        .build()
}

/// The tracer provider of `config`: batch export to its OTLP/HTTP URL, or no
/// export at all (`OTEL_TRACES_EXPORTER=none`; spans still get ids).
pub fn provider(config: &Config, logger: &Logger) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let mut builder = SdkTracerProvider::builder().with_resource(resource(&config.service_name));
    if let Some(url) = &config.traces_url {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().with_endpoint(url.clone()).build()?;
        builder = builder.with_batch_exporter(Logged { inner: exporter, logger: logger.clone(), url: url.clone() });
    }
    Ok(builder.build())
}

/// The app's tracer.
pub fn tracer(provider: &SdkTracerProvider) -> SdkTracer {
    provider.tracer(SCOPE)
}

/// An exporter that logs its failures (the SDK's own diagnostics are not on stdout).
#[derive(Debug)]
struct Logged<E> {
    inner: E,
    logger: Logger,
    url: String,
}

impl<E: SpanExporter> SpanExporter for Logged<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        if let Err(e) = &result {
            self.logger.log(Level::Warn, "span export failed", &[("endpoint", &self.url), ("spans", &spans), ("error", &e)]);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
