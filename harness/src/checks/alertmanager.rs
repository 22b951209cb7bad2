//! Alertmanager checks: an alert is held with its labels, routed to the
//! expected receiver, and active.

use std::time::Duration;

use crate::backends::alertmanager::AlertmanagerClient;
use crate::eventually::{Eventually, Poll};

use super::Verdict;
use super::prometheus::{fmt_labels, list, poll_error};

/// Alertmanager holds an active alert `alertname` carrying every label of
/// `labels` and routed to `receiver`.
pub async fn alert_present(
    client: &AlertmanagerClient,
    alertname: &str,
    labels: &[(&str, &str)],
    receiver: &str,
    timeout: Duration,
) -> Verdict {
    let url = client.url("/api/v2/alerts");
    let wait = Eventually::new(format!("alert {alertname} {} active in Alertmanager, routed to `{receiver}`", fmt_labels(labels.iter().copied())))
        .with_timeout(timeout)
        .until(|| async {
            let alerts = match client.alerts().await {
                Ok(a) => a,
                Err(e) => return poll_error(e),
            };
            let named: Vec<_> = alerts.iter().filter(|a| a.alertname() == Some(alertname)).collect();
            if named.is_empty() {
                let names: Vec<&str> = alerts.iter().filter_map(|a| a.alertname()).collect();
                return Poll::Pending(format!("no alert named {alertname}; alerts held: {}", list(&names, 10)));
            }
            let mut seen = Vec::new();
            for a in &named {
                let mut wrong: Vec<String> = labels
                    .iter()
                    .filter(|(k, v)| a.labels.get(*k).map(String::as_str) != Some(*v))
                    .map(|(k, v)| format!("label {k}={:?} (want {v:?})", a.labels.get(*k).map_or("<absent>", String::as_str)))
                    .collect();
                if !a.receiver_names().contains(&receiver) {
                    wrong.push(format!("receivers [{}] (want {receiver})", a.receiver_names().join(", ")));
                }
                if a.status.state != "active" {
                    wrong.push(format!("state {} (want active)", a.status.state));
                }
                if wrong.is_empty() {
                    return Poll::Ready(format!(
                        "alert {alertname} active since {} with labels {}, routed to {receiver}",
                        a.starts_at,
                        fmt_labels(a.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    ));
                }
                seen.push(wrong.join(", "));
            }
            Poll::Pending(format!("{} alert(s) named {alertname}: {}", named.len(), list(&seen, 5)))
        })
        .await;
    match wait {
        Ok(detail) => Verdict::Passed { detail },
        Err(e) => Verdict::Failed { message: format!("alert {alertname} not held as expected at {url}: {e}") },
    }
}
