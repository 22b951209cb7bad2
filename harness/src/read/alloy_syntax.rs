//! Grafana Alloy configuration syntax (formerly River; `*.alloy` files) read into a small
//! tree, enough for a linter to see which components exist and how they are wired.
//!
//! Follows upstream `grafana/alloy` `syntax/scanner` and `syntax/parser`:
//! - comments are `//` and `/* */` only (`#` is an illegal character upstream, so here too);
//! - a newline after an identifier, literal, `)`, `]` or `}` terminates a statement, so two
//!   statements on one line are an error, and a list or object closed on a later line needs
//!   a trailing comma (`[a,\n]`), exactly as upstream;
//! - block labels are double-quoted valid identifiers; attribute names are one identifier;
//! - operators: `||` < `&&` < comparisons < `+ -` < `* / %` < `^` (right-assoc); unary `! -`.
//!
//! Expressions are simplified into [`Value`]: an identifier with `.field` accesses is a
//! [`Value::Ref`] path, a call on such a path is a [`Value::Call`], `-<number>` folds into a
//! negative [`Value::Num`], and every other operator or index is an opaque [`Value::Other`]
//! (references inside it are not kept). Top-level attributes (rare) are gathered into one
//! synthetic [`Block`] named `""`, placed where the first of them appears. `Block` and `Attr`
//! carry their 1-based line; `Value` does not. Nesting deeper than [`MAX_DEPTH`] is an error.

use std::fmt;

/// Deepest nesting of blocks and expressions accepted; deeper input is a [`ParseError`].
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String), Num(f64), Bool(bool), Null,
    /// Dotted identifier path, e.g. `loki.write.default.receiver`.
    Ref(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
    Call { func: String, args: Vec<Value> },
    /// Operators, indexing, and calls or field accesses on anything but a plain path.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr { pub key: String, pub value: Value, pub line: usize }

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Dotted block name, e.g. `loki.source.docker`; `""` for the top-level attributes.
    pub name: String,
    pub label: Option<String>,
    pub attrs: Vec<Attr>, pub blocks: Vec<Block>, pub line: usize,
}

impl Block {
    /// Value of the first attribute named `key`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs.iter().find(|a| a.key == key).map(|a| &a.value)
    }
    /// First child block with that name.
    pub fn block(&self, name: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.name == name)
    }
    /// Every child block with that name, in order.
    pub fn blocks_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
        self.blocks.iter().filter(move |b| b.name == name)
    }
    /// `name.label` or `name`: the prefix other components use to reference its exports.
    pub fn id(&self) -> String {
        self.label.as_ref().map_or_else(|| self.name.clone(), |l| format!("{}.{l}", self.name))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError { pub line: usize, pub col: usize, pub message: String }

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        if let Value::Str(s) = self { Some(s) } else { None }
    }
    /// Every `Ref` path inside this value (recursively through arrays, objects and call args).
    pub fn refs(&self) -> Vec<&str> {
        match self {
            Value::Ref(p) => vec![p.as_str()],
            Value::Array(vs) | Value::Call { args: vs, .. } => vs.iter().flat_map(Value::refs).collect(),
            Value::Object(fields) => fields.iter().flat_map(|(_, v)| v.refs()).collect(),
            _ => vec![],
        }
    }
}

/// Top-level blocks (and attributes, in one block named `""`) of a file.
pub fn parse(text: &str) -> Result<Vec<Block>, ParseError> {
    let mut p = Parser { toks: lex(text)?, i: 0, depth: 0 };
    let (attrs, mut blocks, at) = p.body("")?;
    if let Some(line) = attrs.first().map(|a| a.line) {
        blocks.insert(at, Block { name: String::new(), label: None, attrs, blocks: vec![], line });
    }
    Ok(blocks)
}

type Res<T> = Result<T, ParseError>;

fn perr<T>(line: usize, col: usize, message: impl Into<String>) -> Res<T> {
    Err(ParseError { line, col, message: message.into() })
}

// ---------------------------------------------------------------- scanner

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String), Num(f64), Bool(bool), Null, P(&'static str), Eof,
    Str(String, bool), // decoded text; `true` when double-quoted, `false` for a `raw` string
    Term,              // a newline (or a comment running to one) that ends a statement
}

