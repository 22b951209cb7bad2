//! Production-readiness rules (`obs-harness lint --profile prod`).
//!
//! Each finding names the file and line the offending value comes from (for merged
//! compose files: the file that set it last) and a hint naming the setting to change.
//!
//! | rule id | severity | what |
//! |---|---|---|
//! | `grafana-anonymous-enabled` | error | `GF_AUTH_ANONYMOUS_ENABLED` / grafana.ini `[auth.anonymous] enabled` is true |
//! | `grafana-anonymous-role` | error | with anonymous access on, `org_role` is `Admin` or `Editor` |
//! | `grafana-login-form-disabled` | error | `GF_AUTH_DISABLE_LOGIN_FORM` / `[auth] disable_login_form` is true |
//! | `grafana-admin-password-default` | error | no admin password set (Grafana's default is `admin`), or it is `admin` |
//! | `grafana-admin-password-plaintext` | error | `GF_SECURITY_ADMIN_PASSWORD` literal in a compose file, or `admin_password` literal in grafana.ini |
//! | `grafana-allow-embedding` | error | `[security] allow_embedding` set to true |
//! | `grafana-cookie-insecure` | error | `[security] cookie_secure` set to false |
//! | `docker-socket-rw` | error | a service mounts the Docker socket read-write |
//! | `docker-socket-ro` | warning | a service mounts the Docker socket read-only (the API stays fully usable) |
//! | `service-privileged` | error | a service runs with `privileged: true` |
//! | `loki-auth-disabled` | error | Loki `auth_enabled: false` |
//! | `loki-no-retention` | error | `compactor.retention_enabled` not true, or `limits_config.retention_period` unset/0 |
//! | `loki-no-ingestion-limits` | error | `limits_config.ingestion_rate_mb` / `ingestion_burst_size_mb` unset |
//! | `prometheus-tsdb-not-persistent` | error | no volume mounted at `--storage.tsdb.path` (default `/prometheus`) |
//! | `prometheus-no-retention` | error | no `--storage.tsdb.retention.time` / `.size` flag |
//! | `alertmanager-no-notifying-receiver` | error | every receiver is empty or only posts webhooks to the stack itself (a compose service, localhost, `harness-webhook`) |
//! | `collector-debug-detailed` | warning | a `debug` exporter with `verbosity: detailed` in a traces pipeline |
//! | `collector-otlp-exposed-without-tls` | error | an OTLP receiver protocol without `tls` whose port is published on a non-loopback host address |
//! | `secret-literal-in-compose` | error | an `environment` value of a key matching PASSWORD, SECRET, TOKEN, API_KEY, APIKEY, ACCESS_KEY, CREDENTIALS is a literal (not `${VAR}`) |
//! | `secret-literal-in-config` | error | `password:`, `bearer_token:`, `api_key:`, `credentials:`, `client_secret:` … literal in a mounted YAML config, or a `Bearer`/`Basic` header value in a Grafana datasource |
//!
//! Variable references (`${VAR}`, `${VAR:-default}`, `${VAR:?message}`, `$VAR`,
//! `${env:VAR}`, `$__env{VAR}`, `$__file{path}`) are not literals. When a setting's value
//! is a reference, it is resolved from the process environment (or its `:-`/`-`
//! default); an unresolvable reference is treated as unknown, never as an error
//! (`docker compose` would fail on an unset `${VAR:?}`, the gate does not).
//!
//! Grafana settings are read from the service's `environment` (`GF_<SECTION>_<KEY>`),
//! its `env_file`s (environment wins over env files) and the `grafana.ini` mounted at
//! `/etc/grafana/grafana.ini` (or `GF_PATHS_CONFIG`); environment variables override
//! the ini file, as in Grafana.

use super::compose::{self, Origin, ServiceInfo, host_port, scalar};
use super::{Finding, Report, Severity, Stack, finding, locate};
use regex::Regex;
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Runs every prod rule on the loaded stack.
pub(super) fn check(st: &Stack, report: &mut Report) {
    grafana(st, report);
    containers(st, report);
    loki(st, report);
    prometheus(st, report);
    alertmanager(st, report);
    collector(st, report);
    compose_secrets(st, report);
    config_secrets(st, report);
}

