//! The conformance run's signal phase: where each backend is ([`Targets`]),
//! the traffic scenario, and every signal check with its verdict.
//!
//! A check whose backend is not running (air-gapped set, or a `--target`
//! list without it) is reported as not run, with the reason. Everything a
//! check expects (job, OTel service name, tenant, stream labels, datasource
//! uids, dashboards) comes from the stack's [`StackProfile`]; an expectation
//! the profile lacks makes its checks *not run*, with a hint.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::backends::{GrafanaClient, JaegerClient, LokiClient, PrometheusClient, TempoClient};
use crate::checks::{self, CheckResult, Verdict};
use crate::profile::StackProfile;
use crate::stack::StackState;
use crate::traffic::{self, Scenario, TrafficRecord};

/// Base URLs of the backends a run checks; `None` = not available, with the reason.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    pub urls: BTreeMap<String, String>,
    pub missing: BTreeMap<String, String>,
    /// The app's container name as Promtail labels it (`container`).
    pub app_container: String,
    /// What the stack says the checks must expect.
    pub profile: StackProfile,
    /// Backends (or links) a failed check showed to be broken: `name ->
    /// "blocked by `check`: message"`. Checks that need them are not run.
    pub blocked: BTreeMap<String, String>,
    /// The compose service each backend runs as (`app -> api`, say), for
    /// failure messages that carry its container's log lines.
    pub services: BTreeMap<String, String>,
}

/// Where the state of the stack's troubled services, appended to a failure message, begins.
pub(crate) const STACK_NOW_HEAD: &str = "\n(the stack now: ";

/// "blocked by `<the lint check of finding f>`: <its message>".
fn blocked_by_finding(f: &crate::lint::Finding) -> String {
    format!("blocked by `lint.{} {}:{}`: {}", f.rule, f.file, f.line, f.message)
}

/// What a failed check's dependents report: "blocked by `<check>`: <its message>".
fn blocked_by(r: &CheckResult) -> Option<String> {
    match &r.verdict {
        // The failure itself, without the container logs and states appended to it.
        Verdict::Failed { message } => {
            let own = [crate::eventually::LOGS_HEAD, STACK_NOW_HEAD].iter().filter_map(|h| message.find(h)).min().map_or(message.as_str(), |i| &message[..i]);
            Some(format!("blocked by `{}`: {}", r.name, own.trim_end()))
        }
        _ => None,
    }
}

/// The hint when the profile lacks an expectation.
fn declare(what: &str, key: &str) -> String {
    format!("the stack profile has no {what} (hint: declare `{key}:` in {} beside the compose file; `obs-harness profile` shows what was derived)", crate::profile::OVERRIDE_FILE)
}

/// The backends a run talks to: (name, fallback compose service, fallback
/// port). [`Targets::from_state_with`] finds each by its kind in the stack
/// model first (any service name, the port its config sets).
pub const BACKENDS: &[(&str, &str, u16)] = &[
    ("app", "app", 8000),
    ("prometheus", "prometheus", 9090),
    ("alertmanager", "alertmanager", 9093),
    ("jaeger", "jaeger", 16686),
    ("tempo", "tempo", 3200),
    ("loki", "loki", 3100),
    ("grafana", "grafana", 3000),
    ("otel-collector", "otel-collector", 13133),
    ("webhook", crate::webhook::SERVICE, crate::webhook::PORT),
];

impl Targets {
    /// The endpoints of a stack the harness started (and its profile, read
    /// from the compose file it was started from).
    pub fn from_state(state: &StackState) -> Self {
        let dir = state.compose_file.parent().unwrap_or(std::path::Path::new("."));
        Self::from_state_with(state, crate::lint::stack_profile_of(dir, &state.compose_input()).unwrap_or_default())
    }

