//! Phase `signals`: reachability, the scenario's traffic, then traces,
//! series, logs, Grafana and one request followed across all three.
//!
//! Each check is a row of a table: its name, what it needs ([`Needs`]) and
//! what it does. The engine decides whether it runs. Checks on different
//! backends run at once; on one backend, in order. What a check expects (job,
//! OTel service name, tenant, stream labels, datasource uids) comes from the
//! stack's profile; an expectation the profile lacks makes its checks *not
//! run*, with the hint to declare it ([`expectations`]).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use crate::checks::{self, CheckResult, Needs, Verdict};
use crate::profile::StackProfile;
use crate::traffic::{self, Scenario, TrafficRecord};

use super::engine::Engine;

const PHASE: &str = "signals";

/// The expectation of the checks that read the reference app's own metrics,
/// routes and log format: missing when the service under test is another app.
pub const REFERENCE: &str = "reference_app";

/// The expectation of the alert causes derived from rule expressions: they drive
/// the reference app's routes, so another app declares its own.
pub const REFERENCE_CAUSES: &str = "reference_causes";

/// The expectation that the scenario does not declare the alerting rule `name`
/// (`expect: [{alert: NAME, …}]`): a declared alert is checked there, once, so
/// the alert and ruler phases' rows for it are not run.
pub fn undeclared(name: &str) -> String {
    format!("undeclared:{name}")
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

/// The hint when the profile lacks an expectation.
fn declare(what: &str, key: &str) -> String {
    format!("the stack profile has no {what} (hint: declare `{key}:` in {} beside the compose file; `obs-harness profile` shows what was derived)", crate::profile::OVERRIDE_FILE)
}

/// The stack-profile expectations the checks declare in `expects`, each with
/// why it is missing (`None`: the profile has it).
pub fn expectations(profile: &StackProfile) -> Vec<(&'static str, Option<String>)> {
    let tempo_tenant = profile.tempo.as_ref().filter(|tp| tp.multitenant && tp.tenant.is_none()).map(|tp| {
        format!("Tempo `{}` runs with multitenancy_enabled but no sender or Grafana datasource sets X-Scope-OrgID (hint: set the header on the OTLP exporter and on Grafana's Tempo datasource)", tp.service)
    });
    let app = profile.app.as_ref().map_or("(none found)", |a| a.service.as_str());
    let reference = (!profile.app.as_ref().is_some_and(|a| a.reference_app)).then(|| {
        format!(
            "the service under test `{app}` is not the reference app, and this check reads the reference app's own metrics, routes and log format (hint: declare what your app must show under `expect:` in a scenario file, `--scenario FILE`; the `app.*` checks hold for any app)"
        )
    });
    let causes = (!profile.app.as_ref().is_some_and(|a| a.reference_app)).then(|| {
        format!(
            "its cause is derived for the reference app and drives its routes (`/error`, `/slow`, `/llm/chat`), which `{app}` does not have (hint: declare the requests that fire it in the scenario: `expect: [{{name: …, alert: RULE, cause: [{{method: GET, path: …, rate: 5, duration: 1m}}]}}]`)"
        )
    });
    vec![
        ("reference_app", reference),
        (REFERENCE_CAUSES, causes),
        ("scenario", None),
        ("job", profile.job().is_none_or(str::is_empty).then(|| declare("scrape job for the service under test", "jobs"))),
        ("otel_service_name", profile.otel_service_name().is_none_or(str::is_empty).then(|| declare("OTel service name (OTEL_SERVICE_NAME) for the service under test", "otel_service_name"))),
        ("log_labels", profile.log_selector().is_none_or(|s| s.is_empty()).then(|| declare("log stream labels for the service under test (Promtail's relabel rules)", "log_labels"))),
        ("tempo_tenant", tempo_tenant),
        ("prometheus_datasource", profile.datasource("prometheus").is_none().then(|| "Grafana provisions no Prometheus datasource".to_owned())),
        ("loki_datasource", profile.datasource("loki").is_none().then(|| "Grafana provisions no Loki datasource".to_owned())),
        ("jaeger_datasource", profile.datasource("jaeger").is_none().then(|| "Grafana provisions no Jaeger datasource".to_owned())),
    ]
}

/// Reachability first: one request to each backend of the run. A refused
/// connection, a DNS failure or no answer at all is a verdict on its own
/// (`reachability.<backend>` failed, which `proves` the backend broken), and
/// every check that needs that backend is then *blocked by* it, without waiting.
pub async fn reachability(engine: &Engine) -> Vec<CheckResult> {
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
    let probes = engine.targets().urls.into_iter().filter(|(name, _)| name != "webhook").map(|(name, url)| {
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
            (name, verdict, start.elapsed())
        }
    });
    let mut out = Vec::new();
    for (name, verdict, took) in futures::future::join_all(probes).await {
        let needs = Needs::nothing().with_logs_of([name.as_str()]).with_proves([name.as_str()]);
        out.push(engine.result(PHASE, &format!("reachability.{name}"), needs, verdict, took));
    }
    out
}

