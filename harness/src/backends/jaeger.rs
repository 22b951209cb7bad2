//! Jaeger query client on the api_v3 HTTP gateway (port 16686), the query API
//! every Jaeger 2.x serves and the only one left for services, operations
//! and search since jaegertracing/jaeger#9260 (after v2.20.0) removed the v1
//! `/api/services`, `/api/operations` and `/api/traces?service=` endpoints.
//!
//! Routes and shapes, from `cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/http_gateway.go`
//! at v2.20.0 (unchanged on main):
//! - `GET /api/v3/services` → `{"services":[…]}`
//! - `GET /api/v3/operations?service=S` → `{"operations":[{"name","spanKind"}]}`
//! - `GET /api/v3/traces/{trace_id}` → `{"result":<OTLP TracesData JSON>}`
//! - `GET /api/v3/traces?query.serviceName=…&query.startTimeMin=…&query.startTimeMax=…`
//!   (RFC3339Nano, both required) → one `{"result":…}` with the spans of every
//!   matching trace merged: grouped by `traceId` here.
//! - nothing found → `404 {"error":{"httpCode":404,"message":"No traces found"}}`
//!   (served as `text/plain`), answered here as `None` / an empty list. A 404
//!   without that body means the route itself is missing (no api_v3 there).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{Answer, BackendError, Http, snippet};

/// OTLP/JSON `AnyValue`: exactly one of its fields is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnyValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// 64-bit integers travel as decimal strings in OTLP/JSON (numbers accepted too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bool_value: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub array_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvlist_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_value: Option<String>,
}

impl AnyValue {
    /// The value as text (`"GET"`, `"200"`, `"true"`).
    pub fn text(&self) -> String {
        if let Some(s) = &self.string_value {
            return s.clone();
        }
        if let Some(i) = &self.int_value {
            return match i {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
        if let Some(b) = self.bool_value {
            return b.to_string();
        }
        if let Some(d) = self.double_value {
            return d.to_string();
        }
        if let Some(b) = &self.bytes_value {
            return b.clone();
        }
        self.array_value.as_ref().or(self.kvlist_value.as_ref()).map(|v| v.to_string()).unwrap_or_default()
    }
}

/// `{key, value: AnyValue}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: AnyValue,
}

/// Reads attributes by key.
pub trait Attributes {
    fn attributes(&self) -> &[KeyValue];

    /// The attribute's value as text.
    fn attr(&self, key: &str) -> Option<String> {
        self.attributes().iter().find(|a| a.key == key).map(|a| a.value.text())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
}

impl Attributes for Resource {
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

impl Resource {
    /// `service.name`.
    pub fn service_name(&self) -> Option<String> {
        self.attr("service.name")
    }
}

/// OTLP span kind (`kind` is an integer in OTLP/JSON: 2 server, 3 client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(1) => SpanKind::Internal,
                Some(2) => SpanKind::Server,
                Some(3) => SpanKind::Client,
                Some(4) => SpanKind::Producer,
                Some(5) => SpanKind::Consumer,
                _ => SpanKind::Unspecified,
            },
            serde_json::Value::String(s) => match s.trim_start_matches("SPAN_KIND_").to_ascii_lowercase().as_str() {
                "internal" => SpanKind::Internal,
                "server" => SpanKind::Server,
                "client" => SpanKind::Client,
                "producer" => SpanKind::Producer,
                "consumer" => SpanKind::Consumer,
                _ => SpanKind::Unspecified,
            },
            _ => SpanKind::Unspecified,
        }
    }
}

/// OTLP/JSON `Status`; `{}` is unset (OK), `code` 2 is error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub code: serde_json::Value,
    #[serde(default)]
    pub message: String,
}

impl Status {
    pub fn is_error(&self) -> bool {
        matches!(&self.code, serde_json::Value::Number(n) if n.as_i64() == Some(2))
            || matches!(&self.code, serde_json::Value::String(s) if s == "STATUS_CODE_ERROR")
    }
}

