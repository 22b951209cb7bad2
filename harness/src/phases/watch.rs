//! What the run watches while a phase waits: the stack's containers (a
//! backend that stops, pauses, vanishes or leaves the network ends the phase
//! at once, as one failure that blocks what needs it), and, when a check
//! fails, the last log lines of the services its needs name (`logs_of`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::checks::{CheckResult, Needs, Verdict};
use crate::stack::Stack;

use super::engine::{Engine, STACK_NOW_HEAD};

/// Appends to each failed check the last log lines of the services its
/// needs name in `logs_of`, unless it carries logs already, and what Docker
/// says of every service of the run that is no longer running normally
/// (killed, exited, paused), with its last log lines: a backend that died
/// mid-phase is named, not just "refused".
pub async fn with_troubles(stack: Option<&Stack>, engine: &Engine, results: &mut [CheckResult]) {
    let Some(s) = stack else { return };
    if !results.iter().any(|r| r.verdict.is_failed()) {
        return;
    }
    let services = engine.targets().services;
    let troubles = s.troubles().await;
    let note: Vec<String> = troubles.iter().map(|(_, t)| t.clone()).collect();
    // Services running normally that a failed check concerns: their last log lines.
    let mut logs: std::collections::BTreeMap<String, Option<String>> = Default::default();
    for r in results.iter_mut() {
        let logs_of = r.needs.as_ref().map(|n| n.logs_of.clone()).unwrap_or_default();
        let Verdict::Failed { message } = &mut r.verdict else { continue };
        let concerned = if message.contains(crate::eventually::LOGS_HEAD) { Vec::new() } else { logs_of };
        for service in concerned.iter().filter_map(|b| services.get(b)) {
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
            message.push_str(&format!("{STACK_NOW_HEAD}{})", note.join("\n")));
        }
    }
}

/// A backend container the watchdog saw stop, pause, vanish or leave the network.
pub struct Lost {
    pub service: String,
    pub trouble: String,
}

impl Lost {
    /// `<phase>.backend_lost`, failed, naming the service and what Docker says; it
    /// proves that backend broken, so what needs it in later phases is blocked by it.
    pub fn verdict(&self, phase: &str, took: Duration, engine: &Engine) -> CheckResult {
        let name = format!("{phase}.backend_lost");
        let message = format!(
            "`{}` stopped answering during the {phase} phase, which ended at once: {} (hint: the container's log lines above say why; `docker events` shows who stopped it)",
            self.service, self.trouble
        );
        let targets = engine.targets();
        let backend = targets.model.as_ref().and_then(|m| m.node(&self.service)).map_or(self.service.as_str(), |n| n.kind).to_owned();
        engine.result(phase, &name, Needs::nothing().with_proves([backend]), Verdict::Failed { message }, took)
    }
}

/// The watchdog's future: the service that went, and what Docker says of it.
pub type Dog = Pin<Box<dyn Future<Output = (String, String)> + Send>>;

/// The watchdog of the run's stack: not of the app, which the alert phase
/// stops on purpose, nor of a backend already known broken (lost in an
/// earlier phase, say), whose dependents are blocked already: one root cause
/// ends one phase, and later phases run what does not need it.
pub fn watchdog(stack: Option<&Stack>, engine: &Engine) -> Option<Dog> {
    stack.map(|s| Box::pin(s.watchdog(&unwatched(engine))) as _)
}

/// The compose services the watchdog leaves alone: the app, the webhook, and
/// every backend already blocked.
pub fn unwatched(engine: &Engine) -> Vec<String> {
    let targets = engine.targets();
    let app = targets.profile.app.as_ref().map(|a| a.service.clone()).unwrap_or_else(|| "app".into());
    let blocked: Vec<String> = engine.blocked_all().into_keys().map(|b| targets.services.get(&b).cloned().unwrap_or(b)).collect();
    [app, crate::webhook::SERVICE.to_owned()].into_iter().chain(blocked).collect()
}

/// Runs `phase` unless the watchdog sees a backend container go first.
pub async fn race<T>(dog: Option<Dog>, phase: impl Future<Output = T>) -> Result<T, Lost> {
    match dog {
        None => Ok(phase.await),
        Some(dog) => tokio::select! {
            r = phase => Ok(r),
            (service, trouble) = dog => Err(Lost { service, trouble }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::targets::Targets;

    #[test]
    fn a_backend_already_lost_is_not_watched_again_under_its_own_service_name() {
        let mut targets = Targets::default();
        targets.services.insert("loki".into(), "logs-db".into());
        let engine = Engine::new(targets);
        assert!(!unwatched(&engine).contains(&"logs-db".to_owned()));
        engine.block("loki", "blocked by `signals.backend_lost`: …".into());
        engine.block("app-scrape", "blocked by `prometheus.target_up.fastapi`: …".into());
        let except = unwatched(&engine);
        assert!(except.contains(&"logs-db".to_owned()), "{except:?}");
        assert!(except.contains(&crate::webhook::SERVICE.to_owned()), "{except:?}");
    }

    #[test]
    fn what_a_failure_blocks_carries_its_message_without_the_logs_appended() {
        let engine = Engine::new(Targets::default());
        let (logs, stack_now) = (crate::eventually::LOGS_HEAD, STACK_NOW_HEAD);
        let message = format!("failed 3 scrapes in a row: 500 Internal Server Error{logs}api (service `app`) ---\n{{\"status\":500}}{stack_now}x)");
        engine.result("signals", "prometheus.target_up.fastapi", Needs::on(["prometheus"]).with_proves(["app-scrape"]), Verdict::Failed { message }, Duration::ZERO);
        assert_eq!(engine.blocked("app-scrape").as_deref(), Some("blocked by `prometheus.target_up.fastapi`: failed 3 scrapes in a row: 500 Internal Server Error"));
    }
}