fn warning(file: &str, line: usize, rule: &str, message: String, hint: Option<String>) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..finding(file, line, rule, message, hint)
    }
}

// ------------------------------------------------------------------ interpolation

use crate::read::{REF_RE, is_reference};

/// Resolves Compose-style references from the process environment; `None` when one
/// cannot be resolved (unset without default).
pub fn interpolate(s: &str) -> Option<String> {
    let s2 = s.replace("$$", "\u{0}");
    let mut out = String::new();
    let mut last = 0;
    for m in REF_RE.find_iter(&s2) {
        out.push_str(&s2[last..m.start()]);
        last = m.end();
        let body = &s2[m.start() + 1..m.end()];
        let body = body
            .strip_prefix('{')
            .and_then(|b| b.strip_suffix('}'))
            .unwrap_or(body);
        if body.starts_with("__") {
            return None;
        }
        let body = body.strip_prefix("env:").unwrap_or(body);
        let (name, op, arg) = match body.find([':', '-', '?', '+']) {
            Some(i) => {
                let rest = &body[i..];
                let op_len = if rest.starts_with(':') && rest.len() > 1 {
                    2
                } else {
                    1
                };
                (&body[..i], &rest[..op_len], &rest[op_len..])
            }
            None => (body, "", ""),
        };
        let val = std::env::var(name).ok();
        let v = match op {
            ":-" => val
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| arg.to_owned()),
            "-" => val.unwrap_or_else(|| arg.to_owned()),
            ":+" => {
                if val.is_some_and(|v| !v.is_empty()) {
                    arg.to_owned()
                } else {
                    String::new()
                }
            }
            "+" => {
                if val.is_some() {
                    arg.to_owned()
                } else {
                    String::new()
                }
            }
            _ => val?,
        };
        out.push_str(&v);
    }
    out.push_str(&s2[last..]);
    Some(out.replace('\u{0}', "$"))
}

fn truthy(v: &str) -> bool {
    matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True")
}

fn falsy(v: &str) -> bool {
    matches!(v.trim(), "0" | "f" | "F" | "false" | "FALSE" | "False")
}

// ------------------------------------------------------------------ Grafana

/// Where a Grafana setting is set.
struct Setting {
    /// As written.
    raw: String,
    /// Resolved (`None`: a reference that cannot be resolved).
    value: Option<String>,
    file: String,
    line: usize,
    /// `Some(env var name)` when set through the environment, `None` for grafana.ini.
    env: Option<String>,
    /// Set in a compose file's `environment` (not an env file or ini).
    in_compose: bool,
}

struct GrafanaConf {
    /// env var -> (raw value, origin, from compose `environment`).
    env: BTreeMap<String, (Option<String>, Origin, bool)>,
    /// (section, key) -> (value, line).
    ini: BTreeMap<(String, String), (String, usize)>,
    ini_rel: Option<String>,
}

fn env_name(section: &str, key: &str) -> String {
    format!("GF_{}_{}", section, key)
        .to_uppercase()
        .replace(['.', '-'], "_")
}

