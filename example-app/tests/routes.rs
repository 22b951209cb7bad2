//! The router in process (no port, `tower::ServiceExt::oneshot`), with a
//! tracer provider that records finished spans: status codes, the `shop_*`
//! metrics, the logfmt request lines and the joined `traceparent`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use example_shop::logfmt::{self, Logger};
use example_shop::{AppState, router};
use http_body_util::BodyExt;
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tower::ServiceExt;

#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Recorder {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

struct Shop {
    router: Router,
    lines: Arc<Mutex<Vec<String>>>,
    spans: Recorder,
    _provider: SdkTracerProvider,
}

fn shop() -> Shop {
    let spans = Recorder::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(spans.clone()).build();
    let (logger, lines) = Logger::memory();
    let router = router(AppState::new(example_shop::telemetry::tracer(&provider), logger));
    Shop { router, lines, spans, _provider: provider }
}

struct Answer {
    status: StatusCode,
    trace_id: String,
    content_type: String,
    body: String,
}

impl Shop {
    async fn send(&self, method: &str, path: &str, body: Option<&str>, traceparent: Option<&str>) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        if let Some(tp) = traceparent {
            req = req.header("traceparent", tp);
        }
        let req = req.body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned()))).unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        let (status, trace_id, content_type) = (res.status(), header("x-trace-id"), header("content-type"));
        let body = String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        Answer { status, trace_id, content_type, body }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None, None).await
    }

    fn request_lines(&self) -> Vec<Vec<(String, String)>> {
        let lines = self.lines.lock().unwrap();
        lines.iter().map(|l| logfmt::parse(l).unwrap_or_else(|| panic!("not logfmt: {l}"))).filter(|p| p.iter().any(|(k, v)| k == "msg" && v == "request")).collect()
    }
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {key} in {pairs:?}"))
}

