//! Grafana Alloy, Promtail's successor: its configuration syntax
//! ([`crate::read::alloy_syntax`]) read into listeners and links.
//!
//! - Config: the last positional argument of `run` (the image's default command
//!   reads `/etc/alloy/config.alloy`); `alloy otel --config=FILE` runs its OTel engine
//!   on a collector config, read as [`super::collector`] reads one.
//! - Listeners: its UI/API on `--server.http.listen-addr` (default `127.0.0.1:12345`:
//!   the image's command sets none, so the UI is reachable only inside the container);
//!   each `otelcol.receiver.otlp` `grpc`/`http` block on its `endpoint` (default
//!   `0.0.0.0:4317`/`0.0.0.0:4318`).
//! - Links: `otelcol.exporter.otlp` / `otelcol.exporter.otlphttp` `client.endpoint`;
//!   `loki.write` `endpoint.url` (with `tenant_id`); `prometheus.remote_write`
//!   `endpoint.url`; `prometheus.scrape` static `__address__` targets; and
//!   `loki.source.docker` reading container logs (as Promtail's Docker target).
//!
//! Source: grafana/alloy v1.18.1 `internal/alloycli/cmd_run.go`, `Dockerfile`,
//! `internal/component/otelcol/receiver/otlp/otlp.go`.

use super::super::{Ctx, Link, Listener, Proto, split_bind};
use crate::read::alloy_syntax::{self, Block, Value};
use crate::read::compose::Origin;

pub struct Alloy;

/// `alloy otel …`: the OTel engine, configured like a collector.
fn otel_engine(svc: &crate::read::compose::ServiceInfo) -> bool {
    svc.command.iter().flat_map(|c| c.split_whitespace()).next() == Some("otel")
}

/// The parsed config (top-level blocks), if it was read and parses.
fn blocks(ctx: &Ctx) -> Option<Vec<Block>> {
    alloy_syntax::parse(&ctx.config?.text).ok()
}

/// A string attribute: a literal, or `env("X")`/`sys.env("X")` from the service's environment.
fn string(ctx: &Ctx, v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Str(s) => Some(s.clone()),
        Value::Call { func, args } if func == "env" || func == "sys.env" => {
            let name = args.first()?.as_str()?;
            ctx.svc.environment.get(name).and_then(|e| e.value.clone())
        }
        _ => None,
    }
}

fn at(ctx: &Ctx, line: usize) -> Origin {
    Origin { file: ctx.config.map(|c| c.rel.clone()).unwrap_or_default(), line }
}

/// Every block, nested ones included, named `name`.
fn all<'a>(blocks: &'a [Block], name: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    blocks.iter().filter(move |b| b.name == name)
}