impl GrafanaConf {
    fn load(st: &Stack, g: &ServiceInfo) -> Self {
        let mut env = BTreeMap::new();
        for (f, _) in &g.env_files {
            let host = compose::normalise(&st.dir.join(f));
            let Ok(text) = std::fs::read_to_string(&host) else {
                continue;
            };
            let rel = st.rel(&host);
            for (i, l) in text.lines().enumerate() {
                let l = l.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let l = l.strip_prefix("export ").unwrap_or(l);
                if let Some((k, v)) = l.split_once('=') {
                    let v = v.trim().trim_matches(['"', '\'']).to_owned();
                    env.insert(
                        k.trim().to_owned(),
                        (
                            Some(v),
                            Origin {
                                file: rel.clone(),
                                line: i + 1,
                            },
                            false,
                        ),
                    );
                }
            }
        }
        for (k, v) in &g.environment {
            env.insert(k.clone(), (v.value.clone(), v.origin.clone(), true));
        }
        let ini_path = env
            .get("GF_PATHS_CONFIG")
            .and_then(|(v, _, _)| v.clone())
            .unwrap_or_else(|| "/etc/grafana/grafana.ini".into());
        let mut ini = BTreeMap::new();
        let mut ini_rel = None;
        if let Some(host) = g.host_path(&ini_path).filter(|h| h.is_file())
            && let Ok(text) = std::fs::read_to_string(&host)
        {
            ini_rel = Some(st.rel(&host));
            let mut section = String::new();
            for (i, l) in text.lines().enumerate() {
                let l = l.trim();
                if l.is_empty() || l.starts_with([';', '#']) {
                    continue;
                }
                if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    section = s.trim().to_owned();
                } else if let Some((k, v)) = l.split_once('=') {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|x| x.strip_suffix('"'))
                        .unwrap_or(v);
                    ini.insert(
                        (section.clone(), k.trim().to_owned()),
                        (v.to_owned(), i + 1),
                    );
                }
            }
        }
        Self { env, ini, ini_rel }
    }

    fn get(&self, section: &str, key: &str) -> Option<Setting> {
        let name = env_name(section, key);
        if let Some((v, o, in_compose)) = self.env.get(&name) {
            let raw = v.clone().unwrap_or_else(|| format!("${{{name}}}"));
            return Some(Setting {
                value: interpolate(&raw),
                raw,
                file: o.file.clone(),
                line: o.line,
                env: Some(name),
                in_compose: *in_compose,
            });
        }
        let (v, line) = self.ini.get(&(section.to_owned(), key.to_owned()))?;
        let value = if v.contains("$__") {
            None
        } else {
            Some(v.clone())
        };
        Some(Setting {
            raw: v.clone(),
            value,
            file: self.ini_rel.clone().unwrap_or_default(),
            line: *line,
            env: None,
            in_compose: false,
        })
    }

    /// "set `GF_X=v`" or "set `key = v` under `[section]` in grafana.ini".
    fn fix(&self, s: Option<&Setting>, section: &str, key: &str, v: &str) -> String {
        match s {
            Some(Setting {
                env: None, file, ..
            }) => {
                format!("set `{key} = {v}` under `[{section}]` in {file}")
            }
            _ => format!(
                "set `{}={v}` in the Grafana service's environment (grafana.ini: `[{section}] {key} = {v}`)",
                env_name(section, key)
            ),
        }
    }
}

