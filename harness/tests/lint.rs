//! The static gate on the bundled stack, on broken copies of it, on the seed dashboard
//! and on malformed input.

use obs_harness::lint::{self, LintArgs, LintError, LintOptions, Profile, Report};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stack_dir() -> PathBuf {
    root().join("stack")
}

fn catalogue() -> PathBuf {
    root().join("fixtures/catalogue/reference-app.prom")
}

fn opts(external: bool) -> LintOptions {
    LintOptions {
        profile: Profile::Dev,
        catalogue: Some(catalogue()),
        external,
        compose_files: vec![],
        images: Default::default(),
        ..Default::default()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// A copy of the bundled stack with one textual edit (first occurrence of `from`).
fn broken(file: &str, from: &str, to: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), tmp.path());
    let p = tmp.path().join(file);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        text.contains(from),
        "{file} no longer contains {from:?}: update the test table"
    );
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    tmp
}

fn line_in(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let idx = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {file}"));
    text[..idx].matches('\n').count() + 1
}

#[test]
fn bundled_stack_lints_clean() {
    let r = lint::lint(&stack_dir(), &opts(true)).expect("stack is readable");
    assert!(
        r.findings.is_empty(),
        "bundled stack has findings:\n{}",
        r.render_text()
    );
    assert_eq!(r.exit_code(), 0);
    // External tools: every check either ran and passed, or is listed as skipped.
    for c in &r.ran {
        assert!(c.passed, "{c:?}");
    }
    if lint::external::which("promtool").is_some() {
        let names: Vec<&str> = r.ran.iter().map(|c| c.name.as_str()).collect();
        for n in [
            "promtool check config",
            "promtool check rules",
            "promtool test rules",
        ] {
            assert!(names.contains(&n), "{n} did not run: {names:?}");
        }
    } else {
        assert!(r.skipped.iter().any(|s| s.name == "promtool check config"
            && s.install_hint.contains("apt-get install prometheus")));
    }
    if lint::external::which("amtool").is_some() {
        assert!(r.ran.iter().any(|c| c.name == "amtool check-config"));
    }
}

#[test]
fn no_external_reports_skipped_not_passed() {
    let r = lint::lint(&stack_dir(), &opts(false)).unwrap();
    assert!(r.ran.is_empty());
    let names: Vec<&str> = r.skipped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "promtool check config",
            "promtool check rules",
            "promtool test rules",
            "amtool check-config",
            "otelcol validate (otel/opentelemetry-collector-contrib:0.160.0)",
            "jaeger validate (jaegertracing/jaeger:2.20.0)",
            "loki -verify-config (grafana/loki:3.7.8)",
            "promtail -check-syntax (grafana/promtail:3.6.11)",
        ]
    );
}

#[test]
fn without_catalogue_the_metric_check_is_skipped() {
    let o = LintOptions {
        catalogue: None,
        ..opts(false)
    };
    // The bundled stack marks its app `obs-harness.role: reference-app`: the built-in catalogue applies.
    let r = lint::lint(&stack_dir(), &o).unwrap();
    assert!(r.findings.is_empty());
    assert!(!r.skipped.iter().any(|s| s.name == "metric catalogue"), "{:?}", r.skipped);
    // An app of the user's own: no catalogue is known, and the check says so.
    let d = broken("docker-compose.yml", "      obs-harness.role: reference-app\n", "");
    let r = lint::lint(d.path(), &o).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
    assert!(r.skipped.iter().any(|s| s.name == "metric catalogue"));
}

