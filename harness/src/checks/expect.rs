//! Declared expectations, evaluated: each [`Expectation`] of a scenario's
//! `expect:` section becomes one check `expect.<name>` whose verdict comes
//! from polling its backend through [`Eventually`] until the assertion holds
//! or the timeout passes. A failure names the query (and URL), the last
//! result seen, and how many polls over how long.
//!
//! The caller decides which expectations can run ([`Expectation::backend`]);
//! a missing client here is reported not run. `increase_by_requests` needs a
//! snapshot taken before the traffic: call [`before`] first, drive the
//! traffic, then [`evaluate`] with that snapshot in the [`ExpectContext`].
//! [`statuses`] judges the steps' `expect_status`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::backends::jaeger::{Attributes, Span, SpanKind, Trace};
use crate::backends::loki::{LokiClient, LokiResult};
use crate::backends::prometheus::{Alert, Labels, PrometheusClient, QueryResult};
use crate::backends::tempo::TempoClient;
use crate::eventually::{Eventually, Poll};
use crate::traffic::expectations::{
    CountSpec, Expectation, Kind, LineRegex, PromAssert, RequestFilter, Requests, Ruler, SpanAssertion, SpanKindSpec,
    SpanStatusSpec, TraceSearch, TraceSource, for_request,
};
use crate::traffic::{self, Scenario, Sent, Step, TrafficRecord};

use super::Verdict;
use super::jaeger::TraceStore;
use super::prometheus::{fmt_labels, list, poll_error, record_window};

/// The check id of [`statuses`].
pub const STATUS_CHECK: &str = "traffic.expect_status";

/// Lines read per LogQL poll.
pub const LOG_LIMIT: u32 = 5000;

/// Traces fetched by id per search poll (Tempo's search answers ids only).
pub const SEARCH_FETCH: usize = 20;

/// What [`evaluate`] may read.
#[derive(Clone, Copy)]
pub struct ExpectContext<'a> {
    pub prometheus: Option<&'a PrometheusClient>,
    pub loki: Option<&'a LokiClient>,
    pub traces: Option<TraceStore<'a>>,
    /// The app's base URL: an alert's `cause` is sent there.
    pub app_url: Option<&'a str>,
    /// What the scenario sent.
    pub record: &'a TrafficRecord,
    /// Taken by [`before`] before the traffic.
    pub before: &'a Before,
    /// How long each expectation may take (unless it declares its own `timeout`).
    pub timeout: Duration,
}

/// The values of the `increase_by_requests` queries before the traffic, by expectation name.
#[derive(Debug, Clone, Default)]
pub struct Before {
    values: BTreeMap<String, Result<Vec<(Labels, f64)>, String>>,
}

impl Before {
    /// No snapshot (for scenarios without `increase_by_requests`).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The snapshot of the expectation called `name`.
    pub fn get(&self, name: &str) -> Option<&Result<Vec<(Labels, f64)>, String>> {
        self.values.get(name)
    }
}

/// Queries every `increase_by_requests` expectation once: call before driving the traffic.
pub async fn before(expect: &[Expectation], prometheus: Option<&PrometheusClient>) -> Before {
    let mut values = BTreeMap::new();
    for e in expect.iter().filter(|e| e.needs_before()) {
        let q = e.promql.as_deref().unwrap_or_default();
        let v = match prometheus {
            None => Err("no Prometheus client (service not running)".to_owned()),
            Some(c) => c.query(q).await.map(|r| series_of(&r)).map_err(|e| e.to_string()),
        };
        values.insert(e.name.clone(), v);
    }
    Before { values }
}

