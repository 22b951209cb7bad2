//! The one engine that decides, for every check of a run, whether it runs.
//!
//! Each check declares its [`Needs`]; [`Engine::decide`] reads only them and
//! what the run has learnt so far:
//! - where each backend is ([`Targets`]): a backend absent makes a check *not run*;
//! - what is blocked, and by what: a link lint found broken
//!   ([`Engine::block_broken_links`]), a backend reachability could not reach
//!   or the watchdog saw go, a failed check (by its name) and what its
//!   declared `proves` says it showed broken;
//! - the stack-profile expectations that are missing, with their hints.
//!
//! The engine records every result it runs, so a check that declares
//! another as a need is blocked by that check's failure, in the same phase
//! or a later one. It is shared by reference between the checks of a phase,
//! which run at once (its state sits behind a lock never held across an `await`).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::checks::{Because, CheckResult, Needs, Verdict};

use super::targets::Targets;

/// Where the state of the stack's troubled services, appended to a failure message, begins.
pub(crate) const STACK_NOW_HEAD: &str = "\n(the stack now: ";

/// What a failed check's dependents report: "blocked by `<check>`: <its message>",
/// without the container logs and states appended to the message.
pub fn blocked_by(r: &CheckResult) -> Option<String> {
    match &r.verdict {
        Verdict::Failed { message } => {
            let own = [crate::eventually::LOGS_HEAD, STACK_NOW_HEAD].iter().filter_map(|h| message.find(h)).min().map_or(message.as_str(), |i| &message[..i]);
            Some(format!("blocked by `{}`: {}", r.name, own.trim_end()))
        }
        _ => None,
    }
}

/// "blocked by `<the lint check of finding f>`: <its message>".
pub fn blocked_by_finding(f: &crate::lint::Finding) -> String {
    format!("blocked by `lint.{} {}:{}`: {}", f.rule, f.file, f.line, f.message)
}

#[derive(Debug, Default)]
struct State {
    /// Backend, link or check name -> "blocked by `…`: …".
    blocked: BTreeMap<String, String>,
    /// Missing stack-profile expectation -> why, with the hint.
    lacking: BTreeMap<String, String>,
}

/// The run's one decider: where things are, what is blocked, what is missing.
#[derive(Debug, Default)]
pub struct Engine {
    targets: RwLock<Targets>,
    state: Mutex<State>,
}

