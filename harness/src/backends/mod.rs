//! One typed HTTP client per backend (reqwest + serde).
//!
//! Every client is built from a base URL (`http://127.0.0.1:<port>`) and
//! options through consuming `with_*` builders; every call returns
//! [`BackendError`], whose message names the URL it called, what went wrong,
//! and a hint. The clients only fetch and decode: judging what they return is
//! the job of [`crate::checks`].

pub mod alertmanager;
pub mod grafana;
pub mod jaeger;
pub mod loki;
pub mod prometheus;
pub mod tempo;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;

pub use alertmanager::AlertmanagerClient;
pub use grafana::GrafanaClient;
pub use jaeger::JaegerClient;
pub use loki::LokiClient;
pub use prometheus::PrometheusClient;
pub use tempo::TempoClient;

/// How many characters of a response body an error message carries.
const SNIPPET: usize = 300;

/// Any failure talking to a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The request did not complete (connection refused, timeout, TLS, ...).
    #[error("{url}: request failed: {source} (hint: {hint})")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
        hint: String,
    },
    /// The backend answered with a non-success HTTP status.
    #[error("{url}: HTTP {status}: {body:?} (hint: {hint})")]
    Status { url: String, status: u16, body: String, hint: String },
    /// The body did not have the expected shape.
    #[error("{url}: cannot decode response: {message}; body starts {body:?} (hint: the backend version may answer a different shape)")]
    Decode { url: String, message: String, body: String },
    /// The backend answered with an API-level error (e.g. Prometheus `"status":"error"`).
    #[error("{url}: API error {error_type}: {error} (hint: {hint})")]
    Api { url: String, status: u16, error_type: String, error: String, hint: String },
}

impl From<reqwest::Error> for BackendError {
    fn from(source: reqwest::Error) -> Self {
        let url = source.url().map(|u| u.to_string()).unwrap_or_else(|| "<unknown url>".into());
        let hint = transport_hint(&source);
        BackendError::Transport { url, source, hint }
    }
}

impl BackendError {
    /// The URL the failing call was made to.
    pub fn url(&self) -> &str {
        match self {
            BackendError::Transport { url, .. }
            | BackendError::Status { url, .. }
            | BackendError::Decode { url, .. }
            | BackendError::Api { url, .. } => url,
        }
    }

    /// The HTTP status, when the backend answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Status { status, .. } | BackendError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

fn transport_hint(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the backend did not answer in time; is it overloaded, or is the timeout too short?".into()
    } else if e.is_connect() {
        "nothing accepts connections there; is the service running and its port published?".into()
    } else {
        "check the base URL and that the service is running".into()
    }
}

/// A hint for a non-success status.
pub(crate) fn status_hint(status: u16) -> &'static str {
    match status {
        400 | 422 => "the backend rejected the request parameters (query syntax, time range, step)",
        401 => "missing credentials or tenant header (Loki needs X-Scope-OrgID)",
        403 => "credentials lack permission",
        404 => "wrong base URL or path, or the API/feature is not enabled on this version",
        429 => "the backend is rate limiting; back off",
        503 => "the backend is not ready yet (still starting?)",
        _ if status >= 500 => "the backend failed internally; check its logs",
        _ => "unexpected status",
    }
}

/// First [`SNIPPET`] characters of a body.
pub(crate) fn snippet(body: &str) -> String {
    let mut s: String = body.chars().take(SNIPPET).collect();
    if body.chars().count() > SNIPPET {
        s.push('…');
    }
    s
}

/// Unix seconds with fractions, as Prometheus/Loki accept them (`1700000000.123`).
pub fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// Unix nanoseconds, as Loki accepts them.
pub fn unix_nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string()
}

/// The shared HTTP plumbing of every client: base URL, default headers, timeout.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    base: String,
    client: reqwest::Client,
    timeout: Duration,
    headers: Vec<(String, String)>,
    basic_auth: Option<(String, String)>,
}

/// A raw answer: final URL, status, body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub url: String,
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Decodes the body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        serde_json::from_str(&self.body).map_err(|e| BackendError::Decode {
            url: self.url.clone(),
            message: e.to_string(),
            body: snippet(&self.body),
        })
    }

    /// Fails with [`BackendError::Status`] unless the status is 2xx.
    pub fn success(self) -> Result<Self, BackendError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.status_error())
        }
    }

    pub fn status_error(&self) -> BackendError {
        BackendError::Status {
            url: self.url.clone(),
            status: self.status,
            body: snippet(self.body.trim_end()),
            hint: status_hint(self.status).into(),
        }
    }
}

impl Http {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            timeout: Duration::from_secs(10),
            headers: Vec::new(),
            basic_auth: None,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn basic_auth(mut self, user: &str, pass: &str) -> Self {
        self.basic_auth = Some((user.to_owned(), pass.to_owned()));
        self
    }

    /// `base + path` with the query string encoded, for messages.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{}", self.base, path);
        if !query.is_empty() {
            let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
            url.push('?');
            url.push_str(&q.join("&"));
        }
        url
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, url).timeout(self.timeout);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some((u, p)) = &self.basic_auth {
            req = req.basic_auth(u, Some(p));
        }
        req
    }

    async fn finish(&self, url: String, req: reqwest::RequestBuilder) -> Result<Answer, BackendError> {
        let wrap = |source: reqwest::Error| {
            let hint = transport_hint(&source);
            BackendError::Transport { url: url.clone(), source, hint }
        };
        let resp = req.send().await.map_err(wrap)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(wrap)?;
        Ok(Answer { url, status, body })
    }

    /// GET `path?query`, any status.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, BackendError> {
        let url = self.url(path, query);
        self.finish(url.clone(), self.request(reqwest::Method::GET, &url)).await
    }

    /// POST a JSON body to `path`, any status.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Answer, BackendError> {
        let url = self.url(path, &[]);
        self.finish(url.clone(), self.request(reqwest::Method::POST, &url).json(body)).await
    }

    /// GET and decode a 2xx JSON body.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, BackendError> {
        self.get(path, query).await?.success()?.json()
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded_and_snippets_cut() {
        let h = Http::new("http://x:1/");
        assert_eq!(h.url("/api/v1/query", &[("query", "up{job=\"a b\"}".into())]), "http://x:1/api/v1/query?query=up%7Bjob%3D%22a%20b%22%7D");
        assert_eq!(snippet(&"a".repeat(400)).chars().count(), SNIPPET + 1);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), "1.500");
    }
}
