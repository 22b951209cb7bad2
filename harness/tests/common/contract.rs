//! What the contract tests share: recorded answers read in place from
//! `fixtures/`, upstream's own shapes from `$OBS_UPSTREAM_SHAPES_DIR`, wiremock
//! answers made of them, the traffic a check is given, and a verdict's text
//! made stable (mock addresses, poll counts and query times replaced) for
//! snapshots.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use obs_harness::checks::Verdict;
use obs_harness::traffic::{LlmCall, Sent, TrafficRecord};
use wiremock::ResponseTemplate;

/// `fixtures/<rel>` of this workspace; a missing file panics naming its path.
pub fn fixture(rel: impl AsRef<Path>) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `$OBS_UPSTREAM_SHAPES_DIR` (default `<workspace>/../shared/fixtures/upstream-shapes`):
/// upstream's own response data, read in place, never copied in.
pub fn upstream_dir() -> PathBuf {
    std::env::var_os("OBS_UPSTREAM_SHAPES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/upstream-shapes"))
}

/// One file of [`upstream_dir`]; a missing one panics saying how to point at the folder.
pub fn upstream(rel: &str) -> String {
    let p = upstream_dir().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!("{}: {e} (set OBS_UPSTREAM_SHAPES_DIR to the folder holding jaeger-api-v3/ and grafana-http-api/)", p.display())
    })
}

/// A JSON answer with `body`.
pub fn json(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body, "application/json")
}

/// A request the traffic sent (step 0, its trace id echoed by the app).
pub fn sent(method: &str, path: &str, handler: &str, status: u16, trace_id: &str) -> Sent {
    Sent {
        step: 0,
        method: method.into(),
        path: path.into(),
        handler: handler.into(),
        status,
        trace_id: trace_id.into(),
        echoed_trace_id: Some(trace_id.into()),
        llm: None,
    }
}

/// The reference app's LLM call: `POST /llm/chat` to gpt-4o by openai.
pub fn chat(trace_id: &str) -> Sent {
    Sent { llm: Some(LlmCall { model: "gpt-4o".into(), provider: "openai".into(), fail: None }), ..sent("POST", "/llm/chat", "/llm/chat", 200, trace_id) }
}

/// The traffic record of a scenario that sent `sent` just now.
pub fn record(sent: Vec<Sent>) -> TrafficRecord {
    TrafficRecord { scenario: "contract".into(), started: SystemTime::now(), finished: SystemTime::now(), sent }
}

/// `text` with each mock's address (`http://[mock]`, or `http://[mock<i>]` when
/// there are several), the wait's poll count and duration, and query times replaced.
pub fn stable(text: &str, bases: &[&str]) -> String {
    let mut text = text.to_owned();
    for (i, b) in bases.iter().enumerate() {
        let name = if bases.len() == 1 { "http://[mock]".to_owned() } else { format!("http://[mock{i}]") };
        text = text.replace(b, &name);
    }
    let text = regex::Regex::new(r"after \d+ poll\(s\) over \d+\.\ds").unwrap().replace_all(&text, "after [n] poll(s) over [t]s");
    regex::Regex::new(r"\b(start|end|startTimeMin|startTimeMax)=[0-9T:.%A-Z-]+").unwrap().replace_all(&text, "$1=[t]").into_owned()
}

/// The text of a verdict that must have failed, made [`stable`].
pub fn failed(v: &Verdict, bases: &[&str]) -> String {
    assert!(v.is_failed(), "expected a failed verdict, got {v:?}");
    stable(v.text(), bases)
}
