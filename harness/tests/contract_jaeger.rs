//! Contract tests of the Jaeger client and trace checks against the query
//! API's JSON shapes (`fixtures/jaeger/2.x/`, hand-written from the
//! documented v1 query JSON that Jaeger v2 keeps on 16686), plus the
//! cross-signal `correlate` over Jaeger, Loki and Prometheus fixtures.
//! No Docker.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use obs_harness::backends::jaeger::{JaegerClient, Tags};
use obs_harness::backends::loki::LokiClient;
use obs_harness::backends::prometheus::PrometheusClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::jaeger::{self as checks, CorrelateOptions, TraceExpectations};
use obs_harness::traffic::{LlmCall, Sent, TrafficRecord};
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn fixture(rel: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(status: u16, rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(rel), "application/json")
}

/// A Jaeger serving `traces` (id -> fixture); any other id is 404 "trace not found".
async fn jaeger(traces: &[(&str, &str)]) -> (MockServer, JaegerClient) {
    let server = MockServer::start().await;
    Mock::given(path("/api/services")).respond_with(json(200, "jaeger/2.x/services.json")).mount(&server).await;
    for (id, rel) in traces {
        Mock::given(path(format!("/api/traces/{id}"))).respond_with(json(200, rel)).mount(&server).await;
    }
    Mock::given(path("/api/traces")).respond_with(json(200, "jaeger/2.x/search-fastapi-backend.json")).mount(&server).await;
    Mock::given(wiremock::matchers::path_regex("^/api/traces/.+"))
        .respond_with(json(404, "jaeger/2.x/trace-not-found.json"))
        .with_priority(10)
        .mount(&server)
        .await;
    let c = JaegerClient::new(server.uri());
    (server, c)
}

fn sent(method: &str, path: &str, handler: &str, status: u16, trace_id: &str) -> Sent {
    Sent {
        method: method.into(),
        path: path.into(),
        handler: handler.into(),
        status,
        trace_id: trace_id.into(),
        echoed_trace_id: Some(trace_id.into()),
        llm: None,
    }
}

fn chat(trace_id: &str) -> Sent {
    Sent {
        llm: Some(LlmCall { model: "gpt-4o".into(), provider: "openai".into(), fail: None }),
        ..sent("POST", "/llm/chat", "/llm/chat", 200, trace_id)
    }
}

fn record(sent: Vec<Sent>) -> TrafficRecord {
    TrafficRecord { scenario: "contract".into(), started: SystemTime::now(), finished: SystemTime::now(), sent }
}

fn stable(v: &Verdict, bases: &[&str]) -> String {
    let mut text = v.text().to_owned();
    for (i, b) in bases.iter().enumerate() {
        text = text.replace(b, &format!("http://[mock{i}]"));
    }
    let text = regex::Regex::new(r"after \d+ poll\(s\) over \d+\.\ds").unwrap().replace_all(&text, "after [n] poll(s) over [t]s");
    regex::Regex::new(r"(start|end)=\d+\.\d+").unwrap().replace_all(&text, "$1=[t]").into_owned()
}

const ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ERROR: &str = "4bf92f3577b34da6a3ce929d0e0e4738";
const LLM: &str = "4bf92f3577b34da6a3ce929d0e0e473b";
const NONE: &str = "4bf92f3577b34da6a3ce929d0e0e4739";

#[tokio::test]
async fn parses_services_traces_and_search() {
    let (_s, c) = jaeger(&[(LLM, "jaeger/2.x/trace-llm.json")]).await;
    assert_eq!(c.services().await.unwrap(), ["fastapi-backend", "jaeger"]);

    let t = c.trace(LLM).await.unwrap().expect("trace");
    let server = t.span_named("POST /llm/chat").unwrap();
    assert_eq!(server.tag_str("http.response.status_code").as_deref(), Some("200"));
    assert_eq!(server.tag("http.response.status_code").unwrap().kind, "int64");
    let child = t.children_of(server).next().unwrap();
    assert_eq!((child.operation_name.as_str(), child.parent_id()), ("chat gpt-4o", Some(server.span_id.as_str())));
    let p = t.process_of(server).unwrap();
    assert_eq!((p.service_name.as_str(), p.tag_str("service.version").as_deref()), ("fastapi-backend", Some("0.1.0")));
    assert_eq!(t.server_spans().count(), 1);

    // Not found: HTTP 404 with errors [{code:404, msg:"trace not found"}].
    assert!(c.trace("00000000000000000000000000000bad").await.unwrap().is_none());

    // Search: `total` is 0 whatever data holds.
    assert!(fixture("jaeger/2.x/search-fastapi-backend.json").contains("\"total\":0"));
    let found = c.find_traces("fastapi-backend", Duration::from_secs(3600), 20).await.unwrap();
    assert_eq!(found.len(), 3);
}

#[tokio::test]
async fn empty_answers_and_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/services")).respond_with(json(200, "jaeger/2.x/services-empty.json")).mount(&server).await;
    Mock::given(path("/api/traces")).respond_with(json(200, "jaeger/2.x/search-empty.json")).mount(&server).await;
    // Some versions answer 200 with the not-found error in `errors`.
    Mock::given(path(format!("/api/traces/{ITEMS}"))).respond_with(json(200, "jaeger/2.x/trace-not-found.json")).mount(&server).await;
    let c = JaegerClient::new(server.uri());
    assert!(c.services().await.unwrap().is_empty());
    assert!(c.find_traces("fastapi-backend", Duration::from_secs(60), 5).await.unwrap().is_empty());
    assert!(c.trace(ITEMS).await.unwrap().is_none());
    let v = checks::service_present(&c, "fastapi-backend", WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed() && msg.contains("services: []") && msg.contains("/api/services"), "{msg}");
    insta::assert_snapshot!("contract_jaeger_service_missing", msg);
}

