//! Telemetry snapshots (`obs-harness snapshot`, issue #27): like insta, for
//! the telemetry an app emits.
//!
//! A scenario runs against the app; [`capture`] then records the *shape* of
//! what the app emitted — metric family names, types and label names from
//! Prometheus, span names, kinds, statuses and attribute keys per route from
//! the trace store (Jaeger api_v3 or Tempo), stream label names and line
//! fields from Loki — never values. The [`Shape`] is one reviewable YAML file
//! beside the stack ([`Shape::write`]); later runs compare the live shape with
//! it ([`compare_or_write`]): a renamed metric or label, a lost span
//! attribute or a missing log label is a [`Change`], printed with a unified
//! diff of the two files ([`render_diff`]), and `--accept` rewrites the file.
//!
//! **What fails.** Anything the recorded file has and the live shape lacks
//! fails: a metric, label, span route, span name, attribute, resource
//! attribute, log label, log format or field that is gone; a changed metric
//! type or span kind; a span status the route no longer shows; a signal the
//! live run could not capture. A rename is one removal plus one addition, so
//! it fails. Additions (a new metric, label, attribute, …) and header changes
//! are reported and pass, unless `strict` ([`Change::fails`]).
//!
//! **Never guessed.** A signal whose backend is absent, or whose data did not
//! arrive within the timeout, is left out of the shape and listed under
//! `not_captured` with the reason; a backend that answers with an error makes
//! [`capture`] fail ([`SnapshotError::Backend`]).
//!
//! [`semconv_check`] judges a shape against the OpenTelemetry HTTP semantic
//! conventions of a version (1.20, or the stable names of 1.23 and later).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::backends::BackendError;
use crate::backends::jaeger::{Attributes, SpanKind, Status, Trace};
use crate::backends::loki::{LokiClient, LokiResult};
use crate::backends::prometheus::{Labels, MetricMetadata, PrometheusClient, Target};
use crate::checks::jaeger::TraceStore;
use crate::checks::prometheus::{list, poll_error, record_window};
use crate::eventually::{Eventually, Poll};
use crate::traffic::TrafficRecord;

/// The file name `obs-harness snapshot` uses beside the stack.
pub const FILE_NAME: &str = "telemetry-snapshot.yaml";

/// The comment every written snapshot starts with.
pub const HEADER_COMMENT: &str = "\
# obs-harness telemetry snapshot: the shape of what the app emitted during the
# scenario (metric families and labels, span names, kinds, statuses and
# attribute keys, log labels and fields), never the values.
# Generated: `obs-harness snapshot --accept` rewrites this file; review its diff like code.
";

/// How many requests of each `(method, handler, status)` have their trace read.
pub const TRACES_PER_REQUEST_KIND: usize = 3;

/// Labels Prometheus adds to every scraped series (not the app's).
const TARGET_LABELS: [&str; 3] = ["__name__", "job", "instance"];

/// Series Prometheus itself writes for every scrape (not the app's).
const SCRAPE_SERIES: [&str; 9] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
    "scrape_timeout_seconds",
    "scrape_sample_limit",
    "scrape_body_size_bytes",
    "scrape_native_histogram_buckets",
];

// ---------------------------------------------------------------------------
// The shape
// ---------------------------------------------------------------------------

/// One of the three signals a shape holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Metrics,
    Traces,
    Logs,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Metrics => "metrics",
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        })
    }
}

/// What the app emitted, by shape. Serialized as YAML with every map and set
/// sorted, so the same telemetry always writes the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shape {
    /// The app (its scrape job, by default).
    pub app: String,
    /// The scenario that ran.
    pub scenario: String,
    /// The OpenTelemetry semantic-conventions version the app targets (see [`semconv_check`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semconv: Option<String>,
    /// Metric family -> type and label names; `None` when not captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<String, MetricShape>>,
    /// Spans per route and resource attribute keys; `None` when not captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traces: Option<TraceShape>,
    /// Log stream labels and line fields; `None` when not captured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogShape>,
    /// Signals left out, with the reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_captured: BTreeMap<Signal, String>,
}

/// A metric family's type, from Prometheus's metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// OpenMetrics types, as Prometheus reports them.
    Gaugehistogram,
    Info,
    Stateset,
    /// Prometheus has no (or conflicting) metadata for the family.
    Unknown,
}

impl MetricType {
    /// The type Prometheus names (`counter`, ...); anything else is `unknown`.
    pub fn from_prometheus(kind: &str) -> Self {
        match kind {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "gaugehistogram" => MetricType::Gaugehistogram,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            _ => MetricType::Unknown,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::Summary => "summary",
            MetricType::Gaugehistogram => "gaugehistogram",
            MetricType::Info => "info",
            MetricType::Stateset => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One metric family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricShape {
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// Label names of its series, without `__name__`, `job`, `instance`
    /// (and `le` of a histogram, `quantile` of a summary).
    #[serde(default)]
    pub labels: BTreeSet<String>,
}

/// An OTLP span status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

impl SpanStatus {
    fn of(status: &Status) -> Self {
        if status.is_error() {
            return SpanStatus::Error;
        }
        match &status.code {
            serde_json::Value::Number(n) if n.as_i64() == Some(1) => SpanStatus::Ok,
            serde_json::Value::String(s) if s == "STATUS_CODE_OK" => SpanStatus::Ok,
            _ => SpanStatus::Unset,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SpanStatus::Unset => "unset",
            SpanStatus::Ok => "ok",
            SpanStatus::Error => "error",
        }
    }
}

/// The traces' shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceShape {
    /// Keys of the resource attributes of every span read (`service.name`, ...).
    #[serde(default)]
    pub resource_attributes: BTreeSet<String>,
    /// Route (the `http.route` attribute, else the span name) -> its spans.
    #[serde(default)]
    pub spans: BTreeMap<String, SpanShape>,
}

/// The spans of one route, merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanShape {
    /// Span names seen (`GET /items/{item_id}`).
    #[serde(default)]
    pub names: BTreeSet<String>,
    /// `server`, `client`, `internal`, `producer`, `consumer`, `unspecified`;
    /// sorted and comma-joined when the spans of one route differ.
    pub kind: String,
    /// Status codes seen.
    #[serde(default)]
    pub status: BTreeSet<SpanStatus>,
    /// Attribute keys, the union across the route's spans.
    #[serde(default)]
    pub attributes: BTreeSet<String>,
}

/// How a log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// A JSON object: its top-level field names are recorded.
    Json,
    /// `key=value key="quoted value"`: its keys are recorded.
    Logfmt,
    /// Anything else: no fields.
    Plain,
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Json => "json",
            LogFormat::Logfmt => "logfmt",
            LogFormat::Plain => "plain",
        })
    }
}

/// The logs' shape for the app's selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogShape {
    /// The LogQL stream selector read.
    pub selector: String,
    /// Stream label names, the union across the selector's streams.
    #[serde(default)]
    pub labels: BTreeSet<String>,
    /// Each format seen among the lines -> field names (the union across its lines).
    #[serde(default)]
    pub formats: BTreeMap<LogFormat, BTreeSet<String>>,
}

impl Shape {
    /// The YAML text [`Shape::write`] writes: [`HEADER_COMMENT`], then the shape.
    pub fn to_yaml(&self) -> String {
        let body = serde_yaml::to_string(self).expect("a Shape is plain data and always serializes");
        format!("{HEADER_COMMENT}{body}")
    }

    /// A shape from its YAML `text`; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Self, SnapshotError> {
        serde_yaml::from_str(text).map_err(|e| {
            let (at, message) = crate::read::yaml_error(&e);
            SnapshotError::Parse { path: path.to_owned(), line: at.map(|a| a.0), column: at.map(|a| a.1), message }
        })
    }

    /// Reads a snapshot file; a malformed one is an error at file:line:column.
    pub fn load(path: &Path) -> Result<Self, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read { path: path.to_owned(), source })?;
        Self::from_yaml(&text, path)
    }

    /// Writes the snapshot (through a temporary file beside it, then a rename,
    /// so a reader never sees half a file), creating the directory if needed.
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let wrap = |source| SnapshotError::Write { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(wrap)?;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| FILE_NAME.into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        std::fs::write(&tmp, self.to_yaml()).map_err(wrap)?;
        std::fs::rename(&tmp, path).map_err(wrap)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What can go wrong capturing, reading or writing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot read snapshot {}: {source} (hint: record one with `obs-harness snapshot --accept`)", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write snapshot {}: {source} (hint: is the directory writable?)", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "{}: malformed snapshot: {message} (hint: fix the YAML by hand, or rewrite the file from a live run with `obs-harness snapshot --accept`)",
        location(path, *line, *column)
    )]
    Parse { path: PathBuf, line: Option<usize>, column: Option<usize>, message: String },
    /// The backend of `signal` answered with an error (not merely "no data yet").
    #[error("capturing {signal}: {message}")]
    Backend { signal: Signal, message: String },
}

fn location(path: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
        (Some(l), None) => format!("{}:{l}", path.display()),
        _ => path.display().to_string(),
    }
}

// ---------------------------------------------------------------------------
// Capture
// ---------------------------------------------------------------------------

