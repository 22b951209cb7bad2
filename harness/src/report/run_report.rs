//! The run report's content: every check's verdict, the phases' times, the
//! profile and graph, and its JUnit, terminal and GitHub-annotation forms.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use quick_junit::{NonSuccessKind, Report as JUnit, TestCase, TestCaseStatus, TestSuite};
use serde::Serialize;

use super::critical_path::{PhaseTime, Step};
use crate::checks::{CheckResult, Verdict};
use crate::lint;

/// Everything a run found, as written to `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub tool: String,
    pub started_unix_ms: u128,
    /// What was checked: "bundled stack …", "targets …".
    pub subject: String,
    /// "faithful" or "accelerated xN": stated in every report.
    pub timing: String,
    pub phases: Vec<PhaseTime>,
    pub checks: Vec<CheckResult>,
    /// `true` once the run ended normally (a report written mid-run says `false`).
    pub complete: bool,
    /// The phase a signal (SIGINT, SIGTERM, SIGHUP) stopped the run in; the
    /// report is then rewritten with `complete: false` before the teardown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lint_findings: Vec<lint::Finding>,
    /// What the checks expected, as read from the stack (`obs-harness profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::profile::StackProfile>,
    /// The stack's data-flow graph ([`crate::graph`]); written beside the
    /// report as `graph.mmd` and `graph.json`, each edge coloured by the checks
    /// that exercise it.
    #[serde(skip)]
    pub graph: Option<crate::graph::Graph>,
    /// The image each service of the run ran (service -> image reference).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub images: std::collections::BTreeMap<String, String>,
    /// Which wait set the total: each phase with its longest check and that
    /// check's ratio to its floor ([`crate::report::critical_path`]), set at the end of a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critical_path: Vec<Step>,
    /// The run's start, for the timeline (`started_ms` of phases and checks).
    #[serde(skip)]
    pub clock: Instant,
}

impl RunReport {
    pub fn new(subject: impl Into<String>, timing: impl Into<String>) -> Self {
        Self {
            tool: format!("obs-harness {}", env!("CARGO_PKG_VERSION")),
            started_unix_ms: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis(),
            subject: subject.into(),
            timing: timing.into(),
            phases: Vec::new(),
            checks: Vec::new(),
            complete: false,
            interrupted: None,
            lint_findings: Vec::new(),
            profile: None,
            graph: None,
            images: Default::default(),
            critical_path: Vec::new(),
            clock: Instant::now(),
        }
    }

    pub fn add_phase(&mut self, phase: &str, took: Duration, mut checks: Vec<CheckResult>) {
        let since = |at: Instant, took: u64| (at.saturating_duration_since(self.clock).as_millis() as u64).saturating_sub(took);
        let started_ms = Some(since(Instant::now(), took.as_millis() as u64));
        for c in &mut checks {
            if c.started_ms.is_none() {
                c.started_ms = c.recorded.0.map(|at| since(at, c.duration_ms));
            }
        }
        self.phases.push(PhaseTime { phase: phase.to_owned(), ms: took.as_millis() as u64, started_ms });
        self.checks.extend(checks);
    }

    pub fn failed(&self) -> usize {
        self.checks.iter().filter(|c| c.verdict.is_failed()).count()
    }

    /// 0 when nothing failed (not-run checks do not fail a run), else 1.
    pub fn exit_code(&self) -> i32 {
        if self.failed() > 0 { 1 } else { 0 }
    }

    /// What redacts this report ([`crate::redact`]): the secrets of the stack its
    /// profile was read from, and the credential patterns.
    pub fn redactor(&self) -> crate::redact::Redactor {
        self.profile.as_ref().map(|p| p.secrets.clone()).unwrap_or_default()
    }

