//! The traffic driver: sends a scenario's requests at the app under test and
//! records exactly what it sent, so checks demand exact counts and look for
//! known trace ids rather than "some trace".
//!
//! A scenario (YAML under `fixtures/scenarios/`, schema in
//! `schemas/scenario.schema.json`) lists steps: method, path (`{n}` is
//! replaced by the request's sequence number), optional JSON body, headers,
//! and how many: a `count`, or a `rate` (requests per second) for a
//! `duration`. A step may declare the `route` template the app reports
//! (else [`handler_for`], the reference app's router, guesses it) and the
//! status it must answer (`expect_status`). Every request carries a W3C
//! `traceparent` with a trace id the driver chose; the app's `x-trace-id`
//! response header confirms it joined. The file's `expect:` section declares
//! what the telemetry must show ([`crate::traffic::expectations`]). Unknown keys
//! anywhere are an error at their file:line:column.

pub mod expectations;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use expectations::{Expectation, Invalid, Problem, YamlPath};

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: invalid scenario: {message}", path.display())]
    Parse { path: std::path::PathBuf, line: usize, column: usize, message: String },
    #[error("scenario {name}: step {step}: {problem}")]
    Step { name: String, step: usize, problem: String },
    /// A value the schema allows but the scenario cannot mean (located).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{method} {url}: {source} (hint: is the app reachable?)")]
    Request { method: String, url: String, source: reqwest::Error },
}

/// The HTTP methods a step may use.
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"];

/// One kind of request of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = step_rules)]
pub struct Step {
    /// The HTTP method.
    #[schemars(extend("enum" = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))]
    pub method: String,
    /// The path (and query) on the app, starting with `/`; `{n}` becomes the request's sequence number.
    #[schemars(extend("pattern" = "^/"))]
    pub path: String,
    /// How many times to send the request (default 1). Exclusive with `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<u32>,
    /// A JSON body (sent with `content-type: application/json`).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// Request headers (`{n}` in a value becomes the sequence number). The driver sets `traceparent` itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Requests per second for this step (paced; at most `concurrency` in flight). With `duration`, the step
    /// sends `rate × duration` requests; with `count`, `count` requests at this pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub rate: Option<f64>,
    /// How long to send at `rate` (e.g. `30s`, `1m30s`, `500ms`). Needs `rate`; exclusive with `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// The status every request of this step must answer: a code (`201`) or a class (`2xx`);
    /// the check `traffic.expect_status` names each request that answered another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<StatusSpec>,
    /// The route template the app reports for this request (its `http.route`, the `handler` label),
    /// e.g. `/api/orders/{id}`. Without it the bundled reference app's routes are assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// What the schema can say of a step beyond its fields: `count` excludes
/// `duration`, and `duration` needs `rate`.
fn step_rules(schema: &mut schemars::Schema) {
    schema.insert("not".into(), serde_json::json!({"required": ["count", "duration"]}));
    schema.insert("dependentRequired".into(), serde_json::json!({"duration": ["rate"]}));
}

impl Step {
    /// How many requests the step sends: `count`, else `rate × duration` (rounded), else 1.
    pub fn requests(&self) -> u32 {
        match (self.count, self.rate, self.duration) {
            (Some(c), _, _) => c,
            (None, Some(rate), Some(d)) => (rate * d.0.as_secs_f64()).round().min(u32::MAX as f64) as u32,
            _ => 1,
        }
    }

    /// The route template the app will report for `path` (the step's `route`, else [`handler_for`]).
    pub fn route_for(&self, path: &str) -> String {
        self.route.clone().unwrap_or_else(|| handler_for(&self.method, path))
    }

