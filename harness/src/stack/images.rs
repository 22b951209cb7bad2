//! Image sets: which image each compose service runs.
//!
//! - `upstream`: the images the compose file names (users' machines, CI with a registry).
//! - `airgapped`: the reference app, any service labelled
//!   `obs-harness.binary: NAME` ([`BINARY_LABEL`]: the workspace's binary
//!   `NAME`), Prometheus and Alertmanager built here from
//!   host binaries (the workspace build and Debian's `prometheus` /
//!   `prometheus-alertmanager` packages) into `FROM scratch` images (the build
//!   context streamed to Docker from a temporary tar file): the binary, the
//!   libraries `ldd` lists, `/usr/share/prometheus`, and a `/tmp` with mode 1777. The tag is a
//!   digest of the inputs (path, size, mtime), so an image is rebuilt only when
//!   an input changes. [`BinaryImage`] takes any other binary the same way
//!   ("bring your own binary").
//!
//! Any service's image can be overridden with `OBS_IMAGE_<SERVICE>` (upper
//! case, `-` as `_`), e.g. `OBS_IMAGE_LOKI=registry.example/loki:3.4`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{what} not found at {} (hint: {hint})", path.display())]
    MissingInput { what: String, path: PathBuf, hint: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`ldd {binary}` failed: {detail}")]
    Ldd { binary: PathBuf, detail: String },
    #[error("building image {image} failed: {message} (hint: is Docker running? `docker info`)")]
    Docker { image: String, message: String },
    #[error("invalid image reference {0:?}: expected NAME[:TAG]")]
    BadReference(String),
    #[error("invalid `obs-harness.binary` value {0:?}: expected the file name of a workspace binary, e.g. `example-shop` (a letter or digit, then letters, digits, `-`, `_`, `.`)")]
    BadBinaryName(String),
}

/// Which images a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageMode {
    /// The images named in the compose file.
    #[default]
    Upstream,
    /// app, prometheus, alertmanager built from host binaries (no registry needed).
    Airgapped,
}

/// A `FROM scratch` image made of host files.
#[derive(Debug, Clone)]
pub struct BinaryImage {
    name: String,
    entrypoint: Vec<String>,
    /// image path -> host path (files and directories)
    files: BTreeMap<String, PathBuf>,
}

impl BinaryImage {
    /// An image running `binary` (copied to `dest`), with the shared libraries
    /// `ldd` lists and an empty `/tmp` (mode 1777).
    pub fn from_binary(name: impl Into<String>, binary: impl AsRef<Path>, dest: &str) -> Result<Self, ImageError> {
        let binary = binary.as_ref().to_path_buf();
        if !binary.is_file() {
            return Err(ImageError::MissingInput {
                what: "binary".into(),
                path: binary,
                hint: "install the package or build the binary first".into(),
            });
        }
        let mut image = Self { name: name.into(), entrypoint: vec![dest.to_owned()], files: BTreeMap::new() };
        for lib in shared_libraries(&binary)? {
            image.files.insert(lib.to_string_lossy().into_owned(), lib);
        }
        image.files.insert(dest.to_owned(), binary);
        Ok(image)
    }

    /// Adds a host file or directory at `dest` in the image.
    pub fn with_path(mut self, host: impl Into<PathBuf>, dest: &str) -> Self {
        self.files.insert(dest.to_owned(), host.into());
        self
    }

    /// `name:tag`, the tag being a digest of every input's path, size and mtime.
    pub fn reference(&self) -> Result<String, ImageError> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.entrypoint.hash(&mut h);
        for (dest, host) in &self.files {
            dest.hash(&mut h);
            digest_path(host, &mut h)?;
        }
        Ok(format!("{}:{:016x}", self.name, h.finish()))
    }

    /// Builds the image unless one with the same inputs exists; returns `name:tag`.
    pub async fn build(&self) -> Result<String, ImageError> {
        let reference = self.reference()?;
        let (name, tag) = reference.split_once(':').ok_or_else(|| ImageError::BadReference(reference.clone()))?;
        // Already built from the same inputs (and labelled): skip even assembling
        // the build context (it holds the binaries in memory). An image of the same
        // tag built before images were labelled is rebuilt, and its old copy removed.
        let mut unlabelled = None;
        if let Ok(docker) = bollard::Docker::connect_with_local_defaults()
            && let Ok(existing) = docker.inspect_image(&reference).await {
            let labelled = existing.config.and_then(|c| c.labels).is_some_and(|l| l.get(crate::stack::cleanup::LABEL).is_some_and(|v| v == "1"));
            if labelled {
                return Ok(reference);
            }
            unlabelled = existing.id;
        }
        let entrypoint = serde_json::to_string(&self.entrypoint).expect("strings serialise");
        let dockerfile = format!("FROM scratch\nCOPY rootfs/ /\nLABEL {}=1\nENTRYPOINT {entrypoint}\n", crate::stack::cleanup::LABEL);
        build_streamed(&reference, &dockerfile, &self.files).await?;
        remove_superseded(name, tag).await;
        if let (Some(old), Ok(docker)) = (unlabelled, bollard::Docker::connect_with_local_defaults()) {
            let _ = docker.remove_image(&old, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
        }
        Ok(reference)
    }
}

