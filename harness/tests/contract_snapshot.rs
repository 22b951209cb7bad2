//! Contract tests of the telemetry snapshot (`obs_harness::snapshot`): a
//! [`Shape`] captured from wiremock doubles that serve real recorded answers —
//! Prometheus 2.42 scraping the reference app (`fixtures/prometheus/2.42.0/`),
//! Tempo 3.0.3 (`fixtures/tempo/3.0.3/`), Loki 3.4.6 (`fixtures/loki/3.4.6/`),
//! Jaeger api_v3 (`fixtures/jaeger/api_v3/` and the upstream HotROD capture
//! under `$OBS_UPSTREAM_SHAPES_DIR`) — pinned with an insta snapshot; then the
//! file's life: written, matched, a renamed metric shown as a diff, accepted.
//! No Docker.

mod common;

use std::time::{Duration, SystemTime};

use obs_harness::backends::jaeger::JaegerClient;
use obs_harness::backends::loki::LokiClient;
use obs_harness::backends::prometheus::PrometheusClient;
use obs_harness::backends::tempo::TempoClient;
use obs_harness::checks::jaeger::TraceStore;
use obs_harness::snapshot::{
    self, CaptureContext, Change, LogFormat, MetricType, Outcome, SemconvProblem, Shape, Signal, SnapshotError, SpanStatus,
};
use obs_harness::traffic::TrafficRecord;
use common::contract::{chat, fixture, sent, upstream};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);
const JOB: &str = "fastapi";
/// The selector of `98-docker-query-range.json`, as recorded.
const SELECTOR: &str = "{job=\"docker\"}";
/// Tempo's recorded traces (`fixtures/tempo/README.md`).
const ITEMS: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ERROR: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const LLM: &str = "7bf92f3577b34da6a3ce929d0e0e4739";
/// The HotROD capture's trace id (upstream `GetTrace.hotrod-capture.jaeger-ui-pr4129.json`).
const HOTROD: &str = "2ea75461946a7dd10f2c15ab36a076cb";

fn json(body: String) -> ResponseTemplate {
    common::contract::json(200, body)
}

/// The recorded Prometheus: targets after the traffic, the job's series (with
/// `rename` applied to their names), every family's metadata.
async fn prometheus(rename: Option<(&str, &str)>) -> (MockServer, PrometheusClient) {
    let server = MockServer::start().await;
    let mut series = fixture("prometheus/2.42.0/series-job-fastapi.json");
    if let Some((from, to)) = rename {
        series = series.replace(&format!("\"__name__\":\"{from}\""), &format!("\"__name__\":\"{to}\""));
    }
    Mock::given(method("GET")).and(path("/api/v1/targets")).respond_with(json(fixture("prometheus/2.42.0/targets-after-traffic.json"))).mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/api/v1/series"))
        .and(query_param("match[]", "{job=\"fastapi\"}"))
        .respond_with(json(series))
        .mount(&server)
        .await;
    Mock::given(method("GET")).and(path("/api/v1/metadata")).respond_with(json(fixture("prometheus/2.42.0/metadata.json"))).mount(&server).await;
    let c = PrometheusClient::new(server.uri());
    (server, c)
}

/// The recorded Tempo: the three traces by id; any other id the empty trace it answers.
async fn tempo() -> (MockServer, TempoClient) {
    let server = MockServer::start().await;
    for (id, rel) in [(ITEMS, "trace-items.json"), (ERROR, "trace-error.json"), (LLM, "trace-llm.json")] {
        Mock::given(path(format!("/api/v2/traces/{id}"))).respond_with(json(fixture(format!("tempo/3.0.3/{rel}")))).mount(&server).await;
    }
    Mock::given(path_regex("^/api/v2/traces/.+")).respond_with(json(fixture("tempo/3.0.3/trace-not-found.json"))).with_priority(10).mount(&server).await;
    let c = TempoClient::new(server.uri());
    (server, c)
}

/// The recorded Loki (tenant `docker`): `selector` answers `body`.
async fn loki(selector: &str, status: u16, body: &str) -> (MockServer, LokiClient) {
    let server = MockServer::start().await;
    let ct = if status == 200 { "application/json; charset=UTF-8" } else { "text/plain; charset=utf-8" };
    Mock::given(method("GET"))
        .and(path("/loki/api/v1/query_range"))
        .and(query_param("query", selector))
        .and(header("X-Scope-OrgID", "docker"))
        .respond_with(ResponseTemplate::new(status).set_body_raw(fixture(format!("loki/3.4.6/{body}")), ct))
        .mount(&server)
        .await;
    let c = LokiClient::new(server.uri()).with_tenant("docker");
    (server, c)
}