/// One OTLP/JSON span as api_v3 serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OtlpSpan {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default)]
    pub parent_span_id: String,
    pub name: String,
    #[serde(default)]
    pub kind: serde_json::Value,
    #[serde(default)]
    pub start_time_unix_nano: serde_json::Value,
    #[serde(default)]
    pub end_time_unix_nano: serde_json::Value,
    #[serde(default)]
    pub attributes: Vec<KeyValue>,
    #[serde(default)]
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeSpans {
    #[serde(default)]
    pub spans: Vec<OtlpSpan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpans {
    #[serde(default)]
    pub resource: Resource,
    #[serde(default)]
    pub scope_spans: Vec<ScopeSpans>,
}

/// OTLP `TracesData`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TracesData {
    #[serde(default)]
    pub resource_spans: Vec<ResourceSpans>,
}

/// api_v3's `{"result": …}` / `{"error": …}` wrapper.
#[derive(Debug, Clone, Deserialize)]
struct Wrapped {
    #[serde(default)]
    result: Option<TracesData>,
    #[serde(default)]
    error: Option<V3Error>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V3Error {
    #[serde(default)]
    http_code: i64,
    #[serde(default)]
    message: String,
}

/// A span with its resource resolved, as the checks read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    pub kind: SpanKind,
    pub attributes: Vec<KeyValue>,
    pub status: Status,
    /// Index into [`Trace::resources`].
    pub resource: usize,
}

impl Attributes for Span {
    fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

impl Span {
    pub fn is_error(&self) -> bool {
        self.status.is_error()
    }
}

/// One trace: its spans and the resources they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub resources: Vec<Resource>,
}

impl Trace {
    /// Groups `data` by `traceId` (api_v3 search merges every trace into one `TracesData`).
    pub fn group(data: &TracesData) -> Vec<Trace> {
        let mut by_id: BTreeMap<String, Trace> = BTreeMap::new();
        for rs in &data.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let id = normalise_id(&s.trace_id);
                    let t = by_id.entry(id.clone()).or_insert_with(|| Trace { trace_id: id, spans: Vec::new(), resources: Vec::new() });
                    let resource = match t.resources.iter().position(|r| r == &rs.resource) {
                        Some(i) => i,
                        None => {
                            t.resources.push(rs.resource.clone());
                            t.resources.len() - 1
                        }
                    };
                    t.spans.push(Span {
                        trace_id: s.trace_id.clone(),
                        span_id: s.span_id.clone(),
                        parent_span_id: s.parent_span_id.clone(),
                        name: s.name.clone(),
                        kind: SpanKind::from_json(&s.kind),
                        attributes: s.attributes.clone(),
                        status: s.status.clone(),
                        resource,
                    });
                }
            }
        }
        by_id.into_values().collect()
    }

    pub fn resource_of(&self, span: &Span) -> Option<&Resource> {
        self.resources.get(span.resource)
    }

    pub fn span_named(&self, name: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.name == name)
    }

    pub fn server_spans(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(|s| s.kind == SpanKind::Server)
    }

    pub fn children_of<'a>(&'a self, span: &'a Span) -> impl Iterator<Item = &'a Span> {
        self.spans.iter().filter(move |s| !s.parent_span_id.is_empty() && s.parent_span_id == span.span_id)
    }
}

/// Lower-case hex without leading zeros, so `00ab` and `AB` compare equal.
pub fn normalise_id(id: &str) -> String {
    id.trim_start_matches('0').to_ascii_lowercase()
}

/// RFC3339 with nanoseconds in UTC, as api_v3 parses `query.startTimeMin`.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[derive(Debug, Clone, Deserialize)]
struct Services {
    #[serde(default)]
    services: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Operations {
    #[serde(default)]
    operations: Vec<Operation>,
}

/// One `{name, spanKind}` of `/api/v3/operations`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub span_kind: String,
}

/// A client for one Jaeger query service.
#[derive(Debug, Clone)]
pub struct JaegerClient {
    http: Http,
}

/// The hint when an api_v3 route answers 404 without api_v3's error body.
const NO_API_V3: &str = "this Jaeger does not serve the api_v3 HTTP gateway (Jaeger 2.x serves it on the query port, 16686); is the URL the query port?";

