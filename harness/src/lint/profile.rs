//! Derives the [`StackProfile`] from the loaded stack: the same reading of
//! compose and every config that the gate cross-checks.

use std::collections::{BTreeMap, BTreeSet};

use super::compose::{ServiceInfo, host_port};
use super::{Stack, tenancy_facts};
use crate::profile::{AlertProfile, AppProfile, DatasourceProfile, Overrides, ROLE_LABEL, StackProfile, relabel, Cause};

/// Tooling that is never the service under test, by image repository (any registry):
/// exporters, load and trace generators, log generators, caches and storage.
const TOOLING: &[&str] = &[
    "prom/node-exporter",
    "prometheus/node-exporter",
    "cadvisor/cadvisor",
    "google/cadvisor",
    "prom/pushgateway",
    "prometheus/pushgateway",
    "prom/blackbox-exporter",
    "prometheus/blackbox-exporter",
    "prom/statsd-exporter",
    "grafana/k6",
    "loadimpact/k6",
    "grafana/xk6-client-tracing",
    "jaegertracing/jaeger-tracegen",
    "open-telemetry/opentelemetry-collector-contrib/telemetrygen",
    "mingrammer/flog",
    "minio/minio",
    "redis",
    "memcached",
    "postgres",
    "seaweedfs",
    "chrislusf/seaweedfs",
    "persesdev/perses",
];

/// True for the stack's own tooling: a service of a kind the model knows (Prometheus,
/// Grafana, Loki, …, not the app), a tooling image, or an `*exporter` image.
fn tooling(s: &ServiceInfo) -> bool {
    let img = crate::read::image::ImageRef::parse(&s.image);
    let kind = crate::model::kinds::kind_of(s).map(|k| k.name());
    (kind.is_some() && kind != Some("app")) || img.is_any(TOOLING) || img.repository.rsplit('/').next().is_some_and(|n| n.ends_with("exporter") || n.ends_with("_exporter"))
}

pub(super) fn derive(st: &Stack, overrides: Option<(std::path::PathBuf, Overrides)>) -> StackProfile {
    let (override_path, ov) = match overrides {
        Some((p, o)) => (Some(p), o),
        None => (None, Overrides::default()),
    };
    let mut p = StackProfile { overrides: override_path, ..Default::default() };
    p.app = app(st, &ov);
    if p.app.is_none() {
        p.app_missing = Some(no_app_reason(st));
    }
    if let Some(app) = &mut p.app {
        if let Some(j) = &ov.jobs {
            app.jobs = j.clone();
        }
        if let Some(n) = &ov.otel_service_name {
            app.otel_service_name = Some(n.clone());
        }
    }
    p.tenant = ov.tenant.clone().or_else(|| tenancy_facts(st).and_then(|t| t.best).map(|(_, t, _)| t));
    let app_svc = p.app.as_ref().and_then(|a| st.compose.service(&a.service));
    (p.log_labels, p.shipped_services) = logs(st, app_svc);
    if let Some(l) = &ov.log_labels {
        p.log_labels = l.clone();
    }
    p.resource_attributes = resource_attributes(st);
    p.tempo = tempo(st);
    p.datasources = st
        .datasources
        .iter()
        .flat_map(|d| d.doc.datasources.iter())
        .map(|d| DatasourceProfile { uid: d.uid.clone().unwrap_or_else(|| d.name.clone()), kind: d.kind.clone(), url: d.url.clone().unwrap_or_default() })
        .collect();
    p.dashboards = st.dashboards.iter().filter_map(|d| d.doc["uid"].as_str().map(str::to_owned)).collect();
    p.dashboard_folder = st.providers.iter().flat_map(|d| d.doc.providers.iter()).find_map(|pr| pr.folder.clone()).filter(|f| !f.is_empty());
    p.alerts = alerts(st, &ov);
    p.secrets = crate::redact::Redactor::of_stack(st);
    p.receiver = st.alertmanager.as_ref().and_then(|a| serde_yaml::from_str::<serde_yaml::Value>(&a.text).ok()).and_then(|d| d["route"]["receiver"].as_str().map(str::to_owned));
    p
}

