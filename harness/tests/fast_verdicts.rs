//! Fast verdicts on a broken stack: a broken link is one failure, and what
//! depends on it is reported *not run: blocked by* that check at once, never
//! twenty copies of the same failure each waiting out its timeout.
//!
//! Starts its own air-gapped stack through the CLI on a copy of the bundled
//! stack whose app scrape path is wrong (`metrics_path: /metric`), and tears
//! it down (the CLI always does). `upstream_*` tests add Loki and Promtail
//! (`OBS_IMAGE_LOKI=… OBS_IMAGE_PROMTAIL=… cargo test -p obs-harness --test
//! fast_verdicts upstream_`); the air-gapped profile leaves them out by name.

mod common;
use common::{copy_dir, stack_dir};

use std::process::Command;

/// Runs `check` (air-gapped, accelerated) on a copy of the bundled stack with
/// one edit; returns its stderr and report.json.
fn check_broken(file: &str, from: &str, to: &str, extra: &[&str]) -> (String, serde_json::Value) {
    let work = tempfile::tempdir().unwrap();
    let stack = work.path().join("broken");
    copy_dir(&stack_dir(), &stack);
    let path = stack.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} no longer holds {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    let reports = work.path().join("reports");
    let o = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["check", "--images", "airgapped", "--accelerated"])
        .args(extra)
        .arg("--stack")
        .arg(&stack)
        .arg("--report-dir")
        .arg(&reports)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("OBS_STACK_STATE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    let report = serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap()).unwrap();
    common::assert_reasons_declared(&report);
    (err, report)
}

/// Prometheus notifies a port Alertmanager does not listen on: lint names the
/// link, and the alerts are *not run: blocked by* that finding at once instead
/// of each waiting out its stage timeouts.
#[test]
fn live_wrong_alertmanager_port_blocks_the_alerts_at_once() {
    let (err, report) = check_broken("prometheus/prometheus.yml", "\"alertmanager:9093\"", "\"alertmanager:9095\"", &[]);
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks.iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed.len(), 1, "one root cause, one failure: {failed:?}\n{err}");
    assert!(failed[0].starts_with("lint.alerting-target-unknown-service prometheus/prometheus.yml:"), "{failed:?}");
    let alerts = checks.iter().find(|c| c["name"] == "alerts").unwrap_or_else(|| panic!("no alerts verdict:\n{err}"));
    assert!(alerts["reason"].as_str().is_some_and(|r| r.starts_with("blocked by `lint.alerting-target-unknown-service prometheus/prometheus.yml:")), "{alerts}");
    let alert_checks: Vec<&str> = checks.iter().filter(|c| c["phase"] == "alerts").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(alert_checks, ["alerts"], "no alert was driven into a broken link: {alert_checks:?}");
    // The critical path is in the report: every phase that ran, with its longest wait.
    let path: Vec<&str> = report["critical_path"].as_array().unwrap_or_else(|| panic!("no critical_path:\n{err}")).iter().filter_map(|s| s["phase"].as_str()).collect();
    assert!(path.starts_with(&["lint", "start", "signals"]), "{path:?}");
    assert!(err.contains("critical path "), "{err}");
}

#[test]
fn live_broken_scrape_path_blocks_its_dependents() {
    let (err, report) = check_broken("prometheus/prometheus.yml", "metrics_path: /metrics", "metrics_path: /metric", &["--skip-lint"]);
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
    let engine = obs_harness::phases::Engine::new(obs_harness::phases::Targets::parse(&format!("app={},prometheus=http://127.0.0.1:9", app.uri())).unwrap());
    let results = obs_harness::phases::signals::reachability(&engine).await;
    let paths: Vec<String> = app.received_requests().await.unwrap().iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(paths, ["/metrics"]);
    assert!(results.iter().any(|r| r.name == "reachability.app" && r.verdict.is_passed()), "{results:?}");
    assert!(engine.blocked("prometheus").is_some() && engine.blocked("app").is_none(), "{:?}", engine.blocked_all());
}

