//! `obs-harness check`: the whole conformance run.
//!
//! Phases, each timed and reported: lint (static gate), start (the stack
//! through testcontainers, unless `--target` names a running stack), signals
//! (traffic, then traces, series, logs, Grafana, correlation), dashboards
//! (every panel query returns data), alerts (each alert rule from cause to
//! webhook and back), ruler (Loki ruler rules load, evaluate and fire). The
//! report (`report.json`, `junit.xml`, `report.html`) is rewritten after every phase, so a
//! failing or interrupted run still leaves one; the stack is always torn down.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backends::{AlertmanagerClient, PrometheusClient};
use crate::checks::alerts::{self, AlertEndpoints, Cause, CauseTraffic};
use crate::checks::{self, CheckResult, Verdict};
use crate::conformance::{self, SignalOptions, Targets};
use crate::eventually::{Eventually, Poll};
use crate::images::ImageMode;
use crate::report::{self, RunReport};
use crate::stack::{Stack, StackOptions};
use crate::traffic::Scenario;
use crate::lint;

/// What `check` runs against and how.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub stack_dir: PathBuf,
    /// Default: `<stack_dir>/docker-compose.yml`.
    pub compose: Option<PathBuf>,
    /// Every compose file (the first is [`Self::compose`]), `--env-file`s and `--profile`s.
    pub compose_input: crate::read::compose::ComposeInput,
    pub services: Option<Vec<String>>,
    pub images: ImageMode,
    pub scenario: Option<PathBuf>,
    /// 1 = the stack's own timings.
    pub acceleration: u32,
    /// `prometheus=URL,...`: check a running stack, start nothing.
    pub targets: Option<String>,
    pub report_dir: PathBuf,
    pub skip_lint: bool,
    pub skip_alerts: bool,
    pub startup_timeout: Duration,
    /// Image per service (`--image SERVICE=IMAGE`).
    pub image_overrides: std::collections::BTreeMap<String, String>,
}

/// A phase's live progress: a spinner with the elapsed time on a terminal,
/// a plain line otherwise (CI logs).
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn start(line: &str) -> Self {
        // The phase a signal would stop the run in: `lint`, `start`, …, `alerts` (with the ruler beside it).
        crate::stack::cleanup::set_phase(line.split([':', ' ']).next().unwrap_or(line));
        let bar = indicatif::ProgressBar::new_spinner();
        if bar.is_hidden() {
            eprintln!("==> {line}");
        }
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
        bar.set_message(line.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(bar)
    }

    fn done(self) {
        let msg = self.0.message();
        self.0.finish_and_clear();
        if !self.0.is_hidden() {
            eprintln!("==> {msg} ({:.1}s)", self.0.elapsed().as_secs_f64());
        }
    }
}

fn progress(line: &str) -> Progress {
    Progress::start(line)
}

/// Appends to each failed check the last log lines of the services it
/// concerns ([`concerned_backends`]), unless it carries logs already, and what
/// Docker says of every service of the run that is no longer running normally
/// (killed, exited, paused), with its last log lines: a backend that died
/// mid-phase is named, not just "refused".
async fn with_troubles(stack: Option<&Stack>, targets: &Targets, results: &mut [CheckResult]) {
    let Some(s) = stack else { return };
    if !results.iter().any(|r| r.verdict.is_failed()) {
        return;
    }
    let troubles = s.troubles().await;
    let note: Vec<String> = troubles.iter().map(|(_, t)| t.clone()).collect();
    // Services running normally that a failed check concerns: their last log lines.
    let mut logs: std::collections::BTreeMap<String, Option<String>> = Default::default();
    for r in results.iter_mut() {
        let Verdict::Failed { message } = &mut r.verdict else { continue };
        let concerned = if message.contains(crate::eventually::LOGS_HEAD) { Vec::new() } else { concerned_backends(&r.name) };
        for service in concerned.into_iter().filter_map(|b| targets.services.get(b)) {
            if troubles.iter().any(|(t, _)| t == service) {
                continue;
            }
            if !logs.contains_key(service) {
                logs.insert(service.clone(), s.last_logs(service, 10).await);
            }
            if let Some(Some(lines)) = logs.get(service) {
                message.push_str(lines);
            }
        }
        if !note.is_empty() {
            message.push_str(&format!("{}{})", conformance::STACK_NOW_HEAD, note.join("\n")));
        }
    }
}

/// The backends a check's name says it concerns, whose logs tell why it
/// failed: `prometheus.target_up.<job>` the scraped app and Prometheus,
/// `alerts.*` Prometheus and Alertmanager, `ruler.*` Loki,
/// `dashboards.<via>.*` and `reachability.<backend>` that backend, otherwise
/// the first segment (`loki.*`, `jaeger.*`, `app.*`).
fn concerned_backends(check: &str) -> Vec<&str> {
    let mut parts = check.split('.');
    match (parts.next().unwrap_or_default(), parts.next().unwrap_or_default()) {
        ("prometheus", "target_up") => vec!["app", "prometheus"],
        ("alerts", _) => vec!["prometheus", "alertmanager"],
        ("ruler", _) => vec!["loki"],
        ("dashboards" | "reachability", backend) => vec![backend],
        (first, _) => vec![first],
    }
}

/// A backend container the watchdog saw stop, pause, vanish or leave the network.
struct Lost {
    service: String,
    trouble: String,
}

