//! Alerts end to end: a cause drives each Prometheus alert rule to `pending`,
//! then `firing`, then into Alertmanager with its labels and receiver, then
//! to the webhook receiver the harness hosts, then back to resolved once the
//! cause stops.
//!
//! Each alert rule's [`Cause`] is read from what its expression measures
//! ([`crate::profile::cause_of`], in the stack profile), never from its name;
//! a rule no cause fits is reported as such ([`uncovered_rules`]).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backends::{AlertmanagerClient, PrometheusClient};
use crate::eventually::{Eventually, Poll};
use crate::webhook;

/// What makes an alert fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A burst of `/error` (5xx) among normal requests.
    ErrorBurst,
    /// Requests slower than the highest latency bucket (1 s).
    SlowRequests,
    /// LLM calls failing with the provider's `rate_limit` (answered 429).
    LlmFailures,
    /// The app container stopped (scrape fails, `up == 0`).
    AppStopped,
}

/// Alert rules Prometheus has loaded that no cause in `profile` can fire.
pub async fn uncovered_rules(prometheus: &PrometheusClient, profile: &crate::profile::StackProfile) -> Result<Vec<String>, String> {
    let rules = prometheus.rules().await.map_err(|e| e.to_string())?;
    Ok(rules
        .rules()
        .filter(|(_, r)| r.kind == "alerting")
        .map(|(_, r)| r.name.clone())
        .filter(|name| profile.cause(name).is_none())
        .collect())
}

/// When each stage of one alert's path was reached, from the moment the cause started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertPath {
    pub alertname: String,
    pub pending_ms: Option<u64>,
    pub firing_ms: Option<u64>,
    pub alertmanager_ms: Option<u64>,
    pub notified_ms: Option<u64>,
    pub resolved_ms: Option<u64>,
}

/// Where the path is observed.
pub struct AlertEndpoints {
    pub prometheus: PrometheusClient,
    pub alertmanager: AlertmanagerClient,
    /// Base URL of the harness's webhook receiver (published port).
    pub webhook: String,
    /// The receiver Alertmanager must route to.
    pub receiver: String,
}

fn ms(since: Instant) -> Option<u64> {
    Some(since.elapsed().as_millis() as u64)
}

