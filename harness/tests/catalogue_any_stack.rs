//! The metric catalogue for any stack (issue #13): lint finds `catalogue.prom`
//! beside the stack, `catalogue record` writes one from the running app, and
//! `compare` / the live check `app.catalogue_current` say when it is stale.
//!
//! Works on copies of the bundled stack in a temporary directory outside the
//! repository. The record tests run the built app binary: `$REFERENCE_APP_BIN`,
//! else `<workspace>/target/debug/reference-app` (or under `$CARGO_TARGET_DIR`);
//! build it first with `cargo build -p reference-app`.

mod common;

use common::{copy_dir, stack_dir};
use obs_harness::catalogue_record::{self, compare};
use obs_harness::checks::Verdict;
use obs_harness::lint::{self, Catalogue, LintOptions, Report};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DASHBOARD: &str = "grafana/dashboards/fastapi-overview.json";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_catalogue() -> String {
    std::fs::read_to_string(workspace().join("fixtures/catalogue/reference-app.prom")).unwrap()
}

fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).args(args).env_remove("GITHUB_ACTIONS").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A copy of the bundled stack at `<tmp>/stack`, outside the repository.
fn copy_outside() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    copy_dir(&stack_dir(), &dir);
    assert!(!dir.starts_with(workspace().canonicalize().unwrap()), "the copy must be outside the repo");
    (tmp, dir)
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

/// A copy whose service under test is no longer labelled `obs-harness.role: reference-app`.
fn unlabelled_copy() -> (tempfile::TempDir, PathBuf) {
    let (tmp, dir) = copy_outside();
    edit(&dir, "docker-compose.yml", "      obs-harness.role: reference-app\n", "");
    (tmp, dir)
}

fn lint_of(dir: &Path) -> Report {
    lint::lint(dir, &LintOptions { external: false, ..Default::default() }).unwrap()
}

