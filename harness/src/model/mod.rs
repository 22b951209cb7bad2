//! The stack model: one picture of the stack, read once, that lint, the
//! lifecycle, the graph and the checks all read.
//!
//! It is built from what [`crate::lint`] parsed (the merged compose files and
//! every config they mount) and adds, per service:
//! - its **kind** (Prometheus, Loki, the collector, …), from its image or its
//!   `obs-harness.role` label;
//! - its **listeners**: address, port and protocol, taken from the service's own
//!   config, flags or environment, with the image's defaults only as fallback;
//! - its **links**: what it sends where (scrapes, OTLP exports, pushes, alert
//!   notifications, datasource queries), each with the file and line that says so.
//!
//! Each kind is one module of [`kinds`]: adding a service kind (Tempo, Alloy)
//! means one new module that describes its listeners and its outgoing links,
//! and one line in [`kinds::ALL`]. [`links::check`] checks every link
//! statically; [`graph`] draws them.

pub mod kinds;

use crate::read::compose::{ComposeInput, Origin, ServiceInfo};
use crate::read::{ReadError, Stack};

pub use crate::read::ConfigDoc;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The harness's own Alertmanager webhook receiver: a node of the run, not of the compose file.
pub const WEBHOOK_SERVICE: &str = "harness-webhook";
/// The port it listens on.
pub const WEBHOOK_PORT: u16 = 9099;

/// The wire protocol of a listener or of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proto {
    /// Plain HTTP (APIs, `/metrics`, UIs).
    Http,
    /// gRPC other than OTLP.
    Grpc,
    /// OTLP over gRPC.
    OtlpGrpc,
    /// OTLP over HTTP (protobuf or JSON).
    OtlpHttp,
    /// OTLP whose transport is not known: an SDK whose protocol is unset and whose
    /// endpoint's port and path do not say (SDK defaults differ by language).
    Otlp,
    /// Memberlist/cluster gossip (not HTTP).
    Gossip,
    /// Plain UDP (Jaeger v1's agent ports).
    Udp,
    /// Kafka's wire protocol.
    Kafka,
    /// Reading container logs through the Docker API (Promtail → containers).
    DockerLogs,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Grpc => "grpc",
            Proto::OtlpGrpc => "otlp/grpc",
            Proto::OtlpHttp => "otlp/http",
            Proto::Otlp => "otlp",
            Proto::Udp => "udp",
            Proto::Kafka => "kafka",
            Proto::Gossip => "gossip",
            Proto::DockerLogs => "docker logs",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port a service listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub port: u16,
    pub proto: Proto,
    /// What is served there (`prometheus`, `loki`, `otlp`, `jaeger-query`, `alertmanager`,
    /// `alertmanager-cluster`, `grafana`, `metrics`, `health`, `app`, `webhook`, …).
    pub serves: &'static str,
    /// The bind address (`0.0.0.0`, `localhost`, `127.0.0.1`, `::`); empty means all.
    pub bind: String,
    /// Where the stack sets it; `None` for the image's default.
    pub at: Option<Origin>,
}

impl Listener {
    /// Only reachable from inside its own container.
    pub fn loopback(&self) -> bool {
        let b = self.bind.trim_matches(['[', ']']);
        b == "localhost" || b.starts_with("127.") || b == "::1"
    }

    /// `port/proto (serves)` and where it is set, for messages.
    pub fn describe(&self) -> String {
        let at = match &self.at {
            Some(o) => format!("{}:{}", o.file, o.line),
            None => "image default".into(),
        };
        let bind = if self.bind.is_empty() { String::new() } else { format!(" on {}", self.bind) };
        format!("{} {} ({}){bind}, {at}", self.port, self.proto, self.serves)
    }
}

/// One service of the stack as the model sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    /// [`kinds::Kind::name`], or `service` for a kind the model does not know.
    pub kind: &'static str,
    pub image: String,
    pub listeners: Vec<Listener>,
    /// Only in the run, not in the compose file (the harness's webhook receiver).
    pub virtual_node: bool,
    /// Its kind is modelled (listeners and links read from its own config): links to it
    /// are judged. A kind the model does not know, or a pass-through proxy, is not.
    pub modelled: bool,
}

impl Node {
    pub fn listener(&self, port: u16) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.port == port)
    }

    /// The listener that serves `what` (first one).
    pub fn serving(&self, what: &str) -> Option<&Listener> {
        self.listeners.iter().find(|l| l.serves == what)
    }
}

/// Something one service sends to (or reads from) another.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// The service that opens the connection.
    pub from: String,
    /// Host as written (a service name, a `container_name`, `localhost`).
    pub host: String,
    pub port: u16,
    pub proto: Proto,
    /// What the target must serve on that port; empty means anything speaking `proto`.
    pub expects: &'static [&'static str],
    /// Short name of the link for messages and the graph (`scrape fastapi`, `OTLP traces`).
    pub what: String,
    /// The lint rule reported when the host or port is wrong (kept per link kind).
    pub rule: &'static str,
    /// The value as written (target, URL, endpoint).
    pub value: String,
    /// Where it is written.
    pub at: Origin,
    /// Resolved target service (filled by [`StackModel::build`]).
    pub to: Option<String>,
}

