//! PromQL checks: Grafana variable substitution, parsing with `promql-parser`, and
//! metric/label checks against a [`Catalogue`].
//!
//! Label checks: every label in a selector's matchers must be a label of the selected
//! metric; every label in `by (...)`/`without (...)` must be a label of the aggregated
//! expression; every label in `on (...)`/`ignoring (...)` must be a label of at least
//! one side. The labels of an expression are inferred: a selector has its metric's
//! labels, `sum by (a)` has `{a}`, `sum without (a)` drops `a`, `histogram_quantile`
//! drops `le`, `label_replace`/`label_join` add their destination label, a binary
//! operation keeps its vector side's labels (plus `group_left/right` extras). Where the
//! labels cannot be known (unknown metric, selector without a name, Grafana variable
//! placeholder, `absent`), no label check is made.

use super::catalogue::Catalogue;
use promql_parser::label::MatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, LabelModifier};
use std::collections::BTreeSet;

/// Marker in identifiers that replaced a Grafana variable.
pub const VAR_MARK: &str = "__grafana_var_";

/// A problem in one query (the caller adds file and line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryIssue {
    pub rule: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

/// Replaces Grafana variables so the query parses: `$__rate_interval`, `$__interval`,
/// `$__range`, `$__auto` (and any variable inside `[...]` or after `offset`) become
/// `5m`; `$__interval_ms`/`$__range_s`/`$__range_ms` become `300`; other variables
/// become an identifier containing [`VAR_MARK`] (or, with `numeric`, the number `1`),
/// and inside quoted strings the bare variable name. Forms: `$var`, `${var}`,
/// `${var:format}`, `${var.path}`, `[[var]]`, `[[var:format]]`.
pub fn substitute_vars(q: &str, numeric: bool) -> String {
    let b = q.as_bytes();
    let mut out = String::with_capacity(q.len());
    let mut i = 0;
    let mut quote: Option<u8> = None;
    let mut bracket_depth = 0usize; // PromQL range brackets `[...]`
    while i < b.len() {
        let c = b[i];
        if let Some(qc) = quote {
            if c == b'\\' && qc != b'`' && i + 1 < b.len() {
                // keep escapes, but a variable can still follow
                out.push(c as char);
                i += 1;
                if b[i] != b'$' {
                    push_char(&mut out, q, &mut i);
                }
                continue;
            }
            if c == qc {
                quote = None;
            }
        } else if c == b'"' || c == b'\'' || c == b'`' {
            quote = Some(c);
        }
        // variable forms
        let var = if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                q[i + 2..]
                    .find('}')
                    .map(|end| (&q[i + 2..i + 2 + end], i + 3 + end))
            } else {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                (end > start).then(|| (&q[start..end], end))
            }
        } else if c == b'[' && b.get(i + 1) == Some(&b'[') && b.get(i + 2) != Some(&b'[') {
            q[i + 2..]
                .find("]]")
                .map(|end| (&q[i + 2..i + 2 + end], i + 4 + end))
        } else {
            None
        };
        if let Some((raw, next)) = var {
            let name = raw.split([':', '.']).next().unwrap_or(raw).trim();
            let after_offset = out.trim_end().ends_with("offset");
            let rep = if quote.is_some() {
                if is_duration_var(name) {
                    "5m".to_owned()
                } else {
                    name.to_owned()
                }
            } else if is_duration_var(name) || bracket_depth > 0 || after_offset {
                "5m".to_owned()
            } else if matches!(
                name,
                "__interval_ms" | "__range_s" | "__range_ms" | "__rate_interval_ms"
            ) || numeric
            {
                "300".to_owned()
            } else {
                let clean: String = name
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                format!("{VAR_MARK}{clean}")
            };
            out.push_str(&rep);
            i = next;
            continue;
        }
        if quote.is_none() {
            if c == b'[' {
                bracket_depth += 1;
            } else if c == b']' {
                bracket_depth = bracket_depth.saturating_sub(1);
            }
        }
        push_char(&mut out, q, &mut i);
    }
    out
}

fn push_char(out: &mut String, q: &str, i: &mut usize) {
    let ch = q[*i..].chars().next().expect("in bounds");
    out.push(ch);
    *i += ch.len_utf8();
}

fn is_duration_var(name: &str) -> bool {
    matches!(
        name,
        "__rate_interval" | "__interval" | "__range" | "__auto"
    ) || name.starts_with("__auto_interval")
}

