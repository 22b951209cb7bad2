//! Contract tests of the Grafana client and checks against the documented
//! HTTP API shapes (`fixtures/grafana/13.x/`, hand-written) served by
//! wiremock. No Docker.

mod common;

use std::time::{Duration, SystemTime};

use obs_harness::backends::grafana::GrafanaClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::grafana::{self as checks, ExpectedDatasource};
use common::contract;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn fixture(name: &str) -> String {
    contract::fixture(format!("grafana/13.x/{name}"))
}

fn json(status: u16, name: &str) -> ResponseTemplate {
    contract::json(status, fixture(name))
}

async fn grafana(routes: &[(&str, u16, &str)]) -> (MockServer, GrafanaClient) {
    let server = MockServer::start().await;
    for (route, status, name) in routes {
        Mock::given(method("GET")).and(path(*route)).respond_with(json(*status, name)).mount(&server).await;
    }
    let c = GrafanaClient::new(server.uri());
    (server, c)
}

fn failed(v: &Verdict, c: &GrafanaClient) -> String {
    contract::failed(v, &[c.base_url()])
}

const HEALTHY: &[(&str, u16, &str)] = &[
    ("/api/health", 200, "health.json"),
    ("/api/datasources", 200, "datasources.json"),
    ("/api/datasources/uid/prometheus/health", 200, "datasource-health-ok.json"),
    ("/api/datasources/uid/loki/health", 200, "datasource-health-ok.json"),
    ("/api/datasources/uid/jaeger/health", 200, "datasource-health-ok.json"),
    ("/api/dashboards/uid/fastapi-overview", 200, "dashboard-fastapi-overview.json"),
    ("/api/dashboards/uid/llm-overview", 200, "dashboard-llm-overview-unprovisioned.json"),
    ("/api/search", 200, "search.json"),
];

#[tokio::test]
async fn parses_every_shape() {
    let (server, c) = grafana(HEALTHY).await;
    Mock::given(method("GET")).and(path("/api/dashboards/uid/nope")).respond_with(json(404, "dashboard-not-found.json")).mount(&server).await;
    assert_eq!(c.health().await.unwrap().database, "ok");
    let ds = c.datasources().await.unwrap();
    let prom = ds.iter().find(|d| d.uid == "prometheus").unwrap();
    assert_eq!((prom.kind.as_str(), prom.url.as_str(), prom.is_default), ("prometheus", "http://prometheus:9090", true));
    assert_eq!(c.datasource_health("loki").await.unwrap().status, "OK");
    let d = c.dashboard("fastapi-overview").await.unwrap().unwrap();
    assert_eq!((d.uid(), d.title(), d.meta.provisioned, d.meta.folder_title.as_str()), ("fastapi-overview", "FastAPI Overview", true, "FastAPI"));
    assert!(c.dashboard("nope").await.unwrap().is_none());
    let hits = c.search_dashboards().await.unwrap();
    assert_eq!(hits.iter().map(|h| h.uid.as_str()).collect::<Vec<_>>(), ["fastapi-overview", "llm-overview"]);
    assert_eq!(hits[0].folder_title.as_deref(), Some("FastAPI"));
}