/// The stack: its files (as lint read them), its services and links.
pub struct StackModel {
    pub(crate) stack: Stack,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

/// What a kind module sees of one service.
pub struct Ctx<'a> {
    pub(crate) stack: &'a Stack,
    pub svc: &'a ServiceInfo,
    pub config: Option<&'a ConfigDoc>,
    /// Its image reference (version rules read its tag; no tag or `latest` is the newest).
    pub image: crate::read::image::ImageRef,
}

impl Ctx<'_> {
    /// The value of `--flag` and where the command sets it.
    pub fn flag(&self, name: &str) -> Option<(String, Origin)> {
        let v = self.svc.flag(name)?;
        Some((v, self.command_origin(name)))
    }

    fn command_origin(&self, needle: &str) -> Origin {
        match &self.svc.command_origin {
            Some(o) => {
                let text = self.stack.compose.text_of(&o.file);
                Origin {
                    file: o.file.clone(),
                    line: crate::read::compose::find_in_service(text, &self.svc.name, |l| l.contains(needle)).unwrap_or(o.line),
                }
            }
            None => self.svc.origin.clone(),
        }
    }

    /// An environment variable's value and where it is set.
    pub fn env(&self, key: &str) -> Option<(String, Origin)> {
        let e = self.svc.environment.get(key)?;
        Some((e.value.clone()?, e.origin.clone()))
    }

    /// Where `key` is set in this service's config file (`None` without a config).
    pub fn at(&self, key: &str, value: Option<&str>) -> Option<Origin> {
        self.config.map(|c| c.origin(key, value))
    }
}

/// `host:port`, `:port`, `[::]:port` → (bind, port).
pub fn split_bind(addr: &str) -> Option<(String, u16)> {
    let (h, p) = addr.trim().rsplit_once(':')?;
    Some((h.trim_matches(['[', ']']).to_owned(), p.parse().ok()?))
}

impl std::fmt::Debug for StackModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackModel").field("dir", &self.stack.dir).field("nodes", &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

impl StackModel {
    /// Reads the stack in `dir` (and the compose files, merged in order; empty: the main one).
    pub fn load(dir: &Path, compose_files: &[PathBuf]) -> Result<Self, ReadError> {
        Self::load_input(dir, &ComposeInput::files(compose_files.iter().cloned()))
    }

    /// Reads the compose project `input` describes in `dir`.
    pub fn load_input(dir: &Path, input: &ComposeInput) -> Result<Self, ReadError> {
        Self::build(crate::read::load(dir, input)?)
    }

    /// The model of an already-read stack.
    pub(crate) fn build(stack: Stack) -> Result<Self, ReadError> {
        let mut nodes = Vec::new();
        let mut links = Vec::new();
        for svc in &stack.compose.services {
            let ctx = Ctx { stack: &stack, svc, config: stack.configs.get(&svc.name), image: crate::read::image::ImageRef::parse(&svc.image) };
            let kind = kinds::kind_of(svc);
            let listeners = match kind {
                Some(k) => k.listeners(&ctx),
                None => svc.ports.iter().map(|&port| Listener { port, proto: Proto::Http, serves: "service", bind: String::new(), at: None }).collect(),
            };
            nodes.push(Node { name: svc.name.clone(), kind: kind.map_or("service", |k| k.name()), image: svc.image.clone(), listeners, virtual_node: false, modelled: kind.is_some_and(|k| k.judged()) });
            if let Some(k) = kind {
                links.extend(k.links(&ctx));
            }
            links.extend(kinds::sdk::links(&ctx));
        }
        // The harness hosts the Alertmanager webhook receiver in the run.
        if nodes.iter().any(|n| n.kind == "alertmanager") && !nodes.iter().any(|n| n.name == WEBHOOK_SERVICE) {
            nodes.push(Node {
                name: WEBHOOK_SERVICE.into(),
                kind: "harness-webhook",
                image: "obs-harness (the harness's own receiver)".into(),
                listeners: vec![Listener { port: WEBHOOK_PORT, proto: Proto::Http, serves: "webhook", bind: "0.0.0.0".into(), at: None }],
                virtual_node: true,
                modelled: true,
            });
        }
        let mut model = Self { stack, nodes, links };
        for i in 0..model.links.len() {
            let to = model.resolve(&model.links[i].from, &model.links[i].host).map(|n| n.name.clone());
            model.links[i].to = to;
        }
        Ok(model)
    }

    /// The service a host names from `from`'s point of view (`localhost` is `from` itself).
    pub fn resolve(&self, from: &str, host: &str) -> Option<&Node> {
        let name = if is_local(host) { from } else { host };
        let svc = self.stack.compose.service(name).map(|s| s.name.as_str()).unwrap_or(name);
        self.nodes.iter().find(|n| n.name == svc)
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Nodes of a kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    /// The compose services and their configs as read.
    pub fn compose(&self) -> &crate::read::compose::ComposeModel {
        &self.stack.compose
    }

    /// The stack directory.
    pub fn dir(&self) -> &Path {
        &self.stack.dir
    }
}

/// `localhost`, `127.0.0.1`, `0.0.0.0`, `::1`: the connecting container itself.
pub fn is_local(host: &str) -> bool {
    matches!(host.trim_matches(['[', ']']), "localhost" | "127.0.0.1" | "0.0.0.0" | "::1" | "")
}
