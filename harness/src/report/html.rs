//! `report.html`: the run's verdict for people, and the CI job summary.
//!
//! [`render`] turns a [`RunReport`] into one self-contained HTML file (inline
//! CSS and inline SVG, no script, no font, no fetch; a Content-Security-Policy
//! forbids anything else), written beside `report.json` on every
//! [`RunReport::write`], so passing, failing and interrupted runs all leave
//! one. Sections, in this order: the failures (each open, with its whole
//! message: query, URL, last log lines), the stack's data-flow graph coloured
//! by the run (`Graph::coloured`), a timeline of phases and checks with each
//! alert's path from cause to webhook against its floor, what was not run and
//! why, every check, the run's mode, the stack profile and the lint findings.
//!
//! Everything taken from the stack or a backend (names, label values,
//! messages, log lines) goes through [`escape`] and nothing else; the markup
//! around it is fixed text.
//!
//! [`step_summary`] is the short markdown verdict `check` and `lint` append
//! to `$GITHUB_STEP_SUMMARY` ([`append_step_summary`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::checks::{CheckResult, Verdict};
use crate::graph::{EdgeState, Graph};
use super::run_report::RunReport;

/// HTML-escapes text for element content and quoted attribute values:
/// `& < > " '` become entities, control characters other than newline, tab
/// and carriage return become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// How a check ended, for colours and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Passed,
    Failed,
    Blocked,
    NotRun,
}

fn kind(c: &CheckResult) -> Kind {
    match &c.verdict {
        Verdict::Passed { .. } => Kind::Passed,
        Verdict::Failed { .. } => Kind::Failed,
        Verdict::NotRun { reason } if reason.starts_with("blocked by") => Kind::Blocked,
        Verdict::NotRun { .. } => Kind::NotRun,
    }
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Passed => "passed",
            Kind::Failed => "failed",
            Kind::Blocked => "blocked",
            Kind::NotRun => "notrun",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Kind::Passed => "passed",
            Kind::Failed => "FAILED",
            Kind::Blocked => "blocked",
            Kind::NotRun => "not run",
        }
    }
}

fn state_kind(s: Option<EdgeState>) -> Kind {
    match s {
        Some(EdgeState::Passed) => Kind::Passed,
        Some(EdgeState::Failed) => Kind::Failed,
        Some(EdgeState::Blocked) => Kind::Blocked,
        Some(EdgeState::NotRun) | None => Kind::NotRun,
    }
}

const COLOURS: [(Kind, &str); 4] = [(Kind::Passed, "#2a9d48"), (Kind::Failed, "#d62728"), (Kind::Blocked, "#ff9f1c"), (Kind::NotRun, "#999999")];

fn colour(k: Kind) -> &'static str {
    COLOURS.iter().find(|(x, _)| *x == k).map(|(_, c)| *c).unwrap_or("#999999")
}

/// Counts of a report's checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    /// Not run, blocked ones included.
    pub not_run: usize,
    /// Not run because a check they depend on failed (`blocked by …`).
    pub blocked: usize,
}

pub fn counts(r: &RunReport) -> Counts {
    let mut n = Counts::default();
    for c in &r.checks {
        match kind(c) {
            Kind::Passed => n.passed += 1,
            Kind::Failed => n.failed += 1,
            Kind::Blocked => {
                n.blocked += 1;
                n.not_run += 1
            }
            Kind::NotRun => n.not_run += 1,
        }
    }
    n
}

/// Wall-clock time from the run's start to now, or the phases' sum when longer (ms).
fn time_to_verdict_ms(r: &RunReport) -> u64 {
    let wall = r.clock.elapsed().as_millis() as u64;
    let phases: u64 = r.phases.iter().map(|p| p.ms).sum();
    wall.max(phases)
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_owned() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// The checks a failed check blocked (`blocked by `NAME``).
fn blocked_by<'a>(r: &'a RunReport, name: &str) -> Vec<&'a CheckResult> {
    let prefix = format!("blocked by `{name}`");
    r.checks.iter().filter(|c| matches!(&c.verdict, Verdict::NotRun { reason } if reason.starts_with(&prefix))).collect()
}

