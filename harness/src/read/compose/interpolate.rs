//! Docker Compose variable interpolation (`$VAR`, `${VAR:-default}`, …) and env-file parsing.
//!
//! The reference is compose-go v2: [`interpolate`] ports `template.Substitute` (its regex,
//! operator selection, brace matching and lazy evaluation of defaults), and [`parse_dotenv`]
//! ports the `dotenv` package (`parser.go` and `expandVariables` in `godotenv.go`).
//! Where this file departs from compose-go, the comment at that spot says so and why.

use std::fmt;

/// What one interpolation did: the result, and the variables it used that were unset with no
/// default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    pub unset: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR unset (or empty for `:?`): compose refuses the file.
    Required { var: String, message: String },
    /// A `$` compose cannot read (`${`, unclosed brace, `${1x}`, `${VAR!}`).
    Syntax { message: String },
}

impl fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            Self::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            Self::Syntax { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for InterpolationError {}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Interpolates one string value: `$$` → `$`, `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`,
/// `${VAR:?e}`, `${VAR?e}`, `${VAR:+r}`, `${VAR+r}`; defaults/replacements are themselves
/// interpolated (nested `${A:-${B:-x}}`), and only when used. An unset variable with no default
/// becomes "" and its name is listed in `unset` (once).
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    let mut unset = Vec::new();
    let value = substitute(input, lookup, &mut unset)?;
    Ok(Interpolated { value, unset })
}