/// Builds `reference` from `dockerfile` and `files` (image path -> host
/// path) under `rootfs/`, plus an empty `/tmp` (mode 1777). The context is
/// written to a temporary tar file and streamed to Docker, so the harness never
/// holds the binaries in memory (testcontainers' builder would: a ~30 MB
/// binary cost ~50 MB of peak RSS).
async fn build_streamed(reference: &str, dockerfile: &str, files: &BTreeMap<String, PathBuf>) -> Result<(), ImageError> {
    let tmp = crate::stack::cleanup::TempDir::new("build").map_err(|source| ImageError::Io { path: std::env::temp_dir(), source })?;
    let tar_path = tmp.path().join("context.tar");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { path, source }
    };
    let file = tokio::fs::File::create(&tar_path).await.map_err(io(&tar_path))?;
    let mut tar = tokio_tar::Builder::new(file);
    let mut header = tokio_tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes()).await.map_err(io(&tar_path))?;
    let mut dir = tokio_tar::Header::new_gnu();
    dir.set_entry_type(tokio_tar::EntryType::Directory);
    dir.set_mode(0o1777);
    dir.set_size(0);
    tar.append_data(&mut dir, "rootfs/tmp/", tokio::io::empty()).await.map_err(io(&tar_path))?;
    for (dest, host) in files {
        let name = format!("rootfs/{}", dest.trim_start_matches('/'));
        let added = if host.is_dir() { tar.append_dir_all(&name, host).await } else { tar.append_path_with_name(host, &name).await };
        added.map_err(io(host))?;
    }
    tar.into_inner().await.map_err(io(&tar_path))?.sync_all().await.map_err(io(&tar_path))?;
    let context = tokio::fs::File::open(&tar_path).await.map_err(io(&tar_path))?;
    let docker = bollard::Docker::connect_with_local_defaults().map_err(|e| ImageError::Docker { image: reference.to_owned(), message: e.to_string() })?;
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default().t(reference).dockerfile("Dockerfile").rm(true).forcerm(true).build();
    let mut progress = docker.build_image(options, None, Some(bollard::body_try_stream(tokio_util::io::ReaderStream::new(context))));
    let mut last = String::new();
    while let Some(step) = futures::StreamExt::next(&mut progress).await {
        match step {
            Err(e) => return Err(ImageError::Docker { image: reference.to_owned(), message: format!("{e}{}", if last.is_empty() { String::new() } else { format!(" (last build output: {last})") }) }),
            Ok(info) => {
                if let Some(e) = info.error_detail.and_then(|d| d.message) {
                    return Err(ImageError::Docker { image: reference.to_owned(), message: e });
                }
                if let Some(s) = info.stream.filter(|s| !s.trim().is_empty()) {
                    last = s.trim().to_owned();
                }
            }
        }
    }
    Ok(())
}

/// What [`prune`] removed and kept.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pruned {
    /// `repo:tag` (or the id of an untagged image) of each image removed.
    pub images: Vec<String>,
    /// The removed images' sizes, summed (their layers are their own: `FROM scratch`).
    pub image_bytes: u64,
    /// Harness images kept because a container (e.g. the shared stack's) uses them.
    pub in_use: Vec<String>,
    /// Harness images kept because the current inputs produce them (without `--all`).
    pub current: Vec<String>,
    pub build_cache_records: usize,
    pub build_cache_bytes: u64,
}

impl Pruned {
    pub fn freed_bytes(&self) -> u64 {
        self.image_bytes + self.build_cache_bytes
    }

