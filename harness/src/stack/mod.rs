//! The stack lifecycle: a compose file brought up through testcontainers,
//! shared by every test of a run, and always torn down.
//!
//! **Start.** [`Stack::start`] reads the compose file ([`compose`]), removes
//! leftovers of killed runs ([`cleanup::reap_orphans`]), creates a private
//! network and fresh named volumes labelled with the run id, resolves each
//! service's image ([`crate::stack::images`]: compose image, `OBS_IMAGE_<SERVICE>`
//! override, or the air-gapped build), then starts services level by level in
//! `depends_on` order (services of one level in parallel). testcontainers
//! starts each container with its config files copied in and every container
//! port published on a random host port; the harness then connects it to the
//! run's network with its compose service name (and `container_name`) as
//! aliases, so `prometheus:9090` and `otel-collector:4317` resolve as in the
//! configs. Container names get the run id as a suffix, so two runs on one
//! daemon never clash. Finally every service is awaited in parallel through
//! its readiness [`probe`]; a service that does not come up fails the start
//! with the probe, its last answer and the container's last log lines.
//!
//! **Share.** One stack serves every live test of a run: under
//! `cargo nextest run` a setup script runs `obs-harness stack up`, which starts
//! a detached keeper process holding the stack and hands tests the stack's
//! [`StackState`] file through `$NEXTEST_ENV` (`OBS_STACK_STATE`). Tests run
//! alone (plain `cargo test`) start their own stack ([`with_stack`]).
//!
//! **Tear down.** [`Stack::teardown`] removes the containers, then everything
//! labelled with the run id. It also runs when a test panics ([`with_stack`]),
//! when the process gets SIGINT/SIGTERM ([`cleanup::install_signal_cleanup`]),
//! when a `Stack` is dropped without teardown, and — for the shared stack —
//! when the keeper sees its owner (the nextest process) exit or gets
//! `obs-harness stack down`. A run killed with SIGKILL is cleaned by the
//! next run's reaper.

pub mod cleanup;
pub mod compose;
pub mod images;
pub mod keeper;
pub mod probe;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use testcontainers::core::{Healthcheck, IntoContainerPort, Mount};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::eventually::{Eventually, Poll, WaitError};
use images::ImageMode;
use compose::{ComposeError, ComposeProject, MountPlan, ServicePlan};
use probe::Probe;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Image(#[from] images::ImageError),
    #[error("Docker is not reachable: {0} (hint: start the daemon; `docker info` must work)")]
    Docker(#[from] bollard::errors::Error),
    #[error("service `{service}`: cannot start image {image}: {detail} (hint: {hint})")]
    Start { service: String, image: String, detail: String, hint: String },
    #[error("service `{service}` did not become ready (probe: {probe}): {wait}")]
    NotReady { service: String, probe: String, wait: Box<WaitError> },
    #[error("interrupted by a signal during start-up")]
    Interrupted,
    #[error("cannot read stack state {}: {detail} (hint: is `obs-harness stack up` running?)", path.display())]
    State { path: PathBuf, detail: String },
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub compose_file: PathBuf,
    /// `None`: every service of the compose file.
    pub services: Option<Vec<String>>,
    pub images: ImageMode,
    pub startup_timeout: Duration,
    /// Timing factor ([`crate::accelerate`]): 1 keeps the stack's own timings.
    pub acceleration: u32,
    /// Host the Alertmanager webhook receiver ([`crate::webhook`]) when Alertmanager runs.
    pub webhook: bool,
    /// Image per service, winning over `OBS_IMAGE_<SERVICE>`, the air-gapped set and the compose file.
    pub image_overrides: BTreeMap<String, String>,
    /// Override files merged over `compose_file`, `--env-file`s and `--profile`s, as compose takes them.
    pub compose: crate::read::compose::ComposeInput,
    /// The stack as the run read it once (else the lifecycle reads it).
    pub model: Option<std::sync::Arc<crate::model::StackModel>>,
}

impl StackOptions {
    /// Reads the project as compose would with these files, env files and profiles
    /// (`compose_file` first, then the override files of `compose`).
    pub fn with_compose(mut self, input: crate::read::compose::ComposeInput) -> Self {
        self.compose = input;
        self
    }

    /// Plans from the stack the run read already, instead of reading it again.
    pub fn with_model(mut self, model: Option<std::sync::Arc<crate::model::StackModel>>) -> Self {
        self.model = model;
        self
    }

    /// The compose input the lifecycle reads: `compose_file`, then the overrides.
    pub fn compose_input(&self) -> crate::read::compose::ComposeInput {
        let mut input = self.compose.clone();
        let main = std::path::absolute(&self.compose_file).unwrap_or_else(|_| self.compose_file.clone());
        input.files.retain(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()) != main);
        input.files.insert(0, main);
        input
    }

    pub fn new(compose_file: impl Into<PathBuf>) -> Self {
        Self {
            compose_file: compose_file.into(),
            services: None,
            images: ImageMode::Upstream,
            startup_timeout: Duration::from_secs(120),
            acceleration: 1,
            webhook: true,
            image_overrides: BTreeMap::new(),
            compose: Default::default(),
            model: None,
        }
    }

    /// Runs `service` from `image` (e.g. a mirror or your own build).
    pub fn with_image(mut self, service: impl Into<String>, image: impl Into<String>) -> Self {
        self.image_overrides.insert(service.into(), image.into());
        self
    }

    /// Divides scrape/evaluation/`for`/group timings by `factor` (1 = faithful).
    pub fn with_acceleration(mut self, factor: u32) -> Self {
        self.acceleration = factor.max(1);
        self
    }

    pub fn with_webhook(mut self, webhook: bool) -> Self {
        self.webhook = webhook;
        self
    }

    /// The bundled stack (`stack/docker-compose.yml` of this workspace).
    pub fn bundled() -> Self {
        Self::new(bundled_compose_file())
    }

    /// The air-gapped set of the bundled stack: app, prometheus, alertmanager.
    pub fn airgapped() -> Self {
        Self::bundled().with_images(ImageMode::Airgapped).with_selection(None)
    }

    /// The services a run starts: those given, else the air-gapped set under
    /// `ImageMode::Airgapped`, else every service of the compose file.
    /// Call after [`StackOptions::with_images`].
    pub fn with_selection(self, services: Option<Vec<String>>) -> Self {
        match (services, self.images) {
            (Some(s), _) => self.with_services(s),
            // The air-gapped set is chosen by kind once the compose file is read (`Stack::start`).
            (None, _) => self,
        }
    }

    pub fn with_services(mut self, services: impl IntoIterator<Item = String>) -> Self {
        self.services = Some(services.into_iter().collect());
        self
    }

    pub fn with_images(mut self, images: ImageMode) -> Self {
        self.images = images;
        self
    }

    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }
}

