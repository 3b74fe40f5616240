//! The event-type catalog.

use axum::extract::State;

use crate::dto::EventTypeResponse;
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::extract::Caller;
use crate::ApiState;

/// The event types webhooks can subscribe to. `test.ping` is always present.
#[utoipa::path(get, path = "/v1/event-types", tag = "event types",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The catalog", body = Envelope<Vec<EventTypeResponse>>),
        (status = 401, description = "Missing or invalid API key", body = ErrorEnvelope),
    ))]
pub async fn list(State(state): State<ApiState>, _caller: Caller) -> ApiResponse {
    let types: Vec<EventTypeResponse> = state.webhooks.catalog().types().iter().map(EventTypeResponse::from).collect();
    ApiResponse::ok(types)
}
