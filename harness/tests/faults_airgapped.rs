//! Faults injected during a live run (air-gapped set, accelerated): the run
//! must finish, name the service and what Docker says of it (state, exit
//! code, last log lines), write its reports, remove everything it started
//! and exit 1.
//!
//! Each test runs the `obs-harness check` binary on the bundled stack, reads
//! its progress lines (`==> <phase>: …`) and, when the phase under test
//! starts, acts on the run's own container (found by the labels
//! `obs-harness.owner=<the child's owner id>` and `obs-harness.service`).
//!
//! Tests named `upstream_*` add Loki and Promtail, whose images the air-gapped
//! set lacks: the air-gapped profile leaves them out by name. Where Loki and
//! Promtail images exist, run them with those images given:
//! `OBS_IMAGE_LOKI=… OBS_IMAGE_PROMTAIL=… cargo test -p obs-harness --test
//! faults_airgapped upstream_` (without them the run fails at start-up,
//! naming the missing image: they never pass silently).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use obs_harness::stack::cleanup::{LABEL_OWNER, LABEL_SERVICE, owner_id};

fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().expect("docker CLI");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// Runs `check` (with `extra` arguments), calling `fault(owner)` once when a
/// progress line starts with `at`; asserts the run finished (exit 1, a
/// complete report), wrote both reports and left nothing. Returns (stderr, report.json).
fn run_with_fault_in(extra: &[&str], at: &str, fault: impl Fn(&str)) -> (String, serde_json::Value) {
    let reports = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--images", "airgapped", "--accelerated", "--skip-lint"])
        .args(extra)
        .arg("--report-dir")
        .arg(reports.path())
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let owner = owner_id(child.id()).expect("the child's owner id");
    let mut err = String::new();
    let mut done = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !done && line.starts_with(at) {
            fault(&owner);
            done = true;
        }
        err.push_str(&line);
        err.push('\n');
    }
    let code = child.wait().unwrap().code();
    assert!(done, "the run never reached {at:?}:\n{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap()).unwrap();
    let left = docker(&["ps", "-aq", "--filter", &format!("label={LABEL_OWNER}={owner}")]);
    assert!(left.is_empty(), "containers of the run left behind: {left}");
    let nets = docker(&["network", "ls", "-q", "--filter", &format!("label={LABEL_OWNER}={owner}")]);
    assert!(nets.is_empty(), "networks of the run left behind: {nets}");
    assert!(reports.path().join("junit.xml").is_file() && reports.path().join("report.html").is_file());
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(report["complete"], true, "{err}");
    common::assert_reasons_declared(&report);
    (err, report)
}

/// [`run_with_fault_in`] on the air-gapped set.
fn run_with_fault(at: &str, fault: impl Fn(&str)) -> (String, serde_json::Value) {
    run_with_fault_in(&[], at, fault)
}

/// The fault `docker <args…> <the run's container of service>`.
fn docker_on<'a>(service: &'a str, args: &'a [&'a str]) -> impl Fn(&str) + 'a {
    move |owner| {
        let id = container_of(owner, service);
        docker(&[args, &[id.as_str()]].concat());
    }
}

/// The message of `<phase>.backend_lost`, which must be there.
fn lost_message<'a>(report: &'a serde_json::Value, phase: &str, err: &str) -> &'a str {
    let name = format!("{phase}.backend_lost");
    let lost = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name.as_str()).unwrap_or_else(|| panic!("no {name}:\n{err}"));
    lost["message"].as_str().unwrap()
}

fn container_of(owner: &str, service: &str) -> String {
    let id = docker(&["ps", "-q", "--filter", &format!("label={LABEL_OWNER}={owner}"), "--filter", &format!("label={LABEL_SERVICE}={service}")]);
    assert!(!id.is_empty(), "no running container of `{service}` for owner {owner}");
    id
}

