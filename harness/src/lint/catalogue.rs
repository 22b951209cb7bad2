//! The metric catalogue: metric name -> label names, read from a Prometheus text
//! exposition (what the app serves on `/metrics`), plus what Prometheus adds at scrape
//! (`job`, `instance` on every series; `up`, `scrape_*`), plus recording-rule outputs
//! and `ALERTS`.

/// The reference app's exposition (`fixtures/catalogue/reference-app.prom`, kept
/// honest by `lint_catalogue`), built into the binary.
pub const REFERENCE_APP: &str = include_str!("../../../fixtures/catalogue/reference-app.prom");

use std::collections::{BTreeMap, BTreeSet};

/// Metric name -> label names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub metrics: BTreeMap<String, BTreeSet<String>>,
    /// Metrics known to exist whose labels are unknown (no label checks on them).
    pub open: BTreeSet<String>,
}

/// Labels Prometheus attaches to every scraped series.
pub const TARGET_LABELS: &[&str] = &["job", "instance"];

/// Series Prometheus synthesises per scrape target.
pub const SCRAPE_SERIES: &[&str] = &[
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl Catalogue {
    /// Parses a text exposition (0.0.4 or OpenMetrics) into metric -> label names, as
    /// exposed (no `job`/`instance`). Histogram and summary series appear under their
    /// sample names (`_bucket` with `le`, `_sum`, `_count`, quantile series with `quantile`).
    pub fn parse_exposition(text: &str) -> Result<Self, String> {
        let mut metrics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels) =
                parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
            metrics.entry(name).or_default().extend(labels);
        }
        Ok(Self {
            metrics,
            open: BTreeSet::new(),
        })
    }

    /// Adds `job`/`instance` to every metric and the per-target scrape series.
    pub fn with_scrape_labels(mut self) -> Self {
        for labels in self.metrics.values_mut() {
            labels.extend(TARGET_LABELS.iter().map(|s| s.to_string()));
        }
        for s in SCRAPE_SERIES {
            self.metrics
                .entry(s.to_string())
                .or_default()
                .extend(TARGET_LABELS.iter().map(|s| s.to_string()));
        }
        self
    }

    pub fn insert(&mut self, name: &str, labels: impl IntoIterator<Item = String>) {
        self.metrics
            .entry(name.to_owned())
            .or_default()
            .extend(labels);
    }

    pub fn labels(&self, metric: &str) -> Option<&BTreeSet<String>> {
        self.metrics.get(metric)
    }

    /// `name{a,b,c}` lines, sorted: the comparable shape of a catalogue.
    pub fn signature(&self) -> Vec<String> {
        self.metrics
            .iter()
            .map(|(k, v)| format!("{k}{{{}}}", v.iter().cloned().collect::<Vec<_>>().join(",")))
            .collect()
    }

    /// Metric names close to `name` (same prefix or small edit distance), for hints.
    pub fn similar(&self, name: &str) -> Vec<String> {
        let mut v: Vec<(usize, &String)> = self
            .metrics
            .keys()
            .map(|k| (edit_distance(k, name), k))
            .filter(|(d, k)| *d <= 3 || k.starts_with(name) || name.starts_with(k.as_str()))
            .collect();
        v.sort();
        v.into_iter().take(3).map(|(_, k)| k.clone()).collect()
    }
}

fn parse_sample(line: &str) -> Result<(String, Vec<String>), &'static str> {
    let name_end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return Err("sample without a metric name");
    }
    let mut labels = Vec::new();
    let rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let mut cur = String::new();
        loop {
            let Some((_, c)) = chars.next() else {
                return Err("unterminated label set");
            };
            match c {
                '}' => break,
                ',' | ' ' => {}
                '=' => {
                    labels.push(std::mem::take(&mut cur));
                    if chars.next().map(|x| x.1) != Some('"') {
                        return Err("label value is not quoted");
                    }
                    let mut esc = false;
                    loop {
                        let Some((_, c)) = chars.next() else {
                            return Err("unterminated label value");
                        };
                        if esc {
                            esc = false;
                        } else if c == '\\' {
                            esc = true;
                        } else if c == '"' {
                            break;
                        }
                    }
                }
                c => cur.push(c),
            }
        }
    }
    Ok((name.to_owned(), labels))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_histogram_and_counter() {
        let t = "# HELP x_total X\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"}\"} 3\n\
                 h_bucket{le=\"0.1\",handler=\"/\"} 1\nh_sum{handler=\"/\"} 1\nh_count 2\nup 1\n";
        let c = Catalogue::parse_exposition(t).unwrap().with_scrape_labels();
        assert_eq!(c.signature()[0], "h_bucket{handler,instance,job,le}");
        assert!(c.labels("h_count").unwrap().contains("job"));
        assert!(c.labels("x_total").unwrap().contains("b"));
        assert!(c.labels("scrape_duration_seconds").is_some());
        assert!(c.similar("x_totl").contains(&"x_total".to_string()));
    }
}