/// Where [`capture`] reads from, and what it looks for.
pub struct CaptureContext<'a> {
    /// The app's name in the snapshot header.
    pub app: &'a str,
    /// The semantic-conventions version the app targets, written to the header.
    pub semconv: Option<&'a str>,
    /// `None`: the stack runs no Prometheus (metrics are not captured).
    pub prometheus: Option<&'a PrometheusClient>,
    /// `None`: the stack runs no Loki (logs are not captured).
    pub loki: Option<&'a LokiClient>,
    /// `None`: the stack runs no trace store (traces are not captured).
    pub traces: Option<TraceStore<'a>>,
    /// The app's scrape job in Prometheus.
    pub job: &'a str,
    /// The LogQL stream selector of the app's logs, e.g. `{service="app"}`.
    pub log_selector: &'a str,
    /// What the scenario sent: its window and trace ids.
    pub record: &'a TrafficRecord,
    /// How long each signal may take to arrive.
    pub timeout: Duration,
    /// How long the number of log lines must hold still before the logs
    /// count as complete (lines arrive in batches; 2 s is safe for
    /// Promtail's default 1 s batch wait; zero against fixed answers).
    pub settle: Duration,
}

/// A signal's shape, or why it is left out.
enum Captured<T> {
    Shape(T),
    Not(String),
}

/// Captures the shape of what the app emitted during `ctx.record`'s scenario.
/// Each signal waits for its data (up to `ctx.timeout`) concurrently.
pub async fn capture(ctx: &CaptureContext<'_>) -> Result<Shape, SnapshotError> {
    let (metrics, traces, logs) = tokio::join!(capture_metrics(ctx), capture_traces(ctx), capture_logs(ctx));
    let mut shape = Shape {
        app: ctx.app.to_owned(),
        scenario: ctx.record.scenario.clone(),
        semconv: ctx.semconv.map(str::to_owned),
        ..Shape::default()
    };
    match metrics? {
        Captured::Shape(m) => shape.metrics = Some(m),
        Captured::Not(why) => {
            shape.not_captured.insert(Signal::Metrics, why);
        }
    }
    match traces? {
        Captured::Shape(t) => shape.traces = Some(t),
        Captured::Not(why) => {
            shape.not_captured.insert(Signal::Traces, why);
        }
    }
    match logs? {
        Captured::Shape(l) => shape.logs = Some(l),
        Captured::Not(why) => {
            shape.not_captured.insert(Signal::Logs, why);
        }
    }
    Ok(shape)
}

/// Tracks whether the last poll failed on the backend (rather than seeing no data yet).
struct LastPoll {
    failed: Cell<bool>,
}

impl LastPoll {
    fn new() -> Self {
        Self { failed: Cell::new(false) }
    }

    fn error<T>(&self, e: BackendError) -> Poll<T> {
        self.failed.set(true);
        poll_error(e)
    }

    fn seen<T>(&self, p: Poll<T>) -> Poll<T> {
        self.failed.set(false);
        p
    }

    /// A wait that ended on a backend error is an error; one that ended on
    /// "no data yet" leaves the signal out with `why`.
    fn outcome<T>(&self, signal: Signal, e: crate::eventually::WaitError, why: impl FnOnce(&crate::eventually::WaitError) -> String) -> Result<Captured<T>, SnapshotError> {
        if e.fatal || self.failed.get() {
            Err(SnapshotError::Backend { signal, message: e.to_string() })
        } else {
            Ok(Captured::Not(why(&e)))
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.0}s", d.as_secs_f64())
}

/// Every target of `job` is up and was scraped after `after`.
fn scraped_after(targets: &[Target], job: &str, after: SystemTime) -> Poll<()> {
    let mine: Vec<&Target> = targets.iter().filter(|t| t.job() == job).collect();
    if mine.is_empty() {
        let mut jobs: Vec<&str> = targets.iter().map(|t| t.job()).collect();
        jobs.dedup();
        return Poll::Pending(format!("no scrape target of job `{job}` (jobs: {})", list(&jobs, 8)));
    }
    let mut waiting = Vec::new();
    for t in mine {
        if t.health != "up" {
            waiting.push(format!("{} is {} ({})", t.scrape_url, t.health, t.last_error));
            continue;
        }
        let at = chrono::DateTime::parse_from_rfc3339(&t.last_scrape).map(SystemTime::from).ok();
        if at.is_none_or(|at| at < after) {
            waiting.push(format!("{} last scraped at {:?}, before the scenario ended", t.scrape_url, t.last_scrape));
        }
    }
    if waiting.is_empty() { Poll::Ready(()) } else { Poll::Pending(list(&waiting, 4)) }
}

async fn capture_metrics(ctx: &CaptureContext<'_>) -> Result<Captured<BTreeMap<String, MetricShape>>, SnapshotError> {
    let Some(prom) = ctx.prometheus else {
        return Ok(Captured::Not("the stack runs no Prometheus: the app's metrics were not read".into()));
    };
    let (job, finished) = (ctx.job, ctx.record.finished);
    let last = LastPoll::new();
    let wait = Eventually::new(format!("a scrape of job `{job}` after the scenario ended"))
        .with_timeout(ctx.timeout)
        .until(|| async {
            match prom.targets().await {
                Ok(t) => last.seen(scraped_after(&t.active_targets, job, finished)),
                Err(e) => last.error(e),
            }
        })
        .await;
    if let Err(e) = wait {
        let url = prom.url("/api/v1/targets", &[]);
        return last.outcome(Signal::Metrics, e, |e| format!("no scrape of job `{job}` after the scenario at {url} within {}: {}", secs(ctx.timeout), e.last));
    }
    let backend = |e: BackendError| SnapshotError::Backend { signal: Signal::Metrics, message: e.to_string() };
    let (start, end) = record_window(ctx.record);
    let matcher = format!("{{job={job:?}}}");
    let series = prom.series(&[matcher.as_str()], start, end).await.map_err(backend)?;
    let metadata = prom.metadata().await.map_err(backend)?;
    Ok(Captured::Shape(metric_shape(&series, &metadata)))
}

/// Suffixes a series carries beyond its family's metadata name.
const SUFFIXES: [&str; 7] = ["_bucket", "_sum", "_count", "_created", "_total", "_gsum", "_gcount"];

/// The family of series `name` and its type, by Prometheus's metadata:
/// `x_bucket`/`x_sum`/`x_count` of a histogram or summary `x` are `x`; a
/// counter keeps its `_total` name (the one queries use) whether the metadata
/// names it with `_total` (text format) or without (OpenMetrics). A name
/// without metadata is its own family, of type `unknown`.
fn family_of(name: &str, meta: &BTreeMap<String, MetricType>) -> (String, MetricType) {
    if let Some(t) = meta.get(name) {
        return (name.to_owned(), *t);
    }
    for suffix in SUFFIXES {
        let Some(base) = name.strip_suffix(suffix) else { continue };
        match meta.get(base) {
            Some(t @ (MetricType::Histogram | MetricType::Gaugehistogram | MetricType::Summary)) => return (base.to_owned(), *t),
            Some(MetricType::Counter) if suffix == "_total" || suffix == "_created" => return (format!("{base}_total"), MetricType::Counter),
            _ => {}
        }
    }
    (name.to_owned(), MetricType::Unknown)
}

/// The metric families of `series` (one job's), typed by `metadata`.
pub fn metric_shape(series: &[Labels], metadata: &BTreeMap<String, Vec<MetricMetadata>>) -> BTreeMap<String, MetricShape> {
    let types: BTreeMap<String, MetricType> = metadata
        .iter()
        .map(|(name, entries)| {
            let kinds: BTreeSet<MetricType> = entries.iter().map(|m| MetricType::from_prometheus(&m.kind)).collect();
            let kind = if kinds.len() == 1 { kinds.into_iter().next().unwrap_or(MetricType::Unknown) } else { MetricType::Unknown };
            (name.clone(), kind)
        })
        .collect();
    let mut out: BTreeMap<String, MetricShape> = BTreeMap::new();
    for labels in series {
        let Some(name) = labels.get("__name__") else { continue };
        // Prometheus's own per-scrape series, and recording rules' outputs (`level:metric:op`).
        if SCRAPE_SERIES.contains(&name.as_str()) || name.contains(':') {
            continue;
        }
        let (family, kind) = family_of(name, &types);
        let structural = match kind {
            MetricType::Histogram | MetricType::Gaugehistogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        let entry = out.entry(family).or_insert_with(|| MetricShape { kind, labels: BTreeSet::new() });
        for l in labels.keys() {
            if !TARGET_LABELS.contains(&l.as_str()) && Some(l.as_str()) != structural {
                entry.labels.insert(l.clone());
            }
        }
    }
    out
}

/// The trace ids read: the first [`TRACES_PER_REQUEST_KIND`] requests of each
/// `(method, handler, status)`, so every route and status is represented.
pub fn sampled_trace_ids(record: &TrafficRecord) -> Vec<String> {
    let mut seen: BTreeMap<(&str, &str, u16), usize> = BTreeMap::new();
    record
        .sent
        .iter()
        .filter(|s| {
            let n = seen.entry((s.method.as_str(), s.handler.as_str(), s.status)).or_default();
            *n += 1;
            *n <= TRACES_PER_REQUEST_KIND
        })
        .map(|s| s.trace_id.clone())
        .collect()
}

async fn capture_traces(ctx: &CaptureContext<'_>) -> Result<Captured<TraceShape>, SnapshotError> {
    let Some(store) = &ctx.traces else {
        return Ok(Captured::Not("the stack runs no trace store (Jaeger or Tempo): the app's spans were not read".into()));
    };
    let ids = sampled_trace_ids(ctx.record);
    if ids.is_empty() {
        return Ok(Captured::Not(format!("scenario `{}` sent no requests, so no trace ids to read", ctx.record.scenario)));
    }
    // A trace counts once it holds a server span (the request's own span is
    // exported when the response is done, possibly after its children).
    let complete: RefCell<BTreeMap<String, Trace>> = RefCell::new(BTreeMap::new());
    let last = LastPoll::new();
    let wait = Eventually::new(format!("{} sampled trace(s) in {}, each with a server span", ids.len(), store.name()))
        .with_timeout(ctx.timeout)
        .until(|| async {
            let mut waiting = Vec::new();
            for id in &ids {
                if complete.borrow().contains_key(id) {
                    continue;
                }
                match store.trace(id).await {
                    Ok(Some(t)) if t.server_spans().next().is_some() => drop(complete.borrow_mut().insert(id.clone(), t)),
                    Ok(Some(_)) => waiting.push(format!("{id}: no server span yet")),
                    Ok(None) => waiting.push(format!("{id}: not found")),
                    Err(e) => return last.error(e),
                }
            }
            last.seen(if waiting.is_empty() { Poll::Ready(()) } else { Poll::Pending(list(&waiting, 6)) })
        })
        .await;
    if let Err(e) = wait {
        let url = store.by_id_url("<id>");
        return last.outcome(Signal::Traces, e, |e| {
            format!("{} of {} sampled trace(s) incomplete in {} ({url}) within {}: {}", ids.len() - complete.borrow().len(), ids.len(), store.name(), secs(ctx.timeout), e.last)
        });
    }
    let traces: Vec<Trace> = complete.into_inner().into_values().collect();
    Ok(Captured::Shape(trace_shape(&traces)))
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

/// The shape of `traces`: spans grouped by route (`http.route`, else the span name).
pub fn trace_shape(traces: &[Trace]) -> TraceShape {
    let mut shape = TraceShape::default();
    let mut kinds: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for t in traces {
        for s in &t.spans {
            let route = s.attr("http.route").filter(|r| !r.is_empty()).unwrap_or_else(|| s.name.clone());
            let entry = shape.spans.entry(route.clone()).or_default();
            entry.names.insert(s.name.clone());
            entry.status.insert(SpanStatus::of(&s.status));
            entry.attributes.extend(s.attributes.iter().map(|a| a.key.clone()));
            kinds.entry(route).or_default().insert(kind_name(s.kind));
            if let Some(r) = t.resource_of(s) {
                shape.resource_attributes.extend(r.attributes.iter().map(|a| a.key.clone()));
            }
        }
    }
    for (route, k) in kinds {
        if let Some(e) = shape.spans.get_mut(&route) {
            e.kind = k.into_iter().collect::<Vec<_>>().join(", ");
        }
    }
    shape
}

async fn capture_logs(ctx: &CaptureContext<'_>) -> Result<Captured<LogShape>, SnapshotError> {
    let Some(loki) = ctx.loki else {
        return Ok(Captured::Not("the stack runs no Loki: the app's logs were not read".into()));
    };
    let selector = ctx.log_selector;
    let start = ctx.record.started;
    let end = || ctx.record.finished.max(SystemTime::now()) + Duration::from_secs(1);
    // (line count, when first seen) of the previous poll.
    let count: Cell<Option<(usize, tokio::time::Instant)>> = Cell::new(None);
    let last = LastPoll::new();
    let wait = Eventually::new(format!("log lines of {selector} since the scenario started, their number steady for {}", secs(ctx.settle)))
        .with_timeout(ctx.timeout)
        .until(|| async {
            match loki.query_range(selector, start, end(), 5000).await {
                Ok(r) => {
                    let n = r.lines().count();
                    let now = tokio::time::Instant::now();
                    let since = match count.get() {
                        Some((m, since)) if m == n => since,
                        _ => now,
                    };
                    count.set(Some((n, since)));
                    last.seen(if n == 0 {
                        Poll::Pending(format!("no line matched {selector}"))
                    } else if now.duration_since(since) >= ctx.settle {
                        Poll::Ready(r)
                    } else {
                        Poll::Pending(format!("{n} line(s), still arriving"))
                    })
                }
                Err(e) => last.error(e),
            }
        })
        .await;
    match wait {
        Ok(r) => Ok(Captured::Shape(log_shape(selector, &r))),
        Err(e) => {
            let url = loki.url("/loki/api/v1/query_range", &[("query", selector.to_owned())]);
            last.outcome(Signal::Logs, e, |e| format!("no steady log lines of {selector} at {url} within {}: {}", secs(ctx.timeout), e.last))
        }
    }
}

/// The shape of the streams `result` answered for `selector`.
pub fn log_shape(selector: &str, result: &LokiResult) -> LogShape {
    let mut shape = LogShape { selector: selector.to_owned(), ..LogShape::default() };
    for stream in result.streams() {
        shape.labels.extend(stream.stream.keys().cloned());
        for line in stream.lines() {
            let (format, fields) = line_format(line);
            shape.formats.entry(format).or_default().extend(fields);
        }
    }
    shape
}

/// A line's format and field names: a JSON object's top-level keys, logfmt's
/// keys, or plain text (no fields).
pub fn line_format(line: &str) -> (LogFormat, Vec<String>) {
    let t = line.trim();
    if t.starts_with('{')
        && let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t)
    {
        return (LogFormat::Json, m.keys().cloned().collect());
    }
    match logfmt_keys(t) {
        Some(keys) => (LogFormat::Logfmt, keys),
        None => (LogFormat::Plain, Vec::new()),
    }
}

/// The keys of a logfmt line, `None` unless every token is `key=value`
/// (a bare word, as in `127.0.0.1 - - "GET / HTTP/1.1" 200`, makes it plain).
fn logfmt_keys(line: &str) -> Option<Vec<String>> {
    let b = line.as_bytes();
    let (mut i, mut keys) = (0, Vec::new());
    let key_char = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-');
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        let start = i;
        if !(b[i].is_ascii_alphabetic() || b[i] == b'_') {
            return None;
        }
        while i < b.len() && key_char(b[i]) {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            return None;
        }
        keys.push(line[start..i].to_owned());
        i += 1;
        if i < b.len() && b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            if i >= b.len() {
                return None;
            }
            i += 1;
        } else {
            while i < b.len() && b[i] != b' ' && b[i] != b'\t' {
                i += 1;
            }
        }
    }
    (!keys.is_empty()).then_some(keys)
}

