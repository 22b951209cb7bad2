//! The compose file as the source of truth: each service becomes a
//! [`ServicePlan`] the lifecycle can start through testcontainers.
//!
//! The file is read by the one compose reader, [`crate::read::compose::ComposeModel`]
//! (the gate's), and each service's ports and readiness endpoint come from the
//! stack model ([`crate::model`]), so the lifecycle and the gate agree on them.
//!
//! The project is read as compose reads it ([`crate::read::compose::project`]:
//! interpolation from the environment, `.env` and `--env-file`, several files,
//! include, extends, profiles); a `${VAR:?message}` that is not set refuses it.
//! Planned: `image`, `environment` (with `env_file:`), `command`,
//! `entrypoint`, `ports` and `expose` (container side only: host ports are always
//! random), `volumes` (relative bind mounts are copied in, absolute bind mounts
//! such as the Docker socket are mounted, named volumes become per-run volumes),
//! `depends_on`, `healthcheck`, `labels`, `container_name` (used as a network
//! alias and a name prefix, never as a fixed name), `build:` (context and
//! Dockerfile; see [`crate::stack::images`] for how built services are run).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::read::compose::ServiceInfo;

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot read compose file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}:{column}: invalid compose file: {message}", path.display())]
    Parse { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{}: service `{service}` {problem} (hint: {hint})", path.display())]
    Service { path: PathBuf, service: String, problem: String, hint: String },
    #[error("unknown service `{service}` in {}; services are: {known}", path.display())]
    UnknownService { path: PathBuf, service: String, known: String },
    #[error("{}: dependency cycle among services {services_in_cycle:?}", path.display())]
    Cycle { path: PathBuf, services_in_cycle: Vec<String> },
}

/// A read error as the lifecycle reports it (file, line and column where known).
fn read_error(path: &Path, e: crate::read::ReadError) -> ComposeError {
    match e {
        crate::read::ReadError::Yaml { path, line, col, message } | crate::read::ReadError::Json { path, line, col, message } | crate::read::ReadError::Compose { path, line, col, message } => ComposeError::Parse { path, line, column: col, message },
        other => ComposeError::Parse { path: path.to_owned(), line: 0, column: 0, message: other.to_string() },
    }
}

/// How a host path in `volumes:` reaches the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountPlan {
    /// A file or directory of the stack, copied in before start (host paths never matter).
    Copy { host: PathBuf, target: String },
    /// An absolute host path mounted as is (e.g. `/var/run/docker.sock`).
    Bind { host: String, target: String, read_only: bool },
    /// A named volume: a fresh, labelled volume per run.
    Volume { name: String, target: String },
}

/// The compose healthcheck, as Docker runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckPlan {
    /// `["CMD", ...]` / `["CMD-SHELL", "..."]` as in compose.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u32>,
    pub start_period: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlan {
    pub name: String,
    pub image: String,
    pub container_name: Option<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub ports: BTreeSet<u16>,
    pub mounts: Vec<MountPlan>,
    pub depends_on: Vec<String>,
    pub healthcheck: Option<HealthcheckPlan>,
    /// The service has a `build:` section (its image is built, not pulled).
    pub has_build: bool,
    /// Its build: context directory and Dockerfile (relative to the context).
    pub build: Option<BuildPlan>,
    /// Its readiness endpoint (port, path) on the port the stack model says it
    /// listens on ([`crate::model::kinds::Kind::readiness`]).
    pub readiness: Option<(u16, &'static str)>,
    /// What the stack model says it is (`alertmanager`, `loki`, …), whatever its name.
    pub kind: Option<&'static str>,
}

/// A compose `build:` section, resolved against the compose file's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub context: PathBuf,
    pub dockerfile: String,
}

/// A parsed compose project.
#[derive(Debug, Clone)]
pub struct ComposeProject {
    pub path: PathBuf,
    pub services: BTreeMap<String, ServicePlan>,
}

