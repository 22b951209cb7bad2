//! Your stack, not ours: everyday valid changes to a copy of the bundled
//! stack (renaming the app's job, the Loki tenant, the OTel service name,
//! an alert with its promtool test, the environment label; another scrape
//! interval) pass lint, and the stack profile (what the live checks expect)
//! follows them. A rename done in one place only fails, naming both ends.
//! The live run of all the renames together is `live_renamed_stack_passes_the_check`;
//! the installed binary runs from an unrelated directory.

mod common;
use common::{copy_dir, stack_dir};

use std::path::{Path, PathBuf};
use std::process::Command;

use obs_harness::checks::alerts::Cause;
use obs_harness::lint::{self, LintOptions};
use obs_harness::profile::StackProfile;


/// One valid change: `(file, from, to)` replaced everywhere in that file
/// (`*` = every file of the stack), plus directory moves.
struct Change {
    name: &'static str,
    edits: &'static [(&'static str, &'static str, &'static str)],
    moves: &'static [(&'static str, &'static str)],
}

const JOB: Change = Change {
    name: "job fastapi -> api-server",
    edits: &[
        ("*", "job_name: fastapi", "job_name: api-server"),
        ("*", "job=\"fastapi\"", "job=\"api-server\""),
        ("*", "job=\\\"fastapi\\\"", "job=\\\"api-server\\\""),
        ("*", "job: fastapi", "job: api-server"),
        ("*", "(job fastapi)", "(job api-server)"),
    ],
    moves: &[],
};
const TENANT: Change = Change {
    name: "Loki tenant docker -> team-a",
    edits: &[("promtail/config.yaml", "tenant_id: docker", "tenant_id: team-a"), ("grafana/provisioning/datasources/datasources.yml", "httpHeaderValue1: docker", "httpHeaderValue1: team-a")],
    moves: &[("loki/rules/docker", "loki/rules/team-a")],
};
const SERVICE_NAME: Change =
    Change { name: "OTel service name fastapi-backend -> checkout", edits: &[("docker-compose.yml", "OTEL_SERVICE_NAME=fastapi-backend", "OTEL_SERVICE_NAME=checkout")], moves: &[] };
const ALERT: Change = Change {
    name: "alert HighErrorRate -> ApiErrorsHigh (with its promtool test)",
    edits: &[("prometheus/rules/alerts.yml", "alert: HighErrorRate", "alert: ApiErrorsHigh"), ("prometheus/tests/alerts_test.yml", "alertname: HighErrorRate", "alertname: ApiErrorsHigh")],
    moves: &[],
};
const ENV: Change = Change { name: "environment label dev -> staging", edits: &[("docker-compose.yml", "      env: dev", "      env: staging")], moves: &[] };
const SCRAPE: Change = Change {
    name: "scrape interval 15s -> 10s",
    edits: &[("prometheus/prometheus.yml", "scrape_interval: 15s", "scrape_interval: 10s"), ("grafana/provisioning/datasources/datasources.yml", "timeInterval: 15s", "timeInterval: 10s")],
    moves: &[],
};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() { out.extend(files(&e.path())) } else { out.push(e.path()) }
    }
    out
}

fn apply(dir: &Path, changes: &[&Change]) {
    for c in changes {
        for (file, from, to) in c.edits {
            let targets = if *file == "*" { files(dir) } else { vec![dir.join(file)] };
            let mut hit = false;
            for p in targets {
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                if text.contains(from) {
                    std::fs::write(&p, text.replace(from, to)).unwrap();
                    hit = true;
                }
            }
            assert!(hit, "{}: {from:?} not found in {file}: update the test", c.name);
        }
        for (from, to) in c.moves {
            std::fs::rename(dir.join(from), dir.join(to)).unwrap();
        }
    }
}

/// A copy of the bundled stack with `changes` applied.
fn changed(changes: &[&Change]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), tmp.path());
    apply(tmp.path(), changes);
    tmp
}

fn lint_clean(dir: &Path, what: &str) {
    let r = lint::lint(dir, &LintOptions { external: true, ..Default::default() }).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(r.findings.is_empty(), "{what}: a valid change fails lint:\n{}", r.render_text());
    assert!(r.ran.iter().all(|c| c.passed), "{what}: {:?}", r.ran);
}

fn profile(dir: &Path) -> StackProfile {
    lint::stack_profile(dir, &[]).unwrap()
}

#[test]
fn renamed_job_lints_clean_and_the_checks_follow_it() {
    let d = changed(&[&JOB]);
    lint_clean(d.path(), JOB.name);
    assert_eq!(profile(d.path()).job(), Some("api-server"));
}

#[test]
fn renamed_tenant_lints_clean_and_the_checks_follow_it() {
    let d = changed(&[&TENANT]);
    lint_clean(d.path(), TENANT.name);
    assert_eq!(profile(d.path()).tenant.as_deref(), Some("team-a"));
}

