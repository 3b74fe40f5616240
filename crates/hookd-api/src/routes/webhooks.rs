//! `/v1/webhooks`: create, list, read, change, delete, and the signing secret.

use crate::extract::PathId;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::Scope;
use hookd_core::id::WebhookId;

use crate::dto::{
    AttemptFigures, CreateWebhookRequest, DeletedResponse, HeadersResponse, HourFigures, ListParams,
    RotateSecretRequest, SecretResponse, StatsParams, StatsWindow, UpdateWebhookRequest, WebhookResponse,
    WebhookStatsResponse, WebhookWithSecretResponse,
};
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RawBody};
use crate::ApiState;

/// Creates a webhook. The response carries `signing_secret`, the only time it is shown.
///
/// A second webhook with the same URL and overlapping events is created, with a warning
/// in `meta.warnings`: each such event will be delivered to that URL twice.
#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the POST safe to retry: the first response is replayed for 24 h (≤ 255 characters).")),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Created", body = Envelope<WebhookWithSecretResponse>),
        (status = 400, description = "Malformed JSON", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid API key", body = ErrorEnvelope),
        (status = 403, description = "The key lacks webhooks:write", body = ErrorEnvelope),
        (status = 409, description = "The same Idempotency-Key is in flight", body = ErrorEnvelope),
        (status = 413, description = "Body over 1 MiB", body = ErrorEnvelope),
        (status = 422, description = "Validation failed; `details` names each field", body = ErrorEnvelope),
        (status = 429, description = "Rate limited", body = ErrorEnvelope),
    ))]
pub async fn create(State(state): State<ApiState>, caller: Caller, body: RawBody) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let req: CreateWebhookRequest = body.json()?;
    let created = state.webhooks.create(who, req.into()).await?;
    let dto = WebhookWithSecretResponse {
        webhook: WebhookResponse::from(&created.webhook),
        signing_secret: created.signing_secret,
        previous_secret_expires_at: None,
    };
    Ok(ApiResponse::new(StatusCode::CREATED, dto).with_warnings(created.warnings))
}

/// Lists webhooks, newest first. Owner-scoped keys see only the webhooks they created.
#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    security(("api_key" = ["webhooks:read"])),
    params(ListParams),
    responses(
        (status = 200, description = "A page; `meta.next_cursor` when more exist", body = Envelope<Vec<WebhookResponse>>),
        (status = 401, description = "Missing or invalid API key", body = ErrorEnvelope),
        (status = 422, description = "Bad limit or cursor", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let limit = params.limit().map_err(ApiError::Validation)?;
    let page = state.webhooks.list(who, limit, params.cursor.as_deref()).await?;
    let items: Vec<WebhookResponse> = page.items.iter().map(WebhookResponse::from).collect();
    Ok(ApiResponse::ok(items).with_next_cursor(page.next_cursor))
}

/// One webhook.
#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    responses(
        (status = 200, description = "The webhook", body = Envelope<WebhookResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let wh = state.webhooks.get(who, &WebhookId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(WebhookResponse::from(&wh)))
}

/// Changes url, events, description, enabled or metadata. Absent fields are left alone.
#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "The updated webhook", body = Envelope<WebhookResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
        (status = 422, description = "Validation failed", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let req: UpdateWebhookRequest = body.json()?;
    let changes = req.into_changes().map_err(ApiError::Validation)?;
    let (wh, warnings) = state.webhooks.update(who, &WebhookId::from_path(&id)?, changes).await?;
    Ok(ApiResponse::ok(WebhookResponse::from(&wh)).with_warnings(warnings))
}

/// Deletes a webhook.
#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<DeletedResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    state.webhooks.delete(who, &WebhookId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(DeletedResponse { id, deleted: true }))
}

/// The current signing secret, where the deployment enables `secret_retrieval`.
#[utoipa::path(get, path = "/v1/webhooks/{id}/secret", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    responses(
        (status = 200, description = "The secret", body = Envelope<SecretResponse>),
        (status = 403, description = "Retrieval disabled, or the key lacks webhooks:write", body = ErrorEnvelope),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let signing_secret = state.webhooks.secret(who, &WebhookId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(SecretResponse { signing_secret }))
}

