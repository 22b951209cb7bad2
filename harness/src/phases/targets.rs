//! Where each backend of a run is ([`Targets`]): its URL, or why it is not
//! part of the run, the compose service it runs as, and what the stack
//! profile says the checks must expect.

use std::collections::BTreeMap;

use crate::backends::{GrafanaClient, JaegerClient, LokiClient, PrometheusClient, TempoClient};
use crate::model::StackModel;
use crate::profile::StackProfile;
use crate::stack::StackState;

/// Base URLs of the backends a run checks; `None` = not available, with the reason.
#[derive(Clone, Default)]
pub struct Targets {
    pub urls: BTreeMap<String, String>,
    pub missing: BTreeMap<String, String>,
    /// The app's container name as Promtail labels it (`container`).
    pub app_container: String,
    /// What the stack says the checks must expect.
    pub profile: StackProfile,
    /// The stack model the run read once: a restart refreshes the endpoints from it, never re-reads it.
    pub model: Option<std::sync::Arc<StackModel>>,
    /// The compose service each backend runs as (`app -> api`, say), for
    /// failure messages that carry its container's log lines.
    pub services: BTreeMap<String, String>,
}

/// The backends a run talks to: (name, fallback compose service, fallback
/// port). [`Targets::from_state_with`] finds each by its kind in the stack
/// model first (any service name, the port its config sets).
pub const BACKENDS: &[(&str, &str, u16)] = &[
    ("app", "app", 8000),
    ("prometheus", "prometheus", 9090),
    ("alertmanager", "alertmanager", 9093),
    ("jaeger", "jaeger", 16686),
    ("tempo", "tempo", 3200),
    ("loki", "loki", 3100),
    ("grafana", "grafana", 3000),
    ("otel-collector", "otel-collector", 13133),
    ("webhook", crate::webhook::SERVICE, crate::webhook::PORT),
];

impl Targets {
    /// The endpoints of a stack the harness started, and its profile and model,
    /// read once from the compose files it was started from (tests and tools;
    /// `check` hands over what it read: [`Self::from_state_with`]).
    pub fn from_state(state: &StackState) -> Self {
        let dir = state.compose_file.parent().unwrap_or(std::path::Path::new("."));
        match crate::lint::read_stack(dir, &state.compose_input()) {
            Ok(r) => Self::from_state_with(state, r.profile, Some(std::sync::Arc::new(r.model))),
            Err(_) => Self::from_state_with(state, StackProfile::default(), None),
        }
    }

    /// The endpoints of a stack the harness started, expecting `profile`, each
    /// backend found in `model` (after a restart: the run's own, not read again).
    pub fn from_state_with(state: &StackState, profile: StackProfile, model: Option<std::sync::Arc<StackModel>>) -> Self {
        let mut t = Targets::default();
        let app = profile.app.as_ref().map(|a| (a.service.clone(), a.port.unwrap_or(8000)));
        // Each backend is found by its kind in the stack model, on the port its
        // own config sets; the compose names and image ports are the fallback.
        let by_kind = |name: &str| -> Option<(String, u16)> {
            let (kind, serves) = match name {
                "prometheus" => ("prometheus", "prometheus"),
                "alertmanager" => ("alertmanager", "alertmanager"),
                "jaeger" => ("jaeger", "jaeger-query"),
                "tempo" => ("tempo", "tempo"),
                "loki" => ("loki", "loki"),
                "grafana" => ("grafana", "grafana"),
                "otel-collector" => ("otel-collector", "health"),
                _ => return None,
            };
            let n = model.as_ref()?.of_kind(kind).find(|n| state.services.contains_key(&n.name)).or_else(|| model.as_ref()?.of_kind(kind).next())?;
            Some((n.name.clone(), n.serving(serves)?.port))
        };
        for (name, service, port) in BACKENDS {
            let found = by_kind(name);
            let (service, port) = match (name, &app, &found) {
                (&"app", Some((s, p)), _) => (s.as_str(), *p),
                (_, _, Some((s, p))) => (s.as_str(), *p),
                _ => (*service, *port),
            };
            t.services.insert(name.to_string(), service.to_owned());
            match state.url(service, port) {
                Some(u) => {
                    t.urls.insert(name.to_string(), u);
                }
                None => {
                    t.missing.insert(name.to_string(), state.not_running_reason(service).unwrap_or_else(|| format!("port {port} of `{service}` is not published")));
                }
            }
        }
        let app_service = app.map(|(s, _)| s).unwrap_or_default();
        t.app_container = state.services.get(&app_service).map(|s| s.container_name.clone()).unwrap_or_default();
        t.profile = profile;
        t.model = model;
        t
    }

    /// The same run's endpoints after a restart moved them (Docker publishes a
    /// restarted container on new host ports): profile and model are kept.
    pub fn refreshed(&self, state: &StackState) -> Self {
        Self::from_state_with(state, self.profile.clone(), self.model.clone())
    }

    /// The expectations of `profile` (for `--target`, where no stack was started).
    pub fn with_profile(mut self, profile: StackProfile) -> Self {
        if self.app_container.is_empty() {
            self.app_container = profile.app.as_ref().and_then(|a| a.container_name.clone()).unwrap_or_default();
        }
        self.profile = profile;
        self
    }

    /// `prometheus=URL,loki=URL,...` for a stack that is already running.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut t = Targets::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, url) = part.split_once('=').ok_or_else(|| format!("`{part}` is not NAME=URL"))?;
            if !BACKENDS.iter().any(|(b, _, _)| *b == name) {
                return Err(format!("unknown backend `{name}`; known: {}", BACKENDS.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("`{name}={url}`: the URL must start with http:// or https://"));
            }
            t.urls.insert(name.to_owned(), url.trim_end_matches('/').to_owned());
        }
        for (name, _, _) in BACKENDS {
            if !t.urls.contains_key(*name) {
                t.missing.insert(name.to_string(), format!("no `{name}=URL` in --target"));
            }
        }
        Ok(t)
    }

    pub fn url(&self, name: &str) -> Option<&str> {
        self.urls.get(name).map(String::as_str)
    }

    pub fn reason(&self, name: &str) -> String {
        self.missing.get(name).cloned().unwrap_or_else(|| format!("{name} not available"))
    }

    pub fn prometheus(&self) -> Option<PrometheusClient> {
        self.url("prometheus").map(PrometheusClient::new)
    }
    pub fn jaeger(&self) -> Option<JaegerClient> {
        self.url("jaeger").map(JaegerClient::new)
    }
    /// Tempo, as the tenant its traces go to when multitenancy is on.
    pub fn tempo(&self) -> Option<TempoClient> {
        self.url("tempo").map(|u| match self.profile.tempo.as_ref().and_then(|t| t.tenant.as_ref()) {
            Some(t) => TempoClient::new(u).with_tenant(t),
            None => TempoClient::new(u),
        })
    }
    pub fn loki(&self) -> Option<LokiClient> {
        self.url("loki").map(|u| match &self.profile.tenant {
            Some(t) => LokiClient::new(u).with_tenant(t),
            None => LokiClient::new(u),
        })
    }
    pub fn grafana(&self) -> Option<GrafanaClient> {
        self.url("grafana").map(GrafanaClient::new)
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Targets").field("urls", &self.urls).field("missing", &self.missing).field("services", &self.services).finish_non_exhaustive()
    }
}
