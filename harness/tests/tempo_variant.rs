//! Traces proven live in Grafana Tempo: the Tempo variant of the bundled stack
//! (`stack/docker-compose.tempo.yml`, and `docker-compose.tempo-airgapped.yml`,
//! where the app exports OTLP to Tempo directly since no collector image exists).
//!
//! The lint test runs everywhere. The `upstream_*` tests start the air-gapped set
//! plus Loki, Promtail and Tempo through the CLI (each run starts and removes its
//! own containers) and need their images: `OBS_IMAGE_TEMPO=… OBS_IMAGE_LOKI=…
//! OBS_IMAGE_PROMTAIL=… cargo test -p obs-harness --test tempo_variant upstream_`.
//! Without them the run stops at start-up naming the missing image: they never
//! pass silently. The air-gapped profile leaves them out by name.

mod common;
use common::{broken_copy, copy_dir, line_in, stack_dir};

use obs_harness::lint::{self, LintOptions};
use std::process::Command;

const FILES: [&str; 3] = ["docker-compose.yml", "docker-compose.tempo.yml", "docker-compose.tempo-airgapped.yml"];

fn lint_opts() -> LintOptions {
    LintOptions { external: false, compose_files: FILES.iter().map(Into::into).collect(), ..Default::default() }
}

/// Both forms of the variant lint clean, and the model sees Tempo's receivers and
/// every link into it.
#[test]
fn the_tempo_variant_lints_clean() {
    let r = lint::lint(&stack_dir(), &lint_opts()).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
    let with_collector = LintOptions { compose_files: FILES[..2].iter().map(Into::into).collect(), ..lint_opts() };
    let r = lint::lint(&stack_dir(), &with_collector).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
    let p = lint::stack_profile(&stack_dir(), &FILES.iter().map(Into::into).collect::<Vec<_>>()).unwrap();
    assert_eq!(p.tempo.map(|t| (t.service, t.multitenant)), Some(("tempo".to_string(), false)));
}

/// A receiver-port fault (Tempo's gRPC receiver moved to 4319) fails lint at the
/// lines that send there: the app's OTLP endpoint and the collector's exporter, each
/// with a hint naming the port Tempo's config opens.
#[test]
fn a_tempo_receiver_port_fault_fails_lint_at_its_line() {
    let d = broken_copy(&[("tempo/tempo.yaml", "endpoint: 0.0.0.0:4317", "endpoint: 0.0.0.0:4319")]);
    let r = lint::lint(d.path(), &lint_opts()).unwrap();
    let mut at: Vec<(String, usize, String)> = r.findings.iter().map(|f| (f.file.clone(), f.line, f.rule.clone())).collect();
    at.sort();
    let mut want = vec![
        ("docker-compose.tempo-airgapped.yml".to_string(), line_in(d.path(), "docker-compose.tempo-airgapped.yml", "OTEL_EXPORTER_OTLP_ENDPOINT=tempo:4317"), "otlp-endpoint-unknown-service".to_string()),
        ("otel-collector/config.tempo.yaml".to_string(), line_in(d.path(), "otel-collector/config.tempo.yaml", "endpoint: tempo:4317"), "collector-exporter-unknown-service".to_string()),
    ];
    want.sort();
    assert_eq!(at, want, "{}", r.render_text());
    assert!(r.findings.iter().all(|f| f.hint.as_deref().is_some_and(|h| h.contains("use port 4319"))), "{}", r.render_text());
}

/// `check` on the Tempo variant (air-gapped set + Loki, Promtail, Tempo), with one edit
/// to a copy of the stack; returns (exit code, stderr, report.json).
fn check_tempo(edit: Option<(&str, &str, &str)>, extra: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    for v in ["OBS_IMAGE_TEMPO", "OBS_IMAGE_LOKI", "OBS_IMAGE_PROMTAIL"] {
        assert!(std::env::var_os(v).is_some(), "{v} is not set: this test needs Tempo, Loki and Promtail images (see the module doc)");
    }
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("stack");
    copy_dir(&stack_dir(), &stack);
    if let Some((file, from, to)) = edit {
        let p = stack.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} no longer holds {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
    let reports = work.path().join("reports");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_obs-harness"));
    cmd.args(["check", "--images", "airgapped", "--accelerated", "--services", "app,prometheus,alertmanager,loki,promtail,tempo"]);
    for f in FILES {
        cmd.args(["-f", f]);
    }
    let o = cmd.args(extra).arg("--stack").arg(&stack).arg("--report-dir").arg(&reports).env_remove("GITHUB_ACTIONS").env_remove("OBS_STACK_STATE").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let report = serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap_or_else(|e| panic!("{e}: {err}"))).unwrap();
    (o.status.code(), err, report)
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name}"))
}

/// Every `tempo.*` check and the three-way correlation pass live.
#[test]
fn upstream_tempo_variant_passes_every_tempo_check() {
    let (code, err, report) = check_tempo(None, &[]);
    let failed: Vec<&str> = report["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!((code, failed.as_slice()), (Some(0), &[][..]), "{err}");
    for name in ["tempo.traces", "tempo.search", "correlation.trace_id"] {
        assert_eq!(check(&report, name)["verdict"], "passed", "{name}: {:#}", check(&report, name));
    }
    let corr = check(&report, "correlation.trace_id")["detail"].as_str().unwrap_or_default();
    assert!(corr.contains("tempo:") && corr.contains("loki:") && corr.contains("prometheus:"), "{corr}");
}

/// Live with `--skip-lint`, the same receiver-port fault is one failure
/// (`tempo.traces`), its dependents blocked by it.
#[test]
fn upstream_tempo_receiver_port_fault_is_one_failure() {
    let (code, err, report) = check_tempo(Some(("tempo/tempo.yaml", "endpoint: 0.0.0.0:4317", "endpoint: 0.0.0.0:4319")), &["--skip-lint", "--skip-alerts"]);
    assert_eq!(code, Some(1), "{err}");
    let failed: Vec<&str> = report["checks"].as_array().unwrap().iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed, ["tempo.traces"], "{err}");
    for name in ["tempo.search", "correlation.trace_id"] {
        let c = check(&report, name);
        assert!(c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.starts_with("blocked by `tempo.traces`")), "{name}: {c:#}");
    }
}