struct Case {
    name: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    rule: &'static str,
    /// File the finding must be reported against.
    at: &'static str,
    /// The finding's line is the first line of `at` (after the edit) containing this.
    line_of: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "wrong scrape port",
        file: "prometheus/prometheus.yml",
        from: "\"app:8000\"",
        to: "\"app:8001\"",
        rule: "scrape-target-unknown-service",
        at: "prometheus/prometheus.yml",
        line_of: Some("app:8001"),
    },
    Case {
        name: "scrape target names no service",
        file: "prometheus/prometheus.yml",
        from: "\"otel-collector:8888\"",
        to: "\"collector:8888\"",
        rule: "scrape-target-unknown-service",
        at: "prometheus/prometheus.yml",
        line_of: Some("collector:8888"),
    },
    Case {
        name: "alerting target wrong port",
        file: "prometheus/prometheus.yml",
        from: "\"alertmanager:9093\"",
        to: "\"alertmanager:9095\"",
        rule: "alerting-target-unknown-service",
        at: "prometheus/prometheus.yml",
        line_of: Some("alertmanager:9095"),
    },
    Case {
        name: "datasource URL to a missing service",
        file: "grafana/provisioning/datasources/datasources.yml",
        from: "url: http://loki:3100",
        to: "url: http://loki-gateway:3100",
        rule: "datasource-url-unknown-service",
        at: "grafana/provisioning/datasources/datasources.yml",
        line_of: Some("loki-gateway"),
    },
    Case {
        name: "dashboard datasource uid not provisioned",
        file: "grafana/dashboards/fastapi-overview.json",
        from: "\"uid\": \"prometheus\"",
        to: "\"uid\": \"prometheus-main\"",
        rule: "dashboard-datasource-unknown",
        at: "grafana/dashboards/fastapi-overview.json",
        line_of: Some("prometheus-main"),
    },
    Case {
        name: "typo in a dashboard metric name",
        file: "grafana/dashboards/fastapi-overview.json",
        from: "process_start_time_seconds",
        to: "process_start_time_second",
        rule: "promql-unknown-metric",
        at: "grafana/dashboards/fastapi-overview.json",
        line_of: Some("process_start_time_second"),
    },
    Case {
        name: "grouping by a label the metric lacks",
        file: "grafana/dashboards/llm-overview.json",
        from: "sum by (model) (rate(llm_calls_total",
        to: "sum by (llm_model) (rate(llm_calls_total",
        rule: "promql-unknown-label",
        at: "grafana/dashboards/llm-overview.json",
        line_of: Some("llm_model"),
    },
    Case {
        name: "invalid PromQL in a dashboard",
        file: "grafana/dashboards/fastapi-overview.json",
        from: "\"up{job=\\\"fastapi\\\"}\"",
        to: "\"up{job=\\\"fastapi\\\"\"",
        rule: "promql-parse-error",
        at: "grafana/dashboards/fastapi-overview.json",
        line_of: Some("\"up{job="),
    },
    Case {
        name: "invalid LogQL in a dashboard",
        file: "grafana/dashboards/fastapi-overview.json",
        from: "\"{service=\\\"app\\\"}\"",
        to: "\"{service=app}\"",
        rule: "logql-parse-error",
        at: "grafana/dashboards/fastapi-overview.json",
        line_of: Some("{service=app}"),
    },
    Case {
        name: "rule file missing",
        file: "prometheus/prometheus.yml",
        from: "/etc/prometheus/rules/*.yml",
        to: "/etc/prometheus/rules/*.yaml",
        rule: "rule-file-missing",
        at: "prometheus/prometheus.yml",
        line_of: Some("rules/*.yaml"),
    },
    Case {
        name: "rule file outside every mount",
        file: "prometheus/prometheus.yml",
        from: "/etc/prometheus/rules/*.yml",
        to: "/srv/rules/*.yml",
        rule: "rule-file-missing",
        at: "prometheus/prometheus.yml",
        line_of: Some("/srv/rules"),
    },
    Case {
        name: "unmounted config (volume line removed)",
        file: "docker-compose.yml",
        from: "      - ./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro\n",
        to: "",
        rule: "config-not-mounted",
        at: "docker-compose.yml",
        line_of: Some("--config.file=/etc/prometheus/prometheus.yml"),
    },
    Case {
        name: "mounted folder missing on the host",
        file: "docker-compose.yml",
        from: "./loki/rules:/etc/loki/rules:ro",
        to: "./loki/rulez:/etc/loki/rules:ro",
        rule: "mount-source-missing",
        at: "docker-compose.yml",
        line_of: Some("./loki/rulez"),
    },
    Case {
        name: "tenant mismatch (promtail tenant_id changed)",
        file: "promtail/config.yaml",
        from: "tenant_id: docker",
        to: "tenant_id: fake",
        rule: "loki-tenant-mismatch",
        at: "promtail/config.yaml",
        line_of: Some("tenant_id: fake"),
    },
    Case {
        name: "tenant header missing in grafana",
        file: "grafana/provisioning/datasources/datasources.yml",
        from: "httpHeaderValue1: docker",
        to: "httpHeaderValue1: other",
        rule: "loki-tenant-mismatch",
        at: "grafana/provisioning/datasources/datasources.yml",
        line_of: Some("httpHeaderValue1: other"),
    },
    Case {
        name: "collector exporter to a wrong port",
        file: "otel-collector/config.yaml",
        from: "endpoint: jaeger:4317",
        to: "endpoint: jaeger:14317",
        rule: "collector-exporter-unknown-service",
        at: "otel-collector/config.yaml",
        line_of: Some("jaeger:14317"),
    },
    Case {
        name: "promtail client to a wrong port",
        file: "promtail/config.yaml",
        from: "http://loki:3100/",
        to: "http://loki:3101/",
        rule: "promtail-client-unknown-service",
        at: "promtail/config.yaml",
        line_of: Some("loki:3101"),
    },
    Case {
        name: "promtail label filter not matching the app label",
        file: "promtail/config.yaml",
        from: "\"logging=promtail\"",
        to: "\"logging=enabled\"",
        rule: "promtail-filter-no-match",
        at: "promtail/config.yaml",
        line_of: Some("logging=enabled"),
    },
    Case {
        name: "ruler alertmanager_url to a wrong service",
        file: "loki/config.yaml",
        from: "alertmanager_url: http://alertmanager:9093",
        to: "alertmanager_url: http://prometheus:9093",
        rule: "loki-ruler-alertmanager-unknown-service",
        at: "loki/config.yaml",
        line_of: Some("alertmanager_url"),
    },
    Case {
        name: "dashboard provider path not mounted",
        file: "grafana/provisioning/dashboards/dashboards.yml",
        from: "path: /var/lib/grafana/dashboards",
        to: "path: /etc/dashboards",
        rule: "dashboard-provider-path-not-mounted",
        at: "grafana/provisioning/dashboards/dashboards.yml",
        line_of: Some("/etc/dashboards"),
    },
    Case {
        name: "exemplar link to an unprovisioned datasource",
        file: "grafana/provisioning/datasources/datasources.yml",
        from: "          datasourceUid: jaeger\n",
        to: "          datasourceUid: tempo\n",
        rule: "datasource-link-unknown",
        at: "grafana/provisioning/datasources/datasources.yml",
        line_of: Some("tempo"),
    },
];

