//! The static gate: cross-checks a stack's compose file and configs without Docker.
//!
//! Entry points: [`lint`] (library) and [`lint_read`] (what `check` runs); the `obs-harness lint` command writes its output in [`crate::report::lint_output`].
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
//!      not a mounted folder and no dashboard file is mounted under it;
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
pub mod dashboards;
pub mod external;
pub mod links;
pub mod logql;
pub mod prod;
pub mod profile;
pub mod promql;
pub mod report;
pub mod rules;
pub mod validators;

pub use catalogue::Catalogue;
pub use report::{Finding, RanCheck, Report, Severity, SkippedCheck, Timings};

// The reading layer, under the gate: the gate judges what it reads.
pub use crate::read::configs as model;
pub use crate::read::ReadError as LintError;
pub use crate::read::{compose, locate};
pub(crate) use crate::read::{Doc, Stack, parse_yaml};
pub use crate::read::main_compose_file;

use compose::{ComposeInput, ComposeModel};
use model::*;
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
    /// `--env-file`s for interpolation (empty: the stack dir's `.env`).
    pub env_files: Vec<PathBuf>,
    /// Compose profiles to enable (`--profile`).
    pub compose_profiles: Vec<String>,
    /// Image per service for the services' own validators (`--image`), over
    /// `OBS_IMAGE_<SERVICE>` and the compose file.
    pub images: std::collections::BTreeMap<String, String>,
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

/// A stack read once: its model (which holds every file read) and its profile.
/// `check` reads the stack this way once, lints it, and hands it to the lifecycle
/// and the phases; nothing reads it again during the run.
pub struct Reading {
    pub model: crate::model::StackModel,
    pub profile: crate::profile::StackProfile,
    /// What reading noticed (lint reports them as notes).
    notes: Vec<crate::read::Note>,
}

/// Reads the compose project `input` describes in `stack_dir`, once: the model and the profile.
pub fn read_stack(stack_dir: &Path, input: &ComposeInput) -> Result<Reading, LintError> {
    let mut stack = crate::read::load(stack_dir, input)?;
    let notes = std::mem::take(&mut stack.notes);
    let profile = profile_of(&stack)?;
    Ok(Reading { model: crate::model::StackModel::build(stack)?, profile, notes })
}

fn profile_of(st: &Stack) -> Result<crate::profile::StackProfile, LintError> {
    let file = st.dir.join(crate::profile::OVERRIDE_FILE);
    let overrides = match std::fs::read_to_string(&file) {
        Ok(text) => Some((file.clone(), parse_yaml::<crate::profile::Overrides>(&file, &text)?)),
        Err(_) => None,
    };
    Ok(profile::derive(st, overrides))
}

/// Lints the stack in `stack_dir`.
pub fn lint(stack_dir: &Path, opts: &LintOptions) -> Result<Report, LintError> {
    lint_read(stack_dir, opts).map(|(r, _)| r)
}

/// Lints the stack in `stack_dir`, returning what it read with the report.
pub fn lint_read(stack_dir: &Path, opts: &LintOptions) -> Result<(Report, Reading), LintError> {
    let input = ComposeInput { files: opts.compose_files.clone(), env_files: opts.env_files.clone(), profiles: opts.compose_profiles.clone() };
    let t0 = Instant::now();
    let mut reading = read_stack(stack_dir, &input)?;
    let report = lint_reading(&mut reading, stack_dir, opts, t0)?;
    Ok((report, reading))
}