/// Evaluates one expectation: polls its backend until the assertion holds or
/// its timeout (the expectation's `timeout`, else `ctx.timeout`) passes. An
/// alert's `cause` is sent to `ctx.app_url` while waiting, and stops when the
/// alert fires; a rule the ruler has not loaded fails at once.
pub async fn evaluate(e: &Expectation, ctx: &ExpectContext<'_>) -> Verdict {
    let timeout = e.timeout.map_or(ctx.timeout, |t| t.0);
    let Some(kind) = e.kind() else {
        return Verdict::Failed { message: format!("expectation `{}` declares no signal or no assertion (hint: Scenario::load validates it)", e.name) };
    };
    let not_run = |what: &str| Verdict::NotRun { reason: format!("no {what} client (service not running)") };
    match kind {
        Kind::Promql { query, assert } => match ctx.prometheus {
            Some(c) => promql(e, c, query, assert, ctx, timeout).await,
            None => not_run("Prometheus"),
        },
        Kind::Logql { .. } => match ctx.loki {
            Some(c) => logql(e, c, kind, ctx.record, timeout).await,
            None => not_run("Loki"),
        },
        Kind::Traces { source, spans } => match ctx.traces {
            Some(store) => traces(store, source, spans, ctx.record, timeout).await,
            None => not_run("trace store (Jaeger or Tempo)"),
        },
        Kind::Alert { alert: name, ruler, cause } => alert(name, ruler, cause, &e.name, ctx, timeout).await,
    }
}

/// The steps' `expect_status`: every request of a step that declares one answered it.
pub fn statuses(scenario: &Scenario, record: &TrafficRecord) -> Verdict {
    let declared: Vec<usize> = scenario.steps.iter().enumerate().filter(|(_, s)| s.expect_status.is_some()).map(|(i, _)| i).collect();
    if declared.is_empty() {
        return Verdict::NotRun { reason: format!("no step of scenario `{}` declares expect_status", scenario.name) };
    }
    let checked = record.sent.iter().filter(|s| declared.contains(&s.step)).count();
    let bad = scenario.expected_status_mismatches(record);
    if bad.is_empty() {
        Verdict::Passed { detail: format!("all {checked} request(s) of steps {declared:?} answered their expect_status") }
    } else {
        Verdict::Failed {
            message: format!("{} of {checked} request(s) answered another status than their step's expect_status: {}", bad.len(), list(&bad, 8)),
        }
    }
}

// ---------------------------------------------------------------------------
// PromQL
// ---------------------------------------------------------------------------