#[test]
fn broken_stacks_give_exactly_the_expected_finding() {
    let mut failures = Vec::new();
    for c in CASES {
        let dir = broken(c.file, c.from, c.to);
        // External tools off: they would add their own findings for some edits.
        let r: Report =
            lint::lint(dir.path(), &opts(false)).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let rules: Vec<(&str, &str, usize)> = r
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.file.as_str(), f.line))
            .collect();
        let expected_line = c.line_of.map(|n| line_in(dir.path(), c.at, n));
        let ok = r.findings.len() == 1
            && r.findings[0].rule == c.rule
            && r.findings[0].file == c.at
            && expected_line.is_none_or(|l| r.findings[0].line == l);
        if !ok {
            failures.push(format!(
                "{}: expected one {} at {}:{:?}, got {rules:?}\n{}",
                c.name,
                c.rule,
                c.at,
                expected_line,
                r.render_text()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn broken_rule_file_is_also_caught_by_promtool_when_present() {
    let dir = broken(
        "prometheus/rules/alerts.yml",
        "expr: up{job=\"fastapi\"} == 0",
        "expr: up{job=\"fastapi\" == 0",
    );
    let r = lint::lint(dir.path(), &opts(true)).unwrap();
    let ours = r.with_rule("promql-parse-error");
    assert_eq!(ours.len(), 1, "{}", r.render_text());
    assert_eq!(ours[0].file, "prometheus/rules/alerts.yml");
    assert_eq!(ours[0].line, 15);
    if lint::external::which("promtool").is_some() {
        assert!(
            !r.with_rule("promtool-check-rules").is_empty(),
            "{}",
            r.render_text()
        );
        assert!(
            r.ran
                .iter()
                .any(|c| c.name == "promtool check rules" && !c.passed)
        );
    }
}

#[test]
fn seed_dashboard_groups_by_a_label_the_app_does_not_have() {
    let dir = broken("grafana/dashboards/fastapi-overview.json", "", "");
    std::fs::copy(
        root().join("fixtures/lint/seed-dashboard.json"),
        dir.path().join("grafana/dashboards/seed.json"),
    )
    .unwrap();
    let r = lint::lint(dir.path(), &opts(false)).unwrap();
    let labels = r.with_rule("promql-unknown-label");
    assert_eq!(labels.len(), 3, "{}", r.render_text());
    for f in &labels {
        assert_eq!(f.file, "grafana/dashboards/seed.json");
        assert!(
            f.message.contains("`path` is not a label of `http_request"),
            "{}",
            f.message
        );
        assert!(
            f.hint.as_deref().unwrap().contains("handler"),
            "{:?}",
            f.hint
        );
    }
    assert!(
        labels
            .iter()
            .any(|f| f.message.contains("http_requests_total"))
    );
    assert_eq!(
        r.findings.len(),
        3,
        "uptime query is fine: {}",
        r.render_text()
    );
    assert_eq!(
        labels[0].line,
        line_in(dir.path(), "grafana/dashboards/seed.json", "by (path)")
    );
}

#[test]
fn malformed_yaml_is_a_located_error_with_exit_code_2() {
    let dir = broken(
        "prometheus/prometheus.yml",
        "scrape_configs:\n",
        "scrape_configs:\n  - job_name: [unclosed\n",
    );
    let err = lint::lint(dir.path(), &opts(false)).unwrap_err();
    let LintError::Yaml { path, line, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(path.ends_with("prometheus/prometheus.yml"));
    // Where the scanner failed; the message also names the line the flow sequence opened on.
    assert_eq!(*line, 17, "{err}");
    assert!(err.to_string().contains("prometheus.yml:17:") && err.to_string().contains("line 16"), "{err}");
    assert_eq!(err.exit_code(), 2);
    let args = LintArgs {
        stack_dir: dir.path().to_owned(),
        format: lint::Format::Text,
        timings: false,
        catalogue: None,
        profile: Profile::Dev,
        no_external: true,
        compose: Default::default(),
        images: vec![],
    };
    assert_eq!(obs_harness::report::lint_output::lint_main(args), 2);
}

#[test]
fn malformed_json_is_a_located_error() {
    let dir = broken(
        "grafana/dashboards/llm-overview.json",
        "\"panels\"",
        "\"panels\" \"oops\"",
    );
    let err = lint::lint(dir.path(), &opts(false)).unwrap_err();
    let LintError::Json { path, line, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(path.ends_with("llm-overview.json"));
    assert_eq!(
        *line,
        line_in(
            dir.path(),
            "grafana/dashboards/llm-overview.json",
            "\"oops\""
        )
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn missing_compose_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = lint::lint(tmp.path(), &opts(false)).unwrap_err();
    assert!(matches!(err, LintError::NoCompose { .. }));
}

#[test]
fn lint_main_exit_codes() {
    let mk = |dir: &Path, profile: Profile| LintArgs {
        stack_dir: dir.to_owned(),
        format: lint::Format::Json,
        timings: true,
        catalogue: Some(catalogue()),
        profile,
        no_external: true,
        compose: Default::default(),
        images: vec![],
    };
    assert_eq!(obs_harness::report::lint_output::lint_main(mk(&stack_dir(), Profile::Dev)), 0);
    // The bundled stack is a dev stack: the prod profile fails it (see lint_prod.rs).
    assert_eq!(obs_harness::report::lint_output::lint_main(mk(&stack_dir(), Profile::Prod)), 1);
    let dir = broken("prometheus/prometheus.yml", "\"app:8000\"", "\"app:8001\"");
    assert_eq!(obs_harness::report::lint_output::lint_main(mk(dir.path(), Profile::Dev)), 1);
}

#[test]
fn json_output_has_findings_skipped_and_timings() {
    let dir = broken("prometheus/prometheus.yml", "\"app:8000\"", "\"app:8001\"");
    let r = lint::lint(dir.path(), &opts(false)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    assert_eq!(v["findings"][0]["rule"], "scrape-target-unknown-service");
    assert_eq!(v["findings"][0]["line"], 19);
    assert_eq!(v["findings"][0]["severity"], "error");
    assert!(v["skipped"].as_array().unwrap().len() >= 3);
    assert!(v["timings"]["parse"].is_number());
}

#[test]
fn text_output_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), dir.path());
    let edit = |file: &str, from: &str, to: &str| {
        let p = dir.path().join(file);
        let t = std::fs::read_to_string(&p).unwrap();
        assert!(t.contains(from));
        std::fs::write(&p, t.replacen(from, to, 1)).unwrap();
    };
    edit("prometheus/prometheus.yml", "\"app:8000\"", "\"app:8001\"");
    edit(
        "promtail/config.yaml",
        "tenant_id: docker",
        "tenant_id: fake",
    );
    edit(
        "grafana/dashboards/llm-overview.json",
        "sum by (model) (rate(llm_calls_total",
        "sum by (path) (rate(llm_calls_total",
    );
    let r = lint::lint(dir.path(), &opts(false)).unwrap();
    let text = r.render_text();
    let tmp = dir.path().display().to_string();
    insta::with_settings!({ filters => vec![(regex_escape(&tmp).as_str(), "[STACK]")] }, {
        insta::assert_snapshot!("lint_broken_stack_text", text);
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                vec!['\\', c]
            } else {
                vec![c]
            }
        })
        .collect()
}
