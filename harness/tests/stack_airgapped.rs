//! Live tests of the stack lifecycle with the air-gapped image set
//! (app, Prometheus, Alertmanager built from host binaries).
//!
//! Each test that starts its own stack tears it down, and asserts that
//! nothing labelled with its run id is left on the daemon.

use std::time::Duration;

use obs_harness::eventually::{Eventually, Poll};
use obs_harness::stack::{Stack, StackError, StackOptions, cleanup};

async fn leftovers(run: &str) -> (usize, usize, usize) {
    use bollard::query_parameters::*;
    use std::collections::HashMap;
    let docker = obs_harness::stack::docker().await.unwrap();
    let f = || Some(HashMap::from([("label".to_string(), vec![format!("{}={run}", cleanup::LABEL_RUN)])]));
    let c = docker.list_containers(Some(ListContainersOptions { all: true, filters: f(), ..Default::default() })).await.unwrap();
    let n = docker.list_networks(Some(ListNetworksOptions { filters: f() })).await.unwrap();
    let v = docker.list_volumes(Some(ListVolumesOptions { filters: f() })).await.unwrap();
    (c.len(), n.len(), v.volumes.unwrap_or_default().len())
}

#[tokio::test(flavor = "multi_thread")]
async fn airgapped_stack_scrapes_the_app_and_reaches_alertmanager() {
    let mut stack = Stack::start(StackOptions::airgapped()).await.unwrap_or_else(|e| panic!("{e}"));
    let state = stack.state.clone();
    eprintln!("{}", state.timing_report());
    let prom = state.url("prometheus", 9090).unwrap();
    let client = reqwest::Client::new();
    let result = async {
        let target = Eventually::new("prometheus reports the fastapi target up")
            .with_timeout(Duration::from_secs(60))
            .until(|| async {
                let body: serde_json::Value = match client.get(format!("{prom}/api/v1/targets")).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(e) => return Poll::Pending(e.to_string()),
                };
                let targets = body["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
                match targets.iter().find(|t| t["labels"]["job"] == "fastapi") {
                    Some(t) if t["health"] == "up" => Poll::Ready(t.clone()),
                    Some(t) => Poll::Pending(format!("health={} lastError={}", t["health"], t["lastError"])),
                    None => Poll::Pending(format!("no fastapi target in {targets:?}")),
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(target["scrapeUrl"], "http://app:8000/metrics");
        let am = Eventually::new("prometheus discovers alertmanager:9093")
            .with_timeout(Duration::from_secs(30))
            .until(|| async {
                let body: serde_json::Value = match client.get(format!("{prom}/api/v1/alertmanagers")).send().await {
                    Ok(r) => r.json().await.unwrap_or_default(),
                    Err(e) => return Poll::Pending(e.to_string()),
                };
                let active = body["data"]["activeAlertmanagers"].as_array().cloned().unwrap_or_default();
                match active.first() {
                    Some(a) => Poll::Ready(a["url"].as_str().unwrap_or_default().to_owned()),
                    None => Poll::Pending(body.to_string()),
                }
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(am, "http://alertmanager:9093/api/v2/alerts");
        let ready = client.get(format!("{}/-/ready", state.url("alertmanager", 9093).unwrap())).send().await.unwrap();
        assert!(ready.status().is_success());
        assert!(!state.is_running("loki"));
        assert!(state.not_running_reason("loki").unwrap().contains("`loki` is not running"));
    };
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
    let run = state.run_id.clone();
    stack.teardown().await;
    assert_eq!(leftovers(&run).await, (0, 0, 0), "teardown left resources of run {run}");
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stacks_at_once_both_come_up_and_go() {
    let opts = || StackOptions::airgapped().with_services(["app".to_string()]);
    let (a, b) = tokio::join!(Stack::start(opts()), Stack::start(opts()));
    let (mut a, mut b) = (a.unwrap_or_else(|e| panic!("{e}")), b.unwrap_or_else(|e| panic!("{e}")));
    assert_ne!(a.state.run_id, b.state.run_id);
    assert_ne!(a.state.url("app", 8000), b.state.url("app", 8000));
    for s in [&a, &b] {
        let r = reqwest::get(format!("{}/healthz", s.state.url("app", 8000).unwrap())).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let (ra, rb) = (a.state.run_id.clone(), b.state.run_id.clone());
    tokio::join!(a.teardown(), b.teardown());
    assert_eq!(leftovers(&ra).await, (0, 0, 0));
    assert_eq!(leftovers(&rb).await, (0, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_config_names_the_service_and_shows_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let stack_dir = dir.path().join("stack");
    copy_dir(obs_harness::stack::bundled_compose_file().parent().unwrap(), &stack_dir);
    std::fs::write(stack_dir.join("prometheus/prometheus.yml"), "global:\n  scrape_interval: not-a-duration\n").unwrap();
    let opts = StackOptions::new(stack_dir.join("docker-compose.yml"))
        .with_images(obs_harness::stack::images::ImageMode::Airgapped)
        .with_services(["prometheus".to_string()])
        .with_startup_timeout(Duration::from_secs(30));
    let err = match Stack::start(opts).await {
        Ok(_) => panic!("a bad prometheus.yml must fail start-up"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(matches!(err, StackError::NotReady { ref service, .. } if service == "prometheus"), "{text}");
    assert!(text.contains("GET :9090/-/ready"), "names the probe: {text}");
    assert!(text.contains("--- last log lines of prometheus-"), "shows logs: {text}");
    assert!(text.contains("not-a-duration"), "the logs say what is wrong: {text}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn image_override_is_used_and_an_unavailable_image_is_named() {
    let opts = StackOptions::airgapped()
        .with_services(["alertmanager".to_string()])
        .with_image("alertmanager", "obs-harness/no-such-image:1");
    let err = match Stack::start(opts).await {
        Ok(_) => panic!("an image that does not exist cannot start"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(matches!(err, StackError::Start { ref service, ref image, .. } if service == "alertmanager" && image == "obs-harness/no-such-image:1"), "{text}");
    assert!(text.contains("hint:"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_compose_would_build_runs_the_workspace_binary_without_a_registry() {
    // Image mode `upstream`, but `app` has a `build:` section: no pull is attempted.
    let mut stack = Stack::start(StackOptions::bundled().with_services(["app".to_string()]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let image = stack.state.services["app"].image.clone();
    let health = reqwest::get(format!("{}/healthz", stack.state.url("app", 8000).unwrap())).await;
    stack.teardown().await;
    assert!(image.starts_with("obs-harness/reference-app:"), "{image}");
    assert_eq!(health.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuilding_an_image_removes_its_superseded_tag() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    let name = format!("obs-harness/test-supersede-{}", std::process::id());
    std::fs::write(&input, "one").unwrap();
    let first = obs_harness::stack::images::BinaryImage::from_binary(&name, "/bin/true", "/bin/true").unwrap().with_path(&input, "/input.txt");
    let old = first.build().await.unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&input, "two, a changed input").unwrap();
    let new = first.clone().build().await.unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(old, new);
    let docker = obs_harness::stack::docker().await.unwrap();
    let old_gone = docker.inspect_image(&old).await.is_err();
    let new_there = docker.inspect_image(&new).await.is_ok();
    let _ = docker.remove_image(&new, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    assert!(old_gone, "superseded {old} still present");
    assert!(new_there, "{new} missing");
}

/// Docker publishes a restarted container on a new host port. The run's
/// endpoints (`Targets`, and a published state file such as the nextest
/// shared stack's) must follow it: traffic sent after a restart reaches
/// the new app. Before the fix the run kept the old, dead port, and the
/// ruler phase's error lines after `FastAPIDown` never reached the app.
#[tokio::test(flavor = "multi_thread")]
async fn airgapped_restart_moves_the_run_to_the_new_endpoint() {
    use obs_harness::phases::{Engine, Targets};
    let mut stack = Stack::start(StackOptions::airgapped().with_selection(Some(vec!["app".into()]))).await.unwrap_or_else(|e| panic!("{e}"));
    let run = stack.state.run_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("stack.json");
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        stack.publish_state(&state_file).unwrap();
        let engine = Engine::new(Targets::from_state(&stack.state));
        let before = engine.url("app").unwrap();
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        assert!(client.get(format!("{before}/metrics")).send().await.unwrap().status().is_success());

        stack.stop_service("app").await.unwrap();
        obs_harness::phases::alerts::restart_service(&mut stack, &engine, "app").await.unwrap_or_else(|e| panic!("{e}"));
        let after = engine.url("app").unwrap();
        assert_ne!(before, after, "Docker gave the restarted app the same host port: this test proves nothing then");
        let r = client.get(format!("{after}/items/1")).send().await.unwrap_or_else(|e| panic!("the run's app URL {after} after the restart: {e}"));
        assert!(r.status().is_success(), "{after}/items/1 -> {}", r.status());
        assert!(client.get(format!("{before}/items/1")).send().await.is_err(), "the old port {before} still answers");
        // The published state (what tests on a shared stack read) moved too.
        let published = obs_harness::stack::StackState::load(&state_file).unwrap();
        assert_eq!(Targets::from_state(&published).url("app"), Some(after.as_str()));
    }))
    .await;
    stack.teardown().await;
    assert_eq!(leftovers(&run).await, (0, 0, 0));
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

/// A compose service with a `build:` section is built from its context, as
/// `docker compose build` would, when its base image is available (here the
/// air-gapped Prometheus image, so no pull is needed); with a base that
/// cannot be had the start stops with exit code 2, the service and a hint.
#[tokio::test(flavor = "multi_thread")]
async fn airgapped_compose_build_sections_are_built_from_their_context() {
    use obs_harness::stack::images::{AirgappedKind, airgapped_image};
    let base = airgapped_image(AirgappedKind::Prometheus).unwrap().build().await.unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("svc")).unwrap();
    std::fs::write(dir.path().join("svc/prometheus.yml"), "global:\n  scrape_interval: 5s\n").unwrap();
    std::fs::write(dir.path().join("svc/Dockerfile"), format!("FROM {base}\nCOPY prometheus.yml /etc/built/prometheus.yml\n")).unwrap();
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(
        &compose,
        "services:\n  built:\n    build: ./svc\n    command: [\"--config.file=/etc/built/prometheus.yml\", \"--storage.tsdb.path=/tmp/data\"]\n    ports: [\"9090\"]\n",
    )
    .unwrap();
    let mut stack = Stack::start(StackOptions::new(&compose)).await.unwrap_or_else(|e| panic!("{e}"));
    let run = stack.state.run_id.clone();
    let url = stack.state.url("built", 9090);
    let ready = async {
        let url = url.expect("port 9090 published");
        let client = reqwest::Client::new();
        Eventually::new("the built service answers /-/ready")
            .with_timeout(Duration::from_secs(30))
            .until(|| async {
                match client.get(format!("{url}/-/ready")).send().await {
                    Ok(r) if r.status().is_success() => Poll::Ready(()),
                    Ok(r) => Poll::Pending(r.status().to_string()),
                    Err(e) => Poll::Pending(e.to_string()),
                }
            })
            .await
    }
    .await;
    stack.teardown().await;
    assert_eq!(leftovers(&run).await, (0, 0, 0));
    ready.unwrap_or_else(|e| panic!("{e}"));

    std::fs::write(dir.path().join("svc/Dockerfile"), "FROM registry.invalid/obs-harness/none:1\n").unwrap();
    std::fs::write(&compose, "services:\n  built:\n    build: ./svc\n    image: built-nope:1\n").unwrap();
    let e = Stack::start(StackOptions::new(&compose)).await.err().expect("a base that cannot be pulled fails the start");
    assert_eq!(obs_harness::stack::keeper::exit_code(&e), 2);
    let msg = e.to_string();
    assert!(msg.contains("built") && msg.contains("building it from") && msg.contains("--image built=IMAGE"), "{msg}");
}