impl ComposeProject {
    /// The compose file's services, each with the ports and readiness endpoint
    /// the stack model gives it (its own config's listen ports, not only the
    /// image's defaults): lifecycle and lint read ports from the same model.
    pub fn load(path: &Path) -> Result<Self, ComposeError> {
        Self::load_input(&crate::read::compose::ComposeInput::files([path.to_owned()]))
    }

    /// [`Self::load`] of a whole compose input: its files merged in order (the first one's
    /// directory is the project's), its env files and profiles, as `docker compose` reads them.
    pub fn load_input(input: &crate::read::compose::ComposeInput) -> Result<Self, ComposeError> {
        Self::load_input_with(input, None)
    }

    /// [`Self::load_input`], planned from `model` when the run has read the stack
    /// already (its compose project and listeners), else read here.
    pub fn load_input_with(input: &crate::read::compose::ComposeInput, model: Option<&crate::model::StackModel>) -> Result<Self, ComposeError> {
        let path = input.files.first().cloned().unwrap_or_else(|| PathBuf::from("docker-compose.yml"));
        if !path.is_file() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(ComposeError::Read { path, source });
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned();
        let same_dir = |m: &crate::model::StackModel| std::path::absolute(&dir).is_ok_and(|d| crate::read::compose::normalise(&d) == m.dir());
        if let Some(m) = model.filter(|m| same_dir(m)) {
            let mut project = Self::plan(&path, &dir, m.compose())?;
            project.apply_model(m);
            return Ok(project);
        }
        let compose = crate::read::compose::ComposeModel::load_project(&dir, input).map_err(|e| read_error(&path, e))?;
        let mut project = Self::plan(&path, &dir, &compose)?;
        // A config the model cannot read is lint's finding to report; the plan keeps compose's ports.
        if let Ok(model) = crate::model::StackModel::load_input(&dir, input) {
            project.apply_model(&model);
        }
        Ok(project)
    }

    /// Adds each service's listeners and readiness endpoint from the model.
    pub fn apply_model(&mut self, model: &crate::model::StackModel) {
        for n in &model.nodes {
            let Some(plan) = self.services.get_mut(&n.name) else { continue };
            plan.ports.extend(n.listeners.iter().map(|l| l.port));
            plan.readiness = crate::model::kinds::by_name(n.kind).and_then(|k| k.readiness(&n.listeners));
            plan.kind = Some(n.kind);
        }
    }

    /// The services of one compose file, read by the one compose reader
    /// ([`crate::read::compose::ComposeModel`]) and planned for testcontainers.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ComposeError> {
        let base = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let model = crate::read::compose::ComposeModel::from_sources(base, vec![(path.to_owned(), text.to_owned())]).map_err(|e| read_error(path, e))?;
        Self::plan(path, base, &model)
    }

    /// Plans every service of a read project. A variable compose requires (`${VAR:?msg}`)
    /// and that is not set refuses the project, as `docker compose up` does.
    fn plan(path: &Path, base: &Path, model: &crate::read::compose::ComposeModel) -> Result<Self, ComposeError> {
        if let Some(n) = model.notes.iter().find(|n| n.rule == "compose-variable-required") {
            return Err(ComposeError::Parse { path: base.join(&n.file), line: n.line, column: 1, message: n.message.replace("; read on as empty", "") });
        }
        let mut services = BTreeMap::new();
        for svc in &model.services {
            services.insert(svc.name.clone(), plan_service(path, base, svc)?);
        }
        let project = Self { path: path.to_owned(), services };
        project.start_order(&project.services.keys().cloned().collect::<Vec<_>>())?;
        Ok(project)
    }

    pub fn service_names(&self) -> Vec<String> {
        self.services.keys().cloned().collect()
    }

    /// Checks that every requested service exists.
    pub fn select(&self, wanted: &[String]) -> Result<Vec<String>, ComposeError> {
        for s in wanted {
            if !self.services.contains_key(s) {
                return Err(ComposeError::UnknownService {
                    path: self.path.clone(),
                    service: s.clone(),
                    known: self.service_names().join(", "),
                });
            }
        }
        Ok(wanted.to_vec())
    }

    /// Start levels: each level's services depend only on earlier levels (among
    /// `selected`; dependencies outside the selection are not started).
    pub fn start_order(&self, selected: &[String]) -> Result<Vec<Vec<String>>, ComposeError> {
        let selected: BTreeSet<&String> = selected.iter().collect();
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut levels = Vec::new();
        while done.len() < selected.len() {
            let level: Vec<String> = selected
                .iter()
                .filter(|s| !done.contains(**s))
                .filter(|s| {
                    self.services[**s].depends_on.iter().all(|d| done.contains(d) || !selected.contains(d))
                })
                .map(|s| (*s).clone())
                .collect();
            if level.is_empty() {
                return Err(ComposeError::Cycle {
                    path: self.path.clone(),
                    services_in_cycle: selected.iter().filter(|s| !done.contains(**s)).map(|s| (*s).clone()).collect(),
                });
            }
            done.extend(level.iter().cloned());
            levels.push(level);
        }
        Ok(levels)
    }
}

