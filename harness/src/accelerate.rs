//! Accelerated timing: the same stack, with every alerting-relevant duration
//! divided by a factor, so alerts fire in seconds instead of minutes.
//!
//! Applied to the YAML files copied into containers (the stack on disk is not
//! touched). Rewritten: `scrape_interval`, `evaluation_interval`, `for`,
//! `group_wait`, `group_interval`, `repeat_interval`, `resolve_timeout`,
//! Grafana's datasource `timeInterval` (so `$__rate_interval` follows), and
//! range selectors (`[5m]`) inside `expr:` values. Every duration stays at
//! least 1 s. The default factor 15 turns the seed's 15 s scrape into 1 s,
//! `for: 2m` into 8 s and `[5m]` windows into 20 s. Every report states the
//! mode; `--faithful` (factor 1) keeps the stack's own timings.

use std::time::Duration;

use regex::Regex;

/// Default factor: 15 s scrape -> 1 s.
pub const DEFAULT_FACTOR: u32 = 15;

const KEYS: &str = "scrape_interval|evaluation_interval|for|group_wait|group_interval|repeat_interval|resolve_timeout|timeInterval";

fn scale(d: Duration, factor: u32) -> Duration {
    (d / factor.max(1)).max(Duration::from_secs(1))
}

/// Formats a duration the way Prometheus and Alertmanager parse it.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// Parses `15s`, `1m30s`, `5m`, `1h`, `500ms` (Prometheus duration syntax, without `d`/`w`/`y`).
pub fn parse_duration(s: &str) -> Option<Duration> {
    parse_compose_duration(s.trim().trim_matches('"').trim_matches('\''))
}

/// Compose durations: `10s`, `1m30s`, `500ms`, `1h`.
pub fn parse_compose_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        total += Duration::from_secs_f64(match unit.as_str() {
            "ms" => v / 1000.0,
            "s" => v,
            "m" => v * 60.0,
            "h" => v * 3600.0,
            "us" => v / 1e6,
            _ => return None,
        });
    }
    if !num.is_empty() {
        return None;
    }
    Some(total)
}


/// Rewrites one YAML file's timing keys and `expr` range selectors.
pub fn accelerate_yaml(text: &str, factor: u32) -> String {
    if factor <= 1 {
        return text.to_owned();
    }
    let key = Regex::new(&format!(r#"^(\s*(?:-\s+)?(?:{KEYS}):\s*)(["']?)([0-9][0-9a-z]*)(["']?)(\s*(?:#.*)?)$"#)).expect("valid regex");
    let range = Regex::new(r"\[([0-9]+(?:ms|s|m|h))\]").expect("valid regex");
    let mut in_expr_block = false;
    let mut expr_indent = 0;
    let mut out = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if in_expr_block && !line.trim().is_empty() && indent <= expr_indent {
            in_expr_block = false;
        }
        let trimmed = line.trim_start().trim_start_matches("- ");
        let is_expr = trimmed.starts_with("expr:");
        if is_expr && (trimmed.ends_with('|') || trimmed.ends_with('>') || trimmed.ends_with("|-") || trimmed.ends_with(">-")) {
            in_expr_block = true;
            expr_indent = indent;
        }
        let mut new = line.to_owned();
        if let Some(c) = key.captures(line) {
            if let Some(d) = parse_duration(&c[3]) {
                new = format!("{}{}{}{}{}", &c[1], &c[2], fmt_duration(scale(d, factor)), &c[4], &c[5]);
            }
        } else if is_expr || in_expr_block {
            new = range
                .replace_all(line, |c: &regex::Captures| match parse_duration(&c[1]) {
                    Some(d) => format!("[{}]", fmt_duration(scale(d, factor))),
                    None => c[0].to_owned(),
                })
                .into_owned();
        }
        out.push(new);
    }
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Copies `src` (a file or a directory) to `dst`, accelerating every YAML file.
pub fn accelerate_tree(src: &std::path::Path, dst: &std::path::Path, factor: u32) -> std::io::Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst)?;
        for e in std::fs::read_dir(src)? {
            let e = e?;
            accelerate_tree(&e.path(), &dst.join(e.file_name()), factor)?;
        }
        return Ok(());
    }
    let is_yaml = src.extension().is_some_and(|e| e == "yml" || e == "yaml");
    if is_yaml {
        let text = std::fs::read_to_string(src)?;
        std::fs::write(dst, accelerate_yaml(&text, factor))
    } else {
        std::fs::copy(src, dst).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn bundled_prometheus_and_rules_accelerate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack");
        let prom = accelerate_yaml(&std::fs::read_to_string(root.join("prometheus/prometheus.yml")).unwrap(), 15);
        assert!(prom.contains("scrape_interval: 1s"), "{prom}");
        assert!(prom.contains("evaluation_interval: 1s"), "{prom}");
        let rules = accelerate_yaml(&std::fs::read_to_string(root.join("prometheus/rules/alerts.yml")).unwrap(), 15);
        assert!(rules.contains("for: 8s"), "2m -> 8s:\n{rules}");
        assert!(rules.contains("for: 4s"), "1m -> 4s");
        assert!(rules.contains("[20s]") && !rules.contains("[5m]"), "windows scaled, including block scalars:\n{rules}");
        assert!(rules.contains("annotations:"), "the rest is untouched");
        let am = accelerate_yaml(&std::fs::read_to_string(root.join("alertmanager/alertmanager.yml")).unwrap(), 15);
        assert!(am.contains("group_wait: 1s") && am.contains("group_interval: 4s") && am.contains("repeat_interval: 4m"), "{am}");
        let ds = accelerate_yaml(&std::fs::read_to_string(root.join("grafana/provisioning/datasources/datasources.yml")).unwrap(), 15);
        assert!(ds.contains("timeInterval: 1s"), "Grafana's rate interval follows the scrape interval:\n{ds}");
    }

    #[test]
    fn factor_one_is_faithful_and_floor_is_one_second() {
        let t = "scrape_interval: 15s\n";
        assert_eq!(accelerate_yaml(t, 1), t);
        assert_eq!(accelerate_yaml("for: 5s\n", 15), "for: 1s\n");
        assert_eq!(accelerate_yaml("  - for: 2m # note\n", 15), "  - for: 8s # note\n");
    }
}