/// Parses a query after variable substitution (identifier placeholders first, numbers
/// as a fallback for variables in numeric positions).
pub fn parse(q: &str) -> Result<Expr, String> {
    let first = substitute_vars(q, false);
    match parser::parse(&first) {
        Ok(e) => Ok(e),
        Err(e) => {
            let second = substitute_vars(q, true);
            if second != first
                && let Ok(ex) = parser::parse(&second)
            {
                return Ok(ex);
            }
            Err(e)
        }
    }
}

/// Grafana template-variable query forms: `label_values(expr, label)` -> `expr`,
/// `query_result(expr)` -> `expr`; `label_values(label)`, `label_names()`,
/// `metrics(...)` have no PromQL part (None). Anything else is PromQL itself.
pub fn variable_query_expr(q: &str) -> Option<String> {
    let t = q.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(inner) = strip_call(t, "query_result") {
        return Some(inner.to_owned());
    }
    if let Some(inner) = strip_call(t, "label_values") {
        // split at the last top-level comma
        let mut depth = 0i32;
        let mut quote = None;
        let mut split = None;
        for (i, c) in inner.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '(' | '{' | '[') => depth += 1,
                (None, ')' | '}' | ']') => depth -= 1,
                (None, ',') if depth == 0 => split = Some(i),
                _ => {}
            }
        }
        return split
            .map(|i| inner[..i].trim().to_owned())
            .filter(|s| !s.is_empty());
    }
    if strip_call(t, "label_names").is_some() || strip_call(t, "metrics").is_some() {
        return None;
    }
    Some(t.to_owned())
}

fn strip_call<'a>(t: &'a str, f: &str) -> Option<&'a str> {
    let rest = t.strip_prefix(f)?.trim_start();
    let rest = rest.strip_prefix('(')?;
    rest.trim_end().strip_suffix(')')
}

/// Checks metric names and labels of a parsed query against the catalogue.
pub fn check_catalogue(e: &Expr, cat: &Catalogue) -> Vec<QueryIssue> {
    let mut out = Vec::new();
    infer(e, cat, &mut out);
    out
}

/// Output labels of an expression (None = unknown), emitting issues on the way.
pub fn infer(e: &Expr, cat: &Catalogue, out: &mut Vec<QueryIssue>) -> Option<BTreeSet<String>> {
    match e {
        Expr::VectorSelector(vs) => selector(vs, cat, out),
        Expr::MatrixSelector(ms) => selector(&ms.vs, cat, out),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                infer(p, cat, out);
            }
            let inner = infer(&a.expr, cat, out);
            match &a.modifier {
                Some(m) => {
                    let ls = &m.labels().labels;
                    check_labels(
                        ls,
                        inner.as_ref(),
                        &a.expr,
                        cat,
                        out,
                        if m.is_include() { "by" } else { "without" },
                    );
                    match m {
                        LabelModifier::Include(l) => Some(l.labels.iter().cloned().collect()),
                        LabelModifier::Exclude(l) => {
                            inner.map(|s| s.into_iter().filter(|x| !l.labels.contains(x)).collect())
                        }
                    }
                }
                None => {
                    let op = a.op.to_string();
                    if op == "topk" || op == "bottomk" || op == "limitk" || op == "limit_ratio" {
                        inner
                    } else {
                        Some(BTreeSet::new())
                    }
                }
            }
        }
        Expr::Unary(u) => infer(&u.expr, cat, out),
        Expr::Paren(p) => infer(&p.expr, cat, out),
        Expr::Subquery(s) => infer(&s.expr, cat, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(BTreeSet::new()),
        Expr::Call(c) => {
            let args: Vec<Option<BTreeSet<String>>> =
                c.args.args.iter().map(|a| infer(a, cat, out)).collect();
            let str_arg = |i: usize| match c.args.args.get(i).map(|b| b.as_ref()) {
                Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
                _ => None,
            };
            match c.func.name {
                "histogram_quantile" => args.get(1).cloned().flatten().map(|mut s| {
                    s.remove("le");
                    s
                }),
                "label_replace" | "label_join" => {
                    let dst = str_arg(1);
                    args.first().cloned().flatten().map(|mut s| {
                        s.extend(dst);
                        s
                    })
                }
                "absent" | "absent_over_time" => None,
                "time" | "vector" | "scalar" | "pi" => Some(BTreeSet::new()),
                _ => c
                    .args
                    .args
                    .iter()
                    .zip(args)
                    .find(|(a, _)| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix))
                    .map(|(_, l)| l)
                    .unwrap_or(Some(BTreeSet::new())),
            }
        }
        Expr::Binary(b) => {
            let l = infer(&b.lhs, cat, out);
            let r = infer(&b.rhs, cat, out);
            let mut extra = BTreeSet::new();
            if let Some(m) = &b.modifier {
                if let Some(matching) = &m.matching {
                    let ls = &matching.labels().labels;
                    if let (Some(l), Some(r)) = (&l, &r) {
                        let both: BTreeSet<String> = l.union(r).cloned().collect();
                        for label in ls {
                            if !both.contains(label) && !skip_label(label) {
                                out.push(QueryIssue {
                                    rule: "promql-unknown-label",
                                    message: format!(
                                        "label `{label}` in {}(...) is on neither side of the operation",
                                        if matching.is_include() { "on" } else { "ignoring" }
                                    ),
                                    hint: Some(format!("labels available: {}", join(&both))),
                                });
                            }
                        }
                    }
                }
                if let Some(ls) = m.card.labels() {
                    extra.extend(ls.labels.iter().cloned());
                }
            }
            let lhs_scalar = b.lhs.value_type() == ValueType::Scalar;
            let base = if lhs_scalar { r } else { l };
            base.map(|mut s| {
                s.extend(extra);
                s
            })
        }
        _ => None,
    }
}

