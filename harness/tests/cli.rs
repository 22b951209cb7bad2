//! The command line as a user meets it: help with examples, bad input gives a
//! one-line reason, exit code 2, and a report is still written.

mod common;

use std::process::Command;

fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).args(args).env_remove("GITHUB_ACTIONS").output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn help_lists_every_command_with_examples() {
    let (code, out, _) = harness(&["--help"]);
    assert_eq!(code, Some(0));
    for cmd in ["check", "lint", "stack", "images"] {
        assert!(out.contains(cmd), "{cmd} missing from --help:\n{out}");
    }
    let (_, check, _) = harness(&["check", "--help"]);
    for flag in ["--stack", "--compose", "--services", "--images", "--scenario", "--accelerated", "--target", "--report-dir", "--image"] {
        assert!(check.contains(flag), "{flag} missing from check --help:\n{check}");
    }
    assert!(check.contains("Example"), "check --help gives examples:\n{check}");
}

#[test]
fn bad_target_is_exit_2_with_a_reason_and_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().join("reports");
    let (code, _, err) = harness(&["check", "--skip-lint", "--target", "prometheus=localhost:9090", "--report-dir", report_dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--target") && err.contains("http://"), "{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["checks"][0]["verdict"], "failed");
    assert!(report_dir.join("junit.xml").is_file());
}

#[test]
fn unknown_backend_in_target_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = harness(&["check", "--skip-lint", "--target", "zipkin=http://x:9411", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown backend `zipkin`") && err.contains("prometheus") && err.contains("tempo"), "{err}");
}

#[test]
fn missing_scenario_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = harness(&["check", "--skip-lint", "--scenario", "/nonexistent/scenario.yaml", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/scenario.yaml"), "{err}");
}

#[test]
fn lint_of_a_missing_stack_is_exit_2() {
    let (code, _, err) = harness(&["lint", "/nonexistent/stack"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("/nonexistent/stack"), "{err}");
}

#[test]
fn malformed_image_flag_is_rejected_by_the_parser() {
    let (code, _, err) = harness(&["stack", "up", "--image", "loki"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is not SERVICE=IMAGE"), "{err}");
}

/// Reachability first: a backend nothing listens on is one failed check,
/// `reachability.prometheus`, and everything that needs it is reported
/// *not run: blocked by* it, instead of each waiting out its timeout.
#[test]
fn an_unreachable_backend_is_one_verdict_and_blocks_its_dependents() {
    let dir = tempfile::tempdir().unwrap();
    let stack = concat!(env!("CARGO_MANIFEST_DIR"), "/../stack");
    let (code, _, err) = harness(&["check", "--skip-lint", "--stack", stack, "--target", "prometheus=http://127.0.0.1:9", "--report-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks.iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed, ["reachability.prometheus"], "{err}");
    common::assert_reasons_declared(&report);
    let reach = checks.iter().find(|c| c["name"] == "reachability.prometheus").unwrap();
    assert!(reach["message"].as_str().unwrap().contains("http://127.0.0.1:9 refused the connection"), "{reach}");
    for name in ["prometheus.target_up.fastapi", "dashboards.prometheus.fastapi-overview/Uptime/A"] {
        let c = checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(c["verdict"], "not_run", "{c}");
        assert!(c["reason"].as_str().unwrap().starts_with("blocked by `reachability.prometheus`"), "{c}");
    }
}
