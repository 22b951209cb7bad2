//! No secret read from the stack reaches a report (issue #15): one of each kind is
//! planted in a copy of the bundled stack (`common::plant_secrets`), lint findings and
//! failing live-check messages are made to carry them, and report.json, junit.xml,
//! report.html, the terminal summary, the GitHub annotations, lint's text/JSON/JUnit
//! output and `obs-harness profile` are searched for them.

mod common;

use obs_harness::checks::{CheckResult, Verdict};
use obs_harness::lint::{self, LintOptions};
use obs_harness::redact::MARK;
use obs_harness::report::RunReport;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn planted() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    common::copy_dir(&common::stack_dir(), &dir);
    common::plant_secrets(&dir);
    (tmp, dir)
}

/// `text` (named `what`) holds none of the planted secrets.
fn no_secret(what: &str, text: &str) {
    for (kind, s) in common::PLANTED_SECRETS {
        assert!(!text.contains(s), "{what} shows the {kind} secret `{s}`:\n{}", excerpt(text, s));
    }
}

fn excerpt(text: &str, s: &str) -> String {
    let i = text.find(s).unwrap_or(0);
    let start = text[..i].char_indices().rev().nth(200).map_or(0, |(j, _)| j);
    text[start..].chars().take(400).collect()
}

fn lint_bin(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .arg("lint")
        .arg("--no-external")
        .args(args)
        .arg(dir)
        .env_remove("GITHUB_ACTIONS")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_stack_secrets_are_collected_and_the_tenant_is_not() {
    let (_tmp, dir) = planted();
    let profile = lint::stack_profile(&dir, &[]).unwrap();
    for (kind, s) in common::PLANTED_SECRETS {
        assert!(profile.secrets.secrets().iter().any(|x| x.contains(s)), "{kind} `{s}` not collected: {:?}", profile.secrets.secrets());
    }
    assert_eq!(profile.tenant.as_deref(), Some("docker"));
    assert!(!profile.secrets.secrets().iter().any(|x| x == "docker"), "the tenant is no secret");
    // The bundled stack itself has none.
    assert_eq!(lint::stack_profile(&common::stack_dir(), &[]).unwrap().secrets.secrets(), [] as [String; 0]);
}

#[test]
fn lint_outputs_redact_findings_that_carry_secrets() {
    let (tmp, dir) = planted();
    // The findings carry each secret (a dashboard query names it as a job): what
    // would leak without redaction.
    let r = lint::lint(&dir, &LintOptions { external: false, ..Default::default() }).unwrap();
    let unknown_jobs = r.with_rule("promql-unknown-job");
    assert!(unknown_jobs.len() >= common::PLANTED_SECRETS.len(), "{:#?}", r.findings);
    assert!(r.findings.iter().any(|f| f.message.contains(MARK)), "{:#?}", r.findings);
    no_secret("lint::lint findings", &format!("{:?}", r.findings));

    let summary = tmp.path().join("step-summary.md");
    for (fmt, gha) in [("text", true), ("json", false), ("junit", true)] {
        let env = if gha { vec![("GITHUB_ACTIONS", "true"), ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap())] } else { vec![] };
        let (code, out, err) = lint_bin(&dir, &["--format", fmt], &env);
        assert_eq!(code, 1, "{fmt}: {out}{err}");
        no_secret(&format!("lint --format {fmt} stdout"), &out);
        no_secret(&format!("lint --format {fmt} stderr"), &err);
        assert!(out.contains(MARK), "{fmt}: {out}");
        if gha {
            assert!(out.contains("::error file="), "annotations: {out}");
            let annotations: String = out.lines().filter(|l| l.starts_with("::")).collect::<Vec<_>>().join("\n");
            no_secret("lint GitHub annotations", &annotations);
            assert!(annotations.contains(MARK), "{annotations}");
        }
    }
    if let Ok(s) = std::fs::read_to_string(&summary) {
        no_secret("lint job summary", &s);
    }
    // The datasource URL with credentials is reported with its password redacted.
    let (_, out, _) = lint_bin(&dir, &[], &[]);
    assert!(out.contains(&format!("scraper:{MARK}@nosuchhost")) || !out.contains("nosuchhost"), "{out}");
}

