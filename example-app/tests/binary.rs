//! The real `example-shop` binary: its spans reach an in-test OTLP/HTTP
//! receiver (`POST /v1/traces`, protobuf, decoded with opentelemetry-proto)
//! with the trace id of the request's `traceparent`; with no receiver it
//! still serves and logs the failed export; `healthcheck` probes `/ping`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_example-shop");

/// The binary, running; its stdout lines are collected.
struct Shop {
    child: Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Shop {
    fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.env_clear().env("PORT", port.to_string()).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn example-shop");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (out, sink) = (child.stdout.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let shop = Self { child, port, lines };
        shop.wait_for_line(|l| l.contains(" msg=listening "));
        shop
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn wait_for_line(&self, pred: impl Fn(&str) -> bool) -> String {
        poll(Duration::from_secs(20), || self.lines.lock().unwrap().iter().find(|l| pred(l)).cloned())
            .unwrap_or_else(|| panic!("no matching line; stdout:\n{}", self.lines.lock().unwrap().join("\n")))
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Calls `f` every 50 ms until it gives a value or `timeout` passes.
fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An OTLP/HTTP traces receiver: every `POST /v1/traces` body, decoded, with its content type.
type Received = Arc<Mutex<Vec<(String, ExportTraceServiceRequest)>>>;

async fn start_receiver() -> (Received, u16) {
    let received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
            sink.lock().unwrap().push((content_type, request));
            ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, port)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        other => Some(format!("{other:?}")),
    }
}

/// The spans of `trace_id` received so far, each with its resource's attributes.
fn spans_of(received: &Received, trace_id: &str) -> Vec<(Span, Vec<KeyValue>)> {
    let received = received.lock().unwrap();
    let mut out = Vec::new();
    for rs in received.iter().flat_map(|(_, r)| &r.resource_spans) {
        let resource = rs.resource.clone().map(|r| r.attributes).unwrap_or_default();
        for s in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            if hex(&s.trace_id) == trace_id {
                out.push((s.clone(), resource.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_an_otlp_http_receiver_under_the_callers_trace_id() {
    let (received, receiver_port) = start_receiver().await;
    let endpoint = format!("http://127.0.0.1:{receiver_port}");
    let shop = Shop::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint), ("OTEL_SERVICE_NAME", "shop-under-test"), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let (trace_id, parent) = ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174");
    let client = reqwest::Client::new();
    let res = client.get(shop.url("/api/orders/12")).header("traceparent", format!("00-{trace_id}-{parent}-01")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-trace-id"], trace_id);
    let res = client.get(shop.url("/api/fail")).header("traceparent", format!("00-{trace_id}-{parent}-01")).send().await.unwrap();
    assert_eq!(res.status(), 503);

    let spans = poll(Duration::from_secs(20), || Some(spans_of(&received, trace_id)).filter(|s| s.len() >= 2))
        .unwrap_or_else(|| panic!("no spans of {trace_id} at the receiver; stdout:\n{}", shop.lines.lock().unwrap().join("\n")));
    let content_types: Vec<String> = received.lock().unwrap().iter().map(|(c, _)| c.clone()).collect();
    assert!(content_types.iter().all(|c| c == "application/x-protobuf"), "{content_types:?}");
    let (get, resource) = spans.iter().find(|(s, _)| s.name == "GET /api/orders/{id}").expect("the GET span");
    assert_eq!(hex(&get.parent_span_id), parent, "the server span is the caller's child");
    assert_eq!(get.kind, SpanKind::Server as i32);
    assert_eq!(attr(resource, "service.name").as_deref(), Some("shop-under-test"));
    for (k, v) in [("http.request.method", "GET"), ("http.route", "/api/orders/{id}"), ("url.path", "/api/orders/12"), ("http.response.status_code", "200")] {
        assert_eq!(attr(&get.attributes, k).as_deref(), Some(v), "{k}");
    }
    let (fail, _) = spans.iter().find(|(s, _)| s.name == "GET /api/fail").expect("the fail span");
    assert_eq!(fail.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    let log = shop.wait_for_line(|l| l.contains(" msg=request ") && l.contains("code=503"));
    assert!(log.contains(&format!(" trace_id={trace_id} ")) && log.starts_with("ts=") && log.contains(" level=error "), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_trace_store_it_serves_and_logs_the_failed_export() {
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let shop = Shop::start(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &nobody), ("OTEL_BSP_SCHEDULE_DELAY", "100")]);
    let res = reqwest::get(shop.url("/api/orders/1")).await.unwrap();
    assert_eq!(res.status(), 200);
    let warn = shop.wait_for_line(|l| l.contains(r#"msg="span export failed""#));
    assert!(warn.contains(" level=warn ") && warn.contains(&format!("endpoint={nobody}/v1/traces")), "{warn}");
    assert_eq!(reqwest::get(shop.url("/ping")).await.unwrap().status(), 200, "still serving after the failed export");
}

#[test]
fn healthcheck_probes_ping() {
    let shop = Shop::start(&[("OTEL_TRACES_EXPORTER", "none")]);
    let run = |port: u16| Command::new(BIN).arg("healthcheck").env_clear().env("PORT", port.to_string()).stderr(Stdio::null()).status().unwrap();
    assert!(run(shop.port).success());
    shop.wait_for_line(|l| l.contains(" route=/ping ") && l.contains(" code=200 "));
    assert!(!run(free_port()).success(), "nothing listening: unhealthy");
}
