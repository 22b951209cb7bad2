//! The metric catalogue of any stack: `obs-harness catalogue record` and the live
//! check `app.catalogue_current`.
//!
//! Lint checks the metric and label names of every PromQL query against a
//! catalogue: the app's Prometheus text exposition, found by
//! [`crate::lint::catalogue_for`] (`--catalogue FILE` >
//! `<stack_dir>/catalogue.prom` > the built-in reference-app one > none).
//!
//! - [`record`] scrapes the app's metrics endpoint, checks that the body parses
//!   as an exposition ([`Catalogue::parse_exposition`]) and returns it with a first
//!   comment line saying where and when it was recorded: what
//!   `obs-harness catalogue record --from URL [-o FILE]` writes.
//! - [`compare`] tells how a catalogue differs from what the app exposes now
//!   (metric names, and label names per metric; never values), and
//!   [`catalogue_current`] is the live check built on it, run after the traffic
//!   (metrics such as histogram buckets or error counters appear only once the
//!   traffic has touched them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::checks::Verdict;
use crate::lint::{self, Catalogue};

/// How long one scrape of the app may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// `obs-harness catalogue ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum CatalogueCmd {
    /// Record the app's metric catalogue (its Prometheus text exposition) for lint:
    /// lint reads <STACK_DIR>/catalogue.prom beside the stack.
    ///
    /// Example: obs-harness catalogue record --from http://127.0.0.1:8000/metrics -o my-stack/catalogue.prom
    ///
    /// Example: obs-harness catalogue record --from http://127.0.0.1:8000 > my-stack/catalogue.prom
    Record {
        /// The app's metrics URL; a URL without a path gets `/metrics`.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Write the catalogue to FILE instead of stdout.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs a `catalogue` subcommand; returns the exit code (0, or 2 with a one-line reason).
pub async fn run(cmd: CatalogueCmd) -> i32 {
    match cmd {
        CatalogueCmd::Record { from, output } => {
            let text = match record(&from).await {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("obs-harness: catalogue record: {e}");
                    return 2;
                }
            };
            match output {
                Some(file) => match std::fs::write(&file, &text) {
                    Ok(()) => {
                        let n = Catalogue::parse_exposition(&text).map(|c| c.metrics.len()).unwrap_or_default();
                        eprintln!("obs-harness: wrote {} ({n} metric(s))", file.display());
                        0
                    }
                    Err(e) => {
                        eprintln!("obs-harness: catalogue record: cannot write {}: {e} (hint: does its directory exist?)", file.display());
                        2
                    }
                },
                None => {
                    use std::io::Write;
                    match std::io::stdout().write_all(text.as_bytes()) {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("obs-harness: catalogue record: cannot write to stdout: {e}");
                            2
                        }
                    }
                }
            }
        }
    }
}

/// The metrics URL for `from`: as given, or with `/metrics` when it has no path.
pub fn metrics_url(from: &str) -> Result<String, String> {
    let from = from.trim();
    if !(from.starts_with("http://") || from.starts_with("https://")) {
        return Err(format!("`{from}` is not an http:// or https:// URL (hint: --from http://127.0.0.1:8000/metrics)"));
    }
    let mut url = reqwest::Url::parse(from).map_err(|e| format!("`{from}` is not a URL: {e} (hint: --from http://127.0.0.1:8000/metrics)"))?;
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/metrics");
    }
    Ok(url.to_string())
}

/// GETs the exposition at `url` (a metrics URL): its body when the answer is
/// HTTP 200 and parses as an exposition with at least one sample, else a
/// one-line reason naming the URL, what was seen, and a hint.
pub async fn scrape(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client.get(url).header(reqwest::header::ACCEPT, "text/plain;version=0.0.4").send().await.map_err(|e| {
        let what = if e.is_connect() {
            "refused the connection (or its host does not resolve)".to_owned()
        } else if e.is_timeout() {
            format!("did not answer within {} s", TIMEOUT.as_secs())
        } else {
            "could not be reached".to_owned()
        };
        format!("{url} {what}: {} (hint: is the app running, and is this its published port?)", root_cause(&e))
    })?;
    let status = resp.status();
    let body = resp.text().await.map_err(|e| format!("{url}: the body could not be read: {}", root_cause(&e)))?;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "{url} answered HTTP {}{} (hint: is this the app's metrics path? Prometheus's scrape config names it: `metrics_path`)",
            status.as_u16(),
            first_line(&body).map(|l| format!(": {l}")).unwrap_or_default()
        ));
    }
    validate(url, &body)?;
    Ok(body)
}