    /// The lines `obs-harness images prune` prints.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("removed {} image(s), {}\n", self.images.len(), human_bytes(self.image_bytes)));
        for i in &self.images {
            out.push_str(&format!("  {i}\n"));
        }
        if !self.in_use.is_empty() {
            out.push_str(&format!("kept {} image(s) a container uses: {}\n", self.in_use.len(), self.in_use.join(", ")));
        }
        if !self.current.is_empty() {
            out.push_str(&format!("kept {} current image(s) (--all removes them too): {}\n", self.current.len(), self.current.join(", ")));
        }
        out.push_str(&format!("build cache: removed {} record(s), {}\n", self.build_cache_records, human_bytes(self.build_cache_bytes)));
        out.push_str(&format!("freed {} ({} bytes)\n", human_bytes(self.freed_bytes()), self.freed_bytes()));
        out
    }
}

/// `1.2 GB`, `340.0 MB`, `12 B` (decimal units, as Docker prints them).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if b < 1000 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// The images the current inputs produce (what the next run would use).
pub fn current_references() -> Vec<String> {
    let mut out: Vec<String> = AIRGAPPED_KINDS.iter().filter_map(|k| airgapped_image(k.clone()).ok()).filter_map(|i| i.reference().ok()).collect();
    out.extend(harness_image().ok().and_then(|i| i.reference().ok()));
    out
}

/// `obs-harness images prune`: removes the harness's images (labelled
/// `obs-harness=1`, or in an `obs-harness/` repository: older unlabelled
/// builds) that no container uses: by default those the current inputs no
/// longer produce (superseded tags, dangling layers), with `all` every one.
/// Then, unless `keep_build_cache`, the daemon's dangling build cache, as
/// `docker builder prune` (with `all`: every unused record, as `docker builder
/// prune --all`). BuildKit cache records carry no labels, so this is the
/// daemon's, not only the harness's; each harness build leaves two records of
/// its image's size (the uploaded context and its COPY), the cause of an
/// 18 GB build cache. Images a container uses (the running shared stack's)
/// are never removed.
/// With `only`, just the images with a repository starting with it.
pub async fn prune(all: bool, keep_build_cache: bool, only: Option<&str>) -> Result<Pruned, bollard::errors::Error> {
    use bollard::query_parameters::{ListContainersOptions, ListImagesOptions, PruneBuildOptions, RemoveImageOptions};
    let docker = bollard::Docker::connect_with_local_defaults()?;
    let mut pruned = Pruned::default();
    let in_use: std::collections::BTreeSet<String> = docker
        .list_containers(Some(ListContainersOptions { all: true, ..Default::default() }))
        .await?
        .into_iter()
        .filter_map(|c| c.image_id)
        .collect();
    let current: Vec<String> = if all { Vec::new() } else { current_references() };
    let label = std::collections::HashMap::from([("label".to_owned(), vec![format!("{}=1", crate::stack::cleanup::LABEL)])]);
    let mut images = docker.list_images(Some(ListImagesOptions { filters: Some(label), ..Default::default() })).await?;
    for i in docker.list_images(None::<ListImagesOptions>).await? {
        if i.repo_tags.iter().any(|t| t.starts_with("obs-harness/")) && !images.iter().any(|x| x.id == i.id) {
            images.push(i);
        }
    }
    if let Some(prefix) = only {
        images.retain(|i| i.repo_tags.iter().any(|t| t.starts_with(prefix)));
    }
    for i in images {
        let name = i.repo_tags.iter().find(|t| *t != "<none>:<none>").cloned().unwrap_or_else(|| i.id.clone());
        if in_use.contains(&i.id) {
            pruned.in_use.push(name);
            continue;
        }
        if i.repo_tags.iter().any(|t| current.contains(t)) {
            pruned.current.push(name);
            continue;
        }
        let opts = RemoveImageOptions { force: true, noprune: false, ..Default::default() };
        if docker.remove_image(&i.id, Some(opts), None).await.is_ok() {
            pruned.image_bytes += i.size.max(0) as u64;
            pruned.images.push(name);
        }
    }
    if !keep_build_cache {
        let r = docker.prune_build(Some(PruneBuildOptions { all: Some(all), ..Default::default() })).await?;
        pruned.build_cache_records = r.caches_deleted.map(|c| c.len()).unwrap_or_default();
        pruned.build_cache_bytes = r.space_reclaimed.unwrap_or_default().max(0) as u64;
    }
    Ok(pruned)
}

