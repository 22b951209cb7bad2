//! The stack's data flow drawn from its configs: one node per service, one
//! edge per link with its protocol and port. A link that fails a static check
//! is marked with its finding; in `check`'s report each edge also carries what
//! the live phases saw ([`EdgeState`]).
//!
//! Formats: Mermaid (`flowchart LR`, renders on GitHub), Graphviz dot, JSON.

use crate::model::{Link, StackModel};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Mermaid,
    Dot,
    Json,
}

/// What a run saw of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeState {
    Passed,
    Failed,
    Blocked,
    NotRun,
}

impl EdgeState {
    fn colour(self) -> &'static str {
        match self {
            EdgeState::Passed => "#2a9d48",
            EdgeState::Failed => "#d62728",
            EdgeState::Blocked => "#ff9f1c",
            EdgeState::NotRun => "#999999",
        }
    }
}

/// One edge of the drawing.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// False when one end is a kind the model does not know: drawn grey, not judged.
    pub modelled: bool,
    pub from: String,
    /// The target service; the host as written when it names none.
    pub to: String,
    pub proto: String,
    pub port: u16,
    pub what: String,
    /// `file:line` where the link is configured.
    pub at: String,
    /// The static finding of this link (`rule: message`), if it is broken.
    pub broken: Option<String>,
    /// What the run saw, when drawn from a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<EdgeState>,
    /// Names (or name prefixes) of the live checks that exercise this link.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
}

/// The graph of a model: nodes and edges (links to the same target over the
/// same protocol and port are one edge).
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<Edge>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GraphNode {
    pub name: String,
    pub kind: String,
    /// False for a kind the model does not know: drawn grey, its links not judged.
    pub modelled: bool,
    /// `port proto` of each listener.
    pub listens: Vec<String>,
}

impl Graph {
    /// The graph of the model, each link checked; `state` gives what a run saw of a link.
    pub fn of(model: &StackModel, state: &dyn Fn(&Link) -> Option<EdgeState>) -> Self {
        let nodes = model
            .nodes
            .iter()
            .map(|n| GraphNode { name: n.name.clone(), kind: n.kind.into(), modelled: n.modelled, listens: n.listeners.iter().map(|l| format!("{} {}", l.port, l.proto)).collect() })
            .collect();
        let mut edges: Vec<Edge> = Vec::new();
        for l in &model.links {
            let broken = crate::lint::links::check_link(model, l).map(|f| format!("{}: {}", f.rule, f.message));
            let to = l.to.clone().unwrap_or_else(|| l.host.clone());
            let modelled = [Some(l.from.as_str()), l.to.as_deref()].iter().all(|n| n.and_then(|n| model.node(n)).is_none_or(|n| n.modelled));
            let e = Edge {
                modelled,
                from: l.from.clone(),
                to,
                proto: l.proto.to_string(),
                port: l.port,
                what: l.what.clone(),
                at: format!("{}:{}", l.at.file, l.at.line),
                broken,
                state: state(l),
                checks: checks_for(model, l),
            };
            match edges.iter_mut().find(|x| x.from == e.from && x.to == e.to && x.proto == e.proto && x.port == e.port) {
                Some(x) => {
                    if !x.what.split(", ").any(|w| w == e.what) {
                        x.what = format!("{}, {}", x.what, e.what);
                    }
                    x.broken = x.broken.take().or(e.broken);
                    x.state = worst(x.state, e.state);
                }
                None => edges.push(e),
            }
        }
        // Links to hosts that are no service still get a node, so the broken edge shows.
        let mut g = Self { nodes, edges };
        for e in &g.edges {
            if !g.nodes.iter().any(|n| n.name == e.to) {
                g.nodes.push(GraphNode { name: e.to.clone(), kind: "unknown".into(), modelled: true, listens: vec![] });
            }
        }
        g
    }

