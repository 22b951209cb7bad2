//! Loki HTTP API client (`/loki/api/v1/*`, the ruler, `/ready`), per tenant.
//!
//! Shapes follow the recordings of Loki 3.4.6 (`fixtures/loki/3.4.6/`):
//! query answers are `{"status":"success","data":{"resultType":"streams",
//! "result":[{"stream":{…},"values":[["<ns>","<line>"]]}],"stats":{…}}}`;
//! label values of an unknown label come back without a `data` key (→ empty);
//! errors are `text/plain` (e.g. 400 parse errors, 401 `no org id`); the
//! ruler's `/loki/api/v1/rules` answers YAML (namespace → groups) and 404
//! `no rule groups found` when the tenant has none (→ empty map); the
//! Prometheus-compatible `/prometheus/api/v1/rules|alerts` answer JSON.
//! With `auth_enabled: true` every call but `/ready` needs the tenant header
//! `X-Scope-OrgID` ([`LokiClient::with_tenant`]).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::prometheus::{Alert, AlertsData, Labels, RulesData, SamplePair, decode_envelope};
use super::{BackendError, Http, snippet, unix_nanos};

/// The tenant header.
pub const TENANT_HEADER: &str = "X-Scope-OrgID";

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
}

/// One log stream: its labels and `[timestamp ns, line]` entries (newest first by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStream {
    pub stream: Labels,
    #[serde(default)]
    pub values: Vec<(String, String)>,
}

impl LogStream {
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(_, l)| l.as_str())
    }
}

/// A metric query's series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LokiMatrixSeries {
    pub metric: Labels,
    #[serde(default)]
    pub values: Vec<SamplePair>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LokiVectorSample {
    pub metric: Labels,
    pub value: SamplePair,
}

/// The result of a LogQL query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum LokiResult {
    Streams(Vec<LogStream>),
    Matrix(Vec<LokiMatrixSeries>),
    Vector(Vec<LokiVectorSample>),
}

impl LokiResult {
    /// The streams (empty for metric results).
    pub fn streams(&self) -> &[LogStream] {
        match self {
            LokiResult::Streams(s) => s,
            _ => &[],
        }
    }

    /// Every `(stream labels, line)`.
    pub fn lines(&self) -> impl Iterator<Item = (&Labels, &str)> {
        self.streams().iter().flat_map(|s| s.values.iter().map(move |(_, l)| (&s.stream, l.as_str())))
    }
}

