//! The OpenTelemetry Collector: its OTLP receivers (those a pipeline uses) on
//! `protocols.grpc.endpoint` / `protocols.http.endpoint` (default
//! `localhost:4317` / `localhost:4318` since v0.104.0, `0.0.0.0` before), the
//! `health_check` extension (default `localhost:13133`, `0.0.0.0` before v0.104.0),
//! its own metrics (`service.telemetry`, default `localhost:8888` since v0.111.0,
//! `:8888` before) and the `prometheus` exporter's `endpoint` (where it *serves*
//! metrics: a listener, not a link). Each other exporter with an `endpoint` is a link
//! (`otlp`/`otlp_grpc` speak OTLP/gRPC, `otlphttp`/`otlp_http` OTLP/HTTP). Version
//! rules read the image tag; no tag or `latest` is the newest.

use super::super::{ConfigDoc, Ctx, Link, Listener, Proto, split_bind};

pub struct Collector;

/// Names of the components of `section` that some pipeline uses.
pub(crate) fn used(cfg: &ConfigDoc, section: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = cfg.get(&["service", "pipelines"]).and_then(|p| p.as_mapping()) {
        for (_, pl) in p {
            for v in pl.get(section).and_then(|v| v.as_sequence()).into_iter().flatten() {
                if let Some(s) = v.as_str()
                    && !out.iter().any(|x| x == s)
                {
                    out.push(s.to_owned());
                }
            }
        }
    }
    out
}

/// Exporters of the pipelines of one signal (`traces`, `traces/x`, …).
pub fn pipeline_exporters(cfg: &ConfigDoc, signal: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(p) = cfg.get(&["service", "pipelines"]).and_then(|p| p.as_mapping()) {
        for (name, pl) in p {
            let Some(name) = name.as_str() else { continue };
            if name == signal || name.starts_with(&format!("{signal}/")) {
                let ex = pl.get("exporters").and_then(|v| v.as_sequence()).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                out.push((name.to_owned(), ex));
            }
        }
    }
    out
}

/// The default bind of a receiver or extension endpoint: `localhost` since v0.104.0
/// (the `component.UseLocalHostAsDefaultHost` gate), all interfaces before.
fn default_host(ctx: &Ctx) -> &'static str {
    if ctx.image.older_than((0, 104, 0)) { "0.0.0.0" } else { "localhost" }
}

fn endpoint_listener(ctx: &Ctx, cfg: &ConfigDoc, path: &[&str], default: &str, proto: Proto, serves: &'static str) -> Option<Listener> {
    let set = cfg.get(path).and_then(|v| v.get("endpoint")).and_then(crate::read::compose::scalar);
    let (value, at) = match set {
        Some(v) => {
            let at = ctx.at("endpoint", Some(&v));
            (v, at)
        }
        // The default: located at the block that enables it (`grpc:`, `health_check:`), so a
        // finding about the default bind points where an `endpoint:` would go.
        None => (default.to_owned(), Some(cfg.origin_path(path))),
    };
    let (bind, port) = split_bind(&value)?;
    Some(Listener { port, proto, serves, bind, at })
}

/// The OTLP listeners of the receivers a pipeline uses (the collector's and Jaeger v2's).
pub(crate) fn otlp_listeners(ctx: &Ctx, cfg: &ConfigDoc) -> Vec<Listener> {
    let mut out = Vec::new();
    for r in used(cfg, "receivers") {
        if r != "otlp" && !r.starts_with("otlp/") {
            continue;
        }
        let Some(protocols) = cfg.get(&["receivers", r.as_str(), "protocols"]) else { continue };
        let host = default_host(ctx);
        if protocols.get("grpc").is_some() {
            out.extend(endpoint_listener(ctx, cfg, &["receivers", &r, "protocols", "grpc"], &format!("{host}:4317"), Proto::OtlpGrpc, "otlp"));
        }
        if protocols.get("http").is_some() {
            out.extend(endpoint_listener(ctx, cfg, &["receivers", &r, "protocols", "http"], &format!("{host}:4318"), Proto::OtlpHttp, "otlp"));
        }
    }
    out
}

/// Extensions the service enables (`service.extensions`).
pub(crate) fn extensions(cfg: &ConfigDoc) -> Vec<String> {
    cfg.get(&["service", "extensions"]).and_then(|v| v.as_sequence()).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

/// The exporter's wire protocol and what it must reach, by exporter type.
pub fn exporter_kind(name: &str) -> Option<(Proto, &'static [&'static str], Option<u16>)> {
    let ty = name.split('/').next().unwrap_or(name);
    Some(match ty {
        "otlp" | "otlp_grpc" => (Proto::OtlpGrpc, &["otlp"][..], Some(4317)),
        "otlphttp" | "otlp_http" => (Proto::OtlpHttp, &["otlp"][..], Some(4318)),
        "prometheusremotewrite" => (Proto::Http, &["prometheus"][..], None),
        "loki" => (Proto::Http, &["loki"][..], None),
        "zipkin" | "elasticsearch" | "otlp_arrow" | "jaeger" => (Proto::Http, &[][..], None),
        _ => return None,
    })
}

