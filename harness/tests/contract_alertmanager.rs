//! Contract tests of the Alertmanager client and `alert_present` against
//! real Alertmanager 0.25 answers (`fixtures/alertmanager/0.25.0/`) served by
//! wiremock. No Docker.

mod common;

use std::time::Duration;

use obs_harness::backends::alertmanager::AlertmanagerClient;
use obs_harness::checks::Verdict;
use obs_harness::checks::alertmanager::alert_present;
use common::contract;
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_millis(300);

fn fixture(name: &str) -> String {
    contract::fixture(format!("alertmanager/0.25.0/{name}"))
}

async fn am(alerts: &str) -> (MockServer, AlertmanagerClient) {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/alerts")).respond_with(contract::json(200, fixture(alerts))).mount(&server).await;
    let c = AlertmanagerClient::new(server.uri());
    (server, c)
}

fn failed(v: &Verdict, c: &AlertmanagerClient) -> String {
    contract::failed(v, &[c.base_url()])
}

#[tokio::test]
async fn parses_alerts_status_and_ready() {
    let (server, c) = am("alerts.json").await;
    Mock::given(path("/api/v2/status")).respond_with(contract::json(200, fixture("status.json"))).mount(&server).await;
    Mock::given(path("/-/ready")).respond_with(ResponseTemplate::new(200).set_body_string(fixture("ready.txt"))).mount(&server).await;
    assert!(c.ready().await.unwrap());
    let alerts = c.alerts().await.unwrap();
    let a = &alerts[0];
    assert_eq!(a.alertname(), Some("FastAPIErrorsSeen"));
    assert_eq!((a.status.state.as_str(), a.receiver_names()), ("active", vec!["harness-webhook"]));
    assert!(a.starts_at.starts_with("2026-") && a.ends_at.starts_with("2026-"));
    assert_eq!(a.annotations["summary"], "5xx responses seen");
    let status = c.status().await.unwrap();
    assert_eq!(status.cluster.status, "disabled");
    assert_eq!(status.version_info["version"], "0.25.0");
    assert!(status.config.original.contains("harness-webhook"));

    // The alert Loki's ruler sent (relative Grafana generatorURL).
    let (_s, c) = am("48-alertmanager-alerts-from-loki-ruler.json").await;
    let a = &c.alerts().await.unwrap()[0];
    assert!(a.generator_url.as_deref().unwrap().starts_with("/explore?"));
}

#[tokio::test]
async fn filters_and_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/api/v2/alerts"))
        .and(query_param("filter", "alertname=\"NoSuchAlert\""))
        .respond_with(contract::json(200, fixture("alerts-filter-none.json")))
        .mount(&server)
        .await;
    Mock::given(path("/api/v2/alerts"))
        .respond_with(contract::json(400, fixture("alerts-bad-filter.json")))
        .with_priority(10)
        .mount(&server)
        .await;
    let c = AlertmanagerClient::new(server.uri());
    assert!(c.alerts_matching(&["alertname=\"NoSuchAlert\""]).await.unwrap().is_empty());
    let err = c.alerts_matching(&["alertname=~\"("]).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("matcher value contains unescaped double quote"), "{err}");
}

#[tokio::test]
async fn alert_present_checks_labels_and_receiver() {
    let (_s, c) = am("alerts.json").await;
    let v = alert_present(&c, "FastAPIErrorsSeen", &[("severity", "warning")], "harness-webhook", WAIT).await;
    assert!(v.is_passed(), "{v:?}");

    let msg = failed(&alert_present(&c, "FastAPIErrorsSeen", &[("severity", "critical")], "pager", WAIT).await, &c);
    assert!(msg.contains("label severity=\"warning\" (want \"critical\")") && msg.contains("receivers [harness-webhook] (want pager)"), "{msg}");
    assert!(msg.contains("/api/v2/alerts"), "{msg}");
    insta::assert_snapshot!("contract_alertmanager_wrong_labels", msg);

    let msg = failed(&alert_present(&c, "HighErrorRate", &[], "harness-webhook", WAIT).await, &c);
    assert!(msg.contains("no alert named HighErrorRate; alerts held: FastAPIErrorsSeen"), "{msg}");
    insta::assert_snapshot!("contract_alertmanager_missing", msg);

    let (_s, c) = am("alerts-filter-none.json").await;
    let msg = failed(&alert_present(&c, "HighErrorRate", &[], "harness-webhook", WAIT).await, &c);
    assert!(msg.contains("alerts held: none"), "{msg}");
}
