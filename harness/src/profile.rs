//! The stack profile: everything the checks expect, read from the stack
//! itself (compose file, Prometheus, Promtail, collector, Grafana
//! provisioning, rule files, Alertmanager), never from the bundled stack's
//! names. A renamed job, tenant, service name or alert is a valid change, and
//! the checks follow it. Derived by [`crate::lint::stack_profile`];
//! `obs-harness profile [STACK]` prints it and every report embeds it.
//!
//! What cannot be derived is declared in `obs-harness.yaml` beside the compose
//! file ([`Overrides`]):
//!
//! ```yaml
//! app: api-service            # the service under test (else: the `obs-harness.role` label, else derived)
//! jobs: [api]                 # its Prometheus scrape job(s)
//! otel_service_name: api      # its OTel service.name
//! tenant: team-a              # the Loki tenant
//! log_labels: {service: api}  # labels its log stream carries
//! causes:                     # alert name -> error_burst | slow_requests | llm_failures | app_stopped
//!   MyCustomAlert: error_burst
//! ```
//!
//! The service under test is marked in compose with the label
//! `obs-harness.role: reference-app` (the harness runs the reference app's
//! binary in its place) or `obs-harness.role: app` (its own image is run).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};


/// The compose label that marks the service under test.
pub use crate::model::kinds::app::ROLE_LABEL;

/// What makes an alert fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A burst of `/error` (5xx) among normal requests.
    ErrorBurst,
    /// Requests slower than the highest latency bucket (1 s).
    SlowRequests,
    /// LLM calls failing with the provider's `rate_limit` (answered 429).
    LlmFailures,
    /// The app container stopped (scrape fails, `up == 0`).
    AppStopped,
}
/// The override file's name, beside the compose file.
pub const OVERRIDE_FILE: &str = "obs-harness.yaml";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackProfile {
    /// The service under test.
    pub app: Option<AppProfile>,
    /// Why there is none, and how to mark one (when `app` is `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_missing: Option<String>,
    /// The stack's Tempo, when it has one (its traces are checked there too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tempo: Option<TempoProfile>,
    /// The Loki tenant (`None`: Loki runs without auth or is absent).
    pub tenant: Option<String>,
    /// Labels the app's log stream carries (values that do not depend on the
    /// container's name), computed from Promtail's relabel rules over the
    /// service's compose labels.
    pub log_labels: BTreeMap<String, String>,
    /// Compose services whose logs Promtail ships (its Docker filters).
    pub shipped_services: Vec<String>,
    /// Resource attributes the collector sets on every span (`resource` processor).
    pub resource_attributes: BTreeMap<String, String>,
    /// Grafana's provisioned datasources.
    pub datasources: Vec<DatasourceProfile>,
    /// Provisioned dashboard uids and the folder they go into.
    pub dashboards: Vec<String>,
    pub dashboard_folder: Option<String>,
    /// Alert rules of Prometheus and the Loki ruler, each with its cause.
    pub alerts: Vec<AlertProfile>,
    /// Alertmanager's default route receiver.
    pub receiver: Option<String>,
    /// The override file that was applied, if any.
    pub overrides: Option<PathBuf>,
    /// Secrets read from the stack, redacted from every report that embeds this
    /// profile ([`crate::redact`]); never serialised.
    #[serde(skip)]
    pub secrets: crate::redact::Redactor,
}