    /// The graph with each edge coloured by the checks of a run that exercise it:
    /// failed if one failed, blocked if one was blocked, passed if one passed, else not run.
    pub fn coloured(&self, checks: &[crate::checks::CheckResult]) -> Self {
        let mut g = self.clone();
        for e in &mut g.edges {
            let mine: Vec<&crate::checks::CheckResult> = checks.iter().filter(|c| e.checks.iter().any(|p| c.name == *p || (p.ends_with('.') && c.name.starts_with(p.as_str())))).collect();
            let reach_failed = checks.iter().any(|c| c.name == format!("reachability.{}", e.to) && c.verdict.is_failed());
            e.state = Some(if reach_failed || mine.iter().any(|c| c.verdict.is_failed()) {
                EdgeState::Failed
            } else if mine.iter().any(|c| c.verdict.text().starts_with("blocked by")) {
                EdgeState::Blocked
            } else if mine.iter().any(|c| c.verdict.is_passed()) {
                EdgeState::Passed
            } else {
                EdgeState::NotRun
            });
        }
        g
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Mermaid => self.mermaid(),
            Format::Dot => self.dot(),
            Format::Json => serde_json::to_string_pretty(self).expect("graph serialises") + "\n",
        }
    }

    fn mermaid(&self) -> String {
        let id = |s: &str| s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>();
        let esc = |s: &str| s.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;");
        let mut out = String::from("flowchart LR\n");
        for n in &self.nodes {
            let shape = if n.kind == "unknown" {
                format!("{}[/\"{} (no such service)\"/]", id(&n.name), esc(&n.name))
            } else if !n.modelled {
                format!("{}[\"{}<br/><small>not modelled</small>\"]", id(&n.name), esc(&n.name))
            } else {
                format!("{}[\"{}<br/><small>{}</small>\"]", id(&n.name), esc(&n.name), esc(&n.kind))
            };
            out.push_str(&format!("  {shape}\n"));
            if !n.modelled {
                out.push_str(&format!("  style {} fill:#eeeeee,stroke:#999999,color:#666666\n", id(&n.name)));
            }
        }
        let mut styles = Vec::new();
        for (i, e) in self.edges.iter().enumerate() {
            let port = if e.port == 0 { String::new() } else { format!(" :{}", e.port) };
            let mark = if e.broken.is_some() { "✗ " } else { "" };
            let arrow = if e.broken.is_some() { "-. " } else { "-- " };
            let tail = if e.broken.is_some() { " .->" } else { " -->" };
            out.push_str(&format!("  {} {arrow}\"{mark}{}{}<br/>{}\"{tail} {}\n", id(&e.from), esc(&e.proto), port, esc(&e.what), id(&e.to)));
            if !e.modelled {
                styles.push(format!("  linkStyle {i} stroke:#aaaaaa,stroke-width:1px,stroke-dasharray:3"));
            } else if let Some(s) = e.state {
                styles.push(format!("  linkStyle {i} stroke:{},stroke-width:2px", s.colour()));
            } else if e.broken.is_some() {
                styles.push(format!("  linkStyle {i} stroke:#d62728,stroke-width:2px"));
            }
        }
        for s in styles {
            out.push_str(&s);
            out.push('\n');
        }
        out
    }

    fn dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph stack {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
        for n in &self.nodes {
            let style = if n.kind == "unknown" { ", style=dashed, color=\"#d62728\"" } else if !n.modelled { ", style=filled, fillcolor=\"#eeeeee\", color=\"#999999\"" } else { "" };
            out.push_str(&format!("  {} [label={}{style}];\n", q(&n.name), q(&format!("{}\n{}", n.name, n.kind))));
        }
        for e in &self.edges {
            let port = if e.port == 0 { String::new() } else { format!(" :{}", e.port) };
            let mut label = format!("{}{}\n{}", e.proto, port, e.what);
            if let Some(b) = &e.broken {
                label.push_str(&format!("\n✗ {}", b.split(':').next().unwrap_or(b)));
            }
            let colour = if e.modelled { e.state.map(EdgeState::colour).or(e.broken.as_ref().map(|_| "#d62728")) } else { Some("#aaaaaa") };
            let attrs = match colour {
                Some(c) => format!(", color={}, fontcolor={}", q(c), q(c)),
                None => String::new(),
            };
            let dashed = if e.broken.is_some() { ", style=dashed" } else { "" };
            out.push_str(&format!("  {} -> {} [label={}{attrs}{dashed}];\n", q(&e.from), q(&e.to), q(&label)));
        }
        out.push_str("}\n");
        out
    }
}

/// The live checks that exercise a link (names, or prefixes ending in `.`).
fn checks_for(model: &StackModel, l: &Link) -> Vec<String> {
    let kind = |n: Option<&str>| n.and_then(|n| model.node(n)).map_or("", |n| n.kind);
    let (from, to) = (kind(Some(&l.from)), kind(l.to.as_deref()));
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
    match (from, to, l.proto) {
        (_, "otel-collector", crate::model::Proto::OtlpGrpc | crate::model::Proto::OtlpHttp | crate::model::Proto::Otlp) => v(&["jaeger.service", "jaeger.traces"]),
        ("otel-collector", "jaeger", _) => v(&["jaeger."]),
        ("prometheus", _, _) if l.what.starts_with("scrape ") => {
            let job = l.what.split_whitespace().nth(1).unwrap_or_default();
            vec![format!("prometheus.target_up.{job}")]
        }
        ("prometheus", "alertmanager", _) | ("alertmanager", "harness-webhook", _) => v(&["alerts."]),
        ("loki", "alertmanager", _) => v(&["ruler."]),
        ("promtail", "loki", _) => v(&["loki."]),
        ("promtail", _, crate::model::Proto::DockerLogs) => v(&["loki.stream_labels", "loki.request_lines"]),
        ("grafana", "prometheus", _) => v(&["grafana.ds_query.prometheus", "grafana.datasources"]),
        ("grafana", "loki", _) => v(&["grafana.ds_query.loki", "grafana.datasources"]),
        ("grafana", "jaeger", _) => v(&["grafana.jaeger."]),
        _ => Vec::new(),
    }
}

fn worst(a: Option<EdgeState>, b: Option<EdgeState>) -> Option<EdgeState> {
    let rank = |s: Option<EdgeState>| match s {
        Some(EdgeState::Failed) => 4,
        Some(EdgeState::Blocked) => 3,
        Some(EdgeState::NotRun) => 2,
        Some(EdgeState::Passed) => 1,
        None => 0,
    };
    if rank(a) >= rank(b) { a } else { b }
}
