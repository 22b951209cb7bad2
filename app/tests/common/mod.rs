//! Helpers shared by the app's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Parses a Prometheus/OpenMetrics exposition into `series -> value`
/// (exemplars and comments dropped).
pub fn samples(exposition: &str) -> BTreeMap<String, f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let l = l.split(" # ").next().unwrap();
            let (series, value) = l.rsplit_once(' ').expect("sample line has a value");
            (series.to_owned(), value.parse::<f64>().expect("numeric value"))
        })
        .collect()
}

/// The reference-app binary, running with the given environment; its stdout
/// lines are collected.
pub struct RunningApp {
    pub child: Child,
    pub port: u16,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl RunningApp {
    pub fn start(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_reference-app"));
        cmd.env_clear().env("PORT", port.to_string()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn reference-app");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let app = Self { child, port, lines };
        app.wait_for_line(|l| l.contains("listening"), Duration::from_secs(20));
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Polls the collected stdout until a line matches.
    pub fn wait_for_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                start.elapsed() < timeout,
                "no matching log line after {timeout:?}; lines so far:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }

    /// Sends the signal `sig` (`TERM`, `USR1`, …) to the app.
    pub fn signal(&self, sig: &str) {
        let sent = Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().expect("kill(1)");
        assert!(sent.success(), "kill -{sig} {}", self.child.id());
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
