//! Endpoints: `/api/v1/app/{app_id}/endpoint`, an application's webhooks.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::{DeliveryStatus, FieldErrors, NewWebhook, Scope, Webhook, WebhookChanges, WebhookProtocol};
use hookd_core::id::WebhookId;
use hookd_core::service::{Application, Principal, ServiceError};
use hookd_core::store::DeliveryFilter;
use serde::{Deserialize, Serialize};

use super::{application, endpoint, list_response, no_content, time, ListQuery};
use crate::envelope::ApiResponse;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RawBody};
use crate::ApiState;

/// The prefix of an endpoint id (`ep_…` for the webhook's `wh_…`).
pub(super) const PREFIX: &str = "ep_";

/// `EndpointIn`, `EndpointUpdate` and `EndpointPatch`. `filterTypes` (the SDKs' name)
/// and `eventTypes`, `rateLimit` and `throttleRate`, are the same fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointIn {
    url: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    filter_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    event_types: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    channels: Option<Option<Vec<String>>>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    secret: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    rate_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    throttle_rate: Option<Option<u32>>,
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    uid: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    headers: Option<Option<BTreeMap<String, String>>>,
    /// Accepted and ignored: Svix deprecated it; every endpoint is version 1.
    #[allow(dead_code)]
    version: Option<serde_json::Value>,
}

impl EndpointIn {
    fn types(&mut self) -> Option<Option<Vec<String>>> {
        self.filter_types.take().or(self.event_types.take())
    }

    fn rate_limit(&mut self) -> Option<Option<u32>> {
        self.rate_limit.take().or(self.throttle_rate.take())
    }
}

/// `EndpointOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EndpointOut {
    id: String,
    uid: Option<String>,
    url: String,
    description: String,
    filter_types: Option<Vec<String>>,
    /// The same as `filterTypes`, under the name newer SDKs read.
    event_types: Option<Vec<String>>,
    channels: Option<Vec<String>>,
    metadata: BTreeMap<String, String>,
    rate_limit: Option<u32>,
    throttle_rate: Option<u32>,
    disabled: bool,
    version: i64,
    created_at: String,
    updated_at: String,
}

impl From<&Webhook> for EndpointOut {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.with_prefix(PREFIX),
            uid: w.uid.clone(),
            url: w.url.clone(),
            description: w.description.clone().unwrap_or_default(),
            filter_types: filter_types(&w.events),
            event_types: filter_types(&w.events),
            channels: (!w.channels.is_empty()).then(|| w.channels.clone()),
            metadata: w.metadata.clone(),
            rate_limit: w.rate_limit,
            throttle_rate: w.rate_limit,
            disabled: !w.enabled,
            version: 1,
            created_at: time(w.created_at),
            updated_at: time(w.updated_at),
        }
    }
}

/// A webhook's subscriptions as Svix's `filterTypes`: `null` for every event.
fn filter_types(events: &[String]) -> Option<Vec<String>> {
    (events != ["*"]).then(|| events.to_vec())
}

/// Svix's `null` filter (every event) as hookd's `["*"]`.
fn events_of(types: Option<Vec<String>>) -> Vec<String> {
    types.filter(|t| !t.is_empty()).unwrap_or_else(|| vec!["*".to_owned()])
}

/// A secret as Svix takes it: `whsec_` and base64, or the base64 alone.
fn secret_of(secret: String) -> String {
    if secret.starts_with("whsec_") {
        secret
    } else {
        format!("whsec_{secret}")
    }
}

