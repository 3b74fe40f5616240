//! `/v1/events`: publishing and reading events.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use hookd_core::domain::{NewEvent, Scope};
use hookd_core::service::EventService;
use hookd_core::trace::TraceParent;

use crate::dto::{EventResponse, PublishBatchRequest, PublishEventRequest};
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{Caller, RawBody};
use crate::ApiState;

/// The request's W3C `traceparent`, when it has one valid header of that name (an
/// invalid or repeated one starts no trace, as the recommendation asks).
pub(crate) fn trace_parent(headers: &HeaderMap) -> Option<TraceParent> {
    let mut values = headers.get_all("traceparent").iter();
    match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok().and_then(TraceParent::parse),
        _ => None,
    }
}

/// Largest `POST /v1/events/batch` body: 16 MiB.
pub const BATCH_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Publishes an event to every enabled webhook subscribed to its type. Answers 202 once
/// the event and all its deliveries are durably stored; 200 with the stored event when
/// its `id` was already published (nothing is sent twice).
#[utoipa::path(post, path = "/v1/events", tag = "events",
    security(("api_key" = ["events:write"])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the POST safe to retry."),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: the event's deliveries continue this trace."),
    ),
    request_body = PublishEventRequest,
    responses(
        (status = 202, description = "Stored; deliveries under way", body = Envelope<EventResponse>),
        (status = 200, description = "This `id` was published before: the stored event", body = Envelope<EventResponse>),
        (status = 413, description = "`data` over 256 KiB", body = ErrorEnvelope),
        (status = 422, description = "Validation failed", body = ErrorEnvelope),
        (status = 503, description = "The database is unavailable; nothing was stored", body = ErrorEnvelope),
    ))]
pub async fn publish(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::EventsWrite)?;
    let mut req: NewEvent = body.json::<PublishEventRequest>()?.into();
    req.trace_parent = trace_parent(&headers);
    if EventService::data_too_large(&req) {
        return Err(ApiError::DataTooLarge);
    }
    let published = state.events.publish(who, req).await?;
    let status = if published.created { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok(ApiResponse::new(status, EventResponse::new(&published.event, false)))
}

/// Publishes up to 1,000 events in one commit. One invalid event rejects the batch.
#[utoipa::path(post, path = "/v1/events/batch", tag = "events",
    security(("api_key" = ["events:write"])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the POST safe to retry."),
        ("traceparent" = Option<String>, Header, description = "W3C trace context: every event's deliveries continue this trace."),
    ),
    request_body = PublishBatchRequest,
    responses(
        (status = 202, description = "Stored, in request order", body = Envelope<Vec<EventResponse>>),
        (status = 413, description = "An event's `data` over 256 KiB, or a body over 16 MiB", body = ErrorEnvelope),
        (status = 422, description = "Validation failed; fields are named `events[i].…`", body = ErrorEnvelope),
    ))]
pub async fn publish_batch(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody<BATCH_BODY_LIMIT>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::EventsWrite)?;
    let req: PublishBatchRequest = body.json()?;
    let tp = trace_parent(&headers);
    let events: Vec<NewEvent> =
        req.events.into_iter().map(|e| NewEvent { trace_parent: tp, ..NewEvent::from(e) }).collect();
    if events.iter().any(EventService::data_too_large) {
        return Err(ApiError::DataTooLarge);
    }
    let published = state.events.publish_batch(who, events).await?;
    let out: Vec<EventResponse> = published.iter().map(|p| EventResponse::new(&p.event, false)).collect();
    Ok(ApiResponse::new(StatusCode::ACCEPTED, out))
}

/// One event, with its data.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Event id (`evt_…`), or the producer's `id` it was published with")),
    responses(
        (status = 200, description = "The event", body = Envelope<EventResponse>),
        (status = 404, description = "No such event in this workspace", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let event = state.events.find(who, &id).await?;
    Ok(ApiResponse::ok(EventResponse::new(&event, true)))
}
