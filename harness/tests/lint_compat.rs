//! Version compatibility rules (`harness/src/lint/compat.yaml`): each row
//! fires on a copy of the bundled stack with exactly the one-line change it
//! is about, at the line that makes the combination, with its hint and
//! source; the bundled pins are clean.

mod common;
use common::stack_dir;

use obs_harness::lint::{self, LintOptions, Severity};
use std::path::Path;



/// The compat findings of `dir`: (rule, file, line).
fn compat(dir: &Path) -> Vec<(String, String, usize, lint::Finding)> {
    let r = lint::lint(dir, &LintOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    r.findings.into_iter().filter(|f| f.rule.starts_with("compat-")).map(|f| (f.rule.clone(), f.file.clone(), f.line, f)).collect()
}

fn only(dir: &Path, rule: &str, file: &str, needle: &str) -> lint::Finding {
    let found = compat(dir);
    let line = common::line_in(dir, file, needle);
    assert_eq!(
        found.iter().map(|(r, f, l, _)| (r.as_str(), f.as_str(), *l)).collect::<Vec<_>>(),
        [(rule, file, line)],
        "{found:#?}"
    );
    let f = found.into_iter().next().unwrap().3;
    assert!(f.hint.as_deref().is_some_and(|h| h.contains("source: ")), "hint and source: {f:?}");
    f
}

#[test]
fn bundled_pins_are_compatible() {
    assert!(compat(&stack_dir()).is_empty(), "{:#?}", compat(&stack_dir()));
}

#[test]
fn grafana_13_2_with_jaeger_2_21_is_reported_at_the_image_line() {
    let d = common::broken_copy(&[("docker-compose.yml", "jaegertracing/jaeger:2.20.0", "jaegertracing/jaeger:2.21.0")]);
    let f = only(d.path(), "compat-grafana-jaeger-v1-api", "docker-compose.yml", "image: jaegertracing/jaeger:2.21.0");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("jaegertracing/jaeger:2.21.0") && f.message.contains("/api/services"), "{f:?}");
    assert!(f.hint.as_deref().unwrap().contains("pin jaegertracing/jaeger:2.20.0"), "{f:?}");
    // A registry prefix and a later version are the same case.
    let d = common::broken_copy(&[("docker-compose.yml", "jaegertracing/jaeger:2.20.0", "docker.io/jaegertracing/jaeger:2.23.1")]);
    only(d.path(), "compat-grafana-jaeger-v1-api", "docker-compose.yml", "image: docker.io/jaegertracing/jaeger:2.23.1");
}

#[test]
fn the_grpc_toggle_leaves_search_broken() {
    let d = common::broken_copy(&[
        ("docker-compose.yml", "jaegertracing/jaeger:2.20.0", "jaegertracing/jaeger:2.21.0"),
        ("docker-compose.yml", "      - GF_AUTH_ANONYMOUS_ENABLED=true", "      - GF_FEATURE_TOGGLES_ENABLE=jaegerEnableGrpcEndpoint\n      - GF_AUTH_ANONYMOUS_ENABLED=true"),
    ]);
    let f = only(d.path(), "compat-grafana-jaeger-search-v1", "docker-compose.yml", "image: jaegertracing/jaeger:2.21.0");
    assert!(f.message.contains("search"), "{f:?}");
}

#[test]
fn a_jaeger_without_a_grafana_jaeger_datasource_is_fine() {
    let d = common::broken_copy(&[
        ("docker-compose.yml", "jaegertracing/jaeger:2.20.0", "jaegertracing/jaeger:2.21.0"),
        ("grafana/provisioning/datasources/datasources.yml", "type: jaeger", "type: zipkin"),
    ]);
    assert!(compat(d.path()).is_empty(), "{:#?}", compat(d.path()));
}

#[test]
fn alertmanager_v1_api_clients() {
    let d = common::broken_copy(&[("prometheus/prometheus.yml", "alertmanagers:\n", "alertmanagers:\n    - api_version: v1\n      static_configs: [{targets: [\"alertmanager:9093\"]}]\n")]);
    let mut rules: Vec<String> = compat(d.path()).into_iter().map(|(r, ..)| r).collect();
    rules.sort();
    assert_eq!(rules, ["compat-alertmanager-v1-api", "compat-prometheus3-alertmanager-v1"]);
    let d = common::broken_copy(&[("loki/config.yaml", "ruler:\n", "ruler:\n  enable_alertmanager_v2: false\n")]);
    // Reported where the config says it: the line that breaks, not the image line.
    only(d.path(), "compat-loki-ruler-alertmanager-v1", "loki/config.yaml", "enable_alertmanager_v2");
    let d = common::broken_copy(&[("prometheus/prometheus.yml", "alertmanagers:\n", "alertmanagers:\n    - api_version: v1\n      static_configs: [{targets: [\"alertmanager:9093\"]}]\n")]);
    assert!(compat(d.path()).iter().all(|(_, f, l, _)| (f.as_str(), *l) == ("prometheus/prometheus.yml", common::line_in(d.path(), "prometheus/prometheus.yml", "api_version: v1"))));
    // An untagged image is the newest release: Prometheus 3 refuses v1 there too.
    let d = common::broken_copy(&[
        ("prometheus/prometheus.yml", "alertmanagers:\n", "alertmanagers:\n    - api_version: v1\n      static_configs: [{targets: [\"alertmanager:9093\"]}]\n"),
        ("docker-compose.yml", "prom/prometheus:v3.14.0", "prom/prometheus"),
    ]);
    assert!(compat(d.path()).iter().any(|(r, ..)| r == "compat-prometheus3-alertmanager-v1"), "{:#?}", compat(d.path()));
}

