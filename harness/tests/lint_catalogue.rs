//! `fixtures/catalogue/reference-app.prom` (the metric catalogue the gate checks
//! dashboard queries against) still matches what the reference app exposes: same
//! metric names, same label names.
//!
//! Runs the built app binary: `$REFERENCE_APP_BIN`, else `<workspace>/target/debug/reference-app`
//! (or under `$CARGO_TARGET_DIR`). Build it first with `cargo build -p reference-app`.
//! To refresh the fixture, run this test with `UPDATE_CATALOGUE=1`.

mod common;

use obs_harness::lint::Catalogue;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn app_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("REFERENCE_APP_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "REFERENCE_APP_BIN={} does not exist",
            p.display()
        );
        return p;
    }
    let mut candidates = vec![workspace().join("target/debug/reference-app")];
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.insert(0, PathBuf::from(t).join("debug/reference-app"));
    }
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!(
            "reference-app binary not found (looked in <workspace>/target/debug and $CARGO_TARGET_DIR/debug): \
             run `cargo build -p reference-app` first, or set REFERENCE_APP_BIN"
        )
    })
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}


/// Decodes a `Transfer-Encoding: chunked` body if needed.
fn body(resp: &str) -> String {
    let (head, rest) = resp.split_once("\r\n\r\n").unwrap_or((resp, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return rest.to_owned();
    }
    let mut out = String::new();
    let mut r = rest;
    while let Some((size, tail)) = r.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        r = tail[n..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn catalogue_is_current() {
    let bin = app_bin();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .env("PORT", port.to_string())
        .env("OTEL_TRACES_EXPORTER", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let _guard = Kill(child);
    let start = Instant::now();
    while common::http(port, "GET", "/healthz", None).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "app did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in ["/items/1", "/error", "/nope", "/slow?ms=1"] {
        common::http(port, "GET", p, None).unwrap();
    }
    common::http(
        port,
        "POST",
        "/llm/chat",
        Some(r#"{"model":"m","provider":"p","prompt":"x y","fail":"timeout"}"#),
    )
    .unwrap();
    common::http(
        port,
        "POST",
        "/llm/chat",
        Some(r#"{"model":"m","provider":"p","prompt":"x y"}"#),
    )
    .unwrap();
    let live = body(&common::http(port, "GET", "/metrics", None).unwrap());
    let fixture_path = workspace().join("fixtures/catalogue/reference-app.prom");
    if std::env::var_os("UPDATE_CATALOGUE").is_some() {
        std::fs::write(&fixture_path, &live).unwrap();
    }
    let fixture = std::fs::read_to_string(&fixture_path).unwrap();
    let want = Catalogue::parse_exposition(&live).unwrap().signature();
    let have = Catalogue::parse_exposition(&fixture).unwrap().signature();
    let missing: Vec<&String> = want.iter().filter(|s| !have.contains(s)).collect();
    let extra: Vec<&String> = have.iter().filter(|s| !want.contains(s)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "fixtures/catalogue/reference-app.prom is out of date (rerun with UPDATE_CATALOGUE=1)\n\
         + in the app, not in the fixture:\n  {}\n- in the fixture, not in the app:\n  {}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        extra
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}
