//! Contract tests of declared expectations (`checks::expect`) against
//! wiremock doubles serving the recorded upstream answers under `fixtures/`
//! (Prometheus 2.42, Loki 3.4.6 with its tenant, Jaeger's api_v3, Tempo
//! 3.0.3): each kind passes on one recording and fails on another, and a
//! failure names the query and what was last seen, with polls and time.
//! Each expectation is read from scenario YAML, so it is validated first.
//! No Docker.

mod common;

use std::path::Path;
use std::time::Duration;

use obs_harness::backends::jaeger::JaegerClient;
use obs_harness::backends::loki::LokiClient;
use obs_harness::backends::prometheus::PrometheusClient;
use obs_harness::backends::tempo::TempoClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::expect::{self, Before, ExpectContext};
use obs_harness::checks::jaeger::TraceStore;
use obs_harness::traffic::expectations::Expectation;
use obs_harness::traffic::{Scenario, Sent, TrafficRecord};
use common::contract::{self, chat, fixture, record};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn json(status: u16, rel: &str) -> ResponseTemplate {
    contract::json(status, fixture(rel))
}

/// The recorded Prometheus vector answer `rel`, keeping the series `keep` selects
/// (what Prometheus answers for a narrower selector).
fn vector_where(rel: &str, keep: impl Fn(&serde_json::Value) -> bool) -> ResponseTemplate {
    let mut v: serde_json::Value = serde_json::from_str(&fixture(rel)).unwrap();
    v["data"]["result"].as_array_mut().unwrap().retain(|s| keep(&s["metric"]));
    ResponseTemplate::new(200).set_body_raw(v.to_string(), "application/json")
}

/// The scenario's steps (indices 0, 1, 2) that the requests below belong to.
const STEPS: &str = "name: contract\nsteps:\n  - { method: GET, path: /items/1, route: \"/items/{item_id}\" }\n  - { method: POST, path: /llm/chat }\n  - { method: GET, path: /error }\n";

/// One expectation, read (and validated) from scenario YAML.
fn expectation(yaml: &str) -> Expectation {
    let text = format!("{STEPS}expect:\n{yaml}");
    Scenario::parse(&text, Path::new("contract.yaml")).unwrap_or_else(|e| panic!("{e}")).expect.remove(0)
}

/// A request sent by the scenario's `step`.
fn sent(step: usize, method: &str, path: &str, handler: &str, status: u16, trace_id: &str) -> Sent {
    Sent { step, ..contract::sent(method, path, handler, status, trace_id) }
}

struct Clients {
    prometheus: Option<PrometheusClient>,
    loki: Option<LokiClient>,
    jaeger: Option<JaegerClient>,
    tempo: Option<TempoClient>,
    app: Option<String>,
}

impl Clients {
    fn none() -> Self {
        Self { prometheus: None, loki: None, jaeger: None, tempo: None, app: None }
    }

    async fn eval(&self, e: &Expectation, record: &TrafficRecord, before: &Before) -> Verdict {
        let traces = self.jaeger.as_ref().map(TraceStore::Jaeger).or(self.tempo.as_ref().map(TraceStore::Tempo));
        let ctx = ExpectContext {
            prometheus: self.prometheus.as_ref(),
            loki: self.loki.as_ref(),
            traces,
            app_url: self.app.as_deref(),
            record,
            before,
            timeout: WAIT,
        };
        expect::evaluate(e, &ctx).await
    }
}

/// The verdict's text with the mock's address and the wait's timing made stable.
fn failed(v: &Verdict, server: &MockServer) -> String {
    contract::failed(v, &[&server.uri()])
}

fn passed(v: &Verdict) -> &str {
    assert!(v.is_passed(), "expected a passed verdict, got {v:?}");
    v.text()
}

// --- PromQL -----------------------------------------------------------------

const HTTP: &str = "sum by (handler, method, status) (http_requests_total{job=\"fastapi\"})";

