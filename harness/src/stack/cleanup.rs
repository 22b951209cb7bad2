//! Labels, leftovers and signals: nothing of the harness outlives a run.
//!
//! Every container, network and volume a run creates carries
//! `obs-harness=1`, `obs-harness.run=<run id>` and
//! `obs-harness.owner=<pid>:<process start time>`. Teardown removes a run by
//! its label (which also catches a container created while start-up was
//! interrupted); [`reap_orphans`] removes what belongs to owners that no longer
//! run (a killed run); [`install_signal_cleanup`] removes the active runs on
//! SIGINT/SIGTERM before the process exits.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock};

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptions, ListNetworksOptions, ListVolumesOptions, RemoveContainerOptions, RemoveVolumeOptions,
};

pub const LABEL: &str = "obs-harness";
pub const LABEL_RUN: &str = "obs-harness.run";
pub const LABEL_OWNER: &str = "obs-harness.owner";
pub const LABEL_SERVICE: &str = "obs-harness.service";

/// This process as an owner: `pid:start time` (pid reuse cannot fool it).
pub fn owner_id(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime) counts from after the `(comm)` field, which may hold spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split(':').next().and_then(|p| p.parse::<u32>().ok()) else { return false };
    owner_id(pid).as_deref() == Some(owner)
}

/// The labels of every resource of `run`.
pub fn labels(run: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_owned(), "1".to_owned()),
        (LABEL_RUN.to_owned(), run.to_owned()),
        (LABEL_OWNER.to_owned(), owner_id(std::process::id()).unwrap_or_default()),
    ])
}

/// What a removal removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

impl Removed {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }
}

fn filter(label: String) -> Option<HashMap<String, Vec<String>>> {
    Some(HashMap::from([("label".to_owned(), vec![label])]))
}

/// Removes everything labelled with `run` (or every harness resource whose
/// labels satisfy `keep`'s negation, see [`reap_orphans`]).
async fn remove_where(
    docker: &Docker,
    label: String,
    doomed: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<Removed, bollard::errors::Error> {
    let mut removed = Removed::default();
    let containers = docker
        .list_containers(Some(ListContainersOptions { all: true, filters: filter(label.clone()), ..Default::default() }))
        .await?;
    for c in containers {
        if !doomed(&c.labels.clone().unwrap_or_default()) {
            continue;
        }
        let id = c.id.unwrap_or_default();
        let opts = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        if docker.remove_container(&id, Some(opts)).await.is_ok() {
            removed.containers.push(c.names.and_then(|n| n.into_iter().next()).unwrap_or(id));
        }
    }
    for n in docker.list_networks(Some(ListNetworksOptions { filters: filter(label.clone()) })).await? {
        if !doomed(&n.labels.clone().unwrap_or_default()) {
            continue;
        }
        let name = n.name.unwrap_or_default();
        if docker.remove_network(&name).await.is_ok() {
            removed.networks.push(name);
        }
    }
    let volumes = docker.list_volumes(Some(ListVolumesOptions { filters: filter(label) })).await?;
    for v in volumes.volumes.unwrap_or_default() {
        if !doomed(&v.labels) {
            continue;
        }
        if docker.remove_volume(&v.name, Some(RemoveVolumeOptions { force: true })).await.is_ok() {
            removed.volumes.push(v.name);
        }
    }
    Ok(removed)
}

/// Removes every container, network and volume of `run`.
pub async fn remove_run(docker: &Docker, run: &str) -> Result<Removed, bollard::errors::Error> {
    remove_where(docker, format!("{LABEL_RUN}={run}"), |_| true).await
}

/// Removes every harness resource on the daemon (`obs-harness stack down --all`).
pub async fn remove_all(docker: &Docker) -> Result<Removed, bollard::errors::Error> {
    remove_where(docker, format!("{LABEL}=1"), |_| true).await
}

/// Harness containers, networks and volumes on the daemon, grouped by run.
pub async fn status(docker: &Docker) -> Result<String, bollard::errors::Error> {
    use std::collections::BTreeMap;
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let containers = docker
        .list_containers(Some(ListContainersOptions { all: true, filters: filter(format!("{LABEL}=1")), ..Default::default() }))
        .await?;
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let run = labels.get(LABEL_RUN).cloned().unwrap_or_default();
        let owner = labels.get(LABEL_OWNER).cloned().unwrap_or_default();
        let alive = if owner_alive(&owner) { "owner alive" } else { "owner gone: leftover" };
        runs.entry(run).or_default().push(format!(
            "  container {:<28} service {:<14} {} ({alive})",
            c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/'),
            labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
            c.status.unwrap_or_default(),
        ));
    }
    for n in docker.list_networks(Some(ListNetworksOptions { filters: filter(format!("{LABEL}=1")) })).await? {
        let run = n.labels.unwrap_or_default().get(LABEL_RUN).cloned().unwrap_or_default();
        runs.entry(run).or_default().push(format!("  network   {}", n.name.unwrap_or_default()));
    }
    let volumes = docker.list_volumes(Some(ListVolumesOptions { filters: filter(format!("{LABEL}=1")) })).await?;
    for v in volumes.volumes.unwrap_or_default() {
        let run = v.labels.get(LABEL_RUN).cloned().unwrap_or_default();
        runs.entry(run).or_default().push(format!("  volume    {}", v.name));
    }
    if runs.is_empty() {
        return Ok("no harness containers, networks or volumes\n".into());
    }
    Ok(runs.into_iter().map(|(run, lines)| format!("run {run}:\n{}\n", lines.join("\n"))).collect())
}

