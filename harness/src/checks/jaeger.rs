//! Jaeger checks (on the api_v3 gateway): the app's service is known, a
//! sample of the driver's trace ids are stored (found by id and by search)
//! with the server span `<METHOD> <route>` and its HTTP attributes, error
//! status on 5xx, the LLM child span `chat <model>` under `/llm/chat`, and
//! the collector's resource attributes on the span's resource. Also the
//! cross-signal [`correlate`]: one trace id in Jaeger, a Loki line and a
//! Prometheus exemplar.

use std::time::{Duration, SystemTime};

use crate::backends::jaeger::{Attributes, JaegerClient, SpanKind, Trace, normalise_id};
use crate::backends::tempo::TempoClient;
use crate::backends::loki::LokiClient;
use crate::backends::prometheus::PrometheusClient;
use crate::eventually::{Eventually, Poll};
use crate::traffic::{Sent, TrafficRecord};

use super::Verdict;
use super::prometheus::{list, poll_error};

/// `service` is listed by `/api/v3/services`.
pub async fn service_present(client: &JaegerClient, service: &str, timeout: Duration) -> Verdict {
    let url = client.url("/api/v3/services", &[]);
    let wait = Eventually::new(format!("service `{service}` in Jaeger"))
        .with_timeout(timeout)
        .until(|| async {
            match client.services().await {
                Ok(s) if s.iter().any(|x| x == service) => Poll::Ready(()),
                Ok(s) => Poll::Pending(format!("services: [{}]", s.join(", "))),
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed { detail: format!("service `{service}` reported spans") },
        Err(e) => Verdict::Failed { message: format!("service `{service}` missing at {url}: {e}") },
    }
}

/// What each stored trace must show.
#[derive(Debug, Clone)]
pub struct TraceExpectations {
    /// `service.name` of the app's process (`fastapi-backend`).
    pub service: String,
    /// Resource attributes that must be present with these values, e.g.
    /// `service.version=0.1.0`, `deployment.environment=dev`.
    pub process_tags: Vec<(String, String)>,
    /// Trace ids checked per handler.
    pub per_handler: usize,
}

impl Default for TraceExpectations {
    fn default() -> Self {
        Self {
            service: "fastapi-backend".into(),
            process_tags: vec![("service.version".into(), "0.1.0".into()), ("deployment.environment".into(), "dev".into())],
            per_handler: 5,
        }
    }
}

/// The server span's name: `<METHOD> <route>`, just `<METHOD>` without a route.
pub fn server_span_name(sent: &Sent) -> String {
    if sent.handler == "none" { sent.method.clone() } else { format!("{} {}", sent.method, sent.handler) }
}

/// What is wrong with `trace` for the request `sent` (empty when nothing).
pub fn trace_problems(trace: &Trace, sent: &Sent, exp: &TraceExpectations) -> Vec<String> {
    let mut bad = Vec::new();
    let name = server_span_name(sent);
    let Some(server) = trace.span_named(&name) else {
        let names: Vec<&str> = trace.spans.iter().map(|s| s.name.as_str()).collect();
        return vec![format!("no span named {name:?} (spans: {})", list(&names, 6))];
    };
    if server.kind != SpanKind::Server {
        bad.push(format!("span {name:?} has kind {:?} (want Server)", server.kind));
    }
    let want_attrs = [
        ("http.request.method", Some(sent.method.clone())),
        ("http.route", (sent.handler != "none").then(|| sent.handler.clone())),
        ("http.response.status_code", Some(sent.status.to_string())),
    ];
    for (key, want) in want_attrs {
        if let Some(want) = want {
            match server.attr(key) {
                Some(v) if v == want => {}
                Some(v) => bad.push(format!("span {name:?} attribute {key}={v:?} (want {want:?})")),
                None => bad.push(format!("span {name:?} lacks attribute {key} (want {want:?})")),
            }
        }
    }
    if sent.status >= 500 && !server.is_error() {
        bad.push(format!("span {name:?} of a {} response does not have error status (status.code 2)", sent.status));
    }
    if let Some(llm) = &sent.llm {
        let child = format!("chat {}", llm.model);
        match trace.children_of(server).find(|s| s.name == child) {
            None => bad.push(format!("no child span {child:?} under {name:?}")),
            Some(s) if s.attr("gen_ai.request.model").as_deref() != Some(llm.model.as_str()) => bad.push(format!(
                "span {child:?} attribute gen_ai.request.model={:?} (want {:?})",
                s.attr("gen_ai.request.model").unwrap_or_default(),
                llm.model
            )),
            Some(_) => {}
        }
    }
    match trace.resource_of(server) {
        None => bad.push(format!("span {name:?} has no resource")),
        Some(r) => {
            let service = r.service_name().unwrap_or_default();
            if service != exp.service {
                bad.push(format!("resource service.name={service:?} (want {:?})", exp.service));
            }
            for (k, v) in &exp.process_tags {
                match r.attr(k) {
                    Some(x) if &x == v => {}
                    Some(x) => bad.push(format!("resource attribute {k}={x:?} (want {v:?})")),
                    None => bad.push(format!("resource lacks attribute {k} (want {v:?})")),
                }
            }
        }
    }
    bad
}

/// Up to `per_handler` requests of each handler.
pub(crate) fn sample(record: &TrafficRecord, per_handler: usize) -> Vec<&Sent> {
    let mut count = std::collections::BTreeMap::<&str, usize>::new();
    record
        .sent
        .iter()
        .filter(|s| {
            let c = count.entry(s.handler.as_str()).or_default();
            *c += 1;
            *c <= per_handler
        })
        .collect()
}

/// A sample of the driver's trace ids (up to `exp.per_handler` per handler)
/// is stored, each with the expected spans and tags ([`trace_problems`]).
pub async fn traces_match(client: &JaegerClient, record: &TrafficRecord, exp: &TraceExpectations, timeout: Duration) -> Verdict {
    traces_match_in(TraceStore::Jaeger(client), record, exp, timeout).await
}

/// [`traces_match`] in any trace store the model knows (Jaeger, Tempo).
pub async fn traces_match_in(store: TraceStore<'_>, record: &TrafficRecord, exp: &TraceExpectations, timeout: Duration) -> Verdict {
    let sampled = sample(record, exp.per_handler);
    if sampled.is_empty() {
        return Verdict::NotRun { reason: format!("scenario `{}` sent no requests", record.scenario) };
    }
    let wait = Eventually::new(format!("{} sampled trace(s) in {} with the expected spans", sampled.len(), store.name()))
        .with_timeout(timeout)
        .until(|| async {
            let mut problems = Vec::new();
            for s in &sampled {
                match store.trace(&s.trace_id).await {
                    Ok(None) => problems.push(format!("{} ({} {} -> {}): trace not found", s.trace_id, s.method, s.path, s.status)),
                    Ok(Some(t)) => {
                        for p in trace_problems(&t, s, exp) {
                            problems.push(format!("{} ({} {}): {p}", s.trace_id, s.method, s.path));
                        }
                    }
                    Err(e) => return poll_error(e),
                }
            }
            if problems.is_empty() { Poll::Ready(()) } else { Poll::Pending(list(&problems, 8)) }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed {
            detail: format!("{} sampled trace(s) stored with server spans, HTTP tags, LLM child spans and resource tags", sampled.len()),
        },
        Err(e) => Verdict::Failed {
            message: format!("traces do not match the requests sent (looked up {}): {e}", store.by_id_url("<id>")),
        },
    }
}

/// Where traces are stored: the trace store of the stack (Jaeger's api_v3, Tempo's API).
#[derive(Debug, Clone, Copy)]
pub enum TraceStore<'a> {
    Jaeger(&'a JaegerClient),
    Tempo(&'a TempoClient),
}

impl TraceStore<'_> {
    /// `Jaeger` / `Tempo`, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            TraceStore::Jaeger(_) => "Jaeger",
            TraceStore::Tempo(_) => "Tempo",
        }
    }

    /// `jaeger` / `tempo`, for check names and correlation parts.
    pub fn id(&self) -> &'static str {
        match self {
            TraceStore::Jaeger(_) => "jaeger",
            TraceStore::Tempo(_) => "tempo",
        }
    }

    /// The by-id URL of `trace_id`.
    pub fn by_id_url(&self, trace_id: &str) -> String {
        match self {
            TraceStore::Jaeger(c) => c.url(&format!("/api/v3/traces/{trace_id}"), &[]),
            TraceStore::Tempo(c) => c.url(&format!("/api/v2/traces/{trace_id}"), &[]),
        }
    }

    /// A trace by id; `None` when the store has none.
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Trace>, crate::backends::BackendError> {
        match self {
            TraceStore::Jaeger(c) => c.trace(trace_id).await,
            TraceStore::Tempo(c) => c.trace(trace_id).await,
        }
    }
}