impl Lost {
    /// `<phase>.backend_lost`, failed, naming the service and what Docker says; what
    /// needs that backend in later phases is blocked by it.
    fn verdict(&self, phase: &str, took: Duration, model: &Option<crate::model::StackModel>, targets: &mut Targets) -> CheckResult {
        let name = format!("{phase}.backend_lost");
        let message = format!(
            "`{}` stopped answering during the {phase} phase, which ended at once: {} (hint: the container's log lines above say why; `docker events` shows who stopped it)",
            self.service, self.trouble
        );
        let backend = model.as_ref().and_then(|m| m.node(&self.service)).map_or(self.service.as_str(), |n| n.kind).to_owned();
        targets.blocked.insert(backend, format!("blocked by `{name}`: {message}"));
        CheckResult::new(phase, &name, Verdict::Failed { message }, took)
    }
}

/// The watchdog of the run's stack: not of the app, which the alert phase
/// stops on purpose, nor of a backend already known broken (lost in an
/// earlier phase, say), whose dependents are blocked already: one root cause
/// ends one phase, and later phases run what does not need it.
fn watchdog(stack: Option<&Stack>, targets: &Targets) -> Option<std::pin::Pin<Box<dyn Future<Output = (String, String)> + Send>>> {
    stack.map(|s| Box::pin(s.watchdog(&unwatched(targets))) as _)
}

/// The compose services the watchdog leaves alone: the app, the webhook, and
/// every backend already blocked.
fn unwatched(targets: &Targets) -> Vec<String> {
    let app = targets.profile.app.as_ref().map(|a| a.service.clone()).unwrap_or_else(|| "app".into());
    let blocked = targets.blocked.keys().map(|b| targets.services.get(b).unwrap_or(b).clone());
    [app, crate::webhook::SERVICE.to_owned()].into_iter().chain(blocked).collect()
}

/// Runs `phase` unless the watchdog sees a backend container go first.
async fn race<T>(dog: Option<std::pin::Pin<Box<dyn Future<Output = (String, String)> + Send>>>, phase: impl Future<Output = T>) -> Result<T, Lost> {
    match dog {
        None => Ok(phase.await),
        Some(dog) => tokio::select! {
            r = phase => Ok(r),
            (service, trouble) = dog => Err(Lost { service, trouble }),
        },
    }
}

fn print_results(results: &[CheckResult]) {
    for r in results {
        let v = match &r.verdict {
            Verdict::Passed { .. } => "passed ",
            Verdict::Failed { .. } => "FAILED ",
            Verdict::NotRun { .. } => "not run",
        };
        eprintln!("    {v} {}", r.name);
    }
}

