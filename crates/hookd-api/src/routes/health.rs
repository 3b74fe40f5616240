//! Liveness and readiness probes; no authentication.

use axum::extract::State;
use hookd_core::store::StoreError;

use crate::dto::HealthResponse;
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::ApiState;

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Envelope<HealthResponse>)))]
pub async fn healthz() -> ApiResponse {
    ApiResponse::ok(HealthResponse { status: "ok" })
}

/// Readiness: the database answers, and accepts writes.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Envelope<HealthResponse>),
        (status = 503, description = "The database is unreachable (`service_unavailable`) or refuses writes: a full \
            disk, a read-only file, an I/O error (`storage_unavailable`)", body = ErrorEnvelope),
    ))]
pub async fn readyz(State(state): State<ApiState>) -> Result<ApiResponse, ApiError> {
    // After a write failed for lack of space, readiness tries a small write of its own,
    // so the node reports itself ready again as soon as the database accepts writes.
    let probe = async {
        if state.events.storage().failing() {
            let r = state.admin.probe_write().await;
            state.events.storage().observe(&r);
            r?;
        }
        state.admin.ping().await
    };
    // A load balancer's probe wants an answer soon, not after the pool's acquire timeout.
    match tokio::time::timeout(READY_TIMEOUT, probe).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(ApiError::Unavailable(StoreError::Unavailable(
                format!("the database did not answer within {} s", READY_TIMEOUT.as_secs()).into(),
            )))
        }
    }
    Ok(ApiResponse::ok(HealthResponse { status: "ready" }))
}

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Prometheus metrics: publishes, deliveries by outcome, attempt latency, queue depth,
/// in-flight attempts and open circuits.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<ApiState>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], (state.metrics)())
}
