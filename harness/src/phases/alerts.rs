//! Phase `alerts`: each alert rule of the stack driven from its cause to
//! the webhook and back, with the Loki ruler beside it.
//!
//! Every rule is a check (`alerts.<rule>`) that needs Prometheus,
//! Alertmanager, the app's scrape and the notification link, and a cause:
//! read from its expression or declared, else it is *not run* with the hint.
//! Causes that can run together fire in waves ([`alerts::waves`]); the one
//! that stops the app comes last, and the run follows the app's new address
//! after its restart. The ruler's log-based alert rides on the error burst
//! (one traffic for both), and its other checks run beside the phase.

use std::time::{Duration, Instant};

use crate::backends::{AlertmanagerClient, PrometheusClient};
use crate::checks::alerts::{self, AlertEndpoints, Cause, CauseTraffic};
use crate::checks::{CheckResult, Needs, Verdict};
use crate::stack::Stack;

use super::engine::Engine;
use super::ruler::{self, RulerAlert, RulerExpectation};
use super::watch::{race, watchdog};

const PHASE: &str = "alerts";

/// What the phase as a whole needs (its `alerts` verdict when it cannot run).
fn phase_needs() -> Needs {
    Needs::on(["prometheus", "alertmanager", "app"]).with_links(["app-scrape", "prometheus-alertmanager"]).with_logs_of(["prometheus", "alertmanager"])
}

/// What each alert rule's check needs besides its cause: the causes drive the
/// reference app's routes (`/error`, `/slow`, `/llm/chat`), so another app
/// declares its own (`expect: [{alert: RULE, cause: [requests]}]`).
fn alert_needs() -> Needs {
    phase_needs()
}

/// What the check of the rule `name` needs: the phase's needs, its cause, and,
/// for a cause that drives the reference app's routes, the reference app.
fn rule_needs(name: &str, cause: Option<Cause>) -> Needs {
    let needs = alert_needs().with_expects([super::signals::undeclared(name), format!("cause:{name}")]);
    // Stopping the app works for any app; the other causes drive the reference app's routes.
    if cause == Some(Cause::AppStopped) { needs } else { needs.with_expects([super::signals::REFERENCE_CAUSES]) }
}

/// Restarts `service` of `stack` and points the engine at its new endpoints
/// (Docker publishes a restarted container on new host ports): every phase
/// after a restart must use this, never an address taken before it.
pub async fn restart_service(stack: &mut Stack, engine: &Engine, service: &str) -> Result<(), crate::stack::StackError> {
    let restarted = stack.restart_service(service).await;
    engine.set_targets(engine.targets().refreshed(&stack.state));
    restarted
}

/// What the alert and ruler phases produced: each phase's results and time
/// (`alerts` is `None` with `--skip-alerts`).
pub struct Outcome {
    pub alerts: Option<(Vec<CheckResult>, Duration)>,
    pub ruler: (Vec<CheckResult>, Duration),
}

/// The alert phase and the Loki ruler, overlapped: the ruler's rule checks run
/// beside the alert phase, and its log-based alert rides on the alert phase's
/// error burst (one traffic); `FastAPIDown`-like causes that stop the app come last.
pub async fn alerts_and_ruler(engine: &Engine, mut stack: Option<&mut Stack>, acceleration: u32, skip_alerts: bool) -> Outcome {
    let ruler_timeout = if acceleration > 1 { Duration::from_secs(120) } else { Duration::from_secs(300) };
    let ruler_expect = RulerExpectation::for_profile(&engine.targets().profile);
    engine.lack(ruler::EXPECTATION, ruler_expect.as_ref().err().cloned());
    let t = Instant::now();
    let ruler_static_fut = async {
        let t = Instant::now();
        (ruler::ruler_static(engine, ruler_timeout).await, t.elapsed())
    };
    let ruler_request = match (&ruler_expect, ruler::ruler_runnable(engine)) {
        (Ok(e), true) => Some(RulerAlert { expect: e.clone(), timeout: ruler_timeout }),
        _ => None,
    };
    let alerts_dog = watchdog(stack.as_deref(), engine);
    let alerts_fut = async {
        if skip_alerts {
            return (None, ruler_request);
        }
        let (res, left) = alert_phase(engine, stack.as_deref_mut(), acceleration, ruler_request).await;
        (Some((res, t.elapsed())), left)
    };
    let raced = race(alerts_dog, async { futures::join!(ruler_static_fut, alerts_fut) }).await;
    let (((mut ruler_results, ruler_ready), ruler_took), (alert_out, leftover)) = match raced {
        Ok(r) => r,
        // With `--skip-alerts` the phase that ended is the ruler's.
        Err(lost) if skip_alerts => (((vec![lost.verdict("ruler", t.elapsed(), engine)], false), t.elapsed()), (None, None)),
        Err(lost) => {
            let v = lost.verdict(PHASE, t.elapsed(), engine);
            (((Vec::new(), false), Duration::ZERO), (Some((vec![v], t.elapsed())), None))
        }
    };
    let mut ruler_took = ruler_took;
    let mut alerts_out = None;
    if let Some((mut results, took)) = alert_out {
        // The ruler's alert, if it rode on the error burst, belongs to the ruler phase.
        let rode = results.iter().any(|r| r.phase == "ruler");
        ruler_results.extend(results.iter().filter(|r| r.phase == "ruler").cloned());
        results.retain(|r| r.phase != "ruler");
        if rode {
            ruler_took = ruler_took.max(took);
        }
        alerts_out = Some((results, took));
    }
    if let (Some(req), true) = (leftover, ruler_ready) {
        // The alert phase did not drive an error burst: the ruler drives its own.
        let t = Instant::now();
        ruler_results.push(ruler::own_burst(engine, stack.as_deref(), &req, t).await);
        ruler_took += t.elapsed();
    }
    Outcome { alerts: alerts_out, ruler: (ruler_results, ruler_took) }
}