/// Svix refuses an endpoint that filters on an event type it does not have: each must
/// be one of the environment's event types (not archived), or in hookd's catalog.
async fn check_types(state: &ApiState, who: &Principal, types: &Option<Vec<String>>) -> Result<(), ApiError> {
    let mut errs = FieldErrors::default();
    for (i, t) in types.iter().flatten().enumerate() {
        let stored = match state.applications.get_event_type(who, t).await {
            Ok(et) => !et.archived,
            Err(ServiceError::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        let catalog = state.webhooks.catalog();
        if !stored && (catalog.is_open() || !catalog.types().iter().any(|c| &c.name == t)) {
            errs.push(
                format!("filterTypes[{i}]"),
                format!("the event type `{t}` does not exist; create it with POST /api/v1/event-type first"),
            );
        }
    }
    errs.into_result().map_err(ApiError::Validation)
}

/// The webhook `endpoint_id` names among the caller's (an `ep_…` id, or a uid).
pub(super) async fn find(state: &ApiState, who: &Principal, endpoint_id: &str) -> Result<Webhook, ApiError> {
    if let Ok(id) = WebhookId::parse_with_prefix(endpoint_id, PREFIX) {
        return Ok(state.webhooks.get(who, &id).await?);
    }
    let mut cursor: Option<String> = None;
    loop {
        let page = state.webhooks.list(who, 100, cursor.as_deref()).await?;
        if let Some(w) = page.items.into_iter().find(|w| w.uid.as_deref() == Some(endpoint_id)) {
            return Ok(w);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Err(ServiceError::NotFound { what: "endpoint" }.into()),
        }
    }
}

/// `POST /app/{app_id}/endpoint` (201).
pub(super) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let (app, who) = application(&state, &caller, Scope::WebhooksWrite, &app_id).await?;
    create_in(&state, &app, &who, body.json()?).await
}

async fn create_in(
    state: &ApiState,
    app: &Application,
    who: &Principal,
    mut input: EndpointIn,
) -> Result<ApiResponse, ApiError> {
    let types = input.types().flatten();
    check_types(state, who, &types).await?;
    let rate_limit = input.rate_limit().flatten().or(app.rate_limit);
    let req = NewWebhook {
        url: input.url,
        events: Some(events_of(types)),
        description: input.description.filter(|d| !d.is_empty()),
        secret: input.secret.flatten().map(secret_of),
        enabled: input.disabled.map(|d| !d),
        metadata: input.metadata,
        rate_limit,
        headers: input.headers.flatten(),
        channels: input.channels.flatten(),
        uid: input.uid.flatten(),
        protocol: Some(WebhookProtocol::Svix),
        ..Default::default()
    };
    let created = state.webhooks.create(who, req).await?;
    Ok(ApiResponse::new(StatusCode::CREATED, EndpointOut::from(&created.webhook)))
}

/// `GET /app/{app_id}/endpoint`, newest first.
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    if !q.descending(true)? {
        return Err(ApiError::validation("query.order", "endpoints are listed newest first (descending) only"));
    }
    let cursor = q.iterator.as_deref().map(|i| WebhookId::parse_with_prefix(i, PREFIX).map(|w| w.to_string()));
    let cursor = cursor.transpose().map_err(|_| ApiError::validation("query.iterator", "is not from this list"))?;
    let page = state.webhooks.list(&who, q.limit()?, cursor.as_deref()).await?;
    let next = page.next_cursor.and_then(|c| WebhookId::parse(&c).ok()).map(|w| w.with_prefix(PREFIX));
    Ok(list_response(page.items.iter().map(EndpointOut::from).collect(), next))
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}`.
pub(super) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    Ok(ApiResponse::ok(EndpointOut::from(&find(&state, &who, &endpoint_id).await?)))
}

/// `PUT /app/{app_id}/endpoint/{endpoint_id}`: replaces every field but the secret; an
/// endpoint that does not exist is created (201), with the path as its uid.
pub(super) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let (app, who) = application(&state, &caller, Scope::WebhooksWrite, &app_id).await?;
    match find(&state, &who, &endpoint_id).await {
        Ok(wh) => change(&state, &who, &wh, body.json()?, true).await,
        Err(ApiError::NotFound(_)) if WebhookId::parse_with_prefix(&endpoint_id, PREFIX).is_err() => {
            let mut input: EndpointIn = body.json()?;
            if input.uid.is_none() {
                input.uid = Some(Some(endpoint_id));
            }
            create_in(&state, &app, &who, input).await
        }
        Err(e) => Err(e),
    }
}

/// `PATCH /app/{app_id}/endpoint/{endpoint_id}`: the fields given.
pub(super) async fn patch(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    change(&state, &who, &wh, body.json_or_default()?, false).await
}

/// Applies `input` to the endpoint; `replace` (a PUT) resets what it leaves out to
/// Svix's defaults.
async fn change(
    state: &ApiState,
    who: &Principal,
    wh: &Webhook,
    mut input: EndpointIn,
    replace: bool,
) -> Result<ApiResponse, ApiError> {
    if replace && input.url.is_none() {
        return Err(ApiError::validation("url", "is required"));
    }
    let types = input.types();
    if let Some(t) = &types {
        check_types(state, who, t).await?;
    }
    let changes = WebhookChanges {
        url: input.url.take(),
        events: match types {
            Some(t) => Some(events_of(t)),
            None if replace => Some(events_of(None)),
            None => None,
        },
        description: match input.description.take() {
            Some(d) => Some((!d.is_empty()).then_some(d)),
            None if replace => Some(None),
            None => None,
        },
        enabled: input.disabled.map(|d| !d).or(replace.then_some(true)),
        metadata: input.metadata.take().or(replace.then(BTreeMap::new)),
        rate_limit: input.rate_limit().or(replace.then_some(None)),
        headers: input.headers.take(),
        channels: input.channels.take().or(replace.then_some(None)),
        uid: input.uid.take().or(replace.then_some(None)),
        ..Default::default()
    };
    let (updated, _) = state.webhooks.update(who, &wh.id, changes).await?;
    Ok(ApiResponse::ok(EndpointOut::from(&updated)))
}

/// `DELETE /app/{app_id}/endpoint/{endpoint_id}` (204).
pub(super) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    state.webhooks.delete(&who, &wh.id).await?;
    Ok(no_content())
}

/// `GET …/secret`: `{"key": "whsec_…"}` (where the deployment allows reading secrets).
pub(super) async fn secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    Ok(ApiResponse::ok(serde_json::json!({ "key": state.webhooks.secret(&who, &wh.id).await? })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RotateIn {
    key: Option<String>,
}

/// `POST …/secret/rotate`: `{"key"}`, the new secret; the old one keeps signing through
/// the overlap.
pub(super) async fn rotate_secret(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    let input: RotateIn = body.json_or_default()?;
    let (_, key) = state.webhooks.rotate_secret(&who, &wh.id, input.key.map(secret_of)).await?;
    // Svix's newer SDKs read the new secret from the answer; older ones ignore it.
    Ok(ApiResponse::ok(serde_json::json!({ "key": key })))
}

/// `GET …/headers`: `{"headers", "sensitive"}`, the values in full (often credentials,
/// so the write scope is needed, as on `/v1`).
pub(super) async fn headers(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    let headers = state.webhooks.headers(&who, &wh.id).await?;
    Ok(ApiResponse::ok(serde_json::json!({ "headers": headers, "sensitive": [] })))
}

#[derive(Debug, Deserialize)]
pub(super) struct HeadersIn {
    headers: BTreeMap<String, Option<String>>,
}

/// `PUT …/headers` (204): replaces them all.
pub(super) async fn set_headers(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    change_headers(state, caller, app_id, endpoint_id, body, true).await
}

/// `PATCH …/headers` (204): sets those given, removes those given as `null`.
pub(super) async fn patch_headers(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    change_headers(state, caller, app_id, endpoint_id, body, false).await
}

async fn change_headers(
    state: ApiState,
    caller: Caller,
    app_id: String,
    endpoint_id: String,
    body: RawBody,
    replace: bool,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    let input: HeadersIn = body.json()?;
    let mut headers = if replace { BTreeMap::new() } else { state.webhooks.headers(&who, &wh.id).await? };
    for (name, value) in input.headers {
        // Header names are case-insensitive: a change replaces any spelling of the name.
        headers.retain(|k, _| !k.eq_ignore_ascii_case(&name));
        if let Some(v) = value {
            headers.insert(name, v);
        }
    }
    let changes = WebhookChanges { headers: Some(Some(headers)), ..Default::default() };
    state.webhooks.update(&who, &wh.id, changes).await?;
    Ok(no_content())
}

#[derive(Debug, Deserialize)]
pub(super) struct RecoverIn {
    since: String,
    until: Option<String>,
}

/// `POST …/recover` (202): sends again every failed message since a time.
pub(super) async fn recover(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    let input: RecoverIn = body.json()?;
    let parse = |field: &str, v: &str| {
        hookd_core::time_fmt::parse(v).map_err(|_| ApiError::validation(field, "must be an RFC 3339 time"))
    };
    let since = parse("since", &input.since)?;
    let until = match &input.until {
        Some(u) => parse("until", u)?,
        None => hookd_core::time_fmt::now() + std::time::Duration::from_secs(1),
    };
    let n = state.deliveries.replay(&who, &wh.id, since, until, true).await?;
    tracing::info!(webhook_id = %wh.id, queued = n, "svix recover");
    let now = time(hookd_core::time_fmt::now());
    Ok(ApiResponse::new(
        StatusCode::ACCEPTED,
        serde_json::json!({
            "id": format!("qtask_{}", uuid::Uuid::now_v7().simple()),
            "status": "finished",
            "task": "endpoint.recover",
            "updatedAt": now,
        }),
    ))
}

/// `GET …/stats`: the states of the endpoint's newest 10,000 deliveries, read from its
/// delivery log in pages (a bounded cost, however long the history).
pub(super) async fn stats(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksRead, &app_id, &endpoint_id).await?;
    let mut counts: BTreeMap<&'static str, u64> =
        ["success", "pending", "sending", "fail", "canceled"].into_iter().map(|k| (k, 0)).collect();
    let mut cursor = None;
    for _ in 0..STATS_PAGES {
        let page = state.deliveries.list(&who, &wh.id, DeliveryFilter::default(), 1000, cursor.as_deref()).await?;
        for d in &page.items {
            let key = match d.status {
                DeliveryStatus::Succeeded => "success",
                DeliveryStatus::Pending | DeliveryStatus::Held => "pending",
                DeliveryStatus::InFlight => "sending",
                DeliveryStatus::Failed => "fail",
                DeliveryStatus::Cancelled => "canceled",
            };
            *counts.entry(key).or_default() += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(ApiResponse::ok(counts))
}

/// Pages of 1,000 deliveries `stats` reads at most.
const STATS_PAGES: usize = 10;
