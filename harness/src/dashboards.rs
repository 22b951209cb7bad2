//! Dashboard query regression: every query of the provisioned dashboards, with
//! Grafana's variables expanded to the values the dashboard would use, checked
//! statically (parses, metric and label names in the catalogue) and live (each
//! returns data through Prometheus, Loki and Grafana's `/api/ds/query`).
//!
//! - [`inventory`]: the queries of the dashboards a stack provisions. The
//!   dashboards are found like the lint gate finds them: the Grafana service's
//!   provisioning mount (else `grafana/provisioning`), each dashboard provider's
//!   `options.path` mapped to a host folder through the compose mounts (else
//!   `grafana/dashboards`). Queries come from [`crate::lint::dashboards::extract`]
//!   (panels, collapsed rows, old-schema rows, targets, template-variable
//!   queries, annotations); each one's datasource uid is the literal reference
//!   lint records for the target (else its panel), else the provisioned
//!   datasource of that type (the default one first).
//! - [`ExpandOptions`]: `$__interval` = max(scrape interval, window /
//!   max data points); `$__rate_interval` = max(4 × scrape interval,
//!   `$__interval` + scrape interval) as Grafana computes it; `$__range` = the
//!   window; `*_ms` / `_s` forms as numbers. The scrape interval is the global
//!   `scrape_interval` of the stack's prometheus.yml divided by the acceleration
//!   factor (at least 1 s), as the harness runs it.
//! - Custom, query, constant, interval and textbox variables expand to their
//!   current value; `All` (`$__all`) to the variable's `allValue`, else a regex
//!   of all its options (`.*` when the options are only known at run time).
//!   Forms: `$var`, `${var}`, `${var:format}`, `${var.path}`, `[[var]]`,
//!   `[[var:format]]` (the forms [`crate::lint::promql::substitute_vars`] knows);
//!   formats `regex`, `pipe`, `csv`, `raw`, `text`, `json`, `doublequote`,
//!   `singlequote`, `glob`, `sqlstring`, `queryparam`, `percentencode`, `lucene`.
//! - [`static_checks`]: each expanded PromQL parses (promql-parser) and names
//!   metrics and labels of the catalogue ([`crate::lint::promql::check_catalogue`]);
//!   each LogQL passes [`crate::lint::logql::check`].
//! - [`live_queries`] / [`live_queries_with_shapes`]: phase `dashboards`; a
//!   query that returns nothing fails naming the panel, the dashboard uid, the
//!   expanded query and the metric names the app's job produced.
//! - [`shape_report`]: inventory plus the shape of each answer (series count or
//!   "non-empty", label names), sorted, for snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::accelerate::{fmt_duration, parse_duration};
use crate::backends::grafana::DsQueryResponse;
use crate::backends::loki::LokiResult;
use crate::backends::prometheus::QueryResult;
use crate::backends::{BackendError, GrafanaClient, LokiClient, PrometheusClient};
use crate::checks::{CheckResult, Verdict};
use crate::eventually::{Eventually, Poll};
use crate::read::compose::ComposeModel;
use crate::lint::dashboards::{self as lintdash, Lang};
use crate::read::configs::Datasource;
use crate::lint::{Catalogue, LintError, logql, promql};

/// The phase of every check here.
pub const PHASE: &str = "dashboards";

/// Prometheus's default scrape interval (when prometheus.yml sets none).
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Compose(#[from] LintError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid {what}: {message}", path.display())]
    Parse {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
    #[error("{}: no docker-compose.yml, docker-compose.yaml, compose.yml or compose.yaml", dir.display())]
    NoCompose { dir: PathBuf },
}

// ------------------------------------------------------------------ expansion options

/// What Grafana's built-in variables expand to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpandOptions {
    /// The scrape interval Prometheus runs with (after acceleration).
    pub scrape_interval: Duration,
    /// The run's window: `$__range`, and the range of live range queries.
    pub window: Duration,
    /// Points per panel (Grafana's `maxDataPoints`, about the panel's width in pixels).
    pub max_data_points: u32,
    /// The app's scrape job (from the stack profile), for "what the app produced" in failures.
    pub app_job: String,
}

impl ExpandOptions {
    pub fn new(scrape_interval: Duration, window: Duration) -> Self {
        Self {
            scrape_interval,
            window,
            max_data_points: 1000,
            app_job: String::new(),
        }
    }

    /// The scrape interval of the stack's prometheus.yml divided by `acceleration`.
    pub fn for_stack(
        stack_dir: &Path,
        acceleration: u32,
        window: Duration,
    ) -> Result<Self, DashboardError> {
        Ok(Self::new(scrape_interval(stack_dir, acceleration)?, window))
    }

    /// The options for a stack already read (its Prometheus's scrape interval).
    pub fn for_model(model: &crate::model::StackModel, acceleration: u32, window: Duration) -> Self {
        let base = crate::lint::scrape_interval_in(model).as_deref().and_then(parse_duration).unwrap_or(DEFAULT_SCRAPE_INTERVAL);
        Self::new(accelerated(base, acceleration), window)
    }

