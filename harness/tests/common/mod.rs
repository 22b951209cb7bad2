//! Helpers shared by the test files: copies of the bundled stack, planted secrets, raw HTTP, and (in [`contract`]) what the contract tests share.
#![allow(dead_code)]

pub mod contract;

use std::path::{Path, PathBuf};

/// The bundled stack (`stack/`).
pub fn stack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack")
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() { copy_dir(&e.path(), &dst) } else { std::fs::copy(e.path(), &dst).map(|_| ()).unwrap() }
    }
}

/// One secret of each kind the reports must never show, planted by [`plant_secrets`].
pub const PLANTED_SECRETS: &[(&str, &str)] = &[
    ("GF_SECURITY_ADMIN_PASSWORD", "Gf-Admin-Pw-7d1e"),
    ("env *_API_KEY", "sk-plant-ApiKey-0042"),
    ("env *_SECRET", "Sess-Secret-5e5e"),
    ("env *_TOKEN", "ghp-Token-a1b2c3"),
    ("secureJsonData.basicAuthPassword", "Ds-Basic-Pw-55aa"),
    ("secureJsonData Authorization header", "Ds-Hdr-Bearer-1234"),
    ("datasource URL with credentials", "Url-Cred-Pw-9f3b"),
    ("prometheus basic_auth.password", "Prom-Basic-Pw-31c4"),
    ("prometheus bearer_token", "Prom-Bearer-e8a7c2d1"),
    ("collector Authorization: Bearer header", "Otlp-Hdr-Tok-77bb12"),
];

/// Plants [`PLANTED_SECRETS`] in a copy of the bundled stack at `dir` (the Loki
/// tenant stays `docker`, from `secureJsonData` under `X-Scope-OrgID`), and a
/// dashboard panel whose queries name each secret as a job, so lint findings carry them.
pub fn plant_secrets(dir: &Path) {
    let s = |k: &str| PLANTED_SECRETS.iter().find(|(w, _)| *w == k).unwrap().1;
    let edit = |rel: &str, f: &dyn Fn(String) -> String| {
        let p = dir.join(rel);
        let t = std::fs::read_to_string(&p).unwrap();
        let n = f(t.clone());
        assert_ne!(t, n, "{rel}: nothing planted");
        std::fs::write(p, n).unwrap();
    };
    edit("docker-compose.yml", &|t| {
        t.replacen(
            "      - GF_AUTH_ANONYMOUS_ENABLED=true\n",
            &format!("      - GF_AUTH_ANONYMOUS_ENABLED=true\n      - GF_SECURITY_ADMIN_PASSWORD={}\n      - APP_API_KEY={}\n      - SESSION_SECRET={}\n      - GH_TOKEN={}\n", s("GF_SECURITY_ADMIN_PASSWORD"), s("env *_API_KEY"), s("env *_SECRET"), s("env *_TOKEN")),
            1,
        )
    });
    edit("grafana/provisioning/datasources/datasources.yml", &|t| {
        let t = t.replacen(
            "    isDefault: true\n    jsonData:\n",
            &format!("    isDefault: true\n    basicAuth: true\n    basicAuthUser: grafana\n    secureJsonData:\n      basicAuthPassword: {}\n      httpHeaderValue1: Bearer {}\n    jsonData:\n      httpHeaderName1: Authorization\n", s("secureJsonData.basicAuthPassword"), s("secureJsonData Authorization header")),
            1,
        );
        format!("{t}\n  - name: Extra\n    type: prometheus\n    uid: extra\n    access: proxy\n    url: http://scraper:{}@nosuchhost:9090\n", s("datasource URL with credentials"))
    });
    edit("prometheus/prometheus.yml", &|t| {
        t.replacen("    metrics_path: /metrics\n", &format!("    metrics_path: /metrics\n    basic_auth:\n      username: prom\n      password: {}\n", s("prometheus basic_auth.password")), 1)
            .replacen("  - job_name: otel-collector\n", &format!("  - job_name: otel-collector\n    bearer_token: {}\n", s("prometheus bearer_token")), 1)
    });
    edit("otel-collector/config.yaml", &|t| {
        t.replacen("    endpoint: jaeger:4317\n", &format!("    endpoint: jaeger:4317\n    headers:\n      Authorization: \"Bearer {}\"\n", s("collector Authorization: Bearer header")), 1)
    });
    edit("grafana/dashboards/fastapi-overview.json", &|t| {
        let mut d: serde_json::Value = serde_json::from_str(&t).unwrap();
        let targets: Vec<serde_json::Value> = PLANTED_SECRETS
            .iter()
            .enumerate()
            .map(|(i, (_, v))| serde_json::json!({"refId": format!("S{i}"), "expr": format!("up{{job=\"{v}\"}}")}))
            .collect();
        d["panels"].as_array_mut().unwrap().push(serde_json::json!({"type": "timeseries", "title": "planted", "datasource": {"type": "prometheus", "uid": "prometheus"}, "targets": targets}));
        serde_json::to_string_pretty(&d).unwrap()
    });
}

