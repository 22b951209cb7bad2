//! The harness's own footprint: every image it builds is labelled
//! `obs-harness=1`, and `obs-harness images prune` removes those no container
//! uses (and the dangling build cache), reporting what it freed, while an
//! image a container uses (e.g. the running shared stack's) is kept.
//!
//! The prune runs with `--only <this test's repositories>`, so the images of
//! other runs on the same daemon (a CI run beside this one) are not touched.

use std::process::Command;

use obs_harness::stack::images::BinaryImage;

fn docker(args: &[&str]) -> (bool, String) {
    let o = Command::new("docker").args(args).output().expect("docker CLI");
    (o.status.success(), String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_removes_unused_harness_images_keeps_those_in_use_and_reports_what_it_freed() {
    let prefix = format!("obs-harness/prune-test-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "a dummy input of some size ".repeat(4000)).unwrap();
    let unused = BinaryImage::from_binary(format!("{prefix}-unused"), "/bin/true", "/bin/true").unwrap().with_path(&input, "/input.txt");
    let unused = unused.build().await.unwrap_or_else(|e| panic!("{e}"));
    let used = BinaryImage::from_binary(format!("{prefix}-used"), "/bin/true", "/bin/true").unwrap().build().await.unwrap_or_else(|e| panic!("{e}"));
    // Labelled like every image the harness builds.
    for image in [&unused, &used] {
        let (_, label) = docker(&["image", "inspect", "--format", "{{index .Config.Labels \"obs-harness\"}}", image]);
        assert_eq!(label, "1", "{image} is not labelled obs-harness=1");
    }
    // A container (not even running) holds `used`, as the shared stack's containers hold theirs.
    let (ok, container) = docker(&["create", "--label", "obs-harness-test=prune", &used]);
    assert!(ok, "docker create {used}");

    let out = Command::new(env!("CARGO_BIN_EXE_obs-harness")).args(["images", "prune", "--only", &prefix]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unused_gone = !docker(&["image", "inspect", &unused]).0;
    let used_there = docker(&["image", "inspect", &used]).0;
    docker(&["rm", "-f", &container]);
    docker(&["rmi", "-f", &used]);
    docker(&["rmi", "-f", &unused]);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(unused_gone, "{unused} still present:\n{stdout}");
    assert!(used_there, "{used}, used by a container, was removed:\n{stdout}");
    assert!(stdout.contains("removed 1 image(s), ") && stdout.contains(&unused), "{stdout}");
    assert!(stdout.contains("kept 1 image(s) a container uses") && stdout.contains(&used), "{stdout}");
    assert!(stdout.contains("build cache: removed "), "{stdout}");
    // What it freed, in bytes: at least the dummy input's 108 kB.
    let freed: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("freed ").and_then(|r| r.split('(').nth(1)).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("no `freed … (N bytes)` line:\n{stdout}"));
    assert!(freed >= 108_000, "freed {freed} bytes:\n{stdout}");
}