/// The sampled trace ids are also found by searching for `exp.service` over
/// the traffic's window (what a person does in the Jaeger UI or Grafana's
/// Jaeger search).
pub async fn traces_searchable(client: &JaegerClient, record: &TrafficRecord, exp: &TraceExpectations, timeout: Duration) -> Verdict {
    let sampled = sample(record, exp.per_handler);
    if sampled.is_empty() {
        return Verdict::NotRun { reason: format!("scenario `{}` sent no requests", record.scenario) };
    }
    let (start, end) = super::prometheus::record_window(record);
    // Every trace of the window, so the sample is not cut by the depth.
    let depth = (record.sent.len() as u32).saturating_mul(2).max(100);
    let url = client.url("/api/v3/traces", &client.search_query(&exp.service, start, end, depth));
    let wait = Eventually::new(format!("{} sampled trace(s) found by searching service `{}`", sampled.len(), exp.service))
        .with_timeout(timeout)
        .until(|| async {
            match client.find_traces(&exp.service, start, end, depth).await {
                Ok(found) => all_sampled_found(found.iter().map(|t| t.trace_id.clone()), &sampled),
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed { detail: format!("search for service `{}` returned {n} trace(s), every sampled id among them", exp.service) },
        Err(e) => Verdict::Failed { message: format!("sampled traces not found by search at {url}: {e}") },
    }
}

/// Ready with the number of traces a search found once every sampled id is among
/// them (ids compared as normalised hex); else what is missing.
pub(crate) fn all_sampled_found(found: impl Iterator<Item = String>, sampled: &[&Sent]) -> Poll<usize> {
    let ids: std::collections::BTreeSet<String> = found.map(|id| normalise_id(&id)).collect();
    let missing: Vec<&str> = sampled.iter().filter(|s| !ids.contains(&normalise_id(&s.trace_id))).map(|s| s.trace_id.as_str()).collect();
    if missing.is_empty() {
        Poll::Ready(ids.len())
    } else {
        Poll::Pending(format!("search returned {} trace(s); {} sampled id(s) missing: {}", ids.len(), missing.len(), list(&missing, 4)))
    }
}

/// One trace id is stored in Jaeger (any spans).
pub async fn trace_present(client: &JaegerClient, trace_id: &str, timeout: Duration) -> Verdict {
    trace_present_in(TraceStore::Jaeger(client), trace_id, timeout).await
}

/// One trace id is stored in the trace store (any spans).
pub async fn trace_present_in(store: TraceStore<'_>, trace_id: &str, timeout: Duration) -> Verdict {
    let url = store.by_id_url(trace_id);
    let wait = Eventually::new(format!("trace {trace_id} in {}", store.name()))
        .with_timeout(timeout)
        .until(|| async {
            match store.trace(trace_id).await {
                Ok(Some(t)) => Poll::Ready(format!(
                    "trace with {} span(s): {}",
                    t.spans.len(),
                    list(&t.spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), 5)
                )),
                Ok(None) => Poll::Pending("trace not found".into()),
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed { message: format!("trace {trace_id} missing at {url}: {e}") },
    }
}

/// Where [`correlate`] looks.
#[derive(Debug, Clone)]
pub struct CorrelateOptions {
    /// Loki stream selector of the app, e.g. `{service="app"}`.
    pub loki_selector: String,
    /// Prometheus job of the app.
    pub job: String,
    pub start: SystemTime,
    pub end: SystemTime,
    /// Per signal.
    pub timeout: Duration,
}

impl CorrelateOptions {
    /// The bundled stack's selectors over the window of `record` (a minute of slack).
    pub fn for_record(record: &TrafficRecord, timeout: Duration) -> Self {
        let (start, end) = super::prometheus::record_window(record);
        Self { loki_selector: "{service=\"app\"}".into(), job: "fastapi".into(), start, end, timeout }
    }

    /// The stack's own Loki selector and Prometheus job.
    pub fn with_selectors(mut self, loki_selector: &str, job: &str) -> Self {
        self.loki_selector = loki_selector.to_owned();
        self.job = job.to_owned();
        self
    }
}

/// The same trace id in Jaeger, in a Loki log line, and on a Prometheus
/// exemplar. A backend whose client is `None` is not run; the verdict is
/// passed only if every part that ran passed, and lists the parts not run.
pub async fn correlate(
    trace_id: &str,
    jaeger: Option<&JaegerClient>,
    loki: Option<&LokiClient>,
    prometheus: Option<&PrometheusClient>,
    opts: &CorrelateOptions,
) -> Verdict {
    correlate_in(trace_id, jaeger.map(TraceStore::Jaeger), loki, prometheus, opts).await
}

/// [`correlate`] with whichever trace store the stack has (Jaeger or Tempo).
pub async fn correlate_in(
    trace_id: &str,
    store: Option<TraceStore<'_>>,
    loki: Option<&LokiClient>,
    prometheus: Option<&PrometheusClient>,
    opts: &CorrelateOptions,
) -> Verdict {
    let not_run = |what: &str| Verdict::NotRun { reason: format!("no {what} client (service not running)") };
    let part = store.map_or("jaeger", |s| s.id());
    let (j, l, p) = futures::join!(
        async {
            match store {
                Some(s) => trace_present_in(s, trace_id, opts.timeout).await,
                None => not_run("Jaeger"),
            }
        },
        async {
            match loki {
                Some(c) => super::loki::line_for_trace(c, trace_id, &opts.loki_selector, opts.start, opts.end, opts.timeout).await,
                None => not_run("Loki"),
            }
        },
        async {
            match prometheus {
                Some(c) => super::prometheus::exemplar_for_trace(c, trace_id, &opts.job, opts.start, opts.end, opts.timeout).await,
                None => not_run("Prometheus"),
            }
        },
    );
    combine(trace_id, &[(part, j), ("loki", l), ("prometheus", p)])
}

/// Folds per-signal verdicts into one.
pub fn combine(trace_id: &str, parts: &[(&str, Verdict)]) -> Verdict {
    let pick = |f: fn(&Verdict) -> bool| -> Vec<String> {
        parts.iter().filter(|(_, v)| f(v)).map(|(n, v)| format!("{n}: {}", v.text())).collect()
    };
    let failed = pick(Verdict::is_failed);
    let passed = pick(Verdict::is_passed);
    let not_run = pick(|v| matches!(v, Verdict::NotRun { .. }));
    if !failed.is_empty() {
        let mut m = format!("trace id {trace_id} does not correlate across signals: {}", failed.join("; "));
        if !passed.is_empty() {
            m.push_str(&format!(" (found in {})", passed.iter().map(|p| p.split(':').next().unwrap_or_default()).collect::<Vec<_>>().join(", ")));
        }
        if !not_run.is_empty() {
            m.push_str(&format!(" (not run: {})", not_run.join("; ")));
        }
        Verdict::Failed { message: m }
    } else if passed.is_empty() {
        Verdict::NotRun { reason: format!("no signal checked for {trace_id}: {}", not_run.join("; ")) }
    } else {
        let mut d = format!("trace id {trace_id} found in {}", passed.join("; "));
        if !not_run.is_empty() {
            d.push_str(&format!(" (not run: {})", not_run.join("; ")));
        }
        Verdict::Passed { detail: d }
    }
}
