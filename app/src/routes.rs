//! HTTP routes and the instrumentation middleware.
//!
//! The middleware is what `prometheus_fastapi_instrumentator` plus the
//! OpenTelemetry ASGI middleware do for the FastAPI original: one server span
//! per request (joining an incoming W3C `traceparent`), the `http_*` metrics
//! with the route template as `handler` (`none` when no route matched), a
//! trace-id exemplar, one JSON log line, and the trace id echoed in
//! the `x-trace-id` response header.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use opentelemetry::trace::{Status, TraceContextExt};
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{LlmObservation, Metrics, OPENMETRICS_CONTENT_TYPE, RequestObservation, TEXT_CONTENT_TYPE};

/// Longest sleep `/slow` accepts, in milliseconds.
pub const SLOW_CAP_MS: u64 = 10_000;
/// Response header carrying the request's trace id.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

#[derive(Clone, Default)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// Fault injection (`SIGUSR1` toggles it): every request, `/metrics` and
    /// `/health` included, is answered 500, as a wedged service would.
    pub broken: Arc<AtomicBool>,
}

/// The app's router with every route and the instrumentation.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .route("/items/{item_id}", get(item))
        .route("/error", get(error))
        .route("/slow", get(slow))
        .route("/llm/chat", post(llm_chat))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), injected_fault))
        .layer(middleware::from_fn_with_state(state.clone(), instrument))
        .with_state(state)
}

/// Answers 500 to everything while the fault is injected (inside the
/// instrumentation: each such request is counted, traced and logged as a 5xx).
async fn injected_fault(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.broken.load(Ordering::Relaxed) {
        return error_body(StatusCode::INTERNAL_SERVER_ERROR, "injected fault: every request fails (SIGUSR1 toggles it)");
    }
    next.run(req).await
}

fn error_body(status: StatusCode, detail: impl Into<String>) -> Response {
    (status, Json(json!({ "detail": detail.into() }))).into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], state.metrics.render_openmetrics()).into_response()
    } else {
        ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], state.metrics.render_text()).into_response()
    }
}

async fn item(item_id: Result<Path<i64>, PathRejection>) -> Response {
    match item_id {
        Ok(Path(id)) => Json(json!({ "item_id": id, "name": format!("item-{id}") })).into_response(),
        Err(e) => error_body(StatusCode::UNPROCESSABLE_ENTITY, format!("item_id must be an integer: {}", e.body_text())),
    }
}

async fn error() -> Response {
    tracing::error!(route = "/error", "simulated failure in /error");
    error_body(StatusCode::INTERNAL_SERVER_ERROR, "simulated internal error")
}

#[derive(Deserialize)]
struct SlowQuery {
    ms: Option<String>,
}

async fn slow(Query(q): Query<SlowQuery>) -> Response {
    let ms = match q.ms.as_deref() {
        None => 500,
        Some(raw) => match raw.parse::<u64>() {
            Ok(ms) => ms.min(SLOW_CAP_MS),
            Err(_) => {
                return error_body(
                    StatusCode::BAD_REQUEST,
                    format!("query parameter ms must be a whole number of milliseconds (0-{SLOW_CAP_MS}), got {raw:?}"),
                );
            }
        },
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "slept_ms": ms })).into_response()
}

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    provider: String,
    prompt: String,
    #[serde(default)]
    fail: Option<String>,
}

