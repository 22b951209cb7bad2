//! A small LogQL checker (there is no LogQL parser crate in the dependency set).
//!
//! What is checked, after Grafana variables are substituted as for PromQL:
//! - **Stream selector** `{...}`: braces close; at least one matcher; each matcher is
//!   `label op "value"` with a label identifier, `op` one of `=`, `!=`, `=~`, `!~`, and
//!   a quoted value (`"..."` or `` `...` ``); matchers separated by commas.
//! - **Pipeline** after a selector, each stage one of:
//!   line filters `|=`, `!=`, `|~`, `!~`, `|>`, `!>` followed by a string (or `ip("...")`),
//!   optionally chained with `or "..."`;
//!   `| json [label="path", ...]`, `| logfmt [--strict] [--keep-empty] [label="key", ...]`,
//!   `| regexp "..."`, `| pattern "..."`, `| unpack`, `| decolorize`,
//!   `| line_format "..."`, `| label_format a="..."|a=b, ...`,
//!   `| drop a, b="v"`, `| keep a, b="v"`, `| unwrap [fn(]label[)]`,
//!   and label filters `| label op value` (`=`, `!=`, `=~`, `!~`, `>`, `>=`, `<`, `<=`,
//!   `==`; value a string, number, duration or byte size) joined by `and`, `or` or `,`,
//!   with parentheses.
//! - **Metric queries**: range aggregations (`count_over_time`, `rate`, `bytes_rate`,
//!   `bytes_over_time`, `absent_over_time`, `sum/avg/min/max/first/last/stddev/stdvar_over_time`,
//!   `quantile_over_time(φ, ...)`, `rate_counter`) take a log query with a range
//!   `[duration]` (after the selector or after the pipeline, plus optional `offset`);
//!   vector aggregations (`sum`, `avg`, `min`, `max`, `count`, `stddev`, `stdvar`,
//!   `topk`, `bottomk`, `sort`, `sort_desc`, `approx_topk`) with `by`/`without` before or after
//!   the parenthesised argument; `label_replace`, `vector`; binary operators
//!   (`+ - * / % ^`, comparisons with optional `bool`, `and`, `or`, `unless`) with
//!   `on`/`ignoring`/`group_left`/`group_right`; numbers and parentheses.
//!   A bare log query is accepted at the top level only.
//!
//! Not checked: regex syntax, `line_format` template syntax, label names against the
//! streams Promtail produces, function argument types beyond the above. Label values
//! against those streams are checked by the gate (`logql-unknown-label-value`) from
//! [`stream_matchers`].

use super::promql::substitute_vars;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str,
    Num(String),
    P(&'static str),
}

const PUNCTS: &[&str] = &[
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    "=", "|", ">", "<", "+", "-", "*", "/", "%", "^",
];

fn lex(s: &str) -> Result<Vec<(Tok, usize)>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    'outer: while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'"' || c == b'`' || c == b'\'' {
            let start = i;
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == b'\\' && c != b'`' {
                    i += 1;
                }
                i += 1;
            }
            if i >= b.len() {
                return Err(format!("unterminated string at offset {start}"));
            }
            i += 1;
            out.push((Tok::Str, start));
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push((Tok::Num(s[start..i].to_owned()), start));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            out.push((Tok::Ident(s[start..i].to_owned()), start));
            continue;
        }
        for p in PUNCTS {
            if s[i..].starts_with(p) {
                out.push((Tok::P(p), i));
                i += p.len();
                continue 'outer;
            }
        }
        return Err(format!(
            "unexpected character `{}` at offset {i}",
            s[i..].chars().next().unwrap_or('?')
        ));
    }
    Ok(out)
}

const RANGE_AGGS: &[&str] = &[
    "count_over_time",
    "rate",
    "rate_counter",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "first_over_time",
    "last_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
];
const VECTOR_AGGS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
];
const BIN_WORDS: &[&str] = &["and", "or", "unless"];

struct P<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    src: &'a str,
    /// Nesting of parentheses and unary operators (bounded by [`MAX_DEPTH`]).
    depth: usize,
}

/// Deepest nesting [`check`] follows: deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 128;

type R<T> = Result<T, String>;