/// The body parses as a text exposition and has at least one sample with a valid metric name.
fn validate(url: &str, body: &str) -> Result<(), String> {
    let hint = "(hint: is this the app's metrics endpoint? It must serve the Prometheus text format)";
    let c = Catalogue::parse_exposition(body).map_err(|e| format!("{url} answered HTTP 200 but not a Prometheus text exposition: {e} {hint}"))?;
    if c.metrics.is_empty() {
        return Err(format!("{url} answered HTTP 200 without a single metric sample{} {hint}", first_line(body).map(|l| format!(" (body starts: {l})")).unwrap_or_default()));
    }
    if let Some(bad) = c.metrics.keys().find(|n| !valid_metric_name(n)) {
        return Err(format!("{url} answered HTTP 200 but not a Prometheus text exposition: `{bad}` is not a metric name {hint}"));
    }
    Ok(())
}

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn first_line(body: &str) -> Option<String> {
    let l = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(if l.chars().count() > 120 { format!("{}…", l.chars().take(120).collect::<String>()) } else { l.to_owned() })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}

/// Scrapes `from` (see [`metrics_url`]) and returns the catalogue file's text: a
/// first comment line saying where and when it was recorded, then the exposition
/// as served (`# HELP`/`# TYPE` lines kept).
pub async fn record(from: &str) -> Result<String, String> {
    let url = metrics_url(from)?;
    let body = scrape(&url).await?;
    Ok(with_header(&url, &body, chrono::Utc::now()))
}

fn with_header(url: &str, body: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = format!(
        "# Metric catalogue recorded from {url} at {} by `obs-harness catalogue record`.\n",
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    out.push_str(body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// How a catalogue differs from what the app exposes: metric names and label
/// names per metric, never values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staleness {
    /// In the catalogue, not exposed by the app.
    pub missing: BTreeSet<String>,
    /// Exposed by the app, not in the catalogue.
    pub new: BTreeSet<String>,
    /// Per metric in both: label names in the catalogue the app's samples lack.
    pub missing_labels: BTreeMap<String, BTreeSet<String>>,
    /// Per metric in both: label names the app's samples carry that the catalogue lacks.
    pub new_labels: BTreeMap<String, BTreeSet<String>>,
    /// Lines of the exposition that are not samples (ignored).
    pub unparsed_lines: usize,
}

impl Staleness {
    /// Nothing missing in either direction.
    pub fn is_current(&self) -> bool {
        self.missing.is_empty() && self.new.is_empty() && self.missing_labels.is_empty() && self.new_labels.is_empty()
    }

    /// One line: what is missing and what is new.
    pub fn describe(&self) -> String {
        let list = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        let labels = |m: &BTreeMap<String, BTreeSet<String>>| m.iter().map(|(k, v)| format!("{k}{{{}}}", list(v))).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!("in the catalogue but not exposed by the app: {}", list(&self.missing)));
        }
        if !self.new.is_empty() {
            parts.push(format!("exposed by the app but not in the catalogue: {}", list(&self.new)));
        }
        if !self.missing_labels.is_empty() {
            parts.push(format!("labels in the catalogue the app's series lack: {}", labels(&self.missing_labels)));
        }
        if !self.new_labels.is_empty() {
            parts.push(format!("labels the app's series carry that the catalogue lacks: {}", labels(&self.new_labels)));
        }
        if parts.is_empty() { "current".into() } else { parts.join("; ") }
    }
}