/// Checks on one backend, run one after another.
type Checks<'a> = Vec<Pin<Box<dyn Future<Output = CheckResult> + 'a>>>;

async fn in_order(checks: Checks<'_>) -> Vec<CheckResult> {
    let mut out = Vec::with_capacity(checks.len());
    for c in checks {
        out.push(c.await);
    }
    out
}

/// Drives the scenario, then checks traces, series, logs, Grafana and cross-signal correlation.
pub async fn signals(engine: &Engine, opts: &SignalOptions) -> (Option<TrafficRecord>, Vec<CheckResult>) {
    let timeout = opts.timeout;
    for (name, why) in expectations(&engine.targets().profile) {
        engine.lack(name, why);
    }
    // An alert the scenario declares is checked by its expectation, with the declared cause.
    for e in &opts.scenario.expect {
        if let Some(rule) = &e.alert {
            let why = format!("the scenario declares it: `{}` fires it with the cause it declares and checks it", e.check_id());
            engine.lack(&undeclared(rule), Some(why));
        }
    }
    let mut results = reachability(engine).await;
    let targets = engine.targets();
    let prom = targets.prometheus();
    let (jaeger, loki, grafana) = (targets.jaeger(), targets.loki(), targets.grafana());
    let profile = &targets.profile;
    let job = profile.job().unwrap_or_default().to_owned();
    let j_ = job.as_str();

    // Prometheus must scrape the app before the "before" snapshot means anything.
    // Its failure shows the scrape link broken: every check of the app's series
    // names it, and waits for nothing.
    let up = format!("prometheus.target_up.{}", if job.is_empty() { "app" } else { j_ });
    let p = prom.as_ref();
    results.push(
        engine
            .run(PHASE, &up, Needs::on(["prometheus"]).with_expects(["job"]).with_logs_of(["app", "prometheus"]).with_proves(["app-scrape"]), async {
                checks::prometheus::target_up(p.expect("needed"), j_, timeout).await
            })
            .await,
    );
    let series = || Needs::on(["prometheus"]).with_expects(["job"]).with_checks([up.as_str()]);
    let before = match p {
        Some(p) if engine.decide(&series()).is_none() => checks::prometheus::counter_snapshot(p, j_).await.ok(),
        _ => None,
    };

    // What the scenario's own expectations read before the traffic (counters to increase).
    let before_declared = match p {
        Some(p) if engine.decide(&series()).is_none() => checks::expect::before(&opts.scenario.expect, Some(p)).await,
        _ => checks::expect::before(&opts.scenario.expect, None).await,
    };

    // The scenario's traffic (none for an app without one: the `app.*` checks still run).
    let traffic = Needs::on(["app"]).with_expects(["scenario"]).with_logs_of(None::<&str>);
    if opts.scenario.steps.is_empty() {
        let app = profile.app.as_ref().map_or("the app", |a| a.service.as_str());
        engine.lack("scenario", Some(format!("no traffic scenario for `{app}`, which is not the reference app (hint: `--scenario FILE`, or `{}` beside the compose file)", crate::traffic::SCENARIO_FILE)));
        let now = std::time::SystemTime::now();
        let record = TrafficRecord { scenario: opts.scenario.name.clone(), started: now, finished: now, sent: Vec::new() };
        let (because, reason) = engine.decide(&traffic).expect("no scenario");
        results.push(engine.not_run(PHASE, "traffic.scenario", traffic, because, reason));
        results.extend(declared(engine, opts, &record, &up, before_declared, timeout).await);
        return (Some(record), results);
    }
    let record = match engine.decide(&traffic) {
        None => match traffic::drive(targets.url("app").expect("decided"), &opts.scenario).await {
            Ok(r) => Some(r),
            Err(e) => {
                results.push(engine.result(PHASE, "traffic.scenario", traffic.clone(), Verdict::Failed { message: e.to_string() }, Duration::ZERO));
                None
            }
        },
        Some(_) => None,
    };
    let Some(record) = record else {
        let (because, reason) = engine.decide(&traffic).unwrap_or_else(|| ("check:traffic.scenario".into(), "the traffic scenario failed".into()));
        results.push(engine.not_run(PHASE, "traffic.scenario", traffic, because, reason));
        return (None, results);
    };
    let echoed = record.sent.iter().filter(|s| s.echoed_trace_id.as_deref() == Some(s.trace_id.as_str())).count();
    let verdict = if engine.lacking(REFERENCE).is_some() {
        // Another app need not echo the trace id: what it answered is `traffic.expect_status`'s to judge.
        Verdict::Passed { detail: format!("{} request(s) sent, {echoed} of them echoed the chosen trace id in x-trace-id", record.sent.len()) }
    } else if echoed == record.sent.len() {
        Verdict::Passed { detail: format!("{} request(s) sent, each joined the trace the driver chose", record.sent.len()) }
    } else {
        Verdict::Failed { message: format!("only {echoed} of {} response(s) echoed the chosen trace id in x-trace-id", record.sent.len()) }
    };
    results.push(engine.result(PHASE, "traffic.scenario", traffic, verdict, Duration::ZERO));
    let r = &record;

    // Series of the app's job, in Prometheus.
    let b = before.as_ref();
    let pg: Checks = vec![
        Box::pin(engine.run(PHASE, "prometheus.requests_match_traffic", series().with_expects([REFERENCE]), async {
            match b {
                Some(b) => checks::prometheus::requests_match_traffic(p.expect("needed"), r, j_, b, timeout).await,
                None => Verdict::Failed { message: "could not read http_requests_total before the traffic".into() },
            }
        })),
        Box::pin(engine.run(PHASE, "prometheus.histogram_families", series().with_expects([REFERENCE]), async {
            checks::prometheus::histogram_families_present(p.expect("needed"), r, j_, checks::prometheus::HTTP_DURATION_BUCKETS, timeout).await
        })),
        Box::pin(engine.run(PHASE, "prometheus.process_metrics", series().with_expects([REFERENCE]), async { checks::prometheus::process_metrics_present(p.expect("needed"), j_, timeout).await })),
        Box::pin(engine.run(PHASE, "prometheus.llm_families", series().with_expects([REFERENCE]), async { checks::prometheus::llm_families_match(p.expect("needed"), r, j_, timeout).await })),
        Box::pin(engine.run(PHASE, "prometheus.exemplar_trace_ids", series().with_expects([REFERENCE]), async { checks::prometheus::exemplar_has_trace(p.expect("needed"), r, j_, timeout).await })),
        // The collector's own metrics (job `otel-collector`): only where the collector runs.
        Box::pin(engine.run(PHASE, "prometheus.target_up.otel-collector", Needs::on(["prometheus", "otel-collector"]).with_logs_of(["app", "prometheus"]), async {
            checks::prometheus::target_up(p.expect("needed"), "otel-collector", timeout).await
        })),
    ];

    // Traces in Jaeger.
    let j = jaeger.as_ref();
    let otel_name = profile.otel_service_name().unwrap_or_default().to_owned();
    let exp = &checks::jaeger::TraceExpectations {
        service: otel_name.clone(),
        process_tags: profile.resource_attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        per_handler: 5,
    };
    let traces = || Needs::on(["jaeger"]).with_expects(["otel_service_name"]);
    let on = otel_name.as_str();
    let jg: Checks = vec![
        Box::pin(engine.run(PHASE, "jaeger.service", traces(), async { checks::jaeger::service_present(j.expect("needed"), on, timeout).await })),
        Box::pin(engine.run(PHASE, "jaeger.traces", traces().with_expects([REFERENCE]), async { checks::jaeger::traces_match(j.expect("needed"), r, exp, timeout).await })),
        Box::pin(engine.run(PHASE, "jaeger.search", traces().with_expects([REFERENCE]), async { checks::jaeger::traces_searchable(j.expect("needed"), r, exp, timeout).await })),
    ];

    // Tempo, where the stack has one: the same trace checks, its TraceQL search, its
    // tenant. Search and tenant need the by-id check: a trace Tempo never received
    // is one failure, the rest blocked by it.
    let tempo = targets.tempo();
    let t_ = tempo.as_ref();
    let tempo_needs = || Needs::on(["tempo"]).with_links(["traces-tempo"]).with_expects(["otel_service_name", "tempo_tenant", REFERENCE]);
    let tempo_checks = async {
        let Some(tp) = &profile.tempo else { return Vec::new() };
        let mut out = vec![engine.run(PHASE, "tempo.traces", tempo_needs(), async { checks::tempo::traces_match(t_.expect("needed"), r, exp, timeout).await }).await];
        // TraceQL search sees a trace once Tempo's live store has flushed it (about 30-40 s).
        out.push(
            engine
                .run(PHASE, "tempo.search", tempo_needs().with_checks(["tempo.traces"]), async {
                    checks::tempo::traces_searchable(t_.expect("needed"), r, exp, timeout.max(Duration::from_secs(90))).await
                })
                .await,
        );
        if tp.multitenant {
            let id = r.sent.first().map(|s| s.trace_id.clone()).unwrap_or_default();
            out.push(engine.run(PHASE, "tempo.tenant", tempo_needs().with_checks(["tempo.traces"]), async { checks::tempo::tenant_enforced(t_.expect("needed"), &id, timeout).await }).await);
        }
        out
    };

    // Log lines in Loki.
    let l = loki.as_ref();
    let container = targets.app_container.clone();
    let selector = profile.log_selector().unwrap_or_default();
    let sel = selector.as_str();
    let logs = || Needs::on(["loki"]).with_links(["promtail-loki"]);
    let lg: Checks = vec![
        Box::pin(engine.run(PHASE, "loki.stream_labels", logs().with_expects(["log_labels"]), async {
            let expected: Vec<(&str, &str)> = profile.log_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            checks::loki::stream_labelled(l.expect("needed"), &container, &expected, Duration::from_secs(3600), timeout).await
        })),
        Box::pin(engine.run(PHASE, "loki.request_lines", logs().with_expects(["log_labels", REFERENCE]), async { checks::loki::request_lines_present(l.expect("needed"), r, sel, 3, timeout).await })),
        Box::pin(engine.run(PHASE, "loki.only_labelled_containers", logs(), async {
            let shipped: Vec<&str> = profile.shipped_services.iter().map(String::as_str).collect();
            checks::loki::only_labelled_services(l.expect("needed"), &shipped).await
        })),
        Box::pin(engine.run(PHASE, "loki.tenant", logs(), async { checks::loki::tenant_enforced(l.expect("needed")).await })),
    ];

    // Grafana: provisioning, its datasources queried, its Jaeger datasource against this Jaeger.
    let g = grafana.as_ref();
    let (from, to) = (r.started - Duration::from_secs(300), std::time::SystemTime::now() + Duration::from_secs(60));
    let sample = r.trace_ids("/items/{item_id}", "2xx").into_iter().next().or_else(|| r.sent.first().map(|s| s.trace_id.clone())).unwrap_or_default();
    let uid = |kind: &str| profile.datasource(kind).map(|d| d.uid.clone()).unwrap_or_default();
    let (prom_uid, loki_uid, jaeger_uid) = (uid("prometheus"), uid("loki"), uid("jaeger"));
    // The reference app's request counter; any other app's job.
    let prom_query = if engine.lacking(REFERENCE).is_none() { "sum(http_requests_total)".to_owned() } else { format!("count({{job={j_:?}}})") };
    let grafana_needs = || Needs::on(["grafana"]);
    let via_jaeger = || Needs::on(["grafana", "jaeger"]).with_logs_of(["grafana"]).with_expects(["jaeger_datasource"]);
    let (sample, ju) = (sample.as_str(), jaeger_uid.as_str());
    let gg: Checks = vec![
        Box::pin(engine.run(PHASE, "grafana.health", grafana_needs(), async { checks::grafana::healthy(g.expect("needed"), timeout).await })),
        Box::pin(engine.run(PHASE, "grafana.datasources", grafana_needs(), async {
            let expected: Vec<checks::grafana::ExpectedDatasource> = profile.datasources.iter().map(|d| checks::grafana::ExpectedDatasource::new(&d.uid, &d.kind, &d.url)).collect();
            checks::grafana::datasources_provisioned(g.expect("needed"), &expected, timeout).await
        })),
        Box::pin(engine.run(PHASE, "grafana.dashboards", grafana_needs(), async {
            let uids: Vec<&str> = profile.dashboards.iter().map(String::as_str).collect();
            checks::grafana::dashboards_provisioned(g.expect("needed"), &uids, profile.dashboard_folder.as_deref().unwrap_or("General")).await
        })),
        Box::pin(engine.run(PHASE, "grafana.ds_query.prometheus", grafana_needs().with_expects(["prometheus_datasource"]), async {
            checks::grafana::ds_query_returns_frames(g.expect("needed"), &prom_uid, "prometheus", &prom_query, from, to, timeout).await
        })),
        Box::pin(engine.run(PHASE, "grafana.ds_query.loki", grafana_needs().with_expects(["loki_datasource", "log_labels"]), async {
            checks::grafana::ds_query_returns_frames(g.expect("needed"), &loki_uid, "loki", sel, from, to, timeout).await
        })),
        Box::pin(engine.run(PHASE, "grafana.jaeger.health", via_jaeger(), async { checks::grafana::datasource_healthy(g.expect("needed"), ju, timeout).await })),
        Box::pin(engine.run(PHASE, "grafana.jaeger.trace", via_jaeger(), async { checks::grafana::jaeger_trace_via_grafana(g.expect("needed"), ju, sample, from, to, timeout).await })),
        Box::pin(engine.run(PHASE, "grafana.jaeger.search", via_jaeger().with_expects(["otel_service_name"]), async {
            checks::grafana::jaeger_search_via_grafana(g.expect("needed"), ju, on, sample, from, to, timeout).await
        })),
    ];

    let (a, b, c, d, e) = futures::join!(in_order(pg), in_order(jg), in_order(lg), in_order(gg), tempo_checks);
    results.extend(a.into_iter().chain(b).chain(c).chain(d).chain(e));
    results.push(correlation(engine, r, &up, sel, timeout).await);
    results.extend(declared(engine, opts, r, &up, before_declared, timeout).await);
    (Some(record), results)
}