/// Runs every phase; returns the exit code (0 passed, 1 a check failed, 2 bad input or environment).
pub async fn check(mut opts: CheckOptions) -> i32 {
    // Compose files as lint finds them: from the current directory when they exist
    // there, else in the stack directory.
    let resolve = |f: &PathBuf| if f.is_absolute() || f.is_file() { f.clone() } else { opts.stack_dir.join(f) };
    opts.compose_input.files = opts.compose_input.files.iter().map(resolve).collect();
    opts.compose = opts.compose.as_ref().map(resolve);
    let compose = opts.compose.clone().unwrap_or_else(|| opts.stack_dir.join("docker-compose.yml"));
    let subject = match &opts.targets {
        Some(t) => format!("running stack ({t})"),
        None => format!("{} ({:?} images)", compose.display(), opts.images),
    };
    let timing = if opts.acceleration > 1 { format!("accelerated x{}", opts.acceleration) } else { "faithful".into() };
    let mut report = RunReport::new(subject, timing);
    let write = |r: &RunReport| {
        if let Err(e) = r.write_tracked(&opts.report_dir) {
            eprintln!("obs-harness: cannot write the report to {}: {e}", opts.report_dir.display());
        }
    };
    write(&report);
    let fail_input = |report: &mut RunReport, name: &str, message: String| {
        eprintln!("obs-harness: {message}");
        report.checks.push(CheckResult::new("input", name, Verdict::Failed { message }, Duration::ZERO));
        write(report);
        crate::report_html::append_step_summary(report, "check", Some(&opts.report_dir));
        2
    };

    // Lint.
    if !opts.skip_lint {
        let p = progress("lint: static gate");
        let t = Instant::now();
        let lopts = lint::LintOptions {
            external: true,
            compose_files: opts.compose_input.files.clone(),
            env_files: opts.compose_input.env_files.clone(),
            compose_profiles: opts.compose_input.profiles.clone(),
            images: opts.image_overrides.clone(),
            ..Default::default()
        };
        let linted = lint::lint(&opts.stack_dir, &lopts);
        p.done();
        match linted {
            Ok(l) => {
                let checks = report::lint_checks(&l, t.elapsed());
                print_results(&checks);
                report.lint_findings = l.findings.clone();
                report.add_phase("lint", t.elapsed(), checks);
            }
            Err(e) => return fail_input(&mut report, "lint.input", format!("{e} (hint: fix the file, then run `obs-harness lint` again)")),
        }
        write(&report);
    }

    // The stack's data flow, coloured by what the live phases see (graph.mmd, graph.json).
    let model = crate::model::StackModel::load_input(&opts.stack_dir, &opts.compose_input).ok();
    report.graph = model.as_ref().map(|m| crate::model::graph::Graph::of(m, &|_| None));

    let scenario = match &opts.scenario {
        Some(p) => match Scenario::load(p) {
            Ok(s) => s,
            Err(e) => return fail_input(&mut report, "scenario", e.to_string()),
        },
        None => Scenario::default_scenario(),
    };

    // Start (or attach).
    let t = Instant::now();
    let mut stack = None;
    let mut targets = match &opts.targets {
        Some(spec) => match Targets::parse(spec) {
            Ok(t) => match lint::stack_profile_of(&opts.stack_dir, &opts.compose_input) {
                Ok(p) => t.with_profile(p),
                Err(e) => return fail_input(&mut report, "profile", format!("{e} (hint: --target still reads what to expect from --stack)")),
            },
            Err(e) => return fail_input(&mut report, "targets", format!("--target: {e}")),
        },
        None => {
            let p = progress("start: bringing the stack up");
            let mut so = StackOptions::new(&compose)
                .with_compose(opts.compose_input.clone())
                .with_images(opts.images)
                .with_acceleration(opts.acceleration)
                .with_startup_timeout(opts.startup_timeout);
            for (svc, img) in &opts.image_overrides {
                so = so.with_image(svc.clone(), img.clone());
            }
            so = so.with_selection(opts.services.clone());
            let started = Stack::start(so).await;
            p.done();
            match started {
                Ok(s) => {
                    eprint!("{}", s.state.timing_report());
                    let targets = Targets::from_state(&s.state);
                    report.images = s.state.services.iter().map(|(n, st)| (n.clone(), st.image.clone())).collect();
                    report.add_phase("start", t.elapsed(), vec![CheckResult::new("start", "stack.ready", Verdict::Passed { detail: format!("{} service(s) ready", s.state.services.len()) }, t.elapsed())]);
                    stack = Some(s);
                    targets
                }
                Err(e) => {
                    let code = crate::stack::keeper::exit_code(&e);
                    eprintln!("obs-harness: {e}");
                    report.add_phase("start", t.elapsed(), vec![CheckResult::new("start", "stack.ready", Verdict::Failed { message: e.to_string() }, t.elapsed())]);
                    report.complete = true;
                    write(&report);
                    eprint!("{}", report.summary_table());
                    crate::report_html::append_step_summary(&report, "check", Some(&opts.report_dir));
                    return code.max(report.exit_code());
                }
            }
        }
    };
    // A link lint found broken blocks its dependents at once (no waiting on it). With
    // --skip-lint nothing static is judged: the live checks find it, and block the rest.
    if let Some(m) = model.as_ref().filter(|_| !opts.skip_lint) {
        targets.block_broken_links(m);
        targets.block_unshipped_logs(m, &report.lint_findings);
    }
    targets.profile = std::mem::take(&mut targets.profile).with_declared_causes(&scenario.causes);
    if let Some(why) = &targets.profile.app_missing {
        eprintln!("obs-harness: no service under test: {why}");
    }
    report.profile = Some(targets.profile.clone());
    write(&report);

    // Signals.
    let p = progress("signals: traffic, then traces, series, logs, Grafana, correlation");
    let t = Instant::now();
    let timeout = if opts.acceleration > 1 { Duration::from_secs(60) } else { Duration::from_secs(120) };
    let dog = watchdog(stack.as_ref(), &targets);
    let (record, mut results) = match race(dog, conformance::signals(&targets, &SignalOptions { scenario, timeout })).await {
        Ok(r) => r,
        Err(lost) => (None, vec![lost.verdict("signals", t.elapsed(), &model, &mut targets)]),
    };
    p.done();
    with_troubles(stack.as_ref(), &targets, &mut results).await;
    print_results(&results);
    targets.block_from(&results);
    // After the traffic: the catalogue lint used (same lookup) against what the app exposes now.
    let app_url = targets.url("app").unwrap_or_default().to_owned();
    // Only after the scenario's traffic: before it, families the traffic creates are absent.
    let current = match &record {
        Some(_) => conformance::run_check("signals", "app.catalogue_current", &targets, &["app", "app-scrape"], crate::catalogue_record::catalogue_current(&app_url, &opts.stack_dir, None)).await,
        None => {
            let reason = results.iter().find_map(|r| r.verdict.is_failed().then(|| format!("blocked by `{}`: the scenario's traffic did not run", r.name))).unwrap_or_else(|| "the scenario's traffic did not run".into());
            CheckResult::new("signals", "app.catalogue_current", Verdict::NotRun { reason }, Duration::ZERO)
        }
    };
    print_results(std::slice::from_ref(&current));
    results.push(current);
    report.add_phase("signals", t.elapsed(), results);
    write(&report);

    // Dashboards.
    let p = progress("dashboards: every panel query returns data");
    let t = Instant::now();
    let window = Duration::from_secs(300);
    let mut results = match crate::dashboards::ExpandOptions::for_stack(&opts.stack_dir, opts.acceleration, window)
        .map(|o| o.with_app_job(targets.profile.job().unwrap_or_default()))
        .and_then(|o| crate::dashboards::inventory(&opts.stack_dir, &o))
    {
        Ok(mut inventory) => {
            // Queries wait for nothing when their backend (Prometheus, Loki) or
            // what feeds it (the app's scrape, Promtail's push) is known broken.
            let mut blocked = Vec::new();
            for q in std::mem::take(&mut inventory.queries) {
                let feed = if q.is_prometheus() { "app-scrape" } else { "promtail-loki" };
                match targets.blocked.get(q.backend()).or(targets.blocked.get(feed)) {
                    Some(reason) => {
                        for via in [q.backend(), "grafana"] {
                            blocked.push(CheckResult::new("dashboards", &format!("dashboards.{via}.{}", q.id()), Verdict::NotRun { reason: reason.clone() }, Duration::ZERO));
                        }
                    }
                    None => inventory.queries.push(q),
                }
            }
            let dog = watchdog(stack.as_ref(), &targets);
            let (prom, grafana, loki) = (targets.prometheus(), targets.grafana(), targets.loki());
            let queries = crate::dashboards::live_queries(&inventory, prom.as_ref(), grafana.as_ref(), loki.as_ref(), window, timeout);
            let mut results = match race(dog, queries).await {
                Ok(r) => r,
                Err(lost) => vec![lost.verdict("dashboards", t.elapsed(), &model, &mut targets)],
            };
            results.extend(blocked);
            results
        }
        Err(e) => vec![CheckResult::new("dashboards", "dashboards.inventory", Verdict::Failed { message: e.to_string() }, t.elapsed())],
    };
    p.done();
    with_troubles(stack.as_ref(), &targets, &mut results).await;
    print_results(&results);
    report.add_phase("dashboards", t.elapsed(), results);
    write(&report);

    // Alerts, with the Loki ruler overlapped: its rule checks run beside the
    // alert phase, and its log-based alert rides on the alert phase's error
    // burst (one traffic); `FastAPIDown`-like causes that stop the app come last.
    let ruler_timeout = if opts.acceleration > 1 { Duration::from_secs(120) } else { Duration::from_secs(300) };
    let ruler_expect = RulerExpectation::for_profile(&targets.profile);
    let ruler_targets = targets.clone();
    let p = progress(if opts.skip_alerts { "ruler: Loki ruler rules load, evaluate and fire" } else { "alerts and ruler: each alert rule from cause to webhook and back; the Loki ruler" });
    let t = Instant::now();
    let ruler_static_fut = async {
        let t = Instant::now();
        let r = match &ruler_expect {
            Ok(_) => ruler_static(&ruler_targets, ruler_timeout).await,
            Err(reason) => (vec![CheckResult::new("ruler", "ruler", Verdict::NotRun { reason: reason.clone() }, Duration::ZERO)], false),
        };
        (r, t.elapsed())
    };
    let ruler_request = match (&ruler_expect, ruler_runnable(&ruler_targets)) {
        (Ok(e), true) => Some(RulerAlert { targets: ruler_targets.clone(), expect: e.clone(), timeout: ruler_timeout }),
        _ => None,
    };
    let alerts_dog = watchdog(stack.as_ref(), &targets);
    let alerts_fut = async {
        if opts.skip_alerts {
            return (None, ruler_request);
        }
        let (res, left) = alert_phase(&mut targets, stack.as_mut(), opts.acceleration, ruler_request).await;
        (Some((res, t.elapsed())), left)
    };
    let raced = race(alerts_dog, async { futures::join!(ruler_static_fut, alerts_fut) }).await;
    let (((mut ruler_results, ruler_ready), ruler_took), (alert_out, leftover)) = match raced {
        Ok(r) => r,
        // With `--skip-alerts` the phase that ended is the ruler's.
        Err(lost) if opts.skip_alerts => (((vec![lost.verdict("ruler", t.elapsed(), &model, &mut targets)], false), t.elapsed()), (None, None)),
        Err(lost) => {
            let v = lost.verdict("alerts", t.elapsed(), &model, &mut targets);
            (((Vec::new(), false), Duration::ZERO), (Some((vec![v], t.elapsed())), None))
        }
    };
    let mut ruler_took = ruler_took;
    if let Some((mut results, took)) = alert_out {
        // The ruler's alert, if it rode on the error burst, belongs to the ruler phase.
        let rode = results.iter().any(|r| r.phase == "ruler");
        ruler_results.extend(results.iter().filter(|r| r.phase == "ruler").cloned());
        results.retain(|r| r.phase != "ruler");
        if rode {
            ruler_took = ruler_took.max(took);
        }
        with_troubles(stack.as_ref(), &targets, &mut results).await;
        print_results(&results);
        report.add_phase("alerts", took, results);
    }
    if let (Some(req), true) = (leftover, ruler_ready) {
        // The alert phase did not drive an error burst: the ruler drives its own.
        let t = Instant::now();
        match targets.url("app") {
            Some(app) => {
                let traffic = CauseTraffic::start(Cause::ErrorBurst, app);
                // Watched like every phase: a Loki that dies here ends the wait at once.
                let dog = watchdog(stack.as_ref(), &targets);
                let fired = race(dog, ruler_alert(&targets, &req.expect, req.timeout, t)).await;
                ruler_results.push(fired.unwrap_or_else(|lost| lost.verdict("ruler", t.elapsed(), &model, &mut targets)));
                traffic.stop().await;
            }
            None => ruler_results.push(CheckResult::new("ruler", &format!("ruler.{}", req.expect.alert), Verdict::NotRun { reason: "no app to write error lines".into() }, Duration::ZERO)),
        }
        ruler_took += t.elapsed();
    }
    p.done();
    with_troubles(stack.as_ref(), &targets, &mut ruler_results).await;
    print_results(&ruler_results);
    report.add_phase("ruler", ruler_took, ruler_results);

    if let Some(mut s) = stack {
        let p = progress("teardown");
        s.teardown().await;
        p.done();
    }
    report.complete = true;
    report.critical_path = crate::critical_path::of(&report);
    write(&report);
    eprintln!();
    eprint!("{}", report.summary_table());
    eprint!("{}", crate::critical_path::render(&report.critical_path));
    eprintln!("reports: {0}/report.html, {0}/report.json, {0}/junit.xml, {0}/graph.mmd", opts.report_dir.display());
    crate::report_html::append_step_summary(&report, "check", Some(&opts.report_dir));
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        print!("{}", report.github_annotations(&opts.stack_dir));
    }
    report.exit_code()
}

