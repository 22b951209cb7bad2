//! Checks and their verdicts.
//!
//! A check answers passed, failed (with what it saw and where it looked), or
//! not run (with the reason, e.g. the service it needs is not running) —
//! never "passed" for something it did not verify.

pub mod alertmanager;
pub mod alerts;
pub mod expect;
pub mod grafana;
pub mod jaeger;
pub mod loki;
pub mod needs;
pub mod prometheus;
pub mod tempo;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use needs::{Because, Needs};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Passed { detail: String },
    Failed { message: String },
    NotRun { reason: String },
}

impl Verdict {
    pub fn is_failed(&self) -> bool {
        matches!(self, Verdict::Failed { .. })
    }
    pub fn is_passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
    pub fn text(&self) -> &str {
        match self {
            Verdict::Passed { detail } => detail,
            Verdict::Failed { message } => message,
            Verdict::NotRun { reason } => reason,
        }
    }
}

/// One check's outcome in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable id, e.g. `prometheus.target_up`.
    pub name: String,
    /// The phase it belongs to: lint, signals, dashboards, alerts, ruler.
    pub phase: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub duration_ms: u64,
    /// When it started, in ms from the run's start (filled by [`crate::report::RunReport::add_phase`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// What it needs (declared; see [`Needs`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Needs>,
    /// For a check not run: the need that decided it (see [`Because`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<Because>,
    /// When the result was made (its end), for `started_ms`; not part of its identity.
    #[serde(skip)]
    pub recorded: RecordedAt,
}

/// When a check result was made; compares equal to any other (it is
/// bookkeeping for the report's timeline, not part of a result's identity).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordedAt(pub Option<std::time::Instant>);

impl RecordedAt {
    pub fn now() -> Self {
        Self(Some(std::time::Instant::now()))
    }
}

impl PartialEq for RecordedAt {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RecordedAt {}

impl CheckResult {
    pub fn new(phase: &str, name: &str, verdict: Verdict, duration: Duration) -> Self {
        Self { name: name.to_owned(), phase: phase.to_owned(), verdict, duration_ms: duration.as_millis() as u64, started_ms: None, needs: None, because: None, recorded: RecordedAt::now() }
    }
}
