//! Compose files read as `docker compose config` reads them, one test per feature.
//!
//! Each test writes a minimal stack into a temporary directory and reads it with
//! the one reader (`obs_harness::read`), then asserts what compose would make of
//! it. Every one of these failed before the reading layer: the strict compose
//! crate refused the file (exit 2), or the value was read literally, or the file
//! was not found.

mod common;

use obs_harness::lint::{self, LintOptions, Severity};
use obs_harness::model::StackModel;
use obs_harness::read::compose::{ComposeInput, ComposeModel};
use std::path::Path;

fn stack(files: &[(&str, &str)]) -> tempfile::TempDir {
    common::stack_of(files)
}

fn read(d: &Path, input: &ComposeInput) -> ComposeModel {
    ComposeModel::load_project(d, input).unwrap_or_else(|e| panic!("{e}"))
}

fn lint_of(d: &Path, input: ComposeInput) -> lint::Report {
    let o = LintOptions { external: false, compose_files: input.files, env_files: input.env_files, compose_profiles: input.profiles, ..Default::default() };
    lint::lint(d, &o).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_attribute_of_the_specification_is_accepted() {
    let d = stack(&[(
        "docker-compose.yml",
        "name: demo\nmodels:\n  m:\n    model: ai/x\nconfigs:\n  c:\n    file: ./c.txt\nnetworks:\n  n:\n    driver: bridge\nservices:\n  a:\n    image: busybox\n    platform: linux/amd64\n    dns_search: example.org\n    cpus: 0.5\n    pids_limit: 10\n    mac_address: 02:42:ac:11:65:43\n    gpus: all\n    develop:\n      watch: []\n    post_start:\n      - command: echo hi\n    configs: [c]\n    networks:\n      n:\n        priority: 10\n    deploy:\n      resources:\n        limits:\n          pids: 10\n    build:\n      context: .\n      additional_contexts:\n        x: ./x\n    ports:\n      - 9080\n",
    ), ("c.txt", "x")]);
    let r = lint_of(d.path(), ComposeInput::default());
    assert!(r.notes.iter().all(|n| n.rule != "compose-unknown-attribute"), "{}", r.render_text());
    let m = read(d.path(), &ComposeInput::default());
    let a = m.service("a").unwrap();
    assert!(a.ports.contains(&9080), "a bare integer port is a container port");
}

#[test]
fn an_attribute_outside_the_specification_is_a_warning_not_a_refusal() {
    let d = stack(&[("docker-compose.yml", "services:\n  a:\n    image: busybox\n    imagee: typo\n    x-mine: fine\n")]);
    let r = lint_of(d.path(), ComposeInput::default());
    let w: Vec<_> = r.notes.iter().filter(|n| n.rule == "compose-unknown-attribute").collect();
    assert_eq!(w.len(), 1, "{}", r.render_text());
    assert_eq!((w[0].line, w[0].severity), (4, Severity::Warning));
    assert!(w[0].message.contains("imagee"));
}

#[test]
fn anchors_merge_keys_and_extensions() {
    let d = stack(&[(
        "docker-compose.yml",
        "x-common: &common\n  image: grafana/loki:3.4.6\n  networks:\n    default:\n      aliases: [loki]\n  labels: &labels\n    team: obs\nservices:\n  read:\n    <<: *common\n    command: -target=read\n  write:\n    <<: *common\n    labels:\n      <<: *labels\n      role: write\n",
    )]);
    let m = read(d.path(), &ComposeInput::default());
    assert_eq!(m.service("read").unwrap().image, "grafana/loki:3.4.6");
    assert_eq!(m.service("write").unwrap().labels.get("team").map(String::as_str), Some("obs"));
    assert_eq!(m.service("write").unwrap().labels.get("role").map(String::as_str), Some("write"));
    // The alias `loki` names one of them, as compose's DNS does.
    assert!(m.service("loki").is_some());
}

#[test]
fn interpolation_takes_the_environment_then_dotenv_with_every_form() {
    let d = stack(&[
        (".env", "TAG=3.4.6\nPORT=3100\nEMPTY=\n"),
        (
            "docker-compose.yml",
            "services:\n  loki:\n    image: grafana/loki:${TAG}\n    ports:\n      - \"${PORT:-9}:3100\"\n    environment:\n      A: ${EMPTY:-dflt}\n      B: ${EMPTY-kept}\n      C: ${OBS_T_UNSET_READ_X}\n      D: $$HOME\n      E: ${OBS_T_UNSET_READ_Y:+alt}${TAG:+set}\n",
        ),
    ]);
    let m = read(d.path(), &ComposeInput::default());
    let l = m.service("loki").unwrap();
    assert_eq!(l.image, "grafana/loki:3.4.6");
    let env = |k: &str| l.environment[k].value.clone().unwrap_or_default();
    assert_eq!((env("A"), env("B"), env("C"), env("D"), env("E")), ("dflt".into(), "".into(), "".into(), "$HOME".into(), "set".into()));
    assert_eq!(l.published[0].published.as_deref(), Some("3100"));
    let unset: Vec<_> = m.notes.iter().filter(|n| n.rule == "compose-variable-unset").collect();
    assert_eq!(unset.len(), 1, "{unset:?}");
    assert!(unset[0].message.contains("OBS_T_UNSET_READ_X") && unset[0].line == 9);
}

#[test]
fn env_file_option_replaces_dotenv_and_the_process_environment_wins() {
    let d = stack(&[(".env", "TAG=from-dotenv\n"), ("ci.env", "TAG=from-env-file\nPATH=not-this\n"), ("docker-compose.yml", "services:\n  a:\n    image: x:${TAG}\n    environment:\n      P: ${PATH}\n")]);
    let m = read(d.path(), &ComposeInput { env_files: vec![d.path().join("ci.env")], ..Default::default() });
    let a = m.service("a").unwrap();
    assert_eq!(a.image, "x:from-env-file");
    assert_eq!(a.environment["P"].value, std::env::var("PATH").ok());
}

#[test]
fn a_required_variable_is_located_and_reading_goes_on() {
    let d = stack(&[("docker-compose.yml", "services:\n  a:\n    image: x\n    environment:\n      K: ${OBS_T_NEVER_SET_R:?needs a key}\n")]);
    let r = lint_of(d.path(), ComposeInput::default());
    let n = r.notes.iter().find(|n| n.rule == "compose-variable-required").unwrap_or_else(|| panic!("{}", r.render_text()));
    assert_eq!(n.line, 5);
    assert!(n.message.contains("needs a key"));
}

#[test]
fn an_invalid_interpolation_is_refused_at_its_line() {
    let d = stack(&[("docker-compose.yml", "services:\n  a:\n    image: x\n    command: echo ${oops\n")]);
    let e = ComposeModel::load_project(d.path(), &ComposeInput::default()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("docker-compose.yml:4:"), "{e}");
}

#[test]
fn env_file_feeds_the_container_environment_under_environment() {
    let d = stack(&[("grafana.env", "GF_SERVER_HTTP_PORT=3030\nGF_X=from-file\n"), ("docker-compose.yml", "services:\n  grafana:\n    image: grafana/grafana:13.1.0\n    env_file: ./grafana.env\n    environment:\n      GF_X: from-compose\n")]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    let g = m.node("grafana").unwrap();
    assert!(g.listener(3030).is_some(), "the port set in the env file is the listener: {:?}", g.listeners);
    let svc = m.compose().service("grafana").unwrap();
    assert_eq!(svc.environment["GF_X"].value.as_deref(), Some("from-compose"));
    assert_eq!(svc.environment["GF_SERVER_HTTP_PORT"].origin.file, "grafana.env");
}

#[test]
fn several_files_include_and_extends() {
    let d = stack(&[
        ("base/common.yml", "services:\n  base:\n    image: prom/prometheus:v3.5.0\n    volumes:\n      - ./prom.yml:/etc/prometheus/prometheus.yml\n"),
        ("base/prom.yml", "scrape_configs: []\n"),
        ("inc/docker-compose.yml", "services:\n  kafka:\n    image: apache/kafka:3.9.0\n    volumes:\n      - ./data:/data\n"),
        ("docker-compose.yml", "include:\n  - inc/docker-compose.yml\nservices:\n  prometheus:\n    extends:\n      file: base/common.yml\n      service: base\n    command: --config.file=/etc/prometheus/prometheus.yml\n"),
        ("override.yml", "services:\n  prometheus:\n    ports:\n      - 9090:9090\n"),
    ]);
    let input = ComposeInput::files([d.path().join("docker-compose.yml"), d.path().join("override.yml")]);
    let m = read(d.path(), &input);
    let p = m.service("prometheus").unwrap();
    assert_eq!(p.image, "prom/prometheus:v3.5.0", "extends from another file");
    assert_eq!(p.host_path("/etc/prometheus/prometheus.yml"), Some(d.path().join("base/prom.yml")), "paths of an extended file resolve against its own directory");
    assert!(p.ports.contains(&9090), "the override file merged");
    let k = m.service("kafka").unwrap();
    assert_eq!(k.host_path("/data"), Some(d.path().join("inc/data")), "an included project's paths resolve against its directory");
}

#[test]
fn profiles_select_services_as_compose_does() {
    let d = stack(&[("docker-compose.yml", "services:\n  always:\n    image: x\n  v2:\n    image: x\n    profiles: [v2]\n  v3:\n    image: x\n    profiles: [v3, all]\n")]);
    let names = |input: &ComposeInput| read(d.path(), input).services.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&ComposeInput::default()), ["always"]);
    assert_eq!(names(&ComposeInput { profiles: vec!["v3".into()], ..Default::default() }), ["always", "v3"]);
    assert_eq!(names(&ComposeInput { profiles: vec!["*".into()], ..Default::default() }), ["always", "v2", "v3"]);
}