    /// What is wrong with this step beyond its shape (located under `at`): method, path,
    /// `count` with `duration`, `duration` without `rate`, a rate that sends nothing, headers.
    pub fn problems(&self, at: &YamlPath) -> Vec<Problem> {
        let mut out = Vec::new();
        if !METHODS.contains(&self.method.as_str()) {
            out.push(Problem::value(at.key("method"), format!("unknown method {:?}", self.method)).hint(format!("one of {}", METHODS.join(", "))));
        }
        if !self.path.starts_with('/') {
            out.push(Problem::value(at.key("path"), format!("path {:?} must start with /", self.path)));
        }
        if self.count.is_some() && self.duration.is_some() {
            out.push(
                Problem::key(at.key("duration"), "`count` and `duration` are exclusive")
                    .hint("send a fixed number with `count` (optionally paced by `rate`), or `rate` × `duration`"),
            );
        }
        if self.count == Some(0) {
            out.push(Problem::value(at.key("count"), "`count` must be at least 1").hint("remove the step to send nothing"));
        }
        if let Some(rate) = self.rate
            && (!rate.is_finite() || rate <= 0.0) {
            out.push(Problem::value(at.key("rate"), format!("`rate` must be a positive number of requests per second, not {rate}")));
        }
        if let Some(d) = self.duration {
            match self.rate {
                None => out.push(Problem::key(at.key("duration"), "`duration` needs a `rate`").hint("e.g. `rate: 5` with `duration: 30s` sends 150 requests")),
                Some(r) if r.is_finite() && r > 0.0 && self.count.is_none() && self.requests() == 0 => out.push(Problem::value(
                    at.key("duration"),
                    format!("`rate` {r}/s for {d} sends no request"),
                )),
                _ => {}
            }
        }
        for (name, value) in &self.headers {
            let at = at.key("headers").key(name);
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                out.push(Problem::key(at, format!("{name:?} is no valid HTTP header name")));
            } else if name.eq_ignore_ascii_case("traceparent") {
                out.push(Problem::key(at, "the driver sets `traceparent` itself (it chooses and records every trace id)").hint("remove the header"));
            } else if reqwest::header::HeaderValue::from_str(value).is_err() {
                out.push(Problem::value(at, format!("header {name}: {value:?} is no valid HTTP header value")));
            }
        }
        if self.route.as_deref().is_some_and(|r| r.trim().is_empty()) {
            out.push(Problem::value(at.key("route"), "`route` is empty").hint("the route template the app reports, e.g. /api/orders/{id}, or leave it out"));
        }
        out
    }
}

/// An expected HTTP status: one code (`201`) or a class (`2xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusSpec {
    /// Exactly this code.
    Code(u16),
    /// Any code of this class: `2` for `2xx`.
    Class(u8),
}

impl StatusSpec {
    pub fn matches(&self, status: u16) -> bool {
        match self {
            StatusSpec::Code(c) => status == *c,
            StatusSpec::Class(c) => status / 100 == *c as u16,
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("status {s:?} is neither a code (e.g. 201) nor a class (e.g. 2xx)");
        if t.len() == 3 && t[1..].eq_ignore_ascii_case("xx") {
            return match t.as_bytes()[0] {
                c @ b'1'..=b'5' => Ok(StatusSpec::Class(c - b'0')),
                _ => Err(bad()),
            };
        }
        match t.parse::<u16>() {
            Ok(c) if (100..=599).contains(&c) => Ok(StatusSpec::Code(c)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSpec::Code(c) => write!(f, "{c}"),
            StatusSpec::Class(c) => write!(f, "{c}xx"),
        }
    }
}

impl Serialize for StatusSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusSpec::Code(c) => s.serialize_u16(*c),
            StatusSpec::Class(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = StatusSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an HTTP status code (201) or class (\"2xx\")")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusSpec, E> {
                StatusSpec::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusSpec, E> {
                StatusSpec::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusSpec, E> {
                StatusSpec::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for StatusSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusSpec".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An HTTP status code (e.g. 201) or a class (e.g. \"2xx\").",
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "string", "pattern": "^([1-5][xX][xX]|[1-5][0-9][0-9])$"}
            ]
        })
    }
}

