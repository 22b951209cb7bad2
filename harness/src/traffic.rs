//! The traffic driver: sends a scenario's requests at the reference app and
//! records exactly what it sent, so checks demand exact counts and look for
//! known trace ids rather than "some trace".
//!
//! A scenario (YAML under `fixtures/scenarios/`) lists steps: method, path
//! (`{n}` is replaced by the request's sequence number), optional JSON body and
//! a count. Every request carries a W3C `traceparent` with a trace id the
//! driver chose; the app's `x-trace-id` response header confirms it joined.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: invalid scenario: {message}", path.display())]
    Parse { path: std::path::PathBuf, line: usize, column: usize, message: String },
    #[error("scenario {name}: step {step}: {problem}")]
    Step { name: String, step: usize, problem: String },
    #[error("{method} {url}: {source} (hint: is the app reachable?)")]
    Request { method: String, url: String, source: reqwest::Error },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub method: String,
    pub path: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scenario {
    pub name: String,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    pub steps: Vec<Step>,
    /// Causes for alert rules whose expression fits no known cause:
    /// alert name -> `error_burst` | `slow_requests` | `llm_failures` | `app_stopped`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub causes: std::collections::BTreeMap<String, crate::profile::Cause>,
}

fn default_concurrency() -> usize {
    4
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, TrafficError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrafficError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// A scenario from its YAML `text` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrafficError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(|e| {
            let loc = e.location();
            TrafficError::Parse {
                path: path.to_owned(),
                line: loc.as_ref().map_or(0, |l| l.line()),
                column: loc.as_ref().map_or(0, |l| l.column()),
                message: e.to_string(),
            }
        })?;
        s.validate()?;
        Ok(s)
    }

    /// The default scenario (`fixtures/scenarios/default.yaml`, built into the binary).
    pub fn default_scenario() -> Self {
        Self::parse(include_str!("../../fixtures/scenarios/default.yaml"), Path::new("<built-in default scenario>"))
            .expect("bundled scenario is valid")
    }

    fn validate(&self) -> Result<(), TrafficError> {
        for (i, s) in self.steps.iter().enumerate() {
            let bad = |problem: String| TrafficError::Step { name: self.name.clone(), step: i + 1, problem };
            if !["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"].contains(&s.method.as_str()) {
                return Err(bad(format!("unknown method {:?}", s.method)));
            }
            if !s.path.starts_with('/') {
                return Err(bad(format!("path {:?} must start with /", s.path)));
            }
        }
        if self.concurrency == 0 {
            return Err(TrafficError::Step { name: self.name.clone(), step: 0, problem: "concurrency must be >= 1".into() });
        }
        Ok(())
    }

    /// Every step's count multiplied by `factor` (bursts for alert scenarios).
    pub fn scaled(mut self, factor: u32) -> Self {
        for s in &mut self.steps {
            s.count *= factor;
        }
        self
    }
}

/// One request the driver sent, and what came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sent {
    pub method: String,
    pub path: String,
    /// The app's route template (the `handler` label), `none` when no route matches.
    pub handler: String,
    pub status: u16,
    pub trace_id: String,
    /// The trace id the app echoed in `x-trace-id` (should equal `trace_id`).
    pub echoed_trace_id: Option<String>,
    pub llm: Option<LlmCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct LlmCall {
    pub model: String,
    pub provider: String,
    pub fail: Option<String>,
}

impl Sent {
    /// `2xx`, `4xx`, `5xx`: the instrumentator's status label.
    pub fn status_class(&self) -> String {
        format!("{}xx", self.status / 100)
    }
}

/// What a run of the driver sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrafficRecord {
    pub scenario: String,
    pub started: SystemTime,
    pub finished: SystemTime,
    pub sent: Vec<Sent>,
}

/// `(handler, method, status class)`: the labels of `http_requests_total`.
pub type SeriesKey = (String, String, String);

impl TrafficRecord {
    /// Requests per `http_requests_total` series.
    pub fn counts(&self) -> BTreeMap<SeriesKey, u64> {
        let mut m = BTreeMap::new();
        for s in &self.sent {
            *m.entry((s.handler.clone(), s.method.clone(), s.status_class())).or_insert(0) += 1;
        }
        m
    }

    /// LLM calls per (model, provider), failures per (model, provider, reason).
    pub fn llm_counts(&self) -> (BTreeMap<(String, String), u64>, BTreeMap<(String, String, String), u64>) {
        let (mut calls, mut errors) = (BTreeMap::new(), BTreeMap::new());
        for l in self.sent.iter().filter(|s| (200..600).contains(&s.status)).filter_map(|s| s.llm.as_ref()) {
            *calls.entry((l.model.clone(), l.provider.clone())).or_insert(0) += 1;
            if let Some(reason) = &l.fail {
                *errors.entry((l.model.clone(), l.provider.clone(), reason.clone())).or_insert(0) += 1;
            }
        }
        (calls, errors)
    }

