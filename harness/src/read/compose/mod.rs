//! The compose file as the gate needs it: services, the ports they listen on,
//! their labels, mounts and config-file flags.
//!
//! ## Which ports a service listens on
//! A service listens on a container port when the port is the *container* side of an
//! entry in `ports` (`"3030:3000"` means 3000) or appears in `expose`; what its own
//! program listens on besides (its config, its image's defaults) is its kind's to say
//! ([`crate::model::kinds`]).
//!
//! A host names a service when it equals the service name, its `container_name`,
//! a network alias, its `hostname` or a `links` alias;
//! `localhost`/`127.0.0.1` inside a service names that service itself.
//!
//! ## Several compose files
//! [`project`] reads a project as compose does (interpolation, includes, extends,
//! profiles); [`ComposeModel::load_files`] merges files like `docker compose -f a -f b`
//! and remembers for each merged value the file and line it came from ([`Origin`]), so
//! findings point into the override file when it set the value.

pub mod interpolate;
pub mod project;
pub mod spec;

pub use project::{ComposeInput, ProjectEnv};

use super::ReadError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where a (merged) compose value comes from: the compose file that set it last
/// (relative to the stack directory) and the 1-based line of the entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// One volume entry of a service.
#[derive(Debug, Clone, Default)]
pub struct Mount {
    /// As written (`./prometheus/prometheus.yml`, `loki-data`, `/var/run/docker.sock`).
    pub source: String,
    /// Host path for bind mounts with a relative or absolute source (relative ones are
    /// resolved against the stack dir).
    pub host: Option<PathBuf>,
    pub target: String,
    /// The source as written was relative (`./x`, `../x`).
    pub relative: bool,
    /// `:ro` (short syntax) or `read_only: true` (long syntax).
    pub read_only: bool,
    /// Long syntax (or a `configs:`/`secrets:` entry): compose refuses a missing bind
    /// source there, where the short syntax creates an empty directory.
    pub long: bool,
    pub origin: Origin,
}

/// One `ports` entry of a service.
#[derive(Debug, Clone, Default)]
pub struct PortEntry {
    /// Host address it is published on (`127.0.0.1:4317:4317`); `None` means all interfaces.
    pub host_ip: Option<String>,
    /// Host side (`"4317"`, `"8000-8005"`); `None` means an ephemeral host port.
    pub published: Option<String>,
    /// Container side, first and last port of the range.
    pub target: (u16, u16),
    /// `tcp` unless written otherwise.
    pub protocol: String,
    pub origin: Origin,
}

impl PortEntry {
    pub fn covers(&self, port: u16) -> bool {
        (self.target.0..=self.target.1).contains(&port)
    }

    /// Published on a loopback address only (not reachable from other hosts).
    pub fn loopback_only(&self) -> bool {
        self.host_ip.as_deref().is_some_and(|ip| {
            let ip = ip.trim_matches(['[', ']']);
            ip.starts_with("127.") || ip == "::1" || ip == "localhost"
        })
    }
}

