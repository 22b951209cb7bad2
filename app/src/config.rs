//! Configuration from the environment, validated before anything starts.
//!
//! Every bad value is reported as one line naming the variable; `main` exits 2.

use std::collections::HashMap;

/// Default OTLP gRPC endpoint, as the OpenTelemetry SDKs use.
pub const DEFAULT_OTLP_ENDPOINT: &str = "http://localhost:4317";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("invalid {var}={value:?}: {reason}")]
    Invalid { var: &'static str, value: String, reason: String },
}

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracesExporter {
    /// OTLP over gRPC to this endpoint (always an `http://` or `https://` URL).
    Otlp { endpoint: String },
    /// Spans are still created (trace ids in logs and exemplars) but not exported.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub port: u16,
    pub traces: TracesExporter,
    /// `deployment.environment` resource attribute, from `DEPLOYMENT_ENVIRONMENT`.
    pub deployment_environment: Option<String>,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads a given set of variables (testable without touching the process env).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let port = match get("PORT") {
            None => 8000,
            Some(v) => v.parse::<u16>().map_err(|e| ConfigError::Invalid {
                var: "PORT",
                value: v.to_owned(),
                reason: format!("expected a TCP port number 0-65535 ({e})"),
            })?,
        };
        let exporter = get("OTEL_TRACES_EXPORTER").unwrap_or("otlp");
        let traces = match exporter {
            "none" => TracesExporter::None,
            "otlp" => {
                let endpoint = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                    .map(|v| ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v))
                    .or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT").map(|v| ("OTEL_EXPORTER_OTLP_ENDPOINT", v)));
                match endpoint {
                    None => TracesExporter::Otlp { endpoint: DEFAULT_OTLP_ENDPOINT.to_owned() },
                    Some((var, v)) => TracesExporter::Otlp { endpoint: normalise_endpoint(var, v)? },
                }
            }
            other => {
                return Err(ConfigError::Invalid {
                    var: "OTEL_TRACES_EXPORTER",
                    value: other.to_owned(),
                    reason: "expected `otlp` or `none`".into(),
                });
            }
        };
        if let Some(v) = get("OTEL_BSP_SCHEDULE_DELAY") {
            v.parse::<u64>().map_err(|_| ConfigError::Invalid {
                var: "OTEL_BSP_SCHEDULE_DELAY",
                value: v.to_owned(),
                reason: "expected milliseconds as a whole number".into(),
            })?;
        }
        Ok(Self {
            port,
            traces,
            deployment_environment: get("DEPLOYMENT_ENVIRONMENT").map(str::to_owned),
        })
    }
}

/// Accepts `host:port` (the seed's `otel-collector:4317`) as well as a URL, and
/// returns a URL the gRPC exporter takes.
pub fn normalise_endpoint(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        var,
        value: value.to_owned(),
        reason: format!("{reason}; expected `host:port` or `http://host:port`"),
    };
    let url = if value.contains("://") { value.to_owned() } else { format!("http://{value}") };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("no scheme"))?;
    if scheme != "http" && scheme != "https" {
        return Err(invalid(&format!("unsupported scheme `{scheme}`")));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    if !host_ok {
        return Err(invalid("missing or malformed host"));
    }
    if let Some(p) = port {
        p.parse::<u16>().map_err(|_| invalid(&format!("port `{p}` is not a number 0-65535")))?;
    }
    Ok(url)
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
        assert_eq!(c.port, 8000);
        assert_eq!(c.traces, TracesExporter::Otlp { endpoint: DEFAULT_OTLP_ENDPOINT.into() });
    }

    #[test]
    fn scheme_less_endpoint_is_accepted() {
        let c = Config::from_vars(&vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:4317")])).unwrap();
        assert_eq!(c.traces, TracesExporter::Otlp { endpoint: "http://otel-collector:4317".into() });
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector:notaport"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x:1"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://:4317"),
            ("OTEL_TRACES_EXPORTER", "zipkin"),
            ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
        ] {
            let err = Config::from_vars(&vars(&[(k, v)])).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid {k}=")), "{k}={v}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
