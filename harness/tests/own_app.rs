//! Your own app in the check: `fixtures/stacks/shop` runs `example-shop` (not
//! the reference app: its own routes, `shop_*` metrics, OTLP over HTTP, logfmt
//! lines) with the scenario and expectations beside its compose file.
//!
//! Each live test runs the `obs-harness` binary on a copy of that stack: the
//! air-gapped set starts the shop from its workspace binary (label
//! `obs-harness.binary`), Prometheus and Alertmanager from host binaries, and
//! the CLI removes everything it started. Lint runs on the copy first.
//! - healthy, every expectation that Prometheus can answer passes, and the
//!   reference app's own checks are *not run* with the hint;
//! - a metric the stack renames fails the expectation that reads it and the
//!   telemetry snapshot, with the query, what was seen and the diff; `--accept`
//!   records the new shape.
//!
//! `upstream_*` tests add Loki, Promtail and Tempo (`OBS_IMAGE_LOKI`,
//! `OBS_IMAGE_PROMTAIL`, `OBS_IMAGE_TEMPO`; the air-gapped profile leaves them
//! out by name): every expectation passes, a dropped log label fails
//! `expect.order_logs`, and an OTLP endpoint on the wrong port fails
//! `expect.order_traces`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stacks/shop")
}

/// A copy of the shop's stack with `edits` (file, from, to) applied.
fn shop_copy(edits: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::copy_dir(&shop(), dir.path());
    for (file, from, to) in edits {
        let p = dir.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} no longer holds {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
    dir
}

/// `--image` flags for Loki, Promtail and Tempo from their named images (upstream_
/// tests): a service given `--image` joins the air-gapped set, no `--services` needed.
fn upstream_images() -> Vec<String> {
    let mut out = Vec::new();
    for (var, service) in [("OBS_IMAGE_LOKI", "logs-db"), ("OBS_IMAGE_PROMTAIL", "log-shipper"), ("OBS_IMAGE_TEMPO", "traces-db")] {
        let image = std::env::var(var).unwrap_or_else(|_| panic!("{var} must name an image for `{service}` (this test needs Loki, Promtail and Tempo)"));
        out.extend(["--image".to_owned(), format!("{service}={image}")]);
    }
    out
}

/// Runs `obs-harness <cmd>` (air-gapped, accelerated) on `stack`; returns exit code, stderr and report.json.
fn harness(cmd: &str, stack: &Path, extra: &[String]) -> (Option<i32>, String, serde_json::Value) {
    let reports = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args([cmd, "--images", "airgapped", "--accelerated", "--stack"])
        .arg(stack)
        .args(extra)
        .arg("--report-dir")
        .arg(reports.path())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap_or_else(|e| panic!("no report.json ({e}):\n{err}"))).unwrap();
    common::assert_reasons_declared(&report);
    (o.status.code(), err, report)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn text(c: &serde_json::Value) -> &str {
    c["detail"].as_str().or(c["message"].as_str()).or(c["reason"].as_str()).unwrap_or_default()
}

#[test]
fn live_the_shop_passes_what_it_declares() {
    let stack = shop_copy(&[]);
    let (code, err, report) = harness("check", stack.path(), &[]);
    assert_eq!(code, Some(0), "{err}");
    for name in ["traffic.expect_status", "app.series", "expect.order_lookups_counted", "expect.orders_created_counted", "expect.latency_labelled", "expect.failing_orders_page"] {
        assert_eq!(check(&report, name)["verdict"], "passed", "{name}: {}\n{err}", check(&report, name));
    }
    // The reference app's own checks say why they do not apply, and what to do instead.
    let r = check(&report, "prometheus.requests_match_traffic");
    assert!(r["verdict"] == "not_run" && text(r).contains("`shop` is not the reference app") && text(r).contains("expect:"), "{r}");
    // The alert the scenario declares is checked once, by its expectation with the declared cause.
    let a = check(&report, "alerts.ShopOrdersFailing");
    assert!(a["verdict"] == "not_run" && a["because"] == "expect:undeclared:ShopOrdersFailing" && text(a).contains("`expect.failing_orders_page`"), "{a}");
    // What needs Loki or Tempo is not run here, naming the service.
    assert_eq!(check(&report, "expect.order_logs")["because"], "absent:loki");
}

#[test]
fn a_malformed_scenario_exits_2_at_its_line() {
    let stack = shop_copy(&[("scenario.yaml", "    increase_by_requests: { steps: [6] }", "    increase_by: { steps: [6] }")]);
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--skip-lint", "--target", "prometheus=http://127.0.0.1:9", "--stack"])
        .arg(stack.path())
        .arg("--report-dir")
        .arg(stack.path().join("reports"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let line = common::line_in(stack.path(), "scenario.yaml", "increase_by: { steps: [6] }");
    assert!(err.contains(&format!("scenario.yaml:{line}:")) && err.contains("increase_by"), "{err}");
}

#[test]
fn an_otlp_endpoint_on_the_wrong_port_fails_lint_at_its_line() {
    let stack = shop_copy(&[("docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT=http://traces-db:4318", "OTEL_EXPORTER_OTLP_ENDPOINT=http://traces-db:4319")]);
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness")).args(["lint"]).arg(stack.path()).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = common::line_in(stack.path(), "docker-compose.yml", "traces-db:4319");
    assert!(out.contains(&format!("docker-compose.yml:{line}")) && out.contains("4319"), "{out}");
}

/// A metric the stack renames (Prometheus relabels `shop_orders_created_total`):
/// the expectation that reads it fails with its query and what it saw, and the
/// telemetry snapshot fails with the diff; `snapshot --accept` records the new shape.
#[test]
fn live_a_renamed_metric_fails_its_expectation_and_the_snapshot() {
    let stack = shop_copy(&[]);
    let snap = stack.path().join(obs_harness::snapshot::FILE_NAME);
    let (code, err, report) = harness("snapshot", stack.path(), &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(snap.is_file() && text(check(&report, "snapshot.telemetry")).starts_with("wrote"), "{}", check(&report, "snapshot.telemetry"));
    assert!(std::fs::read_to_string(&snap).unwrap().contains("shop_orders_created_total"));

    let rename = "    metrics_path: /metrics\n    metric_relabel_configs:\n      - { source_labels: [__name__], regex: shop_orders_created_total, target_label: __name__, replacement: shop_orders_total }\n";
    let p = stack.path().join("prometheus/prometheus.yml");
    std::fs::write(&p, std::fs::read_to_string(&p).unwrap().replacen("    metrics_path: /metrics\n", rename, 1)).unwrap();
    // `check` compares with the snapshot beside the stack.
    let (code, err, report) = harness("check", stack.path(), &["--skip-alerts".to_owned()]);
    assert_eq!(code, Some(1), "{err}");
    let expect = check(&report, "expect.orders_created_counted");
    assert!(expect["verdict"] == "failed" && text(expect).contains("shop_orders_created_total{job=\"shop\"}"), "{expect}");
    let shape = check(&report, "snapshot.telemetry");
    let diff = text(shape);
    assert!(shape["verdict"] == "failed" && diff.contains("-  shop_orders_created_total:") && diff.contains("+  shop_orders_total:"), "{shape}");

    let (_, err, report) = harness("snapshot", stack.path(), &["--accept".to_owned()]);
    let accepted = check(&report, "snapshot.telemetry");
    assert!(accepted["verdict"] == "passed" && text(accepted).starts_with("accepted"), "{accepted}\n{err}");
    assert!(std::fs::read_to_string(&snap).unwrap().contains("shop_orders_total:"));
}

#[test]
fn upstream_the_shop_with_loki_and_tempo_passes_every_expectation() {
    let stack = shop_copy(&[]);
    let (code, err, report) = harness("check", stack.path(), &upstream_images());
    assert_eq!(code, Some(0), "{err}");
    for name in ["expect.order_logs", "expect.order_traces", "expect.failing_orders_logged", "app.log_lines", "app.traces", "loki.stream_labels"] {
        assert_eq!(check(&report, name)["verdict"], "passed", "{name}: {}\n{err}", check(&report, name));
    }
    // The Loki ruler's rule is checked by the expectation that declares its cause, not again.
    assert_eq!(check(&report, "ruler.ShopErrorLogs")["because"], "expect:undeclared:ShopErrorLogs");
}

#[test]
fn upstream_a_dropped_log_label_fails_order_logs() {
    let stack = shop_copy(&[("promtail/config.yaml", "      - source_labels: [__meta_docker_container_label_team]\n        target_label: team\n", "")]);
    let (code, err, report) = harness("check", stack.path(), &upstream_images());
    assert_eq!(code, Some(1), "{err}");
    let logs = check(&report, "expect.order_logs");
    assert!(logs["verdict"] == "failed" && text(logs).contains("team") && text(logs).contains("{service=\"shop\"}"), "{logs}");
}

#[test]
fn upstream_an_otlp_endpoint_on_the_wrong_port_fails_order_traces() {
    let stack = shop_copy(&[("docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT=http://traces-db:4318", "OTEL_EXPORTER_OTLP_ENDPOINT=http://traces-db:4319")]);
    let (code, err, report) = harness("check", stack.path(), &[&["--skip-lint".to_owned()][..], &upstream_images()].concat());
    assert_eq!(code, Some(1), "{err}");
    let traces = check(&report, "expect.order_traces");
    assert_eq!(traces["verdict"], "failed", "{traces}\n{err}");
}
