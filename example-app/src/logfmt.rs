//! logfmt log lines, written by hand: `ts=… level=… msg=… key=value …`, one
//! line per event on stdout (or into memory, for tests).
//!
//! A value is written bare unless it is empty or holds a space, `=`, `"`, a
//! backslash or a control character; then it is double-quoted with `\"`,
//! `\\`, `\n`, `\r`, `\t` escaped (what go-logfmt and Loki's `logfmt` parser read).

use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Where lines go.
#[derive(Clone, Default)]
pub enum Logger {
    /// Standard output, one `write` per line.
    #[default]
    Stdout,
    /// Kept in memory (tests read them back).
    Memory(Arc<Mutex<Vec<String>>>),
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Logger::Stdout => "Logger::Stdout",
            Logger::Memory(_) => "Logger::Memory",
        })
    }
}

impl Logger {
    /// A logger that keeps its lines, and the lines.
    pub fn memory() -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (Logger::Memory(lines.clone()), lines)
    }

    /// Writes one line: `ts`, `level`, `msg`, then `fields` in order.
    pub fn log(&self, level: Level, msg: &str, fields: &[(&str, &dyn Display)]) {
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let line = format_line(&ts, level, msg, fields);
        match self {
            Logger::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(format!("{line}\n").as_bytes());
                let _ = out.flush();
            }
            Logger::Memory(lines) => lines.lock().expect("log lines lock").push(line),
        }
    }
}

/// One logfmt line (no trailing newline).
pub fn format_line(ts: &str, level: Level, msg: &str, fields: &[(&str, &dyn Display)]) -> String {
    let mut line = String::new();
    push_pair(&mut line, "ts", ts);
    push_pair(&mut line, "level", level.as_str());
    push_pair(&mut line, "msg", msg);
    for (key, value) in fields {
        push_pair(&mut line, key, &value.to_string());
    }
    line
}

fn push_pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    line.push_str(key);
    line.push('=');
    let needs_quotes = value.is_empty() || value.chars().any(|c| c == ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if !needs_quotes {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(line, "\\u{{{:04x}}}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

/// Reads a logfmt line back into its pairs, in order (`None` if malformed).
pub fn parse(line: &str) -> Option<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ' ' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() || chars.next() != Some('=') {
            return None;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        'r' => value.push('\r'),
                        't' => value.push('\t'),
                        c => value.push(c),
                    },
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_bare_others_quoted_and_escaped() {
        let line = format_line("2026-01-01T00:00:00.000Z", Level::Warn, "order rejected", &[
            ("route", &"/api/orders/{id}"),
            ("code", &400),
            ("empty", &""),
            ("detail", &"bad \"qty\"\nline=2"),
        ]);
        assert_eq!(
            line,
            r#"ts=2026-01-01T00:00:00.000Z level=warn msg="order rejected" route=/api/orders/{id} code=400 empty="" detail="bad \"qty\"\nline=2""#
        );
    }

    #[test]
    fn lines_parse_back_to_their_pairs() {
        let fields: [(&str, &dyn Display); 3] = [("a", &"x y"), ("b", &"back\\slash"), ("c", &7)];
        let line = format_line("t", Level::Info, "m", &fields);
        let pairs = parse(&line).unwrap();
        let want = [("ts", "t"), ("level", "info"), ("msg", "m"), ("a", "x y"), ("b", "back\\slash"), ("c", "7")];
        assert_eq!(pairs, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert_eq!(parse("novalue"), None);
        assert_eq!(parse("k=\"unterminated"), None);
    }
}