    /// The app's scrape job, named in failures ("what the app produced").
    pub fn with_app_job(mut self, job: &str) -> Self {
        self.app_job = job.to_owned();
        self
    }

    pub fn with_max_data_points(mut self, n: u32) -> Self {
        self.max_data_points = n.max(1);
        self
    }

    /// `$__interval`: window / max data points (whole milliseconds, rounded up),
    /// at least the scrape interval.
    pub fn interval(&self) -> Duration {
        let per_point = self
            .window
            .as_millis()
            .div_ceil(u128::from(self.max_data_points.max(1)));
        Duration::from_millis(per_point as u64).max(self.scrape_interval)
    }

    /// `$__rate_interval` = max(4 × scrape interval, `$__interval` + scrape interval).
    pub fn rate_interval(&self) -> Duration {
        rate_interval(self.scrape_interval, self.interval())
    }
}

/// Grafana's `$__rate_interval`: max(4 × scrape, interval + scrape).
pub fn rate_interval(scrape: Duration, interval: Duration) -> Duration {
    (scrape * 4).max(interval + scrape)
}

/// The global `scrape_interval` of the stack's prometheus.yml (the file the
/// Prometheus service mounts as `--config.file`, else `prometheus/prometheus.yml`),
/// divided by `acceleration` as the harness runs it (at least 1 s).
pub fn scrape_interval(stack_dir: &Path, acceleration: u32) -> Result<Duration, DashboardError> {
    let compose = compose_model(stack_dir).ok();
    let path = compose
        .as_ref()
        .and_then(|c| {
            c.by_image("prom/prometheus")
                .or_else(|| c.service("prometheus"))
                .cloned()
        })
        .and_then(|s| s.config_flag().and_then(|f| s.host_path(&f)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| stack_dir.join("prometheus/prometheus.yml"));
    let text = read(&path)?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| DashboardError::Parse {
            path: path.clone(),
            what: "prometheus.yml",
            message: e.to_string(),
        })?;
    let base = doc
        .get("global")
        .and_then(|g| g.get("scrape_interval"))
        .and_then(serde_yaml::Value::as_str)
        .and_then(parse_duration)
        .unwrap_or(DEFAULT_SCRAPE_INTERVAL);
    Ok(accelerated(base, acceleration))
}

/// `d / factor`, at least 1 s (what [`crate::accelerate`] does to every duration).
pub fn accelerated(d: Duration, factor: u32) -> Duration {
    if factor <= 1 {
        return d;
    }
    (d / factor).max(Duration::from_secs(1))
}

// ------------------------------------------------------------------ inventory

/// One query of one dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DashboardQuery {
    pub dashboard_uid: String,
    pub dashboard_title: String,
    /// The dashboard file, relative to the stack dir.
    pub file: String,
    /// `panel`, `variable` or `annotation`.
    pub kind: String,
    /// The panel title (or the variable / annotation name).
    pub panel: String,
    /// The target's refId (panels only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_id: Option<String>,
    pub datasource_uid: String,
    /// `prometheus` or `loki`.
    pub datasource_type: String,
    pub expr: String,
    pub expanded: String,
}

impl DashboardQuery {
    /// Stable id: `uid/panel title/refId`, `uid/variable name`, `uid/annotation name`.
    pub fn id(&self) -> String {
        match (&self.kind[..], &self.ref_id) {
            ("panel", Some(r)) => format!("{}/{}/{r}", self.dashboard_uid, self.panel),
            ("panel", None) => format!("{}/{}", self.dashboard_uid, self.panel),
            (k, _) => format!("{}/{k} {}", self.dashboard_uid, self.panel),
        }
    }

    /// `panel "Title"`, `variable job`, `annotation "Deploys"`.
    pub fn what(&self) -> String {
        match &self.kind[..] {
            "variable" => format!("variable {}", self.panel),
            k => format!("{k} {:?}", self.panel),
        }
    }

    pub fn is_prometheus(&self) -> bool {
        self.datasource_type == "prometheus"
    }

    /// The backend it is asked of directly: `prometheus` or `loki`.
    pub fn backend(&self) -> &'static str {
        if self.is_prometheus() { "prometheus" } else { "loki" }
    }
}

/// Every Prometheus and Loki query of a stack's dashboards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub options: ExpandOptions,
    pub queries: Vec<DashboardQuery>,
}

/// A dashboard document and the file it came from.
#[derive(Debug, Clone)]
pub struct DashboardDoc {
    pub file: String,
    pub doc: Value,
}

fn read(path: &Path) -> Result<String, DashboardError> {
    std::fs::read_to_string(path).map_err(|source| DashboardError::Io {
        path: path.to_owned(),
        source,
    })
}

fn compose_model(stack_dir: &Path) -> Result<ComposeModel, DashboardError> {
    let main = crate::lint::main_compose_file(stack_dir).ok_or_else(|| DashboardError::NoCompose { dir: stack_dir.to_owned() })?;
    Ok(ComposeModel::load(stack_dir, main)?)
}


/// The provisioned datasources and dashboards of a stack dir (read by the static gate's loader).
pub fn provisioned(stack_dir: &Path) -> Result<(Vec<Datasource>, Vec<DashboardDoc>), DashboardError> {
    let (datasources, dashboards) = crate::lint::provisioned(stack_dir)?;
    Ok((datasources, dashboards.into_iter().map(|(file, doc)| DashboardDoc { file, doc }).collect()))
}

