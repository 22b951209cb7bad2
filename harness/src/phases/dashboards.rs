//! Phase `dashboards`: every query of every provisioned dashboard returns
//! data, through its own backend and through Grafana.
//!
//! One check per query and path (`dashboards.<via>.<id>`), each declaring
//! what it needs: the backend it asks, and what its data passes through
//! before (the query's backend and what feeds it: the app's scrape for
//! PromQL, Promtail's push for LogQL). A query whose data is blocked waits
//! for nothing.

use std::time::{Duration, Instant};

use crate::checks::{CheckResult, Needs, Verdict};
use crate::dashboards::DashboardQuery;
use crate::stack::Stack;

use super::engine::Engine;
use super::watch::{race, watchdog};

const PHASE: &str = "dashboards";

/// How far back each query looks.
pub const WINDOW: Duration = Duration::from_secs(300);

/// What the check of `q` through `via` needs.
pub fn needs(q: &DashboardQuery, via: &str) -> Needs {
    let feed = if q.is_prometheus() { "app-scrape" } else { "promtail-loki" };
    Needs::on([via]).with_through([q.backend(), feed])
}

/// Runs the phase: the inventory of the stack read, each query's checks decided, the rest run live.
pub async fn dashboards(engine: &Engine, stack: Option<&Stack>, acceleration: u32, timeout: Duration) -> Vec<CheckResult> {
    let t = Instant::now();
    let targets = engine.targets();
    let Some(model) = targets.model.clone() else {
        let message = "the stack could not be read, so its dashboards are unknown (hint: `obs-harness lint` names the file)".to_owned();
        return vec![engine.result(PHASE, "dashboards.inventory", Needs::nothing(), Verdict::Failed { message }, t.elapsed())];
    };
    let options = crate::dashboards::ExpandOptions::for_model(&model, acceleration, WINDOW).with_app_job(targets.profile.job().unwrap_or_default());
    let mut inventory = crate::dashboards::inventory_in(&model, &options);
    // Queries wait for nothing when what feeds them is known broken.
    let mut decided = Vec::new();
    for q in std::mem::take(&mut inventory.queries) {
        let through = |via: &str| needs(&q, via).through.iter().find_map(|k| engine.blocked(k).map(|r| (format!("through:{k}"), r)));
        match through(q.backend()) {
            Some(_) => {
                for via in [q.backend(), "grafana"] {
                    let (because, reason) = through(via).expect("blocked upstream");
                    decided.push(engine.not_run(PHASE, &format!("dashboards.{via}.{}", q.id()), needs(&q, via), because, reason));
                }
            }
            None => inventory.queries.push(q),
        }
    }
    let (prom, grafana, loki) = (targets.prometheus(), targets.grafana(), targets.loki());
    let queries = crate::dashboards::live_queries(&inventory, prom.as_ref(), grafana.as_ref(), loki.as_ref(), WINDOW, timeout);
    let mut results = match race(watchdog(stack, engine), queries).await {
        Ok(r) => r,
        Err(lost) => vec![lost.verdict(PHASE, t.elapsed(), engine)],
    };
    // Each live result carries its needs; one not run for an absent backend names it.
    let by_name: std::collections::BTreeMap<String, Needs> =
        inventory.queries.iter().flat_map(|q| [q.backend(), "grafana"].map(|via| (format!("dashboards.{via}.{}", q.id()), needs(q, via)))).collect();
    for r in &mut results {
        if let Some(n) = by_name.get(&r.name) {
            if matches!(r.verdict, Verdict::NotRun { .. }) {
                r.because = engine.decide(n).map(|d| d.0);
            }
            r.needs = Some(n.clone());
            engine.record(r);
        }
    }
    results.extend(decided);
    results
}
