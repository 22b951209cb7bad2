//! The Prometheus surface of the reference app.
//!
//! Names, labels, help texts and buckets are those `prometheus_fastapi_instrumentator`
//! emits with its defaults, so dashboards written for the FastAPI original keep
//! working; the `llm_*` families are the ones the LLM dashboards query.
//!
//! `prometheus-client` encodes everything it supports (counters, histograms with
//! exemplars) in both the Prometheus text format 0.0.4 and OpenMetrics. It has no
//! summary type, so the two size summaries (which the Python client emits with
//! `_sum` and `_count` only, no quantiles) are kept here and appended to its output.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of `http_request_duration_seconds` (instrumentator default).
pub const LATENCY_LOWR_BUCKETS: [f64; 3] = [0.1, 0.5, 1.0];
/// Buckets of `http_request_duration_highr_seconds` (instrumentator default).
pub const LATENCY_HIGHR_BUCKETS: [f64; 21] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    7.5, 10.0, 30.0, 60.0,
];
/// Buckets of `llm_latency_seconds`.
pub const LLM_LATENCY_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

/// `Content-Type` of the Prometheus text exposition format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// `Content-Type` of OpenMetrics 1.0.0, served when the scraper asks for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub status: String,
    pub handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub method: String,
    pub handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmLabels {
    pub model: String,
    pub provider: String,
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    pub model: String,
    pub provider: String,
    pub r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LlmErrorLabels {
    pub model: String,
    pub provider: String,
    pub reason: String,
}

/// Exemplar labels: the trace a histogram observation came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceExemplar {
    pub trace_id: String,
}

type ExemplarHistogram = HistogramWithExemplars<TraceExemplar>;

#[derive(Clone)]
struct Buckets(&'static [f64]);

impl MetricConstructor<ExemplarHistogram> for Buckets {
    fn new_metric(&self) -> ExemplarHistogram {
        HistogramWithExemplars::new(self.0.iter().copied())
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// A summary without quantiles, as the Python client's `Summary` exposes it.
#[derive(Default)]
struct Summary {
    name: &'static str,
    help: &'static str,
    /// handler -> (sum, count)
    series: Mutex<BTreeMap<String, (f64, u64)>>,
}

impl Summary {
    fn new(name: &'static str, help: &'static str) -> Self {
        Self { name, help, series: Mutex::default() }
    }

    fn observe(&self, handler: &str, value: f64) {
        let mut series = self.series.lock().expect("summary lock");
        let entry = series.entry(handler.to_owned()).or_default();
        entry.0 += value;
        entry.1 += 1;
    }

    fn encode(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} summary", self.name);
        for (handler, (sum, count)) in self.series.lock().expect("summary lock").iter() {
            let handler = escape_label_value(handler);
            let _ = writeln!(out, "{}_sum{{handler=\"{handler}\"}} {}", self.name, fmt_f64(*sum));
            let _ = writeln!(out, "{}_count{{handler=\"{handler}\"}} {count}", self.name);
        }
    }
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn fmt_f64(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.1}") } else { format!("{v}") }
}

/// What one finished HTTP request contributes to the metrics.
pub struct RequestObservation<'a> {
    pub method: &'a str,
    pub handler: &'a str,
    pub status: u16,
    pub duration_seconds: f64,
    pub request_size: f64,
    pub response_size: f64,
    pub trace_id: Option<String>,
}

/// What one simulated LLM call contributes.
pub struct LlmObservation<'a> {
    pub model: &'a str,
    pub provider: &'a str,
    pub endpoint: &'a str,
    pub latency_seconds: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub error: Option<&'a str>,
}

