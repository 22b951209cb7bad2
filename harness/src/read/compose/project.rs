//! A compose project read as `docker compose config` reads it.
//!
//! - **Files**: every `-f` file merged in order ([`super::ComposeModel`] keeps
//!   where each value came from); `include:` projects first, each with its own
//!   directory and `.env`; `extends:` (same file or another) applied under the
//!   service that extends it.
//! - **Interpolation** ([`super::interpolate`]): the process environment first, then
//!   `--env-file` files, else `.env` in the project directory. An unset variable with
//!   no default becomes empty with a warning naming it; `${VAR:?msg}` refuses the file.
//! - **YAML**: anchors, aliases and merge keys (`<<: *x`); `x-` extensions ignored.
//! - **Attributes**: every attribute of the Compose Specification is accepted
//!   ([`super::spec`]); one outside it is a warning, as it is not what compose runs.
//! - **Profiles**: services without `profiles:` plus those of `--profile` or `COMPOSE_PROFILES`.
//! - **`env_file:`** feeds the service's environment (`environment:` wins).
//! - **Top-level `configs:`/`secrets:`** with `file:` sources become mounts.

use super::interpolate::{InterpolationError, interpolate, parse_dotenv};
use super::{ComposeFile, ComposeModel, Mount, Origin, normalise, scalar, service_span, spec};
use crate::read::{Level, Note, ReadError, parse_yaml};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What to read: the compose options `lint`, `check`, `profile`, `graph` and `stack up` share.
#[derive(Debug, Clone, Default)]
pub struct ComposeInput {
    /// Compose files merged in order (`-f a -f b`); empty: the project directory's main file.
    pub files: Vec<PathBuf>,
    /// `--env-file` (repeatable), for interpolation; empty: `<project dir>/.env` when present.
    pub env_files: Vec<PathBuf>,
    /// `--profile` (repeatable); `COMPOSE_PROFILES` adds to it.
    pub profiles: Vec<String>,
}

/// The compose options on the command line of `lint`, `check`, `profile`, `graph` and `stack up`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ComposeArgs {
    /// Compose file to read; repeat to merge overrides in order, as `docker compose -f a -f b`
    /// does (default: the stack directory's docker-compose.yml, docker-compose.yaml, compose.yml or compose.yaml)
    #[arg(short = 'f', long = "compose-file", visible_alias = "compose", value_name = "FILE")]
    pub compose_files: Vec<PathBuf>,
    /// Env file for `${VAR}` interpolation, repeatable, as `docker compose --env-file`
    /// (default: .env in the stack directory; the process environment wins over both)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Compose profile to enable, repeatable, as `docker compose --profile` (COMPOSE_PROFILES adds to it)
    #[arg(long = "profile", value_name = "NAME")]
    pub profiles: Vec<String>,
}

impl ComposeArgs {
    pub fn input(&self) -> ComposeInput {
        ComposeInput { files: self.compose_files.clone(), env_files: self.env_files.clone(), profiles: self.profiles.clone() }
    }
}

impl ComposeInput {
    pub fn files(files: impl IntoIterator<Item = PathBuf>) -> Self {
        Self { files: files.into_iter().collect(), ..Default::default() }
    }
}

/// The variables interpolation reads: the process environment first, then the env files.
#[derive(Debug, Clone, Default)]
pub struct ProjectEnv {
    vars: BTreeMap<String, String>,
}

impl ProjectEnv {
    /// `env_files`, or `<dir>/.env` when none is given and it exists.
    pub fn load(dir: &Path, env_files: &[PathBuf]) -> Result<Self, ReadError> {
        let mut env = Self::default();
        let files: Vec<PathBuf> = if env_files.is_empty() {
            Some(dir.join(".env")).filter(|p| p.is_file()).into_iter().collect()
        } else {
            env_files.to_vec()
        };
        for f in files {
            let text = crate::read::read(&f)?;
            let entries = parse_dotenv(&text, &|k| env.lookup(k)).map_err(|e| ReadError::Compose { path: f.clone(), line: e.line, col: 1, message: e.message })?;
            for e in entries {
                env.vars.insert(e.key, e.value);
            }
        }
        Ok(env)
    }

    pub fn lookup(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().or_else(|| self.vars.get(key).cloned())
    }
}