/// Restarts `service` of `stack` and points `targets` at its new endpoints
/// (Docker publishes a restarted container on new host ports): every phase
/// after a restart must use this, never an address taken before it.
pub async fn restart_service(stack: &mut Stack, targets: &mut Targets, service: &str) -> Result<(), crate::stack::StackError> {
    let restarted = stack.restart_service(service).await;
    let profile = std::mem::take(&mut targets.profile);
    *targets = Targets::from_state_with(&stack.state, profile);
    restarted
}

/// The Loki ruler's log-based alert, awaited while an `ErrorBurst` cause of the
/// alert phase runs (one traffic for both), instead of in a phase of its own.
pub struct RulerAlert {
    pub targets: Targets,
    pub expect: RulerExpectation,
    pub timeout: Duration,
}

async fn alert_phase(targets: &mut Targets, mut stack: Option<&mut Stack>, acceleration: u32, mut ruler: Option<RulerAlert>) -> (Vec<CheckResult>, Option<RulerAlert>) {
    const PHASE: &str = "alerts";
    let not_run = |name: &str, reason: String| CheckResult::new(PHASE, name, Verdict::NotRun { reason }, Duration::ZERO);
    let (Some(prom), Some(am), Some(app)) = (targets.url("prometheus").map(str::to_owned), targets.url("alertmanager").map(str::to_owned), targets.url("app").map(str::to_owned)) else {
        let missing = ["prometheus", "alertmanager", "app"].into_iter().find(|n| targets.url(n).is_none()).unwrap_or("prometheus");
        return (vec![not_run("alerts", targets.missing.get(missing).cloned().unwrap_or_default())], ruler);
    };
    if let Some(reason) = ["prometheus", "alertmanager", "app", "app-scrape", "prometheus-alertmanager"].iter().find_map(|b| targets.blocked.get(*b)) {
        return (vec![not_run("alerts", reason.clone())], ruler);
    }
    let Some(webhook) = targets.url("webhook").map(str::to_owned) else {
        return (vec![not_run("alerts", "the harness's webhook receiver is not part of this run (it runs only in stacks the harness starts)".into())], ruler);
    };
    let ep = AlertEndpoints {
        prometheus: PrometheusClient::new(prom),
        alertmanager: AlertmanagerClient::new(am),
        webhook: webhook.to_owned(),
        receiver: targets.profile.receiver.clone().unwrap_or_else(|| crate::webhook::SERVICE.into()),
    };
    let profile = targets.profile.clone();
    let app_service = profile.app.as_ref().map(|a| a.service.clone()).unwrap_or_else(|| "app".into());
    let rules = match ep.prometheus.rules().await {
        Ok(r) => r,
        Err(e) => return (vec![CheckResult::new(PHASE, "alerts", Verdict::Failed { message: e.to_string() }, Duration::ZERO)], ruler),
    };
    let mut alert_rules: Vec<(String, f64)> = rules.rules().filter(|(_, r)| r.kind == "alerting").map(|(_, r)| (r.name.clone(), r.duration.unwrap_or(0.0))).collect();
    alert_rules.sort_by(|a, b| a.0.cmp(&b.0));
    let scrape = accelerate_secs(15, acceleration);
    let group_wait = accelerate_secs(10, acceleration);
    let mut out = Vec::new();
    let covered = alert_rules.iter().filter(|(n, _)| profile.cause(n).is_some()).count();
    out.push(CheckResult::new(
        PHASE,
        "alerts.coverage",
        Verdict::Passed { detail: format!("{covered} of the {} alert rule(s) have a cause read from their expression or declared", alert_rules.len()) },
        Duration::ZERO,
    ));
    // Each rule with a cause, grouped by cause; the rest are not run, with the hint.
    let mut by_cause: Vec<(Cause, Vec<(String, f64)>)> = Vec::new();
    for (name, for_secs) in alert_rules {
        let Some(cause) = profile.cause(&name) else {
            let why = profile.alerts.iter().find(|a| a.name == name).map(|a| a.cause_from.clone()).unwrap_or_else(|| "not in the stack's rule files".into());
            out.push(not_run(
                &format!("alerts.{name}"),
                format!(
                    "no cause fires this rule ({why}) (hint: declare it in {} beside the compose file: `causes: {{{name}: error_burst}}`; causes: error_burst, slow_requests, llm_failures, app_stopped)",
                    crate::profile::OVERRIDE_FILE
                ),
            ));
            continue;
        };
        if cause == Cause::AppStopped && stack.is_none() {
            out.push(not_run(&format!("alerts.{name}"), "stopping the app needs a stack the harness started (not --target)".into()));
            continue;
        }
        match by_cause.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, v)) => v.push((name, for_secs)),
            None => by_cause.push((cause, vec![(name, for_secs)])),
        }
    }
    // The ruler's log-based alert rides on the error burst.
    if ruler.is_some() && !by_cause.iter().any(|(c, _)| *c == Cause::ErrorBurst) {
        by_cause.push((Cause::ErrorBurst, Vec::new()));
    }
    let causes: Vec<Cause> = by_cause.iter().map(|(c, _)| *c).collect();
    let alerts_of = |cause: Cause| by_cause.iter().find(|(c, _)| *c == cause).map(|(_, v)| v.clone()).unwrap_or_default();
    // Alerts that fired while the app was down, resolving after its restart
    // while the next wave runs.
    let mut app_down: Vec<Fired> = Vec::new();
    for wave in alerts::waves(&causes) {
        if wave == [Cause::AppStopped] {
            for (name, for_secs) in alerts_of(Cause::AppStopped) {
                match app_stopped_fire(&ep, targets, stack.as_deref_mut(), &app_service, &name, for_secs, scrape, group_wait).await {
                    Ok(fired) => app_down.push(fired),
                    Err(result) => out.push(result),
                }
            }
            continue;
        }
        // The app's address now, not at the phase's start: a restart moves it.
        let app = targets.url("app").map(str::to_owned).unwrap_or(app.clone());
        let down = futures::future::join_all(std::mem::take(&mut app_down).into_iter().map(|f| settle(&ep, f)));
        let wave_done = async {
            let fired = futures::future::join_all(wave.iter().map(|cause| {
                let ruler_here = if *cause == Cause::ErrorBurst { ruler.take() } else { None };
                fire_cause(&ep, &app, *cause, alerts_of(*cause), ruler_here, scrape, group_wait)
            }))
            .await;
            // Every cause of the wave has fired (or failed): healthy traffic until each resolves.
            let healthy = CauseTraffic::healthy(&app);
            let (settling, rulers): (Vec<Vec<Fired>>, Vec<Option<CheckResult>>) = fired.into_iter().unzip();
            let mut results = futures::future::join_all(settling.into_iter().flatten().map(|f| settle(&ep, f))).await;
            healthy.stop().await;
            results.extend(rulers.into_iter().flatten());
            results
        };
        let (down, wave_results) = futures::join!(down, wave_done);
        out.extend(down);
        out.extend(wave_results);
    }
    // No wave came after the app's restart: its alerts resolve now.
    out.extend(futures::future::join_all(app_down.into_iter().map(|f| settle(&ep, f))).await);
    (out, ruler)
}

