//! `obs-harness`: the command line of the conformance harness.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use obs_harness::stack::images::{self, ImageMode};
use obs_harness::stack::keeper::{self, KeeperFiles};
use obs_harness::stack::{StackOptions, cleanup};

/// Proves a docker-compose observability stack really works.
#[derive(Parser)]
#[command(name = "obs-harness", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The whole conformance check: lint, start the stack, drive traffic, check
    /// signals, dashboards, alerts and the Loki ruler, tear down, write reports.
    #[command(after_help = "Examples:
  obs-harness check                                  # bundled stack, upstream images
  obs-harness check --images airgapped --accelerated # no registry needed
  obs-harness check --stack my-stack --images airgapped --image loki=local/loki:3.7.8
  obs-harness check --target prometheus=http://localhost:9090,loki=http://localhost:3100")]
    Check(CheckArgs),
    /// Record the shape of the app's telemetry during the scenario (metric families and
    /// labels, spans per route with their attributes, log labels and fields) into
    /// telemetry-snapshot.yaml beside the compose file; later runs of `snapshot` and `check`
    /// fail with the diff when it changes.
    ///
    /// Example: obs-harness snapshot --stack fixtures/stacks/shop --images airgapped --accept
    Snapshot {
        #[command(flatten)]
        check: CheckArgs,
        /// Write the live shape over the recorded one (review its diff like code).
        #[arg(long)]
        accept: bool,
        /// Check span and metric attribute names against the OTel HTTP semantic conventions of this version (1.20, or 1.23 and later).
        ///
        /// Example: --semconv 1.26
        #[arg(long, value_name = "VERSION")]
        semconv: Option<String>,
    },
    /// Static gate: cross-check compose, configs, dashboards and rules (no Docker).
    ///
    /// Example: obs-harness lint stack --format json
    Lint(obs_harness::lint::LintArgs),
    /// Print what the checks will expect of a stack, read from the stack: the
    /// service under test, its jobs and OTel service name, the Loki tenant and
    /// stream labels, datasources, dashboards, alert rules with their causes,
    /// the receiver (JSON). Declare what cannot be derived in obs-harness.yaml.
    ///
    /// Example: obs-harness profile stack
    Profile {
        /// The stack directory (holds docker-compose.yml).
        #[arg(default_value = "stack")]
        stack_dir: std::path::PathBuf,
        #[command(flatten)]
        compose: obs_harness::read::compose::project::ComposeArgs,
    },
    /// Draw the stack's data flow from its configs: one node per service, one
    /// edge per link with its protocol and port; a link that fails a static
    /// check is drawn dashed and red, with its finding.
    ///
    /// Example: obs-harness graph stack --format mermaid
    Graph {
        /// The stack directory (holds docker-compose.yml).
        #[arg(default_value = "stack")]
        stack_dir: std::path::PathBuf,
        #[command(flatten)]
        compose: obs_harness::read::compose::project::ComposeArgs,
        #[arg(long, value_enum, default_value_t = obs_harness::graph::Format::Mermaid)]
        format: obs_harness::graph::Format,
    },
    /// Bring the stack up, down, or show what runs (the same lifecycle the tests use).
    #[command(subcommand)]
    Stack(StackCmd),
    /// Build images.
    #[command(subcommand)]
    Images(ImagesCmd),
    /// The metric catalogue lint checks queries against (<STACK_DIR>/catalogue.prom).
    ///
    /// Example: obs-harness catalogue record --from http://127.0.0.1:8000/metrics -o stack/catalogue.prom
    #[command(subcommand)]
    Catalogue(obs_harness::catalogue_record::CatalogueCmd),
    /// Print the JSON Schema of a file the harness reads (for editors and CI).
    ///
    /// Example: obs-harness schema scenario > schemas/scenario.schema.json
    Schema {
        #[arg(value_enum)]
        of: SchemaOf,
    },
    /// (internal) the Alertmanager webhook receiver, run as a container of the stack.
    #[command(hide = true)]
    WebhookSink {
        #[arg(long, default_value = "0.0.0.0:9099")]
        listen: std::net::SocketAddr,
    },
}

/// Files with a published JSON Schema.
#[derive(clap::ValueEnum, Clone, Copy)]
enum SchemaOf {
    /// A traffic scenario with its expectations (`--scenario`).
    Scenario,
}

