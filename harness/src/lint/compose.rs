//! The compose file as the gate needs it: services, the ports they listen on,
//! their labels, mounts and config-file flags.
//!
//! ## Which ports a service listens on
//! A service listens on a container port when the port is the *container* side of an
//! entry in `ports` (`"3030:3000"` means 3000) or appears in `expose`, or when it is a
//! well-known default of the service's image, from [`DEFAULT_PORTS`]:
//!
//! | image contains | ports |
//! |---|---|
//! | `prom/prometheus` | 9090 |
//! | `prom/alertmanager` | 9093, 9094 |
//! | `grafana/loki` | 3100, 9095 |
//! | `grafana/grafana` | 3000 |
//! | `grafana/promtail` | 9080 |
//! | `jaegertracing/` | 16686, 16685, 4317, 4318, 14250, 14268, 13133 |
//! | `opentelemetry-collector` | 4317, 4318, 8888, 13133 |
//! | `obs-reference-app` (the app) | 8000 |
//!
//! A host names a service when it equals the service name or its `container_name`;
//! `localhost`/`127.0.0.1` inside a service names that service itself.

use super::LintError;
use docker_compose_types as dct;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Image-name fragment -> ports the image listens on by default (see module docs).
pub const DEFAULT_PORTS: &[(&str, &[u16])] = &[
    ("prom/prometheus", &[9090]),
    ("prom/alertmanager", &[9093, 9094]),
    ("grafana/loki", &[3100, 9095]),
    ("grafana/grafana", &[3000]),
    ("grafana/promtail", &[9080]),
    (
        "jaegertracing/",
        &[16686, 16685, 4317, 4318, 14250, 14268, 13133],
    ),
    ("opentelemetry-collector", &[4317, 4318, 8888, 13133]),
    ("obs-reference-app", &[8000]),
];

/// One volume entry of a service.
#[derive(Debug, Clone)]
pub struct Mount {
    /// As written (`./prometheus/prometheus.yml`, `loki-data`, `/var/run/docker.sock`).
    pub source: String,
    /// Host path for bind mounts with a relative source, resolved against the stack dir.
    pub host: Option<PathBuf>,
    pub target: String,
    /// The source as written was relative (`./x`, `../x`).
    pub relative: bool,
}

#[derive(Debug, Clone)]
pub struct ServiceInfo {
    pub name: String,
    pub image: String,
    pub container_name: Option<String>,
    pub ports: BTreeSet<u16>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    pub command: Vec<String>,
}

impl ServiceInfo {
    /// Ports from `ports`/`expose` plus the image defaults.
    pub fn listens_on(&self, port: u16) -> bool {
        self.ports.contains(&port) || self.default_ports().contains(&port)
    }

    pub fn default_ports(&self) -> Vec<u16> {
        DEFAULT_PORTS
            .iter()
            .filter(|(frag, _)| self.image.contains(frag))
            .flat_map(|(_, p)| p.iter().copied())
            .collect()
    }

    pub fn all_ports(&self) -> BTreeSet<u16> {
        let mut s = self.ports.clone();
        s.extend(self.default_ports());
        s
    }

    /// Maps a container path back to the host through this service's bind mounts
    /// (longest mount target wins). `None` when no bind mount covers it.
    pub fn host_path(&self, container: &str) -> Option<PathBuf> {
        let mut best: Option<(&Mount, usize)> = None;
        for m in &self.mounts {
            let Some(_) = &m.host else { continue };
            let t = m.target.trim_end_matches('/');
            let covers = container == t || container.starts_with(&format!("{t}/"));
            if covers && best.is_none_or(|(_, l)| t.len() > l) {
                best = Some((m, t.len()));
            }
        }
        let (m, l) = best?;
        let rest = container[l..].trim_start_matches('/');
        let host = m.host.as_ref()?;
        Some(if rest.is_empty() {
            host.clone()
        } else {
            host.join(rest)
        })
    }

    /// True when some mount (bind or named volume) covers this container path.
    pub fn is_mounted(&self, container: &str) -> bool {
        self.mounts.iter().any(|m| {
            let t = m.target.trim_end_matches('/');
            container == t || container.starts_with(&format!("{t}/"))
        })
    }

    /// The value of `--config.file=`, `-config.file=` or `--config=` in the command.
    pub fn config_flag(&self) -> Option<String> {
        let mut it = self
            .command
            .iter()
            .flat_map(|c| c.split_whitespace())
            .peekable();
        while let Some(a) = it.next() {
            let a = a.trim_start_matches('-');
            for flag in ["config.file", "config"] {
                if let Some(v) = a.strip_prefix(flag) {
                    if let Some(v) = v.strip_prefix('=') {
                        return Some(v.to_owned());
                    }
                    if v.is_empty() {
                        return it.peek().map(|s| s.to_string());
                    }
                }
            }
        }
        None
    }
}

#[derive(Debug)]
pub struct ComposeModel {
    pub file: String,
    pub text: String,
    pub services: Vec<ServiceInfo>,
}