/// One alert driven to the webhook (or not), waiting to resolve.
struct Fired {
    name: String,
    started: Instant,
    floor: Duration,
    path: Result<alerts::AlertPath, String>,
}

/// How long each stage of an alert's path (firing, resolved) may take: three floors and a minute.
fn stage_timeout(floor: Duration) -> Duration {
    floor * 3 + Duration::from_secs(60)
}

/// Drives one cause's traffic until each of its alerts fired (and the ruler's,
/// when given), then stops it.
async fn fire_cause(ep: &AlertEndpoints, app: &str, cause: Cause, alerts_of: Vec<(String, f64)>, ruler: Option<RulerAlert>, scrape: Duration, group_wait: Duration) -> (Vec<Fired>, Option<CheckResult>) {
    let started = Instant::now();
    let traffic = CauseTraffic::start(cause, app);
    let firing = futures::future::join_all(alerts_of.into_iter().map(|(name, for_secs)| async move {
        let floor = alerts::floor(scrape, scrape, Duration::from_secs_f64(for_secs), group_wait);
        let path = alerts::await_firing(ep, &name, started, stage_timeout(floor)).await;
        Fired { name, started, floor, path }
    }));
    let ruler_fut = async {
        match &ruler {
            Some(r) => Some(ruler_alert(&r.targets, &r.expect, r.timeout, started).await),
            None => None,
        }
    };
    let (fired, ruler_result) = futures::join!(firing, ruler_fut);
    traffic.stop().await;
    (fired, ruler_result)
}

