//! Every link of the stack checked statically. For each link four things:
//! the host resolves to a service, the port is one the target really listens
//! on (from the target's own config), the protocols match (and the port serves
//! what the link needs), and the target binds an address other containers reach.
//! Plus one rule of the data flow: the collector's traces pipelines export to a
//! trace store that Grafana reads.
//!
//! | rule | what |
//! |---|---|
//! | the link's own rule (`scrape-target-unknown-service`, `alerting-target-unknown-service`, `otlp-endpoint-unknown-service`, `collector-exporter-unknown-service`, `promtail-client-unknown-service`, `loki-ruler-alertmanager-unknown-service`, `alertmanager-receiver-unknown-service`, `datasource-url-unknown-service`) | host names no service, or the target does not listen on that port |
//! | `link-protocol-mismatch` | e.g. an OTLP/gRPC exporter aimed at an OTLP/HTTP port, a datasource at an ingest port, alerts at the cluster port |
//! | `link-loopback-bind` | the target listens on `localhost`/`127.0.0.1` only |
//! | `collector-no-trace-store` | no traces pipeline of the collector exports to a trace store Grafana reads |

use crate::model::{Link, Listener, Node, Proto, StackModel};
use crate::read::compose::Origin;
use crate::lint::report::{Finding, Severity};

/// A finding of a link, with its own location and, in the message, the other end's.
fn finding(at: &Origin, rule: &str, message: String, hint: Option<String>) -> Finding {
    Finding { file: at.file.clone(), line: at.line, col: None, severity: Severity::Error, rule: rule.to_owned(), message, hint }
}

fn listeners(n: &Node) -> String {
    if n.listeners.is_empty() {
        return "nothing the stack declares".into();
    }
    n.listeners.iter().map(Listener::describe).collect::<Vec<_>>().join("; ")
}

fn compatible(link: Proto, listener: Proto) -> bool {
    link == listener || (link == Proto::Otlp && matches!(listener, Proto::OtlpGrpc | Proto::OtlpHttp))
}

/// The verdict of one link: `None` when it holds.
pub fn check_link(model: &StackModel, l: &Link) -> Option<Finding> {
    if l.proto == Proto::DockerLogs {
        return None;
    }
    let head = format!("{} → {} ({}) at `{}`", l.from, l.host, l.what, l.value);
    let Some(to) = l.to.as_deref().and_then(|t| model.node(t)) else {
        let names = model.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ");
        return Some(finding(&l.at, l.rule, format!("{head}: `{}` is not a service of {}", l.host, model.compose().display_name()), Some(format!("services: {names}"))));
    };
    // A kind the model does not know (or a pass-through proxy): its listeners are not
    // known, so the link is not judged ([`unjudged`] reports it once, as info).
    if !to.modelled {
        return None;
    }
    // One port may serve several APIs (Mimir: the Prometheus API and the Alertmanager).
    let on_port: Vec<&Listener> = to.listeners.iter().filter(|x| x.port == l.port).collect();
    let fitting = on_port.iter().copied().find(|x| compatible(l.proto, x.proto) && (l.expects.is_empty() || l.expects.contains(&x.serves)));
    let Some(listener) = fitting.or(on_port.first().copied()) else {
        let fix = match right_port(model, l, to) {
            Some(f) => format!("{f} "),
            None => String::new(),
        };
        return Some(finding(
            &l.at,
            l.rule,
            format!("{head}: service `{}` does not listen on port {}", to.name, l.port),
            Some(format!("{fix}(`{}` listens on: {})", to.name, listeners(to))),
        ));
    };
    let serves_ok = l.expects.is_empty() || l.expects.contains(&listener.serves);
    if !compatible(l.proto, listener.proto) || !serves_ok {
        let right = l.expects.iter().find_map(|e| to.listeners.iter().find(|x| x.serves == *e && compatible(l.proto, x.proto))).or_else(|| {
            if l.expects.is_empty() { to.listeners.iter().find(|x| compatible(l.proto, x.proto)) } else { None }
        });
        let other = to.listeners.iter().find(|x| x.serves == listener.serves && compatible(x.proto, l.proto) && x.port != l.port);
        let hint = match (right.or(other), l.proto) {
            (Some(r), _) => format!("use port {} ({} {})", r.port, r.proto, r.serves),
            (None, _) if right_port(model, l, to).is_some() => right_port(model, l, to).unwrap_or_default(),
            (None, Proto::OtlpGrpc) => format!("point it at {}'s OTLP/gRPC port, or switch the sender to OTLP/HTTP", to.name),
            (None, Proto::OtlpHttp) => format!("point it at {}'s OTLP/HTTP port, or switch the sender to gRPC", to.name),
            (None, _) => format!("`{}` listens on: {}", to.name, listeners(to)),
        };
        let wants = if l.expects.is_empty() { String::new() } else { format!(" and needs {}", l.expects.join("/")) };
        return Some(finding(
            &l.at,
            "link-protocol-mismatch",
            format!(
                "{head}: speaks {}{wants}, but port {} of `{}` is {} ({}) [{}]",
                l.proto,
                l.port,
                to.name,
                listener.proto,
                listener.serves,
                listener.at.as_ref().map_or("image default".into(), |o| format!("{}:{}", o.file, o.line))
            ),
            Some(hint),
        ));
    }
    if listener.loopback() && to.name != l.from {
        let at = listener.at.clone().unwrap_or_else(|| l.at.clone());
        return Some(finding(
            &at,
            "link-loopback-bind",
            format!("`{}` listens on {}:{} ({}), which other containers cannot reach: {head} ({}:{}) cannot connect", to.name, listener.bind, listener.port, listener.serves, l.at.file, l.at.line),
            Some(format!("bind 0.0.0.0:{} (or the service name) instead of {}", listener.port, listener.bind)),
        ));
    }
    None
}

