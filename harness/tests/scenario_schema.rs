//! The published JSON Schema of the scenario file (`schemas/scenario.schema.json`):
//! it is what the scenario types derive, every scenario under
//! `fixtures/scenarios/` and `fixtures/stacks/shop/scenario.yaml` validates against it (and loads), and the files under
//! `fixtures/scenarios/invalid/` are refused by both the schema and the loader.

use std::path::{Path, PathBuf};

use obs_harness::traffic::Scenario;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    v.sort();
    v
}

fn committed() -> serde_json::Value {
    let p = root().join("schemas/scenario.schema.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn as_json(p: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(p).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    assert!(
        committed() == Scenario::json_schema(),
        "schemas/scenario.schema.json is stale: regenerate it with\n  cargo run -p obs-harness -- schema scenario > schemas/scenario.schema.json"
    );
}

#[test]
fn every_scenario_fixture_validates_and_loads() {
    let validator = jsonschema::validator_for(&committed()).expect("the schema is a valid JSON Schema");
    let mut files = yaml_files(&root().join("fixtures/scenarios"));
    assert!(files.iter().any(|p| p.ends_with("default.yaml")) && files.len() >= 2, "{files:?}");
    // The example stacks' scenarios beside their compose files.
    files.push(root().join("fixtures/stacks/shop/scenario.yaml"));
    for p in files {
        let doc = as_json(&p);
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", p.display());
        Scenario::load(&p).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn invalid_scenarios_fail_the_schema_and_the_loader() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    let files = yaml_files(&root().join("fixtures/scenarios/invalid"));
    assert!(files.len() >= 3, "{files:?}");
    for p in &files {
        assert!(!validator.is_valid(&as_json(p)), "{} passes the schema", p.display());
        let err = Scenario::load(p).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:", p.display())), "{err}");
    }
    let err = Scenario::load(&root().join("fixtures/scenarios/invalid/unknown-key.yaml")).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("unknown-key.yaml:7:5: invalid scenario: steps[0]: unknown field `cont`"), "{err}");
    let err = Scenario::load(&root().join("fixtures/scenarios/invalid/count-and-duration.yaml")).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("count-and-duration.yaml:5:54: invalid scenario: steps[0].duration: `count` and `duration` are exclusive"), "{err}");
}
