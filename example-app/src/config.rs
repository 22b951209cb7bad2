//! Configuration from the environment (`PORT`, the standard `OTEL_*`
//! variables), validated before anything starts: a bad value is one line
//! naming the variable, and `main` exits 2.

use std::collections::HashMap;

/// Port served when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8080;
/// `service.name` when `OTEL_SERVICE_NAME` is not set.
pub const DEFAULT_SERVICE_NAME: &str = "shop";
/// The OTLP/HTTP base endpoint the OpenTelemetry specification defaults to.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4318";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub port: u16,
    pub service_name: String,
    /// The full OTLP/HTTP traces URL (`…/v1/traces`), or `None` when
    /// `OTEL_TRACES_EXPORTER=none` (spans are still made: trace ids in logs).
    pub traces_url: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads a given set of variables (testable without the process environment).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let invalid = |var, value: &str, reason: &str| ConfigError { var, value: value.to_owned(), reason: reason.to_owned() };
        let port = match get("PORT") {
            None => DEFAULT_PORT,
            Some(v) => v.parse().map_err(|_| invalid("PORT", v, "expected a TCP port number 0-65535"))?,
        };
        for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(p) = get(var).filter(|p| *p != "http/protobuf") {
                return Err(invalid(var, p, "this app exports OTLP over HTTP/protobuf only (`http/protobuf`)"));
            }
        }
        let traces_url = match get("OTEL_TRACES_EXPORTER").unwrap_or("otlp") {
            "none" => None,
            "otlp" => Some(match (get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), get("OTEL_EXPORTER_OTLP_ENDPOINT")) {
                // The signal-specific variable is the full URL; the generic one a base (spec).
                (Some(url), _) => checked_url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url)?,
                (None, Some(base)) => format!("{}/v1/traces", checked_url("OTEL_EXPORTER_OTLP_ENDPOINT", base)?.trim_end_matches('/')),
                (None, None) => format!("{DEFAULT_OTLP_ENDPOINT}/v1/traces"),
            }),
            other => return Err(invalid("OTEL_TRACES_EXPORTER", other, "expected `otlp` or `none`")),
        };
        Ok(Self {
            port,
            service_name: get("OTEL_SERVICE_NAME").unwrap_or(DEFAULT_SERVICE_NAME).to_owned(),
            traces_url,
        })
    }
}

/// An `http://` or `https://` URL with a host.
fn checked_url(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let rest = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://"));
    match rest.map(|r| r.split(['/', ':']).next().unwrap_or_default()) {
        Some(host) if !host.is_empty() => Ok(value.to_owned()),
        _ => Err(ConfigError { var, value: value.to_owned(), reason: "expected an http:// or https:// URL with a host, e.g. http://tempo:4318".into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults() {
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!((c.port, c.service_name.as_str()), (8080, "shop"));
        assert_eq!(c.traces_url.as_deref(), Some("http://localhost:4318/v1/traces"));
    }

    #[test]
    fn the_generic_endpoint_is_a_base_the_signal_one_a_full_url() {
        let c = Config::from_vars(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://traces-db:4318/")])).unwrap();
        assert_eq!(c.traces_url.as_deref(), Some("http://traces-db:4318/v1/traces"));
        let c = Config::from_vars(&vars(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://x:1")])).unwrap();
        assert_eq!(c.traces_url.as_deref(), Some("http://t:4318/custom"));
        assert_eq!(Config::from_vars(&vars(&[("OTEL_TRACES_EXPORTER", "none")])).unwrap().traces_url, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("PORT", "http"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "tempo:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
        ] {
            let err = Config::from_vars(&vars(&[(k, v)])).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {k}=")), "{k}={v}: {err}");
        }
    }
}
