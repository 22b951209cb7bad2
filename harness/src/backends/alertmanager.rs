//! Alertmanager API v2 client (`/api/v2/alerts`, `/api/v2/status`, `/-/ready`).
//!
//! Shapes as recorded from Alertmanager 0.25 (`fixtures/alertmanager/0.25.0/`):
//! alerts are a bare JSON array; errors are a bare JSON string (HTTP 400).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{BackendError, Http};

/// One alert Alertmanager holds (`GET /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub receivers: Vec<Receiver>,
    pub status: AlertStatus,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
}

impl AmAlert {
    pub fn alertname(&self) -> Option<&str> {
        self.labels.get("alertname").map(String::as_str)
    }
    pub fn receiver_names(&self) -> Vec<&str> {
        self.receivers.iter().map(|r| r.name.as_str()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

/// `GET /api/v2/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmStatus {
    pub cluster: ClusterStatus,
    pub config: AmConfig,
    #[serde(default)]
    pub uptime: String,
    #[serde(default)]
    pub version_info: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// `ready`, `settling` or `disabled`.
    pub status: String,
    #[serde(default)]
    pub peers: Vec<serde_json::Value>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmConfig {
    /// The running configuration as YAML.
    pub original: String,
}

/// A client for one Alertmanager.
#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    http: Http,
}

impl AlertmanagerClient {
    /// `base`: e.g. `http://127.0.0.1:9093`.
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

    pub fn url(&self, path: &str) -> String {
        self.http.url(path, &[])
    }

    /// `GET /-/ready`: `true` on 200, `false` on 503.
    pub async fn ready(&self) -> Result<bool, BackendError> {
        let a = self.http.get("/-/ready", &[]).await?;
        match a.status {
            200 => Ok(true),
            503 => Ok(false),
            _ => Err(a.status_error()),
        }
    }

    /// Every alert (active, silenced, inhibited).
    pub async fn alerts(&self) -> Result<Vec<AmAlert>, BackendError> {
        self.http.get_json("/api/v2/alerts", &[]).await
    }

    /// Alerts matching every `filter` matcher (e.g. `alertname="HighErrorRate"`).
    pub async fn alerts_matching(&self, filters: &[&str]) -> Result<Vec<AmAlert>, BackendError> {
        let q: Vec<(&str, String)> = filters.iter().map(|f| ("filter", (*f).to_owned())).collect();
        self.http.get_json("/api/v2/alerts", &q).await
    }

    pub async fn status(&self) -> Result<AmStatus, BackendError> {
        self.http.get_json("/api/v2/status", &[]).await
    }
}
