//! Grafana checks: the server is healthy, the provisioned datasources exist
//! with their uids, types and URLs and pass their own health checks, the
//! dashboards are provisioned in their folder, and queries through the
//! Prometheus and Loki datasources return data frames, and Grafana's Jaeger
//! datasource works against the stack's Jaeger: its health check, a trace by
//! id and a trace search (the calls that break when the pair's API versions
//! drift apart, see `lint/compat.yaml`).

use std::time::{Duration, SystemTime};

use crate::backends::grafana::GrafanaClient;
use crate::eventually::{Eventually, Poll};

use super::Verdict;
use super::prometheus::{list, poll_error};

/// A datasource the stack provisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDatasource {
    pub uid: String,
    /// `prometheus`, `loki`, `jaeger`.
    pub kind: String,
    /// As provisioned, e.g. `http://prometheus:9090`.
    pub url: String,
}

impl ExpectedDatasource {
    pub fn new(uid: &str, kind: &str, url: &str) -> Self {
        Self { uid: uid.into(), kind: kind.into(), url: url.into() }
    }

    /// The bundled stack's datasources.
    pub fn bundled() -> Vec<Self> {
        vec![
            Self::new("prometheus", "prometheus", "http://prometheus:9090"),
            Self::new("loki", "loki", "http://loki:3100"),
            Self::new("jaeger", "jaeger", "http://jaeger:16686"),
        ]
    }
}

