//! Contract tests of the Loki client and checks against real Loki 3.4.6
//! answers (`fixtures/loki/3.4.6/`, copied from the shared recordings) served
//! by wiremock, with the tenant header enforced like `auth_enabled: true`.
//! No Docker.

mod common;

use std::time::{Duration, SystemTime};

use obs_harness::backends::loki::{LokiClient, LokiResult};
use obs_harness::checks::Verdict;
use obs_harness::checks::loki as checks;
use common::contract::{self, record, sent};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);
const LOOKBACK: Duration = Duration::from_secs(3600);

fn fixture(name: &str) -> String {
    contract::fixture(format!("loki/3.4.6/{name}"))
}

/// Loki's content types, as recorded.
fn answer(status: u16, name: &str) -> ResponseTemplate {
    let ct = if name.ends_with(".yaml") {
        "application/yaml"
    } else if name.ends_with(".json") && status == 200 {
        "application/json; charset=UTF-8"
    } else {
        "text/plain; charset=utf-8"
    };
    ResponseTemplate::new(status).set_body_raw(fixture(name), ct)
}

/// A Loki that demands `X-Scope-OrgID: docker` (401 `no org id` otherwise).
async fn loki(routes: &[(&str, u16, &str)]) -> (MockServer, LokiClient) {
    let server = MockServer::start().await;
    for (route, status, name) in routes {
        Mock::given(method("GET")).and(path(*route)).and(header("X-Scope-OrgID", "docker")).respond_with(answer(*status, name)).mount(&server).await;
    }
    Mock::given(method("GET"))
        .respond_with(answer(401, "63-mt-query-range-without-orgid.txt"))
        .with_priority(10)
        .mount(&server)
        .await;
    let client = LokiClient::new(server.uri()).with_tenant("docker");
    (server, client)
}

fn failed(v: &Verdict, c: &LokiClient) -> String {
    contract::failed(v, &[c.base_url()])
}

#[tokio::test]
async fn parses_every_recorded_shape() {
    let (_s, c) = loki(&[
        ("/loki/api/v1/labels", 200, "95-docker-labels.json"),
        ("/loki/api/v1/label/service/values", 200, "96-docker-label-service-values.json"),
        ("/loki/api/v1/label/nonexistent/values", 200, "23-label-nonexistent-values.json"),
        ("/loki/api/v1/series", 200, "97-docker-series.json"),
        ("/loki/api/v1/query_range", 200, "98-docker-query-range.json"),
        ("/loki/api/v1/query", 200, "28-query-range-matrix.json"),
        ("/loki/api/v1/rules", 200, "40-rules-all.yaml"),
        ("/prometheus/api/v1/rules", 200, "45-prometheus-rules.json"),
        ("/prometheus/api/v1/alerts", 200, "47-prometheus-alerts-firing.json"),
    ])
    .await;
    Mock::given(path("/ready")).respond_with(answer(200, "03-ready.txt")).mount(&_s).await;
    let now = SystemTime::now();

    assert!(c.ready().await.unwrap());
    assert_eq!(c.labels().await.unwrap(), ["container", "env", "job", "service", "service_name", "version"]);
    assert_eq!(c.label_values("service").await.unwrap(), ["app"]);
    // Unknown label: `{"status":"success"}` without data.
    assert!(c.label_values("nonexistent").await.unwrap().is_empty());
    let series = c.series(&["{job=\"docker\"}"], now, now).await.unwrap();
    assert_eq!(series[0]["container"], "fx-app-logged");

    let r = c.query_range("{job=\"docker\"}", now, now, 5).await.unwrap();
    let s = &r.streams()[0];
    assert_eq!((s.stream["job"].as_str(), s.stream["detected_level"].as_str()), ("docker", "info"));
    assert_eq!(s.values.len(), 5);
    assert!(s.values[0].0.len() == 19 && s.lines().all(|l| l.contains("4bf92f3577b34da6a3ce929d0e0e4736")));
    assert!(matches!(c.query("sum(count_over_time({job=\"app\"}[1m]))", now).await.unwrap(), LokiResult::Matrix(m) if !m.is_empty()));

    let rules = c.ruler_rules().await.unwrap();
    let groups = &rules["rules-fake.yaml"];
    assert_eq!(groups[0].name, "app-errors");
    assert_eq!(groups[0].rules[0].alert.as_deref(), Some("AppErrorLogs"));
    assert_eq!(groups[0].rules[1].record.as_deref(), Some("job:app_log_lines:rate1m"));

    let prom = c.prometheus_rules().await.unwrap();
    let rule = prom.rule("AppErrorLogs").unwrap();
    assert_eq!((rule.health.as_str(), rule.state.as_deref(), rule.last_error.as_deref()), ("ok", Some("firing"), Some("")));
    let alerts = c.prometheus_alerts().await.unwrap();
    assert_eq!((alerts[0].labels["alertname"].as_str(), alerts[0].state.as_str()), ("AppErrorLogs", "firing"));
}

