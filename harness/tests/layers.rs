//! Imports run one way: the reading layer imports nothing above it, no file
//! of the crate is in an import circle, and no file imports from a higher layer
//! ([`LAYERS`]: reading and the model, what reads the model, gate and lifecycle,
//! clients, checks, phases, run and reports). Tests (`#[cfg(test)]`) may reach anywhere.
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

// ------------------------------------------------------------------ the whole house

/// The layers of `harness/src`, lowest first, by top-level module: a file
/// imports only from its own layer or lower ones.
const LAYERS: &[&[&str]] = &[
    // Reading: compose files and service configs, and the stack model built on them.
    &["read", "model"],
    // What only reads the model: the stack profile, the secrets, timings, polling.
    &["profile", "redact", "accelerate", "eventually", "webhook"],
    // The gate and the lifecycle.
    &["lint", "stack"],
    // One HTTP client per backend; the traffic driver.
    &["backends", "traffic"],
    // Checks and their verdicts.
    &["checks", "dashboards", "catalogue_record", "snapshot"],
    // The phases and their engine.
    &["phases"],
    // The run, its reports and what draws from verdicts.
    &["run", "report", "graph"],
];

fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS.iter().position(|l| l.contains(&top.as_str()))
}

/// Every file of `harness/src` (not `main.rs`, the binary) as its module path.
fn modules() -> Vec<(Vec<String>, PathBuf)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs") && !f.ends_with("lib.rs"))
        .map(|f| {
            let rel = f.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            (parts, f)
        })
        .collect()
}