/// A duration written as in Prometheus configs: `500ms`, `30s`, `1m30s`, `2h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// Parses `<number><unit>` parts (units `ms`, `s`, `m`, `h`; decimals allowed: `1.5s`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("duration {s:?}: {why} (write e.g. 30s, 1m30s, 500ms)");
        let t = s.trim();
        if t.is_empty() {
            return Err(bad("empty"));
        }
        let mut total = 0f64;
        let mut rest = t;
        while !rest.is_empty() {
            let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if num_len == 0 {
                return Err(bad("a number must come first"));
            }
            let n: f64 = rest[..num_len].parse().map_err(|_| bad("not a number"))?;
            rest = &rest[num_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let secs = match &rest[..unit_len] {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                "" => return Err(bad("a unit must follow the number")),
                u => return Err(bad(&format!("unknown unit {u:?}"))),
            };
            rest = &rest[unit_len..];
            total += n * secs;
        }
        if !total.is_finite() || total > 1e9 {
            return Err(bad("too long"));
        }
        Ok(HumanDuration(Duration::from_secs_f64(total)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) || ms == 0 {
            return write!(f, "{ms}ms");
        }
        let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 1m30s or 500ms")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl schemars::JsonSchema for HumanDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: number-unit parts with units ms, s, m, h (e.g. 500ms, 30s, 1m30s).",
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
        })
    }
}

/// A scenario file: the traffic to drive and what its telemetry must show.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "obs-harness scenario")]
pub struct Scenario {
    /// The scenario's name (shown in reports).
    pub name: String,
    /// Requests in flight at once (default 4).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1))]
    pub concurrency: usize,
    /// The requests, issued in order with up to `concurrency` in flight.
    pub steps: Vec<Step>,
    /// Causes for alert rules whose expression fits no known cause:
    /// alert name -> `error_burst` | `slow_requests` | `llm_failures` | `app_stopped`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub causes: std::collections::BTreeMap<String, crate::profile::Cause>,
    /// What the telemetry of this traffic must show; each becomes the check `expect.<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<Expectation>,
}

fn default_concurrency() -> usize {
    4
}

/// LLM calls sent, per (model, provider).
pub type LlmCalls = BTreeMap<(String, String), u64>;
/// LLM calls that failed, per (model, provider, reason).
pub type LlmFailures = BTreeMap<(String, String, String), u64>;

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, TrafficError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrafficError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// A scenario from its YAML `text` (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, TrafficError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(|e| {
            let (at, message) = crate::read::yaml_error(&e);
            let (line, column) = at.unwrap_or((0, 0));
            TrafficError::Parse { path: path.to_owned(), line, column, message }
        })?;
        s.validate()?;
        if let Some(p) = s.problems().into_iter().next() {
            return Err(p.locate(text, path).into());
        }
        Ok(s)
    }

    /// The default scenario (`fixtures/scenarios/default.yaml`, built into the binary).
    pub fn default_scenario() -> Self {
        Self::parse(include_str!("../../../fixtures/scenarios/default.yaml"), Path::new("<built-in default scenario>"))
            .expect("bundled scenario is valid")
    }

    /// The JSON Schema of the scenario file (`schemas/scenario.schema.json` is this, committed).
    pub fn json_schema() -> serde_json::Value {
        schemars::schema_for!(Scenario).to_value()
    }

    fn validate(&self) -> Result<(), TrafficError> {
        for (i, s) in self.steps.iter().enumerate() {
            let bad = |problem: String| TrafficError::Step { name: self.name.clone(), step: i + 1, problem };
            if !METHODS.contains(&s.method.as_str()) {
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

    /// Everything wrong beyond the file's shape, each with where it is: the steps'
    /// `count`/`duration`/`rate`/headers, then the expectations ([`crate::traffic::expectations::problems`]).
    pub fn problems(&self) -> Vec<Problem> {
        let root = YamlPath::root();
        let mut out: Vec<Problem> = self.steps.iter().enumerate().flat_map(|(i, s)| s.problems(&root.key("steps").index(i))).collect();
        out.extend(expectations::problems(&self.expect, self.steps.len()));
        out
    }

    /// Every step's count multiplied by `factor` (bursts for alert scenarios); a
    /// `rate` × `duration` step sends for `factor` times as long.
    pub fn scaled(mut self, factor: u32) -> Self {
        for s in &mut self.steps {
            match s.duration {
                Some(d) if s.count.is_none() => s.duration = Some(HumanDuration(d.0 * factor)),
                _ => s.count = Some(s.requests() * factor),
            }
        }
        self
    }

    /// The requests whose status differs from their step's `expect_status`.
    pub fn expected_status_mismatches(&self, record: &TrafficRecord) -> Vec<StatusMismatch> {
        record
            .sent
            .iter()
            .filter_map(|s| {
                let want = self.steps.get(s.step)?.expect_status?;
                (!want.matches(s.status)).then(|| StatusMismatch {
                    step: s.step,
                    method: s.method.clone(),
                    path: s.path.clone(),
                    status: s.status,
                    expected: want,
                    trace_id: s.trace_id.clone(),
                })
            })
            .collect()
    }
}

/// A request that answered another status than its step's `expect_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusMismatch {
    /// Index of the step in `steps:` (0-based).
    pub step: usize,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub expected: StatusSpec,
    pub trace_id: String,
}

impl fmt::Display for StatusMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "steps[{}] {} {} answered {}, expected {} (trace id {})", self.step, self.method, self.path, self.status, self.expected, self.trace_id)
    }
}

