//! Contract tests of the Prometheus client and checks against recorded
//! Prometheus 2.42 answers (`fixtures/prometheus/2.42.0/`) and the
//! Prometheus 3 `le` normalisation (`fixtures/prometheus/3.x/`), served by
//! wiremock. No Docker.

mod common;

use std::time::{Duration, SystemTime};

use obs_harness::backends::BackendError;
use obs_harness::backends::prometheus::{PrometheusClient, QueryResult, parse_le};
use obs_harness::checks::Verdict;
use obs_harness::checks::prometheus as checks;
use obs_harness::traffic::{LlmCall, Sent};
use common::contract::{self, record, sent};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn fixture(rel: &str) -> String {
    contract::fixture(format!("prometheus/{rel}"))
}

fn json(status: u16, rel: &str) -> ResponseTemplate {
    contract::json(status, fixture(rel))
}

async fn serve(route: &str, status: u16, rel: &str) -> (MockServer, PrometheusClient) {
    let server = MockServer::start().await;
    Mock::given(method("GET")).and(path(route)).respond_with(json(status, rel)).mount(&server).await;
    let client = PrometheusClient::new(server.uri()).with_timeout(Duration::from_secs(2));
    (server, client)
}

fn llm(model: &str, provider: &str, fail: Option<&str>, status: u16, trace_id: &str) -> Sent {
    Sent {
        llm: Some(LlmCall { model: model.into(), provider: provider.into(), fail: fail.map(str::to_owned) }),
        ..sent("POST", "/llm/chat", "/llm/chat", status, trace_id)
    }
}

fn failed(v: &Verdict, c: &PrometheusClient) -> String {
    contract::failed(v, &[c.base_url()])
}

#[tokio::test]
async fn parses_every_recorded_shape() {
    let server = MockServer::start().await;
    for (route, rel) in [
        ("/api/v1/targets", "2.42.0/targets.json"),
        ("/api/v1/rules", "2.42.0/rules.json"),
        ("/api/v1/alerts", "2.42.0/alerts.json"),
        ("/api/v1/alertmanagers", "2.42.0/alertmanagers.json"),
        ("/api/v1/query_exemplars", "2.42.0/query-exemplars.json"),
        ("/api/v1/query_range", "2.42.0/query-range-matrix.json"),
        ("/api/v1/series", "2.42.0/series-http-requests.json"),
    ] {
        Mock::given(path(route)).respond_with(json(200, rel)).mount(&server).await;
    }
    for (q, rel) in [
        ("scalar(sum(up))", "2.42.0/query-scalar.json"),
        ("\"fixture\"", "2.42.0/query-string.json"),
        ("up", "2.42.0/query-vector-raw-http-requests.json"),
        ("none", "2.42.0/query-vector-empty.json"),
    ] {
        Mock::given(path("/api/v1/query")).and(query_param("query", q)).respond_with(json(200, rel)).mount(&server).await;
    }
    Mock::given(path("/-/ready")).respond_with(ResponseTemplate::new(200).set_body_string(fixture("2.42.0/ready.txt"))).mount(&server).await;
    let c = PrometheusClient::new(server.uri());

    assert!(c.ready().await.unwrap());
    let targets = c.targets().await.unwrap();
    let fastapi = targets.active_targets.iter().find(|t| t.job() == "fastapi").unwrap();
    assert_eq!((fastapi.health.as_str(), fastapi.scrape_url.as_str()), ("up", "http://127.0.0.1:18080/metrics"));
    let otel = targets.active_targets.iter().find(|t| t.job() == "otel-collector").unwrap();
    assert_eq!(otel.health, "down");
    assert!(otel.last_error.contains("connection refused"));

    let rules = c.rules().await.unwrap();
    let high = rules.rule("HighErrorRate").unwrap();
    assert_eq!((high.kind.as_str(), high.health.as_str(), high.duration), ("alerting", "ok", Some(120.0)));
    assert_eq!(rules.rule("job:http_requests:rate5m").unwrap().kind, "recording");

    let alerts = c.alerts().await.unwrap();
    let firing = alerts.iter().find(|a| a.labels["alertname"] == "FastAPIErrorsSeen").unwrap();
    assert_eq!(firing.state, "firing");
    assert!(alerts.iter().any(|a| a.state == "pending"));

    let ams = c.alertmanagers().await.unwrap();
    assert_eq!(ams.active_alertmanagers[0].url, "http://127.0.0.1:19093/api/v2/alerts");

    let now = SystemTime::now();
    let ex = c.query_exemplars("http_request_duration_seconds_bucket", now, now).await.unwrap();
    assert!(ex.iter().flat_map(|s| &s.exemplars).any(|e| e.trace_id() == Some("4bf92f3577b34da6a3ce929d0e0e4738")));

    match c.query("scalar(sum(up))").await.unwrap() {
        QueryResult::Scalar(p) => assert_eq!(p.value(), Some(2.0)),
        other => panic!("{other:?}"),
    }
    match c.query("\"fixture\"").await.unwrap() {
        QueryResult::String(p) => assert_eq!(p.1, "fixture"),
        other => panic!("{other:?}"),
    }
    let v = c.query("up").await.unwrap();
    assert_eq!(v.result_type(), "vector");
    assert!(v.vector().iter().any(|s| s.metric["handler"] == "/items/{item_id}" && s.value.value() == Some(2.0)));
    let empty = c.query("none").await.unwrap();
    assert!(empty.is_empty() && empty.result_type() == "vector");

    let m = c.query_range("sum by (status) (http_requests_total)", now, now, Duration::from_secs(5)).await.unwrap();
    assert_eq!(m.result_type(), "matrix");
    assert!(m.matrix().iter().all(|s| !s.values.is_empty()));
    let series = c.series(&["http_requests_total{job=\"fastapi\"}"], now, now).await.unwrap();
    assert!(series.iter().any(|l| l["handler"] == "/error" && l["status"] == "5xx"));
}

