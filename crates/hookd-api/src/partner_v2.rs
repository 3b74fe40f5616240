//! The partner-v2 surface: `webhook_subscriptions` with integer ids, a token header and
//! un-enveloped bodies, as documented by the second seed product. Mounted only when the
//! deployment enables it.
//!
//! It is a thin adapter: every request becomes one call to the same [`WebhookService`]
//! that serves `/v1`, so validation, owner scoping, duplicate warnings and the webhooks
//! themselves are shared. A subscription's `id` is the webhook's `number`.
//!
//! | partner v2 | `/v1` webhook |
//! |---|---|
//! | `id` (integer) | `number` (not shown on `/v1`); `id` is the `wh_…` id |
//! | `webhook_url` | `url` |
//! | `active` | `enabled` |
//! | `secret` | the signing secret (write-only) |
//! | `version` | always 2 |
//!
//! [`WebhookService`]: hookd_core::service::WebhookService

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hookd_core::domain::{
    validate_signing_secret, DeliveryOrdering, FieldErrors, NewWebhook, Scope, Webhook, WebhookChanges,
};
use hookd_core::time_fmt;
use serde::{Deserialize, Serialize};

use crate::envelope::Payload;
use crate::error::ApiError;
use crate::extract::{Caller, RawBody};
use crate::{middleware, ApiState};

/// The only version this surface speaks.
pub const VERSION: i64 = 2;
/// Largest page read while listing every subscription.
const LIST_PAGE: u32 = 100;

/// Where the surface is mounted and how callers authenticate.
#[derive(Debug, Clone)]
pub struct PartnerV2Options {
    /// `/api/partner/v2`: the surface serves `{path_prefix}/webhook_subscriptions`.
    pub path_prefix: String,
    /// The header carrying the API key (`X-LINQ-INTEGRATION-TOKEN`).
    /// `Authorization: Bearer` is accepted as well.
    pub token_header: HeaderName,
}

impl Default for PartnerV2Options {
    fn default() -> Self {
        Self {
            path_prefix: "/api/partner/v2".into(),
            token_header: HeaderName::from_static("x-linq-integration-token"),
        }
    }
}

/// The surface's router, with its own authentication and body rendering; nest it at
/// the root of the application.
pub(crate) fn router(state: ApiState, options: &PartnerV2Options) -> Router<ApiState> {
    let header = options.token_header.clone();
    Router::new()
        .route("/webhook_subscriptions", get(list).post(create))
        .route("/webhook_subscriptions/{id}", get(show).put(replace).patch(update).delete(destroy))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::idempotency))
        .layer(axum::middleware::from_fn_with_state(
            (state, header, Arc::new(scopes(&options.path_prefix))),
            authenticate,
        ))
        .layer(axum::middleware::from_fn(render))
}

/// Reading a subscription needs `webhooks:read`; every change `webhooks:write`.
fn scopes(prefix: &str) -> middleware::ScopeTable {
    let (list, one) = ("/webhook_subscriptions", "/webhook_subscriptions/{id}");
    [
        (Method::GET, list, Scope::WebhooksRead),
        (Method::POST, list, Scope::WebhooksWrite),
        (Method::GET, one, Scope::WebhooksRead),
        (Method::PUT, one, Scope::WebhooksWrite),
        (Method::PATCH, one, Scope::WebhooksWrite),
        (Method::DELETE, one, Scope::WebhooksWrite),
    ]
    .into_iter()
    .fold(middleware::ScopeTable::default().under(prefix), |t, (m, p, s)| t.with(m, p, s))
}

/// The token from the configured header, else from `Authorization: Bearer`.
async fn authenticate(
    State((state, header, scopes)): State<(ApiState, HeaderName, Arc<middleware::ScopeTable>)>,
    req: Request,
    next: Next,
) -> Response {
    let token = match req.headers().get(&header) {
        Some(v) => match v.to_str() {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_owned()),
            _ => Err(ApiError::Unauthorized(format!("the {header} header must carry an API key"))),
        },
        None if req.headers().contains_key(header::AUTHORIZATION) => middleware::bearer_token(&req),
        None => Err(ApiError::Unauthorized(format!("missing API key: send it in the {header} header"))),
    };
    match token {
        Ok(t) => middleware::authenticated(&state, &scopes, &t, req, next).await,
        Err(e) => e.into_response(),
    }
}