/// The verdict of a fired alert: passed once its `resolved` notification
/// arrived. Verdicts carry the path's stage times and the ratio to the alert's floor.
async fn settle(ep: &AlertEndpoints, fired: Fired) -> CheckResult {
    const PHASE: &str = "alerts";
    let verdict = match &fired.path {
        Err(e) => Verdict::Failed { message: e.clone() },
        Ok(path) => match alerts::await_notification(ep, &fired.name, "resolved", stage_timeout(fired.floor)).await {
            Err(e) => Verdict::Failed { message: format!("fired and notified, but never resolved after the cause stopped: {e}") },
            Ok(()) => Verdict::Passed { detail: path_detail(path, fired.floor) },
        },
    };
    CheckResult::new(PHASE, &format!("alerts.{}", fired.name), verdict, fired.started.elapsed())
}

fn path_detail(path: &alerts::AlertPath, floor: Duration) -> String {
    format!(
        "pending {}ms, firing {}ms, in Alertmanager {}ms, webhook {}ms (floor {}ms, ratio {:.2}), then resolved",
        path.pending_ms.unwrap_or_default(),
        path.firing_ms.unwrap_or_default(),
        path.alertmanager_ms.unwrap_or_default(),
        path.notified_ms.unwrap_or_default(),
        floor.as_millis(),
        path.notified_ms.unwrap_or_default() as f64 / floor.as_millis().max(1) as f64
    )
}

