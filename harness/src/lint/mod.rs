//! The static gate: cross-checks a stack's compose file and configs without Docker.
//!
//! Entry points: [`lint`] (library) and [`lint_main`] (the `obs-harness lint` command).
//!
//! Phases (each timed in [`Timings`]):
//! 1. **parse** — the compose file (docker-compose-types) and every config it mounts,
//!    into the typed views of [`model`]; malformed YAML/JSON is a [`LintError`] naming
//!    file, line and column (exit code 2).
//! 2. **cross-refs** — one rule id per check:
//!    - `scrape-target-unknown-service`, `alerting-target-unknown-service`,
//!      `collector-exporter-unknown-service`, `promtail-client-unknown-service`,
//!      `datasource-url-unknown-service`, `loki-ruler-alertmanager-unknown-service`:
//!      the host:port names a compose service that listens on that port (see
//!      [`compose`] for the listening-port table);
//!    - `mount-source-missing`: a relative bind-mount source does not exist;
//!    - `config-not-mounted`: the `--config.file`/`-config.file`/`--config` path in a
//!      service's command is not covered by any of its mounts;
//!    - `dashboard-provider-path-not-mounted`: a Grafana dashboard provider `path` is
//!      not a mounted folder;
//!    - `dashboard-datasource-unknown`: a dashboard uses a datasource uid/name that is
//!      not provisioned; `datasource-link-unknown`: a provisioned datasource links
//!      (exemplars, derived fields) to an unprovisioned uid;
//!    - `rule-file-missing`: a `rule_files` entry of prometheus.yml (container path,
//!      globs allowed) maps through the mounts to no existing file;
//!    - `promtail-filter-no-match`: a Promtail `docker_sd_configs` label filter matches
//!      no compose service's labels;
//!    - `loki-tenant-mismatch`: with Loki `auth_enabled` (default true), Promtail's
//!      `tenant_id`, Grafana's Loki datasource `X-Scope-OrgID` header and the ruler's
//!      `<rules dir>/<tenant>/` directory must agree; the tenant most of them name is
//!      the reference and each one that differs is reported where it is set.
//! 3. **queries** — PromQL in dashboards and Prometheus rule files ([`promql`]:
//!    `promql-parse-error`, `promql-unknown-job` (a `job="…"`, or a `job=~"a|b"` none
//!    of whose alternatives, no scrape config defines), `promql-quantile-without-le`
//!    (`histogram_quantile` over buckets aggregated without `le`), and against the
//!    [`catalogue`] when one is given `promql-unknown-metric`, `promql-unknown-label`,
//!    `promql-rate-non-counter` (`rate`/`irate`/`increase` over a gauge, or a
//!    histogram/summary family's own name), `promql-quantile-non-histogram`
//!    (`histogram_quantile` over series without `le`); see [`promql::semantic`]),
//!    LogQL in Loki-datasource targets and Loki ruler files ([`logql`]:
//!    `logql-parse-error`, `logql-unknown-label-value`: a stream selector value no
//!    stream Promtail ships can have, from its relabel rules over the compose labels,
//!    for labels whose every value is known; see `profile::stream_values`).
//! 4. **external tools** — [`external`]: `promtool-check-config`, `promtool-check-rules`,
//!    `promtool-test-rules`, `amtool-check-config`; and [`validators`]: each
//!    service's own validator in its own image (`loki-verify-config`,
//!    `promtail-check-syntax`, `otelcol-validate`, `jaeger-validate`). Absent
//!    tools or images become [`SkippedCheck`]s.
//!
//! 5. **version compatibility** — [`compat`]: rows of `compat.yaml` (image
//!    version ranges plus a condition on the configs, each with its upstream
//!    source), e.g. `compat-grafana-jaeger-v1-api`, reported at the `image:` line.
//!    Timed under `cross_refs`.
//!
//! 6. **prod rules** (only with [`Profile::Prod`]) — [`prod`]: production-readiness
//!    rules (Grafana auth, Docker socket/privileged, Loki auth/retention/limits,
//!    Prometheus persistence/retention, Alertmanager receivers, collector exposure,
//!    literal secrets); rule ids are listed there. Timed under `cross_refs`.
//!
//! ## Compose files
//! By default the main compose file of the stack dir (`docker-compose.yml`,
//! `docker-compose.yaml`, `compose.yml`, `compose.yaml`) is read. With
//! [`LintOptions::compose_files`] (CLI `-f/--compose-file`, repeatable) exactly those
//! files are read and merged in order as `docker compose -f a -f b` does (see
//! [`compose::ComposeModel::load_files`]); relative paths in them resolve against the
//! stack dir. Findings about compose values name the file (and line) that set them.

pub mod catalogue;
pub mod compat;
pub mod compose;
pub mod dashboards;
pub mod external;
pub mod locate;
pub mod logql;
pub mod model;
pub mod prod;
pub mod profile;
pub mod promql;
pub mod report;
pub mod rules;
pub mod validators;

pub use catalogue::Catalogue;
pub use report::{Finding, RanCheck, Report, Severity, SkippedCheck, Timings};

use compose::{ComposeModel, normalise};
use model::*;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Which rule set applies: `prod` adds the [`prod`] rules to the `dev` checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Dev,
    Prod,
}

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    pub profile: Profile,
    /// Prometheus text exposition of the scraped app; metric/label checks need it.
    /// Default: `<stack_dir>/catalogue.prom` when present, else the reference app's
    /// (built in) when the stack marks its service under test
    /// `obs-harness.role: reference-app`, else none (see [`catalogue_for`]).
    pub catalogue: Option<PathBuf>,
    /// Run promtool/amtool when on PATH.
    pub external: bool,
    /// Compose files to merge in order (`docker compose -f a -f b`); empty means the
    /// stack dir's main compose file. Relative paths: against the current directory
    /// when the file exists there, else against the stack dir.
    pub compose_files: Vec<PathBuf>,
    /// Image per service for the services' own validators (`--image`), over
    /// `OBS_IMAGE_<SERVICE>` and the compose file.
    pub images: std::collections::BTreeMap<String, String>,
}