// ---------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------

/// One difference between a recorded shape and a live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// `app`, `scenario` or `semconv` differ.
    HeaderChanged { field: String, recorded: String, live: String },
    /// The recorded file has the signal; the live run could not capture it.
    SignalNotCaptured { signal: Signal, reason: String },
    /// The live run captured a signal the recorded file lacks.
    SignalAdded { signal: Signal },
    MetricMissing { metric: String },
    MetricAdded { metric: String },
    MetricTypeChanged { metric: String, recorded: MetricType, live: MetricType },
    LabelMissing { metric: String, label: String },
    LabelAdded { metric: String, label: String },
    SpanMissing { route: String },
    SpanAdded { route: String },
    SpanNameMissing { route: String, name: String },
    SpanNameAdded { route: String, name: String },
    SpanKindChanged { route: String, recorded: String, live: String },
    StatusChanged { route: String, recorded: BTreeSet<SpanStatus>, live: BTreeSet<SpanStatus> },
    AttributeMissing { route: String, key: String },
    AttributeAdded { route: String, key: String },
    ResourceAttributeMissing { key: String },
    ResourceAttributeAdded { key: String },
    LogSelectorChanged { recorded: String, live: String },
    LogLabelMissing { label: String },
    LogLabelAdded { label: String },
    LogFormatMissing { format: LogFormat },
    LogFormatAdded { format: LogFormat },
    LogFieldMissing { format: LogFormat, field: String },
    LogFieldAdded { format: LogFormat, field: String },
}

impl Change {
    /// Whether this change fails the comparison: removals, renames (a
    /// removal plus an addition), a changed metric type, a lost span kind or
    /// status and an uncaptured signal always; additions (a gained kind or
    /// status included) and header changes only when `strict`.
    pub fn fails(&self, strict: bool) -> bool {
        match self {
            Change::SignalNotCaptured { .. }
            | Change::MetricMissing { .. }
            | Change::MetricTypeChanged { .. }
            | Change::LabelMissing { .. }
            | Change::SpanMissing { .. }
            | Change::SpanNameMissing { .. }
            | Change::AttributeMissing { .. }
            | Change::ResourceAttributeMissing { .. }
            | Change::LogLabelMissing { .. }
            | Change::LogFormatMissing { .. }
            | Change::LogFieldMissing { .. } => true,
            Change::StatusChanged { recorded, live, .. } => strict || !recorded.is_subset(live),
            // `server` -> `client, server` (a client span now shares the route) only adds a kind.
            Change::SpanKindChanged { recorded, live, .. } => strict || recorded.split(", ").any(|k| !live.split(", ").any(|l| l == k)),
            Change::HeaderChanged { .. }
            | Change::SignalAdded { .. }
            | Change::MetricAdded { .. }
            | Change::LabelAdded { .. }
            | Change::SpanAdded { .. }
            | Change::SpanNameAdded { .. }
            | Change::AttributeAdded { .. }
            | Change::ResourceAttributeAdded { .. }
            | Change::LogSelectorChanged { .. }
            | Change::LogLabelAdded { .. }
            | Change::LogFormatAdded { .. }
            | Change::LogFieldAdded { .. } => strict,
        }
    }
}

