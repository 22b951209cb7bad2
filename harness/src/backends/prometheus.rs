//! Prometheus HTTP API v1 client (`/api/v1/*`, `/-/ready`).
//!
//! Every answer is the envelope `{"status":"success"|"error","data":…,
//! "errorType":…,"error":…,"warnings":[…]}`; an error envelope (HTTP 400/422/
//! 503 with JSON) becomes [`BackendError::Api`]. Sample values are strings
//! (`"1"`, `"NaN"`, `"+Inf"`) and are parsed with [`parse_value`]. The same
//! rule/alert shapes are served by Loki's ruler under `/prometheus/api/v1/`,
//! so [`RulesData`] and [`Alert`] are shared with [`super::loki`].

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Answer, BackendError, Http, snippet, status_hint, unix_seconds};

/// A label set.
pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: String,
    #[serde(default = "Option::default")]
    data: Option<T>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Decodes a Prometheus-style envelope (`status`, `data`, `errorType`, `error`).
pub(crate) fn decode_envelope<T: serde::de::DeserializeOwned>(answer: Answer) -> Result<T, BackendError> {
    // An error envelope may come with 4xx/5xx: report the API error, not just the status.
    let env: Envelope<T> = match serde_json::from_str(&answer.body) {
        Ok(env) => env,
        Err(_) if !answer.is_success() => return Err(answer.status_error()),
        Err(e) => {
            return Err(BackendError::Decode { url: answer.url, message: e.to_string(), body: snippet(&answer.body) });
        }
    };
    if env.status != "success" {
        return Err(BackendError::Api {
            url: answer.url,
            status: answer.status,
            error_type: env.error_type.unwrap_or_default(),
            error: env.error.unwrap_or_default(),
            hint: status_hint(answer.status).into(),
        });
    }
    if !answer.is_success() {
        return Err(answer.status_error());
    }
    env.data.ok_or_else(|| BackendError::Decode {
        url: answer.url.clone(),
        message: "\"status\":\"success\" without a \"data\" field".into(),
        body: snippet(&answer.body),
    })
}

/// Parses a Prometheus sample value (`"1"`, `"1e+00"`, `"NaN"`, `"+Inf"`, `"-Inf"`).
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Parses a bucket bound `le`: `"1"` (Prometheus 2) and `"1.0"` (Prometheus 3) are both 1.0.
pub fn parse_le(le: &str) -> Option<f64> {
    parse_value(le)
}

/// `[<unix seconds>, "<value>"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplePair(pub f64, pub String);

impl SamplePair {
    pub fn timestamp(&self) -> f64 {
        self.0
    }
    pub fn value(&self) -> Option<f64> {
        parse_value(&self.1)
    }
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorSample {
    pub metric: Labels,
    pub value: SamplePair,
}

/// One series of a range matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixSeries {
    pub metric: Labels,
    #[serde(default)]
    pub values: Vec<SamplePair>,
}

/// The typed result of `query` / `query_range`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryResult {
    Vector(Vec<VectorSample>),
    Matrix(Vec<MatrixSeries>),
    Scalar(SamplePair),
    String(SamplePair),
}

impl QueryResult {
    /// The vector's samples (empty for other result types).
    pub fn vector(&self) -> &[VectorSample] {
        match self {
            QueryResult::Vector(v) => v,
            _ => &[],
        }
    }

    /// The matrix's series (empty for other result types).
    pub fn matrix(&self) -> &[MatrixSeries] {
        match self {
            QueryResult::Matrix(m) => m,
            _ => &[],
        }
    }

    /// Number of series (1 for scalar/string).
    pub fn len(&self) -> usize {
        match self {
            QueryResult::Vector(v) => v.len(),
            QueryResult::Matrix(m) => m.len(),
            _ => 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn result_type(&self) -> &'static str {
        match self {
            QueryResult::Vector(_) => "vector",
            QueryResult::Matrix(_) => "matrix",
            QueryResult::Scalar(_) => "scalar",
            QueryResult::String(_) => "string",
        }
    }
}

/// `/api/v1/targets` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsData {
    #[serde(default)]
    pub active_targets: Vec<Target>,
    #[serde(default)]
    pub dropped_targets: Vec<DroppedTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub discovered_labels: Labels,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub scrape_pool: String,
    pub scrape_url: String,
    #[serde(default)]
    pub global_url: String,
    #[serde(default)]
    pub last_error: String,
    #[serde(default)]
    pub last_scrape: String,
    #[serde(default)]
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: String,
    #[serde(default)]
    pub scrape_interval: String,
    #[serde(default)]
    pub scrape_timeout: String,
}

