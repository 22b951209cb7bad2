//! The real binary against an in-test OTLP/gRPC receiver (a test double built
//! from opentelemetry-proto): a request with a chosen `traceparent` must give
//! a JSON log line, an exemplar and an exported span all carrying that trace id.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RunningApp;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.requests.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

async fn start_receiver() -> (Receiver, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = Receiver::default();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (receiver, port)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()).and_then(|v: &AnyValue| v.value.as_ref())
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        any_value::Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Polls the receiver until spans of `trace_id` matching `pred` arrived.
async fn wait_for_spans(
    receiver: &Receiver,
    trace_id: &str,
    count: usize,
) -> (Vec<Span>, Vec<KeyValue>) {
    let start = Instant::now();
    loop {
        let reqs = receiver.requests.lock().unwrap().clone();
        let mut spans = Vec::new();
        let mut resource = Vec::new();
        for rs in reqs.iter().flat_map(|r| &r.resource_spans) {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    if hex(&s.trace_id) == trace_id {
                        spans.push(s.clone());
                        resource = rs.resource.clone().map(|r| r.attributes).unwrap_or_default();
                    }
                }
            }
        }
        if spans.len() >= count {
            return (spans, resource);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "waited {:?} for {count} span(s) of trace {trace_id}; got {} export request(s), {} matching span(s)",
            start.elapsed(),
            reqs.len(),
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread")]
async fn chosen_trace_id_reaches_logs_spans_and_exemplars() {
    let (receiver, otlp_port) = start_receiver().await;
    let endpoint = format!("127.0.0.1:{otlp_port}"); // scheme-less, as in the seed's compose file
    let app = RunningApp::start(&[
        ("OTEL_SERVICE_NAME", "fastapi-backend"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=obs"),
        ("DEPLOYMENT_ENVIRONMENT", "test"),
    ]);
    let client = reqwest::Client::new();
    let traceparent = format!("00-{TRACE_ID}-{PARENT}-01");

    let resp = client.get(app.url("/items/7")).header("traceparent", &traceparent).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-trace-id"], TRACE_ID);

    // Log line.
    let line = app.wait_for_line(|l| l.contains(TRACE_ID) && l.contains("/items/7"), Duration::from_secs(10));
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(log["level"], "INFO");
    assert_eq!(log["method"], "GET");
    assert_eq!(log["route"], "/items/{item_id}");
    assert_eq!(log["path"], "/items/7");
    assert_eq!(log["status"], 200);
    assert_eq!(log["trace_id"], TRACE_ID);
    assert_eq!(log["span_id"].as_str().unwrap().len(), 16);
    assert!(log["duration_ms"].as_f64().is_some());
    assert!(log["timestamp"].as_str().unwrap().ends_with('Z'));

    // Span.
    let (spans, resource) = wait_for_spans(&receiver, TRACE_ID, 1).await;
    let span = &spans[0];
    assert_eq!(span.name, "GET /items/{item_id}");
    assert_eq!(hex(&span.parent_span_id), PARENT, "joins the caller's trace");
    assert_eq!(hex(&span.span_id), log["span_id"].as_str().unwrap(), "log line names the span");
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(str_attr(&span.attributes, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(str_attr(&span.attributes, "http.route").as_deref(), Some("/items/{item_id}"));
    assert_eq!(str_attr(&span.attributes, "url.path").as_deref(), Some("/items/7"));
    assert_eq!(int_attr(&span.attributes, "http.response.status_code"), Some(200));
    assert_eq!(str_attr(&resource, "service.name").as_deref(), Some("fastapi-backend"));
    assert_eq!(str_attr(&resource, "service.version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(str_attr(&resource, "deployment.environment").as_deref(), Some("test"));
    assert_eq!(str_attr(&resource, "team").as_deref(), Some("obs"));

    // Exemplar in OpenMetrics.
    let om = client
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exemplar = om
        .lines()
        .find(|l| l.starts_with("http_request_duration_seconds_bucket") && l.contains("/items/{item_id}") && l.contains(" # {"))
        .unwrap_or_else(|| panic!("no exemplar on the /items bucket:\n{om}"));
    assert!(exemplar.contains(&format!("trace_id=\"{TRACE_ID}\"")), "{exemplar}");
    // Text 0.0.4 carries no exemplars.
    let text = client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains(" # {"), "exemplars leaked into text 0.0.4");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_and_llm_calls_are_traced() {
    let (receiver, otlp_port) = start_receiver().await;
    let endpoint = format!("http://127.0.0.1:{otlp_port}");
    let app = RunningApp::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let client = reqwest::Client::new();
    let err_trace = "11111111111111111111111111111111";
    let llm_trace = "22222222222222222222222222222222";
    let resp = client.get(app.url("/error")).header("traceparent", format!("00-{err_trace}-{PARENT}-01")).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let line = app.wait_for_line(|l| l.contains(err_trace), Duration::from_secs(10));
    assert!(line.contains(r#""level":"ERROR""#), "5xx logged at error: {line}");

    let resp = client
        .post(app.url("/llm/chat"))
        .header("traceparent", format!("00-{llm_trace}-{PARENT}-01"))
        .json(&serde_json::json!({"model": "gpt-4o", "provider": "openai", "prompt": "one two three", "fail": "rate_limit"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "a provider's rate limit is passed on as 429");

    let (spans, resource) = wait_for_spans(&receiver, err_trace, 1).await;
    assert_eq!(spans[0].name, "GET /error");
    assert_eq!(spans[0].status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    assert_eq!(str_attr(&resource, "service.name").as_deref(), Some("fastapi-backend"), "default service name");

    let (spans, _) = wait_for_spans(&receiver, llm_trace, 2).await;
    let server = spans.iter().find(|s| s.name == "POST /llm/chat").expect("server span");
    let llm = spans.iter().find(|s| s.name == "chat gpt-4o").expect("LLM child span");
    assert_eq!(llm.parent_span_id, server.span_id, "LLM span is a child of the server span");
    assert_eq!(str_attr(&llm.attributes, "gen_ai.request.model").as_deref(), Some("gpt-4o"));
    assert_eq!(str_attr(&llm.attributes, "gen_ai.system").as_deref(), Some("openai"));
    assert_eq!(int_attr(&llm.attributes, "gen_ai.usage.input_tokens"), Some(3));
    assert_eq!(str_attr(&llm.attributes, "error.type").as_deref(), Some("rate_limit"));
    assert_eq!(llm.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    assert_ne!(server.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32), "a 429 is not a server error (the LLM span carries the failure)");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_apps_own_spans_are_exported() {
    let (receiver, otlp_port) = start_receiver().await;
    let endpoint = format!("127.0.0.1:{otlp_port}");
    let app = RunningApp::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "50")]);
    let client = reqwest::Client::new();
    // Three export rounds, each awaited: spans the exporter's own connection
    // created while exporting round N would travel in round N+1.
    for round in 0..3u32 {
        let trace = format!("{:032x}", 0x4444_0000u64 + u64::from(round));
        for i in 0..10 {
            client.get(app.url(&format!("/items/{i}"))).send().await.unwrap();
        }
        client.get(app.url("/items/99")).header("traceparent", format!("00-{trace}-{PARENT}-01")).send().await.unwrap();
        wait_for_spans(&receiver, &trace, 1).await;
    }
    let names: std::collections::BTreeSet<String> = receiver
        .requests
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, ["GET /items/{item_id}".to_string()].into(), "library spans (e.g. the exporter's own gRPC client) leaked into the export");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_flushed_on_sigterm() {
    let (receiver, otlp_port) = start_receiver().await;
    let endpoint = format!("127.0.0.1:{otlp_port}");
    // A long schedule delay: only the shutdown flush can deliver the span in time.
    let app = RunningApp::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_BSP_SCHEDULE_DELAY", "600000")]);
    let trace = "33333333333333333333333333333333";
    reqwest::Client::new()
        .get(app.url("/health"))
        .header("traceparent", format!("00-{trace}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert!(receiver.requests.lock().unwrap().is_empty(), "nothing exported before shutdown");
    let status = tokio::task::spawn_blocking(move || app.terminate()).await.unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let (spans, _) = wait_for_spans(&receiver, trace, 1).await;
    assert_eq!(spans[0].name, "GET /health");
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_collector_never_fails_requests() {
    // Port 9 (discard) on loopback: nothing listens.
    let app = RunningApp::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:9"), ("OTEL_BSP_SCHEDULE_DELAY", "10")]);
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    for i in 0..20 {
        let resp = client.get(app.url(&format!("/items/{i}"))).send().await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}

#[test]
fn bad_env_exits_2_with_one_line_naming_the_variable() {
    for (var, value) in [
        ("PORT", "abc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:notaport"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("RUST_LOG", "info,[[[bad"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_reference-app"))
            .env_clear()
            .env(var, value)
            .env("PORT", if var == "PORT" { value.to_owned() } else { common::free_port().to_string() })
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "names {var}: {stderr}");
    }
}
