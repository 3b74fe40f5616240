//! The Svix-compatible API, under `{path_prefix}/api/v1` when `[compat.svix]` is on: the
//! routes, bodies, lists and errors of Svix's API, so Svix's own SDKs work against hookd
//! unchanged (docs/svix.md lists each route).
//!
//! Like partner v2 it is an adapter: every request becomes calls to the services that
//! serve `/v1`, so validation, owner scoping and the webhooks themselves are shared.
//!
//! | Svix | hookd |
//! |---|---|
//! | environment | workspace (the bearer is any key or product token of it) |
//! | application `app_…` | an owner, with a record (name, uid, metadata, rate limit) |
//! | endpoint `ep_…` | a webhook of that owner (`wh_…`), speaking Svix's protocol |
//! | message `msg_…` | an event published for that owner (`evt_…`) |
//! | message attempt `atmpt_…` | an attempt of a delivery |
//!
//! Ids keep hookd's time-ordered UUIDs behind Svix's prefixes; wherever Svix accepts an
//! id, the object's `uid` works too (applications, endpoints).

mod apps;
mod endpoints;
mod event_types;
mod messages;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use hookd_core::domain::Scope;
use hookd_core::service::{Application, Principal};
use serde::{Deserialize, Serialize};

use crate::envelope::{ApiResponse, ErrorObject, Payload};
use crate::error::ApiError;
use crate::extract::Caller;
use crate::{middleware, ApiState};

/// The default and largest page of a list.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;

/// The surface's router; nest it at `{path_prefix}/api/v1`.
pub(crate) fn router(state: ApiState) -> Router<ApiState> {
    Router::new()
        .route("/app", get(apps::list).post(apps::create))
        .route("/app/{app_id}", get(apps::get).put(apps::update).patch(apps::patch).delete(apps::delete))
        .route("/app/{app_id}/endpoint", get(endpoints::list).post(endpoints::create))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(endpoints::get).put(endpoints::update).patch(endpoints::patch).delete(endpoints::delete),
        )
        .route("/app/{app_id}/endpoint/{endpoint_id}/secret", get(endpoints::secret))
        .route("/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", post(endpoints::rotate_secret))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(endpoints::headers).put(endpoints::set_headers).patch(endpoints::patch_headers),
        )
        .route("/app/{app_id}/endpoint/{endpoint_id}/recover", post(endpoints::recover))
        .route("/app/{app_id}/endpoint/{endpoint_id}/stats", get(endpoints::stats))
        .route("/app/{app_id}/endpoint/{endpoint_id}/msg", get(messages::list_attempted_messages))
        .route("/app/{app_id}/msg", get(messages::list).post(messages::create))
        .route("/app/{app_id}/msg/{msg_id}", get(messages::get))
        .route("/app/{app_id}/msg/{msg_id}/endpoint", get(messages::list_attempted_destinations))
        .route("/app/{app_id}/attempt/msg/{msg_id}", get(messages::attempts_by_message))
        .route("/app/{app_id}/attempt/endpoint/{endpoint_id}", get(messages::attempts_by_endpoint))
        .route("/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", get(messages::attempt))
        .route("/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", post(messages::resend))
        .route("/event-type", get(event_types::list).post(event_types::create))
        .route(
            "/event-type/{name}",
            get(event_types::get).put(event_types::update).patch(event_types::patch).delete(event_types::delete),
        )
        .fallback(not_served)
        .method_not_allowed_fallback(not_served)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::idempotency))
        .layer(axum::middleware::from_fn_with_state((state, Arc::new(scopes())), middleware::authenticate))
        .route("/health", get(health).head(health))
        .layer(axum::middleware::from_fn(render))
}

/// Reading needs `webhooks:read`, sending a message `events:write`, every other change
/// `webhooks:write`.
fn scopes() -> middleware::ScopeTable {
    let read = [
        "/app",
        "/app/{app_id}",
        "/app/{app_id}/endpoint",
        "/app/{app_id}/endpoint/{endpoint_id}",
        "/app/{app_id}/endpoint/{endpoint_id}/stats",
        "/app/{app_id}/endpoint/{endpoint_id}/msg",
        "/app/{app_id}/msg",
        "/app/{app_id}/msg/{msg_id}",
        "/app/{app_id}/msg/{msg_id}/endpoint",
        "/app/{app_id}/attempt/msg/{msg_id}",
        "/app/{app_id}/attempt/endpoint/{endpoint_id}",
        "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
        "/event-type",
        "/event-type/{name}",
    ];
    let mut t = middleware::ScopeTable::default();
    for p in read {
        t = t.with(Method::GET, p, Scope::WebhooksRead);
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            t = t.with(m, p, Scope::WebhooksWrite);
        }
    }
    t.with(Method::POST, "/app/{app_id}/msg", Scope::EventsWrite)
        // The secret and the headers' values are credentials: reading them takes the
        // write scope, as on /v1.
        .with(Method::GET, "/app/{app_id}/endpoint/{endpoint_id}/secret", Scope::WebhooksWrite)
        .with(Method::GET, "/app/{app_id}/endpoint/{endpoint_id}/headers", Scope::WebhooksWrite)
        .with(Method::PUT, "/app/{app_id}/endpoint/{endpoint_id}/headers", Scope::WebhooksWrite)
        .with(Method::PATCH, "/app/{app_id}/endpoint/{endpoint_id}/headers", Scope::WebhooksWrite)
        .with(Method::POST, "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", Scope::WebhooksWrite)
        .with(Method::POST, "/app/{app_id}/endpoint/{endpoint_id}/recover", Scope::WebhooksWrite)
        .with(Method::POST, "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", Scope::WebhooksWrite)
}

