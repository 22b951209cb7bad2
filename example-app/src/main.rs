//! `example-shop`: serve, or `example-shop healthcheck` to probe a running
//! instance's `/ping` (a container healthcheck for a `FROM scratch` image).

use std::io::{Read, Write};
use std::process::ExitCode;

use example_shop::config::Config;
use example_shop::logfmt::{Level, Logger};
use example_shop::{AppState, router, telemetry};

fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("example-shop: {e}");
            return ExitCode::from(2);
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck(config.port);
    }
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(serve(config)),
        Err(e) => {
            eprintln!("example-shop: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    let logger = Logger::Stdout;
    let provider = match telemetry::provider(&config, &logger) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("example-shop: cannot build the OTLP exporter: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", config.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("example-shop: cannot listen on 0.0.0.0:{} (PORT): {e}", config.port);
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let traces = config.traces_url.as_deref().unwrap_or("none");
    logger.log(Level::Info, "listening", &[("addr", &addr), ("service", &config.service_name), ("traces", &traces), ("version", &env!("CARGO_PKG_VERSION"))]);
    let app = router(AppState::new(telemetry::tracer(&provider), logger.clone()));
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await;
    logger.log(Level::Info, "shutting down, flushing spans", &[]);
    // Blocks until the batch processor has exported what it holds.
    let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-shop: server error: {e}");
            ExitCode::FAILURE
        }
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

/// Exit 0 when `GET /ping` on this container's port answers 200.
fn healthcheck(port: u16) -> ExitCode {
    let probe = || -> std::io::Result<bool> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        s.write_all(b"GET /ping HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
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
