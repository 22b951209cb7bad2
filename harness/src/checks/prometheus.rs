//! Prometheus checks: the app's target is up, `http_requests_total` grew by
//! exactly what the driver sent, the histogram / process / LLM families are
//! exposed, and exemplars carry trace ids the driver chose.
//!
//! Scrapes lag traffic, so every check polls through [`Eventually`] with the
//! caller's timeout (allow at least two scrape intervals). Bucket bounds are
//! compared as numbers: Prometheus 2 reports `le="1"`, Prometheus 3 `le="1.0"`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::backends::BackendError;
use crate::backends::prometheus::{Labels, PrometheusClient, parse_le};
use crate::eventually::{Eventually, Poll};
use crate::traffic::{SeriesKey, TrafficRecord};

use super::Verdict;

/// Handlers that receive traffic besides the driver's (Prometheus scraping
/// `/metrics`, the container healthcheck probing `/healthz`): their increase
/// must be at least what the driver sent, and their other series may grow.
pub const BACKGROUND_HANDLERS: &[&str] = &["/metrics", "/healthz"];

/// The request-duration histogram's bucket bounds in the reference app.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, f64::INFINITY];

/// The `process_*` family of the Python client's `ProcessCollector`.
pub const PROCESS_METRICS: &[&str] = &[
    "process_cpu_seconds_total",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
    "process_open_fds",
    "process_max_fds",
];

/// `http_requests_total` per `(handler, method, status)` at one moment.
pub type CounterSnapshot = BTreeMap<SeriesKey, f64>;

/// Turns a backend error into a poll answer: errors that waiting cannot fix
/// (the API rejected the query, the body has another shape) are fatal.
pub(crate) fn poll_error<T>(e: BackendError) -> Poll<T> {
    match e {
        BackendError::Api { .. } | BackendError::Decode { .. } => Poll::Fatal(e.to_string()),
        BackendError::Status { status, .. } if (400..500).contains(&status) && status != 404 && status != 429 => {
            Poll::Fatal(e.to_string())
        }
        _ => Poll::Pending(e.to_string()),
    }
}

/// `{a="1",b="2"}`.
pub(crate) fn fmt_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = labels.into_iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(","))
}

fn fmt_key(k: &SeriesKey) -> String {
    fmt_labels([("handler", k.0.as_str()), ("method", k.1.as_str()), ("status", k.2.as_str())])
}

fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

/// Up to `n` items, then `… (+k more)`.
pub(crate) fn list<T: std::fmt::Display>(items: &[T], n: usize) -> String {
    let mut s: Vec<String> = items.iter().take(n).map(|i| i.to_string()).collect();
    if items.len() > n {
        s.push(format!("… (+{} more)", items.len() - n));
    }
    if s.is_empty() { "none".into() } else { s.join(", ") }
}

/// A scrape error that may mend by itself (the target not yet, or no longer, reachable).
fn transient(error: &str) -> bool {
    ["dial tcp", "no such host", "connection refused", "i/o timeout", "context deadline exceeded", "EOF", "connection reset"].iter().any(|t| error.contains(t))
}

/// Failed scrapes (each with an error) after which a down target is a verdict.
pub const DOWN_SCRAPES: usize = 3;