/// The scenario file `check` and `snapshot` read beside the compose file when `--scenario` names none.
pub const SCENARIO_FILE: &str = "scenario.yaml";

impl Scenario {
    /// The scenario of a run: `explicit`, else [`SCENARIO_FILE`] beside the compose
    /// file, else the reference app's default when the service under test is the
    /// reference app, else none (no steps: the checks that hold for any app still run).
    pub fn for_run(explicit: Option<&Path>, stack_dir: &Path, reference_app: bool) -> Result<Self, TrafficError> {
        if let Some(p) = explicit {
            return Self::load(p);
        }
        let beside = stack_dir.join(SCENARIO_FILE);
        if beside.is_file() {
            return Self::load(&beside);
        }
        Ok(if reference_app { Self::default_scenario() } else { Self { name: "none".into(), concurrency: 1, steps: Vec::new(), causes: Default::default(), expect: Vec::new() } })
    }
}

/// One request the driver sent, and what came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sent {
    /// Index of the step in the scenario's `steps:` (0-based) that sent it.
    #[serde(default)]
    pub step: usize,
    pub method: String,
    pub path: String,
    /// The app's route template (the `handler` label): the step's `route`, else
    /// [`handler_for`]'s guess (`none` when no route of the reference app matches).
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
    pub fn llm_counts(&self) -> (LlmCalls, LlmFailures) {
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

/// One request to send: its step (and index), its sequence number `n`, and
/// its place `k` within the step (for pacing).
struct Job {
    step: Arc<Step>,
    index: usize,
    n: u32,
    k: u32,
}

/// Sends `scenario` at `app_url` and records every request. Requests are issued
/// in step order with up to `concurrency` in flight; a step with a `rate`
/// issues its `k`-th request no sooner than `k / rate` seconds after its first.
pub async fn drive(app_url: &str, scenario: &Scenario) -> Result<TrafficRecord, TrafficError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("reqwest client");
    let started = SystemTime::now();
    let mut jobs = Vec::new();
    let mut n = 0u32;
    for (index, step) in scenario.steps.iter().enumerate() {
        let step = Arc::new(step.clone());
        for k in 0..step.requests() {
            n += 1;
            jobs.push(Job { step: step.clone(), index, n, k });
        }
    }
    let client = Arc::new(client);
    // Paces rated steps: (index of the step being issued, when its first request went).
    let paced = futures::stream::unfold((jobs.into_iter(), None::<(usize, tokio::time::Instant)>), |(mut jobs, mut current)| async move {
        let job = jobs.next()?;
        if let Some(rate) = job.step.rate.filter(|r| r.is_finite() && *r > 0.0) {
            let first = match current {
                Some((i, t)) if i == job.index => t,
                _ => {
                    let t = tokio::time::Instant::now();
                    current = Some((job.index, t));
                    t
                }
            };
            tokio::time::sleep_until(first + Duration::from_secs_f64(job.k as f64 / rate)).await;
        }
        Some((job, (jobs, current)))
    });
    let results: Vec<Result<Sent, TrafficError>> = paced
        .map(|job| {
            let client = client.clone();
            async move { send(&client, app_url, &job.step, job.index, job.n).await }
        })
        .buffer_unordered(scenario.concurrency)
        .collect()
        .await;
    let sent = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(TrafficRecord { scenario: scenario.name.clone(), started, finished: SystemTime::now(), sent })
}