fn lint_reading(reading: &mut Reading, stack_dir: &Path, opts: &LintOptions, t0: Instant) -> Result<Report, LintError> {
    let mut report = Report::default();
    report.add_read_notes(std::mem::take(&mut reading.notes));
    let stack = &reading.model.stack;
    // `--catalogue FILE` > `<stack_dir>/catalogue.prom` > the built-in one (reference app) > none.
    let reference_app = || Ok(stack.compose.services.iter().any(|s| s.labels.get(crate::profile::ROLE_LABEL).is_some_and(|r| r == "reference-app")));
    let catalogue = catalogue_lookup(stack_dir, opts.catalogue.as_deref(), reference_app)?.map(|(c, _)| c.with_scrape_labels());
    let model = &reading.model;
    report.timings.parse = t0.elapsed();

    let t1 = Instant::now();
    cross_refs(stack, &mut report);
    for f in crate::lint::links::check(model) {
        if f.severity == Severity::Info { report.notes.push(f) } else { report.findings.push(f) }
    }
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
    let redactor = crate::redact::Redactor::of_stack(stack);
    for f in &mut report.findings {
        f.message = redactor.redact(&f.message);
        f.hint = f.hint.as_deref().map(|h| redactor.redact(h));
    }
    for s in &mut report.skipped {
        s.reason = redactor.redact(&s.reason);
        s.install_hint = redactor.redact(&s.install_hint);
    }
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
        let compose = ComposeModel::load_project(stack_dir, &ComposeInput::default())?;
        Ok(compose.services.iter().any(|s| s.labels.get(crate::profile::ROLE_LABEL).is_some_and(|r| r == "reference-app")))
    })
}

/// [`catalogue_for`] of a stack already read: `reference_app` says whether its
/// service under test is the reference app (no compose re-read).
pub fn catalogue_known(stack_dir: &Path, explicit: Option<&Path>, reference_app: bool) -> Result<Option<(Catalogue, String)>, LintError> {
    catalogue_lookup(stack_dir, explicit, || Ok(reference_app))
}

