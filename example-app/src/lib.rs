//! `example-shop`: a small order service, the harness's second example app.
//!
//! It is deliberately unlike the reference app, so that nothing in the harness
//! can lean on the reference app's names: other routes (`/ping`,
//! `/api/orders/{id}`, `/api/fail`), its own metric names (`shop_*`), traces
//! over OTLP **HTTP/protobuf** (the reference app speaks gRPC), and **logfmt**
//! log lines (the reference app writes JSON).

pub mod config;
pub mod logfmt;
pub mod metrics;
pub mod routes;
pub mod telemetry;

pub use routes::{AppState, router};