fn line_of(dir: &Path, file: &str, needle: &str) -> usize {
    std::fs::read_to_string(dir.join(file)).unwrap().lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn a_stack_without_the_reference_app_label_gets_metric_checks_from_catalogue_prom_beside_it() {
    let (_tmp, dir) = unlabelled_copy();
    edit(&dir, DASHBOARD, "process_start_time_seconds", "process_start_time_second");
    std::fs::write(dir.join("catalogue.prom"), fixture_catalogue()).unwrap();
    let r = lint_of(&dir);
    assert!(!r.skipped.iter().any(|s| s.name == "metric catalogue"), "{:?}", r.skipped);
    let want_line = line_of(&dir, DASHBOARD, "process_start_time_second");
    let hit = r.findings.iter().find(|f| f.rule == "promql-unknown-metric").unwrap_or_else(|| panic!("no promql-unknown-metric: {:#?}", r.findings));
    assert_eq!((hit.file.as_str(), hit.line), (DASHBOARD, want_line), "{hit:?}");
    assert!(hit.message.contains("process_start_time_second"), "{hit:?}");
    assert_eq!(r.findings.iter().filter(|f| f.rule.starts_with("promql-unknown-")).count(), 1, "{:#?}", r.findings);
}

#[test]
fn a_stack_without_label_or_catalogue_gets_the_skipped_check_saying_where_to_put_one() {
    let (_tmp, dir) = unlabelled_copy();
    edit(&dir, DASHBOARD, "process_start_time_seconds", "process_start_time_second");
    let r = lint_of(&dir);
    let s = r.skipped.iter().find(|s| s.name == "metric catalogue").unwrap_or_else(|| panic!("no skipped metric catalogue: {:?}", r.skipped));
    assert!(s.reason.contains("catalogue.prom") && s.reason.contains(&dir.display().to_string()), "{s:?}");
    assert!(s.install_hint.contains("obs-harness catalogue record --from") && s.install_hint.contains("-o ") && s.install_hint.contains("catalogue.prom"), "{s:?}");
    assert!(!r.findings.iter().any(|f| f.rule.starts_with("promql-unknown-metric")), "{:#?}", r.findings);
    assert!(lint::catalogue_for(&dir, None).unwrap().is_none());
}

#[test]
fn catalogue_prom_beside_the_stack_wins_over_the_built_in_one_and_explicit_wins_over_both() {
    let (_tmp, dir) = copy_outside();
    let (_, src) = lint::catalogue_for(&dir, None).unwrap().unwrap();
    assert!(src.contains("built-in"), "{src}");
    std::fs::write(dir.join("catalogue.prom"), "only_this_total 1\n").unwrap();
    let (c, src) = lint::catalogue_for(&dir, None).unwrap().unwrap();
    assert_eq!((c.metrics.len(), src), (1, dir.join("catalogue.prom").display().to_string()));
    // The labelled stack now fails on every metric of its dashboards: the file beside it was used.
    assert!(lint_of(&dir).findings.iter().any(|f| f.rule == "promql-unknown-metric"));
    let explicit = dir.join("other.prom");
    std::fs::write(&explicit, fixture_catalogue()).unwrap();
    let (c, src) = lint::catalogue_for(&dir, Some(&explicit)).unwrap().unwrap();
    assert_eq!((c, src), (Catalogue::parse_exposition(&fixture_catalogue()).unwrap(), explicit.display().to_string()));
}

#[test]
fn a_bad_catalogue_prom_is_a_located_error_exit_2() {
    let (_tmp, dir) = unlabelled_copy();
    let bad = dir.join("catalogue.prom");
    std::fs::write(&bad, "# TYPE x counter\nx{a=1} 3\n").unwrap();
    match lint::lint(&dir, &LintOptions { external: false, ..Default::default() }) {
        Err(e @ lint::LintError::Catalogue { .. }) => assert!(e.to_string().contains(&bad.display().to_string()), "{e}"),
        other => panic!("want LintError::Catalogue, got {other:?}"),
    }
    let (code, _, err) = harness(&["lint", "--no-external", dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&bad.display().to_string()) && err.contains("invalid metric catalogue"), "{err}");
}

#[test]
fn the_bundled_stack_and_its_copy_outside_the_repo_lint_the_same_way() {
    let (_tmp, dir) = copy_outside();
    let (a, b) = (lint_of(&stack_dir()), lint_of(&dir));
    let shape = |r: &Report| r.findings.iter().map(|f| (f.file.clone(), f.line, f.rule.clone(), f.message.clone())).collect::<Vec<_>>();
    assert_eq!(shape(&a), shape(&b));
    let names = |r: &Report| (r.ran.iter().map(|c| c.name.clone()).collect::<Vec<_>>(), r.skipped.iter().map(|c| c.name.clone()).collect::<Vec<_>>());
    assert_eq!(names(&a), names(&b));
    assert!(!a.skipped.iter().any(|s| s.name == "metric catalogue"), "the bundled stack uses the built-in catalogue: {:?}", a.skipped);
}

#[test]
fn compare_finds_a_metric_removed_from_the_catalogue_and_one_added() {
    let expo = fixture_catalogue();
    let full = Catalogue::parse_exposition(&expo).unwrap();
    assert!(compare(&full, &expo).is_current());
    // The catalogue lacks llm_errors_total (the app added it); the app lost process_max_fds.
    let mut cat = full.clone();
    cat.metrics.remove("llm_errors_total");
    let app: String = expo.lines().filter(|l| !l.starts_with("process_max_fds")).map(|l| format!("{l}\n")).collect();
    let app = format!("{app}brand_new_total{{kind=\"x\"}} 1\n");
    let s = compare(&cat, &app);
    assert_eq!(s.missing.iter().collect::<Vec<_>>(), ["process_max_fds"]);
    assert_eq!(s.new.iter().collect::<Vec<_>>(), ["brand_new_total", "llm_errors_total"]);
    assert!(s.missing_labels.is_empty() && s.new_labels.is_empty(), "{s:?}");
}

// ------------------------------------------------------------------ against the real app

fn app_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REFERENCE_APP_BIN") {
        return PathBuf::from(p);
    }
    let mut candidates = vec![workspace().join("target/debug/reference-app")];
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.insert(0, PathBuf::from(t).join("debug/reference-app"));
    }
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| panic!("reference-app binary not found: run `cargo build -p reference-app` first, or set REFERENCE_APP_BIN"))
}

struct App {
    child: Child,
    port: u16,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}


