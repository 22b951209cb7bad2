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
//!
//! Semantic rules ([`semantic`], run by [`check_query`]): `promql-quantile-without-le`,
//! `promql-quantile-non-histogram`, `promql-rate-non-counter`.

use super::catalogue::Catalogue;
use promql_parser::label::MatchOp;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};
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
    too_deep(q)?;
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

/// Deepest bracket nesting [`parse`] accepts, and most operators: promql-parser
/// recurses on nested calls (a stack overflow at ~10k `sum(`) and is quadratic in
/// operator chains, and every walk of the tree (and its drop) recurses.
pub const MAX_NESTING: usize = 64;
pub const MAX_OPERATORS: usize = 256;

/// `Err` when `q` nests brackets deeper than [`MAX_NESTING`] or has more than
/// [`MAX_OPERATORS`] operators (counted outside quotes and `{...}` matchers; an
/// over-count is harmless, real queries are far below both).
fn too_deep(q: &str) -> Result<(), String> {
    let (mut depth, mut braces, mut ops) = (0usize, 0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut chars = q.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(qc) = quote {
            if c == '\\' && qc != '`' {
                chars.next();
            } else if c == qc {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                braces += usize::from(c == '{');
                if depth > MAX_NESTING {
                    return Err(format!("query nested more than {MAX_NESTING} levels deep (at offset {i})"));
                }
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                if c == '}' {
                    braces = braces.saturating_sub(1);
                }
            }
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!' if braces == 0 => ops += 1,
            c if braces == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                let w: String = q[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if matches!(w.as_str(), "and" | "or" | "unless") {
                    ops += 1;
                }
                for _ in 1..w.chars().count() {
                    chars.next();
                }
            }
            _ => {}
        }
        if ops > MAX_OPERATORS {
            return Err(format!("query has more than {MAX_OPERATORS} operators (at offset {i})"));
        }
    }
    Ok(())
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

/// Every check of one parsed query: [`check_catalogue`] when a catalogue is given, plus
/// the semantic rules of [`semantic`]. An unknown-metric issue for a histogram or
/// summary family that `promql-rate-non-counter` reports is dropped (one finding, the
/// one that says what to rate instead).
pub fn check_query(e: &Expr, cat: Option<&Catalogue>) -> Vec<QueryIssue> {
    let mut families = BTreeSet::new();
    let sem = semantic_inner(e, cat, &mut families);
    let mut out = cat.map(|c| check_catalogue(e, c)).unwrap_or_default();
    out.retain(|i| !(i.rule == "promql-unknown-metric" && families.iter().any(|f| i.message == unknown_metric_message(f))));
    out.extend(sem);
    out
}

/// Rules about what a query means, where a mistake gives a silent empty (or wrong) panel:
/// - `promql-quantile-without-le` (no catalogue needed): the second argument of
///   `histogram_quantile` over classic `_bucket` series has lost `le` (`sum by (x)`
///   without `le`, `sum(...)`, `without (le)`, a one-to-one `on (...)` without `le` or
///   `ignoring (le)`); reported only when `le` is surely gone ([`le_lost`]);
/// - `promql-quantile-non-histogram` (catalogue): `histogram_quantile` over series the
///   catalogue knows that carry no `le` label (a gauge, a counter, a summary, a
///   histogram's `_sum`/`_count`);
/// - `promql-rate-non-counter` (catalogue with `# TYPE`s): `rate`/`irate`/`increase`
///   over a gauge, info, stateset or gauge-histogram series, or over a histogram or
///   summary family's own name (not its `_bucket`/`_sum`/`_count` series). Untyped and
///   unknown metrics are not reported.
pub fn semantic(e: &Expr, cat: Option<&Catalogue>) -> Vec<QueryIssue> {
    semantic_inner(e, cat, &mut BTreeSet::new())
}

fn semantic_inner(e: &Expr, cat: Option<&Catalogue>, families: &mut BTreeSet<String>) -> Vec<QueryIssue> {
    let mut out = Vec::new();
    walk(e, &mut |x| {
        let Expr::Call(c) = x else { return };
        match c.func.name {
            "histogram_quantile" => {
                if let Some(arg) = c.args.args.get(1) {
                    quantile(arg, cat, &mut out);
                }
            }
            "rate" | "irate" | "increase" => {
                if let (Some(cat), Some(Expr::MatrixSelector(ms))) = (cat, c.args.args.first().map(|a| a.as_ref()))
                    && let Some(i) = rate_of(c.func.name, &ms.vs, cat, families) {
                    out.push(i);
                }
            }
            _ => {}
        }
    });
    out
}

/// Calls `f` on `e` and every expression below it.
fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, f)),
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        _ => {}
    }
}

