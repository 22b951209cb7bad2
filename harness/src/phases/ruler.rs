//! Phase `ruler`: the Loki ruler's rules load for the stack's tenant, every
//! rule evaluates, and its log-based alert fires and reaches Alertmanager.
//!
//! The log-based alert needs error lines: it rides on the alert phase's
//! error burst when there is one ([`crate::phases::alerts`]), else it
//! drives its own ([`own_burst`]).

use std::time::{Duration, Instant};

use crate::backends::AlertmanagerClient;
use crate::checks::alerts::{Cause, CauseTraffic};
use crate::checks::{self, CheckResult, Needs, Verdict};
use crate::eventually::{Eventually, Poll};
use crate::stack::Stack;

use super::engine::Engine;
use super::watch::{race, watchdog};

const PHASE: &str = "ruler";

/// The stack-profile expectation the ruler's checks read: a Loki ruler alert with a cause.
pub const EXPECTATION: &str = "ruler_alert";

/// What the log-based alert `alert` needs: Loki, Promtail's push and the ruler's
/// link to Alertmanager, and a cause (not one the scenario declares: that
/// expectation checks it).
fn alert_needs(alert: &str) -> Needs {
    Needs::on(["loki"])
        .with_optional(["alertmanager"])
        .with_links(["promtail-loki", "ruler-alertmanager"])
        .with_expects([super::signals::undeclared(alert), super::signals::REFERENCE_CAUSES.to_owned()])
}

/// The Loki ruler's log-based alert, awaited while an `ErrorBurst` cause of the
/// alert phase runs (one traffic for both), instead of in a phase of its own.
pub struct RulerAlert {
    pub expect: RulerExpectation,
    pub timeout: Duration,
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
pub async fn ruler_phase(engine: &Engine, expect: &RulerExpectation, timeout: Duration) -> Vec<CheckResult> {
    let (mut out, ready) = ruler_static(engine, timeout).await;
    if ready {
        out.push(own_burst(engine, None, &RulerAlert { expect: expect.clone(), timeout }, Instant::now()).await);
    }
    out
}

/// The ruler's alert with error lines of its own (the alert phase drove no
/// error burst to ride on), watched like every phase: a Loki that dies here
/// ends the wait at once.
pub async fn own_burst(engine: &Engine, stack: Option<&Stack>, req: &RulerAlert, started: Instant) -> CheckResult {
    let name = format!("ruler.{}", req.expect.alert);
    let needs = alert_needs(&req.expect.alert);
    if let Some((because, reason)) = engine.decide(&needs) {
        return engine.not_run(PHASE, &name, needs, because, reason);
    }
    let Some(app) = engine.url("app") else {
        return engine.not_run(PHASE, &name, needs, "absent:app".into(), "no app to write error lines".into());
    };
    let traffic = CauseTraffic::start(Cause::ErrorBurst, &app);
    let fired = race(watchdog(stack, engine), ruler_alert(engine, &req.expect, req.timeout, started)).await;
    let out = fired.unwrap_or_else(|lost| lost.verdict(PHASE, started.elapsed(), engine));
    traffic.stop().await;
    out
}

/// True when the ruler's alert can be driven at all (Loki in the run, not blocked, and an app).
pub fn ruler_runnable(engine: &Engine) -> bool {
    engine.usable("loki") && engine.url("app").is_some()
}

/// The ruler's rule groups listed for the tenant and every rule healthy; the
/// bool says whether Loki is there to go on with the alert.
pub async fn ruler_static(engine: &Engine, timeout: Duration) -> (Vec<CheckResult>, bool) {
    let needs = Needs::on(["loki"]).with_expects([EXPECTATION]);
    // A stack with no ruler alert to drive says so first, whatever runs.
    let decided = engine.lacking(EXPECTATION).map(|w| (format!("expect:{EXPECTATION}"), w)).or_else(|| engine.decide(&needs));
    if let Some((because, reason)) = decided {
        return (vec![engine.not_run(PHASE, "ruler", needs, because, reason)], false);
    }
    let targets = engine.targets();
    let (loki, loki_url) = (targets.loki().expect("decided"), targets.url("loki").expect("decided").to_owned());
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
    let verdict = match &loaded {
        Ok(g) => Verdict::Passed { detail: format!("groups: {g:?}") },
        Err(e) => Verdict::Failed { message: format!("{e} (at {loki_url}/loki/api/v1/rules)") },
    };
    out.push(engine.result(PHASE, "ruler.rules_loaded", Needs::on(["loki"]), verdict, t.elapsed()));
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
    let verdict = match healthy {
        Ok(n) => Verdict::Passed { detail: format!("{n} rule(s) evaluating, health ok") },
        Err(e) => Verdict::Failed { message: format!("{e} (at {loki_url}/prometheus/api/v1/rules)") },
    };
    out.push(engine.result(PHASE, "ruler.rules_healthy", Needs::on(["loki"]), verdict, t.elapsed()));
    (out, true)
}

/// The Loki ruler's log-based alert firing and reaching Alertmanager, while
/// someone drives error lines (the ruler phase itself, or the alert phase's
/// `ErrorBurst`, which shares its traffic).
pub async fn ruler_alert(engine: &Engine, expect: &RulerExpectation, timeout: Duration, started: Instant) -> CheckResult {
    let alert = expect.alert.as_str();
    let name = format!("ruler.{alert}");
    // Its error lines travel Promtail → Loki, its notification ruler → Alertmanager.
    let needs = alert_needs(alert);
    if let Some((because, reason)) = engine.decide(&needs) {
        return engine.not_run(PHASE, &name, needs, because, reason);
    }
    let targets = engine.targets();
    let (loki, loki_url) = (targets.loki().expect("decided"), targets.url("loki").expect("decided").to_owned());
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
    engine.result(PHASE, &name, needs, verdict, started.elapsed())
}