/// One request followed across traces, logs and metrics, in whichever of
/// them the run has: its needs are the backends it finds (all optional) and,
/// for each, the link or check its data depends on.
async fn correlation(engine: &Engine, r: &TrafficRecord, up: &str, sel: &str, timeout: Duration) -> CheckResult {
    let targets = engine.targets();
    let job = targets.profile.job().unwrap_or_default().to_owned();
    let (jaeger, tempo, loki) = (targets.jaeger(), targets.tempo(), targets.loki());
    // Prometheus's exemplars only while the app's scrape target is up.
    let prom = targets.prometheus().filter(|_| engine.blocked(up).is_none());
    // The trace half in whichever trace store the stack has (Jaeger first).
    let store = match (&jaeger, &tempo) {
        (Some(j), _) => Some(checks::jaeger::TraceStore::Jaeger(j)),
        (None, Some(t)) if engine.usable("tempo") => Some(checks::jaeger::TraceStore::Tempo(t)),
        _ => None,
    };
    let mut needs = Needs::nothing().with_optional(["jaeger", "tempo", "loki", "prometheus"]).with_expects([REFERENCE]);
    if loki.is_some() {
        // Its log line cannot reach Loki: not a second failure, but blocked by the first.
        needs = needs.with_links(["promtail-loki"]);
    }
    if matches!(store, Some(checks::jaeger::TraceStore::Tempo(_))) {
        needs = needs.with_links(["traces-tempo"]).with_checks(["tempo.traces"]);
    }
    // The app exposes only the latest exemplar per bucket, so the id to follow is
    // one Prometheus actually stored (when it runs), else the first request's.
    let sent: std::collections::BTreeSet<&str> = r.sent.iter().map(|s| s.trace_id.as_str()).collect();
    let mut trace_id = None;
    if let Some(p) = targets.prometheus() {
        let (start, end) = (r.started - Duration::from_secs(60), std::time::SystemTime::now() + Duration::from_secs(60));
        let expr = format!("http_request_duration_seconds_bucket{{job={job:?}}}");
        if let Ok(seen) = checks::prometheus::exemplar_trace_ids(&p, &expr, start, end).await {
            trace_id = seen.into_iter().map(|(_, t)| t).find(|t| sent.contains(t.as_str()));
        }
    }
    let trace_id = trace_id.or_else(|| r.trace_ids("/items/{item_id}", "2xx").into_iter().next()).or_else(|| r.sent.first().map(|s| s.trace_id.clone()));
    if let Some((because, reason)) = engine.decide(&needs) {
        return engine.not_run(PHASE, "correlation.trace_id", needs, because, reason);
    }
    let Some(id) = trace_id else {
        return engine.not_run(PHASE, "correlation.trace_id", needs, "absent:request".into(), "no request was sent".into());
    };
    engine
        .run(PHASE, "correlation.trace_id", needs, async {
            let opts = checks::jaeger::CorrelateOptions::for_record(r, timeout).with_selectors(sel, &job);
            checks::jaeger::correlate_in(&id, store, loki.as_ref(), prom.as_ref(), &opts).await
        })
        .await
}

