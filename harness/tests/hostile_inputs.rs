//! Hostile inputs to the static gate (issue #15): no panic, no unbounded time or
//! memory on any input, and always a located error (exit 2) or a normal report.
//!
//! Property tests (proptest) over the hand-written LogQL parser, the PromQL
//! helpers, dashboard extraction and the whole `lint::lint` with one config of a
//! copied stack replaced by arbitrary bytes, truncated or mutated; then fixed
//! regression cases run through the binary (exit code 2 with the file named, or
//! 0/1 with a report, never 101). `PROPTEST_CASES=N` raises every property's case
//! count (the default keeps this file well under a minute).

mod common;

use obs_harness::lint::{self, LintError, LintOptions, dashboards, logql, promql};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> Config {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    Config { cases: n, failure_persistence: None, ..Config::default() }
}

fn opts() -> LintOptions {
    LintOptions { external: false, ..Default::default() }
}

// ------------------------------------------------------------------ corpus

/// Every `expr` string of the bundled stack's dashboards and rule files, split
/// by language (LogQL: Loki ruler files and queries that look like LogQL).
fn corpus() -> (Vec<String>, Vec<String>) {
    fn walk_json(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("expr" | "query", Value::String(s)) if !s.trim().is_empty() => out.push(s.clone()),
                        _ => walk_json(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk_json(x, out)),
            _ => {}
        }
    }
    fn walk_yaml(v: &serde_yaml::Value, out: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        (Some("expr"), serde_yaml::Value::String(s)) => out.push(s.clone()),
                        _ => walk_yaml(x, out),
                    }
                }
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk_yaml(x, out)),
            _ => {}
        }
    }
    let stack = common::stack_dir();
    let mut all = Vec::new();
    for d in std::fs::read_dir(stack.join("grafana/dashboards")).unwrap() {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(d.unwrap().path()).unwrap()).unwrap();
        walk_json(&v, &mut all);
    }
    let mut prom = Vec::new();
    walk_yaml(&serde_yaml::from_str(&std::fs::read_to_string(stack.join("prometheus/rules/alerts.yml")).unwrap()).unwrap(), &mut prom);
    let mut loki = Vec::new();
    walk_yaml(&serde_yaml::from_str(&std::fs::read_to_string(stack.join("loki/rules/docker/rules.yml")).unwrap()).unwrap(), &mut loki);
    for q in all {
        if dashboards::looks_like_logql(&q) { loki.push(q) } else { prom.push(q) }
    }
    assert!(!prom.is_empty() && !loki.is_empty(), "no corpus: {prom:?} {loki:?}");
    (prom, loki)
}

fn promql_corpus() -> &'static [String] {
    static C: std::sync::OnceLock<(Vec<String>, Vec<String>)> = std::sync::OnceLock::new();
    &C.get_or_init(corpus).0
}
fn logql_corpus() -> &'static [String] {
    static C: std::sync::OnceLock<(Vec<String>, Vec<String>)> = std::sync::OnceLock::new();
    &C.get_or_init(corpus).1
}

/// One edit of a mutation: what, where (a fraction of the length), with what.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    Swap(usize, usize),
}

/// Characters that matter to the parsers, plus anything.
fn interesting() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "(", ")", "{", "}", "[", "]", "\"", "`", "'", "\\", "|", "|=", "!=", "=~", ",", "$", "${", "[[", "]]", "-",
            "#", "\n", "by", " or ", " and ", "offset", "5m", "é", "\u{10FFFF}", "日本", "\u{0}", "$__rate_interval",
            "${var:csv}", "sum(", "rate(", "| json", "| unwrap", "[1m]", "1e308", "0x", "@",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
        "\\PC{0,4}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), interesting()).prop_map(|(p, s)| Edit::Insert(p, s)),
        (any::<usize>(), 0usize..8).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Edit::Duplicate(p, n)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
    ]
}