/// The fix a hint names when the link's port is wrong: a port of the target that serves
/// what the link needs; else, when the target serves none (`localhost` inside the sender,
/// a wrong service), the service and port that do.
fn right_port(model: &StackModel, l: &Link, to: &Node) -> Option<String> {
    let fits = |x: &&Listener| compatible(l.proto, x.proto) && (l.expects.is_empty() || l.expects.contains(&x.serves));
    if let Some(x) = to.listeners.iter().find(fits) {
        return Some(format!("use port {}", x.port));
    }
    if l.expects.is_empty() {
        return None;
    }
    let (n, x) = model.nodes.iter().filter(|n| n.name != l.from && n.modelled && !n.virtual_node).find_map(|n| n.listeners.iter().find(fits).map(|x| (n, x)))?;
    let local = if crate::model::is_local(&l.host) { format!("`{}` inside `{}` is `{}` itself: ", l.host, l.from, l.from) } else { String::new() };
    Some(format!("{local}point it at `{}:{}` ({} serves {})", n.name, x.port, n.name, x.serves))
}

/// The links not judged because one end's kind is not modelled, with those kinds.
pub fn unjudged(model: &StackModel) -> Vec<&Link> {
    model.links.iter().filter(|l| l.to.as_deref().and_then(|t| model.node(t)).is_some_and(|n| !n.modelled)).collect()
}

/// Every finding of the stack's links and data flow, and one info naming what the
/// model does not know (the services of kinds it does not model, the links left unjudged).
pub fn check(model: &StackModel) -> Vec<Finding> {
    let mut out: Vec<Finding> = model.links.iter().filter_map(|l| check_link(model, l)).collect();
    out.extend(trace_store(model));
    out.extend(published_udp(model));
    out.extend(kafka_advertised(model));
    let unknown: Vec<String> = model.nodes.iter().filter(|n| !n.modelled).map(|n| format!("{} ({})", n.name, if n.image.is_empty() { "built" } else { &n.image })).collect();
    if !unknown.is_empty() {
        let links: Vec<String> = unjudged(model).iter().map(|l| format!("{} → {}:{} ({})", l.from, l.host, l.port, l.what)).collect();
        let file = model.compose().file.clone();
        let links = if links.is_empty() { "none".into() } else { links.join("; ") };
        out.push(Finding {
            file,
            line: 1,
            col: None,
            severity: Severity::Info,
            rule: "not-modelled".into(),
            message: format!("not modelled, so not judged: services {}; links into them: {links}", unknown.join(", ")),
            hint: Some("mark the service under test `obs-harness.role: app`; the README lists the kinds the model knows".into()),
        });
    }
    out
}

/// `kafka-advertised-localhost`: clients in other containers bootstrap from the broker's
/// service name, and the broker tells them to reconnect to `localhost`: their own loopback.
fn kafka_advertised(model: &StackModel) -> Vec<Finding> {
    let mut out = Vec::new();
    for n in model.of_kind("kafka") {
        let Some(svc) = model.compose().services.iter().find(|s| s.name == n.name) else { continue };
        let env = svc.environment.get("KAFKA_ADVERTISED_LISTENERS").or_else(|| svc.environment.get("KAFKA_CFG_ADVERTISED_LISTENERS")).and_then(|e| Some((e.value.clone()?, e.origin.clone())));
        let Some((v, at)) = crate::model::kinds::kafka::advertised_local(env) else { continue };
        let clients: Vec<&Link> = model.links.iter().filter(|l| l.to.as_deref() == Some(n.name.as_str()) && l.from != n.name).collect();
        if let Some(c) = clients.first() {
            out.push(finding(
                &at,
                "kafka-advertised-localhost",
                format!("`{}` advertises `{v}`: clients in other containers ({} at {}:{}) bootstrap from `{}` and are then told to connect to localhost, their own loopback", n.name, c.from, c.at.file, c.at.line, c.value),
                Some(format!("advertise the service name, e.g. `PLAINTEXT://{}:9092` (add a second listener for clients on the host)", n.name)),
            ));
        }
    }
    out
}

