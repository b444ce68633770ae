//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators (Kubernetes liveness
//! and readiness probes): no authentication, a small JSON body.
//!
//! `/healthz` answers 200 while the process serves HTTP at all; it never touches the database,
//! so a database outage does not get every node restarted. `/readyz` answers 200 only when the
//! database answers a ping and the node is not shutting down, else 503, so the load balancer
//! sends devices elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;

/// How long `/readyz` waits for the database.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether this node is draining (shutting down): shared by `serve` and `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// From now on `/readyz` answers 503.
    pub fn start(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether [`Draining::start`] was called.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `GET /healthz`: alive.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the database answers and we are not shutting down.
pub async fn readyz(State(app): State<App>) -> Response {
    if app.draining.is_draining() {
        return unavailable("shutting_down");
    }
    match tokio::time::timeout(PING_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => Json(json!({"status": "ready", "database": "ok"})).into_response(),
        Ok(Err(e)) => {
            // The detail goes to the log only: the probe is unauthenticated.
            tracing::warn!(error = %e, "readiness: database ping failed");
            unavailable("database")
        }
        Err(_) => {
            tracing::warn!("readiness: database ping timed out");
            unavailable("database")
        }
    }
}

fn unavailable(reason: &str) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not_ready", "reason": reason}))).into_response()
}