    /// The trace ids of requests to `handler` with a status in `class` (e.g. "2xx").
    pub fn trace_ids(&self, handler: &str, class: &str) -> Vec<String> {
        self.sent.iter().filter(|s| s.handler == handler && s.status_class() == class).map(|s| s.trace_id.clone()).collect()
    }
}

/// The route template the app will report for `path` (mirrors the app's router).
pub fn handler_for(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let known_get = ["/health", "/healthz", "/metrics", "/error", "/slow"];
    match (method, path) {
        ("GET", p) if known_get.contains(&p) => p.to_owned(),
        ("GET", p) if p.strip_prefix("/items/").is_some_and(|rest| !rest.is_empty() && !rest.contains('/')) => "/items/{item_id}".into(),
        ("POST", "/llm/chat") => "/llm/chat".into(),
        _ => "none".into(),
    }
}

/// A fresh random W3C trace id (32 lowercase hex digits, not all zero).
pub fn new_trace_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos());
        h.finish()
    };
    format!("{:016x}{:016x}", part() | 1, part())
}

/// Sends `scenario` at `app_url` and records every request.
pub async fn drive(app_url: &str, scenario: &Scenario) -> Result<TrafficRecord, TrafficError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("reqwest client");
    let started = SystemTime::now();
    let mut jobs = Vec::new();
    let mut n = 0u32;
    for step in &scenario.steps {
        for _ in 0..step.count {
            n += 1;
            jobs.push((step.clone(), n));
        }
    }
    let client = Arc::new(client);
    let results: Vec<Result<Sent, TrafficError>> = futures::stream::iter(jobs)
        .map(|(step, n)| {
            let client = client.clone();
            async move { send(&client, app_url, &step, n).await }
        })
        .buffer_unordered(scenario.concurrency)
        .collect()
        .await;
    let sent = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(TrafficRecord { scenario: scenario.name.clone(), started, finished: SystemTime::now(), sent })
}

async fn send(client: &reqwest::Client, app_url: &str, step: &Step, n: u32) -> Result<Sent, TrafficError> {
    let path = step.path.replace("{n}", &n.to_string());
    let url = format!("{}{}", app_url.trim_end_matches('/'), path);
    let trace_id = new_trace_id();
    let method = reqwest::Method::from_bytes(step.method.as_bytes()).expect("validated method");
    let mut req = client.request(method, &url).header("traceparent", format!("00-{trace_id}-{:016x}-01", n as u64 + 1));
    if let Some(body) = &step.body {
        req = req.json(body);
    }
    let resp = req.send().await.map_err(|source| TrafficError::Request { method: step.method.clone(), url: url.clone(), source })?;
    let echoed = resp.headers().get("x-trace-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = resp.status().as_u16();
    let llm = step.body.as_ref().filter(|_| path.starts_with("/llm/")).map(|b| LlmCall {
        model: b["model"].as_str().unwrap_or_default().to_owned(),
        provider: b["provider"].as_str().unwrap_or_default().to_owned(),
        fail: b["fail"].as_str().filter(|f| !f.is_empty()).map(str::to_owned),
    });
    Ok(Sent {
        handler: handler_for(&step.method, &path),
        method: step.method.clone(),
        path,
        status,
        trace_id,
        echoed_trace_id: echoed,
        llm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_mirror_the_app_router() {
        assert_eq!(handler_for("GET", "/items/7"), "/items/{item_id}");
        assert_eq!(handler_for("GET", "/items/abc"), "/items/{item_id}");
        assert_eq!(handler_for("GET", "/slow?ms=5"), "/slow");
        assert_eq!(handler_for("GET", "/does-not-exist"), "none");
        assert_eq!(handler_for("POST", "/nope"), "none");
        assert_eq!(handler_for("POST", "/llm/chat"), "/llm/chat");
    }

    #[test]
    fn trace_ids_are_w3c_and_distinct() {
        let a = new_trace_id();
        let b = new_trace_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn bundled_scenario_exercises_every_route() {
        let s = Scenario::default_scenario();
        let handlers: std::collections::BTreeSet<String> = s.steps.iter().map(|st| handler_for(&st.method, &st.path)).collect();
        for h in ["/health", "/healthz", "/items/{item_id}", "/error", "/slow", "/llm/chat", "none"] {
            assert!(handlers.contains(h), "{h} missing from the default scenario");
        }
    }

    #[test]
    fn bad_scenario_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, "name: x\nsteps:\n  - method: GET\n    path: [\n").unwrap();
        let err = Scenario::load(&p).unwrap_err().to_string();
        assert!(err.contains("s.yaml:") && err.contains("invalid scenario"), "{err}");
        std::fs::write(&p, "name: x\nsteps:\n  - { method: FETCH, path: /x }\n").unwrap();
        assert_eq!(Scenario::load(&p).unwrap_err().to_string(), "scenario x: step 1: unknown method \"FETCH\"");
    }
}
