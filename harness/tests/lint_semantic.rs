//! Semantic query rules (issue #13): mistakes that give a silent empty panel.
//! Each broken copy of the bundled stack gives exactly one finding, at the query's
//! file and line; near misses give none. The corpus of public dashboards and rule
//! files gives no `promql-quantile-without-le` finding.

mod common;

use obs_harness::lint::dashboards::{self, Lang};
use obs_harness::lint::rules::{self, RuleFileKind};
use obs_harness::lint::{self, LintOptions, Profile, Report, promql};
use std::path::{Path, PathBuf};

fn opts(catalogue: bool) -> LintOptions {
    LintOptions {
        profile: Profile::Dev,
        catalogue: catalogue.then(|| common::stack_dir().join("../fixtures/catalogue/reference-app.prom")),
        external: false,
        compose_files: vec![],
        images: Default::default(),
        ..Default::default()
    }
}



const DASH: &str = "grafana/dashboards/fastapi-overview.json";
const ALERTS: &str = "prometheus/rules/alerts.yml";
const LOKI_RULES: &str = "loki/rules/docker/rules.yml";
const COMPOSE: &str = "docker-compose.yml";

struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str, &'static str)],
    rule: &'static str,
    at: &'static str,
    /// The finding's line is the first line of `at` (after the edits) containing this.
    line_of: &'static str,
    /// Words the message must contain.
    message: &'static [&'static str],
    /// Words the hint must contain.
    hint: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "histogram_quantile over a sum by (handler): le dropped",
        edits: &[(DASH, "sum by (le, handler) (rate(http_request_duration_seconds_bucket", "sum by (handler) (rate(http_request_duration_seconds_bucket")],
        rule: "promql-quantile-without-le",
        at: DASH,
        line_of: "histogram_quantile(0.95, sum by (handler)",
        message: &["`sum by (handler)`", "`http_request_duration_seconds_bucket`", "le"],
        hint: &["sum by (le, handler)"],
    },
    Case {
        name: "histogram_quantile over a plain sum in an alert rule",
        edits: &[(ALERTS, "histogram_quantile(0.95, sum by (le) (rate(", "histogram_quantile(0.95, sum(rate(")],
        rule: "promql-quantile-without-le",
        at: ALERTS,
        line_of: "histogram_quantile(0.95, sum(rate(",
        message: &["rule ", "`sum(...)`"],
        hint: &["sum by (le)"],
    },
    Case {
        name: "histogram_quantile over sum without (le)",
        edits: &[(DASH, "sum by (le, handler) (rate(http_request_duration_seconds_bucket", "sum without (le) (rate(http_request_duration_seconds_bucket")],
        rule: "promql-quantile-without-le",
        at: DASH,
        line_of: "sum without (le)",
        message: &["`sum without (le)`"],
        hint: &["without"],
    },
    Case {
        name: "rate over a gauge",
        edits: &[(DASH, "\"time() - process_start_time_seconds{job=\\\"fastapi\\\"}\"", "\"rate(process_open_fds{job=\\\"fastapi\\\"}[5m])\"")],
        rule: "promql-rate-non-counter",
        at: DASH,
        line_of: "rate(process_open_fds",
        message: &["`process_open_fds` is a gauge"],
        hint: &["deriv("],
    },
    Case {
        name: "rate over a histogram's family name",
        edits: &[(DASH, "rate(http_request_duration_seconds_bucket{", "rate(http_request_duration_seconds{")],
        rule: "promql-rate-non-counter",
        at: DASH,
        line_of: "rate(http_request_duration_seconds{",
        message: &["`http_request_duration_seconds` is a histogram"],
        hint: &["`http_request_duration_seconds_bucket`", "`http_request_duration_seconds_count`"],
    },
    Case {
        name: "increase over a summary's quantile series in an alert rule",
        edits: &[(ALERTS, "sum by (job) (rate(http_requests_total{job=\"fastapi\"}[5m]))", "sum by (job) (increase(http_request_size_bytes{job=\"fastapi\"}[5m]))")],
        rule: "promql-rate-non-counter",
        at: ALERTS,
        line_of: "increase(http_request_size_bytes",
        message: &["`http_request_size_bytes` is a summary", "no series has that name"],
        hint: &["`http_request_size_bytes_sum`"],
    },
    Case {
        name: "histogram_quantile over a histogram's _count",
        edits: &[(
            DASH,
            "sum by (le, handler) (rate(http_request_duration_seconds_bucket{job=\\\"fastapi\\\"}[$__rate_interval])))",
            "rate(http_request_duration_seconds_count{job=\\\"fastapi\\\"}[$__rate_interval]))",
        )],
        rule: "promql-quantile-non-histogram",
        at: DASH,
        line_of: "rate(http_request_duration_seconds_count",
        message: &["`http_request_duration_seconds_count`", "no `le`"],
        hint: &["`http_request_duration_seconds_bucket`"],
    },
    Case {
        name: "dashboard log panel on a service value no stream has",
        edits: &[(DASH, "\"{service=\\\"app\\\"}\"", "\"{service=\\\"api\\\"}\"")],
        rule: "logql-unknown-label-value",
        at: DASH,
        line_of: "{service=\\\"api\\\"}",
        message: &["`service=\"api\"`", "`app`"],
        hint: &["`app`", "promtail/config.yaml"],
    },
    Case {
        name: "Loki ruler rule on a service value no stream has",
        edits: &[(LOKI_RULES, "{service=\"app\"}", "{service=\"backend\"}")],
        rule: "logql-unknown-label-value",
        at: LOKI_RULES,
        line_of: "{service=\"backend\"}",
        message: &["rule AppErrorLogsHigh", "`service=\"backend\"`"],
        hint: &["`app`"],
    },
    Case {
        name: "Loki ruler rule on a regex of values no stream has",
        edits: &[(LOKI_RULES, "{service=\"app\"}", "{service=~\"api|backend\"}")],
        rule: "logql-unknown-label-value",
        at: LOKI_RULES,
        line_of: "{service=~\"api|backend\"}",
        message: &["`service=~\"api|backend\"`"],
        hint: &["`app`"],
    },
    Case {
        name: "log panel on a container name that is fixed by compose",
        edits: &[(DASH, "\"{service=\\\"app\\\"}\"", "\"{container=\\\"app\\\"}\"")],
        rule: "logql-unknown-label-value",
        at: DASH,
        line_of: "{container=\\\"app\\\"}",
        message: &["`container=\"app\"`", "`api`"],
        hint: &["`api`"],
    },
    Case {
        name: "log panel on the Promtail job under another name",
        edits: &[(DASH, "\"{service=\\\"app\\\"}\"", "\"{job=\\\"varlogs\\\"}\"")],
        rule: "logql-unknown-label-value",
        at: DASH,
        line_of: "{job=\\\"varlogs\\\"}",
        message: &["`job=\"varlogs\"`", "`docker`"],
        hint: &["`docker`"],
    },
    Case {
        name: "env label value the compose file does not set",
        edits: &[(LOKI_RULES, "{service=\"app\"}", "{service=\"app\", env=\"prod\"}")],
        rule: "logql-unknown-label-value",
        at: LOKI_RULES,
        line_of: "env=\"prod\"",
        message: &["`env=\"prod\"`", "`dev`"],
        hint: &["`dev`"],
    },
    Case {
        name: "job regex naming no scrape job",
        edits: &[(DASH, "\"up{job=\\\"fastapi\\\"}\"", "\"up{job=~\\\"fastapi-app|api\\\"}\"")],
        rule: "promql-unknown-job",
        at: DASH,
        line_of: "fastapi-app|api",
        message: &["`job=~\"fastapi-app|api\"`"],
        hint: &["job_name"],
    },
];