/// `AppStopped`: stop the app, await the alert, restart the app (the run
/// follows its new address). Its resolution is the caller's ([`settle`]).
#[allow(clippy::too_many_arguments)]
async fn app_stopped_fire(ep: &AlertEndpoints, targets: &mut Targets, stack: Option<&mut Stack>, app_service: &str, name: &str, for_secs: f64, scrape: Duration, group_wait: Duration) -> Result<Fired, CheckResult> {
    const PHASE: &str = "alerts";
    let check = format!("alerts.{name}");
    let floor = alerts::floor(scrape, scrape, Duration::from_secs_f64(for_secs), group_wait);
    let started = Instant::now();
    let Some(s) = stack else {
        return Err(CheckResult::new(PHASE, &check, Verdict::NotRun { reason: "stopping the app needs a stack the harness started (not --target)".into() }, Duration::ZERO));
    };
    if let Err(e) = s.stop_service(app_service).await {
        return Err(CheckResult::new(PHASE, &check, Verdict::Failed { message: format!("cannot stop the app: {e}") }, started.elapsed()));
    }
    let path = alerts::await_firing(ep, name, started, stage_timeout(floor)).await;
    if let Err(e) = restart_service(s, targets, app_service).await {
        return Err(CheckResult::new(PHASE, &check, Verdict::Failed { message: format!("the app did not come back after the restart: {e}") }, started.elapsed()));
    }
    Ok(Fired { name: name.to_owned(), started, floor, path })
}

fn accelerate_secs(secs: u64, factor: u32) -> Duration {
    (Duration::from_secs(secs) / factor.max(1)).max(Duration::from_secs(1))
}

/// What the ruler phase expects: the log-based alert and the receiver it is routed to.
#[derive(Debug, Clone)]
pub struct RulerExpectation {
    pub alert: String,
    pub receiver: String,
}

impl RulerExpectation {
    /// The stack's first Loki ruler alert with a cause, routed to its receiver.
    pub fn for_profile(profile: &crate::profile::StackProfile) -> Result<Self, String> {
        let alert = profile.loki_alerts().find(|a| a.cause.is_some()).ok_or_else(|| {
            let rules: Vec<String> = profile.loki_alerts().map(|a| format!("{} ({})", a.name, a.cause_from)).collect();
            format!(
                "no Loki ruler alert with a cause (rules: {}) (hint: declare one in {}: `causes: {{NAME: error_burst}}`)",
                if rules.is_empty() { "none".into() } else { rules.join(", ") },
                crate::profile::OVERRIDE_FILE
            )
        })?;
        Ok(Self { alert: alert.name.clone(), receiver: profile.receiver.clone().unwrap_or_else(|| crate::webhook::SERVICE.into()) })
    }
}

/// The Loki ruler: rule groups listed for the stack's tenant, every rule
/// healthy, and the log-based alert firing (after error lines from the app)
/// and present in Alertmanager. Each wait is bounded by `timeout`.
pub async fn ruler_phase(targets: &Targets, expect: &RulerExpectation, timeout: Duration) -> Vec<CheckResult> {
    let (mut out, ready) = ruler_static(targets, timeout).await;
    if !ready {
        return out;
    }
    // The log-based alert, with error lines of its own.
    let Some(app) = targets.url("app") else {
        out.push(CheckResult::new("ruler", &format!("ruler.{}", expect.alert), Verdict::NotRun { reason: "no app to write error lines".into() }, Duration::ZERO));
        return out;
    };
    let traffic = CauseTraffic::start(Cause::ErrorBurst, app);
    out.push(ruler_alert(targets, expect, timeout, Instant::now()).await);
    traffic.stop().await;
    out
}

/// True when the ruler phase can run at all (Loki in the run, not blocked).
pub fn ruler_runnable(targets: &Targets) -> bool {
    targets.loki().is_some() && !targets.blocked.contains_key("loki") && targets.url("app").is_some()
}