fn quantile(arg: &Expr, cat: Option<&Catalogue>, out: &mut Vec<QueryIssue>) {
    let names = metric_names(arg);
    let shown = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    // Classic histograms only: a native histogram has no `le` to keep.
    let classic = !names.is_empty() && names.iter().all(|n| n.ends_with("_bucket") && !n.contains(VAR_MARK));
    if classic && let Some(lost) = le_lost(arg) {
        out.push(QueryIssue {
            rule: "promql-quantile-without-le",
            message: format!(
                "histogram_quantile over {shown}: {} drops the `le` label, so the buckets collapse and the quantile is always empty",
                lost.what
            ),
            hint: Some(lost.fix),
        });
        return;
    }
    let Some(cat) = cat else { return };
    if names.is_empty() || names.iter().any(|n| cat.open.contains(n) || n.contains(VAR_MARK)) {
        return;
    }
    let mut scratch = Vec::new();
    let Some(labels) = infer(arg, cat, &mut scratch) else { return };
    if labels.contains("le") || !names.iter().all(|n| cat.labels(n).is_some_and(|l| !l.contains("le"))) {
        return;
    }
    let kinds: Vec<String> = names
        .iter()
        .map(|n| match cat.family_of(n) {
            Some((f, t)) if f != n => format!("`{n}` is a series of the {t} `{f}`"),
            Some((_, t)) => format!("`{n}` is a {t}"),
            None => format!("`{n}` has no `le` label"),
        })
        .collect();
    let buckets: Vec<String> = names
        .iter()
        .filter_map(|n| {
            let (f, t) = cat.family_of(n)?;
            let b = format!("{f}_bucket");
            (t == "histogram" && cat.labels(&b).is_some()).then(|| format!("`{b}`"))
        })
        .collect();
    out.push(QueryIssue {
        rule: "promql-quantile-non-histogram",
        message: format!("histogram_quantile over {shown}, which has no `le` label ({}): the quantile is always empty", kinds.join("; ")),
        hint: Some(if buckets.is_empty() {
            "histogram_quantile needs a classic histogram's `_bucket` series (with `le`); use the value itself, or `quantile(...)` across series".to_owned()
        } else {
            format!("use the buckets: {} with `sum by (le, ...) (rate(...[5m]))`", buckets.join(", "))
        }),
    });
}

fn rate_of(func: &str, vs: &parser::VectorSelector, cat: &Catalogue, families: &mut BTreeSet<String>) -> Option<QueryIssue> {
    let name = selector_name(vs)?;
    let (family, kind) = cat.family_of(&name)?;
    let whole_family = family == name && matches!(kind, "histogram" | "summary");
    if !whole_family && !matches!(kind, "gauge" | "info" | "stateset" | "gaugehistogram") {
        return None;
    }
    let (message, hint) = if whole_family {
        families.insert(name.clone());
        let series: Vec<String> = ["_bucket", "_sum", "_count"]
            .iter()
            .map(|s| format!("{family}{s}"))
            .filter(|s| cat.labels(s).is_some())
            .map(|s| format!("`{s}`"))
            .collect();
        (
            format!(
                "`{func}({name}[...])`: `{name}` is a {kind}, not a counter: {}",
                if cat.labels(&name).is_some() { "its own series are quantiles (gauges)" } else { "no series has that name" }
            ),
            format!("{func} one of its counter series instead: {}", if series.is_empty() { format!("`{family}_sum`, `{family}_count`") } else { series.join(", ") }),
        )
    } else {
        (
            format!("`{func}({name}[...])`: `{name}` is a {kind}, not a counter; {func} reads every drop as a counter reset"),
            if kind == "gauge" {
                format!("use `deriv({name}[5m])` or `delta({name}[5m])` for a gauge's change, or `{name}` itself")
            } else {
                format!("use `{name}` itself (or `changes({name}[5m])`): only counters are rated")
            },
        )
    };
    Some(QueryIssue { rule: "promql-rate-non-counter", message, hint: Some(hint) })
}