struct Token { tok: Tok, line: usize, col: usize }

struct Lexer { s: Vec<char>, i: usize, line: usize, col: usize }

fn is_letter(c: char) -> bool { c.is_ascii_alphabetic() || c == '_' || (!c.is_ascii() && c.is_alphabetic()) }
fn is_digit(c: char) -> bool { c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()) }
fn is_ident(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(is_letter) && cs.all(|c| is_letter(c) || is_digit(c))
}
fn push_char(buf: &mut Vec<u8>, c: char) {
    buf.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

impl Lexer {
    fn peek(&self, k: usize) -> Option<char> { self.s.get(self.i + k).copied() }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        (self.line, self.col) = if c == '\n' { (self.line + 1, 1) } else { (self.line, self.col + 1) };
        Some(c)
    }
    fn eat(&mut self, c: char) -> bool { self.peek(0) == Some(c) && self.bump().is_some() }
    fn take_while(&mut self, out: &mut String, f: impl Fn(char) -> bool) -> usize {
        let start = out.len();
        while let Some(c) = self.peek(0).filter(|&c| f(c)) {
            out.push(c);
            self.bump();
        }
        out.len() - start
    }
    fn number(&mut self, line: usize, col: usize) -> Res<Tok> {
        let mut s = String::new();
        self.take_while(&mut s, |c| c.is_ascii_digit());
        if self.eat('.') {
            s.push('.');
            self.take_while(&mut s, |c| c.is_ascii_digit());
        }
        if self.eat('e') || self.eat('E') {
            s.push('e');
            if let Some(c @ ('+' | '-')) = self.peek(0) { s.push(c); self.bump(); }
            if self.take_while(&mut s, |c| c.is_ascii_digit()) == 0 {
                return perr(line, col, "exponent has no digits");
            }
        }
        s.parse().map(Tok::Num).or_else(|_| perr(line, col, format!("invalid number {s:?}")))
    }
    /// A `"` string (escapes, one line) or a `` ` `` raw string (no escapes, any lines).
    fn string(&mut self, quote: char, line: usize, col: usize) -> Res<Tok> {
        self.bump();
        let mut buf = Vec::new();
        loop {
            match self.bump() {
                None => return perr(line, col, "string literal not terminated"),
                Some('\n') if quote == '"' => return perr(line, col, "string literal not terminated"),
                Some(c) if c == quote => break,
                Some('\\') if quote == '"' => self.escape(&mut buf)?,
                Some(c) => push_char(&mut buf, c),
            }
        }
        Ok(Tok::Str(String::from_utf8_lossy(&buf).into_owned(), quote == '"'))
    }
    /// After a `\`: Go's escapes plus `\'`; `\NNN` (octal) and `\xNN` are single bytes.
    fn escape(&mut self, buf: &mut Vec<u8>) -> Res<()> {
        let (line, col) = (self.line, self.col.saturating_sub(1).max(1));
        let Some(c) = self.bump() else { return perr(line, col, "escape sequence not terminated") };
        let simple = "a\x07b\x08f\x0cn\nr\rt\tv\x0b\\\\\"\"''".as_bytes().chunks(2).find(|p| p[0] as char == c);
        if let Some(pair) = simple {
            buf.push(pair[1]);
            return Ok(());
        }
        let (n, base, max) = match c {
            '0'..='7' => (2, 8, 255), // the first octal digit is `c` itself
            'x' => (2, 16, 255),
            'u' => (4, 16, 0x10FFFF),
            'U' => (8, 16, 0x10FFFF),
            _ => return perr(line, col, format!("unknown escape sequence \\{c}")),
        };
        let mut x = c.to_digit(8).unwrap_or(0);
        for _ in 0..n {
            let Some(d) = self.peek(0).and_then(|d| d.to_digit(base)) else {
                return perr(line, col, "illegal character in escape sequence");
            };
            x = x * base + d;
            self.bump();
        }
        match char::from_u32(x).filter(|_| x <= max) {
            None => return perr(line, col, "escape sequence is invalid Unicode code point"),
            Some(ch) if matches!(c, 'u' | 'U') => push_char(buf, ch),
            Some(_) => buf.push(x as u8),
        }
        Ok(())
    }
    /// Skips a comment; says whether it runs to (or across) the end of a line.
    fn comment(&mut self, line: usize, col: usize) -> Res<bool> {
        self.bump();
        if self.eat('/') {
            self.take_while(&mut String::new(), |c| c != '\n');
            return Ok(true);
        }
        self.bump();
        let mut newline = false;
        loop {
            match self.bump() {
                None => return perr(line, col, "block comment not terminated"),
                Some('*') if self.eat('/') => return Ok(newline),
                Some(c) => newline |= c == '\n',
            }
        }
    }
    fn punct(&mut self, c: char, line: usize, col: usize) -> Res<&'static str> {
        self.bump();
        Ok(match c {
            '|' if self.eat('|') => "||",
            '&' if self.eat('&') => "&&",
            '|' | '&' => return perr(line, col, format!("missing second {c} in {c}{c}")),
            '!' => if self.eat('=') { "!=" } else { "!" },
            '=' => if self.eat('=') { "==" } else { "=" },
            '<' => if self.eat('=') { "<=" } else { "<" },
            '>' => if self.eat('=') { ">=" } else { ">" },
            '\'' => return perr(line, col, "illegal single-quoted string; use double quotes"),
            '#' => return perr(line, col, "illegal character '#'; Alloy comments are // and /* */"),
            _ => match ["+", "-", "*", "/", "%", "^", "{", "}", "(", ")", "[", "]", ",", "."].iter().find(|p| p.starts_with(c)) {
                Some(p) => p,
                None => return perr(line, col, format!("illegal character {c:?}")),
            },
        })
    }
}

