//! A user's own app, not the reference app: `fixtures/stacks/shop` (the
//! `example-shop` binary, its own service names, job, metric names, OTel
//! service name, Loki tenant, logfmt logs and OTLP/HTTP straight to Tempo)
//! passes the static gate, its profile names the shop's own expectations, and
//! its app is built from the workspace binary its `obs-harness.binary` label names.

use std::path::{Path, PathBuf};

use obs_harness::checks::alerts::Cause;
use obs_harness::stack::images::{AirgappedKind, airgapped_kind};
use obs_harness::lint::{self, LintOptions};

fn shop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/stacks/shop")
}

#[test]
fn the_shop_stack_lints_clean() {
    let r = lint::lint(&shop_dir(), &LintOptions { external: true, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.findings.is_empty(), "{}", r.render_text());
    assert!(r.ran.iter().all(|c| c.passed), "{:?}", r.ran);
}

#[test]
fn the_profile_names_the_shops_own_expectations() {
    let p = lint::stack_profile(&shop_dir(), &[]).unwrap();
    let app = p.app.as_ref().expect("the service under test");
    assert_eq!((app.service.as_str(), app.port, app.found_by.as_str(), app.reference_app), ("shop", Some(8080), "label", false));
    assert_eq!((p.job(), p.otel_service_name(), p.tenant.as_deref()), (Some("shop"), Some("shop-api"), Some("shop-team")));
    assert_eq!(p.log_selector().as_deref(), Some(r#"{job="containers",service="shop",team="orders"}"#));
    assert_eq!(p.tempo.as_ref().map(|t| t.service.as_str()), Some("traces-db"));
    assert_eq!(p.receiver.as_deref(), Some("orders-oncall"));
    for (alert, cause) in [("ShopOrdersFailing", Cause::ErrorBurst), ("ShopDown", Cause::AppStopped), ("ShopErrorLogs", Cause::ErrorBurst)] {
        assert_eq!(p.cause(alert), Some(cause), "{alert}");
    }
}

#[test]
fn the_shop_runs_from_the_workspace_binary_its_label_names() {
    let project = obs_harness::stack::compose::ComposeProject::load(&shop_dir().join("docker-compose.yml")).unwrap();
    let kinds: Vec<(&str, Option<AirgappedKind>)> = project.services.iter().map(|(n, s)| (n.as_str(), airgapped_kind(s))).collect();
    assert_eq!(
        kinds,
        [
            ("alert-router", Some(AirgappedKind::Alertmanager)),
            ("log-shipper", None),
            ("logs-db", None),
            ("metrics-db", Some(AirgappedKind::Prometheus)),
            ("shop", Some(AirgappedKind::WorkspaceBinary("example-shop".into()))),
            ("traces-db", None),
        ]
    );
}
