//! The metric catalogue: metric name -> label names (and metric family -> `# TYPE`),
//! read from a Prometheus text exposition (what the app serves on `/metrics`), plus what Prometheus adds at scrape
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
    /// Metric family name -> its `# TYPE` (`counter`, `gauge`, `histogram`, `summary`,
    /// `gaugehistogram`, `info`, `stateset`, `untyped`/`unknown`), lower-cased.
    /// Map a sample name to its family with [`Catalogue::family_of`].
    pub types: BTreeMap<String, String>,
}

/// Sample-name suffixes and the family types that expose them (OpenMetrics and 0.0.4).
const FAMILY_SUFFIXES: &[(&str, &[&str])] = &[
    ("_total", &["counter"]),
    ("_created", &["counter", "histogram", "summary", "gaugehistogram"]),
    ("_bucket", &["histogram", "gaugehistogram"]),
    ("_sum", &["histogram", "summary"]),
    ("_count", &["histogram", "summary"]),
    ("_gsum", &["gaugehistogram"]),
    ("_gcount", &["gaugehistogram"]),
    ("_info", &["info"]),
];

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
        let mut types = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix('#') {
                // `# TYPE <family> <type>` (the same in 0.0.4 and OpenMetrics)
                let mut w = rest.split_whitespace();
                if let (Some("TYPE"), Some(family), Some(kind)) = (w.next(), w.next(), w.next()) {
                    types.insert(family.to_owned(), kind.to_ascii_lowercase());
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let (name, labels) =
                parse_sample(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
            metrics.entry(name).or_default().extend(labels);
        }
        Ok(Self {
            metrics,
            open: BTreeSet::new(),
            types,
        })
    }

    /// The family a sample name belongs to and the family's type, when the exposition
    /// declared it: `foo_total` -> (`foo`, counter) for an OpenMetrics counter `foo`,
    /// `h_bucket` -> (`h`, histogram), a 0.0.4 `foo_total` declared as itself -> itself.
    pub fn family_of<'a>(&'a self, sample: &'a str) -> Option<(&'a str, &'a str)> {
        if let Some(t) = self.types.get(sample) {
            return Some((sample, t.as_str()));
        }
        FAMILY_SUFFIXES.iter().find_map(|(suffix, kinds)| {
            let family = sample.strip_suffix(suffix)?;
            let t = self.types.get(family)?;
            kinds.contains(&t.as_str()).then_some((family, t.as_str()))
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
        assert_eq!(c.family_of("x_total"), Some(("x_total", "counter")));
        assert_eq!(c.family_of("h_bucket"), None);
    }

    #[test]
    fn types_from_both_exposition_formats() {
        let t = "# TYPE a counter\na_total 1\na_created 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n\
                 # TYPE g gauge\ng 1\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\n# TYPE gh gaugehistogram\ngh_gcount 1\n\
                 # TYPE b_info info\nb_info 1\n# TYPE i info\ni_info 1\n# EOF\n";
        let c = Catalogue::parse_exposition(t).unwrap();
        assert_eq!(c.types.len(), 7);
        assert_eq!(c.family_of("a_total"), Some(("a", "counter")));
        assert_eq!(c.family_of("a_created"), Some(("a", "counter")));
        assert_eq!(c.family_of("h_bucket"), Some(("h", "histogram")));
        assert_eq!(c.family_of("h_count"), Some(("h", "histogram")));
        assert_eq!(c.family_of("h"), Some(("h", "histogram")));
        assert_eq!(c.family_of("g"), Some(("g", "gauge")));
        assert_eq!(c.family_of("s"), Some(("s", "summary")));
        assert_eq!(c.family_of("gh_gcount"), Some(("gh", "gaugehistogram")));
        assert_eq!(c.family_of("b_info"), Some(("b_info", "info")));
        assert_eq!(c.family_of("i_info"), Some(("i", "info")));
        // a suffix the family's type does not expose is not that family
        assert_eq!(c.family_of("g_total"), None);
        assert_eq!(c.family_of("nope"), None);
    }
}