    /// The endpoints of a stack the harness started, expecting `profile`
    /// (after a restart: the run's own, not read again).
    pub fn from_state_with(state: &StackState, profile: StackProfile) -> Self {
        let mut t = Targets::default();
        let app = profile.app.as_ref().map(|a| (a.service.clone(), a.port.unwrap_or(8000)));
        // Each backend is found by its kind in the stack model, on the port its
        // own config sets; the compose names and image ports are the fallback.
        let dir = state.compose_file.parent().unwrap_or(std::path::Path::new("."));
        let model = crate::model::StackModel::load_input(dir, &state.compose_input()).ok();
        let by_kind = |name: &str| -> Option<(String, u16)> {
            let (kind, serves) = match name {
                "prometheus" => ("prometheus", "prometheus"),
                "alertmanager" => ("alertmanager", "alertmanager"),
                "jaeger" => ("jaeger", "jaeger-query"),
                "tempo" => ("tempo", "tempo"),
                "loki" => ("loki", "loki"),
                "grafana" => ("grafana", "grafana"),
                "otel-collector" => ("otel-collector", "health"),
                _ => return None,
            };
            let n = model.as_ref()?.of_kind(kind).find(|n| state.services.contains_key(&n.name)).or_else(|| model.as_ref()?.of_kind(kind).next())?;
            Some((n.name.clone(), n.serving(serves)?.port))
        };
        for (name, service, port) in BACKENDS {
            let found = by_kind(name);
            let (service, port) = match (name, &app, &found) {
                (&"app", Some((s, p)), _) => (s.as_str(), *p),
                (_, _, Some((s, p))) => (s.as_str(), *p),
                _ => (*service, *port),
            };
            t.services.insert(name.to_string(), service.to_owned());
            match state.url(service, port) {
                Some(u) => {
                    t.urls.insert(name.to_string(), u);
                }
                None => {
                    t.missing.insert(name.to_string(), state.not_running_reason(service).unwrap_or_else(|| format!("port {port} of `{service}` is not published")));
                }
            }
        }
        let app_service = app.map(|(s, _)| s).unwrap_or_default();
        t.app_container = state.services.get(&app_service).map(|s| s.container_name.clone()).unwrap_or_default();
        t.profile = profile;
        t
    }

    /// Links the static gate found broken block what needs them, before any
    /// wait: `app-scrape` (Prometheus → the app), `prometheus-alertmanager`,
    /// `ruler-alertmanager` (Loki ruler → Alertmanager) and `promtail-loki`,
    /// each "blocked by `lint.<rule> file:line`: message".
    pub fn block_broken_links(&mut self, model: &crate::model::StackModel) {
        for l in &model.links {
            let Some(f) = crate::model::links::check_link(model, l) else { continue };
            let kind = |n: Option<&str>| n.and_then(|n| model.node(n)).map_or("", |n| n.kind);
            let key = match (kind(Some(&l.from)), kind(l.to.as_deref()), l.rule) {
                (_, _, "alerting-target-unknown-service") | ("prometheus", "alertmanager", _) => "prometheus-alertmanager",
                (_, _, "loki-ruler-alertmanager-unknown-service") | ("loki", "alertmanager", _) => "ruler-alertmanager",
                (_, _, "promtail-client-unknown-service") | ("promtail", "loki", _) => "promtail-loki",
                ("prometheus", "app", _) => "app-scrape",
                (_, "tempo", _) if matches!(l.proto, crate::model::Proto::OtlpGrpc | crate::model::Proto::OtlpHttp | crate::model::Proto::Otlp) => "traces-tempo",
                _ => continue,
            };
            self.blocked.entry(key.to_owned()).or_insert_with(|| blocked_by_finding(&f));
        }
    }

    /// Blocks the log path (link `promtail-loki`) when lint found that
    /// Promtail's container filter selects no service and the model has
    /// Promtail reading no logs of the app's service: nothing the app writes
    /// reaches Loki, so the checks of its lines wait for nothing.
    pub fn block_unshipped_logs(&mut self, model: &crate::model::StackModel, findings: &[crate::lint::Finding]) {
        let Some(f) = findings.iter().find(|f| f.rule == "promtail-filter-no-match") else { return };
        let app = self.profile.app.as_ref().map(|a| a.service.as_str());
        let read = model.links.iter().any(|l| l.proto == crate::model::Proto::DockerLogs && app.is_none_or(|a| l.host == a));
        if !read {
            self.blocked.entry("promtail-loki".to_owned()).or_insert_with(|| blocked_by_finding(f));
        }
    }

