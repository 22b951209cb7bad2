//! `report.html` (harness/src/report_html.rs) and the CI job summary:
//! everything from the stack or a backend shows as text, never markup; a
//! realistic report stays small; headless Chromium renders the report of a
//! failing run without console errors, with the graph and the timeline, and
//! the failure above the fold; `check` and `lint` append a markdown verdict to
//! `$GITHUB_STEP_SUMMARY`.
//!
//! The browser test needs Chromium (`apt-get install -y chromium`, which
//! `.ci/run` does); without it the test fails saying so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use obs_harness::checks::{CheckResult, Verdict};
use obs_harness::graph::Graph;
use obs_harness::model::StackModel;
use obs_harness::report::{PhaseTime, RunReport};

const SCRIPT: &str = "<script>alert(1)</script>";
const SCRIPT_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;";

fn check(phase: &str, name: &str, verdict: Verdict, started_ms: u64, duration_ms: u64) -> CheckResult {
    let mut c = CheckResult::new(phase, name, verdict, Duration::from_millis(duration_ms));
    c.started_ms = Some(started_ms);
    c
}

fn passed(detail: &str) -> Verdict {
    Verdict::Passed { detail: detail.into() }
}

fn blocked() -> Verdict {
    Verdict::NotRun { reason: "blocked by `prometheus.target_up.fastapi`: target down".into() }
}

