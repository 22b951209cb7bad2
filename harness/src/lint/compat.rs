//! Version compatibility: combinations of image versions and config known to
//! break, from the table in `compat.yaml` (data, compiled in; each row cites
//! its upstream source). A row applies when a service's image is the row's
//! repository with a tag in `[since, until)` and the row's `when` condition
//! holds in the stack's configs; it is reported at that service's `image:`
//! line with the row's hint. Tags that are not versions (`latest`, digests)
//! are not judged.

use serde::Deserialize;

use super::compose::{ServiceInfo, find_in_service, is_key_line, scalar};
use super::{Report, Severity, Stack, finding};

/// The table, as shipped.
pub const TABLE: &str = include_str!("compat.yaml");

/// One row of [`TABLE`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub id: String,
    pub image: String,
    pub since: String,
    #[serde(default)]
    pub until: Option<String>,
    pub when: String,
    pub severity: Severity,
    pub message: String,
    pub hint: String,
    pub source: String,
}

/// The conditions a row's `when` may name.
pub const CONDITIONS: &[&str] = &[
    "always",
    "grafana-jaeger-datasource-without-grpc-toggle",
    "grafana-jaeger-datasource-with-grpc-toggle",
    "prometheus-alertmanager-api-v1",
    "loki-ruler-alertmanager-v1",
    "collector-exporter-logging",
    "collector-exporter-loki",
    "collector-otlp-receiver-default-endpoint",
    "promtail-docker-sd-keep-or-drop",
];

/// The parsed table.
pub fn rows() -> Vec<Row> {
    serde_yaml::from_str(TABLE).expect("compat.yaml is valid (checked by a unit test)")
}

/// `major.minor.patch` of a tag (`v3.14.0`, `2.21.0`, `3.7.8-amd64`); `None` when it is not a version.
pub fn version(tag: &str) -> Option<(u64, u64, u64)> {
    let t = tag.trim_start_matches('v');
    let core = t.split(['-', '+']).next()?;
    let mut it = core.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next().unwrap_or("0").parse().ok()?;
    let patch = it.next().unwrap_or("0").parse().ok()?;
    Some((major, minor, patch))
}

pub use crate::read::image::split_image;

/// Checks every row against the stack.
pub(super) fn check(st: &Stack, report: &mut Report) {
    for row in rows() {
        for svc in &st.compose.services {
            let (_, tag) = split_image(&svc.image);
            if !crate::read::image::ImageRef::parse(&svc.image).is(&row.image) {
                continue;
            }
            // No tag, `latest` or a digest alone is the newest release: an open-ended row applies.
            match version(&tag) {
                Some(v) => {
                    let since = version(&row.since).unwrap_or_default();
                    if v < since || row.until.as_deref().and_then(version).is_some_and(|u| v >= u) {
                        continue;
                    }
                }
                None if tag == "latest" && row.until.is_none() => {}
                None => continue,
            }
            if !holds(&row.when, st) {
                continue;
            }
            // Where the config says what breaks, else the `image:` line (the version).
            let (file, line) = config_site(&row.when, st).unwrap_or_else(|| image_line(st, svc));
            let mut f = finding(
                &file,
                line,
                &row.id,
                format!("{}: {}", svc.image, row.message.replace("{version}", &tag)),
                Some(format!("{} (source: {})", row.hint, row.source)),
            );
            f.severity = row.severity;
            report.findings.push(f);
        }
    }
}

/// Where `svc`'s image is set: the last compose file that sets it.
fn image_line(st: &Stack, svc: &ServiceInfo) -> (String, usize) {
    for cf in st.compose.files.iter().rev() {
        if let Some(l) = find_in_service(&cf.text, &svc.name, |l| is_key_line(l, "image")) {
            return (cf.rel.clone(), l);
        }
    }
    (svc.origin.file.clone(), svc.origin.line)
}

/// The config line a row's condition is about, when it is one line of a config.
fn config_site(when: &str, st: &Stack) -> Option<(String, usize)> {
    let at = |rel: &str, text: &str, needle: &str| Some((rel.to_owned(), crate::read::locate::find(text, needle)?.0));
    // An exporter's own key line (`logging:`, `logging/x:`), not another mention of the word.
    let key = |rel: &str, text: &str, name: &str| {
        let i = text.lines().position(|l| {
            let t = l.trim_start();
            t.starts_with(&format!("{name}:")) || t.starts_with(&format!("{name}/"))
        })?;
        Some((rel.to_owned(), i + 1))
    };
    match when {
        "prometheus-alertmanager-api-v1" => st.prom.as_ref().and_then(|p| at(&p.rel, &p.text, "api_version: v1").or_else(|| at(&p.rel, &p.text, "api_version"))),
        "loki-ruler-alertmanager-v1" => st.loki.as_ref().and_then(|l| at(&l.rel, &l.text, "enable_alertmanager_v2")),
        "collector-exporter-logging" => st.collector.as_ref().and_then(|c| key(&c.rel, &c.text, "logging")),
        "collector-exporter-loki" => st.collector.as_ref().and_then(|c| key(&c.rel, &c.text, "loki")),
        _ => None,
    }
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap_or(serde_yaml::Value::Null)
}