/// The service under test: the override, else the `obs-harness.role` label,
/// else the one service Prometheus scrapes that is not part of the stack's
/// own tooling.
/// The stack's Tempo and its tenant ([`TempoProfile`]).
fn tempo(st: &Stack) -> Option<crate::profile::TempoProfile> {
    let svc = st.compose.services.iter().find(|s| crate::read::kind_is(s, "tempo"))?;
    let multitenant = st.configs.get(&svc.name).and_then(|c| c.get(&["multitenancy_enabled"])).and_then(serde_yaml::Value::as_bool).unwrap_or(false);
    let from_grafana = st.datasources.iter().flat_map(|d| d.doc.datasources.iter()).filter(|d| d.kind == "tempo").find_map(|d| d.header("X-Scope-OrgID"));
    let from_env = st.compose.services.iter().filter_map(|s| s.environment.get("OTEL_EXPORTER_OTLP_HEADERS").and_then(|e| e.value.clone())).find_map(|h| {
        h.split(',').find_map(|kv| kv.split_once('=').filter(|(k, _)| k.trim().eq_ignore_ascii_case("x-scope-orgid")).map(|(_, v)| v.trim().to_owned()))
    });
    let from_collector = st.collector.as_ref().and_then(|c| serde_yaml::from_str::<serde_yaml::Value>(&c.text).ok()).and_then(|doc| {
        doc["exporters"].as_mapping()?.values().find_map(|e| e["headers"].as_mapping()?.iter().find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case("x-scope-orgid"))).and_then(|(_, v)| v.as_str().map(str::to_owned)))
    });
    let tenant = if multitenant { from_grafana.or(from_env).or(from_collector) } else { None };
    Some(crate::profile::TempoProfile { service: svc.name.clone(), multitenant, tenant })
}

/// Why no service under test was found, and how to mark one.
pub(super) fn no_app_reason(st: &Stack) -> String {
    let scraped: Vec<&str> = st.compose.services.iter().filter(|s| !tooling(s) && !scrape_targets(st, s).is_empty()).map(|s| s.name.as_str()).collect();
    let tools: Vec<&str> = st.compose.services.iter().filter(|s| tooling(s)).map(|s| s.name.as_str()).collect();
    let why = match scraped.as_slice() {
        [] => "no service is labelled `obs-harness.role`, and Prometheus scrapes no service that is not the stack's own tooling".to_owned(),
        many => format!("no service is labelled `obs-harness.role`, and Prometheus scrapes several that could be: {}", many.join(", ")),
    };
    format!("{why} (tooling, never the service under test: {}); mark it with the label `obs-harness.role: app` in its compose service, or `app: NAME` in obs-harness.yaml", if tools.is_empty() { "none".into() } else { tools.join(", ") })
}

fn app(st: &Stack, ov: &Overrides) -> Option<AppProfile> {
    let by_label = || st.compose.services.iter().find(|s| s.labels.get(ROLE_LABEL).is_some_and(|r| r == "app" || r == "reference-app"));
    let (svc, found_by) = if let Some(name) = &ov.app {
        (st.compose.service(name)?, "override")
    } else if let Some(s) = by_label() {
        (s, "label")
    } else {
        let scraped: Vec<&ServiceInfo> = st
            .compose
            .services
            .iter()
            .filter(|s| !tooling(s))
            .filter(|s| !scrape_targets(st, s).is_empty())
            .collect();
        match scraped.as_slice() {
            [one] => (*one, "derived"),
            _ => return None,
        }
    };
    let targets = scrape_targets(st, svc);
    let otel_service_name = env(svc, "OTEL_SERVICE_NAME").or_else(|| {
        env(svc, "OTEL_RESOURCE_ATTRIBUTES").and_then(|a| a.split(',').find_map(|kv| kv.trim().strip_prefix("service.name=").map(str::to_owned)))
    });
    let mut jobs: Vec<String> = targets.iter().map(|(j, _)| j.clone()).collect();
    jobs.dedup();
    Some(AppProfile {
        service: svc.name.clone(),
        container_name: svc.container_name.clone(),
        port: targets.first().map(|(_, p)| *p),
        jobs,
        otel_service_name,
        reference_app: svc.labels.get(ROLE_LABEL).is_some_and(|r| r == "reference-app"),
        found_by: found_by.into(),
    })
}

fn env(svc: &ServiceInfo, key: &str) -> Option<String> {
    svc.environment.get(key).and_then(|v| v.value.clone())
}