fn statuses(s: &BTreeSet<SpanStatus>) -> String {
    s.iter().map(SpanStatus::as_str).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::HeaderChanged { field, recorded, live } => write!(f, "{field}: {recorded:?} recorded, {live:?} now"),
            Change::SignalNotCaptured { signal, reason } => write!(f, "{signal}: recorded, but not captured now: {reason}"),
            Change::SignalAdded { signal } => write!(f, "{signal}: captured now, not in the recorded snapshot"),
            Change::MetricMissing { metric } => write!(f, "metric {metric}: gone (renamed or no longer emitted)"),
            Change::MetricAdded { metric } => write!(f, "metric {metric}: new"),
            Change::MetricTypeChanged { metric, recorded, live } => write!(f, "metric {metric}: type {recorded} recorded, {live} now"),
            Change::LabelMissing { metric, label } => write!(f, "metric {metric}: label {label} gone"),
            Change::LabelAdded { metric, label } => write!(f, "metric {metric}: new label {label}"),
            Change::SpanMissing { route } => write!(f, "spans of {route}: gone"),
            Change::SpanAdded { route } => write!(f, "spans of {route}: new"),
            Change::SpanNameMissing { route, name } => write!(f, "spans of {route}: name {name:?} gone"),
            Change::SpanNameAdded { route, name } => write!(f, "spans of {route}: new name {name:?}"),
            Change::SpanKindChanged { route, recorded, live } => write!(f, "spans of {route}: kind {recorded} recorded, {live} now"),
            Change::StatusChanged { route, recorded, live } => {
                write!(f, "spans of {route}: status [{}] recorded, [{}] now", statuses(recorded), statuses(live))
            }
            Change::AttributeMissing { route, key } => write!(f, "spans of {route}: attribute {key} gone"),
            Change::AttributeAdded { route, key } => write!(f, "spans of {route}: new attribute {key}"),
            Change::ResourceAttributeMissing { key } => write!(f, "resource attribute {key}: gone"),
            Change::ResourceAttributeAdded { key } => write!(f, "resource attribute {key}: new"),
            Change::LogSelectorChanged { recorded, live } => write!(f, "log selector: {recorded} recorded, {live} now"),
            Change::LogLabelMissing { label } => write!(f, "log stream label {label}: gone"),
            Change::LogLabelAdded { label } => write!(f, "log stream label {label}: new"),
            Change::LogFormatMissing { format } => write!(f, "{format} log lines: gone"),
            Change::LogFormatAdded { format } => write!(f, "{format} log lines: new"),
            Change::LogFieldMissing { format, field } => write!(f, "{format} log lines: field {field} gone"),
            Change::LogFieldAdded { format, field } => write!(f, "{format} log lines: new field {field}"),
        }
    }
}

/// `(in recorded only, in live only)`.
fn set_diff<'a, T: Ord>(recorded: &'a BTreeSet<T>, live: &'a BTreeSet<T>) -> (Vec<&'a T>, Vec<&'a T>) {
    (recorded.difference(live).collect(), live.difference(recorded).collect())
}

/// Compares a section both shapes may lack.
fn section<T>(out: &mut Vec<Change>, signal: Signal, recorded: &Option<T>, live: &Option<T>, live_shape: &Shape, f: impl FnOnce(&mut Vec<Change>, &T, &T)) {
    match (recorded, live) {
        (Some(r), Some(l)) => f(out, r, l),
        (Some(_), None) => out.push(Change::SignalNotCaptured {
            signal,
            reason: live_shape.not_captured.get(&signal).cloned().unwrap_or_else(|| "absent from the live shape".into()),
        }),
        (None, Some(_)) => out.push(Change::SignalAdded { signal }),
        (None, None) => {}
    }
}

/// What changed from `recorded` to `live`, in file order (header, metrics, traces, logs).
pub fn diff(recorded: &Shape, live: &Shape) -> Vec<Change> {
    let mut out = Vec::new();
    let header = [
        ("app", Some(&recorded.app), Some(&live.app)),
        ("scenario", Some(&recorded.scenario), Some(&live.scenario)),
        ("semconv", recorded.semconv.as_ref(), live.semconv.as_ref()),
    ];
    for (field, r, l) in header {
        if r != l {
            let text = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
            out.push(Change::HeaderChanged { field: field.into(), recorded: text(r), live: text(l) });
        }
    }
    section(&mut out, Signal::Metrics, &recorded.metrics, &live.metrics, live, |out, r, l| {
        for (name, rm) in r {
            let Some(lm) = l.get(name) else {
                out.push(Change::MetricMissing { metric: name.clone() });
                continue;
            };
            if rm.kind != lm.kind {
                out.push(Change::MetricTypeChanged { metric: name.clone(), recorded: rm.kind, live: lm.kind });
            }
            let (gone, new) = set_diff(&rm.labels, &lm.labels);
            out.extend(gone.into_iter().map(|label| Change::LabelMissing { metric: name.clone(), label: label.clone() }));
            out.extend(new.into_iter().map(|label| Change::LabelAdded { metric: name.clone(), label: label.clone() }));
        }
        out.extend(l.keys().filter(|k| !r.contains_key(*k)).map(|k| Change::MetricAdded { metric: k.clone() }));
    });
    section(&mut out, Signal::Traces, &recorded.traces, &live.traces, live, |out, r, l| {
        let (gone, new) = set_diff(&r.resource_attributes, &l.resource_attributes);
        out.extend(gone.into_iter().map(|k| Change::ResourceAttributeMissing { key: k.clone() }));
        out.extend(new.into_iter().map(|k| Change::ResourceAttributeAdded { key: k.clone() }));
        for (route, rs) in &r.spans {
            let Some(ls) = l.spans.get(route) else {
                out.push(Change::SpanMissing { route: route.clone() });
                continue;
            };
            let (gone, new) = set_diff(&rs.names, &ls.names);
            out.extend(gone.into_iter().map(|n| Change::SpanNameMissing { route: route.clone(), name: n.clone() }));
            out.extend(new.into_iter().map(|n| Change::SpanNameAdded { route: route.clone(), name: n.clone() }));
            if rs.kind != ls.kind {
                out.push(Change::SpanKindChanged { route: route.clone(), recorded: rs.kind.clone(), live: ls.kind.clone() });
            }
            if rs.status != ls.status {
                out.push(Change::StatusChanged { route: route.clone(), recorded: rs.status.clone(), live: ls.status.clone() });
            }
            let (gone, new) = set_diff(&rs.attributes, &ls.attributes);
            out.extend(gone.into_iter().map(|k| Change::AttributeMissing { route: route.clone(), key: k.clone() }));
            out.extend(new.into_iter().map(|k| Change::AttributeAdded { route: route.clone(), key: k.clone() }));
        }
        out.extend(l.spans.keys().filter(|k| !r.spans.contains_key(*k)).map(|k| Change::SpanAdded { route: k.clone() }));
    });
    section(&mut out, Signal::Logs, &recorded.logs, &live.logs, live, |out, r, l| {
        if r.selector != l.selector {
            out.push(Change::LogSelectorChanged { recorded: r.selector.clone(), live: l.selector.clone() });
        }
        let (gone, new) = set_diff(&r.labels, &l.labels);
        out.extend(gone.into_iter().map(|k| Change::LogLabelMissing { label: k.clone() }));
        out.extend(new.into_iter().map(|k| Change::LogLabelAdded { label: k.clone() }));
        for (format, rf) in &r.formats {
            let Some(lf) = l.formats.get(format) else {
                out.push(Change::LogFormatMissing { format: *format });
                continue;
            };
            let (gone, new) = set_diff(rf, lf);
            out.extend(gone.into_iter().map(|k| Change::LogFieldMissing { format: *format, field: k.clone() }));
            out.extend(new.into_iter().map(|k| Change::LogFieldAdded { format: *format, field: k.clone() }));
        }
        out.extend(l.formats.keys().filter(|k| !r.formats.contains_key(*k)).map(|k| Change::LogFormatAdded { format: *k }));
    });
    out
}

/// A unified diff (3 lines of context) of the two shapes' YAML files, the
/// recorded one named `recorded_name`.
pub fn render_diff(recorded: &Shape, live: &Shape, recorded_name: &str) -> String {
    let (a, b) = (recorded.to_yaml(), live.to_yaml());
    similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header(recorded_name, "live").to_string()
}

/// What [`compare_or_write`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The live shape was written: the first run (`first`), or accepted over a
    /// recorded shape that differed by `changes` (empty when the recorded
    /// file could not be read as a snapshot).
    Written { path: PathBuf, first: bool, changes: Vec<Change> },
    /// The live shape equals the recorded one.
    Matches,
    /// The live shape differs; the file is untouched.
    Differs { changes: Vec<Change>, diff_text: String },
}

impl Outcome {
    /// A difference with a failing change ([`Change::fails`]); a written or matching snapshot never fails.
    pub fn fails(&self, strict: bool) -> bool {
        matches!(self, Outcome::Differs { changes, .. } if changes.iter().any(|c| c.fails(strict)))
    }
}