pub fn bundled_compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack/docker-compose.yml")
}

/// One running service, as tests and checks see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServiceState {
    pub container_name: String,
    pub container_id: String,
    pub image: String,
    pub probe: String,
    /// container port -> host port
    pub ports: BTreeMap<u16, u16>,
    /// Container start to ready.
    pub ready_ms: u64,
    /// Stack start to ready.
    pub ready_since_stack_start_ms: u64,
}

/// Everything a test needs to reach a running stack; serialised for the shared stack.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StackState {
    pub run_id: String,
    pub compose_file: PathBuf,
    /// The override files merged over it (absolute), in order.
    #[serde(default)]
    pub compose_overrides: Vec<PathBuf>,
    /// The `--env-file`s and `--profile`s it was read with.
    #[serde(default)]
    pub env_files: Vec<PathBuf>,
    #[serde(default)]
    pub compose_profiles: Vec<String>,
    pub images: ImageMode,
    pub network: String,
    pub services: BTreeMap<String, ServiceState>,
    /// Services of the compose file that this run did not start.
    pub not_started: Vec<String>,
    /// Stack start to all services ready.
    pub startup_ms: u64,
    /// Timing factor the configs were accelerated by (1 = the stack's own timings).
    #[serde(default = "one")]
    pub acceleration: u32,
    /// Process id of the keeper holding a shared stack.
    #[serde(default)]
    pub keeper_pid: Option<u32>,
}

fn one() -> u32 {
    1
}

impl StackState {
    /// The compose input the stack was started from: its files, env files and profiles.
    pub fn compose_input(&self) -> crate::read::compose::ComposeInput {
        let mut files = vec![self.compose_file.clone()];
        files.extend(self.compose_overrides.iter().cloned());
        crate::read::compose::ComposeInput { files, env_files: self.env_files.clone(), profiles: self.compose_profiles.clone() }
    }

    /// "faithful" or "accelerated xN": stated in every report.
    pub fn timing_mode(&self) -> String {
        if self.acceleration <= 1 { "faithful".into() } else { format!("accelerated x{}", self.acceleration) }
    }

    /// `http://127.0.0.1:<host port>` of a service's container port.
    pub fn url(&self, service: &str, port: u16) -> Option<String> {
        let host_port = self.services.get(service)?.ports.get(&port)?;
        Some(format!("http://127.0.0.1:{host_port}"))
    }

    pub fn is_running(&self, service: &str) -> bool {
        self.services.contains_key(service)
    }