impl super::Kind for Collector {
    fn name(&self) -> &'static str {
        "otel-collector"
    }
    fn images(&self) -> &'static [&'static str] {
        &[
            "otel/opentelemetry-collector",
            "otel/opentelemetry-collector-contrib",
            "otel/opentelemetry-collector-k8s",
            "otel/opentelemetry-collector-otlp",
            "open-telemetry/opentelemetry-collector-releases/opentelemetry-collector",
            "open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib",
            "open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s",
        ]
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config"]
    }
    /// The contrib image's default command reads `/etc/otelcol-contrib/config.yaml`, the core one's `/etc/otelcol/config.yaml`.
    fn default_config(&self, image: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some(if image.repository.ends_with("-contrib") { "/etc/otelcol-contrib/config.yaml" } else { "/etc/otelcol/config.yaml" })
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let Some(cfg) = ctx.config else {
            return [(4317, Proto::OtlpGrpc, "otlp"), (4318, Proto::OtlpHttp, "otlp"), (8888, Proto::Http, "metrics"), (13133, Proto::Http, "health")]
                .into_iter()
                .map(|(port, proto, serves)| Listener { port, proto, serves, bind: String::new(), at: None })
                .collect();
        };
        let mut out = otlp_listeners(ctx, cfg);
        if extensions(cfg).iter().any(|e| e == "health_check" || e.starts_with("health_check/")) {
            let name = extensions(cfg).into_iter().find(|e| e.starts_with("health_check")).unwrap_or_default();
            out.extend(endpoint_listener(ctx, cfg, &["extensions", &name], &format!("{}:13133", default_host(ctx)), Proto::Http, "health"));
        }
        // Internal telemetry: a pull reader's host/port, else the default 8888.
        let reader = cfg
            .get(&["service", "telemetry", "metrics", "readers"])
            .and_then(|r| r.as_sequence())
            .and_then(|r| r.iter().find_map(|x| x.get("pull")?.get("exporter")?.get("prometheus").cloned()));
        match reader {
            Some(p) => {
                let port = p.get("port").and_then(crate::read::compose::scalar).and_then(|v| v.parse().ok()).unwrap_or(8888);
                let bind = p.get("host").and_then(crate::read::compose::scalar).unwrap_or_default();
                let at = ctx.at("port", Some(&port.to_string()));
                out.push(Listener { port, proto: Proto::Http, serves: "metrics", bind, at });
            }
            None => {
                let bind = if ctx.image.older_than((0, 111, 0)) { String::new() } else { "localhost".into() };
                out.push(Listener { port: 8888, proto: Proto::Http, serves: "metrics", bind, at: None });
            }
        }
        // The `prometheus` exporter serves metrics on its endpoint (pull).
        for e in used(cfg, "exporters").into_iter().filter(|e| serving_exporter(e)) {
            out.extend(endpoint_listener(ctx, cfg, &["exporters", &e], "", Proto::Http, "metrics"));
        }
        out
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        ctx.config.map(|c| config_links(ctx, c)).unwrap_or_default()
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "health").map(|l| (l.port, "/"))
    }
}

/// The links of a collector-style config: each exporter's `endpoint`, and the
/// `loadbalancing` exporter's static backends (OTLP/gRPC, port 4317 by default).
pub(crate) fn config_links(ctx: &Ctx, cfg: &ConfigDoc) -> Vec<Link> {
    let exporters: std::collections::BTreeMap<String, Option<crate::read::configs::CollectorExporter>> =
        cfg.get(&["exporters"]).and_then(|e| serde_yaml::from_value(e.clone()).ok()).unwrap_or_default();
    let mut out = exporter_links(ctx, &exporters, &cfg.rel, &cfg.text);
    for name in exporters.keys().filter(|n| n.split('/').next() == Some("loadbalancing")) {
        let hosts = cfg.get(&["exporters", name, "resolver", "static", "hostnames"]).and_then(|h| h.as_sequence()).cloned().unwrap_or_default();
        for h in hosts.iter().filter_map(crate::read::compose::scalar) {
            let at = cfg.origin(&h, None);
            out.push(super::link(ctx, &h, Some(4317), Proto::OtlpGrpc, &["otlp"], format!("export {name}"), "collector-exporter-unknown-service", at));
        }
    }
    // Kafka brokers the `kafka` exporter and receiver connect to.
    for section in ["exporters", "receivers"] {
        for (name, c) in cfg.get(&[section]).and_then(|e| e.as_mapping()).into_iter().flatten() {
            let Some(name) = name.as_str().filter(|n| n.split('/').next() == Some("kafka")) else { continue };
            for b in c.get("brokers").and_then(|b| b.as_sequence()).into_iter().flatten().filter_map(crate::read::compose::scalar) {
                let at = cfg.origin(&b, None);
                out.push(super::link(ctx, &b, Some(9092), Proto::Kafka, &["kafka"], format!("{section} {name}"), "kafka-broker-unknown-service", at));
            }
        }
    }
    out
}

/// Exporters that serve on their `endpoint` (scraped), not send to it.
pub(crate) fn serving_exporter(name: &str) -> bool {
    name.split('/').next() == Some("prometheus")
}

/// One link per exporter with an `endpoint` (any collector-style config).
pub(crate) fn exporter_links(ctx: &Ctx, exporters: &std::collections::BTreeMap<String, Option<crate::read::configs::CollectorExporter>>, rel: &str, text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    for (name, e) in exporters {
        let Some(ep) = e.as_ref().and_then(|e| e.endpoint.as_ref()) else { continue };
        if serving_exporter(name) {
            continue;
        }
        let (proto, expects, default) = exporter_kind(name).unwrap_or((Proto::Http, &[], None));
        let at = crate::read::compose::Origin { file: rel.to_owned(), line: crate::read::locate::line_of(text, ep) };
        out.push(super::link(ctx, ep, default, proto, expects, format!("export {name}"), "collector-exporter-unknown-service", at));
    }
    out
}