fn holds(when: &str, st: &Stack) -> bool {
    match when {
        "always" => true,
        "grafana-jaeger-datasource-without-grpc-toggle" => grafana_has_jaeger(st) && !grafana_grpc_toggle(st),
        "grafana-jaeger-datasource-with-grpc-toggle" => grafana_has_jaeger(st) && grafana_grpc_toggle(st),
        "prometheus-alertmanager-api-v1" => st.prom.as_ref().is_some_and(|p| {
            let doc = yaml(&p.text);
            doc["alerting"]["alertmanagers"].as_sequence().is_some_and(|ams| ams.iter().any(|a| scalar(&a["api_version"]).as_deref() == Some("v1")))
        }),
        "loki-ruler-alertmanager-v1" => st.loki.as_ref().is_some_and(|l| yaml(&l.text)["ruler"]["enable_alertmanager_v2"].as_bool() == Some(false)),
        "collector-exporter-logging" => collector_exporters(st).iter().any(|e| e == "logging" || e.starts_with("logging/")),
        "collector-exporter-loki" => collector_exporters(st).iter().any(|e| e == "loki" || e.starts_with("loki/")),
        "collector-otlp-receiver-default-endpoint" => st.collector.as_ref().is_some_and(|c| {
            c.cfg.receivers.iter().filter(|(k, _)| *k == "otlp" || k.starts_with("otlp/")).any(|(_, r)| {
                r["protocols"].as_mapping().is_some_and(|ps| ps.values().any(|p| p["endpoint"].is_null()))
            })
        }),
        "promtail-docker-sd-keep-or-drop" => st.promtail.as_ref().is_some_and(|p| {
            let doc = yaml(&p.text);
            doc["scrape_configs"].as_sequence().is_some_and(|scs| {
                scs.iter().filter(|sc| sc["docker_sd_configs"].as_sequence().is_some_and(|d| !d.is_empty())).any(|sc| {
                    sc["relabel_configs"]
                        .as_sequence()
                        .is_some_and(|rs| rs.iter().any(|r| matches!(scalar(&r["action"]).as_deref(), Some("keep" | "drop"))))
                })
            })
        }),
        _ => false,
    }
}

fn collector_exporters(st: &Stack) -> Vec<String> {
    st.collector.as_ref().map(|c| c.cfg.exporters.keys().cloned().collect()).unwrap_or_default()
}

fn grafana_has_jaeger(st: &Stack) -> bool {
    st.grafana_svc.is_some() && st.datasources.iter().any(|d| d.doc.datasources.iter().any(|ds| ds.kind == "jaeger"))
}

/// `jaegerEnableGrpcEndpoint` enabled through `GF_FEATURE_TOGGLES_ENABLE`
/// (comma or space separated), `GF_FEATURE_TOGGLES_JAEGERENABLEGRPCENDPOINT=true`,
/// or a mounted `grafana.ini` (`[feature_toggles]` `enable = …` or `jaegerEnableGrpcEndpoint = true`).
pub(super) fn grafana_grpc_toggle(st: &Stack) -> bool {
    const TOGGLE: &str = "jaegerEnableGrpcEndpoint";
    let Some(svc) = st.grafana_svc.as_ref().and_then(|g| st.compose.services.iter().find(|s| &s.name == g)) else {
        return false;
    };
    let env = |k: &str| svc.environment.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).and_then(|(_, v)| v.value.clone());
    if env("GF_FEATURE_TOGGLES_ENABLE").is_some_and(|v| v.split([',', ' ']).any(|t| t.trim() == TOGGLE)) {
        return true;
    }
    if env(&format!("GF_FEATURE_TOGGLES_{}", TOGGLE.to_ascii_uppercase())).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return true;
    }
    let ini = svc.host_path("/etc/grafana/grafana.ini").and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    ini_toggle(&ini, TOGGLE)
}

/// The toggle set in a `grafana.ini` text.
pub fn ini_toggle(ini: &str, toggle: &str) -> bool {
    let mut section = String::new();
    for line in ini.lines().map(str::trim) {
        if line.starts_with(['#', ';']) || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_owned();
            continue;
        }
        if section != "feature_toggles" {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        if (k == "enable" && v.split([',', ' ']).any(|t| t.trim() == toggle)) || (k == toggle && v.eq_ignore_ascii_case("true")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_names_only_known_conditions_and_versions() {
        let rows = rows();
        assert!(rows.len() >= 8);
        for r in &rows {
            assert!(CONDITIONS.contains(&r.when.as_str()), "{}: unknown condition {}", r.id, r.when);
            assert!(version(&r.since).is_some(), "{}: since {:?}", r.id, r.since);
            assert!(!r.source.trim().is_empty() && !r.hint.trim().is_empty(), "{}", r.id);
            assert!(r.id.starts_with("compat-"), "{}", r.id);
        }
        let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), rows.len(), "ids are unique");
    }

    #[test]
    fn image_references_and_versions() {
        assert_eq!(split_image("jaegertracing/jaeger:2.21.0"), ("jaegertracing/jaeger".into(), "2.21.0".into()));
        assert_eq!(split_image("docker.io/prom/prometheus:v3.14.0"), ("prom/prometheus".into(), "v3.14.0".into()));
        assert_eq!(split_image("localhost:5000/grafana/loki"), ("grafana/loki".into(), "latest".into()));
        assert_eq!(version("v3.14.0"), Some((3, 14, 0)));
        assert_eq!(version("3.7.8-amd64"), Some((3, 7, 8)));
        assert_eq!(version("latest"), None);
        assert!(version("2.21.0") >= version("2.21.0") && version("2.20.0") < version("2.21.0"));
    }

    #[test]
    fn grafana_ini_toggles() {
        assert!(ini_toggle("[feature_toggles]\nenable = a, jaegerEnableGrpcEndpoint\n", "jaegerEnableGrpcEndpoint"));
        assert!(ini_toggle("[feature_toggles]\njaegerEnableGrpcEndpoint = true\n", "jaegerEnableGrpcEndpoint"));
        assert!(!ini_toggle("[server]\nenable = jaegerEnableGrpcEndpoint\n", "jaegerEnableGrpcEndpoint"));
        assert!(!ini_toggle("[feature_toggles]\n; enable = jaegerEnableGrpcEndpoint\n", "jaegerEnableGrpcEndpoint"));
    }
}