/// Prometheus is killed as the signals phase starts: its checks fail (or are
/// blocked by the one that failed), each failure names the container as
/// exited with its exit code and last log lines, and the run ends with both
/// reports written and nothing left.
#[test]
fn prometheus_killed_during_signals_is_named_with_its_state_and_logs() {
    let (err, report) = run_with_fault("==> signals", docker_on("prometheus", &["kill"]));
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["verdict"] == "failed").collect();
    assert!(!failed.is_empty(), "{err}");
    // The watchdog ends the phase at once (`signals.backend_lost`), or a Prometheus check failed first.
    assert!(failed.iter().any(|c| c["name"] == "signals.backend_lost" || c["name"].as_str().is_some_and(|n| n.contains("prometheus"))), "{failed:?}");
    for c in &failed {
        let m = c["message"].as_str().unwrap_or_default();
        assert!(m.contains("container `prometheus`") && m.contains("is exited (exit code 137"), "{}: {m}", c["name"]);
        assert!(m.contains("its last log lines:"), "{m}");
    }
    // One root cause: later phases do not report the same lost container again,
    // and what needs Prometheus is blocked by it.
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let root = failed[0]["name"].as_str().unwrap();
    let alerts: Vec<&serde_json::Value> = checks.iter().filter(|c| c["phase"] == "alerts").collect();
    assert!(!alerts.is_empty() && alerts.iter().all(|c| c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.contains(&format!("blocked by `{root}`")))), "{alerts:#?}");
}

/// Alertmanager is paused as the alert phase starts: requests to it hang
/// instead of being refused. The watchdog sees the paused container and ends
/// the phase at once (`alerts.backend_lost`), instead of every alert waiting
/// out its stage timeouts.
#[test]
fn alertmanager_paused_during_alerts_ends_the_phase_naming_it() {
    let (err, report) = run_with_fault("==> alerts", docker_on("alertmanager", &["pause"]));
    let m = lost_message(&report, "alerts", &err);
    assert!(m.starts_with("`alertmanager` stopped answering during the alerts phase") && m.contains("is paused"), "{m}");
}

/// Alertmanager is killed as the alert phase starts: the phase ends at once
/// (`alerts.backend_lost`) naming the container as exited with its exit code
/// and last log lines, instead of each alert waiting out its stage timeouts.
#[test]
fn alertmanager_killed_during_alerts_ends_the_phase_naming_it() {
    let (err, report) = run_with_fault("==> alerts", docker_on("alertmanager", &["kill"]));
    let checks = report["checks"].as_array().unwrap();
    let m = lost_message(&report, "alerts", &err);
    assert!(m.starts_with("`alertmanager` stopped answering during the alerts phase"), "{m}");
    assert!(m.contains("container `alertmanager`") && m.contains("is exited (exit code 137") && m.contains("its last log lines:"), "{m}");
    let failed: Vec<&str> = checks.iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed, ["alerts.backend_lost"], "one root cause: {err}");
}

/// The bundled stack with Loki and Promtail (images from `OBS_IMAGE_LOKI`,
/// `OBS_IMAGE_PROMTAIL`).
const WITH_LOKI: [&str; 2] = ["--services", "app,prometheus,alertmanager,loki,promtail"];

/// Loki is killed as the signals phase starts: the phase ends naming it as
/// exited, and what needs Loki later (its dashboard queries, the ruler) is
/// not run, blocked by that one failure.
#[test]
fn upstream_loki_killed_during_signals_is_named_and_blocks_the_ruler() {
    let (err, report) = run_with_fault_in(&WITH_LOKI, "==> signals", docker_on("loki", &["kill"]));
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["verdict"] == "failed").collect();
    let root = failed
        .iter()
        .find(|c| c["message"].as_str().is_some_and(|m| m.contains("container `loki`") && m.contains("is exited (exit code 137") && m.contains("its last log lines:")))
        .unwrap_or_else(|| panic!("no failure names Loki's container as killed: {failed:#?}\n{err}"));
    let root = root["name"].as_str().unwrap();
    let ruler: Vec<&serde_json::Value> = checks.iter().filter(|c| c["phase"] == "ruler").collect();
    assert!(!ruler.is_empty(), "{err}");
    for c in &ruler {
        assert!(c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.contains(&format!("blocked by `{root}`"))), "{c:#}");
    }
}

