//! Queries and datasource references in Grafana dashboard JSON.
//!
//! Walks `panels[]`, nested `panels[].panels[]` (collapsed rows), old-schema
//! `rows[].panels[]`, each panel's `targets[].expr`, `templating.list[]` query
//! variables (`query` as a string or `{query: ...}`) and `annotations.list[].expr`.
//! The datasource of a target is its own `datasource`, else its panel's, else the
//! default provisioned datasource (else Prometheus). A datasource is an object
//! `{type, uid}`, a uid/name string, a `$var`/`${var}` datasource variable (its
//! `query` is the plugin type) or an `${DS_X}` import input (`__inputs[].pluginId`).

use super::model::Datasource;
use serde_json::Value;

/// Query language of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lang {
    PromQL,
    LogQL,
    /// Another datasource type (jaeger, `__expr__`, ...): not checked.
    Other(String),
}

#[derive(Debug, Clone)]
pub struct DashQuery {
    pub expr: String,
    pub lang: Lang,
    /// Human description: `panel "Title" target A`, `variable job`.
    pub origin: String,
}

/// A datasource reference by literal uid or name (variables excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsRef {
    pub uid: String,
    pub origin: String,
}

const SPECIAL_DS: &[&str] = &[
    "-- Grafana --",
    "-- Mixed --",
    "-- Dashboard --",
    "grafana",
    "__expr__",
    "default",
    "-- Default --",
];

struct Ctx<'a> {
    dash: &'a Value,
    provisioned: &'a [Datasource],
    queries: Vec<DashQuery>,
    refs: Vec<DsRef>,
    /// Nesting of `panels` inside panels (rows); deeper than [`MAX_PANEL_DEPTH`] is not read.
    depth: usize,
}

/// Deepest `panels` nesting [`extract`] reads (Grafana nests one level: rows): a
/// dashboard value built deeper does not overflow the stack.
pub const MAX_PANEL_DEPTH: usize = 32;

/// All queries and literal datasource references of a dashboard.
pub fn extract(dash: &Value, provisioned: &[Datasource]) -> (Vec<DashQuery>, Vec<DsRef>) {
    let mut c = Ctx {
        dash,
        provisioned,
        queries: Vec::new(),
        refs: Vec::new(),
        depth: 0,
    };
    if let Some(ps) = dash.get("panels").and_then(Value::as_array) {
        for p in ps {
            c.panel(p);
        }
    }
    if let Some(rows) = dash.get("rows").and_then(Value::as_array) {
        for r in rows {
            if let Some(ps) = r.get("panels").and_then(Value::as_array) {
                for p in ps {
                    c.panel(p);
                }
            }
        }
    }
    if let Some(vars) = dash.pointer("/templating/list").and_then(Value::as_array) {
        for v in vars {
            c.variable(v);
        }
    }
    if let Some(anns) = dash.pointer("/annotations/list").and_then(Value::as_array) {
        for a in anns {
            let origin = format!(
                "annotation {:?}",
                a.get("name").and_then(Value::as_str).unwrap_or("")
            );
            let ds = a.get("datasource");
            c.note_ref(ds, &origin);
            let kind = c.kind(ds, None);
            if let Some(e) = a.get("expr").and_then(Value::as_str) {
                c.push(e, kind, origin);
            }
        }
    }
    (c.queries, c.refs)
}

/// The uid (or name) a datasource reference names.
fn ds_uid(ds: Option<&Value>) -> Option<&str> {
    match ds? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("uid").and_then(Value::as_str),
        _ => None,
    }
}

/// The panel's datasource is Grafana's Mixed one (each target keeps its own).
fn is_mixed(ds: Option<&Value>) -> bool {
    ds_uid(ds).is_some_and(|u| u == "-- Mixed --" || u == "mixed") || ds.and_then(|d| d.get("type")).and_then(Value::as_str) == Some("mixed")
}

