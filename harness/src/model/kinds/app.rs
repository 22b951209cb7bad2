//! The service under test: the one labelled `obs-harness.role: app|reference-app`
//! (or running the reference app's image). Listens on `PORT` (default 8000) for
//! its API and `/metrics`; its OTLP export is a [`super::sdk`] link.

use super::super::{Ctx, Link, Listener, Proto};

/// The compose label that names a service's role (`app`, `reference-app`).
pub const ROLE_LABEL: &str = "obs-harness.role";

pub struct App;

impl super::Kind for App {
    fn name(&self) -> &'static str {
        "app"
    }
    fn images(&self) -> &'static [&'static str] {
        &["obs-reference-app"]
    }
    fn matches(&self, svc: &crate::read::compose::ServiceInfo) -> bool {
        svc.labels.get(ROLE_LABEL).is_some_and(|r| r == "app" || r == "reference-app") || crate::read::image::ImageRef::parse(&svc.image).is_any(self.images())
    }
    fn listeners(&self, ctx: &Ctx) -> Vec<Listener> {
        let port = ctx.env("PORT").and_then(|(v, at)| Some((v.parse().ok()?, at)));
        let mut out: Vec<Listener> = match port {
            Some((p, at)) => vec![Listener { port: p, proto: Proto::Http, serves: "app", bind: "0.0.0.0".into(), at: Some(at) }],
            None if ctx.svc.labels.get(ROLE_LABEL).is_some_and(|r| r == "reference-app") || crate::read::image::ImageRef::parse(&ctx.svc.image).is_any(self.images()) => {
                vec![Listener { port: 8000, proto: Proto::Http, serves: "app", bind: "0.0.0.0".into(), at: None }]
            }
            None => Vec::new(),
        };
        // A user's own app: what its compose entry publishes or exposes.
        for p in &ctx.svc.ports {
            if !out.iter().any(|l| l.port == *p) {
                out.push(Listener { port: *p, proto: Proto::Http, serves: "app", bind: String::new(), at: None });
            }
        }
        out
    }
    fn links(&self, _ctx: &Ctx) -> Vec<Link> {
        Vec::new()
    }
    fn readiness(&self, listeners: &[Listener]) -> Option<(u16, &'static str)> {
        listeners.first().map(|l| (l.port, "/healthz"))
    }
}