/// A Tempo of the stack: its service, and the tenant its traces go to when
/// multitenancy is on (Grafana's Tempo datasource `X-Scope-OrgID`, else the
/// `X-Scope-OrgID` an OTLP sender sets in `OTEL_EXPORTER_OTLP_HEADERS` or a
/// collector exporter's `headers`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TempoProfile {
    pub service: String,
    pub multitenant: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppProfile {
    /// Compose service name.
    pub service: String,
    pub container_name: Option<String>,
    /// Port Prometheus scrapes (also where traffic goes).
    pub port: Option<u16>,
    /// Scrape jobs whose targets resolve to this service.
    pub jobs: Vec<String>,
    /// `OTEL_SERVICE_NAME` (or `service.name` in `OTEL_RESOURCE_ATTRIBUTES`).
    pub otel_service_name: Option<String>,
    /// Marked `obs-harness.role: reference-app`: run the reference app's binary.
    pub reference_app: bool,
    /// How the service was found: `label`, `override` or `derived`.
    pub found_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasourceProfile {
    pub uid: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertProfile {
    pub name: String,
    /// `prometheus` or `loki`.
    pub source: String,
    pub expr: String,
    pub cause: Option<Cause>,
    /// `expression`, `override`, or why none was found.
    pub cause_from: String,
}

impl StackProfile {
    /// The app's first scrape job.
    pub fn job(&self) -> Option<&str> {
        self.app.as_ref().and_then(|a| a.jobs.first()).map(String::as_str)
    }

    pub fn otel_service_name(&self) -> Option<&str> {
        self.app.as_ref().and_then(|a| a.otel_service_name.as_deref())
    }

    /// LogQL selector of the app's stream: every derived label.
    pub fn log_selector(&self) -> Option<String> {
        (!self.log_labels.is_empty())
            .then(|| format!("{{{}}}", self.log_labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join(",")))
    }

    /// The datasource uid of type `kind`.
    pub fn datasource(&self, kind: &str) -> Option<&DatasourceProfile> {
        self.datasources.iter().find(|d| d.kind == kind)
    }

    /// The cause of alert `name`, if one is known.
    pub fn cause(&self, name: &str) -> Option<Cause> {
        self.alerts.iter().find(|a| a.name == name).and_then(|a| a.cause)
    }

    /// Loki ruler alerts with a cause.
    pub fn loki_alerts(&self) -> impl Iterator<Item = &AlertProfile> {
        self.alerts.iter().filter(|a| a.source == "loki")
    }

    /// Causes a scenario file declares win over those read from expressions.
    pub fn with_declared_causes(mut self, causes: &BTreeMap<String, Cause>) -> Self {
        for a in &mut self.alerts {
            if let Some(c) = causes.get(&a.name) {
                a.cause = Some(*c);
                a.cause_from = "scenario".into();
            }
        }
        self
    }
}

/// `obs-harness.yaml`: what the stack cannot say about itself.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    pub app: Option<String>,
    pub jobs: Option<Vec<String>>,
    pub otel_service_name: Option<String>,
    pub tenant: Option<String>,
    pub log_labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub causes: BTreeMap<String, Cause>,
}

/// Prometheus-style relabelling of `labels` (`replace`, `labelmap`,
/// `labeldrop`, `labelkeep`; `keep`/`drop` return `None`), as Promtail applies it.
pub fn relabel(labels: &BTreeMap<String, String>, rules: &[serde_yaml::Value]) -> Option<BTreeMap<String, String>> {
    let mut l = labels.clone();
    for r in rules {
        let s = |k: &str| r[k].as_str().map(str::to_owned);
        let action = s("action").unwrap_or_else(|| "replace".into()).to_ascii_lowercase();
        let re = regex::Regex::new(&format!("^(?:{})$", s("regex").unwrap_or_else(|| "(.*)".into()))).ok()?;
        let sep = s("separator").unwrap_or_else(|| ";".into());
        let sources: Vec<String> = r["source_labels"].as_sequence().map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        let value = sources.iter().map(|k| l.get(k).cloned().unwrap_or_default()).collect::<Vec<_>>().join(&sep);
        match action.as_str() {
            "replace" => {
                let (Some(target), Some(c)) = (s("target_label"), re.captures(&value)) else { continue };
                let mut out = String::new();
                c.expand(&s("replacement").unwrap_or_else(|| "$1".into()), &mut out);
                if out.is_empty() {
                    l.remove(&target);
                } else {
                    l.insert(target, out);
                }
            }
            "keep" if !re.is_match(&value) => return None,
            "drop" if re.is_match(&value) => return None,
            "labelmap" => {
                let repl = s("replacement").unwrap_or_else(|| "$1".into());
                let add: Vec<(String, String)> = l
                    .iter()
                    .filter_map(|(k, v)| re.captures(k).map(|c| {
                        let mut out = String::new();
                        c.expand(&repl, &mut out);
                        (out, v.clone())
                    }))
                    .collect();
                l.extend(add);
            }
            "labeldrop" => l.retain(|k, _| !re.is_match(k)),
            "labelkeep" => l.retain(|k, _| re.is_match(k)),
            _ => {}
        }
    }
    Some(l)
}

impl StackProfile {
    /// The profile as it may be shown: every string redacted ([`crate::redact`]);
    /// it keeps its secrets for the report it goes into.
    pub fn redacted(&self) -> StackProfile {
        let mut v = serde_json::to_value(self).expect("profile serialises");
        self.secrets.redact_json(&mut v);
        let mut out: StackProfile = serde_json::from_value(v).unwrap_or_default();
        out.secrets = self.secrets.clone();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabelling_as_promtail_does() {
        let labels: BTreeMap<String, String> = [
            ("__meta_docker_container_name", "/api"),
            ("__meta_docker_container_label_com_docker_compose_service", "app"),
            ("__meta_docker_container_label_env", "prod"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let rules: Vec<serde_yaml::Value> = serde_yaml::from_str(
            r#"
- target_label: job
  replacement: docker
- source_labels: [__meta_docker_container_name]
  regex: '/(.*)'
  target_label: container
- source_labels: [__meta_docker_container_label_com_docker_compose_service]
  target_label: service
- source_labels: [__meta_docker_container_label_missing]
  target_label: gone
- action: labelmap
  regex: __meta_docker_container_label_(env)
"#,
        )
        .unwrap();
        let out = relabel(&labels, &rules).unwrap();
        assert_eq!(out.get("job").map(String::as_str), Some("docker"));
        assert_eq!(out.get("container").map(String::as_str), Some("api"));
        assert_eq!(out.get("service").map(String::as_str), Some("app"));
        assert_eq!(out.get("env").map(String::as_str), Some("prod"));
        assert!(!out.contains_key("gone"));
        let keep: Vec<serde_yaml::Value> = serde_yaml::from_str("- {action: keep, source_labels: [job], regex: nope}").unwrap();
        assert!(relabel(&out, &keep).is_none());
    }
}