/// The recorded 2.42 `/api/v1/targets` answer with the app's target down
/// with `error`, a new failed scrape on each request.
struct DownTarget(std::sync::atomic::AtomicU64, &'static str);
impl wiremock::Respond for DownTarget {
    fn respond(&self, _: &wiremock::Request) -> wiremock::ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let recorded = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/prometheus/2.42.0/targets.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&recorded).unwrap();
        for t in v["data"]["activeTargets"].as_array_mut().unwrap() {
            if t["labels"]["job"] == "fastapi" {
                t["health"] = "down".into();
                t["lastError"] = self.1.into();
                t["lastScrape"] = format!("2026-12-02T06:00:{:02}.000Z", n % 60).into();
            }
        }
        wiremock::ResponseTemplate::new(200).set_body_json(v)
    }
}

/// Prometheus (wiremock, on the recorded 2.42 `/api/v1/targets` answer) reports
/// the app's target down with a scrape error, a new failed scrape each poll.
/// `prometheus.target_up.fastapi` fails after `DOWN_SCRAPES` failed scrapes,
/// not after its timeout, and every check that needs the scrape target is
/// *not run: blocked by* it, with its message, never failed on its own.
#[tokio::test]
async fn a_down_scrape_target_fails_at_once_and_blocks_its_dependents() {
    use std::sync::atomic::AtomicU64;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::{any, path}};

    let prom = MockServer::start().await;
    Mock::given(path("/api/v1/targets")).respond_with(DownTarget(AtomicU64::new(0), "server returned HTTP status 404 Not Found")).mount(&prom).await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}}))).mount(&prom).await;
    let app = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_string("ok")).mount(&app).await;

    let targets = obs_harness::phases::Targets::parse(&format!("app={},prometheus={}", app.uri(), prom.uri())).unwrap();
    let targets = targets.with_profile(obs_harness::profile::StackProfile::for_compose_file(&obs_harness::stack::bundled_compose_file()));
    let opts = obs_harness::phases::signals::SignalOptions { timeout: std::time::Duration::from_secs(60), ..Default::default() };
    let (_, results) = obs_harness::phases::signals::signals(&obs_harness::phases::Engine::new(targets), &opts).await;
    let up = results.iter().find(|r| r.name == "prometheus.target_up.fastapi").expect("target_up ran");
    let message = up.verdict.text();
    assert!(up.verdict.is_failed(), "{up:?}");
    assert!(message.contains(&format!("failed {} scrapes in a row", obs_harness::checks::prometheus::DOWN_SCRAPES)) && message.contains("404 Not Found"), "a final answer, not a timeout: {message}");
    let failed: Vec<&str> = results.iter().filter(|r| r.verdict.is_failed() && r.name.starts_with("prometheus.")).map(|r| r.name.as_str()).collect();
    assert_eq!(failed, ["prometheus.target_up.fastapi"], "{results:#?}");
    for dependent in ["prometheus.requests_match_traffic", "prometheus.histogram_families", "prometheus.llm_families", "prometheus.process_metrics"] {
        let r = results.iter().find(|r| r.name == dependent).unwrap_or_else(|| panic!("no {dependent}: {results:#?}"));
        assert!(r.verdict.text().starts_with("blocked by `prometheus.target_up.fastapi`: ") && r.verdict.text().contains("404 Not Found"), "{dependent}: {:?}", r.verdict);
    }
}

