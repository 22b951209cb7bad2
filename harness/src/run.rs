//! `obs-harness check`: the whole conformance run, as a sequence of phases.
//!
//! Lint (the static gate, on the stack read once), start (the stack through
//! testcontainers, unless `--target` names a running stack), then the live
//! phases of [`crate::phases`]: signals, dashboards, alerts with the ruler.
//! This module only sequences them and writes the reports (`report.json`,
//! `junit.xml`, `report.html`), rewritten after every phase, so a failing or
//! interrupted run still leaves one; the stack is always torn down.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checks::{CheckResult, Verdict};
use crate::stack::images::ImageMode;
use crate::lint;
use crate::phases::{self, Engine, Targets};
use crate::report::RunReport;
use crate::stack::{Stack, StackOptions};
use crate::traffic::Scenario;

/// What `check` runs against and how.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub stack_dir: PathBuf,
    /// Default: `<stack_dir>/docker-compose.yml`.
    pub compose: Option<PathBuf>,
    /// Every compose file (the first is [`Self::compose`]), `--env-file`s and `--profile`s.
    pub compose_input: crate::read::compose::ComposeInput,
    pub services: Option<Vec<String>>,
    pub images: ImageMode,
    pub scenario: Option<PathBuf>,
    /// 1 = the stack's own timings.
    pub acceleration: u32,
    /// `prometheus=URL,...`: check a running stack, start nothing.
    pub targets: Option<String>,
    pub report_dir: PathBuf,
    pub skip_lint: bool,
    pub skip_alerts: bool,
    pub startup_timeout: Duration,
    /// Image per service (`--image SERVICE=IMAGE`).
    pub image_overrides: std::collections::BTreeMap<String, String>,
    /// `obs-harness snapshot`: record (or with `accept`, rewrite) the telemetry's
    /// shape after the signals, then stop. `None`: `check`, which compares with the
    /// snapshot file when the stack has one.
    pub snapshot: Option<phases::telemetry::SnapshotMode>,
}

/// A phase's live progress: a spinner with the elapsed time on a terminal,
/// a plain line otherwise (CI logs).
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn start(line: &str) -> Self {
        // The phase a signal would stop the run in: `lint`, `start`, …, `alerts` (with the ruler beside it).
        crate::stack::cleanup::set_phase(line.split([':', ' ']).next().unwrap_or(line));
        let bar = indicatif::ProgressBar::new_spinner();
        if bar.is_hidden() {
            eprintln!("==> {line}");
        }
        bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
        bar.set_message(line.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(bar)
    }

    fn done(self) {
        let msg = self.0.message();
        self.0.finish_and_clear();
        if !self.0.is_hidden() {
            eprintln!("==> {msg} ({:.1}s)", self.0.elapsed().as_secs_f64());
        }
    }
}

fn progress(line: &str) -> Progress {
    Progress::start(line)
}

fn print_results(results: &[CheckResult]) {
    for r in results {
        let v = match &r.verdict {
            Verdict::Passed { .. } => "passed ",
            Verdict::Failed { .. } => "FAILED ",
            Verdict::NotRun { .. } => "not run",
        };
        eprintln!("    {v} {}", r.name);
    }
}

/// The run's report and where it goes: rewritten after every phase.
struct Reports<'a> {
    report: RunReport,
    opts: &'a CheckOptions,
}

impl Reports<'_> {
    fn write(&self) {
        if let Err(e) = self.report.write_tracked(&self.opts.report_dir) {
            eprintln!("obs-harness: cannot write the report to {}: {e}", self.opts.report_dir.display());
        }
    }

    /// A phase's results: printed, added, written.
    fn phase(&mut self, name: &str, took: Duration, results: Vec<CheckResult>) {
        print_results(&results);
        self.report.add_phase(name, took, results);
        self.write();
    }

    /// Bad input: one failed check, the reports, exit 2.
    fn fail_input(&mut self, name: &str, message: String) -> i32 {
        eprintln!("obs-harness: {message}");
        self.report.checks.push(CheckResult::new("input", name, Verdict::Failed { message }, Duration::ZERO));
        self.write();
        crate::report::html::append_step_summary(&self.report, "check", Some(&self.opts.report_dir));
        2
    }

    /// The end of a run that could not start its stack: complete, the summary; the exit code.
    fn finish_early(mut self, code: i32) -> i32 {
        self.report.complete = true;
        self.write();
        eprint!("{}", self.report.summary_table());
        crate::report::html::append_step_summary(&self.report, "check", Some(&self.opts.report_dir));
        code.max(self.report.exit_code())
    }

    /// The end of the run: complete, its critical path, the summary; the exit code.
    fn finish(mut self, code: i32) -> i32 {
        self.report.complete = true;
        self.report.critical_path = crate::report::critical_path::of(&self.report.phases, &self.report.checks);
        self.write();
        eprintln!();
        eprint!("{}", self.report.summary_table());
        eprint!("{}", crate::report::critical_path::render(&self.report.critical_path));
        eprintln!("reports: {0}/report.html, {0}/report.json, {0}/junit.xml, {0}/graph.mmd", self.opts.report_dir.display());
        crate::report::html::append_step_summary(&self.report, "check", Some(&self.opts.report_dir));
        if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
            print!("{}", self.report.github_annotations(&self.opts.stack_dir));
        }
        code.max(self.report.exit_code())
    }
}