fn grafana(st: &Stack, report: &mut Report) {
    let Some(g) = st
        .grafana_svc
        .as_deref()
        .and_then(|n| st.compose.service(n))
    else {
        return;
    };
    let conf = GrafanaConf::load(st, g);
    let is = |s: &Option<Setting>, f: fn(&str) -> bool| {
        s.as_ref().and_then(|s| s.value.as_deref()).is_some_and(f)
    };

    let anon = conf.get("auth.anonymous", "enabled");
    if is(&anon, truthy) {
        let s = anon.as_ref().unwrap();
        report.findings.push(finding(
            &s.file,
            s.line,
            "grafana-anonymous-enabled",
            format!(
                "Grafana service `{}` allows anonymous access (`{}`)",
                g.name,
                s.env.as_deref().unwrap_or("[auth.anonymous] enabled")
            ),
            Some(conf.fix(Some(s), "auth.anonymous", "enabled", "false")),
        ));
        let role = conf.get("auth.anonymous", "org_role");
        if let Some(r) = &role
            && let Some(v) = &r.value
            && (v.eq_ignore_ascii_case("admin") || v.eq_ignore_ascii_case("editor"))
        {
            report.findings.push(finding(
                &r.file,
                r.line,
                "grafana-anonymous-role",
                format!("anonymous Grafana users get the `{v}` role: anyone reaching Grafana can change dashboards and datasources"),
                Some(format!(
                    "{}, or disable anonymous access",
                    conf.fix(Some(r), "auth.anonymous", "org_role", "Viewer")
                )),
            ));
        }
    }

    let login = conf.get("auth", "disable_login_form");
    if is(&login, truthy) {
        let s = login.as_ref().unwrap();
        report.findings.push(finding(
            &s.file,
            s.line,
            "grafana-login-form-disabled",
            format!("Grafana service `{}` has the login form disabled", g.name),
            Some(conf.fix(Some(s), "auth", "disable_login_form", "false")),
        ));
    }

    let pw = conf.get("security", "admin_password");
    let pw_file = conf.env.contains_key("GF_SECURITY_ADMIN_PASSWORD__FILE")
        || conf.env.contains_key("GF_SECURITY_ADMIN_PASSWORD_FILE");
    let secret_hint = "take it from a Docker secret (`GF_SECURITY_ADMIN_PASSWORD__FILE=/run/secrets/grafana_admin_password`) or the environment (`GF_SECURITY_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD}`, value in an env file)";
    match &pw {
        None if !pw_file => report.findings.push(finding(
            &g.origin.file,
            g.origin.line,
            "grafana-admin-password-default",
            format!(
                "Grafana service `{}` sets no admin password: the default `admin` applies",
                g.name
            ),
            Some(format!("set GF_SECURITY_ADMIN_PASSWORD: {secret_hint}")),
        )),
        None => {}
        Some(s) if s.value.as_deref() == Some("admin") => report.findings.push(finding(
            &s.file,
            s.line,
            "grafana-admin-password-default",
            "the Grafana admin password is the default `admin`".into(),
            Some(format!("change GF_SECURITY_ADMIN_PASSWORD: {secret_hint}")),
        )),
        Some(s) if !is_reference(&s.raw) && !s.raw.is_empty() && (s.in_compose || s.env.is_none()) => {
            report.findings.push(finding(
                &s.file,
                s.line,
                "grafana-admin-password-plaintext",
                match &s.env {
                    Some(e) => format!("`{e}` is set in plain text in the compose file"),
                    None => "`[security] admin_password` is set in plain text in grafana.ini".into(),
                },
                Some(match &s.env {
                    Some(_) => secret_hint.to_owned(),
                    None => "use `admin_password = $__file{/run/secrets/grafana_admin_password}` (Docker secret) or `$__env{GRAFANA_ADMIN_PASSWORD}`".into(),
                }),
            ))
        }
        Some(_) => {}
    }

    let embed = conf.get("security", "allow_embedding");
    if is(&embed, truthy) {
        let s = embed.as_ref().unwrap();
        report.findings.push(finding(
            &s.file,
            s.line,
            "grafana-allow-embedding",
            "Grafana allows embedding in frames (clickjacking)".into(),
            Some(conf.fix(Some(s), "security", "allow_embedding", "false")),
        ));
    }
    let cookie = conf.get("security", "cookie_secure");
    if is(&cookie, falsy) {
        let s = cookie.as_ref().unwrap();
        report.findings.push(finding(
            &s.file,
            s.line,
            "grafana-cookie-insecure",
            "Grafana session cookies are sent without the Secure flag".into(),
            Some(format!(
                "{} and serve Grafana over HTTPS",
                conf.fix(Some(s), "security", "cookie_secure", "true")
            )),
        ));
    }
}

// ------------------------------------------------------------------ containers

fn containers(st: &Stack, report: &mut Report) {
    for s in &st.compose.services {
        for m in &s.mounts {
            let sock = ["/var/run/docker.sock", "/run/docker.sock"];
            if !sock.contains(&m.source.as_str()) {
                continue;
            }
            if m.read_only {
                report.findings.push(warning(
                    &m.origin.file,
                    m.origin.line,
                    "docker-socket-ro",
                    format!(
                        "service `{}` mounts the Docker socket `{}` read-only: `:ro` does not restrict the Docker API, which can still read every container's environment (secrets) and start containers",
                        s.name, m.source
                    ),
                    Some(format!(
                        "put a socket proxy (e.g. tecnativa/docker-socket-proxy with CONTAINERS=1 only) in front and point `{}` at it, or ship logs from files instead of the socket",
                        s.name
                    )),
                ));
            } else {
                report.findings.push(finding(
                    &m.origin.file,
                    m.origin.line,
                    "docker-socket-rw",
                    format!(
                        "service `{}` mounts the Docker socket `{}` read-write: root on the host for anyone who controls the container",
                        s.name, m.source
                    ),
                    Some(format!(
                        "mount it read-only (`{}:{}:ro`), better through a read-only socket proxy",
                        m.source, m.target
                    )),
                ));
            }
        }
        if let Some((true, o)) = &s.privileged {
            report.findings.push(finding(
                &o.file,
                o.line,
                "service-privileged",
                format!("service `{}` runs privileged", s.name),
                Some(format!(
                    "remove `privileged: true` from service `{}`; grant only the needed `cap_add` capabilities",
                    s.name
                )),
            ));
        }
    }
}

