//! Every public stack of `../shared/stacks/` is read: `lint`, `profile` and `graph`
//! exit 0 or 1 (never 2), and `graph` draws the links its configs define between the
//! services this tool models.
//!
//! The stacks are third-party files read in place through `OBS_STACKS_DIR`, which
//! `.ci/run` sets (never copied into the project); without it the test fails,
//! saying where to point it. Each row runs the stack the way its `MANIFEST.md`
//! says (compose files, `--env-file`, `--profile`) with the installed binary.

use std::path::PathBuf;
use std::process::Command;

fn stacks_dir() -> PathBuf {
    let dir = std::env::var_os("OBS_STACKS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/stacks"));
    assert!(dir.join("MANIFEST.md").is_file(), "the public stacks are not at {} (hint: set OBS_STACKS_DIR to shared/stacks, as .ci/run does)", dir.display());
    dir
}

/// (folder of the compose file, extra arguments, links the graph must draw as `from->to`).
const STACKS: &[(&str, &[&str], &[&str])] = &[
    ("grafana_alloy-scenarios__promtail-to-alloy-migration/promtail-to-alloy-migration", &["--env-file", "../image-versions.env"], &["promtail->loki"]),
    ("grafana_alloy-scenarios__otel-basic-tracing/otel-basic-tracing", &["--env-file", "../image-versions.env"], &["demo-app->alloy"]),
    ("grafana_alloy-scenarios__otel-basic-tracing/otel-basic-tracing", &["--env-file", "../image-versions.env", "-f", "docker-compose.yml", "-f", "docker-compose-otel.yml"], &["demo-app->alloy"]),
    ("grafana_tempo__migrate-to-3/example/docker-compose/migrate-to-3", &["--profile", "v2", "--profile", "v3"], &["grafana->prometheus", "grafana->tempo-v3-query-frontend", "prometheus->tempo-v2-distributor"]),
    ("jaegertracing_jaeger__tail-sampling/docker-compose/tail-sampling", &[], &["tracegen->otel_collector"]),
    ("jaegertracing_jaeger__kafka/docker-compose/kafka", &[], &["jaeger-query->jaeger-collector"]),
    ("jaegertracing_jaeger__grafana-integration/examples/grafana-integration", &[], &["grafana->jaeger", "grafana->loki", "grafana->prometheus", "prometheus->hotrod"]),
    ("kubeshop_tracetest__observability-stack/examples/observability-stack", &[], &["otel-collector->tempo", "prometheus->otel-collector", "grafana->tempo"]),
    ("kubeshop_tracetest__observability-stack/examples/observability-stack", &["-f", "docker-compose.yaml", "-f", "docker-compose.tracetest.yaml"], &["otel-collector->tempo"]),
    ("docker_awesome-compose__prometheus-grafana/prometheus-grafana", &[], &["grafana->prometheus"]),
    ("vegasbrianc_prometheus", &[], &["grafana->prometheus", "prometheus->alertmanager", "prometheus->node-exporter"]),
    ("stefanprodan_swarmprom", &[], &[]),
    ("stefanprodan_swarmprom", &["-f", "docker-compose.traefik.yml"], &[]),
    ("grafana_loki__getting-started/examples/getting-started", &[], &[]),
    ("ruanbekker_docker-monitoring-stack-gpnc", &[], &["promtail->loki", "loki->alertmanager", "prometheus->alertmanager", "grafana->loki", "alertmanager->uncomplicated-alert-receiver"]),
    ("cortexproject_cortex__getting-started/docs/getting-started", &[], &["prometheus->cortex", "grafana->cortex"]),
];

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_public_stack_is_read_and_drawn() {
    let root = stacks_dir();
    let mut problems = Vec::new();
    let folders: std::collections::BTreeSet<&str> = STACKS.iter().map(|(f, _, _)| f.split('/').next().unwrap()).collect();
    for e in std::fs::read_dir(&root).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !folders.contains(name.as_str()) {
            problems.push(format!("{name}: a stack of MANIFEST.md this test does not run (add a row)"));
        }
    }
    for (folder, extra, links) in STACKS {
        let dir = root.join(folder);
        let with = |cmd: &[&str]| -> Vec<String> { cmd.iter().chain([&"."]).chain(extra.iter()).map(|s| s.to_string()).collect() };
        let label = format!("{folder} {}", extra.join(" "));
        let (code, out, err) = run(&dir, &with(&["lint", "--no-external"]).iter().map(String::as_str).collect::<Vec<_>>());
        if !(code == 0 || code == 1) {
            problems.push(format!("{label}: lint exited {code}: {err}{out}"));
        }
        let (code, _, err) = run(&dir, &with(&["profile"]).iter().map(String::as_str).collect::<Vec<_>>());
        if !(code == 0 || code == 1) {
            problems.push(format!("{label}: profile exited {code}: {err}"));
        }
        let (code, out, err) = run(&dir, &with(&["graph", "--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
        if code != 0 {
            problems.push(format!("{label}: graph exited {code}: {err}"));
            continue;
        }
        let g: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{label}: graph JSON: {e}"));
        let drawn: Vec<String> = g["edges"].as_array().unwrap().iter().filter_map(|e| Some(format!("{}->{}", e["from"].as_str()?, e["to"].as_str()?))).collect();
        for l in *links {
            if !drawn.iter().any(|d| d == l) {
                problems.push(format!("{label}: graph does not draw {l} (it draws {drawn:?})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
