//! Grafana HTTP API client: `/api/health`, `/api/datasources`,
//! `/api/datasources/uid/{uid}/health`, `/api/dashboards/uid/{uid}`,
//! `/api/search`, and `/api/ds/query` (queries through a datasource, answered
//! as data frames under `results.<refId>.frames`).
//!
//! Anonymous access works with the bundled stack; [`GrafanaClient::with_basic_auth`]
//! is for stacks with a login.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{BackendError, Http};

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrafanaHealth {
    /// `ok` when the database is reachable.
    pub database: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub commit: String,
}

/// One entry of `GET /api/datasources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    #[serde(default)]
    pub id: i64,
    pub uid: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub access: String,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub json_data: Value,
}

/// `GET /api/datasources/uid/{uid}/health` (200 `OK`, 400 `ERROR` with the same shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasourceHealth {
    /// `OK` or `ERROR`.
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// `meta` of `GET /api/dashboards/uid/{uid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardMeta {
    #[serde(default)]
    pub provisioned: bool,
    #[serde(default)]
    pub provisioned_external_id: String,
    #[serde(default)]
    pub folder_title: String,
    #[serde(default)]
    pub folder_uid: String,
    #[serde(default)]
    pub folder_id: i64,
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardWithMeta {
    pub dashboard: Value,
    pub meta: DashboardMeta,
}

impl DashboardWithMeta {
    pub fn title(&self) -> &str {
        self.dashboard["title"].as_str().unwrap_or_default()
    }
    pub fn uid(&self) -> &str {
        self.dashboard["uid"].as_str().unwrap_or_default()
    }
}

/// One hit of `GET /api/search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub uid: String,
    pub title: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub folder_uid: Option<String>,
    #[serde(default)]
    pub folder_title: Option<String>,
}

/// The answer of `POST /api/ds/query`: one result per refId.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsQueryResponse {
    #[serde(default)]
    pub results: BTreeMap<String, DsResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DsResult {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub frames: Vec<Frame>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub schema: FrameSchema,
    #[serde(default)]
    pub data: FrameData,
}

impl Frame {
    /// Number of rows (length of the first field's values).
    pub fn rows(&self) -> usize {
        self.data.values.first().map_or(0, Vec::len)
    }
    pub fn field_names(&self) -> Vec<&str> {
        self.schema.fields.iter().map(|f| f.name.as_str()).collect()
    }
    /// The values of field `name` as text.
    pub fn column(&self, name: &str) -> Vec<String> {
        let Some(i) = self.schema.fields.iter().position(|f| f.name == name) else { return Vec::new() };
        self.data.values.get(i).map(|v| v.iter().map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).collect()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameSchema {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub ref_id: Option<String>,
    #[serde(default)]
    pub fields: Vec<FrameField>,
    #[serde(default)]
    pub meta: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameField {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameData {
    #[serde(default)]
    pub values: Vec<Vec<Value>>,
}

/// A client for one Grafana.
#[derive(Debug, Clone)]
pub struct GrafanaClient {
    http: Http,
}

impl GrafanaClient {
    /// `base`: e.g. `http://127.0.0.1:3030`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base) }
    }

    pub fn with_basic_auth(mut self, user: &str, pass: &str) -> Self {
        self.http = self.http.basic_auth(user, pass);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        self.http.base()
    }

    pub fn url(&self, path: &str) -> String {
        self.http.url(path, &[])
    }

    pub async fn health(&self) -> Result<GrafanaHealth, BackendError> {
        self.http.get_json("/api/health", &[]).await
    }

    pub async fn datasources(&self) -> Result<Vec<Datasource>, BackendError> {
        self.http.get_json("/api/datasources", &[]).await
    }

    /// The datasource's own health check, run by Grafana against the backend.
    pub async fn datasource_health(&self, uid: &str) -> Result<DatasourceHealth, BackendError> {
        let a = self.http.get(&format!("/api/datasources/uid/{uid}/health"), &[]).await?;
        if (a.is_success() || a.status == 400)
            && let Ok(h) = a.json::<DatasourceHealth>() {
            return Ok(h);
        }
        a.success()?.json()
    }

    /// The dashboard and its meta; `None` on 404.
    pub async fn dashboard(&self, uid: &str) -> Result<Option<DashboardWithMeta>, BackendError> {
        let a = self.http.get(&format!("/api/dashboards/uid/{uid}"), &[]).await?;
        if a.status == 404 {
            return Ok(None);
        }
        a.success()?.json().map(Some)
    }

    /// Every dashboard (`type=dash-db`).
    pub async fn search_dashboards(&self) -> Result<Vec<SearchHit>, BackendError> {
        self.http.get_json("/api/search", &[("type", "dash-db".to_owned())]).await
    }

    /// Runs `expr` through datasource `uid` (of type `kind`: `prometheus`,
    /// `loki`) over `[from, to]` as refId `A`. An error inside the result
    /// (`results.A.error`) is returned in [`DsResult::error`]; HTTP errors are `Err`.
    pub async fn ds_query(&self, uid: &str, kind: &str, expr: &str, from: SystemTime, to: SystemTime) -> Result<DsQueryResponse, BackendError> {
        self.ds_query_with(
            json!({
                "refId": "A",
                "datasource": { "uid": uid, "type": kind },
                "expr": expr,
                "queryType": "range",
                "range": true,
                "instant": false,
                "intervalMs": 15000,
                "maxDataPoints": 500,
            }),
            from,
            to,
        )
        .await
    }

    /// A trace by id through a Jaeger datasource (the plugin's `JaegerQuery`
    /// with an empty `queryType`; grafana-jaeger-datasource `pkg/jaeger/querydata.go`).
    pub async fn jaeger_trace(&self, uid: &str, trace_id: &str, from: SystemTime, to: SystemTime) -> Result<DsQueryResponse, BackendError> {
        self.ds_query_with(json!({ "refId": "A", "datasource": { "uid": uid, "type": "jaeger" }, "queryType": "", "query": trace_id }), from, to).await
    }

    /// A trace search for `service` through a Jaeger datasource (`queryType: "search"`).
    pub async fn jaeger_search(&self, uid: &str, service: &str, limit: u32, from: SystemTime, to: SystemTime) -> Result<DsQueryResponse, BackendError> {
        self.ds_query_with(
            json!({ "refId": "A", "datasource": { "uid": uid, "type": "jaeger" }, "queryType": "search", "service": service, "limit": limit }),
            from,
            to,
        )
        .await
    }

    /// `POST /api/ds/query` with one query (refId `A`) over `[from, to]`.
    pub async fn ds_query_with(&self, query: Value, from: SystemTime, to: SystemTime) -> Result<DsQueryResponse, BackendError> {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis().to_string();
        let body = json!({ "queries": [query], "from": ms(from), "to": ms(to) });
        let a = self.http.post_json("/api/ds/query", &body).await?;
        // Grafana answers a failing query with 4xx/5xx and the same shape: keep the per-query error.
        if !a.is_success()
            && let Ok(r) = a.json::<DsQueryResponse>()
            && r.results.values().any(|r| r.error.is_some())
        {
            return Ok(r);
        }
        a.success()?.json()
    }
}