#[derive(clap::Args, Clone)]
struct StackSelect {
    /// Compose files (default: stack/docker-compose.yml), env files and profiles.
    #[command(flatten)]
    compose: obs_harness::read::compose::project::ComposeArgs,
    /// Services to start, comma separated (default: all of the compose file; with
    /// --images airgapped: the air-gapped set and every service given --image).
    ///
    /// Example: --services app,prometheus,alertmanager
    #[arg(long, value_delimiter = ',')]
    services: Option<Vec<String>>,
    /// Image set: `upstream` (compose images) or `airgapped` (app, prometheus,
    /// alertmanager built from host binaries; implies those services unless --services is given).
    #[arg(long, value_enum, default_value_t = ImageMode::Upstream)]
    images: ImageMode,
    /// Seconds each service may take to become ready.
    #[arg(long, default_value_t = 120)]
    startup_timeout: u64,
    /// Accelerated timing: divide scrape, evaluation, `for:` and Alertmanager
    /// group timings by this factor (1 = the stack's own timings).
    ///
    /// Example: --acceleration 15
    #[arg(long, default_value_t = 1)]
    acceleration: u32,
    /// Image for one service (repeatable); wins over OBS_IMAGE_<SERVICE> and the compose file.
    /// With --images airgapped the service joins the air-gapped set.
    ///
    /// Example: --image loki=registry.example/loki:3.7.8
    #[arg(long = "image", value_parser = parse_image)]
    images_for: Vec<(String, String)>,
}

fn parse_image(s: &str) -> Result<(String, String), String> {
    obs_harness::stack::images::parse_service_image(s)
}

impl StackSelect {
    fn options(&self) -> StackOptions {
        let main = self.compose.compose_files.first().cloned().unwrap_or_else(|| PathBuf::from("stack/docker-compose.yml"));
        let mut o = StackOptions::new(&main)
            .with_compose(self.compose.input())
            .with_images(self.images)
            .with_startup_timeout(Duration::from_secs(self.startup_timeout))
            .with_acceleration(self.acceleration);
        for (svc, img) in &self.images_for {
            o = o.with_image(svc.clone(), img.clone());
        }
        o.with_selection(self.services.clone())
    }

    fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for f in &self.compose.compose_files {
            a.extend(["--compose-file".into(), f.display().to_string()]);
        }
        for f in &self.compose.env_files {
            a.extend(["--env-file".into(), f.display().to_string()]);
        }
        for p in &self.compose.profiles {
            a.extend(["--profile".into(), p.clone()]);
        }
        if let Some(s) = &self.services {
            a.push("--services".into());
            a.push(s.join(","));
        }
        a.push("--images".into());
        a.push(match self.images {
            ImageMode::Upstream => "upstream".into(),
            ImageMode::Airgapped => "airgapped".into(),
        });
        a.push("--startup-timeout".into());
        a.push(self.startup_timeout.to_string());
        a.push("--acceleration".into());
        a.push(self.acceleration.to_string());
        for (svc, img) in &self.images_for {
            a.push("--image".into());
            a.push(format!("{svc}={img}"));
        }
        a
    }
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Stack directory (compose file and every config).
    ///
    /// Example: --stack ./my-stack
    #[arg(long, default_value = "stack")]
    stack: PathBuf,
    /// Compose files (default: <STACK>'s docker-compose.yml), env files and profiles, as compose takes them.
    #[command(flatten)]
    compose: obs_harness::read::compose::project::ComposeArgs,
    /// Services to start, comma separated (default: all; with --images airgapped: those the air-gapped set stands in for: the service marked obs-harness.role: reference-app, services labelled obs-harness.binary, the prom/prometheus and prom/alertmanager images, and every service given --image).
    ///
    /// Example: --services app,prometheus,alertmanager
    #[arg(long, value_delimiter = ',')]
    services: Option<Vec<String>>,
    /// Image set: upstream (compose images) or airgapped (built from host binaries).
    #[arg(long, value_enum, default_value_t = ImageMode::Upstream)]
    images: ImageMode,
    /// Traffic scenario (YAML).
    ///
    /// Example: --scenario fixtures/scenarios/default.yaml
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Accelerated timing (x15: 1 s scrape, short `for:` and group timings); every report states the mode.
    #[arg(long)]
    accelerated: bool,
    /// Check a stack that is already running; start nothing.
    ///
    /// Example: --target prometheus=http://localhost:9090,alertmanager=http://localhost:9093,loki=http://localhost:3100,grafana=http://localhost:3030,jaeger=http://localhost:16686,app=http://localhost:8000
    #[arg(long)]
    target: Option<String>,
    /// Where report.json and junit.xml are written.
    #[arg(long, default_value = "target/obs-harness")]
    report_dir: PathBuf,
    /// Skip the lint phase.
    #[arg(long)]
    skip_lint: bool,
    /// Skip the alerts phase.
    #[arg(long)]
    skip_alerts: bool,
    /// Seconds each service may take to become ready.
    #[arg(long, default_value_t = 180)]
    startup_timeout: u64,
    /// Image for one service (repeatable); wins over OBS_IMAGE_<SERVICE> and the compose file.
    /// With --images airgapped the service joins the air-gapped set.
    ///
    /// Example: --image grafana=registry.example/grafana:13.2.0
    #[arg(long = "image", value_parser = parse_image)]
    images_for: Vec<(String, String)>,
}