/// The container's last log lines, as a failed check's message carries them.
fn log_lines(n: usize, planted: &str) -> String {
    (0..n)
        .map(|i| format!("  app | {{\"ts\":\"2026-01-01T00:00:{:02}Z\",\"level\":\"info\",\"msg\":\"GET /items/{i} 200\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e{i:04}\"}}{}", i % 60, if i == n / 2 { planted } else { "" }))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A failing air-gapped-like run of the bundled stack, about 70 checks: the
/// app's scrape fails (query, URL and the app's last log lines in its
/// message), what needs it is blocked, the backends not in the run are not
/// run, one alert's path passed with its stages.
fn failing_report(planted: &str) -> RunReport {
    let stack = common::stack_dir();
    let mut r = RunReport::new("stack/docker-compose.yml (Airgapped images)", "accelerated x15");
    r.graph = Some(Graph::of(&StackModel::load(&stack, &[]).expect("bundled stack model"), &|_| None));
    let mut profile = obs_harness::lint::stack_profile(&stack, &[]).expect("bundled stack profile");
    profile.log_labels.insert("team".into(), planted.into());
    r.profile = Some(profile);
    r.lint_findings = Vec::new();
    let phase = |r: &mut RunReport, name: &str, start: u64, ms: u64| r.phases.push(PhaseTime { phase: name.into(), ms, started_ms: Some(start) });

    phase(&mut r, "lint", 0, 1_400);
    r.checks.push(check("lint", "lint.static_gate", passed("no findings"), 0, 1_400));
    for t in ["promtool check config prometheus/prometheus.yml", "promtool check rules prometheus/rules/alerts.yml", "amtool check-config alertmanager/alertmanager.yml"] {
        r.checks.push(check("lint", &format!("lint.external {t}"), passed(t), 1_400, 0));
    }
    phase(&mut r, "start", 1_400, 6_200);
    r.checks.push(check("start", "stack.ready", passed("3 service(s) ready"), 1_400, 6_200));

    phase(&mut r, "signals", 7_600, 14_000);
    r.checks.push(check("signals", "reachability.prometheus", passed("200 in 3 ms"), 7_600, 3));
    r.checks.push(check("signals", "reachability.app", passed("200 in 2 ms"), 7_600, 2));
    r.checks.push(check("signals", "traffic", passed("sent 120 requests"), 7_610, 4_000));
    let message = format!(
        "target `fastapi` is down: last scrape error \"server returned HTTP status 404 Not Found\"\n\
         query: up{{job=\"fastapi\"}} at http://127.0.0.1:32781/api/v1/query?query=up%7Bjob%3D%22fastapi%22%7D\n\
         saw: [{{\"metric\":{{\"job\":\"fastapi\",\"instance\":\"app:8000\"}},\"value\":[1767225600,\"0\"]}}]\n\
         scrape config: prometheus/prometheus.yml:17 metrics_path /metric\n\
         last 40 log lines of container `app`:\n{}",
        log_lines(40, planted)
    );
    r.checks.push(check("signals", "prometheus.target_up.fastapi", Verdict::Failed { message }, 11_600, 10_000));
    for (i, name) in [
        "prometheus.http_requests_total",
        "prometheus.histogram",
        "prometheus.process_metrics",
        "prometheus.llm_families",
        "prometheus.exemplars",
        "prometheus.target_up.otel-collector",
        "app.catalogue_current",
        "correlation.trace_everywhere",
    ]
    .iter()
    .enumerate()
    {
        r.checks.push(check("signals", name, blocked(), 21_600 + i as u64, 0));
    }
    r.checks.push(check("signals", "prometheus.target_up.prometheus", passed("up"), 11_600, 40));
    for name in [
        "jaeger.service",
        "jaeger.traces",
        "jaeger.trace_by_id",
        "jaeger.search",
        "loki.stream_labels",
        "loki.request_lines",
        "loki.unlabelled",
        "loki.tenant",
        "grafana.health",
        "grafana.datasources",
        "grafana.dashboards",
        "grafana.ds_query.prometheus",
        "grafana.ds_query.loki",
        "grafana.jaeger.health",
        "grafana.jaeger.trace_by_id",
        "grafana.jaeger.search",
    ] {
        let backend = name.split('.').next().unwrap();
        r.checks.push(check("signals", name, Verdict::NotRun { reason: format!("service `{backend}` is not running (air-gapped image set)") }, 21_600, 0));
    }
    phase(&mut r, "dashboards", 21_600, 40);
    for panel in ["Request rate/A", "Error ratio/A", "Latency p95/A", "Uptime/A", "LLM tokens/A", "LLM errors/A", "LLM latency/A", "In flight/A", "Requests by route/A", "Logs/A", "Tokens by model/A", "Status codes/A", "Slow requests/A", "Error logs/A", "Scrape duration/A"] {
        for via in ["prometheus", "grafana"] {
            r.checks.push(check("dashboards", &format!("dashboards.{via}.fastapi-overview/{panel}"), blocked(), 21_620, 0));
        }
    }
    phase(&mut r, "alerts", 21_640, 62_000);
    r.checks.push(check("alerts", "alerts.coverage", passed("4 of the 4 alert rule(s) have a cause"), 21_640, 0));
    r.checks.push(check(
        "alerts",
        "alerts.AppDown",
        passed("pending 3100ms, firing 5200ms, in Alertmanager 5600ms, webhook 6400ms (floor 5000ms, ratio 1.28), then resolved"),
        21_640,
        9_800,
    ));
    for a in ["HighErrorRate", "SlowRequests", "LLMFailures"] {
        r.checks.push(check("alerts", &format!("alerts.{a}"), blocked(), 31_440, 0));
    }
    phase(&mut r, "ruler", 83_640, 5);
    r.checks.push(check("ruler", "ruler", Verdict::NotRun { reason: "service `loki` is not running (air-gapped image set)".into() }, 83_640, 0));
    r.complete = true;
    r
}

/// Strings of the report that are not the data planted in it: its markup.
fn assert_no_markup_from_data(html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a <script> in the report: {}", &html[lower.find("<script").unwrap().saturating_sub(200)..][..400]);
    assert!(!lower.contains("<img"), "an <img> in the report");
}

#[test]
fn planted_markup_in_a_log_line_a_label_value_and_a_name_shows_as_text() {
    let mut r = failing_report(SCRIPT);
    // Also in a lint finding, a check's name, an edge's label and a node name.
    r.lint_findings.push(obs_harness::lint::Finding {
        file: format!("prometheus/{SCRIPT}.yml"),
        line: 3,
        col: None,
        severity: obs_harness::lint::Severity::Warning,
        rule: "rule-<b>x</b>".into(),
        message: format!("label value \"{SCRIPT}\" and \"><img src=x onerror=alert(1)>"),
        hint: Some(SCRIPT.into()),
    });
    r.checks.push(check("alerts", &format!("alerts.{SCRIPT}"), Verdict::Failed { message: format!("alert {SCRIPT} pending in Prometheus: timed out") }, 40_000, 100));
    if let Some(g) = r.graph.as_mut() {
        g.edges[0].what = format!("export {SCRIPT}");
        g.nodes[0].kind = SCRIPT.into();
    }
    r.subject = format!("running stack (prometheus=http://x/{SCRIPT})");
    let html = obs_harness::report::html::render(&r);
    assert_no_markup_from_data(&html);
    // The log line in the failed check's message and the profile's label value, escaped.
    let failures = &html[html.find("id=\"failures\"").unwrap()..html.find("id=\"graph-section\"").unwrap()];
    assert!(failures.contains(&format!("GET /items/20 200&quot;,&quot;trace_id&quot;:&quot;4bf92f3577b34da6a3ce929d0e0e0020&quot;}}{SCRIPT_ESCAPED}")), "log line not shown as text in the failure");
    let profile = &html[html.find("id=\"profile\"").unwrap()..];
    assert!(profile.contains(&format!("&quot;team&quot;: &quot;{SCRIPT_ESCAPED}&quot;")), "label value not shown as text in the profile");
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"), "attribute breakout not escaped");
    assert!(html.contains(&format!("alerts.{SCRIPT_ESCAPED}")));
    assert!(html.contains("rule-&lt;b&gt;x&lt;/b&gt;"));
    // No script of its own either, and a policy that forbids any.
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"), "CSP missing");
}

#[test]
fn a_realistic_failing_report_is_small_and_self_contained() {
    let r = failing_report("");
    assert!((65..=80).contains(&r.checks.len()), "{} checks", r.checks.len());
    let html = obs_harness::report::html::render(&r);
    assert!(html.len() < 500 * 1024, "report.html is {} bytes", html.len());
    // No fetch of anything: no external URL in src/href, no @import, no font.
    for bad in ["src=\"http", "href=\"http", "@import", "url(http", "@font-face", "<link"] {
        assert!(!html.contains(bad), "{bad} in report.html");
    }
    // Sections in order: failures first.
    let at = |id: &str| html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}"));
    let order = ["failures", "graph", "timeline", "not-run", "checks", "mode", "profile", "lint"].map(at);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "sections out of order: {order:?}");
    // Every edge of the bundled graph drawn with proto:port, the failed one red; the alert's stages and floor.
    assert!(html.contains(">✗ http:8000<"), "the failed scrape edge is labelled");
    assert!(html.contains(">otlp/grpc:4317<") && html.contains(">docker-logs<") || html.contains(">docker logs<"), "edge labels");
    assert!(html.contains("alerts.AppDown floor 5000 ms") && html.contains("alerts.AppDown webhook at 6400 ms"), "alert stages");
    assert!(html.contains("<td>3100</td><td>5200</td><td>5600</td><td>6400</td><td>9800</td><td>5000</td><td>1.28</td>"), "alert path table");
    let blocked = r.checks.iter().filter(|c| c.verdict.text().starts_with("blocked by `prometheus.target_up.fastapi`")).count();
    assert!(html.contains(&format!("blocked {blocked} check(s): prometheus.http_requests_total, ")), "the failure lists what it blocked");
}

