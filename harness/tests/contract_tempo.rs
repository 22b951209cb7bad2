//! Contract tests of the Tempo client and its checks against Tempo's HTTP API
//! (`/api/v2/traces/{id}`, `/api/search`), on responses recorded from Tempo
//! v3.0.3 built from its upstream tag (`fixtures/tempo/README.md`): ids in base64,
//! an unknown id answered 200 with an empty trace, `no org id` (401) without a
//! tenant under multitenancy. Each check has a passing and a failing verdict, and
//! the correlation runs its trace half in Tempo. No Docker.

mod common;

use std::time::{Duration, SystemTime};

use obs_harness::backends::jaeger::{Attributes, SpanKind};
use obs_harness::backends::tempo::TempoClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::jaeger::{self as jchecks, CorrelateOptions, TraceExpectations, TraceStore};
use obs_harness::checks::tempo as checks;
use obs_harness::traffic::TrafficRecord;
use common::contract::{self, chat, record, sent};
use wiremock::matchers::{header, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);
const ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ERROR: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const LLM: &str = "7bf92f3577b34da6a3ce929d0e0e4739";
const UNKNOWN: &str = "00000000000000000000000000000042";

fn fixture(rel: &str) -> String {
    contract::fixture(format!("tempo/3.0.3/{rel}"))
}

fn json(rel: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(rel), "application/json")
}

/// A Tempo 3.0.3 serving the recorded traces; any other id: the empty trace it answers.
async fn tempo(search: &str) -> (MockServer, TempoClient) {
    let server = MockServer::start().await;
    for (id, rel) in [(ITEMS, "trace-items.json"), (ERROR, "trace-error.json"), (LLM, "trace-llm.json")] {
        Mock::given(path(format!("/api/v2/traces/{id}"))).respond_with(json(rel)).mount(&server).await;
    }
    Mock::given(path_regex("^/api/v2/traces/.+")).respond_with(json("trace-not-found.json")).with_priority(10).mount(&server).await;
    Mock::given(path("/api/search")).and(query_param("q", "{resource.service.name=\"fastapi-backend\"}")).respond_with(json(search)).mount(&server).await;
    let c = TempoClient::new(server.uri());
    (server, c)
}

fn traffic() -> TrafficRecord {
    record(vec![
        sent("GET", "/items/7", "/items/{item_id}", 200, ITEMS),
        sent("GET", "/error", "/error", 500, ERROR),
        chat(LLM),
    ])
}

fn exp() -> TraceExpectations {
    TraceExpectations::default()
}

/// The client reads Tempo's own bodies: base64 ids as hex, kinds, statuses,
/// resource attributes; an unknown id (200, empty trace) is "not found".
#[tokio::test]
async fn client_reads_tempos_trace_and_search_bodies() {
    let (_s, c) = tempo("search.json").await;
    let t = c.trace(ITEMS).await.unwrap().expect("trace-items.json");
    assert_eq!(t.trace_id, ITEMS);
    let server = t.server_spans().next().expect("a server span");
    assert_eq!((server.name.as_str(), server.kind, server.attr("http.response.status_code").as_deref()), ("GET /items/{item_id}", SpanKind::Server, Some("200")));
    assert_eq!(server.parent_span_id, "00f067aa0ba902b7", "the driver's parent span id, decoded from base64");
    assert_eq!(t.resource_of(server).and_then(|r| r.service_name()).as_deref(), Some("fastapi-backend"));
    assert!(c.trace(ERROR).await.unwrap().unwrap().server_spans().next().unwrap().is_error());
    assert!(c.trace(UNKNOWN).await.unwrap().is_none());
    let now = SystemTime::now();
    let found = c.search(&TempoClient::service_query("fastapi-backend"), now - Duration::from_secs(600), now, 100).await.unwrap();
    assert_eq!(found.iter().map(|f| f.trace_id.as_str()).collect::<Vec<_>>(), ["7bf92f3577b34da6a3ce929d0e0e4739", "6bf92f3577b34da6a3ce929d0e0e4738", "5bf92f3577b34da6a3ce929d0e0e4737", "4bf92f3577b34da6a3ce929d0e0e4736"]);
}

