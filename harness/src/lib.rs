//! obs-harness: proves a docker-compose observability stack really works.
//!
//! Layers, each with its own error enum:
//! - [`lint`]: the static gate (compose + configs + dashboards + rules, no Docker).
//! - [`model`]: the stack model (services, listeners, links) that lint, the lifecycle and the graph read.
//! - [`eventually`]: the one polling helper every live check waits through.
//! - [`stack`]: the compose stack brought up through testcontainers, and torn down.
//! - [`images`]: the air-gapped image set built from host binaries.
//! - [`backends`]: one typed HTTP client per backend.
//! - [`traffic`]: the scenario driver that records what it sent.
//! - [`checks`]: verdicts (passed / failed / not run) built on the clients.
//! - [`report`], [`report_html`]: report.json, junit.xml, the self-contained report.html and the CI job summary.
//! - [`redact`]: the stack's secrets (and credential-shaped strings) redacted from every report.
//! - [`catalogue_record`]: `catalogue record` and the live check that the metric catalogue is current.

pub mod accelerate;
pub mod backends;
pub mod catalogue_record;
pub mod checks;
pub mod conformance;
pub mod critical_path;
pub mod dashboards;
pub mod eventually;
pub mod expectations;
pub mod images;
pub mod lint;
pub mod read;
pub mod model;
pub mod profile;
pub mod redact;
pub mod report;
pub mod report_html;
pub mod run;
pub mod stack;
pub mod traffic;
pub mod webhook;