/// The inventory of the dashboards `stack_dir` provisions.
pub fn inventory(stack_dir: &Path, options: &ExpandOptions) -> Result<Inventory, DashboardError> {
    let (ds, dashboards) = provisioned(stack_dir)?;
    Ok(inventory_of(&dashboards, &ds, options))
}

/// The inventory of the dashboards a stack already read provisions.
pub fn inventory_in(model: &crate::model::StackModel, options: &ExpandOptions) -> Inventory {
    let (ds, dashboards) = crate::lint::provisioned_in(model);
    let dashboards: Vec<DashboardDoc> = dashboards.into_iter().map(|(file, doc)| DashboardDoc { file, doc }).collect();
    inventory_of(&dashboards, &ds, options)
}

/// The inventory of given dashboards (`datasources`: the provisioned ones).
pub fn inventory_of(
    dashboards: &[DashboardDoc],
    datasources: &[Datasource],
    options: &ExpandOptions,
) -> Inventory {
    let mut queries = Vec::new();
    for d in dashboards {
        let uid = d
            .doc
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let title = d
            .doc
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let (qs, refs) = lintdash::extract(&d.doc, datasources);
        for q in qs {
            let kind = match &q.lang {
                Lang::PromQL => "prometheus",
                Lang::LogQL => "loki",
                Lang::Other(_) => continue,
            };
            let (what, panel, ref_id) = parse_origin(&q.origin);
            // The literal datasource of the target, else of its panel.
            let panel_origin = q.origin.rsplit_once(" target ").map(|(p, _)| p.to_owned());
            let literal = refs
                .iter()
                .filter(|r| r.origin == q.origin || Some(&r.origin) == panel_origin.as_ref())
                .filter_map(|r| {
                    provisioned_uid(datasources, &r.uid, kind).or_else(|| {
                        (!datasources
                            .iter()
                            .any(|d| d.uid.as_deref() == Some(&r.uid) || d.name == r.uid))
                        .then(|| r.uid.clone())
                    })
                })
                .next();
            let ds_uid = literal.unwrap_or_else(|| default_uid(datasources, kind));
            let expanded = expand(&q.expr, &d.doc, &q.lang, options);
            queries.push(DashboardQuery {
                dashboard_uid: uid.clone(),
                dashboard_title: title.clone(),
                file: d.file.clone(),
                kind: what,
                panel,
                ref_id,
                datasource_uid: ds_uid,
                datasource_type: kind.to_owned(),
                expr: q.expr,
                expanded,
            });
        }
    }
    Inventory {
        options: options.clone(),
        queries,
    }
}

/// The uid of the provisioned datasource `uid_or_name` when it is of type `kind`.
fn provisioned_uid(ds: &[Datasource], uid_or_name: &str, kind: &str) -> Option<String> {
    ds.iter()
        .find(|d| {
            (d.uid.as_deref() == Some(uid_or_name) || d.name == uid_or_name) && d.kind == kind
        })
        .map(|d| d.uid.clone().unwrap_or_else(|| d.name.clone()))
}

/// The default provisioned datasource of type `kind`, else the first, else `kind`.
fn default_uid(ds: &[Datasource], kind: &str) -> String {
    let of_kind = || ds.iter().filter(|d| d.kind == kind);
    of_kind()
        .find(|d| d.is_default)
        .or_else(|| of_kind().next())
        .map(|d| d.uid.clone().unwrap_or_else(|| d.name.clone()))
        .unwrap_or_else(|| kind.to_owned())
}

/// `panel "T" target A` -> (panel, T, Some(A)); `variable v` -> (variable, v, None);
/// `annotation "N"` -> (annotation, N, None).
fn parse_origin(origin: &str) -> (String, String, Option<String>) {
    let unquote = |s: &str| {
        serde_json::from_str::<String>(s).unwrap_or_else(|_| s.trim_matches('"').to_owned())
    };
    if let Some(rest) = origin.strip_prefix("panel ") {
        return match rest.rsplit_once(" target ") {
            Some((t, r)) => ("panel".into(), unquote(t), Some(r.to_owned())),
            None => ("panel".into(), unquote(rest), None),
        };
    }
    if let Some(v) = origin.strip_prefix("variable ") {
        return ("variable".into(), v.to_owned(), None);
    }
    if let Some(a) = origin.strip_prefix("annotation ") {
        return ("annotation".into(), unquote(a), None);
    }
    ("query".into(), origin.to_owned(), None)
}

// ------------------------------------------------------------------ variable expansion

/// A template variable's value as the dashboard would use it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VarValue {
    /// The selected values (All expanded to every option).
    values: Vec<String>,
    texts: Vec<String>,
    /// Multi-value or include-All variable (Grafana regex-formats those by default).
    multi: bool,
    /// Set when All is selected and the variable has an `allValue` (used raw),
    /// or when its options are only known at run time (`.*`).
    raw: Option<String>,
}