#[test]
fn top_level_configs_and_secrets_are_mounts() {
    let d = stack(&[
        ("rules/node.yml", "groups: []\n"),
        ("token", "s3cret"),
        ("docker-compose.yml", "configs:\n  node_rules:\n    file: ./rules/node.yml\nsecrets:\n  token:\n    file: ./token\nservices:\n  prometheus:\n    image: prom/prometheus\n    configs:\n      - source: node_rules\n        target: /etc/prometheus/node.rules.yml\n    secrets: [token]\n"),
    ]);
    let m = read(d.path(), &ComposeInput::default());
    let p = m.service("prometheus").unwrap();
    assert_eq!(p.host_path("/etc/prometheus/node.rules.yml"), Some(d.path().join("rules/node.yml")));
    assert_eq!(p.host_path("/run/secrets/token"), Some(d.path().join("token")));
}

#[test]
fn a_missing_short_syntax_folder_is_created_by_compose_but_a_long_one_is_refused() {
    let d = stack(&[("docker-compose.yml", "services:\n  a:\n    image: x\n    volumes:\n      - ./logs:/var/log/app\n      - type: bind\n        source: ./certs\n        target: /certs\n")]);
    let r = lint_of(d.path(), ComposeInput::default());
    let errors: Vec<_> = r.findings.iter().filter(|f| f.rule == "mount-source-missing").collect();
    assert_eq!(errors.len(), 1, "{}", r.render_text());
    assert!(errors[0].message.contains("./certs"));
    assert!(r.notes.iter().any(|n| n.rule == "mount-source-missing" && n.severity == Severity::Info && n.message.contains("./logs")));
}

