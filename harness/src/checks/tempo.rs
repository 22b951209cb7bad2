//! Tempo checks, with the verdicts and messages of the Jaeger ones: the sampled
//! trace ids are stored with the expected spans (by id, [`super::jaeger::traces_match_in`]),
//! found by TraceQL search on the app's service name (after Tempo's live-store flush:
//! poll for tens of seconds), and the tenant is enforced where multitenancy is on.

use std::time::Duration;

use crate::backends::tempo::TempoClient;
use crate::eventually::Eventually;
use crate::traffic::TrafficRecord;

use super::Verdict;
use super::jaeger::{TraceExpectations, TraceStore, all_sampled_found, sample, traces_match_in};
use super::prometheus::poll_error;

/// Each sampled trace by id, with the expected spans.
pub async fn traces_match(client: &TempoClient, record: &TrafficRecord, exp: &TraceExpectations, timeout: Duration) -> Verdict {
    traces_match_in(TraceStore::Tempo(client), record, exp, timeout).await
}

/// The sampled trace ids are found by TraceQL search on the service name over the
/// traffic's window (what Grafana's Tempo search does).
pub async fn traces_searchable(client: &TempoClient, record: &TrafficRecord, exp: &TraceExpectations, timeout: Duration) -> Verdict {
    let sampled = sample(record, exp.per_handler);
    if sampled.is_empty() {
        return Verdict::NotRun { reason: format!("scenario `{}` sent no requests", record.scenario) };
    }
    let (start, end) = super::prometheus::record_window(record);
    let limit = (record.sent.len() as u32).saturating_mul(2).max(100);
    let q = TempoClient::service_query(&exp.service);
    let url = client.url("/api/search", &client.search_query(&q, start, end, limit));
    let wait = Eventually::new(format!("{} sampled trace(s) found by TraceQL `{q}`", sampled.len()))
        .with_timeout(timeout)
        .until(|| async {
            match client.search(&q, start, end, limit).await {
                Ok(found) => all_sampled_found(found.into_iter().map(|t| t.trace_id), &sampled),
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed { detail: format!("TraceQL `{q}` returned {n} trace(s), every sampled id among them") },
        Err(e) => Verdict::Failed { message: format!("sampled traces not found by search at {url}: {e}") },
    }
}

/// With multitenancy on, a lookup without `X-Scope-OrgID` is refused (401) and the
/// tenant's own lookup finds the trace.
pub async fn tenant_enforced(client: &TempoClient, trace_id: &str, timeout: Duration) -> Verdict {
    let Some(tenant) = client.tenant() else {
        return Verdict::NotRun { reason: "Tempo runs without multitenancy (multitenancy_enabled is not true)".into() };
    };
    let found = super::jaeger::trace_present_in(TraceStore::Tempo(client), trace_id, timeout).await;
    if !found.is_passed() {
        return found;
    }
    match client.status_without_tenant(trace_id).await {
        Ok((401, _)) => Verdict::Passed { detail: format!("trace {trace_id} found as tenant `{tenant}`; refused (401) without X-Scope-OrgID") },
        Ok((status, body)) => Verdict::Failed {
            message: format!("Tempo answered {status} to {}/api/v2/traces/{trace_id} without X-Scope-OrgID (expected 401: multitenancy is on for tenant `{tenant}`): {body}", client.base_url()),
        },
        Err(e) => Verdict::Failed { message: format!("lookup without a tenant failed: {e}") },
    }
}