/// `GET /api/v1/health`: 204 while hookd serves (no key needed).
async fn health() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Any other path under `/api/v1`: Svix routes hookd does not serve (its hosted-only
/// features among them) answer 404 with Svix's error shape and a pointer to the list.
async fn not_served(req: Request) -> ApiError {
    tracing::debug!(path = %req.uri().path(), method = %req.method(), "a Svix route hookd does not serve");
    ApiError::RouteNotFound
}

/// Renders bodies in Svix's shapes: the object itself (204 without a body), or
/// `{"code", "detail"}`, and for a validation failure (422) `{"detail": [{"loc", "msg",
/// "type"}]}` naming each field as Svix does.
async fn render(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if res.status() == StatusCode::NO_CONTENT {
        res.extensions_mut().remove::<Payload>();
        return res;
    }
    let body = match res.extensions_mut().remove::<Payload>() {
        Some(Payload::Data { data, .. }) => data,
        Some(Payload::Error(error)) => error_body(res.status(), error),
        None => return res,
    };
    crate::envelope::set_json_body(&mut res, &body);
    res
}

fn error_body(status: StatusCode, e: ErrorObject) -> serde_json::Value {
    if status == StatusCode::UNPROCESSABLE_ENTITY && !e.details.is_empty() {
        let detail: Vec<serde_json::Value> = e
            .details
            .iter()
            .map(|d| serde_json::json!({"loc": location(&d.field), "msg": d.message, "type": "value_error"}))
            .collect();
        return serde_json::json!({ "detail": detail });
    }
    let code = match e.code.as_str() {
        "unauthorized" => "authentication_failed",
        "insufficient_scope" => "insufficient_access",
        "route_not_found" => "not_found",
        other => other,
    };
    let detail = match e.code.as_str() {
        "route_not_found" => {
            "hookd does not serve this Svix route (docs/svix.md lists the routes it serves, and the hosted-only \
             ones it leaves out)"
                .to_owned()
        }
        _ => e.message,
    };
    serde_json::json!({ "code": code, "detail": detail })
}

/// A field as Svix's `loc`: `["body", "filterTypes", 2]` for hookd's `events[2]`, with
/// hookd's names for Svix's fields put back.
fn location(field: &str) -> Vec<serde_json::Value> {
    let mut loc = vec![serde_json::json!(if field.starts_with("query.") { "query" } else { "body" })];
    let field = field.strip_prefix("query.").unwrap_or(field);
    for part in field.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let name = match name {
            "events" => "filterTypes",
            "rate_limit" => "rateLimit",
            "enabled" => "disabled",
            "event" => "eventType",
            "data" => "payload",
            "id" => "eventId",
            n => n,
        };
        if !name.is_empty() || indexes.is_empty() {
            loc.push(serde_json::json!(name));
        }
        for i in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            loc.push(i.parse::<u64>().map_or_else(|_| serde_json::json!(i), |n| serde_json::json!(n)));
        }
    }
    loc
}

/// `limit`, `iterator` and `order`, as every list takes them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
    order: Option<String>,
}

impl ListQuery {
    fn limit(&self) -> Result<u32, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::validation("query.limit", format!("must be 1 to {MAX_LIMIT}"))),
        }
    }

    /// Whether the list runs newest first; `default` when `order` is left out.
    fn descending(&self, default: bool) -> Result<bool, ApiError> {
        match self.order.as_deref() {
            None => Ok(default),
            Some("ascending") => Ok(false),
            Some("descending") => Ok(true),
            Some(_) => Err(ApiError::validation("query.order", "must be ascending or descending")),
        }
    }
}

/// A list page as Svix returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ListResponse<T> {
    data: Vec<T>,
    iterator: Option<String>,
    prev_iterator: Option<String>,
    done: bool,
}

fn list_response<T: Serialize>(data: Vec<T>, next: Option<String>) -> ApiResponse {
    ApiResponse::ok(ListResponse { data, done: next.is_none(), iterator: next, prev_iterator: None })
}

/// The application `app_id` names (its id or uid), and the caller, who must have
/// `scope`, acting for it.
async fn application(
    state: &ApiState,
    caller: &Caller,
    scope: Scope,
    app_id: &str,
) -> Result<(Application, Principal), ApiError> {
    caller.require(scope)?;
    let app = state.applications.get(&caller.0, app_id).await?;
    let who = caller.0.for_owner(&app.id).ok_or(hookd_core::service::ServiceError::NotFound { what: "application" })?;
    Ok((app, who))
}

/// The caller (with `scope`) acting for the application `app_id` names, and the
/// endpoint `endpoint_id` names among its webhooks.
async fn endpoint(
    state: &ApiState,
    caller: &Caller,
    scope: Scope,
    app_id: &str,
    endpoint_id: &str,
) -> Result<(Principal, hookd_core::domain::Webhook), ApiError> {
    let (_, who) = application(state, caller, scope, app_id).await?;
    let wh = endpoints::find(state, &who, endpoint_id).await?;
    Ok((who, wh))
}

/// `204 No Content`.
fn no_content() -> ApiResponse {
    ApiResponse::new(StatusCode::NO_CONTENT, serde_json::Value::Null)
}

/// Svix's times: RFC 3339 in UTC.
fn time(t: time::OffsetDateTime) -> String {
    hookd_core::time_fmt::format(t)
}