    /// Why a check needing `service` cannot run, or `None` when it can.
    pub fn not_running_reason(&self, service: &str) -> Option<String> {
        (!self.is_running(service)).then(|| {
            format!(
                "service `{service}` is not running in this run (started: {}; images: {:?}) (hint: give it an image with `--image {service}=IMAGE`, or name it in `--services`)",
                self.services.keys().cloned().collect::<Vec<_>>().join(", "),
                self.images
            )
        })
    }

    pub fn load(path: &Path) -> Result<Self, StackError> {
        let err = |detail: String| StackError::State { path: path.to_owned(), detail };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Readiness times, one line per service, then the total and its ratio
    /// to the slowest single service.
    pub fn timing_report(&self) -> String {
        let mut out = format!("stack start-up (container start -> ready), timing {}:\n", self.timing_mode());
        for (name, s) in &self.services {
            out.push_str(&format!("  {name:<16} {:>6} ms  ({})\n", s.ready_ms, s.probe));
        }
        let slowest = self.services.values().map(|s| s.ready_ms).max().unwrap_or(0);
        let ratio = if slowest > 0 { self.startup_ms as f64 / slowest as f64 } else { 0.0 };
        out.push_str(&format!(
            "  all ready after {} ms; slowest single service {} ms; ratio {:.2} (target <= 1.5)\n",
            self.startup_ms, slowest, ratio
        ));
        out
    }
}

/// A running stack owned by this process.
pub struct Stack {
    pub state: StackState,
    docker: Docker,
    containers: Vec<ContainerAsync<GenericImage>>,
    torn_down: bool,
    /// Accelerated copies of the config files (kept until the containers have them).
    _workdir: Option<cleanup::TempDir>,
    /// Each service's readiness probe, re-run after a restart.
    probes: BTreeMap<String, Probe>,
    startup_timeout: Duration,
    /// Where this stack's state is published (a shared stack's state file),
    /// rewritten whenever an endpoint changes.
    state_file: Option<PathBuf>,
}

fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    format!("{:08x}", h.finish() as u32)
}

/// Connects to the local Docker daemon and checks that it answers.
pub async fn docker() -> Result<Docker, StackError> {
    let docker = Docker::connect_with_local_defaults()?;
    docker.ping().await?;
    Ok(docker)
}

/// The last `n` log lines of a container (stdout and stderr).
pub async fn container_logs(docker: &Docker, id: &str, n: usize) -> String {
    let opts = bollard::query_parameters::LogsOptions { stdout: true, stderr: true, tail: n.to_string(), ..Default::default() };
    let mut stream = docker.logs(id, Some(opts));
    let mut out = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.push_str(&String::from_utf8_lossy(&chunk.into_bytes())),
            Err(e) => {
                out.push_str(&format!("(logs unavailable: {e})"));
                break;
            }
        }
    }
    out
}

/// A service's container as Docker sees it now, for failure messages:
/// `container `prometheus`: exited (exit code 137, OOM false); last 10 log lines: …`,
/// `… paused …`; `None` when it is running normally.
pub async fn container_trouble(docker: &Docker, service: &str, state: &ServiceState, network: &str) -> Option<String> {
    let inspect = docker.inspect_container(&state.container_id, None::<bollard::query_parameters::InspectContainerOptions>).await;
    let what = match inspect {
        Err(e) => format!("container `{service}` ({}) is gone: {e}", state.container_name),
        Ok(c) => {
            let st = c.state.unwrap_or_default();
            let status = st.status.map(|s| format!("{s:?}").to_lowercase()).unwrap_or_else(|| "unknown".into());
            let attached = c.network_settings.and_then(|n| n.networks).is_none_or(|n| network.is_empty() || n.contains_key(network));
            if st.running == Some(true) && st.paused != Some(true) && attached {
                return None;
            }
            if st.running == Some(true) && st.paused != Some(true) {
                format!("container `{service}` ({}) is running but no longer attached to the run's network `{network}`", state.container_name)
            } else {
                format!("container `{service}` ({}) is {status} (exit code {}, OOM killed {})", state.container_name, st.exit_code.unwrap_or_default(), st.oom_killed.unwrap_or_default())
            }
        }
    };
    let logs = container_logs(docker, &state.container_id, 10).await;
    Some(format!("{what}; its last log lines:\n{}", logs.trim_end()))
}

impl Stack {
    /// The last `n` log lines of `service`'s container, to append to a failure:
    /// `\n--- last log lines of <container> (service `<service>`) ---\n…`.
    pub async fn last_logs(&self, service: &str, n: usize) -> Option<String> {
        let st = self.state.services.get(service)?;
        let lines = container_logs(&self.docker, &st.container_id, n).await;
        Some(format!("{}{} (service `{service}`) ---\n{}", crate::eventually::LOGS_HEAD, st.container_name, lines.trim_end()))
    }