/// Follows `alertname` from pending to the webhook. `cause_started` is when the cause began.
pub async fn await_firing(ep: &AlertEndpoints, alertname: &str, cause_started: Instant, timeout: Duration) -> Result<AlertPath, String> {
    let mut path = AlertPath { alertname: alertname.to_owned(), ..Default::default() };
    let state_of = |want: &'static str| {
        let prom = &ep.prometheus;
        async move {
            match prom.alerts().await {
                Ok(alerts) => {
                    let states: Vec<String> = alerts.iter().filter(|a| a.labels.get("alertname").map(String::as_str) == Some(alertname)).map(|a| a.state.clone()).collect();
                    if states.iter().any(|s| s == want || (want == "pending" && s == "firing")) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending(format!("{alertname} states in {}/api/v1/alerts: {states:?}", prom.base_url()))
                    }
                }
                Err(e) => Poll::Pending(e.to_string()),
            }
        }
    };
    Eventually::new(format!("alert {alertname} pending in Prometheus"))
        .with_timeout(timeout)
        .until(|| state_of("pending"))
        .await
        .map_err(|e| e.to_string())?;
    path.pending_ms = ms(cause_started);
    Eventually::new(format!("alert {alertname} firing in Prometheus"))
        .with_timeout(timeout)
        .until(|| state_of("firing"))
        .await
        .map_err(|e| e.to_string())?;
    path.firing_ms = ms(cause_started);
    Eventually::new(format!("alert {alertname} active in Alertmanager, routed to {}", ep.receiver))
        .with_timeout(timeout)
        .until(|| async {
            match ep.alertmanager.alerts().await {
                Ok(alerts) => {
                    let mine: Vec<_> = alerts.iter().filter(|a| a.labels.get("alertname").map(String::as_str) == Some(alertname)).collect();
                    match mine.iter().find(|a| a.receivers.iter().any(|r| r.name == ep.receiver)) {
                        Some(a) if a.labels.contains_key("severity") => Poll::Ready(()),
                        Some(a) => Poll::Pending(format!("alert has no severity label: {:?}", a.labels)),
                        None => Poll::Pending(format!(
                            "{} matching alert(s) in {}/api/v2/alerts; receivers {:?}",
                            mine.len(),
                            ep.alertmanager.base_url(),
                            mine.iter().map(|a| a.receivers.iter().map(|r| r.name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>()
                        )),
                    }
                }
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    path.alertmanager_ms = ms(cause_started);
    await_notification(ep, alertname, "firing", timeout).await?;
    path.notified_ms = ms(cause_started);
    Ok(path)
}

/// Waits for the webhook receiver to get a notification of `alertname` with `status`.
pub async fn await_notification(ep: &AlertEndpoints, alertname: &str, status: &str, timeout: Duration) -> Result<(), String> {
    Eventually::new(format!("webhook notification `{status}` for {alertname} at {}{}", ep.webhook, webhook::PATH))
        .with_timeout(timeout)
        .until(|| async {
            match webhook::received(&ep.webhook).await {
                Ok(notes) => {
                    let hit = notes.iter().any(|n| {
                        n.receiver == ep.receiver
                            && n.alerts.iter().any(|a| a.status == status && a.labels.get("alertname").map(String::as_str) == Some(alertname))
                    });
                    if hit {
                        Poll::Ready(())
                    } else {
                        let seen: Vec<String> = notes
                            .iter()
                            .flat_map(|n| n.alerts.iter().map(move |a| format!("{}:{}:{}", n.receiver, a.labels.get("alertname").cloned().unwrap_or_default(), a.status)))
                            .collect();
                        Poll::Pending(format!("{} notification(s): {seen:?}", notes.len()))
                    }
                }
                Err(e) => Poll::Pending(e.to_string()),
            }
        })
        .await
        .map_err(|e| e.to_string())
}

/// The lower bound of the alert path: two scrapes, one evaluation, the rule's
/// `for:` and Alertmanager's `group_wait`.
pub fn floor(scrape: Duration, evaluation: Duration, for_: Duration, group_wait: Duration) -> Duration {
    scrape * 2 + evaluation + for_ + group_wait
}

/// Two causes whose traffic, sent at once, can neither fire nor mask the
/// other's alert, so their alerts are driven together.
///
/// The traffic ([`CauseTraffic`]) is designed for it; all three app-side causes
/// run at once:
/// - `ErrorBurst`: 5 fast 5xx/s, no slow request, no LLM call.
/// - `SlowRequests`: about 2.1 slow (1.2 s) 2xx/s and 0.7 fast 2xx/s, no 5xx, no LLM call.
/// - `LlmFailures`: about 10 fast LLM calls/s, half of them failing with the
///   provider's rate limit, which the app passes on as 429 (a 4xx): no 5xx, no slow request.
///
/// Together the slow share of all requests is about 12% (a p95 above 1 s
/// needs more than 5%), the 5xx share about 29% (error-rate rules fire from a
/// few percent), the LLM error share 50% (10%); alone, no cause moves another's
/// measure at all. A cause is compatible with itself: its alerts share one
/// traffic (an error-rate rule and a log-based error-line rule, say).
/// `AppStopped` stops the app, which every other cause needs: alone.
///
/// `alerts::floor` ratios in each verdict, and the live tests
/// `independent_alerts_fire_together_without_interference` and `*_alone_never_raise*`
/// (harness/tests/alerts_airgapped.rs), are the proof.
pub fn compatible(a: Cause, b: Cause) -> bool {
    a != Cause::AppStopped && b != Cause::AppStopped
}

/// Groups distinct causes into waves of pairwise [`compatible`] causes, driven
/// one wave after another. `AppStopped` is the first wave, alone: its alert
/// fires while the app is down, and it resolves after the restart while the
/// next wave runs (an `up` rule sees none of the other causes' traffic).
pub fn waves(causes: &[Cause]) -> Vec<Vec<Cause>> {
    let mut distinct: Vec<Cause> = Vec::new();
    for c in causes {
        if !distinct.contains(c) {
            distinct.push(*c);
        }
    }
    let mut out: Vec<Vec<Cause>> = Vec::new();
    if distinct.contains(&Cause::AppStopped) {
        out.push(vec![Cause::AppStopped]);
    }
    for c in distinct.iter().copied().filter(|c| *c != Cause::AppStopped) {
        match out.iter_mut().find(|w| w.iter().all(|x| compatible(*x, c))) {
            Some(w) => w.push(c),
            None => out.push(vec![c]),
        }
    }
    out
}

/// Sends a cause's traffic (or the healthy traffic that follows) until stopped
/// (an app-side cause; `AppStopped` is the caller's: it stops the container).
pub struct CauseTraffic {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<u64>,
}

/// What one batch of traffic is.
#[derive(Clone, Copy)]
enum Load {
    Cause(Cause),
    Healthy,
}

impl CauseTraffic {
    /// Starts sending `cause`'s requests at `app_url` in batches every 200 ms.
    pub fn start(cause: Cause, app_url: &str) -> Self {
        Self::spawn(Load::Cause(cause), app_url, Duration::from_millis(200))
    }

    /// Starts healthy traffic once the causes stopped: fast 2xx requests and
    /// successful LLM calls (about 100/s), so a ratio or quantile rule sees its
    /// condition clear while requests keep coming, as it does in production,
    /// instead of waiting for its window to drain to no data at all. It can
    /// fire nothing: no 5xx, no slow request, no failed LLM call.
    pub fn healthy(app_url: &str) -> Self {
        Self::spawn(Load::Healthy, app_url, Duration::from_millis(100))
    }

    fn spawn(load: Load, app_url: &str, pace: Duration) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let app = app_url.trim_end_matches('/').to_owned();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");
            let mut sent = 0u64;
            let llm = |fail: Option<&str>| {
                let mut body = serde_json::json!({"model": "gpt-4o", "provider": "openai", "prompt": "alert path"});
                if let Some(f) = fail {
                    body["fail"] = f.into();
                }
                client.post(format!("{app}/llm/chat")).json(&body)
            };
            while !*stopped.borrow() {
                let batch: Vec<reqwest::RequestBuilder> = match load {
                    // One fast 5xx per 200 ms (5/s), and no fast 2xx that would dilute a latency quantile.
                    Load::Cause(Cause::ErrorBurst) => vec![client.get(format!("{app}/error"))],
                    // Three slow and one fast per 1.4 s (the batch waits for the slow ones).
                    Load::Cause(Cause::SlowRequests) => {
                        let slow = || client.get(format!("{app}/slow?ms=1200"));
                        vec![slow(), slow(), slow(), client.get(format!("{app}/items/1"))]
                    }
                    // Half the LLM calls fail with the provider's rate limit (answered 429, not 5xx).
                    Load::Cause(Cause::LlmFailures) => vec![llm(Some("rate_limit")), llm(None)],
                    Load::Cause(Cause::AppStopped) => Vec::new(),
                    Load::Healthy => {
                        let mut b: Vec<_> = (0..8).map(|_| client.get(format!("{app}/items/1"))).collect();
                        b.extend([llm(None), llm(None)]);
                        b
                    }
                };
                let n = batch.len() as u64;
                let _ = futures::future::join_all(batch.into_iter().map(|r| r.send())).await;
                sent += n;
                let _ = tokio::time::timeout(pace, stopped.changed()).await;
            }
            sent
        });
        Self { stop, task }
    }

    /// Stops the traffic; returns how many requests were sent.
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Cause::*;

    #[test]
    fn waves_drive_the_app_side_causes_together_after_stopping_the_app() {
        assert_eq!(waves(&[LlmFailures, SlowRequests, ErrorBurst, AppStopped, ErrorBurst]), vec![vec![AppStopped], vec![LlmFailures, SlowRequests, ErrorBurst]]);
        assert_eq!(waves(&[ErrorBurst, SlowRequests]), vec![vec![ErrorBurst, SlowRequests]]);
        assert_eq!(waves(&[AppStopped]), vec![vec![AppStopped]]);
        assert!(!compatible(AppStopped, AppStopped) && !compatible(AppStopped, ErrorBurst) && !compatible(LlmFailures, AppStopped));
        assert!(compatible(LlmFailures, ErrorBurst) && compatible(LlmFailures, SlowRequests) && compatible(ErrorBurst, ErrorBurst));
    }
}
