//! Apache Kafka (a broker the trace pipeline may run through): listens on the ports of
//! `KAFKA_LISTENERS` (default 9092), and tells clients to reconnect to
//! `KAFKA_ADVERTISED_LISTENERS`. A client in another container that bootstraps from
//! `kafka:9092` and is told `localhost:9092` connects to itself: `kafka-advertised-localhost`.

use super::super::{Ctx, Link, Listener, Proto};

pub struct Kafka;

/// `NAME://host:port` entries of a Kafka listener list.
fn entries(v: &str) -> Vec<(String, u16)> {
    v.split(',').filter_map(|e| crate::read::compose::host_port(e.split_once("://").map_or(e, |(_, r)| r))).collect()
}

impl super::Kind for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }
    fn images(&self) -> &'static [&'static str] {
        &["apache/kafka", "apache/kafka-native", "bitnami/kafka", "confluentinc/cp-kafka", "redpandadata/redpanda"]
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let from_env = ctx.env("KAFKA_LISTENERS").or_else(|| ctx.env("KAFKA_CFG_LISTENERS"));
        match from_env {
            Some((v, at)) => {
                let mut out: Vec<Listener> = Vec::new();
                for e in v.split(',') {
                    let rest = e.split_once("://").map_or(e, |(_, r)| r);
                    if let Some((host, port)) = rest.rsplit_once(':').and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?))) {
                        out.push(Listener { port, proto: Proto::Kafka, serves: "kafka", bind: host, at: Some(at.clone()) });
                    }
                }
                out
            }
            None => vec![Listener { port: 9092, proto: Proto::Kafka, serves: "kafka", bind: String::new(), at: None }],
        }
    }
    fn links(&self, _ctx: &Ctx) -> Vec<Link> {
        Vec::new()
    }
}

/// The advertised listeners when every one of them is the broker's own loopback, with where set.
pub fn advertised_local(ctx_env: Option<(String, crate::read::compose::Origin)>) -> Option<(String, crate::read::compose::Origin)> {
    let (v, at) = ctx_env?;
    let all_local = !entries(&v).is_empty() && entries(&v).iter().all(|(h, _)| super::super::is_local(h));
    all_local.then_some((v, at))
}