/// Removes the older tags of `name` (built from inputs that have since
/// changed), so rebuilds do not pile up images and their layers. An image a
/// container still uses is refused by Docker and kept.
async fn remove_superseded(name: &str, current_tag: &str) {
    use bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};
    let Ok(docker) = bollard::Docker::connect_with_local_defaults() else { return };
    let filters = std::collections::HashMap::from([("reference".to_owned(), vec![name.to_owned()])]);
    let Ok(images) = docker.list_images(Some(ListImagesOptions { filters: Some(filters), ..Default::default() })).await else { return };
    let current = format!("{name}:{current_tag}");
    for tag in images.into_iter().flat_map(|i| i.repo_tags).filter(|t| t.starts_with(&format!("{name}:")) && *t != current) {
        let _ = docker.remove_image(&tag, None::<RemoveImageOptions>, None).await;
    }
}

fn digest_path(path: &Path, h: &mut impl Hasher) -> Result<(), ImageError> {
    let io = |source| ImageError::Io { path: path.to_owned(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    path.hash(h);
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path).map_err(io)?.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            digest_path(&e, h)?;
        }
    } else {
        meta.len().hash(h);
        meta.modified().ok().hash(h);
    }
    Ok(())
}

/// The absolute library paths `ldd` prints for a dynamically linked binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd").arg(binary).output().map_err(|e| ImageError::Ldd {
        binary: binary.to_owned(),
        detail: format!("{e} (hint: ldd comes with libc-bin)"),
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(ImageError::Ldd { binary: binary.to_owned(), detail: String::from_utf8_lossy(&out.stderr).into() });
    }
    Ok(text
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect())
}

/// Where the reference-app binary is: `OBS_APP_BIN`, else beside this
/// executable (both installed with `cargo install`), else the workspace's
/// newest `target/{debug,release}/reference-app`.
pub fn reference_app_binary() -> Result<PathBuf, ImageError> {
    if let Ok(p) = std::env::var("OBS_APP_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Some(beside) = std::env::current_exe().ok().and_then(|me| me.parent().map(|d| d.join("reference-app"))).filter(|p| p.is_file()) {
        return Ok(beside);
    }
    newest_in_target("reference-app", "run `cargo build -p reference-app` (or `cargo install --path app`), or set OBS_APP_BIN")
}

/// The `obs-harness` binary: `OBS_HARNESS_BIN`, this executable when it is
/// `obs-harness`, else the workspace's newest `target/{debug,release}/obs-harness`.
pub fn harness_binary() -> Result<PathBuf, ImageError> {
    if let Ok(p) = std::env::var("OBS_HARNESS_BIN") {
        return Ok(PathBuf::from(p));
    }
    if let Ok(me) = std::env::current_exe()
        && me.file_name().is_some_and(|n| n == "obs-harness") {
        return Ok(me);
    }
    newest_in_target("obs-harness", "run `cargo build -p obs-harness` or set OBS_HARNESS_BIN")
}

/// The image of the harness's own webhook receiver.
pub fn harness_image() -> Result<BinaryImage, ImageError> {
    BinaryImage::from_binary("obs-harness/webhook", harness_binary()?, "/bin/obs-harness")
}

/// The compose label naming the workspace binary a service runs
/// (`obs-harness.binary: example-shop`): the harness builds the service's
/// image from that binary ([`AirgappedKind::WorkspaceBinary`]).
pub const BINARY_LABEL: &str = "obs-harness.binary";

/// The variable that points at the binary `name` instead of the workspace's:
/// `OBS_BIN_` and the name upper-cased, `-` and `.` as `_` (`OBS_BIN_EXAMPLE_SHOP`).
pub fn binary_env_var(name: &str) -> String {
    format!("OBS_BIN_{}", name.to_uppercase().replace(['-', '.'], "_"))
}

/// Where the workspace binary `name` is: [`binary_env_var`], else beside this
/// executable (both installed with `cargo install`), else the workspace's
/// newest `target/{debug,release}/<name>`. A name that is not a plain file
/// name (a path, `..`) is refused.
pub fn workspace_binary(name: &str) -> Result<PathBuf, ImageError> {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphanumeric()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(ImageError::BadBinaryName(name.to_owned()));
    }
    let var = binary_env_var(name);
    if let Some(p) = std::env::var_os(&var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(beside) = std::env::current_exe().ok().and_then(|me| me.parent().map(|d| d.join(name))).filter(|p| p.is_file()) {
        return Ok(beside);
    }
    newest_in_target(name, &format!("run `cargo build --workspace` (or `cargo build --bin {name}`), or set {var}"))
}