/// The alert phase proper: every alert rule with a cause, driven in waves.
async fn alert_phase(engine: &Engine, mut stack: Option<&mut Stack>, acceleration: u32, mut ruler: Option<RulerAlert>) -> (Vec<CheckResult>, Option<RulerAlert>) {
    if let Some((because, reason)) = engine.decide(&phase_needs()) {
        return (vec![engine.not_run(PHASE, "alerts", phase_needs(), because, reason)], ruler);
    }
    let (prom, am, app) = (engine.url("prometheus").expect("decided"), engine.url("alertmanager").expect("decided"), engine.url("app").expect("decided"));
    let Some(webhook) = engine.url("webhook") else {
        let reason = "the harness's webhook receiver is not part of this run (it runs only in stacks the harness starts)".to_owned();
        return (vec![engine.not_run(PHASE, "alerts", phase_needs(), "absent:webhook".into(), reason)], ruler);
    };
    let targets = engine.targets();
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
        Err(e) => return (vec![engine.result(PHASE, "alerts", phase_needs(), Verdict::Failed { message: e.to_string() }, Duration::ZERO)], ruler),
    };
    let mut alert_rules: Vec<(String, f64)> = rules.rules().filter(|(_, r)| r.kind == "alerting").map(|(_, r)| (r.name.clone(), r.duration.unwrap_or(0.0))).collect();
    alert_rules.sort_by(|a, b| a.0.cmp(&b.0));
    let scrape = accelerate_secs(15, acceleration);
    let group_wait = accelerate_secs(10, acceleration);
    let mut out = Vec::new();
    let covered = alert_rules.iter().filter(|(n, _)| profile.cause(n).is_some()).count();
    let detail = format!("{covered} of the {} alert rule(s) have a cause read from their expression or declared", alert_rules.len());
    out.push(engine.result(PHASE, "alerts.coverage", Needs::nothing(), Verdict::Passed { detail }, Duration::ZERO));
    // Each rule with a cause, grouped by cause; the rest are not run, with the hint.
    let mut by_cause: Vec<(Cause, Vec<(String, f64)>)> = Vec::new();
    for (name, for_secs) in alert_rules {
        let cause = profile.cause(&name);
        let (cause_of, started_stack) = (format!("cause:{name}"), "started_stack".to_owned());
        let why = profile.alerts.iter().find(|a| a.name == name).map(|a| a.cause_from.clone()).unwrap_or_else(|| "not in the stack's rule files".into());
        engine.lack(&cause_of, cause.is_none().then(|| {
            format!(
                "no cause fires this rule ({why}) (hint: declare it in {} beside the compose file: `causes: {{{name}: error_burst}}`; causes: error_burst, slow_requests, llm_failures, app_stopped)",
                crate::profile::OVERRIDE_FILE
            )
        }));
        let mut needs = rule_needs(&name, cause);
        if cause == Some(Cause::AppStopped) {
            engine.lack(&started_stack, stack.is_none().then(|| "stopping the app needs a stack the harness started (not --target)".to_owned()));
            needs = needs.with_expects([started_stack]);
        }
        if let Some((because, reason)) = engine.decide(&needs) {
            out.push(engine.not_run(PHASE, &format!("alerts.{name}"), needs, because, reason));
            continue;
        }
        let cause = cause.expect("decided");
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
                match app_stopped_fire(&ep, engine, stack.as_deref_mut(), &app_service, &name, for_secs, scrape, group_wait).await {
                    Ok(fired) => app_down.push(fired),
                    Err(result) => out.push(result),
                }
            }
            continue;
        }
        // The app's address now, not at the phase's start: a restart moves it.
        let app = engine.url("app").unwrap_or(app.clone());
        let down = futures::future::join_all(std::mem::take(&mut app_down).into_iter().map(|f| settle(&ep, engine, f)));
        let wave_done = async {
            let fired = futures::future::join_all(wave.iter().map(|cause| {
                let ruler_here = if *cause == Cause::ErrorBurst { ruler.take() } else { None };
                fire_cause(&ep, engine, &app, *cause, alerts_of(*cause), ruler_here, scrape, group_wait)
            }))
            .await;
            // Every cause of the wave has fired (or failed): healthy traffic until each resolves.
            let healthy = CauseTraffic::healthy(&app);
            let (settling, rulers): (Vec<Vec<Fired>>, Vec<Option<CheckResult>>) = fired.into_iter().unzip();
            let mut results = futures::future::join_all(settling.into_iter().flatten().map(|f| settle(&ep, engine, f))).await;
            healthy.stop().await;
            results.extend(rulers.into_iter().flatten());
            results
        };
        let (down, wave_results) = futures::join!(down, wave_done);
        out.extend(down);
        out.extend(wave_results);
    }
    // No wave came after the app's restart: its alerts resolve now.
    out.extend(futures::future::join_all(app_down.into_iter().map(|f| settle(&ep, engine, f))).await);
    (out, ruler)
}