/// (job, port) of every static scrape target naming `svc`.
fn scrape_targets(st: &Stack, svc: &ServiceInfo) -> Vec<(String, u16)> {
    let Some(prom) = &st.prom else { return Vec::new() };
    let names = |h: &str| h == svc.name || svc.container_name.as_deref() == Some(h);
    prom.cfg
        .scrape_configs
        .iter()
        .flat_map(|sc| sc.static_configs.iter().flat_map(move |c| c.targets.iter().map(move |t| (sc.job_name.clone(), t))))
        .filter_map(|(job, t)| host_port(t).filter(|(h, _)| names(h)).map(|(_, p)| (job, p)))
        .collect()
}

/// The app's stream labels (Promtail's relabel rules over its Docker meta
/// labels, minus what depends on the container's name or id) and the
/// services Promtail's Docker filters select.
fn logs(st: &Stack, app: Option<&ServiceInfo>) -> (BTreeMap<String, String>, Vec<String>) {
    let Some(pt) = &st.promtail else { return Default::default() };
    let doc: serde_yaml::Value = serde_yaml::from_str(&pt.text).unwrap_or_default();
    let Some(scs) = doc["scrape_configs"].as_sequence() else { return Default::default() };
    let mut labels = BTreeMap::new();
    let mut shipped = Vec::new();
    for sc in scs.iter().filter(|sc| sc["docker_sd_configs"].as_sequence().is_some_and(|d| !d.is_empty())) {
        let filters = docker_filters(sc);
        let selects = |s: &ServiceInfo| selects(&filters, s);
        shipped.extend(st.compose.services.iter().filter(|s| selects(s)).map(|s| s.name.clone()));
        let Some(app) = app.filter(|a| selects(a)) else { continue };
        let rules = sc["relabel_configs"].as_sequence().cloned().unwrap_or_default();
        let meta = |container: &str| {
            let mut m: BTreeMap<String, String> = app
                .labels
                .iter()
                .map(|(k, v)| (format!("__meta_docker_container_label_{}", sanitise(k)), v.clone()))
                .collect();
            m.insert("__meta_docker_container_label_com_docker_compose_service".into(), app.name.clone());
            m.insert("__meta_docker_container_name".into(), format!("/{container}"));
            m.insert("__meta_docker_container_id".into(), container.into());
            m
        };
        // A label whose value follows the container's name is not a fixed expectation.
        let (Some(a), Some(b)) = (relabel(&meta("c-one"), &rules), relabel(&meta("c-two"), &rules)) else { continue };
        for (k, v) in a {
            if !k.starts_with("__") && b.get(&k) == Some(&v) {
                labels.insert(k, v);
            }
        }
    }
    shipped.sort();
    shipped.dedup();
    (labels, shipped)
}

/// Every value each stream label can take across the streams Promtail ships to Loki,
/// from its `docker_sd_configs` relabel rules (and `static_labels` stages, client
/// `external_labels`) over the compose labels of the services its Docker filters select.
/// Only labels whose every value is known are present: a label that follows the
/// container's name (no `container_name:`) or id, a compose label with `${...}`, a
/// label the service may get from its image, a `labels` stage (values from the log
/// line), an action the simulation does not model, is left out. Empty (nothing known)
/// when the streams cannot be enumerated: no Promtail, a Promtail scrape config other
/// than Docker SD on the local socket, a Docker SD config without filters (every
/// container of the host), `labelmap`, another log shipper in compose, the collector
/// or a Docker logging driver sending to Loki, or an unknown pipeline stage.
pub(super) fn stream_values(st: &Stack) -> BTreeMap<String, BTreeSet<String>> {
    stream_values_inner(st).unwrap_or_default()
}