impl ComposeModel {
    pub fn load(stack_dir: &Path, file: &str) -> Result<Self, LintError> {
        let path = stack_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| LintError::Io {
            path: path.clone(),
            source: e,
        })?;
        let compose: dct::Compose = super::parse_yaml(&path, &text)?;
        let mut services = Vec::new();
        for (name, svc) in compose.services.0.iter() {
            let Some(svc) = svc else { continue };
            services.push(service_info(stack_dir, name, svc));
        }
        Ok(Self {
            file: file.to_owned(),
            text,
            services,
        })
    }

    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.services
            .iter()
            .find(|s| s.name == name || s.container_name.as_deref() == Some(name))
    }

    /// The first service whose image contains `frag`.
    pub fn by_image(&self, frag: &str) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| s.image.contains(frag))
    }
}

fn service_info(stack_dir: &Path, name: &str, svc: &dct::Service) -> ServiceInfo {
    let mut ports = BTreeSet::new();
    match &svc.ports {
        dct::Ports::Short(v) => {
            for p in v {
                let p = p.split('/').next().unwrap_or(p);
                let target = p.rsplit(':').next().unwrap_or(p);
                // ranges like 4000-4005
                let mut parts = target.splitn(2, '-');
                if let (Some(a), b) = (parts.next(), parts.next())
                    && let Ok(a) = a.parse::<u16>()
                {
                    let b = b.and_then(|b| b.parse::<u16>().ok()).unwrap_or(a);
                    ports.extend(a..=b);
                }
            }
        }
        dct::Ports::Long(v) => ports.extend(v.iter().map(|p| p.target)),
    }
    for e in &svc.expose {
        if let Ok(p) = e.split('/').next().unwrap_or(e).parse::<u16>() {
            ports.insert(p);
        }
    }
    let labels = match &svc.labels {
        dct::Labels::List(l) => l
            .iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (s.clone(), String::new()),
            })
            .collect(),
        dct::Labels::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    };
    let mounts = svc
        .volumes
        .iter()
        .map(|v| match v {
            dct::Volumes::Simple(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (source, target) = match parts.len() {
                    1 => (String::new(), parts[0].to_owned()),
                    _ => (parts[0].to_owned(), parts[1].to_owned()),
                };
                mount(stack_dir, source, target)
            }
            dct::Volumes::Advanced(a) => mount(
                stack_dir,
                a.source.clone().unwrap_or_default(),
                a.target.clone(),
            ),
        })
        .collect();
    let command = match &svc.command {
        Some(dct::Command::Simple(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(dct::Command::Args(a)) => a.clone(),
        None => Vec::new(),
    };
    ServiceInfo {
        name: name.to_owned(),
        image: svc.image.clone().unwrap_or_default(),
        container_name: svc.container_name.clone(),
        ports,
        labels,
        mounts,
        command,
    }
}

fn mount(stack_dir: &Path, source: String, target: String) -> Mount {
    let relative =
        source.starts_with("./") || source.starts_with("../") || source == "." || source == "..";
    let host = if relative {
        Some(normalise(&stack_dir.join(&source)))
    } else if source.starts_with('/') {
        Some(PathBuf::from(&source))
    } else {
        None
    };
    Mount {
        source,
        host,
        target,
        relative,
    }
}

/// Removes `.` and `..` components without touching the file system.
pub fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Splits `scheme://host:port/path` or `host:port` into (host, port).
/// A URL without an explicit port gets 80/443 from its scheme.
pub fn host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (Some(sc), r),
        None => (None, s),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => match scheme {
            Some("http") => Some((authority.to_owned(), 80)),
            Some("https") => Some((authority.to_owned(), 443)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            host_port("http://loki:3100/loki/api/v1/push"),
            Some(("loki".into(), 3100))
        );
        assert_eq!(host_port("app:8000"), Some(("app".into(), 8000)));
        assert_eq!(host_port("http://x"), Some(("x".into(), 80)));
        assert_eq!(host_port("nope"), None);
    }

    #[test]
    fn config_flag_forms() {
        let mut s = ServiceInfo {
            name: "p".into(),
            image: "prom/prometheus".into(),
            container_name: None,
            ports: BTreeSet::new(),
            labels: BTreeMap::new(),
            mounts: vec![Mount {
                source: "./prometheus".into(),
                host: Some("/h/prometheus".into()),
                target: "/etc/prometheus".into(),
                relative: true,
            }],
            command: vec!["--config.file=/etc/prometheus/prometheus.yml".into()],
        };
        assert_eq!(
            s.config_flag().as_deref(),
            Some("/etc/prometheus/prometheus.yml")
        );
        assert_eq!(
            s.host_path("/etc/prometheus/rules/a.yml"),
            Some(PathBuf::from("/h/prometheus/rules/a.yml"))
        );
        assert!(s.listens_on(9090));
        s.command = vec!["-config.file".into(), "/etc/x.yaml".into()];
        assert_eq!(s.config_flag().as_deref(), Some("/etc/x.yaml"));
        s.command = vec!["--config=/etc/otel.yaml".into()];
        assert_eq!(s.config_flag().as_deref(), Some("/etc/otel.yaml"));
    }
}