impl super::Kind for Alloy {
    fn name(&self) -> &'static str {
        "alloy"
    }
    fn images(&self) -> &'static [&'static str] {
        &["grafana/alloy", "grafana/alloy-dev"]
    }
    fn default_config(&self, _: &crate::read::image::ImageRef) -> Option<&'static str> {
        Some("/etc/alloy/config.alloy")
    }
    fn positional_config(&self, svc: &crate::read::compose::ServiceInfo) -> Option<String> {
        if otel_engine(svc) {
            return None;
        }
        let args: Vec<&str> = svc.command.iter().flat_map(|c| c.split_whitespace()).collect();
        let mut rest = args.iter().skip_while(|a| **a != "run").skip(1).peekable();
        let mut last = None;
        while let Some(a) = rest.next() {
            if a.starts_with('-') {
                // `--flag value` (no `=`): its value is not the config path.
                if !a.contains('=') && rest.peek().is_some_and(|n| !n.starts_with('-') && !n.starts_with('/') && !n.starts_with('.')) {
                    rest.next();
                }
            } else {
                last = Some(a.to_string());
            }
        }
        last
    }
    fn config_flags(&self) -> &'static [&'static str] {
        &["config"]
    }
    fn config_is_yaml(&self, svc: &crate::read::compose::ServiceInfo) -> bool {
        otel_engine(svc)
    }
    fn config_env_expansion(&self) -> Option<&'static str> {
        Some("")
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        if otel_engine(ctx.svc) {
            return ctx.config.map(|c| super::collector::otlp_listeners(ctx, c)).unwrap_or_default();
        }
        let mut out: Vec<Listener> = super::from_addr(ctx.flag("server.http.listen-addr"), "127.0.0.1", 12345, Proto::Http, "alloy-ui").into_iter().collect();
        let Some(blocks) = blocks(ctx) else { return out };
        for r in all(&blocks, "otelcol.receiver.otlp") {
            for (key, port, proto) in [("grpc", 4317, Proto::OtlpGrpc), ("http", 4318, Proto::OtlpHttp)] {
                let Some(b) = r.block(key) else { continue };
                let l = match string(ctx, b.attr("endpoint")).and_then(|v| split_bind(&v)) {
                    Some((bind, port)) => Listener { port, proto, serves: "otlp", bind, at: Some(at(ctx, b.line)) },
                    None => Listener { port, proto, serves: "otlp", bind: "0.0.0.0".into(), at: Some(at(ctx, b.line)) },
                };
                out.push(l);
            }
        }
        out
    }
    fn links(&self, ctx: &Ctx) -> Vec<Link> {
        if otel_engine(ctx.svc) {
            return ctx.config.map(|c| super::collector::config_links(ctx, c)).unwrap_or_default();
        }
        let Some(blocks) = blocks(ctx) else { return Vec::new() };
        let mut out = Vec::new();
        let mut push = |value: String, line: usize, default: Option<u16>, proto: Proto, expects: &'static [&'static str], what: String, rule: &'static str| {
            out.push(super::link(ctx, &value, default, proto, expects, what, rule, at(ctx, line)));
        };
        for (name, proto, port) in [("otelcol.exporter.otlp", Proto::OtlpGrpc, 4317), ("otelcol.exporter.otlphttp", Proto::OtlpHttp, 4318)] {
            for e in all(&blocks, name) {
                if let Some(c) = e.block("client")
                    && let Some(ep) = string(ctx, c.attr("endpoint"))
                {
                    let line = c.attrs.iter().find(|a| a.key == "endpoint").map_or(c.line, |a| a.line);
                    push(ep, line, Some(port), proto, &["otlp"], format!("export {}", e.id()), "alloy-exporter-unknown-service");
                }
            }
        }
        for (name, expects, what) in [("loki.write", &["loki"][..], "push logs"), ("prometheus.remote_write", &["prometheus"][..], "remote write")] {
            for w in all(&blocks, name) {
                for ep in w.blocks_named("endpoint") {
                    if let Some(url) = string(ctx, ep.attr("url")) {
                        let line = ep.attrs.iter().find(|a| a.key == "url").map_or(ep.line, |a| a.line);
                        push(url, line, Some(80), Proto::Http, expects, format!("{what} ({})", w.id()), "alloy-endpoint-unknown-service");
                    }
                }
            }
        }
        // Containers whose logs `loki.source.docker` reads: those its `discovery.docker`
        // label filters select (all of them without a filter).
        let mut docker_links = Vec::new();
        for src in all(&blocks, "loki.source.docker") {
            let disc: Vec<&str> = src.attr("targets").map(|t| t.refs()).unwrap_or_default();
            let filters: Vec<(String, Option<String>)> = all(&blocks, "discovery.docker")
                .filter(|d| disc.iter().any(|r| r.starts_with(&format!("{}.", d.id()))))
                .flat_map(|d| d.blocks_named("filter"))
                .filter(|f| string(ctx, f.attr("name")).as_deref() == Some("label"))
                .flat_map(|f| match f.attr("values") {
                    Some(Value::Array(v)) => v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                })
                .map(|v| match v.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (v, None),
                })
                .collect();
            for s in &ctx.stack.compose.services {
                let selected = filters.iter().all(|(k, v)| s.labels.get(k).is_some_and(|x| v.as_ref().is_none_or(|v| v == x)));
                if selected && s.name != ctx.svc.name {
                    docker_links.push(Link {
                        from: ctx.svc.name.clone(),
                        host: s.name.clone(),
                        port: 0,
                        proto: Proto::DockerLogs,
                        expects: &[],
                        what: format!("read logs ({})", src.id()),
                        rule: "",
                        value: "docker.sock".into(),
                        at: at(ctx, src.line),
                        to: None,
                    });
                }
            }
        }
        for s in all(&blocks, "prometheus.scrape") {
            let Some(Value::Array(targets)) = s.attr("targets") else { continue };
            for t in targets {
                let Value::Object(fields) = t else { continue };
                if let Some((_, v)) = fields.iter().find(|(k, _)| k == "__address__")
                    && let Some(addr) = string(ctx, Some(v))
                {
                    let line = s.attrs.iter().find(|a| a.key == "targets").map_or(s.line, |a| a.line);
                    push(addr, line, None, Proto::Http, &[], format!("scrape {}", s.id()), "alloy-scrape-unknown-service");
                }
            }
        }
        out.extend(docker_links);
        out
    }
    fn readiness(&self, l: &[Listener]) -> Option<(u16, &'static str)> {
        l.iter().find(|l| l.serves == "alloy-ui").map(|l| (l.port, "/-/ready"))
    }
}

/// The `tenant_id`s its `loki.write` endpoints set.
pub fn tenants(ctx: &Ctx) -> Vec<String> {
    let Some(blocks) = blocks(ctx) else { return Vec::new() };
    all(&blocks, "loki.write").flat_map(|w| w.blocks_named("endpoint")).filter_map(|e| string(ctx, e.attr("tenant_id"))).collect()
}