fn stream_values_inner(st: &Stack) -> Option<BTreeMap<String, BTreeSet<String>>> {
    let pt = st.promtail.as_ref()?;
    // Other ways into Loki.
    if st.collector.as_ref().is_some_and(|c| c.text.to_ascii_lowercase().contains("loki")) {
        return None;
    }
    if st.compose.files.iter().any(|f| f.text.contains("loki-url") || f.text.contains("driver: loki")) {
        return None;
    }
    const SHIPPERS: &[&str] = &["promtail", "alloy", "grafana/agent", "fluent", "timberio/vector", "vectordotdev/vector", "logstash", "filebeat"];
    if st.compose.services.iter().any(|s| pt.svc.as_deref() != Some(s.name.as_str()) && SHIPPERS.iter().any(|x| s.image.contains(x))) {
        return None;
    }
    if pt.svc.as_ref().and_then(|n| st.compose.service(n)).is_some_and(|s| s.command.iter().any(|a| a.contains("external-labels"))) {
        return None;
    }
    let doc: serde_yaml::Value = serde_yaml::from_str(&pt.text).ok()?;
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let add = |values: &mut BTreeMap<String, BTreeSet<String>>, k: &str, v: &str| {
        values.entry(k.to_owned()).or_default().insert(v.to_owned());
    };
    // Client external labels are on every stream.
    let mut external: Vec<(String, String)> = Vec::new();
    for c in doc["clients"].as_sequence().into_iter().flatten() {
        for (k, v) in c["external_labels"].as_mapping().into_iter().flatten() {
            external.push((k.as_str()?.to_owned(), super::compose::scalar(v)?));
        }
    }
    for sc in doc["scrape_configs"].as_sequence()? {
        let keys: Vec<&str> = sc.as_mapping()?.keys().filter_map(|k| k.as_str()).collect();
        let allowed = ["job_name", "docker_sd_configs", "relabel_configs", "pipeline_stages", "limits_config"];
        if keys.iter().any(|k| !allowed.contains(k)) {
            return None;
        }
        let sds = sc["docker_sd_configs"].as_sequence()?;
        if sds.is_empty() || sds.iter().any(|d| !d["host"].as_str().is_some_and(|h| h.starts_with("unix://"))) {
            return None;
        }
        let filters = docker_filters(sc);
        if filters.is_empty() {
            return None;
        }
        // Relabel rules: what the simulation can follow.
        let mut rules = Vec::new();
        for r in sc["relabel_configs"].as_sequence().into_iter().flatten() {
            let action = r["action"].as_str().unwrap_or("replace").to_ascii_lowercase();
            match action.as_str() {
                "replace" if r["target_label"].as_str().is_some_and(|t| t.contains('$')) => return None,
                "replace" | "labeldrop" | "labelkeep" => rules.push(r.clone()),
                // Promtail's Docker target does not apply keep/drop (grafana/loki#8620);
                // either way the shipped streams are a subset of the simulated ones.
                "keep" | "drop" => {}
                "labelmap" => return None,
                _ => match r["target_label"].as_str() {
                    Some(t) => {
                        unknown.insert(t.to_owned());
                    }
                    None => return None,
                },
            }
        }
        stage_labels(sc["pipeline_stages"].as_sequence().map(Vec::as_slice).unwrap_or(&[]), &mut values, &mut unknown)?;
        for svc in st.compose.services.iter().filter(|s| selects(&filters, s)) {
            let fixed: BTreeMap<String, String> = svc
                .labels
                .iter()
                .filter(|(_, v)| !v.contains('$'))
                .map(|(k, v)| (format!("__meta_docker_container_label_{}", sanitise(k)), v.clone()))
                .chain([("__meta_docker_container_label_com_docker_compose_service".to_owned(), svc.name.clone())])
                .chain(svc.container_name.as_ref().map(|c| ("__meta_docker_container_name".to_owned(), format!("/{c}"))))
                .collect();
            // What Docker decides at run time: two runs with different values.
            let variant = |n: &str| {
                let mut m = fixed.clone();
                let runtime = [
                    "__meta_docker_container_id",
                    "__meta_docker_container_network_mode",
                    "__meta_docker_container_log_stream",
                    "__meta_docker_network_id",
                    "__meta_docker_network_name",
                    "__meta_docker_network_ip",
                    "__meta_docker_network_scope",
                    "__meta_docker_network_internal",
                    "__meta_docker_network_ingress",
                    "__meta_docker_port_private",
                    "__meta_docker_port_public",
                    "__meta_docker_port_public_ip",
                    "__address__",
                    "__meta_docker_container_label_com_docker_compose_project",
                    "__meta_docker_container_label_com_docker_compose_container_number",
                    "__meta_docker_container_label_com_docker_compose_oneoff",
                    "__meta_docker_container_label_com_docker_compose_version",
                    "__meta_docker_container_label_com_docker_compose_config_hash",
                    "__meta_docker_container_label_com_docker_compose_image",
                    "__meta_docker_container_label_com_docker_compose_project_working_dir",
                    "__meta_docker_container_label_com_docker_compose_project_config_files",
                    "__meta_docker_container_label_com_docker_compose_depends_on",
                ];
                for k in runtime {
                    m.entry(k.to_owned()).or_insert_with(|| format!("{n}-{k}"));
                }
                m.entry("__meta_docker_container_name".into()).or_insert_with(|| format!("/{n}-{}-1", svc.name));
                m
            };
            let (a, b) = (variant("one"), variant("two"));
            // A rule reading a label neither set by compose nor simulated (one from the
            // image, say) has an unknown result.
            let mut defined: BTreeSet<String> = a.keys().cloned().collect();
            for r in &rules {
                let sources: Vec<&str> = r["source_labels"].as_sequence().into_iter().flatten().filter_map(|x| x.as_str()).collect();
                let Some(target) = r["target_label"].as_str() else { continue };
                if sources.iter().any(|s| !defined.contains(*s) || unknown.contains(*s)) {
                    unknown.insert(target.to_owned());
                }
                defined.insert(target.to_owned());
            }
            let (Some(ra), Some(rb)) = (relabel(&a, &rules), relabel(&b, &rules)) else { return None };
            for k in ra.keys().chain(rb.keys()) {
                if k.starts_with("__") {
                    continue;
                }
                match (ra.get(k), rb.get(k)) {
                    (Some(x), Some(y)) if x == y => add(&mut values, k, x),
                    _ => {
                        unknown.insert(k.clone());
                    }
                }
            }
            for (k, v) in &external {
                add(&mut values, k, v);
            }
        }
    }
    values.retain(|k, v| !unknown.contains(k) && !v.is_empty());
    Some(values)
}