/// `GET /api/health` answers `database: ok`.
pub async fn healthy(client: &GrafanaClient, timeout: Duration) -> Verdict {
    let url = client.url("/api/health");
    let wait = Eventually::new("Grafana healthy (database ok)")
        .with_timeout(timeout)
        .until(|| async {
            match client.health().await {
                Ok(h) if h.database == "ok" => Poll::Ready(h.version),
                Ok(h) => Poll::Pending(format!("database: {:?}", h.database)),
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await;
    match wait {
        Ok(v) => Verdict::Passed { detail: format!("Grafana {v} healthy") },
        Err(e) => Verdict::Failed { message: format!("Grafana not healthy at {url}: {e}") },
    }
}

/// Every expected datasource exists with its uid, type and URL, and
/// Grafana's health check of it answers `OK` (polled: backends may lag).
pub async fn datasources_provisioned(client: &GrafanaClient, expected: &[ExpectedDatasource], timeout: Duration) -> Verdict {
    let url = client.url("/api/datasources");
    let listed = match client.datasources().await {
        Ok(d) => d,
        Err(e) => return Verdict::Failed { message: format!("cannot list datasources: {e}") },
    };
    let mut bad = Vec::new();
    for exp in expected {
        match listed.iter().find(|d| d.uid == exp.uid) {
            None => bad.push(format!(
                "no datasource with uid {:?} (uids: {})",
                exp.uid,
                list(&listed.iter().map(|d| d.uid.as_str()).collect::<Vec<_>>(), 10)
            )),
            Some(d) => {
                if d.kind != exp.kind {
                    bad.push(format!("datasource {:?} has type {:?} (want {:?})", exp.uid, d.kind, exp.kind));
                }
                if d.url.trim_end_matches('/') != exp.url.trim_end_matches('/') {
                    bad.push(format!("datasource {:?} has url {:?} (want {:?})", exp.uid, d.url, exp.url));
                }
            }
        }
    }
    if !bad.is_empty() {
        return Verdict::Failed { message: format!("datasources not provisioned as expected at {url}: {}", bad.join("; ")) };
    }
    let wait = Eventually::new(format!("{} datasource health check(s) OK", expected.len()))
        .with_timeout(timeout)
        .until(|| async {
            let mut failing = Vec::new();
            for exp in expected {
                match client.datasource_health(&exp.uid).await {
                    Ok(h) if h.status == "OK" => {}
                    Ok(h) => failing.push(format!("{}: {} {:?}", exp.uid, h.status, h.message)),
                    Err(e) => failing.push(format!("{}: {e}", exp.uid)),
                }
            }
            if failing.is_empty() { Poll::Ready(()) } else { Poll::Pending(failing.join("; ")) }
        })
        .await;
    match wait {
        Ok(()) => Verdict::Passed {
            detail: format!("datasources {} provisioned and healthy", expected.iter().map(|e| e.uid.as_str()).collect::<Vec<_>>().join(", ")),
        },
        Err(e) => Verdict::Failed { message: format!("datasource health failing ({}/api/datasources/uid/<uid>/health): {e}", client.base_url()) },
    }
}

/// Each dashboard uid exists, is provisioned, and sits in folder `folder`.
pub async fn dashboards_provisioned(client: &GrafanaClient, uids: &[&str], folder: &str) -> Verdict {
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for uid in uids {
        let url = client.url(&format!("/api/dashboards/uid/{uid}"));
        match client.dashboard(uid).await {
            Ok(None) => bad.push(format!("dashboard {uid:?} not found at {url}")),
            Ok(Some(d)) => {
                let mut wrong = Vec::new();
                if !d.meta.provisioned {
                    wrong.push("meta.provisioned=false".to_owned());
                }
                if d.meta.folder_title != folder {
                    wrong.push(format!("folder {:?} (want {folder:?})", d.meta.folder_title));
                }
                if wrong.is_empty() {
                    ok.push(format!("{uid} ({:?})", d.title()));
                } else {
                    bad.push(format!("dashboard {uid:?} at {url}: {}", wrong.join(", ")));
                }
            }
            Err(e) => bad.push(e.to_string()),
        }
    }
    if bad.is_empty() {
        Verdict::Passed { detail: format!("provisioned in folder {folder:?}: {}", ok.join(", ")) }
    } else {
        Verdict::Failed { message: bad.join("; ") }
    }
}

/// `POST /api/ds/query` through datasource `uid` of type `kind` returns at
/// least one frame with rows for `expr` over `[from, to]`.
pub async fn ds_query_returns_frames(
    client: &GrafanaClient,
    uid: &str,
    kind: &str,
    expr: &str,
    from: SystemTime,
    to: SystemTime,
    timeout: Duration,
) -> Verdict {
    let url = client.url("/api/ds/query");
    let wait = Eventually::new(format!("frames with rows from datasource {uid:?} for `{expr}`"))
        .with_timeout(timeout)
        .until(|| async {
            let r = match client.ds_query(uid, kind, expr, from, to).await {
                Ok(r) => r,
                Err(e) => return poll_error(e),
            };
            let Some(a) = r.results.get("A") else {
                return Poll::Pending(format!("no result for refId A (results: {:?})", r.results.keys().collect::<Vec<_>>()));
            };
            if let Some(err) = &a.error {
                return Poll::Fatal(format!("query error: {err}"));
            }
            let rows: usize = a.frames.iter().map(|f| f.rows()).sum();
            if rows > 0 {
                let fields: Vec<String> = a.frames.iter().flat_map(|f| f.field_names()).map(str::to_owned).collect();
                Poll::Ready(format!("{} frame(s), {rows} row(s), fields {}", a.frames.len(), list(&fields, 6)))
            } else {
                Poll::Pending(format!("{} frame(s) without rows", a.frames.len()))
            }
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail: format!("datasource {uid:?}: {detail}") },
        Err(e) => Verdict::Failed { message: format!("datasource {uid:?} ({kind}) returned no data for `{expr}` via {url}: {e}") },
    }
}

/// Grafana's own health check of datasource `uid` answers `OK`.
pub async fn datasource_healthy(client: &GrafanaClient, uid: &str, timeout: Duration) -> Verdict {
    let url = client.url(&format!("/api/datasources/uid/{uid}/health"));
    let wait = Eventually::new(format!("datasource {uid:?} health check OK"))
        .with_timeout(timeout)
        .until(|| async {
            match client.datasource_health(uid).await {
                Ok(h) if h.status == "OK" => Poll::Ready(h.message),
                Ok(h) => Poll::Pending(format!("{} {:?}", h.status, h.message)),
                Err(e) => poll_error(e),
            }
        })
        .await;
    match wait {
        Ok(m) => Verdict::Passed { detail: format!("datasource {uid:?}: {m}") },
        Err(e) => Verdict::Failed { message: format!("Grafana's health check of datasource {uid:?} fails at {url}: {e}") },
    }
}

/// What a Jaeger query through Grafana returned: the `traceID` column of
/// result `A`, or the query's error (final).
fn trace_ids(r: crate::backends::grafana::DsQueryResponse) -> Result<Vec<String>, String> {
    let Some(a) = r.results.get("A") else {
        return Err(format!("no result for refId A (results: {:?})", r.results.keys().collect::<Vec<_>>()));
    };
    if let Some(err) = &a.error {
        return Err(format!("query error: {err}"));
    }
    Ok(a.frames.iter().flat_map(|f| f.column("traceID")).collect())
}

/// A trace by id through Grafana's Jaeger datasource `uid` returns the
/// trace's spans (the trace view of Explore and of exemplar/derived-field links).
pub async fn jaeger_trace_via_grafana(client: &GrafanaClient, uid: &str, trace_id: &str, from: SystemTime, to: SystemTime, timeout: Duration) -> Verdict {
    let url = client.url("/api/ds/query");
    let want = crate::backends::jaeger::normalise_id(trace_id);
    let wait = Eventually::new(format!("trace {trace_id} through Grafana's datasource {uid:?}"))
        .with_timeout(timeout)
        .until(|| async {
            match client.jaeger_trace(uid, trace_id, from, to).await.map(trace_ids) {
                Err(e) => poll_error(e),
                Ok(Err(e)) => Poll::Fatal(e),
                Ok(Ok(ids)) if !ids.is_empty() && ids.iter().all(|i| crate::backends::jaeger::normalise_id(i) == want) => Poll::Ready(ids.len()),
                Ok(Ok(ids)) => Poll::Pending(format!("{} span row(s), trace ids {}", ids.len(), list(&ids, 3))),
            }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed { detail: format!("trace {trace_id} with {n} span(s) through datasource {uid:?}") },
        Err(e) => Verdict::Failed { message: format!("trace {trace_id} not shown by Grafana's Jaeger datasource {uid:?} via {url}: {e}") },
    }
}

/// A trace search for `service` through Grafana's Jaeger datasource `uid`
/// lists `trace_id`.
pub async fn jaeger_search_via_grafana(
    client: &GrafanaClient,
    uid: &str,
    service: &str,
    trace_id: &str,
    from: SystemTime,
    to: SystemTime,
    timeout: Duration,
) -> Verdict {
    let url = client.url("/api/ds/query");
    let want = crate::backends::jaeger::normalise_id(trace_id);
    let wait = Eventually::new(format!("search for service `{service}` through Grafana's datasource {uid:?} lists {trace_id}"))
        .with_timeout(timeout)
        .until(|| async {
            match client.jaeger_search(uid, service, 1000, from, to).await.map(trace_ids) {
                Err(e) => poll_error(e),
                Ok(Err(e)) => Poll::Fatal(e),
                Ok(Ok(ids)) if ids.iter().any(|i| crate::backends::jaeger::normalise_id(i) == want) => Poll::Ready(ids.len()),
                Ok(Ok(ids)) => Poll::Pending(format!("{} trace(s) listed, not {trace_id}", ids.len())),
            }
        })
        .await;
    match wait {
        Ok(n) => Verdict::Passed { detail: format!("search for `{service}` through datasource {uid:?} listed {n} trace(s), {trace_id} among them") },
        Err(e) => Verdict::Failed { message: format!("trace search for `{service}` through Grafana's Jaeger datasource {uid:?} via {url}: {e}") },
    }
}