/// The requests behind Tempo's recorded traces, sent before the recorded
/// scrapes (so the capture sees a scrape after the scenario ended).
fn traffic(ids: [&str; 3]) -> TrafficRecord {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(RECORDED_TRAFFIC_END);
    TrafficRecord {
        scenario: "contract".into(),
        started: at - Duration::from_secs(5),
        finished: at,
        sent: vec![
            sent("GET", "/items/7", "/items/{item_id}", 200, ids[0]),
            sent("GET", "/error", "/error", 500, ids[1]),
            chat(ids[2]),
        ],
    }
}

/// When the recorded traffic ended (unix seconds; see `fixtures/prometheus/README.md`).
const RECORDED_TRAFFIC_END: u64 = 1_796_617_261; // 2026-12-07T04:21:01Z

fn ctx<'a>(
    prometheus: Option<&'a PrometheusClient>,
    loki: Option<&'a LokiClient>,
    traces: Option<TraceStore<'a>>,
    record: &'a TrafficRecord,
) -> CaptureContext<'a> {
    CaptureContext {
        app: "reference-app",
        semconv: Some("1.23"),
        prometheus,
        loki,
        traces,
        job: JOB,
        log_selector: SELECTOR,
        record,
        timeout: WAIT,
        settle: Duration::ZERO,
    }
}

/// Every signal captured from real answers: the file as it is written.
#[tokio::test]
async fn the_shape_of_recorded_answers() {
    let (_p, prom) = prometheus(None).await;
    let (_t, tempo) = tempo().await;
    let (_l, loki) = loki(SELECTOR, 200, "98-docker-query-range.json").await;
    let record = traffic([ITEMS, ERROR, LLM]);
    let shape = snapshot::capture(&ctx(Some(&prom), Some(&loki), Some(TraceStore::Tempo(&tempo)), &record)).await.unwrap();

    assert!(shape.not_captured.is_empty(), "{:?}", shape.not_captured);
    // The client reads the recorded metadata: the app's OpenMetrics names (no `_total`).
    let meta = prom.metadata().await.unwrap();
    assert_eq!((meta["http_requests"][0].kind.as_str(), meta["http_request_size_bytes"][0].kind.as_str()), ("counter", "summary"));
    let metrics = shape.metrics.as_ref().unwrap();
    let duration = &metrics["http_request_duration_seconds"];
    assert_eq!(duration.kind, MetricType::Histogram, "_bucket/_sum/_count grouped under the family");
    assert!(!duration.labels.contains("le") && duration.labels.contains("handler"), "{duration:?}");
    assert_eq!(metrics["http_requests_total"].kind, MetricType::Counter);
    assert!(!metrics.keys().any(|k| k.ends_with("_bucket") || k == "up" || k.starts_with("scrape_")), "{:?}", metrics.keys());
    let traces = shape.traces.as_ref().unwrap();
    assert_eq!(traces.spans["/error"].status, [SpanStatus::Error].into());
    assert_eq!(traces.spans["chat gpt-4o"].kind, "client", "a span without http.route is keyed by its name");
    assert!(traces.resource_attributes.contains("deployment.environment"));
    let logs = shape.logs.as_ref().unwrap();
    assert!(logs.labels.contains("container") && logs.formats.contains_key(&LogFormat::Json), "{logs:?}");

    insta::assert_snapshot!("contract_snapshot_shape", shape.to_yaml());
    assert_eq!(Shape::from_yaml(&shape.to_yaml(), "x".as_ref()).unwrap(), shape, "the file reads back as the same shape");
}