#[test]
fn run_reports_redact_failure_messages_and_the_profile() {
    let (tmp, dir) = planted();
    let profile = lint::stack_profile(&dir, &[]).unwrap();
    let s = |k: &str| common::PLANTED_SECRETS.iter().find(|(w, _)| *w == k).unwrap().1;
    let extra = profile.datasources.iter().find(|d| d.uid == "extra").unwrap().url.clone();
    assert!(extra.contains(s("datasource URL with credentials")), "the in-memory profile keeps the URL the checks use: {extra}");
    let lint_report = lint::lint(&dir, &LintOptions { external: false, ..Default::default() }).unwrap();

    let mut r = RunReport::new(format!("{} (planted)", dir.display()), "faithful");
    r.profile = Some(profile.clone());
    r.lint_findings = lint_report.findings.clone();
    r.add_phase("lint", Duration::from_millis(5), obs_harness::report::lint_checks(&lint_report, Duration::from_millis(5)));
    let failed = |name: &str, m: String| CheckResult::new("signals", name, Verdict::Failed { message: m }, Duration::from_millis(3));
    r.add_phase(
        "signals",
        Duration::from_millis(30),
        vec![
            failed("grafana.datasources", format!("GET {extra}/api/v1/query failed: connection refused\nrequest: {{\"url\": \"{extra}\"}}")),
            failed("grafana.login", format!("login with GF_SECURITY_ADMIN_PASSWORD {} refused (401)", s("GF_SECURITY_ADMIN_PASSWORD"))),
            failed("app.env", format!("container env: APP_API_KEY={} SESSION_SECRET={} GH_TOKEN={}", s("env *_API_KEY"), s("env *_SECRET"), s("env *_TOKEN"))),
            failed("grafana.datasource_health", format!("datasource `prometheus` (basic auth grafana / {}) unhealthy; header Authorization: Bearer {}", s("secureJsonData.basicAuthPassword"), s("secureJsonData Authorization header"))),
            failed("prometheus.target_up.fastapi", format!("scrape as prom:{} failed; otel-collector scraped with token {}", s("prometheus basic_auth.password"), s("prometheus bearer_token"))),
            failed("jaeger.traces", format!("collector export rejected\n  sent headers: {{Authorization: Bearer {}}}", s("collector Authorization: Bearer header"))),
            CheckResult::new("signals", "loki.tenant", Verdict::Passed { detail: "tenant docker".into() }, Duration::ZERO),
        ],
    );
    let before = serde_json::to_string(&r.checks).unwrap();
    for (_, v) in common::PLANTED_SECRETS {
        assert!(before.contains(v) || format!("{:?}", r.profile).contains(v), "the report carries `{v}` before it is written");
    }

    let out = tmp.path().join("report");
    let (json, junit) = r.write(&out).unwrap();
    let json = std::fs::read_to_string(json).unwrap();
    let junit = std::fs::read_to_string(junit).unwrap();
    no_secret("report.json", &json);
    no_secret("junit.xml", &junit);
    if let Ok(html) = std::fs::read_to_string(out.join("report.html")) {
        no_secret("report.html", &html);
    }
    for f in ["graph.mmd", "graph.json"] {
        if let Ok(g) = std::fs::read_to_string(out.join(f)) {
            no_secret(f, &g);
        }
    }
    let annotations = r.github_annotations(&dir);
    no_secret("GitHub annotations", &annotations);
    no_secret("summary table", &r.summary_table());
    no_secret("junit (to_junit)", &r.to_junit());
    for (what, text) in [("report.json", &json), ("junit.xml", &junit), ("annotations", &annotations)] {
        assert!(text.contains(MARK), "{what} has no `{MARK}`: {text}");
    }
    // Redacted: the credentials; kept: the user, the tenant, what failed.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["profile"]["tenant"], "docker");
    let urls: Vec<&str> = v["profile"]["datasources"].as_array().unwrap().iter().filter_map(|d| d["url"].as_str()).collect();
    assert!(urls.contains(&"http://scraper:***@nosuchhost:9090"), "{urls:?}");
    assert!(json.contains("connection refused") && json.contains("tenant docker"), "{json}");
    // The report in memory is untouched (the checks still need the real values).
    assert!(serde_json::to_string(&r.checks).unwrap().contains(s("GF_SECURITY_ADMIN_PASSWORD")));
}

#[test]
fn reports_without_a_profile_still_redact_credential_patterns() {
    let mut r = RunReport::new("targets", "faithful");
    r.add_phase(
        "signals",
        Duration::ZERO,
        vec![CheckResult::new(
            "signals",
            "prometheus.reachable",
            Verdict::Failed { message: "GET http://admin:Pattern-Pw-0001@prometheus:9090/-/ready: 401 (Authorization: Bearer Pattern-Tok-0002abc)".into() },
            Duration::ZERO,
        )],
    );
    for text in [r.to_junit(), r.github_annotations(Path::new("stack")), r.summary_table()] {
        assert!(!text.contains("Pattern-Pw-0001") && !text.contains("Pattern-Tok-0002abc"), "{text}");
        assert!(text.contains("http://admin:***@prometheus:9090"), "{text}");
    }
}

#[test]
fn profile_command_redacts() {
    let (_tmp, dir) = planted();
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).arg("profile").arg(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    no_secret("obs-harness profile", &text);
    assert!(text.contains("\"tenant\": \"docker\"") && text.contains(MARK), "{text}");
}