#[test]
fn written_beside_report_json_for_passing_failing_and_interrupted_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut passing = RunReport::new("bundled stack", "faithful");
    passing.add_phase("signals", Duration::from_millis(5), vec![CheckResult::new("signals", "app.ok", passed("ok"), Duration::from_millis(1))]);
    passing.complete = true;
    let mut interrupted = failing_report("");
    interrupted.complete = false;
    interrupted.phases.truncate(3);
    for (name, r, badge) in [("passing", passing, "PASSED"), ("failing", failing_report(""), "FAILED: 1 check(s)"), ("interrupted", interrupted, "FAILED: 1 check(s)")] {
        let d = dir.path().join(name);
        r.write(&d).unwrap();
        let html = std::fs::read_to_string(d.join("report.html")).unwrap_or_else(|e| panic!("{name}: no report.html: {e}"));
        assert!(d.join("report.json").is_file());
        assert!(html.contains(badge), "{name}: {badge}");
        if name == "interrupted" {
            assert!(html.contains("run incomplete"), "an interrupted run says so");
        }
    }
    // Nothing run yet (the first write of `check`): still a valid report.
    let empty = RunReport::new("bundled stack", "faithful");
    let html = obs_harness::report::html::render(&empty);
    assert!(html.contains("INCOMPLETE") && html.contains("id=\"timeline\"") && html.contains("id=\"graph\""));
}

// ---- the browser ----

/// Headless Chromium: `$OBS_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("OBS_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Some(p) = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()) {
            return p;
        }
    }
    panic!(
        "headless Chromium is needed to test report.html in a browser and none was found \
         (tried chromium, chromium-browser, google-chrome on PATH, and $OBS_CHROMIUM). \
         Install Debian's: `sudo apt-get install -y chromium` (.ci/run installs it), or set OBS_CHROMIUM=/path/to/chrome"
    )
}