async fn prometheus() -> (MockServer, Clients) {
    let server = MockServer::start().await;
    for (q, rel) in [("scalar(sum(up))", "prometheus/2.42.0/query-scalar.json"), (HTTP, "prometheus/2.42.0/query-vector-http-requests.json"), ("none", "prometheus/2.42.0/query-vector-empty.json")] {
        Mock::given(path("/api/v1/query")).and(query_param("query", q)).respond_with(json(200, rel)).mount(&server).await;
    }
    Mock::given(path("/api/v1/query")).and(query_param("query", "rate(x[5m]")).respond_with(json(400, "prometheus/2.42.0/query-bad-data.json")).mount(&server).await;
    let c = Clients { prometheus: Some(PrometheusClient::new(server.uri()).with_timeout(Duration::from_secs(2))), ..Clients::none() };
    (server, c)
}

#[tokio::test]
async fn promql_value_compares_every_series() {
    let (s, c) = prometheus().await;
    let r = record(vec![]);
    let ok = c.eval(&expectation("  - { name: up, promql: 'scalar(sum(up))', value: \">= 1\" }\n"), &r, &Before::empty()).await;
    assert_eq!(passed(&ok), "PromQL `scalar(sum(up))`: every value >= 1 (1 series: {} = 2)");
    let v = c.eval(&expectation("  - { name: up, promql: 'scalar(sum(up))', value: { between: [3, 5] } }\n"), &r, &Before::empty()).await;
    assert_eq!(
        failed(&v, &s),
        "PromQL `scalar(sum(up))` (http://[mock]/api/v1/query?query=scalar%28sum%28up%29%29): timed out waiting for every value of \
         `scalar(sum(up))` between 3 and 5 after [n] poll(s) over [t]s; last observed: 1 of 1 series: {} = 2"
    );
}

#[tokio::test]
async fn promql_series_and_labels() {
    let (s, c) = prometheus().await;
    let r = record(vec![]);
    let yaml = |assert: &str| format!("  - name: http\n    promql: '{HTTP}'\n    {assert}\n");
    assert!(passed(&c.eval(&expectation(&yaml("series: 8")), &r, &Before::empty()).await).starts_with("PromQL `sum by"));
    let v = c.eval(&expectation(&yaml("series: { min: 9 }")), &r, &Before::empty()).await;
    let m = failed(&v, &s);
    assert!(m.starts_with(&format!("PromQL `{HTTP}` (http://[mock]/api/v1/query?query=")), "{m}");
    assert!(m.contains("timed out waiting for at least 9 series of `sum by") && m.contains("after [n] poll(s) over [t]s"), "{m}");
    assert!(m.contains("last observed: 8 series: {handler=\"/error\",method=\"GET\",status=\"5xx\"} = 1,") && m.ends_with("(want at least 9)"), "{m}");

    assert!(c.eval(&expectation(&yaml("labels: [handler, method, status]")), &r, &Before::empty()).await.is_passed());
    let m = failed(&c.eval(&expectation(&yaml("labels: [handler, route]")), &r, &Before::empty()).await, &s);
    assert!(m.contains("every series of `sum by (handler, method, status) (http_requests_total{job=\"fastapi\"})` labelled handler, route"), "{m}");
    assert!(m.contains("last observed: {handler=\"/error\",method=\"GET\",status=\"5xx\"} lacks route"), "{m}");
}

#[tokio::test]
async fn promql_absent_and_api_errors() {
    let (s, c) = prometheus().await;
    let r = record(vec![]);
    assert_eq!(passed(&c.eval(&expectation("  - { name: gone, promql: none, absent: true }\n"), &r, &Before::empty()).await), "PromQL `none`: no series");
    let m = failed(&c.eval(&expectation(&format!("  - name: gone\n    promql: '{HTTP}'\n    absent: true\n")), &r, &Before::empty()).await, &s);
    assert!(m.contains("to return nothing after [n] poll(s)") && m.contains("last observed: 8 series:"), "{m}");
    // Prometheus refuses the query: no point in waiting.
    let e = Expectation { promql: Some("rate(x[5m]".into()), ..expectation("  - { name: bad, promql: up, series: 1 }\n") };
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.contains("gave up waiting for exactly 1 series of `rate(x[5m]`") && m.contains("API error bad_data"), "{m}");
}

