//! `obs-harness lint --rules prod`: one minimal stack per rule, the bundled stack
//! (snapshot), the secure override, and compose-file merging.

mod common;

use clap::Parser;
use obs_harness::lint::compose::ComposeModel;
use obs_harness::lint::{self, LintArgs, LintOptions, Profile, Report, Severity};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stack_dir() -> PathBuf {
    root().join("stack")
}

fn prod() -> LintOptions {
    LintOptions {
        profile: Profile::Prod,
        catalogue: None,
        external: false,
        compose_files: vec![],
        images: Default::default(),
        ..Default::default()
    }
}

fn stack(files: &[(&str, &str)]) -> tempfile::TempDir {
    common::stack_of(files)
}

fn line_in(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let idx = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {file}"));
    text[..idx].matches('\n').count() + 1
}

// ------------------------------------------------------------------ building blocks

const GRAFANA_OK_ENV: &str =
    "      GF_SECURITY_ADMIN_PASSWORD__FILE: /run/secrets/grafana_admin_password\n";

fn grafana(env: &str) -> String {
    format!(
        "services:\n  grafana:\n    image: grafana/grafana:13.2.0\n    environment:\n{GRAFANA_OK_ENV}{env}"
    )
}

const GRAFANA_INI_COMPOSE: &str = "services:
  grafana:
    image: grafana/grafana:13.2.0
    environment:
      - GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password
    volumes:
      - ./grafana/grafana.ini:/etc/grafana/grafana.ini:ro
";