/// Compares `catalogue` (as exposed: what [`crate::lint::catalogue_for`] returns)
/// with the app's exposition `exposition_text`. Lines that are not samples are
/// counted in [`Staleness::unparsed_lines`] and otherwise ignored.
pub fn compare(catalogue: &Catalogue, exposition_text: &str) -> Staleness {
    let exposed = match Catalogue::parse_exposition(exposition_text) {
        Ok(c) => (c, 0),
        Err(_) => lenient(exposition_text),
    };
    let (exposed, unparsed_lines) = exposed;
    let mut s = Staleness { unparsed_lines, ..Default::default() };
    for (name, labels) in &catalogue.metrics {
        match exposed.metrics.get(name) {
            None => {
                s.missing.insert(name.clone());
            }
            Some(have) => {
                let gone: BTreeSet<String> = labels.difference(have).cloned().collect();
                let added: BTreeSet<String> = have.difference(labels).cloned().collect();
                if !gone.is_empty() {
                    s.missing_labels.insert(name.clone(), gone);
                }
                if !added.is_empty() {
                    s.new_labels.insert(name.clone(), added);
                }
            }
        }
    }
    for name in exposed.metrics.keys() {
        if !catalogue.metrics.contains_key(name) && !catalogue.open.contains(name) {
            s.new.insert(name.clone());
        }
    }
    s
}