impl P<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.0)
    }
    fn err<T>(&self, what: &str) -> R<T> {
        match self.toks.get(self.pos) {
            Some((t, off)) => {
                let near: String = self.src[*off..].chars().take(20).collect();
                let t = match t {
                    Tok::Ident(s) | Tok::Num(s) => s.clone(),
                    Tok::Str => "string".into(),
                    Tok::P(p) => p.to_string(),
                };
                Err(format!(
                    "{what}, found `{t}` at offset {off} (near `{near}`)"
                ))
            }
            None => Err(format!("{what}, found end of query")),
        }
    }
    fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::P(x)) if *x == p)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == w)
    }
    fn eat_p(&mut self, p: &str) -> bool {
        if self.is_p(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_p(&mut self, p: &str) -> R<()> {
        if self.eat_p(p) {
            Ok(())
        } else {
            self.err(&format!("expected `{p}`"))
        }
    }
    fn ident(&mut self) -> R<String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.err("expected an identifier"),
        }
    }
    fn string(&mut self) -> R<()> {
        if matches!(self.peek(), Some(Tok::Str)) {
            self.pos += 1;
            Ok(())
        } else {
            self.err("expected a quoted string")
        }
    }

    // expr := unary (binop modifiers unary)*
    fn expr(&mut self, top: bool) -> R<()> {
        self.unary(top)?;
        loop {
            let is_bin = match self.peek() {
                Some(Tok::P(p)) => [
                    "+", "-", "*", "/", "%", "^", "==", "!=", ">", ">=", "<", "<=",
                ]
                .contains(p),
                Some(Tok::Ident(w)) => BIN_WORDS.contains(&w.as_str()),
                _ => false,
            };
            if !is_bin {
                return Ok(());
            }
            self.pos += 1;
            if self.is_word("bool") {
                self.pos += 1;
            }
            if self.is_word("on") || self.is_word("ignoring") {
                self.pos += 1;
                self.label_list()?;
            }
            if self.is_word("group_left") || self.is_word("group_right") {
                self.pos += 1;
                if self.is_p("(") {
                    self.label_list()?;
                }
            }
            self.unary(false)?;
        }
    }

    /// One nesting level deeper (an error past [`MAX_DEPTH`]); [`Self::leave`] undoes it.
    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(&format!("query nested more than {MAX_DEPTH} levels deep"));
        }
        Ok(())
    }
    fn leave<T>(&mut self, r: R<T>) -> R<T> {
        self.depth -= 1;
        r
    }

    fn unary(&mut self, top: bool) -> R<()> {
        self.enter()?;
        let r = self.unary_inner(top);
        self.leave(r)
    }

    fn unary_inner(&mut self, top: bool) -> R<()> {
        if self.eat_p("-") || self.eat_p("+") {
            return self.unary(false);
        }
        match self.peek().cloned() {
            Some(Tok::Num(_)) => {
                self.pos += 1;
                Ok(())
            }
            Some(Tok::P("(")) => {
                self.pos += 1;
                self.expr(top)?;
                self.expect_p(")")
            }
            Some(Tok::P("{")) => {
                if !top {
                    return self
                        .err("a log query cannot be used here (wrap it in a range aggregation)");
                }
                self.log_query(false)
            }
            Some(Tok::Ident(f)) => self.call(&f),
            _ => self.err("expected a LogQL expression"),
        }
    }

    fn label_list(&mut self) -> R<()> {
        self.expect_p("(")?;
        while !self.eat_p(")") {
            self.ident()?;
            if !self.eat_p(",") {
                self.expect_p(")")?;
                break;
            }
        }
        Ok(())
    }

    fn grouping(&mut self) -> R<()> {
        if self.is_word("by") || self.is_word("without") {
            self.pos += 1;
            self.label_list()?;
        }
        Ok(())
    }

    fn call(&mut self, f: &str) -> R<()> {
        self.pos += 1;
        if RANGE_AGGS.contains(&f) {
            self.expect_p("(")?;
            if f == "quantile_over_time" {
                self.param()?;
                self.expect_p(",")?;
            }
            self.log_range()?;
            self.expect_p(")")?;
            self.grouping()
        } else if VECTOR_AGGS.contains(&f) {
            self.grouping()?;
            self.expect_p("(")?;
            if matches!(f, "topk" | "bottomk" | "approx_topk") {
                self.param()?;
                self.expect_p(",")?;
            }
            self.expr(false)?;
            self.expect_p(")")?;
            self.grouping()
        } else if f == "label_replace" {
            self.expect_p("(")?;
            self.expr(false)?;
            for _ in 0..4 {
                self.expect_p(",")?;
                self.string()?;
            }
            self.expect_p(")")
        } else if f == "vector" {
            self.expect_p("(")?;
            self.param()?;
            self.expect_p(")")
        } else {
            self.pos -= 1;
            self.err("unknown LogQL function or stray identifier")
        }
    }

    fn param(&mut self) -> R<()> {
        match self.peek() {
            Some(Tok::Num(_)) => {
                self.pos += 1;
                Ok(())
            }
            Some(Tok::Ident(s)) if s.contains(super::promql::VAR_MARK) => {
                self.pos += 1;
                Ok(())
            }
            _ => self.err("expected a number"),
        }
    }

    fn range(&mut self) -> R<bool> {
        if !self.eat_p("[") {
            return Ok(false);
        }
        match self.peek() {
            Some(Tok::Num(_)) => self.pos += 1,
            _ => return self.err("expected a duration in `[...]`"),
        }
        self.expect_p("]")?;
        if self.is_word("offset") {
            self.pos += 1;
            match self.peek() {
                Some(Tok::Num(_)) => self.pos += 1,
                _ => return self.err("expected a duration after offset"),
            }
        }
        Ok(true)
    }

    fn log_range(&mut self) -> R<()> {
        if self.eat_p("(") {
            self.log_query(true)?;
            self.expect_p(")")?;
            if !self.range()? {
                return self.err("range aggregation needs a range `[duration]`");
            }
            return Ok(());
        }
        let mut has_range = false;
        self.selector()?;
        has_range |= self.range()?;
        self.pipeline(has_range)?;
        has_range |= self.range()?;
        if !has_range {
            return self.err("range aggregation needs a range `[duration]`");
        }
        Ok(())
    }

    fn log_query(&mut self, in_parens: bool) -> R<()> {
        self.selector()?;
        let _ = in_parens;
        self.pipeline(false)
    }

    fn selector(&mut self) -> R<()> {
        self.expect_p("{")?;
        let mut n = 0;
        while !self.eat_p("}") {
            self.ident()?;
            match self.peek() {
                Some(Tok::P("=" | "!=" | "=~" | "!~")) => self.pos += 1,
                _ => return self.err("expected `=`, `!=`, `=~` or `!~` in stream selector"),
            }
            self.string()?;
            n += 1;
            if !self.eat_p(",") {
                self.expect_p("}")?;
                break;
            }
        }
        if n == 0 {
            return self.err("stream selector `{}` needs at least one label matcher");
        }
        Ok(())
    }

    fn pipeline(&mut self, ranged: bool) -> R<()> {
        let _ = ranged;
        loop {
            match self.peek() {
                Some(Tok::P("|=" | "|~" | "!=" | "!~" | "|>" | "!>")) => {
                    // `!=` followed by a non-string is a comparison, not a line filter
                    if self.is_p("!=")
                        && !matches!(self.peek_at(1), Some(Tok::Str) | Some(Tok::Ident(_)))
                    {
                        return Ok(());
                    }
                    self.pos += 1;
                    self.filter_value()?;
                    while self.is_word("or") && matches!(self.peek_at(1), Some(Tok::Str)) {
                        self.pos += 1;
                        self.filter_value()?;
                    }
                }
                Some(Tok::P("|")) => {
                    self.pos += 1;
                    self.stage()?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn filter_value(&mut self) -> R<()> {
        if self.is_word("ip") {
            self.pos += 1;
            self.expect_p("(")?;
            self.string()?;
            return self.expect_p(")");
        }
        self.string()
    }

    fn stage(&mut self) -> R<()> {
        let Some(Tok::Ident(w)) = self.peek().cloned() else {
            return self.err("expected a pipeline stage after `|`");
        };
        // a label filter starts with `ident op`
        let next_is_op = matches!(
            self.peek_at(1),
            Some(Tok::P(
                "=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="
            ))
        );
        match w.as_str() {
            "json" | "logfmt" if !next_is_op => {
                self.pos += 1;
                while self.eat_p("-") {
                    self.eat_p("-");
                    self.ident()?;
                }
                self.params(true)
            }
            "regexp" | "pattern" | "line_format" if !next_is_op => {
                self.pos += 1;
                self.string()
            }
            "unpack" | "decolorize" if !next_is_op => {
                self.pos += 1;
                Ok(())
            }
            "label_format" if !next_is_op => {
                self.pos += 1;
                loop {
                    self.ident()?;
                    self.expect_p("=")?;
                    match self.peek() {
                        Some(Tok::Str) | Some(Tok::Ident(_)) => self.pos += 1,
                        _ => return self.err("expected a template string or label"),
                    }
                    if !self.eat_p(",") {
                        return Ok(());
                    }
                }
            }
            "drop" | "keep" if !next_is_op => {
                self.pos += 1;
                loop {
                    self.ident()?;
                    if matches!(self.peek(), Some(Tok::P("=" | "!=" | "=~" | "!~"))) {
                        self.pos += 1;
                        self.string()?;
                    }
                    if !self.eat_p(",") {
                        return Ok(());
                    }
                }
            }
            "unwrap" if !next_is_op => {
                self.pos += 1;
                let id = self.ident()?;
                let _ = id;
                if self.eat_p("(") {
                    self.ident()?;
                    self.expect_p(")")?;
                }
                Ok(())
            }
            _ => self.label_filter(),
        }
    }

    fn params(&mut self, optional: bool) -> R<()> {
        let _ = optional;
        while matches!(self.peek(), Some(Tok::Ident(_)))
            && matches!(self.peek_at(1), Some(Tok::P("=")))
        {
            self.pos += 2;
            self.string()?;
            if !self.eat_p(",") {
                break;
            }
        }
        Ok(())
    }

    fn label_filter(&mut self) -> R<()> {
        self.filter_term()?;
        loop {
            if self.is_word("and") || self.is_word("or") || self.is_p(",") {
                self.pos += 1;
                self.filter_term()?;
            } else if matches!(self.peek(), Some(Tok::Ident(_)))
                && matches!(
                    self.peek_at(1),
                    Some(Tok::P(
                        "=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="
                    ))
                )
            {
                // implicit `and` (space separated)
                self.filter_term()?;
            } else {
                return Ok(());
            }
        }
    }

    fn filter_term(&mut self) -> R<()> {
        if self.eat_p("(") {
            self.enter()?;
            let r = self.label_filter();
            self.leave(r)?;
            return self.expect_p(")");
        }
        self.ident().map_err(|_| {
            self.err::<()>("expected a pipeline stage or label filter")
                .unwrap_err()
        })?;
        match self.peek() {
            Some(Tok::P("=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "==")) => {
                self.pos += 1
            }
            _ => return self.err("expected a comparison operator in label filter"),
        }
        match self.peek() {
            Some(Tok::Str) | Some(Tok::Num(_)) => {
                self.pos += 1;
                Ok(())
            }
            Some(Tok::Ident(s)) if s == "ip" => self.filter_value(),
            Some(Tok::Ident(s)) if s.contains(super::promql::VAR_MARK) => {
                self.pos += 1;
                Ok(())
            }
            Some(Tok::P("-")) => {
                self.pos += 1;
                match self.peek() {
                    Some(Tok::Num(_)) => {
                        self.pos += 1;
                        Ok(())
                    }
                    _ => self.err("expected a number"),
                }
            }
            _ => self.err("expected a string, number, duration or byte size"),
        }
    }
}

/// One matcher of a stream selector, as written in the query (before variable
/// substitution: a value with a Grafana variable keeps its `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMatcher {
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: &'static str,
    /// The value, unquoted (escapes of `"..."` resolved, `` `...` `` raw).
    pub value: String,
}

/// The matchers of every stream selector `{...}` in a query (a selector that does not
/// parse is left out; [`check`] reports it). `${var}` outside quotes is not a selector.
pub fn stream_matchers(query: &str) -> Vec<StreamMatcher> {
    let b = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'`' | b'\'' => i = skip_string(b, i),
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' if b.get(i + 1) == Some(&b'{') => {
                i = query[i..].find('}').map_or(b.len(), |e| i + e + 1);
            }
            b'{' => {
                let (ms, end) = selector_matchers(query, i + 1);
                out.extend(ms);
                i = end;
            }
            _ => i += 1,
        }
    }
    out
}

/// Index after the string literal starting at `start`.
fn skip_string(b: &[u8], start: usize) -> usize {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() && b[i] != q {
        if b[i] == b'\\' && q != b'`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Matchers of the selector whose body starts at `i` (after `{`), and the index after it.
fn selector_matchers(q: &str, mut i: usize) -> (Vec<StreamMatcher>, usize) {
    let b = q.as_bytes();
    let ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let mut out = Vec::new();
    loop {
        ws(&mut i);
        if b.get(i) == Some(&b'}') {
            return (out, i + 1);
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        if i == start {
            return (Vec::new(), i);
        }
        let label = q[start..i].to_owned();
        ws(&mut i);
        let op = ["=~", "!~", "!=", "="].into_iter().find(|o| q[i..].starts_with(o));
        let Some(op) = op else { return (Vec::new(), i) };
        i += op.len();
        ws(&mut i);
        let Some(&quote) = b.get(i).filter(|c| **c == b'"' || **c == b'`') else { return (Vec::new(), i) };
        let end = skip_string(b, i);
        if end > b.len() {
            return (Vec::new(), b.len());
        }
        let raw = &q[i + 1..end - 1];
        let value = if quote == b'`' { raw.to_owned() } else { unescape(raw) };
        out.push(StreamMatcher { label, op, value });
        i = end;
        ws(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return (out, i + 1),
            _ => return (Vec::new(), i),
        }
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(n @ ('\\' | '"' | '\'')) => out.push(n),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Checks one LogQL query; `Err` carries a message with the offending offset.
pub fn check(query: &str) -> Result<(), String> {
    let src = substitute_vars(query, false);
    let toks = lex(&src)?;
    if toks.is_empty() {
        return Err("empty query".into());
    }
    let mut p = P {
        toks,
        pos: 0,
        src: &src,
        depth: 0,
    };
    p.expr(true)?;
    if p.pos < p.toks.len() {
        return p.err("unexpected trailing input");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_common_forms() {
        for q in [
            r#"{service="app"}"#,
            r#"{service="app"} |= "error" != "debug" |~ `x.*` | json | level="ERROR""#,
            r#"sum(count_over_time({service="app"} | json | level="ERROR" [1m])) > 5"#,
            r#"sum by (level) (rate({job="docker"} | logfmt --strict | duration > 10s [$__auto]))"#,
            r#"{a="b"} | line_format "{{.msg}}" | label_format x=y, z="{{.a}}""#,
            r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(latency) [5m]) by (a)"#,
            r#"absent_over_time({job="x"}[1m])"#,
            r#"topk(10, sum by (a) (bytes_over_time({a=~"$v"}[$__range])))"#,
            r#"{a="b"} | status >= 500 and method="GET" or (x!="y", z=~"q")"#,
            r#"sum(rate({a="b"}[1m])) / on(x) group_left sum(rate({a="b"}[1m]))"#,
            r#"{a="b"} | drop __error__, __error_details__ | keep a"#,
            r#"{a="b"} |= ip("10.0.0.0/8") or "x""#,
        ] {
            check(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        }
    }

    #[test]
    fn stream_matchers_as_written() {
        use super::{StreamMatcher, stream_matchers};
        let m = |label: &str, op: &'static str, value: &str| StreamMatcher { label: label.into(), op, value: value.into() };
        assert_eq!(
            stream_matchers(r#"sum by (${g}) (count_over_time({service="app", env=~`dev|prod`} | line_format "{{.a}}" [1m])) / count_over_time({job!="x\"y", level=~"a\\.b"}[1m])"#),
            [m("service", "=", "app"), m("env", "=~", "dev|prod"), m("job", "!=", "x\"y"), m("level", "=~", "a\\.b")]
        );
        assert_eq!(stream_matchers(r#"{service="$svc"}"#), [m("service", "=", "$svc")]);
        assert!(stream_matchers(r#"{service=app}"#).is_empty());
        assert!(stream_matchers(r#"{a="b"} |= "{x=\"y\"}""#).len() == 1);
    }

    #[test]
    fn rejects_broken_queries() {
        for q in [
            r#"{}"#,
            r#"{service=app}"#,
            r#"{service="app""#,
            r#"count_over_time({a="b"})"#,
            r#"sum(count_over_time({a="b"} | json [1m]"#,
            r#"{a="b"} | nosuchstage"#,
            r#"{a="b"} |= "x" |"#,
            r#"sum({a="b"})"#,
            r#"{a="b"} | level"#,
        ] {
            assert!(check(q).is_err(), "{q} should be rejected");
        }
        // Nesting past MAX_DEPTH is an error, not a stack overflow (found by tests/hostile_inputs.rs).
        for q in [
            format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}1", "-".repeat(100_000)),
            format!(r#"{{a="b"}} | x="y" and {}x="y"{}"#, "(".repeat(100_000), ")".repeat(100_000)),
        ] {
            assert!(check(&q).unwrap_err().contains("nested more than"), "{}", &q[..20]);
        }
        let q = format!("{}1{}", "(".repeat(super::MAX_DEPTH - 1), ")".repeat(super::MAX_DEPTH - 1));
        check(&q).unwrap();
    }
}
