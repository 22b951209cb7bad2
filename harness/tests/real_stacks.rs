//! Every public stack of `../shared/stacks/` is read: `lint`, `profile` and `graph`
//! exit 0 or 1 (never 2), and `graph` draws the links its configs define between the
//! services this tool models. `lint` reports each problem its `MANIFEST.md` lists at
//! its file and line, and no other error; the graph marks the kinds it does not model.
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

/// (folder of the compose file, extra arguments, links the graph must draw as `from->to`,
/// the errors lint must report as `file:line` or `file:first-last`: MANIFEST.md's "Known
/// problems", exactly).
type Row = (&'static str, &'static [&'static str], &'static [&'static str], &'static [&'static str]);
const STACKS: &[Row] = &[
    ("grafana_alloy-scenarios__promtail-to-alloy-migration/promtail-to-alloy-migration", &["--env-file", "../image-versions.env"], &["promtail->loki", "alloy->loki"], &[]),
    ("grafana_alloy-scenarios__otel-basic-tracing/otel-basic-tracing", &["--env-file", "../image-versions.env"], &["demo-app->alloy", "alloy->tempo"], &["docker-compose.yml:103"]),
    ("grafana_alloy-scenarios__otel-basic-tracing/otel-basic-tracing", &["--env-file", "../image-versions.env", "-f", "docker-compose.yml", "-f", "docker-compose-otel.yml"], &["demo-app->alloy"], &[]),
    ("grafana_tempo__migrate-to-3/example/docker-compose/migrate-to-3", &["--profile", "v2", "--profile", "v3"], &["grafana->prometheus", "grafana->tempo-v3-query-frontend", "prometheus->tempo-v2-distributor"], &[]),
    ("jaegertracing_jaeger__tail-sampling/docker-compose/tail-sampling", &[], &["tracegen->otel_collector", "otel_collector->jaeger"], &[]),
    ("jaegertracing_jaeger__kafka/docker-compose/kafka", &[], &["jaeger-query->jaeger-collector", "jaeger-collector->kafka"], &["v3/docker-compose.yml:19", "../../cmd/jaeger/config-kafka-collector.yaml:29-38", "../../cmd/jaeger/config-query.yaml:40"]),
    ("jaegertracing_jaeger__grafana-integration/examples/grafana-integration", &[], &["grafana->jaeger", "grafana->loki", "grafana->prometheus", "prometheus->hotrod"], &["grafana/datasources.yaml:15-16", "docker-compose.yaml:42"]),
    ("kubeshop_tracetest__observability-stack/examples/observability-stack", &[], &["otel-collector->tempo", "prometheus->otel-collector", "grafana->tempo"], &[]),
    ("kubeshop_tracetest__observability-stack/examples/observability-stack", &["-f", "docker-compose.yaml", "-f", "docker-compose.tracetest.yaml"], &["otel-collector->tempo"], &[]),
    ("docker_awesome-compose__prometheus-grafana/prometheus-grafana", &[], &["grafana->prometheus"], &["prometheus/prometheus.yml:11"]),
    ("vegasbrianc_prometheus", &[], &["grafana->prometheus", "prometheus->alertmanager", "prometheus->node-exporter"], &[]),
    ("stefanprodan_swarmprom", &[], &[], &[]),
    ("stefanprodan_swarmprom", &["-f", "docker-compose.traefik.yml"], &[], &[]),
    ("grafana_loki__getting-started/examples/getting-started", &[], &["alloy->gateway"], &[]),
    (
        "ruanbekker_docker-monitoring-stack-gpnc",
        &[],
        &["promtail->loki", "loki->alertmanager", "prometheus->alertmanager", "grafana->loki", "alertmanager->uncomplicated-alert-receiver"],
        &["configs/prometheus/alerting-rules.yml:22-48", "configs/prometheus/alerting-rules.yml:52-74", "configs/prometheus/alerting-rules.yml:78-104", "configs/prometheus/alerting-rules.yml:108-130", "configs/prometheus/alerting-rules.yml:160-166", "dashboards/node-metrics.json:336", "dashboards/node-metrics.json:347", "dashboards/node-metrics.json:358", "dashboards/node-metrics.json:681"],
    ),
    ("cortexproject_cortex__getting-started/docs/getting-started", &[], &["prometheus->cortex", "grafana->cortex"], &[]),
];

/// `file:line` or `file:first-last` holds `(file, line)`.
fn covers(expected: &str, file: &str, line: u64) -> bool {
    let Some((f, lines)) = expected.rsplit_once(':') else { return false };
    let (a, b) = lines.split_once('-').unwrap_or((lines, lines));
    f == file && (a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap()).contains(&line)
}

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).current_dir(dir).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn every_public_stack_is_read_and_drawn() {
    let root = stacks_dir();
    let mut problems = Vec::new();
    let mut hints: Vec<(String, String, String)> = Vec::new();
    let folders: std::collections::BTreeSet<&str> = STACKS.iter().map(|(f, _, _, _)| f.split('/').next().unwrap()).collect();
    for e in std::fs::read_dir(&root).unwrap().flatten().filter(|e| e.path().is_dir()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !folders.contains(name.as_str()) {
            problems.push(format!("{name}: a stack of MANIFEST.md this test does not run (add a row)"));
        }
    }
    let svc_port = regex::Regex::new(r"point it at `([\w.-]+):(\d+)`").unwrap();
    let use_port = regex::Regex::new(r"use port (\d+)").unwrap();
    let target = regex::Regex::new(r"(?:service `([\w.-]+)` does not listen|port \d+ of `([\w.-]+)`)").unwrap();
    for (folder, extra, links, errors) in STACKS {
        let dir = root.join(folder);
        let with = |cmd: &[&str]| -> Vec<String> { cmd.iter().chain([&"."]).chain(extra.iter()).map(|s| s.to_string()).collect() };
        let label = format!("{folder} {}", extra.join(" "));
        let (code, out, err) = run(&dir, &with(&["lint", "--no-external", "--format", "json"]).iter().map(String::as_str).collect::<Vec<_>>());
        if !(code == 0 || code == 1) {
            problems.push(format!("{label}: lint exited {code}: {err}{out}"));
        } else {
            let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{label}: lint JSON: {e}"));
            let found: Vec<(String, u64, String)> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["severity"] == "error")
                .map(|f| (f["file"].as_str().unwrap().to_owned(), f["line"].as_u64().unwrap(), format!("{} {}", f["rule"].as_str().unwrap(), f["message"].as_str().unwrap())))
                .collect();
            // Every hint names a change that would fix this stack: a port or a service:port
            // the model knows serves it (checked against the graph's listeners below).
            for f in report["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == "error") {
                let hint = f["hint"].as_str().unwrap_or_default();
                if hint.trim().is_empty() {
                    problems.push(format!("{label}: {}:{} {} has no hint", f["file"], f["line"], f["rule"]));
                }
                hints.push((label.clone(), f["message"].as_str().unwrap_or_default().to_owned(), hint.to_owned()));
            }
            for (file, line, what) in &found {
                if !errors.iter().any(|e| covers(e, file, *line)) {
                    problems.push(format!("{label}: an error MANIFEST.md does not list: {file}:{line} {what}"));
                }
            }
            for e in *errors {
                if !found.iter().any(|(f, l, _)| covers(e, f, *l)) {
                    problems.push(format!("{label}: MANIFEST.md's problem at {e} is not reported"));
                }
            }
            if (code == 1) == found.is_empty() {
                problems.push(format!("{label}: lint exited {code} with {} error(s)", found.len()));
            }
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
        let listens = |svc: &str, port: &str| g["nodes"].as_array().unwrap().iter().any(|n| n["name"] == svc && n["listens"].as_array().unwrap().iter().any(|l| l.as_str().unwrap_or_default().split(' ').next() == Some(port)));
        for (_, message, hint) in hints.iter().filter(|(l, ..)| *l == label) {
            if let Some(c) = svc_port.captures(hint)
                && !listens(&c[1], &c[2])
            {
                problems.push(format!("{label}: hint names `{}:{}`, which does not listen there: {hint}", &c[1], &c[2]));
            }
            if let (Some(p), Some(t)) = (use_port.captures(hint), target.captures(message)) {
                let svc = t.get(1).or(t.get(2)).unwrap().as_str();
                if !listens(svc, &p[1]) {
                    problems.push(format!("{label}: hint says use port {} of `{svc}`, which does not listen there: {hint}", &p[1]));
                }
            }
        }
        let drawn: Vec<String> = g["edges"].as_array().unwrap().iter().filter_map(|e| Some(format!("{}->{}", e["from"].as_str()?, e["to"].as_str()?))).collect();
        // Kinds the model does not know are marked so, never judged.
        for n in g["nodes"].as_array().unwrap() {
            if n["kind"] == "service" && n["modelled"] != false {
                problems.push(format!("{label}: node {} is of an unknown kind but not marked `modelled: false`", n["name"]));
            }
        }
        for l in *links {
            if !drawn.iter().any(|d| d == l) {
                problems.push(format!("{label}: graph does not draw {l} (it draws {drawn:?})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
