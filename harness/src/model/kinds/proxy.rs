//! Reverse proxies and gateways (nginx, Caddy, Traefik, HAProxy, Envoy): a
//! pass-through to the services they front. What they listen on and forward to
//! lives in configs the model does not read, so links into them are not judged;
//! they are drawn as proxies, not as unknown services.

use super::super::{Ctx, Link, Listener, Proto};

pub struct Proxy;

impl super::Kind for Proxy {
    fn name(&self) -> &'static str {
        "proxy"
    }
    fn images(&self) -> &'static [&'static str] {
        &["nginx", "nginxinc/nginx-unprivileged", "bitnami/nginx", "caddy", "traefik", "haproxy", "envoyproxy/envoy", "stefanprodan/caddy"]
    }
    fn judged(&self) -> bool {
        false
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        ctx.svc.ports.iter().map(|&port| Listener { port, proto: Proto::Http, serves: "proxy", bind: String::new(), at: None }).collect()
    }
    fn links(&self, _ctx: &Ctx) -> Vec<Link> {
        Vec::new()
    }
}