/// Applies edits on char boundaries (positions are taken modulo the length).
fn mutate(s: &str, edits: &[Edit]) -> String {
    let mut cs: Vec<char> = s.chars().collect();
    for e in edits {
        let n = cs.len();
        let at = |p: usize| if n == 0 { 0 } else { p % (n + 1) };
        match e {
            Edit::Insert(p, x) => {
                let i = at(*p);
                cs.splice(i..i, x.chars());
            }
            Edit::Delete(p, k) => {
                let i = at(*p);
                cs.drain(i..(i + k).min(n));
            }
            Edit::Duplicate(p, k) => {
                let i = at(*p);
                let dup: Vec<char> = cs[i..(i + k).min(n)].to_vec();
                cs.splice(i..i, dup);
            }
            Edit::Truncate(p) => cs.truncate(at(*p)),
            Edit::Swap(a, b) if n > 0 => cs.swap(a % n, b % n),
            Edit::Swap(..) => {}
        }
    }
    cs.into_iter().collect()
}

fn mutated(corpus: fn() -> &'static [String]) -> impl Strategy<Value = String> {
    (any::<prop::sample::Index>(), prop::collection::vec(edit(), 1..6))
        .prop_map(move |(i, es)| mutate(i.get::<String>(corpus()), &es))
}

/// Time one call; every call on a small input must be quick (no super-linear blow-up).
fn bounded<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{what} took {took:?} on {} bytes: {input:?}", input.len());
    out
}

fn catalogue() -> &'static lint::Catalogue {
    static C: std::sync::OnceLock<lint::Catalogue> = std::sync::OnceLock::new();
    C.get_or_init(|| lint::catalogue_for(&common::stack_dir(), None).unwrap().expect("reference-app catalogue").0.with_scrape_labels())
}

fn promql_all(q: &str) {
    bounded("promql", q, || {
        let _ = promql::substitute_vars(q, false);
        let _ = promql::substitute_vars(q, true);
        let _ = promql::grafana_var_names(q);
        let e = promql::variable_query_expr(q);
        for q in std::iter::once(q.to_owned()).chain(e) {
            if let Ok(e) = promql::parse(&q) {
                let mut out = Vec::new();
                let _ = promql::infer(&e, catalogue(), &mut out);
                let _ = promql::check_query(&e, Some(catalogue()));
                let _ = promql::metric_names(&e);
                let _ = promql::le_lost(&e);
            }
        }
    });
}

fn logql_all(q: &str) {
    bounded("logql", q, || {
        let _ = logql::check(q);
        let _ = logql::stream_matchers(q);
    });
}

// ------------------------------------------------------------------ query properties

#[test]
fn corpus_queries_are_accepted() {
    for q in logql_corpus() {
        logql::check(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
    for q in promql_corpus() {
        promql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn logql_arbitrary_strings(q in prop_oneof![any::<String>(), "[-+(){}\\[\\]|=!~\"`'\\\\, a-z0-9#$\n]{0,64}"]) {
        logql_all(&q);
    }

    #[test]
    fn logql_mutated_queries(q in mutated(logql_corpus)) {
        logql_all(&q);
    }

    #[test]
    fn promql_arbitrary_strings(q in prop_oneof![any::<String>(), "[-+(){}\\[\\]|=!~\"`'\\\\, a-z0-9_:$@\n]{0,64}"]) {
        promql_all(&q);
    }

    #[test]
    fn promql_mutated_queries(q in mutated(promql_corpus)) {
        promql_all(&q);
    }

    #[test]
    fn dashboard_extract_arbitrary_json(v in json_value()) {
        let (ds, _) = lint::provisioned(&common::stack_dir()).unwrap();
        let (qs, _) = dashboards::extract(&v, &ds);
        for q in qs {
            promql_all(&q.expr);
            logql_all(&q.expr);
        }
    }
}

/// Arbitrary JSON shaped like a dashboard often enough to reach panels, targets,
/// templating and annotations.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "panels", "rows", "targets", "expr", "datasource", "uid", "type", "title", "refId", "templating", "list",
        "annotations", "query", "name", "mixed", "-- Mixed --", "$ds", "${ds}", "loki", "prometheus",
    ])
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop_oneof![any::<String>(), mutated(promql_corpus), mutated(logql_corpus), Just("${DS_PROMETHEUS}".to_owned())]
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![key.clone(), any::<String>()], inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

// ------------------------------------------------------------------ whole gate

/// The stack's config files a user writes, relative to the stack dir.
const TARGETS: &[&str] = &[
    "docker-compose.yml",
    "prometheus/prometheus.yml",
    "loki/config.yaml",
    "promtail/config.yaml",
    "otel-collector/config.yaml",
    "grafana/dashboards/fastapi-overview.json",
    "grafana/provisioning/datasources/datasources.yml",
    "prometheus/rules/alerts.yml",
    "loki/rules/docker/rules.yml",
];

/// A copy of the bundled stack kept for a whole property (cases run one after another).
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn scratch() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    common::copy_dir(&common::stack_dir(), &dir);
    Scratch { _tmp: tmp, dir }
}