#[test]
fn renamed_otel_service_lints_clean_and_the_checks_follow_it() {
    let d = changed(&[&SERVICE_NAME]);
    lint_clean(d.path(), SERVICE_NAME.name);
    assert_eq!(profile(d.path()).otel_service_name(), Some("checkout"));
}

#[test]
fn renamed_alert_lints_clean_and_keeps_its_cause() {
    let d = changed(&[&ALERT]);
    lint_clean(d.path(), ALERT.name);
    let p = profile(d.path());
    assert_eq!(p.cause("ApiErrorsHigh"), Some(Cause::ErrorBurst), "{:#?}", p.alerts);
    assert_eq!(p.cause("HighErrorRate"), None);
}

#[test]
fn relabelled_environment_lints_clean_and_the_checks_follow_it() {
    let d = changed(&[&ENV]);
    lint_clean(d.path(), ENV.name);
    assert_eq!(profile(d.path()).log_labels.get("env").map(String::as_str), Some("staging"));
}

#[test]
fn another_scrape_interval_lints_clean() {
    let d = changed(&[&SCRAPE]);
    lint_clean(d.path(), SCRAPE.name);
    let opts = obs_harness::dashboards::ExpandOptions::for_stack(d.path(), 1, std::time::Duration::from_secs(300)).unwrap();
    assert_eq!(opts.scrape_interval, std::time::Duration::from_secs(10));
}

/// The same renames done in one place only: lint names both ends of the
/// broken link (where the old name is still used, and where the new one is set).
#[test]
fn a_rename_in_one_place_fails_naming_both_ends() {
    let d = changed(&[&Change { name: "job renamed in prometheus.yml only", edits: &[("prometheus/prometheus.yml", "job_name: fastapi", "job_name: api-server")], moves: &[] }]);
    let r = lint::lint(d.path(), &LintOptions::default()).unwrap();
    let f = r.findings.iter().find(|f| f.rule == "promql-unknown-job" && f.file == "prometheus/rules/alerts.yml").unwrap_or_else(|| panic!("{}", r.render_text()));
    assert!(f.message.contains("job=\"fastapi\"") && f.message.contains("prometheus/prometheus.yml") && f.message.contains("api-server"), "{f:?}");
    assert!(r.findings.iter().any(|f| f.rule == "promql-unknown-job" && f.file.starts_with("grafana/dashboards/")), "{}", r.render_text());

    let d = changed(&[&Change { name: "tenant renamed in Promtail only", edits: &[("promtail/config.yaml", "tenant_id: docker", "tenant_id: team-a")], moves: &[] }]);
    let r = lint::lint(d.path(), &LintOptions::default()).unwrap();
    let f = r.findings.iter().find(|f| f.rule == "loki-tenant-mismatch").unwrap_or_else(|| panic!("{}", r.render_text()));
    assert!(f.message.contains("team-a") && f.message.contains("docker"), "{f:?}");
}

/// A service named `app` that is not marked as the reference app keeps its own image.
#[test]
fn only_a_marked_service_is_replaced_by_the_reference_app() {
    let d = changed(&[&Change { name: "unmarked", edits: &[("docker-compose.yml", "      obs-harness.role: reference-app\n", "")], moves: &[] }]);
    let project = obs_harness::stack::compose::ComposeProject::load(&d.path().join("docker-compose.yml")).unwrap();
    assert_eq!(obs_harness::stack::images::airgapped_kind(&project.services["app"]), None);
    let bundled = obs_harness::stack::compose::ComposeProject::load(&stack_dir().join("docker-compose.yml")).unwrap();
    assert_eq!(obs_harness::stack::images::airgapped_kind(&bundled.services["app"]), Some(obs_harness::stack::images::AirgappedKind::ReferenceApp));
    // Unmarked, the service is still found as the service under test, by what Prometheus scrapes.
    let p = profile(d.path());
    assert_eq!(p.app.as_ref().map(|a| (a.service.as_str(), a.found_by.as_str(), a.reference_app)), Some(("app", "derived", false)));
}

/// The override file declares what cannot be derived: an unknown key is an error naming the file.
#[test]
fn the_override_file_declares_and_is_checked() {
    let d = changed(&[]);
    std::fs::write(d.path().join("obs-harness.yaml"), "causes:\n  HighErrorRate: slow_requests\ntenant: other\n").unwrap();
    let p = profile(d.path());
    assert_eq!((p.cause("HighErrorRate"), p.tenant.as_deref()), (Some(Cause::SlowRequests), Some("other")));
    assert!(p.overrides.is_some());
    std::fs::write(d.path().join("obs-harness.yaml"), "tennant: other\n").unwrap();
    let e = lint::stack_profile(d.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("obs-harness.yaml") && e.contains("tennant"), "{e}");
}

