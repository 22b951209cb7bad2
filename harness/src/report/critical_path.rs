//! The critical path of a run: which wait set the total. Phases run one after
//! another (the ruler beside the alerts); within a phase the longest check is
//! the wait that set its length. Where a check knows its physical floor
//! (readiness, scrape and evaluation intervals, `for:`, `group_wait`; the alert
//! checks write `floor Nms, ratio R` into their detail) the step carries the
//! ratio to it.

use crate::checks::CheckResult;
use serde::Serialize;

/// One phase's wall-clock time.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTime {
    pub phase: String,
    pub ms: u64,
    /// When it started, in ms from the run's start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
}

/// One phase on the path and the wait inside it that set its length.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Step {
    pub phase: String,
    pub phase_ms: u64,
    /// The longest check of the phase.
    pub check: Option<String>,
    pub check_ms: u64,
    /// The check's physical floor and its ratio to it, when known.
    pub floor_ms: Option<u64>,
    pub ratio: Option<f64>,
}

/// `floor 12000ms, ratio 0.89` in a verdict's text.
fn floor_of(c: &CheckResult) -> Option<(u64, f64)> {
    let t = c.verdict.text();
    let f = t.split("floor ").nth(1)?.split("ms").next()?.trim().parse().ok()?;
    let r = t.split("ratio ").nth(1)?.split(|ch: char| !(ch.is_ascii_digit() || ch == '.')).next()?.parse().ok()?;
    Some((f, r))
}

/// The path: every phase (overlapping phases: only the longer one), each with
/// its longest check.
pub fn of(phases: &[PhaseTime], checks: &[CheckResult]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for p in phases {
        let longest = checks.iter().filter(|c| c.phase == p.phase).max_by_key(|c| c.duration_ms);
        let floor = longest.and_then(floor_of);
        steps.push(Step {
            phase: p.phase.clone(),
            phase_ms: p.ms,
            check: longest.map(|c| c.name.clone()),
            check_ms: longest.map_or(0, |c| c.duration_ms),
            floor_ms: floor.map(|f| f.0),
            ratio: floor.map(|f| f.1),
        });
    }
    // The ruler runs beside the alerts: only the longer of the two is on the path.
    if let (Some(a), Some(r)) = (steps.iter().position(|s| s.phase == "alerts"), steps.iter().position(|s| s.phase == "ruler")) {
        let drop = if steps[a].phase_ms >= steps[r].phase_ms { r } else { a };
        steps.remove(drop);
    }
    steps
}

/// One line: `critical path 112.2s: lint 0.4s → start 9.5s (stack.ready) → … → alerts 93.3s (alerts.HighLatencyP95 47.6s, floor 24.0s, ratio 0.99)`.
pub fn render(steps: &[Step]) -> String {
    let total: u64 = steps.iter().map(|s| s.phase_ms).sum();
    let parts: Vec<String> = steps
        .iter()
        .map(|s| {
            let secs = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
            match (&s.check, s.floor_ms, s.ratio) {
                (Some(c), Some(f), Some(r)) => format!("{} {} ({c} {}, floor {}, ratio {r:.2})", s.phase, secs(s.phase_ms), secs(s.check_ms), secs(f)),
                (Some(c), _, _) if s.check_ms > 0 => format!("{} {} ({c} {})", s.phase, secs(s.phase_ms), secs(s.check_ms)),
                _ => format!("{} {}", s.phase, secs(s.phase_ms)),
            }
        })
        .collect();
    format!("critical path {:.1}s: {}\n", total as f64 / 1000.0, parts.join(" → "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Verdict;
    use crate::report::RunReport;
    use std::time::Duration;

    #[test]
    fn the_longest_wait_of_each_phase_with_its_floor_ratio() {
        let mut r = RunReport::new("t", "accelerated x15");
        r.add_phase("start", Duration::from_millis(9500), vec![CheckResult::new("start", "stack.ready", Verdict::Passed { detail: "ok".into() }, Duration::from_millis(9400))]);
        let alert = |n: &str, ms: u64, floor: u64, ratio: f64| CheckResult::new("alerts", n, Verdict::Passed { detail: format!("webhook 1ms (floor {floor}ms, ratio {ratio:.2}), then resolved") }, Duration::from_millis(ms));
        r.add_phase("alerts", Duration::from_millis(93_000), vec![alert("alerts.A", 30_000, 12_000, 0.89), alert("alerts.B", 47_000, 24_000, 0.99)]);
        r.add_phase("ruler", Duration::from_millis(40_000), vec![]);
        let steps = of(&r.phases, &r.checks);
        assert_eq!(steps.iter().map(|s| s.phase.as_str()).collect::<Vec<_>>(), ["start", "alerts"], "the ruler ran beside the longer alerts");
        assert_eq!((steps[1].check.as_deref(), steps[1].floor_ms, steps[1].ratio), (Some("alerts.B"), Some(24_000), Some(0.99)));
        let line = render(&steps);
        assert!(line.starts_with("critical path 102.5s: start 9.5s (stack.ready 9.4s) → alerts 93.0s (alerts.B 47.0s, floor 24.0s, ratio 0.99)"), "{line}");
    }
}