// ------------------------------------------------------------------ Loki

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or(Value::Null)
}

fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(*k))
}

/// Line of `key:` inside the top-level block `section:` (first match), else of the
/// section, else 1.
fn line_in_section(text: &str, section: &str, key: &str) -> usize {
    let mut in_sec = None;
    for (i, l) in text.lines().enumerate() {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if indent == 0 {
            if in_sec.is_some() {
                break;
            }
            if t.starts_with(&format!("{section}:")) {
                in_sec = Some(i + 1);
            }
            continue;
        }
        if in_sec.is_some() && t.starts_with(&format!("{key}:")) {
            return i + 1;
        }
    }
    in_sec.unwrap_or(1)
}

fn top_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map_or(1, |i| i + 1)
}

fn zero_duration(s: &str) -> bool {
    s.trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse::<f64>()
        .is_ok_and(|n| n == 0.0)
}

fn loki(st: &Stack, report: &mut Report) {
    let Some(l) = &st.loki else { return };
    let v = yaml(&l.text);
    if v.get("auth_enabled").and_then(|a| a.as_bool()) == Some(false) {
        report.findings.push(finding(
            &l.rel,
            top_line(&l.text, "auth_enabled"),
            "loki-auth-disabled",
            "Loki runs with `auth_enabled: false`: every client reads and writes the single `fake` tenant without authentication".into(),
            Some("set `auth_enabled: true` and send `X-Scope-OrgID` (Promtail `tenant_id`, Grafana datasource header) through an authenticating proxy".into()),
        ));
    }
    let enabled = path(&v, &["compactor", "retention_enabled"]).and_then(|x| x.as_bool());
    if enabled != Some(true) {
        report.findings.push(finding(
            &l.rel,
            line_in_section(&l.text, "compactor", "retention_enabled"),
            "loki-no-retention",
            "Loki's compactor does not apply retention (`compactor.retention_enabled` is not true): logs are kept forever".into(),
            Some("set `compactor.retention_enabled: true` (with `compactor.delete_request_store`) and `limits_config.retention_period`".into()),
        ));
    }
    let period = path(&v, &["limits_config", "retention_period"]).and_then(scalar);
    if period.as_deref().is_none_or(zero_duration) {
        report.findings.push(finding(
            &l.rel,
            line_in_section(&l.text, "limits_config", "retention_period"),
            "loki-no-retention",
            format!(
                "`limits_config.retention_period` is {}: no retention period",
                period.map_or("unset".into(), |p| format!("`{p}`"))
            ),
            Some("set `limits_config.retention_period`, e.g. `168h`".into()),
        ));
    }
    let missing: Vec<&str> = ["ingestion_rate_mb", "ingestion_burst_size_mb"]
        .into_iter()
        .filter(|k| path(&v, &["limits_config", k]).is_none())
        .collect();
    if !missing.is_empty() {
        report.findings.push(finding(
            &l.rel,
            top_line(&l.text, "limits_config"),
            "loki-no-ingestion-limits",
            format!(
                "Loki sets no ingestion limit ({} unset)",
                missing
                    .iter()
                    .map(|k| format!("`limits_config.{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!(
                "set {} in `limits_config`, sized for the expected log volume",
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
        ));
    }
}

// ------------------------------------------------------------------ Prometheus

/// Line of the first command argument containing `needle` (in the file that set the
/// command), else of `command:`, else of the service key.
fn command_line(st: &Stack, s: &ServiceInfo, needle: Option<&str>) -> (String, usize) {
    match &s.command_origin {
        Some(o) => {
            let text = st.compose.text_of(&o.file);
            let line = needle
                .and_then(|n| compose::find_in_service(text, &s.name, |l| l.contains(n)))
                .unwrap_or(o.line);
            (o.file.clone(), line)
        }
        None => (s.origin.file.clone(), s.origin.line),
    }
}

fn prometheus(st: &Stack, report: &mut Report) {
    let Some(s) = st.compose.by_image("prom/prometheus") else {
        return;
    };
    let explicit = s.flag("storage.tsdb.path");
    let tsdb = explicit.clone().unwrap_or_else(|| "/prometheus".into());
    if !s.is_mounted(&tsdb) {
        let (file, line) = match &explicit {
            Some(_) => command_line(st, s, Some("storage.tsdb.path")),
            None => (s.origin.file.clone(), s.origin.line),
        };
        report.findings.push(finding(
            &file,
            line,
            "prometheus-tsdb-not-persistent",
            format!(
                "service `{}` keeps its TSDB at `{tsdb}` with no volume mounted there: metrics are lost when the container is recreated",
                s.name
            ),
            Some(format!(
                "add `- prometheus-data:{tsdb}` to service `{}`'s `volumes` and `prometheus-data:` under the top-level `volumes:`",
                s.name
            )),
        ));
    }
    if !s.has_flag_prefix("storage.tsdb.retention") {
        let (file, line) = command_line(st, s, None);
        report.findings.push(finding(
            &file,
            line,
            "prometheus-no-retention",
            format!(
                "service `{}` sets no retention flag: the 15d default applies with no size bound",
                s.name
            ),
            Some(format!(
                "add `--storage.tsdb.retention.time=<age>` and/or `--storage.tsdb.retention.size=<bytes>` to service `{}`'s command",
                s.name
            )),
        ));
    }
}

// ------------------------------------------------------------------ Alertmanager

fn alertmanager(st: &Stack, report: &mut Report) {
    let Some(a) = &st.alertmanager else { return };
    let v = yaml(&a.text);
    let receivers = v
        .get("receivers")
        .and_then(|r| r.as_sequence())
        .cloned()
        .unwrap_or_default();
    let mut why = Vec::new();
    let mut notifies = false;
    for r in &receivers {
        let name = r.get("name").and_then(scalar).unwrap_or_default();
        let Some(m) = r.as_mapping() else { continue };
        let mut internal = Vec::new();
        for (k, cfgs) in m {
            let Some(k) = k.as_str() else { continue };
            if !k.ends_with("_configs") {
                continue;
            }
            for c in cfgs.as_sequence().into_iter().flatten() {
                if k == "webhook_configs"
                    && let Some(url) = c.get("url").and_then(scalar)
                    && let Some(host) = internal_host(st, &url)
                {
                    internal.push(host);
                } else {
                    notifies = true;
                }
            }
        }
        why.push(if internal.is_empty() {
            format!("`{name}` (no integration)")
        } else {
            format!(
                "`{name}` (webhook to the stack's own `{}`)",
                internal.join("`, `")
            )
        });
    }
    if !notifies {
        report.findings.push(finding(
            &a.rel,
            top_line(&a.text, "receivers"),
            "alertmanager-no-notifying-receiver",
            format!(
                "no Alertmanager receiver notifies anyone: {}",
                if why.is_empty() { "no receivers".into() } else { why.join(", ") }
            ),
            Some("add a receiver with `email_configs`, `slack_configs`, `pagerduty_configs`, `opsgenie_configs` or a `webhook_configs` url outside the stack, and route alerts to it (`route.receiver` / `route.routes`)".into()),
        ));
    }
}

/// The host of a webhook url when it points back into the stack.
fn internal_host(st: &Stack, url: &str) -> Option<String> {
    let (host, _) = host_port(url)?;
    let internal = matches!(
        host.as_str(),
        "localhost" | "127.0.0.1" | "0.0.0.0" | "[::1]" | "::1" | "harness-webhook"
    ) || st.compose.service(&host).is_some();
    internal.then_some(host)
}

// ------------------------------------------------------------------ collector

fn collector(st: &Stack, report: &mut Report) {
    let Some(c) = &st.collector else { return };
    let v = yaml(&c.text);
    let traces_exporters: Vec<String> = path(&v, &["service", "pipelines"])
        .and_then(|p| p.as_mapping())
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            k.as_str()
                .is_some_and(|k| k == "traces" || k.starts_with("traces/"))
        })
        .flat_map(|(_, p)| {
            p.get("exporters")
                .and_then(|e| e.as_sequence())
                .into_iter()
                .flatten()
                .filter_map(scalar)
        })
        .collect();
    if let Some(ex) = v.get("exporters").and_then(|e| e.as_mapping()) {
        for (name, cfg) in ex {
            let Some(name) = name.as_str() else { continue };
            let kind = name.split('/').next().unwrap_or(name);
            if kind != "debug" || !traces_exporters.iter().any(|e| e == name) {
                continue;
            }
            if cfg.get("verbosity").and_then(scalar).as_deref() == Some("detailed") {
                report.findings.push(warning(
                    &c.rel,
                    locate::line_with(&c.text, "verbosity", "detailed"),
                    "collector-debug-detailed",
                    format!("exporter `{name}` logs every span in full (`verbosity: detailed`) in a traces pipeline: log volume and span attributes (PII, tokens) end up in the collector's logs"),
                    Some(format!("set `exporters.{name}.verbosity: basic`, or remove `{name}` from `service.pipelines.traces.exporters`")),
                ));
            }
        }
    }
    let Some(svc) = c.svc.as_deref().and_then(|s| st.compose.service(s)) else {
        return;
    };
    let Some(recv) = v.get("receivers").and_then(|r| r.as_mapping()) else {
        return;
    };
    for (name, cfg) in recv {
        let Some(name) = name.as_str() else { continue };
        if name.split('/').next() != Some("otlp") {
            continue;
        }
        for (proto, default_port) in [("grpc", 4317u16), ("http", 4318)] {
            let Some(p) = cfg.get("protocols").and_then(|ps| ps.get(proto)) else {
                continue;
            };
            if p.get("tls").is_some_and(|t| !t.is_null()) {
                continue;
            }
            let port = p
                .get("endpoint")
                .and_then(scalar)
                .and_then(|e| host_port(&e))
                .map_or(default_port, |(_, p)| p);
            for e in svc
                .published
                .iter()
                .filter(|e| e.covers(port) && !e.loopback_only())
            {
                report.findings.push(finding(
                    &e.origin.file,
                    e.origin.line,
                    "collector-otlp-exposed-without-tls",
                    format!(
                        "service `{}` publishes OTLP/{proto} port {port} on the host, but receiver `{name}` ({}) has no TLS: anyone who reaches the host can send telemetry in clear text",
                        svc.name, c.rel
                    ),
                    Some(format!(
                        "add `tls: {{cert_file: ..., key_file: ...}}` under `receivers.{name}.protocols.{proto}` in {}, or publish the port on loopback only (`127.0.0.1:{port}:{port}`) or not at all",
                        c.rel
                    )),
                ));
            }
        }
    }
}

// ------------------------------------------------------------------ secrets

static ENV_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|CREDENTIALS)").unwrap()
});
static ENV_NOT_SECRET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(_FILE|_URL|_URI|_PATH|_DIR|_ENABLED)$").unwrap());
static CONFIG_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(password|passwd|secret|token|api_?key|access_?key|routing_key|service_key|credentials)$").unwrap()
});

