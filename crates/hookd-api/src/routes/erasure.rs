//! Erasing events' payloads: one event at once (`DELETE /v1/events/{id}/payload`), or
//! many in the background (`POST /v1/erasure`), whose progress `GET /v1/erasure/{id}`
//! shows.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::{Erasure, ErasureStatus, Scope};
use hookd_core::id::ErasureId;
use hookd_core::service::ErasureRequest;
use hookd_core::time_fmt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::EventResponse;
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{Caller, PathId, RawBody};
use crate::ApiState;

/// Replaces an event's `data` with `null` (and drops the response bodies kept with its
/// attempts); its deliveries not yet made are cancelled. The event, its deliveries and
/// their log stay, with `erased_at` set. Erasing an erased event again changes nothing.
#[utoipa::path(delete, path = "/v1/events/{id}/payload", tag = "events",
    security(("api_key" = ["events:write"])),
    params(("id" = String, Path, description = "Event id (`evt_…`), or the producer's `id` it was published with")),
    responses(
        (status = 200, description = "The event, erased", body = Envelope<EventResponse>),
        (status = 404, description = "No such event in this workspace", body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable; nothing was erased", body = ErrorEnvelope),
    ))]
pub async fn erase_payload(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::EventsWrite)?;
    let event = state.erasure.erase_payload(who, &id).await?;
    Ok(ApiResponse::ok(EventResponse::new(&event, true)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartErasureRequest {
    /// Erase the events published for this owner (a key with an owner: its own, which it
    /// may leave out).
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub owner: Option<String>,
    /// Erase every event of this workspace (with `owner`: that owner's in it). It must
    /// be the one the key acts in; any other answers 404.
    #[schema(example = "ws_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub workspace: Option<String>,
    /// Only events created before this (RFC 3339); default now. Events published after
    /// the erasure starts are never erased by it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub before: Option<String>,
}

/// A bulk erasure and its progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureResponse {
    #[schema(example = "era_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub id: String,
    pub workspace_id: String,
    /// The owner whose events it erases; `null`: every event of the workspace.
    pub owner: Option<String>,
    /// It erases events created before this.
    #[schema(format = DateTime)]
    pub before: String,
    /// `running`, `succeeded` or `failed`.
    #[schema(value_type = String, pattern = "^(running|succeeded|failed)$")]
    pub status: ErasureStatus,
    /// Events to erase, counted when it started.
    pub total: i64,
    /// Events erased so far.
    pub erased: i64,
    pub error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The last progress.
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
}

impl From<&Erasure> for ErasureResponse {
    fn from(e: &Erasure) -> Self {
        Self {
            id: e.id.to_string(),
            workspace_id: e.scope.workspace_id.to_string(),
            owner: e.scope.owner.clone(),
            before: time_fmt::format(e.scope.before),
            status: e.status,
            total: e.total,
            erased: e.erased,
            error: e.error.clone(),
            created_at: time_fmt::format(e.created_at),
            updated_at: time_fmt::format(e.updated_at),
            finished_at: e.finished_at.map(time_fmt::format),
        }
    }
}

/// Starts erasing, in the background, the payloads of one owner's events or of every
/// event of the workspace, as `DELETE /v1/events/{id}/payload` does for one. Answers at
/// once with the erasure; follow it with `GET /v1/erasure/{id}`.
#[utoipa::path(post, path = "/v1/erasure", tag = "events",
    security(("api_key" = ["events:write"])),
    request_body = StartErasureRequest,
    responses(
        (status = 202, description = "Started", body = Envelope<ErasureResponse>),
        (status = 404, description = "The workspace is not the one the key acts in, or the owner is not the key's", body = ErrorEnvelope),
        (status = 422, description = "Validation failed; `details` names each field", body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable; nothing was started", body = ErrorEnvelope),
    ))]
pub async fn start(State(state): State<ApiState>, caller: Caller, body: RawBody) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::EventsWrite)?;
    let req: StartErasureRequest = body.json()?;
    let job = state
        .erasure
        .start(who, ErasureRequest { owner: req.owner, workspace: req.workspace, before: req.before })
        .await?;
    Ok(ApiResponse::new(StatusCode::ACCEPTED, ErasureResponse::from(&job)))
}

/// A bulk erasure and its progress.
#[utoipa::path(get, path = "/v1/erasure/{id}", tag = "events",
    security(("api_key" = ["events:write"])),
    params(("id" = String, Path, description = "Erasure id (`era_…`)")),
    responses(
        (status = 200, description = "The erasure", body = Envelope<ErasureResponse>),
        (status = 404, description = "No such erasure in this workspace", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::EventsWrite)?;
    let job = state.erasure.get(who, &ErasureId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(ErasureResponse::from(&job)))
}