/// A Prometheus whose `/items` counter answers the recorded "before", then the recorded "after" (2 -> 5).
async fn items_counter() -> (MockServer, Clients) {
    let server = MockServer::start().await;
    let items = |m: &serde_json::Value| m["handler"] == "/items/{item_id}";
    Mock::given(path("/api/v1/query"))
        .respond_with(vector_where("prometheus/2.42.0/query-vector-http-requests.json", items))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/v1/query")).respond_with(vector_where("prometheus/2.42.0/query-vector-http-requests-after.json", items)).mount(&server).await;
    let c = Clients { prometheus: Some(PrometheusClient::new(server.uri())), ..Clients::none() };
    (server, c)
}

#[tokio::test]
async fn promql_increase_by_requests_counts_what_was_sent() {
    let r = record(vec![
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, "a1"),
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, "a2"),
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, "a3"),
        sent(2, "GET", "/error", "/error", 500, "a4"),
    ]);
    let yaml = |filter: &str| format!("  - name: items\n    promql: 'http_requests_total{{handler=\"/items/{{item_id}}\"}}'\n    increase_by_requests: {filter}\n");

    let (_s, c) = items_counter().await;
    let e = expectation(&yaml("{ steps: [0], status: 2xx }"));
    let before = expect::before(std::slice::from_ref(&e), c.prometheus.as_ref()).await;
    let d = passed(&c.eval(&e, &r, &before).await).to_owned();
    assert!(d.starts_with("PromQL `http_requests_total{handler=\"/items/{item_id}\"}`: increase 3 over 1 series"), "{d}");
    assert!(d.contains("{handler=\"/items/{item_id}\",method=\"GET\",status=\"2xx\"} 2 -> 5"), "{d}");

    let (s, c) = items_counter().await;
    let e = expectation(&yaml("{ steps: [0, 2] }"));
    let before = expect::before(std::slice::from_ref(&e), c.prometheus.as_ref()).await;
    let m = failed(&c.eval(&e, &r, &before).await, &s);
    assert!(m.starts_with("PromQL `http_requests_total{handler=\"/items/{item_id}\"}` (http://[mock]/api/v1/query?query="), "{m}");
    assert!(m.contains("to increase by the 4 request(s) sent matching {steps: [0, 2]} after [n] poll(s) over [t]s"), "{m}");
    assert!(m.contains("last observed: increase 3 over 1 series") && m.ends_with("; want 4"), "{m}");

    // Without the snapshot before the traffic there is nothing to compare with.
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.contains("no snapshot of `http_requests_total{handler=\"/items/{item_id}\"}` before the traffic (hint: call checks::expect::before"), "{m}");
}

// --- LogQL ------------------------------------------------------------------

const APP_LINES: &str = "{service=\"app\"} | json";

/// A Loki demanding tenant `docker`, answering the app's request lines (or a matrix to a metric query).
async fn loki() -> (MockServer, Clients) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/loki/api/v1/query_range"))
        .and(query_param("query", APP_LINES))
        .and(header("X-Scope-OrgID", "docker"))
        .respond_with(json(200, "loki/3.4.6/hand-app-request-lines.json"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/loki/api/v1/query_range"))
        .and(header("X-Scope-OrgID", "docker"))
        .respond_with(json(200, "loki/3.4.6/28-query-range-matrix.json"))
        .with_priority(5)
        .mount(&server)
        .await;
    let c = Clients { loki: Some(LokiClient::new(server.uri()).with_tenant("docker")), ..Clients::none() };
    (server, c)
}

fn logged() -> TrafficRecord {
    record(vec![
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, "4bf92f3577b34da6a3ce929d0e0e4736"),
        sent(0, "GET", "/items/2", "/items/{item_id}", 200, "4bf92f3577b34da6a3ce929d0e0e4737"),
        sent(2, "GET", "/error", "/error", 500, "4bf92f3577b34da6a3ce929d0e0e4738"),
        sent(2, "GET", "/error", "/error", 500, "0000000000000000000000000000dead"),
    ])
}