fn literal_secret(v: &str) -> bool {
    let v = v.trim();
    let placeholder = v.starts_with('<') && v.ends_with('>');
    !(v.is_empty()
        || is_reference(v)
        || truthy(v)
        || falsy(v)
        || placeholder
        || v.starts_with("/run/secrets/"))
}

fn compose_secrets(st: &Stack, report: &mut Report) {
    for s in &st.compose.services {
        let grafana = st.grafana_svc.as_deref() == Some(s.name.as_str());
        for (k, e) in &s.environment {
            if !ENV_SECRET.is_match(k) || ENV_NOT_SECRET.is_match(k) {
                continue;
            }
            // Grafana's admin password has its own rules.
            if grafana && k == "GF_SECURITY_ADMIN_PASSWORD" {
                continue;
            }
            let Some(v) = &e.value else { continue };
            if !literal_secret(v) {
                continue;
            }
            report.findings.push(finding(
                &e.origin.file,
                e.origin.line,
                "secret-literal-in-compose",
                format!("service `{}` sets `{k}` to a literal value in the compose file", s.name),
                Some(format!(
                    "move `{k}` to an env file (`env_file:`, kept out of version control) or a Docker secret (`secrets:` + `{k}_FILE=/run/secrets/...` where supported), or reference it as `{k}=${{{k}}}`"
                )),
            ));
        }
    }
}

