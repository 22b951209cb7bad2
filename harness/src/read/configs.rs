//! Typed serde models of the parts of each config the gate cross-checks.
//! Unknown keys are ignored: these are views, not full schemas.

use serde::Deserialize;
use std::collections::BTreeMap;

// ---------------------------------------------------------------- Prometheus

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PrometheusConfig {
    pub rule_files: Vec<String>,
    pub alerting: Option<Alerting>,
    pub scrape_configs: Vec<ScrapeConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Alerting {
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AlertmanagerConfig {
    pub static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub metrics_path: Option<String>,
    pub static_configs: Vec<StaticConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// A Prometheus (or Loki ruler) rule file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RuleGroup {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Rule {
    pub record: Option<String>,
    pub alert: Option<String>,
    /// Kept as YAML: corpus files sometimes write numbers here.
    pub expr: serde_yaml::Value,
    pub labels: BTreeMap<String, serde_yaml::Value>,
}

impl Rule {
    pub fn expr_str(&self) -> Option<String> {
        match &self.expr {
            serde_yaml::Value::String(s) => Some(s.clone()),
            serde_yaml::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- Alertmanager

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AlertmanagerFile {
    pub receivers: Vec<Receiver>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    pub url: Option<String>,
}

// ---------------------------------------------------------------- OTel collector

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CollectorConfig {
    pub receivers: BTreeMap<String, serde_yaml::Value>,
    pub exporters: BTreeMap<String, Option<CollectorExporter>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CollectorExporter {
    pub endpoint: Option<String>,
}

// ---------------------------------------------------------------- Promtail

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromtailConfig {
    pub clients: Vec<PromtailClient>,
    pub scrape_configs: Vec<PromtailScrape>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromtailClient {
    pub url: String,
    pub tenant_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromtailScrape {
    pub job_name: String,
    pub docker_sd_configs: Vec<DockerSd>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DockerSd {
    pub host: Option<String>,
    pub filters: Vec<DockerFilter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DockerFilter {
    pub name: String,
    pub values: Vec<String>,
}

// ---------------------------------------------------------------- Loki

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LokiConfig {
    /// Loki's default is `true`.
    pub auth_enabled: Option<bool>,
    pub ruler: Option<LokiRuler>,
}

impl LokiConfig {
    /// `ruler.storage.local.directory`: where the ruler reads `<tenant>/*.yml` (container path).
    pub fn ruler_directory(&self) -> Option<String> {
        self.ruler.as_ref()?.storage.as_ref()?.local.as_ref()?.directory.clone()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LokiRuler {
    pub alertmanager_url: Option<String>,
    pub storage: Option<LokiRulerStorage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LokiRulerStorage {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub local: Option<LokiLocal>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LokiLocal {
    pub directory: Option<String>,
}

// ---------------------------------------------------------------- Grafana

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DatasourcesFile {
    pub datasources: Vec<Datasource>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Datasource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: Option<String>,
    pub url: Option<String>,
    /// `proxy` (Grafana's server connects) or `direct`/`browser` (the user's browser does).
    pub access: Option<String>,
    pub is_default: bool,
    pub json_data: BTreeMap<String, serde_yaml::Value>,
    pub secure_json_data: BTreeMap<String, serde_yaml::Value>,
}

impl Datasource {
    /// Value of the custom HTTP header `name` (`httpHeaderNameN` / `httpHeaderValueN`).
    pub fn header(&self, name: &str) -> Option<String> {
        for (k, v) in &self.json_data {
            if let Some(n) = k.strip_prefix("httpHeaderName")
                && v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(name))
            {
                let vk = format!("httpHeaderValue{n}");
                return self
                    .secure_json_data
                    .get(&vk)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
            }
        }
        None
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DashboardProvidersFile {
    pub providers: Vec<DashboardProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DashboardProvider {
    pub name: String,
    /// Grafana folder the provider's dashboards go into (`""`/absent: General).
    pub folder: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub options: ProviderOptions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProviderOptions {
    pub path: Option<String>,
}
