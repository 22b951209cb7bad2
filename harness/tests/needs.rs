//! Every check declares what it needs, and every *not run* comes from those declarations.
//!
//! Runs `obs-harness check` on the bundled stack with the air-gapped set
//! (app, Prometheus, Alertmanager built from host binaries, accelerated; the
//! CLI starts its own stack and always removes it), then:
//! - lists each check of the run with its declared needs, pinned as a golden
//!   file (`snapshots/needs__bundled_stack_needs.snap`): a check added,
//!   removed or re-wired shows in review;
//! - checks that each check the engine did not run names the declared need
//!   that decided it ([`common::assert_reasons_declared`]; the fast-verdict,
//!   fault and CLI tests apply the same rule to their broken runs).

mod common;

use std::process::Command;

fn list(needs: &serde_json::Value) -> String {
    let fields = ["backends", "optional", "through", "links", "checks", "expects", "proves", "logs_of"];
    fields
        .iter()
        .filter_map(|f| {
            let v: Vec<&str> = needs[*f].as_array()?.iter().filter_map(|x| x.as_str()).collect();
            (!v.is_empty()).then(|| format!("{f}=[{}]", v.join(",")))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn live_every_check_of_the_bundled_stack_declares_its_needs() {
    let reports = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--images", "airgapped", "--accelerated", "--report-dir"])
        .arg(reports.path())
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.path().join("report.json")).unwrap()).unwrap();
    common::assert_reasons_declared(&report);
    let lines: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !matches!(c["phase"].as_str(), Some("lint" | "start")))
        .map(|c| format!("{} {}: {}", c["phase"].as_str().unwrap_or_default(), c["name"].as_str().unwrap_or_default(), list(&c["needs"])))
        .collect();
    assert!(lines.len() > 40, "{err}");
    insta::assert_snapshot!("bundled_stack_needs", lines.join("\n"));
}
