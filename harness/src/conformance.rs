//! The conformance run's signal phase: where each backend is ([`Targets`]),
//! the traffic scenario, and every signal check with its verdict.
//!
//! A check whose backend is not running (air-gapped set, or a `--target`
//! list without it) is reported as not run, with the reason.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::backends::{GrafanaClient, JaegerClient, LokiClient, PrometheusClient};
use crate::checks::{self, CheckResult, Verdict};
use crate::stack::StackState;
use crate::traffic::{self, Scenario, TrafficRecord};

/// The Loki tenant of the bundled stack (`auth_enabled: true`, Promtail `tenant_id`).
pub const LOKI_TENANT: &str = "docker";
/// The app's Prometheus job.
pub const JOB: &str = "fastapi";

/// Base URLs of the backends a run checks; `None` = not available, with the reason.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub urls: BTreeMap<String, String>,
    pub missing: BTreeMap<String, String>,
    /// The app's container name as Promtail labels it (`container`).
    pub app_container: String,
}

/// Backend name -> (compose service, container port).
pub const BACKENDS: &[(&str, &str, u16)] = &[
    ("app", "app", 8000),
    ("prometheus", "prometheus", 9090),
    ("alertmanager", "alertmanager", 9093),
    ("jaeger", "jaeger", 16686),
    ("loki", "loki", 3100),
    ("grafana", "grafana", 3000),
    ("otel-collector", "otel-collector", 13133),
    ("webhook", crate::webhook::SERVICE, crate::webhook::PORT),
];

impl Targets {
    /// The endpoints of a stack the harness started.
    pub fn from_state(state: &StackState) -> Self {
        let mut t = Targets::default();
        for (name, service, port) in BACKENDS {
            match state.url(service, *port) {
                Some(u) => {
                    t.urls.insert(name.to_string(), u);
                }
                None => {
                    t.missing.insert(name.to_string(), state.not_running_reason(service).unwrap_or_else(|| format!("port {port} of `{service}` is not published")));
                }
            }
        }
        t.app_container = state.services.get("app").map(|s| s.container_name.clone()).unwrap_or_else(|| "api".into());
        t
    }

    /// `prometheus=URL,loki=URL,...` for a stack that is already running.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut t = Targets { app_container: "api".into(), ..Default::default() };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, url) = part.split_once('=').ok_or_else(|| format!("`{part}` is not NAME=URL"))?;
            if !BACKENDS.iter().any(|(b, _, _)| *b == name) {
                return Err(format!("unknown backend `{name}`; known: {}", BACKENDS.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("`{name}={url}`: the URL must start with http:// or https://"));
            }
            t.urls.insert(name.to_owned(), url.trim_end_matches('/').to_owned());
        }
        for (name, _, _) in BACKENDS {
            if !t.urls.contains_key(*name) {
                t.missing.insert(name.to_string(), format!("no `{name}=URL` in --target"));
            }
        }
        Ok(t)
    }

    pub fn url(&self, name: &str) -> Option<&str> {
        self.urls.get(name).map(String::as_str)
    }

    fn reason(&self, name: &str) -> String {
        self.missing.get(name).cloned().unwrap_or_else(|| format!("{name} not available"))
    }

    pub fn prometheus(&self) -> Option<PrometheusClient> {
        self.url("prometheus").map(PrometheusClient::new)
    }
    pub fn jaeger(&self) -> Option<JaegerClient> {
        self.url("jaeger").map(JaegerClient::new)
    }
    pub fn loki(&self) -> Option<LokiClient> {
        self.url("loki").map(|u| LokiClient::new(u).with_tenant(LOKI_TENANT))
    }
    pub fn grafana(&self) -> Option<GrafanaClient> {
        self.url("grafana").map(GrafanaClient::new)
    }
}

/// Runs `check` unless one of `needs` is missing; times it.
pub async fn run_check<F: Future<Output = Verdict>>(phase: &str, name: &str, targets: &Targets, needs: &[&str], check: F) -> CheckResult {
    if let Some(missing) = needs.iter().find(|n| targets.url(n).is_none()) {
        return CheckResult::new(phase, name, Verdict::NotRun { reason: targets.reason(missing) }, Duration::ZERO);
    }
    let start = Instant::now();
    let verdict = check.await;
    CheckResult::new(phase, name, verdict, start.elapsed())
}

/// Options of the signal phase.
#[derive(Debug, Clone)]
pub struct SignalOptions {
    pub scenario: Scenario,
    /// Per check.
    pub timeout: Duration,
}