#[derive(Subcommand)]
enum StackCmd {
    /// Start the stack in a detached keeper and wait until every service is ready.
    ///
    /// Example: obs-harness stack up --images airgapped
    Up {
        #[command(flatten)]
        select: StackSelect,
        /// State file (endpoints of the running stack).
        #[arg(long)]
        state: Option<PathBuf>,
        /// Process whose exit tears the stack down (default: the nearest nextest ancestor, else the parent).
        #[arg(long)]
        owner_pid: Option<u32>,
        /// Keep the stack until `stack down`, whatever happens to the caller.
        #[arg(long)]
        detach: bool,
        /// Write OBS_STACK_STATE to $NEXTEST_ENV (for a nextest setup script).
        #[arg(long)]
        nextest_env: bool,
        /// Use the air-gapped set when $NEXTEST_PROFILE is this profile.
        ///
        /// Example: --airgapped-profile airgapped
        #[arg(long)]
        airgapped_profile: Option<String>,
    },
    /// Stop a stack started with `stack up --detach` (or the one of `--state FILE`), or `--all` harness resources.
    ///
    /// Example: obs-harness stack down --all
    Down {
        #[arg(long)]
        state: Option<PathBuf>,
        /// Remove every container, network and volume labelled by the harness.
        #[arg(long)]
        all: bool,
    },
    /// List the harness's containers, networks and volumes by run.
    Status,
    /// (internal) the keeper process started by `stack up`.
    #[command(hide = true)]
    Keep {
        #[command(flatten)]
        select: StackSelect,
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        owner_pid: Option<u32>,
    },
}

#[derive(Subcommand)]
enum ImagesCmd {
    /// Build the air-gapped image set (app, prometheus, alertmanager) from host binaries.
    ///
    /// Example: obs-harness images build
    Build,
    /// Remove the harness's images no container uses: superseded tags (built
    /// from inputs that have since changed) and dangling layers, then the
    /// daemon's dangling build cache. Prints what it freed.
    #[command(after_help = "Examples:
  obs-harness images prune        # keep the images the current inputs produce
  obs-harness images prune --all  # every unused harness image, all unused build cache")]
    Prune {
        /// Also the current images (rebuilt on the next run) and every unused build cache record.
        #[arg(long)]
        all: bool,
        /// Leave the build cache alone (it is the daemon's: its records carry no labels).
        #[arg(long)]
        keep_build_cache: bool,
        /// Only images whose repository starts with this (e.g. obs-harness/prometheus).
        #[arg(long, value_name = "PREFIX")]
        only: Option<String>,
    },
}

