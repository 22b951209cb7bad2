//! Each service's own config validator, run in the service's own image
//! without starting the stack: the real parser, which refuses unknown keys,
//! catches a typo in seconds. `loki -verify-config`, `promtail -check-syntax`,
//! `otelcol-contrib validate`, `jaeger validate` (an otelcol distribution).
//!
//! The image is the one the run would use: `--image SERVICE=IMAGE`, else
//! `OBS_IMAGE_<SERVICE>`, else the compose file's. It must already be on the
//! Docker daemon (lint never pulls); otherwise, or without Docker, the
//! validator is reported as skipped with the reason, never as passed. The
//! container gets the service's bind mounts read-only, no network, the
//! harness's labels (so a killed lint's leftovers are reaped), and is removed.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use super::compose::ServiceInfo;
use super::report::{Finding, RanCheck, Report, Severity, SkippedCheck};
use super::{Stack, compat::split_image};

/// One validator: the image repositories it applies to and its arguments
/// (`{config}` is the config path the service's command names).
struct Validator {
    name: &'static str,
    rule: &'static str,
    repos: &'static [&'static str],
    args: &'static [&'static str],
}

const VALIDATORS: &[Validator] = &[
    Validator { name: "loki -verify-config", rule: "loki-verify-config", repos: &["grafana/loki"], args: &["-config.file={config}", "-verify-config"] },
    Validator { name: "promtail -check-syntax", rule: "promtail-check-syntax", repos: &["grafana/promtail"], args: &["-config.file={config}", "-check-syntax"] },
    Validator {
        name: "otelcol validate",
        rule: "otelcol-validate",
        repos: &["otel/opentelemetry-collector-contrib", "otel/opentelemetry-collector"],
        args: &["validate", "--config={config}"],
    },
    Validator { name: "jaeger validate", rule: "jaeger-validate", repos: &["jaegertracing/jaeger"], args: &["validate", "--config={config}"] },
];

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the validator of every service that has one.
pub(super) fn run(st: &Stack, images: &BTreeMap<String, String>, enabled: bool, report: &mut Report) {
    for svc in &st.compose.services {
        let image = images.get(&svc.name).cloned().or_else(|| crate::stack::images::image_override(&svc.name)).unwrap_or_else(|| svc.image.clone());
        // The service's kind comes from its compose image; the image run may be a mirror of it.
        let kind = |i: &str| {
            let (repo, _) = split_image(i);
            VALIDATORS.iter().find(|v| v.repos.contains(&repo.as_str()))
        };
        let Some(v) = kind(&svc.image).or_else(|| kind(&image)) else { continue };
        let Some(config) = svc.config_flag() else { continue };
        let rel = svc.host_path(&config).map(|p| st.rel(&p)).unwrap_or_else(|| config.clone());
        let name = format!("{} ({image})", v.name);
        let skip = |report: &mut Report, reason: String| {
            report.skipped.push(SkippedCheck { name: name.clone(), reason, install_hint: format!("make the image available (docker load / a registry), or pass --image {}=IMAGE", svc.name) })
        };
        if !enabled {
            skip(report, "external tools disabled (--no-external)".into());
            continue;
        }
        match image_present(&image) {
            Err(reason) => {
                skip(report, reason);
                continue;
            }
            Ok(false) => {
                skip(report, format!("image `{image}` is not on this Docker daemon (lint does not pull)"));
                continue;
            }
            Ok(true) => {}
        }
        let out = run_in_image(&image, svc, v, &config);
        match out {
            Err(e) => {
                report.ran.push(RanCheck { name: name.clone(), file: rel.clone(), passed: false });
                report.findings.push(finding(v.rule, &rel, 1, format!("`{}` could not run: {e}", v.name), None));
            }
            Ok((true, _)) => report.ran.push(RanCheck { name, file: rel, passed: true }),
            Ok((false, text)) => {
                report.ran.push(RanCheck { name: name.clone(), file: rel.clone(), passed: false });
                static LINE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| regex::Regex::new(r"line (\d+)").unwrap());
                let line = LINE.captures(&text).and_then(|c| c[1].parse().ok()).unwrap_or(1);
                report.findings.push(finding(
                    v.rule,
                    &rel,
                    line,
                    format!("`{}` in {image} rejects this config: {}", v.name, last_lines(&text, 6)),
                    Some(format!("service `{}` would refuse to start with it; fix the key or value named above", svc.name)),
                ));
            }
        }
    }
}

fn finding(rule: &str, file: &str, line: usize, message: String, hint: Option<String>) -> Finding {
    Finding { file: file.to_owned(), line, col: None, severity: Severity::Error, rule: rule.to_owned(), message, hint }
}

/// The last `n` non-empty lines of `text`, joined.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// Whether `image` is on the daemon; `Err` when Docker does not answer.
fn image_present(image: &str) -> Result<bool, String> {
    let out = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]).output();
    match out {
        Err(e) => Err(format!("cannot run `docker`: {e}")),
        Ok(o) if o.status.success() => Ok(true),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("No such image") || err.contains("No such object") {
                Ok(false)
            } else {
                Err(format!("Docker does not answer: {}", last_lines(&err, 2)))
            }
        }
    }
}

/// `docker run --rm` of the validator with the service's bind mounts; `(passed, output)`.
fn run_in_image(image: &str, svc: &ServiceInfo, v: &Validator, config: &str) -> Result<(bool, String), String> {
    let name = format!("obs-harness-lint-{}-{}", svc.name, std::process::id());
    let mut cmd = Command::new("docker");
    cmd.args(["run", "--rm", "--name", &name, "--network", "none", "--label", &format!("{}=1", crate::stack::cleanup::LABEL)]);
    cmd.args(["--label", &format!("{}={}", crate::stack::cleanup::LABEL_OWNER, std::process::id())]);
    for m in &svc.mounts {
        if let Some(host) = m.host.as_ref().filter(|h| h.exists()) {
            cmd.args(["-v", &format!("{}:{}:ro", host.display(), m.target)]);
        }
    }
    cmd.arg(image);
    for a in v.args {
        cmd.arg(a.replace("{config}", config));
    }
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(o)) => Ok((o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let _ = Command::new("docker").args(["rm", "-f", &name]).output();
            Err(format!("no answer within {}s (container removed)", TIMEOUT.as_secs()))
        }
    }
}
