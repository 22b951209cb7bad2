//! The stack model's link checks: each class of broken link, planted as a
//! one-line fault in a copy of the bundled stack, gives exactly its findings
//! at `file:line`; the model agrees with the lifecycle on every port; the
//! graph command draws the bundled stack and the README embeds it.

mod common;

use obs_harness::lint::{self, LintOptions, Profile};
use obs_harness::graph::{Format, Graph};
use obs_harness::model::{Proto, StackModel};
use std::path::Path;

fn opts() -> LintOptions {
    LintOptions { profile: Profile::Dev, catalogue: None, external: false, ..Default::default() }
}



struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str, &'static str)],
    /// Every finding expected: (rule, file, the line holding this text, a word the message must hold).
    expect: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        name: "Loki moves its listen port in its own config",
        edits: &[("loki/config.yaml", "http_listen_port: 3100", "http_listen_port: 3101")],
        expect: &[
            ("promtail-client-unknown-service", "promtail/config.yaml", "http://loki:3100", "loki/config.yaml:7"),
            ("datasource-url-unknown-service", "grafana/provisioning/datasources/datasources.yml", "url: http://loki:3100", "use port 3101"),
        ],
    },
    Case {
        name: "gRPC exporter aimed at the OTLP/HTTP port",
        edits: &[("otel-collector/config.yaml", "endpoint: jaeger:4317", "endpoint: jaeger:4318")],
        expect: &[("link-protocol-mismatch", "otel-collector/config.yaml", "endpoint: jaeger:4318", "use port 4317")],
    },
    Case {
        name: "app's OTLP endpoint on the HTTP port with the gRPC protocol set",
        edits: &[
            ("docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT=otel-collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT=otel-collector:4318"),
            ("docker-compose.yml", "      - OTEL_TRACES_EXPORTER=otlp\n", "      - OTEL_TRACES_EXPORTER=otlp\n      - OTEL_EXPORTER_OTLP_PROTOCOL=grpc\n"),
        ],
        expect: &[("link-protocol-mismatch", "docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT", "grpc")],
    },
    Case {
        // The protocol unset: port 4318 says OTLP/HTTP (SDK defaults differ by language).
        name: "app's OTLP endpoint on the HTTP port with no protocol set",
        edits: &[("docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT=otel-collector:4317", "OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4318")],
        expect: &[],
    },
    Case {
        name: "app switched to OTLP/HTTP but still aimed at the gRPC port",
        edits: &[("docker-compose.yml", "      - OTEL_TRACES_EXPORTER=otlp\n", "      - OTEL_TRACES_EXPORTER=otlp\n      - OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf\n")],
        expect: &[("link-protocol-mismatch", "docker-compose.yml", "OTEL_EXPORTER_OTLP_ENDPOINT", "otlp/http")],
    },
    Case {
        name: "the collector's receiver binds localhost",
        edits: &[("otel-collector/config.yaml", "endpoint: 0.0.0.0:4317", "endpoint: localhost:4317")],
        expect: &[("link-loopback-bind", "otel-collector/config.yaml", "endpoint: localhost:4317", "docker-compose.yml:")],
    },
    Case {
        name: "the traces pipeline no longer exports to Jaeger",
        edits: &[("otel-collector/config.yaml", "exporters: [otlp_grpc/jaeger, debug]", "exporters: [debug]")],
        expect: &[("collector-no-trace-store", "otel-collector/config.yaml", "    traces:", "jaeger")],
    },
    Case {
        name: "Prometheus notifies Alertmanager's cluster port",
        edits: &[("prometheus/prometheus.yml", "\"alertmanager:9093\"", "\"alertmanager:9094\"")],
        expect: &[("link-protocol-mismatch", "prometheus/prometheus.yml", "alertmanager:9094", "use port 9093")],
    },
    Case {
        name: "Prometheus notifies a port nobody listens on",
        edits: &[("prometheus/prometheus.yml", "\"alertmanager:9093\"", "\"alertmanager:9095\"")],
        expect: &[("alerting-target-unknown-service", "prometheus/prometheus.yml", "alertmanager:9095", "does not listen on port 9095")],
    },
    Case {
        name: "the Loki ruler's alertmanager_url points at a closed port",
        edits: &[("loki/config.yaml", "alertmanager_url: http://alertmanager:9093", "alertmanager_url: http://alertmanager:9003")],
        expect: &[("loki-ruler-alertmanager-unknown-service", "loki/config.yaml", "alertmanager_url", "9003")],
    },
    Case {
        name: "Alertmanager moves its web port by flag; Prometheus and the ruler still call 9093",
        edits: &[("docker-compose.yml", "      - --storage.path=/alertmanager\n", "      - --storage.path=/alertmanager\n      - --web.listen-address=:9193\n")],
        expect: &[
            ("alerting-target-unknown-service", "prometheus/prometheus.yml", "alertmanager:9093", "use port 9193"),
            ("loki-ruler-alertmanager-unknown-service", "loki/config.yaml", "alertmanager_url", "use port 9193"),
        ],
    },
    Case {
        name: "Alertmanager's receiver URL names no service",
        edits: &[("alertmanager/alertmanager.yml", "http://harness-webhook:9099/alerts", "http://webhook:9099/alerts")],
        expect: &[("alertmanager-receiver-unknown-service", "alertmanager/alertmanager.yml", "http://webhook:9099", "is not a service")],
    },
    Case {
        name: "Grafana's Jaeger datasource aimed at Jaeger's OTLP port",
        edits: &[("grafana/provisioning/datasources/datasources.yml", "url: http://jaeger:16686", "url: http://jaeger:4318")],
        expect: &[("link-protocol-mismatch", "grafana/provisioning/datasources/datasources.yml", "url: http://jaeger:4318", "use port 16686")],
    },
    Case {
        name: "Grafana moves its port by environment (nothing links to it: clean)",
        edits: &[("docker-compose.yml", "      - GF_AUTH_ANONYMOUS_ENABLED=true\n", "      - GF_AUTH_ANONYMOUS_ENABLED=true\n      - GF_SERVER_HTTP_PORT=3001\n")],
        expect: &[],
    },
    Case {
        name: "a dashboard query names a job no scrape config defines",
        edits: &[("prometheus/prometheus.yml", "job_name: fastapi", "job_name: api")],
        expect: &[],
    },
    Case {
        name: "Promtail before 3.6.11 selects containers by relabel keep on the Docker target",
        edits: &[
            ("promtail/config.yaml", "    relabel_configs:\n", "    relabel_configs:\n      - source_labels: [__meta_docker_container_label_logging]\n        regex: promtail\n        action: keep\n"),
            ("docker-compose.yml", "grafana/promtail:3.6.11", "grafana/promtail:3.6.10"),
        ],
        expect: &[("compat-promtail-docker-keep-ignored", "docker-compose.yml", "image: grafana/promtail", "8620")],
    },
];

