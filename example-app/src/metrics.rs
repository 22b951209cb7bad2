//! The shop's own Prometheus metrics (deliberately not the reference app's
//! names): `shop_http_requests_total{route,method,code}`,
//! `shop_http_request_duration_seconds{route,method}` and
//! `shop_orders_created_total`, served as Prometheus text 0.0.4.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of `shop_http_request_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 9] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DurationLabels {
    pub route: String,
    pub method: String,
}

type DurationFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    orders_created: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("shop_http_requests", "HTTP requests served, by route template, method and status code", requests.clone());
        let duration: DurationFamily = Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        registry.register("shop_http_request_duration_seconds", "Time to serve an HTTP request, by route template and method", duration.clone());
        let orders_created = Counter::default();
        registry.register("shop_orders_created", "Orders accepted by POST /api/orders", orders_created.clone());
        Self { registry, requests, duration, orders_created }
    }

    /// Counts and times one finished request.
    pub fn observe_request(&self, route: &str, method: &str, code: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { route: route.into(), method: method.into(), code: code.to_string() }).inc();
        self.duration.get_or_create(&DurationLabels { route: route.into(), method: method.into() }).observe(seconds);
    }

    pub fn order_created(&self) {
        self.orders_created.inc();
    }

    /// The exposition in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