fn skip_label(l: &str) -> bool {
    l == "__name__" || l.contains(VAR_MARK)
}

fn check_labels(
    ls: &[String],
    inner: Option<&BTreeSet<String>>,
    inner_expr: &Expr,
    cat: &Catalogue,
    out: &mut Vec<QueryIssue>,
    clause: &str,
) {
    let Some(inner) = inner else { return };
    let metric = metric_name(inner_expr);
    for l in ls {
        if inner.contains(l) || skip_label(l) {
            continue;
        }
        // Labels of a selector that is itself open (recording rule with unknown labels).
        if metric.as_deref().is_some_and(|m| cat.open.contains(m)) {
            continue;
        }
        let what = metric
            .as_deref()
            .map(|m| format!("`{m}`"))
            .unwrap_or_else(|| "the aggregated expression".into());
        out.push(QueryIssue {
            rule: "promql-unknown-label",
            message: format!("`{clause} ({l})`: `{l}` is not a label of {what}"),
            hint: Some(format!("{what} has labels: {}", join(inner))),
        });
    }
}

/// The metric name of the single selector an expression is built on, if there is one.
fn metric_name(e: &Expr) -> Option<String> {
    let mut names = BTreeSet::new();
    collect_names(e, &mut names);
    if names.len() == 1 {
        names.into_iter().next()
    } else {
        None
    }
}

fn collect_names(e: &Expr, names: &mut BTreeSet<String>) {
    visit_selectors(e, &mut |vs| names.extend(selector_name(vs)));
}

/// Calls `f` on every vector selector of `e` (matrix selectors included).
fn visit_selectors(e: &Expr, f: &mut dyn FnMut(&parser::VectorSelector)) {
    match e {
        Expr::VectorSelector(vs) => f(vs),
        Expr::MatrixSelector(ms) => f(&ms.vs),
        Expr::Aggregate(a) => visit_selectors(&a.expr, f),
        Expr::Unary(u) => visit_selectors(&u.expr, f),
        Expr::Paren(p) => visit_selectors(&p.expr, f),
        Expr::Subquery(s) => visit_selectors(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| visit_selectors(a, f)),
        Expr::Binary(b) => {
            visit_selectors(&b.lhs, f);
            visit_selectors(&b.rhs, f);
        }
        _ => {}
    }
}

/// Values an equality matcher `label="value"` selects anywhere in `e`.
pub fn equality_values(e: &Expr, label: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    visit_selectors(e, &mut |vs| {
        out.extend(vs.matchers.matchers.iter().filter(|m| m.name == label && matches!(m.op, MatchOp::Equal)).map(|m| m.value.clone()))
    });
    out
}

fn selector_name(vs: &parser::VectorSelector) -> Option<String> {
    vs.name.clone().or_else(|| {
        vs.matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone())
    })
}

/// Every metric name a query selects (for the catalogue's recording-rule pass and tests).
pub fn metric_names(e: &Expr) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    collect_names(e, &mut names);
    names
}