#[test]
fn each_broken_link_gives_exactly_its_findings() {
    let mut failures = Vec::new();
    for c in CASES {
        let d = common::broken_copy(c.edits);
        let r = lint::lint(d.path(), &opts()).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let got: Vec<String> = r.findings.iter().map(|f| format!("{}:{} {} {}", f.file, f.line, f.rule, f.message)).collect();
        // The job rename is a promql-unknown-job case (rules, tests and dashboards
        // still say `fastapi`): only check that no link finding appears.
        if c.name.contains("job no scrape config") {
            assert!(r.findings.iter().any(|f| f.rule == "promql-unknown-job"), "{}: {got:#?}", c.name);
            assert!(!r.findings.iter().any(|f| f.rule.contains("link") || f.rule.ends_with("unknown-service")), "{}: {got:#?}", c.name);
            continue;
        }
        let want: Vec<(String, String, usize, &str)> = c.expect.iter().map(|(rule, file, needle, word)| (rule.to_string(), file.to_string(), common::line_in(d.path(), file, needle), *word)).collect();
        let ok = r.findings.len() == want.len()
            && want.iter().all(|(rule, file, line, word)| r.findings.iter().any(|f| &f.rule == rule && &f.file == file && f.line == *line && (f.message.contains(word) || f.hint.as_deref().is_some_and(|h| h.contains(word)))));
        if !ok {
            failures.push(format!("{}:\n  want {want:?}\n  got  {got:#?}\n  hints {:?}", c.name, r.findings.iter().map(|f| f.hint.clone()).collect::<Vec<_>>()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The bundled log path expressed with Grafana Alloy instead of Promtail
/// (`stack/docker-compose.alloy.yml`): clean, and the graph draws Alloy reading the
/// app's logs and pushing to Loki with the stack's tenant, where Promtail did.
#[test]
fn bundled_stack_with_the_alloy_overlay_is_clean_and_ships_the_apps_logs() {
    let d = common::stack_dir();
    let alloy = LintOptions { compose_files: vec!["docker-compose.yml".into(), "docker-compose.alloy.yml".into()], ..opts() };
    let r = lint::lint(&d, &alloy).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
    let m = StackModel::load(&d, &["docker-compose.yml".into(), "docker-compose.alloy.yml".into()]).unwrap();
    assert!(m.node("promtail").is_none(), "Promtail is in a profile that is not enabled");
    assert_eq!(m.node("alloy").map(|n| n.kind), Some("alloy"));
    let from_alloy: Vec<(&str, &str)> = m.links.iter().filter(|l| l.from == "alloy").map(|l| (l.to.as_deref().unwrap_or(""), l.what.as_str())).collect();
    assert!(from_alloy.contains(&("loki", "push logs (loki.write.loki)")) && from_alloy.contains(&("app", "read logs (loki.source.docker.app)")), "{from_alloy:?}");
    // Its twin: Alloy pushing to a port Loki does not listen on.
    let broken = common::broken_copy(&[("alloy/config.alloy", "http://loki:3100/loki/api/v1/push", "http://loki:3101/loki/api/v1/push")]);
    let r = lint::lint(broken.path(), &alloy).unwrap();
    assert!(r.findings.iter().any(|f| f.rule == "alloy-endpoint-unknown-service" && f.file == "alloy/config.alloy"), "{}", r.render_text());
}

#[test]
fn bundled_stack_is_clean_with_the_secure_override_and_in_prod() {
    let d = common::stack_dir();
    let secure = LintOptions { compose_files: vec!["docker-compose.yml".into(), "docker-compose.secure.yml".into()], ..opts() };
    let r = lint::lint(&d, &secure).unwrap();
    let links: Vec<_> = r.findings.iter().filter(|f| f.rule.starts_with("link-") || f.rule.ends_with("-unknown-service") || f.rule == "collector-no-trace-store").collect();
    assert!(links.is_empty(), "{links:?}");
    let r = lint::lint(&d, &opts()).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
}

#[test]
fn listeners_come_from_each_services_config_flags_and_environment() {
    let d = common::broken_copy(&[
        ("loki/config.yaml", "http_listen_port: 3100", "http_listen_port: 3101"),
        ("docker-compose.yml", "      - --storage.path=/alertmanager\n", "      - --storage.path=/alertmanager\n      - --web.listen-address=0.0.0.0:9193\n"),
        ("docker-compose.yml", "      - GF_AUTH_ANONYMOUS_ENABLED=true\n", "      - GF_AUTH_ANONYMOUS_ENABLED=true\n      - GF_SERVER_HTTP_PORT=3001\n"),
    ]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    let ports = |s: &str| m.node(s).unwrap().listeners.iter().map(|l| (l.port, l.proto)).collect::<Vec<_>>();
    assert_eq!(ports("loki"), [(3101, Proto::Http), (9096, Proto::Grpc)]);
    let loki = m.node("loki").unwrap().listener(3101).unwrap();
    assert_eq!(loki.at.as_ref().map(|o| (o.file.as_str(), o.line)), Some(("loki/config.yaml", 7)));
    assert_eq!(ports("alertmanager"), [(9193, Proto::Http), (9094, Proto::Gossip)]);
    assert_eq!(ports("grafana"), [(3001, Proto::Http)]);
    assert_eq!(ports("otel-collector"), [(4317, Proto::OtlpGrpc), (4318, Proto::OtlpHttp), (13133, Proto::Http), (8888, Proto::Http)]);
    assert_eq!(ports("jaeger"), [(4317, Proto::OtlpGrpc), (4318, Proto::OtlpHttp), (16686, Proto::Http), (16685, Proto::Grpc), (13133, Proto::Http)]);
    // Promtail's grpc_listen_port: 0 (off) is not a listener.
    assert_eq!(ports("promtail"), [(9080, Proto::Http)]);
}

#[test]
fn the_lifecycle_starts_each_service_with_the_models_ports() {
    let d = common::broken_copy(&[("loki/config.yaml", "http_listen_port: 3100", "http_listen_port: 3101")]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    let project = obs_harness::stack::compose::ComposeProject::load(&d.path().join("docker-compose.yml")).unwrap();
    for n in m.nodes.iter().filter(|n| !n.virtual_node) {
        let plan = &project.services[&n.name];
        for l in &n.listeners {
            assert!(plan.ports.contains(&l.port), "{}: the model listens on {} but the lifecycle does not expose it: {:?}", n.name, l.port, plan.ports);
        }
    }
    let loki = &project.services["loki"];
    let probe = obs_harness::stack::probe::probe_for(loki, &loki.image);
    assert_eq!(probe.to_string(), "GET :3101/ready");
}

#[test]
fn graph_draws_every_link_with_protocol_and_port_and_marks_broken_ones() {
    let m = StackModel::load(&common::stack_dir(), &[]).unwrap();
    let g = Graph::of(&m, &|_| None);
    let edge = |from: &str, to: &str| g.edges.iter().find(|e| e.from == from && e.to == to).unwrap_or_else(|| panic!("no edge {from} -> {to}: {:#?}", g.edges));
    assert_eq!((edge("app", "otel-collector").proto.as_str(), edge("app", "otel-collector").port), ("otlp/grpc", 4317));
    assert_eq!(edge("otel-collector", "jaeger").port, 4317);
    assert_eq!(edge("prometheus", "app").port, 8000);
    assert_eq!(edge("promtail", "loki").port, 3100);
    assert_eq!(edge("grafana", "jaeger").port, 16686);
    assert_eq!(edge("loki", "alertmanager").port, 9093);
    assert_eq!(edge("alertmanager", "harness-webhook").port, 9099);
    assert_eq!(edge("promtail", "app").proto, "docker logs");
    assert!(g.edges.iter().all(|e| e.broken.is_none()), "{:#?}", g.edges);

    let d = common::broken_copy(&[("otel-collector/config.yaml", "endpoint: jaeger:4317", "endpoint: jaeger:4318")]);
    let m = StackModel::load(d.path(), &[]).unwrap();
    let g = Graph::of(&m, &|_| None);
    let e = g.edges.iter().find(|e| e.from == "otel-collector" && e.to == "jaeger").unwrap();
    assert!(e.broken.as_deref().is_some_and(|b| b.starts_with("link-protocol-mismatch")), "{e:?}");
    let mermaid = g.render(Format::Mermaid);
    assert!(mermaid.contains("otel_collector -. \"✗ otlp/grpc :4318"), "{mermaid}");
    let dot = g.render(Format::Dot);
    assert!(dot.contains("\"otel-collector\" -> \"jaeger\"") && dot.contains("style=dashed"), "{dot}");
    let json: serde_json::Value = serde_json::from_str(&g.render(Format::Json)).unwrap();
    assert!(json["edges"].as_array().unwrap().iter().any(|e| e["broken"].is_string()));
}

#[test]
fn readme_embeds_the_bundled_stacks_graph_as_the_command_draws_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["graph", "stack", "--format", "mermaid"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let drawn = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let embedded = format!("```mermaid\n{drawn}```");
    assert!(readme.contains(&embedded), "README.md's graph is stale: replace the ```mermaid block under \"The stack's data flow\" with the output of `obs-harness graph stack --format mermaid`:\n{drawn}");
}

#[test]
fn graph_of_a_missing_stack_is_a_located_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_obs-harness")).args(["graph", "/nonexistent-stack"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-stack"));
}

#[test]
fn a_runs_graph_colours_each_link_by_the_checks_that_exercise_it() {
    use obs_harness::checks::{CheckResult, Verdict};
    use obs_harness::graph::EdgeState;
    use std::time::Duration;
    let m = StackModel::load(&common::stack_dir(), &[]).unwrap();
    let g = Graph::of(&m, &|_| None);
    let checks = vec![
        CheckResult::new("signals", "prometheus.target_up.fastapi", Verdict::Failed { message: "target down: 404".into() }, Duration::ZERO),
        CheckResult::new("alerts", "alerts.HighErrorRate", Verdict::NotRun { reason: "blocked by `prometheus.target_up.fastapi`: target down".into() }, Duration::ZERO),
        CheckResult::new("signals", "loki.tenant", Verdict::Passed { detail: "ok".into() }, Duration::ZERO),
        CheckResult::new("signals", "reachability.jaeger", Verdict::Failed { message: "refused".into() }, Duration::ZERO),
    ];
    let c = g.coloured(&checks);
    let state = |from: &str, to: &str| c.edges.iter().find(|e| e.from == from && e.to == to).and_then(|e| e.state);
    assert_eq!(state("prometheus", "app"), Some(EdgeState::Failed));
    assert_eq!(state("prometheus", "alertmanager"), Some(EdgeState::Blocked));
    assert_eq!(state("promtail", "loki"), Some(EdgeState::Passed));
    assert_eq!(state("grafana", "jaeger"), Some(EdgeState::Failed), "an unreachable target fails the links into it");
    assert_eq!(state("loki", "alertmanager"), Some(EdgeState::NotRun));

    let mut report = obs_harness::report::RunReport::new("test", "faithful");
    report.checks = checks;
    report.graph = Some(g);
    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    let mmd = std::fs::read_to_string(dir.path().join("graph.mmd")).unwrap();
    assert!(mmd.starts_with("flowchart LR") && mmd.contains("stroke:#d62728"), "{mmd}");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("graph.json")).unwrap()).unwrap();
    assert!(json["edges"].as_array().unwrap().iter().any(|e| e["state"] == "failed"));
}
