//! Contract tests of the Jaeger client and trace checks against the api_v3
//! HTTP gateway (`/api/v3/...`), the query API Jaeger 2.x serves on 16686:
//! - upstream's own api_v3 response data, read in place from
//!   `$OBS_UPSTREAM_SHAPES_DIR/jaeger-api-v3/` (Jaeger v2.20.0 gateway
//!   snapshots and a real 40-span HotROD capture; provenance in its INDEX.md),
//!   so the client is proven on real bodies;
//! - `fixtures/jaeger/api_v3/`: the reference app's spans in that shape (its
//!   README), with a test that their keys are those of the upstream capture;
//! - a Jaeger serving the 2.21 behaviour (v1 `/api/services`, `/api/traces`
//!   removed: 404 `text/plain`), which the v1 client failed;
//! - the cross-signal `correlate` over Jaeger, Loki and Prometheus fixtures.
//!
//! No Docker.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use obs_harness::backends::jaeger::{Attributes, JaegerClient, SpanKind};
use obs_harness::backends::loki::LokiClient;
use obs_harness::backends::prometheus::PrometheusClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::jaeger::{self as checks, CorrelateOptions, TraceExpectations};
use common::contract::{self, chat, fixture, record, sent, upstream};
use wiremock::matchers::{path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn json(status: u16, rel: &str) -> ResponseTemplate {
    contract::json(status, fixture(rel))
}

/// api_v3 writes its errors with Go's `http.Error`: `text/plain`.
fn text(status: u16, rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture(rel), "text/plain; charset=utf-8")
}

