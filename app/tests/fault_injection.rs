//! Fault injection: `SIGUSR1` makes the running app answer 500 to every
//! request, `/metrics` and `/health` included (the harness's "app answers 500
//! to everything" fault, `harness/tests/faults_airgapped.rs`); the next
//! `SIGUSR1` heals it. Each such request is still counted and logged as a 5xx.

mod common;

use std::time::Duration;

use common::RunningApp;

async fn status(client: &reqwest::Client, app: &RunningApp, path: &str) -> u16 {
    client.get(app.url(path)).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigusr1_makes_every_request_fail_with_500_until_the_next() {
    let app = RunningApp::start(&[("OTEL_TRACES_EXPORTER", "none")]);
    let client = reqwest::Client::new();
    assert_eq!(status(&client, &app, "/items/1").await, 200);

    app.signal("USR1");
    app.wait_for_line(|l| l.contains("fault injection on"), Duration::from_secs(10));
    for path in ["/health", "/healthz", "/metrics", "/items/1", "/slow?ms=0", "/does-not-exist"] {
        assert_eq!(status(&client, &app, path).await, 500, "{path} while the fault is injected");
    }
    let line = app.wait_for_line(|l| l.contains(r#""status":500"#) && l.contains("/metrics"), Duration::from_secs(10));
    assert!(line.contains(r#""level":"ERROR""#), "each failed request is logged as an error: {line}");

    app.signal("USR1");
    app.wait_for_line(|l| l.contains("fault injection off"), Duration::from_secs(10));
    let metrics = client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let samples = common::samples(&metrics.text().await.unwrap());
    assert_eq!(samples.get(r#"http_requests_total{method="GET",status="5xx",handler="/health"}"#), Some(&1.0), "counted as a 5xx");
    assert_eq!(status(&client, &app, "/items/1").await, 200);
}
