//! Declared expectations: what the telemetry of a scenario's traffic must
//! show, from the scenario file's `expect:` section (in the spirit of
//! grafana/oats cases). This module is the data and its validation; the
//! checks that evaluate them live in [`crate::checks::expect`].
//!
//! Each expectation has a `name` (its check id is `expect.<name>`) and one
//! signal with its assertions:
//! - `promql:` an instant query, with exactly one of `value` (`"== 1"`,
//!   `">= 0.5"`, `"<= 3"`, `{between: [a, b]}`), `series` (a count: `3` or
//!   `{min: 1}`), `labels` (names present on every series), `absent: true`, or
//!   `increase_by_requests` (the counter grew by exactly the number of the
//!   scenario's requests matching a filter, between a snapshot taken before
//!   the traffic and after);
//! - `logql:` a log query over the traffic's window, with any of `lines` (a
//!   count), `labels`, `regex` (`{every|any|none: re}`), `trace_ids` (each
//!   selected request's trace id is in some line);
//! - `traces:` `by_request` (each selected request's trace, by the id the
//!   driver chose) or `search` (`{service, span_name, count}`), with `spans`
//!   assertions (name, kind, status, attributes, parent, children, count);
//! - `alert:` an alerting rule's name that must fire, optionally after its
//!   `cause` (requests shaped like scenario steps).
//!
//! Errors name file:line:column: the shape is checked while serde reads the
//! file (unknown keys, comparisons, counts, durations, statuses), the rest
//! ([`problems`]: queries that do not parse, assertions that do not fit the
//! signal, step indices) afterwards, located with [`locate`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::traffic::{HumanDuration, METHODS, Sent, StatusSpec, Step, TrafficRecord};

// ---------------------------------------------------------------------------
// Places in the file and located errors
// ---------------------------------------------------------------------------

/// One step of a [`YamlPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A place in the YAML document, e.g. `expect[2].promql`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Seg>);

impl YamlPath {
    /// The document itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// The value of `key` in the map here.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }

    /// Item `i` of the sequence here.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Something wrong at a place of the scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: YamlPath,
    /// Point at the key of the last segment rather than at its value.
    pub on_key: bool,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    /// A problem with the value at `at`.
    pub fn value(at: YamlPath, message: impl Into<String>) -> Self {
        Self { at, on_key: false, message: message.into(), hint: None }
    }

    /// A problem with the key that ends `at` (a key that should not be there).
    pub fn key(at: YamlPath, message: impl Into<String>) -> Self {
        Self { at, on_key: true, message: message.into(), hint: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The error naming where in `text` (the file at `file`) the problem is.
    pub fn locate(&self, text: &str, file: &Path) -> Invalid {
        let (line, column) = locate(text, &self.at, self.on_key).unwrap_or((0, 0));
        Invalid { file: file.to_owned(), line, column, at: self.at.to_string(), message: self.message.clone(), hint: self.hint.clone() }
    }
}

/// A scenario file that reads but cannot mean anything: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}:{line}:{column}: invalid scenario: {at}: {message}{}",
    file.display(),
    hint.as_deref().map(|h| format!(" (hint: {h})")).unwrap_or_default()
)]
pub struct Invalid {
    pub file: PathBuf,
    /// 1-based; 0 when the place could not be found.
    pub line: usize,
    pub column: usize,
    /// The YAML path, e.g. `expect[2].promql`.
    pub at: String,
    pub message: String,
    pub hint: Option<String>,
}

/// What [`Nav`] raises when it reaches the place it looks for: serde_yaml
/// attaches the position of the node being read to the error.
const HERE: &str = "\u{1}obs-harness: here\u{1}";

/// The 1-based (line, column) of the node at `at` in the YAML `text` (of its
/// key when `on_key`); falls back to the nearest enclosing node that exists.
///
/// It reads `text` again with a visitor that walks to `at` and fails there:
/// serde_yaml reports the position of the node an error is raised on.
pub fn locate(text: &str, at: &YamlPath, on_key: bool) -> Option<(usize, usize)> {
    let mut path = at.0.as_slice();
    let mut on_key = on_key;
    loop {
        let nav = Nav { path, on_key };
        if let Err(e) = nav.deserialize(serde_yaml::Deserializer::from_str(text))
            && e.to_string().contains(HERE)
            && let Some(l) = e.location()
        {
            return Some((l.line(), l.column()));
        }
        if path.is_empty() {
            return None;
        }
        path = &path[..path.len() - 1];
        on_key = false;
    }
}

#[derive(Clone, Copy)]
struct Nav<'p> {
    path: &'p [Seg],
    on_key: bool,
}

fn not_found<E: de::Error>() -> E {
    E::custom("not found")
}