/// Compares `live` with the snapshot at `path`: writes it when there is none
/// yet, or when `accept` and it differs (a malformed file too); otherwise
/// reports whether it matches, and how it differs.
pub fn compare_or_write(path: &Path, live: &Shape, accept: bool) -> Result<Outcome, SnapshotError> {
    if !path.exists() {
        live.write(path)?;
        return Ok(Outcome::Written { path: path.to_owned(), first: true, changes: Vec::new() });
    }
    let recorded = match Shape::load(path) {
        Ok(r) => r,
        Err(SnapshotError::Parse { .. }) if accept => {
            live.write(path)?;
            return Ok(Outcome::Written { path: path.to_owned(), first: false, changes: Vec::new() });
        }
        Err(e) => return Err(e),
    };
    let changes = diff(&recorded, live);
    if changes.is_empty() {
        return Ok(Outcome::Matches);
    }
    if accept {
        live.write(path)?;
        return Ok(Outcome::Written { path: path.to_owned(), first: false, changes });
    }
    let diff_text = render_diff(&recorded, live, &path.display().to_string());
    Ok(Outcome::Differs { changes, diff_text })
}

// ---------------------------------------------------------------------------
// Semantic conventions
// ---------------------------------------------------------------------------

/// How bad a [`SemconvFinding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// What a [`SemconvFinding`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SemconvProblem {
    /// A name the version deprecated; the finding names its replacement.
    Deprecated,
    /// A name the version does not define yet (a later version's name).
    NotInVersion,
    /// A Required attribute (or metric label) is missing.
    RequiredMissing,
    /// A Conditionally Required one is missing where its condition holds.
    ConditionallyRequiredMissing,
    /// A Recommended one is missing.
    RecommendedMissing,
    /// The duration metric is not in the version's unit.
    WrongUnit,
    /// The duration metric is not a histogram.
    WrongType,
    /// The version is not one [`semconv_check`] knows.
    UnsupportedVersion,
    /// The shape has no HTTP server span nor HTTP server metric.
    NothingToCheck,
}

impl SemconvProblem {
    pub fn severity(&self) -> Severity {
        match self {
            SemconvProblem::RequiredMissing | SemconvProblem::UnsupportedVersion => Severity::Error,
            SemconvProblem::Deprecated
            | SemconvProblem::NotInVersion
            | SemconvProblem::ConditionallyRequiredMissing
            | SemconvProblem::WrongUnit
            | SemconvProblem::WrongType => Severity::Warning,
            SemconvProblem::RecommendedMissing | SemconvProblem::NothingToCheck => Severity::Info,
        }
    }
}

/// One way the shape departs from the semantic conventions of a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SemconvFinding {
    pub severity: Severity,
    pub problem: SemconvProblem,
    /// `span /items/{item_id}` or `metric http_server_request_duration_seconds`.
    pub subject: String,
    /// The attribute, label or metric name at fault (empty when none).
    pub name: String,
    pub message: String,
}

impl fmt::Display for SemconvFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        write!(f, "{sev} {}: {}", self.subject, self.message)
    }
}

/// The HTTP conventions [`semconv_check`] knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpConventions {
    /// v1.20.0: `http.method`, `http.status_code`, `http.target`, `net.host.*`;
    /// metric `http.server.duration` in milliseconds.
    V1_20,
    /// v1.23.0 and later (HTTP declared stable in 1.23.0):
    /// `http.request.method`, `http.response.status_code`, `url.*`, `server.*`;
    /// metric `http.server.request.duration` in seconds.
    Stable,
}

fn conventions(version: &str) -> Option<HttpConventions> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    match (major, minor) {
        (1, 20) => Some(HttpConventions::V1_20),
        (1, m) if m >= 23 => Some(HttpConventions::Stable),
        _ => None,
    }
}

/// HTTP attribute renames: the name v1.20.0 uses -> the stable name
/// (semantic-conventions v1.23.0, `docs/http/http-spans.md` and
/// `docs/http/http-metrics.md`; the renames landed in v1.21.0 and v1.22.0,
/// `net.sock.peer.addr` by way of `client.socket.address`).
const HTTP_RENAMES: &[(&str, &str)] = &[
    ("http.method", "http.request.method"),
    ("http.status_code", "http.response.status_code"),
    ("http.target", "url.path"),
    ("http.scheme", "url.scheme"),
    ("http.url", "url.full"),
    ("http.host", "server.address"),
    ("http.client_ip", "client.address"),
    ("http.flavor", "network.protocol.version"),
    ("http.request_content_length", "http.request.body.size"),
    ("http.response_content_length", "http.response.body.size"),
    ("net.host.name", "server.address"),
    ("net.host.port", "server.port"),
    ("net.sock.host.addr", "network.local.address"),
    ("net.sock.host.port", "network.local.port"),
    ("net.sock.peer.addr", "network.peer.address"),
    ("net.sock.peer.port", "network.peer.port"),
    ("net.protocol.name", "network.protocol.name"),
    ("net.protocol.version", "network.protocol.version"),
];

/// `(name, the name to use)` pairs.
type Renames = Vec<(&'static str, &'static str)>;

/// Deprecated before v1.20.0 already (v1.19.0: `user_agent.original`).
const DEPRECATED_BY_1_20: &[(&str, &str)] = &[("http.user_agent", "user_agent.original")];

/// Requirement levels of an HTTP server span's attributes (or of the server
/// duration metric's attributes), per version. Read from the upstream tables at
/// their tags: opentelemetry-specification v1.20.0 and semantic-conventions
/// v1.23.0. Conditions this check cannot judge from names alone (`error.type`
/// "if the request ended with an error", a port "if not default",
/// `network.protocol.name` "if not http", `url.query` "if one was received")
/// are not asked for; of the Recommended ones, only those every server knows.
struct Requirements {
    required: &'static [&'static str],
    /// Conditionally Required whose condition a finished server request meets
    /// (a status code was sent; a route, when one matched).
    conditional: &'static [&'static str],
    /// Conditionally Required when the second attribute is set (`server.port`
    /// "If `server.address` is set").
    with: &'static [(&'static str, &'static str)],
    recommended: &'static [&'static str],
}

/// v1.20.0 `specification/trace/semantic_conventions/http.md`, HTTP server.
const SPAN_1_20: Requirements = Requirements {
    required: &["http.method", "http.scheme", "http.target", "net.host.name"],
    conditional: &["http.status_code", "http.route"],
    with: &[],
    recommended: &[],
};

/// v1.23.0 `docs/http/http-spans.md`, HTTP server span.
const SPAN_STABLE: Requirements = Requirements {
    required: &["http.request.method", "url.path", "url.scheme"],
    conditional: &["http.response.status_code", "http.route"],
    with: &[("server.port", "server.address")],
    recommended: &["server.address"],
};

/// v1.20.0 `specification/metrics/semantic_conventions/http-metrics.md`, `http.server.duration`.
const METRIC_1_20: Requirements = Requirements {
    required: &["http.method", "http.scheme", "net.host.name"],
    conditional: &["http.status_code", "http.route"],
    with: &[],
    recommended: &[],
};

/// v1.23.0 `docs/http/http-metrics.md`, `http.server.request.duration`
/// (`server.address`/`server.port` are Opt-In there, so not asked for).
const METRIC_STABLE: Requirements = Requirements {
    required: &["http.request.method", "url.scheme"],
    conditional: &["http.response.status_code", "http.route"],
    with: &[],
    recommended: &[],
};

/// An attribute's name after Prometheus translation (`http.request.method` -> `http_request_method`).
fn prom(name: &str) -> String {
    name.replace(['.', '-'], "_")
}

