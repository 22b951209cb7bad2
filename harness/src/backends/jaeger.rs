//! Jaeger query API client (the JSON API of the UI on port 16686, kept by
//! Jaeger v2): `/api/services`, `/api/traces/{id}`, `/api/traces?service=…`.
//!
//! Every answer is `{"data":[…],"total":0,"limit":0,"offset":0,"errors":null}`
//! (search answers carry `total: 0` whatever they hold: count `data`). A
//! missing trace is HTTP 404 with `errors: [{"code":404,"msg":"trace not
//! found"}]`, answered here as `Ok(None)`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{BackendError, Http, snippet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerResponse<T> {
    #[serde(default = "Option::default")]
    pub data: Option<T>,
    #[serde(default)]
    pub total: i64,
    #[serde(default)]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub errors: Option<Vec<JaegerApiError>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JaegerApiError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub msg: String,
    #[serde(default, rename = "traceID")]
    pub trace_id: Option<String>,
}

/// `{key, type, value}`; `type` is `string`, `bool`, `int64`, `float64` or `binary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    pub value: serde_json::Value,
}

impl KeyValue {
    /// The value as text (`"GET"`, `"200"`, `"true"`).
    pub fn value_string(&self) -> String {
        match &self.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Reads tags by key.
pub trait Tags {
    fn tags(&self) -> &[KeyValue];

    fn tag(&self, key: &str) -> Option<&KeyValue> {
        self.tags().iter().find(|t| t.key == key)
    }

    /// The tag's value as text.
    fn tag_str(&self, key: &str) -> Option<String> {
        self.tag(key).map(KeyValue::value_string)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// `CHILD_OF` or `FOLLOWS_FROM`.
    pub ref_type: String,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub operation_name: String,
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Microseconds since the epoch.
    #[serde(default)]
    pub start_time: u64,
    /// Microseconds.
    #[serde(default)]
    pub duration: u64,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
    #[serde(default, rename = "processID")]
    pub process_id: String,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

impl Tags for Span {
    fn tags(&self) -> &[KeyValue] {
        &self.tags
    }
}

impl Span {
    /// The span id of its `CHILD_OF` parent, if any.
    pub fn parent_id(&self) -> Option<&str> {
        self.references.iter().find(|r| r.ref_type == "CHILD_OF").map(|r| r.span_id.as_str())
    }

    /// `error=true` or `otel.status_code=ERROR`.
    pub fn is_error(&self) -> bool {
        self.tag_str("error").as_deref() == Some("true") || self.tag_str("otel.status_code").as_deref() == Some("ERROR")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub service_name: String,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

impl Tags for Process {
    fn tags(&self) -> &[KeyValue] {
        &self.tags
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(default)]
    pub spans: Vec<Span>,
    #[serde(default)]
    pub processes: BTreeMap<String, Process>,
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

impl Trace {
    pub fn process_of(&self, span: &Span) -> Option<&Process> {
        self.processes.get(&span.process_id)
    }

    pub fn span_named(&self, operation: &str) -> Option<&Span> {
        self.spans.iter().find(|s| s.operation_name == operation)
    }

    /// Spans with `span.kind=server`.
    pub fn server_spans(&self) -> impl Iterator<Item = &Span> {
        self.spans.iter().filter(|s| s.tag_str("span.kind").as_deref() == Some("server"))
    }

    pub fn children_of<'a>(&'a self, span: &'a Span) -> impl Iterator<Item = &'a Span> {
        self.spans.iter().filter(move |s| s.parent_id() == Some(span.span_id.as_str()))
    }
}

/// A client for one Jaeger query service.
#[derive(Debug, Clone)]
pub struct JaegerClient {
    http: Http,
}

impl JaegerClient {
    /// `base`: e.g. `http://127.0.0.1:16686`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base) }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
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
        let r: JaegerResponse<Vec<String>> = self.http.get_json("/api/services", &[]).await?;
        Ok(r.data.unwrap_or_default())
    }

    /// Operation names of `service`.
    pub async fn operations(&self, service: &str) -> Result<Vec<String>, BackendError> {
        let r: JaegerResponse<Vec<String>> = self.http.get_json(&format!("/api/services/{service}/operations"), &[]).await?;
        Ok(r.data.unwrap_or_default())
    }

    /// One trace; `None` when Jaeger answers "trace not found" (404 or an `errors` entry).
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Trace>, BackendError> {
        let a = self.http.get(&format!("/api/traces/{trace_id}"), &[]).await?;
        if a.status == 404 {
            return Ok(None);
        }
        let a = a.success()?;
        let r: JaegerResponse<Vec<Trace>> = a.json()?;
        if let Some(errors) = r.errors.as_ref().filter(|e| !e.is_empty()) {
            if errors.iter().any(|e| e.code == 404 || e.msg.contains("not found")) {
                return Ok(None);
            }
            return Err(BackendError::Api {
                url: a.url.clone(),
                status: a.status,
                error_type: errors[0].code.to_string(),
                error: errors.iter().map(|e| e.msg.clone()).collect::<Vec<_>>().join("; "),
                hint: "Jaeger reported an error for this trace".into(),
            });
        }
        let want = trace_id.trim_start_matches('0').to_ascii_lowercase();
        Ok(r.data.unwrap_or_default().into_iter().find(|t| t.trace_id.trim_start_matches('0').to_ascii_lowercase() == want))
    }

    /// Traces of `service` started within `lookback` of now, at most `limit`
    /// (the answer's `total` is always 0: the traces are counted here).
    pub async fn find_traces(&self, service: &str, lookback: Duration, limit: u32) -> Result<Vec<Trace>, BackendError> {
        let micros = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros().to_string();
        let now = SystemTime::now();
        let q = [
            ("service", service.to_owned()),
            ("start", micros(now.checked_sub(lookback).unwrap_or(UNIX_EPOCH))),
            ("end", micros(now)),
            ("limit", limit.to_string()),
            ("lookback", "custom".to_owned()),
        ];
        let a = self.http.get("/api/traces", &q).await?.success()?;
        let r: JaegerResponse<Vec<Trace>> = a.json()?;
        if let Some(errors) = r.errors.as_ref().filter(|e| !e.is_empty()) {
            return Err(BackendError::Api {
                url: a.url.clone(),
                status: a.status,
                error_type: errors[0].code.to_string(),
                error: errors.iter().map(|e| e.msg.clone()).collect::<Vec<_>>().join("; "),
                hint: format!("is `{service}` a known service? body {}", snippet(&a.body)),
            });
        }
        Ok(r.data.unwrap_or_default())
    }
}