/// One rule group as the ruler's YAML lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LokiRuleGroup {
    pub name: String,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub rules: Vec<LokiRule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LokiRule {
    #[serde(default)]
    pub alert: Option<String>,
    #[serde(default)]
    pub record: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A client for one Loki, as one tenant.
#[derive(Debug, Clone)]
pub struct LokiClient {
    http: Http,
    tenant: Option<String>,
}

impl LokiClient {
    /// `base`: e.g. `http://127.0.0.1:3100`. No tenant header until [`Self::with_tenant`].
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base), tenant: None }
    }

    /// Sends `X-Scope-OrgID: <tenant>` (the bundled stack's tenant is `docker`).
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.http = self.http.header(TENANT_HEADER, tenant);
        self.tenant = Some(tenant.to_owned());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        self.http.base()
    }

    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The URL a call goes to (for check messages).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        self.http.url(path, query)
    }

    async fn api<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<Option<T>, BackendError> {
        let a = self.http.get(path, query).await?.success()?;
        let env: Envelope<T> = a.json()?;
        if env.status != "success" {
            return Err(BackendError::Api {
                url: a.url.clone(),
                status: a.status,
                error_type: env.status,
                error: snippet(&a.body),
                hint: "Loki answered a non-success status in the body".into(),
            });
        }
        Ok(env.data)
    }

    /// `GET /ready`: `true` on 200 `ready`, `false` on 503 (starting, ingester waiting).
    pub async fn ready(&self) -> Result<bool, BackendError> {
        let a = self.http.get("/ready", &[]).await?;
        match a.status {
            200 => Ok(true),
            503 => Ok(false),
            _ => Err(a.status_error()),
        }
    }

    pub async fn labels(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.api("/loki/api/v1/labels", &[]).await?.unwrap_or_default())
    }

    /// Values of label `name`; empty when Loki answers without `data` (unknown label).
    pub async fn label_values(&self, name: &str) -> Result<Vec<String>, BackendError> {
        Ok(self.api(&format!("/loki/api/v1/label/{name}/values"), &[]).await?.unwrap_or_default())
    }

    /// Values of label `name` seen between `start` and `end`.
    pub async fn label_values_between(&self, name: &str, start: SystemTime, end: SystemTime) -> Result<Vec<String>, BackendError> {
        let q = [("start", unix_nanos(start)), ("end", unix_nanos(end))];
        Ok(self.api(&format!("/loki/api/v1/label/{name}/values"), &q).await?.unwrap_or_default())
    }

    pub async fn query_range(&self, logql: &str, start: SystemTime, end: SystemTime, limit: u32) -> Result<LokiResult, BackendError> {
        let q = [("query", logql.to_owned()), ("start", unix_nanos(start)), ("end", unix_nanos(end)), ("limit", limit.to_string())];
        self.query_path("/loki/api/v1/query_range", &q).await
    }

    /// Instant (metric) query at `time`.
    pub async fn query(&self, logql: &str, time: SystemTime) -> Result<LokiResult, BackendError> {
        self.query_path("/loki/api/v1/query", &[("query", logql.to_owned()), ("time", unix_nanos(time))]).await
    }

    async fn query_path(&self, path: &str, q: &[(&str, String)]) -> Result<LokiResult, BackendError> {
        let url = self.http.url(path, q);
        self.api(path, q).await?.ok_or_else(|| BackendError::Decode {
            url,
            message: "query answer without data".into(),
            body: String::new(),
        })
    }

    /// `GET /loki/api/v1/series` with one `match[]` per selector.
    pub async fn series(&self, matchers: &[&str], start: SystemTime, end: SystemTime) -> Result<Vec<Labels>, BackendError> {
        let mut q: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", (*m).to_owned())).collect();
        q.push(("start", unix_nanos(start)));
        q.push(("end", unix_nanos(end)));
        Ok(self.api("/loki/api/v1/series", &q).await?.unwrap_or_default())
    }

    /// The ruler's rule groups per namespace (YAML); empty when the ruler
    /// answers 404 `no rule groups found`.
    pub async fn ruler_rules(&self) -> Result<BTreeMap<String, Vec<LokiRuleGroup>>, BackendError> {
        let a = self.http.get("/loki/api/v1/rules", &[]).await?;
        if a.status == 404 && a.body.contains("no rule groups found") {
            return Ok(BTreeMap::new());
        }
        let a = a.success()?;
        if a.body.trim().is_empty() {
            return Ok(BTreeMap::new());
        }
        serde_yaml::from_str(&a.body).map_err(|e| BackendError::Decode { url: a.url.clone(), message: e.to_string(), body: snippet(&a.body) })
    }

    /// The ruler's rules in the Prometheus JSON shape (health, lastError, state).
    pub async fn prometheus_rules(&self) -> Result<RulesData, BackendError> {
        decode_envelope(self.http.get("/prometheus/api/v1/rules", &[]).await?)
    }

    /// The ruler's pending/firing alerts.
    pub async fn prometheus_alerts(&self) -> Result<Vec<Alert>, BackendError> {
        Ok(decode_envelope::<AlertsData>(self.http.get("/prometheus/api/v1/alerts", &[]).await?)?.alerts)
    }

    /// The same client without the tenant header (to prove the tenant is enforced).
    pub fn without_tenant(&self) -> Self {
        let mut c = Self::new(self.http.base().to_owned());
        c.http = c.http.timeout(self.http_timeout());
        c
    }

    fn http_timeout(&self) -> Duration {
        self.http.get_timeout()
    }

    /// Raw GET (status and body), for checks that judge error answers.
    pub async fn get_raw(&self, path: &str, query: &[(&str, String)]) -> Result<(u16, String), BackendError> {
        let a = self.http.get(path, query).await?;
        Ok((a.status, a.body))
    }
}
