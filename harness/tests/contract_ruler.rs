//! The ruler phase against recorded Loki 3.4.6 ruler and Alertmanager 0.25
//! responses (`fixtures/loki/3.4.6/`, `fixtures/alertmanager/0.25.0/`; the
//! recorded rule is `AppErrorLogs` routed to receiver `default`), served by
//! wiremock: YAML rule listing, 404 "no rule groups found" when empty,
//! Prometheus-shaped rules and alerts.

mod common;

use std::time::Duration;

use obs_harness::checks::Verdict;
use obs_harness::phases::{Engine, Targets};
use obs_harness::profile::StackProfile;
use obs_harness::phases::ruler::{RulerExpectation, ruler_phase};
use common::contract::fixture;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn serve(server: &MockServer, p: &str, status: u16, body: String, ctype: &str) {
    Mock::given(method("GET"))
        .and(path(p))
        .and(header("X-Scope-OrgID", "docker"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(body, ctype))
        .mount(server)
        .await;
}

async fn app_and_alertmanager() -> (MockServer, MockServer) {
    let app = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(500)).mount(&app).await;
    let am = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/alerts"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("alertmanager/0.25.0/48-alertmanager-alerts-from-loki-ruler.json"), "application/json"))
        .mount(&am)
        .await;
    (app, am)
}

fn expect() -> RulerExpectation {
    RulerExpectation { alert: "AppErrorLogs".into(), receiver: "default".into() }
}

#[tokio::test]
async fn recorded_ruler_passes_every_stage() {
    let loki = MockServer::start().await;
    serve(&loki, "/loki/api/v1/rules", 200, fixture("loki/3.4.6/40-rules-all.yaml"), "application/yaml").await;
    serve(&loki, "/prometheus/api/v1/rules", 200, fixture("loki/3.4.6/45-prometheus-rules.json"), "application/json").await;
    serve(&loki, "/prometheus/api/v1/alerts", 200, fixture("loki/3.4.6/47-prometheus-alerts-firing.json"), "application/json").await;
    let (app, am) = app_and_alertmanager().await;
    let targets = Targets::parse(&format!("loki={},alertmanager={},app={}", loki.uri(), am.uri(), app.uri()))
        .unwrap()
        .with_profile(StackProfile { tenant: Some("docker".into()), ..Default::default() });
    let results = ruler_phase(&Engine::new(targets), &expect(), Duration::from_secs(5)).await;
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ruler.rules_loaded", "ruler.rules_healthy", "ruler.AppErrorLogs"]);
    for r in &results {
        assert!(r.verdict.is_passed(), "{r:?}");
    }
    assert!(results[0].verdict.text().contains("rules-fake.yaml/app-errors"), "{:?}", results[0]);
}

#[tokio::test]
async fn no_rule_groups_and_no_alert_fail_with_what_was_seen() {
    let loki = MockServer::start().await;
    serve(&loki, "/loki/api/v1/rules", 404, fixture("loki/3.4.6/70-rules-none.txt"), "text/plain; charset=utf-8").await;
    serve(&loki, "/prometheus/api/v1/rules", 200, fixture("loki/3.4.6/71-prometheus-rules-none.json"), "application/json").await;
    serve(&loki, "/prometheus/api/v1/alerts", 200, fixture("loki/3.4.6/72-prometheus-alerts-none.json"), "application/json").await;
    let (app, am) = app_and_alertmanager().await;
    let targets = Targets::parse(&format!("loki={},alertmanager={},app={}", loki.uri(), am.uri(), app.uri()))
        .unwrap()
        .with_profile(StackProfile { tenant: Some("docker".into()), ..Default::default() });
    let results = ruler_phase(&Engine::new(targets), &expect(), Duration::from_millis(300)).await;
    let text = |i: usize| match &results[i].verdict {
        Verdict::Failed { message } => message.clone(),
        other => panic!("expected a failure, got {other:?}"),
    };
    assert!(text(0).contains("no rule groups") && text(0).contains("/loki/api/v1/rules"), "{}", text(0));
    assert!(text(1).contains("0 rule(s)") && text(1).contains("/prometheus/api/v1/rules"), "{}", text(1));
    assert!(text(2).contains("Loki alert AppErrorLogs firing") && text(2).contains("states: []"), "{}", text(2));
}

#[tokio::test]
async fn without_loki_the_phase_is_not_run() {
    let targets = Targets::parse("prometheus=http://127.0.0.1:9").unwrap();
    let results = ruler_phase(&Engine::new(targets), &expect(), Duration::from_millis(100)).await;
    assert_eq!(results.len(), 1);
    assert!(matches!(&results[0].verdict, Verdict::NotRun { reason } if reason.contains("loki=URL")), "{results:?}");
}