fn selector(
    vs: &parser::VectorSelector,
    cat: &Catalogue,
    out: &mut Vec<QueryIssue>,
) -> Option<BTreeSet<String>> {
    let name = selector_name(vs)?;
    if name.contains(VAR_MARK) {
        return None;
    }
    if cat.open.contains(&name) {
        return None;
    }
    let Some(labels) = cat.labels(&name) else {
        let similar = cat.similar(&name);
        out.push(QueryIssue {
            rule: "promql-unknown-metric",
            message: format!("metric `{name}` is not in the metric catalogue"),
            hint: Some(if similar.is_empty() {
                "check the metric name against the app's /metrics".to_owned()
            } else {
                format!(
                    "did you mean {}?",
                    similar
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
        });
        return None;
    };
    let all = vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten());
    for m in all {
        if skip_label(&m.name) || labels.contains(&m.name) {
            continue;
        }
        out.push(QueryIssue {
            rule: "promql-unknown-label",
            message: format!("label `{}` is not a label of `{name}`", m.name),
            hint: Some(format!("`{name}` has labels: {}", join(labels))),
        });
    }
    Some(labels.clone())
}

fn join(s: &BTreeSet<String>) -> String {
    if s.is_empty() {
        "(none)".to_owned()
    } else {
        s.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        Catalogue::parse_exposition(
            "http_requests_total{handler=\"/\",method=\"GET\",status=\"2xx\"} 1\n\
             http_request_duration_seconds_bucket{handler=\"/\",method=\"GET\",le=\"0.1\"} 1\n\
             process_start_time_seconds 1\n",
        )
        .unwrap()
        .with_scrape_labels()
    }

    fn issues(q: &str) -> Vec<QueryIssue> {
        check_catalogue(&parse(q).unwrap(), &cat())
    }

    #[test]
    fn substitutes_grafana_variables() {
        assert_eq!(
            substitute_vars("rate(x[$__rate_interval])", false),
            "rate(x[5m])"
        );
        assert_eq!(
            substitute_vars("x{a=~\"$a|${b:regex}\"}", false),
            "x{a=~\"a|b\"}"
        );
        assert_eq!(
            substitute_vars("sum by ($g) (x[[[iv]]])", false),
            format!("sum by ({VAR_MARK}g) (x[5m])")
        );
        assert_eq!(substitute_vars("topk($k, x)", true), "topk(300, x)");
        assert!(parse("topk($k, rate(x[$__interval]))").is_ok());
        assert!(parse("x offset $off").is_ok());
        assert!(parse("sum(rate(x{a=\"$a\"}[$__range])) * $__range_s").is_ok());
    }

    #[test]
    fn seed_path_label_is_reported() {
        let i = issues("sum(rate(http_requests_total[1m])) by (path)");
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].rule, "promql-unknown-label");
        assert!(i[0].hint.as_ref().unwrap().contains("handler"));
        let i = issues(
            "histogram_quantile(0.95, sum(rate(http_request_duration_seconds_bucket[5m])) by (le, path))",
        );
        assert_eq!(i.len(), 1);
        assert!(issues("time() - process_start_time_seconds{job=\"fastapi\"}").is_empty());
        assert!(issues("histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))").is_empty());
    }

    #[test]
    fn unknown_metric_and_matchers() {
        let i = issues("rate(http_request_total[5m])");
        assert_eq!(i[0].rule, "promql-unknown-metric");
        assert!(i[0].hint.as_ref().unwrap().contains("http_requests_total"));
        let i = issues("http_requests_total{path=\"/\"}");
        assert_eq!(i[0].rule, "promql-unknown-label");
        assert!(
            issues(
                "sum(http_requests_total) / on(job) group_left sum by (job) (http_requests_total)"
            )
            .is_empty()
        );
        assert_eq!(
            issues(
                "sum by (job) (http_requests_total) / on(nope) sum by (job) (http_requests_total)"
            )
            .len(),
            1
        );
    }

    #[test]
    fn variable_queries() {
        assert_eq!(
            variable_query_expr("label_values(up{job=\"a\"}, instance)").as_deref(),
            Some("up{job=\"a\"}")
        );
        assert_eq!(variable_query_expr("label_values(instance)"), None);
        assert_eq!(
            variable_query_expr("query_result(topk(5, up))").as_deref(),
            Some("topk(5, up)")
        );
        assert_eq!(variable_query_expr("up").as_deref(), Some("up"));
    }
}