impl Engine {
    pub fn new(targets: Targets) -> Self {
        Self { targets: RwLock::new(targets), state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the backends are now (a copy: a restart moves them).
    pub fn targets(&self) -> Targets {
        self.targets.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces where the backends are (after a restart), keeping what is blocked.
    pub fn set_targets(&self, targets: Targets) {
        *self.targets.write().unwrap_or_else(|p| p.into_inner()) = targets;
    }

    /// The base URL of `backend`, when it is part of the run.
    pub fn url(&self, backend: &str) -> Option<String> {
        self.targets.read().unwrap_or_else(|p| p.into_inner()).url(backend).map(str::to_owned)
    }

    /// Blocks what needs `key` (a backend, a link or a check), with `reason`.
    pub fn block(&self, key: &str, reason: String) {
        self.state().blocked.insert(key.to_owned(), reason);
    }

    /// Blocks what needs `key` unless something blocked it already (the first cause stays).
    pub fn block_first(&self, key: &str, reason: String) {
        self.state().blocked.entry(key.to_owned()).or_insert(reason);
    }

    /// Why `key` is blocked, if it is.
    pub fn blocked(&self, key: &str) -> Option<String> {
        self.state().blocked.get(key).cloned()
    }

    /// Everything blocked so far (`key -> reason`).
    pub fn blocked_all(&self) -> BTreeMap<String, String> {
        self.state().blocked.clone()
    }

    /// Declares the stack-profile expectation `name` missing (`Some(why)`) or present (`None`).
    pub fn lack(&self, name: &str, why: Option<String>) {
        let mut s = self.state();
        match why {
            Some(w) => s.lacking.insert(name.to_owned(), w),
            None => s.lacking.remove(name),
        };
    }

    /// Why the expectation `name` is missing, if it is.
    pub fn lacking(&self, name: &str) -> Option<String> {
        self.state().lacking.get(name).cloned()
    }

    /// Whether a check with `needs` runs: `None`, or the need that stops it and why.
    /// In order: what its data passes through blocked, a backend absent, a
    /// backend or link blocked, an expectation missing, a check failed.
    pub fn decide(&self, needs: &Needs) -> Option<(Because, String)> {
        if let Some((k, reason)) = needs.through.iter().find_map(|k| self.blocked(k).map(|r| (k, r))) {
            return Some((format!("through:{k}"), reason));
        }
        let targets = self.targets.read().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = needs.backends.iter().find(|b| targets.url(b).is_none()) {
            return Some((format!("absent:{b}"), targets.reason(b)));
        }
        drop(targets);
        let s = self.state();
        let blocked = needs.backends.iter().map(|b| ("backend", b)).chain(needs.links.iter().map(|l| ("link", l)));
        if let Some((what, key, reason)) = blocked.clone().find_map(|(what, k)| s.blocked.get(k).map(|r| (what, k, r))) {
            return Some((format!("{what}:{key}"), reason.clone()));
        }
        if let Some((e, why)) = needs.expects.iter().find_map(|e| s.lacking.get(e).map(|w| (e, w))) {
            return Some((format!("expect:{e}"), why.clone()));
        }
        needs.checks.iter().find_map(|c| s.blocked.get(c).map(|r| (format!("check:{c}"), r.clone())))
    }

    /// Whether an optional backend is there to use: present and not blocked.
    pub fn usable(&self, backend: &str) -> bool {
        self.url(backend).is_some() && self.blocked(backend).is_none()
    }

    /// Learns from a result: a failed check blocks what names it, and what it `proves`.
    pub fn record(&self, r: &CheckResult) {
        let Some(reason) = blocked_by(r) else { return };
        let mut s = self.state();
        for p in r.needs.iter().flat_map(|n| n.proves.iter()) {
            s.blocked.insert(p.clone(), reason.clone());
        }
        s.blocked.insert(r.name.clone(), reason);
    }

    /// A check not run, for `because` (see [`Because`]).
    pub fn not_run(&self, phase: &str, name: &str, needs: Needs, because: Because, reason: String) -> CheckResult {
        let mut r = CheckResult::new(phase, name, Verdict::NotRun { reason }, Duration::ZERO);
        r.needs = Some(needs);
        r.because = Some(because);
        r
    }

    /// A result made by a phase's own orchestration, with its declared needs, recorded.
    /// A check that uses only optional backends and found none of them to use
    /// says so itself: its verdict names `optional:<its optional backends>`.
    pub fn result(&self, phase: &str, name: &str, needs: Needs, verdict: Verdict, took: Duration) -> CheckResult {
        let mut r = CheckResult::new(phase, name, verdict, took);
        if matches!(r.verdict, Verdict::NotRun { .. }) && !needs.optional.is_empty() {
            r.because = Some(format!("optional:{}", needs.optional.join(",")));
        }
        r.needs = Some(needs);
        self.record(&r);
        r
    }

    /// Runs `check` unless [`Self::decide`] stops it; times it and records the result.
    pub async fn run<F: Future<Output = Verdict>>(&self, phase: &str, name: &str, needs: Needs, check: F) -> CheckResult {
        if let Some((because, reason)) = self.decide(&needs) {
            return self.not_run(phase, name, needs, because, reason);
        }
        let start = Instant::now();
        let verdict = check.await;
        self.result(phase, name, needs, verdict, start.elapsed())
    }

    /// Links the static gate found broken block what needs them, before any
    /// wait: `app-scrape` (Prometheus → the app), `prometheus-alertmanager`,
    /// `ruler-alertmanager` (Loki ruler → Alertmanager), `promtail-loki` and
    /// `traces-tempo`, each "blocked by `lint.<rule> file:line`: message".
    pub fn block_broken_links(&self, model: &crate::model::StackModel) {
        for l in &model.links {
            let Some(f) = crate::lint::links::check_link(model, l) else { continue };
            if let Some(key) = link_key(model, l) {
                self.block_first(key, blocked_by_finding(&f));
            }
        }
    }

    /// Blocks the log path (link `promtail-loki`) when lint found that
    /// Promtail's container filter selects no service and the model has
    /// Promtail reading no logs of the app's service: nothing the app writes
    /// reaches Loki, so the checks of its lines wait for nothing.
    pub fn block_unshipped_logs(&self, model: &crate::model::StackModel, findings: &[crate::lint::Finding]) {
        let Some(f) = findings.iter().find(|f| f.rule == "promtail-filter-no-match") else { return };
        let app = self.targets().profile.app.as_ref().map(|a| a.service.clone());
        let read = model.links.iter().any(|l| l.proto == crate::model::Proto::DockerLogs && app.as_deref().is_none_or(|a| l.host == a));
        if !read {
            self.block_first("promtail-loki", blocked_by_finding(f));
        }
    }
}

/// The engine's name for a model link a check can need, if it is one.
pub fn link_key(model: &crate::model::StackModel, l: &crate::model::Link) -> Option<&'static str> {
    let kind = |n: Option<&str>| n.and_then(|n| model.node(n)).map_or("", |n| n.kind);
    Some(match (kind(Some(&l.from)), kind(l.to.as_deref()), l.rule) {
        (_, _, "alerting-target-unknown-service") | ("prometheus", "alertmanager", _) => "prometheus-alertmanager",
        (_, _, "loki-ruler-alertmanager-unknown-service") | ("loki", "alertmanager", _) => "ruler-alertmanager",
        (_, _, "promtail-client-unknown-service") | ("promtail", "loki", _) => "promtail-loki",
        ("prometheus", "app", _) => "app-scrape",
        (_, "tempo", _) if matches!(l.proto, crate::model::Proto::OtlpGrpc | crate::model::Proto::OtlpHttp | crate::model::Proto::Otlp) => "traces-tempo",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let mut t = Targets::default();
        t.urls.insert("prometheus".into(), "http://127.0.0.1:1".into());
        t.missing.insert("loki".into(), "port 3100 of `loki` is not published".into());
        Engine::new(t)
    }

    #[test]
    fn an_absent_backend_comes_before_a_blocked_one_and_names_itself() {
        let e = engine();
        e.block("prometheus", "blocked by `reachability.prometheus`: refused".into());
        let d = e.decide(&Needs::on(["prometheus", "loki"]));
        assert_eq!(d, Some(("absent:loki".into(), "port 3100 of `loki` is not published".into())));
        let d = e.decide(&Needs::on(["prometheus"]));
        assert_eq!(d, Some(("backend:prometheus".into(), "blocked by `reachability.prometheus`: refused".into())));
    }

    #[test]
    fn a_failed_check_blocks_what_names_it_and_what_it_proves() {
        let e = engine();
        let up = Needs::on(["prometheus"]).with_proves(["app-scrape"]);
        let failed = e.result("signals", "prometheus.target_up.shop", up, Verdict::Failed { message: "down\n--- last log lines of api ---\nx".into() }, Duration::ZERO);
        assert!(failed.needs.is_some());
        let series = Needs::on(["prometheus"]).with_checks(["prometheus.target_up.shop"]);
        assert_eq!(e.decide(&series), Some(("check:prometheus.target_up.shop".into(), "blocked by `prometheus.target_up.shop`: down".into())));
        assert_eq!(e.decide(&Needs::on(["prometheus"]).with_links(["app-scrape"])).map(|d| d.0), Some("link:app-scrape".into()));
        assert_eq!(e.decide(&Needs::on(["prometheus"])), None);
    }

    #[test]
    fn a_missing_expectation_is_not_run_with_its_hint_and_a_passed_check_blocks_nothing() {
        let e = engine();
        e.lack("job", Some("no scrape job (hint: declare `jobs:`)".into()));
        assert_eq!(e.decide(&Needs::on(["prometheus"]).with_expects(["job"])).map(|d| d.0), Some("expect:job".into()));
        e.lack("job", None);
        e.result("signals", "a", Needs::nothing().with_proves(["x"]), Verdict::Passed { detail: String::new() }, Duration::ZERO);
        assert_eq!(e.decide(&Needs::nothing().with_checks(["a"]).with_links(["x"])), None);
    }
}