impl<'de> DeserializeSeed<'de> for Nav<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Nav<'_> {
    fn scalar<E: de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() { Err(E::custom(HERE)) } else { Err(not_found()) }
    }
}

impl<'de> Visitor<'de> for Nav<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.scalar()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.scalar()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.scalar()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.scalar()
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.scalar()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return Err(de::Error::custom(HERE)) };
        let Seg::Index(i) = first else { return Err(not_found()) };
        for _ in 0..*i {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(not_found());
            }
        }
        seq.next_element_seed(Nav { path: rest, on_key: self.on_key })?;
        Err(not_found())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((first, rest)) = self.path.split_first() else { return Err(de::Error::custom(HERE)) };
        let Seg::Key(want) = first else { return Err(not_found()) };
        while let Some(hit) = map.next_key_seed(KeyIs { want, fail: rest.is_empty() && self.on_key })? {
            if hit {
                map.next_value_seed(Nav { path: rest, on_key: self.on_key })?;
                return Err(not_found());
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(not_found())
    }
}

/// Reads a map key: `true` when it is `want`; raises [`HERE`] on it when `fail`.
struct KeyIs<'a> {
    want: &'a str,
    fail: bool,
}

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl KeyIs<'_> {
    fn is<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        match key == self.want {
            true if self.fail => Err(E::custom(HERE)),
            hit => Ok(hit),
        }
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.is(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.is(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

// ---------------------------------------------------------------------------
// The file model
// ---------------------------------------------------------------------------

/// One declared expectation: a name, one signal (`promql`, `logql`, `traces`
/// or `alert`) and the assertions that fit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = one_signal)]
pub struct Expectation {
    /// Its check id is `expect.<name>`: letters, digits, `_`, `-` and `.`.
    #[schemars(extend("pattern" = "^[A-Za-z0-9_.-]+$"))]
    pub name: String,
    /// How long to wait for it to hold (default: the run's check timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,

    /// A PromQL instant query (evaluated at Prometheus's current time). Assert exactly one of
    /// `value`, `series`, `labels`, `absent`, `increase_by_requests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promql: Option<String>,
    /// A LogQL log query, run over the traffic's window (a minute either side). Assert any of
    /// `lines`, `labels`, `regex`, `trace_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logql: Option<String>,
    /// Traces in the stack's trace store (Jaeger or Tempo), with `spans` assertions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceSource>,
    /// The name of an alerting rule that must fire (after its `cause`, if given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,

    /// promql: every series' value (or the scalar) compares so: `"== 1"`, `">= 0.5"`, `"<= 3"`,
    /// `"> 0"`, `"< 1"`, `"!= 0"`, or `{between: [a, b]}` (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Comparison>,
    /// promql: how many series the query returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<CountSpec>,
    /// promql, logql: label names present on every series / stream (and at least one of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// promql: `true`: the query returns nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// promql: the query (a counter) increased by exactly the number of the scenario's requests
    /// this filter selects, between a snapshot taken before the traffic and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increase_by_requests: Option<RequestFilter>,

    /// logql: how many lines the query returns (up to 5000 are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<CountSpec>,
    /// logql: a regular expression every / any / no line matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<LineRegex>,
    /// logql: each selected request's trace id appears in some line (`true`: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_ids: Option<Requests>,

    /// traces: what the spans of each trace must show.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanAssertion>,

    /// alert: requests (shaped like scenario steps) that should make it fire, sent while waiting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cause: Vec<Step>,
    /// alert: which ruler evaluates the rule (default `prometheus`; `loki` for a Loki ruler rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruler: Option<Ruler>,
}

fn one_signal(schema: &mut schemars::Schema) {
    schema.insert(
        "oneOf".into(),
        serde_json::json!([{"required": ["promql"]}, {"required": ["logql"]}, {"required": ["traces"]}, {"required": ["alert"]}]),
    );
}

fn one_trace_source(schema: &mut schemars::Schema) {
    schema.insert("oneOf".into(), serde_json::json!([{"required": ["by_request"]}, {"required": ["search"]}]));
}

/// Where an alerting rule is evaluated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ruler {
    #[default]
    Prometheus,
    Loki,
}

/// Which traces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = one_trace_source)]
pub struct TraceSource {
    /// Each selected request's trace, looked up by the trace id the driver chose (`true`: every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_request: Option<Requests>,
    /// Traces found by searching the store over the traffic's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<TraceSearch>,
}

/// A trace search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceSearch {
    /// The `service.name` the traces come from.
    pub service: String,
    /// Only traces with a span of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_name: Option<String>,
    /// How many found traces must satisfy the `spans` assertions (default: at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<CountSpec>,
}