/// The answer to a failed upstream LLM call: a provider's rate limit is passed
/// on as 429 (the caller should retry later, not a fault of this service), an
/// upstream timeout as 504, anything else as 502.
fn llm_failure_status(reason: &str) -> StatusCode {
    match reason {
        "rate_limit" => StatusCode::TOO_MANY_REQUESTS,
        "timeout" => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Simulated LLM latency: a fixed cost plus a per-word cost, like a real model.
fn simulated_latency(prompt_words: u64) -> Duration {
    Duration::from_millis(5 + (prompt_words * 2).min(200))
}

async fn llm_chat(State(state): State<AppState>, body: Result<Json<ChatRequest>, JsonRejection>) -> Response {
    let req = match body {
        Ok(Json(req)) => req,
        Err(e) => return error_body(e.status(), e.body_text()),
    };
    for (field, value) in [("model", &req.model), ("provider", &req.provider)] {
        if value.trim().is_empty() {
            return error_body(StatusCode::UNPROCESSABLE_ENTITY, format!("field `{field}` must not be empty"));
        }
    }
    let prompt_tokens = req.prompt.split_whitespace().count() as u64;
    let span = tracing::info_span!(
        "llm",
        otel.name = %format!("chat {}", req.model),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.system = %req.provider,
        gen_ai.provider.name = %req.provider,
        gen_ai.request.model = %req.model,
        gen_ai.usage.input_tokens = prompt_tokens as i64,
        gen_ai.usage.output_tokens = Empty,
        error.r#type = Empty,
    );
    let started = Instant::now();
    tokio::time::sleep(simulated_latency(prompt_tokens)).instrument(span.clone()).await;
    let latency = started.elapsed().as_secs_f64();
    let observation = |completion_tokens, error| LlmObservation {
        model: &req.model,
        provider: &req.provider,
        endpoint: "chat",
        latency_seconds: latency,
        prompt_tokens,
        completion_tokens,
        error,
    };
    if let Some(reason) = req.fail.as_deref().filter(|r| !r.is_empty()) {
        span.record("error.type", reason);
        span.set_status(Status::error(format!("LLM call failed: {reason}")));
        state.metrics.observe_llm(&observation(0, Some(reason)));
        tracing::warn!(model = %req.model, provider = %req.provider, reason, "LLM call failed");
        return (
            llm_failure_status(reason),
            Json(json!({ "detail": format!("upstream LLM call failed: {reason}"), "reason": reason })),
        )
            .into_response();
    }
    let completion = format!("Simulated {} answer to {} prompt words.", req.model, prompt_tokens);
    let completion_tokens = completion.split_whitespace().count() as u64;
    span.record("gen_ai.usage.output_tokens", completion_tokens as i64);
    state.metrics.observe_llm(&observation(completion_tokens, None));
    Json(json!({
        "model": req.model,
        "provider": req.provider,
        "completion": completion,
        "usage": { "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                   "total_tokens": prompt_tokens + completion_tokens },
    }))
    .into_response()
}

async fn not_found() -> Response {
    error_body(StatusCode::NOT_FOUND, "Not Found")
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

async fn instrument(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let handler = req.extensions().get::<MatchedPath>().map_or("none", |p| p.as_str()).to_owned();
    let path = req.uri().path().to_owned();
    let request_size = content_length(req.headers()).unwrap_or(0);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
    let span_name = if handler == "none" { method.clone() } else { format!("{method} {handler}") };
    let span = tracing::info_span!(
        "request",
        otel.name = %span_name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = Empty,
        url.path = %path,
        url.scheme = "http",
        http.response.status_code = Empty,
    );
    if handler != "none" {
        span.record("http.route", handler.as_str());
    }
    let _ = span.set_parent(parent);
    let span_context = span.context().span().span_context().clone();
    let (trace_id, span_id) = if span_context.is_valid() {
        (Some(span_context.trace_id().to_string()), Some(span_context.span_id().to_string()))
    } else {
        (None, None)
    };

    let mut response = next.run(req).instrument(span.clone()).await;

    let status = response.status().as_u16();
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
    if let Some(id) = trace_id.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(TRACE_ID_HEADER, id);
    }
    let response_size = content_length(response.headers()).or_else(|| response.body().size_hint().exact()).unwrap_or(0);
    let elapsed = started.elapsed();
    state.metrics.observe_request(&RequestObservation {
        method: &method,
        handler: &handler,
        status,
        duration_seconds: elapsed.as_secs_f64(),
        request_size: request_size as f64,
        response_size: response_size as f64,
        trace_id: trace_id.clone(),
    });
    let duration_ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let trace_id = trace_id.unwrap_or_default();
    let span_id = span_id.unwrap_or_default();
    macro_rules! request_log {
        ($level:ident) => {
            tracing::$level!(method = %method, route = %handler, path = %path, status, duration_ms,
                trace_id = %trace_id, span_id = %span_id, "{method} {path} {status}")
        };
    }
    if status >= 500 {
        request_log!(error);
    } else {
        request_log!(info);
    }
    response
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}