    /// For each service of the run whose container is not running normally
    /// (stopped, killed, paused, removed): what Docker says and its last log lines.
    pub async fn troubles(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, st) in &self.state.services {
            if let Some(t) = container_trouble(&self.docker, name, st, &self.state.network).await {
                out.push((name.clone(), t));
            }
        }
        out
    }

    /// A watchdog over the run's services except `except` (the app, which the
    /// alert phase stops on purpose): resolves with `(service, what Docker says)`
    /// once a container has been stopped, paused, removed or cut off from the
    /// run's network for two polls in a row (one second apart). A phase raced
    /// against it ends at once instead of waiting on a backend that cannot answer.
    pub fn watchdog(&self, except: &[String]) -> impl std::future::Future<Output = (String, String)> + Send + 'static {
        let docker = self.docker.clone();
        let network = self.state.network.clone();
        let services: Vec<(String, ServiceState)> = self.state.services.iter().filter(|(n, _)| !except.contains(n)).map(|(n, s)| (n.clone(), s.clone())).collect();
        async move {
            let mut strikes: BTreeMap<String, u32> = BTreeMap::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                for (name, st) in &services {
                    match container_trouble(&docker, name, st, &network).await {
                        Some(t) => {
                            let n = strikes.entry(name.clone()).or_default();
                            *n += 1;
                            if *n >= 2 {
                                return (name.clone(), t);
                            }
                        }
                        None => {
                            strikes.remove(name);
                        }
                    }
                }
            }
        }
    }

    /// Starts the selected services and waits until each is ready.
    pub async fn start(options: StackOptions) -> Result<Self, StackError> {
        let mut project = ComposeProject::load_input_with(&options.compose_input(), options.model.as_deref())?;
        let mut selected = selection(&project, &options)?;
        // Alertmanager by kind, whatever the service is called (`alert-router` in fixtures/stacks/shop).
        let alertmanager = |s: &String| s == "alertmanager" || project.services.get(s).is_some_and(|p| p.kind == Some("alertmanager"));
        if options.webhook && selected.iter().any(alertmanager) && !project.services.contains_key(crate::webhook::SERVICE) {
            project.services.insert(crate::webhook::SERVICE.into(), webhook_plan());
            selected.push(crate::webhook::SERVICE.into());
        }
        let workdir = accelerate_copies(&mut project, &selected, options.acceleration)?;
        let levels = project.start_order(&selected)?;
        let docker = docker().await?;
        let reaped = cleanup::reap_orphans(&docker).await?;
        if !reaped.is_empty() {
            eprintln!("obs-harness: removed leftovers of killed runs: {reaped:?}");
        }
        let run_id = new_run_id();
        cleanup::register_run(&run_id);
        let network = format!("obs-harness-{run_id}");
        let mut stack = Stack {
            state: StackState {
                run_id: run_id.clone(),
                // Absolute: whoever reads the state (tests, `--target`) may run elsewhere.
                compose_file: std::path::absolute(&options.compose_file).unwrap_or_else(|_| options.compose_file.clone()),
                compose_overrides: options.compose_input().files.into_iter().skip(1).map(|f| std::path::absolute(&f).unwrap_or(f)).collect(),
                env_files: options.compose.env_files.clone(),
                compose_profiles: options.compose.profiles.clone(),
                images: options.images,
                network: network.clone(),
                services: BTreeMap::new(),
                not_started: project.service_names().into_iter().filter(|s| !selected.contains(s)).collect(),
                startup_ms: 0,
                acceleration: options.acceleration,
                keeper_pid: None,
            },
            docker,
            containers: Vec::new(),
            torn_down: false,
            _workdir: workdir,
            probes: BTreeMap::new(),
            startup_timeout: options.startup_timeout,
            state_file: None,
        };
        match stack.bring_up(&project, &levels, &options).await {
            Ok(()) => Ok(stack),
            Err(e) => {
                stack.teardown().await;
                // Whatever failed after a signal failed because of it.
                Err(if cleanup::shutting_down() { StackError::Interrupted } else { e })
            }
        }
    }

    async fn bring_up(&mut self, project: &ComposeProject, levels: &[Vec<String>], options: &StackOptions) -> Result<(), StackError> {
        let run_id = self.state.run_id.clone();
        let labels = cleanup::labels(&run_id);
        self.docker
            .create_network(NetworkCreateRequest {
                name: self.state.network.clone(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await?;
        // Images first (air-gapped builds take a moment), so start-up timing is about containers.
        let mut images = HashMap::new();
        for level in levels {
            for s in level {
                let image = match options.image_overrides.get(s) {
                    Some(i) => i.clone(),
                    None => resolve_image(&project.services[s], options.images).await?,
                };
                images.insert(s.clone(), image);
            }
        }
        let started_at = Instant::now();
        let mut waits = Vec::new();
        for level in levels {
            if cleanup::shutting_down() {
                return Err(StackError::Interrupted);
            }
            let starts = level.iter().map(|s| self.start_service(&project.services[s], &images[s], &labels, options));
            for result in futures::future::join_all(starts).await {
                let (container, state, probe, container_started) = result?;
                let service = container.1.clone();
                self.containers.push(container.0);
                waits.push((service.clone(), probe, container_started));
                self.state.services.insert(service, state);
            }
        }
        let docker = &self.docker;
        let state = &self.state;
        let readiness = waits.iter().map(|(service, probe, container_started)| async move {
            let svc = &state.services[service];
            wait_ready(docker, service, svc, probe, options.startup_timeout).await?;
            Ok::<_, StackError>((service.clone(), container_started.elapsed(), started_at.elapsed()))
        });
        let results = futures::future::join_all(readiness).await;
        self.probes.extend(waits.into_iter().map(|(service, probe, _)| (service, probe)));
        for result in results {
            let (service, ready, since_start) = result?;
            let s = self.state.services.get_mut(&service).expect("started service");
            s.ready_ms = ready.as_millis() as u64;
            s.ready_since_stack_start_ms = since_start.as_millis() as u64;
        }
        self.state.startup_ms = started_at.elapsed().as_millis() as u64;
        Ok(())
    }

    async fn start_service(
        &self,
        plan: &ServicePlan,
        image: &str,
        labels: &HashMap<String, String>,
        options: &StackOptions,
    ) -> Result<((ContainerAsync<GenericImage>, String), ServiceState, Probe, Instant), StackError> {
        let run_id = &self.state.run_id;
        let start_err = |detail: String, hint: &str| StackError::Start {
            service: plan.name.clone(),
            image: image.to_owned(),
            detail,
            hint: hint.to_owned(),
        };
        let probe = probe::probe_for(plan, image);
        let mut ports = plan.ports.clone();
        if let Probe::Http { port, .. } = probe {
            ports.insert(port);
        }
        let (name, tag) = images::split_reference(image);
        let mut generic = GenericImage::new(name, tag);
        for p in &ports {
            generic = generic.with_exposed_port(p.tcp());
        }
        let mut cmd = plan.command.clone().unwrap_or_default();
        if let Some(ep) = plan.entrypoint.as_ref().filter(|e| !e.is_empty()) {
            generic = generic.with_entrypoint(&ep[0]);
            cmd = ep[1..].iter().cloned().chain(cmd).collect();
        }
        let container_name = format!("{}-{run_id}", plan.container_name.as_deref().unwrap_or(&plan.name));
        let mut service_labels = labels.clone();
        service_labels.insert(cleanup::LABEL_SERVICE.into(), plan.name.clone());
        // Compose's own labels, so label-based discovery (Promtail) sees what it would under compose.
        service_labels.insert("com.docker.compose.service".into(), plan.name.clone());
        service_labels.insert("com.docker.compose.project".into(), format!("obs-harness-{run_id}"));
        service_labels.extend(plan.labels.clone());
        let mut req = generic
            .with_container_name(&container_name)
            .with_labels(service_labels)
            .with_startup_timeout(options.startup_timeout);
        if plan.command.is_some() || !cmd.is_empty() {
            req = req.with_cmd(cmd);
        }
        for (k, v) in &plan.env {
            req = req.with_env_var(k, v);
        }
        for m in &plan.mounts {
            req = match m {
                MountPlan::Copy { host, target } => req.with_copy_to(target.clone(), host.clone()),
                MountPlan::Bind { host, target, read_only } => {
                    let mount = Mount::bind_mount(host.clone(), target.clone());
                    req.with_mount(if *read_only {
                        mount.with_access_mode(testcontainers::core::AccessMode::ReadOnly)
                    } else {
                        mount
                    })
                }
                MountPlan::Volume { name, target } => {
                    let volume = format!("obs-harness-{run_id}-{name}");
                    self.docker
                        .create_volume(VolumeCreateRequest { name: Some(volume.clone()), labels: Some(labels.clone()), ..Default::default() })
                        .await?;
                    req.with_mount(Mount::volume_mount(volume, target.clone()))
                }
            };
        }
        if let Some(h) = &plan.healthcheck {
            let hc = match h.test.first().map(String::as_str) {
                Some("CMD-SHELL") => Healthcheck::cmd_shell(h.test[1..].join(" ")),
                Some("CMD") => Healthcheck::cmd(h.test[1..].iter().cloned()),
                _ => Healthcheck::cmd(h.test.iter().cloned()),
            };
            // Docker 20.10 has no start_interval: the harness probes every second
            // instead of the compose interval, so readiness is seen without delay.
            let interval = h.interval.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            req = req
                .with_health_check(hc.with_interval(interval).with_timeout(h.timeout).with_retries(h.retries.or(Some(3))).with_start_period(h.start_period));
        }
        if cleanup::shutting_down() {
            return Err(StackError::Interrupted);
        }
        let container_started = Instant::now();
        let container = req.start().await.map_err(|e| {
            let detail = e.to_string();
            let hint = if detail.contains("pull") || detail.contains("No such image") || detail.contains("not found") {
                "the image is not available here: use `--images airgapped`, or point OBS_IMAGE_<SERVICE> at a mirror"
            } else {
                "see the error; `docker info` must work"
            };
            start_err(detail, hint)
        })?;
        let id = container.id().to_owned();
        let mut aliases = vec![plan.name.clone()];
        aliases.extend(plan.container_name.clone());
        self.docker
            .connect_network(
                &self.state.network,
                NetworkConnectRequest {
                    container: id.clone(),
                    endpoint_config: Some(EndpointSettings { aliases: Some(aliases), ..Default::default() }),
                },
            )
            .await?;
        let mut host_ports = BTreeMap::new();
        for p in &ports {
            // A container that already exited publishes nothing: readiness then
            // reports the exit with the container's logs.
            if let Ok(hp) = container.get_host_port_ipv4(p.tcp()).await {
                host_ports.insert(*p, hp);
            }
        }
        let state = ServiceState {
            container_name,
            container_id: id,
            image: image.to_owned(),
            probe: probe.to_string(),
            ports: host_ports,
            ready_ms: 0,
            ready_since_stack_start_ms: 0,
        };
        Ok(((container, plan.name.clone()), state, probe, container_started))
    }

    /// Stops one service's container (it keeps its name, network and volumes).
    pub async fn stop_service(&self, service: &str) -> Result<(), StackError> {
        let id = &self.service(service)?.container_id;
        self.docker.stop_container(id, Some(bollard::query_parameters::StopContainerOptions { t: Some(2), ..Default::default() })).await?;
        Ok(())
    }

    /// Starts a stopped service again and waits for its readiness probe.
    /// Docker publishes a restarted container on **new** host ports: the
    /// state is updated (and republished to the state file, if any), so
    /// whoever holds an address of this stack must take it again from
    /// [`Stack::state`] (`Targets::from_state`).
    pub async fn restart_service(&mut self, service: &str) -> Result<(), StackError> {
        let id = self.service(service)?.container_id.clone();
        self.docker.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>).await?;
        let inspect = self.docker.inspect_container(&id, None).await?;
        let ports = inspect.network_settings.and_then(|n| n.ports).unwrap_or_default();
        let state = self.state.services.get_mut(service).expect("checked above");
        for (key, bindings) in ports {
            let (Some(port), Some(host)) = (
                key.split('/').next().and_then(|p| p.parse::<u16>().ok()),
                bindings.and_then(|b| b.into_iter().find_map(|b| b.host_port.and_then(|p| p.parse::<u16>().ok()))),
            ) else {
                continue;
            };
            state.ports.insert(port, host);
        }
        if let Some(probe) = self.probes.get(service) {
            wait_ready(&self.docker, service, &self.state.services[service], probe, self.startup_timeout).await?;
        }
        if let Some(path) = self.state_file.clone() {
            self.publish_state(&path).map_err(|detail| StackError::State { path, detail })?;
        }
        Ok(())
    }

    /// Writes the state to `path` (atomically) and keeps it current: later
    /// restarts rewrite it with the new endpoints.
    pub fn publish_state(&mut self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        serde_json::to_string_pretty(&self.state)
            .map_err(|e| e.to_string())
            .and_then(|j| std::fs::write(&tmp, j).map_err(|e| e.to_string()))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()))?;
        self.state_file = Some(path.to_owned());
        Ok(())
    }

    fn service(&self, service: &str) -> Result<&ServiceState, StackError> {
        self.state.services.get(service).ok_or_else(|| StackError::Start {
            service: service.to_owned(),
            image: String::new(),
            detail: "is not running in this run".into(),
            hint: "start it with --services".into(),
        })
    }

    /// The Docker client of this stack.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Removes every container, network and volume of this run.
    pub async fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        for c in self.containers.drain(..) {
            let _ = c.rm().await;
        }
        if let Err(e) = cleanup::remove_run(&self.docker, &self.state.run_id).await {
            eprintln!("obs-harness: teardown of run {} incomplete: {e}", self.state.run_id);
        }
        cleanup::unregister_run(&self.state.run_id);
    }
}