/// Runs Chromium headless on `page` with `args`; returns (stdout, stderr). Fails after 90 s.
fn run_chromium(page: &Path, args: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let mut child = Command::new(chromium())
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr", "--v=0", "--window-size=1280,800"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s: {}", std::fs::read_to_string(&err_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (std::fs::read_to_string(&out_path).unwrap_or_default(), std::fs::read_to_string(&err_path).unwrap_or_default())
}

/// Console messages and uncaught errors Chromium logged for a page.
fn console_errors(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).collect()
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
}

#[test]
fn browser_renders_a_failing_run_with_graph_timeline_and_the_failure_above_the_fold() {
    let dir = tempfile::tempdir().unwrap();
    failing_report(SCRIPT).write(dir.path()).unwrap();
    let page = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();

    // The detection works: a page that logs and throws is seen as such.
    let control = dir.path().join("control.html");
    std::fs::write(&control, "<!doctype html><p>x</p><script>console.error('probe-error'); throw new Error('probe-uncaught')</script>").unwrap();
    let (_, err) = run_chromium(&control, &["--dump-dom"]);
    assert!(console_errors(&err).iter().any(|l| l.contains("probe-uncaught")), "console errors are not visible on Chromium's stderr; cannot check the report:\n{err}");

    // The report: no console error (a CSP violation would be one), graph and timeline in the DOM, no script.
    let (dom, err) = run_chromium(&page, &["--dump-dom"]);
    assert!(console_errors(&err).is_empty(), "console errors: {:#?}", console_errors(&err));
    assert!(dom.contains("<svg id=\"graph\"") && dom.contains("<svg id=\"timeline\""), "graph or timeline missing from the DOM:\n{}", &dom[..dom.len().min(3000)]);
    assert!(dom.matches("class=\"edge ").count() >= 10, "graph edges missing");
    assert!(!dom.to_ascii_lowercase().contains("<script"), "a script element in the rendered DOM");
    assert!(dom.contains(SCRIPT_ESCAPED), "the planted script is shown as text");
    let (f, g, t) = (dom.find("id=\"failures\"").unwrap(), dom.find("id=\"graph\"").unwrap(), dom.find("id=\"timeline\"").unwrap());
    assert!(f < g && g < t, "failures come first");
    assert!(dom[f..g].contains("prometheus.target_up.fastapi"), "the failed check is in the failures section");

    // Above the fold: the report's own layout, measured in the browser by a
    // probe added to a copy (the report itself has no script and forbids one).
    let csp = html.find("<meta http-equiv=\"Content-Security-Policy\"").unwrap();
    let csp_end = csp + html[csp..].find('>').unwrap() + 1;
    let probe = "<script>var s=document.querySelector('#failures details.failure[open] > summary');var p=document.querySelector('#failures details.failure[open] > pre');\
                 var a=s.getBoundingClientRect(),b=p.getBoundingClientRect();\
                 document.body.setAttribute('data-probe','summary_bottom='+Math.round(a.bottom)+';pre_top='+Math.round(b.top)+';viewport='+innerHeight+';text='+s.textContent.split(' ')[0]);</script>";
    let probed = format!("{}{}", &html[..csp], &html[csp_end..]).replace("</body>", &format!("{probe}</body>"));
    let probe_page = dir.path().join("probe.html");
    std::fs::write(&probe_page, probed).unwrap();
    let (dom, err) = run_chromium(&probe_page, &["--dump-dom"]);
    let attr = dom.split("data-probe=\"").nth(1).and_then(|s| s.split('"').next()).unwrap_or_else(|| panic!("probe did not run: {:#?}", console_errors(&err)));
    let val = |k: &str| attr.split(';').find_map(|kv| kv.strip_prefix(&format!("{k}="))).unwrap_or_else(|| panic!("{k} not in {attr}"));
    let num = |k: &str| val(k).parse::<f64>().unwrap();
    assert_eq!(val("text"), "prometheus.target_up.fastapi", "{attr}");
    assert!(num("summary_bottom") <= num("viewport") && num("pre_top") + 40.0 <= num("viewport"), "the failure is below the fold: {attr}");

    // A screenshot of the first screen; OBS_UPDATE_SCREENSHOT=1 keeps it as the README's.
    let shot = dir.path().join("shot.png");
    let _ = run_chromium(&page, &[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert_eq!(png_size(&png), (1280, 800));
    assert!(png.len() > 10_000, "screenshot looks blank ({} bytes)", png.len());
    if let Some(keep) = std::env::var_os("OBS_KEEP_REPORT") {
        std::fs::copy(&page, keep).unwrap();
    }
    if std::env::var_os("OBS_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join("report-failing.png"), &png).unwrap();
    }
}

#[test]
fn readme_shows_the_screenshot_of_a_failing_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("](docs/report-failing.png)"), "README.md embeds docs/report-failing.png");
    let png = std::fs::read(root.join("docs/report-failing.png")).expect("docs/report-failing.png (OBS_UPDATE_SCREENSHOT=1 cargo nextest run --test report_html browser_ regenerates it)");
    assert_eq!(png_size(&png), (1280, 800));
    assert!(png.len() < 400 * 1024, "screenshot is {} bytes", png.len());
}