#[tokio::test]
async fn logql_lines_labels_regex_and_trace_ids() {
    let (s, c) = loki().await;
    let r = logged();
    let e = expectation(&format!(
        "  - name: lines\n    logql: '{APP_LINES}'\n    lines: {{ min: 9 }}\n    labels: [service, env]\n    regex: {{ every: '\"level\":\"(ERROR|INFO)\"' }}\n    trace_ids: {{ steps: [0] }}\n"
    ));
    assert_eq!(passed(&c.eval(&e, &r, &Before::empty()).await), "LogQL `{service=\"app\"} | json`: 9 line(s) in 2 stream(s), every assertion holds (tenant `docker`)");

    let e = expectation(&format!("  - name: lines\n    logql: '{APP_LINES}'\n    regex: {{ none: 'ERROR' }}\n    trace_ids: {{ steps: [2] }}\n    labels: [service, region]\n"));
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.starts_with("LogQL `{service=\"app\"} | json` (tenant `docker`, http://[mock]/loki/api/v1/query_range?query="), "{m}");
    assert!(m.contains("timed out waiting for the lines of `{service=\"app\"} | json` to satisfy the expectation after [n] poll(s) over [t]s"), "{m}");
    assert!(m.contains("last observed: 9 line(s) in 2 stream(s); stream {container=\"api\","), "{m}");
    assert!(m.contains("lacks region"), "{m}");
    assert!(m.contains("3 line(s) match /ERROR/, e.g. \"{\\\"timestamp\\\""), "{m}");
    assert!(m.contains("no line for 1 of 2 trace id(s): 0000000000000000000000000000dead (GET /error -> 500)"), "{m}");
}

#[tokio::test]
async fn logql_metric_queries_fail_at_once() {
    let (s, c) = loki().await;
    let e = expectation("  - name: rate\n    logql: 'sum(rate({service=\"app\"}[1m]))'\n    lines: 1\n");
    let m = failed(&c.eval(&e, &logged(), &Before::empty()).await, &s);
    assert!(m.contains("gave up waiting for the lines of") && m.contains("is a metric query (it answered a matrix)"), "{m}");
}

// --- Traces -----------------------------------------------------------------

const ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ERROR: &str = "4bf92f3577b34da6a3ce929d0e0e4738";
const LLM: &str = "4bf92f3577b34da6a3ce929d0e0e473b";
const MISSING: &str = "00000000000000000000000000000042";

/// A Jaeger (api_v3) serving the reference app's recorded traces and search.
async fn jaeger() -> (MockServer, Clients) {
    let server = MockServer::start().await;
    for (id, rel) in [(ITEMS, "trace-items.json"), (ERROR, "trace-error.json"), (LLM, "trace-llm.json")] {
        Mock::given(path(format!("/api/v3/traces/{id}"))).respond_with(json(200, &format!("jaeger/api_v3/{rel}"))).mount(&server).await;
    }
    Mock::given(path("/api/v3/traces"))
        .and(query_param("query.serviceName", "fastapi-backend"))
        .respond_with(json(200, "jaeger/api_v3/search.json"))
        .mount(&server)
        .await;
    let not_found = ResponseTemplate::new(404).set_body_raw(fixture("jaeger/api_v3/not-found.txt"), "text/plain; charset=utf-8");
    Mock::given(path_regex("^/api/v3/traces")).respond_with(not_found).with_priority(10).mount(&server).await;
    let c = Clients { jaeger: Some(JaegerClient::new(server.uri())), ..Clients::none() };
    (server, c)
}

fn traced() -> TrafficRecord {
    record(vec![
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, ITEMS),
        Sent { step: 1, ..chat(LLM) },
        sent(2, "GET", "/error", "/error", 500, ERROR),
    ])
}

const SERVER_SPAN: &str = "      - name: \"{method} {route}\"\n        kind: server\n        attributes: [\"http.route={route}\", \"http.response.status_code={status}\", url.scheme]\n";