/// Removes harness resources whose owner process is gone (runs that were killed).
pub async fn reap_orphans(docker: &Docker) -> Result<Removed, bollard::errors::Error> {
    for p in reap_temp_dirs() {
        eprintln!("obs-harness: removed the temporary directory of a killed run: {}", p.display());
    }
    remove_where(docker, format!("{LABEL}=1"), |labels| {
        labels.get(LABEL_OWNER).is_none_or(|owner| !owner_alive(owner))
    })
    .await
}

static SHUTTING_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `true` once a signal asked the process to stop: start-up creates nothing more.
pub fn shutting_down() -> bool {
    SHUTTING_DOWN.load(std::sync::atomic::Ordering::SeqCst)
}

/// After a signal, blocking: lets the handler finish (it exits the process
/// with 128 + signal) instead of returning an exit code before it has;
/// returns at once when no signal came.
pub fn wait_for_signal_exit() {
    if shutting_down() {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// After a signal: lets the handler finish its removal passes (it exits the
/// process); returns only if it has not done so within 30 s.
pub async fn await_signal_exit() {
    if shutting_down() {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
}

/// The phase the process is in (`lint`, `start`, `signals`, …), for the
/// report written when a signal interrupts it.
fn phase_cell() -> &'static Mutex<String> {
    static PHASE: OnceLock<Mutex<String>> = OnceLock::new();
    PHASE.get_or_init(Default::default)
}

pub fn set_phase(phase: &str) {
    if let Ok(mut p) = phase_cell().lock() {
        *p = phase.to_owned();
    }
}

/// The phase last set with [`set_phase`] (empty before any).
pub fn phase() -> String {
    phase_cell().lock().map(|p| p.clone()).unwrap_or_default()
}

type Hook = Box<dyn Fn(i32, &str) + Send + Sync>;

/// What the signal handler does first, before removing anything: e.g. write
/// the run's report with `complete: false` and the phase it stopped in.
fn hooks() -> &'static Mutex<Vec<Hook>> {
    static HOOKS: OnceLock<Mutex<Vec<Hook>>> = OnceLock::new();
    HOOKS.get_or_init(Default::default)
}

/// Registers `f(signal, phase)`, called once by the signal handler before teardown.
pub fn on_signal(f: impl Fn(i32, &str) + Send + Sync + 'static) {
    install_signal_cleanup();
    hooks().lock().expect("hooks lock").push(Box::new(f));
}

/// Temporary files and directories of this process, removed by the signal
/// handler (their `Drop` does not run when it exits the process).
fn temp_paths() -> &'static Mutex<BTreeSet<std::path::PathBuf>> {
    static PATHS: OnceLock<Mutex<BTreeSet<std::path::PathBuf>>> = OnceLock::new();
    PATHS.get_or_init(Default::default)
}

pub fn register_path(path: &std::path::Path) {
    install_signal_cleanup();
    temp_paths().lock().expect("paths lock").insert(path.to_owned());
}

pub fn unregister_path(path: &std::path::Path) {
    temp_paths().lock().expect("paths lock").remove(path);
}

/// Prefix of every temporary directory of the harness:
/// `obs-harness-<pid>-<process start>-<purpose>-<random>` in the temp dir.
pub const TEMP_PREFIX: &str = "obs-harness-";

/// A temporary directory of this process, named [`TEMP_PREFIX`]`<pid>-<start>-<purpose>-`,
/// removed on drop, by the signal handler, or (after SIGKILL) by [`reap_orphans`].
#[derive(Debug)]
pub struct TempDir(Option<tempfile::TempDir>);

