//! `reference-app`: serve, or `reference-app healthcheck` to probe a running
//! instance (for container healthchecks in images without curl).

use std::io::{Read, Write};
use std::process::ExitCode;

use reference_app::config::Config;
use reference_app::{AppState, router, telemetry};

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reference-app: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(config.port);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("reference-app: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let telemetry = match telemetry::init(&config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reference-app: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("reference-app: cannot listen on 0.0.0.0:{} (PORT): {e}", config.port);
            return ExitCode::from(2);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(config.port);
    tracing::info!(
        port,
        version = env!("CARGO_PKG_VERSION"),
        traces_exporter = ?config.traces,
        "reference-app listening on 0.0.0.0:{port}"
    );
    let state = AppState::default();
    tokio::spawn(toggle_fault_on_sigusr1(state.clone()));
    let app = router(state);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    tracing::info!("shutting down: flushing spans");
    // The provider's shutdown blocks until the exporter has flushed.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reference-app: server error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Fault injection for the harness's fault tests: each `SIGUSR1` (`docker kill
/// --signal USR1`) turns "answer 500 to everything" on or off.
async fn toggle_fault_on_sigusr1(state: AppState) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else { return };
    while usr1.recv().await.is_some() {
        let broken = !state.broken.fetch_xor(true, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(broken, "SIGUSR1: fault injection {}", if broken { "on: every request is answered 500" } else { "off" });
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn healthcheck(port: u16) -> ExitCode {
    let probe = || -> std::io::Result<bool> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200"))
    };
    match probe() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("healthcheck: 127.0.0.1:{port}: {e}");
            ExitCode::FAILURE
        }
    }
}