/// The code of a file without comments and without `#[cfg(test)]` items (tests may reach anywhere).
fn code_of(text: &str) -> String {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            let mut depth = 0i32;
            let mut opened = false;
            for l in lines.by_ref() {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        out.push(line.split("//").next().unwrap_or_default());
    }
    out.join("\n")
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let Some(open) = path.find('{') else { return vec![path.to_owned()] };
    let (prefix, inner) = (&path[..open], &path[open + 1..path.len() - 1]);
    let (mut items, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    items.push(cur);
    items.into_iter().filter(|i| !i.trim().is_empty()).flat_map(|i| expand(&format!("{prefix}{}", i.trim()))).collect()
}

/// The modules (files) of the crate a file's code names: `use` trees and
/// `crate::`/`super::` paths, resolved to the longest module prefix that is a file.
/// A folder's `mod.rs` naming its own files (`pub use needs::Needs;`) is not an
/// import: a folder is one module, whose `mod.rs` holds what its files share.
fn imports(module: &[String], code: &str, known: &std::collections::BTreeSet<Vec<String>>) -> std::collections::BTreeSet<Vec<String>> {
    let resolve = |segs: Vec<String>| -> Option<Vec<String>> { (1..=segs.len()).rev().map(|n| segs[..n].to_vec()).find(|p| known.contains(p)) };
    let absolute = |path: &str| -> Vec<String> {
        let mut segs: Vec<String> = path.split("::").map(|s| s.split(" as ").next().unwrap_or(s).trim().to_owned()).filter(|s| !s.is_empty() && s != "*").collect();
        match segs.first().map(String::as_str) {
            Some("crate") => segs.remove(0),
            Some("super") => {
                let mut base = module.to_vec();
                while segs.first().is_some_and(|s| s == "super") {
                    segs.remove(0);
                    base.pop();
                }
                return base.into_iter().chain(segs).collect();
            }
            Some("self") => {
                segs.remove(0);
                return module.iter().cloned().chain(segs).collect();
            }
            _ => return Vec::new(),
        };
        segs
    };
    let mut out = std::collections::BTreeSet::new();
    let uses = regex::Regex::new(r"(?s)\buse\s+((?:crate|super|self)::[^;]*);").unwrap();
    for c in uses.captures_iter(code) {
        let tree: String = c[1].chars().filter(|c| !c.is_whitespace() || *c == ' ').collect::<String>().replace(", ", ",").replace(" ::", "::").replace(":: ", "::");
        for p in expand(&tree.replace(' ', "").replace("as", " as ")) {
            out.extend(resolve(absolute(&p)));
        }
    }
    let paths = regex::Regex::new(r"(?:^|[^:\w])((?:crate|super)(?:::super)*(?:::[a-z_][a-z0-9_]*)+)").unwrap();
    for c in paths.captures_iter(code) {
        out.extend(resolve(absolute(&c[1])));
    }
    out.retain(|m| m.as_slice() != module && !m.is_empty());
    out
}

/// The import graph of `harness/src`: file -> the files it imports.
fn graph() -> std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>> {
    let mods = modules();
    let known: std::collections::BTreeSet<Vec<String>> = mods.iter().map(|(m, _)| m.clone()).collect();
    mods.iter().map(|(m, f)| (m.clone(), imports(m, &code_of(&std::fs::read_to_string(f).unwrap()), &known))).collect()
}

/// The import circles of `g` (strongly connected components of more than one file).
fn circles(g: &std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    // Kosaraju: finish order on g, then components on the reversed graph.
    fn visit(n: &Vec<String>, g: &std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>>, seen: &mut std::collections::BTreeSet<Vec<String>>, out: &mut Vec<Vec<String>>) {
        if !seen.insert(n.clone()) {
            return;
        }
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, seen, out);
        }
        out.push(n.clone());
    }
    let (mut seen, mut order) = (Default::default(), Vec::new());
    for n in g.keys() {
        visit(n, g, &mut seen, &mut order);
    }
    let mut rev: std::collections::BTreeMap<Vec<String>, std::collections::BTreeSet<Vec<String>>> = Default::default();
    for (a, bs) in g {
        for b in bs {
            rev.entry(b.clone()).or_default().insert(a.clone());
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        let mut comp = Vec::new();
        visit(n, &rev, &mut seen, &mut comp);
        if comp.len() > 1 {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

fn show(m: &[String]) -> String {
    m.join("::")
}

#[test]
fn no_file_of_the_crate_is_in_an_import_circle() {
    let g = graph();
    assert!(g.len() > 60, "the crate's files were not found under {}", src().display());
    let found = circles(&g);
    let text: Vec<String> = found
        .iter()
        .map(|c| {
            let edges: Vec<String> = c.iter().flat_map(|a| g[a].iter().filter(|b| c.contains(b)).map(move |b| format!("  {} -> {}", show(a), show(b)))).collect();
            format!("{} files in a circle:\n{}", c.len(), edges.join("\n"))
        })
        .collect();
    assert!(found.is_empty(), "import circles in harness/src:\n{}", text.join("\n"));
}

#[test]
fn no_file_imports_from_a_higher_layer() {
    let mut wrong = Vec::new();
    for (m, deps) in graph() {
        let Some(mine) = layer_of(&m) else {
            wrong.push(format!("{} is in no layer (add its top-level module to LAYERS)", show(&m)));
            continue;
        };
        for d in deps {
            if layer_of(&d).is_some_and(|l| l > mine) {
                wrong.push(format!("{} (layer {mine}) imports {} (layer {})", show(&m), show(&d), layer_of(&d).unwrap()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that run upward:\n{}", wrong.join("\n"));
}

#[test]
fn the_graph_sees_use_trees_super_paths_and_circles() {
    let known: std::collections::BTreeSet<Vec<String>> =
        [vec!["a".to_owned()], vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]].into_iter().collect();
    let code = code_of("use crate::{a::b::Thing, c};\n// crate::z\n#[cfg(test)]\nmod tests {\n    use crate::a;\n}\n");
    let found = imports(&["x".to_owned()], &code, &known);
    assert_eq!(found, [vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]].into_iter().collect());
    let found = imports(&["a".to_owned(), "b".to_owned()], "fn f() { super::g() }", &known);
    assert_eq!(found, [vec!["a".to_owned()]].into_iter().collect());
    let g = [(vec!["a".to_owned()], [vec!["c".to_owned()]].into_iter().collect()), (vec!["c".to_owned()], [vec!["a".to_owned()]].into_iter().collect())].into_iter().collect();
    assert_eq!(circles(&g).len(), 1);
}
