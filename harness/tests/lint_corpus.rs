//! Every dashboard and rule file of the real-world corpus is read without crashing and
//! every query in it parses after Grafana variable substitution.
//! Corpus: `$OBS_CORPUS_DIR`, default `<workspace>/../shared/corpus`.

use obs_harness::lint::dashboards::{self, Lang};
use obs_harness::lint::rules::{self, RuleFileKind};
use obs_harness::lint::{logql, promql};
use std::path::{Path, PathBuf};

/// Queries that are invalid upstream: (file, start of query, reason).
const KNOWN_INVALID: &[(&str, &str, &str)] = &[];

fn corpus() -> PathBuf {
    let dir = std::env::var_os("OBS_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(
        dir.join("dashboards").is_dir() && dir.join("rules").is_dir(),
        "corpus not found at {} (set OBS_CORPUS_DIR to the folder holding dashboards/ and rules/)",
        dir.display()
    );
    dir
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn known(file: &str, q: &str) -> bool {
    KNOWN_INVALID
        .iter()
        .any(|(f, start, _)| file.ends_with(f) && q.trim_start().starts_with(start))
}

fn check(file: &str, q: &str, lang: &Lang, failures: &mut Vec<String>) -> bool {
    let res = match lang {
        Lang::PromQL => promql::parse(q).map(|_| ()),
        Lang::LogQL => logql::check(q),
        Lang::Other(_) => return false,
    };
    if let Err(e) = res
        && !known(file, q)
    {
        failures.push(format!("{file}: {lang:?} `{q}`: {e}"));
    }
    true
}

#[test]
fn corpus_dashboards_parse() {
    let mut failures = Vec::new();
    let (mut prom, mut loki, mut n) = (0, 0, 0);
    for f in files(&corpus().join("dashboards")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (qs, _) = dashboards::extract(&v, &[]);
        assert!(!qs.is_empty(), "{}: no queries found", f.display());
        n += 1;
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for q in qs {
            if check(&name, &q.expr, &q.lang, &mut failures) {
                match q.lang {
                    Lang::PromQL => prom += 1,
                    Lang::LogQL => loki += 1,
                    Lang::Other(_) => {}
                }
            }
        }
        if name.starts_with("grafana_loki__loki-logs")
            || name.starts_with("grafana_loki__loki-deletion")
        {
            let (qs, _) = dashboards::extract(&v, &[]);
            assert!(
                qs.iter().any(|q| q.lang == Lang::LogQL),
                "{name}: LogQL targets not recognised"
            );
        }
    }
    assert!(n >= 16, "only {n} dashboards");
    assert!(prom > 500 && loki > 0, "prom {prom}, loki {loki}");
    assert!(
        failures.is_empty(),
        "{} invalid queries:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_rule_files_parse_and_are_classified() {
    let mut failures = Vec::new();
    let mut kinds = Vec::new();
    for f in files(&corpus().join("rules")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let v: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (kind, exprs) = rules::analyse(&v, false);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!exprs.is_empty(), "{name}: no expressions");
        let lang = if kind == RuleFileKind::Loki {
            Lang::LogQL
        } else {
            Lang::PromQL
        };
        for r in &exprs {
            check(&name, &r.expr, &lang, &mut failures);
        }
        kinds.push((name, kind));
    }
    let kind_of = |p: &str| {
        kinds
            .iter()
            .find(|(n, _)| n.starts_with(p))
            .map(|(_, k)| *k)
    };
    assert_eq!(
        kind_of("grafana_loki__docker-logql_rules"),
        Some(RuleFileKind::Loki)
    );
    assert_eq!(
        kind_of("open-telemetry_opentelemetry-demo__opentelemetry-collector-rules"),
        Some(RuleFileKind::GrafanaAlerting)
    );
    assert_eq!(
        kind_of("grafana_loki__loki-mixin_alerts"),
        Some(RuleFileKind::Prometheus)
    );
    assert_eq!(
        kind_of("samber_awesome-prometheus-alerts__kubestate-exporter"),
        Some(RuleFileKind::Prometheus)
    );
    assert!(
        failures.is_empty(),
        "{} invalid queries:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