/// The ruler's rule groups listed for the tenant and every rule healthy; the
/// bool says whether Loki is there to go on with the alert.
pub async fn ruler_static(targets: &Targets, timeout: Duration) -> (Vec<CheckResult>, bool) {
    const PHASE: &str = "ruler";
    let Some(loki_url) = targets.url("loki") else {
        return (vec![CheckResult::new(PHASE, "ruler", Verdict::NotRun { reason: targets.missing.get("loki").cloned().unwrap_or_default() }, Duration::ZERO)], false);
    };
    if let Some(reason) = targets.blocked.get("loki") {
        return (vec![CheckResult::new(PHASE, "ruler", Verdict::NotRun { reason: reason.clone() }, Duration::ZERO)], false);
    }
    let Some(loki) = targets.loki() else {
        return (vec![CheckResult::new(PHASE, "ruler", Verdict::NotRun { reason: targets.missing.get("loki").cloned().unwrap_or_default() }, Duration::ZERO)], false);
    };
    let tenant = targets.profile.tenant.clone().unwrap_or_else(|| "(none: Loki without auth)".into());
    let mut out = Vec::new();
    let t = Instant::now();
    let loaded = Eventually::new(format!("Loki ruler lists rule groups for tenant `{tenant}`"))
        .with_timeout(timeout)
        .until(|| async {
            match checks::loki::ruler_groups(&loki).await {
                Ok(g) if !g.is_empty() => Poll::Ready(g),
                Ok(_) => Poll::Pending("no rule groups".into()),
                Err(e) => Poll::Pending(e),
            }
        })
        .await;
    out.push(CheckResult::new(
        PHASE,
        "ruler.rules_loaded",
        match &loaded {
            Ok(g) => Verdict::Passed { detail: format!("groups: {g:?}") },
            Err(e) => Verdict::Failed { message: format!("{e} (at {loki_url}/loki/api/v1/rules)") },
        },
        t.elapsed(),
    ));
    let t = Instant::now();
    let healthy = Eventually::new("every Loki rule evaluated without error (health ok)")
        .with_timeout(timeout)
        .until(|| async {
            match loki.prometheus_rules().await {
                Ok(r) => {
                    let rules: Vec<_> = r.rules().collect();
                    let bad: Vec<String> = rules.iter().filter(|(_, r)| r.health != "ok").map(|(_, r)| format!("{}: {} {:?}", r.name, r.health, r.last_error)).collect();
                    if !rules.is_empty() && bad.is_empty() { Poll::Ready(rules.len()) } else { Poll::Pending(format!("{} rule(s); not ok: {bad:?}", rules.len())) }
                }
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await;
    out.push(CheckResult::new(
        PHASE,
        "ruler.rules_healthy",
        match healthy {
            Ok(n) => Verdict::Passed { detail: format!("{n} rule(s) evaluating, health ok") },
            Err(e) => Verdict::Failed { message: format!("{e} (at {loki_url}/prometheus/api/v1/rules)") },
        },
        t.elapsed(),
    ));
    (out, true)
}

/// The Loki ruler's log-based alert firing and reaching Alertmanager, while
/// someone drives error lines (the ruler phase itself, or the alert phase's
/// `ErrorBurst`, which shares its traffic).
pub async fn ruler_alert(targets: &Targets, expect: &RulerExpectation, timeout: Duration, started: Instant) -> CheckResult {
    const PHASE: &str = "ruler";
    let alert = expect.alert.as_str();
    let (Some(loki), Some(loki_url)) = (targets.loki(), targets.url("loki")) else {
        return CheckResult::new(PHASE, &format!("ruler.{alert}"), Verdict::NotRun { reason: targets.missing.get("loki").cloned().unwrap_or_default() }, Duration::ZERO);
    };
    // Its error lines travel Promtail → Loki, its notification ruler → Alertmanager.
    if let Some(reason) = ["promtail-loki", "ruler-alertmanager"].iter().find_map(|k| targets.blocked.get(*k)) {
        return CheckResult::new(PHASE, &format!("ruler.{alert}"), Verdict::NotRun { reason: reason.clone() }, Duration::ZERO);
    }
    let fired = Eventually::new(format!("Loki alert {alert} firing"))
        .with_timeout(timeout)
        .until(|| async {
            match loki.prometheus_alerts().await {
                Ok(a) => {
                    let states: Vec<String> = a.iter().filter(|x| x.labels.get("alertname").map(String::as_str) == Some(alert)).map(|x| x.state.clone()).collect();
                    if states.iter().any(|s| s == "firing") { Poll::Ready(()) } else { Poll::Pending(format!("states: {states:?}")) }
                }
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await;
    let verdict = match fired {
        Err(e) => Verdict::Failed { message: format!("{e} (at {loki_url}/prometheus/api/v1/alerts)") },
        Ok(()) => match targets.url("alertmanager") {
            None => Verdict::Passed { detail: "firing in Loki; Alertmanager not part of this run".into() },
            Some(am) => checks::alertmanager::alert_present(&AlertmanagerClient::new(am), alert, &[], &expect.receiver, timeout).await,
        },
    };
    CheckResult::new(PHASE, &format!("ruler.{alert}"), verdict, started.elapsed())
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backend_already_lost_is_not_watched_again_under_its_own_service_name() {
        let mut targets = Targets::default();
        targets.services.insert("loki".into(), "logs-db".into());
        assert!(!unwatched(&targets).contains(&"logs-db".to_owned()));
        targets.blocked.insert("loki".into(), "blocked by `signals.backend_lost`: …".into());
        targets.blocked.insert("app-scrape".into(), "blocked by `prometheus.target_up.fastapi`: …".into());
        let except = unwatched(&targets);
        assert!(except.contains(&"logs-db".to_owned()), "{except:?}");
        assert!(except.contains(&crate::webhook::SERVICE.to_owned()), "{except:?}");
    }

    #[test]
    fn a_failed_check_concerns_the_backends_whose_logs_say_why() {
        assert_eq!(concerned_backends("prometheus.target_up.fastapi"), ["app", "prometheus"]);
        assert_eq!(concerned_backends("prometheus.requests_match_traffic"), ["prometheus"]);
        assert_eq!(concerned_backends("alerts.HighErrorRate"), ["prometheus", "alertmanager"]);
        assert_eq!(concerned_backends("ruler.AppErrorLogsHigh"), ["loki"]);
        assert_eq!(concerned_backends("dashboards.grafana.fastapi-overview/Uptime/A"), ["grafana"]);
        assert_eq!(concerned_backends("reachability.jaeger"), ["jaeger"]);
    }

    #[test]
    fn what_a_failure_blocks_carries_its_message_without_the_logs_appended() {
        let mut targets = Targets::default();
        let (logs, stack_now) = (crate::eventually::LOGS_HEAD, conformance::STACK_NOW_HEAD);
        let message = format!("failed 3 scrapes in a row: 500 Internal Server Error{logs}api (service `app`) ---\n{{\"status\":500}}{stack_now}x)");
        targets.block_from(&[CheckResult::new("signals", "prometheus.target_up.fastapi", Verdict::Failed { message }, Duration::ZERO)]);
        assert_eq!(targets.blocked.get("app-scrape").map(String::as_str), Some("blocked by `prometheus.target_up.fastapi`: failed 3 scrapes in a row: 500 Internal Server Error"));
    }
}