    /// A copy with every string it writes redacted (checks, lint findings,
    /// subject, profile).
    pub fn redacted(&self) -> RunReport {
        let redactor = self.redactor();
        let mut r = self.clone();
        r.subject = redactor.redact(&r.subject);
        for c in &mut r.checks {
            c.name = redactor.redact(&c.name);
            match &mut c.verdict {
                Verdict::Passed { detail: s } | Verdict::Failed { message: s } | Verdict::NotRun { reason: s } => *s = redactor.redact(s),
            }
        }
        for f in &mut r.lint_findings {
            f.message = redactor.redact(&f.message);
            f.hint = f.hint.as_deref().map(|h| redactor.redact(h));
        }
        r.profile = r.profile.as_ref().map(crate::profile::StackProfile::redacted);
        r
    }

    /// JUnit XML: one suite per phase, one case per check; not run = skipped (redacted).
    pub fn to_junit(&self) -> String {
        self.redacted().junit_plain()
    }

    fn junit_plain(&self) -> String {
        let mut report = JUnit::new("obs-harness");
        let mut phases: Vec<&str> = Vec::new();
        for c in &self.checks {
            if !phases.contains(&c.phase.as_str()) {
                phases.push(&c.phase);
            }
        }
        for phase in phases {
            let mut suite = TestSuite::new(phase);
            for c in self.checks.iter().filter(|c| c.phase == phase) {
                let status = match &c.verdict {
                    Verdict::Passed { .. } => TestCaseStatus::success(),
                    Verdict::Failed { message } => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(first_line(message)).set_description(message.as_str());
                        s
                    }
                    Verdict::NotRun { reason } => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(reason.as_str());
                        s
                    }
                };
                let mut case = TestCase::new(c.name.as_str(), status);
                case.set_classname(format!("obs-harness.{phase}")).set_time(Duration::from_millis(c.duration_ms));
                if let Verdict::Passed { detail } = &c.verdict {
                    case.set_system_out(detail.as_str());
                }
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string().expect("JUnit serialises")
    }

    /// The terminal summary: check, verdict, duration; then phase times (redacted).
    pub fn summary_table(&self) -> String {
        self.redacted().summary_plain()
    }

    fn summary_plain(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(10).clamp(10, 60);
        let mut out = format!("{:<w$}  {:<8}  {:>9}  detail\n", "check", "verdict", "duration", w = width);
        // Root causes first: failures, then what they blocked, then the rest in run order.
        let rank = |c: &&CheckResult| match &c.verdict {
            Verdict::Failed { .. } => 0,
            Verdict::NotRun { reason } if reason.starts_with("blocked by `") => 1,
            _ => 2,
        };
        let mut ordered: Vec<&CheckResult> = self.checks.iter().collect();
        ordered.sort_by_key(rank);
        for c in ordered {
            let (verdict, text) = match &c.verdict {
                Verdict::Passed { detail } => ("passed", detail.as_str()),
                Verdict::Failed { message } => ("FAILED", message.as_str()),
                Verdict::NotRun { reason } => ("not run", reason.as_str()),
            };
            out.push_str(&format!(
                "{:<w$}  {:<8}  {:>7}ms  {}\n",
                c.name,
                verdict,
                c.duration_ms,
                truncate(first_line(text), 110),
                w = width
            ));
        }
        let (p, f, n) = (
            self.checks.iter().filter(|c| c.verdict.is_passed()).count(),
            self.failed(),
            self.checks.iter().filter(|c| matches!(c.verdict, Verdict::NotRun { .. })).count(),
        );
        out.push_str(&format!("\n{p} passed, {f} failed, {n} not run  (timing: {})\n", self.timing));
        out.push_str("time to verdict per phase: ");
        out.push_str(&self.phases.iter().map(|ph| format!("{} {:.1}s", ph.phase, ph.ms as f64 / 1000.0)).collect::<Vec<_>>().join(", "));
        out.push('\n');
        out
    }

    /// `::error` workflow commands for failed checks and lint findings (GitHub Actions).
    pub fn github_annotations(&self, stack_dir: &Path) -> String {
        self.redacted().annotations_plain(stack_dir)
    }