/// `(labels, value)` of each series (a matrix's last sample; a scalar as one unlabelled series).
fn series_of(r: &QueryResult) -> Vec<(Labels, f64)> {
    match r {
        QueryResult::Vector(v) => v.iter().map(|s| (s.metric.clone(), s.value.value().unwrap_or(f64::NAN))).collect(),
        QueryResult::Matrix(m) => {
            m.iter().map(|s| (s.metric.clone(), s.values.last().and_then(|p| p.value()).unwrap_or(f64::NAN))).collect()
        }
        QueryResult::Scalar(p) => vec![(Labels::new(), p.value().unwrap_or(f64::NAN))],
        QueryResult::String(_) => Vec::new(),
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

fn show_series(series: &[(Labels, f64)]) -> String {
    if series.is_empty() {
        return "no series".into();
    }
    let items: Vec<String> =
        series.iter().map(|(l, v)| format!("{} = {}", fmt_labels(l.iter().map(|(k, v)| (k.as_str(), v.as_str()))), num(*v))).collect();
    format!("{} series: {}", series.len(), list(&items, 8))
}

/// What a PromQL assertion makes of one result: ready with a detail, or what is wrong.
fn judge_promql(assert: PromAssert<'_>, series: &[(Labels, f64)], before: Option<&[(Labels, f64)]>, expected: u64) -> Result<String, String> {
    let seen = show_series(series);
    match assert {
        PromAssert::Value(cmp) => {
            if series.is_empty() {
                return Err(seen);
            }
            let bad: Vec<&(Labels, f64)> = series.iter().filter(|(_, v)| !cmp.holds(*v)).collect();
            if bad.is_empty() { Ok(format!("every value {cmp} ({seen})")) } else { Err(format!("{} of {}", bad.len(), seen)) }
        }
        PromAssert::Series(count) => {
            if count.matches(series.len() as u64) { Ok(seen) } else { Err(format!("{seen} (want {count})")) }
        }
        PromAssert::Labels(names) => {
            if series.is_empty() {
                return Err(seen);
            }
            let lacking: Vec<String> = series
                .iter()
                .filter_map(|(l, _)| {
                    let missing: Vec<&str> = names.iter().map(String::as_str).filter(|n| !l.contains_key(*n)).collect();
                    (!missing.is_empty()).then(|| format!("{} lacks {}", fmt_labels(l.iter().map(|(k, v)| (k.as_str(), v.as_str()))), missing.join(", ")))
                })
                .collect();
            if lacking.is_empty() { Ok(format!("every series carries {} ({seen})", names.join(", "))) } else { Err(list(&lacking, 6)) }
        }
        PromAssert::Absent => {
            if series.is_empty() { Ok("no series".into()) } else { Err(seen) }
        }
        PromAssert::IncreaseByRequests(_) => {
            let before = before.unwrap_or_default();
            let mut total = 0.0;
            let mut per = Vec::new();
            for (l, after) in series {
                let b = before.iter().find(|(bl, _)| bl == l).map_or(0.0, |(_, v)| *v);
                // A counter reset (the app restarted) starts again from 0.
                let inc = if *after < b { *after } else { after - b };
                total += inc;
                per.push(format!("{} {} -> {}", fmt_labels(l.iter().map(|(k, v)| (k.as_str(), v.as_str()))), num(b), num(*after)));
            }
            let detail = format!("increase {} over {} series (per series before -> after: {})", num(total), series.len(), list(&per, 6));
            if (total - expected as f64).abs() < 1e-9 { Ok(detail) } else { Err(format!("{detail}; want {expected}")) }
        }
    }
}

async fn promql(e: &Expectation, client: &PrometheusClient, query: &str, assert: PromAssert<'_>, ctx: &ExpectContext<'_>, timeout: Duration) -> Verdict {
    let url = client.url("/api/v1/query", &[("query", query.to_owned())]);
    let (before, expected, what) = match assert {
        PromAssert::IncreaseByRequests(filter) => {
            let before = match ctx.before.get(&e.name) {
                None => {
                    return Verdict::Failed {
                        message: format!(
                            "no snapshot of `{query}` before the traffic (hint: call checks::expect::before before driving the traffic)"
                        ),
                    };
                }
                Some(Err(err)) => return Verdict::Failed { message: format!("the snapshot of `{query}` before the traffic failed: {err}") },
                Some(Ok(b)) => b.as_slice(),
            };
            let n = filter.select(ctx.record).len() as u64;
            (Some(before), n, format!("`{query}` to increase by the {n} request(s) sent matching {filter}"))
        }
        PromAssert::Value(c) => (None, 0, format!("every value of `{query}` {c}")),
        PromAssert::Series(c) => (None, 0, format!("{c} series of `{query}`")),
        PromAssert::Labels(l) => (None, 0, format!("every series of `{query}` labelled {}", l.join(", "))),
        PromAssert::Absent => (None, 0, format!("`{query}` to return nothing")),
    };
    let eventually = Eventually::new(what).with_timeout(timeout);
    let wait = eventually.until(|| async {
        match client.query(query).await {
            Ok(r) => match judge_promql(assert, &series_of(&r), before, expected) {
                Ok(detail) => Poll::Ready(detail),
                Err(seen) => Poll::Pending(seen),
            },
            Err(err) => poll_error(err),
        }
    });
    match wait.await {
        Ok(detail) => Verdict::Passed { detail: format!("PromQL `{query}`: {detail}") },
        Err(err) => Verdict::Failed { message: format!("PromQL `{query}` ({url}): {err}") },
    }
}

// ---------------------------------------------------------------------------
// LogQL
// ---------------------------------------------------------------------------

fn clip(s: &str) -> String {
    if s.chars().count() <= 160 { s.to_owned() } else { format!("{}…", s.chars().take(160).collect::<String>()) }
}

/// What is unmet among the LogQL assertions of `kind` on `result` (empty: all hold).
fn judge_logql(kind: Kind<'_>, result: &LokiResult, selected: &[&Sent], re: Option<&regex::Regex>) -> Vec<String> {
    let Kind::Logql { lines: want_lines, labels, regex, trace_ids, .. } = kind else { return vec!["not a logql expectation".into()] };
    let lines: Vec<&str> = result.lines().map(|(_, l)| l).collect();
    let mut unmet = Vec::new();
    if let Some(c) = want_lines
        && !c.matches(lines.len() as u64) {
        unmet.push(format!("{} line(s), want {c}", lines.len()));
    }
    if !labels.is_empty() {
        let streams = result.streams();
        if streams.is_empty() {
            unmet.push(format!("no stream to carry {}", labels.join(", ")));
        }
        for s in streams {
            let missing: Vec<&str> = labels.iter().map(String::as_str).filter(|n| !s.stream.contains_key(*n)).collect();
            if !missing.is_empty() {
                unmet.push(format!("stream {} lacks {}", fmt_labels(s.stream.iter().map(|(k, v)| (k.as_str(), v.as_str()))), missing.join(", ")));
            }
        }
    }
    if let (Some(r), Some(re)) = (regex, re) {
        let pat = r.pattern();
        match r {
            LineRegex::Every(_) => match lines.iter().find(|l| !re.is_match(l)) {
                _ if lines.is_empty() => unmet.push(format!("no line to match /{pat}/")),
                Some(l) => unmet.push(format!("{} of {} line(s) do not match /{pat}/, e.g. {:?}", lines.iter().filter(|l| !re.is_match(l)).count(), lines.len(), clip(l))),
                None => {}
            },
            LineRegex::Any(_) => {
                if !lines.iter().any(|l| re.is_match(l)) {
                    unmet.push(format!("none of {} line(s) matches /{pat}/", lines.len()));
                }
            }
            LineRegex::None(_) => {
                if let Some(l) = lines.iter().find(|l| re.is_match(l)) {
                    unmet.push(format!("{} line(s) match /{pat}/, e.g. {:?}", lines.iter().filter(|l| re.is_match(l)).count(), clip(l)));
                }
            }
        }
    }
    if trace_ids.is_some() {
        let missing: Vec<String> = selected
            .iter()
            .filter(|s| !lines.iter().any(|l| super::loki::line_has(l, &s.trace_id)))
            .map(|s| format!("{} ({} {} -> {})", s.trace_id, s.method, s.path, s.status))
            .collect();
        if !missing.is_empty() {
            unmet.push(format!("no line for {} of {} trace id(s): {}", missing.len(), selected.len(), list(&missing, 5)));
        }
    }
    unmet
}

async fn logql(e: &Expectation, client: &LokiClient, kind: Kind<'_>, record: &TrafficRecord, timeout: Duration) -> Verdict {
    let Kind::Logql { query, regex, trace_ids, .. } = kind else { unreachable!("called for logql") };
    let tenant = client.tenant().map_or("no tenant header".into(), |t| format!("tenant `{t}`"));
    let url = client.url("/loki/api/v1/query_range", &[("query", query.to_owned())]);
    let re = match regex.map(|r| regex::Regex::new(r.pattern())).transpose() {
        Ok(re) => re,
        Err(err) => return Verdict::Failed { message: format!("expectation `{}`: invalid regex: {err}", e.name) },
    };
    let selected = trace_ids.map(|r| r.select(record)).unwrap_or_default();
    if let Some(r) = trace_ids
        && selected.is_empty() {
        return Verdict::Failed { message: format!("no request sent matches {} (trace_ids of `{query}`): nothing to look for", r.filter()) };
    }
    let (start, end) = record_window(record);
    let eventually = Eventually::new(format!("the lines of `{query}` to satisfy the expectation")).with_timeout(timeout);
    let wait = eventually.until(|| async {
        let result = match client.query_range(query, start, end, LOG_LIMIT).await {
            Ok(r) => r,
            Err(err) => return poll_error(err),
        };
        if !matches!(result, LokiResult::Streams(_)) {
            return Poll::Fatal(format!(
                "`{query}` is a metric query (it answered a {}); lines, labels, regex and trace_ids read log lines: query a log stream",
                match result {
                    LokiResult::Matrix(_) => "matrix",
                    _ => "vector",
                }
            ));
        }
        let n = result.lines().count();
        let seen = format!("{n} line(s) in {} stream(s)", result.streams().len());
        let unmet = judge_logql(kind, &result, &selected, re.as_ref());
        if unmet.is_empty() { Poll::Ready(seen) } else { Poll::Pending(format!("{seen}; {}", unmet.join("; "))) }
    });
    match wait.await {
        Ok(seen) => Verdict::Passed { detail: format!("LogQL `{query}`: {seen}, every assertion holds ({tenant})") },
        Err(err) => Verdict::Failed { message: format!("LogQL `{query}` ({tenant}, {url}): {err}") },
    }
}

// ---------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------

fn kind_of(k: SpanKindSpec) -> SpanKind {
    match k {
        SpanKindSpec::Server => SpanKind::Server,
        SpanKindSpec::Client => SpanKind::Client,
        SpanKindSpec::Internal => SpanKind::Internal,
        SpanKindSpec::Producer => SpanKind::Producer,
        SpanKindSpec::Consumer => SpanKind::Consumer,
    }
}

fn status_of(s: &Span) -> SpanStatusSpec {
    let ok = matches!(&s.status.code, serde_json::Value::Number(n) if n.as_i64() == Some(1))
        || matches!(&s.status.code, serde_json::Value::String(c) if c == "STATUS_CODE_OK");
    if s.is_error() {
        SpanStatusSpec::Error
    } else if ok {
        SpanStatusSpec::Ok
    } else {
        SpanStatusSpec::Unset
    }
}

/// What is wrong with `trace` against `spans` (placeholders filled from `sent` when given).
pub fn span_problems(trace: &Trace, spans: &[SpanAssertion], sent: Option<&Sent>) -> Vec<String> {
    let fill = |t: &str| sent.map_or_else(|| t.to_owned(), |s| for_request(t, s));
    let mut bad = Vec::new();
    for a in spans {
        let name = fill(&a.name);
        let named: Vec<&Span> = trace.spans.iter().filter(|s| s.name == name).collect();
        let count = a.count.unwrap_or(CountSpec::SOME);
        if !count.matches(named.len() as u64) {
            let names: Vec<&str> = trace.spans.iter().map(|s| s.name.as_str()).collect();
            bad.push(format!("{} span(s) named {name:?}, want {count} (spans: {})", named.len(), list(&names, 8)));
            continue;
        }
        for s in named {
            if let Some(k) = a.kind
                && s.kind != kind_of(k) {
                bad.push(format!("span {name:?} has kind {:?} (want {k:?})", s.kind));
            }
            if let Some(st) = a.status {
                let is = status_of(s);
                if is != st {
                    bad.push(format!("span {name:?} has status {is:?} (want {st:?})"));
                }
            }
            for (key, want) in a.attribute_pairs() {
                match (s.attr(key), want.map(&fill)) {
                    (None, want) => bad.push(format!("span {name:?} lacks attribute {key}{}", want.map(|w| format!(" (want {w:?})")).unwrap_or_default())),
                    (Some(v), Some(w)) if v != w => bad.push(format!("span {name:?} attribute {key}={v:?} (want {w:?})")),
                    _ => {}
                }
            }
            if let Some(p) = &a.parent {
                let p = fill(p);
                match trace.spans.iter().find(|x| !s.parent_span_id.is_empty() && x.span_id == s.parent_span_id) {
                    None => bad.push(format!("span {name:?} has no parent span in the trace (want {p:?})")),
                    Some(x) if x.name != p => bad.push(format!("span {name:?} has parent {:?} (want {p:?})", x.name)),
                    _ => {}
                }
            }
            for c in &a.children {
                let c = fill(c);
                if !trace.children_of(s).any(|x| x.name == c) {
                    let kids: Vec<&str> = trace.children_of(s).map(|x| x.name.as_str()).collect();
                    bad.push(format!("no child span {c:?} under {name:?} (children: {})", list(&kids, 6)));
                }
            }
        }
    }
    bad.dedup();
    bad
}

async fn traces(store: TraceStore<'_>, source: &TraceSource, spans: &[SpanAssertion], record: &TrafficRecord, timeout: Duration) -> Verdict {
    match (&source.by_request, &source.search) {
        (Some(r), _) => by_request(store, r, spans, record, timeout).await,
        (None, Some(s)) => search(store, s, spans, record, timeout).await,
        (None, None) => Verdict::Failed { message: "traces: neither by_request nor search (hint: Scenario::load validates it)".into() },
    }
}

async fn by_request(store: TraceStore<'_>, requests: &Requests, spans: &[SpanAssertion], record: &TrafficRecord, timeout: Duration) -> Verdict {
    let filter: RequestFilter = requests.filter();
    let selected = requests.select(record);
    if selected.is_empty() {
        return Verdict::Failed { message: format!("no request sent matches {filter}: no trace to look up in {}", store.name()) };
    }
    // Trace ids whose trace satisfied every assertion: not fetched again.
    let done: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let wait = Eventually::new(format!("the traces of the {} request(s) matching {filter} in {}", selected.len(), store.name()))
        .with_timeout(timeout)
        .until(|| async {
            let mut problems = Vec::new();
            for s in &selected {
                if done.lock().expect("not poisoned").contains(&s.trace_id) {
                    continue;
                }
                let req = format!("{} ({} {} -> {})", s.trace_id, s.method, s.path, s.status);
                match store.trace(&s.trace_id).await {
                    Ok(None) => problems.push(format!("{req}: trace not found")),
                    Ok(Some(t)) => {
                        let bad = span_problems(&t, spans, Some(s));
                        if bad.is_empty() {
                            done.lock().expect("not poisoned").insert(s.trace_id.clone());
                        }
                        problems.extend(bad.into_iter().map(|p| format!("{req}: {p}")));
                    }
                    Err(err) => return poll_error(err),
                }
            }
            if problems.is_empty() { Poll::Ready(()) } else { Poll::Pending(list(&problems, 8)) }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed {
            detail: format!("the {} trace(s) of the requests matching {filter} are in {} with {} span assertion(s) holding", selected.len(), store.name(), spans.len()),
        },
        Err(err) => Verdict::Failed { message: format!("traces by request (looked up {}): {err}", store.by_id_url("<trace id>")) },
    }
}

/// The TraceQL of a search: the service, and the span name when given.
pub fn traceql(search: &TraceSearch) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match &search.span_name {
        Some(n) => format!("{{resource.service.name={} && name={}}}", q(&search.service), q(n)),
        None => TempoClient::service_query(&search.service),
    }
}

/// Traces of the search over `[start, end]`, each complete (Tempo: fetched by id, at most [`SEARCH_FETCH`]).
async fn found_traces(store: TraceStore<'_>, search: &TraceSearch, start: SystemTime, end: SystemTime, depth: u32) -> Result<Vec<Trace>, crate::backends::BackendError> {
    let mut traces = match store {
        TraceStore::Jaeger(c) => c.find_traces(&search.service, start, end, depth).await?,
        TraceStore::Tempo(c) => {
            let mut out = Vec::new();
            for f in c.search(&traceql(search), start, end, depth).await?.into_iter().take(SEARCH_FETCH) {
                if let Some(t) = c.trace(&f.trace_id).await? {
                    out.push(t);
                }
            }
            out
        }
    };
    if let Some(n) = &search.span_name {
        traces.retain(|t| t.span_named(n).is_some());
    }
    Ok(traces)
}

async fn search(store: TraceStore<'_>, search: &TraceSearch, spans: &[SpanAssertion], record: &TrafficRecord, timeout: Duration) -> Verdict {
    let (start, end) = record_window(record);
    let depth = (record.sent.len() as u32).saturating_mul(2).max(100);
    let count = search.count.unwrap_or(CountSpec::SOME);
    let what = match &search.span_name {
        Some(n) => format!("traces of service `{}` with a span {n:?}", search.service),
        None => format!("traces of service `{}`", search.service),
    };
    let url = match store {
        TraceStore::Jaeger(c) => c.url("/api/v3/traces", &c.search_query(&search.service, start, end, depth)),
        TraceStore::Tempo(c) => c.url("/api/search", &c.search_query(&traceql(search), start, end, depth)),
    };
    let wait = Eventually::new(format!("{count} {what} in {} satisfying {} span assertion(s)", store.name(), spans.len()))
        .with_timeout(timeout)
        .until(|| async {
            let found = match found_traces(store, search, start, end, depth).await {
                Ok(t) => t,
                Err(err) => return poll_error(err),
            };
            let mut good = 0u64;
            let mut problems = Vec::new();
            for t in &found {
                let bad = span_problems(t, spans, None);
                if bad.is_empty() {
                    good += 1;
                } else {
                    problems.extend(bad.into_iter().map(|p| format!("{}: {p}", t.trace_id)));
                }
            }
            let seen = format!("{} {what} found, {good} satisfy the span assertions", found.len());
            if count.matches(good) {
                Poll::Ready(seen)
            } else if problems.is_empty() {
                Poll::Pending(seen)
            } else {
                Poll::Pending(format!("{seen}; {}", list(&problems, 6)))
            }
        })
        .await;
    match wait {
        Ok(seen) => Verdict::Passed { detail: format!("{seen} (want {count})") },
        Err(err) => Verdict::Failed { message: format!("trace search ({url}): {err}") },
    }
}

// ---------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------

fn alerts_named<'a>(alerts: &'a [Alert], name: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.labels.get("alertname").map(String::as_str) == Some(name)).collect()
}