/// Checks the HTTP server spans and HTTP server metrics of `shape` against
/// the OpenTelemetry HTTP semantic conventions of `version`: `1.20` (the
/// names before stabilisation, semantic-conventions v1.20.0) or `1.23` and
/// later (the stable names, semantic-conventions v1.23.0 `docs/http/`).
/// Reports deprecated names, names the version does not define, and Required
/// (Error), Conditionally Required (Warning) and Recommended (Info) attributes
/// missing on server spans and on the server duration metric
/// (`http_server_request_duration_seconds` after Prometheus translation:
/// dots become underscores, the unit a suffix).
pub fn semconv_check(shape: &Shape, version: &str) -> Vec<SemconvFinding> {
    let mut out = Vec::new();
    let finding = |problem: SemconvProblem, subject: &str, name: &str, message: String| SemconvFinding {
        severity: problem.severity(),
        problem,
        subject: subject.to_owned(),
        name: name.to_owned(),
        message,
    };
    let Some(conv) = conventions(version) else {
        out.push(finding(
            SemconvProblem::UnsupportedVersion,
            "semconv",
            version,
            format!("semantic conventions {version:?} are not known here (known: 1.20, and 1.23 or later)"),
        ));
        return out;
    };
    let label = match conv {
        HttpConventions::V1_20 => "1.20",
        HttpConventions::Stable => "1.23+",
    };
    // (deprecated name -> replacement), (names the version does not define -> its name).
    let (deprecated, foreign): (Renames, Renames) = match conv {
        HttpConventions::V1_20 => (DEPRECATED_BY_1_20.to_vec(), HTTP_RENAMES.iter().map(|(old, new)| (*new, *old)).collect()),
        HttpConventions::Stable => (HTTP_RENAMES.iter().chain(DEPRECATED_BY_1_20).copied().collect(), Vec::new()),
    };
    let names = |out: &mut Vec<SemconvFinding>, subject: &str, keys: &BTreeSet<String>, tr: &dyn Fn(&str) -> String| {
        for (old, new) in &deprecated {
            if keys.contains(&tr(old)) {
                out.push(finding(SemconvProblem::Deprecated, subject, &tr(old), format!("{} is deprecated in semconv {label}: use {}", tr(old), tr(new))));
            }
        }
        let mut reported = BTreeSet::new();
        for (new, old) in &foreign {
            if keys.contains(&tr(new)) && reported.insert(tr(new)) {
                out.push(finding(SemconvProblem::NotInVersion, subject, &tr(new), format!("{} is not defined by semconv {label}, which names it {}", tr(new), tr(old))));
            }
        }
    };
    let requirements = |out: &mut Vec<SemconvFinding>, subject: &str, keys: &BTreeSet<String>, req: &Requirements, tr: &dyn Fn(&str) -> String, routed: bool| {
        for r in req.required {
            if !keys.contains(&tr(r)) {
                out.push(finding(SemconvProblem::RequiredMissing, subject, &tr(r), format!("lacks {} (Required in semconv {label})", tr(r))));
            }
        }
        for r in req.conditional {
            if keys.contains(&tr(r)) {
                continue;
            }
            if r.ends_with(".route") && !routed {
                out.push(finding(
                    SemconvProblem::RecommendedMissing,
                    subject,
                    &tr(r),
                    format!("lacks {} (Conditionally Required in semconv {label} when a route matched; none did?)", tr(r)),
                ));
            } else {
                out.push(finding(SemconvProblem::ConditionallyRequiredMissing, subject, &tr(r), format!("lacks {} (Conditionally Required in semconv {label}; its condition holds for a served request)", tr(r))));
            }
        }
        for (r, when) in req.with {
            if keys.contains(&tr(when)) && !keys.contains(&tr(r)) {
                out.push(finding(SemconvProblem::ConditionallyRequiredMissing, subject, &tr(r), format!("lacks {} (Conditionally Required in semconv {label} when {} is set, as it is)", tr(r), tr(when))));
            }
        }
        for r in req.recommended {
            if !keys.contains(&tr(r)) {
                out.push(finding(SemconvProblem::RecommendedMissing, subject, &tr(r), format!("lacks {} (Recommended in semconv {label})", tr(r))));
            }
        }
    };
    let same = |s: &str| s.to_owned();
    let mut checked = false;
    if let Some(traces) = &shape.traces {
        let span_req = match conv {
            HttpConventions::V1_20 => &SPAN_1_20,
            HttpConventions::Stable => &SPAN_STABLE,
        };
        for (route, s) in &traces.spans {
            let http = s.attributes.iter().any(|k| k.starts_with("http.")) || s.names.iter().any(|n| n.split(' ').next().is_some_and(is_http_method));
            if !s.kind.split(", ").any(|k| k == "server") || !http {
                continue;
            }
            checked = true;
            let subject = format!("span {route}");
            names(&mut out, &subject, &s.attributes, &same);
            requirements(&mut out, &subject, &s.attributes, span_req, &same, route.starts_with('/'));
        }
    }
    if let Some(metrics) = &shape.metrics {
        for (name, m) in metrics.iter().filter(|(n, _)| n.starts_with("http_server_")) {
            checked = true;
            let subject = format!("metric {name}");
            names(&mut out, &subject, &m.labels, &prom);
            let old = name.starts_with("http_server_duration");
            let new = name.starts_with("http_server_request_duration");
            if !(old || new) {
                continue;
            }
            match (conv, old) {
                (HttpConventions::Stable, true) => out.push(finding(
                    SemconvProblem::Deprecated,
                    &subject,
                    name,
                    format!("{name} is http.server.duration, replaced in semconv {label} by http.server.request.duration in seconds (http_server_request_duration_seconds)"),
                )),
                (HttpConventions::V1_20, false) => out.push(finding(
                    SemconvProblem::NotInVersion,
                    &subject,
                    name,
                    format!("{name} is http.server.request.duration, not defined by semconv {label}, whose server duration metric is http.server.duration in milliseconds"),
                )),
                _ => {}
            }
            let unit_ok = match conv {
                HttpConventions::Stable => !new || name == "http_server_request_duration_seconds",
                HttpConventions::V1_20 => !old || name == "http_server_duration" || name == "http_server_duration_milliseconds",
            };
            if !unit_ok {
                let want = if conv == HttpConventions::Stable { "seconds (s)" } else { "milliseconds (ms)" };
                out.push(finding(SemconvProblem::WrongUnit, &subject, name, format!("{name}: the duration's unit is {want} in semconv {label}")));
            }
            if !matches!(m.kind, MetricType::Histogram | MetricType::Unknown) {
                out.push(finding(SemconvProblem::WrongType, &subject, name, format!("{name} is a {}, the conventions make it a histogram", m.kind)));
            }
            let metric_req = match (conv, old) {
                (HttpConventions::V1_20, true) => Some(&METRIC_1_20),
                (HttpConventions::Stable, false) => Some(&METRIC_STABLE),
                _ => None,
            };
            if let Some(req) = metric_req {
                requirements(&mut out, &subject, &m.labels, req, &prom, true);
            }
        }
    }
    if !checked {
        out.push(finding(
            SemconvProblem::NothingToCheck,
            "semconv",
            "",
            "no HTTP server span and no http_server_* metric in the shape: nothing checked against the HTTP conventions".into(),
        ));
    }
    out
}