fn check_case(c: &Case, catalogue: bool) -> Option<String> {
    let dir = common::broken_copy(c.edits);
    let r: Report = lint::lint(dir.path(), &opts(catalogue)).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let got: Vec<(&str, &str, usize)> = r.findings.iter().map(|f| (f.rule.as_str(), f.file.as_str(), f.line)).collect();
    let line = common::line_in(dir.path(), c.at, c.line_of);
    let ok = match r.findings.as_slice() {
        [f] => {
            f.rule == c.rule
                && f.file == c.at
                && f.line == line
                && c.message.iter().all(|w| f.message.contains(w))
                && c.hint.iter().all(|w| f.hint.as_deref().unwrap_or("").contains(w))
        }
        _ => false,
    };
    (!ok).then(|| format!("{} (catalogue file: {catalogue}): expected one {} at {}:{line}, got {got:?}\n{}", c.name, c.rule, c.at, r.render_text()))
}

#[test]
fn broken_stacks_give_exactly_the_semantic_finding() {
    let failures: Vec<String> = CASES.iter().filter_map(|c| check_case(c, true)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_same_with_the_built_in_catalogue() {
    let failures: Vec<String> = CASES.iter().filter_map(|c| check_case(c, false)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quantile_without_le_needs_no_catalogue() {
    // Not the reference app: no catalogue at all, the structural rule still applies.
    let dir = common::broken_copy(&[
        (COMPOSE, "      obs-harness.role: reference-app\n", ""),
        (DASH, "sum by (le, handler) (rate(http_request_duration_seconds_bucket", "sum by (handler) (rate(http_request_duration_seconds_bucket"),
    ]);
    let r = lint::lint(dir.path(), &opts(false)).unwrap();
    assert!(r.skipped.iter().any(|s| s.name == "metric catalogue"));
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["promql-quantile-without-le"], "{}", r.render_text());
}

#[test]
fn near_misses_give_no_finding() {
    for edits in [
        // another value of the same set, a regex with one produced alternative, a
        // regex that is not a literal alternation, a label whose values come from
        // the log line, a Grafana variable
        &[(LOKI_RULES, "{service=\"app\"}", "{service=~\"app|worker\"}")][..],
        &[(LOKI_RULES, "{service=\"app\"}", "{service=~\"ap.*\"}")],
        &[(LOKI_RULES, "{service=\"app\"}", "{service=\"app\", level=\"NOPE\"}")],
        &[(LOKI_RULES, "{service=\"app\"}", "{service=\"app\", container=\"api\", job=\"docker\", version=\"0.1.0\", env=\"dev\"}")],
        &[(LOKI_RULES, "{service=\"app\"}", "{service!=\"nope\", service_name=\"whatever\"}")],
        &[(DASH, "\"{service=\\\"app\\\"}\"", "\"{service=~\\\"$service\\\"}\"")],
        &[(DASH, "\"{service=\\\"app\\\"}\"", "\"{service=\\\"${service}\\\"}\"")],
        // no container_name: the container label follows the project name
        &[(COMPOSE, "    container_name: api\n", ""), (LOKI_RULES, "{service=\"app\"}", "{service=\"app\", container=\"whatever\"}")],
        // a compose label from the environment: its value is not known
        &[(COMPOSE, "      version: \"0.1.0\"\n", "      version: \"${APP_VERSION:-0.1.0}\"\n"), (LOKI_RULES, "{service=\"app\"}", "{service=\"app\", version=\"0.2.0\"}")],
        // a label Promtail reads from a container label compose does not set (the image may)
        &[(COMPOSE, "      env: dev\n", ""), (LOKI_RULES, "{service=\"app\"}", "{service=\"app\", env=\"prod\"}")],
        // streams Promtail ships from elsewhere too: nothing is known
        &[(
            "promtail/config.yaml",
            "scrape_configs:\n",
            "scrape_configs:\n  - job_name: varlogs\n    static_configs:\n      - targets: [localhost]\n        labels: {job: varlogs, __path__: /var/log/*.log}\n",
        ), (LOKI_RULES, "{service=\"app\"}", "{job=\"varlogs\"}")],
        // PromQL: one alternative is a job; a variable
        &[(DASH, "\"up{job=\\\"fastapi\\\"}\"", "\"up{job=~\\\"fastapi|api\\\"}\"")],
        &[(DASH, "\"up{job=\\\"fastapi\\\"}\"", "\"up{job=~\\\"$job\\\"}\"")],
        &[(DASH, "\"up{job=\\\"fastapi\\\"}\"", "\"up{job=\\\"$job\\\"}\"")],
        // PromQL: le kept
        &[(DASH, "sum by (le, handler) (rate(http_request_duration_seconds_bucket", "sum without (instance) (rate(http_request_duration_seconds_bucket")],
        &[(ALERTS, "histogram_quantile(0.95, sum by (le) (rate(", "histogram_quantile(0.95, (rate(")],
        // a counter's rate, a gauge's deriv
        &[(DASH, "\"time() - process_start_time_seconds{job=\\\"fastapi\\\"}\"", "\"deriv(process_open_fds{job=\\\"fastapi\\\"}[5m])\"")],
    ] {
        let dir = common::broken_copy(edits);
        let r = lint::lint(dir.path(), &opts(true)).unwrap();
        assert!(r.findings.is_empty(), "{edits:?}:\n{}", r.render_text());
    }
}

#[test]
fn bundled_stack_is_clean_with_the_secure_override_and_the_prod_profile() {
    let stack = common::stack_dir();
    let files = vec![stack.join("docker-compose.yml"), stack.join("docker-compose.secure.yml")];
    let r = lint::lint(&stack, &LintOptions { compose_files: files, ..opts(true) }).unwrap();
    assert!(r.findings.is_empty(), "{}", r.render_text());
    let r = lint::lint(&stack, &LintOptions { profile: Profile::Prod, ..opts(true) }).unwrap();
    let ours: Vec<_> = r
        .findings
        .iter()
        .filter(|f| {
            ["promql-quantile-without-le", "promql-quantile-non-histogram", "promql-rate-non-counter", "logql-unknown-label-value", "promql-unknown-job"]
                .contains(&f.rule.as_str())
        })
        .collect();
    assert!(ours.is_empty(), "{ours:?}");
}

fn corpus() -> Option<PathBuf> {
    let dir = std::env::var_os("OBS_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    (dir.join("dashboards").is_dir() && dir.join("rules").is_dir()).then_some(dir)
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// Public dashboards and rule files: no semantic finding without a catalogue (the
/// rules that need one cannot fire), with the number of histogram_quantile queries
/// seen, so the test proves it looked.
#[test]
fn corpus_gives_no_quantile_finding() {
    let Some(dir) = corpus() else {
        eprintln!("corpus not found (set OBS_CORPUS_DIR): skipped");
        return;
    };
    let mut findings = Vec::new();
    let mut quantiles = 0;
    let mut seen = |file: &str, q: &str| {
        let Ok(ast) = promql::parse(q) else { return };
        if q.contains("histogram_quantile") {
            quantiles += 1;
        }
        for i in promql::semantic(&ast, None) {
            findings.push(format!("{file}: `{q}`: {} {}", i.rule, i.message));
        }
    };
    for f in sorted(&dir.join("dashboards")) {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for q in dashboards::extract(&v, &[]).0.into_iter().filter(|q| q.lang == Lang::PromQL) {
            seen(&name, &q.expr);
        }
    }
    for f in sorted(&dir.join("rules")) {
        let v: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let (kind, exprs) = rules::analyse(&v, false);
        if kind == RuleFileKind::Loki {
            continue;
        }
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for r in exprs {
            seen(&name, &r.expr);
        }
    }
    assert!(quantiles > 20, "only {quantiles} histogram_quantile queries in the corpus");
    assert!(findings.is_empty(), "{} findings:\n{}", findings.len(), findings.join("\n"));
}