/// Reads the project: the files of `input` (relative to the current directory when they
/// exist there, else to `dir`), merged, interpolated, with includes, extends and profiles.
pub fn load(dir: &Path, input: &ComposeInput) -> Result<ComposeModel, ReadError> {
    let files: Vec<PathBuf> = if input.files.is_empty() {
        let main = crate::read::main_compose_file(dir).ok_or_else(|| ReadError::NoCompose { dir: dir.to_owned() })?;
        vec![dir.join(main)]
    } else {
        input.files.iter().map(|f| if f.is_absolute() || f.is_file() { normalise(&std::path::absolute(f).unwrap_or_else(|_| f.clone())) } else { normalise(&dir.join(f)) }).collect()
    };
    let env = ProjectEnv::load(dir, &input.env_files)?;
    let mut r = Reader { root: dir.to_owned(), model: ComposeModel::empty(), top_configs: BTreeMap::new(), depth: 0 };
    for f in &files {
        let text = crate::read::read(f)?;
        r.file(f, text, dir, &env)?;
    }
    r.finish(input, &env)
}

/// [`load`] on texts already read: `(path, text)` in merge order.
pub fn from_sources(dir: &Path, sources: Vec<(PathBuf, String)>) -> Result<ComposeModel, ReadError> {
    let env = ProjectEnv::load(dir, &[])?;
    let mut r = Reader { root: dir.to_owned(), model: ComposeModel::empty(), top_configs: BTreeMap::new(), depth: 0 };
    for (path, text) in sources {
        r.file(&path, text, dir, &env)?;
    }
    r.finish(&ComposeInput::default(), &env)
}

struct Reader {
    root: PathBuf,
    model: ComposeModel,
    /// Top-level `configs:`/`secrets:` name → host file (`file:` sources only).
    top_configs: BTreeMap<(&'static str, String), Option<PathBuf>>,
    depth: usize,
}

impl Reader {
    fn rel(&self, p: &Path) -> String {
        super::relative(p, &self.root)
    }

