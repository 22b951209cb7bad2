//! The `/metrics` surface after a scripted set of requests, in-process.
//!
//! Exact counter values and label sets are asserted directly; the whole
//! exposition is also snapshotted (timing-dependent values redacted, sample
//! order normalised) so any change of names, labels, help or buckets shows in review.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use reference_app::{AppState, router};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_default()).unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8(bytes.to_vec()).unwrap())
}

async fn scripted() -> axum::Router {
    let app = router(AppState::default());
    for (method, uri, body, want) in [
        ("GET", "/health", None, 200),
        ("GET", "/healthz", None, 200),
        ("GET", "/items/1", None, 200),
        ("GET", "/items/2", None, 200),
        ("GET", "/items/abc", None, 422),
        ("GET", "/error", None, 500),
        ("GET", "/error", None, 500),
        ("GET", "/slow?ms=0", None, 200),
        ("GET", "/slow?ms=soon", None, 400),
        ("GET", "/does-not-exist", None, 404),
        ("POST", "/nope", None, 404),
        ("POST", "/llm/chat", Some(r#"{"model":"gpt-4o","provider":"openai","prompt":"one two three"}"#), 200),
        ("POST", "/llm/chat", Some(r#"{"model":"gpt-4o","provider":"openai","prompt":"a b","fail":"rate_limit"}"#), 429),
        ("POST", "/llm/chat", Some(r#"{"model":"claude-3","provider":"anthropic","prompt":"x","fail":"timeout"}"#), 504),
        ("POST", "/llm/chat", Some(r#"{"model":"claude-3","provider":"anthropic","prompt":"four words are here"}"#), 200),
        ("POST", "/llm/chat", Some("{not json"), 400),
        ("POST", "/llm/chat", Some(r#"{"model":"m"}"#), 422),
        ("GET", "/metrics", None, 200),
    ] {
        let (status, _, text) = call(&app, method, uri, body).await;
        assert_eq!(status.as_u16(), want, "{method} {uri}: {text}");
    }
    app
}

#[tokio::test]
async fn counters_have_exact_values_and_labels() {
    let app = scripted().await;
    let (status, ctype, text) = call(&app, "GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    let s = common::samples(&text);
    let expect = |series: &str, v: f64| {
        assert_eq!(s.get(series).copied(), Some(v), "{series} in:\n{text}");
    };
    expect(r#"http_requests_total{method="GET",status="2xx",handler="/health"}"#, 1.0);
    expect(r#"http_requests_total{method="GET",status="2xx",handler="/items/{item_id}"}"#, 2.0);
    expect(r#"http_requests_total{method="GET",status="4xx",handler="/items/{item_id}"}"#, 1.0);
    expect(r#"http_requests_total{method="GET",status="5xx",handler="/error"}"#, 2.0);
    expect(r#"http_requests_total{method="GET",status="4xx",handler="/slow"}"#, 1.0);
    expect(r#"http_requests_total{method="GET",status="4xx",handler="none"}"#, 1.0);
    expect(r#"http_requests_total{method="POST",status="4xx",handler="none"}"#, 1.0);
    expect(r#"http_requests_total{method="POST",status="5xx",handler="/llm/chat"}"#, 1.0);
    expect(r#"http_requests_total{method="POST",status="4xx",handler="/llm/chat"}"#, 3.0);
    // The earlier scrape is counted; the current one is not yet.
    expect(r#"http_requests_total{method="GET",status="2xx",handler="/metrics"}"#, 1.0);
    expect(r#"http_request_duration_seconds_count{method="GET",handler="/error"}"#, 2.0);
    expect(r#"http_request_duration_seconds_bucket{method="GET",handler="/error",le="+Inf"}"#, 2.0);
    expect("http_request_duration_highr_seconds_count", 18.0);
    expect(r#"http_request_size_bytes_count{handler="/llm/chat"}"#, 6.0);
    expect(r#"http_response_size_bytes_count{handler="none"}"#, 2.0);
    expect(r#"llm_calls_total{model="gpt-4o",provider="openai",endpoint="chat"}"#, 2.0);
    expect(r#"llm_calls_total{model="claude-3",provider="anthropic",endpoint="chat"}"#, 2.0);
    expect(r#"llm_errors_total{model="gpt-4o",provider="openai",reason="rate_limit"}"#, 1.0);
    expect(r#"llm_errors_total{model="claude-3",provider="anthropic",reason="timeout"}"#, 1.0);
    expect(r#"llm_tokens_total{model="gpt-4o",provider="openai",type="prompt"}"#, 5.0);
    expect(r#"llm_tokens_total{model="claude-3",provider="anthropic",type="prompt"}"#, 5.0);
    // A failed call counts its prompt tokens (the prompt was sent) and no completion.
    expect(r#"llm_tokens_total{model="gpt-4o",provider="openai",type="completion"}"#, 7.0);
    expect(r#"llm_latency_seconds_count{model="gpt-4o",provider="openai",endpoint="chat"}"#, 2.0);
    for family in ["process_start_time_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"] {
        assert!(s.contains_key(family), "{family} missing");
    }
    assert!(s["process_start_time_seconds"] > 1.7e9);
    // Types as the instrumentator declares them.
    for decl in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        "# TYPE http_request_duration_highr_seconds histogram",
        "# TYPE http_request_size_bytes summary",
        "# TYPE http_response_size_bytes summary",
        "# TYPE llm_latency_seconds histogram",
        "# TYPE llm_tokens_total counter",
    ] {
        assert!(text.contains(decl), "missing `{decl}`");
    }
}

/// Replaces the values that depend on timing or on the process, and sorts
/// each family's samples (families are hash maps).
fn normalise(text: &str) -> String {
    let volatile = |series: &str| {
        series.starts_with("process_")
            || series.contains("_seconds_sum")
            || series.starts_with("http_request_duration_highr_seconds_bucket")
            || series.starts_with("llm_latency_seconds_bucket")
            || series.starts_with("http_response_size_bytes_sum{handler=\"/metrics\"}")
    };
    let mut out = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            run.sort();
            out.append(&mut run);
            out.push(line.to_owned());
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            run.push(format!("{series} {}", if volatile(series) { "[value]" } else { value }));
        }
    }
    run.sort();
    out.append(&mut run);
    out.join("\n")
}

#[tokio::test]
async fn exposition_snapshot() {
    let app = scripted().await;
    let (_, _, text) = call(&app, "GET", "/metrics", None).await;
    insta::assert_snapshot!(normalise(&text));
}

#[tokio::test]
async fn openmetrics_is_negotiated() {
    let app = scripted().await;
    let req = Request::get("/metrics")
        .header(header::ACCEPT, "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(
        resp.headers()[header::CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics ends with # EOF");
    assert!(text.contains("# TYPE http_requests counter"));
}

// Paused clock: the capped 10 s sleep of `/slow` auto-advances.
#[tokio::test(start_paused = true)]
async fn bad_bodies_get_json_errors_not_500() {
    let app = router(AppState::default());
    for (uri, body, want) in [
        ("/llm/chat", "{not json", 400),
        ("/llm/chat", r#"{"model":"m","provider":"p"}"#, 422),
        ("/llm/chat", r#"{"model":"","provider":"p","prompt":"x"}"#, 422),
        ("/llm/chat", r#"{"model":1,"provider":"p","prompt":"x"}"#, 422),
        ("/llm/chat", "[]", 422),
    ] {
        let (status, ctype, text) = call(&app, "POST", uri, Some(body)).await;
        assert_eq!(status.as_u16(), want, "{body}: {text}");
        assert_eq!(ctype, "application/json", "{body}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{text}");
    }
    let (status, _, text) = call(&app, "GET", "/slow?ms=-5", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("ms must be a whole number"), "{text}");
    let (status, _, text) = call(&app, "GET", "/slow?ms=999999", None).await;
    assert_eq!(status, StatusCode::OK, "capped, not refused");
    assert!(text.contains("10000"), "{text}");
}