/// Input the gate cannot read: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
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
    #[error("{}: no compose file (docker-compose.yml, docker-compose.yaml, compose.yml, compose.yaml)", dir.display())]
    NoCompose { dir: PathBuf },
    #[error("{}: invalid metric catalogue: {message}", path.display())]
    Catalogue { path: PathBuf, message: String },
}

impl LintError {
    pub fn exit_code(&self) -> i32 {
        2
    }
}

pub(crate) fn parse_yaml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, LintError> {
    if let Some((line, col)) = flow_too_deep(text) {
        return Err(LintError::Yaml {
            path: path.to_owned(),
            line,
            col,
            message: format!("flow collections (`[`, `{{`) nested more than {MAX_FLOW_DEPTH} levels deep"),
        });
    }
    serde_yaml::from_str(text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        LintError::Yaml {
            path: path.to_owned(),
            line,
            col,
            message: e.to_string(),
        }
    })
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
                if q == b'"' && c == b'\\' {
                    i += 1;
                } else if c == q && q == b'\'' && next == Some(b'\'') {
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

pub(crate) fn parse_json<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, LintError> {
    serde_json::from_str(text).map_err(|e| LintError::Json {
        path: path.to_owned(),
        line: e.line(),
        col: e.column(),
        message: e.to_string(),
    })
}

fn read(path: &Path) -> Result<String, LintError> {
    std::fs::read_to_string(path).map_err(|e| LintError::Io {
        path: path.to_owned(),
        source: e,
    })
}

/// A config file found through the compose mounts (or the conventional path).
pub(crate) struct Comp<T> {
    pub(crate) rel: String,
    pub(crate) host: PathBuf,
    pub(crate) text: String,
    pub(crate) cfg: T,
    pub(crate) svc: Option<String>,
}

pub(crate) struct Doc<T> {
    pub(crate) rel: String,
    pub(crate) text: String,
    pub(crate) doc: T,
}

pub(crate) struct Stack {
    pub(crate) dir: PathBuf,
    pub(crate) compose: ComposeModel,
    pub(crate) prom: Option<Comp<PrometheusConfig>>,
    pub(crate) alertmanager: Option<Comp<AlertmanagerFile>>,
    pub(crate) collector: Option<Comp<CollectorConfig>>,
    pub(crate) promtail: Option<Comp<PromtailConfig>>,
    pub(crate) loki: Option<Comp<LokiConfig>>,
    pub(crate) grafana_svc: Option<String>,
    pub(crate) datasources: Vec<Doc<DatasourcesFile>>,
    pub(crate) providers: Vec<Doc<DashboardProvidersFile>>,
    pub(crate) dashboards: Vec<Doc<serde_json::Value>>,
    /// Prometheus rule files with the host path (for promtool).
    pub(crate) prom_rules: Vec<(Doc<serde_yaml::Value>, PathBuf)>,
    /// rule_files entries mapped to host paths/globs (for the promtool temp copy).
    pub(crate) prom_rule_globs: Vec<String>,
    pub(crate) prom_tests: Vec<(String, PathBuf)>,
    pub(crate) loki_rules: Vec<Doc<serde_yaml::Value>>,
}

impl Stack {
    pub(crate) fn rel(&self, p: &Path) -> String {
        let p = normalise(p);
        match p.strip_prefix(&self.dir) {
            Ok(r) => r.to_string_lossy().replace('\\', "/"),
            Err(_) => p.display().to_string(),
        }
    }
}

fn finding(file: &str, line: usize, rule: &str, message: String, hint: Option<String>) -> Finding {
    Finding {
        file: file.to_owned(),
        line,
        col: None,
        severity: Severity::Error,
        rule: rule.to_owned(),
        message,
        hint,
    }
}

/// Lints the stack in `stack_dir`.
pub fn lint(stack_dir: &Path, opts: &LintOptions) -> Result<Report, LintError> {
    let mut report = Report::default();
    let t0 = Instant::now();
    let stack = load(stack_dir, &opts.compose_files, &mut report)?;
    // `--catalogue FILE` > `<stack_dir>/catalogue.prom` > the built-in one (reference app) > none.
    let reference_app = || Ok(stack.compose.services.iter().any(|s| s.labels.get(crate::profile::ROLE_LABEL).is_some_and(|r| r == "reference-app")));
    let catalogue = catalogue_lookup(stack_dir, opts.catalogue.as_deref(), reference_app)?.map(|(c, _)| c.with_scrape_labels());
    // The stack model: every service's listeners and links, from the configs just read.
    let model = crate::model::StackModel::build(stack)?;
    let stack = &model.stack;
    report.timings.parse = t0.elapsed();

    let t1 = Instant::now();
    cross_refs(stack, &mut report);
    report.findings.extend(crate::model::links::check(&model));
    compat::check(stack, &mut report);
    if opts.profile == Profile::Prod {
        prod::check(stack, &mut report);
    }
    report.timings.cross_refs = t1.elapsed();

    let t2 = Instant::now();
    queries(stack, catalogue, &mut report);
    report.timings.queries = t2.elapsed();

    let t3 = Instant::now();
    let inputs = external::ExternalInputs {
        prometheus: stack
            .prom
            .as_ref()
            .map(|p| (p.rel.clone(), p.host.clone(), stack.prom_rule_globs.clone())),
        rule_files: stack
            .prom_rules
            .iter()
            .map(|(d, h)| (d.rel.clone(), h.clone()))
            .collect(),
        rule_tests: stack.prom_tests.clone(),
        alertmanager: stack
            .alertmanager
            .as_ref()
            .map(|a| (a.rel.clone(), a.host.clone())),
    };
    external::run(&inputs, opts.external, &mut report);
    validators::run(stack, &opts.images, opts.external, &mut report);
    report.timings.external_tools = t3.elapsed();
    // No secret of the stack in a finding (and so in any output made from them).
    crate::redact::Redactor::of_stack(stack).lint_report(&mut report);
    report.sort();
    Ok(report)
}

/// The metric catalogue file lint looks for beside the stack: `<stack_dir>/catalogue.prom`.
pub const CATALOGUE_FILE: &str = "catalogue.prom";

/// The metric catalogue lint uses for the stack in `stack_dir` (as exposed: no
/// `job`/`instance`, no recording rules), with where it came from. Order:
/// `explicit` (`--catalogue FILE`) > `<stack_dir>/catalogue.prom` > the built-in
/// reference-app catalogue when the service under test is labelled
/// `obs-harness.role: reference-app` > none. A file that does not parse is a
/// [`LintError::Catalogue`] naming it. Shared by lint and the live check
/// `app.catalogue_current`.
pub fn catalogue_for(stack_dir: &Path, explicit: Option<&Path>) -> Result<Option<(Catalogue, String)>, LintError> {
    catalogue_lookup(stack_dir, explicit, || {
        let file = main_compose_file(stack_dir).ok_or_else(|| LintError::NoCompose { dir: stack_dir.to_owned() })?;
        let compose = ComposeModel::load(stack_dir, file)?;
        Ok(compose.services.iter().any(|s| s.labels.get(crate::profile::ROLE_LABEL).is_some_and(|r| r == "reference-app")))
    })
}

/// [`catalogue_for`], asking `reference_app` (is the service under test the reference app?) only when needed.
fn catalogue_lookup(
    stack_dir: &Path,
    explicit: Option<&Path>,
    reference_app: impl FnOnce() -> Result<bool, LintError>,
) -> Result<Option<(Catalogue, String)>, LintError> {
    let from_file = |p: &Path| -> Result<Option<(Catalogue, String)>, LintError> {
        let text = read(p)?;
        let c = Catalogue::parse_exposition(&text).map_err(|m| LintError::Catalogue { path: p.to_owned(), message: m })?;
        Ok(Some((c, p.display().to_string())))
    };
    if let Some(p) = explicit {
        return from_file(p);
    }
    let beside = stack_dir.join(CATALOGUE_FILE);
    if beside.is_file() {
        return from_file(&beside);
    }
    if reference_app()? {
        let c = Catalogue::parse_exposition(catalogue::REFERENCE_APP)
            .map_err(|m| LintError::Catalogue { path: PathBuf::from("<built-in reference-app catalogue>"), message: m })?;
        return Ok(Some((c, "the built-in reference-app catalogue (fixtures/catalogue/reference-app.prom)".into())));
    }
    Ok(None)
}

/// The datasources and dashboards the stack's Grafana provisions, found the
/// way the gate finds them (providers' paths mapped through the compose
/// mounts): `(datasources, [(file relative to the stack dir, dashboard JSON)])`.
pub fn provisioned(stack_dir: &Path) -> Result<(Vec<Datasource>, Vec<(String, serde_json::Value)>), LintError> {
    let mut scratch = Report::default();
    let st = load(stack_dir, &[], &mut scratch)?;
    let datasources = st.datasources.iter().flat_map(|d| d.doc.datasources.iter().cloned()).collect();
    Ok((datasources, st.dashboards.into_iter().map(|d| (d.rel, d.doc)).collect()))
}

/// The [`crate::profile::StackProfile`] of the stack in `stack_dir` (with
/// `obs-harness.yaml` beside the compose file applied, if present).
pub fn stack_profile(stack_dir: &Path, compose_files: &[PathBuf]) -> Result<crate::profile::StackProfile, LintError> {
    let mut scratch = Report::default();
    let st = load(stack_dir, compose_files, &mut scratch)?;
    let file = st.dir.join(crate::profile::OVERRIDE_FILE);
    let overrides = match std::fs::read_to_string(&file) {
        Ok(text) => Some((file.clone(), parse_yaml::<crate::profile::Overrides>(&file, &text)?)),
        Err(_) => None,
    };
    Ok(profile::derive(&st, overrides))
}

/// The compose file a stack directory holds, by Compose's own file names.
pub fn main_compose_file(dir: &Path) -> Option<&'static str> {
    ["docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"].into_iter().find(|f| dir.join(f).is_file())
}

