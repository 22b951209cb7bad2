//! Signal checks, live, after the default traffic scenario.
//!
//! Tests named `live_*` need only the air-gapped set (app, Prometheus,
//! Alertmanager) and run everywhere, `.ci/run` included. Tests named
//! `upstream_*` need the upstream images of Jaeger, Loki, Promtail, Grafana
//! and the OTel Collector; the air-gapped nextest profile leaves them out by
//! name. Under nextest all of them share the stack of the setup script
//! (`OBS_STACK_STATE`); run alone under `cargo test` each starts its own.
//!
//! The Loki tests start only what they need (app, Prometheus, Alertmanager,
//! Loki, Promtail) with the compose file's images; where only Loki and
//! Promtail images exist, run them on the air-gapped set with those two
//! images given: `OBS_TEST_IMAGES=airgapped OBS_IMAGE_LOKI=… OBS_IMAGE_PROMTAIL=…
//! cargo test -p obs-harness --test live_signals upstream_loki`.

use obs_harness::checks::{CheckResult, Verdict};
use obs_harness::phases::signals::{self, SignalOptions};
use obs_harness::phases::{Engine, Targets};
use obs_harness::stack::{StackOptions, with_stack};

fn accelerated(o: StackOptions) -> StackOptions {
    o.with_acceleration(obs_harness::accelerate::DEFAULT_FACTOR)
}

async fn run_signals(options: StackOptions) -> Vec<CheckResult> {
    with_stack(options, |state| async move {
        let targets = Targets::from_state(&state);
        let (record, results) = signals::signals(&Engine::new(targets), &SignalOptions::default()).await;
        assert!(record.is_some(), "traffic was sent: {results:#?}");
        results
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn verdict<'a>(results: &'a [CheckResult], name: &str) -> &'a Verdict {
    &results.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no check {name} in {results:#?}")).verdict
}

fn assert_passed(results: &[CheckResult], names: &[&str]) {
    let failed: Vec<String> = names
        .iter()
        .filter(|n| !verdict(results, n).is_passed())
        .map(|n| format!("{n}: {:?}", verdict(results, n)))
        .collect();
    assert!(failed.is_empty(), "checks not passed:\n{}", failed.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn live_prometheus_series_match_the_traffic_and_carry_exemplars() {
    let results = run_signals(accelerated(StackOptions::airgapped())).await;
    assert_passed(
        &results,
        &[
            "prometheus.target_up.fastapi",
            "traffic.scenario",
            "prometheus.requests_match_traffic",
            "prometheus.histogram_families",
            "prometheus.process_metrics",
            "prometheus.llm_families",
            "prometheus.exemplar_trace_ids",
        ],
    );
    // Where Jaeger and Loki do not run (air-gapped set), their checks say so: not run, never passed.
    for r in &results {
        if r.phase == "signals" && (r.name.starts_with("jaeger.") || r.name.starts_with("loki.") || r.name.starts_with("grafana.")) {
            assert!(!matches!(r.verdict, Verdict::Failed { .. }), "{r:?}");
        }
    }
    match verdict(&results, "correlation.trace_id") {
        Verdict::Failed { message } => panic!("exemplar half of the correlation failed: {message}"),
        Verdict::NotRun { reason } => assert!(reason.contains("prometheus") || reason.contains("exemplar"), "{reason}"),
        Verdict::Passed { detail } => assert!(detail.contains("prometheus"), "{detail}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_every_signal_arrives_and_one_trace_id_crosses_all_three() {
    let results = run_signals(accelerated(StackOptions::bundled())).await;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_passed(&results, &names);
}

/// The bundled stack's services a Loki test needs, in the image mode
/// `OBS_TEST_IMAGES` names (`airgapped`, default the compose file's images).
fn loki_set() -> StackOptions {
    let mode = match std::env::var("OBS_TEST_IMAGES").as_deref() {
        Ok("airgapped") => obs_harness::stack::images::ImageMode::Airgapped,
        _ => obs_harness::stack::images::ImageMode::Upstream,
    };
    let services = ["app", "prometheus", "alertmanager", "loki", "promtail"].map(String::from).to_vec();
    accelerated(StackOptions::bundled().with_images(mode).with_selection(Some(services)))
}

/// The Loki half of the signal checks: labelled streams, the request lines
/// with their trace ids, only labelled containers, tenant enforced, and the
/// trace id followed from a Prometheus exemplar to a Loki line.
#[tokio::test(flavor = "multi_thread")]
async fn upstream_loki_streams_lines_and_tenant() {
    let results = run_signals(loki_set()).await;
    assert_passed(&results, &["loki.stream_labels", "loki.request_lines", "loki.only_labelled_containers", "loki.tenant", "correlation.trace_id"]);
    let corr = verdict(&results, "correlation.trace_id").text();
    assert!(corr.contains("loki:") && corr.contains("prometheus:"), "{corr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_loki_ruler_rules_load_evaluate_and_fire() {
    let results = with_stack(loki_set(), |state| async move {
        let targets = Targets::from_state(&state);
        let expect = obs_harness::phases::ruler::RulerExpectation::for_profile(&targets.profile).unwrap_or_else(|e| panic!("{e}"));
        obs_harness::phases::ruler::ruler_phase(&Engine::new(targets), &expect, std::time::Duration::from_secs(120)).await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ruler.rules_loaded", "ruler.rules_healthy", "ruler.AppErrorLogsHigh"]);
    assert_passed(&results, &names);
}