/// `app.catalogue_current`, after the scenario's traffic (before it, families
/// the traffic creates are absent): the catalogue lint used against what the
/// app exposes now. `results` are the signal phase's, for why it did not run.
pub async fn catalogue(engine: &Engine, record: Option<&TrafficRecord>, results: &[CheckResult], stack_dir: &std::path::Path) -> CheckResult {
    const EXPECTATION: &str = "traffic_record";
    let needs = Needs::on(["app"]).with_links(["app-scrape"]).with_expects([EXPECTATION, "catalogue"]);
    // A catalogue to compare with: `catalogue.prom` beside the stack, else the reference app's built-in one.
    let beside = stack_dir.join(crate::lint::CATALOGUE_FILE);
    let reference = engine.lacking(REFERENCE).is_none();
    engine.lack(
        "catalogue",
        (!beside.is_file() && !reference).then(|| {
            format!(
                "no metric catalogue for this stack (no {}, and the service under test is not labelled `obs-harness.role: reference-app`) (hint: record one: `obs-harness catalogue record --from <the app's URL>/metrics -o {}`)",
                beside.display(),
                beside.display()
            )
        }),
    );
    engine.lack(
        EXPECTATION,
        record.is_none().then(|| {
            results.iter().find_map(|r| r.verdict.is_failed().then(|| format!("blocked by `{}`: the scenario's traffic did not run", r.name))).unwrap_or_else(|| "the scenario's traffic did not run".into())
        }),
    );
    // The traffic's absence is why, whatever else is missing.
    if let Some(why) = engine.lacking(EXPECTATION) {
        return engine.not_run(PHASE, "app.catalogue_current", needs, format!("expect:{EXPECTATION}"), why);
    }
    let app = engine.url("app").unwrap_or_default();
    // The traffic's absence comes first; then the rest of the needs, in order.
    engine.run(PHASE, "app.catalogue_current", needs, crate::catalogue_record::catalogue_current_known(&app, stack_dir, reference)).await
}

