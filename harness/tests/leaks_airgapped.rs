//! Nothing of the harness outlives a run: after a test that panics inside
//! `with_stack`, and after SIGINT in the middle of start-up, Docker holds no
//! container, network or volume owned by that process.
//!
//! The failing run and the interrupted start-up happen in child processes
//! (this test binary re-run on an ignored helper test, and `obs-harness stack
//! keep`), so the parent can observe the daemon after they end.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use obs_harness::eventually::{Eventually, Poll};
use obs_harness::stack::{StackOptions, cleanup, with_stack};

/// Containers, networks and volumes whose owner label names `pid`.
async fn owned_by(pid: u32) -> Vec<String> {
    let docker = obs_harness::stack::docker().await.unwrap();
    let f = || Some(HashMap::from([("label".to_string(), vec![format!("{}=1", cleanup::LABEL)])]));
    let mine = |labels: &HashMap<String, String>| labels.get(cleanup::LABEL_OWNER).is_some_and(|o| o.starts_with(&format!("{pid}:")));
    let mut out = Vec::new();
    for c in docker.list_containers(Some(ListContainersOptions { all: true, filters: f(), ..Default::default() })).await.unwrap() {
        if mine(&c.labels.clone().unwrap_or_default()) {
            out.push(format!("container {:?}", c.names));
        }
    }
    for n in docker.list_networks(Some(ListNetworksOptions { filters: f() })).await.unwrap() {
        if mine(&n.labels.clone().unwrap_or_default()) {
            out.push(format!("network {:?}", n.name));
        }
    }
    for v in docker.list_volumes(Some(ListVolumesOptions { filters: f() })).await.unwrap().volumes.unwrap_or_default() {
        if mine(&v.labels) {
            out.push(format!("volume {}", v.name));
        }
    }
    out
}

/// Run only as a child of `a_panicking_test_leaves_nothing_behind`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "helper: panics on purpose inside with_stack"]
async fn helper_panics_inside_with_stack() {
    let _ = with_stack(StackOptions::airgapped().with_services(["app".to_string()]), |state| async move {
        assert!(state.is_running("app"));
        panic!("failing on purpose with a running stack");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_test_leaves_nothing_behind() {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "helper_panics_inside_with_stack", "--nocapture"])
        .env_remove("OBS_STACK_STATE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the helper must fail:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("failing on purpose") || stderr.contains("failing on purpose"),
        "it failed for the planted reason, with a running stack:\n{stdout}\n{stderr}"
    );
    // The child is gone, so anything still labelled with its pid would be a leak.
    assert_eq!(owned_by(pid).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_start_up_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("stack.json");
    let child = Command::new(env!("CARGO_BIN_EXE_obs-harness"))
        .args(["stack", "keep", "--images", "airgapped", "--state"])
        .arg(&state)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_remove("OBS_STACK_STATE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Interrupt as soon as the first container exists: start-up is under way
    // (the app's healthcheck alone takes a second more). Poll fast to see it early.
    Eventually::new(format!("a container owned by the keeper (pid {pid})"))
        .with_timeout(Duration::from_secs(60))
        .with_max_interval(Duration::from_millis(50))
        .until(|| async {
            let owned = owned_by(pid).await;
            if owned.iter().any(|o| o.starts_with("container")) { Poll::Ready(()) } else { Poll::Pending(format!("{owned:?}")) }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!state.exists(), "interrupted before the stack was ready");
    Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert_eq!(status.status.code(), Some(128 + 2), "exits as interrupted: {stderr}");
    assert!(stderr.contains("removing 1 run(s) before exit"), "{stderr}");
    assert_eq!(owned_by(pid).await, Vec::<String>::new(), "leftovers after SIGINT:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn leftovers_of_a_killed_run_are_reaped_by_the_next_run() {
    use bollard::models::{NetworkCreateRequest, VolumeCreateRequest};
    let docker = obs_harness::stack::docker().await.unwrap();
    // What a run killed with SIGKILL leaves: labelled resources whose owner process is gone.
    let dead_owner = "999999999:1".to_string();
    let labels = HashMap::from([
        (cleanup::LABEL.to_string(), "1".to_string()),
        (cleanup::LABEL_RUN.to_string(), "killedrun".to_string()),
        (cleanup::LABEL_OWNER.to_string(), dead_owner.clone()),
    ]);
    let net = format!("obs-harness-killedrun-{}", std::process::id());
    docker
        .create_network(NetworkCreateRequest { name: net.clone(), labels: Some(labels.clone()), ..Default::default() })
        .await
        .unwrap();
    let vol = format!("obs-harness-killedrun-{}-data", std::process::id());
    docker.create_volume(VolumeCreateRequest { name: Some(vol.clone()), labels: Some(labels), ..Default::default() }).await.unwrap();
    let removed = cleanup::reap_orphans(&docker).await.unwrap();
    assert!(removed.networks.contains(&net), "{removed:?}");
    assert!(removed.volumes.contains(&vol), "{removed:?}");
    assert_eq!(owned_by(999_999_999).await, Vec::<String>::new());
}