/// One environment variable of a service (`environment`, map or list form).
#[derive(Debug, Clone, Default)]
pub struct EnvVar {
    /// `None` for `- KEY` / `KEY:` (taken from the shell environment).
    pub value: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceInfo {
    pub name: String,
    pub image: String,
    pub container_name: Option<String>,
    /// Container ports from `ports` and `expose`.
    pub ports: BTreeSet<u16>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<Mount>,
    pub command: Vec<String>,
    /// The `ports` entries (merged by container port and protocol).
    pub published: Vec<PortEntry>,
    pub expose: BTreeSet<u16>,
    pub environment: BTreeMap<String, EnvVar>,
    /// `env_file` entries as written, with where they are listed.
    pub env_files: Vec<(String, Origin)>,
    /// The `command:` key that set [`Self::command`].
    pub command_origin: Option<Origin>,
    /// `privileged:` as last set.
    pub privileged: Option<(bool, Origin)>,
    /// `entrypoint:` as last set (a string is split on whitespace).
    pub entrypoint: Option<Vec<String>>,
    /// `depends_on:` (list or map form; merged as a union).
    pub depends_on: Vec<String>,
    /// `healthcheck:` as last set, as written.
    pub healthcheck: Option<serde_yaml::Value>,
    /// `build:` context and Dockerfile as written (`build: ./dir` has the default Dockerfile).
    pub build: Option<(String, Option<String>)>,
    /// `profiles:` (empty: always started).
    pub profiles: Vec<String>,
    /// `env_file:` entries resolved on the host, whether required, and where listed.
    pub env_file_hosts: Vec<(PathBuf, bool, Origin)>,
    /// `configs:`/`secrets:` entries: (`config`|`secret`, source name, target, where), made
    /// mounts once the top-level definitions are known.
    pub config_refs: Vec<(&'static str, String, Option<String>, Origin)>,
    /// Other names other services reach it by: network aliases, `hostname`, `links` aliases.
    pub aliases: BTreeSet<String>,
    /// `links:` entries `service:alias` of this service (alias registered on the target).
    pub link_aliases: Vec<(String, String)>,
    /// The service key in the first file that defines the service.
    pub origin: Origin,
}

impl ServiceInfo {
    /// Maps a container path back to the host through this service's bind mounts
    /// (longest mount target wins). `None` when no bind mount covers it.
    pub fn host_path(&self, container: &str) -> Option<PathBuf> {
        let mut best: Option<(&Mount, usize)> = None;
        for m in &self.mounts {
            let Some(_) = &m.host else { continue };
            let t = m.target.trim_end_matches('/');
            let covers = container == t || container.starts_with(&format!("{t}/"));
            if covers && best.is_none_or(|(_, l)| t.len() > l) {
                best = Some((m, t.len()));
            }
        }
        let (m, l) = best?;
        let rest = container[l..].trim_start_matches('/');
        let host = m.host.as_ref()?;
        Some(if rest.is_empty() {
            host.clone()
        } else {
            host.join(rest)
        })
    }

    /// True when some mount (bind or named volume) covers this container path.
    pub fn is_mounted(&self, container: &str) -> bool {
        self.mounts.iter().any(|m| {
            let t = m.target.trim_end_matches('/');
            container == t || container.starts_with(&format!("{t}/"))
        })
    }

    /// The value of `--config.file=`, `-config.file=` or `--config=` in the command.
    pub fn config_flag(&self) -> Option<String> {
        self.flag("config.file").or_else(|| self.flag("config"))
    }

    /// The value of `--<name>=v` / `--<name> v` (any number of leading dashes) in the command.
    pub fn flag(&self, name: &str) -> Option<String> {
        let mut it = self
            .command
            .iter()
            .flat_map(|c| c.split_whitespace())
            .peekable();
        while let Some(a) = it.next() {
            let a = a.trim_start_matches('-');
            if let Some(v) = a.strip_prefix(name) {
                if let Some(v) = v.strip_prefix('=') {
                    return Some(v.to_owned());
                }
                if v.is_empty() {
                    return it.peek().map(|s| s.to_string());
                }
            }
        }
        None
    }

    /// Every value of `--<name>=v` / `--<name> v` / `-<name>=v` in the command, in order
    /// (a flag given several times, as the collector's `--config`).
    pub fn flag_values(&self, name: &str) -> Vec<String> {
        let args: Vec<&str> = self.command.iter().flat_map(|c| c.split_whitespace()).collect();
        let mut out = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if !a.starts_with('-') {
                continue;
            }
            let a = a.trim_start_matches('-');
            match a.strip_prefix(name) {
                Some(v) if v.starts_with('=') => out.push(v[1..].trim_matches(['"', '\'']).to_owned()),
                Some("") => {
                    if let Some(v) = args.get(i + 1).filter(|v| !v.starts_with('-')) {
                        out.push(v.trim_matches(['"', '\'']).to_owned());
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// True when `--<name>` appears as a flag of its own (`-config.expand-env`).
    pub fn has_flag(&self, name: &str) -> bool {
        self.command.iter().flat_map(|c| c.split_whitespace()).any(|a| a.starts_with('-') && a.trim_start_matches('-') == name)
    }

    /// True when some command argument is `--<prefix>…`.
    pub fn has_flag_prefix(&self, prefix: &str) -> bool {
        self.command
            .iter()
            .flat_map(|c| c.split_whitespace())
            .any(|a| a.starts_with('-') && a.trim_start_matches('-').starts_with(prefix))
    }
}

/// One compose file as read.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// Relative to the stack directory when inside it, else as given.
    pub rel: String,
    pub path: PathBuf,
    pub text: String,
    /// The directory its relative paths resolve against (the project's, or an include's).
    pub base: PathBuf,
    /// (interpolated, as written) for each value interpolation changed.
    pub raws: Vec<(String, String)>,
}

impl ComposeFile {
    /// The value as written in the file for an interpolated one (itself when unchanged).
    pub fn raw<'a>(&'a self, v: &'a str) -> &'a str {
        self.raws.iter().find(|(i, _)| i == v).map_or(v, |(_, r)| r.as_str())
    }
}

/// The compose files of a stack, merged as `docker compose -f a -f b` does for the keys
/// the gate reads (see [`ComposeModel::load_files`]).
#[derive(Debug)]
pub struct ComposeModel {
    /// The first (main) file, relative to the stack dir.
    pub file: String,
    /// Its text.
    pub text: String,
    /// Every file in merge order (the first is the main file).
    pub files: Vec<ComposeFile>,
    pub services: Vec<ServiceInfo>,
    /// What reading noticed (unset variables, attributes outside the specification).
    pub notes: Vec<crate::read::Note>,
}

impl ComposeModel {
    fn empty() -> Self {
        Self { file: String::new(), text: String::new(), files: Vec::new(), services: Vec::new(), notes: Vec::new() }
    }

    /// The index of service `name`, added (defined at `cf`) when new.
    fn slot(&mut self, name: &str, cf: &ComposeFile) -> usize {
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            return i;
        }
        self.services.push(ServiceInfo { name: name.to_owned(), origin: Origin { file: cf.rel.clone(), line: service_span(&cf.text, name).map_or(1, |s| s.0) }, ..Default::default() });
        self.services.len() - 1
    }

    /// Reads a compose project as compose does (see [`project`]).
    pub fn load_project(stack_dir: &Path, input: &ComposeInput) -> Result<Self, ReadError> {
        project::load(stack_dir, input)
    }

    /// One compose file `file` (relative to `stack_dir`).
    pub fn load(stack_dir: &Path, file: &str) -> Result<Self, ReadError> {
        Self::load_files(stack_dir, &[stack_dir.join(file)])
    }

    /// Several compose files merged in order, later files winning, like
    /// `docker compose -f a -f b` (see [`project`]):
    /// - new services are added;
    /// - `image`, `container_name`, `command`, `entrypoint` and `privileged` are replaced;
    /// - `environment` and `labels` (map or list form) merge key-wise;
    /// - `volumes` merge by container target path, `ports` by container port (range)
    ///   and protocol; `expose`, `env_file`, `depends_on` and `profiles` are unions.
    ///
    /// Relative paths resolve against `stack_dir` (the project directory).
    /// Each merged value keeps the file and line it came from ([`Origin`]).
    pub fn load_files(stack_dir: &Path, files: &[PathBuf]) -> Result<Self, ReadError> {
        project::load(stack_dir, &ComposeInput::files(files.iter().cloned()))
    }

    /// [`Self::load_files`] on texts already read: `(path, text)` in merge order.
    pub fn from_sources(stack_dir: &Path, sources: Vec<(PathBuf, String)>) -> Result<Self, ReadError> {
        project::from_sources(stack_dir, sources)
    }

    /// The compose file(s) for messages: `docker-compose.yml` or `a.yml + b.yml`.
    pub fn display_name(&self) -> String {
        self.files
            .iter()
            .map(|f| f.rel.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Text of the compose file `rel` (empty when unknown).
    pub fn text_of(&self, rel: &str) -> &str {
        self.files
            .iter()
            .find(|f| f.rel == rel)
            .map_or("", |f| f.text.as_str())
    }

    /// The service a name reaches: its service name, `container_name`, a network
    /// alias, its `hostname` or a `links` alias.
    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| s.name == name).or_else(|| self.services.iter().find(|s| s.container_name.as_deref() == Some(name) || s.aliases.contains(name)))
    }

    /// The first service whose image is the repository `repo` (any registry, tag or digest).
    pub fn by_image(&self, repo: &str) -> Option<&ServiceInfo> {
        self.services.iter().find(|s| crate::read::image::ImageRef::parse(&s.image).is(repo))
    }
}

/// A YAML scalar as a string (`None` for null, sequences and mappings).
pub fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// 1-based (first, last) lines of the block of `services.<name>` (block-style YAML).
pub fn service_span(text: &str, name: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let content = |l: &str| {
        let t = l.trim_start();
        !(t.is_empty() || t.starts_with('#'))
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    let top = lines
        .iter()
        .position(|l| indent(l) == 0 && strip_key(l.trim_end()).is_some_and(|k| k == "services"))?;
    let child = lines[top + 1..]
        .iter()
        .find(|l| content(l))
        .map(|l| indent(l))
        .filter(|i| *i > 0)?;
    let mut start = None;
    for (i, l) in lines.iter().enumerate().skip(top + 1) {
        if !content(l) {
            continue;
        }
        let ind = indent(l);
        if let Some(s) = start {
            if ind <= child {
                return Some((s + 1, last_content(&lines, s, i)));
            }
        } else if ind == 0 {
            return None;
        } else if ind == child && strip_key(l.trim()).is_some_and(|k| k == name) {
            start = Some(i);
        }
    }
    start.map(|s| (s + 1, last_content(&lines, s, lines.len())))
}

/// Last content line (1-based) in lines[s..end].
fn last_content(lines: &[&str], s: usize, end: usize) -> usize {
    (s..end)
        .rev()
        .find(|&j| {
            let t = lines[j].trim_start();
            !(t.is_empty() || t.starts_with('#'))
        })
        .map_or(s + 1, |j| j + 1)
}

/// The key of a `key:` / `"key":` line.
fn strip_key(l: &str) -> Option<&str> {
    let (k, rest) = l.split_once(':')?;
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    Some(k.trim().trim_matches(['"', '\'']))
}

/// First line (1-based) within service `svc`'s block of `text` for which `pred` holds.
pub fn find_in_service(text: &str, svc: &str, pred: impl Fn(&str) -> bool) -> Option<usize> {
    let (a, b) = service_span(text, svc)?;
    text.lines()
        .enumerate()
        .skip(a - 1)
        .take(b + 1 - a)
        .find(|(_, l)| pred(l))
        .map(|(i, _)| i + 1)
}

/// [`find_in_service`], falling back to the service key line, then 1.
pub fn line_in_service(text: &str, svc: &str, pred: impl Fn(&str) -> bool) -> usize {
    find_in_service(text, svc, pred)
        .or_else(|| service_span(text, svc).map(|s| s.0))
        .unwrap_or(1)
}

/// True when `line` is a `KEY=…`, `KEY: …` or bare `- KEY` entry for `key`.
pub fn is_key_line(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    let t = t.strip_prefix('-').map_or(t, str::trim_start);
    let t = t.trim_start_matches(['"', '\'']);
    match t.strip_prefix(key) {
        Some(rest) => rest.is_empty() || rest.starts_with(['=', ':', '"', '\'', ' ', '\t', '#']),
        None => false,
    }
}

/// Merges one file's definition of a service into `s`.
fn apply(s: &mut ServiceInfo, def: &serde_yaml::Value, cf: &ComposeFile, key: &str) {
    let stack_dir = cf.base.as_path();
    let origin = |line: usize| Origin {
        file: cf.rel.clone(),
        line,
    };
    let name = key.to_owned();
    let at = |pred: &dyn Fn(&str) -> bool| line_in_service(&cf.text, &name, pred);
    if let Some(img) = def.get("image").and_then(scalar) {
        s.image = img;
    }
    if let Some(c) = def.get("container_name").and_then(scalar) {
        s.container_name = Some(c);
    }
    if let Some(cmd) = def.get("command") {
        s.command = match cmd {
            serde_yaml::Value::Sequence(a) => a.iter().filter_map(scalar).collect(),
            other => scalar(other)
                .map(|c| c.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        s.command_origin = Some(origin(at(&|l| is_key_line(l, "command"))));
    }
    if let Some(e) = def.get("entrypoint") {
        s.entrypoint = Some(match e {
            serde_yaml::Value::Sequence(a) => a.iter().filter_map(scalar).collect(),
            other => scalar(other).map(|c| c.split_whitespace().map(str::to_owned).collect()).unwrap_or_default(),
        });
    }
    match def.get("depends_on") {
        Some(serde_yaml::Value::Sequence(a)) => {
            for d in a.iter().filter_map(scalar) {
                if !s.depends_on.contains(&d) {
                    s.depends_on.push(d);
                }
            }
        }
        Some(serde_yaml::Value::Mapping(m)) => {
            for d in m.keys().filter_map(scalar) {
                if !s.depends_on.contains(&d) {
                    s.depends_on.push(d);
                }
            }
        }
        _ => {}
    }
    if let Some(h) = def.get("healthcheck") {
        s.healthcheck = Some(h.clone());
    }
    match def.get("build") {
        Some(b @ serde_yaml::Value::Mapping(_)) => {
            s.build = Some((b.get("context").and_then(scalar).unwrap_or_else(|| ".".into()), b.get("dockerfile").and_then(scalar)));
        }
        Some(b) => {
            if let Some(c) = scalar(b) {
                s.build = Some((c, None));
            }
        }
        None => {}
    }
    if let Some(p) = def.get("privileged") {
        let on = p
            .as_bool()
            .unwrap_or_else(|| scalar(p).is_some_and(|v| v == "true"));
        s.privileged = Some((on, origin(at(&|l| is_key_line(l, "privileged")))));
    }
    // labels / environment: key-wise.
    // A label value set through a variable keeps its text as written: what it is where the
    // stack runs is not known here, so value checks treat it as any value.
    for (k, v) in kv_entries(def.get("labels")) {
        let v = v.unwrap_or_default();
        let whole = format!("{k}={v}");
        let raw = match cf.raw(&whole) {
            r if r != whole => r.split_once('=').map_or(v.as_str(), |x| x.1),
            _ => cf.raw(&v),
        };
        s.labels.insert(k, raw.to_owned());
    }
    for (k, v) in kv_entries(def.get("environment")) {
        let line = at(&|l| is_key_line(l, &k));
        s.environment.insert(
            k,
            EnvVar {
                value: v,
                origin: origin(line),
            },
        );
    }
    let env_files: Vec<(String, bool)> = match def.get("env_file") {
        Some(serde_yaml::Value::Sequence(a)) => a
            .iter()
            .filter_map(|e| {
                let req = e.get("required").and_then(|r| r.as_bool()).unwrap_or(true);
                scalar(e).or_else(|| e.get("path").and_then(scalar)).map(|p| (p, req))
            })
            .collect(),
        Some(v) => scalar(v).map(|p| (p, true)).into_iter().collect(),
        None => Vec::new(),
    };
    for (p, required) in env_files {
        let line = at(&|l| l.contains(cf.raw(&p)));
        if !s.env_files.iter().any(|(x, _)| *x == p) {
            s.env_files.push((p.clone(), origin(line)));
            s.env_file_hosts.push((normalise(&stack_dir.join(&p)), required, origin(line)));
        }
    }
    if let Some(serde_yaml::Value::Sequence(a)) = def.get("profiles") {
        for p in a.iter().filter_map(scalar) {
            if !s.profiles.contains(&p) {
                s.profiles.push(p);
            }
        }
    }
    if let Some(h) = def.get("hostname").and_then(scalar) {
        s.aliases.insert(h);
    }
    if let Some(serde_yaml::Value::Mapping(nets)) = def.get("networks") {
        for n in nets.values() {
            for a in n.get("aliases").and_then(|a| a.as_sequence()).into_iter().flatten().filter_map(scalar) {
                s.aliases.insert(a);
            }
        }
    }
    for l in def.get("links").and_then(|l| l.as_sequence()).into_iter().flatten().filter_map(scalar) {
        if let Some((target, alias)) = l.split_once(':') {
            s.link_aliases.push((target.to_owned(), alias.to_owned()));
        }
    }
    for (section, kind) in [("configs", "config"), ("secrets", "secret")] {
        for e in def.get(section).and_then(|l| l.as_sequence()).into_iter().flatten() {
            let (source, target) = match e {
                serde_yaml::Value::Mapping(_) => (e.get("source").and_then(scalar), e.get("target").and_then(scalar)),
                other => (scalar(other), None),
            };
            let Some(source) = source else { continue };
            let line = at(&|l| l.contains(source.as_str()));
            s.config_refs.push((kind, source, target, origin(line)));
        }
    }
    // volumes: by container target.
    if let Some(vols) = def.get("volumes").and_then(|v| v.as_sequence()) {
        let mut new = Vec::new();
        for v in vols {
            let m = match v {
                serde_yaml::Value::Mapping(_) => {
                    let source = v.get("source").and_then(scalar).unwrap_or_default();
                    let target = v.get("target").and_then(scalar).unwrap_or_default();
                    let ro = v
                        .get("read_only")
                        .and_then(|r| r.as_bool())
                        .unwrap_or(false);
                    let line = find_in_service(&cf.text, &name, |l| {
                        l.trim_start()
                            .trim_start_matches("- ")
                            .starts_with("target:")
                            && l.contains(target.as_str())
                    })
                    .unwrap_or_else(|| at(&|l| !target.is_empty() && l.contains(target.as_str())));
                    let mut m = mount(stack_dir, source, target);
                    m.read_only = ro;
                    m.long = v.get("type").and_then(scalar).is_none_or(|t| t == "bind") && !v.get("bind").and_then(|b| b.get("create_host_path")).and_then(|c| c.as_bool()).unwrap_or(false);
                    m.origin = origin(line);
                    m
                }
                other => {
                    let Some(spec) = scalar(other) else { continue };
                    let parts: Vec<&str> = spec.split(':').collect();
                    let (source, target) = match parts.len() {
                        1 => (String::new(), parts[0].to_owned()),
                        _ => (parts[0].to_owned(), parts[1].to_owned()),
                    };
                    let ro = parts
                        .get(2)
                        .is_some_and(|m| m.split(',').any(|o| o == "ro"));
                    let line = at(&|l| l.contains(cf.raw(&spec)));
                    let mut m = mount(stack_dir, source, target);
                    m.read_only = ro;
                    m.origin = origin(line);
                    m
                }
            };
            new.push(m);
        }
        let key = |t: &str| t.trim_end_matches('/').to_owned();
        s.mounts
            .retain(|old| !new.iter().any(|n| key(&n.target) == key(&old.target)));
        s.mounts.extend(new);
    }
    // ports: by container port (range) and protocol.
    if let Some(ports) = def.get("ports").and_then(|v| v.as_sequence()) {
        let mut new = Vec::new();
        for p in ports {
            let entry = match p {
                serde_yaml::Value::Mapping(_) => {
                    let Some(t) = p
                        .get("target")
                        .and_then(scalar)
                        .and_then(|t| t.parse::<u16>().ok())
                    else {
                        continue;
                    };
                    let published = p.get("published").and_then(scalar);
                    let line = at(&|l| {
                        let l = l.trim_start().trim_start_matches("- ");
                        l.starts_with("target:") && l.contains(&t.to_string())
                    });
                    PortEntry {
                        host_ip: p.get("host_ip").and_then(scalar),
                        published,
                        target: (t, t),
                        protocol: p
                            .get("protocol")
                            .and_then(scalar)
                            .unwrap_or_else(|| "tcp".into()),
                        origin: origin(line),
                    }
                }
                other => {
                    let Some(spec) = scalar(other) else { continue };
                    let Some(mut e) = parse_short_port(&spec) else {
                        continue;
                    };
                    e.origin = origin(at(&|l| l.contains(cf.raw(&spec))));
                    e
                }
            };
            new.push(entry);
        }
        s.published.retain(|old| {
            !new.iter()
                .any(|n| n.target == old.target && n.protocol == old.protocol)
        });
        s.published.extend(new);
    }
    if let Some(ex) = def.get("expose").and_then(|v| v.as_sequence()) {
        for e in ex.iter().filter_map(scalar) {
            if let Ok(p) = e.split('/').next().unwrap_or(&e).parse::<u16>() {
                s.expose.insert(p);
            }
        }
    }
}

/// `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]`, ranges allowed (`4000-4005`).
pub fn parse_short_port(spec: &str) -> Option<PortEntry> {
    let (body, protocol) = match spec.rsplit_once('/') {
        Some((b, p)) => (b, p.to_owned()),
        None => (spec, "tcp".to_owned()),
    };
    let mut it = body.rsplitn(3, ':');
    let target = it.next()?;
    let published = it.next().map(str::to_owned).filter(|p| !p.is_empty());
    let host_ip = it.next().map(str::to_owned).filter(|p| !p.is_empty());
    let mut parts = target.splitn(2, '-');
    let a = parts.next()?.trim().parse::<u16>().ok()?;
    let b = parts
        .next()
        .and_then(|b| b.trim().parse::<u16>().ok())
        .unwrap_or(a);
    Some(PortEntry {
        host_ip,
        published,
        target: (a, b),
        protocol,
        origin: Origin::default(),
    })
}

/// `KEY=VALUE` list or `KEY: VALUE` map entries (labels, environment).
fn kv_entries(v: Option<&serde_yaml::Value>) -> Vec<(String, Option<String>)> {
    match v {
        Some(serde_yaml::Value::Sequence(a)) => a
            .iter()
            .filter_map(scalar)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (s, None),
            })
            .collect(),
        Some(serde_yaml::Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((scalar(k)?, scalar(v))))
            .collect(),
        _ => Vec::new(),
    }
}

fn mount(stack_dir: &Path, source: String, target: String) -> Mount {
    let relative =
        source.starts_with("./") || source.starts_with("../") || source == "." || source == "..";
    let host = if relative {
        Some(normalise(&stack_dir.join(&source)))
    } else if source.starts_with('/') {
        Some(PathBuf::from(&source))
    } else {
        None
    };
    Mount {
        source,
        host,
        target,
        relative,
        read_only: false,
        long: false,
        origin: Origin::default(),
    }
}

/// `p` relative to `root` (both normalised): `a/b.yml` inside it, `../../x/c.yml` outside.
pub fn relative(p: &Path, root: &Path) -> String {
    let (p, root) = (normalise(p), normalise(root));
    if let Ok(r) = p.strip_prefix(&root) {
        return r.to_string_lossy().replace('\\', "/");
    }
    let (pc, rc): (Vec<_>, Vec<_>) = (p.components().collect(), root.components().collect());
    let common = pc.iter().zip(&rc).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return p.display().to_string();
    }
    let mut out: Vec<String> = std::iter::repeat_n("..".to_string(), rc.len() - common).collect();
    out.extend(pc[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    out.join("/")
}

/// Removes `.` and `..` components without touching the file system.
pub fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Splits `scheme://host:port/path` or `host:port` into (host, port).
/// A URL without an explicit port gets 80/443 from its scheme.
pub fn host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let (scheme, rest) = match s.split_once("://") {
        Some((sc, r)) => (Some(sc), r),
        None => (None, s),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), p.parse().ok()?)),
        None => match scheme {
            Some("http") => Some((authority.to_owned(), 80)),
            Some("https") => Some((authority.to_owned(), 443)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            host_port("http://loki:3100/loki/api/v1/push"),
            Some(("loki".into(), 3100))
        );
        assert_eq!(host_port("app:8000"), Some(("app".into(), 8000)));
        assert_eq!(host_port("http://x"), Some(("x".into(), 80)));
        assert_eq!(host_port("nope"), None);
    }

    #[test]
    fn config_flag_forms() {
        let mut s = ServiceInfo {
            name: "p".into(),
            image: "prom/prometheus".into(),
            mounts: vec![Mount {
                source: "./prometheus".into(),
                host: Some("/h/prometheus".into()),
                target: "/etc/prometheus".into(),
                relative: true,
                ..Default::default()
            }],
            command: vec!["--config.file=/etc/prometheus/prometheus.yml".into()],
            ..Default::default()
        };
        assert_eq!(
            s.config_flag().as_deref(),
            Some("/etc/prometheus/prometheus.yml")
        );
        assert_eq!(
            s.host_path("/etc/prometheus/rules/a.yml"),
            Some(PathBuf::from("/h/prometheus/rules/a.yml"))
        );
        s.command = vec!["-config.file".into(), "/etc/x.yaml".into()];
        assert_eq!(s.config_flag().as_deref(), Some("/etc/x.yaml"));
        s.command = vec!["--config=/etc/otel.yaml".into()];
        assert_eq!(s.config_flag().as_deref(), Some("/etc/otel.yaml"));
        s.command = vec!["--storage.tsdb.path".into(), "/data".into()];
        assert_eq!(s.flag("storage.tsdb.path").as_deref(), Some("/data"));
        assert!(s.has_flag_prefix("storage.tsdb"));
        assert!(!s.has_flag_prefix("storage.tsdb.retention"));
    }

    #[test]
    fn short_ports() {
        let p = parse_short_port("127.0.0.1:4317:4317").unwrap();
        assert_eq!(
            (p.host_ip.as_deref(), p.published.as_deref(), p.target),
            (Some("127.0.0.1"), Some("4317"), (4317, 4317))
        );
        assert!(p.loopback_only());
        let p = parse_short_port("8000-8002:9000-9002/udp").unwrap();
        assert_eq!((p.target, p.protocol.as_str()), ((9000, 9002), "udp"));
        assert!(p.covers(9001) && !p.loopback_only());
        let p = parse_short_port("4318").unwrap();
        assert_eq!((p.published, p.target), (None, (4318, 4318)));
    }

    #[test]
    fn service_spans_and_key_lines() {
        let t = "x: 1\nservices:\n  a:\n    image: a\n\n    environment:\n      - K=1\n  # c\n  b:\n    environment:\n      K: 2\nvolumes:\n  d:\n";
        assert_eq!(service_span(t, "a"), Some((3, 7)));
        assert_eq!(service_span(t, "b"), Some((9, 11)));
        assert_eq!(line_in_service(t, "b", |l| is_key_line(l, "K")), 11);
        assert_eq!(line_in_service(t, "a", |l| is_key_line(l, "K")), 7);
        assert!(!is_key_line("  - KEY2=1", "KEY"));
    }
}