impl Ctx<'_> {
    fn panel(&mut self, p: &Value) {
        let title = p.get("title").and_then(Value::as_str).unwrap_or("");
        let pds = p.get("datasource");
        self.note_ref(pds, &format!("panel {title:?}"));
        // Grafana runs a target on the panel's datasource unless the panel is Mixed, the
        // target names the same one, or it is an expression: a target's stale uid under a
        // non-mixed panel is replaced (PanelQueryRunner.run / SceneQueryRunner).
        let panel_wins = pds.is_some_and(|d| !d.is_null()) && !is_mixed(pds);
        if let Some(ts) = p.get("targets").and_then(Value::as_array) {
            for t in ts {
                let refid = t.get("refId").and_then(Value::as_str).unwrap_or("?");
                let origin = format!("panel {title:?} target {refid}");
                let own = t.get("datasource");
                let expression = ds_uid(own).is_some_and(|u| u == "__expr__" || u == "-100");
                let tds = if panel_wins && !expression { pds } else { own };
                if !panel_wins || expression {
                    self.note_ref(tds, &origin);
                }
                let kind = self.kind(tds, Some(pds));
                if let Some(e) = t.get("expr").and_then(Value::as_str) {
                    self.push(e, kind, origin);
                }
            }
        }
        if let Some(ps) = p.get("panels").and_then(Value::as_array)
            && self.depth < MAX_PANEL_DEPTH
        {
            self.depth += 1;
            for sub in ps {
                self.panel(sub);
            }
            self.depth -= 1;
        }
    }

    fn variable(&mut self, v: &Value) {
        if v.get("type").and_then(Value::as_str) != Some("query") {
            return;
        }
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let origin = format!("variable {name}");
        let ds = v.get("datasource");
        self.note_ref(ds, &origin);
        let q = match v.get("query") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => match o.get("query") {
                Some(Value::String(s)) => s.clone(),
                _ => return,
            },
            _ => return,
        };
        let kind = self.kind(ds, None);
        // Loki variable queries use label_values({selector}, label): not checked.
        if kind == Lang::PromQL
            && let Some(e) = super::promql::variable_query_expr(&q)
        {
            self.push(&e, Lang::PromQL, origin);
        }
    }

    fn push(&mut self, e: &str, lang: Lang, origin: String) {
        if e.trim().is_empty() {
            return;
        }
        let lang = match lang {
            Lang::Other(k) if k.is_empty() => guess(e),
            l => l,
        };
        self.queries.push(DashQuery {
            expr: e.to_owned(),
            lang,
            origin,
        });
    }

    fn note_ref(&mut self, ds: Option<&Value>, origin: &str) {
        let uid = match ds {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => match o.get("uid").and_then(Value::as_str) {
                Some(u) => u.to_owned(),
                None => return,
            },
            _ => return,
        };
        if uid.contains('$') || SPECIAL_DS.contains(&uid.as_str()) {
            return;
        }
        self.refs.push(DsRef {
            uid,
            origin: origin.to_owned(),
        });
    }

    /// Datasource type of a target (`Other("")` = unknown, guess from the query).
    fn kind(&self, ds: Option<&Value>, parent: Option<Option<&Value>>) -> Lang {
        let own = self.resolve(ds);
        let k = match own {
            Some(k) if k != "mixed" => Some(k),
            _ => parent
                .and_then(|p| self.resolve(p))
                .filter(|k| k != "mixed"),
        };
        let k = match (
            k,
            ds.is_none_or(Value::is_null) && parent.is_none_or(|p| p.is_none_or(Value::is_null)),
        ) {
            (Some(k), _) => k,
            (None, true) => self
                .provisioned
                .iter()
                .find(|d| d.is_default)
                .map(|d| d.kind.clone())
                .unwrap_or_else(|| "prometheus".into()),
            (None, false) => String::new(),
        };
        match k.as_str() {
            "prometheus" => Lang::PromQL,
            "loki" => Lang::LogQL,
            _ => Lang::Other(k),
        }
    }

    fn resolve(&self, ds: Option<&Value>) -> Option<String> {
        match ds? {
            Value::Object(o) => {
                if let Some(t) = o.get("type").and_then(Value::as_str)
                    && t != "datasource"
                    && !t.contains('$')
                {
                    return Some(t.to_owned());
                }
                o.get("uid")
                    .and_then(Value::as_str)
                    .and_then(|u| self.resolve_name(u))
            }
            Value::String(s) => self.resolve_name(s),
            _ => None,
        }
    }

    fn resolve_name(&self, s: &str) -> Option<String> {
        match s {
            "-- Mixed --" => return Some("mixed".into()),
            "-- Grafana --" | "grafana" => return Some("grafana".into()),
            "-- Dashboard --" => return Some("dashboard".into()),
            "__expr__" => return Some("__expr__".into()),
            _ => {}
        }
        if let Some(var) = s.strip_prefix('$') {
            let var = var.trim_start_matches('{').trim_end_matches('}');
            let var = var.split(':').next().unwrap_or(var);
            if let Some(vars) = self
                .dash
                .pointer("/templating/list")
                .and_then(Value::as_array)
                && let Some(v) = vars
                    .iter()
                    .find(|v| v.get("name").and_then(Value::as_str) == Some(var))
                && v.get("type").and_then(Value::as_str) == Some("datasource")
            {
                return v.get("query").and_then(Value::as_str).map(str::to_owned);
            }
            if let Some(inputs) = self.dash.get("__inputs").and_then(Value::as_array)
                && let Some(i) = inputs
                    .iter()
                    .find(|i| i.get("name").and_then(Value::as_str) == Some(var))
            {
                return i.get("pluginId").and_then(Value::as_str).map(str::to_owned);
            }
            return None;
        }
        self.provisioned
            .iter()
            .find(|d| d.uid.as_deref() == Some(s) || d.name == s)
            .map(|d| d.kind.clone())
    }
}

/// LogQL when the query starts with a stream selector or has a log pipeline.
pub fn guess(e: &str) -> Lang {
    if looks_like_logql(e) {
        Lang::LogQL
    } else {
        Lang::PromQL
    }
}

pub fn looks_like_logql(e: &str) -> bool {
    let t = e.trim_start();
    if t.starts_with('{') {
        return true;
    }
    let compact: String = e.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("({")
        || [
            "|=",
            "|~",
            "|json",
            "|logfmt",
            "|line_format",
            "|unwrap",
            "|pattern",
            "|regexp",
        ]
        .iter()
        .any(|p| compact.contains(p))
}
