//! The live phases of `check`, each a table of checks with what each needs.
//!
//! - [`engine`]: the one [`Engine`] that decides, from each check's declared
//!   [`crate::checks::Needs`], whether it runs, is *not run* or is *blocked by*
//!   something; lint findings, reachability, the scrape target, the watchdog
//!   and every failed check feed it.
//! - [`targets`]: where each backend of the run is.
//! - [`signals`], [`dashboards`], [`alerts`], [`ruler`]: the phases, in the order `check` runs them.
//! - [`telemetry`]: the telemetry snapshot compared with its reviewed file.
//! - [`watch`]: the watchdog that ends a phase when a backend container goes,
//!   and the container log lines appended to a failure.
//!
//! Layer: above the checks and the lifecycle, below `run` and the reports.

pub mod alerts;
pub mod dashboards;
pub mod engine;
pub mod ruler;
pub mod signals;
pub mod targets;
pub mod telemetry;
pub mod watch;

pub use engine::Engine;
pub use targets::{BACKENDS, Targets};