// ------------------------------------------------------------------ parse phase

pub(crate) fn load(
    stack_dir: &Path,
    compose_files: &[PathBuf],
    report: &mut Report,
) -> Result<Stack, LintError> {
    let abs = |p: &Path| normalise(&std::path::absolute(p).unwrap_or_else(|_| p.to_owned()));
    let dir = abs(stack_dir);
    let files: Vec<PathBuf> = if compose_files.is_empty() {
        vec![dir.join(main_compose_file(&dir).ok_or_else(|| LintError::NoCompose { dir: stack_dir.to_owned() })?)]
    } else {
        compose_files
            .iter()
            .map(|f| {
                if f.is_absolute() || f.is_file() {
                    abs(f)
                } else {
                    normalise(&dir.join(f))
                }
            })
            .collect()
    };
    let compose = ComposeModel::load_files(&dir, &files)?;
    let mut st = Stack {
        dir: dir.clone(),
        compose,
        prom: None,
        alertmanager: None,
        collector: None,
        promtail: None,
        loki: None,
        grafana_svc: None,
        datasources: vec![],
        providers: vec![],
        dashboards: vec![],
        prom_rules: vec![],
        prom_rule_globs: vec![],
        prom_tests: vec![],
        loki_rules: vec![],
    };

    // Mount sources and config flags.
    for svc in &st.compose.services {
        for m in &svc.mounts {
            if let (true, Some(h)) = (m.relative, &m.host)
                && !h.exists()
            {
                report.findings.push(finding(
                    &m.origin.file,
                    m.origin.line,
                    "mount-source-missing",
                    format!(
                        "service `{}` mounts `{}`, which does not exist",
                        svc.name, m.source
                    ),
                    Some(format!("create {} or fix the volume entry", m.source)),
                ));
            }
        }
        if let Some(flag) = svc.config_flag()
            && !svc.is_mounted(&flag)
        {
            let (file, line) = match &svc.command_origin {
                Some(o) => (
                    o.file.clone(),
                    compose::line_in_service(st.compose.text_of(&o.file), &svc.name, |l| {
                        l.contains(flag.as_str())
                    }),
                ),
                None => (svc.origin.file.clone(), svc.origin.line),
            };
            report.findings.push(finding(
                &file,
                line,
                "config-not-mounted",
                format!(
                    "service `{}` reads its config from `{flag}`, but no volume is mounted there",
                    svc.name
                ),
                Some(format!("add a volume like `./<dir>/<file>:{flag}:ro`")),
            ));
        }
    }

    st.prom = component(&st, "prom/prometheus", "prometheus/prometheus.yml")?;
    st.alertmanager = component(&st, "prom/alertmanager", "alertmanager/alertmanager.yml")?;
    st.collector = component(&st, "opentelemetry-collector", "otel-collector/config.yaml")?;
    st.promtail = component(&st, "grafana/promtail", "promtail/config.yaml")?;
    st.loki = component(&st, "grafana/loki", "loki/config.yaml")?;

    // Grafana provisioning.
    let grafana = st.compose.by_image("grafana/grafana").cloned();
    st.grafana_svc = grafana.as_ref().map(|s| s.name.clone());
    let prov = grafana
        .as_ref()
        .and_then(|g| g.host_path("/etc/grafana/provisioning"))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| dir.join("grafana/provisioning"));
    for f in yaml_files(&prov.join("datasources")) {
        let text = read(&f)?;
        let doc = parse_yaml(&f, &text)?;
        st.datasources.push(Doc {
            rel: st.rel(&f),
            text,
            doc,
        });
    }
    for f in yaml_files(&prov.join("dashboards")) {
        let text = read(&f)?;
        let doc = parse_yaml(&f, &text)?;
        st.providers.push(Doc {
            rel: st.rel(&f),
            text,
            doc,
        });
    }
    let mut dash_dirs: Vec<PathBuf> = Vec::new();
    for p in &st.providers {
        for pr in &p.doc.providers {
            if let (Some(path), Some(g)) = (&pr.options.path, &grafana)
                && let Some(h) = g.host_path(path).filter(|h| h.is_dir())
            {
                dash_dirs.push(h);
            }
        }
    }
    if dash_dirs.is_empty() && dir.join("grafana/dashboards").is_dir() {
        dash_dirs.push(dir.join("grafana/dashboards"));
    }
    dash_dirs.sort();
    dash_dirs.dedup();
    for d in dash_dirs {
        for f in files_with(&d, &["json"], true) {
            let text = read(&f)?;
            let doc = parse_json(&f, &text)?;
            st.dashboards.push(Doc {
                rel: st.rel(&f),
                text,
                doc,
            });
        }
    }

    // Prometheus rule files.
    if let Some(p) = &st.prom {
        let svc = p
            .svc
            .as_deref()
            .and_then(|s| st.compose.service(s))
            .cloned();
        let cfg_dir = svc
            .as_ref()
            .and_then(|s| s.config_flag())
            .and_then(|f| {
                Path::new(&f)
                    .parent()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "/etc/prometheus".into());
        let mut globs = Vec::new();
        let mut files = Vec::new();
        for entry in &p.cfg.rule_files {
            let container = if entry.starts_with('/') {
                entry.clone()
            } else {
                format!("{cfg_dir}/{entry}")
            };
            let host = match &svc {
                Some(s) => s.host_path(&container),
                None => Some(p.host.parent().unwrap_or(&dir).join(entry)),
            };
            let line = locate::line_of(&p.text, entry);
            let Some(host) = host else {
                report.findings.push(finding(
                    &p.rel,
                    line,
                    "rule-file-missing",
                    format!("rule file `{entry}` is not under any volume mounted into `{}`", p.svc.as_deref().unwrap_or("prometheus")),
                    Some("mount the rules directory, e.g. `./prometheus/rules:/etc/prometheus/rules:ro`".into()),
                ));
                continue;
            };
            let matched = glob(&host);
            if matched.is_empty() {
                report.findings.push(finding(
                    &p.rel,
                    line,
                    "rule-file-missing",
                    format!(
                        "rule file `{entry}` (host `{}`) matches no file",
                        st.rel(&host)
                    ),
                    None,
                ));
            }
            globs.push(host.to_string_lossy().into_owned());
            files.extend(matched);
        }
        files.sort();
        files.dedup();
        for f in files {
            let text = read(&f)?;
            let doc = parse_yaml(&f, &text)?;
            st.prom_rules.push((
                Doc {
                    rel: st.rel(&f),
                    text,
                    doc,
                },
                f,
            ));
        }
        st.prom_rule_globs = globs;
        if let Some(pdir) = p.host.parent() {
            for f in yaml_files(&pdir.join("tests")) {
                st.prom_tests.push((st.rel(&f), f));
            }
        }
    }

    // Loki ruler rules: <directory>/<tenant>/*.yml.
    if let Some(l) = &st.loki {
        let container = l
            .cfg
            .ruler
            .as_ref()
            .and_then(|r| r.storage.as_ref())
            .and_then(|s| s.local.as_ref())
            .and_then(|l| l.directory.clone());
        let svc = l.svc.as_deref().and_then(|s| st.compose.service(s));
        let host = container
            .and_then(|c| svc.and_then(|s| s.host_path(&c)))
            .filter(|h| h.is_dir())
            .or_else(|| Some(dir.join("loki/rules")).filter(|h| h.is_dir()));
        if let Some(h) = host {
            for f in files_with(&h, &["yml", "yaml"], true) {
                let text = read(&f)?;
                let doc = parse_yaml(&f, &text)?;
                st.loki_rules.push(Doc {
                    rel: st.rel(&f),
                    text,
                    doc,
                });
            }
        }
    }
    Ok(st)
}

