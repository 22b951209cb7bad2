//! Interrupts in every phase (air-gapped set, accelerated): SIGINT and
//! SIGTERM during lint, start, signals, dashboards and alerts, a second
//! Ctrl-C during the teardown, and a signal to the keeper holding the shared
//! stack (or to its owner). Each must leave nothing behind (containers,
//! networks, volumes with the process's owner label, the temporary config
//! copies, the keeper), exit 128 + signal, and leave `report.json` with
//! `complete: false` and `interrupted: <phase>`.
//!
//! The ruler phase needs Loki (not in the air-gapped set): it runs beside the
//! alert phase, which reports it as `alerts`; with `--skip-alerts` alone it is
//! `ruler`, set by the same progress line (`==> ruler: …`) and written by the
//! same signal path.
//!
//! `upstream_sigint_and_sigterm_in_the_ruler_phase_leave_nothing` runs it so,
//! with Loki and Promtail images given (`OBS_IMAGE_LOKI=… OBS_IMAGE_PROMTAIL=…
//! cargo test -p obs-harness --test interrupts_airgapped upstream_`).
//!
//! Each run gets a `TMPDIR` of its own, so "no temporary copy left" is "that
//! directory holds no `obs-harness-*` entry".

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obs_harness::stack::cleanup::{LABEL_OWNER, TEMP_PREFIX, owner_id};

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().expect("docker CLI");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn kill(pid: u32, sig: i32) {
    Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().expect("kill");
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}

/// Everything Docker still holds with `owner`'s label, and the harness's temp entries in `tmp`.
fn leftovers(owner: &str, tmp: &Path) -> Vec<String> {
    let f = format!("label={LABEL_OWNER}={owner}");
    let mut out = Vec::new();
    for (what, args) in [("container", vec!["ps", "-aq", "--filter", &f]), ("network", vec!["network", "ls", "-q", "--filter", &f]), ("volume", vec!["volume", "ls", "-q", "--filter", &f])] {
        out.extend(docker(&args).lines().filter(|l| !l.is_empty()).map(|l| format!("{what} {l}")));
    }
    for e in std::fs::read_dir(tmp).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) {
            out.push(format!("temp dir {name}"));
        }
    }
    out
}

/// Runs `check`, sends `sig` (twice, 300 ms apart, with `twice`) as the
/// progress line of `phase` appears; asserts the exit code, the report and
/// that nothing is left. Returns the stderr.
fn interrupt_check(phase: &str, sig: i32, twice: bool) -> String {
    interrupt_check_in(&[], phase, sig, twice)
}