/// [`catalogue_for`], asking `reference_app` (is the service under test the reference app?) only when needed.
fn catalogue_lookup(
    stack_dir: &Path,
    explicit: Option<&Path>,
    reference_app: impl FnOnce() -> Result<bool, LintError>,
) -> Result<Option<(Catalogue, String)>, LintError> {
    let from_file = |p: &Path| -> Result<Option<(Catalogue, String)>, LintError> {
        let text = crate::read::read(p)?;
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

/// `(datasources, [(file relative to the stack dir, dashboard JSON)])`.
pub type Provisioned = (Vec<Datasource>, Vec<(String, serde_json::Value)>);

/// The datasources and dashboards the stack's Grafana provisions, found the
/// way the gate finds them (providers' paths mapped through the compose
/// mounts).
pub fn provisioned(stack_dir: &Path) -> Result<Provisioned, LintError> {
    Ok(provisioned_in(&crate::model::StackModel::load_input(stack_dir, &ComposeInput::default())?))
}

/// [`provisioned`] of a stack already read.
pub fn provisioned_in(model: &crate::model::StackModel) -> Provisioned {
    let st = &model.stack;
    let datasources = st.datasources.iter().flat_map(|d| d.doc.datasources.iter().cloned()).collect();
    (datasources, st.dashboards.iter().map(|d| (d.rel.clone(), d.doc.clone())).collect())
}

/// Prometheus's `global.scrape_interval` as the stack read sets it (its text), if it does.
pub fn scrape_interval_in(model: &crate::model::StackModel) -> Option<String> {
    let doc: serde_yaml::Value = serde_yaml::from_str(&model.stack.prom.as_ref()?.text).ok()?;
    doc.get("global")?.get("scrape_interval")?.as_str().map(str::to_owned)
}

/// The [`crate::profile::StackProfile`] of the stack in `stack_dir` (with
/// `obs-harness.yaml` beside the compose file applied, if present).
pub fn stack_profile(stack_dir: &Path, compose_files: &[PathBuf]) -> Result<crate::profile::StackProfile, LintError> {
    stack_profile_of(stack_dir, &ComposeInput::files(compose_files.iter().cloned()))
}

impl crate::profile::StackProfile {
    /// The profile of the stack whose compose file is `compose`; empty (every
    /// expectation "not derived") when it cannot be read.
    pub fn for_compose_file(compose: &Path) -> Self {
        let dir = compose.parent().unwrap_or(Path::new("."));
        stack_profile(dir, &[compose.to_owned()]).unwrap_or_default()
    }
}

/// [`stack_profile`] of the compose project `input` describes.
pub fn stack_profile_of(stack_dir: &Path, input: &ComposeInput) -> Result<crate::profile::StackProfile, LintError> {
    profile_of(&crate::read::load(stack_dir, input)?)
}

// ------------------------------------------------------------------ cross-refs

fn cross_refs(st: &Stack, report: &mut Report) {
    // Host, port, protocol and bind of every link: crate::lint::links.
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
    // Browser access: the user's browser calls the URL itself, where compose names do not resolve.
    for d in &st.datasources {
        for ds in &d.doc.datasources {
            let (Some(access), Some(url)) = (ds.access.as_deref(), ds.url.as_deref()) else { continue };
            if !matches!(access, "direct" | "browser") {
                continue;
            }
            let Some((host, _)) = compose::host_port(url) else { continue };
            if st.compose.service(&host).is_none() {
                continue;
            }
            let start = d.text.lines().position(|l| l.contains("name:") && l.contains(&ds.name)).unwrap_or(0);
            let line = d.text.lines().enumerate().skip(start).find(|(_, l)| l.trim_start().starts_with("access:")).map_or_else(|| locate::line_of(&d.text, url), |(i, _)| i + 1);
            report.findings.push(finding(
                &d.rel,
                line,
                "datasource-browser-access",
                format!("datasource `{}` has `access: {access}`: the user's browser calls `{url}` itself, and `{host}` is a compose service name that does not resolve outside the stack's network", ds.name),
                Some(format!("set `access: proxy` (Grafana's server reaches `{host}` on the stack's network)")),
            ));
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
            // A mounted folder, or dashboard files mounted one by one under the path.
            let host = grafana.and_then(|g| g.host_path(path));
            let seen = grafana.is_some_and(|g| !crate::read::visible_files(g, path, &["json"], true).is_empty());
            if !seen && !host.as_ref().is_some_and(|h| h.is_dir()) {
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
    let dir = l.cfg.ruler_directory();
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
    // Nobody sets a tenant only if every side was read: a log shipper the model does not
    // read (Alloy's `loki.write`, a kind it does not know) or a Grafana whose provisioning
    // is not mounted may set one.
    let grafana_unread = st.grafana_svc.is_some() && st.datasources.is_empty();
    let other_shippers = st.compose.services.iter().any(|s| crate::read::kind_is(s, "alloy"));
    if best.is_none() && (grafana_unread || other_shippers) {
        return;
    }
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
        // A rule's expression is looked for after its own `alert:`/`record:` line, so one
        // rule's finding never lands on another rule that shares the expression's first line.
        let anchor = origin.strip_prefix("rule ").and_then(|name| {
            let name = name.split(':').next().unwrap_or(name).trim();
            text.lines().position(|l| {
                let t = l.trim_start().trim_start_matches("- ").trim_start();
                (t.starts_with("alert:") || t.starts_with("record:")) && t.split_once(':').is_some_and(|(_, v)| v.trim().trim_matches(['"', '\'']) == name)
            })
        });
        let after = |needle: &str| -> Option<usize> {
            let a = anchor?;
            let first = needle.trim().lines().find(|l| !l.trim().is_empty())?.trim();
            text.lines().enumerate().skip(a).find(|(_, l)| l.contains(first)).map(|(i, _)| i + 1)
        };
        let line = after(expr).unwrap_or_else(|| locate::line_of_expr(text, expr));
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
                                    after(&matcher).unwrap_or(line),
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
    /// Rule set: `prod` adds the production-readiness rules (`--profile` is compose's)
    #[arg(long = "rules", value_enum, default_value_t = Profile::Dev)]
    pub profile: Profile,
    /// Do not run promtool/amtool or the services' own validators (they are reported as skipped).
    #[arg(long)]
    pub no_external: bool,
    /// Image whose own validator checks a service's config (repeatable); wins
    /// over OBS_IMAGE_<SERVICE> and the compose file. Never pulled.
    ///
    /// Example: --image loki=registry.example/loki:3.7.8
    #[arg(long = "image", value_name = "SERVICE=IMAGE", value_parser = crate::stack::images::parse_service_image)]
    pub images: Vec<(String, String)>,
    #[command(flatten)]
    pub compose: crate::read::compose::project::ComposeArgs,
}