#[tokio::test]
async fn traces_match_the_requests_sent() {
    let (_s, c) = jaeger(&[
        (ITEMS, "jaeger/2.x/trace-items.json"),
        (ERROR, "jaeger/2.x/trace-error.json"),
        (LLM, "jaeger/2.x/trace-llm.json"),
        (NONE, "jaeger/2.x/trace-none-handler.json"),
    ])
    .await;
    assert!(checks::service_present(&c, "fastapi-backend", WAIT).await.is_passed());
    let rec = record(vec![
        sent("GET", "/items/1", "/items/{item_id}", 200, ITEMS),
        sent("GET", "/error", "/error", 500, ERROR),
        sent("GET", "/does-not-exist", "none", 404, NONE),
        chat(LLM),
    ]);
    let v = checks::traces_match(&c, &rec, &TraceExpectations::default(), WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    // A missing trace id, a wrong status, and a wrong model.
    let mut wrong_model = chat(LLM);
    wrong_model.llm.as_mut().unwrap().model = "claude-3-5-sonnet".into();
    let rec = record(vec![
        sent("GET", "/items/2", "/items/{item_id}", 200, "0000000000000000000000000000beef"),
        sent("GET", "/items/1", "/items/{item_id}", 404, ITEMS),
        wrong_model,
    ]);
    let v = checks::traces_match(&c, &rec, &TraceExpectations::default(), WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed(), "{v:?}");
    assert!(msg.contains("0000000000000000000000000000beef (GET /items/2 -> 200): trace not found"), "{msg}");
    assert!(msg.contains("tag http.response.status_code=\"200\" (want \"404\")"), "{msg}");
    assert!(msg.contains("no child span \"chat claude-3-5-sonnet\" under \"POST /llm/chat\""), "{msg}");
    insta::assert_snapshot!("contract_jaeger_traces_mismatch", msg);
}

#[tokio::test]
async fn errors_llm_children_and_resource_tags_are_required() {
    let (_s, c) = jaeger(&[(ERROR, "jaeger/2.x/trace-error-unmarked-no-resource.json"), (LLM, "jaeger/2.x/trace-llm-without-child.json")]).await;
    let rec = record(vec![sent("GET", "/error", "/error", 500, ERROR), chat(LLM)]);
    let v = checks::traces_match(&c, &rec, &TraceExpectations::default(), WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed(), "{v:?}");
    assert!(msg.contains("is not marked error=true / otel.status_code=ERROR"), "{msg}");
    assert!(msg.contains("process lacks tag service.version (want \"0.1.0\")"), "{msg}");
    assert!(msg.contains("no child span \"chat gpt-4o\""), "{msg}");
    insta::assert_snapshot!("contract_jaeger_error_and_resource_missing", msg);
}

#[tokio::test]
async fn correlate_across_signals() {
    let (_j, jc) = jaeger(&[(ERROR, "jaeger/2.x/trace-error.json")]).await;
    let loki = MockServer::start().await;
    Mock::given(path("/loki/api/v1/query_range"))
        .respond_with(json(200, "loki/3.4.6/hand-app-request-lines.json"))
        .mount(&loki)
        .await;
    let lc = LokiClient::new(loki.uri()).with_tenant("docker");
    let prom = MockServer::start().await;
    Mock::given(path("/api/v1/query_exemplars")).respond_with(json(200, "prometheus/2.42.0/query-exemplars.json")).mount(&prom).await;
    let pc = PrometheusClient::new(prom.uri());
    let rec = record(vec![sent("GET", "/error", "/error", 500, ERROR)]);
    let opts = CorrelateOptions::for_record(&rec, WAIT);

    let v = checks::correlate(ERROR, Some(&jc), Some(&lc), Some(&pc), &opts).await;
    assert!(v.is_passed(), "{v:?}");
    assert!(v.text().contains("jaeger:") && v.text().contains("loki:") && v.text().contains("prometheus:"), "{v:?}");

    // No Prometheus client: passed, listing the part not run.
    let v = checks::correlate(ERROR, Some(&jc), Some(&lc), None, &opts).await;
    assert!(v.is_passed() && v.text().contains("not run: prometheus: no Prometheus client"), "{v:?}");
    let v = checks::correlate(ERROR, None, None, None, &opts).await;
    assert!(matches!(v, Verdict::NotRun { .. }), "{v:?}");

    // An id only Loki knows (logged, but neither traced nor an exemplar).
    let logged_only = "4bf92f3577b34da6a3ce929d0e0e4736";
    let v = checks::correlate(logged_only, Some(&jc), Some(&lc), Some(&pc), &opts).await;
    let msg = stable(&v, &[jc.base_url(), lc.base_url(), pc.base_url()]);
    assert!(v.is_failed(), "{v:?}");
    assert!(msg.contains(&format!("jaeger: trace {logged_only} missing")) && msg.contains("(found in loki)"), "{msg}");
    assert!(msg.contains(&format!("prometheus: trace id {logged_only} is no exemplar")), "{msg}");
    insta::assert_snapshot!("contract_jaeger_correlate_partial", msg);
}
