//! The files of a stack: the merged compose model and every config its
//! services mount, each found where the service itself reads it.

use super::compose::{self, ComposeModel, normalise};
use super::configs::*;
use super::{Level, Note, ReadError, locate, parse_json, parse_yaml, read};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

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
    /// Each service's own config, by service name ([`ConfigDoc`]).
    pub(crate) configs: std::collections::BTreeMap<String, ConfigDoc>,
    /// What reading noticed, for the gate to judge.
    pub(crate) notes: Vec<Note>,
}

impl Stack {
    pub(crate) fn rel(&self, p: &Path) -> String {
        compose::relative(p, &self.dir)
    }
}


/// The compose file a stack directory holds, by Compose's own file names.
pub fn main_compose_file(dir: &Path) -> Option<&'static str> {
    ["docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"].into_iter().find(|f| dir.join(f).is_file())
}

// ------------------------------------------------------------------ parse phase

/// Reads the stack in `stack_dir`: the compose project `input` describes and every
/// config its services mount.
pub(crate) fn load(stack_dir: &Path, input: &compose::ComposeInput) -> Result<Stack, ReadError> {
    let dir = normalise(&std::path::absolute(stack_dir).unwrap_or_else(|_| stack_dir.to_owned()));
    if input.files.is_empty() && main_compose_file(&dir).is_none() {
        return Err(ReadError::NoCompose { dir: stack_dir.to_owned() });
    }
    let compose = ComposeModel::load_project(&dir, input)?;
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
        configs: Default::default(),
        notes: Vec::new(),
    };
    let mut notes = std::mem::take(&mut st.compose.notes);

    // Each service's own config, where its kind reads it.
    for svc in &st.compose.services {
        let Some(kind) = crate::model::kinds::kind_of(svc) else { continue };
        if let Some(doc) = service_config(&st, svc, kind, &mut notes)? {
            st.configs.insert(svc.name.clone(), doc);
        }
    }

    st.prom = component(&st, "prometheus", "prometheus/prometheus.yml")?;
    st.alertmanager = component(&st, "alertmanager", "alertmanager/alertmanager.yml")?;
    st.collector = component(&st, "otel-collector", "otel-collector/config.yaml")?;
    st.promtail = component(&st, "promtail", "promtail/config.yaml")?;
    st.loki = component(&st, "loki", "loki/config.yaml")?;

    // Grafana provisioning: the whole folder, a sub-folder or single files, under
    // GF_PATHS_PROVISIONING when set; dashboards where each provider's path points.
    let grafana = st.compose.services.iter().find(|s| kind_is(s, "grafana")).cloned();
    st.grafana_svc = grafana.as_ref().map(|s| s.name.clone());
    let (ds_files, provider_files) = match &grafana {
        // A Grafana image the model does not know (a custom build) is read as nothing, never guessed.
        Some(g) => {
            let root = g.environment.get("GF_PATHS_PROVISIONING").and_then(|e| e.value.clone()).unwrap_or_else(|| "/etc/grafana/provisioning".into());
            let root = root.trim_end_matches('/');
            (visible_files(g, &format!("{root}/datasources"), &["yml", "yaml"], false), visible_files(g, &format!("{root}/dashboards"), &["yml", "yaml"], false))
        }
        None => (Vec::new(), Vec::new()),
    };
    for f in ds_files {
        let text = read(&f)?;
        let mut doc: DatasourcesFile = parse_yaml(&f, &text)?;
        for ds in &mut doc.datasources {
            if ds.uid.as_deref().is_none_or(str::is_empty) {
                ds.uid = Some(grafana_uid_from_name(&ds.name));
            }
        }
        st.datasources.push(Doc { rel: st.rel(&f), text, doc });
    }
    for f in provider_files {
        let text = read(&f)?;
        // A dashboard JSON mounted beside the provider files is not a provider.
        let Ok(doc) = parse_yaml::<DashboardProvidersFile>(&f, &text) else { continue };
        st.providers.push(Doc { rel: st.rel(&f), text, doc });
    }
    let mut dash_files: Vec<PathBuf> = Vec::new();
    for p in &st.providers {
        for pr in &p.doc.providers {
            if let (Some(path), Some(g)) = (&pr.options.path, &grafana) {
                dash_files.extend(visible_files(g, path, &["json"], true));
            }
        }
    }
    dash_files.sort();
    dash_files.dedup();
    for f in dash_files {
        let text = read(&f)?;
        let doc = parse_json(&f, &text)?;
        st.dashboards.push(Doc { rel: st.rel(&f), text, doc });
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
            .and_then(|s| st.configs.get(&s.name).map(|c| c.container.clone()))
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
                notes.push(Note::error(
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
                notes.push(Note::error(
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
        let container = l.cfg.ruler_directory();
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
    // Mount sources: compose refuses a missing long-syntax bind source; the short
    // syntax creates an empty directory there, which is an error only where the
    // service reads something (its config, rules, provisioning) from it.
    let reads = read_paths(&st);
    for svc in &st.compose.services {
        let svc_reads = reads.get(&svc.name).map(Vec::as_slice).unwrap_or_default();
        for m in &svc.mounts {
            if !m.host.as_ref().is_some_and(|h| m.relative && !h.exists()) {
                continue;
            }
            let t = m.target.trim_end_matches('/');
            let fed = svc_reads.iter().find(|r| {
                let r = r.trim_end_matches('/');
                r == t || r.starts_with(&format!("{t}/")) || t.starts_with(&format!("{r}/"))
            });
            let (level, message, hint) = if m.long {
                (Level::Error, format!("service `{}` mounts `{}`, which does not exist: docker compose refuses to start it", svc.name, m.source), format!("create {} or fix the entry", m.source))
            } else if let Some(r) = fed {
                (Level::Error, format!("service `{}` mounts `{}`, which does not exist: docker compose creates an empty directory there, so `{}` reads nothing at `{r}`", svc.name, m.source, svc.name), format!("create {} or fix the volume entry", m.source))
            } else if Path::new(&m.source).extension().is_some() {
                (Level::Warning, format!("service `{}` mounts `{}`, which does not exist: docker compose creates an empty directory there, where a file looks expected", svc.name, m.source), format!("create {} or fix the volume entry", m.source))
            } else {
                (Level::Info, format!("service `{}` mounts `{}`, which does not exist yet: docker compose creates it as an empty directory", svc.name, m.source), String::new())
            };
            notes.push(Note::new(level, &m.origin.file, m.origin.line, "mount-source-missing", message, Some(hint).filter(|h| !h.is_empty())));
        }
    }
    st.notes = notes;
    Ok(st)
}

/// Per service, the container paths it reads: its config file, Prometheus's rule files,
/// the Loki ruler's directory, Grafana's provisioning and dashboard folders.
fn read_paths(st: &Stack) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for (svc, doc) in &st.configs {
        out.entry(svc.clone()).or_default().push(doc.container.clone());
    }
    if let Some(p) = &st.prom
        && let Some(svc) = &p.svc
    {
        let base = st.configs.get(svc).and_then(|c| Path::new(&c.container).parent().map(|p| p.to_string_lossy().into_owned())).unwrap_or_else(|| "/etc/prometheus".into());
        for r in &p.cfg.rule_files {
            let full = if r.starts_with('/') { r.clone() } else { format!("{base}/{r}") };
            let dir = if full.contains(['*', '?']) { Path::new(&full).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or(full) } else { full };
            out.entry(svc.clone()).or_default().push(dir);
        }
    }
    if let Some(l) = &st.loki
        && let (Some(svc), Some(d)) = (&l.svc, l.cfg.ruler_directory())
    {
        out.entry(svc.clone()).or_default().push(d);
    }
    if let Some(g) = st.grafana_svc.as_ref().and_then(|g| st.compose.service(g)) {
        let root = g.environment.get("GF_PATHS_PROVISIONING").and_then(|e| e.value.clone()).unwrap_or_else(|| "/etc/grafana/provisioning".into());
        let e = out.entry(g.name.clone()).or_default();
        e.push(root);
        e.extend(st.providers.iter().flat_map(|p| &p.doc.providers).filter_map(|p| p.options.path.clone()));
    }
    out
}

/// The uid Grafana gives a provisioned datasource that sets none: `P` and the first 8
/// bytes of the SHA-256 of its name in hex, upper-cased ("Loki" → `P8E80F9AEF21F6940`).
/// Source: grafana/grafana `pkg/services/provisioning/datasources/types.go` `safeUIDFromName`.
pub fn grafana_uid_from_name(name: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    format!("P{}", h[..8].iter().map(|b| format!("{b:02X}")).collect::<String>())
}

/// The typed view of the config of the first service of kind `kind`; with no such
/// service, the conventional file `fallback` of the stack directory when present.
fn component<T: DeserializeOwned>(st: &Stack, kind: &str, fallback: &str) -> Result<Option<Comp<T>>, ReadError> {
    let svc = st.compose.services.iter().find(|s| kind_is(s, kind));
    let (host, text) = match svc {
        Some(s) => match st.configs.get(&s.name) {
            Some(doc) => (doc.host.clone(), doc.text.clone()),
            None => return Ok(None),
        },
        None => {
            let f = st.dir.join(fallback);
            if !f.is_file() {
                return Ok(None);
            }
            let text = read(&f)?;
            (f, text)
        }
    };
    let cfg = match svc.and_then(|s| st.configs.get(&s.name)).filter(|d| d.parts.len() > 1) {
        // Several files merged (the collector's repeated --config): the merged value.
        Some(doc) => serde_yaml::from_value(doc.value.clone()).map_err(|e| ReadError::Yaml { path: host.clone(), line: 1, col: 1, message: e.to_string() })?,
        None => parse_yaml(&host, &text)?,
    };
    Ok(Some(Comp { rel: st.rel(&host), host, text, cfg, svc: svc.map(|s| s.name.clone()) }))
}

/// The service is of the model's kind `kind` (by image, or role label).
pub(crate) fn kind_is(svc: &compose::ServiceInfo, kind: &str) -> bool {
    crate::model::kinds::kind_of(svc).is_some_and(|k| k.name() == kind)
}

/// A service's own config file(s), parsed as YAML and, where the program does,
/// with `${…}` expanded from the service's environment.
#[derive(Debug, Clone)]
pub struct ConfigDoc {
    /// The first file, relative to the stack directory.
    pub rel: String,
    pub host: PathBuf,
    /// Where the service reads it (container path).
    pub container: String,
    pub text: String,
    /// Every file merged into [`Self::value`] (relative path, text), in order.
    pub parts: Vec<(String, String)>,
    pub value: serde_yaml::Value,
}

impl ConfigDoc {
    /// Origin of the first line holding `key` (and `value` when given), in the file that sets it.
    pub fn origin(&self, key: &str, value: Option<&str>) -> compose::Origin {
        for (rel, text) in &self.parts {
            let hit = match value {
                Some(v) => text.lines().any(|l| l.contains(key) && l.contains(v)) || text.contains(v),
                None => text.contains(key),
            };
            if hit {
                let line = match value {
                    Some(v) => locate::line_with(text, key, v),
                    None => locate::line_of(text, key),
                };
                return compose::Origin { file: rel.clone(), line };
            }
        }
        let line = match value {
            Some(v) => locate::line_with(&self.text, key, v),
            None => locate::line_of(&self.text, key),
        };
        compose::Origin { file: self.rel.clone(), line }
    }

    /// Where a path of mapping keys is written: each key's `key:` line searched after the
    /// previous one's (so `[receivers, otlp, protocols, grpc]` finds that `grpc:`).
    pub fn origin_path(&self, path: &[&str]) -> compose::Origin {
        for (rel, text) in &self.parts {
            let lines: Vec<&str> = text.lines().collect();
            let mut at = 0usize;
            let mut found = true;
            for k in path {
                match lines.iter().enumerate().skip(at).find(|(_, l)| l.trim_start().starts_with(&format!("{k}:"))) {
                    Some((i, _)) => at = i + 1,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found && at > 0 {
                return compose::Origin { file: rel.clone(), line: at };
            }
        }
        compose::Origin { file: self.rel.clone(), line: 1 }
    }

    /// The value at a path of mapping keys.
    pub fn get(&self, path: &[&str]) -> Option<&serde_yaml::Value> {
        let mut v = &self.value;
        for k in path {
            v = v.get(*k)?;
        }
        Some(v)
    }
}

/// Where `svc` (of `kind`) reads its config: each `--<flag>` value (`file:` stripped; several
/// `--config` merged in order, as the collector merges them), else the image's default path
/// when a mount covers it, else the image's own built-in config (an info note).
fn service_config(st: &Stack, svc: &compose::ServiceInfo, kind: &dyn crate::model::kinds::Kind, notes: &mut Vec<Note>) -> Result<Option<ConfigDoc>, ReadError> {
    let image = super::image::ImageRef::parse(&svc.image);
    let default = kind.default_config(&image);
    let flagged: Vec<String> = kind
        .config_flags()
        .iter()
        .flat_map(|f| svc.flag_values(f))
        .filter_map(|v| match v.split_once(':') {
            Some(("file", p)) => Some(p.to_owned()),
            Some((scheme, _)) if !scheme.contains('/') && scheme.chars().all(|c| c.is_ascii_alphanumeric()) && scheme.len() > 1 => None,
            _ => Some(v),
        })
        .chain(kind.positional_config(svc))
        .collect();
    let from_flag = !flagged.is_empty();
    let paths: Vec<String> = if from_flag { flagged } else { default.map(str::to_owned).into_iter().collect() };
    let mut parts: Vec<(PathBuf, String)> = Vec::new();
    for path in &paths {
        match svc.host_path(path).filter(|h| h.is_file()) {
            Some(h) => parts.push((h, path.clone())),
            None if svc.is_mounted(path) => {} // mounted from a volume or a missing source (noted above)
            // The image's own config, unless the stack holds a file of that name that
            // nothing mounts (written for this service, and forgotten).
            None if (!from_flag || Some(path.as_str()) == default) && unmounted_twin(st, path).is_none() => notes.push(Note::new(
                Level::Info,
                &svc.origin.file,
                svc.origin.line,
                "config-built-in",
                format!("service `{}` runs the config its image carries at `{path}`: nothing in the stack sets it, so its settings are the image's defaults", svc.name),
                None,
            )),
            None if !from_flag => {
                let twin = unmounted_twin(st, path).map(|t| st.rel(&t)).unwrap_or_default();
                notes.push(Note::error(&svc.origin.file, svc.origin.line, "config-not-mounted", format!("service `{}` reads its config from `{path}` (its image's default), but no volume is mounted there, and the stack's `{twin}` is mounted nowhere: it runs the image's config instead", svc.name), Some(format!("add a volume like `./{twin}:{path}:ro`"))));
            }
            None => {
                let (file, line) = match &svc.command_origin {
                    Some(o) => (o.file.clone(), compose::line_in_service(st.compose.text_of(&o.file), &svc.name, |l| l.contains(path.as_str()))),
                    None => (svc.origin.file.clone(), svc.origin.line),
                };
                notes.push(Note::error(&file, line, "config-not-mounted", format!("service `{}` reads its config from `{path}`, but no volume is mounted there", svc.name), Some(format!("add a volume like `./<dir>/<file>:{path}:ro`"))));
            }
        }
    }
    let Some((first, container)) = parts.first().cloned() else { return Ok(None) };
    let expand = match kind.config_env_expansion() {
        Some("") => true,
        Some(flag) => svc.flag_values(flag).iter().any(|v| v != "false") || svc.has_flag(flag),
        None => false,
    };
    let mut texts = Vec::new();
    let mut value = serde_yaml::Value::Null;
    for (host, _) in &parts {
        let raw = read(host)?;
        let text = if expand { expand_env(&raw, svc) } else { raw };
        let v = match host.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") if kind.config_is_yaml(svc) => parse_yaml(host, &text)?,
            _ => serde_yaml::Value::Null,
        };
        merge_yaml(&mut value, v);
        texts.push((st.rel(host), text));
    }
    let (rel, text) = texts[0].clone();
    Ok(Some(ConfigDoc { rel, host: first, container, text, parts: texts, value }))
}

/// A file of the stack named like `container_path`'s file that no service mounts.
fn unmounted_twin(st: &Stack, container_path: &str) -> Option<PathBuf> {
    let name = Path::new(container_path).file_name()?.to_str()?;
    let mounted = |f: &Path| st.compose.services.iter().flat_map(|s| &s.mounts).filter_map(|m| m.host.as_ref()).any(|h| f.starts_with(h));
    let mut dirs = vec![(st.dir.clone(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
            if p.is_dir() && depth < 3 && !hidden {
                dirs.push((p, depth + 1));
            } else if p.is_file() && p.file_name().and_then(|n| n.to_str()) == Some(name) && !mounted(&p) {
                return Some(p);
            }
        }
    }
    None
}

/// `${VAR}`, `${VAR:-default}`, `${env:VAR}` from the service's environment (unset: empty),
/// as Loki/Promtail (`-config.expand-env`) and the collector expand their configs.
fn expand_env(text: &str, svc: &compose::ServiceInfo) -> String {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| regex::Regex::new(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}").expect("valid regex"));
    RE.replace_all(text, |c: &regex::Captures| {
        let set = svc.environment.get(&c[1]).and_then(|e| e.value.clone()).filter(|v| !v.is_empty());
        set.or_else(|| c.get(2).map(|d| d.as_str().to_owned())).unwrap_or_default()
    })
    .into_owned()
}

/// Deep merge as the collector merges its `--config` files: mappings key-wise, the rest replaced.
fn merge_yaml(into: &mut serde_yaml::Value, from: serde_yaml::Value) {
    match (into, from) {
        (serde_yaml::Value::Mapping(a), serde_yaml::Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge_yaml(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, from) => *slot = from,
    }
}

/// The files under container directory `dir` that the service sees through its mounts
/// (a mount of the folder, of a parent, of a sub-folder or of single files; the longest
/// mount target wins), as host paths, with an extension of `exts`.
pub fn visible_files(svc: &compose::ServiceInfo, dir: &str, exts: &[&str], recursive: bool) -> Vec<PathBuf> {
    let dir = dir.trim_end_matches('/');
    let ext_ok = |p: &str| Path::new(p).extension().and_then(|e| e.to_str()).is_some_and(|e| exts.contains(&e));
    let mut seen: std::collections::BTreeMap<String, (usize, PathBuf)> = std::collections::BTreeMap::new();
    let mut add = |container: String, prio: usize, host: PathBuf| {
        if seen.get(&container).is_none_or(|(p, _)| prio >= *p) {
            seen.insert(container, (prio, host));
        }
    };
    for m in &svc.mounts {
        let Some(host) = &m.host else { continue };
        let t = m.target.trim_end_matches('/');
        if dir == t || dir.starts_with(&format!("{t}/")) {
            let sub = host.join(dir[t.len()..].trim_start_matches('/'));
            for f in files_with(&sub, exts, recursive) {
                let rel = f.strip_prefix(&sub).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default();
                add(format!("{dir}/{rel}"), t.len(), f);
            }
        } else if let Some(rest) = t.strip_prefix(&format!("{dir}/")) {
            if !recursive && rest.contains('/') {
                continue;
            }
            if host.is_file() && ext_ok(t) {
                add(t.to_owned(), t.len(), host.clone());
            } else if host.is_dir() && recursive {
                for f in files_with(host, exts, true) {
                    let rel = f.strip_prefix(host).map(|r| r.to_string_lossy().into_owned()).unwrap_or_default();
                    add(format!("{t}/{rel}"), t.len(), f);
                }
            }
        }
    }
    seen.into_values().map(|(_, h)| h).collect()
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