/// All metric families of the app, with their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency_lowr: Family<LatencyLabels, ExemplarHistogram, Buckets>,
    latency_highr: Histogram,
    request_size: Summary,
    response_size: Summary,
    llm_calls: Family<LlmLabels, Counter>,
    llm_latency: Family<LlmLabels, Histogram, Buckets>,
    llm_tokens: Family<TokenLabels, Counter>,
    llm_errors: Family<LlmErrorLabels, Counter>,
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
        registry.register(
            "http_requests",
            "Total number of requests by method, status and handler",
            requests.clone(),
        );
        let latency_lowr = Family::new_with_constructor(Buckets(&LATENCY_LOWR_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. Made to be only used if aggregation by handler is important",
            latency_lowr.clone(),
        );
        let latency_highr = Histogram::new(LATENCY_HIGHR_BUCKETS.iter().copied());
        registry.register(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. Made for more accurate percentile calculations",
            latency_highr.clone(),
        );
        let llm_calls = Family::<LlmLabels, Counter>::default();
        registry.register("llm_calls", "Total number of LLM calls by model, provider and endpoint", llm_calls.clone());
        let llm_latency = Family::new_with_constructor(Buckets(&LLM_LATENCY_BUCKETS));
        registry.register("llm_latency_seconds", "Latency of LLM calls in seconds", llm_latency.clone());
        let llm_tokens = Family::<TokenLabels, Counter>::default();
        registry.register("llm_tokens", "Total number of LLM tokens by type (prompt or completion)", llm_tokens.clone());
        let llm_errors = Family::<LlmErrorLabels, Counter>::default();
        registry.register("llm_errors", "Total number of failed LLM calls by reason", llm_errors.clone());
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            registry,
            requests,
            latency_lowr,
            latency_highr,
            request_size: Summary::new(
                "http_request_size_bytes",
                "Content length of incoming requests by handler. Only value of header is respected. Otherwise 0.",
            ),
            response_size: Summary::new(
                "http_response_size_bytes",
                "Content length of outgoing responses by handler. Only value of header is respected. Otherwise 0.",
            ),
            llm_calls,
            llm_latency,
            llm_tokens,
            llm_errors,
        }
    }

    pub fn observe_request(&self, o: &RequestObservation<'_>) {
        self.requests
            .get_or_create(&RequestLabels {
                method: o.method.to_owned(),
                status: status_group(o.status).to_owned(),
                handler: o.handler.to_owned(),
            })
            .inc();
        let exemplar = o.trace_id.clone().map(|trace_id| TraceExemplar { trace_id });
        self.latency_lowr
            .get_or_create(&LatencyLabels { method: o.method.to_owned(), handler: o.handler.to_owned() })
            .observe(o.duration_seconds, exemplar, Some(SystemTime::now()));
        self.latency_highr.observe(o.duration_seconds);
        self.request_size.observe(o.handler, o.request_size);
        self.response_size.observe(o.handler, o.response_size);
    }

    pub fn observe_llm(&self, o: &LlmObservation<'_>) {
        let labels = LlmLabels {
            model: o.model.to_owned(),
            provider: o.provider.to_owned(),
            endpoint: o.endpoint.to_owned(),
        };
        self.llm_calls.get_or_create(&labels).inc();
        self.llm_latency.get_or_create(&labels).observe(o.latency_seconds);
        for (kind, n) in [("prompt", o.prompt_tokens), ("completion", o.completion_tokens)] {
            self.llm_tokens
                .get_or_create(&TokenLabels {
                    model: o.model.to_owned(),
                    provider: o.provider.to_owned(),
                    r#type: kind.to_owned(),
                })
                .inc_by(n);
        }
        if let Some(reason) = o.error {
            self.llm_errors
                .get_or_create(&LlmErrorLabels {
                    model: o.model.to_owned(),
                    provider: o.provider.to_owned(),
                    reason: reason.to_owned(),
                })
                .inc();
        }
    }

    /// The exposition in the Prometheus text format 0.0.4 (no exemplars).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        self.request_size.encode(&mut out);
        self.response_size.encode(&mut out);
        out
    }

    /// The exposition in OpenMetrics 1.0.0, with trace-id exemplars.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        self.request_size.encode(&mut out);
        self.response_size.encode(&mut out);
        prometheus_client::encoding::text::encode_eof(&mut out).expect("writing to a String cannot fail");
        out
    }
}

/// `2xx`, `4xx`, `5xx`: the instrumentator's `should_group_status_codes`.
pub fn status_group(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The `process_*` family, read from `/proc/self` at scrape time like the
/// Python client's `ProcessCollector`.
#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(me) = procfs::process::Process::myself() else { return Ok(()) };
        let Ok(stat) = me.stat() else { return Ok(()) };
        let ticks = procfs::ticks_per_second() as f64;
        let page = procfs::page_size() as f64;
        let boot = procfs::boot_time_secs().unwrap_or(0) as f64;
        let cpu = ConstCounter::new((stat.utime + stat.stime) as f64 / ticks);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            ("process_virtual_memory_bytes", "Virtual memory size in bytes", stat.vsize as f64),
            ("process_resident_memory_bytes", "Resident memory size in bytes", stat.rss as f64 * page),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                boot + stat.starttime as f64 / ticks,
            ),
        ];
        if let Ok(fds) = me.fd_count() {
            gauges.push(("process_open_fds", "Number of open file descriptors", fds as f64));
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(v) = limits.max_open_files.soft_limit {
            gauges.push(("process_max_fds", "Maximum number of open file descriptors", v as f64));
        }
        for (name, help, value) in gauges {
            let g = ConstGauge::new(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}