/// `port-published-as-tcp`: a compose `ports:` entry publishes over TCP (the default) a
/// port the service listens on over UDP only (Jaeger v1's agent on 6831): host clients
/// sending there reach nothing.
fn published_udp(model: &StackModel) -> Vec<Finding> {
    let mut out = Vec::new();
    for n in model.nodes.iter().filter(|n| n.modelled) {
        let Some(svc) = model.compose().services.iter().find(|s| s.name == n.name) else { continue };
        for p in svc.published.iter().filter(|p| p.protocol == "tcp") {
            for port in p.target.0..=p.target.1 {
                let on: Vec<&Listener> = n.listeners.iter().filter(|l| l.port == port).collect();
                if !on.is_empty() && on.iter().all(|l| l.proto == Proto::Udp) {
                    let spec = match &p.published {
                        Some(h) => format!("{h}:{port}/udp"),
                        None => format!("{port}/udp"),
                    };
                    out.push(finding(&p.origin, "port-published-as-tcp", format!("service `{}` publishes {port} over TCP, but it listens on {port} over UDP only ({})", n.name, on[0].serves), Some(format!("publish `{spec}`"))));
                }
            }
        }
    }
    out
}

/// `collector-no-trace-store`: OTLP reaches a collector whose traces pipelines
/// export to no trace store that Grafana reads (or, without Grafana trace
/// datasources, to no Jaeger).
fn trace_store(model: &StackModel) -> Vec<Finding> {
    let mut out = Vec::new();
    // Where Grafana reads traces from.
    let read_by_grafana: Vec<&str> = model
        .links
        .iter()
        .filter(|l| l.rule == "datasource-url-unknown-service" && (l.what.ends_with("(jaeger)") || l.what.ends_with("(tempo)") || l.what.ends_with("(zipkin)")))
        .filter_map(|l| l.to.as_deref())
        .collect();
    let stores: Vec<&str> = if read_by_grafana.is_empty() { model.of_kind("jaeger").map(|n| n.name.as_str()).collect() } else { read_by_grafana };
    if stores.is_empty() {
        return out;
    }
    let Some(c) = &model.stack.collector else { return out };
    let Some(node) = c.svc.as_deref().and_then(|s| model.node(s)) else { return out };
    let fed = model.links.iter().any(|l| matches!(l.proto, Proto::OtlpGrpc | Proto::OtlpHttp | Proto::Otlp) && l.to.as_deref() == Some(node.name.as_str()) && l.from != node.name);
    if !fed {
        return out;
    }
    let Some(doc) = model.stack.configs.get(&node.name) else { return out };
    let pipelines = crate::model::kinds::collector::pipeline_exporters(doc, "traces");
    let reaches = |exporter: &str| {
        model.links.iter().any(|l| l.from == node.name && l.what == format!("export {exporter}") && l.to.as_deref().is_some_and(|t| stores.contains(&t)))
    };
    if pipelines.iter().any(|(_, ex)| ex.iter().any(|e| reaches(e))) {
        return out;
    }
    let at = match pipelines.first() {
        Some((name, _)) => Origin { file: c.rel.clone(), line: crate::read::locate::line_of(&c.text, &format!("{name}:")) },
        None => Origin { file: c.rel.clone(), line: crate::read::locate::line_of(&c.text, "pipelines:") },
    };
    let exporters: Vec<String> = pipelines.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    out.push(finding(
        &at,
        "collector-no-trace-store",
        format!(
            "`{}` receives OTLP traces but no traces pipeline exports to {} (the trace store{} Grafana reads); pipelines export to: {}",
            node.name,
            stores.join(", "),
            if stores.len() > 1 { "s" } else { "" },
            if exporters.is_empty() { "nothing".into() } else { exporters.join(", ") }
        ),
        Some(format!("add an exporter whose endpoint is {}'s OTLP port to service.pipelines.traces.exporters", stores[0])),
    ));
    out
}