/// Loki is killed as the ruler phase starts (`--skip-alerts`: the ruler on
/// its own, loading its rules, then driving its own error burst until its
/// log-based alert fires): the watchdog ends the phase at once
/// (`ruler.backend_lost`), instead of the alert waiting out its 120 s.
#[test]
fn upstream_loki_killed_during_the_ruler_phase_ends_it_naming_loki() {
    let extra = [&WITH_LOKI[..], &["--skip-alerts"]].concat();
    let (err, report) = run_with_fault_in(&extra, "==> ruler", docker_on("loki", &["kill"]));
    let m = lost_message(&report, "ruler", &err);
    assert!(m.starts_with("`loki` stopped answering during the ruler phase") && m.contains("is exited (exit code 137") && m.contains("its last log lines:"), "{m}");
    let failed: Vec<&str> = report["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed, ["ruler.backend_lost"], "one root cause: {err}");
}

/// Promtail is paused as the signals phase starts (it hangs; Loki gets no new
/// lines): the watchdog ends the phase naming the paused container.
#[test]
fn upstream_promtail_paused_during_signals_is_named() {
    let (err, report) = run_with_fault_in(&WITH_LOKI, "==> signals", docker_on("promtail", &["pause"]));
    let m = lost_message(&report, "signals", &err);
    assert!(m.starts_with("`promtail` stopped answering during the signals phase") && m.contains("container `promtail`") && m.contains("is paused"), "{m}");
}

/// Prometheus is cut off from the run's network as the signals phase starts:
/// it still runs, but nothing reaches it. The failure says so.
#[test]
fn prometheus_disconnected_from_the_network_is_named() {
    let (err, report) = run_with_fault("==> signals", |owner| {
        let id = container_of(owner, "prometheus");
        let net = docker(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", &id]);
        for n in net.split_whitespace() {
            docker(&["network", "disconnect", "-f", n, &id]);
        }
    });
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["verdict"] == "failed").collect();
    assert!(
        failed.iter().any(|c| c["message"].as_str().is_some_and(|m| m.contains("container `prometheus`") && m.contains("no longer attached to the run's network"))),
        "{failed:#?}\n{err}"
    );
}

/// The app starts answering 500 to everything, `/metrics` included, as the
/// signals phase starts (the reference app's fault switch, `SIGUSR1`). Its
/// scrape target is down with an HTTP 500, which is final after three
/// scrapes; the failure carries the app's own last log lines (its 500s), what
/// needs the scrape is blocked by it, and the run ends at once.
#[test]
fn app_answering_500_to_everything_is_named_with_its_logs() {
    let (err, report) = run_with_fault("==> signals", docker_on("app", &["kill", "--signal", "USR1"]));
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["verdict"] == "failed").collect();
    let scrape = failed
        .iter()
        .find(|c| c["name"].as_str().is_some_and(|n| n.starts_with("prometheus.target_up.") || n == "reachability.app"))
        .unwrap_or_else(|| panic!("neither the app's scrape target nor its reachability failed: {failed:#?}\n{err}"));
    let m = scrape["message"].as_str().unwrap();
    assert!(m.contains("500"), "the failure says what Prometheus saw: {m}");
    assert!(m.contains("--- last log lines of") && m.contains("(service `app`)") && m.contains(r#""status":500"#), "the app's own log lines are attached: {m}");
    // What needs the scrape is blocked by it, not failed on its own.
    let blocked = checks.iter().filter(|c| c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.contains(&format!("blocked by `{}`", scrape["name"].as_str().unwrap())))).count();
    assert!(blocked > 0, "nothing blocked by {}: {checks:#?}", scrape["name"]);
    let names: Vec<&str> = failed.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names.len(), 1, "one root cause, the rest blocked by it: {names:?}");
}

/// The Tempo variant's air-gapped form (`OBS_IMAGE_TEMPO`, `OBS_IMAGE_LOKI`, `OBS_IMAGE_PROMTAIL`).
const WITH_TEMPO: [&str; 8] = [
    "--services",
    "app,prometheus,alertmanager,loki,promtail,tempo",
    "-f",
    "docker-compose.yml",
    "-f",
    "docker-compose.tempo.yml",
    "-f",
    "docker-compose.tempo-airgapped.yml",
];

/// Tempo is killed as the signals phase starts: one failure names its container as
/// exited, and the Tempo checks are not run, blocked by it (never three timeouts).
#[test]
fn upstream_tempo_killed_during_signals_is_one_failure() {
    let (err, report) = run_with_fault_in(&WITH_TEMPO, "==> signals", docker_on("tempo", &["kill"]));
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&serde_json::Value> = checks.iter().filter(|c| c["verdict"] == "failed").collect();
    let root = failed
        .iter()
        .find(|c| c["message"].as_str().is_some_and(|m| m.contains("container `tempo`") && m.contains("exited")))
        .unwrap_or_else(|| panic!("no failure names Tempo's container as killed: {failed:#?}\n{err}"));
    let root = root["name"].as_str().unwrap();
    let tempo_failed: Vec<&str> = failed.iter().filter_map(|c| c["name"].as_str()).filter(|n| n.starts_with("tempo.")).collect();
    assert!(tempo_failed.len() <= 1, "one failure for one dead Tempo: {tempo_failed:?}\n{err}");
    for c in checks.iter().filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("tempo.")) && c["name"] != root) {
        assert!(c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.contains("blocked by")), "{c:#}");
    }
}