/// What the spans of a trace must show. For `by_request` traces, `{method}`,
/// `{route}`, `{path}` and `{status}` in names and attribute values become the request's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpanAssertion {
    /// The span's name, e.g. `POST /api/orders` or `{method} {route}`.
    pub name: String,
    /// Its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SpanKindSpec>,
    /// Its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SpanStatusSpec>,
    /// Attributes: `key` (present) or `key=value` (equal, compared as text).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The name of its parent span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Names of spans that must be its children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    /// How many spans of this name each trace holds (default: at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<CountSpec>,
}

impl SpanAssertion {
    /// `(key, Some(value))` for `key=value`, `(key, None)` for `key`.
    pub fn attribute_pairs(&self) -> Vec<(&str, Option<&str>)> {
        self.attributes
            .iter()
            .map(|a| match a.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v)),
                None => (a.trim(), None),
            })
            .collect()
    }
}

/// `{method}`, `{route}`, `{path}` and `{status}` in `template` replaced by the request's.
pub fn for_request(template: &str, sent: &Sent) -> String {
    template
        .replace("{method}", &sent.method)
        .replace("{route}", &sent.handler)
        .replace("{path}", sent.path.split('?').next().unwrap_or(&sent.path))
        .replace("{status}", &sent.status.to_string())
}

/// An OTLP span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpanKindSpec {
    Server,
    Client,
    Internal,
    Producer,
    Consumer,
}

/// An OTLP span status: `error` (code 2), `ok` (code 1) or `unset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatusSpec {
    Ok,
    Error,
    Unset,
}

/// A regular expression lines must match: `{every: re}`, `{any: re}` or `{none: re}`.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LineRegex {
    /// Every line matches (and there is at least one line).
    Every(String),
    /// At least one line matches.
    Any(String),
    /// No line matches.
    None(String),
}

impl Serialize for LineRegex {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.mode(), self.pattern())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for LineRegex {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LineRegex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("{every: re}, {any: re} or {none: re}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LineRegex, A::Error> {
                const MODES: &[&str] = &["every", "any", "none"];
                let mut out = None;
                while let Some(k) = map.next_key::<String>()? {
                    let re: String = map.next_value()?;
                    let r = match k.as_str() {
                        "every" => LineRegex::Every(re),
                        "any" => LineRegex::Any(re),
                        "none" => LineRegex::None(re),
                        other => return Err(de::Error::unknown_variant(other, MODES)),
                    };
                    if out.replace(r).is_some() {
                        return Err(de::Error::custom("one of every, any, none per regex: write two expectations"));
                    }
                }
                out.ok_or_else(|| de::Error::custom("a regex needs one of every, any, none"))
            }
        }
        d.deserialize_map(V)
    }
}

impl LineRegex {
    pub fn pattern(&self) -> &str {
        match self {
            LineRegex::Every(p) | LineRegex::Any(p) | LineRegex::None(p) => p,
        }
    }
    pub fn mode(&self) -> &'static str {
        match self {
            LineRegex::Every(_) => "every",
            LineRegex::Any(_) => "any",
            LineRegex::None(_) => "none",
        }
    }
}

/// Some of the scenario's requests: the same filter shape everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestFilter {
    /// Indices in the scenario's `steps:` (0-based).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<usize>,
    /// The request's method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The route the request was sent to (the step's `route`, or the reference app's guess).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The status the request answered: a code (`201`) or a class (`2xx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSpec>,
}

impl RequestFilter {
    pub fn matches(&self, s: &Sent) -> bool {
        (self.steps.is_empty() || self.steps.contains(&s.step))
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(&s.method))
            && self.route.as_deref().is_none_or(|r| r == s.handler)
            && self.status.is_none_or(|st| st.matches(s.status))
    }

    /// The requests of `record` it selects, in the order they were recorded.
    pub fn select<'a>(&self, record: &'a TrafficRecord) -> Vec<&'a Sent> {
        record.sent.iter().filter(|s| self.matches(s)).collect()
    }

    fn problems(&self, at: &YamlPath, steps: usize) -> Vec<Problem> {
        let mut out = Vec::new();
        for (j, i) in self.steps.iter().enumerate() {
            if *i >= steps {
                out.push(
                    Problem::value(at.key("steps").index(j), format!("there is no step {i}: the scenario has {steps} step(s)"))
                        .hint("steps are counted from 0 in the order of `steps:`"),
                );
            }
        }
        if let Some(m) = &self.method
            && !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
            out.push(Problem::value(at.key("method"), format!("unknown method {m:?}")).hint(format!("one of {}", METHODS.join(", "))));
        }
        out
    }
}