fn lex(text: &str) -> Res<Vec<Token>> {
    let s = text.strip_prefix('\u{feff}').unwrap_or(text).chars().collect();
    let mut lx = Lexer { s, i: 0, line: 1, col: 1 };
    if let Some(at) = lx.s.iter().position(|&c| c == '\0') {
        while lx.i < at { lx.bump(); }
        return perr(lx.line, lx.col, "illegal character NUL");
    }
    let (mut out, mut term) = (Vec::new(), false); // term: a newline here would end a statement
    loop {
        while lx.peek(0).is_some_and(|c| matches!(c, ' ' | '\t' | '\r') || (c == '\n' && !term)) {
            lx.bump();
        }
        let (line, col) = (lx.line, lx.col);
        let Some(c) = lx.peek(0) else {
            if term { out.push(Token { tok: Tok::Term, line, col }); }
            out.push(Token { tok: Tok::Eof, line, col });
            return Ok(out);
        };
        let tok = if c == '\n' {
            lx.bump();
            Tok::Term
        } else if c == '/' && matches!(lx.peek(1), Some('/' | '*')) {
            if lx.comment(line, col)? && term {
                term = false;
                out.push(Token { tok: Tok::Term, line, col });
            }
            continue;
        } else if is_letter(c) {
            let mut s = String::new();
            lx.take_while(&mut s, |c| is_letter(c) || is_digit(c));
            match s.as_str() {
                "true" | "false" => Tok::Bool(s == "true"),
                "null" => Tok::Null,
                _ => Tok::Ident(s),
            }
        } else if c.is_ascii_digit() || (c == '.' && lx.peek(1).is_some_and(|d| d.is_ascii_digit())) {
            lx.number(line, col)?
        } else if c == '"' || c == '`' {
            lx.string(c, line, col)?
        } else {
            Tok::P(lx.punct(c, line, col)?)
        };
        term = match &tok {
            Tok::Term => false,
            Tok::P(p) => matches!(*p, ")" | "]" | "}"),
            _ => true,
        };
        out.push(Token { tok, line, col });
    }
}

// ---------------------------------------------------------------- parser

struct Parser { toks: Vec<Token>, i: usize, depth: usize } // `toks` always ends with Eof