fn component<T: DeserializeOwned>(
    st: &Stack,
    frag: &str,
    fallback: &str,
) -> Result<Option<Comp<T>>, LintError> {
    let svc = st.compose.by_image(frag);
    let mounted = svc
        .and_then(|s| s.config_flag().and_then(|f| s.host_path(&f)))
        .filter(|h| h.is_file());
    let host = match mounted {
        Some(h) => h,
        None => {
            let f = st.dir.join(fallback);
            if !f.is_file() {
                return Ok(None);
            }
            f
        }
    };
    let text = read(&host)?;
    let cfg = parse_yaml(&host, &text)?;
    Ok(Some(Comp {
        rel: st.rel(&host),
        host,
        text,
        cfg,
        svc: svc.map(|s| s.name.clone()),
    }))
}

fn files_with(dir: &Path, exts: &[&str], recursive: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if recursive {
                out.extend(files_with(&p, exts, true));
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, &["yml", "yaml"], false)
}

/// Files matching a path whose last component may contain `*`/`?`.
fn glob(p: &Path) -> Vec<PathBuf> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if p.is_file() {
            vec![p.to_owned()]
        } else {
            vec![]
        };
    }
    let re = format!(
        "^{}$",
        regex::escape(&name)
            .replace("\\*", ".*")
            .replace("\\?", ".")
    );
    let Ok(re) = regex::Regex::new(&re) else {
        return vec![];
    };
    let dir = p.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|f| {
            f.is_file()
                && f.file_name()
                    .is_some_and(|n| re.is_match(&n.to_string_lossy()))
        })
        .collect();
    out.sort();
    out
}

