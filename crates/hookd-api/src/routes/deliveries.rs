//! The delivery log: list, inspect, retry, replay, and test pings.

use crate::extract::PathId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::{DeliveryStatus, FieldErrors, Scope};
use hookd_core::id::{DeliveryId, WebhookId};
use hookd_core::store::DeliveryFilter;
use hookd_core::time_fmt;

use crate::dto::{
    page_limit, parse_time, DeliveryListParams, DeliveryResponse, ReplayRequest, ReplayResponse, TestResponse,
};
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RawBody};
use crate::ApiState;

/// A webhook's deliveries, newest first, filtered by status, event type and time.
#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "deliveries",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)"), DeliveryListParams),
    responses(
        (status = 200, description = "A page; `meta.next_cursor` when more exist", body = Envelope<Vec<DeliveryResponse>>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
        (status = 422, description = "A bad filter", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<DeliveryListParams>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let mut errs = FieldErrors::default();
    let limit = page_limit(p.limit, &mut errs);
    let status = p.status.as_deref().and_then(|s| {
        let parsed = DeliveryStatus::parse(s);
        if parsed.is_none() {
            errs.push("status", "must be one of pending, in_flight, succeeded, failed, cancelled");
        }
        parsed
    });
    if let Some(Err(e)) = p.event.as_deref().map(hookd_core::domain::validate_event_name) {
        errs.push("event", e.to_string());
    }
    let since = p.since.as_deref().and_then(|t| parse_time("since", t, &mut errs));
    let until = p.until.as_deref().and_then(|t| parse_time("until", t, &mut errs));
    errs.into_result().map_err(ApiError::Validation)?;
    let filter = DeliveryFilter { status, event_type: p.event, since, until, ..DeliveryFilter::default() };
    let page = state.deliveries.list(who, &WebhookId::from_path(&id)?, filter, limit, p.cursor.as_deref()).await?;
    let items: Vec<DeliveryResponse> = page.items.iter().map(|d| DeliveryResponse::new(d, None)).collect();
    Ok(ApiResponse::ok(items).with_next_cursor(page.next_cursor))
}

/// One delivery with all its attempts.
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Delivery id (`dlv_…`)")),
    responses(
        (status = 200, description = "The delivery", body = Envelope<DeliveryResponse>),
        (status = 404, description = "No such delivery visible to this key", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let d = state.deliveries.get(who, &DeliveryId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(DeliveryResponse::new(&d.delivery, Some(&d.attempts))))
}

/// Sends a delivery again now, with a fresh retry schedule.
#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "deliveries",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Delivery id (`dlv_…`)")),
    responses(
        (status = 202, description = "Queued for an attempt now", body = Envelope<DeliveryResponse>),
        (status = 404, description = "No such delivery visible to this key", body = ErrorEnvelope),
        (status = 409, description = "It is being sent right now", body = ErrorEnvelope),
    ))]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let d = state.deliveries.retry(who, &DeliveryId::from_path(&id)?).await?;
    Ok(ApiResponse::new(StatusCode::ACCEPTED, DeliveryResponse::new(&d, None)))
}

/// Queues again the failed (or all finished) deliveries of a webhook in a time window.
#[utoipa::path(post, path = "/v1/webhooks/{id}/replay", tag = "deliveries",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    request_body = ReplayRequest,
    responses(
        (status = 202, description = "How many were queued", body = Envelope<ReplayResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
        (status = 422, description = "A bad window or status", body = ErrorEnvelope),
    ))]
pub async fn replay(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let req: ReplayRequest = body.json()?;
    let mut errs = FieldErrors::default();
    let since = match req.since.as_deref() {
        Some(t) => parse_time("since", t, &mut errs),
        None => {
            errs.push("since", "is required");
            None
        }
    };
    let until = match req.until.as_deref() {
        Some(t) => parse_time("until", t, &mut errs),
        None => Some(time_fmt::now() + std::time::Duration::from_micros(1)),
    };
    let only_failed = match req.status.as_deref() {
        None | Some("failed") => true,
        Some("all") => false,
        Some(_) => {
            errs.push("status", "must be `failed` or `all`");
            true
        }
    };
    errs.into_result().map_err(ApiError::Validation)?;
    let (Some(since), Some(until)) = (since, until) else { unreachable!("checked above") };
    let queued = state.deliveries.replay(who, &WebhookId::from_path(&id)?, since, until, only_failed).await?;
    Ok(ApiResponse::new(StatusCode::ACCEPTED, ReplayResponse { queued }))
}

/// Sends a `test.ping` to the webhook now and answers with the attempt's outcome.
#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "deliveries",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    responses(
        (status = 200, description = "The attempt (a failed attempt is still a 200)", body = Envelope<TestResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn test(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let (delivery, a) = state.deliveries.test(who, &WebhookId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(TestResponse {
        delivery_id: delivery.id.to_string(),
        event_id: delivery.event_id.to_string(),
        success: a.error_kind.is_none(),
        status_code: a.status_code,
        duration_ms: a.duration_ms,
        error_kind: a.error_kind,
        error: a.error_message,
        response: a.response,
    }))
}