/// Runs every phase; returns the exit code (0 passed, 1 a check failed, 2 bad input or environment).
pub async fn check(mut opts: CheckOptions) -> i32 {
    // Compose files as lint finds them: from the current directory when they exist
    // there, else in the stack directory.
    let resolve = |f: &PathBuf| if f.is_absolute() || f.is_file() { f.clone() } else { opts.stack_dir.join(f) };
    opts.compose_input.files = opts.compose_input.files.iter().map(resolve).collect();
    opts.compose = opts.compose.as_ref().map(resolve);
    let opts = opts;
    let compose = opts.compose.clone().unwrap_or_else(|| opts.stack_dir.join("docker-compose.yml"));
    let subject = match &opts.targets {
        Some(t) => format!("running stack ({t})"),
        None => format!("{} ({:?} images)", compose.display(), opts.images),
    };
    let timing = if opts.acceleration > 1 { format!("accelerated x{}", opts.acceleration) } else { "faithful".into() };
    let mut out = Reports { report: RunReport::new(subject, timing), opts: &opts };
    out.write();

    // Lint, on the stack read once for the whole run.
    let read = if opts.skip_lint {
        lint::read_stack(&opts.stack_dir, &opts.compose_input)
    } else {
        let p = progress("lint: static gate");
        let t = Instant::now();
        let lopts = lint::LintOptions {
            external: true,
            compose_files: opts.compose_input.files.clone(),
            env_files: opts.compose_input.env_files.clone(),
            compose_profiles: opts.compose_input.profiles.clone(),
            images: opts.image_overrides.clone(),
            ..Default::default()
        };
        let linted = lint::lint_read(&opts.stack_dir, &lopts);
        p.done();
        match linted {
            Ok((l, reading)) => {
                out.report.lint_findings = l.findings.clone();
                out.phase("lint", t.elapsed(), crate::report::lint_checks(&l, t.elapsed()));
                Ok(reading)
            }
            Err(e) => return out.fail_input("lint.input", format!("{e} (hint: fix the file, then run `obs-harness lint` again)")),
        }
    };
    let (model, profile) = match read {
        Ok(r) => (Some(Arc::new(r.model)), Ok(r.profile)),
        Err(e) => (None, Err(e)),
    };
    // The stack's data flow, coloured by what the live phases see (graph.mmd, graph.json).
    out.report.graph = model.as_deref().map(|m| crate::graph::Graph::of(m, &|_| None));

    // The scenario: --scenario, else scenario.yaml beside the compose file, else the
    // reference app's default (when it is the service under test), else none.
    let reference_app = profile.as_ref().map_or(true, |p| p.app.as_ref().is_none_or(|a| a.reference_app));
    let scenario = match Scenario::for_run(opts.scenario.as_deref(), compose.parent().unwrap_or(&opts.stack_dir), reference_app) {
        Ok(s) => s,
        Err(e) => return out.fail_input("scenario", e.to_string()),
    };

    // Start (or attach).
    let t = Instant::now();
    let mut stack = None;
    let targets = match &opts.targets {
        Some(spec) => match Targets::parse(spec) {
            Ok(t) => match profile {
                Ok(p) => t.with_profile(p),
                Err(e) => return out.fail_input("profile", format!("{e} (hint: --target still reads what to expect from --stack)")),
            },
            Err(e) => return out.fail_input("targets", format!("--target: {e}")),
        },
        None => {
            let p = progress("start: bringing the stack up");
            let mut so = StackOptions::new(&compose)
                .with_compose(opts.compose_input.clone())
                .with_model(model.clone())
                .with_images(opts.images)
                .with_acceleration(opts.acceleration)
                .with_startup_timeout(opts.startup_timeout);
            for (svc, img) in &opts.image_overrides {
                so = so.with_image(svc.clone(), img.clone());
            }
            so = so.with_selection(opts.services.clone());
            let started = Stack::start(so).await;
            p.done();
            match started {
                Ok(s) => {
                    eprint!("{}", s.state.timing_report());
                    let targets = Targets::from_state_with(&s.state, profile.unwrap_or_default(), model.clone());
                    out.report.images = s.state.services.iter().map(|(n, st)| (n.clone(), st.image.clone())).collect();
                    let ready = CheckResult::new("start", "stack.ready", Verdict::Passed { detail: format!("{} service(s) ready", s.state.services.len()) }, t.elapsed());
                    out.report.add_phase("start", t.elapsed(), vec![ready]);
                    stack = Some(s);
                    targets
                }
                Err(e) => {
                    let code = crate::stack::keeper::exit_code(&e);
                    eprintln!("obs-harness: {e}");
                    out.report.add_phase("start", t.elapsed(), vec![CheckResult::new("start", "stack.ready", Verdict::Failed { message: e.to_string() }, t.elapsed())]);
                    return out.finish_early(code);
                }
            }
        }
    };
    let mut targets = targets;
    targets.model = model.clone();
    targets.profile = std::mem::take(&mut targets.profile).with_declared_causes(&scenario.causes);
    if let Some(why) = &targets.profile.app_missing {
        eprintln!("obs-harness: no service under test: {why}");
    }
    out.report.profile = Some(targets.profile.clone());
    out.write();
    let engine = Engine::new(targets);
    // A link lint found broken blocks its dependents at once (no waiting on it). With
    // --skip-lint nothing static is judged: the live checks find it, and block the rest.
    if let Some(m) = model.as_deref().filter(|_| !opts.skip_lint) {
        engine.block_broken_links(m);
        engine.block_unshipped_logs(m, &out.report.lint_findings);
    }
    let timeout = if opts.acceleration > 1 { Duration::from_secs(60) } else { Duration::from_secs(120) };

    // Signals.
    let p = progress("signals: traffic, then traces, series, logs, Grafana, correlation");
    let t = Instant::now();
    let (record, mut results) = phases::signals::run(&engine, stack.as_ref(), &phases::signals::SignalOptions { scenario, timeout }).await;
    p.done();
    phases::watch::with_troubles(stack.as_ref(), &engine, &mut results).await;
    let current = phases::signals::catalogue(&engine, record.as_ref(), &results, &opts.stack_dir).await;
    results.push(current);
    // The telemetry snapshot: written by `snapshot`, compared by `check` when the stack has one.
    let file = compose.parent().unwrap_or(&opts.stack_dir).join(crate::snapshot::FILE_NAME);
    let mode = opts.snapshot.clone().or_else(|| file.is_file().then_some(phases::telemetry::SnapshotMode { file, accept: false, semconv: None }));
    if let (Some(mode), Some(record)) = (&mode, &record) {
        results.push(phases::telemetry::telemetry(&engine, record, mode, timeout).await);
    }
    out.phase("signals", t.elapsed(), results);
    if opts.snapshot.is_some() {
        if let Some(mut s) = stack {
            s.teardown().await;
        }
        return out.finish(0);
    }

    // Dashboards.
    let p = progress("dashboards: every panel query returns data");
    let t = Instant::now();
    let mut results = phases::dashboards::dashboards(&engine, stack.as_ref(), opts.acceleration, timeout).await;
    p.done();
    phases::watch::with_troubles(stack.as_ref(), &engine, &mut results).await;
    out.phase("dashboards", t.elapsed(), results);

    // Alerts, with the Loki ruler overlapped.
    let p = progress(if opts.skip_alerts { "ruler: Loki ruler rules load, evaluate and fire" } else { "alerts and ruler: each alert rule from cause to webhook and back; the Loki ruler" });
    let outcome = phases::alerts::alerts_and_ruler(&engine, stack.as_mut(), opts.acceleration, opts.skip_alerts).await;
    p.done();
    if let Some((mut results, took)) = outcome.alerts {
        phases::watch::with_troubles(stack.as_ref(), &engine, &mut results).await;
        out.phase("alerts", took, results);
    }
    let (mut ruler, took) = outcome.ruler;
    phases::watch::with_troubles(stack.as_ref(), &engine, &mut ruler).await;
    out.phase("ruler", took, ruler);

    if let Some(mut s) = stack {
        let p = progress("teardown");
        s.teardown().await;
        p.done();
    }
    out.finish(0)
}
