//! Secrets read from the stack never reach a report: one [`Redactor`] replaces them
//! with [`MARK`] in every string before `report.json`, `junit.xml`, `report.html`,
//! the terminal summary, GitHub annotations, lint's text/JSON output and
//! `obs-harness profile` are written.
//!
//! ## What is a secret
//! Collected from the loaded stack ([`Redactor::of_stack`]):
//! - compose `environment` (every compose file, and the `env_file`s and `.env` of the
//!   stack dir) whose variable name contains `PASSWORD`, `PASSWD`, `SECRET`, `TOKEN`,
//!   `API_KEY`, `APIKEY`, `ACCESS_KEY` or `CREDENTIALS` (any case), except names
//!   ending `_FILE`, `_PATH`, `_DIR`, `_URL`, `_URI`, `_ENABLED` (those hold where the
//!   secret is, not the secret), e.g. `GF_SECURITY_ADMIN_PASSWORD`;
//! - Grafana datasources: every value under `secureJsonData`, except the value of a
//!   custom header (`httpHeaderValueN`) whose name (`jsonData.httpHeaderNameN`) is
//!   `X-Scope-OrgID`: that is the Loki tenant, an identifier the checks need and
//!   report, not a credential; plus `basicAuthPassword`/`password` at the datasource level;
//! - every mounted YAML config (Prometheus, Alertmanager, collector, Promtail, Loki,
//!   datasources): values of keys named like `password`, `passwd`, `secret`,
//!   `token`, `bearer_token`, `api_key`/`api-key`, `access_key`, `credentials`,
//!   `client_secret`, `authorization` (e.g. `basic_auth.password`,
//!   `authorization.credentials`, a `headers: {Authorization: Bearer …}` map), not
//!   `…_file` keys (paths);
//! - the password of any URL with credentials (`scheme://user:pass@host`) in those
//!   configs or the environment, and the token of any `Bearer <token>`/`Basic <token>` value.
//!
//! A value that is a reference (`${VAR}`, `$__file{…}`, `$__env{…}`, `/run/secrets/…`),
//! a boolean, shorter than [`MIN_SECRET_LEN`] characters, or a well-known default
//! (`admin`, `password`, `changeme`) is not redacted by value: it is no secret, and
//! replacing such short or common words everywhere would garble every message.
//!
//! ## What is redacted
//! In every string, whatever the stack: each collected value (longest first); the
//! password of `scheme://user:pass@` (the user stays, so a message still says who);
//! the token of `Bearer <token>` and `Authorization: Basic <token>`; and the value of
//! `NAME=value` and `"name": "value"` where the name is secret-like as above. The
//! marker is [`MARK`].

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde_yaml::Value as Yaml;

use crate::read::Stack;

/// What a secret is replaced with.
pub const MARK: &str = "***";

/// Shortest value redacted by value (shorter ones only in the patterns' forms).
pub const MIN_SECRET_LEN: usize = 6;

/// Public defaults, not redacted by value.
const DEFAULTS: &[&str] = &["admin", "password", "changeme", "prom-operator"];

static ENV_SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|CREDENTIALS)").unwrap());
static ENV_NOT_SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(_FILE|_PATH|_DIR|_URL|_URI|_ENABLED)$").unwrap());
static KEY_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(password|passwd|secret|token|api[_-]?key|access[_-]?key|credentials|authorization)").unwrap()
});
static KEY_NOT_SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)([_-](file|path|dir|url|uri|type|enabled)|_?files?)$").unwrap());
static URL_CREDS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@"'<>`]*):([^/\s@"'<>`]+)@"#).unwrap());
static AUTH_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(Bearer\s+|Authorization:\s*Basic\s+)([A-Za-z0-9\-._~+/]{8,}=*)").unwrap()
});
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b([A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|CREDENTIALS)[A-Z0-9_]*)(=|"\s*:\s*")([^\s"'`,;&$][^\s"'`,;&]*)"#)
        .unwrap()
});

