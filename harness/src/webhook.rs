//! The webhook receiver the harness hosts for Alertmanager.
//!
//! The bundled Alertmanager routes every alert to
//! `http://harness-webhook:9099/alerts`. The harness runs this receiver as a
//! container of the run (the `obs-harness` binary itself in a `FROM scratch`
//! image, `obs-harness webhook-sink`), on the run's network under the alias
//! `harness-webhook`. It keeps every notification in memory and serves them
//! back on `GET /alerts`, which checks poll through the published port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

/// The compose service name Alertmanager's config points at.
pub const SERVICE: &str = crate::model::WEBHOOK_SERVICE;
/// The port and path of the receiver.
pub const PORT: u16 = crate::model::WEBHOOK_PORT;
pub const PATH: &str = "/alerts";

type Received = Arc<Mutex<Vec<serde_json::Value>>>;

/// The receiver's routes: `POST /alerts` stores, `GET /alerts` lists, `GET /healthz`.
pub fn router() -> Router {
    let received: Received = Arc::default();
    Router::new()
        .route(PATH, get(list).post(receive))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(received)
}

async fn receive(State(r): State<Received>, Json(body): Json<serde_json::Value>) -> &'static str {
    println!("{}", serde_json::json!({ "received": body }));
    r.lock().expect("lock").push(body);
    "ok"
}

async fn list(State(r): State<Received>) -> Json<Vec<serde_json::Value>> {
    Json(r.lock().expect("lock").clone())
}

/// Serves the receiver until the process is stopped.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("webhook sink listening on {addr}{PATH}");
    axum::serve(listener, router()).await
}

/// One notification as Alertmanager's webhook sends it (the parts checks read).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub receiver: String,
    pub status: String,
    #[serde(default)]
    pub alerts: Vec<NotifiedAlert>,
    #[serde(default)]
    pub group_labels: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NotifiedAlert {
    pub status: String,
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// Reads the notifications a running receiver got (through its published port).
pub async fn received(base_url: &str) -> Result<Vec<Notification>, reqwest::Error> {
    reqwest::get(format!("{base_url}{PATH}")).await?.error_for_status()?.json().await
}
