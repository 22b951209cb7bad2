//! What a check needs, declared as data.
//!
//! Every check of a run carries its [`Needs`]: the backends it talks to, the
//! ones it uses only when present, the stack model's links its data travels,
//! the checks whose failure makes it pointless, the stack-profile
//! expectations it reads, the services whose logs explain its failure, and
//! what its own failure shows broken. The run's engine
//! (`crate::phases::engine`) reads nothing else to decide whether a check
//! runs, is *not run* (a backend absent, an expectation missing) or is
//! *blocked by* another check or a lint finding. Nothing parses a check's
//! name to learn what it needs.

use serde::{Deserialize, Serialize};

/// One check's declared needs. Built with the consuming `with_*` methods:
/// `Needs::on(&["prometheus"]).with_checks([up])`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Needs {
    /// Backends it talks to, in the order their absence is reported: absent,
    /// it is not run; blocked, it is blocked by what blocked them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<String>,
    /// Backends it uses when they are present and not blocked, and does without otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<String>,
    /// Backends and links its data passes through before it can look (a
    /// dashboard query through Grafana reads Prometheus, fed by the app's
    /// scrape): blocked, it is blocked by them before anything else is asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub through: Vec<String>,
    /// Links of the stack model its data travels (`app-scrape`, `promtail-loki`,
    /// `prometheus-alertmanager`, `ruler-alertmanager`, `traces-tempo`): blocked
    /// by the lint finding or the failed check that showed them broken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// Checks whose failure blocks it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Stack-profile expectations it reads (`job`, `otel_service_name`,
    /// `log_labels`, …): missing, it is not run, with the hint to declare them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expects: Vec<String>,
    /// Backends whose containers' last log lines explain its failure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs_of: Vec<String>,
    /// Backends or links its failure shows broken: what needs them is then blocked by it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proves: Vec<String>,
}

fn owned<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl Needs {
    /// Needs these backends; their logs explain its failure.
    pub fn on<I: IntoIterator<Item = S>, S: Into<String>>(backends: I) -> Self {
        let backends = owned(backends);
        Self { logs_of: backends.clone(), backends, ..Self::default() }
    }
    /// Needs nothing (the traffic driver, a phase's own summary).
    pub fn nothing() -> Self {
        Self::default()
    }
    pub fn with_optional<I: IntoIterator<Item = S>, S: Into<String>>(mut self, backends: I) -> Self {
        self.optional.extend(owned(backends));
        self
    }
    pub fn with_through<I: IntoIterator<Item = S>, S: Into<String>>(mut self, upstream: I) -> Self {
        self.through.extend(owned(upstream));
        self
    }
    pub fn with_links<I: IntoIterator<Item = S>, S: Into<String>>(mut self, links: I) -> Self {
        self.links.extend(owned(links));
        self
    }
    pub fn with_checks<I: IntoIterator<Item = S>, S: Into<String>>(mut self, checks: I) -> Self {
        self.checks.extend(owned(checks));
        self
    }
    pub fn with_expects<I: IntoIterator<Item = S>, S: Into<String>>(mut self, expectations: I) -> Self {
        self.expects.extend(owned(expectations));
        self
    }
    /// Whose logs explain a failure, instead of the backends it talks to.
    pub fn with_logs_of<I: IntoIterator<Item = S>, S: Into<String>>(mut self, backends: I) -> Self {
        self.logs_of = owned(backends);
        self
    }
    pub fn with_proves<I: IntoIterator<Item = S>, S: Into<String>>(mut self, blocked: I) -> Self {
        self.proves.extend(owned(blocked));
        self
    }
}

/// Why a check was not run, named as the need that decided it: `absent:loki`
/// (not part of the run), `backend:loki` (blocked), `through:prometheus`,
/// `link:promtail-loki`, `check:prometheus.target_up.fastapi`, `expect:job`, or
/// `optional:jaeger,loki` when a check that uses only optional backends found none to use.
pub type Because = String;