const LOKI_COMPOSE: &str = "services:
  loki:
    image: grafana/loki:3.7.8
    command: [\"-config.file=/etc/loki/config.yaml\"]
    volumes:
      - ./loki/config.yaml:/etc/loki/config.yaml:ro
  promtail:
    image: grafana/promtail:3.6.11
    command: [\"-config.file=/etc/promtail/config.yaml\"]
    volumes:
      - ./promtail/config.yaml:/etc/promtail/config.yaml:ro
";

const PROMTAIL: &str = "clients:
  - url: http://loki:3100/loki/api/v1/push
    tenant_id: t1
";

const LOKI_OK: &str = "auth_enabled: true
compactor:
  working_directory: /loki/compactor
  retention_enabled: true
  delete_request_store: filesystem
limits_config:
  retention_period: 168h
  ingestion_rate_mb: 4
  ingestion_burst_size_mb: 6
";

const ALERTMANAGER_COMPOSE: &str = "services:
  alertmanager:
    image: prom/alertmanager:v0.34.0
    command: [\"--config.file=/etc/alertmanager/alertmanager.yml\"]
    volumes:
      - ./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro
";

const COLLECTOR_COMPOSE: &str = "services:
  otel-collector:
    image: otel/opentelemetry-collector-contrib:0.160.0
    command: [\"--config=/etc/otelcol/config.yaml\"]
    volumes:
      - ./otel/config.yaml:/etc/otelcol/config.yaml:ro
";

const PROMETHEUS_COMPOSE: &str = "services:
  prometheus:
    image: prom/prometheus:v3.14.0
    command:
      - --config.file=/etc/prometheus/prometheus.yml
      - --storage.tsdb.retention.time=15d
    volumes:
      - ./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro
      - prometheus-data:/prometheus
volumes:
  prometheus-data:
";

fn replaced(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?}");
    text.replacen(from, to, 1)
}

// ------------------------------------------------------------------ one stack per rule

struct Case {
    name: &'static str,
    files: Vec<(&'static str, String)>,
    rule: &'static str,
    severity: Severity,
    /// File the finding is reported against, and a needle for its line.
    at: &'static str,
    line_of: &'static str,
    /// Other rules that necessarily fire with this one.
    also: &'static [&'static str],
}

fn case(
    name: &'static str,
    files: Vec<(&'static str, String)>,
    rule: &'static str,
    at: &'static str,
    line_of: &'static str,
) -> Case {
    Case {
        name,
        files,
        rule,
        severity: Severity::Error,
        at,
        line_of,
        also: &[],
    }
}

fn cases() -> Vec<Case> {
    let c = "docker-compose.yml";
    vec![
        case(
            "anonymous grafana (env)",
            vec![(c, grafana("      GF_AUTH_ANONYMOUS_ENABLED: \"true\"\n"))],
            "grafana-anonymous-enabled",
            c,
            "GF_AUTH_ANONYMOUS_ENABLED",
        ),
        case(
            "anonymous grafana (grafana.ini)",
            vec![
                (c, GRAFANA_INI_COMPOSE.into()),
                ("grafana/grafana.ini", "[server]\nhttp_port = 3000\n\n[auth.anonymous]\n; on for dev\nenabled = true\n".into()),
            ],
            "grafana-anonymous-enabled",
            "grafana/grafana.ini",
            "enabled = true",
        ),
        Case {
            also: &["grafana-anonymous-enabled"],
            ..case(
                "anonymous admin role",
                vec![(
                    c,
                    grafana("      GF_AUTH_ANONYMOUS_ENABLED: \"true\"\n      GF_AUTH_ANONYMOUS_ORG_ROLE: Editor\n"),
                )],
                "grafana-anonymous-role",
                c,
                "GF_AUTH_ANONYMOUS_ORG_ROLE",
            )
        },
        case(
            "login form disabled",
            vec![(c, grafana("      GF_AUTH_DISABLE_LOGIN_FORM: \"true\"\n"))],
            "grafana-login-form-disabled",
            c,
            "GF_AUTH_DISABLE_LOGIN_FORM",
        ),
        case(
            "no admin password",
            vec![(c, "services:\n  grafana:\n    image: grafana/grafana:13.2.0\n".into())],
            "grafana-admin-password-default",
            c,
            "grafana:",
        ),
        case(
            "admin password admin",
            vec![(c, "services:\n  grafana:\n    image: grafana/grafana:13.2.0\n    environment:\n      - GF_SECURITY_ADMIN_PASSWORD=admin\n".into())],
            "grafana-admin-password-default",
            c,
            "GF_SECURITY_ADMIN_PASSWORD",
        ),
        case(
            "admin password in plain text",
            vec![(c, "services:\n  grafana:\n    image: grafana/grafana:13.2.0\n    environment:\n      - GF_SECURITY_ADMIN_USER=ops\n      - GF_SECURITY_ADMIN_PASSWORD=s3cr3t-but-committed\n".into())],
            "grafana-admin-password-plaintext",
            c,
            "GF_SECURITY_ADMIN_PASSWORD",
        ),
        case(
            "allow embedding",
            vec![(c, grafana("      GF_SECURITY_ALLOW_EMBEDDING: \"true\"\n"))],
            "grafana-allow-embedding",
            c,
            "GF_SECURITY_ALLOW_EMBEDDING",
        ),
        case(
            "cookie not secure (grafana.ini)",
            vec![
                (c, GRAFANA_INI_COMPOSE.into()),
                ("grafana/grafana.ini", "[security]\ncookie_secure = false\nallow_embedding = false\n".into()),
            ],
            "grafana-cookie-insecure",
            "grafana/grafana.ini",
            "cookie_secure",
        ),
        case(
            "docker socket read-write (alloy)",
            vec![(c, "services:\n  alloy:\n    image: grafana/alloy:v1.19.2\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n".into())],
            "docker-socket-rw",
            c,
            "docker.sock",
        ),
        Case {
            severity: Severity::Warning,
            ..case(
                "docker socket read-only (promtail)",
                vec![(c, "services:\n  promtail:\n    image: grafana/promtail:3.6.11\n    volumes:\n      - type: bind\n        source: /var/run/docker.sock\n        target: /var/run/docker.sock\n        read_only: true\n".into())],
                "docker-socket-ro",
                c,
                "target: /var/run/docker.sock",
            )
        },
        case(
            "privileged",
            vec![(c, "services:\n  cadvisor:\n    image: gcr.io/cadvisor/cadvisor:v0.52.1\n    privileged: true\n".into())],
            "service-privileged",
            c,
            "privileged",
        ),
        case(
            "loki auth disabled",
            vec![
                (c, LOKI_COMPOSE.into()),
                ("promtail/config.yaml", PROMTAIL.into()),
                ("loki/config.yaml", replaced(LOKI_OK, "auth_enabled: true", "auth_enabled: false")),
            ],
            "loki-auth-disabled",
            "loki/config.yaml",
            "auth_enabled",
        ),
        case(
            "loki retention off",
            vec![
                (c, LOKI_COMPOSE.into()),
                ("promtail/config.yaml", PROMTAIL.into()),
                ("loki/config.yaml", replaced(LOKI_OK, "retention_enabled: true", "retention_enabled: false")),
            ],
            "loki-no-retention",
            "loki/config.yaml",
            "retention_enabled",
        ),
        case(
            "loki no retention period",
            vec![
                (c, LOKI_COMPOSE.into()),
                ("promtail/config.yaml", PROMTAIL.into()),
                ("loki/config.yaml", replaced(LOKI_OK, "retention_period: 168h", "retention_period: 0s")),
            ],
            "loki-no-retention",
            "loki/config.yaml",
            "retention_period",
        ),
        case(
            "loki no ingestion burst limit",
            vec![
                (c, LOKI_COMPOSE.into()),
                ("promtail/config.yaml", PROMTAIL.into()),
                ("loki/config.yaml", replaced(LOKI_OK, "  ingestion_burst_size_mb: 6\n", "")),
            ],
            "loki-no-ingestion-limits",
            "loki/config.yaml",
            "limits_config:",
        ),
        case(
            "prometheus tsdb not on a volume",
            vec![(c, "services:\n  prometheus:\n    image: prom/prometheus:v3.14.0\n    command:\n      - --storage.tsdb.path=/data\n      - --storage.tsdb.retention.size=10GB\n    volumes:\n      - prometheus-data:/prometheus\n".into())],
            "prometheus-tsdb-not-persistent",
            c,
            "--storage.tsdb.path=/data",
        ),
        case(
            "prometheus without retention flag",
            vec![(c, "services:\n  prometheus:\n    image: prom/prometheus:v3.14.0\n    command: [\"--web.enable-lifecycle\"]\n    volumes:\n      - prometheus-data:/prometheus\n".into())],
            "prometheus-no-retention",
            c,
            "command:",
        ),
        case(
            "alertmanager notifies nobody",
            vec![
                (c, ALERTMANAGER_COMPOSE.into()),
                ("alertmanager/alertmanager.yml", "route:\n  receiver: devnull\n  routes:\n    - receiver: self\nreceivers:\n  - name: devnull\n  - name: self\n    webhook_configs:\n      - url: http://localhost:9093/alerts\n      - url: http://alertmanager:9093/x\n".into()),
            ],
            "alertmanager-no-notifying-receiver",
            "alertmanager/alertmanager.yml",
            "receivers:",
        ),
        Case {
            severity: Severity::Warning,
            ..case(
                "collector debug exporter detailed in traces",
                vec![
                    (c, COLLECTOR_COMPOSE.into()),
                    ("otel/config.yaml", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\nexporters:\n  debug/spans:\n    verbosity: detailed\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug/spans]\n".into()),
                ],
                "collector-debug-detailed",
                "otel/config.yaml",
                "verbosity: detailed",
            )
        },
        case(
            "collector OTLP/HTTP published without TLS",
            vec![
                (c, format!("{COLLECTOR_COMPOSE}    ports:\n      - \"4317:4317\"\n      - \"127.0.0.1:4319:4318\"\n      - \"4318:4318\"\n")),
                ("otel/config.yaml", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\n        tls:\n          cert_file: /certs/tls.crt\n          key_file: /certs/tls.key\n      http:\n        endpoint: 0.0.0.0:4318\nexporters:\n  debug:\n    verbosity: detailed\nservice:\n  pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [debug]\n".into()),
            ],
            "collector-otlp-exposed-without-tls",
            c,
            "\"4318:4318\"",
        ),
        case(
            "literal secret in compose environment",
            vec![(c, "services:\n  app:\n    image: example/app:1\n    environment:\n      - DB_PASSWORD=${DB_PASSWORD}\n      - OAUTH_TOKEN_URL=https://idp.example/token\n      - USE_REFRESH_TOKEN=true\n      - OPENAI_API_KEY=sk-live-123\n".into())],
            "secret-literal-in-compose",
            c,
            "OPENAI_API_KEY",
        ),
        case(
            "literal secret in prometheus.yml",
            vec![
                (c, PROMETHEUS_COMPOSE.into()),
                ("prometheus/prometheus.yml", "scrape_configs:\n  - job_name: self\n    basic_auth:\n      username: prom\n      password_file: /run/secrets/prom\n    static_configs:\n      - targets: [\"prometheus:9090\"]\n  - job_name: other\n    authorization:\n      credentials: abc.def.ghi\n    static_configs:\n      - targets: [\"prometheus:9090\"]\n".into()),
            ],
            "secret-literal-in-config",
            "prometheus/prometheus.yml",
            "credentials:",
        ),
    ]
}

#[test]
fn each_rule_fires_alone_on_a_minimal_stack() {
    let mut failures = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for c in cases() {
        let files: Vec<(&str, &str)> = c.files.iter().map(|(p, t)| (*p, t.as_str())).collect();
        let dir = stack(&files);
        let r: Report =
            lint::lint(dir.path(), &prod()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let line = line_in(dir.path(), c.at, c.line_of);
        let ours: Vec<_> = r.with_rule(c.rule);
        let others: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.rule != c.rule && !c.also.contains(&f.rule.as_str()))
            .collect();
        let ok = ours.len() == 1
            && ours[0].file == c.at
            && ours[0].line == line
            && ours[0].severity == c.severity
            && ours[0].hint.is_some()
            && others.is_empty();
        if !ok {
            failures.push(format!(
                "{}: expected one {} ({:?}) at {}:{line}, got:\n{}",
                c.name,
                c.rule,
                c.severity,
                c.at,
                r.render_text()
            ));
        }
        seen.insert(c.rule);
        // The dev profile does not run the prod rules.
        let dev = lint::lint(
            dir.path(),
            &LintOptions {
                profile: Profile::Dev,
                ..prod()
            },
        )
        .unwrap();
        if !dev.with_rule(c.rule).is_empty() {
            failures.push(format!("{}: {} fired under --rules dev", c.name, c.rule));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(seen.len(), 20, "one case per rule: {seen:?}");
}

#[test]
fn hardened_minimal_stack_is_clean() {
    let compose = "services:
  grafana:
    image: grafana/grafana:13.2.0
    environment:
      GF_AUTH_ANONYMOUS_ENABLED: ${GRAFANA_ANONYMOUS:-false}
      GF_AUTH_ANONYMOUS_ORG_ROLE: Admin
      GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?set it}
      GF_SECURITY_COOKIE_SECURE: \"true\"
  alertmanager:
    image: prom/alertmanager:v0.34.0
    command: [\"--config.file=/etc/alertmanager/alertmanager.yml\"]
    volumes:
      - ./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro
  promtail:
    image: grafana/promtail:3.6.11
    volumes:
      - ./logs:/var/log/app:ro
";
    let am = "route:\n  receiver: oncall\nreceivers:\n  - name: harness\n    webhook_configs:\n      - url: http://harness-webhook:9099/alerts\n  - name: oncall\n    pagerduty_configs:\n      - routing_key_file: /run/secrets/pd\n";
    let dir = stack(&[
        ("docker-compose.yml", compose),
        ("alertmanager/alertmanager.yml", am),
        ("logs/.keep", ""),
    ]);
    let r = lint::lint(dir.path(), &prod()).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
}

// ------------------------------------------------------------------ the bundled stack

fn bundled(files: &[&str]) -> Report {
    let o = LintOptions {
        catalogue: Some(root().join("fixtures/catalogue/reference-app.prom")),
        compose_files: files.iter().map(|f| stack_dir().join(f)).collect(),
        ..prod()
    };
    lint::lint(&stack_dir(), &o).unwrap()
}

#[test]
fn bundled_stack_fails_prod_with_the_expected_findings() {
    let r = bundled(&[]);
    let got: Vec<(&str, &str, usize)> = r
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.file.as_str(), f.line))
        .collect();
    let c = "docker-compose.yml";
    let at = |file: &str, needle: &str| line_in(&stack_dir(), file, needle);
    let mut want = vec![
        (
            "grafana-anonymous-enabled",
            c,
            at(c, "GF_AUTH_ANONYMOUS_ENABLED"),
        ),
        (
            "grafana-anonymous-role",
            c,
            at(c, "GF_AUTH_ANONYMOUS_ORG_ROLE"),
        ),
        (
            "grafana-login-form-disabled",
            c,
            at(c, "GF_AUTH_DISABLE_LOGIN_FORM"),
        ),
        ("grafana-admin-password-default", c, at(c, "  grafana:")),
        (
            "docker-socket-ro",
            c,
            at(c, "/var/run/docker.sock:/var/run/docker.sock:ro"),
        ),
        (
            "prometheus-tsdb-not-persistent",
            c,
            at(c, "--storage.tsdb.path=/prometheus"),
        ),
        (
            "prometheus-no-retention",
            c,
            at(c, "--config.file=/etc/prometheus") - 1,
        ),
        (
            "collector-otlp-exposed-without-tls",
            c,
            at(c, "\"4317:4317\""),
        ),
        (
            "collector-otlp-exposed-without-tls",
            c,
            at(c, "\"4318:4318\""),
        ),
        (
            "alertmanager-no-notifying-receiver",
            "alertmanager/alertmanager.yml",
            at("alertmanager/alertmanager.yml", "receivers:"),
        ),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "{}", r.render_text());
    assert_eq!(r.exit_code(), 1);
    insta::assert_snapshot!("lint_prod_bundled_stack", r.render_text());
}

#[test]
fn secure_override_clears_the_grafana_findings() {
    // ${GRAFANA_ADMIN_PASSWORD:?...} is unset here: the gate treats it as a reference.
    let base = bundled(&[]);
    let secure = bundled(&["docker-compose.yml", "docker-compose.secure.yml"]);
    let grafana: Vec<_> = secure
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("grafana-"))
        .collect();
    assert!(grafana.is_empty(), "{}", secure.render_text());
    let rest = |r: &Report| {
        r.findings
            .iter()
            .filter(|f| !f.rule.starts_with("grafana-"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(rest(&secure), rest(&base), "{}", secure.render_text());
    assert_eq!(
        base.findings.len() - rest(&base).len(),
        4,
        "{}",
        base.render_text()
    );
}

// ------------------------------------------------------------------ merging

const BASE: &str = "services:
  grafana:
    image: grafana/grafana:12.0.0
    environment:
      - GF_AUTH_ANONYMOUS_ENABLED=false
      - GF_SECURITY_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD}
      - KEEP=base
    labels:
      logging: promtail
      env: dev
    volumes:
      - ./grafana/provisioning:/etc/grafana/provisioning:ro
      - grafana-data:/var/lib/grafana
    ports:
      - \"3000:3000\"
  promtail:
    image: grafana/promtail:3.6.11
    command: [\"-config.file=/etc/promtail/config.yaml\"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
";

const OVERRIDE: &str = "services:
  grafana:
    image: grafana/grafana:13.2.0
    environment:
      GF_AUTH_ANONYMOUS_ENABLED: \"true\"
      EXTRA: override
    labels:
      - env=prod
      - tier=ui
    volumes:
      - ./grafana/provisioning-prod:/etc/grafana/provisioning:ro
    ports:
      - \"127.0.0.1:3030:3000\"
  promtail:
    command: [\"-config.file=/etc/promtail/prod.yaml\", \"-config.expand-env=true\"]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
  extra:
    image: busybox
";

#[test]
fn later_compose_files_override_earlier_ones() {
    let dir = stack(&[
        ("docker-compose.yml", BASE),
        ("docker-compose.override.yml", OVERRIDE),
    ]);
    let m = ComposeModel::load_files(
        dir.path(),
        &[
            dir.path().join("docker-compose.yml"),
            dir.path().join("docker-compose.override.yml"),
        ],
    )
    .unwrap();
    assert_eq!(
        m.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["grafana", "promtail", "extra"]
    );
    let g = m.service("grafana").unwrap();
    assert_eq!(g.image, "grafana/grafana:13.2.0");
    // environment: key-wise, list form in one file and map form in the other.
    let env = |k: &str| g.environment.get(k).and_then(|e| e.value.clone());
    assert_eq!(env("GF_AUTH_ANONYMOUS_ENABLED").as_deref(), Some("true"));
    assert_eq!(env("KEEP").as_deref(), Some("base"));
    assert_eq!(env("EXTRA").as_deref(), Some("override"));
    let o = &g.environment["GF_AUTH_ANONYMOUS_ENABLED"].origin;
    assert_eq!(o.file, "docker-compose.override.yml");
    assert_eq!(
        o.line,
        line_in(
            dir.path(),
            "docker-compose.override.yml",
            "GF_AUTH_ANONYMOUS_ENABLED"
        )
    );
    assert_eq!(g.environment["KEEP"].origin.file, "docker-compose.yml");
    // labels: key-wise.
    let labels: Vec<(&str, &str)> = g
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [("env", "prod"), ("logging", "promtail"), ("tier", "ui")]
    );
    // volumes: by target.
    let vols: Vec<(&str, &str, &str)> = g
        .mounts
        .iter()
        .map(|m| (m.source.as_str(), m.target.as_str(), m.origin.file.as_str()))
        .collect();
    assert_eq!(
        vols,
        [
            ("grafana-data", "/var/lib/grafana", "docker-compose.yml"),
            (
                "./grafana/provisioning-prod",
                "/etc/grafana/provisioning",
                "docker-compose.override.yml"
            ),
        ]
    );
    assert_eq!(
        g.host_path("/etc/grafana/provisioning/x"),
        Some(dir.path().join("grafana/provisioning-prod/x"))
    );
    // ports: by container port.
    assert_eq!(g.published.len(), 1);
    assert_eq!(g.published[0].published.as_deref(), Some("3030"));
    assert!(g.published[0].loopback_only());
    // command replaced, socket mount replaced (now read-write).
    let p = m.service("promtail").unwrap();
    assert_eq!(p.image, "grafana/promtail:3.6.11");
    assert_eq!(p.config_flag().as_deref(), Some("/etc/promtail/prod.yaml"));
    assert_eq!(
        p.command_origin.as_ref().unwrap().file,
        "docker-compose.override.yml"
    );
    assert_eq!(p.mounts.len(), 1);
    assert!(!p.mounts[0].read_only);
}

#[test]
fn findings_point_at_the_override_that_set_the_value() {
    let dir = stack(&[
        ("docker-compose.yml", BASE),
        ("docker-compose.override.yml", OVERRIDE),
    ]);
    let o = LintOptions {
        compose_files: vec![
            dir.path().join("docker-compose.yml"),
            dir.path().join("docker-compose.override.yml"),
        ],
        ..prod()
    };
    let r = lint::lint(dir.path(), &o).unwrap();
    let ov = "docker-compose.override.yml";
    let anon = r.with_rule("grafana-anonymous-enabled");
    assert_eq!(anon.len(), 1, "{}", r.render_text());
    assert_eq!(
        (anon[0].file.as_str(), anon[0].line),
        (ov, line_in(dir.path(), ov, "GF_AUTH_ANONYMOUS_ENABLED"))
    );
    let rw = r.with_rule("docker-socket-rw");
    assert_eq!(rw.len(), 1, "{}", r.render_text());
    assert_eq!(
        (rw[0].file.as_str(), rw[0].line),
        (ov, line_in(dir.path(), ov, "/var/run/docker.sock"))
    );
    assert!(
        r.with_rule("docker-socket-ro").is_empty(),
        "{}",
        r.render_text()
    );
    // Dev rules follow the merge too: the override's provisioning dir does not exist.
    let missing = r.with_rule("mount-source-missing");
    assert!(
        missing
            .iter()
            .any(|f| f.file == ov && f.message.contains("provisioning-prod")),
        "{}",
        r.render_text()
    );
    // Only the base file: the base values and their lines.
    let base = lint::lint(dir.path(), &prod()).unwrap();
    assert!(base.with_rule("grafana-anonymous-enabled").is_empty());
    let ro = base.with_rule("docker-socket-ro");
    assert_eq!(
        (ro[0].file.as_str(), ro[0].line),
        (
            "docker-compose.yml",
            line_in(dir.path(), "docker-compose.yml", "/var/run/docker.sock")
        )
    );
}

// ------------------------------------------------------------------ CLI

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    lint: LintArgs,
}

#[test]
fn cli_takes_repeated_compose_files_and_the_prod_profile() {
    // `--rules` picks the rule set; `--profile` is compose's, as on every command.
    let cli = Cli::try_parse_from([
        "lint",
        "stack",
        "--rules",
        "prod",
        "--profile",
        "debug",
        "-f",
        "stack/docker-compose.yml",
        "--compose-file",
        "stack/docker-compose.secure.yml",
        "--env-file",
        "stack/.env.ci",
    ])
    .unwrap();
    assert_eq!(cli.lint.profile, Profile::Prod);
    assert_eq!(
        cli.lint.compose.compose_files,
        [
            PathBuf::from("stack/docker-compose.yml"),
            PathBuf::from("stack/docker-compose.secure.yml")
        ]
    );
    assert_eq!(cli.lint.compose.profiles, ["debug"]);
    assert_eq!(cli.lint.compose.env_files, [PathBuf::from("stack/.env.ci")]);
    let cli = Cli::try_parse_from(["lint"]).unwrap();
    assert_eq!(cli.lint.profile, Profile::Dev);
    assert!(cli.lint.compose.compose_files.is_empty());

    // Relative names that do not exist from the current directory resolve in the stack dir.
    let mut lint = Cli::try_parse_from(["lint", "--rules", "prod", "--format", "json"]).unwrap().lint;
    lint.compose.compose_files = vec!["docker-compose.yml".into(), "docker-compose.secure.yml".into()];
    let args = LintArgs {
        stack_dir: stack_dir(),
        catalogue: Some(root().join("fixtures/catalogue/reference-app.prom")),
        no_external: true,
        ..lint
    };
    assert_eq!(obs_harness::report::lint_output::lint_main(args), 1);
}

#[test]
fn prod_findings_are_in_the_json_report() {
    let r = bundled(&[]);
    let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
    let f = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "docker-socket-ro")
        .expect("docker-socket-ro in JSON");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["file"], "docker-compose.yml");
    assert!(f["hint"].as_str().unwrap().contains("proxy"));
}