/// The `FROM scratch` image of a workspace binary: `obs-harness/<name>` (lower
/// case), running `/usr/local/bin/<name>` (where a compose healthcheck finds it).
pub fn workspace_binary_image(name: &str, binary: &Path) -> Result<BinaryImage, ImageError> {
    BinaryImage::from_binary(format!("obs-harness/{}", name.to_ascii_lowercase()), binary, &format!("/usr/local/bin/{name}"))
}

fn newest_in_target(name: &str, hint: &str) -> Result<PathBuf, ImageError> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join(name))
        .filter(|p| p.is_file())
        .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .ok_or_else(|| ImageError::MissingInput { what: format!("{name} binary"), path: target.join("debug").join(name), hint: hint.into() })
}

/// What the air-gapped set can stand in for, by what a service *is*, never by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AirgappedKind {
    /// Marked `obs-harness.role: reference-app`: the workspace's reference app binary.
    ReferenceApp,
    /// Labelled `obs-harness.binary: NAME` ([`BINARY_LABEL`]): the workspace's
    /// binary `NAME` ([`workspace_binary`]). The service keeps its own role.
    WorkspaceBinary(String),
    /// A `prom/prometheus` image: Debian's Prometheus.
    Prometheus,
    /// A `prom/alertmanager` image: Debian's Alertmanager.
    Alertmanager,
}

impl AirgappedKind {
    /// Built from a binary of this workspace: run from it in either image mode
    /// (compose would build it; the harness builds from what cargo built).
    pub fn from_workspace(&self) -> bool {
        matches!(self, AirgappedKind::ReferenceApp | AirgappedKind::WorkspaceBinary(_))
    }
}

/// The kinds every stack can have (a [`AirgappedKind::WorkspaceBinary`] comes from a label).
pub const AIRGAPPED_KINDS: [AirgappedKind; 3] = [AirgappedKind::ReferenceApp, AirgappedKind::Prometheus, AirgappedKind::Alertmanager];

/// The air-gapped kind of a compose service, if the set has one.
pub fn airgapped_kind(plan: &crate::stack::compose::ServicePlan) -> Option<AirgappedKind> {
    if let Some(name) = plan.labels.get(BINARY_LABEL).map(|n| n.trim()).filter(|n| !n.is_empty()) {
        return Some(AirgappedKind::WorkspaceBinary(name.to_owned()));
    }
    if plan.labels.get(crate::model::kinds::app::ROLE_LABEL).is_some_and(|r| r == "reference-app") {
        return Some(AirgappedKind::ReferenceApp);
    }
    let (repo, _) = crate::read::image::split_image(&plan.image);
    match repo.as_str() {
        "prom/prometheus" => Some(AirgappedKind::Prometheus),
        "prom/alertmanager" => Some(AirgappedKind::Alertmanager),
        _ => None,
    }
}

/// The air-gapped image of `kind`.
pub fn airgapped_image(kind: AirgappedKind) -> Result<BinaryImage, ImageError> {
    let share = Path::new("/usr/share/prometheus");
    let need = |path: &str, package: &str| -> Result<PathBuf, ImageError> {
        let p = PathBuf::from(path);
        if p.exists() {
            Ok(p)
        } else {
            Err(ImageError::MissingInput {
                what: format!("{path} (Debian package {package})"),
                path: p,
                hint: format!("apt-get install -y {package}"),
            })
        }
    };
    Ok(match kind {
        AirgappedKind::ReferenceApp => BinaryImage::from_binary("obs-harness/reference-app", reference_app_binary()?, "/usr/local/bin/reference-app")?,
        AirgappedKind::WorkspaceBinary(name) => workspace_binary_image(&name, &workspace_binary(&name)?)?,
        AirgappedKind::Prometheus => {
            BinaryImage::from_binary("obs-harness/prometheus", need("/usr/bin/prometheus", "prometheus")?, "/bin/prometheus")?
                .with_path(need("/usr/share/prometheus/web", "prometheus")?, "/usr/share/prometheus/web")
        }
        AirgappedKind::Alertmanager => BinaryImage::from_binary(
            "obs-harness/alertmanager",
            need("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")?,
            "/bin/alertmanager",
        )?
        .with_path(share.join("alertmanager"), "/usr/share/prometheus/alertmanager"),
    })
}