/// What `check` (or, with `snapshot`, `obs-harness snapshot`: no lint, no alerts) runs.
fn check_options(a: CheckArgs, snapshot: Option<obs_harness::phases::telemetry::SnapshotMode>) -> obs_harness::run::CheckOptions {
    let recording = snapshot.is_some();
    obs_harness::run::CheckOptions {
        stack_dir: a.stack,
        compose: a.compose.compose_files.first().cloned(),
        compose_input: a.compose.input(),
        services: a.services,
        images: a.images,
        scenario: a.scenario,
        acceleration: if a.accelerated { obs_harness::accelerate::DEFAULT_FACTOR } else { 1 },
        targets: a.target,
        report_dir: a.report_dir,
        skip_lint: a.skip_lint || recording,
        skip_alerts: a.skip_alerts || recording,
        startup_timeout: Duration::from_secs(a.startup_timeout),
        image_overrides: a.images_for.into_iter().collect(),
        snapshot,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Lint(args) => obs_harness::report::lint_output::lint_main(args),
        Cmd::Profile { stack_dir, compose } => match obs_harness::lint::stack_profile_of(&stack_dir, &compose.input()) {
            Ok(p) => {
                println!("{}", serde_json::to_string_pretty(&p.redacted()).expect("profile serialises"));
                0
            }
            Err(e) => {
                eprintln!("obs-harness: {e} (hint: fix the file, then run `obs-harness lint` for the details)");
                e.exit_code()
            }
        },
        Cmd::Graph { stack_dir, compose, format } => match obs_harness::model::StackModel::load_input(&stack_dir, &compose.input()) {
            Ok(m) => {
                print!("{}", obs_harness::graph::Graph::of(&m, &|_| None).render(format));
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Cmd::Check(a) => runtime().block_on(obs_harness::run::check(check_options(a, None))),
        Cmd::Snapshot { check: a, accept, semconv } => {
            // The snapshot file sits beside the (first) compose file.
            let dir = a.compose.compose_files.first().and_then(|f| f.parent().map(std::path::Path::to_path_buf)).filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| a.stack.clone());
            let mode = obs_harness::phases::telemetry::SnapshotMode { file: dir.join(obs_harness::snapshot::FILE_NAME), accept, semconv };
            runtime().block_on(obs_harness::run::check(check_options(a, Some(mode))))
        }
        Cmd::Stack(cmd) => runtime().block_on(stack(cmd)),
        Cmd::Images(ImagesCmd::Build) => runtime().block_on(build_images()),
        Cmd::Images(ImagesCmd::Prune { all, keep_build_cache, only }) => match runtime().block_on(images::prune(all, keep_build_cache, only.as_deref())) {
            Ok(p) => {
                print!("{}", p.summary());
                0
            }
            Err(e) => {
                eprintln!("obs-harness: images prune: {e} (hint: is Docker running? `docker info`)");
                2
            }
        },
        Cmd::Catalogue(c) => runtime().block_on(obs_harness::catalogue_record::run(c)),
        Cmd::Schema { of: SchemaOf::Scenario } => {
            println!("{}", serde_json::to_string_pretty(&obs_harness::traffic::Scenario::json_schema()).expect("a schema serialises"));
            0
        }
        Cmd::WebhookSink { listen } => match runtime().block_on(obs_harness::webhook::serve(listen)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("obs-harness webhook-sink: cannot listen on {listen}: {e}");
                2
            }
        },
    };
    // Interrupted: the signal handler writes the report, removes the run and
    // exits with 128 + signal; do not return an exit code before it has.
    cleanup::wait_for_signal_exit();
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

async fn stack(cmd: StackCmd) -> i32 {
    match cmd {
        StackCmd::Up { mut select, state, owner_pid, detach, nextest_env, airgapped_profile } => {
            if airgapped_profile.is_some() && std::env::var("NEXTEST_PROFILE").ok() == airgapped_profile {
                select.images = ImageMode::Airgapped;
            }
            let owner = if detach { None } else { Some(owner_pid.unwrap_or_else(keeper::default_owner)) };
            // A detached stack has one well-known state file, so `stack down` finds it.
            let files = KeeperFiles::new(state.unwrap_or_else(|| match owner {
                Some(o) => KeeperFiles::for_owner(o).state,
                None => KeeperFiles::detached().state,
            }));
            let mut args = select.to_args();
            if let Some(o) = owner {
                args.extend(["--owner-pid".into(), o.to_string()]);
            }
            let timeout = Duration::from_secs(select.startup_timeout + 120);
            match keeper::up(&files, &args, timeout).await {
                Ok(state) => {
                    eprint!("{}", state.timing_report());
                    println!("OBS_STACK_STATE={}", files.state.display());
                    if nextest_env
                        && let Err(e) = keeper::write_nextest_env(&files) {
                        eprintln!("obs-harness: {e}");
                        return 2;
                    }
                    0
                }
                Err(e) => {
                    eprintln!("obs-harness: stack up failed: {e}");
                    1
                }
            }
        }
        StackCmd::Keep { select, state, owner_pid } => keeper::keep(&KeeperFiles::new(state), select.options(), owner_pid).await,
        StackCmd::Down { state, all } => {
            if all {
                return match obs_harness::stack::docker().await {
                    Ok(d) => match cleanup::remove_all(&d).await {
                        Ok(r) => {
                            println!("removed {} container(s), {} network(s), {} volume(s)", r.containers.len(), r.networks.len(), r.volumes.len());
                            0
                        }
                        Err(e) => {
                            eprintln!("obs-harness: {e}");
                            1
                        }
                    },
                    Err(e) => {
                        eprintln!("obs-harness: {e}");
                        2
                    }
                };
            }
            let files = match state {
                Some(s) => KeeperFiles::new(s),
                None => KeeperFiles::detached(),
            };
            match keeper::down(&files).await {
                Ok(msg) => {
                    println!("{msg}");
                    0
                }
                Err(e) => {
                    eprintln!("obs-harness: stack down: {e} (hint: pass --state FILE, or --all)");
                    2
                }
            }
        }
        StackCmd::Status => match obs_harness::stack::docker().await {
            Ok(d) => match cleanup::status(&d).await {
                Ok(text) => {
                    print!("{text}");
                    0
                }
                Err(e) => {
                    eprintln!("obs-harness: {e}");
                    1
                }
            },
            Err(e) => {
                eprintln!("obs-harness: {e}");
                2
            }
        },
    }
}

async fn build_images() -> i32 {
    for kind in images::AIRGAPPED_KINDS {
        match images::airgapped_image(kind.clone()) {
            Ok(img) => match img.build().await {
                Ok(reference) => println!("{kind:?}: {reference}"),
                Err(e) => {
                    eprintln!("obs-harness: {kind:?}: {e}");
                    return 2;
                }
            },
            Err(e) => {
                eprintln!("obs-harness: {kind:?}: {e}");
                return 2;
            }
        }
    }
    0
}
