//! `obs-harness lint`'s output: the gate's report as text, JSON or JUnit, its
//! findings as GitHub annotations, and the CI job summary. The gate returns
//! findings; this writes them out.

use super::RunReport;
use crate::lint;

/// Runs the gate, prints the report, returns the exit code (0 clean, 1 findings, 2 unreadable input).
/// The lint report in the shape of a run report (JUnit, annotations).
fn as_run_report(r: &lint::Report) -> RunReport {
    let mut run = RunReport::new("static gate", "n/a");
    run.add_phase("lint", r.timings.parse + r.timings.cross_refs + r.timings.queries + r.timings.external_tools, super::lint_checks(r, r.timings.parse));
    run.lint_findings = r.findings.clone();
    run.complete = true;
    run
}

pub fn lint_main(args: lint::LintArgs) -> i32 {
    let opts = lint::LintOptions {
        profile: args.profile,
        catalogue: args.catalogue.clone(),
        external: !args.no_external,
        compose_files: args.compose.compose_files.clone(),
        env_files: args.compose.env_files.clone(),
        compose_profiles: args.compose.profiles.clone(),
        images: args.images.iter().cloned().collect(),
    };
    match lint::lint(&args.stack_dir, &opts) {
        Ok(r) => {
            match args.format {
                lint::Format::Text => {
                    print!("{}", r.render_text());
                    if args.timings {
                        print!("{}", r.render_timings());
                    }
                    if r.is_clean() {
                        let ran = r.ran.len();
                        println!(
                            "lint: clean ({ran} external check(s) ran, {} skipped)",
                            r.skipped.len()
                        );
                    }
                }
                lint::Format::Json => println!("{}", r.to_json()),
                lint::Format::Junit => print!("{}", as_run_report(&r).to_junit()),
            }
            // In GitHub Actions, findings also become workflow annotations on their file and line.
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                print!("{}", as_run_report(&r).github_annotations(&args.stack_dir));
            }
            super::html::append_step_summary(&as_run_report(&r), "lint", None);
            r.exit_code()
        }
        Err(e) => {
            match args.format {
                lint::Format::Text => eprintln!("error: {}", crate::redact::patterns(&e.to_string())),
                lint::Format::Json | lint::Format::Junit => println!("{}", serde_json::json!({ "error": crate::redact::patterns(&e.to_string()) })),
            }
            super::html::append_step_summary_error("lint", &e.to_string());
            e.exit_code()
        }
    }
}
