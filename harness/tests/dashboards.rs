//! Dashboard query regression without Docker: the inventory of the bundled
//! dashboards, Grafana variable expansion, the static checks, and the live
//! checks against a wiremock Prometheus.

use std::path::{Path, PathBuf};
use std::time::Duration;

use obs_harness::checks::Verdict;
use obs_harness::dashboards::{self, Counts, DashboardDoc, ExpandOptions};
use obs_harness::lint::dashboards::Lang;
use obs_harness::lint::model::Datasource;
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stack_dir() -> PathBuf {
    root().join("stack")
}

fn catalogue() -> obs_harness::lint::Catalogue {
    let text =
        std::fs::read_to_string(root().join("fixtures/catalogue/reference-app.prom")).unwrap();
    dashboards::catalogue_from_exposition(&text).unwrap()
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn bundled_dashboard_inventory() {
    let opts = ExpandOptions::for_stack(&stack_dir(), 1, HOUR).unwrap();
    assert_eq!(opts.scrape_interval, Duration::from_secs(15));
    let inv = dashboards::inventory(&stack_dir(), &opts).unwrap();
    let uids: std::collections::BTreeSet<&str> = inv
        .queries
        .iter()
        .map(|q| q.dashboard_uid.as_str())
        .collect();
    assert_eq!(
        uids.into_iter().collect::<Vec<_>>(),
        ["fastapi-overview", "llm-overview"]
    );
    assert!(
        inv.queries
            .iter()
            .any(|q| q.datasource_type == "loki" && q.datasource_uid == "loki"),
        "{inv:#?}"
    );
    assert!(
        inv.queries.iter().all(|q| !q.expanded.contains('$')),
        "every variable expanded: {inv:#?}"
    );
    insta::assert_yaml_snapshot!("dashboards_bundled_inventory", inv.queries);
    insta::assert_snapshot!(
        "dashboards_bundled_report",
        dashboards::shape_report(&inv, &[], &[], Counts::Exact)
    );
}

#[test]
fn rate_interval_follows_the_scrape_interval() {
    // Grafana: max(4 x scrape, $__interval + scrape); $__interval >= scrape.
    let faithful = ExpandOptions::for_stack(&stack_dir(), 1, Duration::from_secs(300)).unwrap();
    assert_eq!(faithful.scrape_interval, Duration::from_secs(15));
    assert_eq!(faithful.interval(), Duration::from_secs(15));
    assert_eq!(faithful.rate_interval(), Duration::from_secs(60));
    let fast = ExpandOptions::for_stack(&stack_dir(), 15, Duration::from_secs(300)).unwrap();
    assert_eq!(fast.scrape_interval, Duration::from_secs(1));
    assert_eq!(fast.rate_interval(), Duration::from_secs(4));
    // x30 cannot go below 1 s.
    assert_eq!(
        ExpandOptions::for_stack(&stack_dir(), 30, Duration::from_secs(300))
            .unwrap()
            .rate_interval(),
        Duration::from_secs(4)
    );
    // x5: 3 s scrape -> 12 s.
    assert_eq!(
        ExpandOptions::for_stack(&stack_dir(), 5, Duration::from_secs(300))
            .unwrap()
            .rate_interval(),
        Duration::from_secs(12)
    );
    // A long window raises $__interval above the scrape interval: 24h / 1000 points = 87 s (rounded up to ms: 86.4 s).
    let day = ExpandOptions::new(Duration::from_secs(15), Duration::from_secs(86_400));
    assert_eq!(day.interval(), Duration::from_millis(86_400));
    assert_eq!(day.rate_interval(), Duration::from_millis(101_400));
    assert_eq!(
        dashboards::rate_interval(Duration::from_secs(30), Duration::from_secs(30)),
        Duration::from_secs(120)
    );

    let inv = dashboards::inventory(&stack_dir(), &faithful).unwrap();
    let rps = inv
        .queries
        .iter()
        .find(|q| q.panel == "Requests per second by handler")
        .unwrap();
    assert_eq!(
        rps.expanded,
        "sum by (handler) (rate(http_requests_total{job=\"fastapi\"}[1m]))"
    );
    let inv = dashboards::inventory(&stack_dir(), &fast).unwrap();
    let rps = inv
        .queries
        .iter()
        .find(|q| q.panel == "Requests per second by handler")
        .unwrap();
    assert_eq!(
        rps.expanded,
        "sum by (handler) (rate(http_requests_total{job=\"fastapi\"}[4s]))"
    );
}

fn ds(name: &str, kind: &str, default: bool) -> Datasource {
    Datasource {
        name: name.into(),
        kind: kind.into(),
        uid: Some(name.to_lowercase()),
        is_default: default,
        ..Default::default()
    }
}

fn provisioned() -> Vec<Datasource> {
    vec![
        ds("Prometheus", "prometheus", true),
        ds("Loki", "loki", false),
    ]
}

/// A dashboard with template variables of every kind, a collapsed row and a Loki panel.
fn templated() -> serde_json::Value {
    json!({
        "uid": "templated",
        "title": "Templated",
        "templating": { "list": [
            { "name": "DS", "type": "datasource", "query": "prometheus" },
            { "name": "handler", "type": "custom", "query": "/items/{item_id},/health", "multi": true, "includeAll": true,
              "current": { "text": ["All"], "value": ["$__all"] } },
            { "name": "status", "type": "custom", "query": "2xx,5xx", "current": { "text": "5xx", "value": "5xx" } },
            { "name": "job", "type": "query", "datasource": { "type": "prometheus", "uid": "prometheus" },
              "query": { "query": "label_values(up, job)" }, "includeAll": true, "allValue": ".+",
              "current": { "text": "All", "value": "$__all" } },
            { "name": "model", "type": "query", "datasource": "$DS", "query": "label_values(llm_calls_total, model)",
              "multi": true, "current": { "text": ["gpt-4o", "llama-3.1-8b"], "value": ["gpt-4o", "llama-3.1-8b"] } },
            { "name": "q", "type": "constant", "query": "0.95" },
            { "name": "win", "type": "interval", "query": "auto,1m,5m", "current": { "text": "5m", "value": "5m" } }
        ]},
        "panels": [
            { "type": "row", "title": "Row", "collapsed": true, "panels": [
                { "title": "Requests", "datasource": { "type": "prometheus", "uid": "${DS}" }, "targets": [
                    { "refId": "A", "expr": "sum by (handler) (rate(http_requests_total{handler=~\"$handler\",status=\"$status\",job=~\"${job}\"}[$__rate_interval]))" },
                    { "refId": "B", "expr": "sum(increase(http_requests_total{handler=~\"${handler:regex}\"}[$__range])) / $__range_s" }
                ]}
            ]},
            { "title": "Models", "targets": [
                { "refId": "A", "expr": "histogram_quantile($q, sum by (le, model) (rate(llm_latency_seconds_bucket{model=~\"[[model]]\"}[$win])))" },
                { "refId": "B", "expr": "count(llm_calls_total{model=~\"${model:pipe}\"}) or vector(${q}) + $__interval_ms" }
            ]},
            { "title": "Logs", "datasource": { "type": "loki", "uid": "loki" }, "targets": [
                { "refId": "A", "expr": "{service=\"app\"} |= \"$status\"" }
            ]}
        ]
    })
}

#[test]
fn template_variables_expand_to_the_dashboards_values() {
    let opts = ExpandOptions::new(Duration::from_secs(15), Duration::from_secs(600));
    let d = DashboardDoc {
        file: "templated.json".into(),
        doc: templated(),
    };
    let inv = dashboards::inventory_of(&[d], &provisioned(), &opts);
    let get = |panel: &str, r: Option<&str>| {
        inv.queries
            .iter()
            .find(|q| q.panel == panel && q.ref_id.as_deref() == r)
            .unwrap_or_else(|| panic!("{panel} {r:?}: {inv:#?}"))
    };
    let a = get("Requests", Some("A"));
    assert_eq!(
        a.datasource_uid, "prometheus",
        "${{DS}} is the provisioned Prometheus"
    );
    assert_eq!(
        a.expanded,
        r#"sum by (handler) (rate(http_requests_total{handler=~"(/items/\\{item_id\\}|/health)",status="5xx",job=~".+"}[1m]))"#
    );
    assert_eq!(
        get("Requests", Some("B")).expanded,
        r#"sum(increase(http_requests_total{handler=~"(/items/\\{item_id\\}|/health)"}[10m])) / 600"#
    );
    assert_eq!(
        get("Models", Some("A")).expanded,
        r#"histogram_quantile(0.95, sum by (le, model) (rate(llm_latency_seconds_bucket{model=~"(gpt-4o|llama-3\\.1-8b)"}[5m])))"#
    );
    assert_eq!(
        get("Models", Some("B")).expanded,
        r#"count(llm_calls_total{model=~"gpt-4o|llama-3.1-8b"}) or vector(0.95) + 15000"#
    );
    let logs = get("Logs", Some("A"));
    assert_eq!(
        (logs.datasource_type.as_str(), logs.datasource_uid.as_str()),
        ("loki", "loki")
    );
    assert_eq!(logs.expanded, r#"{service="app"} |= "5xx""#);
    // Template-variable queries are in the inventory, expanded like panels.
    let vars: Vec<(&str, &str)> = inv
        .queries
        .iter()
        .filter(|q| q.kind == "variable")
        .map(|q| (q.panel.as_str(), q.expanded.as_str()))
        .collect();
    assert_eq!(vars, [("job", "up"), ("model", "llm_calls_total")]);
    // Every expanded PromQL parses and is in the catalogue.
    let statics = dashboards::static_checks(&inv, Some(&catalogue()));
    let failed: Vec<_> = statics.iter().filter(|r| !r.verdict.is_passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    // The expander leaves unknown variables alone.
    assert_eq!(
        dashboards::expand("up{a=\"$nope\"}", &templated(), &Lang::PromQL, &opts),
        "up{a=\"$nope\"}"
    );
}

#[test]
fn static_checks_pass_on_the_bundled_dashboards_and_fail_on_unknown_names() {
    let opts = ExpandOptions::for_stack(&stack_dir(), 1, HOUR).unwrap();
    let inv = dashboards::inventory(&stack_dir(), &opts).unwrap();
    let results = dashboards::static_checks(&inv, Some(&catalogue()));
    assert_eq!(results.len(), inv.queries.len());
    let failed: Vec<_> = results.iter().filter(|r| !r.verdict.is_passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(results.iter().all(|r| r.phase == "dashboards"));

    let broken = json!({ "uid": "broken", "title": "Broken", "panels": [
        { "title": "Paths", "targets": [{ "refId": "A", "expr": "sum by (path) (rate(http_requests_total[$__rate_interval]))" }] },
        { "title": "Typo", "targets": [{ "refId": "A", "expr": "rate(http_request_total[$__rate_interval])" }] },
        { "title": "Syntax", "targets": [{ "refId": "A", "expr": "sum(rate(http_requests_total[$__rate_interval])" }] }
    ]});
    let inv = dashboards::inventory_of(
        &[DashboardDoc {
            file: "broken.json".into(),
            doc: broken,
        }],
        &provisioned(),
        &opts,
    );
    let results = dashboards::static_checks(&inv, Some(&catalogue()));
    let messages: Vec<String> = results
        .iter()
        .map(|r| format!("{}: {}", r.name, r.verdict.text()))
        .collect();
    assert!(
        results.iter().all(|r| r.verdict.is_failed()),
        "{messages:#?}"
    );
    insta::assert_snapshot!("dashboards_static_failures", messages.join("\n"));
}

fn matrix(series: &[(&str, &str)]) -> serde_json::Value {
    let result: Vec<serde_json::Value> = series
        .iter()
        .map(|(k, v)| json!({ "metric": { *k: *v }, "values": [[1700000000.0, "1"], [1700000015.0, "2"]] }))
        .collect();
    json!({ "status": "success", "data": { "resultType": "matrix", "result": result } })
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn empty_panel_fails_naming_panel_dashboard_query_and_produced_metrics() {
    let opts = ExpandOptions::new(Duration::from_secs(1), Duration::from_secs(120)).with_app_job("fastapi");
    let doc = json!({ "uid": "llm-overview", "title": "LLM Overview", "panels": [
        { "title": "LLM errors per second by reason", "datasource": { "type": "prometheus", "uid": "prometheus" },
          "targets": [{ "refId": "A", "expr": "sum by (reason) (rate(llm_errors_total[$__rate_interval]))" }] },
        { "title": "LLM calls per minute by model", "datasource": { "type": "prometheus", "uid": "prometheus" },
          "targets": [{ "refId": "A", "expr": "sum by (model) (rate(llm_calls_total[$__rate_interval])) * 60" }] },
        { "title": "App logs", "datasource": { "type": "loki", "uid": "loki" }, "targets": [{ "refId": "A", "expr": "{service=\"app\"}" }] }
    ]});
    let inv = dashboards::inventory_of(
        &[DashboardDoc {
            file: "llm.json".into(),
            doc,
        }],
        &provisioned(),
        &opts,
    );

    let server = MockServer::start().await;
    let empty = json!({ "status": "success", "data": { "resultType": "matrix", "result": [] } });
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param(
            "query",
            "sum by (reason) (rate(llm_errors_total[4s]))",
        ))
        .respond_with(ok(empty))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .and(query_param(
            "query",
            "sum by (model) (rate(llm_calls_total[4s])) * 60",
        ))
        .respond_with(ok(matrix(&[
            ("model", "gpt-4o"),
            ("model", "llama-3.1-8b"),
        ])))
        .mount(&server)
        .await;
    let names = [
        "http_requests_total",
        "llm_calls_total",
        "llm_latency_seconds_bucket",
        "up",
    ];
    let vector: Vec<serde_json::Value> = names
        .iter()
        .map(|n| json!({ "metric": { "__name__": n }, "value": [1700000000.0, "3"] }))
        .collect();
    Mock::given(method("GET"))
        .and(path("/api/v1/query"))
        .and(query_param(
            "query",
            "count by (__name__) ({job=\"fastapi\"})",
        ))
        .respond_with(ok(
            json!({ "status": "success", "data": { "resultType": "vector", "result": vector } }),
        ))
        .mount(&server)
        .await;
    let prom = obs_harness::backends::PrometheusClient::new(server.uri())
        .with_timeout(Duration::from_secs(2));

    let (results, shapes) = dashboards::live_queries_with_shapes(
        &inv,
        Some(&prom),
        None,
        None,
        opts.window,
        Duration::from_millis(300),
    )
    .await;
    let by_name = |n: &str| {
        results
            .iter()
            .find(|r| r.name == n)
            .unwrap_or_else(|| panic!("no {n}: {results:#?}"))
    };

    let failed = by_name("dashboards.prometheus.llm-overview/LLM errors per second by reason/A");
    let Verdict::Failed { message } = &failed.verdict else {
        panic!("{failed:?}")
    };
    for part in [
        "LLM errors per second by reason",
        "llm-overview",
        "sum by (reason) (rate(llm_errors_total[4s]))",
        "http_requests_total, llm_calls_total, llm_latency_seconds_bucket, up",
    ] {
        assert!(message.contains(part), "{part:?} missing from:\n{message}");
    }
    insta::assert_snapshot!(
        "dashboards_empty_panel_message",
        message.replace(&server.uri(), "http://[mock]")
    );

    let passed = by_name("dashboards.prometheus.llm-overview/LLM calls per minute by model/A");
    assert!(passed.verdict.is_passed(), "{passed:?}");
    assert_eq!(shapes.len(), 1);
    assert_eq!(shapes[0].series, 2);
    assert_eq!(shapes[0].labels.iter().collect::<Vec<_>>(), ["model"]);

    // Without Grafana and Loki those parts are not run, with the reason.
    for r in results.iter().filter(|r| {
        r.name.starts_with("dashboards.grafana.") || r.name.starts_with("dashboards.loki.")
    }) {
        let Verdict::NotRun { reason } = &r.verdict else {
            panic!("{r:?}")
        };
        assert!(reason.contains("not available"), "{reason}");
    }
    assert_eq!(results.len(), 6, "2 routes per query: {results:#?}");
    insta::assert_snapshot!(
        "dashboards_mock_shape_report",
        dashboards::shape_report(&inv, &shapes, &results, Counts::Exact)
    );
}

#[tokio::test]
async fn query_rejected_by_prometheus_fails_at_once_with_the_error() {
    let opts = ExpandOptions::new(Duration::from_secs(15), Duration::from_secs(600));
    let doc = json!({ "uid": "x", "title": "X", "panels": [
        { "title": "Bad", "targets": [{ "refId": "A", "expr": "sum(rate(up[$__rate_interval]))" }] }
    ]});
    let inv = dashboards::inventory_of(
        &[DashboardDoc {
            file: "x.json".into(),
            doc,
        }],
        &provisioned(),
        &opts,
    );
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/query_range"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "status": "error", "errorType": "bad_data", "error": "parse error" }),
        ))
        .mount(&server)
        .await;
    let prom = obs_harness::backends::PrometheusClient::new(server.uri());
    let started = std::time::Instant::now();
    let results = dashboards::live_queries(
        &inv,
        Some(&prom),
        None,
        None,
        opts.window,
        Duration::from_secs(20),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a rejected query is not retried until the timeout"
    );
    let r = &results[0];
    let Verdict::Failed { message } = &r.verdict else {
        panic!("{r:?}")
    };
    assert!(
        message.contains("panel \"Bad\"")
            && message.contains("parse error")
            && message.contains("sum(rate(up[1m]))"),
        "{message}"
    );
}