// ------------------------------------------------------------------ cross-refs

fn cross_refs(st: &Stack, report: &mut Report) {
    // Host, port, protocol and bind of every link: crate::model::links.
    if let Some(p) = &st.promtail {
        for sc in &p.cfg.scrape_configs {
            for sd in &sc.docker_sd_configs {
                for f in sd.filters.iter().filter(|f| f.name == "label") {
                    for v in &f.values {
                        let (k, val) = match v.split_once('=') {
                            Some((k, v)) => (k, Some(v)),
                            None => (v.as_str(), None),
                        };
                        let ok = st.compose.services.iter().any(|s| {
                            s.labels
                                .get(k)
                                .is_some_and(|sv| val.is_none_or(|x| x == sv))
                        });
                        if !ok {
                            let have: Vec<String> = st
                                .compose
                                .services
                                .iter()
                                .filter(|s| !s.labels.is_empty())
                                .map(|s| {
                                    let l: Vec<String> =
                                        s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                                    format!("{}: {}", s.name, l.join(", "))
                                })
                                .collect();
                            report.findings.push(finding(
                                &p.rel,
                                locate::line_of(&p.text, v),
                                "promtail-filter-no-match",
                                format!("docker_sd_configs label filter `{v}` matches no compose service, so no logs are shipped"),
                                Some(if have.is_empty() {
                                    "no service has labels".into()
                                } else {
                                    format!("service labels: {}", have.join("; "))
                                }),
                            ));
                        }
                    }
                }
            }
        }
    }
    let provisioned: Vec<&Datasource> = st
        .datasources
        .iter()
        .flat_map(|d| &d.doc.datasources)
        .collect();
    let known_uids: BTreeSet<&str> = provisioned
        .iter()
        .flat_map(|d| d.uid.as_deref().into_iter().chain([d.name.as_str()]))
        .collect();
    for d in &st.datasources {
        for ds in &d.doc.datasources {
            let mut links = Vec::new();
            for key in ["exemplarTraceIdDestinations", "derivedFields"] {
                if let Some(seq) = ds.json_data.get(key).and_then(|v| v.as_sequence()) {
                    links.extend(
                        seq.iter()
                            .filter_map(|v| v.get("datasourceUid").and_then(|u| u.as_str())),
                    );
                }
            }
            for uid in links {
                if !known_uids.contains(uid) {
                    report.findings.push(finding(
                        &d.rel,
                        locate::line_with(&d.text, "datasourceUid", uid),
                        "datasource-link-unknown",
                        format!("datasource `{}` links to datasource uid `{uid}`, which is not provisioned", ds.name),
                        Some(format!("provisioned: {}", known_uids.iter().copied().collect::<Vec<_>>().join(", "))),
                    ));
                }
            }
        }
    }
    // Dashboard providers.
    let grafana = st
        .grafana_svc
        .as_deref()
        .and_then(|g| st.compose.service(g));
    for p in &st.providers {
        for pr in &p.doc.providers {
            let Some(path) = &pr.options.path else {
                continue;
            };
            let host = grafana.and_then(|g| g.host_path(path));
            if !host.as_ref().is_some_and(|h| h.is_dir()) {
                report.findings.push(finding(
                    &p.rel,
                    locate::line_of(&p.text, path),
                    "dashboard-provider-path-not-mounted",
                    format!("dashboard provider `{}` reads `{path}`, which is not a folder mounted into Grafana", pr.name),
                    Some(format!("mount the dashboards folder, e.g. `./grafana/dashboards:{path}:ro`")),
                ));
            }
        }
    }
    // Dashboard datasource uids.
    let owned: Vec<Datasource> = provisioned.iter().map(|d| (*d).clone()).collect();
    for d in &st.dashboards {
        let (_, refs) = dashboards::extract(&d.doc, &owned);
        let mut seen = BTreeSet::new();
        for r in refs {
            if known_uids.contains(r.uid.as_str()) || !seen.insert(r.uid.clone()) {
                continue;
            }
            report.findings.push(finding(
                &d.rel,
                locate::line_with(&d.text, "uid", &format!("\"{}\"", r.uid)),
                "dashboard-datasource-unknown",
                format!(
                    "{} uses datasource `{}`, which is not provisioned",
                    r.origin, r.uid
                ),
                Some(format!(
                    "provisioned uids: {}",
                    known_uids.iter().copied().collect::<Vec<_>>().join(", ")
                )),
            ));
        }
    }
    tenancy(st, report);
}