#[tokio::test]
async fn routes_answer_their_status_codes() {
    let shop = shop();
    for (method, path, body, status) in [
        ("GET", "/ping", None, 200),
        ("GET", "/api/orders/7", None, 200),
        ("GET", "/api/orders/999", None, 200),
        ("GET", "/api/orders/1000", None, 404),
        ("GET", "/api/orders/seven", None, 400),
        ("POST", "/api/orders", Some(r#"{"item":"mug","quantity":2}"#), 201),
        ("POST", "/api/orders", Some(r#"{"item":"mug"}"#), 400),
        ("POST", "/api/orders", Some(r#"{"item":"mug","quantity":0}"#), 400),
        ("POST", "/api/orders", Some("not json"), 400),
        ("GET", "/api/fail", None, 503),
        ("GET", "/items/1", None, 404),
        ("GET", "/metrics", None, 200),
    ] {
        let a = shop.send(method, path, body, None).await;
        assert_eq!(a.status.as_u16(), status, "{method} {path}: {}", a.body);
    }
    let created = shop.send("POST", "/api/orders", Some(r#"{"item":"pen","quantity":3}"#), None).await;
    let order: serde_json::Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!((order["id"].as_u64(), order["item"].as_str(), order["quantity"].as_u64()), (Some(2), Some("pen"), Some(3)));
}

#[tokio::test]
async fn metrics_count_what_was_served_under_the_shops_own_names() {
    let shop = shop();
    for path in ["/api/orders/1", "/api/orders/2", "/api/orders/5000", "/api/fail", "/nowhere"] {
        shop.get(path).await;
    }
    shop.send("POST", "/api/orders", Some(r#"{"item":"mug","quantity":1}"#), None).await;
    let m = shop.get("/metrics").await;
    assert!(m.content_type.starts_with("text/plain") && m.content_type.contains("version=0.0.4"), "{}", m.content_type);
    let samples: std::collections::BTreeMap<&str, f64> = m
        .body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, v) = l.rsplit_once(' ').unwrap();
            (series, v.parse().unwrap())
        })
        .collect();
    let want = [
        (r#"shop_http_requests_total{route="/api/orders/{id}",method="GET",code="200"}"#, 2.0),
        (r#"shop_http_requests_total{route="/api/orders/{id}",method="GET",code="404"}"#, 1.0),
        (r#"shop_http_requests_total{route="/api/fail",method="GET",code="503"}"#, 1.0),
        (r#"shop_http_requests_total{route="unmatched",method="GET",code="404"}"#, 1.0),
        (r#"shop_http_requests_total{route="/api/orders",method="POST",code="201"}"#, 1.0),
        (r#"shop_http_request_duration_seconds_count{route="/api/orders/{id}",method="GET"}"#, 3.0),
        (r#"shop_http_request_duration_seconds_bucket{route="/api/orders/{id}",method="GET",le="+Inf"}"#, 3.0),
        ("shop_orders_created_total", 1.0),
    ];
    for (series, v) in want {
        assert_eq!(samples.get(series), Some(&v), "{series} in\n{}", m.body);
    }
    assert!(m.body.contains("# TYPE shop_http_request_duration_seconds histogram"), "{}", m.body);
    assert!(!samples.keys().any(|s| s.starts_with("http_") || s.starts_with("llm_")), "{}", m.body);
}

#[tokio::test]
async fn every_request_is_one_logfmt_line_with_its_trace_id() {
    let shop = shop();
    let ok = shop.get("/api/orders/3").await;
    let failed = shop.get("/api/fail").await;
    let lines = shop.request_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let keys: Vec<&str> = lines[0].iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["ts", "level", "msg", "method", "route", "path", "code", "dur_ms", "trace_id", "span_id"]);
    assert!(chrono::DateTime::parse_from_rfc3339(value(&lines[0], "ts")).is_ok(), "{lines:?}");
    for (line, answer, level, code, route) in [(&lines[0], &ok, "info", "200", "/api/orders/{id}"), (&lines[1], &failed, "error", "503", "/api/fail")] {
        assert_eq!((value(line, "level"), value(line, "code"), value(line, "route")), (level, code, route));
        let trace_id = value(line, "trace_id");
        assert!(trace_id.len() == 32 && trace_id.chars().all(|c| c.is_ascii_hexdigit()) && trace_id != "0".repeat(32), "{trace_id}");
        assert_eq!(trace_id, answer.trace_id, "the log line and the x-trace-id header name one trace");
        assert!(value(line, "dur_ms").parse::<f64>().is_ok());
    }
    // The raw line is plain logfmt: the route template is written bare.
    let raw = shop.lines.lock().unwrap().iter().find(|l| l.contains("code=200")).cloned().unwrap();
    assert!(raw.contains(" msg=request method=GET route=/api/orders/{id} path=/api/orders/3 code=200 "), "{raw}");
}

#[tokio::test]
async fn the_incoming_traceparent_is_joined() {
    let shop = shop();
    let (trace_id, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let tp = format!("00-{trace_id}-{parent}-01");
    let a = shop.send("GET", "/api/orders/42", None, Some(&tp)).await;
    assert_eq!(a.trace_id, trace_id, "x-trace-id echoes the incoming trace id");
    let created = shop.send("POST", "/api/orders", Some(r#"{"item":"mug","quantity":1}"#), Some(&tp)).await;
    assert_eq!(created.trace_id, trace_id);
    let failed = shop.get("/api/fail").await;
    assert_ne!(failed.trace_id, trace_id, "without a traceparent a new trace starts");

    let spans = shop.spans.0.lock().unwrap().clone();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}: {:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    let attr = |s: &SpanData, key: &str| s.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string());
    let get = span("GET /api/orders/{id}");
    assert_eq!(get.span_context.trace_id().to_string(), trace_id);
    assert_eq!(get.parent_span_id.to_string(), parent);
    assert_eq!(get.span_kind, SpanKind::Server);
    assert_eq!(get.status, Status::Unset);
    for (k, v) in [("http.request.method", "GET"), ("http.route", "/api/orders/{id}"), ("url.path", "/api/orders/42"), ("http.response.status_code", "200")] {
        assert_eq!(attr(get, k).as_deref(), Some(v), "{k}");
    }
    let post = span("POST /api/orders");
    let persist = span("orders.persist");
    assert_eq!(persist.parent_span_id, post.span_context.span_id(), "the order write is a child of the request span");
    assert_eq!(persist.span_context.trace_id().to_string(), trace_id);
    let fail = span("GET /api/fail");
    assert!(matches!(&fail.status, Status::Error { .. }), "{:?}", fail.status);
    assert_eq!(attr(fail, "http.response.status_code").as_deref(), Some("503"));
}