/// Why `le` is surely gone from an expression, and how to keep it.
pub struct LeLost {
    /// The construct that drops it, e.g. `` `sum by (handler)` ``.
    pub what: String,
    pub fix: String,
}

/// Whether the `le` label surely does not survive `e` (None: it may). Selectors keep
/// their labels; `by (...)` without `le`, `without (le)` and aggregations without a
/// clause (`sum(...)`) drop it (`topk`/`bottomk`/`limitk`/`limit_ratio` keep the
/// input's labels); functions keep their vector argument's labels (`label_replace` to
/// `le` restores it); binary operations keep the vector side's (the left for one-to-one
/// and many-to-one, the right for one-to-many), except that a one-to-one `on (...)`
/// without `le` or `ignoring (le)` drops it and `or` loses it only if both sides do.
/// Grafana variables in a label list count as `le`.
pub fn le_lost(e: &Expr) -> Option<LeLost> {
    let names = |l: &[String]| l.join(", ");
    let has_le = |l: &[String]| l.iter().any(|x| x == "le" || x.contains(VAR_MARK));
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            match &a.modifier {
                Some(LabelModifier::Include(l)) if !has_le(&l.labels) => Some(LeLost {
                    what: format!("`{op} by ({})`", names(&l.labels)),
                    fix: format!("keep `le` in the grouping: `{op} by ({}) (...)`", names(&[vec!["le".to_owned()], l.labels.clone()].concat())),
                }),
                Some(LabelModifier::Exclude(l)) if l.labels.iter().any(|x| x == "le") => Some(LeLost {
                    what: format!("`{op} without ({})`", names(&l.labels)),
                    fix: "remove `le` from `without (...)`: histogram_quantile needs it".to_owned(),
                }),
                Some(_) => le_lost(&a.expr),
                None if matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio") => le_lost(&a.expr),
                None if op == "count_values" => None,
                None => Some(LeLost {
                    what: format!("`{op}(...)` without a `by (le)` clause"),
                    fix: format!("aggregate by `le`: `{op} by (le) (...)`"),
                }),
            }
        }
        Expr::Unary(u) => le_lost(&u.expr),
        Expr::Paren(p) => le_lost(&p.expr),
        Expr::Subquery(s) => le_lost(&s.expr),
        Expr::Call(c) => {
            let args = &c.args.args;
            match c.func.name {
                "label_replace" | "label_join" => match args.get(1).map(|a| a.as_ref()) {
                    Some(Expr::StringLiteral(s)) if s.val != "le" => le_lost(args.first()?),
                    _ => None,
                },
                "histogram_quantile" => None,
                _ => args.iter().find(|a| matches!(a.value_type(), ValueType::Vector | ValueType::Matrix)).and_then(|a| le_lost(a)),
            }
        }
        Expr::Binary(b) => {
            let (ls, rs) = (b.lhs.value_type() == ValueType::Scalar, b.rhs.value_type() == ValueType::Scalar);
            if ls {
                return le_lost(&b.rhs);
            }
            if rs {
                return le_lost(&b.lhs);
            }
            if b.op.is_set_operator() {
                let l = le_lost(&b.lhs)?;
                return if b.op.to_string() == "or" { le_lost(&b.rhs).map(|_| l) } else { Some(l) };
            }
            let card = b.modifier.as_ref().map(|m| &m.card);
            match card {
                Some(VectorMatchCardinality::ManyToOne(extra)) => {
                    if has_le(&extra.labels) { None } else { le_lost(&b.lhs) }
                }
                Some(VectorMatchCardinality::OneToMany(extra)) => {
                    if has_le(&extra.labels) { None } else { le_lost(&b.rhs) }
                }
                _ => match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                    Some(LabelModifier::Include(l)) if !has_le(&l.labels) => Some(LeLost {
                        what: format!("`on ({})`", names(&l.labels)),
                        fix: format!("add `le` to the matching labels: `on ({})`", names(&[vec!["le".to_owned()], l.labels.clone()].concat())),
                    }),
                    Some(LabelModifier::Exclude(l)) if l.labels.iter().any(|x| x == "le") => Some(LeLost {
                        what: format!("`ignoring ({})`", names(&l.labels)),
                        fix: "remove `le` from `ignoring (...)`".to_owned(),
                    }),
                    _ => le_lost(&b.lhs),
                },
            }
        }
        _ => None,
    }
}