#[tokio::test]
async fn basic_auth_is_sent() {
    let server = MockServer::start().await;
    // admin:secret
    Mock::given(path("/api/health")).and(header("authorization", "Basic YWRtaW46c2VjcmV0")).respond_with(json(200, "health.json")).mount(&server).await;
    Mock::given(path("/api/health"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(r#"{"message":"Unauthorized"}"#, "application/json"))
        .with_priority(10)
        .mount(&server)
        .await;
    assert!(GrafanaClient::new(server.uri()).with_basic_auth("admin", "secret").health().await.is_ok());
    let err = GrafanaClient::new(server.uri()).health().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 401") && err.contains("credentials"), "{err}");
}

#[tokio::test]
async fn health_and_datasources() {
    let (_s, c) = grafana(HEALTHY).await;
    assert!(checks::healthy(&c, WAIT).await.is_passed());
    let v = checks::datasources_provisioned(&c, &ExpectedDatasource::bundled(), WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    let (_s, c) = grafana(&[("/api/datasources", 200, "datasources-wrong.json")]).await;
    let msg = failed(&checks::datasources_provisioned(&c, &ExpectedDatasource::bundled(), WAIT).await, &c);
    assert!(msg.contains("no datasource with uid \"prometheus\"") && msg.contains("has url \"http://localhost:3100\""), "{msg}");
    insta::assert_snapshot!("contract_grafana_datasources_wrong", msg);

    let (_s, c) = grafana(&[
        ("/api/datasources", 200, "datasources.json"),
        ("/api/datasources/uid/prometheus/health", 200, "datasource-health-ok.json"),
        ("/api/datasources/uid/loki/health", 400, "datasource-health-error.json"),
        ("/api/datasources/uid/jaeger/health", 200, "datasource-health-ok.json"),
    ])
    .await;
    let msg = failed(&checks::datasources_provisioned(&c, &ExpectedDatasource::bundled(), WAIT).await, &c);
    assert!(msg.contains("loki: ERROR \"Unable to connect with Loki"), "{msg}");
    insta::assert_snapshot!("contract_grafana_datasource_unhealthy", msg);
}

#[tokio::test]
async fn dashboards_provisioned_in_their_folder() {
    let (_s, c) = grafana(HEALTHY).await;
    let v = checks::dashboards_provisioned(&c, &["fastapi-overview"], "FastAPI").await;
    assert!(v.is_passed(), "{v:?}");
    let msg = failed(&checks::dashboards_provisioned(&c, &["fastapi-overview", "llm-overview", "gone"], "FastAPI").await, &c);
    assert!(msg.contains("dashboard \"llm-overview\" at http://[mock]/api/dashboards/uid/llm-overview: meta.provisioned=false, folder \"General\" (want \"FastAPI\")"), "{msg}");
    insta::assert_snapshot!("contract_grafana_dashboards_wrong", msg);
}

#[tokio::test]
async fn ds_query_returns_frames() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/ds/query"))
        .and(body_partial_json(serde_json::json!({"queries": [{"datasource": {"uid": "prometheus"}}]})))
        .respond_with(json(200, "ds-query-prometheus.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/ds/query"))
        .and(body_partial_json(serde_json::json!({"queries": [{"datasource": {"uid": "loki"}}]})))
        .respond_with(json(200, "ds-query-loki.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/ds/query"))
        .and(body_partial_json(serde_json::json!({"queries": [{"expr": "{service=\"app\""}]})))
        .respond_with(json(400, "ds-query-error.json"))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/api/ds/query")).respond_with(json(200, "ds-query-empty.json")).with_priority(10).mount(&server).await;
    let c = GrafanaClient::new(server.uri());
    let (from, to) = (SystemTime::now() - Duration::from_secs(600), SystemTime::now());

    let r = c.ds_query("prometheus", "prometheus", "sum by (handler) (http_requests_total)", from, to).await.unwrap();
    let frame = &r.results["A"].frames[0];
    assert_eq!((frame.rows(), frame.field_names()), (2, vec!["Time", "Value"]));
    let v = checks::ds_query_returns_frames(&c, "prometheus", "prometheus", "sum(up)", from, to, WAIT).await;
    assert!(v.is_passed(), "{v:?}");
    let v = checks::ds_query_returns_frames(&c, "loki", "loki", "{service=\"app\"}", from, to, WAIT).await;
    assert!(v.is_passed() && v.text().contains("Line"), "{v:?}");

    // A query error inside the result is fatal at once; no frames is a failure after the wait.
    let r = c.ds_query("loki", "loki", "{service=\"app\"", from, to).await.unwrap();
    assert!(r.results["A"].error.as_deref().unwrap().contains("parse error"));
    let msg = failed(&checks::ds_query_returns_frames(&c, "loki", "loki", "{service=\"app\"", from, to, WAIT).await, &c);
    assert!(msg.contains("gave up waiting") && msg.contains("query error: parse error"), "{msg}");
    let msg = failed(&checks::ds_query_returns_frames(&c, "jaeger", "jaeger", "x", from, to, WAIT).await, &c);
    assert!(msg.contains("0 frame(s) without rows") && msg.contains("/api/ds/query"), "{msg}");
    insta::assert_snapshot!("contract_grafana_ds_query_empty", msg);
}

/// Grafana's Jaeger datasource against a Jaeger it works with (2.20: health,
/// trace by id, search) and against Jaeger ≥ 2.21 without the feature toggle
/// (the v1 routes the plugin calls answer 404): each check fails by name
/// with Grafana's message, at once rather than at its timeout.
#[tokio::test]
async fn jaeger_datasource_health_trace_and_search() {
    const ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (now, hour) = (SystemTime::now(), Duration::from_secs(3600));
    let (server, c) = grafana(HEALTHY).await;
    Mock::given(method("POST"))
        .and(path("/api/ds/query"))
        .and(body_partial_json(serde_json::json!({"queries": [{"datasource": {"uid": "jaeger"}, "queryType": "search", "service": "fastapi-backend"}]})))
        .respond_with(json(200, "ds-query-jaeger-search.json"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/ds/query"))
        .and(body_partial_json(serde_json::json!({"queries": [{"datasource": {"uid": "jaeger"}, "queryType": "", "query": ID}]})))
        .respond_with(json(200, "ds-query-jaeger-trace.json"))
        .mount(&server)
        .await;
    let v = checks::datasource_healthy(&c, "jaeger", WAIT).await;
    assert!(v.is_passed(), "{v:?}");
    let v = checks::jaeger_trace_via_grafana(&c, "jaeger", ID, now - hour, now, WAIT).await;
    assert!(v.is_passed() && v.text().contains("1 span(s)"), "{v:?}");
    let v = checks::jaeger_search_via_grafana(&c, "jaeger", "fastapi-backend", ID, now - hour, now, WAIT).await;
    assert!(v.is_passed() && v.text().contains("3 trace(s)"), "{v:?}");
    // A trace the search does not list.
    let v = checks::jaeger_search_via_grafana(&c, "jaeger", "fastapi-backend", "0000000000000000000000000000beef", now - hour, now, WAIT).await;
    assert!(failed(&v, &c).contains("3 trace(s) listed, not 0000000000000000000000000000beef"), "{v:?}");

    // Jaeger 2.21 behind Grafana 13.2 without the toggle.
    let broken = MockServer::start().await;
    Mock::given(method("GET")).and(path("/api/datasources/uid/jaeger/health")).respond_with(json(400, "datasource-health-jaeger-404.json")).mount(&broken).await;
    Mock::given(method("POST")).and(path("/api/ds/query")).respond_with(json(400, "ds-query-jaeger-404.json")).mount(&broken).await;
    let b = GrafanaClient::new(broken.uri());
    let v = checks::datasource_healthy(&b, "jaeger", WAIT).await;
    let msg = failed(&v, &b);
    assert!(msg.contains("ERROR \"request failed: 404 Not Found\"") && msg.contains("/api/datasources/uid/jaeger/health"), "{msg}");
    let started = std::time::Instant::now();
    let v = checks::jaeger_search_via_grafana(&b, "jaeger", "fastapi-backend", ID, now - hour, now, Duration::from_secs(30)).await;
    let search = failed(&v, &b);
    assert!(search.contains("query error: request failed: 404 Not Found") && started.elapsed() < Duration::from_secs(10), "final, not polled: {search}");
    let v = checks::jaeger_trace_via_grafana(&b, "jaeger", ID, now - hour, now, WAIT).await;
    assert!(failed(&v, &b).contains("request failed: 404 Not Found"), "{v:?}");
    insta::assert_snapshot!("contract_grafana_jaeger_2_21_search", search);
}