/// A target down because its host does not resolve (yet): a container that is
/// starting or restarting looks like this, so the check keeps waiting (here a
/// 2 s timeout) instead of calling it final after three scrapes.
#[tokio::test]
async fn a_target_whose_host_does_not_resolve_yet_is_waited_for() {
    use std::sync::atomic::AtomicU64;
    use wiremock::{Mock, MockServer, matchers::path};
    let prom = MockServer::start().await;
    let dns = "Get \"http://app:8000/metrics\": dial tcp: lookup app on 127.0.0.11:53: no such host";
    Mock::given(path("/api/v1/targets")).respond_with(DownTarget(AtomicU64::new(0), dns)).mount(&prom).await;
    let client = obs_harness::backends::PrometheusClient::new(prom.uri());
    let v = obs_harness::checks::prometheus::target_up(&client, "fastapi", std::time::Duration::from_secs(2)).await;
    let m = v.text();
    assert!(v.is_failed() && m.contains("timed out waiting") && !m.contains("scrapes in a row") && m.contains("no such host"), "{m}");
}

/// Promtail's container filter selects nothing (`logging=nobody`): lint names
/// it, and the log path is blocked by that finding before anything starts, so
/// the checks of the app's log lines wait for nothing. The bundled stack,
/// whose filter selects the app, blocks nothing.
#[test]
fn a_promtail_filter_that_selects_nothing_blocks_the_log_path() {
    let blocked_of = |dir: &std::path::Path| {
        let lint = obs_harness::lint::lint(dir, &obs_harness::lint::LintOptions::default()).unwrap();
        let model = obs_harness::model::StackModel::load(dir, &[]).unwrap();
        let profile = obs_harness::lint::stack_profile(dir, &[]).unwrap();
        let engine = obs_harness::phases::Engine::new(obs_harness::phases::Targets::default().with_profile(profile));
        engine.block_unshipped_logs(&model, &lint.findings);
        engine.blocked_all()
    };
    assert!(!blocked_of(&stack_dir()).contains_key("promtail-loki"));
    let work = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), work.path());
    let path = work.path().join("promtail/config.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#"values: ["logging=promtail"]"#), "promtail/config.yaml no longer filters on logging=promtail");
    std::fs::write(&path, text.replace(r#"values: ["logging=promtail"]"#, r#"values: ["logging=nobody"]"#)).unwrap();
    let blocked = blocked_of(work.path());
    let reason = blocked.get("promtail-loki").unwrap_or_else(|| panic!("the log path is not blocked: {blocked:?}"));
    assert!(reason.starts_with("blocked by `lint.promtail-filter-no-match promtail/config.yaml:"), "{reason}");
}

/// The same broken filter, live with Loki and Promtail (images from
/// `OBS_IMAGE_LOKI`, `OBS_IMAGE_PROMTAIL`; the air-gapped profile leaves it
/// out by name): the lint finding is the one failure, and every check of the
/// app's log lines, the Loki dashboard query, the correlation and the ruler's
/// log-based alert are *not run: blocked by* it.
#[test]
fn upstream_promtail_shipping_nothing_is_one_failure() {
    let (err, report) = check_broken(
        "promtail/config.yaml",
        r#"values: ["logging=promtail"]"#,
        r#"values: ["logging=nobody"]"#,
        &["--services", "app,prometheus,alertmanager,loki,promtail"],
    );
    let checks = report["checks"].as_array().unwrap();
    let failed: Vec<&str> = checks.iter().filter(|c| c["verdict"] == "failed").filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(failed.len(), 1, "one root cause, one failure: {failed:?}\n{err}");
    assert!(failed[0].starts_with("lint.promtail-filter-no-match promtail/config.yaml:"), "{failed:?}");
    let root = format!("blocked by `{}`", failed[0]);
    for want in ["loki.stream_labels", "loki.request_lines", "loki.tenant", "correlation.trace_id", "dashboards.loki.fastapi-overview/App logs/A", "ruler.AppErrorLogsHigh"] {
        let c = checks.iter().find(|c| c["name"] == want).unwrap_or_else(|| panic!("no {want}:\n{err}"));
        assert!(c["verdict"] == "not_run" && c["reason"].as_str().is_some_and(|r| r.starts_with(&root)), "{want}: {c:#}");
    }
}