impl VarValue {
    /// One selected value, shown as itself.
    fn single(val: String) -> Self {
        Self { values: vec![val.clone()], texts: vec![val], multi: false, raw: None }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .or_else(|| x.as_number().map(|n| n.to_string()))
            })
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        _ => vec![],
    }
}

fn is_all(s: &str) -> bool {
    s == "$__all" || s == "All"
}

/// `a,b,c` / `k : v, ...` of a custom variable's `query`.
fn custom_options(query: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in query.split(',') {
        let p = part.trim();
        if p.is_empty() {
            continue;
        }
        match p.split_once(" : ") {
            Some((t, v)) => out.push((t.trim().to_owned(), v.trim().to_owned())),
            None => out.push((p.to_owned(), p.to_owned())),
        }
    }
    out
}

fn variable_value(v: &Value, options: &ExpandOptions) -> Option<VarValue> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let include_all = v
        .get("includeAll")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let multi = v.get("multi").and_then(Value::as_bool).unwrap_or(false) || include_all;
    let query = match v.get("query") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    // Options: the saved ones, else a custom/interval variable's query list.
    let mut opts: Vec<(String, String)> = v
        .get("options")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|o| {
                    let val = strings(o.get("value")).into_iter().next()?;
                    let text = strings(o.get("text"))
                        .into_iter()
                        .next()
                        .unwrap_or_else(|| val.clone());
                    Some((text, val))
                })
                .filter(|(_, val)| !is_all(val))
                .collect()
        })
        .unwrap_or_default();
    if opts.is_empty() && matches!(kind, "custom" | "interval") {
        opts = custom_options(&query);
    }
    let current_vals = strings(v.pointer("/current/value"));
    let current_texts = strings(v.pointer("/current/text"));
    let all_value = v
        .get("allValue")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let single = |val: String, text: String| VarValue {
        values: vec![val],
        texts: vec![text],
        multi,
        raw: None,
    };
    match kind {
        "constant" => Some(VarValue::single(query)),
        "textbox" => {
            let val = current_vals.into_iter().next().unwrap_or(query);
            Some(VarValue::single(val))
        }
        "interval" => {
            let mut val = current_vals
                .into_iter()
                .next()
                .or_else(|| opts.first().map(|o| o.1.clone()))?;
            if val == "auto" || val.starts_with("$__auto") {
                val = fmt_duration(options.interval());
            }
            Some(VarValue::single(val))
        }
        "custom" | "query" => {
            let all_selected =
                current_vals.iter().any(|s| is_all(s)) || (current_vals.is_empty() && include_all);
            if all_selected || current_vals.is_empty() {
                if let Some(a) = &all_value
                    && all_selected
                {
                    return Some(VarValue {
                        values: vec![a.clone()],
                        texts: vec!["All".into()],
                        multi: true,
                        raw: Some(a.clone()),
                    });
                }
                if opts.is_empty() {
                    // Options known only at run time: every value.
                    return Some(VarValue {
                        values: vec![".*".into()],
                        texts: vec!["All".into()],
                        multi: true,
                        raw: Some(".*".into()),
                    });
                }
                if !all_selected {
                    let (t, val) = opts[0].clone();
                    return Some(single(val, t));
                }
                return Some(VarValue {
                    values: opts.iter().map(|o| o.1.clone()).collect(),
                    texts: opts.iter().map(|o| o.0.clone()).collect(),
                    multi: true,
                    raw: None,
                });
            }
            let texts = if current_texts.len() == current_vals.len() {
                current_texts
            } else {
                current_vals.clone()
            };
            Some(VarValue {
                values: current_vals,
                texts,
                multi,
                raw: None,
            })
        }
        "datasource" => {
            let val = current_vals.into_iter().next().unwrap_or(query);
            Some(VarValue::single(val))
        }
        _ => None,
    }
}

/// Values as Grafana's regex format renders them: one escaped value, or `(a|b|c)`.
fn regex_alternation(vals: &[String]) -> String {
    match vals {
        [one] => regex_escape(one),
        _ => format!("({})", vals.iter().map(|s| regex_escape(s)).collect::<Vec<_>>().join("|")),
    }
}