impl Drop for Stack {
    /// A stack dropped without [`Stack::teardown`] (a panic, an early return)
    /// is still removed: synchronously, on a thread of its own.
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        let run = self.state.run_id.clone();
        let containers = std::mem::take(&mut self.containers);
        std::mem::forget(containers); // removed below by label, not by their own async drop
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let docker = Docker::connect_with_local_defaults().ok()?;
                cleanup::remove_run(&docker, &run).await.ok()
            })?;
            cleanup::unregister_run(&run);
            Some(())
        })
        .join();
    }
}

/// The harness's own webhook receiver as a service of the run.
fn webhook_plan() -> ServicePlan {
    ServicePlan {
        name: crate::webhook::SERVICE.into(),
        image: "obs-harness/webhook".into(),
        container_name: None,
        command: Some(vec!["webhook-sink".into(), "--listen".into(), format!("0.0.0.0:{}", crate::webhook::PORT)]),
        entrypoint: None,
        env: BTreeMap::new(),
        labels: BTreeMap::new(),
        ports: [crate::webhook::PORT].into(),
        mounts: Vec::new(),
        depends_on: Vec::new(),
        healthcheck: None,
        has_build: false,
        build: None,
        readiness: None,
        kind: Some("harness-webhook"),
    }
}

/// With a factor above 1, replaces each copied config by an accelerated copy.
fn accelerate_copies(project: &mut ComposeProject, selected: &[String], factor: u32) -> Result<Option<cleanup::TempDir>, StackError> {
    if factor <= 1 {
        return Ok(None);
    }
    let io = |path: &Path, e: std::io::Error| StackError::Image(images::ImageError::Io { path: path.to_owned(), source: e });
    let dir = cleanup::TempDir::new("copies").map_err(|e| io(&std::env::temp_dir(), e))?;
    for name in selected {
        let plan = project.services.get_mut(name).expect("selected service exists");
        for (i, m) in plan.mounts.iter_mut().enumerate() {
            if let MountPlan::Copy { host, .. } = m {
                let dst = dir.path().join(format!("{name}-{i}"));
                crate::accelerate::accelerate_tree(host, &dst, factor).map_err(|e| io(host, e))?;
                *host = dst;
            }
        }
    }
    Ok(Some(dir))
}