/// Line by line: the samples that parse, and how many lines did not.
fn lenient(text: &str) -> (Catalogue, usize) {
    let mut out = Catalogue::default();
    let mut bad = 0;
    for line in text.lines() {
        match Catalogue::parse_exposition(line) {
            Ok(c) => {
                for (k, v) in c.metrics {
                    out.insert(&k, v);
                }
            }
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

/// The live check `app.catalogue_current`: the catalogue lint uses for the stack
/// in `stack_dir` (same lookup, [`crate::lint::catalogue_for`]) against what the
/// app at `app_url` (its base URL; `/metrics` is appended) exposes now. Run after
/// the traffic. Not run when the stack has no catalogue.
pub async fn catalogue_current(app_url: &str, stack_dir: &Path, explicit: Option<&Path>) -> Verdict {
    current_against(app_url, stack_dir, explicit, lint::catalogue_for(stack_dir, explicit)).await
}

/// [`catalogue_current`] in a run that has read the stack: `reference_app` says
/// whether its service under test is the reference app, so compose is not read again.
pub async fn catalogue_current_known(app_url: &str, stack_dir: &Path, reference_app: bool) -> Verdict {
    current_against(app_url, stack_dir, None, lint::catalogue_known(stack_dir, None, reference_app)).await
}

async fn current_against(
    app_url: &str,
    stack_dir: &Path,
    explicit: Option<&Path>,
    found: Result<Option<(lint::Catalogue, String)>, lint::LintError>,
) -> Verdict {
    let url = match metrics_url(&format!("{}/metrics", app_url.trim_end_matches('/'))) {
        Ok(u) => u,
        Err(e) => return Verdict::Failed { message: e },
    };
    let target = explicit.map(Path::to_owned).unwrap_or_else(|| stack_dir.join(lint::CATALOGUE_FILE));
    let rerecord = format!("obs-harness catalogue record --from {url} -o {}", target.display());
    let (catalogue, source) = match found {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Verdict::NotRun {
                reason: format!(
                    "no metric catalogue for this stack (no {}, and the service under test is not labelled `obs-harness.role: reference-app`) (hint: record one: `{rerecord}`)",
                    target.display()
                ),
            };
        }
        Err(e) => return Verdict::Failed { message: format!("{e} (hint: re-record it: `{rerecord}`)") },
    };
    let text = match scrape(&url).await {
        Ok(t) => t,
        Err(e) => return Verdict::Failed { message: format!("cannot read the app's metrics to compare with {source}: {e}") },
    };
    let s = compare(&catalogue, &text);
    if s.is_current() {
        return Verdict::Passed {
            detail: format!("{url} exposes exactly the {} metric(s) of {source}, with the same label names", catalogue.metrics.len()),
        };
    }
    let traffic = if s.missing.is_empty() {
        String::new()
    } else {
        " (a metric the app exposes only after some traffic, e.g. an error counter, needs that traffic in the scenario)".into()
    };
    let builtin = if explicit.is_none() && !stack_dir.join(lint::CATALOGUE_FILE).is_file() {
        format!("; a recorded {} takes precedence over the built-in one", lint::CATALOGUE_FILE)
    } else {
        String::new()
    };
    Verdict::Failed {
        message: format!("the metric catalogue {source} is stale against {url}: {}{traffic} (hint: re-record it after traffic: `{rerecord}`{builtin})", s.describe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPO: &str = "# HELP a_total A\n# TYPE a_total counter\na_total{x=\"1\",y=\"2\"} 3\n\
                        h_bucket{le=\"0.1\"} 1\nh_sum 1\nh_count 1\n";

    #[test]
    fn compare_finds_a_removed_and_an_added_metric_and_labels() {
        let cat = Catalogue::parse_exposition(EXPO).unwrap();
        assert!(compare(&cat, EXPO).is_current());
        // The app stopped exposing h_count, started b_total, dropped label y, added z on a_total.
        let now = "a_total{x=\"1\",z=\"3\"} 3\nh_bucket{le=\"0.1\"} 1\nh_sum 1\nb_total 1\n";
        let s = compare(&cat, now);
        assert_eq!(s.missing, BTreeSet::from(["h_count".to_string()]));
        assert_eq!(s.new, BTreeSet::from(["b_total".to_string()]));
        assert_eq!(s.missing_labels["a_total"], BTreeSet::from(["y".to_string()]));
        assert_eq!(s.new_labels["a_total"], BTreeSet::from(["z".to_string()]));
        let d = s.describe();
        assert!(d.contains("not exposed by the app: h_count") && d.contains("not in the catalogue: b_total"), "{d}");
        assert!(!s.is_current());
    }

    #[test]
    fn compare_ignores_values_and_unparsable_lines() {
        let cat = Catalogue::parse_exposition(EXPO).unwrap();
        let now = "a_total{x=\"9\",y=\"8\"} 100\nh_bucket{le=\"5\"} 7\nh_sum 2\nh_count 9\nbroken{x=1} 3\n";
        let s = compare(&cat, now);
        assert!(s.is_current(), "{s:?}");
        assert_eq!(s.unparsed_lines, 1);
    }

    #[test]
    fn metrics_url_appends_metrics_to_a_base_url_only() {
        assert_eq!(metrics_url("http://127.0.0.1:8000").unwrap(), "http://127.0.0.1:8000/metrics");
        assert_eq!(metrics_url("http://127.0.0.1:8000/").unwrap(), "http://127.0.0.1:8000/metrics");
        assert_eq!(metrics_url("http://h:1/custom/prom").unwrap(), "http://h:1/custom/prom");
        assert!(metrics_url("127.0.0.1:8000").unwrap_err().contains("http://"));
    }

    #[test]
    fn recorded_text_starts_with_where_and_when_and_still_parses() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&chrono::Utc);
        let t = with_header("http://h:1/metrics", EXPO.trim_end(), at);
        assert!(t.starts_with("# Metric catalogue recorded from http://h:1/metrics at 2026-01-02T03:04:05Z"), "{t}");
        assert!(t.contains("# TYPE a_total counter") && t.ends_with('\n'));
        assert_eq!(Catalogue::parse_exposition(&t).unwrap(), Catalogue::parse_exposition(EXPO).unwrap());
    }

    #[test]
    fn validate_rejects_html_and_empty_bodies() {
        assert!(validate("u", "<html>\n<body>hi</body>").unwrap_err().contains("not a metric name"));
        assert!(validate("u", "").unwrap_err().contains("without a single metric sample"));
        assert!(validate("u", EXPO).is_ok());
    }
}