fn plan_service(path: &Path, base: &Path, s: &ServiceInfo) -> Result<ServicePlan, ComposeError> {
    let name = s.name.as_str();
    let problem = |problem: String, hint: &str| ComposeError::Service {
        path: path.to_owned(),
        service: name.to_owned(),
        problem,
        hint: hint.to_owned(),
    };
    let build = s.build.as_ref().map(|(context, dockerfile)| BuildPlan { context: base.join(context), dockerfile: dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()) });
    // Compose names a built image `<project>-<service>` when `image:` is absent.
    // (the project name: the directory's, lower case, only `[a-z0-9_-]`, starting alphanumeric).
    let project: String = base.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect();
    let project = match project.trim_start_matches(['_', '-']) {
        "" => "stack".to_owned(),
        p => p.to_owned(),
    };
    let image = match (s.image.is_empty(), &build) {
        (false, _) => s.image.clone(),
        (true, Some(_)) => format!("{project}-{name}:latest"),
        (true, None) => return Err(problem("has no `image`".into(), "add `image:`, or set OBS_IMAGE_<SERVICE>, or use --images airgapped")),
    };
    let mut env = BTreeMap::new();
    for (k, v) in &s.environment {
        // Already interpolated by the reader, as compose does (with `.env` and `--env-file`).
        env.insert(k.clone(), v.value.clone().unwrap_or_default());
    }
    let mut mounts = Vec::new();
    for m in &s.mounts {
        let (source, target) = (m.source.clone(), m.target.clone());
        if source.is_empty() || target.is_empty() {
            continue; // an anonymous volume or a tmpfs: the container's own
        }
        mounts.push(if m.relative {
            let host = base.join(&source);
            if !host.exists() {
                return Err(problem(format!("mounts {source} at {target}, but {} does not exist", host.display()), "fix the path relative to the compose file"));
            }
            MountPlan::Copy { host, target }
        } else if source.starts_with('/') {
            MountPlan::Bind { host: source, target, read_only: m.read_only }
        } else {
            MountPlan::Volume { name: source, target }
        });
    }
    let healthcheck = s.healthcheck.as_ref().and_then(|h| {
        if h.get("disable").and_then(|d| d.as_bool()) == Some(true) {
            return None;
        }
        let test = match h.get("test")? {
            serde_yaml::Value::Sequence(a) => a.iter().filter_map(crate::read::compose::scalar).collect(),
            other => vec!["CMD-SHELL".into(), crate::read::compose::scalar(other)?],
        };
        let dur = |k: &str| h.get(k).and_then(crate::read::compose::scalar).and_then(|v| parse_duration(&v));
        Some(HealthcheckPlan {
            test,
            interval: dur("interval"),
            timeout: dur("timeout"),
            retries: h.get("retries").and_then(|r| r.as_u64()).filter(|r| *r > 0).map(|r| r as u32),
            start_period: dur("start_period"),
        })
    });
    Ok(ServicePlan {
        name: name.to_owned(),
        image,
        container_name: s.container_name.clone(),
        command: s.command_origin.as_ref().map(|_| s.command.clone()),
        entrypoint: s.entrypoint.clone(),
        env,
        labels: s.labels.clone(),
        ports: s.ports.clone(),
        mounts,
        depends_on: s.depends_on.clone(),
        healthcheck: healthcheck.filter(|h| h.test.first().map(String::as_str) != Some("NONE")),
        has_build: build.is_some(),
        build,
        readiness: None,
        kind: None,
    })
}