/// One alert driven to the webhook (or not), waiting to resolve.
struct Fired {
    name: String,
    cause: Cause,
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
#[allow(clippy::too_many_arguments)]
async fn fire_cause(ep: &AlertEndpoints, engine: &Engine, app: &str, cause: Cause, alerts_of: Vec<(String, f64)>, ruler: Option<RulerAlert>, scrape: Duration, group_wait: Duration) -> (Vec<Fired>, Option<CheckResult>) {
    let started = Instant::now();
    let traffic = CauseTraffic::start(cause, app);
    let firing = futures::future::join_all(alerts_of.into_iter().map(|(name, for_secs)| async move {
        let floor = alerts::floor(scrape, scrape, Duration::from_secs_f64(for_secs), group_wait);
        let path = alerts::await_firing(ep, &name, started, stage_timeout(floor)).await;
        Fired { name, cause, started, floor, path }
    }));
    let ruler_fut = async {
        match &ruler {
            Some(r) => Some(ruler::ruler_alert(engine, &r.expect, r.timeout, started).await),
            None => None,
        }
    };
    let (fired, ruler_result) = futures::join!(firing, ruler_fut);
    traffic.stop().await;
    (fired, ruler_result)
}

/// The verdict of a fired alert: passed once its `resolved` notification
/// arrived. Verdicts carry the path's stage times and the ratio to the alert's floor.
async fn settle(ep: &AlertEndpoints, engine: &Engine, fired: Fired) -> CheckResult {
    let verdict = match &fired.path {
        Err(e) => Verdict::Failed { message: e.clone() },
        Ok(path) => match alerts::await_notification(ep, &fired.name, "resolved", stage_timeout(fired.floor)).await {
            Err(e) => Verdict::Failed { message: format!("fired and notified, but never resolved after the cause stopped: {e}") },
            Ok(()) => Verdict::Passed { detail: path_detail(path, fired.floor) },
        },
    };
    engine.result(PHASE, &format!("alerts.{}", fired.name), rule_needs(&fired.name, Some(fired.cause)), verdict, fired.started.elapsed())
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
async fn app_stopped_fire(ep: &AlertEndpoints, engine: &Engine, stack: Option<&mut Stack>, app_service: &str, name: &str, for_secs: f64, scrape: Duration, group_wait: Duration) -> Result<Fired, CheckResult> {
    let check = format!("alerts.{name}");
    let floor = alerts::floor(scrape, scrape, Duration::from_secs_f64(for_secs), group_wait);
    let started = Instant::now();
    let s = stack.expect("decided: a stack the harness started");
    let failed = |message: String| engine.result(PHASE, &check, rule_needs(name, Some(Cause::AppStopped)), Verdict::Failed { message }, started.elapsed());
    if let Err(e) = s.stop_service(app_service).await {
        return Err(failed(format!("cannot stop the app: {e}")));
    }
    let path = alerts::await_firing(ep, name, started, stage_timeout(floor)).await;
    if let Err(e) = restart_service(s, engine, app_service).await {
        return Err(failed(format!("the app did not come back after the restart: {e}")));
    }
    Ok(Fired { name: name.to_owned(), cause: Cause::AppStopped, started, floor, path })
}

fn accelerate_secs(secs: u64, factor: u32) -> Duration {
    (Duration::from_secs(secs) / factor.max(1)).max(Duration::from_secs(1))
}