/// Labels pipeline stages set: `static_labels` add known values, `labels`,
/// `docker`/`cri` (`stream`) unknown ones; None for a stage this does not know.
fn stage_labels(stages: &[serde_yaml::Value], values: &mut BTreeMap<String, BTreeSet<String>>, unknown: &mut BTreeSet<String>) -> Option<()> {
    const INERT: &[&str] = &[
        "json", "logfmt", "regex", "replace", "template", "timestamp", "output", "metrics", "tenant", "drop", "multiline",
        "limit", "pack", "decolorize", "sampling", "eventlogmessage", "geoip", "structured_metadata", "labeldrop",
        "labelallow", "luhn",
    ];
    for st in stages {
        let m = st.as_mapping()?;
        for (k, v) in m {
            let k = k.as_str()?;
            match k {
                "labels" => unknown.extend(v.as_mapping().into_iter().flatten().filter_map(|(l, _)| l.as_str().map(str::to_owned))),
                "static_labels" => {
                    for (l, val) in v.as_mapping().into_iter().flatten() {
                        match (l.as_str(), super::compose::scalar(val)) {
                            (Some(l), Some(val)) => {
                                values.entry(l.to_owned()).or_default().insert(val);
                            }
                            (Some(l), None) => {
                                unknown.insert(l.to_owned());
                            }
                            _ => return None,
                        }
                    }
                }
                "docker" | "cri" => {
                    unknown.insert("stream".into());
                }
                "match" => stage_labels(v["stages"].as_sequence().map(Vec::as_slice).unwrap_or(&[]), values, unknown)?,
                k if INERT.contains(&k) => {}
                _ => return None,
            }
        }
    }
    Some(())
}

/// `(filter name, value)` pairs of a scrape config's `docker_sd_configs`.
fn docker_filters(sc: &serde_yaml::Value) -> Vec<(String, String)> {
    sc["docker_sd_configs"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|d| d["filters"].as_sequence().cloned().unwrap_or_default())
        .flat_map(|f| {
            let name = f["name"].as_str().unwrap_or_default().to_owned();
            f["values"].as_sequence().cloned().unwrap_or_default().into_iter().filter_map(move |v| v.as_str().map(|v| (name.clone(), v.to_owned())))
        })
        .collect()
}

/// Whether Docker SD `filters` select the compose service `s` (filters other than
/// `label` and `name` are taken to select it).
fn selects(filters: &[(String, String)], s: &ServiceInfo) -> bool {
    filters.iter().all(|(name, v)| match name.as_str() {
        "label" => match v.split_once('=') {
            Some((k, val)) => s.labels.get(k).is_some_and(|x| x == val),
            None => s.labels.contains_key(v),
        },
        "name" => s.container_name.as_deref().unwrap_or(&s.name).contains(v.as_str()),
        _ => true,
    })
}