pub use crate::read::image::{image_override, parse_service_image};

/// Splits `repo[:tag]` (a registry port is not a tag).
pub fn split_reference(reference: &str) -> (String, String) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_owned(), tag.to_owned()),
        _ => (reference.to_owned(), "latest".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_like_docker() {
        assert_eq!(split_reference("grafana/loki:3.7.8"), ("grafana/loki".into(), "3.7.8".into()));
        assert_eq!(split_reference("registry:5000/loki"), ("registry:5000/loki".into(), "latest".into()));
        assert_eq!(split_reference("registry:5000/loki:3"), ("registry:5000/loki".into(), "3".into()));
    }

    #[test]
    fn ldd_lists_libc_for_a_dynamic_binary() {
        let libs = shared_libraries(Path::new("/bin/ls")).unwrap();
        assert!(libs.iter().any(|l| l.to_string_lossy().contains("libc.so")), "{libs:?}");
        assert!(libs.iter().all(|l| l.is_absolute()));
    }

    #[test]
    fn tag_changes_when_an_input_changes() {
        let dir = tempfile::tempdir().unwrap();
        let extra = dir.path().join("extra.txt");
        std::fs::write(&extra, "one").unwrap();
        let image = BinaryImage::from_binary("t/ls", "/bin/ls", "/bin/ls").unwrap().with_path(&extra, "/extra.txt");
        let before = image.reference().unwrap();
        assert_eq!(before, image.reference().unwrap(), "stable for the same inputs");
        std::fs::write(&extra, "two, longer").unwrap();
        assert_ne!(before, image.reference().unwrap());
    }

    #[test]
    fn the_binary_label_builds_the_service_from_that_workspace_binary() {
        let compose = "services:\n  shop:\n    image: obs-example-shop:latest\n    labels:\n      obs-harness.role: app\n      obs-harness.binary: example-shop\n  other:\n    image: obs-example-shop:latest\n    labels:\n      obs-harness.role: app\n  metrics-db:\n    image: prom/prometheus:v3.14.0\n";
        let p = crate::stack::compose::ComposeProject::parse(Path::new("docker-compose.yml"), compose).unwrap();
        let kind = airgapped_kind(&p.services["shop"]);
        assert_eq!(kind, Some(AirgappedKind::WorkspaceBinary("example-shop".into())));
        assert!(kind.unwrap().from_workspace() && AirgappedKind::ReferenceApp.from_workspace() && !AirgappedKind::Prometheus.from_workspace());
        assert_eq!(airgapped_kind(&p.services["other"]), None, "the role alone does not make an image");
        assert_eq!(airgapped_kind(&p.services["metrics-db"]), Some(AirgappedKind::Prometheus));
        assert_eq!(binary_env_var("example-shop"), "OBS_BIN_EXAMPLE_SHOP");
        // The image: the binary at /usr/local/bin/<name>, in the obs-harness/ repository.
        let image = workspace_binary_image("My-Tool", Path::new("/bin/ls")).unwrap();
        assert_eq!(image.entrypoint, ["/usr/local/bin/My-Tool"]);
        assert_eq!(image.files.get("/usr/local/bin/My-Tool").map(PathBuf::as_path), Some(Path::new("/bin/ls")));
        assert!(image.reference().unwrap().starts_with("obs-harness/my-tool:"));
        for bad in ["../../bin/sh", "/bin/sh", ".hidden", "a/b", ""] {
            let err = workspace_binary(bad).unwrap_err();
            assert!(matches!(err, ImageError::BadBinaryName(_)) && err.to_string().contains("obs-harness.binary"), "{bad}: {err}");
        }
        let err = workspace_binary("obs-harness-no-such-binary").unwrap_err().to_string();
        assert!(err.contains("OBS_BIN_OBS_HARNESS_NO_SUCH_BINARY") && err.contains("cargo build"), "{err}");
    }

    #[test]
    fn missing_binary_names_path_and_hint() {
        let err = BinaryImage::from_binary("x", "/nonexistent/bin", "/bin/x").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/bin") && err.contains("hint:"), "{err}");
    }
}