/// The secrets of one stack, and the patterns redacted in every string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Values to replace, longest first.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these values (filtered by the rules of the module doc).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut r = Self::default();
        r.extend(values);
        r
    }

    fn extend(&mut self, values: impl IntoIterator<Item = String>) {
        let mut set: BTreeSet<String> = self.secrets.drain(..).collect();
        set.extend(values.into_iter().map(|v| v.trim().to_owned()).filter(|v| worth_redacting(v)));
        self.secrets = set.into_iter().collect();
        self.secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    }

    /// The values redacted by value.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// The secrets of the stack in `stack_dir` (patterns only when it cannot be read).
    pub fn for_stack(stack_dir: &Path, compose_files: &[std::path::PathBuf]) -> Self {
        crate::read::load(stack_dir, &crate::read::compose::ComposeInput::files(compose_files.iter().cloned())).map(|st| Self::of_stack(&st)).unwrap_or_default()
    }

    /// The secrets of a loaded stack (see the module doc).
    pub(crate) fn of_stack(st: &Stack) -> Self {
        let mut out = Vec::new();
        for s in &st.compose.services {
            for (k, e) in &s.environment {
                if let Some(v) = &e.value {
                    env_secret(k, v, &mut out);
                }
            }
            for (f, _) in &s.env_files {
                env_file(&st.dir.join(f), &mut out);
            }
        }
        env_file(&st.dir.join(".env"), &mut out);
        let mut texts: Vec<&str> = Vec::new();
        texts.extend(st.prom.as_ref().map(|c| c.text.as_str()));
        texts.extend(st.alertmanager.as_ref().map(|c| c.text.as_str()));
        texts.extend(st.collector.as_ref().map(|c| c.text.as_str()));
        texts.extend(st.promtail.as_ref().map(|c| c.text.as_str()));
        texts.extend(st.loki.as_ref().map(|c| c.text.as_str()));
        texts.extend(st.datasources.iter().map(|d| d.text.as_str()));
        for t in texts {
            let doc: Yaml = serde_yaml::from_str(t).unwrap_or(Yaml::Null);
            config_secrets(&doc, &mut out);
        }
        for d in st.datasources.iter().flat_map(|d| d.doc.datasources.iter()) {
            let tenant_keys: BTreeSet<String> = d
                .json_data
                .iter()
                .filter(|(_, v)| v.as_str().is_some_and(|n| n.eq_ignore_ascii_case("X-Scope-OrgID")))
                .filter_map(|(k, _)| k.strip_prefix("httpHeaderName").map(|n| format!("httpHeaderValue{n}")))
                .collect();
            for (k, v) in &d.secure_json_data {
                if !tenant_keys.contains(k) {
                    scalars(v, &mut out);
                }
            }
        }
        Self::new(out)
    }

    /// `s` with every secret and every secret-shaped pattern replaced by [`MARK`].
    pub fn redact(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for v in &self.secrets {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), MARK);
            }
        }
        patterns(&out)
    }

    /// Redacts every string of a JSON value in place.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.redact_json(x)),
            serde_json::Value::Object(o) => {
                let old = std::mem::take(o);
                for (k, mut x) in old {
                    self.redact_json(&mut x);
                    o.insert(self.redact(&k), x);
                }
            }
            _ => {}
        }
    }
}

/// The stack-independent patterns alone: credentials in URLs, `Bearer` tokens,
/// secret-named assignments.
pub fn patterns(s: &str) -> String {
    let s = URL_CREDS.replace_all(s, |c: &regex::Captures| format!("{}{}:{MARK}@", &c[1], &c[2]));
    let s = AUTH_TOKEN.replace_all(&s, |c: &regex::Captures| format!("{}{MARK}", &c[1]));
    // A `NAME_FILE=/run/secrets/x` names where a secret lives, not the secret: kept.
    let s = ASSIGNMENT.replace_all(&s, |c: &regex::Captures| {
        if c[1].to_ascii_uppercase().ends_with("_FILE") || c[3].starts_with("/run/secrets/") {
            c[0].to_owned()
        } else {
            format!("{}{}{MARK}", &c[1], &c[2])
        }
    });
    s.into_owned()
}

fn worth_redacting(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    v.chars().count() >= MIN_SECRET_LEN
        && v != MARK
        && !crate::read::is_reference(v)
        && !v.starts_with("/run/secrets/")
        && !matches!(lower.as_str(), "true" | "false" | "yes" | "no" | "on" | "off")
        && !DEFAULTS.contains(&lower.as_str())
}