/// A Jaeger 2.21 query service: api_v3 serving `traces` (id -> fixture), any
/// other id "No traces found"; of the v1 API only `/api/traces/{id}` is left,
/// `/api/services` and search answer 404 `404 page not found`.
async fn jaeger(traces: &[(&str, &str)]) -> (MockServer, JaegerClient) {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/services")).respond_with(json(200, "jaeger/api_v3/services.json")).mount(&server).await;
    Mock::given(path("/api/v3/operations")).respond_with(json(200, "jaeger/api_v3/operations.json")).mount(&server).await;
    for (id, rel) in traces {
        Mock::given(path(format!("/api/v3/traces/{id}"))).respond_with(json(200, rel)).mount(&server).await;
    }
    Mock::given(path("/api/v3/traces"))
        .and(query_param("query.serviceName", "fastapi-backend"))
        .respond_with(json(200, "jaeger/api_v3/search.json"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/traces")).respond_with(text(404, "jaeger/api_v3/not-found.txt")).with_priority(10).mount(&server).await;
    Mock::given(path_regex("^/api/v3/traces/.+")).respond_with(text(404, "jaeger/api_v3/not-found.txt")).with_priority(10).mount(&server).await;
    // What #9260 left of v1: trace by id only; everything else under /api/ is the catch-all 404.
    Mock::given(path_regex("^/api/(services|operations|traces$)")).respond_with(text(404, "jaeger/api_v3/route-removed.txt")).with_priority(5).mount(&server).await;
    let c = JaegerClient::new(server.uri());
    (server, c)
}

fn stable(v: &Verdict, bases: &[&str]) -> String {
    contract::stable(v.text(), bases)
}

const ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ERROR: &str = "4bf92f3577b34da6a3ce929d0e0e4738";
const LLM: &str = "4bf92f3577b34da6a3ce929d0e0e473b";
const NONE: &str = "4bf92f3577b34da6a3ce929d0e0e4739";

/// The client reads upstream's own api_v3 bodies: the v2.20.0 gateway
/// snapshots and the real HotROD capture.
#[tokio::test]
async fn shapes_client_reads_upstream_api_v3_bodies() {
    let server = MockServer::start().await;
    let body = |rel: &str| ResponseTemplate::new(200).set_body_raw(upstream(rel), "application/json");
    Mock::given(path("/api/v3/services")).respond_with(body("jaeger-api-v3/GetServices.json")).mount(&server).await;
    Mock::given(path("/api/v3/operations")).and(query_param("service", "foo")).respond_with(body("jaeger-api-v3/GetOperations.json")).mount(&server).await;
    Mock::given(path("/api/v3/traces/1")).respond_with(body("jaeger-api-v3/GetTrace.json")).mount(&server).await;
    Mock::given(path("/api/v3/traces/2ea75461946a7dd10f2c15ab36a076cb"))
        .respond_with(body("jaeger-api-v3/GetTrace.hotrod-capture.jaeger-ui-pr4129.json"))
        .mount(&server)
        .await;
    Mock::given(path("/api/v3/traces")).and(query_param("query.serviceName", "foo")).respond_with(body("jaeger-api-v3/FindTraces.json")).mount(&server).await;
    let c = JaegerClient::new(server.uri());

    assert_eq!(c.services().await.unwrap(), ["foo"]);
    let ops = c.operations("foo").await.unwrap();
    assert_eq!((ops[0].name.as_str(), ops[0].span_kind.as_str()), ("get_users", "server"));

    // Trace id "1" is hex, left-padded to 32 characters in the answer.
    let t = c.trace("1").await.unwrap().expect("GetTrace snapshot");
    assert_eq!((t.spans.len(), t.spans[0].name.as_str(), t.spans[0].kind), (1, "foobar", SpanKind::Server));
    assert!(t.spans[0].is_error(), "status.code 2 is error: {:?}", t.spans[0].status);

    let now = SystemTime::now();
    let found = c.find_traces("foo", now - Duration::from_secs(3600), now, 10).await.unwrap();
    assert_eq!(found.len(), 1);

    // The real capture: 40 spans over 6 resources, int attributes as strings, status {} = OK.
    let t = c.trace("2ea75461946a7dd10f2c15ab36a076cb").await.unwrap().expect("HotROD capture");
    assert_eq!(t.spans.len(), 40);
    let services: BTreeSet<String> = t.spans.iter().filter_map(|s| t.resource_of(s)).filter_map(|r| r.service_name()).collect();
    assert_eq!(services.into_iter().collect::<Vec<_>>(), ["customer", "driver", "frontend", "mysql", "redis-manual", "route"]);
    let client = t.spans.iter().find(|s| s.span_id == "9082d67808fc8870").unwrap();
    assert_eq!((client.name.as_str(), client.kind), ("HTTP GET", SpanKind::Client));
    assert_eq!(client.attr("http.response.status_code").as_deref(), Some("200"));
    assert!(!client.is_error());
    let parent = t.spans.iter().find(|s| s.span_id == client.parent_span_id).expect("parent in the trace");
    assert!(t.children_of(parent).any(|s| s.span_id == client.span_id));
    assert!(t.spans.iter().any(|s| s.is_error()), "the capture holds error spans (status code 2)");
}

/// Every key our fixtures use, at its place in the document, also occurs
/// in upstream's real capture or gateway snapshots: the fixtures are in the
/// real shape, not one of our own.
#[test]
fn shapes_fixtures_use_only_keys_of_the_real_shapes() {
    fn paths(v: &serde_json::Value, at: &str, out: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let p = format!("{at}.{k}");
                    out.insert(p.clone());
                    paths(x, &p, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| paths(x, &format!("{at}[]"), out)),
            _ => {}
        }
    }
    let mut real = BTreeSet::new();
    for f in ["GetTrace.hotrod-capture.jaeger-ui-pr4129.json", "GetTrace.json", "FindTraces.json", "GetServices.json", "GetOperations.json"] {
        paths(&serde_json::from_str(&upstream(&format!("jaeger-api-v3/{f}"))).unwrap(), "", &mut real);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/jaeger/api_v3");
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let mut ours = BTreeSet::new();
        paths(&serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(), "", &mut ours);
        let foreign: Vec<&String> = ours.difference(&real).collect();
        assert!(foreign.is_empty(), "{}: keys upstream never sends: {foreign:?}", p.display());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} fixture(s) checked");
}

/// Jaeger 2.21 removed v1 `/api/services` and search (#9260). The client
/// answers from api_v3; a route that is missing altogether is a final,
/// named error, not a poll until the timeout.
#[tokio::test]
async fn works_against_jaeger_2_21_and_names_a_missing_api() {
    let (_s, c) = jaeger(&[(LLM, "jaeger/api_v3/trace-llm.json")]).await;
    // The 2.21 behaviour the v1 client called: 404 text/plain.
    let removed = reqwest::get(format!("{}/api/services", c.base_url())).await.unwrap();
    assert_eq!(removed.status(), 404);
    assert_eq!(removed.text().await.unwrap(), "404 page not found\n");

    assert_eq!(c.services().await.unwrap(), ["fastapi-backend", "jaeger"]);
    assert!(checks::service_present(&c, "fastapi-backend", WAIT).await.is_passed());
    let t = c.trace(LLM).await.unwrap().expect("trace");
    let server = t.span_named("POST /llm/chat").unwrap();
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.attr("http.response.status_code").as_deref(), Some("200"));
    let child = t.children_of(server).next().unwrap();
    assert_eq!((child.name.as_str(), child.parent_span_id.as_str(), child.kind), ("chat gpt-4o", server.span_id.as_str(), SpanKind::Client));
    let r = t.resource_of(server).unwrap();
    assert_eq!((r.service_name().as_deref(), r.attr("service.version").as_deref()), (Some("fastapi-backend"), Some("0.1.0")));

    // Not found: 404 {"error":{"httpCode":404,"message":"No traces found"}} as text/plain.
    assert!(c.trace("00000000000000000000000000000bad").await.unwrap().is_none());
    let now = SystemTime::now();
    assert!(c.find_traces("nobody", now - Duration::from_secs(60), now, 5).await.unwrap().is_empty());
    // Search merges every trace into one TracesData: grouped by trace id here.
    let found = c.find_traces("fastapi-backend", now - Duration::from_secs(3600), now, 20).await.unwrap();
    assert_eq!(found.len(), 3);

    // A Jaeger without api_v3 at all (wrong port, or a v1 query service).
    let bare = MockServer::start().await;
    Mock::given(path_regex("^/api/")).respond_with(text(404, "jaeger/api_v3/route-removed.txt")).mount(&bare).await;
    let b = JaegerClient::new(bare.uri());
    let e = b.services().await.unwrap_err().to_string();
    assert!(e.contains("/api/v3/services") && e.contains("does not serve the api_v3"), "{e}");
    let started = std::time::Instant::now();
    let v = checks::service_present(&b, "fastapi-backend", Duration::from_secs(30)).await;
    assert!(v.is_failed() && started.elapsed() < Duration::from_secs(10), "a missing API is final: {v:?}");
}