/// The reference app's spans checked against the stable HTTP conventions:
/// what it emits is right, and what it lacks (`server.address`, Recommended)
/// is named; `server.port` is asked for only with `server.address`.
#[tokio::test]
async fn the_reference_apps_spans_meet_the_stable_http_conventions() {
    let (_t, tempo) = tempo().await;
    let record = traffic([ITEMS, ERROR, LLM]);
    let shape = snapshot::capture(&ctx(None, None, Some(TraceStore::Tempo(&tempo)), &record)).await.unwrap();
    let findings = snapshot::semconv_check(&shape, "1.23");
    let got: Vec<(SemconvProblem, String, String)> = findings.iter().map(|f| (f.problem, f.subject.clone(), f.name.clone())).collect();
    let mut want = Vec::new();
    for route in ["/error", "/items/{item_id}", "/llm/chat"] {
        want.push((SemconvProblem::RecommendedMissing, format!("span {route}"), "server.address".to_string()));
    }
    assert_eq!(got, want);
    // A span with `server.address` but no `server.port` lacks a Conditionally Required attribute.
    let mut with_address = shape.clone();
    with_address.traces.as_mut().unwrap().spans.get_mut("/error").unwrap().attributes.insert("server.address".into());
    let port: Vec<_> = snapshot::semconv_check(&with_address, "1.23").into_iter().filter(|f| f.subject == "span /error").map(|f| (f.problem, f.name)).collect();
    assert_eq!(port, [(SemconvProblem::ConditionallyRequiredMissing, "server.port".to_string())]);
    // Under 1.20 its names are the later ones.
    assert!(snapshot::semconv_check(&shape, "1.20").iter().any(|f| f.problem == SemconvProblem::NotInVersion && f.name == "http.request.method"));
}

/// Jaeger's api_v3: the same capture through the other trace store, and a
/// real multi-service capture (HotROD): a route shared by a client and a
/// server span keeps both kinds; error statuses are kept per span name.
#[tokio::test]
async fn traces_from_jaeger_api_v3_and_a_real_hotrod_trace() {
    let server = MockServer::start().await;
    for (id, rel) in [
        ("4bf92f3577b34da6a3ce929d0e0e4736", "trace-items.json"),
        ("4bf92f3577b34da6a3ce929d0e0e4738", "trace-error.json"),
        ("4bf92f3577b34da6a3ce929d0e0e473b", "trace-llm.json"),
    ] {
        Mock::given(path(format!("/api/v3/traces/{id}"))).respond_with(json(fixture(format!("jaeger/api_v3/{rel}")))).mount(&server).await;
    }
    Mock::given(path(format!("/api/v3/traces/{HOTROD}"))).respond_with(json(upstream("jaeger-api-v3/GetTrace.hotrod-capture.jaeger-ui-pr4129.json"))).mount(&server).await;
    let jaeger = JaegerClient::new(server.uri());
    let record = traffic(["4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4738", "4bf92f3577b34da6a3ce929d0e0e473b"]);
    let shape = snapshot::capture(&ctx(None, None, Some(TraceStore::Jaeger(&jaeger)), &record)).await.unwrap();
    let spans = &shape.traces.as_ref().unwrap().spans;
    assert_eq!(spans.keys().collect::<Vec<_>>(), ["/error", "/items/{item_id}", "/llm/chat", "chat gpt-4o"]);
    assert_eq!(spans["/items/{item_id}"].kind, "server");

    let mut hotrod = traffic([HOTROD, HOTROD, HOTROD]);
    hotrod.sent.truncate(1);
    let shape = snapshot::capture(&ctx(None, None, Some(TraceStore::Jaeger(&jaeger)), &hotrod)).await.unwrap();
    let t = shape.traces.as_ref().unwrap();
    assert_eq!(t.spans["driver.DriverService/FindNearest"].kind, "client, server");
    assert_eq!(t.spans["GetDriver"].status, [SpanStatus::Unset, SpanStatus::Error].into());
    assert_eq!(t.spans["/dispatch"].names, ["GET /dispatch".to_string()].into());
    assert!(t.resource_attributes.contains("host.name"));
    // HotROD (OTel Go SDK 1.44) emits the stable HTTP names, every one the
    // conventions ask of a server span; its gRPC server span is not HTTP.
    assert_eq!(snapshot::semconv_check(&shape, "1.23"), vec![]);
    let old = snapshot::semconv_check(&shape, "1.20");
    let subjects: std::collections::BTreeSet<&str> = old.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["span /customer", "span /dispatch", "span /route"].into());
    assert!(old.iter().any(|f| f.subject == "span /dispatch" && f.problem == SemconvProblem::RequiredMissing && f.name == "http.target"), "{old:#?}");
}

/// Logfmt and plain lines (Loki's recording of other apps' streams) are told apart.
#[tokio::test]
async fn log_formats_from_a_real_mixed_answer() {
    let (_l, loki) = loki("{env=\"dev\"}", 200, "26-query-range-streams.json").await;
    let record = traffic([ITEMS, ERROR, LLM]);
    let c = CaptureContext { log_selector: "{env=\"dev\"}", ..ctx(None, Some(&loki), None, &record) };
    let shape = snapshot::capture(&c).await.unwrap();
    let logs = shape.logs.unwrap();
    assert_eq!(logs.formats.keys().copied().collect::<Vec<_>>(), [LogFormat::Json, LogFormat::Logfmt, LogFormat::Plain]);
    assert!(logs.formats[&LogFormat::Logfmt].contains("lag_seconds"), "{logs:?}");
    assert!(logs.formats[&LogFormat::Plain].is_empty());
}