#[test]
fn aliases_hostnames_and_links_are_names_other_services_reach() {
    let d = stack(&[("docker-compose.yml", "services:\n  a:\n    image: x\n    hostname: alpha\n    networks:\n      default:\n        aliases: [first]\n  b:\n    image: x\n    links:\n      - a:linked\n")]);
    let m = read(d.path(), &ComposeInput::default());
    for name in ["a", "alpha", "first", "linked"] {
        assert_eq!(m.service(name).map(|s| s.name.as_str()), Some("a"), "{name}");
    }
}

#[test]
fn kinds_come_from_the_image_repository_whatever_the_registry() {
    let d = stack(&[
        ("prometheus/prometheus.yml", "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['hotrod:8080']\n"),
        (
            "docker-compose.yml",
            "services:\n  prometheus:\n    image: quay.io/prometheus/prometheus:v3.5.0\n    volumes:\n      - ./prometheus:/etc/prometheus\n  hotrod:\n    image: jaegertracing/example-hotrod:1.51\n    ports: ['8080:8080']\n",
        ),
    ]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    assert_eq!(m.node("prometheus").unwrap().kind, "prometheus");
    assert_eq!(m.node("hotrod").unwrap().kind, "service", "an example app is not Jaeger");
    // Its config was read at the image's default path (no --config.file), so its scrape is a link.
    assert!(m.links.iter().any(|l| l.from == "prometheus" && l.to.as_deref() == Some("hotrod") && l.port == 8080), "{:?}", m.links);
}

#[test]
fn collector_configs_in_every_form_the_collector_takes() {
    let d = stack(&[
        ("otel/base.yaml", "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 0.0.0.0:4317\nexporters:\n  otlp/tempo:\n    endpoint: ${env:TRACE_STORE}:4317\n    tls: {insecure: true}\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/tempo]\n"),
        ("otel/extra.yaml", "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 0.0.0.0:4318\n"),
        (
            "docker-compose.yml",
            "services:\n  collector:\n    image: otel/opentelemetry-collector-contrib:0.160.0\n    command: [\"--config=file:/etc/otel/base.yaml\", \"--config\", \"/etc/otel/extra.yaml\"]\n    environment:\n      TRACE_STORE: store\n    volumes:\n      - ./otel:/etc/otel\n  store:\n    image: x\n    expose: ['4317']\n",
        ),
    ]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    let c = m.node("collector").unwrap();
    assert!(c.listener(4317).is_some() && c.listener(4318).is_some(), "both files merged: {:?}", c.listeners);
    assert!(m.links.iter().any(|l| l.from == "collector" && l.to.as_deref() == Some("store") && l.port == 4317), "${{env:VAR}} expanded: {:?}", m.links);
}

#[test]
fn loki_expands_its_config_only_with_expand_env() {
    let cfg = "server:\n  http_listen_port: ${LOKI_PORT:-3100}\n";
    let compose = |flag: &str| format!("services:\n  loki:\n    image: grafana/loki:3.4.6\n    command: [\"-config.file=/etc/loki/config.yaml\"{flag}]\n    environment:\n      LOKI_PORT: \"3200\"\n    volumes:\n      - ./loki.yaml:/etc/loki/config.yaml\n");
    let d = stack(&[("loki.yaml", cfg), ("docker-compose.yml", &compose(", \"-config.expand-env=true\""))]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    assert!(m.node("loki").unwrap().listener(3200).is_some(), "{:?}", m.node("loki").unwrap().listeners);
    let d = stack(&[("loki.yaml", cfg), ("docker-compose.yml", &compose(""))]);
    assert!(StackModel::load(d.path(), &[]).unwrap().node("loki").unwrap().listener(3200).is_none());
}

#[test]
fn an_images_built_in_config_is_info_never_config_not_mounted() {
    let d = stack(&[("docker-compose.yml", "services:\n  loki:\n    image: grafana/loki:2.9.2\n    command: -config.file=/etc/loki/local-config.yaml\n")]);
    let r = lint_of(d.path(), ComposeInput::default());
    assert!(r.findings.iter().all(|f| f.rule != "config-not-mounted"), "{}", r.render_text());
    assert!(r.notes.iter().any(|n| n.rule == "config-built-in" && n.severity == Severity::Info), "{}", r.render_text());
}

#[test]
fn grafana_provisioning_from_single_files_a_sub_folder_or_gf_paths_provisioning() {
    let ds = "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n    uid: prom\n    url: http://prometheus:9090\n";
    let prov = "apiVersion: 1\nproviders:\n  - name: d\n    options:\n      path: /var/lib/grafana/dashboards\n";
    let dash = "{\"uid\": \"d1\", \"panels\": []}";
    let cases: [(&str, &[(&str, &str)]); 3] = [
        (
            "    volumes:\n      - ./ds.yml:/etc/grafana/provisioning/datasources/renamed.yaml\n      - ./prov.yml:/etc/grafana/provisioning/dashboards/p.yaml\n      - ./d1.json:/var/lib/grafana/dashboards/d1.json\n",
            &[("ds.yml", ds), ("prov.yml", prov), ("d1.json", dash)],
        ),
        (
            "    volumes:\n      - ./grafana/datasources:/etc/grafana/provisioning/datasources\n      - ./grafana/dashboards:/etc/grafana/provisioning/dashboards\n      - ./grafana/json:/var/lib/grafana/dashboards\n",
            &[("grafana/datasources/ds.yml", ds), ("grafana/dashboards/prov.yml", prov), ("grafana/json/d1.json", dash)],
        ),
        (
            "    environment:\n      GF_PATHS_PROVISIONING: /provisioning\n    volumes:\n      - ./prov:/provisioning\n      - ./json:/var/lib/grafana/dashboards\n",
            &[("prov/datasources/ds.yml", ds), ("prov/dashboards/prov.yml", prov), ("json/d1.json", dash)],
        ),
    ];
    for (volumes, files) in cases {
        let compose = format!("services:\n  grafana:\n    image: docker.io/grafana/grafana:13.1.0\n{volumes}  prometheus:\n    image: prom/prometheus\n");
        let mut all: Vec<(&str, &str)> = files.to_vec();
        all.push(("docker-compose.yml", &compose));
        let d = stack(&all);
        let (datasources, dashboards) = lint::provisioned(d.path()).unwrap();
        assert_eq!(datasources.iter().map(|d| d.uid.clone().unwrap_or_default()).collect::<Vec<_>>(), ["prom"], "{volumes}");
        assert_eq!(dashboards.len(), 1, "{volumes}");
        let m = StackModel::load(d.path(), &[]).unwrap();
        assert!(m.links.iter().any(|l| l.from == "grafana" && l.to.as_deref() == Some("prometheus")), "{volumes}");
        let r = lint_of(d.path(), ComposeInput::default());
        assert!(r.findings.iter().all(|f| f.rule != "dashboard-provider-path-not-mounted"), "{}", r.render_text());
    }
}
