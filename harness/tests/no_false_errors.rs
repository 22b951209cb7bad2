//! No false errors: one minimal stack per class of false finding seen on real
//! public stacks, each valid as written, each linted without an error. Every
//! test here failed before the model learnt to say "not modelled" instead of
//! "broken" (the class is named in each test's comment), and each keeps its
//! broken twin beside it, so the rule still fires where the stack is wrong.

mod common;

use obs_harness::lint::{self, LintOptions, Report};

fn stack(files: &[(&str, &str)]) -> tempfile::TempDir {
    common::stack_of(files)
}

fn lint_of(files: &[(&str, &str)]) -> Report {
    let d = stack(files);
    lint::lint(d.path(), &LintOptions { external: false, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(r: &Report) -> Vec<String> {
    r.findings.iter().filter(|f| f.severity == lint::Severity::Error).map(|f| format!("{}:{} {} {}", f.file, f.line, f.rule, f.message)).collect()
}

const COLLECTOR_TO: &str = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\nexporters:\n  otlp/store:\n    endpoint: STORE\n    tls: {insecure: true}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/store]\n";

fn collector_to(store: &str, image: &str, extra_files: &[(&str, &str)]) -> Report {
    let cfg = COLLECTOR_TO.replace("STORE", store);
    let compose = format!("services:\n  collector:\n    image: otel/opentelemetry-collector-contrib:0.160.0\n    command: [\"--config=/etc/otel.yaml\"]\n    volumes:\n      - ./otel.yaml:/etc/otel.yaml\n  store:\n{image}");
    let mut files: Vec<(&str, &str)> = vec![("otel.yaml", &cfg), ("docker-compose.yml", &compose)];
    files.extend_from_slice(extra_files);
    lint_of(&files)
}

/// Class: a kind the model does not know was judged as if known (listening only on its
/// compose `ports:`). Tempo is now modelled from its own config; an unknown kind is
/// "not modelled" (info), never "does not listen".
#[test]
fn tempo_listens_where_its_config_says_and_unknown_kinds_are_not_judged() {
    let tempo = "server:\n  http_listen_port: 3200\ndistributor:\n  receivers:\n    otlp:\n      protocols:\n        grpc:\n          endpoint: 0.0.0.0:4317\n";
    let r = collector_to("store:4317", "    image: grafana/tempo:2.9.2\n    command: [\"-config.file=/etc/tempo.yaml\"]\n    volumes:\n      - ./tempo.yaml:/etc/tempo.yaml\n", &[("tempo.yaml", tempo)]);
    assert!(errors(&r).is_empty(), "{}", r.render_text());
    // Its twin: the exporter aimed at a port Tempo's config does not open.
    let r = collector_to("store:4318", "    image: grafana/tempo:2.9.2\n    command: [\"-config.file=/etc/tempo.yaml\"]\n    volumes:\n      - ./tempo.yaml:/etc/tempo.yaml\n", &[("tempo.yaml", tempo)]);
    assert_eq!(errors(&r).len(), 1, "{}", r.render_text());
    // A kind the model does not know: not judged, named once as info.
    let r = collector_to("store:4317", "    image: example/trace-store:1\n", &[]);
    assert!(errors(&r).is_empty(), "{}", r.render_text());
    assert!(r.notes.iter().any(|n| n.rule == "not-modelled" && n.message.contains("store")), "{}", r.render_text());
}

/// Class: a port a component serves taken for one it sends to. The collector's
/// `prometheus` exporter serves metrics on its endpoint; Prometheus scraping it is right.
#[test]
fn the_collectors_prometheus_exporter_is_a_port_it_serves() {
    let cfg = "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\nexporters:\n  prometheus:\n    endpoint: 0.0.0.0:8889\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus]\n";
    let prom = "scrape_configs:\n  - job_name: collector\n    static_configs:\n      - targets: ['collector:8889']\n";
    let compose = "services:\n  collector:\n    image: otel/opentelemetry-collector-contrib:0.92.0\n    command: [\"--config=/etc/otel.yaml\"]\n    volumes:\n      - ./otel.yaml:/etc/otel.yaml\n  prometheus:\n    image: prom/prometheus:v2.49.1\n    command: [\"--config.file=/etc/prometheus/prometheus.yml\"]\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml\n";
    let r = lint_of(&[("otel.yaml", cfg), ("prometheus.yml", prom), ("docker-compose.yml", compose)]);
    assert!(errors(&r).is_empty(), "{}", r.render_text());
}

/// Class: the OTLP protocol was assumed (gRPC) with `OTEL_EXPORTER_OTLP_PROTOCOL` unset,
/// even for `http://collector:4318/v1/traces`. The endpoint's port and path say it.
#[test]
fn an_unset_otlp_protocol_is_read_from_the_endpoint() {
    let cfg = "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 0.0.0.0:4318\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";
    for endpoint in ["http://collector:4318/v1/traces", "http://collector:4318"] {
        let compose = format!("services:\n  collector:\n    image: otel/opentelemetry-collector-contrib:0.160.0\n    command: [\"--config=/etc/otel.yaml\"]\n    volumes:\n      - ./otel.yaml:/etc/otel.yaml\n  app:\n    image: example/app:1\n    labels:\n      obs-harness.role: app\n    environment:\n      OTEL_EXPORTER_OTLP_ENDPOINT: {endpoint}\n");
        let r = lint_of(&[("otel.yaml", cfg), ("docker-compose.yml", &compose)]);
        assert!(errors(&r).iter().all(|e| !e.contains("link-protocol-mismatch")), "{endpoint}: {}", r.render_text());
    }
}

/// Class: version-dependent defaults applied to every version. Before 0.104 an OTLP
/// receiver without `endpoint` binds all interfaces; since, localhost.
#[test]
fn the_collectors_default_bind_follows_its_version() {
    let cfg = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug: {}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n";
    let compose = |tag: &str| format!("services:\n  collector:\n    image: otel/opentelemetry-collector-contrib:{tag}\n    command: [\"--config=/etc/otel.yaml\"]\n    volumes:\n      - ./otel.yaml:/etc/otel.yaml\n  app:\n    image: example/app:1\n    labels:\n      obs-harness.role: app\n    environment:\n      OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4317\n");
    let old = lint_of(&[("otel.yaml", cfg), ("docker-compose.yml", &compose("0.92.0"))]);
    assert!(errors(&old).is_empty(), "{}", old.render_text());
    let new = lint_of(&[("otel.yaml", cfg), ("docker-compose.yml", &compose("0.160.0"))]);
    assert!(errors(&new).iter().any(|e| e.contains("link-loopback-bind")), "{}", new.render_text());
}

/// Class: version-dependent defaults. Tempo's HTTP port is 80 before 2.8 and 3200 since.
#[test]
fn tempos_default_http_port_follows_its_version() {
    let ds = "apiVersion: 1\ndatasources:\n  - name: Tempo\n    type: tempo\n    uid: tempo\n    url: http://tempo:3200\n";
    let compose = |tag: &str| format!("services:\n  grafana:\n    image: grafana/grafana:13.1.0\n    volumes:\n      - ./ds.yaml:/etc/grafana/provisioning/datasources/ds.yaml\n  tempo:\n    image: grafana/tempo:{tag}\n");
    let r = lint_of(&[("ds.yaml", ds), ("docker-compose.yml", &compose("2.9.2"))]);
    assert!(errors(&r).is_empty(), "{}", r.render_text());
    let r = lint_of(&[("ds.yaml", ds), ("docker-compose.yml", &compose("2.7.0"))]);
    assert!(errors(&r).iter().any(|e| e.contains("does not listen on port 3200")), "{}", r.render_text());
}

/// Class: Grafana's panel datasource inheritance ignored. A target's stale uid under a
/// non-mixed panel is replaced by the panel's datasource when Grafana runs the query;
/// and a datasource provisioned without a uid gets one derived from its name.
#[test]
fn a_panels_datasource_wins_over_a_stale_target_uid() {
    let ds = "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n    url: http://prometheus:9090\n";
    let prov = "apiVersion: 1\nproviders:\n  - name: d\n    options:\n      path: /dashboards\n";
    // PBFA97CFB590B2093 is the uid Grafana derives from the name "Prometheus".
    let dash = r#"{"uid": "d", "panels": [{"title": "up", "datasource": {"type": "prometheus", "uid": "PBFA97CFB590B2093"}, "targets": [{"refId": "A", "datasource": {"uid": "stale-uid"}, "expr": "up"}]}]}"#;
    let compose = "services:\n  grafana:\n    image: grafana/grafana:13.1.0\n    volumes:\n      - ./ds.yaml:/etc/grafana/provisioning/datasources/ds.yaml\n      - ./prov.yaml:/etc/grafana/provisioning/dashboards/prov.yaml\n      - ./d.json:/dashboards/d.json\n  prometheus:\n    image: prom/prometheus:v3.5.0\n";
    let r = lint_of(&[("ds.yaml", ds), ("prov.yaml", prov), ("d.json", dash), ("docker-compose.yml", compose)]);
    assert!(errors(&r).is_empty(), "{}", r.render_text());
    // Its twin: a panel whose own datasource is unknown.
    let r = lint_of(&[("ds.yaml", ds), ("prov.yaml", prov), ("d.json", &dash.replace("PBFA97CFB590B2093", "gone")), ("docker-compose.yml", compose)]);
    assert!(errors(&r).iter().any(|e| e.contains("dashboard-datasource-unknown")), "{}", r.render_text());
}

/// Class: a hint that is wrong. The Loki ruler notifying `localhost:9093` was told to
/// "use port 3100", Loki's own port; the fix is the service that serves Alertmanager.
#[test]
fn the_rulers_localhost_hint_names_alertmanager() {
    let loki = "auth_enabled: false\nruler:\n  alertmanager_url: http://localhost:9093\n";
    let compose = "services:\n  loki:\n    image: grafana/loki:3.7.8\n    command: [\"-config.file=/etc/loki/config.yaml\"]\n    volumes:\n      - ./loki.yaml:/etc/loki/config.yaml\n  alertmanager:\n    image: prom/alertmanager:v0.28.1\n";
    let r = lint_of(&[("loki.yaml", loki), ("docker-compose.yml", compose)]);
    let f = r.findings.iter().find(|f| f.rule == "loki-ruler-alertmanager-unknown-service").unwrap_or_else(|| panic!("{}", r.render_text()));
    let hint = f.hint.as_deref().unwrap_or_default();
    assert!(hint.contains("alertmanager:9093") && !hint.contains("use port 3100"), "{hint}");
}

/// Class: the profile picked tooling as the service under test (cAdvisor, in a stack
/// with no app), or found none without saying why. Tooling is never the service under
/// test, and the profile says why there is none and how to mark one.
#[test]
fn tooling_is_never_the_service_under_test() {
    let prom = "scrape_configs:\n  - job_name: cadvisor\n    static_configs:\n      - targets: ['cadvisor:8080']\n  - job_name: node\n    static_configs:\n      - targets: ['node-exporter:9100']\n";
    let compose = "services:\n  prometheus:\n    image: prom/prometheus:v3.5.0\n    volumes:\n      - ./prometheus.yml:/etc/prometheus/prometheus.yml\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.46.0\n  node-exporter:\n    image: quay.io/prometheus/node-exporter:v1.8.0\n";
    let d = stack(&[("prometheus.yml", prom), ("docker-compose.yml", compose)]);
    let p = lint::stack_profile(d.path(), &[]).unwrap();
    assert!(p.app.is_none(), "{:?}", p.app);
    let why = p.app_missing.unwrap_or_default();
    assert!(why.contains("cadvisor") && why.contains("obs-harness.role: app"), "{why}");
    // With an app scraped beside them, the app is found.
    let d = stack(&[("prometheus.yml", &format!("{prom}  - job_name: api\n    static_configs:\n      - targets: ['api:8000']\n")), ("docker-compose.yml", &format!("{compose}  api:\n    build: .\n"))]);
    assert_eq!(lint::stack_profile(d.path(), &[]).unwrap().app.map(|a| a.service), Some("api".to_string()));
}
