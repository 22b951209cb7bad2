//! The telemetry snapshot as a check (`snapshot.telemetry`): the shape of
//! what the app emitted during the scenario (metric families and labels,
//! spans per route with their attributes, log labels and fields), compared
//! with the reviewed file beside the compose file ([`crate::snapshot::FILE_NAME`]).
//!
//! `obs-harness snapshot` writes that file the first time and rewrites it with
//! `--accept`; `check` compares against it whenever it exists, and a renamed
//! metric or label, a lost span attribute or a missing log label fails with the
//! diff. `--semconv VERSION` also checks span and metric attribute names against
//! the OTel HTTP semantic conventions of that version.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::checks::{self, CheckResult, Needs, Verdict};
use crate::snapshot::{self, CaptureContext, Outcome};
use crate::traffic::TrafficRecord;

use super::engine::Engine;

const PHASE: &str = "signals";
pub const NAME: &str = "snapshot.telemetry";

/// What the snapshot check does.
#[derive(Debug, Clone)]
pub struct SnapshotMode {
    /// The reviewed file (`<stack>/telemetry-snapshot.yaml`).
    pub file: PathBuf,
    /// Write the live shape over the file (as `cargo insta accept` does).
    pub accept: bool,
    /// The OTel semantic-conventions version to check names against.
    pub semconv: Option<String>,
}

/// Captures the live shape and compares it with (or writes it to) the file.
pub async fn telemetry(engine: &Engine, record: &TrafficRecord, mode: &SnapshotMode, timeout: Duration) -> CheckResult {
    let needs = Needs::on(["app"]).with_optional(["prometheus", "loki", "jaeger", "tempo"]);
    if let Some((because, reason)) = engine.decide(&needs) {
        return engine.not_run(PHASE, NAME, needs, because, reason);
    }
    let t = Instant::now();
    let targets = engine.targets();
    let profile = &targets.profile;
    let (prom, loki, jaeger, tempo) = (targets.prometheus(), targets.loki(), targets.jaeger(), targets.tempo());
    let traces = match (&jaeger, &tempo) {
        (Some(j), _) => Some(checks::jaeger::TraceStore::Jaeger(j)),
        (None, Some(t)) => Some(checks::jaeger::TraceStore::Tempo(t)),
        _ => None,
    };
    let app = profile.app.as_ref().map_or("app", |a| a.service.as_str());
    let selector = profile.log_selector().unwrap_or_default();
    let ctx = CaptureContext {
        app,
        semconv: mode.semconv.as_deref(),
        prometheus: prom.as_ref().filter(|_| engine.usable("prometheus")),
        loki: loki.as_ref().filter(|_| engine.usable("loki")),
        traces,
        job: profile.job().unwrap_or_default(),
        log_selector: &selector,
        record,
        timeout,
        settle: Duration::from_secs(2),
    };
    let verdict = match snapshot::capture(&ctx).await {
        Err(e) => Verdict::Failed { message: format!("could not capture the telemetry's shape: {e}") },
        Ok(live) => {
            let semconv: Vec<String> = mode.semconv.as_deref().map(|v| snapshot::semconv_check(&live, v).iter().map(ToString::to_string).collect()).unwrap_or_default();
            let file = mode.file.display();
            match snapshot::compare_or_write(&mode.file, &live, mode.accept) {
                Err(e) => Verdict::Failed { message: e.to_string() },
                Ok(Outcome::Written { first, changes, .. }) => Verdict::Passed {
                    detail: format!("{} {file}{}", if first { "wrote" } else { "accepted the live shape into" }, if changes.is_empty() { String::new() } else { format!(" ({} change(s))", changes.len()) }),
                },
                Ok(Outcome::Matches) if semconv.is_empty() => Verdict::Passed { detail: format!("the live telemetry has the shape recorded in {file}") },
                Ok(Outcome::Matches) => Verdict::Failed { message: format!("the shape matches {file}, but names break the semantic conventions:\n{}", semconv.join("\n")) },
                Ok(Outcome::Differs { changes, diff_text }) => {
                    let failing: Vec<String> = changes.iter().filter(|c| c.fails(false)).map(ToString::to_string).collect();
                    if failing.is_empty() && semconv.is_empty() {
                        Verdict::Passed { detail: format!("the live telemetry only adds to {file}: {} (hint: `obs-harness snapshot --accept` records it)", changes.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")) }
                    } else {
                        Verdict::Failed {
                            message: format!(
                                "the live telemetry differs from {file}: {} (hint: fix the app or stack, or `obs-harness snapshot --accept` if the change is meant)\n{diff_text}{}",
                                failing.join("; "),
                                if semconv.is_empty() { String::new() } else { format!("\nsemantic conventions:\n{}", semconv.join("\n")) }
                            ),
                        }
                    }
                }
            }
        }
    };
    engine.result(PHASE, NAME, needs, verdict, t.elapsed())
}
