//! Alerts end to end, live, with the air-gapped set in accelerated timing:
//! for each alert rule of the bundled stack, its cause drives it to pending,
//! firing, into Alertmanager (labels, receiver), to the harness's webhook
//! receiver, and back to resolved after the cause stops.
//!
//! Each test starts its own stack (causes such as stopping the app must not
//! disturb the shared stack) and tears it down, also on failure.

use std::time::{Duration, Instant};

use obs_harness::backends::{AlertmanagerClient, PrometheusClient};
use obs_harness::checks::alerts::{self, AlertEndpoints, Cause, CauseTraffic};
use obs_harness::stack::{Stack, StackOptions};

const STAGE_TIMEOUT: Duration = Duration::from_secs(90);

async fn alert_path(alertname: &str) {
    let profile = obs_harness::profile::StackProfile::for_compose_file(&obs_harness::stack::bundled_compose_file());
    let cause = profile.cause(alertname).expect("a cause for every bundled alert");
    let mut stack = Stack::start(StackOptions::airgapped().with_acceleration(obs_harness::accelerate::DEFAULT_FACTOR))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let state = stack.state.clone();
    let ep = AlertEndpoints {
        prometheus: PrometheusClient::new(state.url("prometheus", 9090).unwrap()),
        alertmanager: AlertmanagerClient::new(state.url("alertmanager", 9093).unwrap()),
        webhook: state.url(obs_harness::webhook::SERVICE, obs_harness::webhook::PORT).unwrap(),
        receiver: "harness-webhook".into(),
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        let up = obs_harness::checks::prometheus::target_up(&ep.prometheus, "fastapi", Duration::from_secs(30)).await;
        assert!(up.is_passed(), "{up:?}");
        let started = Instant::now();
        let traffic = (cause != Cause::AppStopped).then(|| CauseTraffic::start(cause, &state.url("app", 8000).unwrap()));
        if cause == Cause::AppStopped {
            stack.stop_service("app").await.unwrap();
        }
        let path = alerts::await_firing(&ep, alertname, started, STAGE_TIMEOUT).await.unwrap_or_else(|e| panic!("{e}"));
        let stopped = Instant::now();
        match traffic {
            Some(t) => assert!(t.stop().await > 0),
            None => stack.restart_service("app").await.unwrap(),
        }
        alerts::await_notification(&ep, alertname, "resolved", STAGE_TIMEOUT).await.unwrap_or_else(|e| panic!("{e}"));
        let rule_for = ep.prometheus.rules().await.unwrap().rule(alertname).and_then(|r| r.duration).unwrap_or(0.0);
        let floor = alerts::floor(Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs_f64(rule_for), Duration::from_secs(1));
        eprintln!(
            "{alertname} ({}): pending {:?} ms, firing {:?} ms, alertmanager {:?} ms, webhook {:?} ms (floor {} ms, ratio {:.2}); resolved {} ms after the cause stopped",
            state.timing_mode(),
            path.pending_ms,
            path.firing_ms,
            path.alertmanager_ms,
            path.notified_ms,
            floor.as_millis(),
            path.notified_ms.unwrap_or_default() as f64 / floor.as_millis() as f64,
            stopped.elapsed().as_millis()
        );
        assert!(path.pending_ms <= path.firing_ms && path.firing_ms <= path.notified_ms, "{path:?}");
    }))
    .await;
    stack.teardown().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_high_error_rate_fires_notifies_and_resolves() {
    alert_path("HighErrorRate").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_high_latency_p95_fires_notifies_and_resolves() {
    alert_path("HighLatencyP95").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_llm_high_error_rate_fires_notifies_and_resolves() {
    alert_path("LLMHighErrorRate").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_fastapi_down_fires_notifies_and_resolves() {
    alert_path("FastAPIDown").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bundled_alert_rule_has_a_cause() {
    let mut stack = Stack::start(StackOptions::airgapped().with_services(["prometheus".to_string()]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let prom = PrometheusClient::new(stack.state.url("prometheus", 9090).unwrap());
    let rules = obs_harness::eventually::Eventually::new("prometheus loaded its alert rules")
        .until(|| async {
            match prom.rules().await {
                Ok(r) if r.rules().any(|(_, r)| r.kind == "alerting") => obs_harness::eventually::Poll::Ready(()),
                Ok(_) => obs_harness::eventually::Poll::Pending("no alerting rules yet".into()),
                Err(e) => obs_harness::eventually::Poll::Pending(e.to_string()),
            }
        })
        .await;
    let profile = obs_harness::profile::StackProfile::for_compose_file(&obs_harness::stack::bundled_compose_file());
    let uncovered = alerts::uncovered_rules(&prom, &profile).await;
    stack.teardown().await;
    rules.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(uncovered.unwrap(), Vec::<String>::new(), "alert rules no scenario can fire");
}