/// Renders bodies in this surface's shape: the resource object itself, or
/// `{"error": {"code", "message", "details"}}`, with no `meta` (the request id and rate
/// limit are still in the headers).
async fn render(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let body = match res.extensions_mut().remove::<Payload>() {
        Some(Payload::Data { mut data, warnings, .. }) => {
            if let (false, Some(obj)) = (warnings.is_empty(), data.as_object_mut()) {
                obj.insert("warnings".into(), serde_json::json!(warnings));
            }
            data
        }
        Some(Payload::Error(error)) => serde_json::json!({ "error": error }),
        None => return res,
    };
    crate::envelope::set_json_body(&mut res, &body);
    res
}

/// A webhook as a partner-v2 subscription.
#[derive(Debug, Serialize)]
struct Subscription {
    id: i64,
    webhook_url: String,
    version: i64,
    events: Vec<String>,
    active: bool,
    /// Always true: every hookd webhook has a signing secret.
    secret_configured: bool,
    last_delivered_at: Option<String>,
    delivery_attempts: i64,
    /// Custom headers, their values masked.
    headers: std::collections::BTreeMap<String, String>,
    filter: Option<serde_json::Value>,
    /// `none` or `per_key` (docs/ordering.md).
    ordering: DeliveryOrdering,
    created_at: String,
    updated_at: String,
    /// On create only, when the caller did not supply `secret`: the secret hookd made,
    /// shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    signing_secret: Option<String>,
}

impl From<&Webhook> for Subscription {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.number,
            webhook_url: w.url.clone(),
            version: VERSION,
            events: w.events.clone(),
            active: w.enabled,
            secret_configured: true,
            last_delivered_at: w.last_delivered_at.map(time_fmt::format),
            delivery_attempts: w.delivery_attempts,
            headers: crate::dto::masked_headers(w),
            filter: w.filter.as_ref().map(|f| f.source().clone()),
            ordering: w.ordering,
            created_at: time_fmt::format(w.created_at),
            updated_at: time_fmt::format(w.updated_at),
            signing_secret: None,
        }
    }
}

#[derive(Debug, Serialize)]
struct One {
    webhook_subscription: Subscription,
}

#[derive(Debug, Serialize)]
struct Many {
    webhook_subscriptions: Vec<Subscription>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    webhook_subscription: Option<Fields>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    webhook_url: Option<String>,
    version: Option<i64>,
    secret: Option<String>,
    active: Option<bool>,
    events: Option<Vec<String>>,
    /// `null` removes them.
    #[serde(default, deserialize_with = "crate::dto::present")]
    headers: Option<Option<std::collections::BTreeMap<String, String>>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "crate::dto::present")]
    filter: Option<Option<serde_json::Value>>,
    ordering: Option<DeliveryOrdering>,
}

const ROOT: &str = "webhook_subscription";

/// Parses the body and checks what this surface adds to the shared rules: the wrapper
/// object, `version`, and (for create and PUT) the required fields.
fn fields(body: &RawBody, required: bool) -> Result<Fields, ApiError> {
    let parsed: Body = body.json()?;
    let Some(f) = parsed.webhook_subscription else {
        return Err(ApiError::validation(ROOT, "is required: send {\"webhook_subscription\": {…}}"));
    };
    let mut errs = FieldErrors::default();
    match f.version {
        Some(VERSION) => {}
        Some(v) => errs.push(format!("{ROOT}.version"), format!("must be {VERSION}, not {v} (this is the v2 API)")),
        None if required => errs.push(format!("{ROOT}.version"), "is required (send 2)"),
        None => {}
    }
    if required {
        if f.webhook_url.is_none() {
            errs.push(format!("{ROOT}.webhook_url"), "is required");
        }
        if f.events.is_none() {
            errs.push(format!("{ROOT}.events"), "is required");
        }
    }
    if let Some(s) = &f.secret {
        if let Err(m) = validate_signing_secret(s) {
            errs.push(format!("{ROOT}.secret"), m);
        }
    }
    errs.into_result().map_err(ApiError::Validation)?;
    Ok(f)
}

