//! The one polling helper every live check waits through.
//!
//! [`Eventually`] polls an async condition with exponential backoff until it
//! holds or a deadline passes. The condition answers [`Poll::Ready`],
//! [`Poll::Pending`] with a description of what it saw, or [`Poll::Fatal`]
//! when waiting longer cannot help (a container exited). On timeout the error
//! carries what was awaited, the last observation, how many polls over how
//! long, and — when the caller attaches them — the last log lines of the
//! containers involved.

use std::fmt;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// One observation of the awaited condition.
#[derive(Debug)]
pub enum Poll<T> {
    /// The condition holds; polling stops with this value.
    Ready(T),
    /// Not yet; the text says what was seen (shown on timeout).
    Pending(String),
    /// Waiting cannot help; stop now with this reason.
    Fatal(String),
}

/// Where container log lines appended to a failure message begin
/// (`\n--- last log lines of <container> ---\n…`).
pub const LOGS_HEAD: &str = "\n--- last log lines of ";

/// Why waiting ended without the condition holding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitError {
    /// What was awaited, e.g. "prometheus ready: GET /-/ready returns 200".
    pub what: String,
    /// The last observation (or the fatal reason).
    pub last: String,
    pub polls: u32,
    pub elapsed: Duration,
    /// `true` when the condition reported [`Poll::Fatal`] before the deadline.
    pub fatal: bool,
    /// `(container, last log lines)` attached by the caller.
    pub logs: Vec<(String, String)>,
}

impl WaitError {
    /// Attaches container logs for the report.
    pub fn with_logs(mut self, logs: Vec<(String, String)>) -> Self {
        self.logs = logs;
        self
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.fatal { "gave up waiting for" } else { "timed out waiting for" };
        write!(
            f,
            "{verb} {} after {} poll(s) over {:.1}s; last observed: {}",
            self.what,
            self.polls,
            self.elapsed.as_secs_f64(),
            self.last
        )?;
        for (container, lines) in &self.logs {
            write!(f, "{LOGS_HEAD}{container} ---\n{}", lines.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for WaitError {}

/// A wait with a deadline and backoff; build with [`Eventually::new`].
#[derive(Debug, Clone)]
pub struct Eventually {
    what: String,
    timeout: Duration,
    first_interval: Duration,
    max_interval: Duration,
}

impl Eventually {
    /// Waits up to 30 s, polling from every 50 ms up to every 1 s.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            timeout: Duration::from_secs(30),
            first_interval: Duration::from_millis(50),
            max_interval: Duration::from_secs(1),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// Polls `check` until it is ready, fatal, or the deadline passes. The
    /// condition is always polled at least once, and once more at the deadline.
    pub async fn until<T, F, Fut>(&self, mut check: F) -> Result<T, WaitError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Poll<T>>,
    {
        let start = Instant::now();
        let mut interval = self.first_interval;
        let mut polls = 0;
        loop {
            polls += 1;
            let error = |last: String, fatal: bool| WaitError {
                what: self.what.clone(),
                last,
                polls,
                elapsed: start.elapsed(),
                fatal,
                logs: Vec::new(),
            };
            match check().await {
                Poll::Ready(v) => return Ok(v),
                Poll::Fatal(reason) => return Err(error(reason, true)),
                Poll::Pending(seen) => {
                    let left = self.timeout.saturating_sub(start.elapsed());
                    if left.is_zero() {
                        return Err(error(seen, false));
                    }
                    tokio::time::sleep(interval.min(left)).await;
                    interval = (interval * 2).min(self.max_interval);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn ready_after_some_polls() {
        let n = AtomicU32::new(0);
        let v = Eventually::new("counter reaches 3")
            .until(|| async {
                let c = n.fetch_add(1, Ordering::SeqCst) + 1;
                if c >= 3 { Poll::Ready(c) } else { Poll::Pending(format!("counter={c}")) }
            })
            .await
            .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_reports_what_last_polls_and_time() {
        let err = Eventually::new("series up{job=\"fastapi\"} == 1")
            .with_timeout(Duration::from_secs(5))
            .until(|| async { Poll::<()>::Pending("result: [] (0 series)".into()) })
            .await
            .unwrap_err()
            .with_logs(vec![("prometheus-1".into(), "level=error msg=boom\n".into())]);
        assert!(!err.fatal);
        assert!(err.polls >= 5, "{err:?}");
        assert!(err.elapsed >= Duration::from_secs(5));
        let text = err.to_string();
        assert!(text.starts_with("timed out waiting for series up{job=\"fastapi\"} == 1 after "), "{text}");
        assert!(text.contains("last observed: result: [] (0 series)"), "{text}");
        assert!(text.contains("--- last log lines of prometheus-1 ---\nlevel=error msg=boom"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_stops_at_once() {
        let err = Eventually::new("app ready")
            .until(|| async { Poll::<()>::Fatal("container exited with code 2".into()) })
            .await
            .unwrap_err();
        assert!(err.fatal);
        assert_eq!(err.polls, 1);
        assert!(err.to_string().starts_with("gave up waiting for app ready after 1 poll(s)"));
    }
}