fn is_http_method(s: &str) -> bool {
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"].contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn metric(kind: MetricType, labels: &[&str]) -> MetricShape {
        MetricShape { kind, labels: set(labels) }
    }

    fn server_span(name: &str, attributes: &[&str], status: &[SpanStatus]) -> SpanShape {
        SpanShape { names: set(&[name]), kind: "server".into(), status: status.iter().copied().collect(), attributes: set(attributes) }
    }

    /// A shape like the reference app's, with every signal.
    fn shape() -> Shape {
        let metrics = BTreeMap::from([
            ("http_requests_total".to_string(), metric(MetricType::Counter, &["handler", "method", "status"])),
            ("http_request_duration_seconds".to_string(), metric(MetricType::Histogram, &["handler", "method"])),
        ]);
        let spans = BTreeMap::from([
            (
                "/items/{item_id}".to_string(),
                server_span("GET /items/{item_id}", &["http.request.method", "http.response.status_code", "http.route", "url.path", "url.scheme"], &[SpanStatus::Unset]),
            ),
            ("/error".to_string(), server_span("GET /error", &["http.request.method", "http.route"], &[SpanStatus::Error])),
        ]);
        Shape {
            app: "fastapi".into(),
            scenario: "default".into(),
            semconv: Some("1.26".into()),
            metrics: Some(metrics),
            traces: Some(TraceShape { resource_attributes: set(&["service.name", "service.version"]), spans }),
            logs: Some(LogShape {
                selector: "{service=\"app\"}".into(),
                labels: set(&["container", "env", "job", "service"]),
                formats: BTreeMap::from([(LogFormat::Json, set(&["level", "message", "trace_id"]))]),
            }),
            not_captured: BTreeMap::new(),
        }
    }

    fn failing(changes: &[Change], strict: bool) -> Vec<String> {
        changes.iter().filter(|c| c.fails(strict)).map(|c| c.to_string()).collect()
    }

    #[test]
    fn snapshot_same_shape_has_no_changes() {
        assert_eq!(diff(&shape(), &shape()), vec![]);
    }

    #[test]
    fn snapshot_renamed_metric_is_one_missing_and_one_added_and_fails() {
        let recorded = shape();
        let mut live = shape();
        let m = live.metrics.as_mut().unwrap();
        let family = m.remove("http_requests_total").unwrap();
        m.insert("http_server_requests_total".into(), family);
        let changes = diff(&recorded, &live);
        assert_eq!(
            changes,
            vec![Change::MetricMissing { metric: "http_requests_total".into() }, Change::MetricAdded { metric: "http_server_requests_total".into() }]
        );
        assert_eq!(failing(&changes, false), vec!["metric http_requests_total: gone (renamed or no longer emitted)"]);
        let outcome = Outcome::Differs { changes, diff_text: String::new() };
        assert!(outcome.fails(false));
    }

    #[test]
    fn snapshot_removed_label_fails_and_added_label_passes() {
        let recorded = shape();
        let mut live = shape();
        let family = live.metrics.as_mut().unwrap().get_mut("http_requests_total").unwrap();
        family.labels.remove("status");
        family.labels.insert("code".into());
        let changes = diff(&recorded, &live);
        assert_eq!(
            changes,
            vec![
                Change::LabelMissing { metric: "http_requests_total".into(), label: "status".into() },
                Change::LabelAdded { metric: "http_requests_total".into(), label: "code".into() },
            ]
        );
        assert_eq!(failing(&changes, false), vec!["metric http_requests_total: label status gone"]);
    }

    #[test]
    fn snapshot_added_attribute_passes_unless_strict() {
        let recorded = shape();
        let mut live = shape();
        live.traces.as_mut().unwrap().spans.get_mut("/error").unwrap().attributes.insert("error.type".into());
        let changes = diff(&recorded, &live);
        assert_eq!(changes, vec![Change::AttributeAdded { route: "/error".into(), key: "error.type".into() }]);
        let outcome = Outcome::Differs { changes, diff_text: String::new() };
        assert!(!outcome.fails(false), "an addition passes");
        assert!(outcome.fails(true), "strict fails on any change");
    }

    #[test]
    fn snapshot_lost_attribute_error_status_type_and_kind_fail() {
        let recorded = shape();
        let mut live = shape();
        {
            let t = live.traces.as_mut().unwrap();
            let items = t.spans.get_mut("/items/{item_id}").unwrap();
            items.attributes.remove("url.path");
            items.kind = "internal".into();
            t.spans.get_mut("/error").unwrap().status = [SpanStatus::Unset].into();
            live.metrics.as_mut().unwrap().get_mut("http_request_duration_seconds").unwrap().kind = MetricType::Summary;
        }
        let changes = diff(&recorded, &live);
        assert_eq!(
            failing(&changes, false),
            vec![
                "metric http_request_duration_seconds: type histogram recorded, summary now",
                "spans of /error: status [error] recorded, [unset] now",
                "spans of /items/{item_id}: kind server recorded, internal now",
                "spans of /items/{item_id}: attribute url.path gone",
            ]
        );
        // Gaining a status is an addition.
        let mut gained = shape();
        gained.traces.as_mut().unwrap().spans.get_mut("/error").unwrap().status.insert(SpanStatus::Unset);
        assert_eq!(failing(&diff(&recorded, &gained), false), Vec::<String>::new());
        assert_eq!(failing(&diff(&recorded, &gained), true).len(), 1);
    }

    #[test]
    fn snapshot_a_gained_span_kind_passes_and_a_lost_one_fails() {
        let gained = Change::SpanKindChanged { route: "r".into(), recorded: "server".into(), live: "client, server".into() };
        assert!(!gained.fails(false) && gained.fails(true));
        let lost = Change::SpanKindChanged { route: "r".into(), recorded: "client, server".into(), live: "client".into() };
        assert!(lost.fails(false));
    }

    #[test]
    fn snapshot_samples_the_first_requests_of_each_method_handler_and_status() {
        let sent = |handler: &str, status: u16, id: usize| crate::traffic::Sent {
            method: "GET".into(),
            path: handler.into(),
            handler: handler.into(),
            status,
            trace_id: format!("{id:032x}"),
            echoed_trace_id: None,
            llm: None,
            step: 0,
        };
        let mut all = Vec::new();
        for i in 0..5 {
            all.push(sent("/items/{item_id}", 200, i));
        }
        all.push(sent("/items/{item_id}", 422, 10));
        all.push(sent("/error", 500, 11));
        let record = TrafficRecord { scenario: "s".into(), started: SystemTime::UNIX_EPOCH, finished: SystemTime::UNIX_EPOCH, sent: all };
        let ids: Vec<String> = [0, 1, 2, 10, 11].iter().map(|i| format!("{i:032x}")).collect();
        assert_eq!(sampled_trace_ids(&record), ids);
    }

    #[test]
    fn snapshot_log_label_field_and_format_changes() {
        let recorded = shape();
        let mut live = shape();
        let logs = live.logs.as_mut().unwrap();
        logs.labels.remove("service");
        logs.formats.get_mut(&LogFormat::Json).unwrap().remove("trace_id");
        logs.formats.insert(LogFormat::Plain, BTreeSet::new());
        let changes = diff(&recorded, &live);
        assert_eq!(
            changes,
            vec![
                Change::LogLabelMissing { label: "service".into() },
                Change::LogFieldMissing { format: LogFormat::Json, field: "trace_id".into() },
                Change::LogFormatAdded { format: LogFormat::Plain },
            ]
        );
        assert_eq!(failing(&changes, false), vec!["log stream label service: gone", "json log lines: field trace_id gone"]);
    }

    #[test]
    fn snapshot_uncaptured_signal_fails_with_its_reason() {
        let recorded = shape();
        let mut live = shape();
        live.logs = None;
        live.not_captured.insert(Signal::Logs, "the stack runs no Loki: the app's logs were not read".into());
        let changes = diff(&recorded, &live);
        assert_eq!(failing(&changes, false), vec!["logs: recorded, but not captured now: the stack runs no Loki: the app's logs were not read"]);
        // The other way round is an addition.
        assert_eq!(diff(&live, &recorded), vec![Change::SignalAdded { signal: Signal::Logs }]);
    }

    #[test]
    fn snapshot_yaml_round_trips_sorted_with_the_header() {
        let s = shape();
        let text = s.to_yaml();
        assert!(text.starts_with(HEADER_COMMENT));
        assert!(text.contains("`obs-harness snapshot --accept` rewrites this file"));
        assert_eq!(Shape::from_yaml(&text, Path::new("x.yaml")).unwrap(), s);
        // Sorted: the families and the labels in order, whatever order they were inserted in.
        let a = text.find("http_request_duration_seconds:").unwrap();
        let b = text.find("http_requests_total:").unwrap();
        assert!(a < b, "{text}");
        assert!(text.contains("    - handler\n    - method\n    - status\n"), "{text}");
    }

    #[test]
    fn snapshot_load_errors_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(FILE_NAME);
        let mut text = shape().to_yaml();
        // A typo'd key (deny_unknown_fields) on a known line.
        text = text.replacen("    type: counter\n", "    typ: counter\n", 1);
        std::fs::write(&p, &text).unwrap();
        let line = text.lines().position(|l| l == "    typ: counter").unwrap() + 1;
        let err = Shape::load(&p).unwrap_err().to_string();
        let at = format!("{}:{line}:", p.display());
        assert!(err.starts_with(&at), "want {at}…, got {err}");
        assert!(err.contains("malformed snapshot: ") && err.contains("unknown field `typ`"), "{err}");
        assert!(err.contains("(hint: fix the YAML by hand, or rewrite the file from a live run with `obs-harness snapshot --accept`)"), "{err}");
        // Broken YAML syntax.
        std::fs::write(&p, "app: x\nscenario: y\nmetrics:\n  a: [\n").unwrap();
        let err = Shape::load(&p).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:", p.display())) && err.contains("malformed snapshot"), "{err}");
        assert!(matches!(Shape::load(&p), Err(SnapshotError::Parse { line: Some(l), .. }) if l >= 4), "{err}");
        // No file at all.
        let err = Shape::load(&dir.path().join("none.yaml")).unwrap_err().to_string();
        assert!(err.contains("cannot read snapshot") && err.contains("obs-harness snapshot --accept"), "{err}");
    }

    #[test]
    fn snapshot_diff_text_is_a_unified_diff_of_the_files() {
        let recorded = shape();
        let mut live = shape();
        let family = live.metrics.as_mut().unwrap().get_mut("http_requests_total").unwrap();
        family.labels.remove("status");
        let text = render_diff(&recorded, &live, "stack/telemetry-snapshot.yaml");
        assert!(text.starts_with("--- stack/telemetry-snapshot.yaml\n+++ live\n@@ "), "{text}");
        assert!(text.contains("\n-    - status\n"), "{text}");
        assert!(!text.lines().any(|l| l.starts_with('+') && !l.starts_with("+++")), "nothing added: {text}");
    }

    #[test]
    fn snapshot_compare_or_write_accepts_and_matches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join(FILE_NAME);
        let s = shape();
        assert_eq!(compare_or_write(&p, &s, false).unwrap(), Outcome::Written { path: p.clone(), first: true, changes: vec![] });
        assert_eq!(compare_or_write(&p, &s, false).unwrap(), Outcome::Matches);
        // A malformed file is an error, unless accepting.
        std::fs::write(&p, "app: [\n").unwrap();
        assert!(matches!(compare_or_write(&p, &s, false), Err(SnapshotError::Parse { .. })));
        assert!(matches!(compare_or_write(&p, &s, true).unwrap(), Outcome::Written { first: false, .. }));
        assert_eq!(Shape::load(&p).unwrap(), s);
        assert!(!dir.path().join("sub").join(format!(".{FILE_NAME}.tmp")).exists(), "the temporary file is renamed away");
    }

    fn meta(kind: &str) -> Vec<MetricMetadata> {
        vec![MetricMetadata { kind: kind.into(), help: String::new(), unit: String::new() }]
    }

    fn series(name: &str, labels: &[(&str, &str)]) -> Labels {
        let mut l: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.insert("__name__".into(), name.into());
        l.insert("job".into(), "fastapi".into());
        l.insert("instance".into(), "app:8000".into());
        l
    }

    #[test]
    fn snapshot_metric_families_group_histograms_and_drop_target_labels() {
        let metadata = BTreeMap::from([
            ("http_request_duration_seconds".to_string(), meta("histogram")),
            ("http_requests_total".to_string(), meta("counter")),
            // OpenMetrics names a counter without `_total`.
            ("llm_calls".to_string(), meta("counter")),
            ("rpc_latency".to_string(), meta("summary")),
            ("process_open_fds".to_string(), meta("gauge")),
            ("flip".to_string(), vec![MetricMetadata { kind: "gauge".into(), help: String::new(), unit: String::new() }, MetricMetadata { kind: "counter".into(), help: String::new(), unit: String::new() }]),
        ]);
        let s = vec![
            series("http_request_duration_seconds_bucket", &[("handler", "/"), ("le", "0.1")]),
            series("http_request_duration_seconds_sum", &[("handler", "/")]),
            series("http_request_duration_seconds_count", &[("handler", "/"), ("method", "GET")]),
            series("http_requests_total", &[("handler", "/"), ("status", "2xx")]),
            series("llm_calls_total", &[("model", "m")]),
            series("llm_calls_created", &[("model", "m")]),
            series("rpc_latency", &[("quantile", "0.5")]),
            series("rpc_latency_count", &[]),
            series("process_open_fds", &[]),
            series("no_metadata_bucket", &[("le", "1")]),
            series("flip", &[]),
            series("up", &[]),
            series("scrape_duration_seconds", &[]),
            series("job:http_requests:rate5m", &[]),
        ];
        let got = metric_shape(&s, &metadata);
        let want = BTreeMap::from([
            ("flip".to_string(), metric(MetricType::Unknown, &[])),
            ("http_request_duration_seconds".to_string(), metric(MetricType::Histogram, &["handler", "method"])),
            ("http_requests_total".to_string(), metric(MetricType::Counter, &["handler", "status"])),
            ("llm_calls_total".to_string(), metric(MetricType::Counter, &["model"])),
            ("no_metadata_bucket".to_string(), metric(MetricType::Unknown, &["le"])),
            ("process_open_fds".to_string(), metric(MetricType::Gauge, &[])),
            ("rpc_latency".to_string(), metric(MetricType::Summary, &[])),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn snapshot_line_formats() {
        assert_eq!(line_format(r#"{"level":"INFO","message":"x","status":200}"#), (LogFormat::Json, vec!["level".into(), "message".into(), "status".into()]));
        assert_eq!(line_format(r#"level=warn msg="queue lag \"x\"" lag_seconds=5"#), (LogFormat::Logfmt, vec!["level".into(), "msg".into(), "lag_seconds".into()]));
        assert_eq!(line_format(r#"127.0.0.1 - - "GET /health HTTP/1.1" 200 2"#), (LogFormat::Plain, vec![]));
        assert_eq!(line_format("2024-01-01T00:00:00Z level=info msg=x"), (LogFormat::Plain, vec![]));
        assert_eq!(line_format(r#"level=info msg="unterminated"#), (LogFormat::Plain, vec![]));
        assert_eq!(line_format("{not json"), (LogFormat::Plain, vec![]));
        assert_eq!(line_format(""), (LogFormat::Plain, vec![]));
    }

    #[test]
    fn snapshot_scrape_wait_wants_every_target_up_after_the_traffic() {
        let t = |job: &str, health: &str, last: &str| Target {
            discovered_labels: Labels::new(),
            labels: Labels::from([("job".to_string(), job.to_string())]),
            scrape_pool: job.into(),
            scrape_url: format!("http://{job}/metrics"),
            global_url: String::new(),
            last_error: String::new(),
            last_scrape: last.into(),
            last_scrape_duration: 0.0,
            health: health.into(),
            scrape_interval: "2s".into(),
            scrape_timeout: "2s".into(),
        };
        let ended = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let after = "2023-11-14T22:13:21.5+00:00";
        let before = "2023-11-14T22:13:19Z";
        assert!(matches!(scraped_after(&[t("fastapi", "up", after), t("other", "down", before)], "fastapi", ended), Poll::Ready(())));
        assert!(matches!(scraped_after(&[t("fastapi", "up", before)], "fastapi", ended), Poll::Pending(s) if s.contains("before the scenario ended")));
        assert!(matches!(scraped_after(&[t("fastapi", "down", after)], "fastapi", ended), Poll::Pending(s) if s.contains("is down")));
        assert!(matches!(scraped_after(&[t("other", "up", after)], "fastapi", ended), Poll::Pending(s) if s == "no scrape target of job `fastapi` (jobs: other)"));
    }

    fn problems(findings: &[SemconvFinding]) -> Vec<(SemconvProblem, String, String)> {
        findings.iter().map(|f| (f.problem, f.subject.clone(), f.name.clone())).collect()
    }

    fn http_shape(attributes: &[&str], metric_name: &str, labels: &[&str]) -> Shape {
        Shape {
            traces: Some(TraceShape {
                resource_attributes: BTreeSet::new(),
                spans: BTreeMap::from([("/items/{id}".to_string(), server_span("GET /items/{id}", attributes, &[SpanStatus::Unset]))]),
            }),
            metrics: Some(BTreeMap::from([(metric_name.to_string(), metric(MetricType::Histogram, labels))])),
            ..Shape::default()
        }
    }

    #[test]
    fn snapshot_semconv_stable_names_pass_1_23_and_old_names_are_deprecated() {
        let stable = http_shape(
            &["http.request.method", "http.response.status_code", "http.route", "url.path", "url.scheme", "server.address", "server.port"],
            "http_server_request_duration_seconds",
            &["http_request_method", "http_response_status_code", "http_route", "url_scheme"],
        );
        assert_eq!(semconv_check(&stable, "1.26.0"), vec![]);
        assert_eq!(semconv_check(&stable, "v1.23"), vec![]);

        let old = http_shape(
            &["http.method", "http.status_code", "http.route", "http.target", "http.scheme", "net.host.name"],
            "http_server_duration_milliseconds",
            &["http_method", "http_status_code", "http_route", "http_scheme", "net_host_name"],
        );
        assert_eq!(semconv_check(&old, "1.20"), vec![], "1.20 names are right for 1.20");
        let f = semconv_check(&old, "1.23");
        let got = problems(&f);
        let span = |p, n: &str| (p, "span /items/{id}".to_string(), n.to_string());
        let m = |p, n: &str| (p, "metric http_server_duration_milliseconds".to_string(), n.to_string());
        use SemconvProblem::*;
        assert_eq!(
            got,
            vec![
                span(Deprecated, "http.method"),
                span(Deprecated, "http.status_code"),
                span(Deprecated, "http.target"),
                span(Deprecated, "http.scheme"),
                span(Deprecated, "net.host.name"),
                span(RequiredMissing, "http.request.method"),
                span(RequiredMissing, "url.path"),
                span(RequiredMissing, "url.scheme"),
                span(ConditionallyRequiredMissing, "http.response.status_code"),
                span(RecommendedMissing, "server.address"),
                m(Deprecated, "http_method"),
                m(Deprecated, "http_status_code"),
                m(Deprecated, "http_scheme"),
                m(Deprecated, "net_host_name"),
                m(Deprecated, "http_server_duration_milliseconds"),
            ]
        );
        assert_eq!(f[0].to_string(), "warning span /items/{id}: http.method is deprecated in semconv 1.23+: use http.request.method");
        assert_eq!(f[5].severity, Severity::Error);
        assert!(f[14].message.contains("http_server_request_duration_seconds"), "{}", f[14]);
    }

    #[test]
    fn snapshot_semconv_new_names_are_not_1_20_names() {
        let stable = http_shape(
            &["http.request.method", "http.response.status_code", "http.route", "url.path", "url.scheme"],
            "http_server_request_duration_seconds",
            &["http_request_method", "url_scheme"],
        );
        let got = problems(&semconv_check(&stable, "1.20.0"));
        use SemconvProblem::*;
        let span = |p, n: &str| (p, "span /items/{id}".to_string(), n.to_string());
        let m = |p, n: &str| (p, "metric http_server_request_duration_seconds".to_string(), n.to_string());
        assert_eq!(
            got,
            vec![
                span(NotInVersion, "http.request.method"),
                span(NotInVersion, "http.response.status_code"),
                span(NotInVersion, "url.path"),
                span(NotInVersion, "url.scheme"),
                span(RequiredMissing, "http.method"),
                span(RequiredMissing, "http.scheme"),
                span(RequiredMissing, "http.target"),
                span(RequiredMissing, "net.host.name"),
                span(ConditionallyRequiredMissing, "http.status_code"),
                m(NotInVersion, "http_request_method"),
                m(NotInVersion, "url_scheme"),
                m(NotInVersion, "http_server_request_duration_seconds"),
            ]
        );
    }

    #[test]
    fn snapshot_semconv_units_versions_and_nothing_to_check() {
        let ms = http_shape(&["http.request.method", "http.response.status_code", "http.route", "url.path", "url.scheme", "server.address", "server.port"], "http_server_request_duration_milliseconds", &["http_request_method", "url_scheme"]);
        let got = problems(&semconv_check(&ms, "1.24"));
        assert_eq!(
            got,
            vec![
                (SemconvProblem::WrongUnit, "metric http_server_request_duration_milliseconds".into(), "http_server_request_duration_milliseconds".into()),
                (SemconvProblem::ConditionallyRequiredMissing, "metric http_server_request_duration_milliseconds".into(), "http_response_status_code".into()),
                (SemconvProblem::ConditionallyRequiredMissing, "metric http_server_request_duration_milliseconds".into(), "http_route".into()),
            ]
        );
        for v in ["1.21", "1.22.0", "2.0", "latest"] {
            let f = semconv_check(&ms, v);
            assert_eq!(problems(&f), vec![(SemconvProblem::UnsupportedVersion, "semconv".into(), v.into())], "{v}");
        }
        let none = Shape { metrics: Some(BTreeMap::from([("http_requests_total".to_string(), metric(MetricType::Counter, &["handler"]))])), ..Shape::default() };
        assert_eq!(problems(&semconv_check(&none, "1.23")), vec![(SemconvProblem::NothingToCheck, "semconv".into(), String::new())]);
    }
}