/// Writes `bytes` over `target` in `dir`, lints, restores the file; the gate must
/// return a report or an error naming a file of the stack, quickly.
fn lint_with(dir: &Path, target: &str, bytes: &[u8]) -> Result<lint::Report, LintError> {
    let path = dir.join(target);
    let orig = std::fs::read(common::stack_dir().join(target)).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let t = Instant::now();
    let out = std::panic::catch_unwind(|| lint::lint(dir, &opts()));
    let took = t.elapsed();
    std::fs::write(&path, orig).unwrap();
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    let out = out.unwrap_or_else(|_| panic!("lint panicked with {target} = {shown:?}"));
    assert!(took < Duration::from_secs(10), "lint took {took:?} with {target} = {shown:?}");
    if let Err(e) = &out {
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(msg.contains(dir.to_str().unwrap()), "error names no stack file: {msg}");
    }
    out
}

fn yaml_mutation() -> impl Strategy<Value = Edit> {
    let yaml_bits = prop::sample::select(vec![
        ":", ": ", "- ", "\n", "\n  ", "  ", "&a ", "*a", "<<: *a\n", "!!binary ", "!tag ", "{", "}", "[", "]", "? ",
        "|\n", ">\n", "'", "\"", "#", "---\n", "...\n", "~", "null", "0x1F", "1e999", "\t", "%YAML 1.2\n", "\u{feff}",
    ])
    .prop_map(str::to_owned);
    prop_oneof![
        3 => (any::<usize>(), yaml_bits).prop_map(|(p, s)| Edit::Insert(p, s)),
        1 => edit(),
    ]
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn lint_one_file_arbitrary_bytes(t in prop::sample::select(TARGETS), bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        thread_local!(static S: Scratch = scratch());
        S.with(|s| { let _ = lint_with(&s.dir, t, &bytes); });
    }

    #[test]
    fn lint_one_file_truncated(t in prop::sample::select(TARGETS), at in any::<prop::sample::Index>()) {
        thread_local!(static S: Scratch = scratch());
        let orig = std::fs::read(common::stack_dir().join(t)).unwrap();
        let cut = at.index(orig.len() + 1);
        S.with(|s| { let _ = lint_with(&s.dir, t, &orig[..cut]); });
    }
}

proptest! {
    #![proptest_config(cases(96))]

    #[test]
    fn lint_one_file_mutated(t in prop::sample::select(TARGETS), edits in prop::collection::vec(yaml_mutation(), 1..5)) {
        thread_local!(static S: Scratch = scratch());
        let orig = std::fs::read_to_string(common::stack_dir().join(t)).unwrap();
        let text = mutate(&orig, &edits);
        S.with(|s| { let _ = lint_with(&s.dir, t, text.as_bytes()); });
    }
}

// ------------------------------------------------------------------ regressions via the binary

/// Runs `obs-harness lint --no-external <dir>` (killed after 60 s): exit code, stdout, stderr.
fn run_lint(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .arg("lint")
        .arg("--no-external")
        .args(extra)
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).ok();
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            panic!("obs-harness lint hung (> 60 s) on {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code().unwrap_or(-1), out.join().unwrap(), err.join().unwrap())
}