/// One match of compose-go's pattern
/// `\$(?i:(?P<escaped>\$)|(?P<named>NAME)|{(?:(?P<braced>NAME(?::?[-+?](.*))?)}|(?P<invalid>)))`.
enum Token {
    Escaped,
    Named,
    /// `${NAME}` or `${NAME<op>...}`: where the name ends and which operator follows it.
    Braced(usize, Option<&'static str>),
    Invalid,
}

/// Byte length of the name character at `s[i..]`, 0 if none. Go's `(?i)[_a-z0-9]` also folds
/// `ſ` (U+017F) and the Kelvin sign (U+212A) into `s`/`k`, so they count as name characters too.
fn name_char(s: &str, i: usize, first: bool) -> usize {
    match s[i..].chars().next() {
        Some(c) if c == '_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit()) => 1,
        Some(c @ ('\u{17F}' | '\u{212A}')) => c.len_utf8(),
        _ => 0,
    }
}

fn name_end(s: &str, start: usize) -> Option<usize> {
    let mut end = start;
    while let n @ 1.. = name_char(s, end, end == start) {
        end += n;
    }
    (end > start).then_some(end)
}

/// The regex match starting at the `$` at `i`, as (end, token); `None` leaves the `$` literal.
fn match_at(s: &str, i: usize) -> Option<(usize, Token)> {
    match s.as_bytes().get(i + 1) {
        Some(b'$') => Some((i + 2, Token::Escaped)),
        Some(b'{') => {
            if let Some(ne) = name_end(s, i + 2) {
                let ops = [":?", ":-", ":+", "?", "-", "+"];
                if let Some(op) = ops.into_iter().find(|op| s[ne..].starts_with(op)) {
                    // `(.*)}` is greedy and `.` stops at a newline: run to the line's last `}`.
                    let from = ne + op.len();
                    let line_end = s[from..].find('\n').map_or(s.len(), |p| from + p);
                    if let Some(p) = s[from..line_end].rfind('}') {
                        return Some((from + p + 1, Token::Braced(ne, Some(op))));
                    }
                } else if s.as_bytes().get(ne) == Some(&b'}') {
                    return Some((ne + 1, Token::Braced(ne, None)));
                }
            }
            Some((i + 2, Token::Invalid))
        }
        _ => name_end(s, i + 1).map(|end| (end, Token::Named)),
    }
}

/// compose-go's `getFirstBraceClosingIndex`, including its skip of the byte after each `{`.
fn closing_brace(s: &str) -> Option<usize> {
    let (b, mut open, mut i) = (s.as_bytes(), 0i64, 0);
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

type Outcome = Result<String, InterpolationError>;

fn substitute(template: &str, lookup: Lookup<'_>, unset: &mut Vec<String>) -> Outcome {
    let (mut out, mut pos) = (String::new(), 0);
    while let Some(off) = template[pos..].find('$') {
        let i = pos + off;
        out.push_str(&template[pos..i]);
        let Some((end, token)) = match_at(template, i) else {
            out.push('$');
            pos = i + 1;
            continue;
        };
        pos = end;
        let m = &template[i..end];
        match token {
            Token::Escaped => out.push('$'),
            // compose-go reports the innermost template being substituted (a default, a rest).
            Token::Invalid => {
                let hint = "you may need to escape any $ with another $";
                let message = format!("invalid interpolation format for {template:?}: {hint}");
                return Err(InterpolationError::Syntax { message });
            }
            Token::Named => out.push_str(&plain(&m[1..], lookup, unset)),
            Token::Braced(ne, None) => out.push_str(&plain(&template[i + 2..ne], lookup, unset)),
            Token::Braced(ne, Some(op)) => {
                // The match may run past this variable's `}` (`${A:-x} ${B}`): split off the rest.
                let (sub, rest) = match closing_brace(m) {
                    Some(c) => (&m[..=c], &m[c + 1..]),
                    None => (m, ""),
                };
                let arg = &sub[ne - i + op.len()..sub.len() - 1];
                out.push_str(&apply(&template[i + 2..ne], op, arg, lookup, unset)?);
                out.push_str(&substitute(rest, lookup, unset)?);
            }
        }
    }
    out.push_str(&template[pos..]);
    Ok(out)
}

fn plain(name: &str, lookup: Lookup<'_>, unset: &mut Vec<String>) -> String {
    lookup(name).unwrap_or_else(|| {
        if !unset.iter().any(|u| u == name) {
            unset.push(name.to_string());
        }
        String::new()
    })
}

/// One operator; like compose-go, the argument is only interpolated when it is used.
fn apply(name: &str, op: &str, arg: &str, lookup: Lookup<'_>, unset: &mut Vec<String>) -> Outcome {
    let value = lookup(name);
    let colon = op.starts_with(':');
    match (op.ends_with('?'), op.ends_with('-'), value) {
        (true, _, Some(v)) if !colon || !v.is_empty() => Ok(v),
        (true, _, _) => {
            let message = substitute(arg, lookup, unset)?;
            let var = name.to_string();
            Err(InterpolationError::Required { var, message })
        }
        (_, true, Some(v)) if !colon || !v.is_empty() => Ok(v),
        (_, true, _) => substitute(arg, lookup, unset),
        (_, _, Some(v)) if !colon || !v.is_empty() => substitute(arg, lookup, unset),
        (_, _, v) => Ok(v.unwrap_or_default()),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// 1-based line.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DotenvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DotenvError {}

/// One `KEY=value` of an env file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvEntry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// compose-go's `isSpace`: whitespace other than a line break.
fn is_space(c: char) -> bool {
    "\t\u{b}\u{c}\r \u{85}\u{a0}".contains(c)
}

/// Parses an env file (`.env`, `--env-file`, a service's `env_file:`) as compose-go's dotenv does:
/// comments, blank lines, optional `export `, `KEY=value` (or `KEY: value`), single quotes (literal
/// but for `\'`), double quotes (escapes, multi-line), unquoted values with ` #` inline comments
/// trimmed, and `${VAR}` interpolation in unquoted and double-quoted values. Like compose-go,
/// interpolation asks `lookup` first and then the keys defined earlier in the same file.
/// A line `KEY` with no `=` takes its value from `lookup`, and is skipped when `lookup` has none.
/// A key defined twice keeps its last value (compose-go fills a map); entries are in line order.
pub fn parse_dotenv(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<DotenvEntry>, DotenvError> {
    let mut src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut cur, mut out) = (1usize, Vec::<DotenvEntry>::new());
    loop {
        // getStatementStart: skip whitespace and comment lines, counting line breaks.
        loop {
            let Some(p) = src.find(|c: char| !c.is_whitespace()) else {
                return Ok(out);
            };
            cur += src[..p].matches('\n').count();
            src = &src[p..];
            if !src.starts_with('#') {
                break;
            }
            let Some(p) = src.find('\n') else {
                return Ok(out);
            };
            src = &src[p..];
        }
        let line = cur;
        let fail = |message: String| DotenvError { line, message };
        // locateKeyName
        if src.starts_with("export") && src[6..].starts_with(['\t', '\n', '\u{c}', '\r', ' ']) {
            src = src[6..].trim_start_matches(is_space);
        }
        if src.is_empty() {
            return Err(fail("zero length string".into()));
        }
        let mut term = None;
        for (i, c) in src.char_indices() {
            match c {
                '=' | ':' | '\n' => {
                    term = Some((i, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if is_space(c) || c.is_alphabetic() || c.is_numeric() => {}
                c => {
                    let first = src.split('\n').next().unwrap_or_default();
                    let c = c.to_string();
                    let msg = format!("unexpected character {c:?} in variable name {first:?}");
                    return Err(fail(msg));
                }
            }
        }
        // Deviation: at end of file without `=` compose-go stores the text under the empty key;
        // here the last line `KEY` behaves like any other `KEY` line.
        let (key, rest, inherited) = match term {
            Some((i, c)) => (&src[..i], &src[i + 1..], c == '\n'),
            None => (src, "", true),
        };
        if inherited && !key.contains(' ') {
            cur += 1;
        }
        let key = key.trim_end();
        let rest = rest.trim_start_matches(is_space);
        if key.contains(' ') {
            return Err(fail("key cannot contain a space".into()));
        }
        let value = if inherited {
            src = rest;
            match lookup(key) {
                Some(v) => v,
                None => continue,
            }
        } else {
            let (value, rest) = extract_value(rest, &mut cur, &out, lookup).map_err(fail)?;
            src = rest;
            value
        };
        out.retain(|e| e.key != key);
        let key = key.to_string();
        out.push(DotenvEntry { key, value, line });
    }
}

/// compose-go's `extractVarValue`: the value at the start of `src` and what follows it.
fn extract_value<'s>(
    src: &'s str,
    line: &mut usize,
    earlier: &[DotenvEntry],
    lookup: Lookup<'_>,
) -> Result<(String, &'s str), String> {
    let in_file = |k: &str| earlier.iter().find(|e| e.key == k).map(|e| e.value.clone());
    let both = |k: &str| lookup(k).or_else(|| in_file(k));
    let expand = |v: &str| Ok::<_, String>(interpolate(v, &both).map_err(|e| e.to_string())?.value);
    let quote = match src.as_bytes().first() {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => {
            let (value, rest) = src.split_once('\n').unwrap_or((src, ""));
            *line += 1;
            let value = value.split_once(" #").map_or(value, |(v, _)| v).trim_end();
            return Ok((expand(value)?, rest));
        }
    };
    let (mut chars, mut escaped, mut breaks) = (Vec::new(), false, 0);
    for (i, &c) in src.as_bytes().iter().enumerate().skip(1) {
        breaks += usize::from(c == b'\n');
        // A backslash is kept, except before the quote character.
        match (c == quote, std::mem::take(&mut escaped)) {
            (false, false) if c == b'\\' => escaped = true,
            (false, true) => chars.extend([b'\\', c]),
            (false, false) | (true, true) => chars.push(c),
            (true, false) => {
                *line += breaks;
                let value = String::from_utf8_lossy(&chars).into_owned();
                let value = if quote == b'"' {
                    expand(&expand_escapes(&value))?
                } else {
                    value
                };
                return Ok((value, &src[i + 1..]));
            }
        }
    }
    // Deviation: compose-go counts every line break to the end of the file before reporting this;
    // the error carries the line where the quote opened instead.
    let first = src.split('\n').next().unwrap_or_default();
    Err(format!("unterminated quoted value {first}"))
}

/// compose-go's `expandEscapes`: `\a \b \f \n \r \t \v \" \\`, `\0ooo` octal, `\$` → `$$`;
/// any other backslash (or a bad octal) stays as written.
fn expand_escapes(s: &str) -> String {
    let (mut out, mut rest) = (String::new(), s);
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let digits = rest.bytes().skip(2).take(3);
        let len = match rest.as_bytes().get(1) {
            Some(b'a' | b'b' | b'c' | b'f' | b'n' | b'r' | b't' | b'v' | b'$' | b'"' | b'\\') => 2,
            Some(b'0') => 2 + digits.take_while(u8::is_ascii_digit).count(),
            _ => 1,
        };
        let (m, tail) = rest.split_at(len);
        rest = tail;
        let c = if len == 2 {
            let i = "abfnrtv\"\\".find(&m[1..]);
            i.map(|i| char::from(b"\x07\x08\x0c\n\r\t\x0b\"\\"[i]))
        } else {
            let digits = m.get(2..).filter(|d| d.len() == 3);
            let octal = digits.and_then(|d| u32::from_str_radix(d, 8).ok());
            octal.filter(|v| *v <= 255).and_then(char::from_u32)
        };
        match c {
            _ if m == "\\$" => out.push_str("$$"),
            Some(c) => out.push(c),
            None => out.push_str(m),
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type Vars = &'static [(&'static str, &'static str)];
    const VARS: Vars = &[("FOO", "first"), ("BAR", ""), ("foo", "f")];

    fn env(vars: Vars) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|p| p.0 == k).map(|p| p.1.to_string())
    }
    fn run(s: &str) -> Result<Interpolated, InterpolationError> {
        interpolate(s, &env(VARS))
    }

    #[test]
    fn interpolation_forms() {
        #[rustfmt::skip]
        let cases = [
            ("$${foo} a $$FOO", "${foo} a $FOO"),
            ("a $ b ^RE$ $} $1x 5$ $", "a $ b ^RE$ $} $1x 5$ $"),
            ("$FOO-bar $FOO.x ${FOO}${FOO} $foo", "first-bar first.x firstfirst f"),
            ("${BAR:-d}|${BAR-d}|${NOPE:-d}|${NOPE-d}|${FOO:-d}", "d||d|d|first"),
            ("${BAR:+r}|${BAR+r}|${NOPE:+r}|${NOPE+r}|${FOO:+r}", "|r|||r"),
            ("${NOPE-my?msg}|${FOO?bar-baz}|${BAR?e}|${FOO:?e}", "my?msg|first||first"),
            ("${BAR:-/non:-alphanumeric}", "/non:-alphanumeric"),
            (r#"${missing:-{"json":1}} ${FOO-{"json":1}}"#, r#"{"json":1} first"#),
            ("${X:-a} and ${Y:-b}!", "a and b!"),
            ("${A:-${B:-x}}", "x"),
            ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
            ("ok ${UNSET-${FOO} ${FOO}}", "ok first first"),
            ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
            ("${FOO:+${FOO},}B", "first,B"),
            ("${FOO:-${}}", "first"), // an unused default is never parsed
        ];
        for (input, want) in cases {
            assert_eq!(run(input).map(|r| r.value), Ok(want.to_string()), "{input}");
        }
    }

    #[test]
    fn required_unset_and_invalid() {
        let e = run("not ok ${UNSET:?Mandatory ${FOO}}").unwrap_err();
        let (var, message) = ("UNSET".to_string(), "Mandatory first".to_string());
        assert_eq!(e, InterpolationError::Required { var, message });
        let text = "required variable UNSET is missing a value: Mandatory first";
        assert_eq!(e.to_string(), text);
        let e = run("${UNSET?}").unwrap_err().to_string();
        assert_eq!(e, "required variable UNSET is missing a value");
        let e = run("${BAR:?empty}").unwrap_err().to_string();
        assert_eq!(e, "required variable BAR is missing a value: empty");

        let r = run("$A ${A} ${B:-x} ${C-y} ${D:+z} $E ${F:-$G} ${FOO:-$LAZY}").unwrap();
        assert_eq!(r.value, "  x y    first");
        assert_eq!(r.unset, ["A", "E", "G"]);

        let bad = "${|${}|${ }|${ foo}|${foo }|${foo!}|${foo:x}|${1x}|${FOO:-x|${A:-x\n}";
        for s in bad.split('|') {
            let e = run(s).unwrap_err();
            assert!(matches!(e, InterpolationError::Syntax { .. }), "{s}");
            let text = format!("invalid interpolation format for {s:?}: you may need");
            assert!(e.to_string().starts_with(&text), "{e}");
        }
        // The reported template is the innermost one, as in compose-go.
        let e = run("a ${U:-${}}").unwrap_err().to_string();
        assert!(e.starts_with(r#"invalid interpolation format for "${}":"#));
    }

    #[test]
    fn dotenv_files() {
        #[rustfmt::skip]
        let cases = [
            ("\u{feff}# comment\n\nA=1\n  export B = two words \n", "A=1@3|B=two words@4"),
            ("export\tC=3\nOPT: Foo=bar\nexportX=4\r\n", "C=3@1|OPT=Foo=bar@2|exportX=4@3"),
            ("\tD.e-f[1]=\n=v\n", "D.e-f[1]=@1|=v@2"),
            (r"S='lit $EXT \n # x'", r"S=lit $EXT \n # x@1"),
            (r#"Q="a\tb\n\$EXT \"q\" \0123""#, "Q=a\tb\n$EXT \"q\" S@1"),
            (r#"Q="\0128 \0 \c \x \\""#, r"Q=\0128 \0 \c \x \@1"),
            ("E=\"escaped\\\"bar\"\nT='it\\'s'", "E=escaped\"bar@1|T=it's@2"),
            ("H=\"bar#baz\" # comment\nU=a\\tb", "H=bar#baz@1|U=a\\tb@2"),
            ("M=\"line1\nline2\n\"\nA=bar # c\n", "M=line1\nline2\n@1|A=bar@4"),
            ("B=123#not-a-comment\nC=bar\r\nD=  \"x\"", "B=123#not-a-comment@1|C=bar@2|D=x@3"),
            ("A=1\nB=${A}-$EXT\nC=\"${A:-z}/${NONE:-d}\"", "A=1@1|B=1-ext@2|C=1/d@3"),
            // Single quotes are literal; the lookup wins over earlier keys; the last `A` wins.
            ("A=1\nD='${A}'\nFROM_ENV=file\nE=$FROM_ENV", "A=1@1|D=${A}@2|FROM_ENV=file@3|E=env@4"),
            ("A=1\nEXT\nMISSING\nA=2\nF=$A", "EXT=ext@2|A=2@4|F=2@5"),
            ("X=1\nEXT", "X=1@1|EXT=ext@2"),
        ];
        for (text, want) in cases {
            let entries = parse_dotenv(text, &env(&[("EXT", "ext"), ("FROM_ENV", "env")]));
            let show = |e: DotenvEntry| format!("{}={}@{}", e.key, e.value, e.line);
            let shown: Vec<_> = entries.unwrap().into_iter().map(show).collect();
            assert_eq!(shown.join("|"), want, "{text:?}");
        }
    }

    #[test]
    fn dotenv_errors_carry_line_numbers() {
        #[rustfmt::skip]
        let cases = [
            ("A=1\n# c\nlol$wut=3\n", 3, r#"unexpected character "$" in variable name "lol$wut"#),
            ("A=1\n\nB=\"unterminated\nC=3\nD=4", 3, "unterminated quoted value \"unterminated"),
            ("A=\"x\"\nA B=1", 2, "key cannot contain a space"),
            ("A=1\nB=\"${X:?need X}\"", 2, "required variable X is missing a value: need X"),
            ("M=\"a\nb\"\nC=${", 3, "invalid interpolation format for \"${\": you may need"),
            ("K='v\\'", 1, "unterminated quoted value 'v\\'"),
            ("K=\"v\\\"", 1, "unterminated quoted value \"v\\\""),
        ];
        for (text, line, want) in cases {
            let e = parse_dotenv(text, &env(&[])).unwrap_err();
            assert!(e.message.starts_with(want), "{text:?}: {e}");
            assert_eq!(e.line, line, "{text:?}");
            assert_eq!(e.to_string(), format!("line {line}: {}", e.message));
        }
    }
}