    fn annotations_plain(&self, stack_dir: &Path) -> String {
        let mut out = String::new();
        for f in &self.lint_findings {
            let level = if format!("{:?}", f.severity).eq_ignore_ascii_case("warning") { "warning" } else { "error" };
            out.push_str(&format!(
                "::{level} file={},line={},title={}::{}\n",
                stack_dir.join(&f.file).display(),
                f.line,
                f.rule,
                escape(&format!("{}{}", f.message, f.hint.as_deref().map(|h| format!(" (hint: {h})")).unwrap_or_default()))
            ));
        }
        for c in self.checks.iter().filter(|c| c.verdict.is_failed() && c.phase != "lint") {
            out.push_str(&format!("::error title={}::{}\n", c.name, escape(c.verdict.text())));
        }
        out
    }
}

/// The lint phase as checks: one failed check per error finding, warnings as
/// passed-with-warning, external tools that ran, and those that did not as not run.
pub fn lint_checks(report: &lint::Report, took: Duration) -> Vec<CheckResult> {
    let mut out = Vec::new();
    for f in &report.findings {
        let where_ = format!("{}:{}", f.file, f.line);
        let text = format!("{where_} {}{}", f.message, f.hint.as_deref().map(|h| format!(" (hint: {h})")).unwrap_or_default());
        let verdict = if format!("{:?}", f.severity).eq_ignore_ascii_case("warning") {
            Verdict::Passed { detail: format!("warning: {text}") }
        } else {
            Verdict::Failed { message: text }
        };
        out.push(CheckResult::new("lint", &format!("lint.{} {where_}", f.rule), verdict, Duration::ZERO));
    }
    for r in &report.ran {
        let v = if r.passed {
            Verdict::Passed { detail: format!("{} {}", r.name, r.file) }
        } else {
            Verdict::Failed { message: format!("{} failed on {} (see the lint findings)", r.name, r.file) }
        };
        out.push(CheckResult::new("lint", &format!("lint.external {} {}", r.name, r.file), v, Duration::ZERO));
    }
    for s in &report.skipped {
        out.push(CheckResult::new(
            "lint",
            &format!("lint.external {}", s.name),
            Verdict::NotRun { reason: format!("{} (hint: {})", s.reason, s.install_hint) },
            Duration::ZERO,
        ));
    }
    if report.findings.is_empty() {
        out.insert(0, CheckResult::new("lint", "lint.static_gate", Verdict::Passed { detail: "no findings".into() }, took));
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// GitHub workflow command escaping.
fn escape(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> RunReport {
        let mut r = RunReport::new("bundled stack", "accelerated x15");
        r.add_phase(
            "signals",
            Duration::from_secs(3),
            vec![
                CheckResult::new("signals", "prometheus.target_up.fastapi", Verdict::Passed { detail: "up".into() }, Duration::from_millis(20)),
                CheckResult::new("signals", "jaeger.traces", Verdict::NotRun { reason: "service `jaeger` is not running".into() }, Duration::ZERO),
                CheckResult::new("signals", "loki.request_lines", Verdict::Failed { message: "no line with trace 42\nlast: []".into() }, Duration::from_millis(900)),
            ],
        );
        r
    }

    #[test]
    fn junit_maps_verdicts_to_success_failure_skipped() {
        let xml = sample().to_junit();
        assert!(xml.contains(r#"tests="3""#) && xml.contains(r#"failures="1""#) && xml.contains(r#"skipped="1""#), "{xml}");
        assert!(xml.contains("service `jaeger` is not running"), "{xml}");
        assert!(xml.contains("no line with trace 42"), "{xml}");
    }

    #[test]
    fn exit_code_and_summary() {
        let r = sample();
        assert_eq!(r.exit_code(), 1);
        let t = r.summary_table();
        assert!(t.contains("1 passed, 1 failed, 1 not run  (timing: accelerated x15)"), "{t}");
        assert!(t.contains("signals 3.0s"), "{t}");
    }

    #[test]
    fn annotations_escape_newlines() {
        let a = sample().github_annotations(Path::new("stack"));
        assert_eq!(a, "::error title=loki.request_lines::no line with trace 42%0Alast: []\n");
    }
}