    /// The expectations of `profile` (for `--target`, where no stack was started).
    pub fn with_profile(mut self, profile: StackProfile) -> Self {
        if self.app_container.is_empty() {
            self.app_container = profile.app.as_ref().and_then(|a| a.container_name.clone()).unwrap_or_default();
        }
        self.profile = profile;
        self
    }

    /// Marks what the signal phase's `results` showed broken, so later phases
    /// report their dependents as blocked instead of waiting: a backend that
    /// could not be reached, and the app's scrape target (link `app-scrape`).
    pub fn block_from(&mut self, results: &[CheckResult]) {
        for r in results {
            let Some(reason) = blocked_by(r) else { continue };
            if let Some(backend) = r.name.strip_prefix("reachability.") {
                self.blocked.insert(backend.to_owned(), reason);
            } else if r.name.starts_with("prometheus.target_up.") && r.name != "prometheus.target_up.otel-collector" {
                self.blocked.insert("app-scrape".to_owned(), reason);
            }
        }
    }

    /// `prometheus=URL,loki=URL,...` for a stack that is already running.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut t = Targets::default();
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
    /// Tempo, as the tenant its traces go to when multitenancy is on.
    pub fn tempo(&self) -> Option<TempoClient> {
        self.url("tempo").map(|u| match self.profile.tempo.as_ref().and_then(|t| t.tenant.as_ref()) {
            Some(t) => TempoClient::new(u).with_tenant(t),
            None => TempoClient::new(u),
        })
    }
    pub fn loki(&self) -> Option<LokiClient> {
        self.url("loki").map(|u| match &self.profile.tenant {
            Some(t) => LokiClient::new(u).with_tenant(t),
            None => LokiClient::new(u),
        })
    }
    pub fn grafana(&self) -> Option<GrafanaClient> {
        self.url("grafana").map(GrafanaClient::new)
    }
}

/// Checks on one backend, run one after another.
type Checks<'a> = Vec<std::pin::Pin<Box<dyn Future<Output = CheckResult> + 'a>>>;

async fn in_order(checks: Checks<'_>) -> Vec<CheckResult> {
    let mut out = Vec::with_capacity(checks.len());
    for c in checks {
        out.push(c.await);
    }
    out
}

/// `blocker`'s verdict (not run, with its reason) if there is one, else `check`'s.
async fn or_blocked<'a>(blocker: impl Into<Option<&'a Verdict>>, check: impl Future<Output = Verdict>) -> Verdict {
    match blocker.into() {
        Some(v) => v.clone(),
        None => check.await,
    }
}

/// Runs `check` unless one of `needs` is missing or blocked; times it.
pub async fn run_check<F: Future<Output = Verdict>>(phase: &str, name: &str, targets: &Targets, needs: &[&str], check: F) -> CheckResult {
    if let Some(missing) = needs.iter().find(|n| BACKENDS.iter().any(|b| b.0 == **n) && targets.url(n).is_none()) {
        return CheckResult::new(phase, name, Verdict::NotRun { reason: targets.reason(missing) }, Duration::ZERO);
    }
    if let Some(reason) = needs.iter().find_map(|n| targets.blocked.get(*n)) {
        return CheckResult::new(phase, name, Verdict::NotRun { reason: reason.clone() }, Duration::ZERO);
    }
    let start = Instant::now();
    let verdict = check.await;
    CheckResult::new(phase, name, verdict, start.elapsed())
}

