//! Alerts end to end, live, with the air-gapped set in accelerated timing:
//! for each alert rule of the bundled stack, its cause drives it to pending,
//! firing, into Alertmanager (labels, receiver), to the harness's webhook
//! receiver, and back to resolved after the cause stops.
//!
//! Causes the alert phase drives together are proven not to interfere here:
//! driven at once, each alert fires and reaches the webhook, and each cause
//! alone never raises another's alert.
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
    with_alert_stack(async |stack: &mut Stack, ep: AlertEndpoints, app: String| {
        let started = Instant::now();
        let traffic = (cause != Cause::AppStopped).then(|| CauseTraffic::start(cause, &app));
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
        let floor = floor_of(&ep, alertname).await;
        eprintln!(
            "{alertname} ({}): pending {:?} ms, firing {:?} ms, alertmanager {:?} ms, webhook {:?} ms (floor {} ms, ratio {:.2}); resolved {} ms after the cause stopped",
            stack.state.timing_mode(),
            path.pending_ms,
            path.firing_ms,
            path.alertmanager_ms,
            path.notified_ms,
            floor.as_millis(),
            path.notified_ms.unwrap_or_default() as f64 / floor.as_millis() as f64,
            stopped.elapsed().as_millis()
        );
        assert!(path.pending_ms <= path.firing_ms && path.firing_ms <= path.notified_ms, "{path:?}");
    })
    .await;
}

/// A started accelerated air-gapped stack with its alert endpoints and the
/// app's URL, once the app's target is up; torn down after `f`, also when it panics.
async fn with_alert_stack(f: impl AsyncFnOnce(&mut Stack, AlertEndpoints, String)) {
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
        f(&mut stack, ep, state.url("app", 8000).unwrap()).await
    }))
    .await;
    stack.teardown().await;
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

/// The accelerated floor of a bundled rule (1 s scrape and evaluation, 1 s group_wait).
async fn floor_of(ep: &AlertEndpoints, alertname: &str) -> Duration {
    let rule_for = ep.prometheus.rules().await.unwrap().rule(alertname).and_then(|r| r.duration).unwrap_or(0.0);
    alerts::floor(Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs_f64(rule_for), Duration::from_secs(1))
}

/// States of `alertname` in Prometheus now.
async fn states(ep: &AlertEndpoints, alertname: &str) -> Vec<String> {
    ep.prometheus.alerts().await.unwrap().iter().filter(|a| a.labels.get("alertname").map(String::as_str) == Some(alertname)).map(|a| a.state.clone()).collect()
}

/// The alert phase's app-side wave: `ErrorBurst`, `SlowRequests` and
/// `LlmFailures` driven at once. Each alert fires and reaches the webhook
/// (none masks another; their ratios to the floor are printed, and
/// benchmarked by scripts/bench-check.sh), then each resolves under the
/// healthy traffic that follows.
#[tokio::test(flavor = "multi_thread")]
async fn independent_alerts_fire_together_without_interference() {
    let wave = [(Cause::ErrorBurst, "HighErrorRate"), (Cause::SlowRequests, "HighLatencyP95"), (Cause::LlmFailures, "LLMHighErrorRate")];
    assert_eq!(alerts::waves(&wave.map(|(c, _)| c)).len(), 1, "the three causes are one wave");
    with_alert_stack(async |_: &mut Stack, ep: AlertEndpoints, app: String| {
        let started = Instant::now();
        let paths = futures::future::join_all(wave.iter().map(|(cause, name)| {
            let traffic = CauseTraffic::start(*cause, &app);
            let ep = &ep;
            async move {
                let path = alerts::await_firing(ep, name, started, STAGE_TIMEOUT).await;
                assert!(traffic.stop().await > 0);
                path.unwrap_or_else(|m| panic!("{name} beside the other causes: {m}"))
            }
        }))
        .await;
        let healthy = CauseTraffic::healthy(&app);
        for ((_, name), path) in wave.iter().zip(&paths) {
            let floor = floor_of(&ep, name).await;
            let ratio = path.notified_ms.unwrap() as f64 / floor.as_millis() as f64;
            eprintln!("{name} driven concurrently: webhook {:?} ms, floor {} ms, ratio {ratio:.2}", path.notified_ms, floor.as_millis());
            // A masked alert never fires (await_firing fails above); the ratio's
            // target (<= 1.5) is a benchmark figure (scripts/bench-check.sh), not a timed assertion.
            assert!(path.pending_ms <= path.firing_ms && path.firing_ms <= path.notified_ms, "{path:?}");
        }
        let resolved = futures::future::join_all(wave.iter().map(|(_, name)| alerts::await_notification(&ep, name, "resolved", STAGE_TIMEOUT))).await;
        assert!(healthy.stop().await > 0);
        for ((_, name), r) in wave.iter().zip(resolved) {
            r.unwrap_or_else(|e| panic!("{name} under healthy traffic: {e}"));
        }
    })
    .await;
}

/// Drives `cause` alone until its own alert is pending (its windows are full),
/// sampling `others` all the while: none may ever become pending.
async fn alone_never_raises(cause: Cause, own: &'static str, others: [&'static str; 2]) {
    with_alert_stack(async |_: &mut Stack, ep: AlertEndpoints, app: String| {
        let raised = async || {
            for other in others {
                let o = states(&ep, other).await;
                if !o.is_empty() {
                    return Some(format!("{other} is {o:?} with only {cause:?} traffic"));
                }
            }
            None
        };
        let traffic = CauseTraffic::start(cause, &app);
        let seen = obs_harness::eventually::Eventually::new(format!("{own} pending while only {cause:?} runs, {others:?} never"))
            .with_timeout(STAGE_TIMEOUT)
            .until(|| async {
                if let Some(e) = raised().await {
                    return obs_harness::eventually::Poll::Ready(Err(e));
                }
                if states(&ep, own).await.is_empty() { obs_harness::eventually::Poll::Pending(format!("{own} not pending yet")) } else { obs_harness::eventually::Poll::Ready(Ok(())) }
            })
            .await;
        // A few more evaluations with the windows full.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Some(e) = raised().await {
                panic!("{e}");
            }
        }
        traffic.stop().await;
        seen.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn error_burst_alone_never_raises_the_latency_or_llm_alerts() {
    alone_never_raises(Cause::ErrorBurst, "HighErrorRate", ["HighLatencyP95", "LLMHighErrorRate"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_requests_alone_never_raise_the_error_rate_or_llm_alerts() {
    alone_never_raises(Cause::SlowRequests, "HighLatencyP95", ["HighErrorRate", "LLMHighErrorRate"]).await;
}

/// The LLM's failures are the provider's rate limit, which the app answers
/// with 429: they never count as the service's 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn llm_failures_alone_never_raise_the_error_rate_or_latency_alerts() {
    alone_never_raises(Cause::LlmFailures, "LLMHighErrorRate", ["HighErrorRate", "HighLatencyP95"]).await;
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
