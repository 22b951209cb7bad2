//! Reference app: the service the harness drives and checks.
//!
//! It stands in for a FastAPI service instrumented with
//! `prometheus_fastapi_instrumentator` and the OpenTelemetry SDK, and emits the
//! same telemetry: Prometheus metrics on `/metrics`, OTLP traces, JSON logs.

pub mod config;
pub mod metrics;
pub mod routes;
pub mod telemetry;

pub use routes::{AppState, router};