impl Default for SignalOptions {
    fn default() -> Self {
        Self { scenario: Scenario::default_scenario(), timeout: Duration::from_secs(60) }
    }
}

/// Drives the scenario, then checks traces, series, logs, Grafana and cross-signal correlation.
pub async fn signals(targets: &Targets, opts: &SignalOptions) -> (Option<TrafficRecord>, Vec<CheckResult>) {
    const PHASE: &str = "signals";
    let timeout = opts.timeout;
    let mut results = Vec::new();
    let prom = targets.prometheus();
    let (jaeger, loki, grafana) = (targets.jaeger(), targets.loki(), targets.grafana());

    // Prometheus must scrape the app before the "before" snapshot means anything.
    results.push(
        run_check(PHASE, "prometheus.target_up.fastapi", targets, &["prometheus"], async {
            checks::prometheus::target_up(prom.as_ref().expect("needed"), JOB, timeout).await
        })
        .await,
    );
    let before = match &prom {
        Some(p) => checks::prometheus::counter_snapshot(p, JOB).await.ok(),
        None => None,
    };
    let record = match targets.url("app") {
        Some(app) => match traffic::drive(app, &opts.scenario).await {
            Ok(r) => Some(r),
            Err(e) => {
                results.push(CheckResult::new(PHASE, "traffic.scenario", Verdict::Failed { message: e.to_string() }, Duration::ZERO));
                None
            }
        },
        None => None,
    };
    let Some(record) = record else {
        let reason = targets.missing.get("app").cloned().unwrap_or_else(|| "the traffic scenario failed".into());
        results.push(CheckResult::new(PHASE, "traffic.scenario", Verdict::NotRun { reason: reason.clone() }, Duration::ZERO));
        return (None, results);
    };
    let echoed = record.sent.iter().filter(|s| s.echoed_trace_id.as_deref() == Some(s.trace_id.as_str())).count();
    results.push(CheckResult::new(
        PHASE,
        "traffic.scenario",
        if echoed == record.sent.len() {
            Verdict::Passed { detail: format!("{} request(s) sent, each joined the trace the driver chose", record.sent.len()) }
        } else {
            Verdict::Failed { message: format!("only {echoed} of {} response(s) echoed the chosen trace id in x-trace-id", record.sent.len()) }
        },
        Duration::ZERO,
    ));
    let p = prom.as_ref();
    let r = &record;
    results.push(
        run_check(PHASE, "prometheus.requests_match_traffic", targets, &["prometheus"], async {
            match &before {
                Some(b) => checks::prometheus::requests_match_traffic(p.expect("needed"), r, JOB, b, timeout).await,
                None => Verdict::Failed { message: "could not read http_requests_total before the traffic".into() },
            }
        })
        .await,
    );
    results.push(
        run_check(PHASE, "prometheus.histogram_families", targets, &["prometheus"], async {
            checks::prometheus::histogram_families_present(p.expect("needed"), r, JOB, checks::prometheus::HTTP_DURATION_BUCKETS, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "prometheus.process_metrics", targets, &["prometheus"], async {
            checks::prometheus::process_metrics_present(p.expect("needed"), JOB, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "prometheus.llm_families", targets, &["prometheus"], async {
            checks::prometheus::llm_families_match(p.expect("needed"), r, JOB, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "prometheus.exemplar_trace_ids", targets, &["prometheus"], async {
            checks::prometheus::exemplar_has_trace(p.expect("needed"), r, JOB, timeout).await
        })
        .await,
    );
    // The collector's own metrics (job `otel-collector`): only where the collector runs.
    results.push(
        run_check(PHASE, "prometheus.target_up.otel-collector", targets, &["prometheus", "otel-collector"], async {
            checks::prometheus::target_up(p.expect("needed"), "otel-collector", timeout).await
        })
        .await,
    );

    let j = jaeger.as_ref();
    results.push(
        run_check(PHASE, "jaeger.service", targets, &["jaeger"], async {
            checks::jaeger::service_present(j.expect("needed"), "fastapi-backend", timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "jaeger.traces", targets, &["jaeger"], async {
            checks::jaeger::traces_match(j.expect("needed"), r, &checks::jaeger::TraceExpectations::default(), timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "jaeger.search", targets, &["jaeger"], async {
            checks::jaeger::traces_searchable(j.expect("needed"), r, &checks::jaeger::TraceExpectations::default(), timeout).await
        })
        .await,
    );

    let l = loki.as_ref();
    let container = targets.app_container.clone();
    results.push(
        run_check(PHASE, "loki.stream_labels", targets, &["loki"], async {
            let expected = [("job", "docker"), ("service", "app"), ("env", "dev"), ("version", "0.1.0")];
            checks::loki::stream_labelled(l.expect("needed"), &container, &expected, Duration::from_secs(3600), timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "loki.request_lines", targets, &["loki"], async {
            checks::loki::request_lines_present(l.expect("needed"), r, "{service=\"app\"}", 3, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "loki.only_labelled_containers", targets, &["loki"], async {
            checks::loki::only_labelled_services(l.expect("needed"), &["app"]).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "loki.tenant", targets, &["loki"], async { checks::loki::tenant_enforced(l.expect("needed")).await }).await,
    );

    let g = grafana.as_ref();
    results.push(run_check(PHASE, "grafana.health", targets, &["grafana"], async { checks::grafana::healthy(g.expect("needed"), timeout).await }).await);
    results.push(
        run_check(PHASE, "grafana.datasources", targets, &["grafana"], async {
            checks::grafana::datasources_provisioned(g.expect("needed"), &checks::grafana::ExpectedDatasource::bundled(), timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "grafana.dashboards", targets, &["grafana"], async {
            checks::grafana::dashboards_provisioned(g.expect("needed"), &["fastapi-overview", "llm-overview"], "FastAPI").await
        })
        .await,
    );
    let (from, to) = (r.started - Duration::from_secs(300), std::time::SystemTime::now() + Duration::from_secs(60));
    results.push(
        run_check(PHASE, "grafana.ds_query.prometheus", targets, &["grafana"], async {
            checks::grafana::ds_query_returns_frames(g.expect("needed"), "prometheus", "prometheus", "sum(http_requests_total)", from, to, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "grafana.ds_query.loki", targets, &["grafana"], async {
            checks::grafana::ds_query_returns_frames(g.expect("needed"), "loki", "loki", "{service=\"app\"}", from, to, timeout).await
        })
        .await,
    );

    // Grafana's Jaeger datasource against this Jaeger: health, a trace by id, a search.
    let sample = r.trace_ids("/items/{item_id}", "2xx").into_iter().next().or_else(|| r.sent.first().map(|s| s.trace_id.clone())).unwrap_or_default();
    results.push(
        run_check(PHASE, "grafana.jaeger.health", targets, &["grafana", "jaeger"], async {
            checks::grafana::datasource_healthy(g.expect("needed"), "jaeger", timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "grafana.jaeger.trace", targets, &["grafana", "jaeger"], async {
            checks::grafana::jaeger_trace_via_grafana(g.expect("needed"), "jaeger", &sample, from, to, timeout).await
        })
        .await,
    );
    results.push(
        run_check(PHASE, "grafana.jaeger.search", targets, &["grafana", "jaeger"], async {
            checks::grafana::jaeger_search_via_grafana(g.expect("needed"), "jaeger", "fastapi-backend", &sample, from, to, timeout).await
        })
        .await,
    );

    // One request followed across traces, logs and metrics.
    // The app exposes only the latest exemplar per bucket, so the id to follow is
    // one Prometheus actually stored (when it runs), else the first request's.
    let sent: std::collections::BTreeSet<&str> = r.sent.iter().map(|s| s.trace_id.as_str()).collect();
    let mut trace_id = None;
    if let Some(p) = p {
        let (start, end) = (r.started - Duration::from_secs(60), std::time::SystemTime::now() + Duration::from_secs(60));
        let expr = format!("http_request_duration_seconds_bucket{{job={JOB:?}}}");
        if let Ok(seen) = checks::prometheus::exemplar_trace_ids(p, &expr, start, end).await {
            trace_id = seen.into_iter().map(|(_, t)| t).find(|t| sent.contains(t.as_str()));
        }
    }
    let trace_id = trace_id.or_else(|| r.trace_ids("/items/{item_id}", "2xx").into_iter().next()).or_else(|| r.sent.first().map(|s| s.trace_id.clone()));
    results.push(match trace_id {
        Some(id) => {
            let start = Instant::now();
            let opts = checks::jaeger::CorrelateOptions::for_record(r, timeout);
            let v = checks::jaeger::correlate(&id, j, l, p, &opts).await;
            CheckResult::new(PHASE, "correlation.trace_id", v, start.elapsed())
        }
        None => CheckResult::new(PHASE, "correlation.trace_id", Verdict::NotRun { reason: "no request was sent".into() }, Duration::ZERO),
    });
    (Some(record), results)
}