/// `tempo.traces`: every sampled trace by id with the expected spans; a trace Tempo
/// never received fails naming the id, the request and the URL it looked up.
#[tokio::test]
async fn traces_match_passes_and_fails_with_what_it_saw() {
    let (s, c) = tempo("search.json").await;
    let v = checks::traces_match(&c, &traffic(), &exp(), WAIT).await;
    assert!(v.is_passed(), "{}", v.text());
    let mut missing = traffic();
    missing.sent.push(sent("GET", "/items/8", "/items/{item_id}", 200, UNKNOWN));
    let v = checks::traces_match(&c, &missing, &exp(), WAIT).await;
    let Verdict::Failed { message } = &v else { panic!("{}", v.text()) };
    assert!(message.contains(UNKNOWN) && message.contains("GET /items/8") && message.contains("trace not found"), "{message}");
    assert!(message.contains(&format!("{}/api/v2/traces/<id>", s.uri())) && message.contains("poll(s)"), "{message}");
}

/// `tempo.search`: the sampled ids are among what TraceQL finds; one missing fails
/// naming the query URL and the ids it did not find.
#[tokio::test]
async fn traces_searchable_passes_and_fails_with_the_query() {
    let (_s, c) = tempo("search.json").await;
    assert!(checks::traces_searchable(&c, &traffic(), &exp(), WAIT).await.is_passed());
    let mut more = traffic();
    more.sent.push(sent("GET", "/items/9", "/items/{item_id}", 200, "8bf92f3577b34da6a3ce929d0e0e473a"));
    let v = checks::traces_searchable(&c, &more, &exp(), WAIT).await;
    let Verdict::Failed { message } = &v else { panic!("{}", v.text()) };
    assert!(message.contains("/api/search?q=%7Bresource.service.name%3D%22fastapi-backend%22%7D") && message.contains("8bf92f3577b34da6a3ce929d0e0e473a"), "{message}");
}

/// `tempo.tenant`: with multitenancy on, the tenant's lookup finds the trace and one
/// without `X-Scope-OrgID` is refused (401); a Tempo that answers it anyway fails.
#[tokio::test]
async fn the_tenant_is_enforced_or_the_check_fails() {
    let server = MockServer::start().await;
    Mock::given(path(format!("/api/v2/traces/{ITEMS}"))).and(header("X-Scope-OrgID", "team-a")).respond_with(json("trace-items.json")).mount(&server).await;
    Mock::given(path_regex("^/api/v2/traces/.+")).respond_with(ResponseTemplate::new(401).set_body_raw(fixture("no-org-id.txt"), "text/plain; charset=utf-8")).with_priority(10).mount(&server).await;
    let c = TempoClient::new(server.uri()).with_tenant("team-a");
    let v = checks::tenant_enforced(&c, ITEMS, WAIT).await;
    assert!(v.is_passed(), "{}", v.text());

    let open = MockServer::start().await;
    Mock::given(path(format!("/api/v2/traces/{ITEMS}"))).respond_with(json("trace-items.json")).mount(&open).await;
    let c = TempoClient::new(open.uri()).with_tenant("team-a");
    let v = checks::tenant_enforced(&c, ITEMS, WAIT).await;
    let Verdict::Failed { message } = &v else { panic!("{}", v.text()) };
    assert!(message.contains("answered 200") && message.contains("expected 401"), "{message}");
    // Without multitenancy there is nothing to enforce: not run, saying so.
    assert!(matches!(checks::tenant_enforced(&TempoClient::new(open.uri()), ITEMS, WAIT).await, Verdict::NotRun { .. }));
}

/// The correlation's trace half in Tempo: found, or failed naming Tempo's URL.
#[tokio::test]
async fn the_correlation_runs_its_trace_half_in_tempo() {
    let (_s, c) = tempo("search.json").await;
    let opts = CorrelateOptions::for_record(&traffic(), WAIT);
    let v = jchecks::correlate_in(ITEMS, Some(TraceStore::Tempo(&c)), None, None, &opts).await;
    assert!(v.is_passed() && v.text().contains("tempo: trace with"), "{}", v.text());
    let v = jchecks::correlate_in(UNKNOWN, Some(TraceStore::Tempo(&c)), None, None, &opts).await;
    assert!(v.is_failed() && v.text().contains("tempo: trace 00000000000000000000000000000042 missing at") && v.text().contains("/api/v2/traces/"), "{}", v.text());
}
