//! Image references read as Docker reads them: `[registry/]repository[:tag][@digest]`.
//!
//! A service's kind comes from its image *repository*, whatever registry or
//! mirror serves it (`docker.io`, `quay.io`, `ghcr.io`, `mirror.gcr.io`, a
//! private registry with its own path prefix), matched by whole path
//! components, never by substring: `jaegertracing/example-hotrod` is not
//! Jaeger, and `quay.io/prometheus/prometheus` is Prometheus.

/// One parsed image reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRef {
    /// `quay.io`, `localhost:5000`; `None` for Docker Hub written without one.
    pub registry: Option<String>,
    /// The repository path without the registry (`prom/prometheus`, `library/nginx` as `nginx`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:…` after `@`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `image:` as written (already interpolated).
    pub fn parse(image: &str) -> Self {
        let image = image.trim();
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_owned())),
            None => (image, None),
        };
        // A tag is after the last `:` that follows the last `/` (a registry port is not a tag).
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_owned())),
            None => (rest, None),
        };
        let mut parts: Vec<&str> = name.split('/').collect();
        let registry = match parts.first() {
            Some(first) if parts.len() > 1 && (first.contains('.') || first.contains(':') || *first == "localhost") => Some(parts.remove(0).to_owned()),
            _ => None,
        };
        let mut repository = parts.join("/").to_ascii_lowercase();
        if let Some(r) = repository.strip_prefix("library/") {
            repository = r.to_owned();
        }
        Self { registry, repository, tag, digest }
    }

    /// True when the repository is `repo` (`prom/prometheus`, `nginx`), or ends with it at a
    /// path-component boundary (a mirror's prefix: `harbor.example/dockerhub/prom/prometheus`).
    pub fn is(&self, repo: &str) -> bool {
        self.repository == repo || self.repository.strip_suffix(repo).is_some_and(|p| p.ends_with('/'))
    }

    /// True when the repository is any of `repos`.
    pub fn is_any(&self, repos: &[&str]) -> bool {
        repos.iter().any(|r| self.is(r))
    }

    /// `(major, minor, patch)` of the tag (`v3.14.0`, `0.92.0`, `2.9.2-rc.1`); `None` for no
    /// tag or `latest`, which are the newest release: a version rule treats `None` as newest.
    pub fn semver(&self) -> Option<(u64, u64, u64)> {
        let v = self.version()?;
        let core = v.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|x| x.parse::<u64>());
        Some((it.next()?.ok()?, it.next().and_then(Result::ok).unwrap_or(0), it.next().and_then(Result::ok).unwrap_or(0)))
    }

    /// True when the tag is a release older than `(major, minor, patch)`; `latest` and no tag are not.
    pub fn older_than(&self, v: (u64, u64, u64)) -> bool {
        self.semver().is_some_and(|s| s < v)
    }

    /// The tag without a leading `v` (`v3.14.0` → `3.14.0`); `None` for no tag or `latest`.
    pub fn version(&self) -> Option<&str> {
        let t = self.tag.as_deref()?;
        (t != "latest").then(|| t.strip_prefix('v').unwrap_or(t))
    }
}

/// `(repository without registry, tag)` of an image reference.
pub fn split_image(image: &str) -> (String, String) {
    let image = image.split('@').next().unwrap_or(image);
    let (repo, tag) = match image.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (image, "latest"),
    };
    let parts: Vec<&str> = repo.split('/').collect();
    // A first part with a dot or a port is a registry (docker.io, ghcr.io, localhost:5000).
    let repo = if parts.len() > 1 && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost") {
        parts[1..].join("/")
    } else {
        repo.to_owned()
    };
    (repo.trim_start_matches("library/").to_owned(), tag.to_owned())
}

/// `SERVICE=IMAGE` (the `--image` flag of `check`, `stack up` and `lint`).
pub fn parse_service_image(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((svc, img)) if !svc.is_empty() && !img.is_empty() => Ok((svc.to_owned(), img.to_owned())),
        _ => Err(format!("`{s}` is not SERVICE=IMAGE (e.g. loki=registry.example/loki:3.7.8)")),
    }
}

/// `OBS_IMAGE_<SERVICE>` for a service, if set.
pub fn image_override(service: &str) -> Option<String> {
    let var = format!("OBS_IMAGE_{}", service.to_uppercase().replace(['-', '.'], "_"));
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_tags_and_digests() {
        let i = ImageRef::parse("quay.io/prometheus/prometheus:v3.5.0");
        assert_eq!((i.registry.as_deref(), i.repository.as_str(), i.version()), (Some("quay.io"), "prometheus/prometheus", Some("3.5.0")));
        let i = ImageRef::parse("localhost:5000/grafana/loki@sha256:abc");
        assert_eq!((i.registry.as_deref(), i.repository.as_str(), i.tag.as_deref(), i.digest.as_deref()), (Some("localhost:5000"), "grafana/loki", None, Some("sha256:abc")));
        let i = ImageRef::parse("docker.io/library/nginx:1.27");
        assert!(i.is("nginx") && !i.is("nginx/nginx"));
        let i = ImageRef::parse("cr.jaegertracing.io/jaegertracing/jaeger:2.19.0@sha256:ede4");
        assert_eq!((i.repository.as_str(), i.tag.as_deref()), ("jaegertracing/jaeger", Some("2.19.0")));
        assert_eq!(ImageRef::parse("prom/prometheus").tag, None);
    }

    #[test]
    fn whole_components_never_substrings() {
        assert!(!ImageRef::parse("jaegertracing/example-hotrod:1.51").is_any(&["jaegertracing/jaeger", "jaegertracing/all-in-one"]));
        assert!(ImageRef::parse("mirror.gcr.io/prom/prometheus").is("prom/prometheus"));
        assert!(ImageRef::parse("harbor.example/dockerhub/prom/prometheus:v3.1.0").is("prom/prometheus"));
        assert!(!ImageRef::parse("myprom/prometheus").is("prom/prometheus"));
        assert!(!ImageRef::parse("stefanprodan/swarmprom-prometheus:v2.5.0").is("prom/prometheus"));
    }
}
