//! Fast verdicts on a broken stack: a broken link is one failure, and what
//! depends on it is reported *not run: blocked by* that check at once, never
//! twenty copies of the same failure each waiting out its timeout.
//!
//! Starts its own air-gapped stack through the CLI on a copy of the bundled
//! stack whose app scrape path is wrong (`metrics_path: /metric`), and tears
//! it down (the CLI always does).

mod common;
use common::{copy_dir, stack_dir};

use std::process::Command;

#[test]
fn live_broken_scrape_path_blocks_its_dependents() {
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("broken");
    copy_dir(&stack_dir(), &stack);
    let prom = stack.join("prometheus/prometheus.yml");
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains("metrics_path: /metrics"));
    std::fs::write(&prom, text.replace("metrics_path: /metrics", "metrics_path: /metric")).unwrap();
    let reports = work.path().join("reports");
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--skip-lint", "--images", "airgapped", "--accelerated"])
        .arg("--stack")
        .arg(&stack)
        .arg("--report-dir")
        .arg(&reports)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap()).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks.iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed, ["prometheus.target_up.fastapi"], "one root cause, one failure:\n{err}");
    let blocked: Vec<&str> = checks
        .iter()
        .filter(|c| c["reason"].as_str().is_some_and(|r| r.starts_with("blocked by `prometheus.target_up.fastapi`")))
        .filter_map(|c| c["name"].as_str())
        .collect();
    for want in ["prometheus.requests_match_traffic", "prometheus.llm_families", "dashboards.prometheus.fastapi-overview/Uptime/A", "alerts"] {
        assert!(blocked.contains(&want), "{want} is not blocked by the scrape target: {blocked:?}\n{err}");
    }
}

/// The reachability probe must not add to what the checks count: it asks
/// the app only for its metrics (an extra `GET /` once showed up as a 4xx
/// in `http_requests_total` and failed `prometheus.requests_match_traffic`).
#[tokio::test]
async fn reachability_asks_the_app_only_for_its_metrics() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let app = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200)).mount(&app).await;
    let mut targets = obs_harness::conformance::Targets::parse(&format!("app={},prometheus=http://127.0.0.1:9", app.uri())).unwrap();
    let results = obs_harness::conformance::reachability(&mut targets).await;
    let paths: Vec<String> = app.received_requests().await.unwrap().iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(paths, ["/metrics"]);
    assert!(results.iter().any(|r| r.name == "reachability.app" && r.verdict.is_passed()), "{results:?}");
    assert!(targets.blocked.contains_key("prometheus") && !targets.blocked.contains_key("app"), "{:?}", targets.blocked);
}
