//! Reports of a conformance run: JSON and JUnit XML (quick-junit) written to a
//! directory after every phase (so an interrupted or failing run still leaves
//! one), report.html, a summary table for the terminal, and GitHub workflow
//! annotations when `GITHUB_ACTIONS=true`.
//!
//! - [`run_report`]: what a report holds and its text forms;
//! - [`html`]: the self-contained report.html and the CI job summary;
//! - [`critical_path`]: the phases' times and the longest wait of each;
//! - [`lint_output`]: `obs-harness lint`'s output;
//! - here: writing a report, and rewriting it when a signal stops the run.

use std::path::{Path, PathBuf};

pub mod critical_path;
pub mod html;
pub mod lint_output;
pub mod run_report;

pub use crate::checks::RecordedAt;
pub use critical_path::PhaseTime;
pub use run_report::{RunReport, lint_checks};

/// The report last written with [`RunReport::write_tracked`], and where.
fn last_written() -> &'static std::sync::Mutex<Option<(RunReport, PathBuf)>> {
    static LAST: std::sync::OnceLock<std::sync::Mutex<Option<(RunReport, PathBuf)>>> = std::sync::OnceLock::new();
    LAST.get_or_init(Default::default)
}

/// The signal handler's report: the last one written, `complete: false`,
/// `interrupted: <phase>` (a run that had completed is left as it is).
fn write_interrupted(sig: i32, phase: &str) {
    let mut last = last_written().lock().unwrap_or_else(|p| p.into_inner());
    let Some((report, dir)) = last.as_mut() else { return };
    if report.complete {
        return;
    }
    report.interrupted = Some(if phase.is_empty() { "setup".into() } else { phase.to_owned() });
    match report.write(dir) {
        Ok(_) => eprintln!("obs-harness: signal {sig} in phase {phase}: report written to {} (complete: false)", dir.display()),
        Err(e) => eprintln!("obs-harness: signal {sig}: cannot write the report to {}: {e}", dir.display()),
    }
}

impl RunReport {
    /// [`Self::write`], remembered: on SIGINT/SIGTERM/SIGHUP the signal handler
    /// rewrites the last report so written with `complete: false` and
    /// `interrupted: <phase>` (the phase of [`crate::stack::cleanup::set_phase`])
    /// before it tears the stack down. After a signal it writes nothing and
    /// blocks until the handler exits the process: the run goes no further.
    pub fn write_tracked(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        static HOOKED: std::sync::Once = std::sync::Once::new();
        HOOKED.call_once(|| crate::stack::cleanup::on_signal(write_interrupted));
        // After a signal the run goes no further than this: the handler exits the process.
        crate::stack::cleanup::wait_for_signal_exit();
        let mut last = last_written().lock().unwrap_or_else(|p| p.into_inner());
        if crate::stack::cleanup::shutting_down() {
            drop(last);
            crate::stack::cleanup::wait_for_signal_exit();
            return Ok((dir.join("report.json"), dir.join("junit.xml")));
        }
        let written = self.write(dir)?;
        *last = Some((self.clone(), dir.to_owned()));
        Ok(written)
    }

    /// [`Self::write_plain`] of the [`Self::redacted`] copy: no secret of the stack is written.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        self.redacted().write_plain(dir)
    }

    /// Writes `report.json`, `junit.xml` and `report.html` ([`crate::report::html`]) into `dir`.
    fn write_plain(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let json = dir.join("report.json");
        let tmp = dir.join(".report.json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self).expect("report serialises"))?;
        std::fs::rename(&tmp, &json)?;
        let junit = dir.join("junit.xml");
        std::fs::write(&junit, self.to_junit())?;
        if let Some(g) = &self.graph {
            let g = g.coloured(&self.checks);
            std::fs::write(dir.join("graph.mmd"), self.redactor().redact(&g.render(crate::graph::Format::Mermaid)))?;
            std::fs::write(dir.join("graph.json"), self.redactor().redact(&g.render(crate::graph::Format::Json)))?;
        }
        std::fs::write(dir.join("report.html"), crate::report::html::render(self))?;
        Ok((json, junit))
    }
}

#[cfg(test)]
mod tests {
    use super::run_report::tests::sample;

    #[test]
    fn written_even_when_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let (json, junit) = sample().write(dir.path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert_eq!(v["complete"], false);
        assert_eq!(v["checks"][2]["verdict"], "failed");
        assert!(junit.exists());
    }
}