impl Parser {
    fn tok(&self) -> &Tok { &self.toks[self.i].tok }
    fn next(&mut self) { self.i = (self.i + 1).min(self.toks.len() - 1) }
    /// At punctuation `p`, or at end of file when `p` is `""`.
    fn is(&self, p: &str) -> bool {
        matches!(self.tok(), Tok::P(q) if *q == p) || (p.is_empty() && *self.tok() == Tok::Eof)
    }
    fn err<T>(&self, msg: impl Into<String>) -> Res<T> {
        perr(self.toks[self.i].line, self.toks[self.i].col, msg)
    }
    fn unexpected<T>(&self, want: &str) -> Res<T> {
        let got = match self.tok() {
            Tok::Ident(s) => format!("identifier {s}"),
            Tok::Num(_) => "number".into(),
            Tok::Str(..) => "string".into(),
            Tok::Bool(b) => b.to_string(),
            Tok::Null => "null".into(),
            Tok::P(p) => format!("{p:?}"),
            Tok::Term => "end of line".into(),
            Tok::Eof => "end of file".into(),
        };
        self.err(format!("expected {want}, got {got}"))
    }
    fn expect(&mut self, p: &str) -> Res<()> {
        if !self.is(p) { return self.unexpected(&format!("{p:?}")); }
        self.next();
        Ok(())
    }
    fn ident(&mut self, want: &str) -> Res<String> {
        let Tok::Ident(s) = self.tok().clone() else { return self.unexpected(want) };
        self.next();
        Ok(s)
    }
    /// Runs `f` one nesting level deeper, refusing to go past `MAX_DEPTH`.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        if self.depth >= MAX_DEPTH { return self.err(format!("nesting deeper than {MAX_DEPTH} levels")); }
        self.depth += 1;
        let v = f(self)?;
        self.depth -= 1;
        Ok(v)
    }

    /// Statements up to `until` (`"}"`, or `""` for end of file), not consuming it; also says
    /// how many blocks came before the first attribute.
    fn body(&mut self, until: &str) -> Res<(Vec<Attr>, Vec<Block>, usize)> {
        let mut out = (Vec::new(), Vec::new(), 0);
        while !self.is(until) && !self.is("") {
            self.statement(&mut out)?;
            if self.is(until) || self.is("") { break; }
            if *self.tok() != Tok::Term { return self.unexpected("a newline after the statement"); }
            self.next();
        }
        Ok(out)
    }

    fn statement(&mut self, (attrs, blocks, at): &mut (Vec<Attr>, Vec<Block>, usize)) -> Res<()> {
        let Token { line, col, .. } = self.toks[self.i];
        let mut name = self.ident("an attribute or block name")?;
        let (mut dotted, mut label, mut labelled) = (false, None, false);
        while self.is(".") {
            self.next();
            name = format!("{name}.{}", self.ident("an identifier after \".\"")?);
            dotted = true;
        }
        if !self.is("=") && !self.is("{") {
            match self.tok().clone() {
                Tok::Str(s, true) if s.is_empty() || is_ident(&s) => {
                    (label, labelled) = (Some(s).filter(|s| !s.is_empty()), true);
                    self.next();
                }
                Tok::Str(s, true) => return self.err(format!("block label {s:?} is not a valid identifier")),
                Tok::Str(_, false) => return self.err("block label must be a double-quoted string"),
                _ => return self.unexpected("\"=\", \"{\" or a block label"),
            }
        }
        if self.is("=") {
            if dotted || labelled {
                return perr(line, col, "an attribute name is a single identifier, without \".\" or label");
            }
            self.next();
            *at = if attrs.is_empty() { blocks.len() } else { *at };
            attrs.push(Attr { key: name, value: self.expr()?, line });
            return Ok(());
        }
        self.expect("{")?;
        let (a, b, _) = self.nested(|p| p.body("}"))?;
        self.expect("}")?;
        blocks.push(Block { name, label, attrs: a, blocks: b, line });
        Ok(())
    }

    fn expr(&mut self) -> Res<Value> { self.nested(|p| p.binop(1)) }

    /// Left-associative binary operators of precedence `min` and up (upstream's parseBinOp).
    fn binop(&mut self, min: u8) -> Res<Value> {
        let mut lhs = self.pow()?;
        loop {
            let prec = match self.tok() {
                Tok::P("||") => 1,
                Tok::P("&&") => 2,
                Tok::P("==" | "!=" | "<" | "<=" | ">" | ">=") => 3,
                Tok::P("+" | "-") => 4,
                Tok::P("*" | "/" | "%") => 5,
                _ => 0,
            };
            if prec == 0 || prec < min { return Ok(lhs); }
            self.next();
            self.nested(|p| p.binop(prec + 1))?; // counted, so MAX_DEPTH bounds the stack
            lhs = Value::Other;
        }
    }

    fn pow(&mut self) -> Res<Value> {
        let lhs = self.unary()?;
        if !self.is("^") { return Ok(lhs); }
        self.next();
        self.nested(Self::pow)?;
        Ok(Value::Other)
    }

    fn unary(&mut self) -> Res<Value> {
        if self.is("!") || self.is("-") {
            let neg = self.is("-");
            self.next();
            return Ok(match self.nested(Self::unary)? {
                Value::Num(n) if neg => Value::Num(-n),
                _ => Value::Other,
            });
        }
        let mut v = self.primary()?;
        loop {
            v = if self.is(".") {
                self.next();
                let field = self.ident("an identifier after \".\"")?;
                if let Value::Ref(path) = v { Value::Ref(format!("{path}.{field}")) } else { Value::Other }
            } else if self.is("[") {
                self.next();
                self.expr()?;
                self.expect("]")?;
                Value::Other
            } else if self.is("(") {
                self.next();
                let args = self.seq(")", Self::expr)?;
                if let Value::Ref(func) = v { Value::Call { func, args } } else { Value::Other }
            } else if self.is("{") || matches!(self.tok(), Tok::Str(..)) {
                return self.err("cannot use a block as an expression");
            } else {
                return Ok(v);
            };
        }
    }

    fn primary(&mut self) -> Res<Value> {
        let v = match self.tok().clone() {
            Tok::Ident(s) => Value::Ref(s),
            Tok::Str(s, _) => Value::Str(s),
            Tok::Num(n) => Value::Num(n),
            Tok::Bool(b) => Value::Bool(b),
            Tok::Null => Value::Null,
            Tok::P(open @ ("(" | "[" | "{")) => {
                self.next();
                return match open {
                    "(" => self.expr().and_then(|v| self.expect(")").map(|_| v)),
                    "[" => self.seq("]", Self::expr).map(Value::Array),
                    _ => self.seq("}", Self::field).map(Value::Object),
                };
            }
            _ => return self.unexpected("an expression"),
        };
        self.next();
        Ok(v)
    }

    /// `key = value` in an object; the key is an identifier or a string.
    fn field(&mut self) -> Res<(String, Value)> {
        let (Tok::Ident(key) | Tok::Str(key, _)) = self.tok().clone() else {
            return self.unexpected("a field name (identifier or string)");
        };
        self.next();
        self.expect("=")?;
        Ok((key, self.expr()?))
    }

    /// Comma-separated items (trailing comma allowed) after an opening bracket, through `close`.
    fn seq<T>(&mut self, close: &str, item: fn(&mut Self) -> Res<T>) -> Res<Vec<T>> {
        let mut out = Vec::new();
        while !self.is(close) && !self.is("") {
            out.push(item(self)?);
            if self.is(close) { break; }
            if !self.is(",") {
                return self.unexpected(&format!("\",\" or {close:?} (closing on a later line needs a trailing comma)"));
            }
            self.next();
        }
        self.expect(close)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // grafana/loki examples/getting-started/alloy-local-config.yaml, verbatim.
    const LOKI: &str = r#"discovery.docker "flog_scrape" {
	host             = "unix:///var/run/docker.sock"
	refresh_interval = "5s"
}