/// Replaces `target` with `bytes` in a fresh copy, runs the binary: never a panic
/// (101) or a signal; exit 2 names the file with a line when `line` is asked for.
fn hostile(target: &str, bytes: &[u8]) -> (i32, String, String) {
    let s = scratch();
    std::fs::write(s.dir.join(target), bytes).unwrap();
    let t = Instant::now();
    let (code, out, err) = run_lint(&s.dir, &[]);
    let took = t.elapsed();
    assert!(matches!(code, 0..=2), "{target}: exit {code} after {took:?}\nstdout: {out}\nstderr: {err}");
    assert!(!err.contains("panicked"), "{target}: {err}");
    if code == 2 {
        assert!(err.contains(&format!("{}", s.dir.join(target).display())), "{target}: error names not the file: {err}");
    }
    (code, out, err)
}

/// Exit 2 with `path:line:col:` naming the file.
fn located(target: &str, bytes: &[u8]) -> String {
    let (code, _, err) = hostile(target, bytes);
    assert_eq!(code, 2, "{target}: {err}");
    let re = regex::Regex::new(&format!("{}:\\d+:\\d+: ", regex::escape(target))).unwrap();
    assert!(re.is_match(&err), "{target}: no file:line:col in {err}");
    err
}

#[test]
fn deeply_nested_json_dashboard() {
    located("grafana/dashboards/fastapi-overview.json", "[".repeat(100_000).as_bytes());
    let obj = format!("{}{}", r#"{"panels":["#.repeat(50_000), "]}".repeat(50_000));
    located("grafana/dashboards/llm-overview.json", obj.as_bytes());
}

#[test]
fn deeply_nested_yaml() {
    for t in ["docker-compose.yml", "prometheus/prometheus.yml", "loki/config.yaml", "promtail/config.yaml", "otel-collector/config.yaml"] {
        located(t, "[".repeat(100_000).as_bytes());
        let indented: String = (0..1000).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        located(t, indented.as_bytes());
        located(t, format!("{}a{}", "{a: ".repeat(50_000), "}".repeat(50_000)).as_bytes());
    }
}

#[test]
fn deeply_nested_value_extract() {
    // Built in memory (files stop at serde_json's depth limit): extraction must not recurse without bound.
    // (not `json!({"panels": [v]})`: it serialises `v`, recursively)
    let mut v = serde_json::json!({"title": "leaf", "targets": [{"expr": "up"}]});
    for _ in 0..100_000 {
        v = Value::Object([("panels".to_owned(), Value::Array(vec![v]))].into_iter().collect());
    }
    let (qs, _) = dashboards::extract(&v, &[]);
    assert!(qs.len() <= 1);
    std::mem::forget(v); // dropping 100k levels would recurse in serde_json's Drop
}

#[test]
fn deeply_nested_queries() {
    for q in [
        "(".repeat(100_000),
        format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000)),
        "-".repeat(100_000),
        format!("{}1", "-".repeat(100_000)),
        format!("sum({}", "sum(".repeat(50_000)),
        format!("{{a=\"b\"}} | {}", "(".repeat(100_000)),
        format!("{{a=\"b\"}} | {}a=\"b\"{}", "(".repeat(50_000), ")".repeat(50_000)),
    ] {
        logql_all(&q);
        promql_all(&q);
    }
}

#[test]
fn huge_file() {
    let big = vec![b'a'; 5 << 20];
    for t in ["docker-compose.yml", "prometheus/prometheus.yml", "grafana/dashboards/fastapi-overview.json"] {
        located(t, &big);
    }
    // A huge but valid query inside a valid dashboard: a report, not a hang.
    let q = format!("sum(rate(http_requests_total{{{}}}[5m]))", vec!["a=\"b\""; 50_000].join(","));
    let dash = serde_json::json!({"uid": "big", "title": "big", "panels": [{"title": "p", "targets": [{"refId": "A", "expr": q}]}]});
    let (code, _, err) = hostile("grafana/dashboards/llm-overview.json", dash.to_string().as_bytes());
    assert!(code <= 1, "{err}");
}