/// What the stack says about its Loki tenant: the Loki datasources, the
/// ruler's directory and tenant folders, and the tenant most places agree on.
struct Tenancy<'a> {
    loki_ds: Vec<(&'a Doc<DatasourcesFile>, &'a Datasource)>,
    dir: Option<String>,
    ruler_host: Option<PathBuf>,
    ruler_tenants: Vec<String>,
    /// (votes, tenant, where it is set)
    best: Option<(usize, String, &'static str)>,
}

/// `None` when Loki is absent or runs without auth.
fn tenancy_facts(st: &Stack) -> Option<Tenancy<'_>> {
    let l = st.loki.as_ref()?;
    if !l.cfg.auth_enabled.unwrap_or(true) {
        return None;
    }
    let loki_ds: Vec<(&Doc<DatasourcesFile>, &Datasource)> = st
        .datasources
        .iter()
        .flat_map(|d| d.doc.datasources.iter().map(move |ds| (d, ds)))
        .filter(|(_, ds)| ds.kind == "loki")
        .collect();
    let dir = l
        .cfg
        .ruler
        .as_ref()
        .and_then(|r| r.storage.as_ref())
        .and_then(|s| s.local.as_ref())
        .and_then(|x| x.directory.clone());
    let ruler_host = dir.as_ref().and_then(|d| {
        l.svc
            .as_deref()
            .and_then(|s| st.compose.service(s))
            .and_then(|s| s.host_path(d))
            .filter(|h| h.is_dir())
    });
    let ruler_tenants: Vec<String> = ruler_host
        .iter()
        .flat_map(|h| std::fs::read_dir(h).into_iter().flatten().flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // The stack's tenant is the one most places agree on (ties: Grafana, Promtail, ruler).
    let mut votes: Vec<(String, &'static str)> = Vec::new();
    votes.extend(
        loki_ds
            .iter()
            .filter_map(|(_, ds)| ds.header("X-Scope-OrgID"))
            .map(|t| (t, "Grafana's Loki datasource X-Scope-OrgID")),
    );
    if let Some(p) = &st.promtail {
        votes.extend(
            p.cfg
                .clients
                .iter()
                .filter_map(|c| c.tenant_id.clone())
                .map(|t| (t, "Promtail's tenant_id")),
        );
    }
    votes.extend(
        ruler_tenants
            .iter()
            .map(|t| (t.clone(), "the ruler's tenant directory")),
    );
    let mut best: Option<(usize, String, &'static str)> = None;
    for (t, src) in &votes {
        let n = votes.iter().filter(|(x, _)| x == t).count();
        if best.as_ref().is_none_or(|(bn, _, _)| n > *bn) {
            best = Some((n, t.clone(), src));
        }
    }
    Some(Tenancy { loki_ds, dir, ruler_host, ruler_tenants, best })
}

fn tenancy(st: &Stack, report: &mut Report) {
    let Some(Tenancy { loki_ds, dir, ruler_host, ruler_tenants, best }) = tenancy_facts(st) else { return };
    let Some(l) = &st.loki else { return };
    let Some((n, reference, src)) = best else {
        report.findings.push(finding(
            &l.rel,
            locate::line_of(&l.text, "auth_enabled"),
            "loki-tenant-mismatch",
            "Loki runs with auth_enabled: true, but neither Promtail nor Grafana sets a tenant"
                .into(),
            Some(
                "set Promtail `tenant_id` and the Grafana Loki datasource `X-Scope-OrgID` header"
                    .into(),
            ),
        ));
        return;
    };
    let src = if n > 1 { "the rest of the stack" } else { src };
    if let Some(p) = &st.promtail {
        for c in &p.cfg.clients {
            match &c.tenant_id {
                None => report.findings.push(finding(
                    &p.rel,
                    locate::line_of(&p.text, &c.url),
                    "loki-tenant-mismatch",
                    format!("client `{}` sets no tenant_id, but Loki has auth_enabled: true (tenant `{reference}`)", c.url),
                    Some(format!("add `tenant_id: {reference}`")),
                )),
                Some(t) if *t != reference => report.findings.push(finding(
                    &p.rel,
                    locate::line_with(&p.text, "tenant_id", t),
                    "loki-tenant-mismatch",
                    format!("Promtail pushes as tenant `{t}`, but {src} is `{reference}`"),
                    Some(format!("use one tenant everywhere, e.g. `tenant_id: {reference}`")),
                )),
                _ => {}
            }
        }
    }
    for (d, ds) in &loki_ds {
        match ds.header("X-Scope-OrgID") {
            None => report.findings.push(finding(
                &d.rel,
                locate::line_with(&d.text, "uid", ds.uid.as_deref().unwrap_or(&ds.name)),
                "loki-tenant-mismatch",
                format!("Loki datasource `{}` sends no X-Scope-OrgID, but Loki has auth_enabled: true", ds.name),
                Some(format!("set httpHeaderName1: X-Scope-OrgID and secureJsonData.httpHeaderValue1: {reference}")),
            )),
            Some(t) if t != reference => report.findings.push(finding(
                &d.rel,
                locate::line_with(&d.text, "httpHeaderValue", &t),
                "loki-tenant-mismatch",
                format!("Loki datasource `{}` queries tenant `{t}`, but the stack's tenant is `{reference}`", ds.name),
                None,
            )),
            _ => {}
        }
    }
    if let (Some(dir), Some(host)) = (dir, ruler_host)
        && !host.join(&reference).is_dir()
    {
        report.findings.push(finding(
                &l.rel,
                locate::line_with(&l.text, "directory", &dir),
                "loki-tenant-mismatch",
                format!(
                    "the ruler reads `{dir}/<tenant>/`, but there is no `{reference}/` under {} (tenant dirs: {})",
                    st.rel(&host),
                    if ruler_tenants.is_empty() { "none".into() } else { ruler_tenants.join(", ") }
                ),
                Some(format!("move the rule files to {}/{reference}/", st.rel(&host))),
            ));
    }
}

// ------------------------------------------------------------------ queries

/// Catalogue plus recording-rule outputs, `ALERTS` and `ALERTS_FOR_STATE`.
fn extend_with_rules(mut cat: Catalogue, rules: &[rules::RuleExpr]) -> Catalogue {
    for r in rules {
        let Some(rec) = &r.record else { continue };
        let Ok(e) = promql::parse(&r.expr) else {
            continue;
        };
        let mut scratch = Vec::new();
        match promql::infer(&e, &cat, &mut scratch) {
            Some(mut l) => {
                l.extend(r.labels.iter().cloned());
                cat.insert(rec, l);
            }
            None => {
                cat.open.insert(rec.clone());
            }
        }
    }
    cat.open.insert("ALERTS".into());
    cat.open.insert("ALERTS_FOR_STATE".into());
    cat
}

fn queries(st: &Stack, catalogue: Option<Catalogue>, report: &mut Report) {
    let prom_rules: Vec<(
        &Doc<serde_yaml::Value>,
        rules::RuleFileKind,
        Vec<rules::RuleExpr>,
    )> = st
        .prom_rules
        .iter()
        .map(|(d, _)| {
            let (k, r) = rules::analyse(&d.doc, false);
            (d, k, r)
        })
        .collect();
    let catalogue = catalogue.map(|c| {
        let all: Vec<rules::RuleExpr> = prom_rules.iter().flat_map(|(_, _, r)| r.clone()).collect();
        extend_with_rules(c, &all)
    });
    if catalogue.is_none() {
        report.skipped.push(SkippedCheck {
            name: "metric catalogue".into(),
            reason: format!(
                "no metric catalogue (none given with --catalogue, no {} in the stack directory, and the service under test is not labelled `obs-harness.role: reference-app`): metric and label names in queries were not checked",
                st.dir.join(CATALOGUE_FILE).display()
            ),
            install_hint: format!(
                "record one from the running app: `obs-harness catalogue record --from http://HOST:PORT/metrics -o {0}` (or `> {0}`), or pass --catalogue FILE",
                st.dir.join(CATALOGUE_FILE).display()
            ),
        });
    }
    let streams = profile::stream_values(st);
    let mut check = |file: &str, text: &str, expr: &str, lang: &dashboards::Lang, origin: &str| {
        let line = locate::line_of_expr(text, expr);
        match lang {
            dashboards::Lang::PromQL => match promql::parse(expr) {
                Err(e) => report.findings.push(finding(
                    file,
                    line,
                    "promql-parse-error",
                    format!("{origin}: invalid PromQL `{}`: {e}", expr.trim()),
                    None,
                )),
                Ok(ast) => {
                    // A job no scrape config defines selects nothing, ever.
                    // (`job=~"a|b"`: when no alternative names a job.) A value with a
                    // Grafana variable in it is not checked.
                    let vars = promql::grafana_var_names(expr);
                    let from_var = |v: &str| v.contains('$') || vars.iter().any(|n| v.contains(n.as_str()));
                    if let Some(p) = &st.prom {
                        let jobs: Vec<&str> = p.cfg.scrape_configs.iter().map(|sc| sc.job_name.as_str()).collect();
                        for (matcher, values) in promql::literal_matchers(&ast, "job") {
                            if !values.iter().any(|j| jobs.contains(&j.as_str()) || from_var(j)) {
                                let job = &values[0];
                                report.findings.push(finding(
                                    file,
                                    line,
                                    "promql-unknown-job",
                                    format!("{origin}: `{matcher}` names no scrape job of {} (jobs: {})", p.rel, jobs.join(", ")),
                                    Some(format!("rename the job here, or add `job_name: {job}` to {}: a rename must reach both ends", p.rel)),
                                ));
                            }
                        }
                    }
                    for i in promql::check_query(&ast, catalogue.as_ref()) {
                        report.findings.push(finding(
                            file,
                            line,
                            i.rule,
                            format!("{origin}: {}", i.message),
                            i.hint,
                        ));
                    }
                }
            },
            dashboards::Lang::LogQL => {
                if let Err(e) = logql::check(expr) {
                    report.findings.push(finding(
                        file,
                        line,
                        "logql-parse-error",
                        format!("{origin}: invalid LogQL `{}`: {e}", expr.trim()),
                        None,
                    ));
                    return;
                }
                // A stream label value no shipped stream has: the query is always empty.
                for m in logql::stream_matchers(expr) {
                    let Some(known) = streams.get(&m.label) else { continue };
                    let values = match m.op {
                        "=" => vec![m.value.clone()],
                        "=~" => match promql::regex_literals(&m.value) {
                            Some(v) => v,
                            None => continue,
                        },
                        _ => continue,
                    };
                    if values.iter().any(|v| v.is_empty() || v.contains('$') || v.contains("[[") || known.contains(v)) {
                        continue;
                    }
                    let list = known.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ");
                    let src = st.promtail.as_ref().map_or("Promtail's config", |p| p.rel.as_str());
                    report.findings.push(finding(
                        file,
                        line,
                        "logql-unknown-label-value",
                        format!(
                            "{origin}: `{}{}{:?}` matches no stream the stack ships: the values of `{}` are {list}",
                            m.label, m.op, m.value, m.label
                        ),
                        Some(format!(
                            "use a value the stack produces for `{}` ({list}, from the relabel rules of {src} over the compose labels), or change the label where it is set",
                            m.label
                        )),
                    ));
                }
            }
            dashboards::Lang::Other(_) => {}
        }
    };
    let provisioned: Vec<Datasource> = st
        .datasources
        .iter()
        .flat_map(|d| d.doc.datasources.clone())
        .collect();
    for d in &st.dashboards {
        let (qs, _) = dashboards::extract(&d.doc, &provisioned);
        for q in qs {
            check(&d.rel, &d.text, &q.expr, &q.lang, &q.origin);
        }
    }
    for (d, kind, rs) in &prom_rules {
        let lang = if *kind == rules::RuleFileKind::Loki {
            dashboards::Lang::LogQL
        } else {
            dashboards::Lang::PromQL
        };
        for r in rs {
            check(&d.rel, &d.text, &r.expr, &lang, &format!("rule {}", r.name));
        }
    }
    for d in &st.loki_rules {
        let (_, rs) = rules::analyse(&d.doc, true);
        for r in rs {
            check(
                &d.rel,
                &d.text,
                &r.expr,
                &dashboards::Lang::LogQL,
                &format!("rule {}", r.name),
            );
        }
    }
}

// ------------------------------------------------------------------ CLI

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// JUnit XML (one case per finding / external check), for CI test reporters.
    Junit,
}

/// `obs-harness lint` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct LintArgs {
    /// The stack directory (holds docker-compose.yml).
    #[arg(default_value = "stack")]
    pub stack_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print how long each phase took.
    #[arg(long)]
    pub timings: bool,
    /// Prometheus text exposition of the app (metric catalogue for query checks).
    /// Default: <STACK_DIR>/catalogue.prom, else the built-in one for a stack whose
    /// service under test is labelled obs-harness.role: reference-app.
    /// Record one with `obs-harness catalogue record --from URL -o <STACK_DIR>/catalogue.prom`.
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,
    /// Rule profile.
    #[arg(long, value_enum, default_value_t = Profile::Dev)]
    pub profile: Profile,
    /// Do not run promtool/amtool or the services' own validators (they are reported as skipped).
    #[arg(long)]
    pub no_external: bool,
    /// Image whose own validator checks a service's config (repeatable); wins
    /// over OBS_IMAGE_<SERVICE> and the compose file. Never pulled.
    ///
    /// Example: --image loki=registry.example/loki:3.7.8
    #[arg(long = "image", value_name = "SERVICE=IMAGE", value_parser = crate::images::parse_service_image)]
    pub images: Vec<(String, String)>,
    /// Compose file to read; repeat to merge overrides in order, as
    /// `docker compose -f a -f b` does (default: <STACK_DIR>/docker-compose.yml).
    #[arg(short = 'f', long = "compose-file", value_name = "FILE")]
    pub compose_files: Vec<PathBuf>,
}