fn config_secrets(st: &Stack, report: &mut Report) {
    let mut docs: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = &st.prom {
        docs.push((&c.rel, &c.text));
    }
    if let Some(c) = &st.alertmanager {
        docs.push((&c.rel, &c.text));
    }
    if let Some(c) = &st.collector {
        docs.push((&c.rel, &c.text));
    }
    if let Some(c) = &st.promtail {
        docs.push((&c.rel, &c.text));
    }
    if let Some(c) = &st.loki {
        docs.push((&c.rel, &c.text));
    }
    for d in &st.datasources {
        docs.push((&d.rel, &d.text));
    }
    for (rel, text) in docs {
        let mut hits = Vec::new();
        walk(&yaml(text), &mut hits);
        for (key, val) in hits {
            let first = val.lines().next().unwrap_or(&val).trim().to_owned();
            report.findings.push(finding(
                rel,
                locate::line_with(text, &key, &first),
                "secret-literal-in-config",
                format!("`{key}` is a literal secret in {rel}"),
                Some(format!(
                    "read it from a file mounted from a Docker secret (e.g. `{}: /run/secrets/...` where the component supports it) or from the environment (`${{VAR}}`, with the value in an env file)",
                    if key.ends_with("_file") { key.clone() } else { format!("{key}_file") }
                )),
            ));
        }
    }
}