/// Names fields as this surface does (`url` is `webhook_subscription.webhook_url`).
fn in_partner_terms(e: impl Into<ApiError>) -> ApiError {
    match e.into() {
        ApiError::Validation(errs) => ApiError::Validation(FieldErrors(
            errs.0
                .into_iter()
                .map(|mut fe| {
                    let (head, rest) = fe.field.split_at(fe.field.find('[').unwrap_or(fe.field.len()));
                    let head = match head {
                        "url" => "webhook_url",
                        "enabled" => "active",
                        other => other,
                    };
                    fe.field = format!("{ROOT}.{head}{rest}");
                    fe
                })
                .collect(),
        )),
        ApiError::NotFound(_) => ApiError::NotFound("webhook subscription"),
        other => other,
    }
}

/// A subscription id from the path: a positive integer.
fn number(raw: &str) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::NotFound("webhook subscription")),
    }
}

fn respond(status: StatusCode, data: impl Serialize, warnings: Vec<String>) -> Response {
    crate::envelope::ApiResponse::new(status, data).with_warnings(warnings).into_response()
}

async fn create(State(state): State<ApiState>, caller: Caller, body: RawBody) -> Result<Response, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let f = fields(&body, true)?;
    let supplied_secret = f.secret.is_some();
    let req = NewWebhook {
        url: f.webhook_url,
        events: f.events,
        secret: f.secret,
        enabled: f.active,
        headers: f.headers.flatten(),
        filter: f.filter.flatten(),
        ordering: f.ordering,
        ..Default::default()
    };
    let created = state.webhooks.create(who, req).await.map_err(in_partner_terms)?;
    let mut sub = Subscription::from(&created.webhook);
    if !supplied_secret {
        sub.signing_secret = Some(created.signing_secret);
    }
    Ok(respond(StatusCode::CREATED, One { webhook_subscription: sub }, created.warnings))
}

async fn list(State(state): State<ApiState>, caller: Caller) -> Result<Response, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = state.webhooks.list(who, LIST_PAGE, cursor.as_deref()).await.map_err(in_partner_terms)?;
        all.extend(page.items.iter().map(Subscription::from));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    // Oldest first, in id order, as integer ids suggest.
    all.reverse();
    Ok(respond(StatusCode::OK, Many { webhook_subscriptions: all }, Vec::new()))
}

async fn show(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let wh = state.webhooks.get_by_number(who, number(&id)?).await.map_err(in_partner_terms)?;
    Ok(respond(StatusCode::OK, One { webhook_subscription: Subscription::from(&wh) }, Vec::new()))
}

/// PUT: `webhook_url`, `version` and `events` are required, as documented; `active`
/// and `secret` change only when sent.
async fn replace(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    change(state, caller, id, body, true).await
}

/// PATCH: every field optional.
async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<Response, ApiError> {
    change(state, caller, id, body, false).await
}

async fn change(state: ApiState, caller: Caller, id: String, body: RawBody, full: bool) -> Result<Response, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let n = number(&id)?;
    let f = fields(&body, full)?;
    let current = state.webhooks.get_by_number(who, n).await.map_err(in_partner_terms)?;
    let changes = WebhookChanges {
        url: f.webhook_url,
        events: f.events,
        enabled: f.active,
        headers: f.headers,
        filter: f.filter,
        ordering: f.ordering,
        ..Default::default()
    };
    // The secret was checked in `fields`, so once the settings are written the rotation
    // cannot be refused for bad input.
    let (mut wh, warnings) = state.webhooks.update(who, &current.id, changes).await.map_err(in_partner_terms)?;
    if let Some(secret) = f.secret {
        let (rotated, _) =
            state.webhooks.rotate_secret(who, &current.id, Some(secret)).await.map_err(in_partner_terms)?;
        wh = rotated;
    }
    Ok(respond(StatusCode::OK, One { webhook_subscription: Subscription::from(&wh) }, warnings))
}

async fn destroy(State(state): State<ApiState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let wh = state.webhooks.get_by_number(who, number(&id)?).await.map_err(in_partner_terms)?;
    state.webhooks.delete(who, &wh.id).await.map_err(in_partner_terms)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
