//! Dashboard query regression, live, after the default traffic scenario:
//! every query of the bundled dashboards returns data.
//!
//! `live_*` runs on the air-gapped set (Prometheus only: the Grafana and Loki
//! routes are not run); `upstream_*` needs the full stack (Grafana, Loki) and
//! is left out by the air-gapped nextest profile. Under nextest both use the
//! shared stack of the setup script (accelerated x15: 1 s scrape, so
//! `$__rate_interval` is 4 s).

use std::path::Path;
use std::time::{Duration, SystemTime};

use obs_harness::checks::{CheckResult, Verdict};
use obs_harness::phases::Targets;
use obs_harness::dashboards::{self, Counts, ExpandOptions, Inventory, QueryShape};
use obs_harness::stack::{StackOptions, StackState, with_stack};
use obs_harness::traffic::{self, Scenario};

/// `$__range` and the range of the live queries: fixed, so the report is stable.
const WINDOW: Duration = Duration::from_secs(300);
const TIMEOUT: Duration = Duration::from_secs(60);

fn inventory(state: &StackState) -> Inventory {
    let dir = state.compose_file.parent().unwrap_or(Path::new("."));
    let opts =
        ExpandOptions::for_stack(dir, state.acceleration, WINDOW)
            .unwrap_or_else(|e| panic!("{e}"))
            .with_app_job(Targets::from_state(state).profile.job().unwrap_or_default());
    dashboards::inventory(dir, &opts).unwrap_or_else(|e| panic!("{e}"))
}

async fn drive(targets: &Targets) {
    let app = targets
        .url("app")
        .unwrap_or_else(|| panic!("the app is not running: {:?}", targets.missing));
    let record = traffic::drive(app, &Scenario::default_scenario())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!record.sent.is_empty());
    // Traffic has to be inside the window the queries look at.
    assert!(
        SystemTime::now()
            .duration_since(record.started)
            .unwrap_or_default()
            < WINDOW
    );
}

fn failures(results: &[CheckResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.verdict.is_failed())
        .map(|r| format!("{}:\n{}", r.name, r.verdict.text()))
        .collect()
}

fn assert_route_passed(inv: &Inventory, results: &[CheckResult], via: &str, kind: &str) {
    for q in inv.queries.iter().filter(|q| q.datasource_type == kind) {
        let name = format!("dashboards.{via}.{}", q.id());
        let r = results
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no check {name}"));
        assert!(r.verdict.is_passed(), "{name}: {:?}", r.verdict);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn live_dashboard_queries_return_data() {
    let (inv, results, shapes): (Inventory, Vec<CheckResult>, Vec<QueryShape>) = with_stack(
        StackOptions::airgapped().with_acceleration(15),
        |state| async move {
            let targets = Targets::from_state(&state);
            let inv = inventory(&state);
            assert_eq!(
                inv.options.rate_interval(),
                Duration::from_secs(4),
                "accelerated x15: 1 s scrape"
            );
            drive(&targets).await;
            let prom = targets
                .prometheus()
                .expect("prometheus runs in the air-gapped set");
            let (results, shapes) = dashboards::live_queries_with_shapes(
                &inv,
                Some(&prom),
                None,
                None,
                WINDOW,
                TIMEOUT,
            )
            .await;
            (inv, results, shapes)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let failed = failures(&results);
    assert!(
        failed.is_empty(),
        "dashboard queries without data:\n{}",
        failed.join("\n\n")
    );
    assert!(
        inv.queries.iter().filter(|q| q.is_prometheus()).count() >= 10,
        "{inv:#?}"
    );
    assert_route_passed(&inv, &results, "prometheus", "prometheus");
    // Grafana and Loki were not given: those routes are not run, never passed.
    for r in results
        .iter()
        .filter(|r| !r.name.starts_with("dashboards.prometheus."))
    {
        assert!(matches!(r.verdict, Verdict::NotRun { .. }), "{r:?}");
    }
    assert!(results.iter().all(|r| r.phase == "dashboards"));
    // Series counts depend on what else ran on the shared stack: label names only.
    insta::assert_snapshot!(
        "live_dashboards_shapes",
        dashboards::shape_report(&inv, &shapes, &results, Counts::NonEmpty)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_dashboard_queries_through_grafana_and_loki() {
    let (inv, results, shapes) = with_stack(
        StackOptions::bundled().with_acceleration(15),
        |state| async move {
            let targets = Targets::from_state(&state);
            let inv = inventory(&state);
            drive(&targets).await;
            let prom = targets.prometheus().expect("prometheus runs");
            let grafana = targets.grafana().expect("grafana runs in the full stack");
            let loki = targets.loki().expect("loki runs in the full stack");
            let (results, shapes) = dashboards::live_queries_with_shapes(
                &inv,
                Some(&prom),
                Some(&grafana),
                Some(&loki),
                WINDOW,
                TIMEOUT,
            )
            .await;
            (inv, results, shapes)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));

    let failed = failures(&results);
    assert!(
        failed.is_empty(),
        "dashboard queries without data:\n{}",
        failed.join("\n\n")
    );
    assert_route_passed(&inv, &results, "prometheus", "prometheus");
    assert_route_passed(&inv, &results, "grafana", "prometheus");
    assert_route_passed(&inv, &results, "loki", "loki");
    assert_route_passed(&inv, &results, "grafana", "loki");
    assert!(
        inv.queries.iter().any(|q| q.datasource_type == "loki"),
        "the bundled dashboards have a Loki panel"
    );
    // Through Grafana a Prometheus query carries the same labels as through Prometheus
    // (Grafana may drop `__name__`).
    for s in shapes.iter().filter(|s| s.via == "grafana") {
        if let Some(direct) = shapes
            .iter()
            .find(|d| d.id == s.id && d.via == "prometheus")
        {
            let mut want = direct.labels.clone();
            want.remove("__name__");
            let mut got = s.labels.clone();
            got.remove("__name__");
            assert_eq!(got, want, "{}: labels through Grafana vs Prometheus", s.id);
        }
    }
    eprintln!(
        "{}",
        dashboards::shape_report(&inv, &shapes, &results, Counts::NonEmpty)
    );
}