/// The reference app on a free loopback port, with traffic on every route (so
/// every metric family, errors and LLM failures included, is exposed).
fn start_app() -> App {
    let bin = app_bin();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&bin)
        .env("PORT", port.to_string())
        .env("OTEL_TRACES_EXPORTER", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let app = App { child, port };
    let start = Instant::now();
    while common::http(port, "GET", "/healthz", None).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "app did not start on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in ["/items/1", "/error", "/nope", "/slow?ms=1"] {
        common::http(port, "GET", p, None).unwrap();
    }
    common::http(port, "POST", "/llm/chat", Some(r#"{"model":"m","provider":"p","prompt":"x y","fail":"timeout"}"#)).unwrap();
    common::http(port, "POST", "/llm/chat", Some(r#"{"model":"m","provider":"p","prompt":"x y"}"#)).unwrap();
    app
}

#[test]
fn record_from_the_running_app_writes_a_catalogue_that_parses_and_that_lint_accepts() {
    let app = start_app();
    let (_tmp, dir) = unlabelled_copy();
    let out = dir.join("catalogue.prom");
    let url = format!("http://127.0.0.1:{}/metrics", app.port);
    let (code, _, err) = harness(&["catalogue", "record", "--from", &url, "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.starts_with(&format!("# Metric catalogue recorded from {url} at ")), "{first}");
    assert!(text.contains("# TYPE http_requests_total counter") && text.contains("# HELP"), "HELP/TYPE kept:\n{text}");
    let recorded = Catalogue::parse_exposition(&text).unwrap();
    assert_eq!(recorded.signature(), Catalogue::parse_exposition(&fixture_catalogue()).unwrap().signature());
    let r = lint_of(&dir);
    assert!(!r.skipped.iter().any(|s| s.name == "metric catalogue"), "{:?}", r.skipped);
    assert!(!r.findings.iter().any(|f| f.rule.starts_with("promql-unknown-")), "{:#?}", r.findings);
    assert_eq!(r.findings, lint_of(&stack_dir()).findings, "same findings as the bundled stack with its built-in catalogue");

    // A base URL gets /metrics; without -o the catalogue goes to stdout.
    let (code, stdout, err) = harness(&["catalogue", "record", "--from", &format!("http://127.0.0.1:{}", app.port)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(stdout.starts_with(&format!("# Metric catalogue recorded from {url} at ")), "{stdout}");
    assert_eq!(Catalogue::parse_exposition(&stdout).unwrap().signature(), recorded.signature());

    // A path that is not the metrics endpoint: exit 2, the URL and the status named.
    let nope = format!("http://127.0.0.1:{}/nope", app.port);
    let (code, _, err) = harness(&["catalogue", "record", "--from", &nope]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&nope) && err.contains("HTTP 404") && err.contains("hint:") && err.trim().lines().count() == 1, "{err}");
    // A route that answers 200 with JSON, not an exposition.
    let health = format!("http://127.0.0.1:{}/health", app.port);
    let (code, _, err) = harness(&["catalogue", "record", "--from", &health]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&health) && err.contains("not a Prometheus text exposition") && err.trim().lines().count() == 1, "{err}");
}

#[test]
fn record_from_an_unreachable_url_is_exit_2_naming_it() {
    let (code, out, err) = harness(&["catalogue", "record", "--from", "http://127.0.0.1:9/metrics"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("http://127.0.0.1:9/metrics") && err.contains("hint:") && err.trim().lines().count() == 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn the_live_check_passes_when_current_fails_naming_what_changed_and_is_not_run_without_a_catalogue() {
    let app = start_app();
    let base = format!("http://127.0.0.1:{}", app.port);
    // The bundled stack: the built-in catalogue matches the app after this traffic.
    let v = catalogue_record::catalogue_current(&base, &stack_dir(), None).await;
    assert!(v.is_passed(), "{v:?}");
    // A catalogue beside the stack that lacks a metric and has one the app does not expose.
    let (_tmp, dir) = unlabelled_copy();
    let stale: String = fixture_catalogue().lines().filter(|l| !l.starts_with("llm_errors_total")).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("catalogue.prom"), format!("{stale}gone_metric_total{{a=\"1\"}} 1\n")).unwrap();
    let v = catalogue_record::catalogue_current(&base, &dir, None).await;
    let Verdict::Failed { message } = &v else { panic!("want failed: {v:?}") };
    let file = dir.join("catalogue.prom").display().to_string();
    assert!(message.contains("gone_metric_total") && message.contains("llm_errors_total") && message.contains(&file), "{message}");
    assert!(message.contains(&format!("obs-harness catalogue record --from {base}/metrics -o {file}")), "{message}");
    // No catalogue at all: not run, with the command that records one.
    std::fs::remove_file(dir.join("catalogue.prom")).unwrap();
    let v = catalogue_record::catalogue_current(&base, &dir, None).await;
    let Verdict::NotRun { reason } = &v else { panic!("want not run: {v:?}") };
    assert!(reason.contains("obs-harness catalogue record --from") && reason.contains(&file), "{reason}");
}