/// A label name as Docker SD exposes it: every character outside `[a-zA-Z0-9_]` becomes `_`.
fn sanitise(k: &str) -> String {
    k.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `processors.resource*.attributes` that insert or upsert a value.
fn resource_attributes(st: &Stack) -> BTreeMap<String, String> {
    let Some(c) = &st.collector else { return BTreeMap::new() };
    let doc: serde_yaml::Value = serde_yaml::from_str(&c.text).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (name, p) in doc["processors"].as_mapping().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        if name != "resource" && !name.starts_with("resource/") {
            continue;
        }
        for a in p["attributes"].as_sequence().into_iter().flatten() {
            let action = a["action"].as_str().unwrap_or("upsert");
            if let (Some(k), Some(v), true) = (a["key"].as_str(), super::compose::scalar(&a["value"]), matches!(action, "upsert" | "insert")) {
                out.insert(k.to_owned(), v);
            }
        }
    }
    out
}

fn alerts(st: &Stack, ov: &Overrides) -> Vec<AlertProfile> {
    let mut out = Vec::new();
    let prom = st.prom_rules.iter().map(|(d, _)| (&d.doc, "prometheus"));
    let loki = st.loki_rules.iter().map(|d| (&d.doc, "loki"));
    for (doc, source) in prom.chain(loki) {
        for g in doc["groups"].as_sequence().into_iter().flatten() {
            for r in g["rules"].as_sequence().into_iter().flatten() {
                let Some(name) = r["alert"].as_str() else { continue };
                let expr = super::compose::scalar(&r["expr"]).unwrap_or_default();
                let (cause, cause_from) = match ov.causes.get(name) {
                    Some(c) => (Some(*c), "override".to_owned()),
                    None => match cause_of(&expr, source) {
                        Ok(c) => (Some(c), "expression".to_owned()),
                        Err(why) => (None, why),
                    },
                };
                out.push(AlertProfile { name: name.to_owned(), source: source.to_owned(), expr, cause, cause_from });
            }
        }
    }
    out
}

/// What an alert expression measures, from its metrics and matchers: a 5xx
/// ratio is an error burst, a latency quantile slow requests, an LLM error
/// ratio LLM failures, `up == 0` a stopped service, a LogQL count of error
/// lines error log lines (caused by an error burst).
pub fn cause_of(expr: &str, source: &str) -> Result<Cause, String> {
    if source == "loki" {
        let e = expr.to_ascii_lowercase();
        return if e.contains("error") && (e.contains("count_over_time") || e.contains("rate(")) {
            Ok(Cause::ErrorBurst)
        } else {
            Err("a LogQL rule that does not count error lines".into())
        };
    }
    let parsed = crate::lint::promql::parse(expr).map_err(|e| format!("cannot parse: {e}"))?;
    let names = crate::lint::promql::metric_names(&parsed);
    let has = |f: &dyn Fn(&str) -> bool| names.iter().any(|n| f(n));
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    if names.iter().any(|n| n == "up") && (compact.contains("==0") || compact.contains("<1")) {
        return Ok(Cause::AppStopped);
    }
    if has(&|n| n.contains("llm") && n.contains("error")) {
        return Ok(Cause::LlmFailures);
    }
    if compact.contains("histogram_quantile(") && has(&|n| n.ends_with("_bucket") && (n.contains("duration") || n.contains("latency"))) {
        return Ok(Cause::SlowRequests);
    }
    let five_xx = ["status=~\"5", "status=\"5", "code=~\"5", "status_code=~\"5", "code=\"5"];
    if has(&|n| n.contains("request")) && five_xx.iter().any(|m| compact.contains(m)) {
        return Ok(Cause::ErrorBurst);
    }
    Err(format!("no known cause measures {}", names.iter().cloned().collect::<Vec<_>>().join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_come_from_what_the_expression_measures() {
        let c = |e: &str| cause_of(e, "prometheus");
        assert_eq!(c("up{job=\"api-server\"} == 0"), Ok(Cause::AppStopped));
        assert_eq!(
            c("sum(rate(http_requests_total{status=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m])) > 0.05"),
            Ok(Cause::ErrorBurst)
        );
        assert_eq!(c("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) >= 1"), Ok(Cause::SlowRequests));
        assert_eq!(c("sum(rate(llm_errors_total[5m])) / sum(rate(llm_calls_total[5m])) > 0.1"), Ok(Cause::LlmFailures));
        assert!(c("node_filesystem_avail_bytes < 1e9").is_err());
        assert_eq!(cause_of("sum(count_over_time({service=\"x\"} | json | level=\"ERROR\" [1m])) > 5", "loki"), Ok(Cause::ErrorBurst));
    }
}