/// The phase, watched: a backend container that goes ends it at once, as one failure.
pub async fn run(engine: &Engine, stack: Option<&crate::stack::Stack>, opts: &SignalOptions) -> (Option<TrafficRecord>, Vec<CheckResult>) {
    let t = Instant::now();
    match super::watch::race(super::watch::watchdog(stack, engine), signals(engine, opts)).await {
        Ok(r) => r,
        Err(lost) => (None, vec![lost.verdict(PHASE, t.elapsed(), engine)]),
    }
}

/// A built-in expectation (the `app.*` checks that hold for any app), from its YAML form.
fn builtin(yaml: String) -> crate::traffic::expectations::Expectation {
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("built-in expectation {yaml:?}: {e}"))
}

/// What a declared expectation needs: the backend it reads and the link that feeds it.
fn expectation_needs(e: &crate::traffic::expectations::Expectation, up: &str, store: Option<&str>, tempo_stack: bool) -> Needs {
    let needs = match e.backend() {
        "loki" => Needs::on(["loki"]).with_links(["promtail-loki"]),
        "traces" => match store {
            Some("tempo") => Needs::on(["tempo"]).with_links(["traces-tempo"]),
            Some(s) => Needs::on([s]),
            None if tempo_stack => Needs::on(["tempo"]),
            None => Needs::on(["jaeger"]),
        },
        _ => Needs::on(["prometheus"]).with_checks([up]),
    };
    if e.needs_app() { needs.with_optional(["app"]) } else { needs }
}