#[tokio::test]
async fn traces_by_request_with_span_assertions() {
    let (s, c) = jaeger().await;
    let r = traced();
    let e = expectation(&format!(
        "  - name: llm\n    traces: {{ by_request: {{ steps: [1] }} }}\n    spans:\n{SERVER_SPAN}        children: [chat gpt-4o]\n      - {{ name: chat gpt-4o, kind: client, parent: \"{{method}} {{route}}\", attributes: [gen_ai.request.model=gpt-4o], count: 1 }}\n"
    ));
    assert_eq!(passed(&c.eval(&e, &r, &Before::empty()).await), "the 1 trace(s) of the requests matching {steps: [1]} are in Jaeger with 2 span assertion(s) holding");
    let e = expectation(&format!("  - name: all\n    traces: {{ by_request: true }}\n    spans:\n{SERVER_SPAN}        status: error\n"));
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.starts_with("traces by request (looked up http://[mock]/api/v3/traces/<trace id>): timed out waiting for the traces of the 3 request(s) matching every request in Jaeger after [n] poll(s) over [t]s"), "{m}");
    assert!(m.contains(&format!("last observed: {ITEMS} (GET /items/1 -> 200): span \"GET /items/{{item_id}}\" has status Unset (want Error)")), "{m}");
    assert!(!m.contains(&format!("{ERROR} (GET /error")), "the 500's span has error status: {m}");

    let missing = record(vec![sent(0, "GET", "/items/9", "/items/{item_id}", 200, MISSING)]);
    let e = expectation("  - { name: found, traces: { by_request: true } }\n");
    let m = failed(&c.eval(&e, &missing, &Before::empty()).await, &s);
    assert!(m.ends_with(&format!("last observed: {MISSING} (GET /items/9 -> 200): trace not found")), "{m}");
}

#[tokio::test]
async fn traces_by_search_in_jaeger() {
    let (s, c) = jaeger().await;
    let r = traced();
    let e = expectation("  - name: errors\n    traces: { search: { service: fastapi-backend, span_name: GET /error, count: 1 } }\n    spans:\n      - { name: GET /error, status: error, attributes: [http.response.status_code=500] }\n");
    assert_eq!(passed(&c.eval(&e, &r, &Before::empty()).await), "1 traces of service `fastapi-backend` with a span \"GET /error\" found, 1 satisfy the span assertions (want exactly 1)");
    let e = expectation("  - name: items\n    traces: { search: { service: fastapi-backend, span_name: \"GET /items/{item_id}\" } }\n    spans:\n      - { name: \"GET /items/{item_id}\", status: error }\n");
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.starts_with("trace search (http://[mock]/api/v3/traces?query.serviceName=fastapi-backend&query.startTimeMin=[t]"), "{m}");
    assert!(m.contains("timed out waiting for at least 1 traces of service `fastapi-backend` with a span \"GET /items/{item_id}\" in Jaeger satisfying 1 span assertion(s)"), "{m}");
    assert!(m.contains(&format!("last observed: 1 traces of service `fastapi-backend` with a span \"GET /items/{{item_id}}\" found, 0 satisfy the span assertions; {}: span \"GET /items/{{item_id}}\" has status Unset (want Error)", ITEMS)), "{m}");
}

const T_ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T_ERROR: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const T_LLM: &str = "7bf92f3577b34da6a3ce929d0e0e4739";

/// A Tempo 3.0.3 serving its recorded traces (base64 ids) and search; other ids: the empty trace.
async fn tempo() -> (MockServer, Clients) {
    let server = MockServer::start().await;
    for (id, rel) in [(T_ITEMS, "trace-items.json"), (T_ERROR, "trace-error.json"), (T_LLM, "trace-llm.json")] {
        Mock::given(path(format!("/api/v2/traces/{id}"))).respond_with(json(200, &format!("tempo/3.0.3/{rel}"))).mount(&server).await;
    }
    Mock::given(path_regex("^/api/v2/traces/.+")).respond_with(json(200, "tempo/3.0.3/trace-not-found.json")).with_priority(10).mount(&server).await;
    Mock::given(path("/api/search"))
        .and(query_param("q", "{resource.service.name=\"fastapi-backend\"}"))
        .respond_with(json(200, "tempo/3.0.3/search.json"))
        .mount(&server)
        .await;
    let c = Clients { tempo: Some(TempoClient::new(server.uri())), ..Clients::none() };
    (server, c)
}