#[test]
fn le_bounds_compare_numerically_across_versions() {
    assert_eq!(parse_le("1"), parse_le("1.0"));
    assert_eq!(parse_le("+Inf"), Some(f64::INFINITY));
    assert_eq!(parse_le("0.1"), Some(0.1));
}

#[tokio::test]
async fn api_errors_name_url_type_and_hint() {
    let (_s, c) = serve("/api/v1/query", 400, "2.42.0/query-bad-data.json").await;
    let err = c.query("sum(rate(http_requests_total[5m]").await.unwrap_err();
    assert!(matches!(&err, BackendError::Api { status: 400, error_type, .. } if error_type == "bad_data"), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/api/v1/query?query=sum%28rate") && text.contains("unclosed left parenthesis") && text.contains("hint:"), "{text}");

    let (_s, c) = serve("/api/v1/query_range", 400, "2.42.0/query-range-bad-step.json").await;
    let now = SystemTime::now();
    let err = c.query_range("up", now, now, Duration::from_secs(1)).await.unwrap_err().to_string();
    assert!(err.contains("zero or negative query resolution step"), "{err}");

    // A non-JSON error body is a status error; a success body of another shape a decode error.
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/targets")).respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable")).mount(&server).await;
    Mock::given(path("/api/v1/rules")).respond_with(ResponseTemplate::new(200).set_body_string("<html>")).mount(&server).await;
    Mock::given(path("/-/ready")).respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable")).mount(&server).await;
    let c = PrometheusClient::new(server.uri());
    let err = c.targets().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.to_string().contains("not ready yet"), "{err}");
    let err = c.rules().await.unwrap_err();
    assert!(matches!(err, BackendError::Decode { .. }), "{err:?}");
    assert!(!c.ready().await.unwrap());

    // Nothing listening: transport error naming the URL and a hint.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = PrometheusClient::new(format!("http://127.0.0.1:{port}")).targets().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}/api/v1/targets")) && text.contains("is the service running"), "{text}");
}

