//! The shared stack of a test run.
//!
//! `obs-harness stack up` starts a detached keeper process (`stack keep`, its
//! own process group, so a Ctrl-C on the terminal reaches it only through its
//! owner) that starts the stack, writes its [`StackState`] to a state file and
//! holds the stack until one of:
//! - `obs-harness stack down` (SIGTERM to the keeper),
//! - its owner process exits (the nextest run that asked for it: at the end
//!   of the run, after failures, after Ctrl-C),
//! - a signal.
//!
//! `stack up` waits until the state file (ready) or an error file (start-up
//! failed, with the reason) appears, or the keeper dies, and with
//! `--nextest-env` hands `OBS_STACK_STATE=<state file>` to the tests through
//! `$NEXTEST_ENV`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{Stack, StackError, StackOptions, StackState, cleanup};
use crate::eventually::{Eventually, Poll};

/// Paths that belong to one shared stack.
#[derive(Debug, Clone)]
pub struct KeeperFiles {
    pub state: PathBuf,
}

impl KeeperFiles {
    pub fn new(state: impl Into<PathBuf>) -> Self {
        Self { state: state.into() }
    }

    /// `<tmp>/obs-harness/stack.json`: the stack of `stack up --detach`.
    pub fn detached() -> Self {
        Self::new(std::env::temp_dir().join("obs-harness").join("stack.json"))
    }

    /// `<tmp>/obs-harness/stack-<owner pid>.json`.
    pub fn for_owner(owner: u32) -> Self {
        Self::new(std::env::temp_dir().join("obs-harness").join(format!("stack-{owner}.json")))
    }

    pub fn error(&self) -> PathBuf {
        self.state.with_extension("error")
    }

    pub fn log(&self) -> PathBuf {
        self.state.with_extension("log")
    }
}

/// The nearest ancestor that is a nextest process, else the parent.
pub fn default_owner() -> u32 {
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
    };
    let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let first = parent(std::process::id()).unwrap_or(1);
    let mut pid = first;
    while pid > 1 {
        if comm(pid).contains("nextest") {
            return pid;
        }
        pid = parent(pid).unwrap_or(1);
    }
    first
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}

/// Starts the keeper and waits until the stack is ready.
pub async fn up(files: &KeeperFiles, keeper_args: &[String], timeout: Duration) -> Result<StackState, String> {
    if let Some(dir) = files.state.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    for p in [&files.state, &files.error()] {
        let _ = std::fs::remove_file(p);
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let log = std::fs::File::create(files.log()).map_err(|e| format!("cannot create {}: {e}", files.log().display()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(exe)
            .args(["stack", "keep", "--state"])
            .arg(&files.state)
            .args(keeper_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the keeper: {e}"))?
    };
    let child_pid = child.id();
    let waited = Eventually::new(format!("shared stack ready (state file {})", files.state.display()))
        .with_timeout(timeout)
        .until(|| async {
            if let Ok(state) = StackState::load(&files.state) {
                return Poll::Ready(state);
            }
            if let Ok(err) = std::fs::read_to_string(files.error()) {
                return Poll::Fatal(err);
            }
            if !pid_alive(child_pid) {
                let log = std::fs::read_to_string(files.log()).unwrap_or_default();
                return Poll::Fatal(format!("keeper exited before the stack was ready:\n{log}"));
            }
            Poll::Pending("no state file yet".into())
        })
        .await;
    match waited {
        Ok(state) => Ok(state),
        Err(e) => {
            // Ask the keeper to stop (it tears down what it started); wait briefly.
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
            Err(e.to_string())
        }
    }
}

/// The keeper itself: start, publish state, hold, tear down.
pub async fn keep(files: &KeeperFiles, options: StackOptions, owner: Option<u32>) -> i32 {
    let mut stack = match Stack::start(options).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::write(files.error(), e.to_string());
            eprintln!("obs-harness keeper: {e}");
            cleanup::await_signal_exit().await;
            return exit_code(&e);
        }
    };
    stack.state.keeper_pid = Some(std::process::id());
    // A signal (`stack down`, Ctrl-C) removes the run and, with this, the state file.
    cleanup::register_path(&files.state);
    if let Err(e) = stack.publish_state(&files.state) {
        let _ = std::fs::write(files.error(), format!("cannot write {}: {e}", files.state.display()));
        stack.teardown().await;
        return 2;
    }
    eprintln!("obs-harness keeper: run {} ready; owner {:?}", stack.state.run_id, owner);
    // The signal handler (cleanup) tears the run down on SIGTERM; here we watch the owner.
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if owner.is_some_and(|o| !pid_alive(o)) {
            eprintln!("obs-harness keeper: owner {owner:?} exited; tearing down");
            break;
        }
        if !files.state.exists() {
            eprintln!("obs-harness keeper: state file removed; tearing down");
            break;
        }
    }
    stack.teardown().await;
    let _ = std::fs::remove_file(&files.state);
    0
}

/// Stops the keeper of `files` and removes anything of its run.
pub async fn down(files: &KeeperFiles) -> Result<String, String> {
    let state = StackState::load(&files.state).map_err(|e| e.to_string())?;
    if let Some(pid) = state.keeper_pid.filter(|p| pid_alive(*p)) {
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let _ = Eventually::new(format!("keeper {pid} exits"))
            .with_timeout(Duration::from_secs(30))
            .until(|| async { if pid_alive(pid) { Poll::Pending("running".into()) } else { Poll::Ready(()) } })
            .await;
    }
    let docker = super::docker().await.map_err(|e| e.to_string())?;
    let removed = cleanup::remove_run(&docker, &state.run_id).await.map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&files.state);
    Ok(format!(
        "run {}: stopped; removed {} leftover container(s), {} network(s), {} volume(s)",
        state.run_id,
        removed.containers.len(),
        removed.networks.len(),
        removed.volumes.len()
    ))
}

/// Appends `OBS_STACK_STATE=<path>` to the file nextest names in `$NEXTEST_ENV`.
pub fn write_nextest_env(files: &KeeperFiles) -> Result<(), String> {
    let path = std::env::var_os("NEXTEST_ENV").ok_or("NEXTEST_ENV is not set (run from a nextest setup script)")?;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("cannot open $NEXTEST_ENV: {e}"))?;
    writeln!(f, "OBS_STACK_STATE={}", files.state.display()).map_err(|e| e.to_string())
}

/// 2 for bad input or environment, 1 otherwise.
pub fn exit_code(e: &StackError) -> i32 {
    match e {
        StackError::Compose(_) | StackError::Image(_) | StackError::Docker(_) | StackError::State { .. } => 2,
        StackError::Start { .. } => 2,
        StackError::Interrupted => 130,
        _ => 1,
    }
}