#[tokio::test]
async fn traces_in_tempo_by_request_and_search() {
    let (s, c) = tempo().await;
    let r = record(vec![
        sent(0, "GET", "/items/1", "/items/{item_id}", 200, T_ITEMS),
        Sent { step: 1, ..chat(T_LLM) },
    ]);
    let e = expectation(&format!("  - name: t\n    traces: {{ by_request: true }}\n    spans:\n{SERVER_SPAN}"));
    assert!(passed(&c.eval(&e, &r, &Before::empty()).await).ends_with("are in Tempo with 1 span assertion(s) holding"));
    let e = expectation("  - name: t\n    traces: { by_request: { steps: [1] } }\n    spans:\n      - { name: chat gpt-4o, kind: server }\n");
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.starts_with("traces by request (looked up http://[mock]/api/v2/traces/<trace id>)"), "{m}");
    assert!(m.ends_with(&format!("last observed: {T_LLM} (POST /llm/chat -> 200): span \"chat gpt-4o\" has kind Client (want Server)")), "{m}");

    // The search lists 4 ids; 3 are stored, and the one of GET /error has error status.
    let e = expectation("  - name: s\n    traces: { search: { service: fastapi-backend, count: 1 } }\n    spans:\n      - { name: GET /error, status: error }\n");
    assert!(passed(&c.eval(&e, &r, &Before::empty()).await).starts_with("3 traces of service `fastapi-backend` found, 1 satisfy"));
    let e = expectation("  - name: s\n    traces: { search: { service: fastapi-backend, count: { min: 2 } } }\n    spans:\n      - { name: GET /error, status: error }\n");
    let m = failed(&c.eval(&e, &r, &Before::empty()).await, &s);
    assert!(m.starts_with("trace search (http://[mock]/api/search?q=%7Bresource.service.name%3D%22fastapi-backend%22%7D"), "{m}");
    assert!(m.contains("last observed: 3 traces of service `fastapi-backend` found, 1 satisfy the span assertions; "), "{m}");
    assert!(m.contains("0 span(s) named \"GET /error\", want at least 1 (spans: GET /items/{item_id})"), "{m}");
}

// --- Alerts -----------------------------------------------------------------