#[test]
fn binary_garbage() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    for t in TARGETS {
        let (code, _, err) = hostile(t, &bytes);
        assert_eq!(code, 2, "{t}: {err}");
    }
    // Valid UTF-8 but control characters and NULs.
    located("prometheus/prometheus.yml", b"\x00\x01\x02scrape_configs: \x07\x1b[31m");
}

#[test]
fn billion_laughs() {
    let mut y = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (i, c) in ('b'..='j').enumerate() {
        let prev = (b'a' + i as u8) as char;
        y.push_str(&format!("{c}: &{c} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    for t in ["docker-compose.yml", "prometheus/prometheus.yml", "loki/config.yaml", "promtail/config.yaml", "otel-collector/config.yaml", "prometheus/rules/alerts.yml"] {
        let t0 = Instant::now();
        let err = located(t, y.as_bytes());
        assert!(t0.elapsed() < Duration::from_secs(20), "{t}: {:?}", t0.elapsed());
        assert!(err.contains("repetition limit") || err.contains("recursion limit") || err.contains("alias"), "{t}: {err}");
    }
    // Where the bomb sits under keys the typed view ignores, serde_yaml skips it
    // without expanding: a normal report, as quickly.
    let t0 = Instant::now();
    let (code, out, err) = hostile("grafana/provisioning/datasources/datasources.yml", y.as_bytes());
    assert!(code <= 2 && t0.elapsed() < Duration::from_secs(20), "{code} {out}{err}");
    // The same bomb under a key the gate reads.
    let mut p = std::fs::read_to_string(common::stack_dir().join("prometheus/prometheus.yml")).unwrap();
    p.push_str(&format!("\nx-bomb:\n{}", y.lines().map(|l| format!("  {l}\n")).collect::<String>()));
    located("prometheus/prometheus.yml", p.as_bytes());
}

#[test]
fn unknown_keys_are_ignored() {
    for t in ["prometheus/prometheus.yml", "loki/config.yaml", "promtail/config.yaml", "otel-collector/config.yaml"] {
        let mut text = std::fs::read_to_string(common::stack_dir().join(t)).unwrap();
        text.push_str("\nno_such_key_anywhere:\n  nested: [1, 2, {x: y}]\n");
        let (code, out, err) = hostile(t, text.as_bytes());
        assert!(code <= 1, "{t}: {out}{err}");
    }
    let mut c = std::fs::read_to_string(common::stack_dir().join("docker-compose.yml")).unwrap();
    c.push_str("\nx-unknown:\n  a: 1\n");
    let (code, out, err) = hostile("docker-compose.yml", c.as_bytes());
    assert!(code <= 1, "{out}{err}");
    // An unknown top-level key compose itself rejects: a located error.
    c.push_str("not_a_compose_key: 1\n");
    hostile("docker-compose.yml", c.as_bytes());
}

#[test]
fn empty_files() {
    for t in TARGETS {
        for body in [&b""[..], b"\n", b"# only a comment\n", b"---\n", b"~\n", b"{}", b"[]"] {
            hostile(t, body);
        }
    }
}

#[test]
fn compose_file_of_the_wrong_shape() {
    for body in ["- a\n- b\n", "just a scalar\n", "42\n", "services: [a, b]\n", "services: 1\n", "services:\n  app: [1]\n", "services:\n  app:\n    volumes: 7\n    ports: {a: b}\n    environment: [1, [2]]\n"] {
        let (code, out, err) = hostile("docker-compose.yml", body.as_bytes());
        assert!(code == 2 || code <= 1, "{body}: {out}{err}");
        if code == 2 {
            assert!(err.contains("docker-compose.yml"), "{err}");
        }
    }
    located("docker-compose.yml", b"- a\n- b\n");
    located("docker-compose.yml", b"just a scalar\n");
}

#[test]
fn invalid_utf8_is_located() {
    let mut text = std::fs::read(common::stack_dir().join("prometheus/prometheus.yml")).unwrap();
    text.extend_from_slice(b"\n# caf\xe9\n");
    let (code, _, err) = hostile("prometheus/prometheus.yml", &text);
    assert_eq!(code, 2, "{err}");
}