/// What a value holds besides itself: a URL's password, an auth header's token.
fn parts(v: &str, out: &mut Vec<String>) {
    for c in URL_CREDS.captures_iter(v) {
        out.push(c[3].to_owned());
    }
    for c in AUTH_TOKEN.captures_iter(v) {
        out.push(c[2].to_owned());
    }
}

fn env_secret(k: &str, v: &str, out: &mut Vec<String>) {
    parts(v, out);
    if ENV_SECRET.is_match(k) && !ENV_NOT_SECRET.is_match(k) {
        out.push(v.to_owned());
    }
}

/// `KEY=VALUE` lines of an env file (absent file: nothing).
fn env_file(path: &Path, out: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(path) else { return };
    for line in text.lines() {
        let line = line.trim().trim_start_matches("export ");
        if let Some((k, v)) = line.split_once('=')
            && !k.trim_start().starts_with('#')
        {
            env_secret(k.trim(), v.trim().trim_matches(|c| c == '"' || c == '\''), out);
        }
    }
}

/// Values under secret-named keys anywhere in a config, and credentials inside any string.
fn config_secrets(v: &Yaml, out: &mut Vec<String>) {
    match v {
        Yaml::Mapping(m) => {
            for (k, x) in m {
                let secret = k.as_str().is_some_and(|k| KEY_SECRET.is_match(k) && !KEY_NOT_SECRET.is_match(k));
                if secret {
                    scalars(x, out);
                }
                config_secrets(x, out);
            }
        }
        Yaml::Sequence(s) => s.iter().for_each(|x| config_secrets(x, out)),
        Yaml::Tagged(t) => config_secrets(&t.value, out),
        Yaml::String(s) => parts(s, out),
        _ => {}
    }
}

/// Every scalar string under `v` (and what it holds).
fn scalars(v: &Yaml, out: &mut Vec<String>) {
    match v {
        Yaml::String(s) => {
            parts(s, out);
            out.push(s.clone());
        }
        Yaml::Number(n) => out.push(n.to_string()),
        // `authorization: {type: Bearer, credentials: …}`: the type and user are no secret.
        Yaml::Mapping(m) => m
            .iter()
            .filter(|(k, _)| !k.as_str().is_some_and(|k| matches!(k, "type" | "username" | "user") || KEY_NOT_SECRET.is_match(k)))
            .for_each(|(_, x)| scalars(x, out)),
        Yaml::Sequence(s) => s.iter().for_each(|x| scalars(x, out)),
        Yaml::Tagged(t) => scalars(&t.value, out),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_redact_credentials_tokens_and_assignments() {
        assert_eq!(patterns("GET http://bob:hunter2@loki:3100/ready failed"), "GET http://bob:***@loki:3100/ready failed");
        assert_eq!(patterns("header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y sent"), "header Authorization: Bearer *** sent");
        assert_eq!(patterns("Authorization: Basic dXNlcjpwYXNz"), "Authorization: Basic ***");
        assert_eq!(patterns("env GF_SECURITY_ADMIN_PASSWORD=s3cret and DB_TOKEN=abc"), "env GF_SECURITY_ADMIN_PASSWORD=*** and DB_TOKEN=***");
        assert_eq!(patterns(r#"{"api_key": "sk-123"}"#), r#"{"api_key": "***"}"#);
        // Not secrets: references, prose, a URL without a password.
        for s in [
            "GF_SECURITY_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD}",
            "set GF_SECURITY_ADMIN_PASSWORD: take it from a Docker secret",
            "Bearer tokens are read from a file",
            "http://loki:3100/loki/api/v1/push and https://user@host/x",
            "GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password",
        ] {
            assert_eq!(patterns(s), s);
        }
    }

    #[test]
    fn values_longest_first_short_and_defaults_skipped() {
        let r = Redactor::new(["abcdef".to_owned(), "abcdefgh".to_owned(), "admin".to_owned(), "xyz".to_owned(), "${X}".to_owned(), "true".to_owned()]);
        assert_eq!(r.secrets(), ["abcdefgh", "abcdef"]);
        assert_eq!(r.redact("abcdefgh abcdef admin xyz"), "*** *** admin xyz");
    }
}