/// Regex-escapes a value for a PromQL/LogQL double-quoted string (`\\.`), as
/// Grafana's Prometheus datasource does.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\\\\\");
        } else if "$^*{}[]'+?.()|".contains(c) {
            out.push_str("\\\\");
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn format_value(name: &str, v: &VarValue, format: Option<&str>) -> String {
    let vals = &v.values;
    let joined = |sep: &str| vals.join(sep);
    match format {
        None => {
            if let Some(r) = &v.raw {
                r.clone()
            } else if !v.multi {
                vals.first().cloned().unwrap_or_default()
            } else {
                regex_alternation(vals)
            }
        }
        Some("regex") => {
            if let Some(r) = &v.raw {
                r.clone()
            } else {
                regex_alternation(vals)
            }
        }
        Some("pipe") => joined("|"),
        Some("csv") | Some("raw") => joined(","),
        Some("text") => v.texts.join(" + "),
        Some("json") => {
            if vals.len() == 1 {
                serde_json::to_string(&vals[0]).unwrap_or_default()
            } else {
                serde_json::to_string(vals).unwrap_or_default()
            }
        }
        Some("doublequote") => vals
            .iter()
            .map(|s| format!("\"{}\"", s.replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(","),
        Some("singlequote") => vals
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(","),
        Some("sqlstring") => vals
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(","),
        Some("glob") => {
            if vals.len() == 1 {
                vals[0].clone()
            } else {
                format!("{{{}}}", joined(","))
            }
        }
        Some("queryparam") => vals
            .iter()
            .map(|s| format!("var-{name}={}", percent(s)))
            .collect::<Vec<_>>()
            .join("&"),
        Some("percentencode") => percent(&joined(",")),
        Some("lucene") => {
            let esc = |s: &str| {
                s.chars().fold(String::new(), |mut o, c| {
                    if "+-=&|><!(){}[]^\"~*?:\\/ ".contains(c) {
                        o.push('\\');
                    }
                    o.push(c);
                    o
                })
            };
            if vals.len() == 1 {
                esc(&vals[0])
            } else {
                format!(
                    "({})",
                    vals.iter()
                        .map(|s| format!("\"{}\"", esc(s)))
                        .collect::<Vec<_>>()
                        .join(" OR ")
                )
            }
        }
        Some(_) => joined(","),
    }
}

/// Expands a query's Grafana variables to what the dashboard would send
/// (built-ins from `options`, template variables from the dashboard's
/// `templating.list`). Unknown variables stay as written.
pub fn expand(expr: &str, dashboard: &Value, _lang: &Lang, options: &ExpandOptions) -> String {
    let vars: BTreeMap<String, VarValue> = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| {
                    Some((
                        v.get("name")?.as_str()?.to_owned(),
                        variable_value(v, options)?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let builtin = |name: &str| -> Option<String> {
        let ms = |d: Duration| d.as_millis().to_string();
        Some(match name {
            "__rate_interval" => fmt_duration(options.rate_interval()),
            "__rate_interval_ms" => ms(options.rate_interval()),
            "__interval" | "__auto" => fmt_duration(options.interval()),
            "__interval_ms" => ms(options.interval()),
            "__range" => fmt_duration(options.window),
            "__range_s" => options.window.as_secs().to_string(),
            "__range_ms" => ms(options.window),
            n if n.starts_with("__auto_interval") => fmt_duration(options.interval()),
            _ => return None,
        })
    };
    let b = expr.as_bytes();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // `$name`, `${name[:format|.path]}`, `[[name[:format]]]`
        let var = if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                expr[i + 2..]
                    .find('}')
                    .map(|end| (&expr[i + 2..i + 2 + end], i + 3 + end))
            } else {
                let start = i + 1;
                let mut end = start;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                (end > start).then(|| (&expr[start..end], end))
            }
        } else if c == b'[' && b.get(i + 1) == Some(&b'[') && b.get(i + 2) != Some(&b'[') {
            expr[i + 2..]
                .find("]]")
                .map(|end| (&expr[i + 2..i + 2 + end], i + 4 + end))
        } else {
            None
        };
        if let Some((raw, next)) = var {
            let raw_t = raw.trim();
            let (name, format) = match raw_t.split_once(':') {
                Some((n, f)) => (n.trim(), Some(f.trim())),
                None => (raw_t, None),
            };
            let name = name.split('.').next().unwrap_or(name);
            let rep =
                builtin(name).or_else(|| vars.get(name).map(|v| format_value(name, v, format)));
            if let Some(rep) = rep {
                out.push_str(&rep);
                i = next;
                continue;
            }
        }
        let ch = expr[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

// ------------------------------------------------------------------ static checks

/// A catalogue from a Prometheus text exposition, with the scrape labels and
/// `ALERTS` (what the lint gate checks dashboards against; recording-rule
/// outputs are not added).
pub fn catalogue_from_exposition(text: &str) -> Result<Catalogue, String> {
    let mut c = Catalogue::parse_exposition(text)?.with_scrape_labels();
    c.open.insert("ALERTS".into());
    c.open.insert("ALERTS_FOR_STATE".into());
    Ok(c)
}

/// Each expanded PromQL parses (promql-parser) and, with a catalogue, names only
/// known metrics and labels; each expanded LogQL passes the lint's LogQL check.
/// One check per query: `dashboards.static.<id>`.
pub fn static_checks(inventory: &Inventory, catalogue: Option<&Catalogue>) -> Vec<CheckResult> {
    inventory
        .queries
        .iter()
        .map(|q| {
            let start = Instant::now();
            let where_ = format!("{} of dashboard {}", q.what(), q.dashboard_uid);
            let verdict = if q.is_prometheus() {
                match promql_parser::parser::parse(&q.expanded).or_else(|e| promql::parse(&q.expanded).map_err(|_| e)) {
                    Err(e) => Verdict::Failed { message: format!("{where_}: expanded query `{}` does not parse: {e}", q.expanded) },
                    Ok(ast) => {
                        let names: Vec<String> = promql::metric_names(&ast).into_iter().collect();
                        match catalogue {
                            None => Verdict::Passed { detail: format!("parses; metrics {} (no catalogue: names not checked)", names.join(", ")) },
                            Some(cat) => {
                                let issues = promql::check_catalogue(&ast, cat);
                                if issues.is_empty() {
                                    Verdict::Passed { detail: format!("parses; metrics {} and their labels are in the catalogue", if names.is_empty() { "(none)".into() } else { names.join(", ") }) }
                                } else {
                                    let lines: Vec<String> = issues
                                        .iter()
                                        .map(|i| match &i.hint {
                                            Some(h) => format!("  {}: {} ({h})", i.rule, i.message),
                                            None => format!("  {}: {}", i.rule, i.message),
                                        })
                                        .collect();
                                    Verdict::Failed { message: format!("{where_}: `{}`:\n{}", q.expanded, lines.join("\n")) }
                                }
                            }
                        }
                    }
                }
            } else {
                match logql::check(&q.expanded) {
                    Ok(()) => Verdict::Passed { detail: "LogQL parses".into() },
                    Err(e) => Verdict::Failed { message: format!("{where_}: expanded LogQL `{}` is invalid: {e}", q.expanded) },
                }
            };
            CheckResult::new(PHASE, &format!("dashboards.static.{}", q.id()), verdict, start.elapsed())
        })
        .collect()
}

// ------------------------------------------------------------------ live checks

/// The shape of one answer: how many series (streams, frames) and their label names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryShape {
    /// [`DashboardQuery::id`].
    pub id: String,
    /// `prometheus`, `loki` or `grafana`.
    pub via: String,
    pub series: usize,
    pub labels: BTreeSet<String>,
}

fn prom_shape(r: &QueryResult) -> (usize, BTreeSet<String>) {
    let labels = match r {
        QueryResult::Vector(v) => v.iter().flat_map(|s| s.metric.keys().cloned()).collect(),
        QueryResult::Matrix(m) => m.iter().flat_map(|s| s.metric.keys().cloned()).collect(),
        _ => BTreeSet::new(),
    };
    (r.len(), labels)
}

fn loki_shape(r: &LokiResult) -> (usize, BTreeSet<String>) {
    match r {
        LokiResult::Streams(s) => (
            s.iter().filter(|s| !s.values.is_empty()).count(),
            s.iter().flat_map(|s| s.stream.keys().cloned()).collect(),
        ),
        LokiResult::Matrix(m) => (
            m.len(),
            m.iter().flat_map(|s| s.metric.keys().cloned()).collect(),
        ),
        LokiResult::Vector(v) => (
            v.len(),
            v.iter().flat_map(|s| s.metric.keys().cloned()).collect(),
        ),
    }
}

/// Frames with rows and the label names on their fields (a logs frame's
/// `labels` field values included).
fn grafana_shape(r: &DsQueryResponse) -> Result<(usize, BTreeSet<String>), String> {
    let Some(a) = r.results.get("A") else {
        return Ok((0, BTreeSet::new()));
    };
    if let Some(e) = &a.error {
        return Err(e.clone());
    }
    let mut labels = BTreeSet::new();
    let mut series = 0;
    for f in a.frames.iter().filter(|f| f.rows() > 0) {
        let mut logs_streams = BTreeSet::new();
        for (i, field) in f.schema.fields.iter().enumerate() {
            if let Some(l) = &field.labels {
                labels.extend(l.keys().cloned());
            }
            if field.name == "labels" {
                for v in f.data.values.get(i).into_iter().flatten() {
                    if let Value::Object(o) = v {
                        labels.extend(o.keys().cloned());
                        logs_streams.insert(v.to_string());
                    }
                }
            }
        }
        series += logs_streams.len().max(1);
    }
    Ok((series, labels))
}

/// The metric names job `job` has in Prometheus (`count by (__name__) ({job="…"})`).
pub async fn produced_metrics(
    client: &PrometheusClient,
    job: &str,
) -> Result<Vec<String>, BackendError> {
    let r = client
        .query(&format!("count by (__name__) ({{job={job:?}}})"))
        .await?;
    let mut names: Vec<String> = r
        .vector()
        .iter()
        .filter_map(|s| s.metric.get("__name__").cloned())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The same through Grafana's Prometheus datasource `uid`.
async fn produced_metrics_grafana(
    g: &GrafanaClient,
    uid: &str,
    job: &str,
    from: SystemTime,
    to: SystemTime,
) -> Result<Vec<String>, String> {
    let r = g
        .ds_query(
            uid,
            "prometheus",
            &format!("count by (__name__) ({{job={job:?}}})"),
            from,
            to,
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut names = BTreeSet::new();
    for res in r.results.values() {
        for f in &res.frames {
            for field in &f.schema.fields {
                if let Some(n) = field.labels.as_ref().and_then(|l| l.get("__name__")) {
                    names.insert(n.clone());
                }
            }
        }
    }
    Ok(names.into_iter().collect())
}

fn fmt_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn empty_message(
    q: &DashboardQuery,
    via: &str,
    url: &str,
    window: Duration,
    timeout: Duration,
    last: &str,
    produced: &str,
) -> String {
    format!(
        "{} of dashboard {} ({:?}) returned no data through {via} ({url}) over the last {}:\n  query (expanded): {}\n  query (dashboard): {}\n  waited up to {}; last answer: {last}\n  {produced}",
        q.what(),
        q.dashboard_uid,
        q.dashboard_title,
        fmt_duration(window),
        q.expanded,
        q.expr,
        fmt_duration(timeout),
    )
}

/// Outcome of one wait: shape on success, else (fatal?, last observation).
type Awaited = Result<(usize, BTreeSet<String>), (bool, String)>;

async fn await_shape<F, Fut>(what: String, timeout: Duration, f: F) -> Awaited
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Poll<(usize, BTreeSet<String>)>>,
{
    Eventually::new(what)
        .with_timeout(timeout)
        .with_max_interval(Duration::from_secs(2))
        .until(f)
        .await
        .map_err(|e| (e.fatal, e.last))
}

fn shape_detail(series: usize, labels: &BTreeSet<String>) -> String {
    let l: Vec<String> = labels.iter().cloned().collect();
    format!("{series} series, labels [{}]", l.join(", "))
}

/// Runs every query of `inventory` live (see [`live_queries_with_shapes`]).
pub async fn live_queries(
    inventory: &Inventory,
    prometheus: Option<&PrometheusClient>,
    grafana: Option<&GrafanaClient>,
    loki: Option<&LokiClient>,
    window: Duration,
    timeout: Duration,
) -> Vec<CheckResult> {
    live_queries_with_shapes(inventory, prometheus, grafana, loki, window, timeout)
        .await
        .0
}

/// Phase `dashboards`: each Prometheus query returns a non-empty result through
/// Prometheus's range-query API over `[now - window, now]` (step `$__interval`)
/// and, with a Grafana client, through `/api/ds/query` on its datasource; each
/// Loki query returns data through Loki and Grafana. Waits up to `timeout` per
/// query (scrape and ingestion lag). Checks without their backend are not run.
/// Check names: `dashboards.<via>.<id>` with `via` `prometheus`, `loki` or `grafana`.
pub async fn live_queries_with_shapes(
    inventory: &Inventory,
    prometheus: Option<&PrometheusClient>,
    grafana: Option<&GrafanaClient>,
    loki: Option<&LokiClient>,
    window: Duration,
    timeout: Duration,
) -> (Vec<CheckResult>, Vec<QueryShape>) {
    let step = inventory.options.interval();
    let job = inventory.options.app_job.as_str();
    let checks = inventory.queries.iter().flat_map(|q| {
        [(q, q.backend()), (q, "grafana")]
    });
    let runs = checks.map(|(q, via)| async move {
        let name = format!("dashboards.{via}.{}", q.id());
        let start = Instant::now();
        let missing = match via {
            "prometheus" if prometheus.is_none() => Some("Prometheus is not available (no client given)"),
            "loki" if loki.is_none() => Some("Loki is not available (no client given)"),
            "grafana" if grafana.is_none() => Some("Grafana is not available (no client given)"),
            _ => None,
        };
        if let Some(reason) = missing {
            return (CheckResult::new(PHASE, &name, Verdict::NotRun { reason: format!("{}: {reason}", q.what()) }, Duration::ZERO), None);
        }
        let what = format!("data for {} of dashboard {} through {via}", q.what(), q.dashboard_uid);
        let (awaited, url) = match via {
            "prometheus" => {
                let p = prometheus.expect("checked");
                let url = p.url("/api/v1/query_range", &[]);
                let r = await_shape(what, timeout, || async {
                    let end = SystemTime::now();
                    match p.query_range(&q.expanded, end - window, end, step).await {
                        Ok(r) if r.is_empty() => Poll::Pending(format!("empty {} (0 series)", r.result_type())),
                        Ok(r) => Poll::Ready(prom_shape(&r)),
                        Err(e) => crate::checks::prometheus::poll_error(e),
                    }
                })
                .await;
                (r, url)
            }
            "loki" => {
                let l = loki.expect("checked");
                let url = l.url("/loki/api/v1/query_range", &[]);
                let r = await_shape(what, timeout, || async {
                    let end = SystemTime::now();
                    match l.query_range(&q.expanded, end - window, end, 100).await {
                        Ok(r) => {
                            let (n, labels) = loki_shape(&r);
                            if n == 0 { Poll::Pending("no streams or series".into()) } else { Poll::Ready((n, labels)) }
                        }
                        Err(e) => crate::checks::prometheus::poll_error(e),
                    }
                })
                .await;
                (r, url)
            }
            _ => {
                let g = grafana.expect("checked");
                let url = g.url("/api/ds/query");
                let r = await_shape(what, timeout, || async {
                    let end = SystemTime::now();
                    match g.ds_query(&q.datasource_uid, &q.datasource_type, &q.expanded, end - window, end).await {
                        Ok(r) => match grafana_shape(&r) {
                            Ok((0, _)) => Poll::Pending("no frame with rows".into()),
                            Ok(s) => Poll::Ready(s),
                            Err(e) => Poll::Fatal(format!("query error: {e}")),
                        },
                        Err(e) => crate::checks::prometheus::poll_error(e),
                    }
                })
                .await;
                (r, url)
            }
        };
        let verdict = match awaited {
            Ok((series, labels)) => {
                let shape = QueryShape { id: q.id(), via: via.to_owned(), series, labels: labels.clone() };
                let v = Verdict::Passed { detail: format!("{} of dashboard {}: {} through {via}", q.what(), q.dashboard_uid, shape_detail(series, &labels)) };
                return (CheckResult::new(PHASE, &name, v, start.elapsed()), Some(shape));
            }
            Err((true, reason)) => Verdict::Failed {
                message: format!(
                    "{} of dashboard {} ({:?}): the query failed through {via} ({url}):\n  query (expanded): {}\n  error: {reason}",
                    q.what(),
                    q.dashboard_uid,
                    q.dashboard_title,
                    q.expanded
                ),
            },
            Err((false, last)) => {
                let produced = if job.is_empty() {
                    "metrics the app produced: not listed (the stack profile names no scrape job for the app)".to_owned()
                } else if let Some(p) = prometheus {
                    match produced_metrics(p, job).await {
                        Ok(names) => format!("metrics the app produced (job={job:?}, via Prometheus): {}", fmt_list(&names)),
                        Err(e) => format!("metrics the app produced: could not list them: {e}"),
                    }
                } else if let (Some(g), true) = (grafana, q.is_prometheus()) {
                    let end = SystemTime::now();
                    match produced_metrics_grafana(g, &q.datasource_uid, job, end - window, end).await {
                        Ok(names) => format!("metrics the app produced (job={job:?}, via Grafana): {}", fmt_list(&names)),
                        Err(e) => format!("metrics the app produced: could not list them: {e}"),
                    }
                } else {
                    "metrics the app produced: not listed (no Prometheus client)".to_owned()
                };
                Verdict::Failed { message: empty_message(q, via, &url, window, timeout, &last, &produced) }
            }
        };
        (CheckResult::new(PHASE, &name, verdict, start.elapsed()), None)
    });
    let done = futures::future::join_all(runs).await;
    let mut results = Vec::new();
    let mut shapes = Vec::new();
    for (r, s) in done {
        results.push(r);
        shapes.extend(s);
    }
    (results, shapes)
}

// ------------------------------------------------------------------ report

/// How [`shape_report`] prints series counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// The exact number of series.
    Exact,
    /// `non-empty` (for counts that depend on timing or on other traffic).
    NonEmpty,
}

/// The inventory and the answers' shapes, sorted by dashboard, panel, refId.
/// `results`: the live checks (for not-run and failed routes), may be empty.
pub fn shape_report(
    inventory: &Inventory,
    shapes: &[QueryShape],
    results: &[CheckResult],
    counts: Counts,
) -> String {
    let mut qs: Vec<&DashboardQuery> = inventory.queries.iter().collect();
    qs.sort_by(|a, b| {
        (&a.dashboard_uid, &a.kind, &a.panel, &a.ref_id).cmp(&(
            &b.dashboard_uid,
            &b.kind,
            &b.panel,
            &b.ref_id,
        ))
    });
    let o = &inventory.options;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# scrape interval {}, window {}, $__interval {}, $__rate_interval {}",
        fmt_duration(o.scrape_interval),
        fmt_duration(o.window),
        fmt_duration(o.interval()),
        fmt_duration(o.rate_interval())
    );
    let mut last_uid = None;
    for q in qs {
        if last_uid != Some(&q.dashboard_uid) {
            let _ = writeln!(
                out,
                "dashboard {} {:?} ({})",
                q.dashboard_uid, q.dashboard_title, q.file
            );
            last_uid = Some(&q.dashboard_uid);
        }
        let r = q
            .ref_id
            .as_deref()
            .map(|r| format!(" target {r}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {}{r} [{} uid={}]",
            q.what(),
            q.datasource_type,
            q.datasource_uid
        );
        let _ = writeln!(out, "    expr:     {}", q.expr);
        if q.expanded != q.expr {
            let _ = writeln!(out, "    expanded: {}", q.expanded);
        }
        let id = q.id();
        let mut vias: BTreeSet<&str> = shapes
            .iter()
            .filter(|s| s.id == id)
            .map(|s| s.via.as_str())
            .collect();
        let prefix = |via: &str| format!("dashboards.{via}.{id}");
        for r in results {
            for via in ["prometheus", "loki", "grafana"] {
                if r.name == prefix(via) {
                    vias.insert(via);
                }
            }
        }
        for via in vias {
            let line = match shapes.iter().find(|s| s.id == id && s.via == via) {
                Some(s) => {
                    let n = match counts {
                        Counts::Exact => format!("{} series", s.series),
                        Counts::NonEmpty => "non-empty".into(),
                    };
                    let l: Vec<&str> = s.labels.iter().map(String::as_str).collect();
                    format!("{n}, labels [{}]", l.join(", "))
                }
                None => match results
                    .iter()
                    .find(|r| r.name == prefix(via))
                    .map(|r| &r.verdict)
                {
                    Some(Verdict::NotRun { .. }) => "not run".into(),
                    Some(Verdict::Failed { .. }) => "FAILED".into(),
                    _ => "?".into(),
                },
            };
            let _ = writeln!(out, "    {via}: {line}");
        }
    }
    out
}