#[tokio::test]
async fn target_up_passes_with_scrape_url_and_fails_naming_the_job() {
    let (_s, c) = serve("/api/v1/targets", 200, "2.42.0/targets.json").await;
    let v = checks::target_up(&c, "fastapi", WAIT).await;
    assert!(v.is_passed(), "{v:?}");
    assert!(v.text().contains("http://127.0.0.1:18080/metrics"), "{v:?}");

    let msg = failed(&checks::target_up(&c, "otel-collector", WAIT).await, &c);
    assert!(msg.contains("job `otel-collector`") && msg.contains("/api/v1/targets") && msg.contains("health=down"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_target_down", msg);

    let msg = failed(&checks::target_up(&c, "app", WAIT).await, &c);
    assert!(msg.contains("no active target of job `app`"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_target_missing", msg);
}

#[tokio::test]
async fn request_counts_must_equal_the_traffic_sent() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/query")).respond_with(json(200, "2.42.0/query-vector-http-requests.json")).mount(&server).await;
    let c = PrometheusClient::new(server.uri());
    let before = checks::counter_snapshot(&c, "fastapi").await.unwrap();
    assert_eq!(before[&("/items/{item_id}".into(), "GET".into(), "2xx".into())], 2.0);
    server.reset().await;
    Mock::given(path("/api/v1/query")).respond_with(json(200, "2.42.0/query-vector-http-requests-after.json")).mount(&server).await;

    // Between the two recordings: 3 x /items/{n}, 2 x /error (and scrapes of /metrics).
    let mut sent: Vec<Sent> =
        (3..6).map(|i| sent("GET", &format!("/items/{i}"), "/items/{item_id}", 200, &format!("5bf92f3577b34da6a3ce929d0e0e400{i}"))).collect();
    sent.push(self::sent("GET", "/error", "/error", 500, "4bf92f3577b34da6a3ce929d0e0e473e"));
    sent.push(self::sent("GET", "/error", "/error", 500, "5bf92f3577b34da6a3ce929d0e0e4010"));
    let v = checks::requests_match_traffic(&c, &record(sent.clone()), "fastapi", &before, WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    // One /items request and one /slow request more than the counters saw.
    sent.push(self::sent("GET", "/items/9", "/items/{item_id}", 200, "6bf92f3577b34da6a3ce929d0e0e4009"));
    sent.push(self::sent("GET", "/slow", "/slow", 200, "6bf92f3577b34da6a3ce929d0e0e4010"));
    let msg = failed(&checks::requests_match_traffic(&c, &record(sent), "fastapi", &before, WAIT).await, &c);
    assert!(msg.contains("series {handler=\"/items/{item_id}\",method=\"GET\",status=\"2xx\"}: sent 4, increase 3"), "{msg}");
    assert!(msg.contains("series {handler=\"/slow\",method=\"GET\",status=\"2xx\"}: sent 1, increase 0"), "{msg}");
    assert!(msg.contains("/api/v1/query?query=sum%20by"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_requests_mismatch", msg);
}

#[tokio::test]
async fn histogram_buckets_match_on_prometheus_2_and_3() {
    let rec = record(vec![
        sent("GET", "/items/1", "/items/{item_id}", 200, "a"),
        sent("GET", "/error", "/error", 500, "b"),
        sent("GET", "/nope", "none", 404, "c"),
    ]);
    for rel in ["2.42.0/query-vector-duration-family.json", "3.x/query-vector-duration-family-le-normalised.json"] {
        let (_s, c) = serve("/api/v1/query", 200, rel).await;
        let v = checks::histogram_families_present(&c, &rec, "fastapi", checks::HTTP_DURATION_BUCKETS, WAIT).await;
        assert!(v.is_passed(), "{rel}: {v:?}");
    }
    // The Prometheus 3 fixture really carries le="1.0".
    assert!(fixture("3.x/query-vector-duration-family-le-normalised.json").contains("\"le\":\"1.0\""));

    let (_s, c) = serve("/api/v1/query", 200, "3.x/query-vector-duration-family-le-normalised.json").await;
    let rec = record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, "a"), sent("POST", "/items/1", "/orders", 201, "b")]);
    let msg = failed(&checks::histogram_families_present(&c, &rec, "fastapi", &[0.25, 1.0, f64::INFINITY], WAIT).await, &c);
    assert!(msg.contains("http_request_duration_seconds_bucket{handler=\"/items/{item_id}\",method=\"GET\"} le=0.25"), "{msg}");
    assert!(msg.contains("http_request_duration_seconds_count{handler=\"/orders\",method=\"POST\"}"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_histogram_missing", msg);
}

#[tokio::test]
async fn process_metrics() {
    let (_s, c) = serve("/api/v1/query", 200, "2.42.0/query-process.json").await;
    assert!(checks::process_metrics_present(&c, "fastapi", WAIT).await.is_passed());
    let (_s, c) = serve("/api/v1/query", 200, "2.42.0/query-vector-empty.json").await;
    let msg = failed(&checks::process_metrics_present(&c, "fastapi", WAIT).await, &c);
    assert!(msg.contains("missing: process_cpu_seconds_total") && msg.contains("__name__%3D~%22process_"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_process_missing", msg);
}

#[tokio::test]
async fn llm_families_for_the_models_exercised() {
    let (_s, c) = serve("/api/v1/query", 200, "2.42.0/query-llm.json").await;
    let ok = record(vec![
        llm("gpt-4o", "openai", None, 200, "4bf92f3577b34da6a3ce929d0e0e473b"),
        llm("gpt-4o", "openai", Some("rate_limit"), 429, "4bf92f3577b34da6a3ce929d0e0e473c"),
    ]);
    let v = checks::llm_families_match(&c, &ok, "fastapi", WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    let none = record(vec![sent("GET", "/health", "/health", 200, "a")]);
    assert!(matches!(checks::llm_families_match(&c, &none, "fastapi", WAIT).await, Verdict::NotRun { .. }));

    let bad = record(vec![
        llm("gpt-4o", "openai", Some("timeout"), 504, "x"),
        llm("claude-3-5-sonnet", "anthropic", None, 200, "y"),
    ]);
    let msg = failed(&checks::llm_families_match(&c, &bad, "fastapi", WAIT).await, &c);
    assert!(msg.contains("llm_calls_total{model=\"claude-3-5-sonnet\",provider=\"anthropic\"} missing"), "{msg}");
    assert!(msg.contains("llm_errors_total{model=\"gpt-4o\",provider=\"openai\",reason=\"timeout\"} missing"), "{msg}");
    insta::assert_snapshot!("contract_prometheus_llm_missing", msg);
}

#[tokio::test]
async fn exemplars_carry_a_sent_trace_id() {
    let (_s, c) = serve("/api/v1/query_exemplars", 200, "2.42.0/query-exemplars.json").await;
    let rec = record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, "4bf92f3577b34da6a3ce929d0e0e4738")]);
    let v = checks::exemplar_has_trace(&c, &rec, "fastapi", WAIT).await;
    assert!(v.is_passed() && v.text().contains("4bf92f3577b34da6a3ce929d0e0e4738"), "{v:?}");

    let rec = record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, "00000000000000000000000000000bad")]);
    let msg = failed(&checks::exemplar_has_trace(&c, &rec, "fastapi", WAIT).await, &c);
    assert!(msg.contains("seen trace ids: 4bf92f3577b34da6a3ce929d0e0e47") && msg.contains("/api/v1/query_exemplars?query="), "{msg}");
    insta::assert_snapshot!("contract_prometheus_exemplar_missing", msg);

    let (_s, c) = serve("/api/v1/query_exemplars", 200, "2.42.0/query-exemplars-empty.json").await;
    let msg = failed(&checks::exemplar_has_trace(&c, &rec, "fastapi", WAIT).await, &c);
    assert!(msg.contains("0 exemplar(s)"), "{msg}");
}