/// A target of `job` reports `health: up`. The detail names its scrape URL.
/// A target that is down with an error waiting cannot mend (an HTTP status such
/// as a wrong `metrics_path`'s 404) for [`DOWN_SCRAPES`] distinct scrapes fails
/// at once (a broken scrape path used to take the whole 60 s); refused
/// connections and unknown hosts, which a starting container shows, keep waiting.
pub async fn target_up(client: &PrometheusClient, job: &str, timeout: Duration) -> Verdict {
    let url = client.url("/api/v1/targets", &[]);
    // Distinct failed scrapes seen per target (by their lastScrape time): after
    // DOWN_SCRAPES of them with an error, waiting longer cannot help.
    let failed_scrapes: std::sync::Mutex<std::collections::BTreeMap<String, std::collections::BTreeSet<String>>> = Default::default();
    let wait = Eventually::new(format!("a target of job `{job}` with health \"up\""))
        .with_timeout(timeout)
        .until(|| async {
            let targets = match client.targets().await {
                Ok(t) => t,
                Err(e) => return poll_error(e),
            };
            let of_job: Vec<_> = targets.active_targets.iter().filter(|t| t.job() == job).collect();
            if let Some(t) = of_job.iter().find(|t| t.health == "up") {
                return Poll::Ready(format!(
                    "job `{job}`: target {} is up (scrapeUrl {}, last scrape {})",
                    t.labels.get("instance").map_or("?", String::as_str),
                    t.scrape_url,
                    t.last_scrape
                ));
            }
            if of_job.is_empty() {
                let others: Vec<String> =
                    targets.active_targets.iter().map(|t| format!("{}={} ({})", t.job(), t.health, t.scrape_url)).collect();
                Poll::Pending(format!("no active target of job `{job}`; active targets: {}", list(&others, 10)))
            } else {
                let seen: Vec<String> = of_job
                    .iter()
                    .map(|t| format!("{} health={} lastError={:?}", t.scrape_url, t.health, t.last_error))
                    .collect();
                let mut failed = failed_scrapes.lock().expect("not poisoned");
                // Only errors waiting cannot mend are final (an HTTP status, a body that is no
                // exposition); a refused connection or an unknown host may be a container still
                // starting or restarting, so those keep waiting until the timeout.
                for t in of_job.iter().filter(|t| t.health == "down" && !t.last_error.is_empty() && !transient(&t.last_error)) {
                    failed.entry(t.scrape_url.clone()).or_default().insert(t.last_scrape.clone());
                }
                let all_down = of_job.iter().all(|t| failed.get(&t.scrape_url).is_some_and(|s| s.len() >= DOWN_SCRAPES));
                if all_down {
                    return Poll::Fatal(format!("every target of job `{job}` failed {DOWN_SCRAPES} scrapes in a row: {}", list(&seen, 5)));
                }
                Poll::Pending(list(&seen, 5))
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed { message: format!("no target of job `{job}` is up at {url}: {e}") },
    }
}

fn counter_expr(job: &str) -> String {
    format!("sum by (handler, method, status) (http_requests_total{{job={job:?}}})")
}

/// The current value of every `http_requests_total` series of `job`, summed
/// over instances. Take one before the traffic and hand it to
/// [`requests_match_traffic`].
pub async fn counter_snapshot(client: &PrometheusClient, job: &str) -> Result<CounterSnapshot, BackendError> {
    let result = client.query(&counter_expr(job)).await?;
    let mut snap = CounterSnapshot::new();
    for s in result.vector() {
        let get = |k: &str| s.metric.get(k).cloned().unwrap_or_default();
        *snap.entry((get("handler"), get("method"), get("status"))).or_insert(0.0) += s.value.value().unwrap_or(0.0);
    }
    Ok(snap)
}

/// Compares the increase `after - before` with what was sent; `None` when they match.
fn traffic_mismatches(expected: &BTreeMap<SeriesKey, u64>, before: &CounterSnapshot, after: &CounterSnapshot) -> Vec<String> {
    let increase = |k: &SeriesKey| {
        let (b, a) = (before.get(k).copied().unwrap_or(0.0), after.get(k).copied().unwrap_or(0.0));
        // A counter reset (app restarted) starts again from 0.
        if a < b { a } else { a - b }
    };
    let background = |k: &SeriesKey| BACKGROUND_HANDLERS.contains(&k.0.as_str());
    let mut out = Vec::new();
    for (k, sent) in expected {
        let inc = increase(k);
        let sent = *sent as f64;
        if !after.contains_key(k) {
            out.push(format!("series {} missing (sent {})", fmt_key(k), fmt_num(sent)));
        } else if (background(k) && inc < sent) || (!background(k) && inc != sent) {
            out.push(format!("series {}: sent {}, increase {}", fmt_key(k), fmt_num(sent), fmt_num(inc)));
        }
    }
    for k in after.keys().filter(|k| !expected.contains_key(*k) && !background(k)) {
        let inc = increase(k);
        if inc > 0.0 {
            out.push(format!("series {}: not sent, increase {}", fmt_key(k), fmt_num(inc)));
        }
    }
    out
}

/// `http_requests_total{job}` grew by exactly what the driver sent, per
/// `(handler, method, status)` series, since `before` was taken
/// ([`counter_snapshot`]). Handlers in [`BACKGROUND_HANDLERS`] must grow by
/// at least what was sent.
pub async fn requests_match_traffic(
    client: &PrometheusClient,
    record: &TrafficRecord,
    job: &str,
    before: &CounterSnapshot,
    timeout: Duration,
) -> Verdict {
    let expected = record.counts();
    let expr = counter_expr(job);
    let url = client.url("/api/v1/query", &[("query", expr.clone())]);
    let wait = Eventually::new(format!("the increase of http_requests_total{{job={job:?}}} to equal the {} request(s) sent", record.sent.len()))
        .with_timeout(timeout)
        .until(|| async {
            let after = match counter_snapshot(client, job).await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            let bad = traffic_mismatches(&expected, before, &after);
            if bad.is_empty() { Poll::Ready(after) } else { Poll::Pending(list(&bad, 12)) }
        })
        .await;
    match wait {
        Ok(_) => Verdict::Passed {
            detail: format!(
                "http_requests_total{{job={job:?}}} grew by exactly the {} request(s) sent, over {} series",
                record.sent.len(),
                expected.len()
            ),
        },
        Err(e) => Verdict::Failed {
            message: format!("http_requests_total does not match the traffic sent (query `{expr}` at {url}): {e}"),
        },
    }
}

/// Series of `job` whose name matches the regex `names`, fetched with one instant query.
async fn families(client: &PrometheusClient, job: &str, names: &str) -> Result<Vec<(String, Labels, f64)>, BackendError> {
    let expr = format!("{{job={job:?},__name__=~{names:?}}}");
    let r = client.query(&expr).await?;
    Ok(r.vector()
        .iter()
        .map(|s| {
            let mut m = s.metric.clone();
            let name = m.remove("__name__").unwrap_or_default();
            (name, m, s.value.value().unwrap_or(f64::NAN))
        })
        .collect())
}

fn same_le(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() < 1e-9
}

/// `http_request_duration_seconds` has `_bucket` (with every bound of
/// `buckets`, `le` compared numerically so `"1"` and `"1.0"` match), `_sum`
/// and `_count` for every `(handler, method)` the driver sent, and the
/// `+Inf` bucket equals `_count`.
pub async fn histogram_families_present(
    client: &PrometheusClient,
    record: &TrafficRecord,
    job: &str,
    buckets: &[f64],
    timeout: Duration,
) -> Verdict {
    let family = "http_request_duration_seconds";
    let expr = format!("{{job={job:?},__name__=~\"{family}_(bucket|sum|count)\"}}");
    let url = client.url("/api/v1/query", &[("query", expr.clone())]);
    let wanted: BTreeSet<(String, String)> = record.sent.iter().map(|s| (s.handler.clone(), s.method.clone())).collect();
    let wait = Eventually::new(format!("{family}_bucket/_sum/_count for {} (handler, method) pair(s)", wanted.len()))
        .with_timeout(timeout)
        .until(|| async {
            let series = match families(client, job, &format!("{family}_(bucket|sum|count)")).await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            let mut missing = Vec::new();
            for (handler, method) in &wanted {
                let of = |name: &str| {
                    series
                        .iter()
                        .filter(|(n, l, _)| n == name && l.get("handler") == Some(handler) && l.get("method") == Some(method))
                        .collect::<Vec<_>>()
                };
                let sel = fmt_labels([("handler", handler.as_str()), ("method", method.as_str())]);
                let bucket = of(&format!("{family}_bucket"));
                let les: Vec<(f64, f64)> =
                    bucket.iter().filter_map(|(_, l, v)| l.get("le").and_then(|le| parse_le(le)).map(|le| (le, *v))).collect();
                for want in buckets {
                    if !les.iter().any(|(le, _)| same_le(*le, *want)) {
                        let seen: Vec<&str> = bucket.iter().filter_map(|(_, l, _)| l.get("le").map(String::as_str)).collect();
                        missing.push(format!("{family}_bucket{sel} le={} (seen le: {})", fmt_num(*want), list(&seen, 8)));
                    }
                }
                let (sum, count) = (of(&format!("{family}_sum")), of(&format!("{family}_count")));
                if sum.is_empty() {
                    missing.push(format!("{family}_sum{sel}"));
                }
                match (count.first(), les.iter().find(|(le, _)| le.is_infinite())) {
                    (None, _) => missing.push(format!("{family}_count{sel}")),
                    (Some((_, _, c)), Some((_, inf))) if c != inf => {
                        missing.push(format!("{family}_count{sel} = {} but le=\"+Inf\" bucket = {}", fmt_num(*c), fmt_num(*inf)))
                    }
                    _ => {}
                }
            }
            if missing.is_empty() { Poll::Ready(series.len()) } else { Poll::Pending(format!("missing: {}", list(&missing, 10))) }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed {
            detail: format!("{family} has buckets {:?}, _sum and _count for {} (handler, method) pair(s) ({n} series)", buckets, wanted.len()),
        },
        Err(e) => Verdict::Failed { message: format!("{family} histogram incomplete (query `{expr}` at {url}): {e}") },
    }
}

/// Every metric of [`PROCESS_METRICS`] is exposed by `job`.
pub async fn process_metrics_present(client: &PrometheusClient, job: &str, timeout: Duration) -> Verdict {
    let expr = format!("{{job={job:?},__name__=~\"process_.*\"}}");
    let url = client.url("/api/v1/query", &[("query", expr.clone())]);
    let wait = Eventually::new(format!("the process_* metrics of job `{job}`"))
        .with_timeout(timeout)
        .until(|| async {
            let series = match families(client, job, "process_.*").await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            let names: BTreeSet<&str> = series.iter().map(|(n, _, _)| n.as_str()).collect();
            let missing: Vec<&str> = PROCESS_METRICS.iter().copied().filter(|m| !names.contains(m)).collect();
            if missing.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("missing: {}; present: {}", missing.join(", "), list(&names.into_iter().collect::<Vec<_>>(), 10)))
            }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed { detail: format!("job `{job}` exposes {}", PROCESS_METRICS.join(", ")) },
        Err(e) => Verdict::Failed { message: format!("process metrics missing (query `{expr}` at {url}): {e}") },
    }
}

/// The `llm_*` families for every `(model, provider)` the scenario exercised:
/// `llm_calls_total` and `llm_latency_seconds_count` at least the calls sent,
/// `llm_latency_seconds_bucket` (with `+Inf`) and `_sum`, `llm_tokens_total`
/// with `type="prompt"` (and `type="completion"` when a call succeeded), and
/// `llm_errors_total{reason}` at least the failures sent. "At least": the
/// counters are cumulative over the app's life, earlier runs included.
pub async fn llm_families_match(client: &PrometheusClient, record: &TrafficRecord, job: &str, timeout: Duration) -> Verdict {
    let (calls, errors) = record.llm_counts();
    if calls.is_empty() {
        return Verdict::NotRun { reason: format!("scenario `{}` made no LLM calls", record.scenario) };
    }
    let successes: BTreeSet<(String, String)> = record
        .sent
        .iter()
        .filter_map(|s| s.llm.as_ref())
        .filter(|l| l.fail.is_none())
        .map(|l| (l.model.clone(), l.provider.clone()))
        .collect();
    let expr = format!("{{job={job:?},__name__=~\"llm_.*\"}}");
    let url = client.url("/api/v1/query", &[("query", expr.clone())]);
    let wait = Eventually::new(format!("the llm_* families for {} (model, provider) pair(s)", calls.len()))
        .with_timeout(timeout)
        .until(|| async {
            let series = match families(client, job, "llm_.*").await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            // Sum over the labels not compared (endpoint, instance).
            let total = |name: &str, model: &str, provider: &str, extra: Option<(&str, &str)>| -> Option<f64> {
                let hits: Vec<f64> = series
                    .iter()
                    .filter(|(n, l, _)| {
                        n == name
                            && l.get("model").map(String::as_str) == Some(model)
                            && l.get("provider").map(String::as_str) == Some(provider)
                            && extra.is_none_or(|(k, v)| l.get(k).is_some_and(|x| x == v || (k == "le" && parse_le(x) == parse_le(v))))
                    })
                    .map(|(_, _, v)| *v)
                    .collect();
                (!hits.is_empty()).then(|| hits.iter().sum())
            };
            let mut bad = Vec::new();
            for ((model, provider), sent) in &calls {
                let sel = fmt_labels([("model", model.as_str()), ("provider", provider.as_str())]);
                let sent = *sent as f64;
                for name in ["llm_calls_total", "llm_latency_seconds_count"] {
                    match total(name, model, provider, None) {
                        None => bad.push(format!("{name}{sel} missing (sent {})", fmt_num(sent))),
                        Some(v) if v < sent => bad.push(format!("{name}{sel} = {} < {} sent", fmt_num(v), fmt_num(sent))),
                        _ => {}
                    }
                }
                if total("llm_latency_seconds_sum", model, provider, None).is_none() {
                    bad.push(format!("llm_latency_seconds_sum{sel} missing"));
                }
                if total("llm_latency_seconds_bucket", model, provider, Some(("le", "+Inf"))).is_none() {
                    bad.push(format!("llm_latency_seconds_bucket{sel} with le=\"+Inf\" missing"));
                }
                let mut types = vec!["prompt"];
                if successes.contains(&(model.clone(), provider.clone())) {
                    types.push("completion");
                }
                for t in types {
                    if total("llm_tokens_total", model, provider, Some(("type", t))).is_none() {
                        bad.push(format!("llm_tokens_total{sel} with type={t:?} missing"));
                    }
                }
            }
            for ((model, provider, reason), sent) in &errors {
                let sel = fmt_labels([("model", model.as_str()), ("provider", provider.as_str()), ("reason", reason.as_str())]);
                match total("llm_errors_total", model, provider, Some(("reason", reason))) {
                    None => bad.push(format!("llm_errors_total{sel} missing (sent {sent})")),
                    Some(v) if v < *sent as f64 => bad.push(format!("llm_errors_total{sel} = {} < {sent} sent", fmt_num(v))),
                    _ => {}
                }
            }
            if bad.is_empty() { Poll::Ready(()) } else { Poll::Pending(list(&bad, 10)) }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed {
            detail: format!(
                "llm_* families present for {} (model, provider) pair(s) and {} failure reason(s)",
                calls.len(),
                errors.len()
            ),
        },
        Err(e) => Verdict::Failed { message: format!("LLM metrics do not match the calls sent (query `{expr}` at {url}): {e}") },
    }
}

/// `(series labels, trace id)` of every exemplar on `expr` between `start` and `end`.
pub async fn exemplar_trace_ids(
    client: &PrometheusClient,
    expr: &str,
    start: SystemTime,
    end: SystemTime,
) -> Result<Vec<(Labels, String)>, BackendError> {
    let series = client.query_exemplars(expr, start, end).await?;
    Ok(series
        .iter()
        .flat_map(|s| s.exemplars.iter().filter_map(|e| e.trace_id().map(|t| (s.series_labels.clone(), t.to_owned()))))
        .collect())
}

/// The query window of a record: a minute of slack either side.
pub(crate) fn record_window(record: &TrafficRecord) -> (SystemTime, SystemTime) {
    let slack = Duration::from_secs(60);
    (record.started.checked_sub(slack).unwrap_or(record.started), record.finished.max(SystemTime::now()) + slack)
}

/// At least one exemplar on `http_request_duration_seconds_bucket{job}` over
/// the scenario's window carries a trace id the driver sent.
pub async fn exemplar_has_trace(client: &PrometheusClient, record: &TrafficRecord, job: &str, timeout: Duration) -> Verdict {
    let sent: BTreeSet<&str> = record.sent.iter().map(|s| s.trace_id.as_str()).collect();
    let expr = format!("http_request_duration_seconds_bucket{{job={job:?}}}");
    let (start, end) = record_window(record);
    let url = client.url(
        "/api/v1/query_exemplars",
        &[("query", expr.clone()), ("start", crate::backends::unix_seconds(start)), ("end", crate::backends::unix_seconds(end))],
    );
    let wait = Eventually::new(format!("an exemplar carrying one of the {} trace id(s) sent", sent.len()))
        .with_timeout(timeout)
        .until(|| async {
            let seen = match exemplar_trace_ids(client, &expr, start, end).await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            let hits: Vec<&(Labels, String)> = seen.iter().filter(|(_, t)| sent.contains(t.as_str())).collect();
            if let Some((labels, id)) = hits.first() {
                Poll::Ready(format!(
                    "{} of {} exemplar(s) carry a trace id the driver sent, e.g. {id} on {}",
                    hits.len(),
                    seen.len(),
                    fmt_labels(labels.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| (k.as_str(), v.as_str())))
                ))
            } else {
                let ids: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
                Poll::Pending(format!("{} exemplar(s), none with a sent trace id; seen trace ids: {}", seen.len(), list(&ids, 8)))
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed {
            message: format!("no exemplar of {expr} carries a trace id the driver sent (queried {url}): {e}"),
        },
    }
}

/// One trace id is an exemplar of `http_request_duration_seconds_bucket{job}`
/// between `start` and `end` (used by cross-signal correlation).
pub async fn exemplar_for_trace(
    client: &PrometheusClient,
    trace_id: &str,
    job: &str,
    start: SystemTime,
    end: SystemTime,
    timeout: Duration,
) -> Verdict {
    let expr = format!("http_request_duration_seconds_bucket{{job={job:?}}}");
    let url = client.url("/api/v1/query_exemplars", &[("query", expr.clone())]);
    let wait = Eventually::new(format!("an exemplar with trace_id {trace_id}"))
        .with_timeout(timeout)
        .until(|| async {
            match exemplar_trace_ids(client, &expr, start, end).await {
                Ok(seen) => match seen.iter().find(|(_, t)| t == trace_id) {
                    Some((l, _)) => Poll::Ready(format!(
                        "exemplar on {expr} handler={:?} le={:?}",
                        l.get("handler").map_or("", String::as_str),
                        l.get("le").map_or("", String::as_str)
                    )),
                    None => {
                        let ids: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
                        Poll::Pending(format!("{} exemplar(s); seen trace ids: {}", seen.len(), list(&ids, 8)))
                    }
                },
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed { message: format!("trace id {trace_id} is no exemplar of {expr} (queried {url}): {e}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_name_the_series() {
        let k = |h: &str, s: &str| (h.to_owned(), "GET".to_owned(), s.to_owned());
        let expected = BTreeMap::from([(k("/items/{item_id}", "2xx"), 3), (k("/healthz", "2xx"), 1)]);
        let before = CounterSnapshot::from([(k("/items/{item_id}", "2xx"), 2.0), (k("/healthz", "2xx"), 5.0), (k("/metrics", "2xx"), 1.0)]);
        let after = CounterSnapshot::from([(k("/items/{item_id}", "2xx"), 5.0), (k("/healthz", "2xx"), 9.0), (k("/metrics", "2xx"), 7.0)]);
        assert!(traffic_mismatches(&expected, &before, &after).is_empty());
        let after = CounterSnapshot::from([(k("/items/{item_id}", "2xx"), 4.0), (k("/healthz", "2xx"), 5.0), (k("/error", "5xx"), 1.0)]);
        let bad = traffic_mismatches(&expected, &before, &after);
        assert_eq!(
            bad,
            [
                "series {handler=\"/healthz\",method=\"GET\",status=\"2xx\"}: sent 1, increase 0",
                "series {handler=\"/items/{item_id}\",method=\"GET\",status=\"2xx\"}: sent 3, increase 2",
                "series {handler=\"/error\",method=\"GET\",status=\"5xx\"}: not sent, increase 1",
            ]
        );
    }
}
