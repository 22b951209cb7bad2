//! Grafana Tempo HTTP API client: a trace by id (`/api/v2/traces/{id}`), TraceQL
//! search (`/api/search?q=…`), `/ready`; as one tenant when multitenancy is on
//! (`X-Scope-OrgID`).
//!
//! Shapes (grafana/tempo `pkg/api/http.go`, `pkg/tempopb` at v3.0.3, and recorded
//! from Tempo 3.0.3 built from that tag: `fixtures/tempo/3.0.3/`):
//! - by id: `{"trace": {"resourceSpans": [...]}, "metrics": {...}}`; an unknown id
//!   is answered 200 with an empty trace (`{"trace":{},"metrics":{}}`), read as not
//!   found (a 404 too); the OTLP JSON carries ids in base64 (protobuf JSON of
//!   `bytes`), which [`decode_id`] turns into hex;
//! - search: `{"traces": [{"traceID": "<hex>", "rootServiceName", "rootTraceName",
//!   "startTimeUnixNano", "durationMs"}], "metrics": {...}}`.

use std::time::SystemTime;

use serde::Deserialize;

use super::jaeger::{Trace, TracesData, normalise_id};
use super::{Answer, BackendError, Http, unix_seconds};

/// The tenant header.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

/// A client for one Tempo, as one tenant (or none).
#[derive(Debug, Clone)]
pub struct TempoClient {
    http: Http,
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ByIdV2 {
    #[serde(default)]
    trace: Option<TracesData>,
}

/// One trace of a search answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(default)]
    pub root_service_name: String,
    #[serde(default)]
    pub root_trace_name: String,
}

#[derive(Debug, Deserialize)]
struct Search {
    #[serde(default)]
    traces: Vec<Found>,
}

impl TempoClient {
    /// `base`: e.g. `http://127.0.0.1:3200`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base).header("Accept", "application/json"), tenant: None }
    }

    /// Sends `X-Scope-OrgID: <tenant>` (Tempo with `multitenancy_enabled: true`).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        let t = tenant.into();
        self.http = self.http.header(TENANT_HEADER, &t);
        self.tenant = Some(t);
        self
    }

    /// The same Tempo without a tenant header.
    pub fn without_tenant(&self) -> Self {
        Self::new(self.http.base())
    }

    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    pub fn base_url(&self) -> &str {
        self.http.base()
    }

    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        self.http.url(path, query)
    }

    /// `GET /ready`.
    pub async fn ready(&self) -> Result<bool, BackendError> {
        Ok(self.http.get("/ready", &[]).await?.status == 200)
    }

    /// A trace by id, `None` when Tempo has none with that id.
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Trace>, BackendError> {
        let a = self.http.get(&format!("/api/v2/traces/{trace_id}"), &[]).await?;
        trace_or_none(a, trace_id)
    }

    /// The TraceQL that finds a service's traces.
    pub fn service_query(service: &str) -> String {
        format!("{{resource.service.name={}}}", serde_json::to_string(service).unwrap_or_default())
    }

    /// The query of [`Self::search`], for messages.
    pub fn search_query(&self, traceql: &str, start: SystemTime, end: SystemTime, limit: u32) -> Vec<(&'static str, String)> {
        let secs = |t: SystemTime| unix_seconds(t).split('.').next().unwrap_or_default().to_owned();
        vec![("q", traceql.to_owned()), ("start", secs(start)), ("end", secs(end)), ("limit", limit.to_string())]
    }

    /// TraceQL search over `[start, end]`: the traces found (ids normalised hex).
    pub async fn search(&self, traceql: &str, start: SystemTime, end: SystemTime, limit: u32) -> Result<Vec<Found>, BackendError> {
        let q = self.search_query(traceql, start, end, limit);
        let a = self.http.get("/api/search", &q).await?;
        let s: Search = a.success()?.json()?;
        Ok(s.traces.into_iter().map(|f| Found { trace_id: normalise_id(&f.trace_id), ..f }).collect())
    }

    /// The status and body of a trace lookup sent without a tenant header
    /// (multitenancy on: 401 "no org id").
    pub async fn status_without_tenant(&self, trace_id: &str) -> Result<(u16, String), BackendError> {
        let a = self.without_tenant().http.get(&format!("/api/v2/traces/{trace_id}"), &[]).await?;
        Ok((a.status, super::snippet(a.body.trim_end())))
    }
}

/// `Some(trace)` from a by-id answer, `None` for an empty trace or a 404 (not found).
fn trace_or_none(a: Answer, trace_id: &str) -> Result<Option<Trace>, BackendError> {
    if a.status == 404 {
        return Ok(None);
    }
    let a = a.success()?;
    let body: ByIdV2 = a.json()?;
    let Some(mut data) = body.trace else { return Ok(None) };
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            for s in &mut ss.spans {
                s.trace_id = decode_id(&s.trace_id);
                s.span_id = decode_id(&s.span_id);
                s.parent_span_id = decode_id(&s.parent_span_id);
            }
        }
    }
    let want = normalise_id(trace_id);
    Ok(Trace::group(&data).into_iter().find(|t| t.trace_id == want))
}

/// An OTLP JSON id as hex: hex stays (16 or 32 digits), base64 (protobuf JSON of
/// `bytes`, as Tempo writes ids) is decoded.
pub fn decode_id(id: &str) -> String {
    let hex = id.len().is_multiple_of(2) && !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit());
    if id.is_empty() || (hex && (id.len() == 16 || id.len() == 32)) {
        return id.to_ascii_lowercase();
    }
    match base64_decode(id) {
        Some(bytes) if bytes.len() == 8 || bytes.len() == 16 => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => id.to_owned(),
    }
}

/// Standard or URL-safe base64, padded or not.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.trim_end_matches('=').bytes().collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_base64_or_hex_read_as_hex() {
        assert_eq!(decode_id("AAAAAAAAAAAAAAAAAAAAAQ=="), "00000000000000000000000000000001");
        assert_eq!(decode_id("S/kvNXezTaajzpKdDg5HNg=="), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(decode_id("4bf92f3577b34da6a3ce929d0e0e4736"), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(decode_id("APBnqgupArc="), "00f067aa0ba902b7");
        assert_eq!(decode_id(""), "");
    }

    #[test]
    fn the_service_query_quotes_the_name() {
        assert_eq!(TempoClient::service_query("fastapi-backend"), "{resource.service.name=\"fastapi-backend\"}");
    }
}