/// (key, value) of literal secrets in a YAML tree.
fn walk(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                let Some(k) = k.as_str() else { continue };
                if let Value::String(s) = val {
                    let header = k.starts_with("httpHeaderValue")
                        && (s.starts_with("Bearer ") || s.starts_with("Basic "));
                    if (CONFIG_SECRET.is_match(k) || header) && literal_secret(s) {
                        out.push((k.to_owned(), s.clone()));
                    }
                } else {
                    walk(val, out);
                }
            }
        }
        Value::Sequence(a) => a.iter().for_each(|x| walk(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_not_literals() {
        for r in [
            "${X}",
            "${X:?set X}",
            "$X",
            "${env:X}",
            "$__file{/run/secrets/x}",
            "a${X:-b}",
        ] {
            assert!(is_reference(r), "{r}");
        }
        for l in ["hunter2", "$$notavar", "pa$$word", "$"] {
            assert!(!is_reference(l), "{l}");
        }
    }

    #[test]
    fn interpolation_is_tolerant() {
        assert_eq!(interpolate("plain").as_deref(), Some("plain"));
        assert_eq!(
            interpolate("${OBS_LINT_SURELY_UNSET_1:-false}").as_deref(),
            Some("false")
        );
        assert_eq!(interpolate("${OBS_LINT_SURELY_UNSET_1:?set it}"), None);
        assert_eq!(interpolate("${OBS_LINT_SURELY_UNSET_1}"), None);
        assert_eq!(interpolate("a$$b").as_deref(), Some("a$b"));
    }

    #[test]
    fn grafana_env_names() {
        assert_eq!(
            env_name("auth.anonymous", "enabled"),
            "GF_AUTH_ANONYMOUS_ENABLED"
        );
        assert_eq!(
            env_name("security", "admin_password"),
            "GF_SECURITY_ADMIN_PASSWORD"
        );
    }

    #[test]
    fn secrets_in_yaml() {
        let v: Value = serde_yaml::from_str(
            "a:\n  password: hunter2\n  password_file: /x\n  bearer_token: ${TOKEN}\n  b:\n    - api_key: abc\n    - max_tokens: 5\n  httpHeaderValue1: Bearer xyz\n  httpHeaderValue2: docker\n",
        )
        .unwrap();
        let mut out = Vec::new();
        walk(&v, &mut out);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["password", "api_key", "httpHeaderValue1"]);
    }
}