/// [`interrupt_check`] with `extra` arguments to `check`.
fn interrupt_check_in(extra: &[&str], phase: &str, sig: i32, twice: bool) -> String {
    let reports = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--images", "airgapped", "--accelerated"])
        .args(extra)
        .arg("--report-dir")
        .arg(reports.path())
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .env("TMPDIR", tmp.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let owner = owner_id(pid).expect("the child's owner id");
    let mut err = String::new();
    let mut sent = false;
    let at = format!("==> {phase}");
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !sent && line.starts_with(&at) {
            if phase == "start" {
                // In the middle of start-up: once the first container of the run exists.
                let f = format!("label={LABEL_OWNER}={owner}");
                let deadline = Instant::now() + Duration::from_secs(60);
                while docker(&["ps", "-aq", "--filter", &f]).is_empty() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            kill(pid, sig);
            if twice {
                std::thread::sleep(Duration::from_millis(300));
                kill(pid, sig);
            }
            sent = true;
        }
        err.push_str(&line);
        err.push('\n');
    }
    let code = child.wait().unwrap().code();
    assert!(sent, "the run never reached {at:?}:\n{err}");
    assert_eq!(code, Some(128 + sig), "{phase}, signal {sig}: exit code\n{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["complete"], false, "{phase}, signal {sig}:\n{err}");
    assert_eq!(report["interrupted"], phase, "{phase}, signal {sig}:\n{err}");
    assert!(reports.path().join("junit.xml").is_file() && reports.path().join("report.html").is_file());
    assert_eq!(leftovers(&owner, tmp.path()), Vec::<String>::new(), "{phase}, signal {sig}: left behind\n{err}");
    eprintln!("{phase}, signal {sig}{}: exit {code:?}, nothing left, {:.1}s", if twice { " (twice)" } else { "" }, started.elapsed().as_secs_f64());
    err
}

const PHASES: [&str; 5] = ["lint", "start", "signals", "dashboards", "alerts"];

#[test]
fn sigint_in_every_phase_leaves_nothing_and_reports_the_phase() {
    for phase in PHASES {
        interrupt_check(phase, SIGINT, false);
    }
}

#[test]
fn sigterm_in_every_phase_leaves_nothing_and_reports_the_phase() {
    for phase in PHASES {
        interrupt_check(phase, SIGTERM, false);
    }
}

/// The ruler phase on its own (`--skip-alerts`), with Loki and Promtail
/// (images from `OBS_IMAGE_LOKI`, `OBS_IMAGE_PROMTAIL`; the air-gapped
/// profile leaves this test out by name, and without the images it fails at
/// start-up naming them).
#[test]
fn upstream_sigint_and_sigterm_in_the_ruler_phase_leave_nothing() {
    let with_loki = ["--skip-alerts", "--services", "app,prometheus,alertmanager,loki,promtail"];
    for sig in [SIGINT, SIGTERM] {
        interrupt_check_in(&with_loki, "ruler", sig, false);
    }
}

/// A second Ctrl-C while the first one's teardown runs does not cut it short.
#[test]
fn a_second_ctrl_c_during_teardown_leaves_no_half_stack() {
    let err = interrupt_check("signals", SIGINT, true);
    assert!(err.contains("removing 1 run(s) before exit"), "{err}");
}

/// `stack up` as a nextest setup script runs it: a keeper holding the stack
/// for `owner`. Returns (keeper pid, its owner id, the state file).
fn shared_stack(owner: u32, tmp: &Path) -> (u32, String, std::path::PathBuf) {
    let state = tmp.join("stack.json");
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["stack", "up", "--images", "airgapped", "--acceleration", "15", "--owner-pid", &owner.to_string(), "--state"])
        .arg(&state)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("OBS_STACK_STATE")
        .env("TMPDIR", tmp)
        .output()
        .unwrap();
    assert!(out.status.success(), "stack up: {}", String::from_utf8_lossy(&out.stderr));
    let st: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let keeper = st["keeper_pid"].as_u64().expect("keeper pid in the state") as u32;
    let keeper_owner = owner_id(keeper).expect("the keeper runs");
    assert!(!docker(&["ps", "-q", "--filter", &format!("label={LABEL_OWNER}={keeper_owner}")]).is_empty(), "the keeper holds a running stack");
    (keeper, keeper_owner, state)
}

fn assert_keeper_gone(keeper: u32, keeper_owner: &str, state: &Path, tmp: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while pid_alive(keeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap_or_default();
    assert!(!pid_alive(keeper), "the keeper still runs:\n{log}");
    assert!(!state.exists(), "the state file is left:\n{log}");
    assert_eq!(leftovers(keeper_owner, tmp), Vec::<String>::new(), "left behind by the keeper:\n{log}");
}

#[test]
fn sigterm_or_sigint_to_the_keeper_tears_the_shared_stack_down() {
    for sig in [SIGTERM, SIGINT] {
        let tmp = tempfile::tempdir().unwrap();
        let mut owner = Command::new("sleep").arg("600").spawn().unwrap();
        let (keeper, keeper_owner, state) = shared_stack(owner.id(), tmp.path());
        kill(keeper, sig);
        assert_keeper_gone(keeper, &keeper_owner, &state, tmp.path());
        let log = std::fs::read_to_string(state.with_extension("log")).unwrap_or_default();
        assert!(log.contains(&format!("signal {sig}: removing 1 run(s)")), "{log}");
        let _ = owner.kill();
        let _ = owner.wait();
    }
}

/// The nextest process that owns the shared stack is killed (SIGTERM, as a
/// CI runner's cancel does): the keeper sees it gone, tears down and exits.
#[test]
fn the_owner_killed_tears_the_shared_stack_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut owner = Command::new("sleep").arg("600").spawn().unwrap();
    let (keeper, keeper_owner, state) = shared_stack(owner.id(), tmp.path());
    kill(owner.id(), SIGTERM);
    let _ = owner.wait();
    assert_keeper_gone(keeper, &keeper_owner, &state, tmp.path());
    let log = std::fs::read_to_string(state.with_extension("log")).unwrap_or_default();
    assert!(log.contains("exited; tearing down"), "{log}");
}