/// After the traffic: the checks that hold for any app (its job has series, its
/// log stream has lines, its service has traces; only where the service under
/// test is not the reference app, whose own checks say more), the statuses the
/// scenario expects, and every expectation it declares (`expect.<name>`).
async fn declared(engine: &Engine, opts: &SignalOptions, r: &TrafficRecord, up: &str, before: checks::expect::Before, timeout: Duration) -> Vec<CheckResult> {
    let targets = engine.targets();
    let profile = &targets.profile;
    let mut out = Vec::new();
    let (prom, loki) = (targets.prometheus(), targets.loki());
    let (jaeger, tempo) = (targets.jaeger(), targets.tempo());
    let (store, store_name) = match (&jaeger, &tempo) {
        (Some(j), _) => (Some(checks::jaeger::TraceStore::Jaeger(j)), Some("jaeger")),
        (None, Some(t)) => (Some(checks::jaeger::TraceStore::Tempo(t)), Some("tempo")),
        _ => (None, None),
    };
    let app_url = targets.url("app").map(str::to_owned);
    let ctx = checks::expect::ExpectContext { prometheus: prom.as_ref(), loki: loki.as_ref(), traces: store, app_url: app_url.as_deref(), record: r, before: &before, timeout };
    let mut table: Vec<(String, crate::traffic::expectations::Expectation, Needs)> = Vec::new();
    if engine.lacking(REFERENCE).is_some() {
        let job = profile.job().unwrap_or_default();
        let sel = profile.log_selector().unwrap_or_default();
        let service = profile.otel_service_name().unwrap_or_default();
        let own = [
            ("app.series", format!("{{name: series, promql: 'count by (__name__) ({{job={job:?}}})', series: {{min: 1}}}}"), vec!["job"]),
            ("app.log_lines", format!("{{name: log_lines, logql: {sel:?}, lines: {{min: 1}}}}"), vec!["log_labels"]),
            ("app.traces", format!("{{name: traces, traces: {{search: {{service: {service:?}, count: {{min: 1}}}}}}}}"), vec!["otel_service_name"]),
        ];
        for (name, yaml, expects) in own {
            let e = builtin(yaml);
            let needs = expectation_needs(&e, up, store_name, profile.tempo.is_some()).with_expects(expects);
            table.push((name.to_owned(), e, needs));
        }
    }
    if opts.scenario.steps.iter().any(|s| s.expect_status.is_some()) {
        out.push(engine.result(PHASE, checks::expect::STATUS_CHECK, Needs::on(["app"]), checks::expect::statuses(&opts.scenario, r), Duration::ZERO));
    }
    for e in &opts.scenario.expect {
        table.push((e.check_id(), e.clone(), expectation_needs(e, up, store_name, profile.tempo.is_some())));
    }
    // Alerts last: their causes send traffic of their own.
    let (quiet, alerts): (Vec<_>, Vec<_>) = table.into_iter().partition(|(_, e, _)| e.alert.is_none());
    let ctx = &ctx;
    out.extend(futures::future::join_all(quiet.iter().map(|(name, e, needs)| engine.run(PHASE, name, needs.clone(), checks::expect::evaluate(e, ctx)))).await);
    for (name, e, needs) in &alerts {
        out.push(engine.run(PHASE, name, needs.clone(), checks::expect::evaluate(e, ctx)).await);
    }
    out
}