async fn alert(name: &str, ruler: Ruler, cause: &[Step], expectation: &str, ctx: &ExpectContext<'_>, timeout: Duration) -> Verdict {
    let (prometheus, loki) = match ruler {
        Ruler::Prometheus => match ctx.prometheus {
            Some(c) => (Some(c), None),
            None => return Verdict::NotRun { reason: "no Prometheus client (service not running)".into() },
        },
        Ruler::Loki => match ctx.loki {
            Some(c) => (None, Some(c)),
            None => return Verdict::NotRun { reason: "no Loki client (service not running)".into() },
        },
    };
    let (url, rules) = match (prometheus, loki) {
        (Some(p), _) => (p.url("/api/v1/alerts", &[]), p.rules().await),
        (_, Some(l)) => (l.url("/prometheus/api/v1/alerts", &[]), l.prometheus_rules().await),
        _ => unreachable!("one ruler client"),
    };
    // A rule that is not loaded can never fire: say so at once.
    if let Ok(rules) = &rules
        && !rules.rules().any(|(_, r)| r.kind == "alerting" && r.name == name) {
        let loaded: Vec<&str> = rules.rules().filter(|(_, r)| r.kind == "alerting").map(|(_, r)| r.name.as_str()).collect();
        return Verdict::Failed { message: format!("no alerting rule `{name}` is loaded (alerting rules: {}; looked at {url})", list(&loaded, 10)) };
    }
    let cause_scenario = Scenario {
        name: format!("expect.{expectation} cause"),
        concurrency: 4,
        steps: cause.to_vec(),
        causes: BTreeMap::new(),
        expect: Vec::new(),
    };
    let drive = async {
        match (cause.is_empty(), ctx.app_url) {
            (true, _) => Ok(None),
            (false, Some(app)) => traffic::drive(app, &cause_scenario).await.map(Some).map_err(Some),
            (false, None) => Err(None),
        }
    };
    let eventually = Eventually::new(format!("alert `{name}` firing")).with_timeout(timeout);
    let wait = eventually.until(|| async {
        let alerts = match (prometheus, loki) {
            (Some(p), _) => p.alerts().await,
            (_, Some(l)) => l.prometheus_alerts().await,
            _ => unreachable!("one ruler client"),
        };
        match alerts {
            Ok(all) => {
                let mine = alerts_named(&all, name);
                match mine.iter().find(|a| a.state == "firing") {
                    Some(a) => Poll::Ready(format!(
                        "alert `{name}` firing {} since {}",
                        fmt_labels(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                        a.active_at.as_deref().unwrap_or("?")
                    )),
                    None if mine.is_empty() => {
                        let active: Vec<String> =
                            all.iter().map(|a| format!("{}:{}", a.labels.get("alertname").map_or("?", String::as_str), a.state)).collect();
                        Poll::Pending(format!("`{name}` not active (active alerts: {})", list(&active, 8)))
                    }
                    None => Poll::Pending(format!("`{name}` states: {:?}", mine.iter().map(|a| a.state.as_str()).collect::<Vec<_>>())),
                }
            }
            Err(err) => poll_error(err),
        }
    });
    tokio::pin!(drive, wait);
    let mut sent: Option<Option<TrafficRecord>> = None;
    let result = loop {
        tokio::select! {
            r = &mut wait => break r,
            d = &mut drive, if sent.is_none() => match d {
                Ok(rec) => sent = Some(rec),
                Err(None) => return Verdict::NotRun { reason: format!("alert `{name}` has a cause but no app URL to send it to") },
                Err(Some(err)) => return Verdict::Failed { message: format!("could not send the cause of alert `{name}`: {err}") },
            },
        }
    };
    let cause_text = match (&sent, cause.is_empty()) {
        (_, true) => "no cause declared".to_owned(),
        (Some(Some(rec)), false) => format!("cause: {} request(s) sent", rec.sent.len()),
        _ => "cause still being sent".to_owned(),
    };
    match result {
        Ok(detail) => Verdict::Passed { detail: format!("{detail} ({cause_text})") },
        Err(err) => Verdict::Failed { message: format!("alert `{name}` did not fire ({url}; {cause_text}): {err}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::prometheus::{SamplePair, VectorSample};
    use crate::traffic::expectations::Comparison;

    fn vector(items: &[(&[(&str, &str)], f64)]) -> Vec<(Labels, f64)> {
        let r = QueryResult::Vector(
            items
                .iter()
                .map(|(l, v)| VectorSample {
                    metric: l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    value: SamplePair(0.0, v.to_string()),
                })
                .collect(),
        );
        series_of(&r)
    }

    #[test]
    fn increase_sums_series_and_survives_resets() {
        let before = vector(&[(&[("route", "/a")], 5.0), (&[("route", "/b")], 7.0)]);
        let after = vector(&[(&[("route", "/a")], 8.0), (&[("route", "/b")], 2.0), (&[("route", "/c")], 1.0)]);
        let f = RequestFilter::default();
        // 3 + 2 (reset: counts from 0) + 1 (new series).
        assert!(judge_promql(PromAssert::IncreaseByRequests(&f), &after, Some(&before), 6).is_ok());
        let e = judge_promql(PromAssert::IncreaseByRequests(&f), &after, Some(&before), 5).unwrap_err();
        assert!(e.starts_with("increase 6 over 3 series") && e.ends_with("want 5"), "{e}");
    }

    #[test]
    fn value_and_label_assertions_show_what_they_saw() {
        let s = vector(&[(&[("job", "a")], 1.0), (&[("job", "b")], 0.0)]);
        let e = judge_promql(PromAssert::Value(&Comparison::Ge(1.0)), &s, None, 0).unwrap_err();
        assert_eq!(e, "1 of 2 series: {job=\"a\"} = 1, {job=\"b\"} = 0");
        let names = vec!["job".to_owned(), "instance".to_owned()];
        let e = judge_promql(PromAssert::Labels(&names), &s, None, 0).unwrap_err();
        assert!(e.contains("{job=\"a\"} lacks instance"), "{e}");
        assert_eq!(judge_promql(PromAssert::Absent, &[], None, 0), Ok("no series".into()));
        assert!(judge_promql(PromAssert::Series(&CountSpec::Exactly(2)), &s, None, 0).is_ok());
    }
}