#[test]
fn collector_exporters_and_receivers() {
    let d = common::broken_copy(&[("otel-collector/config.yaml", "  debug:\n", "  logging:\n    loglevel: debug\n  debug:\n")]);
    only(d.path(), "compat-collector-logging-exporter", "otel-collector/config.yaml", "  logging:");
    let d = common::broken_copy(&[("otel-collector/config.yaml", "  debug:\n", "  loki:\n    endpoint: http://loki:3100/loki/api/v1/push\n  debug:\n")]);
    only(d.path(), "compat-collector-loki-exporter", "otel-collector/config.yaml", "  loki:");
    let d = common::broken_copy(&[("otel-collector/config.yaml", "      grpc:\n        endpoint: 0.0.0.0:4317", "      grpc: {}")]);
    only(d.path(), "compat-collector-otlp-localhost", "docker-compose.yml", "image: otel/opentelemetry-collector-contrib:");
    // Before the version that changed it, the same config is fine.
    let d = common::broken_copy(&[
        ("otel-collector/config.yaml", "  debug:\n", "  logging:\n    loglevel: debug\n  debug:\n"),
        ("docker-compose.yml", "otel/opentelemetry-collector-contrib:0.160.0", "otel/opentelemetry-collector-contrib:0.110.0"),
    ]);
    assert!(compat(d.path()).is_empty(), "{:#?}", compat(d.path()));
}

#[test]
fn promtail_keep_and_unpublished_tags() {
    let keep = (
        "promtail/config.yaml",
        "    relabel_configs:\n",
        "    relabel_configs:\n      - source_labels: ['__meta_docker_container_label_logging']\n        regex: promtail\n        action: keep\n",
    );
    // Before 3.6.11 the Docker target ignored keep/drop; 3.6.11 (the bundled pin) honours them.
    let d = common::broken_copy(&[keep, ("docker-compose.yml", "grafana/promtail:3.6.11", "grafana/promtail:3.6.10")]);
    only(d.path(), "compat-promtail-docker-keep-ignored", "docker-compose.yml", "image: grafana/promtail:3.6.10");
    let d = common::broken_copy(&[keep]);
    assert!(compat(d.path()).is_empty(), "3.6.11 honours keep/drop: {:#?}", compat(d.path()));
    // Images end at 3.6.11: 3.6.12 and later tags exist in git only.
    for tag in ["3.6.12", "3.7.3"] {
        let d = common::broken_copy(&[("docker-compose.yml", "grafana/promtail:3.6.11", &format!("grafana/promtail:{tag}"))]);
        only(d.path(), "compat-promtail-not-published", "docker-compose.yml", &format!("image: grafana/promtail:{tag}"));
    }
}

/// Without the service's image on the daemon, its own validator is
/// reported as skipped with the reason, never as passed.
#[test]
fn a_validator_without_its_image_is_skipped_with_the_reason() {
    let opts = LintOptions { external: true, images: [("loki".to_string(), "obs-harness-test/no-such-loki:0".to_string())].into(), ..Default::default() };
    let r = lint::lint(&stack_dir(), &opts).unwrap();
    let s = r.skipped.iter().find(|s| s.name.starts_with("loki -verify-config")).unwrap_or_else(|| panic!("{:#?}", r.skipped));
    assert!(s.name.contains("obs-harness-test/no-such-loki:0"), "{s:?}");
    assert!(s.reason.contains("not on this Docker daemon") || s.reason.contains("docker"), "{s:?}");
    assert!(!r.ran.iter().any(|c| c.name.starts_with("loki -verify-config")), "{:?}", r.ran);
}

/// Loki's own parser, in the Loki image (`OBS_IMAGE_LOKI`, else the
/// compose file's `grafana/loki` tag), rejects a misspelt key: lint names
/// the key at its line. Needs that image: left out by name where it is absent.
#[test]
fn upstream_lint_runs_lokis_own_validator() {
    let d = common::broken_copy(&[("loki/config.yaml", "  http_listen_port:", "  http_listen_prot:")]);
    let r = lint::lint(d.path(), &LintOptions { external: true, ..Default::default() }).unwrap();
    assert!(r.ran.iter().any(|c| c.name.starts_with("loki -verify-config") && !c.passed), "ran: {:?}; skipped: {:?}", r.ran, r.skipped);
    let f = r.findings.iter().find(|f| f.rule == "loki-verify-config").unwrap_or_else(|| panic!("{:#?}", r.findings));
    assert_eq!((f.file.as_str(), f.line), ("loki/config.yaml", common::line_in(d.path(), "loki/config.yaml", "http_listen_prot")));
    assert!(f.message.contains("field http_listen_prot not found"), "{f:?}");
    // The bundled config passes the same validator.
    let r = lint::lint(&stack_dir(), &LintOptions { external: true, ..Default::default() }).unwrap();
    assert!(r.ran.iter().any(|c| c.name.starts_with("loki -verify-config") && c.passed), "{:?}", r.ran);
}
