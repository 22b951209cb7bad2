//! Loki checks: the app container's stream carries the Promtail labels
//! (`job`, `container`, `service`, `env`, `version`), the scenario's request
//! log lines arrived with the trace ids the driver chose, containers without
//! `logging=promtail` are absent, and the stack's tenant is enforced.
//!
//! Every message names the tenant queried (`X-Scope-OrgID`), the LogQL or
//! selector, and the URL.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::backends::loki::LokiClient;
use crate::eventually::{Eventually, Poll};
use crate::traffic::TrafficRecord;

use super::Verdict;
use super::prometheus::{fmt_labels, list, poll_error, record_window};

fn tenant(client: &LokiClient) -> String {
    client.tenant().map_or("no tenant header".into(), |t| format!("tenant `{t}`"))
}

/// A stream of `container` exists with exactly the `expected` label values
/// (e.g. `job=docker`, `service=app`, `env=dev`, `version=0.1.0`), seen
/// within `lookback` of now.
pub async fn stream_labelled(
    client: &LokiClient,
    container: &str,
    expected: &[(&str, &str)],
    lookback: Duration,
    timeout: Duration,
) -> Verdict {
    let selector = format!("{{container={container:?}}}");
    let url = client.url("/loki/api/v1/series", &[("match[]", selector.clone())]);
    let wait = Eventually::new(format!("a Loki stream of container `{container}` labelled {}", fmt_labels(expected.iter().copied())))
        .with_timeout(timeout)
        .until(|| async {
            let now = SystemTime::now();
            let series = match client.series(&[&selector], now.checked_sub(lookback).unwrap_or(now), now).await {
                Ok(s) => s,
                Err(e) => return poll_error(e),
            };
            if series.is_empty() {
                return Poll::Pending(format!("no stream matches {selector}"));
            }
            let mut seen = Vec::new();
            for s in &series {
                let wrong: Vec<String> = expected
                    .iter()
                    .filter(|(k, v)| s.get(*k).map(String::as_str) != Some(*v))
                    .map(|(k, v)| format!("{k}={:?} (want {v:?})", s.get(*k).map_or("<absent>", String::as_str)))
                    .collect();
                if wrong.is_empty() {
                    return Poll::Ready(fmt_labels(s.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
                }
                seen.push(format!("{}: {}", fmt_labels(s.iter().map(|(k, v)| (k.as_str(), v.as_str()))), wrong.join(", ")));
            }
            Poll::Pending(format!("wrong labels: {}", list(&seen, 5)))
        })
        .await;
    match wait {
        Ok(labels) => Verdict::Passed { detail: format!("stream {labels} ({})", tenant(client)) },
        Err(e) => Verdict::Failed { message: format!("no correctly labelled stream for container `{container}` ({}, {url}): {e}", tenant(client)) },
    }
}

/// Up to `per_handler` trace ids of each handler the driver sent.
pub fn sample_trace_ids(record: &TrafficRecord, per_handler: usize) -> Vec<String> {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &record.sent {
        let v = by.entry(s.handler.as_str()).or_default();
        if v.len() < per_handler {
            v.push(&s.trace_id);
        }
    }
    by.into_values().flatten().map(str::to_owned).collect()
}

/// Does `line` log `trace_id` (as the JSON field `trace_id`, else anywhere)?
pub(crate) fn line_has(line: &str, trace_id: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(v) if v.get("trace_id").is_some() => v["trace_id"].as_str() == Some(trace_id),
        _ => line.contains(trace_id),
    }
}

/// The request log lines of a sample of the scenario's requests (up to
/// `per_handler` per handler) are in Loki under `selector` (e.g.
/// `{service="app"}`), each carrying its trace id.
pub async fn request_lines_present(
    client: &LokiClient,
    record: &TrafficRecord,
    selector: &str,
    per_handler: usize,
    timeout: Duration,
) -> Verdict {
    let ids = sample_trace_ids(record, per_handler);
    if ids.is_empty() {
        return Verdict::NotRun { reason: format!("scenario `{}` sent no requests", record.scenario) };
    }
    let logql = format!("{selector} |~ {:?}", ids.join("|"));
    let (start, end) = record_window(record);
    let url = client.url("/loki/api/v1/query_range", &[("query", logql.clone())]);
    let wait = Eventually::new(format!("log lines for {} sampled trace id(s) under {selector}", ids.len()))
        .with_timeout(timeout)
        .until(|| async {
            let result = match client.query_range(&logql, start, end, 5000).await {
                Ok(r) => r,
                Err(e) => return poll_error(e),
            };
            let lines: Vec<&str> = result.lines().map(|(_, l)| l).collect();
            let missing: Vec<&str> = ids.iter().map(String::as_str).filter(|id| !lines.iter().any(|l| line_has(l, id))).collect();
            if missing.is_empty() {
                Poll::Ready(lines.len())
            } else {
                Poll::Pending(format!("{} line(s) found; no line for trace id(s): {}", lines.len(), list(&missing, 8)))
            }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed { detail: format!("all {} sampled trace ids logged under {selector} ({n} lines, {})", ids.len(), tenant(client)) },
        Err(e) => Verdict::Failed {
            message: format!("request log lines missing (LogQL `{logql}`, {}, {url}): {e}", tenant(client)),
        },
    }
}

/// One trace id appears in a log line under `selector` between `start` and `end`.
pub async fn line_for_trace(
    client: &LokiClient,
    trace_id: &str,
    selector: &str,
    start: SystemTime,
    end: SystemTime,
    timeout: Duration,
) -> Verdict {
    let logql = format!("{selector} |= {trace_id:?}");
    let url = client.url("/loki/api/v1/query_range", &[("query", logql.clone())]);
    let wait = Eventually::new(format!("a log line with trace id {trace_id}"))
        .with_timeout(timeout)
        .until(|| async {
            match client.query_range(&logql, start, end, 100).await {
                Ok(r) => match r.lines().find(|(_, l)| line_has(l, trace_id)) {
                    Some((labels, line)) => {
                        Poll::Ready(format!("{} {line}", fmt_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))))
                    }
                    None => Poll::Pending(format!("{} stream(s), no line with the trace id", r.streams().len())),
                },
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed { message: format!("no log line with trace id {trace_id} (LogQL `{logql}`, {}, {url}): {e}", tenant(client)) },
    }
}

/// Only labelled containers ship logs: the `service` label's values are a
/// subset of `allowed`, and no stream fell back to
/// `service_name="unknown_service"` (what Loki stores for a container
/// Promtail shipped with an empty label set — its docker target ignores
/// relabel `keep`; grafana/loki#8620).
pub async fn only_labelled_services(client: &LokiClient, allowed: &[&str]) -> Verdict {
    let mut problems = Vec::new();
    let mut looked = Vec::new();
    for label in ["service", "service_name"] {
        looked.push(client.url(&format!("/loki/api/v1/label/{label}/values"), &[]));
        match client.label_values(label).await {
            Ok(values) => {
                let extra: Vec<&str> = values.iter().map(String::as_str).filter(|v| !allowed.contains(v)).collect();
                if !extra.is_empty() {
                    problems.push(format!("label `{label}` has values {} not in the labelled set [{}]", list(&extra, 10), allowed.join(", ")));
                }
            }
            Err(e) => return Verdict::Failed { message: format!("cannot list label `{label}` ({}): {e}", tenant(client)) },
        }
    }
    if problems.is_empty() {
        Verdict::Passed { detail: format!("only labelled services [{}] ship logs ({})", allowed.join(", "), tenant(client)) }
    } else {
        Verdict::Failed {
            message: format!(
                "containers without logging=promtail reached Loki: {} ({}; looked at {})",
                problems.join("; "),
                tenant(client),
                looked.join(", ")
            ),
        }
    }
}

/// The stack's tenant is enforced: without `X-Scope-OrgID` Loki answers 401
/// (`no org id`), with the client's tenant the labels API answers and lists
/// labels.
pub async fn tenant_enforced(client: &LokiClient) -> Verdict {
    let Some(t) = client.tenant() else {
        return Verdict::NotRun { reason: "the Loki client has no tenant (with_tenant)".into() };
    };
    let url = client.url("/loki/api/v1/labels", &[]);
    let anonymous = client.without_tenant();
    let without = match anonymous.get_raw("/loki/api/v1/labels", &[]).await {
        Ok(a) => a,
        Err(e) => return Verdict::Failed { message: e.to_string() },
    };
    if without.0 != 401 {
        return Verdict::Failed {
            message: format!(
                "{url} without X-Scope-OrgID answered HTTP {} (want 401 `no org id`): multi-tenancy (auth_enabled) is off, so tenant `{t}` is not isolated",
                without.0
            ),
        };
    }
    match client.labels().await {
        Ok(labels) if !labels.is_empty() => {
            Verdict::Passed { detail: format!("401 without a tenant; tenant `{t}` has labels [{}]", labels.join(", ")) }
        }
        Ok(_) => Verdict::Failed { message: format!("tenant `{t}` has no labels at {url}: nothing was pushed with this tenant (Promtail's tenant_id?)") },
        Err(e) => Verdict::Failed { message: format!("tenant `{t}`: {e}") },
    }
}

/// Rule groups the ruler lists for the tenant, as `namespace/group` names.
pub async fn ruler_groups(client: &LokiClient) -> Result<BTreeSet<String>, String> {
    let rules = client.ruler_rules().await.map_err(|e| e.to_string())?;
    Ok(rules.iter().flat_map(|(ns, groups)| groups.iter().map(move |g| format!("{ns}/{}", g.name))).collect())
}
