//! The shop's routes and its instrumentation middleware.
//!
//! | route                   | answers                                                  |
//! |-------------------------|----------------------------------------------------------|
//! | `GET /ping`             | 200 `pong` (the healthcheck's probe)                     |
//! | `GET /metrics`          | 200, Prometheus text 0.0.4                               |
//! | `GET /api/orders/{id}`  | 200 for an id below 1000, 404 from 1000, 400 if not a number |
//! | `POST /api/orders`      | 201 for `{"item": "…", "quantity": n ≥ 1}`, 400 otherwise |
//! | `GET /api/fail`         | 503 (its inventory backend is "down")                    |
//! | anything else           | 404                                                      |
//!
//! The middleware gives every request one OpenTelemetry server span named
//! `METHOD /route` that joins an incoming W3C `traceparent`, the
//! `shop_http_*` metrics, one logfmt `msg=request` line carrying the trace id,
//! and the trace id echoed in the `x-trace-id` response header.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use serde::Deserialize;
use serde_json::json;

use crate::logfmt::{Level, Logger};
use crate::metrics::{self, Metrics};

/// Response header carrying the request's trace id.
pub const TRACE_ID_HEADER: &str = "x-trace-id";
/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";
/// Order ids from this one on do not exist.
pub const FIRST_MISSING_ORDER: u64 = 1000;

#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    pub tracer: SdkTracer,
    pub logger: Logger,
    next_order: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(tracer: SdkTracer, logger: Logger) -> Self {
        Self { metrics: Arc::default(), tracer, logger, next_order: Arc::new(AtomicU64::new(1)) }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/ping", get(ping))
        .route("/metrics", get(metrics))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/orders", axum::routing::post(create_order))
        .route("/api/fail", get(fail))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(state.clone(), instrument))
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn ping() -> &'static str {
    "pong"
}

async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], state.metrics.render()).into_response()
}

async fn get_order(Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Err(_) => error(StatusCode::BAD_REQUEST, format!("order id must be a whole number, got {id:?}")),
        Ok(id) if id >= FIRST_MISSING_ORDER => error(StatusCode::NOT_FOUND, format!("order {id} not found")),
        Ok(id) => Json(json!({ "id": id, "item": format!("sku-{}", id % 17), "quantity": 1 + id % 3, "status": "shipped" })).into_response(),
    }
}

#[derive(Deserialize)]
struct NewOrder {
    item: String,
    quantity: u32,
}

async fn create_order(State(state): State<AppState>, body: Result<Json<NewOrder>, JsonRejection>) -> Response {
    let order = match body {
        Ok(Json(order)) => order,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if order.item.trim().is_empty() || order.quantity == 0 {
        return error(StatusCode::BAD_REQUEST, "an order needs a non-empty `item` and a `quantity` of at least 1");
    }
    let id = state.next_order.fetch_add(1, Ordering::Relaxed);
    // A child of the request's server span: the (simulated) write to the order store.
    let mut persist = state.tracer.start_with_context("orders.persist", &Context::current());
    persist.set_attribute(KeyValue::new("shop.order.id", id as i64));
    persist.set_attribute(KeyValue::new("shop.order.quantity", i64::from(order.quantity)));
    persist.end();
    state.metrics.order_created();
    let location = format!("/api/orders/{id}");
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(json!({ "id": id, "item": order.item, "quantity": order.quantity, "status": "accepted" })),
    )
        .into_response()
}

async fn fail(State(state): State<AppState>) -> Response {
    let trace_id = Context::current().span().span_context().trace_id().to_string();
    state.logger.log(Level::Error, "inventory backend unavailable", &[("backend", &"inventory"), ("trace_id", &trace_id)]);
    error(StatusCode::SERVICE_UNAVAILABLE, "inventory backend unavailable, try again later")
}

async fn no_route() -> Response {
    error(StatusCode::NOT_FOUND, "no such route")
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
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let path = req.uri().path().to_owned();
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(req.headers()));
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.clone()),
        KeyValue::new("url.path", path.clone()),
        KeyValue::new("url.scheme", "http"),
    ];
    if let Some(r) = &route {
        attributes.push(KeyValue::new("http.route", r.clone()));
    }
    // Semantic conventions: `{method} {route}`, just `{method}` without a route.
    let name = route.as_ref().map_or_else(|| method.clone(), |r| format!("{method} {r}"));
    let span = state.tracer.span_builder(name).with_kind(SpanKind::Server).with_attributes(attributes).start_with_context(&state.tracer, &parent);
    let cx = parent.with_span(span);
    let span_context = cx.span().span_context().clone();

    let mut response = next.run(req).with_context(cx.clone()).await;

    let code = response.status().as_u16();
    let span = cx.span();
    span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
    if code >= 500 {
        span.set_attribute(KeyValue::new("error.type", code.to_string()));
        span.set_status(Status::error(format!("HTTP {code}")));
    }
    span.end();
    let trace_id = span_context.trace_id().to_string();
    if let Ok(v) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert(TRACE_ID_HEADER, v);
    }
    let elapsed = started.elapsed();
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    state.metrics.observe_request(route, &method, code, elapsed.as_secs_f64());
    let level = match code {
        500.. => Level::Error,
        400.. => Level::Warn,
        _ => Level::Info,
    };
    let dur_ms = format!("{:.3}", elapsed.as_secs_f64() * 1000.0);
    let span_id = span_context.span_id().to_string();
    state.logger.log(level, "request", &[
        ("method", &method),
        ("route", &route),
        ("path", &path),
        ("code", &code),
        ("dur_ms", &dur_ms),
        ("trace_id", &trace_id),
        ("span_id", &span_id),
    ]);
    response
}
