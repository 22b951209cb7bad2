//! Findings, skipped/ran external checks, timings, and their text/JSON renderings.

use serde::Serialize;
use std::time::Duration;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    /// What the gate could not judge or chose not to (a config the image carries, a
    /// variable compose leaves empty): reported, never failing.
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One problem found in the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Path relative to the stack directory (`/`-separated).
    pub file: String,
    /// 1-based line of the offending value (1 when the whole file is meant).
    pub line: usize,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<usize>,
    pub severity: Severity,
    /// Stable rule id, e.g. `scrape-target-unknown-service`.
    pub rule: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// An external check (promtool, amtool) that did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedCheck {
    pub name: String,
    pub reason: String,
    pub install_hint: String,
}

/// An external check that ran (whether it passed or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RanCheck {
    /// e.g. `promtool check config`.
    pub name: String,
    /// The stack file it checked (relative).
    pub file: String,
    pub passed: bool,
}

/// Wall-clock time per phase (`--timings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    #[serde(serialize_with = "ser_ms")]
    pub parse: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub cross_refs: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub queries: Duration,
    #[serde(serialize_with = "ser_ms")]
    pub external_tools: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// The result of [`super::lint`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Warnings and info from reading the stack that do not fail the gate ([`Report::add_read_notes`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Finding>,
    pub skipped: Vec<SkippedCheck>,
    pub ran: Vec<RanCheck>,
    pub timings: Timings,
}

impl From<crate::read::Note> for Finding {
    fn from(n: crate::read::Note) -> Self {
        let severity = match n.level {
            crate::read::Level::Error => Severity::Error,
            crate::read::Level::Warning => Severity::Warning,
            crate::read::Level::Info => Severity::Info,
        };
        Finding { file: n.file, line: n.line, col: None, severity, rule: n.rule.to_owned(), message: n.message, hint: n.hint }
    }
}

impl Report {
    /// Adds what reading noticed: errors are findings; warnings and info are notes,
    /// reported but not failing the gate (compose itself only warns of them).
    pub fn add_read_notes(&mut self, notes: Vec<crate::read::Note>) {
        for n in notes {
            let error = n.level == crate::read::Level::Error;
            let f = Finding::from(n);
            if error { self.findings.push(f) } else { self.notes.push(f) }
        }
    }

    /// True when there is no finding at all (skipped checks do not count as findings).
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// 0 when clean, 1 when there are findings.
    pub fn exit_code(&self) -> i32 {
        if self.is_clean() { 0 } else { 1 }
    }

    /// Findings with exactly this rule id.
    pub fn with_rule(&self, rule: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.rule == rule).collect()
    }

    /// Sorts findings by file, line, rule (stable output).
    pub(crate) fn sort(&mut self) {
        self.notes.sort_by(|a, b| (&a.file, a.line, &a.rule, &a.message).cmp(&(&b.file, b.line, &b.rule, &b.message)));
        self.notes.dedup();
        self.findings.sort_by(|a, b| {
            (&a.file, a.line, a.col, &a.rule, &a.message)
                .cmp(&(&b.file, b.line, b.col, &b.rule, &b.message))
        });
        self.findings.dedup();
    }

    /// One line per finding: `file:line[:col] severity rule-id message (hint: ...)`,
    /// then one `skipped: ...` line per external check that did not run.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&f.file);
            out.push(':');
            out.push_str(&f.line.to_string());
            if let Some(c) = f.col {
                out.push(':');
                out.push_str(&c.to_string());
            }
            out.push(' ');
            out.push_str(f.severity.as_str());
            out.push(' ');
            out.push_str(&f.rule);
            out.push(' ');
            out.push_str(&one_line(&f.message));
            if let Some(h) = &f.hint {
                out.push_str(" (hint: ");
                out.push_str(&one_line(h));
                out.push(')');
            }
            out.push('\n');
        }
        for f in &self.notes {
            out.push_str(&format!("{}:{} {} {} {}", f.file, f.line, f.severity.as_str(), f.rule, one_line(&f.message)));
            if let Some(h) = &f.hint {
                out.push_str(&format!(" (hint: {})", one_line(h)));
            }
            out.push('\n');
        }
        let mut out = crate::redact::patterns(&out);
        for s in &self.skipped {
            out.push_str(&format!(
                "skipped {}: {} (hint: {})\n",
                s.name, s.reason, s.install_hint
            ));
        }
        out
    }

    /// Timing lines for `--timings`.
    pub fn render_timings(&self) -> String {
        let t = &self.timings;
        format!(
            "timings: parse {:.1}ms, cross-refs {:.1}ms, queries {:.1}ms, external tools {:.1}ms\n",
            t.parse.as_secs_f64() * 1000.0,
            t.cross_refs.as_secs_f64() * 1000.0,
            t.queries.as_secs_f64() * 1000.0,
            t.external_tools.as_secs_f64() * 1000.0
        )
    }

    /// The whole report as pretty JSON (credential patterns redacted, see [`crate::redact`]).
    pub fn to_json(&self) -> String {
        crate::redact::patterns(&serde_json::to_string_pretty(self).expect("report serialises"))
    }
}

fn one_line(s: &str) -> String {
    s.trim()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" | ")
}