/// Reachability first: one request to each backend of the run. A refused
/// connection, a DNS failure or no answer at all is a verdict on its own
/// (`reachability.<backend>` failed), and every check that needs that
/// backend is then reported *not run: blocked by* it, without waiting.
pub async fn reachability(targets: &mut Targets) -> Vec<CheckResult> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("reqwest client");
    // Paths that change nothing the checks count: never the app's own routes
    // (an extra request would show in its http_requests_total), only its metrics.
    let path = |name: &str| match name {
        "app" => "/metrics",
        "prometheus" | "alertmanager" => "/-/healthy",
        "loki" | "tempo" => "/ready",
        "grafana" => "/api/health",
        _ => "/",
    };
    let probes = targets.urls.clone().into_iter().filter(|(name, _)| name != "webhook").map(|(name, url)| {
        let client = client.clone();
        let probe = format!("{url}{}", path(&name));
        async move {
            let start = Instant::now();
            let verdict = match client.get(&probe).send().await {
                Ok(r) => Verdict::Passed { detail: format!("{name} at {url} answers (HTTP {})", r.status().as_u16()) },
                Err(e) => {
                    let what = if e.is_connect() {
                        "refused the connection (or its host does not resolve)"
                    } else if e.is_timeout() {
                        "did not answer within 5 s"
                    } else {
                        "could not be reached"
                    };
                    let mut chain = String::new();
                    let mut src: Option<&dyn std::error::Error> = Some(&e);
                    while let Some(err) = src {
                        chain = err.to_string();
                        src = err.source();
                    }
                    Verdict::Failed { message: format!("{name} at {url} {what}: {chain} (hint: is the service running and the URL its published port?)") }
                }
            };
            let check = CheckResult::new("signals", &format!("reachability.{name}"), verdict, start.elapsed());
            (name, check)
        }
    });
    let mut out = Vec::new();
    for (name, r) in futures::future::join_all(probes).await {
        if let Verdict::Failed { message } = &r.verdict {
            targets.blocked.insert(name.clone(), format!("blocked by `reachability.{name}`: {message}"));
        }
        out.push(r);
    }
    out
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
    let mut reached = targets.clone();
    let mut results = reachability(&mut reached).await;
    let targets = &reached;
    let prom = targets.prometheus();
    let (jaeger, loki, grafana) = (targets.jaeger(), targets.loki(), targets.grafana());

    let profile = &targets.profile;
    let job = profile.job().unwrap_or_default().to_owned();
    // A check that needs an expectation the profile lacks is not run, with the hint.
    let lacks = |what: Option<String>| -> Option<Verdict> { what.map(|reason| Verdict::NotRun { reason }) };
    let no_job = lacks(job.is_empty().then(|| declare("scrape job for the service under test", "jobs")));
    let j_ = job.as_str();
    // Prometheus must scrape the app before the "before" snapshot means anything.
    results.push(
        run_check(PHASE, &format!("prometheus.target_up.{}", if job.is_empty() { "app" } else { j_ }), targets, &["prometheus"], async {
            or_blocked(&no_job, checks::prometheus::target_up(prom.as_ref().expect("needed"), j_, timeout)).await
        })
        .await,
    );
    // Every check of the app's series needs its scrape target up: if it is
    // not, they are blocked by that check instead of waiting out their own timeouts.
    let up = results.last().expect("target_up pushed");
    let scrape_blocked = lacks(blocked_by(up));
    let no_job = no_job.or(scrape_blocked.clone());
    let before = match &prom {
        Some(p) if no_job.is_none() => checks::prometheus::counter_snapshot(p, j_).await.ok(),
        _ => None,
    };
    let record = match targets.url("app").filter(|_| !targets.blocked.contains_key("app")) {
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
        let reason = targets.blocked.get("app").or(targets.missing.get("app")).cloned().unwrap_or_else(|| "the traffic scenario failed".into());
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
    let mut pg: Checks = Vec::new();
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.requests_match_traffic", targets, &["prometheus"], async {
            match (&no_job, &before) {
                (Some(v), _) => v.clone(),
                (None, Some(b)) => checks::prometheus::requests_match_traffic(p.expect("needed"), r, j_, b, timeout).await,
                (None, None) => Verdict::Failed { message: "could not read http_requests_total before the traffic".into() },
            }
        })
        ,
    ));
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.histogram_families", targets, &["prometheus"], async {
            or_blocked(&no_job, checks::prometheus::histogram_families_present(p.expect("needed"), r, j_, checks::prometheus::HTTP_DURATION_BUCKETS, timeout)).await
        })
        ,
    ));
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.process_metrics", targets, &["prometheus"], async {
            or_blocked(&no_job, checks::prometheus::process_metrics_present(p.expect("needed"), j_, timeout)).await
        })
        ,
    ));
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.llm_families", targets, &["prometheus"], async {
            or_blocked(&no_job, checks::prometheus::llm_families_match(p.expect("needed"), r, j_, timeout)).await
        })
        ,
    ));
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.exemplar_trace_ids", targets, &["prometheus"], async {
            or_blocked(&no_job, checks::prometheus::exemplar_has_trace(p.expect("needed"), r, j_, timeout)).await
        })
        ,
    ));
    // The collector's own metrics (job `otel-collector`): only where the collector runs.
    pg.push(Box::pin(
        run_check(PHASE, "prometheus.target_up.otel-collector", targets, &["prometheus", "otel-collector"], async {
            checks::prometheus::target_up(p.expect("needed"), "otel-collector", timeout).await
        })
        ,
    ));

    let j = jaeger.as_ref();
    let otel_name = profile.otel_service_name().unwrap_or_default().to_owned();
    let no_name = lacks(otel_name.is_empty().then(|| declare("OTel service name (OTEL_SERVICE_NAME) for the service under test", "otel_service_name")));
    let trace_exp = checks::jaeger::TraceExpectations {
        service: otel_name.clone(),
        process_tags: profile.resource_attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        per_handler: 5,
    };
    let exp = &trace_exp;
    let mut jg: Checks = Vec::new();
    jg.push(Box::pin(
        run_check(PHASE, "jaeger.service", targets, &["jaeger"], async {
            or_blocked(&no_name, checks::jaeger::service_present(j.expect("needed"), &otel_name, timeout)).await
        })
        ,
    ));
    jg.push(Box::pin(
        run_check(PHASE, "jaeger.traces", targets, &["jaeger"], async {
            or_blocked(&no_name, checks::jaeger::traces_match(j.expect("needed"), r, exp, timeout)).await
        })
        ,
    ));
    jg.push(Box::pin(
        run_check(PHASE, "jaeger.search", targets, &["jaeger"], async {
            or_blocked(&no_name, checks::jaeger::traces_searchable(j.expect("needed"), r, exp, timeout)).await
        })
        ,
    ));

    // Tempo, where the stack has one: the same trace checks, its TraceQL search, its
    // tenant. Search and tenant wait on the by-id check: a trace Tempo never received
    // is one failure, the rest blocked by it.
    let tempo = targets.tempo();
    let t_ = tempo.as_ref();
    let tempo_checks = async {
        let mut out = Vec::new();
        let Some(tp) = &profile.tempo else { return out };
        let tenant_missing = lacks((tp.multitenant && tp.tenant.is_none()).then(|| {
            format!("Tempo `{}` runs with multitenancy_enabled but no sender or Grafana datasource sets X-Scope-OrgID (hint: set the header on the OTLP exporter and on Grafana's Tempo datasource)", tp.service)
        }));
        let needs = ["tempo", "traces-tempo"];
        let first = run_check(PHASE, "tempo.traces", targets, &needs, async {
            or_blocked(no_name.as_ref().or(tenant_missing.as_ref()), checks::tempo::traces_match(t_.expect("needed"), r, exp, timeout)).await
        })
        .await;
        let after = lacks(blocked_by(&first)).or(no_name.clone()).or(tenant_missing.clone());
        out.push(first);
        // TraceQL search sees a trace once Tempo's live store has flushed it (about 30-40 s).
        out.push(
            run_check(PHASE, "tempo.search", targets, &needs, async {
                or_blocked(&after, checks::tempo::traces_searchable(t_.expect("needed"), r, exp, timeout.max(Duration::from_secs(90)))).await
            })
            .await,
        );
        if tp.multitenant {
            let id = r.sent.first().map(|s| s.trace_id.clone()).unwrap_or_default();
            out.push(run_check(PHASE, "tempo.tenant", targets, &needs, async { or_blocked(&after, checks::tempo::tenant_enforced(t_.expect("needed"), &id, timeout)).await }).await);
        }
        out
    };

    let l = loki.as_ref();
    let container = targets.app_container.clone();
    let selector = profile.log_selector().unwrap_or_default();
    let no_labels = lacks(selector.is_empty().then(|| declare("log stream labels for the service under test (Promtail's relabel rules)", "log_labels")));
    let sel = selector.as_str();
    let mut lg: Checks = Vec::new();
    lg.push(Box::pin(
        run_check(PHASE, "loki.stream_labels", targets, &["loki", "promtail-loki"], async {
            let expected: Vec<(&str, &str)> = profile.log_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            or_blocked(&no_labels, checks::loki::stream_labelled(l.expect("needed"), &container, &expected, Duration::from_secs(3600), timeout)).await
        })
        ,
    ));
    lg.push(Box::pin(
        run_check(PHASE, "loki.request_lines", targets, &["loki", "promtail-loki"], async {
            or_blocked(&no_labels, checks::loki::request_lines_present(l.expect("needed"), r, sel, 3, timeout)).await
        })
        ,
    ));
    lg.push(Box::pin(
        run_check(PHASE, "loki.only_labelled_containers", targets, &["loki", "promtail-loki"], async {
            let shipped: Vec<&str> = profile.shipped_services.iter().map(String::as_str).collect();
            checks::loki::only_labelled_services(l.expect("needed"), &shipped).await
        })
        ,
    ));
    lg.push(Box::pin(
        run_check(PHASE, "loki.tenant", targets, &["loki", "promtail-loki"], async { checks::loki::tenant_enforced(l.expect("needed")).await }),
    ));

    let g = grafana.as_ref();
    let (from, to) = (r.started - Duration::from_secs(300), std::time::SystemTime::now() + Duration::from_secs(60));
    // Grafana's Jaeger datasource against this Jaeger: health, a trace by id, a search.
    let sample = r.trace_ids("/items/{item_id}", "2xx").into_iter().next().or_else(|| r.sent.first().map(|s| s.trace_id.clone())).unwrap_or_default();
    let jaeger_uid = profile.datasource("jaeger").map(|d| d.uid.clone());
    let no_jaeger_ds = lacks(jaeger_uid.is_none().then(|| "Grafana provisions no Jaeger datasource".to_owned()));
    let ju = jaeger_uid.as_deref().unwrap_or_default();
    let mut gg: Checks = Vec::new();
    gg.push(Box::pin(run_check(PHASE, "grafana.health", targets, &["grafana"], async { checks::grafana::healthy(g.expect("needed"), timeout).await })));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.datasources", targets, &["grafana"], async {
            let expected: Vec<checks::grafana::ExpectedDatasource> =
                profile.datasources.iter().map(|d| checks::grafana::ExpectedDatasource::new(&d.uid, &d.kind, &d.url)).collect();
            checks::grafana::datasources_provisioned(g.expect("needed"), &expected, timeout).await
        })
        ,
    ));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.dashboards", targets, &["grafana"], async {
            let uids: Vec<&str> = profile.dashboards.iter().map(String::as_str).collect();
            checks::grafana::dashboards_provisioned(g.expect("needed"), &uids, profile.dashboard_folder.as_deref().unwrap_or("General")).await
        })
        ,
    ));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.ds_query.prometheus", targets, &["grafana"], async {
            match profile.datasource("prometheus") {
                Some(d) => checks::grafana::ds_query_returns_frames(g.expect("needed"), &d.uid, "prometheus", "sum(http_requests_total)", from, to, timeout).await,
                None => Verdict::NotRun { reason: "Grafana provisions no Prometheus datasource".into() },
            }
        })
        ,
    ));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.ds_query.loki", targets, &["grafana"], async {
            match (profile.datasource("loki"), &no_labels) {
                (None, _) => Verdict::NotRun { reason: "Grafana provisions no Loki datasource".into() },
                (_, Some(v)) => v.clone(),
                (Some(d), None) => checks::grafana::ds_query_returns_frames(g.expect("needed"), &d.uid, "loki", sel, from, to, timeout).await,
            }
        })
        ,
    ));

    gg.push(Box::pin(
        run_check(PHASE, "grafana.jaeger.health", targets, &["grafana", "jaeger"], async {
            or_blocked(&no_jaeger_ds, checks::grafana::datasource_healthy(g.expect("needed"), ju, timeout)).await
        })
        ,
    ));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.jaeger.trace", targets, &["grafana", "jaeger"], async {
            or_blocked(&no_jaeger_ds, checks::grafana::jaeger_trace_via_grafana(g.expect("needed"), ju, &sample, from, to, timeout)).await
        })
        ,
    ));
    gg.push(Box::pin(
        run_check(PHASE, "grafana.jaeger.search", targets, &["grafana", "jaeger"], async {
            or_blocked(no_jaeger_ds.as_ref().or(no_name.as_ref()), checks::grafana::jaeger_search_via_grafana(g.expect("needed"), ju, &otel_name, &sample, from, to, timeout)).await
        })
        ,
    ));

    // Checks on different backends run at once; on one backend, in order.
    let (a, b, c, d, e) = futures::join!(in_order(pg), in_order(jg), in_order(lg), in_order(gg), tempo_checks);
    results.extend(a.into_iter().chain(b).chain(c).chain(d).chain(e));
    // A failed by-id lookup in Tempo blocks the correlation's trace half there.
    let tempo_failed = results.iter().find(|c| c.name == "tempo.traces").and_then(blocked_by);

    // One request followed across traces, logs and metrics.
    // The app exposes only the latest exemplar per bucket, so the id to follow is
    // one Prometheus actually stored (when it runs), else the first request's.
    let sent: std::collections::BTreeSet<&str> = r.sent.iter().map(|s| s.trace_id.as_str()).collect();
    let mut trace_id = None;
    if let Some(p) = p {
        let (start, end) = (r.started - Duration::from_secs(60), std::time::SystemTime::now() + Duration::from_secs(60));
        let expr = format!("http_request_duration_seconds_bucket{{job={j_:?}}}");
        if let Ok(seen) = checks::prometheus::exemplar_trace_ids(p, &expr, start, end).await {
            trace_id = seen.into_iter().map(|(_, t)| t).find(|t| sent.contains(t.as_str()));
        }
    }
    let trace_id = trace_id.or_else(|| r.trace_ids("/items/{item_id}", "2xx").into_iter().next()).or_else(|| r.sent.first().map(|s| s.trace_id.clone()));
    results.push(match trace_id {
        Some(id) => {
            let start = Instant::now();
            let opts = checks::jaeger::CorrelateOptions::for_record(r, timeout).with_selectors(sel, j_);
            let p = if scrape_blocked.is_some() { None } else { p };
            // Its log line cannot reach Loki: not a second failure, but blocked by the first.
            let v = match targets.blocked.get("promtail-loki").filter(|_| l.is_some()) {
                Some(reason) => Verdict::NotRun { reason: reason.clone() },
                // The trace half in whichever trace store the stack has (Jaeger first).
                None => {
                    let store = j.map(checks::jaeger::TraceStore::Jaeger).or(t_.filter(|_| !targets.blocked.contains_key("tempo")).map(checks::jaeger::TraceStore::Tempo));
                    match (store, tempo_failed.as_ref().or(targets.blocked.get("traces-tempo"))) {
                        (Some(checks::jaeger::TraceStore::Tempo(_)), Some(reason)) => Verdict::NotRun { reason: reason.clone() },
                        _ => checks::jaeger::correlate_in(&id, store, l, p, &opts).await,
                    }
                }
            };
            CheckResult::new(PHASE, "correlation.trace_id", v, start.elapsed())
        }
        None => CheckResult::new(PHASE, "correlation.trace_id", Verdict::NotRun { reason: "no request was sent".into() }, Duration::ZERO),
    });
    (Some(record), results)
}