impl JaegerClient {
    /// `base`: e.g. `http://127.0.0.1:16686`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base) }
    }

    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        self.http.base()
    }

    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        self.http.url(path, query)
    }

    /// Service names that reported spans.
    pub async fn services(&self) -> Result<Vec<String>, BackendError> {
        let a = self.http.get("/api/v3/services", &[]).await?;
        Ok(missing_route(a)?.success()?.json::<Services>()?.services)
    }

    /// Operations of `service` (any span kind).
    pub async fn operations(&self, service: &str) -> Result<Vec<Operation>, BackendError> {
        let a = self.http.get("/api/v3/operations", &[("service", service.to_owned())]).await?;
        Ok(missing_route(a)?.success()?.json::<Operations>()?.operations)
    }

    /// One trace by id; `None` when Jaeger answers "No traces found".
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Trace>, BackendError> {
        let a = self.http.get(&format!("/api/v3/traces/{trace_id}"), &[]).await?;
        let Some(data) = traces_or_none(a)? else { return Ok(None) };
        let want = normalise_id(trace_id);
        Ok(Trace::group(&data).into_iter().find(|t| t.trace_id == want))
    }

    /// Traces with spans of `service` that started between `start` and `end`,
    /// at most `depth` of them (api_v3's `query.searchDepth`).
    pub async fn find_traces(&self, service: &str, start: SystemTime, end: SystemTime, depth: u32) -> Result<Vec<Trace>, BackendError> {
        let q = self.search_query(service, start, end, depth);
        let a = self.http.get("/api/v3/traces", &q).await?;
        Ok(traces_or_none(a)?.map(|d| Trace::group(&d)).unwrap_or_default())
    }

    /// The query string [`Self::find_traces`] sends (for messages).
    pub fn search_query(&self, service: &str, start: SystemTime, end: SystemTime, depth: u32) -> Vec<(&'static str, String)> {
        vec![
            ("query.serviceName", service.to_owned()),
            ("query.startTimeMin", rfc3339_nanos(start)),
            ("query.startTimeMax", rfc3339_nanos(end)),
            ("query.searchDepth", depth.to_string()),
        ]
    }
}

/// api_v3's error body, if `body` is one.
fn v3_error(body: &str) -> Option<V3Error> {
    serde_json::from_str::<Wrapped>(body.trim()).ok().and_then(|w| w.error)
}

/// A 404 without api_v3's error body: the route does not exist there.
fn missing_route(a: Answer) -> Result<Answer, BackendError> {
    if a.status == 404 && v3_error(&a.body).is_none() {
        return Err(no_route(a));
    }
    Ok(a)
}

/// The route is missing: an API error (final, no point in polling).
fn no_route(a: Answer) -> BackendError {
    BackendError::Api { url: a.url, status: 404, error_type: "route not found".into(), error: snippet(a.body.trim_end()), hint: NO_API_V3.into() }
}

/// `Some(data)` from a trace-bearing answer, `None` for api_v3's "No traces found".
fn traces_or_none(a: Answer) -> Result<Option<TracesData>, BackendError> {
    if a.status == 404 {
        return match v3_error(&a.body) {
            Some(_) => Ok(None),
            None => Err(no_route(a)),
        };
    }
    if !(200..300).contains(&a.status)
        && let Some(e) = v3_error(&a.body) {
        return Err(BackendError::Api {
            url: a.url,
            status: a.status,
            error_type: e.http_code.to_string(),
            error: e.message,
            hint: "Jaeger rejected the query (api_v3 parameters, time window) or its storage failed; see its logs".into(),
        });
    }
    let a = a.success()?;
    let w: Wrapped = a.json()?;
    Ok(Some(w.result.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_nanos_is_utc_with_nine_digits() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(rfc3339_nanos(t), "2023-11-14T22:13:20.123456789Z");
    }

    #[test]
    fn ids_compare_without_leading_zeros_or_case() {
        assert_eq!(normalise_id("00000000000000000000000000000001"), normalise_id("1"));
        assert_eq!(normalise_id("4BF9"), "4bf9");
    }
}