async fn send(client: &reqwest::Client, app_url: &str, step: &Step, index: usize, n: u32) -> Result<Sent, TrafficError> {
    let path = step.path.replace("{n}", &n.to_string());
    let url = format!("{}{}", app_url.trim_end_matches('/'), path);
    let trace_id = new_trace_id();
    let method = reqwest::Method::from_bytes(step.method.as_bytes()).expect("validated method");
    let mut req = client.request(method, &url).header("traceparent", format!("00-{trace_id}-{:016x}-01", n as u64 + 1));
    for (name, value) in &step.headers {
        req = req.header(name.as_str(), value.replace("{n}", &n.to_string()));
    }
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
        step: index,
        handler: step.route_for(&path),
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

    fn parse_err(text: &str) -> String {
        Scenario::parse(text, Path::new("s.yaml")).map(|_| ()).unwrap_err().to_string()
    }

    const HEAD: &str = "name: x\nsteps:\n  - { method: GET, path: /a }\n  - { method: POST, path: /b }\n";

    #[test]
    fn the_default_scenario_is_unchanged() {
        let s = Scenario::default_scenario();
        assert_eq!((s.name.as_str(), s.concurrency, s.steps.len()), ("default", 4, 13));
        assert_eq!(s.steps.iter().map(Step::requests).sum::<u32>(), 40);
        assert!(s.steps.iter().all(|st| st.rate.is_none() && st.duration.is_none() && st.headers.is_empty() && st.route.is_none() && st.expect_status.is_none()));
        assert!(s.expect.is_empty() && s.causes.is_empty());
        assert_eq!(s.clone().scaled(3).steps.iter().map(Step::requests).sum::<u32>(), 120);
    }

    #[test]
    fn the_example_for_your_own_app_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios/your-app.yaml");
        let s = Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.steps.iter().map(Step::requests).collect::<Vec<_>>(), [5, 6, 1]);
        assert_eq!(s.steps[0].route_for("/api/orders/3"), "/api/orders/{id}");
        assert_eq!(s.steps[1].headers["x-request-id"], "order-{n}");
        assert_eq!(s.steps[2].expect_status, Some(StatusSpec::Code(405)));
        let ids: Vec<(String, &str)> = s.expect.iter().map(|e| (e.check_id(), e.backend())).collect();
        assert_eq!(ids[0], ("expect.orders_counted".to_owned(), "prometheus"));
        assert!(ids.contains(&("expect.order_logs".to_owned(), "loki")));
        assert!(ids.contains(&("expect.order_traces".to_owned(), "traces")));
        assert!(s.expect.iter().all(|e| e.kind().is_some()), "every expectation has a typed view");
        assert!(s.expect[0].needs_before() && s.expect.last().unwrap().needs_app());
        // The file model round-trips.
        let again: Scenario = serde_yaml::from_str(&serde_yaml::to_string(&s).unwrap()).unwrap();
        assert_eq!(again, s);
    }

    #[test]
    fn unknown_keys_are_errors_at_their_line() {
        let e = parse_err("name: x\nsteps:\n  - method: GET\n    path: /x\n    cont: 2\n");
        assert!(e.starts_with("s.yaml:5:5: invalid scenario: steps[0]: unknown field `cont`"), "{e}");
        assert!(!e.contains(" at line "), "the location is said once: {e}");
        let e = parse_err(&format!("{HEAD}expect:\n  - name: a\n    promql: up\n    valeu: \"== 1\"\n"));
        assert!(e.starts_with("s.yaml:8:5: invalid scenario: expect[0]: unknown field `valeu`"), "{e}");
        let e = parse_err(&format!("{HEAD}expect:\n  - name: t\n    traces: {{ by_request: true }}\n    spans:\n      - name: x\n        kidn: server\n"));
        assert!(e.starts_with("s.yaml:10:9: invalid scenario: expect[0].spans[0]: unknown field `kidn`"), "{e}");
        let e = parse_err("name: x\nsteps: []\nexpct: []\n");
        assert!(e.starts_with("s.yaml:3:1: invalid scenario: unknown field `expct`"), "{e}");
    }

    #[test]
    fn count_and_duration_are_exclusive() {
        let e = parse_err("name: x\nsteps:\n  - method: GET\n    path: /x\n    count: 3\n    rate: 2\n    duration: 10s\n");
        assert_eq!(
            e,
            "s.yaml:7:5: invalid scenario: steps[0].duration: `count` and `duration` are exclusive \
             (hint: send a fixed number with `count` (optionally paced by `rate`), or `rate` × `duration`)"
        );
        let e = parse_err("name: x\nsteps:\n  - { method: GET, path: /x, duration: 10s }\n");
        assert!(e.starts_with("s.yaml:3:30: invalid scenario: steps[0].duration: `duration` needs a `rate`"), "{e}");
        let e = parse_err("name: x\nsteps:\n  - { method: GET, path: /x, rate: 2, duration: 10 parsecs }\n");
        assert!(e.contains("s.yaml:3:") && e.contains("duration \"10 parsecs\""), "{e}");
        let e = parse_err("name: x\nsteps:\n  - { method: GET, path: /x, headers: { traceparent: x } }\n");
        assert!(e.contains("steps[0].headers.traceparent: the driver sets `traceparent` itself"), "{e}");
        let e = parse_err("name: x\nsteps:\n  - { method: GET, path: /x, expect_status: 2yy }\n");
        assert!(e.starts_with("s.yaml:3:45: invalid scenario: steps[0].expect_status: status \"2yy\" is neither"), "{e}");
    }

    #[test]
    fn rate_and_duration_give_the_count() {
        let s = Scenario::parse("name: x\nsteps:\n  - { method: GET, path: /x, rate: 2.5, duration: 1m30s }\n", Path::new("s.yaml")).unwrap();
        assert_eq!(s.steps[0].requests(), 225);
        assert_eq!(s.steps[0].duration.unwrap().to_string(), "1m30s");
        assert_eq!(s.clone().scaled(2).steps[0].requests(), 450);
        assert_eq!(HumanDuration::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(HumanDuration::parse("1.5s").unwrap().to_string(), "1500ms");
        assert!(HumanDuration::parse("5").unwrap_err().contains("a unit must follow"));
    }

    #[test]
    fn expectation_errors_name_file_line_and_column() {
        let at = |exp: &str| parse_err(&format!("{HEAD}expect:\n{exp}"));
        let e = at("  - name: a\n    promql: up\n    value: \"=> 1\"\n");
        assert!(e.starts_with("s.yaml:8:12: invalid scenario: expect[0].value: unknown comparison \"=>\""), "{e}");
        let e = at("  - name: a\n    promql: ''\n    value: \"== 1\"\n");
        assert_eq!(e, "s.yaml:7:13: invalid scenario: expect[0].promql: the PromQL query is empty");
        let e = at("  - name: a\n    promql: 'sum(rate(x[5m])'\n    value: \"== 1\"\n");
        assert!(e.starts_with("s.yaml:7:13: invalid scenario: expect[0].promql: PromQL does not parse:"), "{e}");
        let e = at("  - name: a\n    logql: '{service=\"shop\"} |= '\n    lines: 1\n");
        assert!(e.starts_with("s.yaml:7:12: invalid scenario: expect[0].logql: LogQL does not parse:"), "{e}");
        let e = at("  - name: a\n    promql: up\n    lines: 3\n");
        assert!(e.starts_with("s.yaml:8:5: invalid scenario: expect[0].lines: `lines` does not apply to a promql expectation"), "{e}");
        let e = at("  - name: a\n    promql: up\n    logql: '{a=\"b\"}'\n");
        assert!(e.starts_with("s.yaml:8:5: invalid scenario: expect[0].logql: `promql` and `logql` are exclusive"), "{e}");
        let e = at("  - name: a\n    promql: up\n    series: 1\n    absent: true\n");
        assert!(e.starts_with("s.yaml:9:5: invalid scenario: expect[0].absent: `series` and `absent` are exclusive"), "{e}");
        let e = at("  - name: a\n    promql: up\n");
        assert!(e.starts_with("s.yaml:6:5: invalid scenario: expect[0]: a promql expectation asserts nothing"), "{e}");
        let e = at("  - name: a\n    promql: x_total\n    increase_by_requests: { steps: [0, 7] }\n");
        assert!(e.starts_with("s.yaml:8:40: invalid scenario: expect[0].increase_by_requests.steps[1]: there is no step 7"), "{e}");
        let e = at("  - { name: a, promql: up, absent: true }\n  - { name: a, promql: up, absent: true }\n");
        assert!(e.starts_with("s.yaml:7:13: invalid scenario: expect[1].name: a second expectation named `a`"), "{e}");
        let e = at("  - name: a\n    logql: '{a=\"b\"}'\n    regex: { every: '(' }\n");
        assert!(e.starts_with("s.yaml:8:21: invalid scenario: expect[0].regex.every: invalid regular expression"), "{e}");
        let e = at("  - name: a\n    series: 1\n");
        assert!(e.starts_with("s.yaml:6:5: invalid scenario: expect[0]: expectation `a` has no signal"), "{e}");
        let e = at("  - name: a\n    alert: X\n    cause: [{ method: GET, path: nope }]\n");
        assert!(e.starts_with("s.yaml:8:34: invalid scenario: expect[0].cause[0].path: path \"nope\" must start with /"), "{e}");
        let e = at("  - name: a\n    traces: { by_request: true, search: { service: s } }\n");
        assert!(e.starts_with("s.yaml:7:33: invalid scenario: expect[0].traces.search: `by_request` and `search` are exclusive"), "{e}");
    }

    #[test]
    fn status_mismatches_name_the_request() {
        let s = Scenario::parse("name: x\nsteps:\n  - { method: POST, path: /o, expect_status: 201 }\n  - { method: GET, path: /p, expect_status: 2xx }\n  - { method: GET, path: /q }\n", Path::new("s.yaml")).unwrap();
        let sent = |step: usize, path: &str, status: u16| Sent {
            step,
            method: s.steps[step].method.clone(),
            path: path.into(),
            handler: "none".into(),
            status,
            trace_id: format!("t{step}{status}"),
            echoed_trace_id: None,
            llm: None,
        };
        let record = TrafficRecord {
            scenario: "x".into(),
            started: SystemTime::now(),
            finished: SystemTime::now(),
            sent: vec![sent(0, "/o", 201), sent(0, "/o", 200), sent(1, "/p", 204), sent(1, "/p", 503), sent(2, "/q", 500)],
        };
        let bad: Vec<String> = s.expected_status_mismatches(&record).iter().map(ToString::to_string).collect();
        assert_eq!(bad, ["steps[0] POST /o answered 200, expected 201 (trace id t0200)", "steps[1] GET /p answered 503, expected 2xx (trace id t1503)"]);
    }

    #[tokio::test]
    async fn drive_sends_headers_paces_rated_steps_and_records_steps_and_routes() {
        use wiremock::matchers::{header, method, path};
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST")).and(path("/api/orders")).and(header("x-tenant", "acme"))
            .respond_with(wiremock::ResponseTemplate::new(201)).mount(&server).await;
        wiremock::Mock::given(method("GET")).respond_with(wiremock::ResponseTemplate::new(200)).mount(&server).await;
        let s = Scenario::parse(
            "name: x\nsteps:\n  - { method: GET, path: /health }\n  - { method: POST, path: /api/orders, route: /api/orders, rate: 20, duration: 250ms, headers: { x-tenant: acme, x-seq: \"n{n}\" } }\n",
            Path::new("s.yaml"),
        )
        .unwrap();
        let t0 = std::time::Instant::now();
        let record = drive(&server.uri(), &s).await.unwrap();
        // 5 requests at 20/s: the last is issued 200 ms after the first.
        assert!(t0.elapsed() >= Duration::from_millis(200), "{:?}", t0.elapsed());
        let orders: Vec<&Sent> = record.sent.iter().filter(|r| r.step == 1).collect();
        assert_eq!(orders.len(), 5);
        assert!(orders.iter().all(|r| r.status == 201 && r.handler == "/api/orders"), "{orders:?}");
        assert_eq!(record.sent.iter().find(|r| r.step == 0).unwrap().handler, "/health");
        let received = server.received_requests().await.unwrap();
        let mut seqs: Vec<String> = received.iter().filter_map(|r| r.headers.get("x-seq").map(|v| v.to_str().unwrap().to_owned())).collect();
        seqs.sort();
        assert_eq!(seqs, ["n2", "n3", "n4", "n5", "n6"]);
        assert!(received.iter().all(|r| r.headers.contains_key("traceparent")));
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