discovery.relabel "flog_scrape" {
	targets = []

	rule {
		source_labels = ["__meta_docker_container_name"]
		regex         = "/(.*)"
		target_label  = "container"
	}
}

loki.source.docker "flog_scrape" {
	host             = "unix:///var/run/docker.sock"
	targets          = discovery.docker.flog_scrape.targets
	forward_to       = [loki.write.default.receiver]
	relabel_rules    = discovery.relabel.flog_scrape.rules
	refresh_interval = "5s"
}

loki.write "default" {
	endpoint {
		url       = "http://gateway:3100/loki/api/v1/push"
		tenant_id = "tenant1"
	}
	external_labels = {}
}"#;
    // Excerpts: grafana/tempo migrate-to-3, alloy-scenarios otel-basic-tracing and promtail-to-alloy-migration.
    const TEMPO: &str = "otelcol.receiver.otlp \"otlp_receiver\" {\n  grpc {\n    endpoint = \"0.0.0.0:4317\"\n  }\n  output {\n    traces = [otelcol.exporter.otlp.grafanacloud.input,]\n  }\n}\n\notelcol.exporter.otlp \"grafanacloud\" {\n  client {\n    endpoint = env(\"ALLOY_OTLP_UPSTREAM\")\n    tls {\n\t\t\tinsecure = true\n\t\t}\n  }\n}\n";
    const OTEL: &str = "/*\n * Alloy Configuration for OpenTelemetry Trace Collection\n */\n\notelcol.receiver.otlp \"default\" {\n  http {}\n  grpc {}\n\n  output {\n    traces = [otelcol.processor.batch.default.input]\n  }\n}\n";
    const PROMTAIL: &str = "// Enable live debugging for the Alloy UI.\nlivedebugging {\n\tenabled = true\n}\n\nlocal.file_match \"demo\" {\n\tpath_targets = [{\n\t\t__path__ = \"/var/log/demo/*.log\",\n\t\tjob      = \"demo-app\",\n\t}]\n}\n\nloki.process \"parse\" {\n\t// pipeline_stages[0] \"- regex\" -> stage.regex\n\tstage.regex {\n\t\texpression = \".*level=(?P<level>\\\\w+) service=(?P<service>\\\\w+).*\"\n\t}\n\n\tstage.labels {\n\t\tvalues = {\n\t\t\tlevel   = \"\",\n\t\t\tservice = \"\",\n\t\t}\n\t}\n\n\tforward_to = [loki.write.default.receiver]\n}\n";

    fn val(expr: &str) -> Value {
        let b = parse(&format!("x = {expr}\n")).unwrap_or_else(|e| panic!("{expr}: {e}"));
        b[0].attr("x").unwrap().clone()
    }
    fn err(text: &str) -> ParseError {
        parse(text).expect_err(text)
    }
    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn loki_getting_started() {
        let b = parse(LOKI).unwrap();
        let ids: Vec<_> = b.iter().map(|b| (b.id(), b.line)).collect();
        assert_eq!(ids, [("discovery.docker.flog_scrape".into(), 1), ("discovery.relabel.flog_scrape".into(), 6),
            ("loki.source.docker.flog_scrape".into(), 16), ("loki.write.default".into(), 24)]);
        assert_eq!(b[0].attr("refresh_interval").and_then(Value::as_str), Some("5s"));
        assert_eq!(b[1].attr("targets"), Some(&Value::Array(vec![])));
        let rule = b[1].block("rule").unwrap();
        assert_eq!((rule.line, &rule.label, rule.attr("regex")), (9, &None, Some(&s("/(.*)"))));
        let src = &b[2];
        assert_eq!(src.attr("targets"), Some(&Value::Ref("discovery.docker.flog_scrape.targets".into())));
        assert_eq!(src.attr("forward_to").unwrap().refs(), ["loki.write.default.receiver"]);
        assert_eq!(src.attrs.iter().map(|a| a.line).collect::<Vec<_>>(), [17, 18, 19, 20, 21]);
        assert_eq!(b[3].attr("external_labels"), Some(&Value::Object(vec![])));
        assert_eq!(b[3].block("endpoint").unwrap().attr("tenant_id"), Some(&s("tenant1")));
        assert!(b[3].attr("nope").is_none() && b[3].block("nope").is_none());
    }

    #[test]
    fn other_real_configs() {
        let t = parse(TEMPO).unwrap();
        assert_eq!(t[0].block("output").unwrap().attr("traces").unwrap().refs(), ["otelcol.exporter.otlp.grafanacloud.input"]);
        let client = t[1].block("client").unwrap();
        assert_eq!(client.attr("endpoint"), Some(&Value::Call { func: "env".into(), args: vec![s("ALLOY_OTLP_UPSTREAM")] }));
        assert_eq!(client.block("tls").unwrap().attr("insecure"), Some(&Value::Bool(true)));
        let o = parse(OTEL).unwrap();
        assert_eq!((o.len(), o[0].line, o[0].blocks.len(), o[0].blocks[1].line), (1, 5, 3, 7));
        let p = parse(PROMTAIL).unwrap();
        assert_eq!((p[0].id(), p[0].line, p[2].line), ("livedebugging".into(), 2, 13));
        let target = Value::Object(vec![("__path__".into(), s("/var/log/demo/*.log")), ("job".into(), s("demo-app"))]);
        assert_eq!(p[1].attr("path_targets"), Some(&Value::Array(vec![target])));
        let re = p[2].block("stage.regex").unwrap().attr("expression").and_then(Value::as_str);
        assert_eq!(re, Some(r".*level=(?P<level>\w+) service=(?P<service>\w+).*"));
        assert_eq!(p[2].blocks_named("stage.labels").count(), 1);
        assert_eq!(p[2].attr("forward_to").unwrap().refs(), ["loki.write.default.receiver"]);
    }

    #[test]
    fn literals_and_strings() {
        assert_eq!([val("1e+2"), val(".5"), val("-3"), val("7.25E-1")], [100.0, 0.5, -3.0, 0.725].map(Value::Num));
        assert_eq!([val("null"), val("false")], [Value::Null, Value::Bool(false)]);
        assert_eq!(val(r#""a\tb\"c\\d\u00e9\x41\101\'\U0001F600""#), s("a\tb\"c\\d\u{e9}AA'\u{1F600}"));
        assert_eq!(val("`raw \\n \"q\"\nline`"), s("raw \\n \"q\"\nline"));
        let obj = val("{ \"app.kubernetes.io/name\" = \"x\", ns = 1 }");
        assert_eq!(obj, Value::Object(vec![("app.kubernetes.io/name".into(), s("x")), ("ns".into(), Value::Num(1.0))]));
        assert_eq!(val("[1, [2,],\n]"), Value::Array(vec![Value::Num(1.0), Value::Array(vec![Value::Num(2.0)])]));
    }

    #[test]
    fn calls_refs_and_operators() {
        let v = val("coalesce(sys.env(\"X\"), concat(a.b.targets, [c.d]), json_decode(local.file.f.content))");
        assert_eq!(v.refs(), ["a.b.targets", "c.d", "local.file.f.content"]);
        let Value::Call { func, args } = &v else { panic!("{v:?}") };
        assert_eq!((func.as_str(), args.len()), ("coalesce", 3));
        assert_eq!(args[0], Value::Call { func: "sys.env".into(), args: vec![s("X")] });
        for e in ["x[0]", "a.b[0].c", "f(1).y", "f()(2)", "1 + 2 * 3 == 7 && !false || x", "2 ^ 3 ^ 2", "-a",
            "\"a\" + env(\"B\")", "(1 + 2) % 3 >= 1 != true", "a < b", "a <= b / 2", "x > -1"] {
            assert_eq!(val(e), Value::Other, "{e}");
        }
        assert_eq!(val("(a.b).c"), Value::Ref("a.b.c".into()));
        assert_eq!(val("f()"), Value::Call { func: "f".into(), args: vec![] });
        assert_eq!(val("{ k = [x.y, { z = w.v }], }").refs(), ["x.y", "w.v"]);
    }

    #[test]
    fn comments_terminators_top_level_attributes() {
        let text = "// c\nx = 1 // trailing\n/* multi\nline */ b \"l\" { /* in */ y = `two\nlines` /* end\n*/\n  c {\n  }\n}\nz = a.b\n";
        let b = parse(text).unwrap();
        assert_eq!((b.len(), b[0].name.as_str(), b[0].line, b[0].attrs[1].key.as_str(), b[0].attrs[1].line), (2, "", 2, "z", 10));
        assert_eq!((b[1].id(), b[1].line, b[1].attrs[0].line, b[1].blocks[0].line), ("b.l".into(), 4, 4, 7));
        assert_eq!(parse("a {}\nk = 1\n").unwrap().iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["a", ""]);
        assert_eq!(parse(" \n// only a comment").unwrap(), vec![]);
        assert_eq!(parse("\u{feff}a {}\r\n").unwrap()[0].name, "a");
        assert_eq!(parse("a \"\" {}").unwrap()[0].label, None);
        assert_eq!(parse("x = [\n  1,\n  2,\n]\nobj = {\n  k = 1,\n}\n").unwrap()[0].attrs.len(), 2);
    }

    #[test]
    fn malformed_input_is_an_error_with_position() {
        let e = err("a {\n  x = [\n    1\n  ]\n}\n"); // upstream needs the trailing comma too
        assert_eq!((e.line, e.col), (3, 6), "{e}");
        assert!(e.to_string().starts_with("3:6: expected \",\" or \"]\""), "{e}");
        assert_eq!(err("a {\n  b = {\n    k = 1\n  }\n}").line, 3);
        assert_eq!((err("# comment\n").line, err("a {}\nb {\n  s = \"open\n}\n").line), (1, 3));
        assert_eq!((err("x = 1 y = 2").col, err("a { } b { }").col, err("a {\n\tx = 'q'\n}").col), (7, 7, 6));
        for bad in ["a.b = 1", "a \"l\" = 1", "a `l` {}", "a \"no-ident\" {}", "a {", "a }", "x = ", "x = 1e", "x = a | b",
            "x = \"\\q\"", "x = \"\\uD800\"", "x = \"\\777\"", "/* open", "x = `open", "x = a.", "x = {1 = 2}", "x = a \"b\" {}",
            "x = \0", "a \"l\"", "x = (1", "x = f(1 2)", "x = [1,,]", "1 = 2", "a { b }"] {
            let e = err(bad);
            assert!(e.line >= 1 && e.col >= 1 && !e.message.is_empty(), "{bad}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let n = 100_000;
        for (open, close) in [("[", "]"), ("(", ")"), ("-", ""), ("!", ""), ("1^", ""), ("f(", ")"), ("{a=", "}"), ("x[", "]")] {
            let text = format!("x = {}1{}\n", open.repeat(n), close.repeat(n));
            assert!(err(&text).message.contains("nesting"), "{open}");
        }
        assert!(err(&format!("{}{}", "a {\n".repeat(n), "}\n".repeat(n))).message.contains("nesting"));
        // Just under the limit (each operator of higher precedence, `^`, `-` and `(` nest once), through every precedence level.
        let d = (MAX_DEPTH - 1) / 8;
        let text = format!("x = {}1{}\n", "a || b && c == d + e * f ^ -(".repeat(d), ")".repeat(d));
        assert_eq!(parse(&text).unwrap()[0].attrs[0].value, Value::Other);
        assert!(parse(&format!("x = 1{}\n", " + 1".repeat(n))).is_ok());
    }

    #[test]
    fn fuzz_mutations_never_panic() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rand = |n: usize| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % n.max(1) as u64) as usize
        };
        let noise: &[u8] = b"{}[]()\"`=.,\n/*#\\ \0-!^|&'e9\xff\xc3";
        let (mut oks, mut errs) = (0, 0);
        for round in 0..800 {
            let src = [LOKI, TEMPO, OTEL, PROMTAIL][round % 4].as_bytes();
            let mut m = src.to_vec();
            for _ in 0..1 + rand(3) {
                let at = rand(m.len() + 1);
                match rand(5) {
                    0 => m.truncate(at),
                    1 if at < m.len() => m[at] = noise[rand(noise.len())],
                    2 if at < m.len() => m[at] ^= 1 << rand(8),
                    3 => drop(m.drain(at..(at + rand(8)).min(m.len()))),
                    _ => {
                        let from = rand(src.len());
                        m.splice(at..at, src[from..(from + rand(40)).min(src.len())].to_vec());
                    }
                }
            }
            match parse(&String::from_utf8_lossy(&m)) {
                Ok(_) => oks += 1,
                Err(e) => {
                    assert!(e.line >= 1 && e.col >= 1 && !e.message.is_empty(), "{e}");
                    errs += 1;
                }
            }
        }
        assert!(oks > 50 && errs > 50, "{oks} ok, {errs} err");
    }
}