fn binaries_in(dir: &Path) -> PathBuf {
    // What `cargo install --path harness` and `--path app` leave: both binaries in one bin dir.
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let harness = bin.join("obs-harness");
    std::fs::copy(env!("CARGO_BIN_EXE_obs-harness"), &harness).unwrap();
    let app = obs_harness::stack::images::reference_app_binary().unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(app, bin.join("reference-app")).unwrap();
    harness
}

/// The installed binary, run from an unrelated directory on a stack copied
/// there: no source tree is read at run time and `--help` shows no build path.
#[test]
fn the_installed_binary_runs_from_any_directory() {
    let home = tempfile::tempdir().unwrap();
    let harness = binaries_in(home.path());
    let work = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), &work.path().join("my-stack"));
    let run = |args: &[&str]| {
        let o = Command::new(&harness).args(args).current_dir(work.path()).env_remove("GITHUB_ACTIONS").env_remove("OBS_APP_BIN").output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, out, err) = run(&["lint", "my-stack", "--no-external"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("skipped metric catalogue"), "the built-in catalogue applies to a copied stack:\n{out}");
    let (code, out, err) = run(&["profile", "my-stack"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"fastapi\""), "{out}");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_string_lossy().into_owned();
    for help in [run(&["check", "--help"]).1, run(&["stack", "up", "--help"]).1, run(&["lint", "--help"]).1] {
        assert!(!help.contains(&workspace), "--help shows the build path {workspace}:\n{help}");
    }
}

/// All the renames at once, live: the air-gapped set (plus Loki and Promtail
/// when `OBS_IMAGE_LOKI` and `OBS_IMAGE_PROMTAIL` name images) through the
/// installed binary from an unrelated directory. Before the profile, this
/// failed `prometheus.target_up.fastapi` first.
#[test]
fn live_renamed_stack_passes_the_check() {
    let home = tempfile::tempdir().unwrap();
    let harness = binaries_in(home.path());
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("renamed");
    copy_dir(&stack_dir(), &stack);
    apply(&stack, &[&JOB, &TENANT, &SERVICE_NAME, &ALERT, &ENV, &SCRAPE]);
    let mut services = "app,prometheus,alertmanager".to_owned();
    if std::env::var_os("OBS_IMAGE_LOKI").is_some() && std::env::var_os("OBS_IMAGE_PROMTAIL").is_some() {
        services.push_str(",loki,promtail");
    }
    let o = Command::new(&harness)
        .args(["check", "--stack", "renamed", "--images", "airgapped", "--accelerated", "--services", &services, "--report-dir", "reports"])
        .current_dir(work.path())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "a consistently renamed stack fails the check:\n{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(work.path().join("reports/report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "passed").filter_map(|c| c["name"].as_str()).collect();
    for want in ["prometheus.target_up.api-server", "prometheus.requests_match_traffic", "alerts.ApiErrorsHigh", "alerts.FastAPIDown"] {
        assert!(names.contains(&want), "{want} did not pass: {names:?}\n{err}");
    }
    if services.contains("loki") {
        for want in ["loki.stream_labels", "loki.tenant", "ruler.AppErrorLogsHigh"] {
            assert!(names.contains(&want), "{want} did not pass: {names:?}\n{err}");
        }
    }
    assert_eq!(report["profile"]["tenant"], "team-a");
}

/// A rule whose expression fits no known cause: its cause can be declared in
/// the scenario file; without one it is reported not run with a hint, never failed.
#[test]
fn an_unknown_rule_is_not_run_unless_its_cause_is_declared() {
    let d = changed(&[&Change {
        name: "a disk alert",
        edits: &[("prometheus/rules/alerts.yml", "  - name: fastapi-alerts\n    rules:\n", "  - name: fastapi-alerts\n    rules:\n      - alert: DiskFull\n        expr: node_filesystem_avail_bytes < 1e9\n")],
        moves: &[],
    }]);
    let p = profile(d.path());
    let disk = p.alerts.iter().find(|a| a.name == "DiskFull").unwrap();
    assert!(disk.cause.is_none() && disk.cause_from.contains("node_filesystem_avail_bytes"), "{disk:?}");
    let scenario = obs_harness::traffic::Scenario::parse(
        "name: with-causes\nsteps: [{method: GET, path: /items/1}]\ncauses:\n  DiskFull: app_stopped\n",
        Path::new("scenario.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = p.with_declared_causes(&scenario.causes);
    assert_eq!(p.cause("DiskFull"), Some(Cause::AppStopped));
    assert_eq!(p.alerts.iter().find(|a| a.name == "DiskFull").unwrap().cause_from, "scenario");
}