    /// Parses, merges keys, interpolates and validates one file; then applies it.
    fn file(&mut self, path: &Path, text: String, base: &Path, env: &ProjectEnv) -> Result<(), ReadError> {
        if self.depth > 8 {
            return Err(ReadError::Compose { path: path.to_owned(), line: 1, col: 1, message: "include/extends nested more than 8 levels deep (a cycle?)".into() });
        }
        let mut cf = ComposeFile { rel: self.rel(path), path: path.to_owned(), text, base: base.to_owned(), raws: Vec::new() };
        let mut value = parse_file(&cf)?;
        let Interpolation { raws, unset, required } = interpolate_value(&mut value, env, &cf)?;
        cf.raws = raws;
        for (var, message) in required {
            let line = crate::read::locate::line_of(&cf.text, &var);
            self.model.notes.push(Note::new(Level::Warning, &cf.rel, line, "compose-variable-required", format!("variable `{var}` is required ({message}) and not set here: docker compose refuses to run the file without it; read on as empty"), Some(format!("set {var} where the stack runs (environment, .env or --env-file)"))));
        }
        for var in unset {
            let line = crate::read::locate::line_of(&cf.text, &var);
            self.model.notes.push(Note::new(Level::Warning, &cf.rel, line, "compose-variable-unset", format!("variable `{var}` is not set: compose substitutes an empty string"), Some(format!("set {var} in the environment, in .env beside the compose file, or pass --env-file"))));
        }
        let Some(top) = value.as_mapping() else {
            if value.is_null() {
                self.model.files.push(cf);
                return Ok(());
            }
            return Err(ReadError::Compose { path: path.to_owned(), line: 1, col: 1, message: "a compose file is a mapping (services:, networks:, …)".into() });
        };
        for k in top.keys().filter_map(scalar) {
            if !spec::known(spec::TOP_LEVEL, &k) {
                let line = crate::read::locate::line_of(&cf.text, &format!("{k}:"));
                self.model.notes.push(Note::new(Level::Warning, &cf.rel, line, "compose-unknown-attribute", format!("top-level `{k}` is not in the Compose Specification: docker compose refuses the file"), Some("remove it, or prefix it with `x-` to keep it as an extension".into())));
            }
        }
        // include: its projects first, each relative to its own directory.
        if let Some(inc) = top.get("include").and_then(Value::as_sequence) {
            for entry in inc {
                let (paths, project_dir, env_files) = include_entry(entry);
                let Some(first) = paths.first() else { continue };
                let first = normalise(&base.join(first));
                let pdir = project_dir.map(|d| normalise(&base.join(d))).unwrap_or_else(|| first.parent().unwrap_or(base).to_owned());
                let env_files: Vec<PathBuf> = env_files.iter().map(|e| normalise(&base.join(e))).collect();
                let inc_env = ProjectEnv::load(&pdir, &env_files)?;
                for p in &paths {
                    let p = normalise(&base.join(p));
                    let text = crate::read::read(&p)?;
                    self.depth += 1;
                    let r = self.file(&p, text, &pdir, &inc_env);
                    self.depth -= 1;
                    r?;
                }
            }
        }
        for (section, kind) in [("configs", "config"), ("secrets", "secret")] {
            if let Some(m) = top.get(section).and_then(Value::as_mapping) {
                for (name, def) in m {
                    let Some(name) = scalar(name) else { continue };
                    let host = def.get("file").and_then(scalar).map(|f| normalise(&base.join(f)));
                    self.top_configs.insert((kind, name), host);
                }
            }
        }
        match top.get("services") {
            Some(Value::Mapping(services)) => {
                for (name, def) in services {
                    let Some(name) = scalar(name) else { continue };
                    self.service(&name, def, &cf, services, 0)?;
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => {
                let line = crate::read::locate::line_of(&cf.text, "services:");
                return Err(ReadError::Compose { path: path.to_owned(), line, col: 1, message: "`services` must be a mapping of service names to their definitions".into() });
            }
        }
        self.model.files.push(cf);
        Ok(())
    }

    /// Applies one service definition, its `extends:` base first.
    fn service(&mut self, name: &str, def: &Value, cf: &ComposeFile, siblings: &serde_yaml::Mapping, depth: usize) -> Result<(), ReadError> {
        if !(def.is_mapping() || def.is_null()) {
            let line = service_span(&cf.text, name).map_or(1, |s| s.0);
            return Err(ReadError::Compose { path: cf.path.clone(), line, col: 1, message: format!("service `{name}` must be a mapping") });
        }
        if depth > 8 {
            return Err(ReadError::Compose { path: cf.path.clone(), line: 1, col: 1, message: format!("service `{name}`: `extends` nested more than 8 levels deep (a cycle?)") });
        }
        if depth == 0 {
            self.unknown_attributes(name, def, cf);
        }
        if let Some(ext) = def.get("extends") {
            let (base_svc, file) = match ext {
                Value::Mapping(_) => (ext.get("service").and_then(scalar), ext.get("file").and_then(scalar)),
                other => (scalar(other), None),
            };
            if let Some(base_svc) = base_svc {
                match file {
                    None => {
                        if let Some(bdef) = siblings.get(base_svc.as_str()) {
                            self.service_into(name, &base_svc, bdef, cf, siblings, depth)?;
                        }
                    }
                    Some(f) => {
                        let p = normalise(&cf.base.join(&f));
                        let text = crate::read::read(&p)?;
                        let env = ProjectEnv::default();
                        let ocf = ComposeFile { rel: self.rel(&p), path: p.clone(), text, base: p.parent().unwrap_or(&cf.base).to_owned(), raws: Vec::new() };
                        let mut v = parse_file(&ocf)?;
                        let raws = interpolate_value(&mut v, &env, &ocf)?.raws;
                        let ocf = ComposeFile { raws, ..ocf };
                        let empty = serde_yaml::Mapping::new();
                        let osibs = v.get("services").and_then(Value::as_mapping).unwrap_or(&empty).clone();
                        if let Some(bdef) = osibs.get(base_svc.as_str()) {
                            self.service_into(name, &base_svc, bdef, &ocf, &osibs, depth)?;
                        }
                        if !self.model.files.iter().any(|x| x.path == ocf.path) {
                            self.model.files.push(ocf);
                        }
                    }
                }
            }
        }
        let idx = self.model.slot(name, cf);
        if def.is_mapping() {
            super::apply(&mut self.model.services[idx], def, cf, name);
        }
        Ok(())
    }

    /// Applies `base_svc`'s definition (from `cf`) to service `name`.
    fn service_into(&mut self, name: &str, base_svc: &str, bdef: &Value, cf: &ComposeFile, siblings: &serde_yaml::Mapping, depth: usize) -> Result<(), ReadError> {
        if let Some(ext) = bdef.get("extends") {
            let mut wrapped = serde_yaml::Mapping::new();
            wrapped.insert("extends".into(), ext.clone());
            self.service(name, &Value::Mapping(wrapped), cf, siblings, depth + 1)?;
        }
        let idx = self.model.slot(name, cf);
        if bdef.is_mapping() {
            // Lines in the base's file are found under the base's own key.
            super::apply(&mut self.model.services[idx], bdef, cf, base_svc);
        }
        Ok(())
    }

    fn unknown_attributes(&mut self, name: &str, def: &Value, cf: &ComposeFile) {
        let Some(m) = def.as_mapping() else { return };
        for k in m.keys().filter_map(scalar) {
            if !spec::known(spec::SERVICE, &k) {
                let line = super::line_in_service(&cf.text, name, |l| super::is_key_line(l, &k));
                self.model.notes.push(Note::new(Level::Warning, &cf.rel, line, "compose-unknown-attribute", format!("service `{name}`: `{k}` is not an attribute of the Compose Specification: docker compose refuses the file"), Some(format!("remove `{k}`, or prefix it with `x-` to keep it as an extension"))));
            }
        }
    }

    /// Profiles, env files, configs/secrets as mounts, aliases, listening ports.
    fn finish(mut self, input: &ComposeInput, env: &ProjectEnv) -> Result<ComposeModel, ReadError> {
        let mut active: BTreeSet<String> = input.profiles.iter().cloned().collect();
        if let Some(p) = env.lookup("COMPOSE_PROFILES") {
            active.extend(p.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()));
        }
        let all = active.contains("*");
        self.model.services.retain(|s| s.profiles.is_empty() || all || s.profiles.iter().any(|p| active.contains(p)));
        let mut notes = Vec::new();
        for s in &mut self.model.services {
            // environment: `- KEY` takes its value from the project's environment.
            for (k, v) in s.environment.iter_mut() {
                if v.value.is_none() {
                    v.value = env.lookup(k);
                }
            }
            for (host, required, origin) in s.env_file_hosts.clone() {
                let Ok(text) = std::fs::read_to_string(&host) else {
                    if required {
                        notes.push(Note::new(Level::Error, &origin.file, origin.line, "env-file-missing", format!("service `{}`: env_file `{}` does not exist: docker compose refuses to start it", s.name, host.display()), Some("create the file, or mark the entry `required: false`".into())));
                    }
                    continue;
                };
                let rel = super::relative(&host, &self.root);
                let entries = parse_dotenv(&text, &|k| env.lookup(k)).map_err(|e| ReadError::Compose { path: host.clone(), line: e.line, col: 1, message: e.message })?;
                for e in entries {
                    s.environment.entry(e.key).or_insert(super::EnvVar { value: Some(e.value), origin: Origin { file: rel.clone(), line: e.line } });
                }
            }
            for (kind, source, target, origin) in std::mem::take(&mut s.config_refs) {
                let host = self.top_configs.get(&(kind, source.clone())).cloned().flatten();
                let target = target.unwrap_or_else(|| if kind == "secret" { format!("/run/secrets/{source}") } else { format!("/{source}") });
                let relative = host.as_ref().is_some_and(|h| h.starts_with(&self.root));
                s.mounts.retain(|m| m.target.trim_end_matches('/') != target.trim_end_matches('/'));
                s.mounts.push(Mount { source: format!("{kind}s.{source}"), host, target, relative, read_only: true, long: true, origin });
            }
            let mut ports = s.expose.clone();
            for p in &s.published {
                ports.extend(p.target.0..=p.target.1);
            }
            s.ports = ports;
        }
        // `links: - db:database` makes `database` a name of `db`.
        let links: Vec<(String, String)> = self.model.services.iter().flat_map(|s| s.link_aliases.clone()).collect();
        for (target, alias) in links {
            if let Some(t) = self.model.services.iter_mut().find(|s| s.name == target) {
                t.aliases.insert(alias);
            }
        }
        self.model.notes.extend(notes);
        if let Some(f) = self.model.files.iter().find(|f| !f.rel.is_empty()) {
            self.model.file = f.rel.clone();
            self.model.text = f.text.clone();
        }
        Ok(self.model)
    }
}

/// The YAML of one compose file with merge keys applied.
fn parse_file(cf: &ComposeFile) -> Result<Value, ReadError> {
    let mut v: Value = parse_yaml(&cf.path, &cf.text)?;
    v.apply_merge().map_err(|e| ReadError::Compose { path: cf.path.clone(), line: crate::read::locate::line_of(&cf.text, "<<"), col: 1, message: format!("merge key: {e}") })?;
    Ok(v)
}

/// What interpolating one file did.
#[derive(Default)]
struct Interpolation {
    /// (interpolated, as written) for each value that changed, so findings can still
    /// be located in the text as written.
    raws: Vec<(String, String)>,
    /// Variables used unset with no default.
    unset: BTreeSet<String>,
    /// `${VAR:?msg}` variables that are not set: (name, message).
    required: Vec<(String, String)>,
}

/// Interpolates every string value (not keys, not `x-` extensions) of `v`.
fn interpolate_value(v: &mut Value, env: &ProjectEnv, cf: &ComposeFile) -> Result<Interpolation, ReadError> {
    fn walk(v: &mut Value, env: &ProjectEnv, cf: &ComposeFile, raws: &mut Vec<(String, String)>, unset: &mut BTreeSet<String>, required: &mut Vec<(String, String)>, top: bool) -> Result<(), ReadError> {
        match v {
            Value::String(s) if s.contains('$') => {
                // `${VAR:?msg}` unset: compose refuses to run the file; the gate reads on with
                // the value empty and warns (a variable set where the stack runs, not here).
                let mut forced: BTreeSet<String> = BTreeSet::new();
                let out = loop {
                    // A forced variable reads as a NUL (non-empty, so `:?` passes), removed after.
                    match interpolate(s, &|k| if forced.contains(k) { Some("\u{0}".into()) } else { env.lookup(k) }) {
                        Ok(mut out) => {
                            out.value.retain(|c| c != '\u{0}');
                            break out;
                        }
                        Err(InterpolationError::Required { var, message }) if forced.len() < 16 && !forced.contains(&var) => {
                            required.push((var.clone(), message));
                            forced.insert(var);
                        }
                        Err(e) => {
                            let needle = match &e {
                                InterpolationError::Required { var, .. } => var.clone(),
                                InterpolationError::Syntax { .. } => s.clone(),
                            };
                            let (line, col) = crate::read::locate::find(&cf.text, &needle).unwrap_or((1, 1));
                            return Err(ReadError::Compose { path: cf.path.clone(), line, col, message: e.to_string() });
                        }
                    }
                };
                unset.extend(out.unset);
                raws.push((out.value.clone(), s.clone()));
                *s = out.value;
            }
            Value::Sequence(a) => {
                for x in a {
                    walk(x, env, cf, raws, unset, required, false)?;
                }
            }
            Value::Mapping(m) => {
                for (k, x) in m.iter_mut() {
                    // `x-` extensions are not interpolated by compose until used; skip them.
                    if top && scalar(k).is_some_and(|k| k.starts_with("x-")) {
                        continue;
                    }
                    walk(x, env, cf, raws, unset, required, false)?;
                }
            }
            Value::Tagged(t) => walk(&mut t.value, env, cf, raws, unset, required, false)?,
            _ => {}
        }
        Ok(())
    }
    let mut out = Interpolation::default();
    walk(v, env, cf, &mut out.raws, &mut out.unset, &mut out.required, true)?;
    Ok(out)
}

/// `include:` entry: a path, or `{path: p | [p…], project_directory, env_file: f | [f…]}`.
fn include_entry(v: &Value) -> (Vec<String>, Option<String>, Vec<String>) {
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Sequence(a)) => a.iter().filter_map(scalar).collect(),
            Some(x) => scalar(x).into_iter().collect(),
            None => Vec::new(),
        }
    };
    match v {
        Value::Mapping(_) => (list(v.get("path")), v.get("project_directory").and_then(scalar), list(v.get("env_file"))),
        other => (scalar(other).into_iter().collect(), None, Vec::new()),
    }
}