#[tokio::test]
async fn empty_answers_and_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v3/services")).respond_with(json(200, "jaeger/api_v3/services-empty.json")).mount(&server).await;
    Mock::given(path_regex("^/api/v3/traces")).respond_with(text(404, "jaeger/api_v3/not-found.txt")).mount(&server).await;
    let c = JaegerClient::new(server.uri());
    assert!(c.services().await.unwrap().is_empty());
    let now = SystemTime::now();
    assert!(c.find_traces("fastapi-backend", now - Duration::from_secs(60), now, 5).await.unwrap().is_empty());
    assert!(c.trace(ITEMS).await.unwrap().is_none());
    let v = checks::service_present(&c, "fastapi-backend", WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed() && msg.contains("services: []") && msg.contains("/api/v3/services"), "{msg}");
    insta::assert_snapshot!("contract_jaeger_service_missing", msg);
    // Search finds nothing: the ids and the search URL are named.
    let v = checks::traces_searchable(&c, &record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, ITEMS)]), &TraceExpectations::default(), WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed() && msg.contains(ITEMS) && msg.contains("/api/v3/traces?query.serviceName=fastapi-backend"), "{msg}");
    insta::assert_snapshot!("contract_jaeger_search_empty", msg);
}

#[tokio::test]
async fn sampled_traces_are_found_by_search() {
    let (_s, c) = jaeger(&[]).await;
    let rec = record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, ITEMS), sent("GET", "/error", "/error", 500, ERROR), chat(LLM)]);
    let v = checks::traces_searchable(&c, &rec, &TraceExpectations::default(), WAIT).await;
    assert!(v.is_passed(), "{v:?}");
    // An id the search does not return.
    let rec = record(vec![sent("GET", "/items/1", "/items/{item_id}", 200, ITEMS), sent("GET", "/x", "none", 404, NONE)]);
    let v = checks::traces_searchable(&c, &rec, &TraceExpectations::default(), WAIT).await;
    assert!(v.is_failed() && v.text().contains(NONE) && !v.text().contains(&format!("{ITEMS},")), "{v:?}");
}

#[tokio::test]
async fn traces_match_the_requests_sent() {
    let (_s, c) = jaeger(&[
        (ITEMS, "jaeger/api_v3/trace-items.json"),
        (ERROR, "jaeger/api_v3/trace-error.json"),
        (LLM, "jaeger/api_v3/trace-llm.json"),
        (NONE, "jaeger/api_v3/trace-none-handler.json"),
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
    assert!(msg.contains("attribute http.response.status_code=\"200\" (want \"404\")"), "{msg}");
    assert!(msg.contains("no child span \"chat claude-3-5-sonnet\" under \"POST /llm/chat\""), "{msg}");
    insta::assert_snapshot!("contract_jaeger_traces_mismatch", msg);
}

#[tokio::test]
async fn errors_llm_children_and_resource_tags_are_required() {
    let (_s, c) = jaeger(&[(ERROR, "jaeger/api_v3/trace-error-unmarked-no-resource.json"), (LLM, "jaeger/api_v3/trace-llm-without-child.json")]).await;
    let rec = record(vec![sent("GET", "/error", "/error", 500, ERROR), chat(LLM)]);
    let v = checks::traces_match(&c, &rec, &TraceExpectations::default(), WAIT).await;
    let msg = stable(&v, &[c.base_url()]);
    assert!(v.is_failed(), "{v:?}");
    assert!(msg.contains("does not have error status (status.code 2)"), "{msg}");
    assert!(msg.contains("resource lacks attribute service.version (want \"0.1.0\")"), "{msg}");
    assert!(msg.contains("no child span \"chat gpt-4o\""), "{msg}");
    insta::assert_snapshot!("contract_jaeger_error_and_resource_missing", msg);
}

#[tokio::test]
async fn correlate_across_signals() {
    let (_j, jc) = jaeger(&[(ERROR, "jaeger/api_v3/trace-error.json")]).await;
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