/// The services a run starts: those `--services` names, else under
/// `ImageMode::Airgapped` the air-gapped set (by kind) and every service given
/// an `--image`, else every service of the project.
fn selection(project: &ComposeProject, options: &StackOptions) -> Result<Vec<String>, StackError> {
    Ok(match &options.services {
        Some(s) => project.select(s)?,
        None if options.images == ImageMode::Airgapped => project
            .services
            .values()
            .filter(|p| images::airgapped_kind(p).is_some() || options.image_overrides.contains_key(&p.name))
            .map(|p| p.name.clone())
            .collect(),
        None => project.service_names(),
    })
}

async fn resolve_image(plan: &ServicePlan, mode: ImageMode) -> Result<String, StackError> {
    if let Some(image) = images::image_override(&plan.name) {
        return Ok(image);
    }
    if plan.name == crate::webhook::SERVICE {
        return Ok(images::harness_image()?.build().await?);
    }
    // A service compose would build (the reference app, a service labelled
    // `obs-harness.binary`) runs from the binary built by the workspace, in either image mode.
    let kind = images::airgapped_kind(plan);
    if let Some(kind) = kind.filter(|k| mode == ImageMode::Airgapped || k.from_workspace()) {
        return Ok(images::airgapped_image(kind)?.build().await?);
    }
    if let Some(build) = &plan.build {
        return build_service(plan, build).await;
    }
    Ok(plan.image.clone())
}

