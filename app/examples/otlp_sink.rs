//! `otlp_sink`: a minimal OTLP/gRPC trace receiver for local benchmarks.
//!
//! Accepts `ExportTraceService/Export` calls, counts requests and spans, and
//! drops them. Used by `app/bench/overhead.sh` so the instrumented app really
//! exports (instead of retrying against a closed port).
//!
//!     cargo run --release -p reference-app --example otlp_sink -- [ADDR]
//!
//! ADDR defaults to `127.0.0.1:0` (a free port). The chosen address is printed
//! on stdout as `listening 127.0.0.1:PORT`. On SIGTERM/SIGINT it prints
//! `received REQUESTS export request(s), SPANS span(s)`, then one line per span
//! name, most frequent first: `span COUNT "SCOPE" "NAME"`, and exits 0.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};

#[derive(Clone, Default)]
struct Sink {
    requests: Arc<AtomicU64>,
    spans: Arc<AtomicU64>,
    /// Spans per (instrumentation scope, span name).
    names: Arc<Mutex<HashMap<(String, String), u64>>>,
}

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = 0;
        {
            let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            for ss in request.get_ref().resource_spans.iter().flat_map(|rs| &rs.scope_spans) {
                let scope = ss.scope.as_ref().map(|s| s.name.as_str()).unwrap_or("");
                for span in &ss.spans {
                    *names.entry((scope.to_owned(), span.name.clone())).or_default() += 1;
                }
                spans += ss.spans.len();
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> std::process::ExitCode {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("otlp_sink: cannot listen on {addr}: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let local = listener.local_addr().expect("bound listener has an address");
    println!("listening {local}");
    let sink = Sink::default();
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    let served = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(sink.clone()))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await;
    println!(
        "received {} export request(s), {} span(s)",
        sink.requests.load(Ordering::Relaxed),
        sink.spans.load(Ordering::Relaxed)
    );
    let mut names: Vec<_> = sink.names.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for ((scope, name), n) in names {
        println!("span {n} {scope:?} {name:?}");
    }
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otlp_sink: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