/// A copy of the bundled stack with textual edits `(file, from, to)` (first occurrence each).
/// A stack made of these files (path relative to the stack dir, content).
pub fn stack_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let p = tmp.path().join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    tmp
}

pub fn broken_copy(edits: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&stack_dir(), tmp.path());
    for (file, from, to) in edits {
        let p = tmp.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "{file} no longer contains {from:?}: update the test table");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }
    tmp
}

/// 1-based line of the first occurrence of `needle` in `dir/file`.
pub fn line_in(dir: &Path, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let idx = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in {file}"));
    text[..idx].matches('\n').count() + 1
}

/// A plain HTTP/1.1 request to 127.0.0.1:`port` (no client library: the tests see the raw answer).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Every check of a run report that the engine decided not to run names the
/// need that decided it (`because`), and that need is one the check declared
/// (`needs`): nothing is blocked or skipped for a reason its declarations do not
/// hold. A check blocked by another check says so in its reason. Lint, input and
/// start verdicts are not the engine's.
#[allow(dead_code)]
pub fn assert_reasons_declared(report: &serde_json::Value) {
    let checks = report["checks"].as_array().expect("report.json has checks");
    let mut wrong = Vec::new();
    for c in checks.iter().filter(|c| !matches!(c["phase"].as_str(), Some("lint" | "input" | "start"))) {
        let name = c["name"].as_str().unwrap_or_default();
        let Some(needs) = c.get("needs").filter(|n| n.is_object()) else {
            wrong.push(format!("{name}: no declared needs"));
            continue;
        };
        if c["verdict"] != "not_run" {
            continue;
        }
        let reason = c["reason"].as_str().unwrap_or_default();
        let Some((kind, key)) = c["because"].as_str().and_then(|b| b.split_once(':')) else {
            wrong.push(format!("{name}: not run ({reason}) without the need that decided it"));
            continue;
        };
        if kind == "optional" {
            let declared: Vec<&str> = needs["optional"].as_array().map(|v| v.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
            if declared.join(",") != key {
                wrong.push(format!("{name}: not run for want of optional backends `{key}`, but it declares {declared:?}"));
            }
            continue;
        }
        let field = match kind {
            "absent" | "backend" => "backends",
            "through" => "through",
            "link" => "links",
            "check" => "checks",
            "expect" => "expects",
            _ => {
                wrong.push(format!("{name}: unknown kind of need `{kind}`"));
                continue;
            }
        };
        let declared = needs[field].as_array().is_some_and(|v| v.iter().any(|k| k == key));
        if !declared {
            wrong.push(format!("{name}: not run for `{kind}:{key}`, which is not among its declared {field}: {needs}"));
        }
        if kind == "check" && !reason.starts_with(&format!("blocked by `{key}`")) {
            wrong.push(format!("{name}: blocked by check `{key}` but its reason says otherwise: {reason}"));
        }
        if matches!(kind, "backend" | "link" | "through") && !reason.starts_with("blocked by `") {
            wrong.push(format!("{name}: blocked ({kind}:{key}) without naming what blocked it: {reason}"));
        }
        if reason.trim().is_empty() {
            wrong.push(format!("{name}: not run with an empty reason"));
        }
    }
    assert!(wrong.is_empty(), "not-run reasons that do not come from the checks' declared needs:\n{}", wrong.join("\n"));
}
