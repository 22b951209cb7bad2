//! Rule files: Prometheus rule groups, Loki ruler groups (LogQL `expr`s) and Grafana
//! managed alerting provisioning (`apiVersion` + `groups[].rules[].data[].model.expr`).

use super::dashboards::looks_like_logql;
use serde_yaml::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleFileKind {
    /// `groups[].rules[].expr` in PromQL.
    Prometheus,
    /// `groups[].rules[].expr` in LogQL (Loki ruler).
    Loki,
    /// Grafana-managed alerting provisioning (`apiVersion: 1`, `data[].model.expr`).
    GrafanaAlerting,
}

#[derive(Debug, Clone)]
pub struct RuleExpr {
    pub expr: String,
    /// `record`/`alert` name or Grafana rule title.
    pub name: String,
    /// Output name for recording rules.
    pub record: Option<String>,
    /// Keys of the rule's `labels`.
    pub labels: Vec<String>,
}

/// Classifies an already-parsed rule file and lists its query expressions.
/// `loki_hint` forces LogQL for group rules (files under the Loki ruler directory).
pub fn analyse(doc: &Value, loki_hint: bool) -> (RuleFileKind, Vec<RuleExpr>) {
    let groups = doc
        .get("groups")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let grafana = doc.get("apiVersion").is_some()
        || groups.iter().any(|g| {
            g.get("rules")
                .and_then(Value::as_sequence)
                .is_some_and(|rs| rs.iter().any(|r| r.get("data").is_some()))
        });
    let mut out = Vec::new();
    for g in &groups {
        for r in g
            .get("rules")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let name = r
                .get("record")
                .or_else(|| r.get("alert"))
                .or_else(|| r.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if grafana {
                for d in r
                    .get("data")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    if d.get("datasourceUid").and_then(Value::as_str) == Some("__expr__") {
                        continue;
                    }
                    if let Some(e) = d.pointer_str("/model/expr") {
                        out.push(RuleExpr {
                            expr: e,
                            name: name.clone(),
                            record: None,
                            labels: vec![],
                        });
                    }
                }
                continue;
            }
            let expr = match r.get("expr") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            let labels = r
                .get("labels")
                .and_then(Value::as_mapping)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let record = r.get("record").and_then(Value::as_str).map(str::to_owned);
            out.push(RuleExpr {
                expr,
                name,
                record,
                labels,
            });
        }
    }
    let kind = if grafana {
        RuleFileKind::GrafanaAlerting
    } else if loki_hint || out.iter().any(|r| looks_like_logql(&r.expr)) {
        RuleFileKind::Loki
    } else {
        RuleFileKind::Prometheus
    };
    (kind, out)
}

trait PointerStr {
    fn pointer_str(&self, p: &str) -> Option<String>;
}

impl PointerStr for Value {
    fn pointer_str(&self, p: &str) -> Option<String> {
        let mut cur = self;
        for seg in p.trim_start_matches('/').split('/') {
            cur = cur.get(seg)?;
        }
        cur.as_str().map(str::to_owned)
    }
}