#[tokio::test]
async fn empty_answers_and_errors() {
    let (_s, c) = loki(&[
        ("/loki/api/v1/query_range", 200, "30-query-range-empty.json"),
        ("/loki/api/v1/rules", 404, "70-rules-none.txt"),
        ("/prometheus/api/v1/rules", 200, "71-prometheus-rules-none.json"),
        ("/prometheus/api/v1/alerts", 200, "72-prometheus-alerts-none.json"),
    ])
    .await;
    Mock::given(path("/ready")).respond_with(answer(503, "01-ready-starting.txt")).mount(&_s).await;
    let now = SystemTime::now();
    assert!(!c.ready().await.unwrap());
    assert!(c.query_range("{job=\"nope\"}", now, now, 10).await.unwrap().streams().is_empty());
    // 404 "no rule groups found" is an empty rule set, not an error.
    assert!(c.ruler_rules().await.unwrap().is_empty());
    assert!(c.prometheus_rules().await.unwrap().groups.is_empty());
    assert!(c.prometheus_alerts().await.unwrap().is_empty());

    // Invalid LogQL: 400 with a text/plain body.
    let (_s, c) = loki(&[("/loki/api/v1/query_range", 400, "32-query-range-invalid-logql.json")]).await;
    let err = c.query_range("{job=\"app\"", now, now, 10).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    let text = err.to_string();
    assert!(text.contains("/loki/api/v1/query_range?query=") && text.contains("parse error at line 1") && text.contains("hint:"), "{text}");

    // Without the tenant header: 401 `no org id`, with a hint naming the header.
    let err = c.without_tenant().labels().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 401") && err.contains("no org id") && err.contains("X-Scope-OrgID"), "{err}");
}

#[tokio::test]
async fn app_stream_labels() {
    let (_s, c) = loki(&[("/loki/api/v1/series", 200, "97-docker-series.json")]).await;
    let want = [("job", "docker"), ("service", "app"), ("env", "dev"), ("version", "1.2.3")];
    let v = checks::stream_labelled(&c, "fx-app-logged", &want, LOOKBACK, WAIT).await;
    assert!(v.is_passed(), "{v:?}");
    assert!(v.text().contains("tenant `docker`"));

    let want = [("job", "docker"), ("service", "app"), ("env", "dev"), ("version", "0.1.0")];
    let msg = failed(&checks::stream_labelled(&c, "fx-app-logged", &want, LOOKBACK, WAIT).await, &c);
    assert!(msg.contains("version=\"1.2.3\" (want \"0.1.0\")") && msg.contains("tenant `docker`") && msg.contains("/loki/api/v1/series?match%5B%5D="), "{msg}");
    insta::assert_snapshot!("contract_loki_stream_wrong_label", msg);
}

#[tokio::test]
async fn request_lines_carry_the_sent_trace_ids() {
    let (_s, c) = loki(&[("/loki/api/v1/query_range", 200, "hand-app-request-lines.json")]).await;
    let rec = record(vec![
        sent("GET", "/items/1", "/items/{item_id}", 200, "4bf92f3577b34da6a3ce929d0e0e4736"),
        sent("GET", "/error", "/error", 500, "4bf92f3577b34da6a3ce929d0e0e4738"),
    ]);
    let v = checks::request_lines_present(&c, &rec, "{service=\"app\"}", 5, WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    let rec = record(vec![
        sent("GET", "/items/1", "/items/{item_id}", 200, "4bf92f3577b34da6a3ce929d0e0e4736"),
        sent("GET", "/slow", "/slow", 200, "0000000000000000000000000000beef"),
    ]);
    let msg = failed(&checks::request_lines_present(&c, &rec, "{service=\"app\"}", 5, WAIT).await, &c);
    assert!(msg.contains("no line for trace id(s): 0000000000000000000000000000beef") && msg.contains("LogQL `{service=\"app\"} |~"), "{msg}");
    insta::assert_snapshot!("contract_loki_request_line_missing", msg);

    let now = SystemTime::now();
    let v = checks::line_for_trace(&c, "4bf92f3577b34da6a3ce929d0e0e4738", "{service=\"app\"}", now, now, WAIT).await;
    assert!(v.is_passed() && v.text().contains("GET /error 500"), "{v:?}");
}

#[tokio::test]
async fn unlabelled_containers_must_be_absent() {
    let (_s, c) = loki(&[
        ("/loki/api/v1/label/service/values", 200, "96-docker-label-service-values.json"),
        ("/loki/api/v1/label/service_name/values", 200, "96-docker-label-service-values.json"),
    ])
    .await;
    assert!(checks::only_labelled_services(&c, &["app"]).await.is_passed());

    // Recorded with Promtail ignoring relabel `keep`: an unknown_service stream.
    let (_s, c) = loki(&[
        ("/loki/api/v1/label/service/values", 200, "96-docker-label-service-values.json"),
        ("/loki/api/v1/label/service_name/values", 200, "96-docker-label-service_name-values.json"),
    ])
    .await;
    let msg = failed(&checks::only_labelled_services(&c, &["app"]).await, &c);
    assert!(msg.contains("label `service_name` has values tenant-test, unknown_service") && msg.contains("tenant `docker`"), "{msg}");
    insta::assert_snapshot!("contract_loki_unlabelled_present", msg);
}

#[tokio::test]
async fn tenant_is_enforced() {
    let (_s, c) = loki(&[("/loki/api/v1/labels", 200, "95-docker-labels.json")]).await;
    let v = checks::tenant_enforced(&c).await;
    assert!(v.is_passed(), "{v:?}");

    // A Loki with auth_enabled: false answers without the header.
    let server = MockServer::start().await;
    Mock::given(path("/loki/api/v1/labels")).respond_with(answer(200, "95-docker-labels.json")).mount(&server).await;
    let c = LokiClient::new(server.uri()).with_tenant("docker");
    let msg = failed(&checks::tenant_enforced(&c).await, &c);
    assert!(msg.contains("without X-Scope-OrgID answered HTTP 200"), "{msg}");
    insta::assert_snapshot!("contract_loki_tenant_not_enforced", msg);
}
