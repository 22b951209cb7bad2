//! External validators: `promtool check config`, `promtool check rules`,
//! `promtool test rules`, `amtool check-config`, run when on PATH.
//!
//! prometheus.yml names rule files by container path, so `promtool check config` runs
//! on a temporary copy whose `rule_files` are mapped back to host paths through the
//! compose mounts. A tool that is absent (or disabled with `--no-external`) yields a
//! [`SkippedCheck`], never a pass.

use super::report::{Finding, RanCheck, Report, Severity, SkippedCheck};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const PROMTOOL_HINT: &str = "apt-get install prometheus";
pub const AMTOOL_HINT: &str = "apt-get install prometheus-alertmanager";

/// What the external phase needs from the loaded stack.
pub struct ExternalInputs {
    /// (relative, host path, rule_files mapped to host paths or globs)
    pub prometheus: Option<(String, PathBuf, Vec<String>)>,
    /// (relative, host path)
    pub rule_files: Vec<(String, PathBuf)>,
    pub rule_tests: Vec<(String, PathBuf)>,
    pub alertmanager: Option<(String, PathBuf)>,
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

pub fn run(inputs: &ExternalInputs, enabled: bool, report: &mut Report) {
    let promtool = if enabled { which("promtool") } else { None };
    let amtool = if enabled { which("amtool") } else { None };
    let reason = |tool: &str| {
        if enabled {
            format!("`{tool}` not found on PATH")
        } else {
            "external tools disabled (--no-external)".to_owned()
        }
    };

    let prom_checks: Vec<&str> = {
        let mut v = Vec::new();
        if inputs.prometheus.is_some() {
            v.push("promtool check config");
        }
        if !inputs.rule_files.is_empty() {
            v.push("promtool check rules");
        }
        if !inputs.rule_tests.is_empty() {
            v.push("promtool test rules");
        }
        v
    };
    match &promtool {
        None => {
            for name in prom_checks {
                report.skipped.push(SkippedCheck {
                    name: name.to_owned(),
                    reason: reason("promtool"),
                    install_hint: PROMTOOL_HINT.to_owned(),
                });
            }
        }
        Some(pt) => {
            if let Some((rel, host, rule_globs)) = &inputs.prometheus {
                check_config(pt, rel, host, rule_globs, report);
            }
            for (rel, host) in &inputs.rule_files {
                let out = Command::new(pt).args(["check", "rules"]).arg(host).output();
                record(
                    report,
                    "promtool check rules",
                    "promtool-check-rules",
                    rel,
                    out,
                );
            }
            for (rel, host) in &inputs.rule_tests {
                let dir = host.parent().unwrap_or(Path::new("."));
                let file = host
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| host.clone());
                let out = Command::new(pt)
                    .args(["test", "rules"])
                    .arg(file)
                    .current_dir(dir)
                    .output();
                record(
                    report,
                    "promtool test rules",
                    "promtool-test-rules",
                    rel,
                    out,
                );
            }
        }
    }
    if let Some((rel, host)) = &inputs.alertmanager {
        match &amtool {
            None => report.skipped.push(SkippedCheck {
                name: "amtool check-config".into(),
                reason: reason("amtool"),
                install_hint: AMTOOL_HINT.into(),
            }),
            Some(am) => {
                let out = Command::new(am).arg("check-config").arg(host).output();
                record(
                    report,
                    "amtool check-config",
                    "amtool-check-config",
                    rel,
                    out,
                );
            }
        }
    }
}

fn check_config(pt: &Path, rel: &str, host: &Path, rule_globs: &[String], report: &mut Report) {
    let text = match std::fs::read_to_string(host) {
        Ok(t) => t,
        Err(e) => {
            push(
                report,
                "promtool-check-config",
                rel,
                1,
                format!("cannot read {}: {e}", host.display()),
            );
            return;
        }
    };
    let mut doc: serde_yaml::Value = match serde_yaml::from_str(&text) {
        Ok(d) => d,
        Err(_) => return, // already a LintError in the parse phase
    };
    if let Some(m) = doc.as_mapping_mut() {
        let rf: Vec<serde_yaml::Value> = rule_globs
            .iter()
            .map(|s| serde_yaml::Value::String(s.clone()))
            .collect();
        m.insert("rule_files".into(), serde_yaml::Value::Sequence(rf));
    }
    let dir = match crate::stack::cleanup::TempDir::new("promtool") {
        Ok(d) => d,
        Err(e) => {
            push(
                report,
                "promtool-check-config",
                rel,
                1,
                format!("cannot create a temp dir: {e}"),
            );
            return;
        }
    };
    let tmp = dir.path().join("prometheus.yml");
    if let Err(e) = std::fs::write(&tmp, serde_yaml::to_string(&doc).unwrap_or_default()) {
        push(
            report,
            "promtool-check-config",
            rel,
            1,
            format!("cannot write temp copy: {e}"),
        );
        return;
    }
    let out = Command::new(pt)
        .args(["check", "config"])
        .arg(&tmp)
        .output();
    record(
        report,
        "promtool check config",
        "promtool-check-config",
        rel,
        out,
    );
}

fn record(
    report: &mut Report,
    name: &str,
    rule: &str,
    rel: &str,
    out: std::io::Result<std::process::Output>,
) {
    match out {
        Ok(o) => {
            let passed = o.status.success();
            report.ran.push(RanCheck {
                name: name.into(),
                file: rel.into(),
                passed,
            });
            if !passed {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                let line = regex::Regex::new(r"line (\d+)")
                    .ok()
                    .and_then(|re| re.captures(&text).and_then(|c| c[1].parse().ok()))
                    .unwrap_or(1);
                push(
                    report,
                    rule,
                    rel,
                    line,
                    format!("`{name}` failed: {}", text.trim()),
                );
            }
        }
        Err(e) => {
            report.ran.push(RanCheck {
                name: name.into(),
                file: rel.into(),
                passed: false,
            });
            push(
                report,
                rule,
                rel,
                1,
                format!("`{name}` could not be started: {e}"),
            );
        }
    }
}

fn push(report: &mut Report, rule: &str, file: &str, line: usize, message: String) {
    report.findings.push(Finding {
        file: file.to_owned(),
        line,
        col: None,
        severity: Severity::Error,
        rule: rule.to_owned(),
        message,
        hint: None,
    });
}
