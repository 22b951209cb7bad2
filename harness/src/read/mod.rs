//! The reading layer: compose files and every service config they mount, read
//! as compose and each program read them, into [`Stack`] (the files) and, from
//! there, [`crate::model::StackModel`] (services, listeners, links).
//!
//! Imports run one way: this layer imports nothing from the gate ([`crate::lint`]),
//! the lifecycle, the checks or the reports (`tests/layers.rs` keeps it so). What it
//! notices while reading (a bind-mount source that is absent, a config flag no mount
//! covers) it records as [`Note`]s; the gate decides what they are worth.

pub mod alloy_syntax;
pub mod compose;
pub mod configs;
pub mod image;
pub mod locate;
mod stack;

pub use stack::*;

use serde::de::DeserializeOwned;

/// How much a [`Note`] is worth to the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Info,
}

/// Something noticed while reading (a mount source that is absent, a variable that is
/// not set, a config the image carries), where it is written, under a rule id.
#[derive(Debug, Clone)]
pub struct Note {
    pub level: Level,
    pub file: String,
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Note {
    pub fn new(level: Level, file: &str, line: usize, rule: &'static str, message: String, hint: Option<String>) -> Self {
        Self { level, file: file.to_owned(), line, rule, message, hint }
    }

    pub(crate) fn error(file: &str, line: usize, rule: &'static str, message: String, hint: Option<String>) -> Self {
        Self::new(Level::Error, file, line, rule, message, hint)
    }
}
use std::path::{Path, PathBuf};

/// Input that cannot be read: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: invalid YAML: {message}", path.display())]
    Yaml {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}:{line}:{col}: invalid JSON: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}:{line}:{col}: invalid compose file: {message}", path.display())]
    Compose {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}: no compose file (docker-compose.yml, docker-compose.yaml, compose.yml, compose.yaml)", dir.display())]
    NoCompose { dir: PathBuf },
    #[error("{}: invalid metric catalogue: {message}", path.display())]
    Catalogue { path: PathBuf, message: String },
}

impl ReadError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}


/// A variable reference in a config value: `${VAR}`, `$VAR`, Grafana's `$__env{…}`, `$__file{…}`, `$__vault{…}`.
pub(crate) static REF_RE: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r"\$(__(env|file|vault)\{[^}]*\}|\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)").unwrap());

/// True when `s` contains a variable reference (`$$` is an escaped `$`).
pub fn is_reference(s: &str) -> bool {
    REF_RE.is_match(&s.replace("$$", ""))
}

pub(crate) fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ReadError> {
    if let Some((line, col)) = flow_too_deep(text) {
        return Err(ReadError::Yaml {
            path: path.to_owned(),
            line,
            col,
            message: format!("flow collections (`[`, `{{`) nested more than {MAX_FLOW_DEPTH} levels deep"),
        });
    }
    serde_yaml::from_str(text).map_err(|e| {
        let (at, message) = yaml_error(&e);
        let (line, col) = at.unwrap_or((1, 1));
        ReadError::Yaml { path: path.to_owned(), line, col, message }
    })
}

/// Where serde_yaml located an error (line, column) and its message without the
/// ` at line L column C` it ends with, for errors that say `file:line:column:` first.
pub fn yaml_error(e: &serde_yaml::Error) -> (Option<(usize, usize)>, String) {
    let at = e.location().map(|l| (l.line(), l.column()));
    let message = e.to_string();
    let message = match at {
        Some((line, column)) => message.strip_suffix(&format!(" at line {line} column {column}")).map_or_else(|| message.clone(), str::to_owned),
        None => message,
    };
    (at, message)
}

/// Deepest `[`/`{` nesting [`parse_yaml`] hands to serde_yaml (whose own recursion
/// limit is 128): libyaml's scanner is quadratic in flow depth, so 50,000 `{a: ` took
/// 30 s to be refused (found by tests/hostile_inputs.rs).
pub(crate) const MAX_FLOW_DEPTH: usize = 128;

/// Line and column (1-based) where YAML flow collections nest deeper than
/// [`MAX_FLOW_DEPTH`], by a linear scan: quotes, comments and block scalars are
/// skipped, and a `[`/`{` in block context counts only where a value starts (so
/// `expr: up{job="x"}` is a plain scalar). Anything it misreads still goes to serde_yaml.
fn flow_too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut quote, mut block_scalar) = (0usize, None::<u8>, None::<usize>);
    for (ln, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        let indent = b.iter().take_while(|c| **c == b' ').count();
        if let Some(t) = block_scalar {
            if indent > t || line.trim().is_empty() {
                continue;
            }
            block_scalar = None;
        }
        let mut value_start = depth > 0 || quote.is_none();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let next = b.get(i + 1).copied();
            if let Some(q) = quote {
                // A backslash escape in "…", a doubled quote in '…': skip the next byte.
                if (q == b'"' && c == b'\\') || (c == q && q == b'\'' && next == Some(b'\'')) {
                    i += 1;
                } else if c == q {
                    quote = None;
                    value_start = false;
                }
                i += 1;
                continue;
            }
            let spaced = |n: Option<u8>| n.is_none_or(|n| n == b' ' || n == b'\t');
            if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
                break;
            }
            if c == b' ' || c == b'\t' {
                i += 1;
                continue;
            }
            match (depth, c) {
                (_, b'[' | b'{') if depth > 0 || value_start => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((ln + 1, line[..i].chars().count() + 1));
                    }
                    value_start = true;
                }
                (1.., b']' | b'}') => {
                    depth -= 1;
                    value_start = false;
                }
                (1.., b',') => value_start = true,
                (_, b'"' | b'\'') if value_start => quote = Some(c),
                (_, b':') if depth > 0 || spaced(next) => value_start = true,
                (0, b'-' | b'?') if value_start && spaced(next) => {}
                (_, b'&' | b'!') if value_start => {
                    while i < b.len() && b[i] != b' ' {
                        i += 1;
                    }
                    continue;
                }
                (0, b'|' | b'>') if value_start => {
                    block_scalar = Some(indent);
                    break;
                }
                _ => value_start = false,
            }
            i += 1;
        }
    }
    None
}

pub(crate) fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ReadError> {
    serde_json::from_str(text).map_err(|e| ReadError::Json {
        path: path.to_owned(),
        line: e.line(),
        col: e.column(),
        message: e.to_string(),
    })
}

pub(crate) fn read(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|e| ReadError::Io {
        path: path.to_owned(),
        source: e,
    })
}