impl fmt::Display for RequestFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.steps.is_empty() {
            parts.push(format!("steps: {:?}", self.steps));
        }
        if let Some(m) = &self.method {
            parts.push(format!("method: {m}"));
        }
        if let Some(r) = &self.route {
            parts.push(format!("route: {r}"));
        }
        if let Some(s) = &self.status {
            parts.push(format!("status: {s}"));
        }
        if parts.is_empty() { f.write_str("every request") } else { write!(f, "{{{}}}", parts.join(", ")) }
    }
}

/// `true` (every request) or a [`RequestFilter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requests {
    All,
    Matching(RequestFilter),
}

impl Requests {
    /// The filter (empty for every request).
    pub fn filter(&self) -> RequestFilter {
        match self {
            Requests::All => RequestFilter::default(),
            Requests::Matching(f) => f.clone(),
        }
    }

    pub fn select<'a>(&self, record: &'a TrafficRecord) -> Vec<&'a Sent> {
        self.filter().select(record)
    }
}

impl Serialize for Requests {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Requests::All => s.serialize_bool(true),
            Requests::Matching(f) => f.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Requests {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Requests;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true` (every request) or a filter {steps, method, route, status}")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Requests, E> {
                if v { Ok(Requests::All) } else { Err(E::custom("`false` selects nothing: write `true` or a filter, or leave the key out")) }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Requests, A::Error> {
                RequestFilter::deserialize(de::value::MapAccessDeserializer::new(map)).map(Requests::Matching)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Requests {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Requests".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let filter = g.subschema_for::<RequestFilter>();
        schemars::json_schema!({
            "description": "`true` (every request of the scenario) or a filter.",
            "anyOf": [{"const": true}, filter]
        })
    }
}

/// A count: exactly `n`, or `{min, max}` (either or both, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountSpec {
    Exactly(u64),
    Range { min: Option<u64>, max: Option<u64> },
}

impl CountSpec {
    /// At least one (the default where a count is optional).
    pub const SOME: CountSpec = CountSpec::Range { min: Some(1), max: None };

    pub fn matches(&self, n: u64) -> bool {
        match *self {
            CountSpec::Exactly(e) => n == e,
            CountSpec::Range { min, max } => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
        }
    }
}

impl fmt::Display for CountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CountSpec::Exactly(n) => write!(f, "exactly {n}"),
            CountSpec::Range { min: Some(a), max: Some(b) } => write!(f, "between {a} and {b}"),
            CountSpec::Range { min: Some(a), max: None } => write!(f, "at least {a}"),
            CountSpec::Range { min: None, max: Some(b) } => write!(f, "at most {b}"),
            CountSpec::Range { min: None, max: None } => write!(f, "any number"),
        }
    }
}

impl Serialize for CountSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            CountSpec::Exactly(n) => s.serialize_u64(n),
            CountSpec::Range { min, max } => {
                let mut m = s.serialize_map(None)?;
                if let Some(a) = min {
                    m.serialize_entry("min", &a)?;
                }
                if let Some(b) = max {
                    m.serialize_entry("max", &b)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for CountSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CountSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count: a number (exactly) or {min: n, max: m}")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CountSpec, E> {
                Ok(CountSpec::Exactly(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CountSpec, E> {
                u64::try_from(v).map(CountSpec::Exactly).map_err(|_| E::custom(format!("a count cannot be negative ({v})")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CountSpec, A::Error> {
                let (mut min, mut max) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "min" => min = Some(map.next_value::<u64>()?),
                        "max" => max = Some(map.next_value::<u64>()?),
                        other => return Err(de::Error::unknown_field(other, &["min", "max"])),
                    }
                }
                match (min, max) {
                    (None, None) => Err(de::Error::custom("a count needs `min`, `max` or both")),
                    (Some(a), Some(b)) if a > b => Err(de::Error::custom(format!("count min {a} is above max {b}"))),
                    _ => Ok(CountSpec::Range { min, max }),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for CountSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Count".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A count: a number (exactly that many) or {min, max} (inclusive, either or both).",
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {
                    "type": "object",
                    "properties": {"min": {"type": "integer", "minimum": 0}, "max": {"type": "integer", "minimum": 0}},
                    "additionalProperties": false,
                    "minProperties": 1
                }
            ]
        })
    }
}

/// How a value compares: `== 1`, `>= 0.5`, `<= 3`, `> 0`, `< 1`, `!= 0`, or between two bounds (inclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Comparison {
    Eq(f64),
    Ne(f64),
    Ge(f64),
    Le(f64),
    Gt(f64),
    Lt(f64),
    Between(f64, f64),
}

/// The comparison operators, longest first (so `>=` is not read as `>`).
const OPS: &[&str] = &["==", "!=", ">=", "<=", ">", "<"];

impl Comparison {
    pub fn holds(&self, v: f64) -> bool {
        match *self {
            Comparison::Eq(x) => v == x,
            Comparison::Ne(x) => v != x,
            Comparison::Ge(x) => v >= x,
            Comparison::Le(x) => v <= x,
            Comparison::Gt(x) => v > x,
            Comparison::Lt(x) => v < x,
            Comparison::Between(a, b) => v >= a && v <= b,
        }
    }

    /// Parses `"<op> <number>"` (a bare number means `==`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let num = |n: &str| -> Result<f64, String> {
            crate::backends::prometheus::parse_value(n.trim())
                .filter(|v| !v.is_nan())
                .ok_or_else(|| format!("comparison {s:?}: {:?} is not a number", n.trim()))
        };
        if let Ok(v) = num(t) {
            return Ok(Comparison::Eq(v));
        }
        let Some(op) = OPS.iter().find(|op| t.starts_with(**op)) else {
            let op: String = t.chars().take_while(|c| !c.is_ascii_digit() && !c.is_whitespace() && *c != '-' && *c != '+').collect();
            return Err(format!("unknown comparison {op:?} in {s:?}: use ==, !=, >=, <=, >, < followed by a number, or {{between: [a, b]}}"));
        };
        let v = num(&t[op.len()..])?;
        Ok(match *op {
            "==" => Comparison::Eq(v),
            "!=" => Comparison::Ne(v),
            ">=" => Comparison::Ge(v),
            "<=" => Comparison::Le(v),
            ">" => Comparison::Gt(v),
            _ => Comparison::Lt(v),
        })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Comparison::Eq(x) => write!(f, "== {x}"),
            Comparison::Ne(x) => write!(f, "!= {x}"),
            Comparison::Ge(x) => write!(f, ">= {x}"),
            Comparison::Le(x) => write!(f, "<= {x}"),
            Comparison::Gt(x) => write!(f, "> {x}"),
            Comparison::Lt(x) => write!(f, "< {x}"),
            Comparison::Between(a, b) => write!(f, "between {a} and {b}"),
        }
    }
}

impl Serialize for Comparison {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            Comparison::Between(a, b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("between", &[a, b])?;
                m.end()
            }
            _ => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Comparison;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a comparison such as \">= 1\" or {between: [a, b]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Comparison, E> {
                Comparison::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Comparison, E> {
                Ok(Comparison::Eq(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Comparison, E> {
                Ok(Comparison::Eq(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Comparison, E> {
                Ok(Comparison::Eq(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Comparison, A::Error> {
                let mut between: Option<[f64; 2]> = None;
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "between" => between = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::custom(format!(
                                "unknown comparison `{other}`: use a string such as \">= 1\" (==, !=, >=, <=, >, <) or {{between: [a, b]}}"
                            )));
                        }
                    }
                }
                match between {
                    None => Err(de::Error::custom("an empty comparison: use \">= 1\" or {between: [a, b]}")),
                    Some([a, b]) if a > b => Err(de::Error::custom(format!("between [{a}, {b}]: the lower bound is above the upper"))),
                    Some([a, b]) => Ok(Comparison::Between(a, b)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Comparison {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Comparison".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A comparison: \"<op> <number>\" with op one of ==, !=, >=, <=, >, < (a bare number means ==), or {between: [a, b]} (inclusive).",
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": "^\\s*(==|!=|>=|<=|>|<)?\\s*[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)\\s*$"},
                {
                    "type": "object",
                    "properties": {"between": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}},
                    "required": ["between"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

// ---------------------------------------------------------------------------
// The typed view and validation
// ---------------------------------------------------------------------------

/// What a PromQL expectation asserts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PromAssert<'a> {
    Value(&'a Comparison),
    Series(&'a CountSpec),
    Labels(&'a [String]),
    Absent,
    IncreaseByRequests(&'a RequestFilter),
}

/// A validated expectation, by signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind<'a> {
    Promql { query: &'a str, assert: PromAssert<'a> },
    Logql { query: &'a str, lines: Option<&'a CountSpec>, labels: &'a [String], regex: Option<&'a LineRegex>, trace_ids: Option<&'a Requests> },
    Traces { source: &'a TraceSource, spans: &'a [SpanAssertion] },
    Alert { alert: &'a str, ruler: Ruler, cause: &'a [Step] },
}

/// The keys that select the signal.
const SIGNALS: &[&str] = &["promql", "logql", "traces", "alert"];

impl Expectation {
    /// The check id: `expect.<name>`.
    pub fn check_id(&self) -> String {
        format!("expect.{}", self.name)
    }

    /// The backend the expectation reads: `prometheus`, `loki`, `traces` (Jaeger or Tempo),
    /// or, for an alert, the ruler that evaluates it (`prometheus` unless `ruler: loki`).
    /// The caller marks the check not run when that backend is absent or broken.
    pub fn backend(&self) -> &'static str {
        if self.logql.is_some() {
            "loki"
        } else if self.traces.is_some() {
            "traces"
        } else if self.alert.is_some() && self.ruler == Some(Ruler::Loki) {
            "loki"
        } else {
            "prometheus"
        }
    }

    /// Whether evaluating it sends requests to the app (an alert with a `cause`).
    pub fn needs_app(&self) -> bool {
        self.alert.is_some() && !self.cause.is_empty()
    }

    /// Whether it needs a snapshot before the traffic ([`crate::checks::expect::before`]).
    pub fn needs_before(&self) -> bool {
        self.promql.is_some() && self.increase_by_requests.is_some()
    }

    /// The query it runs (PromQL or LogQL), if any.
    pub fn query(&self) -> Option<&str> {
        self.promql.as_deref().or(self.logql.as_deref())
    }

    /// The typed view; `None` for an expectation [`problems`] rejects (no signal, no assertion).
    pub fn kind(&self) -> Option<Kind<'_>> {
        if let Some(query) = &self.promql {
            let assert = if let Some(v) = &self.value {
                PromAssert::Value(v)
            } else if let Some(c) = &self.series {
                PromAssert::Series(c)
            } else if let Some(l) = &self.labels {
                PromAssert::Labels(l)
            } else if self.absent == Some(true) {
                PromAssert::Absent
            } else {
                PromAssert::IncreaseByRequests(self.increase_by_requests.as_ref()?)
            };
            return Some(Kind::Promql { query, assert });
        }
        if let Some(query) = &self.logql {
            if self.lines.is_none() && self.labels.is_none() && self.regex.is_none() && self.trace_ids.is_none() {
                return None;
            }
            return Some(Kind::Logql {
                query,
                lines: self.lines.as_ref(),
                labels: self.labels.as_deref().unwrap_or_default(),
                regex: self.regex.as_ref(),
                trace_ids: self.trace_ids.as_ref(),
            });
        }
        if let Some(source) = &self.traces {
            return Some(Kind::Traces { source, spans: &self.spans });
        }
        self.alert.as_deref().map(|alert| Kind::Alert { alert, ruler: self.ruler.unwrap_or_default(), cause: &self.cause })
    }

    /// The keys set on it, in the file's key order of the struct.
    fn keys_set(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                k.push(name)
            }
        };
        add("promql", self.promql.is_some());
        add("logql", self.logql.is_some());
        add("traces", self.traces.is_some());
        add("alert", self.alert.is_some());
        add("value", self.value.is_some());
        add("series", self.series.is_some());
        add("labels", self.labels.is_some());
        add("absent", self.absent.is_some());
        add("increase_by_requests", self.increase_by_requests.is_some());
        add("lines", self.lines.is_some());
        add("regex", self.regex.is_some());
        add("trace_ids", self.trace_ids.is_some());
        add("spans", !self.spans.is_empty());
        add("cause", !self.cause.is_empty());
        add("ruler", self.ruler.is_some());
        k
    }

    /// What is wrong with it (the `i`-th of `expect:`) in a scenario of `steps` steps.
    fn problems(&self, at: &YamlPath, steps: usize) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
            out.push(
                Problem::value(at.key("name"), format!("name {:?} cannot be a check id", self.name))
                    .hint("letters, digits, `_`, `-` and `.`; the check is called expect.<name>"),
            );
        }
        if self.timeout.is_some_and(|t| t.0.is_zero()) {
            out.push(Problem::value(at.key("timeout"), "a zero timeout never waits").hint("leave it out for the run's timeout"));
        }
        let set = self.keys_set();
        let signals: Vec<&str> = set.iter().copied().filter(|k| SIGNALS.contains(k)).collect();
        let signal = match signals.as_slice() {
            [] => {
                out.push(Problem::value(at.clone(), format!("expectation `{}` has no signal", self.name)).hint("give it one of promql, logql, traces, alert"));
                return out;
            }
            [one] => *one,
            [first, second, ..] => {
                out.push(Problem::key(at.key(second), format!("`{first}` and `{second}` are exclusive")).hint("one signal per expectation: split it in two"));
                return out;
            }
        };
        let allowed: &[&str] = match signal {
            "promql" => &["value", "series", "labels", "absent", "increase_by_requests"],
            "logql" => &["lines", "labels", "regex", "trace_ids"],
            "traces" => &["spans"],
            _ => &["cause", "ruler"],
        };
        for k in set.iter().filter(|k| !SIGNALS.contains(k) && !allowed.contains(k)) {
            out.push(Problem::key(at.key(k), format!("`{k}` does not apply to a {signal} expectation")).hint(format!("a {signal} expectation takes {}", allowed.join(", "))));
        }
        let asserted: Vec<&str> = set.iter().copied().filter(|k| allowed.contains(k)).collect();
        match signal {
            "promql" => {
                let q = self.promql.as_deref().unwrap_or_default();
                if q.trim().is_empty() {
                    out.push(Problem::value(at.key("promql"), "the PromQL query is empty"));
                } else if let Err(e) = promql_parser::parser::parse(q) {
                    out.push(Problem::value(at.key("promql"), format!("PromQL does not parse: {e}")).hint("try the query in Prometheus's expression browser"));
                }
                match asserted.as_slice() {
                    [] => out.push(
                        Problem::value(at.clone(), "a promql expectation asserts nothing").hint("add one of value, series, labels, absent, increase_by_requests"),
                    ),
                    [_] => {}
                    [first, second, ..] => out.push(
                        Problem::key(at.key(second), format!("`{first}` and `{second}` are exclusive")).hint("one assertion per promql expectation: split it in two"),
                    ),
                }
                if self.absent == Some(false) {
                    out.push(Problem::value(at.key("absent"), "`absent: false` asserts nothing").hint("use `series: {min: 1}` for \"present\""));
                }
                if let Some(f) = &self.increase_by_requests {
                    out.extend(f.problems(&at.key("increase_by_requests"), steps));
                }
            }
            "logql" => {
                let q = self.logql.as_deref().unwrap_or_default();
                if q.trim().is_empty() {
                    out.push(Problem::value(at.key("logql"), "the LogQL query is empty"));
                } else if let Err(e) = crate::lint::logql::check(q) {
                    out.push(Problem::value(at.key("logql"), format!("LogQL does not parse: {e}")).hint("a log query: a stream selector {label=\"value\"} and a pipeline"));
                }
                if asserted.is_empty() {
                    out.push(Problem::value(at.clone(), "a logql expectation asserts nothing").hint("add any of lines, labels, regex, trace_ids"));
                }
                if let Some(r) = &self.regex
                    && let Err(e) = regex::Regex::new(r.pattern()) {
                    out.push(Problem::value(at.key("regex").key(r.mode()), format!("invalid regular expression: {e}")));
                }
                if let Some(Requests::Matching(f)) = &self.trace_ids {
                    out.extend(f.problems(&at.key("trace_ids"), steps));
                }
            }
            "traces" => {
                let t = self.traces.as_ref().expect("signal is traces");
                let at_t = at.key("traces");
                match (&t.by_request, &t.search) {
                    (None, None) => out.push(Problem::value(at_t.clone(), "which traces?").hint("`by_request: true` (or a filter), or `search: {service: …}`")),
                    (Some(_), Some(_)) => out.push(Problem::key(at_t.key("search"), "`by_request` and `search` are exclusive")),
                    (Some(Requests::Matching(f)), None) => out.extend(f.problems(&at_t.key("by_request"), steps)),
                    (Some(Requests::All), None) => {}
                    (None, Some(s)) => {
                        if s.service.trim().is_empty() {
                            out.push(Problem::value(at_t.key("search").key("service"), "the service name is empty"));
                        }
                    }
                }
                for (j, s) in self.spans.iter().enumerate() {
                    let at_s = at.key("spans").index(j);
                    if s.name.trim().is_empty() {
                        out.push(Problem::value(at_s.key("name"), "the span name is empty"));
                    }
                    for (k, (key, _)) in s.attribute_pairs().iter().enumerate() {
                        if key.is_empty() {
                            out.push(Problem::value(at_s.key("attributes").index(k), "an attribute needs a key").hint("`key` (present) or `key=value`"));
                        }
                    }
                }
            }
            _ => {
                if self.alert.as_deref().is_some_and(|a| a.trim().is_empty()) {
                    out.push(Problem::value(at.key("alert"), "the alert name is empty"));
                }
                for (j, s) in self.cause.iter().enumerate() {
                    out.extend(s.problems(&at.key("cause").index(j)));
                }
            }
        }
        if let Some(l) = &self.labels {
            if l.is_empty() {
                out.push(Problem::value(at.key("labels"), "no label names").hint("list the label names every series or stream must carry"));
            }
            for (j, name) in l.iter().enumerate() {
                let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !ok {
                    out.push(Problem::value(at.key("labels").index(j), format!("{name:?} is no label name")));
                }
            }
        }
        out
    }
}

/// Everything wrong with `expect` (the scenario's `expect:` section) beyond its
/// shape, in a scenario of `steps` steps: names (check ids, unique), exactly one
/// signal each, assertions that fit it, queries that parse, regexes, step indices.
pub fn problems(expect: &[Expectation], steps: usize) -> Vec<Problem> {
    let root = YamlPath::root().key("expect");
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, e) in expect.iter().enumerate() {
        let at = root.index(i);
        if !names.insert(e.name.as_str()) {
            out.push(Problem::value(at.key("name"), format!("a second expectation named `{}`", e.name)).hint("names are check ids: make them unique"));
        }
        out.extend(e.problems(&at, steps));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_keys_values_and_items() {
        let t = "name: x\nsteps:\n  - { method: GET, path: /a }\n  - method: POST\n    path: /b\nexpect:\n  - name: e\n    promql: 'up'\n";
        let p = YamlPath::root();
        assert_eq!(locate(t, &p.key("steps").index(1).key("path"), false), Some((5, 11)));
        assert_eq!(locate(t, &p.key("steps").index(1).key("path"), true), Some((5, 5)));
        assert_eq!(locate(t, &p.key("steps").index(0).key("path"), false), Some((3, 26)));
        assert_eq!(locate(t, &p.key("expect").index(0).key("promql"), false), Some((8, 13)));
        assert_eq!(locate(t, &p.key("expect").index(0), false), Some((7, 5)));
        // A missing place falls back to the nearest that exists.
        assert_eq!(locate(t, &p.key("expect").index(0).key("nope"), true), Some((7, 5)));
        assert_eq!(p.key("expect").index(0).key("promql").to_string(), "expect[0].promql");
    }

    #[test]
    fn comparisons_parse_and_hold() {
        assert_eq!(Comparison::parse(">= 0.5"), Ok(Comparison::Ge(0.5)));
        assert_eq!(Comparison::parse("==1"), Ok(Comparison::Eq(1.0)));
        assert_eq!(Comparison::parse("3"), Ok(Comparison::Eq(3.0)));
        assert_eq!(Comparison::parse("< +Inf"), Ok(Comparison::Lt(f64::INFINITY)));
        let err = Comparison::parse("=> 1").unwrap_err();
        assert!(err.contains("unknown comparison \"=>\""), "{err}");
        assert!(Comparison::parse(">= x").unwrap_err().contains("\"x\" is not a number"));
        assert!(Comparison::Between(1.0, 2.0).holds(2.0) && !Comparison::Between(1.0, 2.0).holds(2.1));
        assert!(!Comparison::Ge(1.0).holds(f64::NAN));
    }

    #[test]
    fn counts_read_exact_or_bounds() {
        let c: CountSpec = serde_yaml::from_str("3").unwrap();
        assert!(c.matches(3) && !c.matches(4));
        let c: CountSpec = serde_yaml::from_str("{min: 2}").unwrap();
        assert!(c.matches(9) && !c.matches(1));
        assert_eq!(c.to_string(), "at least 2");
        let e = serde_yaml::from_str::<CountSpec>("{min: 3, max: 1}").unwrap_err().to_string();
        assert!(e.contains("count min 3 is above max 1"), "{e}");
        let e = serde_yaml::from_str::<CountSpec>("{least: 3}").unwrap_err().to_string();
        assert!(e.contains("unknown field `least`"), "{e}");
    }

    #[test]
    fn filters_select_by_step_route_method_and_status() {
        let sent = |step, status| Sent {
            step,
            method: "POST".into(),
            path: "/api/orders".into(),
            handler: "/api/orders".into(),
            status,
            trace_id: format!("{step}{status}"),
            echoed_trace_id: None,
            llm: None,
        };
        let record = TrafficRecord {
            scenario: "t".into(),
            started: std::time::SystemTime::now(),
            finished: std::time::SystemTime::now(),
            sent: vec![sent(0, 201), sent(1, 201), sent(1, 500)],
        };
        let f = |y: &str| serde_yaml::from_str::<RequestFilter>(y).unwrap();
        assert_eq!(f("{steps: [1]}").select(&record).len(), 2);
        assert_eq!(f("{steps: [1], status: 2xx}").select(&record).len(), 1);
        assert_eq!(f("{route: /api/orders, method: post, status: 201}").select(&record).len(), 2);
        assert_eq!(f("{route: /other}").select(&record).len(), 0);
        assert_eq!(Requests::All.select(&record).len(), 3);
        assert_eq!(f("{steps: [0, 1], status: 2xx}").to_string(), "{steps: [0, 1], status: 2xx}");
        let e = serde_yaml::from_str::<Requests>("false").unwrap_err().to_string();
        assert!(e.contains("`false` selects nothing"), "{e}");
    }

    #[test]
    fn placeholders_become_the_request() {
        let s = Sent {
            step: 0,
            method: "GET".into(),
            path: "/api/orders/7?x=1".into(),
            handler: "/api/orders/{id}".into(),
            status: 200,
            trace_id: "t".into(),
            echoed_trace_id: None,
            llm: None,
        };
        assert_eq!(for_request("{method} {route}", &s), "GET /api/orders/{id}");
        assert_eq!(for_request("http.target={path} {status}", &s), "http.target=/api/orders/7 200");
    }
}