/// A Prometheus with the recorded rules; its alerts answer none `quiet` times, then the recorded ones.
async fn ruler(quiet: u64) -> (MockServer, Clients) {
    let server = MockServer::start().await;
    Mock::given(path("/api/v1/rules")).respond_with(json(200, "prometheus/2.42.0/rules.json")).mount(&server).await;
    if quiet > 0 {
        Mock::given(path("/api/v1/alerts"))
            .respond_with(json(200, "loki/3.4.6/72-prometheus-alerts-none.json"))
            .up_to_n_times(quiet)
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(path("/api/v1/alerts")).respond_with(json(200, "prometheus/2.42.0/alerts.json")).mount(&server).await;
    let c = Clients { prometheus: Some(PrometheusClient::new(server.uri())), ..Clients::none() };
    (server, c)
}

#[tokio::test]
async fn alerts_fire_after_their_cause_or_fail_with_their_state() {
    let (s, mut c) = ruler(2).await;
    let app = MockServer::start().await;
    Mock::given(method("GET")).and(path("/error")).respond_with(ResponseTemplate::new(500)).mount(&app).await;
    c.app = Some(app.uri());
    let e = expectation("  - name: errors\n    alert: FastAPIErrorsSeen\n    cause: [{ method: GET, path: /error, count: 3 }]\n");
    assert!(e.needs_app());
    let d = passed(&c.eval(&e, &record(vec![]), &Before::empty()).await).to_owned();
    assert!(d.starts_with("alert `FastAPIErrorsSeen` firing {alertname=\"FastAPIErrorsSeen\"") && d.ends_with("(cause: 3 request(s) sent)"), "{d}");
    assert_eq!(app.received_requests().await.unwrap().len(), 3);

    let e = expectation("  - { name: rate, alert: HighErrorRate }\n");
    let m = failed(&c.eval(&e, &record(vec![]), &Before::empty()).await, &s);
    assert_eq!(
        m,
        "alert `HighErrorRate` did not fire (http://[mock]/api/v1/alerts; no cause declared): timed out waiting for alert `HighErrorRate` firing \
         after [n] poll(s) over [t]s; last observed: `HighErrorRate` states: [\"pending\"]"
    );
    let e = expectation("  - { name: disk, alert: DiskFull }\n");
    let m = failed(&c.eval(&e, &record(vec![]), &Before::empty()).await, &s);
    assert!(m.starts_with("no alerting rule `DiskFull` is loaded (alerting rules: FastAPIDown, HighErrorRate, HighLatencyP95"), "{m}");

    c.app = None;
    let e = expectation("  - name: errors\n    alert: FastAPIErrorsSeen\n    cause: [{ method: GET, path: /error }]\n");
    assert!(matches!(c.eval(&e, &record(vec![]), &Before::empty()).await, Verdict::NotRun { reason } if reason.contains("no app URL")));
}

#[tokio::test]
async fn loki_ruler_alerts() {
    let server = MockServer::start().await;
    Mock::given(path("/prometheus/api/v1/rules")).respond_with(json(200, "loki/3.4.6/45-prometheus-rules.json")).mount(&server).await;
    Mock::given(path("/prometheus/api/v1/alerts")).respond_with(json(200, "loki/3.4.6/47-prometheus-alerts-firing.json")).mount(&server).await;
    let c = Clients { loki: Some(LokiClient::new(server.uri()).with_tenant("docker")), ..Clients::none() };
    let e = expectation("  - { name: logs, alert: AppErrorLogs, ruler: loki }\n");
    assert_eq!(e.backend(), "loki");
    assert!(passed(&c.eval(&e, &record(vec![]), &Before::empty()).await).starts_with("alert `AppErrorLogs` firing"));
    let e = expectation("  - { name: logs, alert: FastAPIErrorsSeen, ruler: loki }\n");
    let m = failed(&c.eval(&e, &record(vec![]), &Before::empty()).await, &server);
    assert!(m.starts_with("no alerting rule `FastAPIErrorsSeen` is loaded (alerting rules: AppErrorLogs; looked at http://[mock]/prometheus/api/v1/alerts)"), "{m}");
}

// --- Not run, statuses ------------------------------------------------------

#[tokio::test]
async fn a_missing_backend_is_not_run_and_backends_are_named() {
    let c = Clients::none();
    for (yaml, backend) in [
        ("  - { name: p, promql: up, series: 1 }\n", "prometheus"),
        ("  - { name: l, logql: '{a=\"b\"}', lines: 1 }\n", "loki"),
        ("  - { name: t, traces: { by_request: true } }\n", "traces"),
        ("  - { name: a, alert: X }\n", "prometheus"),
    ] {
        let e = expectation(yaml);
        assert_eq!(e.backend(), backend, "{yaml}");
        let v = c.eval(&e, &record(vec![]), &Before::empty()).await;
        assert!(matches!(&v, Verdict::NotRun { reason } if reason.contains("service not running")), "{v:?}");
    }
}

#[test]
fn statuses_name_each_request_that_answered_otherwise() {
    let s = Scenario::parse(
        "name: st\nsteps:\n  - { method: POST, path: /o, expect_status: 201 }\n  - { method: GET, path: /p }\n",
        Path::new("st.yaml"),
    )
    .unwrap();
    let ok = record(vec![sent(0, "POST", "/o", "none", 201, "t1"), sent(1, "GET", "/p", "none", 500, "t2")]);
    assert_eq!(passed(&expect::statuses(&s, &ok)), "all 1 request(s) of steps [0] answered their expect_status");
    let bad = record(vec![sent(0, "POST", "/o", "none", 201, "t1"), sent(0, "POST", "/o", "none", 409, "t3")]);
    let v = expect::statuses(&s, &bad);
    assert_eq!(
        v,
        Verdict::Failed {
            message: "1 of 2 request(s) answered another status than their step's expect_status: steps[0] POST /o answered 409, expected 201 (trace id t3)".into()
        }
    );
    let none = Scenario::default_scenario();
    assert!(matches!(expect::statuses(&none, &ok), Verdict::NotRun { .. }));
}