/// The custom headers in full: names and values, as sent with every delivery.
#[utoipa::path(get, path = "/v1/webhooks/{id}/headers", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)")),
    responses(
        (status = 200, description = "The headers", body = Envelope<HeadersResponse>),
        (status = 403, description = "The key lacks webhooks:write", body = ErrorEnvelope),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn headers(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let headers = state.webhooks.headers(who, &WebhookId::from_path(&id)?).await?;
    Ok(ApiResponse::ok(HeadersResponse { headers }))
}

/// The webhook's attempts over the last 24 hours or 7 days: counts by outcome, success
/// rate and latency percentiles, in total and per hour. Read from hourly aggregates kept
/// as results are written, so the cost does not grow with the delivery log.
#[utoipa::path(get, path = "/v1/webhooks/{id}/stats", tag = "webhooks",
    security(("api_key" = ["webhooks:read"])),
    params(("id" = String, Path, description = "Webhook id (`wh_…`)"), StatsParams),
    responses(
        (status = 200, description = "The figures", body = Envelope<WebhookStatsResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
    ))]
pub async fn stats(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<StatsParams>,
) -> Result<ApiResponse, ApiError> {
    use hookd_core::domain::{hour_of, Health};
    let who = caller.require(Scope::WebhooksRead)?;
    let wh = state.webhooks.get(who, &WebhookId::from_path(&id)?).await?;
    let (window, hours) = match q.window.unwrap_or(StatsWindow::Day) {
        StatsWindow::Day => ("24h", 24),
        StatsWindow::Week => ("7d", 24 * 7),
    };
    let now = hookd_core::time_fmt::now();
    let first = hour_of(now) - time::Duration::hours(hours - 1);
    let report = state.web.health(std::slice::from_ref(&wh.id), first).await?;
    let rows = report.rows.get(&wh.id).map(Vec::as_slice).unwrap_or_default();
    let per_hour = (0..hours)
        .map(|i| {
            let hour = first + time::Duration::hours(i);
            let figures = AttemptFigures::from(&Health::of(rows.iter().filter(|r| r.hour == hour)));
            HourFigures { hour: hookd_core::time_fmt::format(hour), figures }
        })
        .collect();
    Ok(ApiResponse::ok(WebhookStatsResponse {
        webhook_id: wh.id.to_string(),
        window,
        since: hookd_core::time_fmt::format(first),
        total: AttemptFigures::from(&Health::of(rows)),
        hours: per_hour,
    }))
}

/// Replaces the signing secret (generated, or `secret` from the body). The previous
/// secret keeps signing beside the new one until `previous_secret_expires_at`.
#[utoipa::path(post, path = "/v1/webhooks/{id}/secret/rotate", tag = "webhooks",
    security(("api_key" = ["webhooks:write"])),
    params(
        ("id" = String, Path, description = "Webhook id (`wh_…`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the POST safe to retry."),
    ),
    request_body(content = Option<RotateSecretRequest>, description = "Optional; an empty body generates a secret."),
    responses(
        (status = 200, description = "Rotated; carries the new secret", body = Envelope<WebhookWithSecretResponse>),
        (status = 404, description = "No such webhook visible to this key", body = ErrorEnvelope),
        (status = 409, description = "A `secret` was supplied for an ed25519 webhook, which rotates to a new key pair", body = ErrorEnvelope),
        (status = 422, description = "The supplied secret breaks a rule", body = ErrorEnvelope),
    ))]
pub async fn rotate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let req: RotateSecretRequest = body.json_or_default()?;
    let (wh, signing_secret) = state.webhooks.rotate_secret(who, &WebhookId::from_path(&id)?, req.secret).await?;
    let dto = WebhookWithSecretResponse {
        previous_secret_expires_at: wh.secrets.previous_expires_at.map(hookd_core::time_fmt::format),
        webhook: WebhookResponse::from(&wh),
        signing_secret,
    };
    Ok(ApiResponse::ok(dto))
}