/// The values a matcher on `label` can select, for the matchers whose values are
/// literal: `label="v"` -> `[v]`, `label=~"a|b"` -> `[a, b]` (see [`regex_literals`]).
/// Each entry is the matcher as written and its values.
pub fn literal_matchers(e: &Expr, label: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    visit_selectors(e, &mut |vs| {
        let all = vs.matchers.matchers.iter().chain(vs.matchers.or_matchers.iter().flatten());
        for m in all.filter(|m| m.name == label) {
            let entry = match &m.op {
                MatchOp::Equal => (format!("{label}=\"{}\"", m.value), vec![m.value.clone()]),
                MatchOp::Re(_) => match regex_literals(&m.value) {
                    Some(v) => (format!("{label}=~\"{}\"", m.value), v),
                    None => continue,
                },
                _ => continue,
            };
            if !out.contains(&entry) {
                out.push(entry);
            }
        }
    });
    out
}

/// The strings a (fully anchored, as in PromQL and LogQL) regex matches when it is a
/// plain alternation of literals: `a|b-c|d\.e` -> `[a, b-c, d.e]`. None for anything
/// else (metacharacters, groups, classes, flags, an empty alternative).
pub fn regex_literals(re: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for alt in re.split('|') {
        let mut lit = String::new();
        let mut chars = alt.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) if n.is_ascii_punctuation() => lit.push(n),
                    _ => return None,
                },
                '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => return None,
                c => lit.push(c),
            }
        }
        if lit.is_empty() {
            return None;
        }
        out.push(lit);
    }
    Some(out)
}