impl Target {
    pub fn job(&self) -> &str {
        self.labels.get("job").map_or(self.scrape_pool.as_str(), String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    #[serde(default)]
    pub discovered_labels: Labels,
}

/// `/api/v1/rules` data (also Loki's `/prometheus/api/v1/rules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesData {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

impl RulesData {
    /// Every rule with its group name.
    pub fn rules(&self) -> impl Iterator<Item = (&RuleGroup, &Rule)> {
        self.groups.iter().flat_map(|g| g.rules.iter().map(move |r| (g, r)))
    }

    /// The rule called `name` (alert or record name).
    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules().map(|(_, r)| r).find(|r| r.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleGroup {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Evaluation interval in seconds.
    #[serde(default)]
    pub interval: f64,
    #[serde(default)]
    pub last_evaluation: Option<String>,
    #[serde(default)]
    pub evaluation_time: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: String,
    #[serde(default)]
    pub query: String,
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `ok`, `err` or `unknown`.
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Alerting rules: `inactive`, `pending` or `firing`.
    #[serde(default)]
    pub state: Option<String>,
    /// Alerting rules: `for` in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub labels: Option<Labels>,
    #[serde(default)]
    pub annotations: Option<Labels>,
    #[serde(default)]
    pub alerts: Option<Vec<Alert>>,
    #[serde(default)]
    pub last_evaluation: Option<String>,
}

/// `/api/v1/alerts` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertsData {
    #[serde(default)]
    pub alerts: Vec<Alert>,
}

/// An alert as Prometheus (or Loki's ruler) holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub annotations: Labels,
    /// `pending` or `firing`.
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

/// `/api/v1/alertmanagers` data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagersData {
    #[serde(default)]
    pub active_alertmanagers: Vec<AlertmanagerUrl>,
    #[serde(default)]
    pub dropped_alertmanagers: Vec<AlertmanagerUrl>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertmanagerUrl {
    pub url: String,
}

/// One series' exemplars from `/api/v1/query_exemplars`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemplarSeries {
    pub series_labels: Labels,
    #[serde(default)]
    pub exemplars: Vec<Exemplar>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exemplar {
    #[serde(default)]
    pub labels: Labels,
    pub value: String,
    pub timestamp: f64,
}

impl Exemplar {
    /// The exemplar's trace id (`trace_id`, or `traceID`/`trace-id` as some SDKs name it).
    pub fn trace_id(&self) -> Option<&str> {
        ["trace_id", "traceID", "traceId", "trace-id"].iter().find_map(|k| self.labels.get(*k)).map(String::as_str)
    }
}

/// One entry of `/api/v1/metadata` (metric family name -> entries, one per
/// distinct type/help/unit the targets expose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricMetadata {
    /// `counter`, `gauge`, `histogram`, `gaugehistogram`, `summary`, `info`, `stateset` or `unknown`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub help: String,
    #[serde(default)]
    pub unit: String,
}

/// A client for one Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: Http,
}

impl PrometheusClient {
    /// `base`: e.g. `http://127.0.0.1:9090`.
    pub fn new(base: impl Into<String>) -> Self {
        Self { http: Http::new(base) }
    }

    /// Per-request timeout (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.http = self.http.timeout(timeout);
        self
    }

    pub fn base_url(&self) -> &str {
        self.http.base()
    }

    /// The URL a call goes to (for check messages).
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        self.http.url(path, query)
    }

    async fn api<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, BackendError> {
        decode_envelope(self.http.get(path, query).await?)
    }

    /// `GET /-/ready`: `true` on 200, `false` on 503 (starting); other statuses are errors.
    pub async fn ready(&self) -> Result<bool, BackendError> {
        let a = self.http.get("/-/ready", &[]).await?;
        match a.status {
            200 => Ok(true),
            503 => Ok(false),
            _ => Err(a.status_error()),
        }
    }

    pub async fn targets(&self) -> Result<TargetsData, BackendError> {
        self.api("/api/v1/targets", &[]).await
    }

    /// Instant query at the server's current time.
    pub async fn query(&self, expr: &str) -> Result<QueryResult, BackendError> {
        self.api("/api/v1/query", &[("query", expr.to_owned())]).await
    }

    /// Instant query at `time`.
    pub async fn query_at(&self, expr: &str, time: SystemTime) -> Result<QueryResult, BackendError> {
        self.api("/api/v1/query", &[("query", expr.to_owned()), ("time", unix_seconds(time))]).await
    }

    pub async fn query_range(&self, expr: &str, start: SystemTime, end: SystemTime, step: Duration) -> Result<QueryResult, BackendError> {
        let step = format!("{}", step.as_secs_f64().max(0.001));
        self.api(
            "/api/v1/query_range",
            &[("query", expr.to_owned()), ("start", unix_seconds(start)), ("end", unix_seconds(end)), ("step", step)],
        )
        .await
    }

    /// `GET /api/v1/series` with one `match[]` per matcher.
    pub async fn series(&self, matchers: &[&str], start: SystemTime, end: SystemTime) -> Result<Vec<Labels>, BackendError> {
        let mut q: Vec<(&str, String)> = matchers.iter().map(|m| ("match[]", (*m).to_owned())).collect();
        q.push(("start", unix_seconds(start)));
        q.push(("end", unix_seconds(end)));
        self.api("/api/v1/series", &q).await
    }

    /// `GET /api/v1/metadata`: every metric family the targets expose, with its type.
    /// The names are the families of the exposition (`# TYPE` names: a histogram's
    /// base name; a counter's `_total` name in text format 0.0.4, without it in OpenMetrics).
    pub async fn metadata(&self) -> Result<BTreeMap<String, Vec<MetricMetadata>>, BackendError> {
        self.api("/api/v1/metadata", &[]).await
    }

    pub async fn rules(&self) -> Result<RulesData, BackendError> {
        self.api("/api/v1/rules", &[]).await
    }

    pub async fn alerts(&self) -> Result<Vec<Alert>, BackendError> {
        Ok(self.api::<AlertsData>("/api/v1/alerts", &[]).await?.alerts)
    }

    pub async fn alertmanagers(&self) -> Result<AlertmanagersData, BackendError> {
        self.api("/api/v1/alertmanagers", &[]).await
    }

    /// Needs `--enable-feature=exemplar-storage` (an empty list otherwise).
    pub async fn query_exemplars(&self, expr: &str, start: SystemTime, end: SystemTime) -> Result<Vec<ExemplarSeries>, BackendError> {
        self.api(
            "/api/v1/query_exemplars",
            &[("query", expr.to_owned()), ("start", unix_seconds(start)), ("end", unix_seconds(end))],
        )
        .await
    }
}