/// Builds a compose service's image from its context, as `docker compose
/// build` would; its base images must exist locally or be pullable.
async fn build_service(plan: &ServicePlan, build: &compose::BuildPlan) -> Result<String, StackError> {
    let fail = |detail: String| StackError::Start {
        service: plan.name.clone(),
        image: plan.image.clone(),
        detail,
        hint: format!(
            "make its base images available (a registry, or `docker load`), or build and tag `{}` yourself and pass --image {}=IMAGE; mark it `{}: reference-app` to run the reference app in its place, or `{}: NAME` to run the workspace binary NAME",
            plan.image,
            plan.name,
            crate::profile::ROLE_LABEL,
            images::BINARY_LABEL
        ),
    };
    if !build.context.is_dir() {
        return Err(fail(format!("its build context {} is not a directory", build.context.display())));
    }
    let (name, tag) = match plan.image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n.to_owned(), t.to_owned()),
        _ => (plan.image.clone(), "latest".to_owned()),
    };
    // Labelled like every image the harness makes (`obs-harness images prune` finds it).
    let dockerfile = build.context.join(&build.dockerfile);
    let text = std::fs::read_to_string(&dockerfile).map_err(|e| fail(format!("cannot read {}: {e}", dockerfile.display())))?;
    let image = testcontainers::GenericBuildableImage::new(name, tag)
        .with_file(build.context.clone(), ".")
        .with_dockerfile_string(format!("{text}\nLABEL {}=1\n", cleanup::LABEL));
    use testcontainers::runners::AsyncBuilder;
    match image.build_image().await {
        Ok(_) => Ok(plan.image.clone()),
        Err(e) => Err(fail(format!("building it from {} failed: {e}", build.context.display()))),
    }
}

