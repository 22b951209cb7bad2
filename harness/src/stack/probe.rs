//! Readiness: how the harness knows a service is up.
//!
//! The compose healthcheck when the service has one (Docker runs it; the
//! harness reads the container's health), else the service's documented
//! readiness endpoint, chosen from its image (then its name):
//!
//! | service        | probe                      |
//! |----------------|----------------------------|
//! | Prometheus     | `GET :9090/-/ready`        |
//! | Alertmanager   | `GET :9093/-/ready`        |
//! | Loki           | `GET :3100/ready`          |
//! | Promtail       | `GET :9080/ready`          |
//! | Grafana        | `GET :3000/api/health`     |
//! | Jaeger v2      | `GET :16686/` (query UI/API) |
//! | OTel Collector | `GET :13133/` (health_check extension) |
//! | reference app  | `GET :8000/healthz`        |
//!
//! The port is the one the stack model reads from the service's own config
//! ([`crate::model`]: Loki's `server.http_listen_port`, Prometheus's
//! `--web.listen-address`, …); the table's ports are the fallback.
//! Anything else is ready once its container runs.

use super::compose::ServicePlan;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Docker's health status of the compose healthcheck.
    DockerHealth,
    /// An HTTP GET that must answer 200.
    Http { port: u16, path: &'static str },
    /// The container is running.
    Running,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::DockerHealth => write!(f, "compose healthcheck (docker health status)"),
            Probe::Http { port, path } => write!(f, "GET :{port}{path}"),
            Probe::Running => write!(f, "container running"),
        }
    }
}

/// The known readiness endpoints, by image or service name fragment.
const KNOWN: &[(&str, u16, &str)] = &[
    ("alertmanager", 9093, "/-/ready"),
    ("promtail", 9080, "/ready"),
    ("loki", 3100, "/ready"),
    ("grafana", 3000, "/api/health"),
    ("jaeger", 16686, "/"),
    ("opentelemetry-collector", 13133, "/"),
    ("otel-collector", 13133, "/"),
    ("otelcol", 13133, "/"),
    ("prometheus", 9090, "/-/ready"),
    ("reference-app", 8000, "/healthz"),
];

/// The probe for a service (its compose healthcheck wins).
pub fn probe_for(plan: &ServicePlan, image: &str) -> Probe {
    if plan.healthcheck.is_some() {
        return Probe::DockerHealth;
    }
    // The port the stack model read from the service's own config.
    if let Some((port, path)) = plan.readiness {
        return Probe::Http { port, path };
    }
    let image = image.rsplit('/').next().unwrap_or(image).split(':').next().unwrap_or(image);
    let by = |name: &str| KNOWN.iter().find(|(frag, _, _)| name.contains(frag));
    match by(image).or_else(|| by(&plan.name)) {
        Some((_, port, path)) => Probe::Http { port: *port, path },
        None if plan.name == "app" => Probe::Http { port: 8000, path: "/healthz" },
        None => Probe::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::compose::ComposeProject;
    use std::path::Path;

    #[test]
    fn bundled_services_get_their_documented_probe() {
        let p = ComposeProject::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/docker-compose.yml")).unwrap();
        let probe = |s: &str| probe_for(&p.services[s], &p.services[s].image).to_string();
        assert_eq!(probe("app"), "compose healthcheck (docker health status)");
        assert_eq!(probe("prometheus"), "GET :9090/-/ready");
        assert_eq!(probe("alertmanager"), "GET :9093/-/ready");
        assert_eq!(probe("loki"), "GET :3100/ready");
        assert_eq!(probe("promtail"), "GET :9080/ready");
        assert_eq!(probe("grafana"), "GET :3000/api/health");
        assert_eq!(probe("jaeger"), "GET :16686/");
        assert_eq!(probe("otel-collector"), "GET :13133/");
        // The air-gapped images are recognised by their names too.
        assert_eq!(probe_for(&p.services["alertmanager"], "obs-harness/alertmanager:abc").to_string(), "GET :9093/-/ready");
    }
}