// ---- the CI job summary, through the binary ----

fn harness(args: &[&str], summary: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env("GITHUB_STEP_SUMMARY", summary)
        .env("OBS_HARNESS_ARTIFACT", "obs-harness-report")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "acme/stack")
        .env("GITHUB_RUN_ID", "42")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn lint_appends_a_verdict_to_the_job_summary() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    common::copy_dir(&common::stack_dir(), &stack);
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let (code, err) = harness(&["lint", stack.to_str().unwrap(), "--no-external"], &summary);
    assert_eq!(code, Some(0), "{err}");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.starts_with("earlier step\n### obs-harness lint: ✅ passed"), "appended, not replaced:\n{s}");
    assert!(s.contains(" failed, ") && s.contains("time to verdict"), "{s}");

    // A broken link: the root cause with its file:line.
    let prom = stack.join("prometheus/prometheus.yml");
    std::fs::write(&prom, std::fs::read_to_string(&prom).unwrap().replacen("\"alertmanager:9093\"", "\"alertmanager:9095\"", 1)).unwrap();
    let (code, err) = harness(&["lint", stack.to_str().unwrap(), "--no-external"], &summary);
    assert_eq!(code, Some(1), "{err}");
    let s = std::fs::read_to_string(&summary).unwrap();
    let last = &s[s.rfind("### obs-harness lint").unwrap()..];
    assert!(last.contains("❌ failed") && last.contains("Root-cause failures") && last.contains("prometheus/prometheus.yml:"), "{last}");

    // Unreadable input is a verdict too.
    let (code, _) = harness(&["lint", "/nonexistent/stack"], &summary);
    assert_eq!(code, Some(2));
    assert!(std::fs::read_to_string(&summary).unwrap().contains("<code>lint.input</code>"));
}

#[test]
fn check_appends_a_verdict_with_root_causes_and_the_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.md");
    let reports = dir.path().join("reports");
    let stack = common::stack_dir();
    let (code, err) = harness(&["check", "--skip-lint", "--stack", stack.to_str().unwrap(), "--target", "prometheus=http://127.0.0.1:9", "--report-dir", reports.to_str().unwrap()], &summary);
    assert_eq!(code, Some(1), "{err}");
    let s = std::fs::read_to_string(&summary).unwrap();
    assert!(s.starts_with("### obs-harness check: ❌ failed"), "{s}");
    assert_eq!(s.matches("### obs-harness").count(), 1, "one verdict per run:\n{s}");
    assert!(s.contains("<code>reachability.prometheus</code>") && s.contains("refused the connection") && s.contains("— blocked "), "{s}");
    assert!(!s.contains("<code>prometheus.target&#95;up"), "blocked checks are not listed as root causes:\n{s}");
    assert!(s.contains(" passed, 1 failed, ") && s.contains("time to verdict **"), "{s}");
    assert!(s.contains("report.html") && s.contains("**obs-harness-report**") && s.contains("https://github.com/acme/stack/actions/runs/42#artifacts"), "{s}");
    // And the report beside it, its failure first.
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    let failures = &html[html.find("id=\"failures\"").unwrap()..html.find("id=\"graph-section\"").unwrap()];
    assert!(failures.contains("reachability.prometheus") && failures.contains("Failures (1)"), "{failures}");
    assert!(html.contains("<svg id=\"graph\""), "the graph of --stack");
}