const CSS: &str = r#"
:root{--passed:#2a9d48;--failed:#d62728;--blocked:#ff9f1c;--notrun:#999}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;background:#f6f8fa}
header{padding:10px 20px;background:#fff;border-bottom:4px solid var(--notrun)}
header.failed{border-color:var(--failed)}header.passed{border-color:var(--passed)}
h1{font-size:18px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}
.badge{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;background:var(--notrun);font-size:14px;vertical-align:2px}
.badge.failed{background:var(--failed)}.badge.passed{background:var(--passed)}.badge.incomplete{background:var(--blocked)}
.meta{margin:0;color:#57606a}.meta b{color:#1f2328}
nav{margin-top:4px;font-size:13px}nav a{margin-right:12px}
main{padding:10px 20px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:0 0 12px}
details{margin:4px 0}summary{cursor:pointer}
details.failure{border-left:4px solid var(--failed);padding:2px 8px;background:#fff8f8}
details.failure>summary{font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #eaeef2;padding:6px 8px;margin:4px 0;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;max-height:420px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #eaeef2;padding:2px 6px;text-align:left;vertical-align:top}
td.v{white-space:nowrap;font-weight:600}
.passed .v,td.passed{color:var(--passed)}.failed .v,td.failed{color:var(--failed)}.blocked .v,td.blocked{color:#b86e00}.notrun .v,td.notrun{color:#6e7781}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.sw{display:inline-block;width:22px;height:4px;vertical-align:middle;margin-right:4px}
.scroll{overflow-x:auto}
svg text{font:11px system-ui,Helvetica,Arial,sans-serif}
svg .node rect{fill:#fff;stroke:#57606a;stroke-width:1.5}
svg .node.unreach rect{stroke:var(--failed);stroke-width:2.5}
svg .node.unknown rect{stroke:var(--failed);stroke-dasharray:4 3}
svg .node .name{font-weight:600;font-size:12px}svg .node .kind{fill:#57606a}
svg .edge path{fill:none;stroke-width:2}svg .edge.broken path{stroke-dasharray:6 4}
svg .lbl{fill:#fff;opacity:.85}
svg .row{fill:#1f2328}svg .phase{font-weight:600}
svg .axis{stroke:#d0d7de}svg .tick{fill:#57606a;font-size:10px}
svg .floor{stroke:#1f2328;stroke-dasharray:3 2;stroke-width:1.5}
.ok{color:var(--passed)}.muted{color:#6e7781}
"#;

/// The whole report as one self-contained HTML document.
pub fn render(r: &RunReport) -> String {
    let n = counts(r);
    let failed: Vec<&CheckResult> = r.checks.iter().filter(|c| c.verdict.is_failed()).collect();
    let (badge, class) = match (r.complete, n.failed) {
        (_, f) if f > 0 => (format!("FAILED: {f} check(s)"), "failed"),
        (false, _) => ("INCOMPLETE".to_owned(), "incomplete"),
        (true, _) => ("PASSED".to_owned(), "passed"),
    };
    let mut h = String::with_capacity(64 * 1024);
    h.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    // No script, no fetch of any kind: the report is a file to open anywhere.
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(h, "<title>obs-harness: {} ({})</title>", escape(&badge), escape(&r.subject));
    let _ = writeln!(h, "<style>{CSS}</style></head><body>");

    // Header: the verdict in one glance.
    let _ = writeln!(h, "<header id=\"verdict\" class=\"{class}\">");
    let _ = writeln!(h, "<h1>obs-harness <span class=\"badge {class}\">{}</span></h1>", escape(&badge));
    let _ = writeln!(
        h,
        "<p class=\"meta\"><b>{}</b> passed · <b>{}</b> failed · <b>{}</b> not run ({} blocked by a failure) · time to verdict <b>{}</b> · timing <b>{}</b>{}</p>",
        n.passed,
        n.failed,
        n.not_run,
        n.blocked,
        escape(&secs(time_to_verdict_ms(r))),
        escape(&r.timing),
        if r.complete { "" } else { " · <b>run incomplete</b> (interrupted, or written mid-run)" }
    );
    let _ = writeln!(h, "<p class=\"meta\">{}</p>", escape(&r.subject));
    h.push_str("<nav><a href=\"#failures\">failures</a><a href=\"#graph-section\">data flow</a><a href=\"#timeline-section\">timeline</a><a href=\"#not-run\">not run</a><a href=\"#checks\">all checks</a><a href=\"#mode\">mode</a><a href=\"#profile\">profile</a><a href=\"#lint\">lint</a></nav>\n</header>\n<main>\n");

    failures_section(&mut h, r, &failed);
    graph_section(&mut h, r);
    timeline_section(&mut h, r);
    not_run_section(&mut h, r);
    checks_section(&mut h, r);
    mode_section(&mut h, r);
    profile_section(&mut h, r);
    lint_section(&mut h, r);

    let _ = writeln!(h, "</main>\n<footer class=\"muted\" style=\"padding:0 20px 12px\">{}; report.json and junit.xml beside this file hold the same data.</footer>\n</body></html>", escape(&r.tool));
    h
}

fn failures_section(h: &mut String, r: &RunReport, failed: &[&CheckResult]) {
    let _ = writeln!(h, "<section id=\"failures\"><h2>Failures ({})</h2>", failed.len());
    if failed.is_empty() {
        let _ = writeln!(h, "<p class=\"ok\">No check failed{}.</p>", if r.complete { "" } else { " so far" });
    }
    for c in failed {
        let blocked = blocked_by(r, &c.name);
        let _ = writeln!(
            h,
            "<details class=\"failure\" open><summary>{} <span class=\"muted\">({}, {} ms)</span></summary>",
            escape(&c.name),
            escape(&c.phase),
            c.duration_ms
        );
        let _ = writeln!(h, "<pre>{}</pre>", escape(c.verdict.text()));
        if !blocked.is_empty() {
            let names: Vec<String> = blocked.iter().take(12).map(|b| escape(&b.name)).collect();
            let more = if blocked.len() > 12 { format!(", … {} more", blocked.len() - 12) } else { String::new() };
            let _ = writeln!(h, "<p class=\"muted\">blocked {} check(s): {}{}</p>", blocked.len(), names.join(", "), escape(&more));
        }
        h.push_str("</details>\n");
    }
    h.push_str("</section>\n");
}

/// Columns by depth along the graph's edges (back edges of a cycle and self loops ignored).
fn depths(g: &Graph) -> Vec<usize> {
    let n = g.nodes.len();
    let idx = |name: &str| g.nodes.iter().position(|x| x.name == name);
    let adj: Vec<Vec<usize>> = (0..n)
        .map(|u| g.edges.iter().filter(|e| e.from == g.nodes[u].name).filter_map(|e| idx(&e.to)).filter(|&v| v != u).collect())
        .collect();
    // Iterative DFS: post-order gives a topological order of the acyclic part.
    let mut state = vec![0u8; n];
    let mut order = Vec::with_capacity(n);
    let mut back = std::collections::HashSet::new();
    for s in 0..n {
        if state[s] != 0 {
            continue;
        }
        let mut stack = vec![(s, 0usize)];
        state[s] = 1;
        while let Some((u, i)) = stack.pop() {
            if i < adj[u].len() {
                stack.push((u, i + 1));
                let v = adj[u][i];
                match state[v] {
                    0 => {
                        state[v] = 1;
                        stack.push((v, 0));
                    }
                    1 => {
                        back.insert((u, v));
                    }
                    _ => {}
                }
            } else {
                state[u] = 2;
                order.push(u);
            }
        }
    }
    let mut depth = vec![0usize; n];
    for &u in order.iter().rev() {
        for &v in &adj[u] {
            if !back.contains(&(u, v)) {
                depth[v] = depth[v].max(depth[u] + 1);
            }
        }
    }
    depth
}

fn graph_section(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"graph-section\"><h2>Data flow</h2>\n<p class=\"legend\">");
    for (k, c) in COLOURS {
        let _ = write!(h, "<span><i class=\"sw\" style=\"background:{c}\"></i>{}</span>", if k == Kind::Failed { "failed" } else { k.label() });
    }
    h.push_str("<span><i class=\"sw\" style=\"background:repeating-linear-gradient(90deg,#57606a 0 6px,transparent 6px 10px)\"></i>broken link (lint finding)</span><span>red box: backend unreachable</span></p>\n");
    let Some(graph) = &r.graph else {
        h.push_str("<p class=\"muted\" id=\"graph\">No graph: the stack model could not be read (see the lint findings).</p></section>\n");
        return;
    };
    let g = graph.coloured(&r.checks);
    let depth = depths(&g);
    let (bw, bh, colw, rowh, pad) = (150.0, 44.0, 230.0, 104.0, 24.0);
    let cols = depth.iter().max().map_or(1, |d| d + 1);
    // Rows: column by column, each node near the mean row of what links into it
    // from the columns before (fewer crossings); odd columns sit half a row
    // lower, so an edge that skips a column passes between its boxes.
    let idx = |name: &str| g.nodes.iter().position(|x| x.name == name);
    let mut row = vec![0usize; g.nodes.len()];
    let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
    for col in 0..cols {
        let mut members: Vec<(f64, usize)> = (0..g.nodes.len())
            .filter(|&i| depth[i] == col)
            .map(|i| {
                let preds: Vec<f64> = g.edges.iter().filter(|e| e.to == g.nodes[i].name).filter_map(|e| idx(&e.from)).filter(|&p| depth[p] < col).map(|p| row[p] as f64).collect();
                (if preds.is_empty() { i as f64 / 100.0 } else { preds.iter().sum::<f64>() / preds.len() as f64 }, i)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (r, (_, i)) in members.iter().enumerate() {
            row[*i] = r;
        }
        rows.insert(col, members.len());
    }
    let pos: Vec<(f64, f64)> = (0..g.nodes.len()).map(|i| (pad + depth[i] as f64 * colw, pad + 26.0 + row[i] as f64 * rowh + if depth[i] % 2 == 1 { rowh / 2.0 } else { 0.0 })).collect();
    let bottom = pos.iter().map(|p| p.1).fold(0.0, f64::max) + bh;
    let (w, ht) = (pad * 2.0 + (cols - 1) as f64 * colw + bw, bottom + pad + 20.0);
    let _ = writeln!(h, "<div class=\"scroll\"><svg id=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{ht:.0}\" viewBox=\"0 0 {w:.0} {ht:.0}\" role=\"img\" aria-label=\"the stack's data-flow graph\">");
    h.push_str("<defs>");
    for (k, c) in COLOURS {
        let _ = write!(h, "<marker id=\"arrow-{}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0 0L10 5L0 10z\" fill=\"{c}\"/></marker>", k.class());
    }
    h.push_str("</defs>\n");
    let mut placed: Vec<(f64, f64, f64, f64)> = Vec::new();
    let rank = |k: Kind| match k {
        Kind::NotRun => 0u8,
        Kind::Passed => 1,
        Kind::Blocked => 2,
        Kind::Failed => 3,
    };
    let mut drawn = Vec::new();
    for e in &g.edges {
        let (Some(a), Some(b)) = (idx(&e.from), idx(&e.to)) else { continue };
        let k = state_kind(e.state);
        let ((ax, ay), (bx, by)) = (pos[a], pos[b]);
        // The path, and where its label may go (first free spot wins).
        let (path, spots): (String, Vec<(f64, f64)>) = if a == b {
            let (x, y) = (ax + bw * 0.7, ay);
            (format!("M{:.1} {:.1}C{:.1} {:.1} {:.1} {:.1} {:.1} {:.1}", x - 20.0, y, x - 30.0, y - 40.0, x + 30.0, y - 40.0, x + 20.0, y), vec![(x, y - 30.0)])
        } else if depth[b] > depth[a] {
            let (x1, y1, x2, y2) = (ax + bw, ay + bh / 2.0, bx, by + bh / 2.0);
            let dx = (x2 - x1) / 2.0;
            let at = |t: f64| {
                let u = 1.0 - t;
                let b = |p0: f64, p1: f64, p2: f64, p3: f64| u * u * u * p0 + 3.0 * u * u * t * p1 + 3.0 * u * t * t * p2 + t * t * t * p3;
                (b(x1, x1 + dx, x2 - dx, x2), b(y1, y1, y2, y2))
            };
            let at_x = |gx: f64| {
                let (mut lo, mut hi) = (0.0, 1.0);
                for _ in 0..30 {
                    let m = (lo + hi) / 2.0;
                    if at(m).0 < gx { lo = m } else { hi = m }
                }
                at(lo)
            };
            // In a gap between columns (never on a box of a column the edge passes): before the target, after the source, between.
            let gap = (colw - bw) / 2.0;
            let mut spots = vec![at_x(x2 - gap), at_x(x1 + gap)];
            let mut gx = x1 + gap + colw;
            while gx < x2 - gap {
                spots.push(at_x(gx));
                gx += colw;
            }
            spots.extend([at_x(x2 - gap * 0.5), at_x(x1 + gap * 1.5)]);
            spots.extend((2..9).map(|i| at(i as f64 / 10.0)));
            (format!("M{x1:.1} {y1:.1}C{:.1} {y1:.1} {:.1} {y2:.1} {x2:.1} {y2:.1}", x1 + dx, x2 - dx), spots)
        } else {
            // Back or same-column edge: under the boxes.
            let (x1, y1, x2, y2) = (ax + bw / 2.0 + 10.0, ay + bh, bx + bw / 2.0 - 10.0, by + bh);
            let low = y1.max(y2) + 34.0;
            (format!("M{x1:.1} {y1:.1}C{x1:.1} {low:.1} {x2:.1} {low:.1} {x2:.1} {y2:.1}"), vec![((x1 + x2) / 2.0, 0.25 * (y1 + y2) + 0.75 * low)])
        };
        let port = if e.port == 0 { String::new() } else { format!(":{}", e.port) };
        let mark = if k == Kind::Failed { "✗ " } else { "" };
        let label = format!("{mark}{}{port}", e.proto);
        let mut title = format!("{} → {}: {} ({}) at {} — {}", e.from, e.to, e.what, label.trim_start_matches("✗ "), e.at, k.label());
        if let Some(b) = &e.broken {
            title.push_str(&format!("; broken: {b}"));
        }
        if !e.checks.is_empty() {
            title.push_str(&format!("; checks: {}", e.checks.join(", ")));
        }
        let svg = format!(
            "<g class=\"edge {}{}\"><title>{}</title><path d=\"{path}\" stroke=\"{}\" marker-end=\"url(#arrow-{})\"/></g>\n",
            k.class(),
            if e.broken.is_some() { " broken" } else { "" },
            escape(&title),
            colour(k),
            k.class()
        );
        drawn.push((rank(k), svg, label, title, spots, k));
    }
    // Failed edges drawn last (on top) and labelled first (they get the free spots).
    drawn.sort_by_key(|d| d.0);
    for d in &drawn {
        h.push_str(&d.1);
    }
    let mut labels: Vec<(u8, String)> = Vec::new();
    for (rk, _, label, title, spots, k) in drawn.iter().rev() {
        let lw = label.chars().count() as f64 * 6.3 + 8.0;
        let clear = |(x, y): (f64, f64)| {
            let overlaps = |(ox, oy, ow, oh): (f64, f64, f64, f64)| x - lw / 2.0 < ox + ow && ox < x + lw / 2.0 && y - 8.0 < oy + oh && oy < y + 7.0;
            !placed.iter().any(|r| overlaps(*r)) && !pos.iter().any(|(px, py)| overlaps((*px, *py, bw, bh)))
        };
        let mid = spots.iter().copied().find(|s| clear(*s)).unwrap_or(spots[0]);
        placed.push((mid.0 - lw / 2.0, mid.1 - 8.0, lw, 15.0));
        labels.push((
            *rk,
            format!(
                "<g class=\"elabel\"><title>{}</title><rect class=\"lbl\" x=\"{:.1}\" y=\"{:.1}\" width=\"{lw:.1}\" height=\"15\" rx=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{}\">{}</text></g>\n",
                escape(title),
                mid.0 - lw / 2.0,
                mid.1 - 8.0,
                mid.0,
                mid.1 + 3.5,
                colour(*k),
                escape(label)
            ),
        ));
    }
    labels.reverse();
    for (i, node) in g.nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let unreach = r.checks.iter().any(|c| c.name == format!("reachability.{}", node.name) && c.verdict.is_failed());
        let cls = if node.kind == "unknown" { " unknown" } else if unreach { " unreach" } else { "" };
        let title = format!("{} ({}) listens: {}", node.name, node.kind, if node.listens.is_empty() { "-".to_owned() } else { node.listens.join(", ") });
        let _ = writeln!(
            h,
            "<g class=\"node{cls}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bw}\" height=\"{bh}\" rx=\"6\"/><text class=\"name\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text class=\"kind\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></g>",
            escape(&title),
            x + bw / 2.0,
            y + 18.0,
            escape(&truncate(&node.name, 22)),
            x + bw / 2.0,
            y + 34.0,
            escape(&truncate(if node.kind == "unknown" { "no such service" } else { &node.kind }, 24))
        );
    }
    for (_, l) in &labels {
        h.push_str(l);
    }
    h.push_str("</svg></div>\n");
    let broken: Vec<_> = g.edges.iter().filter(|e| e.broken.is_some()).collect();
    if !broken.is_empty() {
        h.push_str("<p>Broken links:</p><ul>");
        for e in broken {
            let _ = write!(h, "<li>{} → {} ({}): {}</li>", escape(&e.from), escape(&e.to), escape(&e.at), escape(e.broken.as_deref().unwrap_or_default()));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

/// An alert's path as its passed verdict records it (ms from the cause's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertStages {
    pub pending: u64,
    pub firing: u64,
    pub alertmanager: u64,
    pub webhook: u64,
    pub floor: u64,
}

/// Parses `pending Nms, firing Nms, in Alertmanager Nms, webhook Nms (floor Nms, …` (see `phases::alerts`).
pub fn alert_stages(detail: &str) -> Option<AlertStages> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"pending (\d+)ms, firing (\d+)ms, in Alertmanager (\d+)ms, webhook (\d+)ms \(floor (\d+)ms").expect("valid regex"));
    let c = re.captures(detail)?;
    let n = |i: usize| c[i].parse::<u64>().ok();
    Some(AlertStages { pending: n(1)?, firing: n(2)?, alertmanager: n(3)?, webhook: n(4)?, floor: n(5)? })
}

const STAGES: [(&str, &str); 4] = [("pending", "#8250df"), ("firing", "#cf222e"), ("in Alertmanager", "#0969da"), ("webhook", "#1a7f37")];

fn timeline_section(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"timeline-section\"><h2>Timeline</h2>\n");
    // Each phase's checks; a check without a recorded start is laid out after the previous one.
    let mut estimated = false;
    // (phase, its (start, ms) when recorded, its checks with their starts)
    type Group<'a> = (String, Option<(u64, u64)>, Vec<(&'a CheckResult, u64)>);
    let mut groups: Vec<Group> = Vec::new();
    let mut cursor = 0u64;
    let mut phase_names: Vec<&str> = r.phases.iter().map(|p| p.phase.as_str()).collect();
    for c in &r.checks {
        if !phase_names.contains(&c.phase.as_str()) {
            phase_names.push(&c.phase);
        }
    }
    for name in phase_names {
        let ph = r.phases.iter().find(|p| p.phase == name);
        let start = ph.map(|p| p.started_ms.unwrap_or(cursor)).unwrap_or(cursor);
        if ph.is_some_and(|p| p.started_ms.is_none()) {
            estimated = true;
        }
        let mut at = start;
        let mut rows = Vec::new();
        for c in r.checks.iter().filter(|c| c.phase == name) {
            let s = match c.started_ms {
                Some(s) => s,
                None => {
                    estimated = true;
                    at
                }
            };
            at = at.max(s + c.duration_ms);
            rows.push((c, s));
        }
        let end = ph.map(|p| start + p.ms).unwrap_or(at).max(at);
        cursor = end;
        groups.push((name.to_owned(), ph.map(|p| (start, p.ms)), rows));
    }
    let total = groups
        .iter()
        .flat_map(|(_, p, rows)| p.map(|(s, ms)| s + ms).into_iter().chain(rows.iter().map(|(c, s)| s + c.duration_ms)))
        .max()
        .unwrap_or(0)
        .max(1);
    let (left, chart, rowh, top) = (300.0, 820.0, 16.0, 22.0);
    let x = |ms: u64| left + ms as f64 / total as f64 * chart;
    const MAX_ROWS: usize = 60;
    let mut body = String::new();
    let mut y = top;
    for (name, ph, rows) in &groups {
        let not_run = rows.iter().filter(|(c, _)| matches!(c.verdict, Verdict::NotRun { .. })).count();
        let (ps, pms) = ph.unwrap_or_else(|| {
            let s = rows.iter().map(|(_, s)| *s).min().unwrap_or(0);
            (s, rows.iter().map(|(c, st)| st + c.duration_ms).max().unwrap_or(s) - s)
        });
        let label = format!("{name} {}{}", secs(pms), if not_run > 0 { format!(" · {not_run} not run") } else { String::new() });
        let _ = writeln!(
            body,
            "<g class=\"prow\"><title>{}</title><text class=\"row phase\" x=\"4\" y=\"{:.1}\">{}</text><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#57606a\" rx=\"2\"/></g>",
            escape(&format!("phase {name}: from {} to {}", secs(ps), secs(ps + pms))),
            y + 12.0,
            escape(&label),
            x(ps),
            y + 2.0,
            (x(ps + pms) - x(ps)).max(2.0),
            rowh - 4.0
        );
        y += rowh + 2.0;
        let shown: Vec<&(&CheckResult, u64)> = rows.iter().filter(|(c, _)| !matches!(c.verdict, Verdict::NotRun { .. })).collect();
        for (c, s) in shown.iter().take(MAX_ROWS) {
            let k = kind(c);
            let stages = if c.name.starts_with("alerts.") { alert_stages(c.verdict.text()) } else { None };
            let title = format!("{} — {}, {} ms from {}: {}", c.name, k.label(), c.duration_ms, secs(*s), truncate(first_line(c.verdict.text()), 200));
            let _ = write!(
                body,
                "<g class=\"crow {}\"><title>{}</title><text class=\"row\" x=\"16\" y=\"{:.1}\">{}</text><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" rx=\"2\"/>",
                k.class(),
                escape(&title),
                y + 11.0,
                escape(&truncate(&c.name, 44)),
                x(*s),
                y + 3.0,
                (x(s + c.duration_ms) - x(*s)).max(2.0),
                rowh - 6.0,
                colour(k)
            );
            if let Some(st) = stages {
                for ((stage, col), ms) in STAGES.iter().zip([st.pending, st.firing, st.alertmanager, st.webhook]) {
                    let _ = write!(
                        body,
                        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"3\" height=\"{:.1}\" fill=\"{col}\"><title>{}</title></rect>",
                        x(s + ms) - 1.5,
                        y,
                        rowh,
                        escape(&format!("{} {stage} at {ms} ms", c.name))
                    );
                }
                let _ = write!(
                    body,
                    "<line class=\"floor\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\"><title>{3}</title></line>",
                    x(s + st.floor),
                    y - 1.0,
                    y + rowh + 1.0,
                    escape(&format!("{} floor {} ms", c.name, st.floor))
                );
            }
            body.push_str("</g>\n");
            y += rowh;
        }
        if shown.len() > MAX_ROWS {
            let _ = writeln!(body, "<text class=\"row muted\" x=\"16\" y=\"{:.1}\">… {} more (see all checks)</text>", y + 11.0, shown.len() - MAX_ROWS);
            y += rowh;
        }
        y += 4.0;
    }
    let height = y + 8.0;
    let width = left + chart + 20.0;
    let _ = writeln!(h, "<div class=\"scroll\"><svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"timeline of the run\">");
    // Axis: about eight ticks at 1, 2 or 5 times a power of ten.
    let raw = total as f64 / 8.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(mag * 10.0).max(1.0);
    let mut t = 0.0;
    while t <= total as f64 {
        let _ = write!(
            h,
            "<line class=\"axis\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"14\" y2=\"{1:.1}\"/><text class=\"tick\" x=\"{0:.1}\" y=\"11\" text-anchor=\"middle\">{2}</text>",
            x(t as u64),
            height - 4.0,
            escape(&if step < 1000.0 { format!("{:.1}s", t / 1000.0) } else { format!("{:.0}s", t / 1000.0) })
        );
        t += step;
    }
    h.push_str(&body);
    h.push_str("</svg></div>\n<p class=\"legend\">");
    for (k, c) in COLOURS.iter().take(2) {
        let _ = write!(h, "<span><i class=\"sw\" style=\"background:{c}\"></i>{}</span>", if *k == Kind::Failed { "failed" } else { k.label() });
    }
    h.push_str("<span><i class=\"sw\" style=\"background:#57606a\"></i>phase</span>");
    for (stage, col) in STAGES {
        let _ = write!(h, "<span><i class=\"sw\" style=\"background:{col};width:4px;height:12px\"></i>alert {}</span>", escape(stage));
    }
    h.push_str("<span>┆ floor (two scrapes, an evaluation, <code>for:</code>, group_wait); an alert's bar ends when it resolved</span></p>\n");
    if estimated {
        h.push_str("<p class=\"muted\">Some starts were not recorded (an older report): those bars are laid out one after another.</p>\n");
    }
    alert_table(h, r);
    h.push_str("</section>\n");
}

fn alert_table(h: &mut String, r: &RunReport) {
    let alerts: Vec<&CheckResult> = r.checks.iter().filter(|c| c.phase == "alerts" && c.name.starts_with("alerts.") && c.name != "alerts.coverage").collect();
    if alerts.is_empty() {
        return;
    }
    h.push_str("<h3>Alert paths (ms from the cause's start)</h3>\n<table id=\"alert-paths\"><tr><th>alert</th><th>verdict</th><th>pending</th><th>firing</th><th>in Alertmanager</th><th>webhook</th><th>resolved (check end)</th><th>floor</th><th>webhook / floor</th></tr>\n");
    for c in alerts {
        let k = kind(c);
        let _ = write!(h, "<tr class=\"{}\"><td>{}</td><td class=\"v\">{}</td>", k.class(), escape(c.name.trim_start_matches("alerts.")), k.label());
        match alert_stages(c.verdict.text()) {
            Some(s) => {
                let _ = writeln!(
                    h,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td></tr>",
                    s.pending,
                    s.firing,
                    s.alertmanager,
                    s.webhook,
                    c.duration_ms,
                    s.floor,
                    s.webhook as f64 / s.floor.max(1) as f64
                );
            }
            None => {
                let why = match k {
                    Kind::Failed => format!("stage times are recorded only for a completed path; it stopped at: {}", truncate(first_line(c.verdict.text()), 240)),
                    _ => truncate(first_line(c.verdict.text()), 240),
                };
                let _ = writeln!(h, "<td colspan=\"7\">{}</td></tr>", escape(&why));
            }
        }
    }
    h.push_str("</table>\n");
}

fn check_rows(h: &mut String, checks: &[&CheckResult], text_chars: usize) {
    h.push_str("<table><tr><th>check</th><th>phase</th><th>verdict</th><th>ms</th><th>detail</th></tr>\n");
    for c in checks {
        let k = kind(c);
        let _ = writeln!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td class=\"v\">{}</td><td>{}</td><td>{}</td></tr>",
            k.class(),
            escape(&c.name),
            escape(&c.phase),
            k.label(),
            c.duration_ms,
            escape(&truncate(first_line(c.verdict.text()), text_chars))
        );
    }
    h.push_str("</table>\n");
}

fn not_run_section(h: &mut String, r: &RunReport) {
    let not_run: Vec<&CheckResult> = r.checks.iter().filter(|c| matches!(c.verdict, Verdict::NotRun { .. })).collect();
    let _ = writeln!(h, "<section id=\"not-run\"><details><summary><b>Not run ({})</b>: each with its reason (blocked by a failure, or a backend not in this run)</summary>", not_run.len());
    check_rows(h, &not_run, 400);
    h.push_str("</details></section>\n");
}

fn checks_section(h: &mut String, r: &RunReport) {
    let all: Vec<&CheckResult> = r.checks.iter().collect();
    let _ = writeln!(h, "<section id=\"checks\"><details><summary><b>All checks ({})</b> in run order</summary>", all.len());
    check_rows(h, &all, 300);
    h.push_str("</details></section>\n");
}

fn mode_section(h: &mut String, r: &RunReport) {
    let started = chrono::DateTime::from_timestamp_millis(r.started_unix_ms as i64).map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
    h.push_str("<section id=\"mode\"><h2>Mode</h2><table>\n");
    let phases = r.phases.iter().map(|p| format!("{} {}", p.phase, secs(p.ms))).collect::<Vec<_>>().join(", ");
    for (k, v) in [
        ("subject", r.subject.clone()),
        ("timing", r.timing.clone()),
        ("started", started),
        ("complete", match (&r.complete, &r.interrupted) {
            (true, _) => "yes".into(),
            (false, Some(phase)) => format!("no (interrupted by a signal in the {phase} phase)"),
            (false, None) => "no (interrupted, or written mid-run)".into(),
        }),
        ("phases", phases),
        ("images", if r.images.is_empty() { "none started by this run (--target, or the start failed)".into() } else { r.images.iter().map(|(s, i)| format!("{s}: {i}")).collect::<Vec<_>>().join(", ") }),
        ("tool", r.tool.clone()),
    ] {
        let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
    }
    h.push_str("</table></section>\n");
}

fn profile_section(h: &mut String, r: &RunReport) {
    h.push_str("<section id=\"profile\"><details open><summary><b>Stack profile</b>: what the checks expected, read from the stack</summary>\n");
    match &r.profile {
        Some(p) => {
            let _ = writeln!(h, "<pre>{}</pre>", escape(&serde_json::to_string_pretty(p).unwrap_or_default()));
        }
        None => h.push_str("<p class=\"muted\">Not read in this run (it stopped before the profile was read).</p>\n"),
    }
    h.push_str("</details></section>\n");
}

fn lint_section(h: &mut String, r: &RunReport) {
    let _ = writeln!(h, "<section id=\"lint\"><h2>Lint findings ({})</h2>", r.lint_findings.len());
    if r.lint_findings.is_empty() {
        let ran = r.phases.iter().any(|p| p.phase == "lint");
        let _ = writeln!(h, "<p class=\"muted\">{}</p>", if ran { "None." } else { "The lint phase did not run." });
    } else {
        h.push_str("<table><tr><th>file:line</th><th>severity</th><th>rule</th><th>message</th></tr>\n");
        for f in &r.lint_findings {
            let sev = f.severity.as_str();
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td>{}</td><td class=\"v\">{}</td><td>{}</td><td>{}{}</td></tr>",
                if sev == "error" { "failed" } else { "blocked" },
                escape(&format!("{}:{}", f.file, f.line)),
                escape(sev),
                escape(&f.rule),
                escape(&f.message),
                f.hint.as_deref().map(|x| format!(" <span class=\"muted\">(hint: {})</span>", escape(x))).unwrap_or_default()
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("</section>\n");
}

/// Escapes text for GitHub-flavoured markdown (HTML entities for markup and markdown's own characters).
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in escape(s).chars() {
        match ch {
            '`' | '*' | '_' | '[' | ']' | '|' | '\\' | '#' | '~' | '!' => {
                let _ = write!(out, "&#{};", ch as u32);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A URL for a markdown link target: anything but unreserved and `:/?#=&%+@,;` percent-encoded.
fn md_url(u: &str) -> String {
    let mut out = String::with_capacity(u.len());
    for b in u.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/?#=&%+@,;".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The short markdown verdict for a CI job summary. `what` is the command
/// (`check`, `lint`); `report_dir` is where `report.html` was written, if anywhere.
pub fn step_summary(r: &RunReport, what: &str, report_dir: Option<&Path>) -> String {
    let n = counts(r);
    let icon = match (n.failed, r.complete) {
        (f, _) if f > 0 => "❌ failed",
        (_, false) => "⚠️ incomplete",
        _ => "✅ passed",
    };
    let mut out = format!("### obs-harness {}: {icon}\n\n", md(what));
    let _ = writeln!(
        out,
        "**{} passed, {} failed, {} not run** ({} blocked by a failure) · time to verdict **{}** · timing {}\n",
        n.passed,
        n.failed,
        n.not_run,
        n.blocked,
        secs(time_to_verdict_ms(r)),
        md(&r.timing)
    );
    if r.phases.len() > 1 {
        let _ = writeln!(out, "Phases: {}\n", md(&r.phases.iter().map(|p| format!("{} {}", p.phase, secs(p.ms))).collect::<Vec<_>>().join(", ")));
    }
    let failed: Vec<&CheckResult> = r.checks.iter().filter(|c| c.verdict.is_failed()).collect();
    if !failed.is_empty() {
        out.push_str("Root-cause failures:\n\n");
        for c in failed.iter().take(15) {
            let blocked = blocked_by(r, &c.name).len();
            let _ = writeln!(
                out,
                "- <code>{}</code> ({}): {}{}",
                md(&c.name),
                md(&c.phase),
                md(&truncate(first_line(c.verdict.text()), 300)),
                if blocked > 0 { format!(" — blocked {blocked} check(s)") } else { String::new() }
            );
        }
        if failed.len() > 15 {
            let _ = writeln!(out, "- … and {} more", failed.len() - 15);
        }
        out.push('\n');
    }
    match report_dir {
        Some(dir) => {
            let artifact = std::env::var("OBS_HARNESS_ARTIFACT").ok().filter(|a| !a.is_empty());
            let run = match (std::env::var("GITHUB_SERVER_URL"), std::env::var("GITHUB_REPOSITORY"), std::env::var("GITHUB_RUN_ID")) {
                (Ok(s), Ok(repo), Ok(id)) if !s.is_empty() && !repo.is_empty() && !id.is_empty() => Some(format!("{s}/{repo}/actions/runs/{id}#artifacts")),
                _ => None,
            };
            let where_ = match (artifact, run) {
                (Some(a), Some(u)) => format!("in the artifact **{}** of [this run]({})", md(&a), md_url(&u)),
                (Some(a), None) => format!("in the artifact **{}**", md(&a)),
                (None, Some(u)) => format!("in [this run's artifacts]({}) when the workflow uploads them", md_url(&u)),
                (None, None) => "in the job's artifacts when the workflow uploads them".into(),
            };
            let _ = writeln!(
                out,
                "📄 The full report (data-flow graph, timeline, every failure with its query, URL and logs): <code>report.html</code> {where_} (written to <code>{}</code>, beside report.json and junit.xml).",
                md(&dir.join("report.html").display().to_string())
            );
        }
        None => out.push_str("Findings are annotated on their file and line; `obs-harness check` writes report.html.\n"),
    }
    out.push('\n');
    out
}

/// Appends [`step_summary`] to `$GITHUB_STEP_SUMMARY` when it is set (GitHub Actions); else does nothing.
pub fn append_step_summary(r: &RunReport, what: &str, report_dir: Option<&Path>) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else { return };
    // Redacted like every other output: no secret of the stack reaches the job summary.
    let text = step_summary(&r.redacted(), what, report_dir);
    let written = std::fs::OpenOptions::new().create(true).append(true).open(&path).and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    if let Err(e) = written {
        eprintln!("obs-harness: cannot append the job summary to {}: {e}", Path::new(&path).display());
    }
}

/// The job summary of a command that stopped on bad input (exit code 2) before any check ran.
pub fn append_step_summary_error(what: &str, message: &str) {
    let mut r = RunReport::new(what, "n/a");
    r.checks.push(CheckResult::new(what, &format!("{what}.input"), Verdict::Failed { message: message.to_owned() }, std::time::Duration::ZERO));
    r.complete = true;
    append_step_summary(&r, what, None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn escape_covers_markup_quotes_and_control_characters() {
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(escape(r#"a & b "c""#), "a &amp; b &quot;c&quot;");
        assert_eq!(escape("&lt;"), "&amp;lt;", "entities in the data stay text");
        assert_eq!(escape("line 1\nline\t2\u{0}\u{1b}[31m"), "line 1\nline\t2\u{FFFD}\u{FFFD}[31m");
        assert_eq!(escape("héllo ✓ 日本"), "héllo ✓ 日本");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn markdown_escaping_leaves_no_markup_or_markdown() {
        let m = md("<b>x</b> | `code` *em* [link](http://e) \n2nd");
        assert!(!m.contains('<') && !m.contains('|') && !m.contains('`') && !m.contains('*') && !m.contains('[') && !m.contains('\n'), "{m}");
    }

    #[test]
    fn alert_stages_are_read_from_the_passed_detail() {
        let d = "pending 1200ms, firing 2400ms, in Alertmanager 2600ms, webhook 3100ms (floor 2800ms, ratio 1.11), then resolved";
        assert_eq!(alert_stages(d), Some(AlertStages { pending: 1200, firing: 2400, alertmanager: 2600, webhook: 3100, floor: 2800 }));
        assert_eq!(alert_stages("alert X pending in Prometheus: timed out"), None);
    }

    #[test]
    fn columns_follow_the_edges_and_survive_cycles() {
        use crate::graph::{Edge, GraphNode};
        let node = |n: &str| GraphNode { name: n.into(), kind: "k".into(), modelled: true, listens: vec![] };
        let edge = |a: &str, b: &str| Edge { modelled: true, from: a.into(), to: b.into(), proto: "http".into(), port: 1, what: String::new(), at: String::new(), broken: None, state: None, checks: vec![] };
        let g = Graph { nodes: vec![node("a"), node("b"), node("c")], edges: vec![edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("b", "b")] };
        assert_eq!(depths(&g), vec![0, 1, 2]);
    }

    #[test]
    fn phases_and_checks_get_their_start_from_the_run_start() {
        let mut r = RunReport::new("s", "faithful");
        std::thread::sleep(Duration::from_millis(30));
        let c = CheckResult::new("signals", "x", Verdict::Passed { detail: String::new() }, Duration::from_millis(10));
        r.add_phase("signals", Duration::from_millis(20), vec![c]);
        let p = r.phases[0].started_ms.unwrap();
        let s = r.checks[0].started_ms.unwrap();
        assert!((10..1000).contains(&p) && (15..1000).contains(&s), "phase {p} check {s}");
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["phases"][0]["started_ms"].is_u64() && v["checks"][0]["started_ms"].is_u64(), "{v}");
        // Older shape (no started_ms) still reads, and renders with estimated bars.
        let old: CheckResult = serde_json::from_str(r#"{"name":"x","phase":"signals","verdict":"passed","detail":"","duration_ms":5}"#).unwrap();
        assert_eq!(old.started_ms, None);
        let mut r2 = RunReport::new("s", "faithful");
        r2.checks.push(old);
        assert!(render(&r2).contains("laid out one after another"));
    }

    #[test]
    fn summary_counts_root_causes_and_points_at_the_report() {
        let mut r = RunReport::new("s", "accelerated x15");
        r.add_phase(
            "signals",
            Duration::from_secs(2),
            vec![
                CheckResult::new("signals", "reachability.prometheus", Verdict::Failed { message: "refused <b>\nlog".into() }, Duration::ZERO),
                CheckResult::new("signals", "prometheus.target_up.fastapi", Verdict::NotRun { reason: "blocked by `reachability.prometheus`: refused".into() }, Duration::ZERO),
                CheckResult::new("signals", "jaeger.traces", Verdict::NotRun { reason: "service `jaeger` is not running".into() }, Duration::ZERO),
                CheckResult::new("signals", "app.ok", Verdict::Passed { detail: "ok".into() }, Duration::ZERO),
            ],
        );
        let s = step_summary(&r, "check", Some(Path::new("out")));
        assert!(s.contains("❌ failed"), "{s}");
        assert!(s.contains("**1 passed, 1 failed, 2 not run** (1 blocked by a failure)"), "{s}");
        assert!(s.contains("<code>reachability.prometheus</code> (signals): refused &lt;b&gt; — blocked 1 check(s)"), "{s}");
        assert!(!s.contains("target&#95;up"), "blocked checks are not root causes: {s}");
        assert!(s.contains("report.html") && s.contains("time to verdict **2.0s**"), "{s}");
        assert_eq!(md_url("https://x/a b)(<i>#artifacts"), "https://x/a%20b%29%28%3Ci%3E#artifacts");
    }
}