/// Runs the gate, prints the report, returns the exit code (0 clean, 1 findings, 2 unreadable input).
/// The lint report in the shape of a run report (JUnit, annotations).
fn as_run_report(r: &Report) -> crate::report::RunReport {
    let mut run = crate::report::RunReport::new("static gate", "n/a");
    run.add_phase("lint", r.timings.parse + r.timings.cross_refs + r.timings.queries + r.timings.external_tools, crate::report::lint_checks(r, r.timings.parse));
    run.lint_findings = r.findings.clone();
    run.complete = true;
    run
}

pub fn lint_main(args: LintArgs) -> i32 {
    let opts = LintOptions {
        profile: args.profile,
        catalogue: args.catalogue.clone(),
        external: !args.no_external,
        compose_files: args.compose_files.clone(),
        images: args.images.iter().cloned().collect(),
    };
    match lint(&args.stack_dir, &opts) {
        Ok(r) => {
            match args.format {
                Format::Text => {
                    print!("{}", r.render_text());
                    if args.timings {
                        print!("{}", r.render_timings());
                    }
                    if r.is_clean() {
                        let ran = r.ran.len();
                        println!(
                            "lint: clean ({ran} external check(s) ran, {} skipped)",
                            r.skipped.len()
                        );
                    }
                }
                Format::Json => println!("{}", r.to_json()),
                Format::Junit => print!("{}", as_run_report(&r).to_junit()),
            }
            // In GitHub Actions, findings also become workflow annotations on their file and line.
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                print!("{}", as_run_report(&r).github_annotations(&args.stack_dir));
            }
            crate::report_html::append_step_summary(&as_run_report(&r), "lint", None);
            r.exit_code()
        }
        Err(e) => {
            match args.format {
                Format::Text => eprintln!("error: {}", crate::redact::patterns(&e.to_string())),
                Format::Json | Format::Junit => println!("{}", serde_json::json!({ "error": crate::redact::patterns(&e.to_string()) })),
            }
            crate::report_html::append_step_summary_error("lint", &e.to_string());
            e.exit_code()
        }
    }
}