/// Compose durations: `10s`, `1m30s`, `500ms`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    crate::accelerate::parse_compose_duration(s)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_compose_plans_every_service() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/docker-compose.yml");
        let p = ComposeProject::load(&path).unwrap();
        let app = &p.services["app"];
        assert_eq!(app.container_name.as_deref(), Some("api"));
        assert!(app.ports.contains(&8000));
        assert_eq!(app.env["OTEL_SERVICE_NAME"], "fastapi-backend");
        assert_eq!(app.labels["logging"], "promtail");
        assert!(app.healthcheck.is_some());
        assert!(app.has_build && !p.services["prometheus"].has_build);
        let prom = &p.services["prometheus"];
        assert!(prom.mounts.iter().any(|m| matches!(m, MountPlan::Copy { target, .. } if target == "/etc/prometheus/prometheus.yml")));
        assert!(p.services["loki"].mounts.iter().any(|m| matches!(m, MountPlan::Volume { name, .. } if name == "loki-data")));
        assert!(p.services["promtail"].mounts.iter().any(|m| matches!(m, MountPlan::Bind { host, read_only: true, .. } if host == "/var/run/docker.sock")));
        let order = p.start_order(&["app".into(), "prometheus".into(), "alertmanager".into()]).unwrap();
        let pos = |s: &str| order.iter().position(|l| l.iter().any(|x| x == s)).unwrap();
        assert!(pos("prometheus") > pos("app") && pos("prometheus") > pos("alertmanager"), "{order:?}");
        assert_eq!(pos("app"), pos("alertmanager"), "independent services start together: {order:?}");
    }

    #[test]
    fn services_know_their_kind_whatever_their_name() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stacks/shop/docker-compose.yml");
        let p = ComposeProject::load(&path).unwrap();
        let kinds: BTreeMap<&str, Option<&str>> = p.services.iter().map(|(n, s)| (n.as_str(), s.kind)).collect();
        let want = [("alert-router", "alertmanager"), ("log-shipper", "promtail"), ("logs-db", "loki"), ("metrics-db", "prometheus"), ("shop", "app"), ("traces-db", "tempo")];
        assert_eq!(kinds, want.into_iter().map(|(n, k)| (n, Some(k))).collect());
        assert_eq!(p.services["shop"].labels["obs-harness.binary"], "example-shop");
    }

    #[test]
    fn malformed_yaml_is_located() {
        let err = ComposeProject::parse(Path::new("x/docker-compose.yml"), "services:\n  app:\n    image: [unclosed\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x/docker-compose.yml:"), "{text}");
        assert!(matches!(err, ComposeError::Parse { line, .. } if line >= 3), "{text}");
    }

    #[test]
    fn unknown_service_lists_the_known_ones() {
        let p = ComposeProject::parse(Path::new("c.yml"), "services:\n  a:\n    image: x\n").unwrap();
        let err = p.select(&["b".into()]).unwrap_err().to_string();
        assert_eq!(err, "unknown service `b` in c.yml; services are: a");
    }

    #[test]
    fn cycles_are_reported() {
        let text = "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n";
        let err = ComposeProject::parse(Path::new("c.yml"), text).unwrap_err();
        assert!(matches!(err, ComposeError::Cycle { .. }), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("abc"), None);
    }

    #[test]
    fn a_required_variable_that_is_not_set_refuses_the_project() {
        let text = "services:\n  a:\n    image: x\n    environment:\n      - K=${OBS_T_NEVER_SET_REQUIRED:?set it}\n";
        let err = ComposeProject::parse(Path::new("c.yml"), text).unwrap_err().to_string();
        assert!(err.contains("OBS_T_NEVER_SET_REQUIRED") && err.contains("set it") && err.contains(":5:"), "{err}");
    }
}
