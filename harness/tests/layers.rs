//! The reading layer's imports run one way.
//!
//! `harness/src/read/` (compose files and service configs), and the stack model
//! built from them (`model/mod.rs`, `model/kinds/`), import nothing from the gate
//! (`lint`), the lifecycle (`stack`, `images`), the checks, the phases or the
//! reports: the gate judges the model, the lifecycle starts what it says. This
//! test reads the source and names every `crate::` path that breaks the rule.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The files of the reading layer.
fn reading_layer() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&src().join("read"), &mut files);
    rust_files(&src().join("model/kinds"), &mut files);
    files.push(src().join("model/mod.rs"));
    files
}

/// `crate::a::b` paths in code (comments and doc comments left out).
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let re = regex::Regex::new(r"crate::([a-z_]+)(::[a-z_]+)?").unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for c in re.captures_iter(code) {
            out.push((i + 1, c[0].to_owned()));
        }
    }
    out
}

/// What the reading layer may use: itself and the model it builds (not the model's
/// gate rules `model::links` nor its drawing `model::graph`).
fn allowed(path: &str) -> bool {
    let mut parts = path.split("::").skip(1);
    match (parts.next(), parts.next()) {
        (Some("read"), _) => true,
        (Some("model"), Some("links" | "graph")) => false,
        (Some("model"), _) => true,
        _ => false,
    }
}

#[test]
fn the_reading_layer_imports_nothing_above_it() {
    let files = reading_layer();
    assert!(files.len() > 10, "the reading layer's files were not found under {}", src().display());
    let mut wrong = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (line, path) in crate_paths(&text) {
            if !allowed(&path) {
                wrong.push(format!("{}:{line}: {path}", f.strip_prefix(src()).unwrap().display()));
            }
        }
        // `super::` out of `model/` (into the crate root) is the same escape.
        if f.starts_with(src().join("model")) && text.contains("super::super::super") {
            wrong.push(format!("{}: super::super::super", f.display()));
        }
    }
    assert!(wrong.is_empty(), "the reading layer imports from above it:\n{}", wrong.join("\n"));
}

#[test]
fn the_rule_catches_an_import_from_the_gate() {
    let found = crate_paths("use crate::lint::Report; // crate::stack in a comment\nlet x = crate::read::compose::scalar(v);");
    let bad: Vec<_> = found.iter().filter(|(_, p)| !allowed(p)).collect();
    assert_eq!(bad, [&(1, "crate::lint".to_string())]);
    assert!(!allowed("crate::lint::links"));
    assert!(allowed("crate::model::kinds"));
}