async fn wait_ready(docker: &Docker, service: &str, svc: &ServiceState, probe: &Probe, timeout: Duration) -> Result<(), StackError> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("reqwest client");
    let id = svc.container_id.clone();
    let url = match probe {
        Probe::Http { port, path } => svc.ports.get(port).map(|hp| format!("http://127.0.0.1:{hp}{path}")),
        _ => None,
    };
    let result = Eventually::new(format!("service `{service}` ready"))
        .with_timeout(timeout)
        .until(|| {
            let client = client.clone();
            let url = url.clone();
            let id = id.clone();
            async move {
                let inspect = match docker.inspect_container(&id, None).await {
                    Ok(i) => i,
                    Err(e) => return Poll::Pending(format!("inspect failed: {e}")),
                };
                let state = inspect.state.unwrap_or_default();
                if state.running != Some(true) {
                    return Poll::Fatal(format!(
                        "container is {} (exit code {})",
                        state.status.map(|s| s.to_string()).unwrap_or_else(|| "not running".into()),
                        state.exit_code.unwrap_or_default()
                    ));
                }
                match probe {
                    Probe::Running => Poll::Ready(()),
                    Probe::DockerHealth => {
                        let health = state.health.and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default();
                        if health == "healthy" { Poll::Ready(()) } else { Poll::Pending(format!("health status `{health}`")) }
                    }
                    Probe::Http { port, .. } => {
                        let Some(url) = url else {
                            return Poll::Pending(format!("container port {port} is not published"));
                        };
                        match client.get(&url).send().await {
                            Ok(r) if r.status().is_success() => Poll::Ready(()),
                            Ok(r) => {
                                let status = r.status();
                                let body = r.text().await.unwrap_or_default();
                                Poll::Pending(format!("GET {url} -> {status}: {}", body.chars().take(200).collect::<String>()))
                            }
                            Err(e) => Poll::Pending(format!("GET {url} -> {e}")),
                        }
                    }
                }
            }
        })
        .await;
    match result {
        Ok(()) => Ok(()),
        Err(wait) => {
            let logs = container_logs(docker, &svc.container_id, 40).await;
            Err(StackError::NotReady {
                service: service.to_owned(),
                probe: probe.to_string(),
                wait: Box::new(wait.with_logs(vec![(svc.container_name.clone(), logs)])),
            })
        }
    }
}

/// Runs `f` against a stack and always tears it down, also when `f` panics.
///
/// With `OBS_STACK_STATE` set (the shared stack of a nextest run) `f` gets
/// that stack's state and nothing is started or torn down here.
pub async fn with_stack<F, Fut, T>(options: StackOptions, f: F) -> Result<T, StackError>
where
    F: FnOnce(StackState) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    use futures::FutureExt;
    if let Some(path) = std::env::var_os("OBS_STACK_STATE") {
        let state = StackState::load(Path::new(&path))?;
        return Ok(f(state).await);
    }
    let mut stack = Stack::start(options).await?;
    let outcome = std::panic::AssertUnwindSafe(f(stack.state.clone())).catch_unwind().await;
    stack.teardown().await;
    match outcome {
        Ok(v) => Ok(v),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selected(options: &StackOptions) -> Vec<String> {
        let project = ComposeProject::load_input_with(&options.compose_input(), None).expect("the bundled stack reads");
        let mut s = selection(&project, options).expect("selects");
        s.sort();
        s
    }

    #[test]
    fn an_image_given_on_the_command_line_joins_the_airgapped_set() {
        let set = selected(&StackOptions::airgapped());
        assert_eq!(set, ["alertmanager", "app", "prometheus"], "the air-gapped set by kind");
        let with_loki = selected(&StackOptions::airgapped().with_image("loki", "local/loki:3"));
        assert_eq!(with_loki, ["alertmanager", "app", "loki", "prometheus"]);
        // `--services` still decides alone, and the registry mode starts everything.
        let named = selected(&StackOptions::airgapped().with_image("loki", "local/loki:3").with_services(["prometheus".to_owned()]));
        assert_eq!(named, ["prometheus"]);
        assert_eq!(selected(&StackOptions::bundled()).len(), ComposeProject::load_input_with(&StackOptions::bundled().compose_input(), None).unwrap().service_names().len());
    }
}