impl TempDir {
    pub fn new(purpose: &str) -> std::io::Result<Self> {
        let owner = owner_id(std::process::id()).unwrap_or_default().replace(':', "-");
        let dir = tempfile::Builder::new().prefix(&format!("{TEMP_PREFIX}{owner}-{purpose}-")).tempdir()?;
        register_path(dir.path());
        Ok(Self(Some(dir)))
    }

    pub fn path(&self) -> &std::path::Path {
        self.0.as_ref().expect("present until drop").path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            unregister_path(d.path());
        }
    }
}

/// Removes harness temporary directories whose owner process is gone.
pub fn reap_temp_dirs() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return out };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { continue };
        let mut parts = rest.splitn(3, '-');
        let (Some(pid), Some(start)) = (parts.next(), parts.next()) else { continue };
        if pid.parse::<u32>().is_err() || start.parse::<u64>().is_err() {
            continue;
        }
        if !owner_alive(&format!("{pid}:{start}")) && std::fs::remove_dir_all(e.path()).is_ok() {
            out.push(e.path());
        }
    }
    out
}

/// Runs of this process, removed by the signal handler.
fn active_runs() -> &'static Mutex<BTreeSet<String>> {
    static RUNS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    RUNS.get_or_init(Default::default)
}

pub fn register_run(run: &str) {
    install_signal_cleanup();
    active_runs().lock().expect("runs lock").insert(run.to_owned());
}

pub fn unregister_run(run: &str) {
    active_runs().lock().expect("runs lock").remove(run);
}

/// On SIGINT/SIGTERM/SIGHUP: remove every active run of this process, then
/// exit with 128 + signal. Installed once, on the first run.
pub fn install_signal_cleanup() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                SHUTTING_DOWN.store(true, std::sync::atomic::Ordering::SeqCst);
                // Later signals (a second Ctrl-C) stay caught by `signals`: the
                // removal below always finishes before the process exits.
                let phase = phase();
                if let Ok(hooks) = hooks().lock() {
                    for h in hooks.iter() {
                        h(sig, &phase);
                    }
                }
                let runs: Vec<String> = active_runs().lock().map(|r| r.iter().cloned().collect()).unwrap_or_default();
                if !runs.is_empty() {
                    eprintln!("obs-harness: signal {sig}: removing {} run(s) before exit", runs.len());
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        rt.block_on(async {
                            if let Ok(docker) = Docker::connect_with_local_defaults() {
                                // A container create already in flight lands after the first
                                // pass; the second pass, once it has had time to land, removes it.
                                for run in &runs {
                                    let _ = remove_run(&docker, run).await;
                                }
                                tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                                for run in runs {
                                    match remove_run(&docker, &run).await {
                                        Ok(r) => eprintln!(
                                            "obs-harness: run {run}: removed {} container(s), {} network(s), {} volume(s)",
                                            r.containers.len(),
                                            r.networks.len(),
                                            r.volumes.len()
                                        ),
                                        Err(e) => eprintln!("obs-harness: run {run}: cleanup failed: {e}"),
                                    }
                                }
                            }
                        });
                    }
                }
                let paths: Vec<std::path::PathBuf> = temp_paths().lock().map(|p| p.iter().cloned().collect()).unwrap_or_default();
                for p in paths {
                    let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                }
                std::process::exit(128 + sig);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_dirs_are_named_for_their_owner_and_reaped_when_it_is_gone() {
        let owner = owner_id(std::process::id()).unwrap().replace(':', "-");
        let mine = TempDir::new("unit").unwrap();
        let name = mine.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(&format!("{TEMP_PREFIX}{owner}-unit-")), "{name}");
        let dead = std::env::temp_dir().join(format!("{TEMP_PREFIX}999999999-1-copies-x"));
        std::fs::create_dir_all(dead.join("sub")).unwrap();
        let reaped = reap_temp_dirs();
        assert!(reaped.contains(&dead) && !dead.exists(), "{reaped:?}");
        assert!(mine.path().exists(), "a live owner's directory stays");
        let path = mine.path().to_owned();
        drop(mine);
        assert!(!path.exists());
    }

    #[test]
    fn owner_id_identifies_this_process() {
        let me = owner_id(std::process::id()).unwrap();
        assert!(owner_alive(&me));
        assert!(!owner_alive("999999999:1"));
        assert!(!owner_alive(&format!("{}:0", std::process::id())), "same pid, other start time");
    }
}