/// Absent backends leave their signal out with the reason; data that never
/// arrives does too; a backend that answers an error fails the capture.
#[tokio::test]
async fn absent_late_and_failing_backends() {
    let record = traffic([ITEMS, ERROR, LLM]);
    let shape = snapshot::capture(&ctx(None, None, None, &record)).await.unwrap();
    assert_eq!(shape.metrics, None);
    assert_eq!(
        shape.not_captured.keys().copied().collect::<Vec<_>>(),
        [Signal::Metrics, Signal::Traces, Signal::Logs],
    );
    assert!(shape.not_captured[&Signal::Logs].contains("no Loki"));

    // Traces Tempo does not have (it answers an empty trace), a scrape that
    // predates the traffic: left out, saying what was seen.
    let (_t, tempo) = tempo().await;
    let (_p, prom) = prometheus(None).await;
    let mut late = traffic(["00000000000000000000000000000042", ERROR, LLM]);
    late.finished += Duration::from_secs(3600);
    let shape = snapshot::capture(&ctx(Some(&prom), None, Some(TraceStore::Tempo(&tempo)), &late)).await.unwrap();
    let why = &shape.not_captured[&Signal::Traces];
    assert!(why.starts_with("1 of 3 sampled trace(s) incomplete in Tempo") && why.contains("00000000000000000000000000000042: not found"), "{why}");
    let why = &shape.not_captured[&Signal::Metrics];
    assert!(why.contains("no scrape of job `fastapi` after the scenario") && why.contains("before the scenario ended"), "{why}");

    // Loki refusing the selector (400, recorded): an error, not a guess.
    let (_l, loki) = loki(SELECTOR, 400, "32-query-range-invalid-logql.json").await;
    let err = snapshot::capture(&ctx(None, Some(&loki), None, &record)).await.unwrap_err();
    assert!(matches!(&err, SnapshotError::Backend { signal: Signal::Logs, .. }), "{err}");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
}

/// The file's life: first run writes it, the next matches, a renamed metric
/// differs (failing, with a unified diff), `--accept` rewrites it, then it matches.
#[tokio::test]
async fn compare_or_write_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(snapshot::FILE_NAME);
    let (_t, tempo) = tempo().await;
    let (_l, loki) = loki(SELECTOR, 200, "98-docker-query-range.json").await;
    let record = traffic([ITEMS, ERROR, LLM]);
    let live = |prom: PrometheusClient| {
        let (tempo, loki, record) = (&tempo, &loki, &record);
        async move { snapshot::capture(&ctx(Some(&prom), Some(loki), Some(TraceStore::Tempo(tempo)), record)).await.unwrap() }
    };

    let (_p, prom) = prometheus(None).await;
    let first = live(prom).await;
    assert_eq!(snapshot::compare_or_write(&file, &first, false).unwrap(), Outcome::Written { path: file.clone(), first: true, changes: vec![] });
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first.to_yaml());
    let (_p, prom) = prometheus(None).await;
    assert_eq!(snapshot::compare_or_write(&file, &live(prom).await, false).unwrap(), Outcome::Matches);

    let (_p, prom) = prometheus(Some(("http_requests_total", "http_server_requests_total"))).await;
    let renamed = live(prom).await;
    let outcome = snapshot::compare_or_write(&file, &renamed, false).unwrap();
    let Outcome::Differs { changes, diff_text } = &outcome else { panic!("{outcome:?}") };
    assert_eq!(
        changes,
        &vec![Change::MetricMissing { metric: "http_requests_total".into() }, Change::MetricAdded { metric: "http_server_requests_total".into() }]
    );
    assert!(outcome.fails(false));
    assert!(diff_text.starts_with(&format!("--- {}\n+++ live\n", file.display())), "{diff_text}");
    assert!(diff_text.contains("\n-  http_requests_total:\n") && diff_text.contains("\n+  http_server_requests_total:\n"), "{diff_text}");
    assert_eq!(Shape::load(&file).unwrap(), first, "a difference leaves the file alone");

    let accepted = snapshot::compare_or_write(&file, &renamed, true).unwrap();
    assert!(matches!(&accepted, Outcome::Written { first: false, changes: c, .. } if c == changes), "{accepted:?}");
    assert_eq!(snapshot::compare_or_write(&file, &renamed, false).unwrap(), Outcome::Matches);
}