/// Names of the Grafana variables a query uses (`$v`, `${v:fmt}`, `[[v]]`): inside
/// quotes [`substitute_vars`] leaves the bare name, so a matcher value containing
/// one of these came from a variable.
pub fn grafana_var_names(q: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = q.as_bytes();
    for (i, c) in q.char_indices() {
        let rest = if c == '$' {
            q[i + 1..].strip_prefix('{').unwrap_or(&q[i + 1..])
        } else if c == '[' && b.get(i + 1) == Some(&b'[') {
            &q[i + 2..]
        } else {
            continue;
        };
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
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
            message: unknown_metric_message(&name),
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

fn unknown_metric_message(name: &str) -> String {
    format!("metric `{name}` is not in the metric catalogue")
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
    /// Found by tests/hostile_inputs.rs: 10k nested `sum(` overflowed the stack in
    /// promql-parser, and 10k `+1` took seconds (quadratic); both are errors now.
    #[test]
    fn deep_or_long_queries_are_errors() {
        use super::parse;
        for q in [
            format!("{}up{}", "sum(".repeat(10_000), ")".repeat(10_000)),
            format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}1", "-".repeat(100_000)),
            format!("1{}", "+1".repeat(100_000)),
            format!("up{}", " and up".repeat(10_000)),
        ] {
            let t = std::time::Instant::now();
            let e = parse(&q).unwrap_err();
            assert!(e.contains("nested more than") || e.contains("operators"), "{e}");
            assert!(t.elapsed() < std::time::Duration::from_secs(1));
        }
        parse(&format!("{}up{}", "sum(".repeat(super::MAX_NESTING), ")".repeat(super::MAX_NESTING))).unwrap();
        parse(r#"sum by (handler) (rate(http_requests_total{status=~"5..", handler!="/x"}[5m])) / sum by (handler) (rate(http_requests_total[5m])) > 0.05 and on() vector(1) or up == 0"#).unwrap();
    }

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

    fn sem(q: &str) -> Vec<&'static str> {
        semantic(&parse(q).unwrap(), None).iter().map(|i| i.rule).collect()
    }

    #[test]
    fn quantile_needs_le_through_the_aggregation() {
        let bad = "promql-quantile-without-le";
        for q in [
            "histogram_quantile(0.95, sum by (handler) (rate(x_bucket[5m])))",
            "histogram_quantile(0.95, sum(rate(x_bucket[5m])))",
            "histogram_quantile(0.95, sum(rate(x_bucket[5m])) by (handler))",
            "histogram_quantile(0.95, sum without (le) (rate(x_bucket[5m])))",
            "histogram_quantile(0.95, sum by (handler) (sum by (le, handler) (rate(x_bucket[5m]))))",
            "histogram_quantile(0.95, avg(rate(x_bucket[5m])) * 2)",
            "histogram_quantile(0.95, rate(x_bucket[5m]) / on (job) sum by (job) (rate(x_bucket[5m])))",
            "histogram_quantile(0.95, rate(x_bucket[5m]) / ignoring (le) rate(y_bucket[5m]))",
            "histogram_quantile(0.95, sum by (job) (rate(x_bucket[5m])) or sum(rate(y_bucket[5m])))",
            "histogram_quantile(0.9, sum by ($g) (rate(x_bucket[$__rate_interval]))) > histogram_quantile(0.9, sum(rate(x_bucket[5m])))",
        ] {
            assert_eq!(sem(q), [bad], "{q}");
        }
        for q in [
            "histogram_quantile(0.95, sum by (le, handler) (rate(x_bucket[5m])))",
            "histogram_quantile(0.9, rate(x_bucket[5m]))",
            "histogram_quantile(0.9, sum(rate(x_bucket[5m])) by (le))",
            "histogram_quantile(0.9, sum without (instance) (rate(x_bucket[5m])))",
            "histogram_quantile(0.9, sum by (le) (increase(x_bucket[1h])) / ignoring (job) group_left sum(y))",
            "histogram_quantile(0.9, topk(5, rate(x_bucket[5m])))",
            "histogram_quantile(0.9, label_replace(sum by (b) (x_bucket), \"le\", \"$1\", \"b\", \"(.*)\"))",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])) or sum(rate(y_bucket[5m])))",
            "histogram_quantile(0.9, sum by ($group) (rate(x_bucket[5m])))",
            "histogram_quantile(0.9, rate(x_bucket[5m]) / on (le, job) rate(y_bucket[5m]))",
            // native histograms need no `le`, and a recording rule's name says nothing
            "histogram_quantile(0.9, sum(rate(http_request_duration_seconds[5m])))",
            "histogram_quantile(0.9, sum by (job) (job:latency:rate5m))",
            "histogram_quantile(0.9, sum by (le) (rate({__name__=~\"x_bucket|y_bucket\"}[5m])))",
        ] {
            assert!(sem(q).is_empty(), "{q}: {:?}", sem(q));
        }
        let i = semantic(&parse("histogram_quantile(0.9, sum by (handler) (rate(x_bucket[5m])))").unwrap(), None);
        assert!(i[0].message.contains("`sum by (handler)`") && i[0].message.contains("`x_bucket`"), "{}", i[0].message);
        assert!(i[0].hint.as_ref().unwrap().contains("sum by (le, handler)"));
    }

    fn typed() -> Catalogue {
        Catalogue::parse_exposition(
            "# TYPE req_total counter\nreq_total{h=\"/\"} 1\n# TYPE fds gauge\nfds 1\n\
             # TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_sum 1\nlat_count 1\n\
             # TYPE size summary\nsize{quantile=\"0.5\"} 1\nsize_sum 1\nsize_count 1\n\
             # TYPE b_info info\nb_info{v=\"1\"} 1\nmystery 1\n# TYPE u untyped\nu 1\n",
        )
        .unwrap()
        .with_scrape_labels()
    }

    fn all(q: &str) -> Vec<&'static str> {
        check_query(&parse(q).unwrap(), Some(&typed())).iter().map(|i| i.rule).collect()
    }

    #[test]
    fn rate_needs_a_counter() {
        let bad = "promql-rate-non-counter";
        assert_eq!(all("rate(fds[5m])"), [bad]);
        assert_eq!(all("sum(irate(fds{job=\"a\"}[1m]))"), [bad]);
        assert_eq!(all("increase(b_info[1h])"), [bad]);
        assert_eq!(all("rate(size[5m])"), [bad]);
        // the family name of a histogram: one finding, not also promql-unknown-metric
        assert_eq!(all("rate(lat[5m])"), [bad]);
        let i = check_query(&parse("rate(lat[5m])").unwrap(), Some(&typed()));
        assert!(i[0].hint.as_ref().unwrap().contains("`lat_bucket`"), "{:?}", i[0].hint);
        for q in [
            "rate(req_total[5m])",
            "rate(lat_bucket[5m])",
            "rate(lat_sum[5m]) / rate(lat_count[5m])",
            "rate(size_count[5m])",
            "rate(mystery[5m])",
            "rate(u[5m])",
            "deriv(fds[5m])",
            "delta(fds[5m])",
            "rate(fds[5m:1m])",
        ] {
            assert!(all(q).is_empty(), "{q}: {:?}", all(q));
        }
        // no catalogue: nothing known about types
        assert!(sem("rate(fds[5m])").is_empty());
        // an unknown metric is still reported as such
        assert_eq!(all("rate(nope[5m])"), ["promql-unknown-metric"]);
    }

    #[test]
    fn quantile_over_a_series_without_le() {
        let bad = "promql-quantile-non-histogram";
        assert_eq!(all("histogram_quantile(0.9, fds)"), [bad]);
        assert_eq!(all("histogram_quantile(0.9, sum by (job) (rate(lat_sum[5m])))"), [bad]);
        let i = check_query(&parse("histogram_quantile(0.9, rate(lat_count[5m]))").unwrap(), Some(&typed()));
        assert_eq!(i.len(), 1);
        assert!(i[0].hint.as_ref().unwrap().contains("`lat_bucket`"));
        assert!(all("histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))").is_empty());
        // without `le` through the aggregation: the structural rule, once
        assert_eq!(all("histogram_quantile(0.9, sum(rate(lat_bucket[5m])))"), ["promql-quantile-without-le"]);
    }

    #[test]
    fn literal_matcher_values() {
        assert_eq!(regex_literals("a|b-c|d\\.e"), Some(vec!["a".into(), "b-c".into(), "d.e".into()]));
        assert_eq!(regex_literals("api"), Some(vec!["api".into()]));
        for re in ["a.*", "a|", "(a|b)", "[ab]", "(?i)a", "a+", "^a$", ".+", ""] {
            assert_eq!(regex_literals(re), None, "{re}");
        }
        let e = parse("up{job=~\"a|b\"} + on() up{job=\"c\"} + up{job=~\".+\"}").unwrap();
        assert_eq!(
            literal_matchers(&e, "job"),
            [("job=~\"a|b\"".to_owned(), vec!["a".to_owned(), "b".to_owned()]), ("job=\"c\"".to_owned(), vec!["c".to_owned()])]
        );
        assert_eq!(
            grafana_var_names("x{job=~\"$job\", a=\"${b:regex}\", c=\"[[cc]]\"}[$__rate_interval]"),
            ["__rate_interval", "b", "cc", "job"].into_iter().map(String::from).collect()
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
