//! hookd-api: the HTTP API, as an axum [`Router`] over the core services.
//!
//! # Layout
//!
//! - [`envelope`]: the `{"data", "meta"}` envelope and the outermost middleware that
//!   renders it, with request ids and rate-limit headers.
//! - [`error`]: [`ApiError`], one status and one stable code per failure.
//! - [`extract`]: extractors with field-precise errors, and the authenticated [`extract::Caller`].
//! - [`middleware`]: authentication with rate limiting, and `Idempotency-Key`.
//! - [`dto`]: request and response bodies.
//! - [`routes`]: the handlers.
//! - [`partner_v2`]: the optional partner-v2 `webhook_subscriptions` surface.
//! - [`svix`]: the optional Svix-compatible API under `/api/v1`.
//!
//! Request flow: `finalize` → (on `/v1`) `authenticate` → `idempotency` → handler →
//! one service call.

pub mod dto;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod partner_v2;
pub mod routes;
pub mod svix;

use std::sync::Arc;

use axum::http::Method;
use axum::Router;
use hookd_core::domain::Scope;
use hookd_core::service::{
    AdminService, ApplicationService, AuthService, DeliveryService, ErasureService, EventService, IdempotencyService,
    WebService, WebhookService,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use hookd_core::service::{RateLimiter, SharedRateLimiter, WindowRateLimiter};
pub use partner_v2::PartnerV2Options;

/// Largest request body accepted: 1 MiB.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What the handlers need, shared: axum clones the state for every middleware and
/// handler of every request, so it is one `Arc`.
#[derive(Clone)]
pub struct ApiState(Arc<Services>);

impl ApiState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for ApiState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services, and the rate limiter.
pub struct Services {
    pub admin: AdminService,
    /// Svix applications and event types.
    pub applications: ApplicationService,
    pub auth: AuthService,
    pub webhooks: WebhookService,
    pub events: EventService,
    pub deliveries: DeliveryService,
    pub erasure: ErasureService,
    pub idempotency: IdempotencyService,
    /// Portal links and the dashboard's sessions.
    pub web: WebService,
    /// Where users reach hookd (`public_url`): portal links start with it.
    pub public_url: Option<String>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    /// Renders `/metrics` (Prometheus text).
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookd",
        description = "Self-hosted webhook delivery. Every response is JSON in an envelope: \
            `{\"data\": …, \"meta\": {\"request_id\", \"rate_limit\"}}`, or `{\"error\": {\"code\", \"message\", \"details\"}, \"meta\": …}`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "webhooks", description = "Endpoint subscriptions"),
        (name = "event types", description = "The catalog"),
        (name = "events", description = "Publishing, and erasing events' payloads"),
        (name = "deliveries", description = "The delivery log, retries, replays and test pings"),
        (name = "portal", description = "One-time links into the customer portal"),
        (name = "workspaces", description = "The admin API: the product's customers and their keys (scope `admin`)"),
        (name = "operations", description = "Probes and the API description"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer hk_live_<8 hex>.<secret>`"))
                    .build(),
            ),
        );
    }
}

/// The `/v1` routes, which the auth and idempotency middleware guard.
fn v1_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(routes::webhooks::create, routes::webhooks::list))
        .routes(routes!(routes::webhooks::get, routes::webhooks::update, routes::webhooks::delete))
        .routes(routes!(routes::webhooks::secret))
        .routes(routes!(routes::webhooks::headers))
        .routes(routes!(routes::webhooks::stats))
        .routes(routes!(routes::webhooks::rotate_secret))
        .routes(routes!(routes::event_types::list))
        .routes(routes!(routes::events::publish))
        .routes(routes!(routes::events::publish_batch))
        .routes(routes!(routes::events::get))
        .routes(routes!(routes::erasure::erase_payload))
        .routes(routes!(routes::erasure::start))
        .routes(routes!(routes::erasure::get))
        .routes(routes!(routes::deliveries::list))
        .routes(routes!(routes::deliveries::get))
        .routes(routes!(routes::deliveries::retry))
        .routes(routes!(routes::deliveries::replay))
        .routes(routes!(routes::deliveries::test))
        .routes(routes!(routes::workspaces::create, routes::workspaces::list))
        .routes(routes!(routes::workspaces::get, routes::workspaces::update, routes::workspaces::delete))
        .routes(routes!(routes::workspaces::create_key, routes::workspaces::list_keys))
        .routes(routes!(routes::workspaces::revoke_key))
        .routes(routes!(routes::portal::create))
}

/// Routes without authentication.
fn open_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(routes::health::healthz))
        .routes(routes!(routes::health::readyz))
        .routes(routes!(routes::health::metrics))
}

/// The OpenAPI document, built from the same route lists as the router, so a route
/// cannot exist without being documented.
pub fn openapi() -> serde_json::Value {
    openapi_with(false, DEFAULT_SIGNATURE_HEADER)
}

/// The body-signature header of a deployment that does not name its own.
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-hookd-signature";

/// The OpenAPI document of a deployment: `allow_http` lets webhook URLs be `http://`;
/// custom headers may not name `signature_header`.
pub fn openapi_with(allow_http: bool, signature_header: &str) -> serde_json::Value {
    let (_, mut doc) =
        OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(v1_routes()).merge(open_routes()).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.paths.paths.insert(
        "/openapi.json".to_owned(),
        utoipa::openapi::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("operations")
                .summary(Some("This document"))
                .response("200", utoipa::openapi::Response::new("The OpenAPI 3.1 document")),
        ),
    );
    complete_responses(doc, &dto::schema_bounds(allow_http, signature_header))
}

/// Adds to every operation the answers that come from the layers around its handler,
/// so that the document lists every status a route can answer, with the same bounds the
/// server enforces:
///
/// - authenticated routes: 401 (no or bad key), 429 (rate limit, with `Retry-After`),
///   503 (the database is unavailable or refuses writes, with `Retry-After`), and 403
///   where a scope is needed;
/// - routes with a body: 400 (not JSON, or trailing characters), 413, 422;
/// - routes with query parameters: 422; routes with an `{id}`: 404;
/// - every `/v1` POST: the `Idempotency-Key` header (1–255 visible ASCII characters),
///   400 for a malformed one, 409 while the first request runs, 422 when reused with a
///   different body.
fn complete_responses(doc: utoipa::openapi::OpenApi, bounds: &[(&str, &str, serde_json::Value)]) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut v = serde_json::to_value(&doc).expect("the OpenAPI document serialises");
    let merge = |target: &mut Value, fragment: &Value| {
        if let (Some(t), Some(f)) = (target.as_object_mut(), fragment.as_object()) {
            for (k, val) in f {
                t.insert(k.clone(), val.clone());
            }
        }
    };
    for (schema, property, fragment) in bounds {
        if let Some(name) = schema.strip_prefix("component:") {
            v["components"]["schemas"][name] = fragment.clone();
            continue;
        }
        match schema.strip_prefix("param:") {
            Some(name) => {
                for item in v["paths"].as_object_mut().expect("paths").values_mut() {
                    for op in item.as_object_mut().expect("a path item").values_mut() {
                        let params = op.get_mut("parameters").and_then(Value::as_array_mut);
                        for p in params.into_iter().flatten() {
                            if p["name"] == *name {
                                merge(&mut p["schema"], fragment);
                            }
                        }
                    }
                }
            }
            None if property.is_empty() => {
                let target = &mut v["components"]["schemas"][*schema];
                assert!(target.is_object(), "no schema {schema} in the document");
                merge(target, fragment);
            }
            None => {
                let target = &mut v["components"]["schemas"][*schema]["properties"][*property];
                assert!(target.is_object(), "no property {schema}.{property} in the document");
                merge(target, fragment);
            }
        }
    }
    let error = |description: &str| {
        json!({"description": description,
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}})
    };
    let retry_after = json!({"Retry-After": {"description": "Seconds to wait before retrying",
                                             "required": true, "schema": {"type": "integer", "minimum": 1}}});
    let idempotency_key = json!({
        "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "Makes the POST safe to retry: the first successful response is stored for 24 h and \
            replayed for a retry with the same key and body.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
    });
    let paths = v["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for (method, op) in item.as_object_mut().expect("a path item").iter_mut() {
            let Some(op) = op.as_object_mut() else { continue };
            let secured = op.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty());
            let scoped = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().any(|r| r["api_key"].as_array().is_some_and(|a| !a.is_empty())));
            let has_body = op.contains_key("requestBody");
            let post = method == "post" && path.starts_with("/v1/");
            if post {
                let params = op.entry("parameters").or_insert_with(|| json!([]));
                let list = params.as_array_mut().expect("parameters");
                list.retain(|p| p["name"] != "Idempotency-Key");
                list.push(idempotency_key.clone());
            }
            let params = op.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
            let has_query = params.iter().any(|p| p["in"] == "query");
            let has_id = path.contains('{');
            let responses = op.entry("responses").or_insert_with(|| json!({})).as_object_mut().expect("responses");
            let mut add = |status: &str, description: &str| {
                responses.entry(status.to_owned()).or_insert_with(|| error(description));
            };
            if secured {
                add("401", "No API key, or one that is malformed, unknown or revoked");
                add("429", "Rate limit exceeded; retry after `Retry-After` seconds");
                add(
                    "503",
                    "The database is unavailable (`service_unavailable`) or refuses writes: a full disk, a \
                     read-only file, an I/O error (`storage_unavailable`); nothing was changed; retry after \
                     `Retry-After` seconds",
                );
            }
            if scoped {
                add("403", "The API key lacks the scope this route needs");
            }
            if has_body || post {
                add("400", "The body is not JSON, or has something after its JSON value");
                add("413", "The body is too large");
                add("422", "Validation failed; `error.details` names each field and its rule");
            }
            if post {
                add("409", "A request with this Idempotency-Key is still being processed");
            }
            if has_query {
                add("422", "A query parameter is invalid; `error.details` names it");
            }
            if has_id {
                add("404", "Not found, or not visible to this API key");
            }
            for (status, r) in responses.iter_mut() {
                if status == "429" || status == "503" {
                    r.as_object_mut().expect("a response").insert("headers".into(), retry_after.clone());
                }
            }
        }
    }
    v
}

/// How the application is mounted.
#[derive(Debug, Clone, Default)]
pub struct RouterOptions {
    /// `/api` mounts the `/v1` routes and `/openapi.json` below `/api`; empty for none.
    pub path_prefix: String,
    /// The partner-v2 surface, when enabled.
    pub partner_v2: Option<PartnerV2Options>,
    /// Also serve `{path_prefix}/developer/webhooks/{id}/secret` (GET) and
    /// `{path_prefix}/developer/webhooks/{id}/test` (POST), the paths of the first seed's
    /// integration guide, as aliases of the `/v1` routes with the same authentication.
    pub developer_aliases: bool,
    /// The Svix-compatible API under `{path_prefix}/api/v1`.
    pub svix: bool,
    /// Webhook URLs may be plain `http://`: the served document says so.
    pub allow_http: bool,
    /// The body-signature header, which custom headers may not name (empty: the
    /// default, [`DEFAULT_SIGNATURE_HEADER`]).
    pub signature_header: String,
}

/// The whole HTTP application.
///
/// `path_prefix` (`/api`) mounts the `/v1` routes and `/openapi.json` below a prefix, so
/// a product whose documented URLs are `https://host/api/v1/…` keeps them; the probes
/// and `/metrics` stay at the root, where infrastructure looks for them.
pub fn router(state: ApiState, options: &RouterOptions) -> Router {
    let path_prefix = options.path_prefix.as_str();
    let signature_header = match options.signature_header.as_str() {
        "" => DEFAULT_SIGNATURE_HEADER,
        h => h,
    };
    let mut doc = openapi_with(options.allow_http, signature_header);
    if !path_prefix.is_empty() {
        doc["servers"] = serde_json::json!([{"url": path_prefix}]);
    }
    let doc_json = Arc::new(doc.to_string());
    let scopes = Arc::new(
        middleware::ScopeTable::from_openapi(&doc, path_prefix)
            .with(Method::GET, "/developer/webhooks/{id}/secret", Scope::WebhooksWrite)
            .with(Method::POST, "/developer/webhooks/{id}/test", Scope::WebhooksWrite),
    );
    let (v1, _) = v1_routes()
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::idempotency))
        .layer(axum::middleware::from_fn_with_state((state.clone(), scopes.clone()), middleware::authenticate))
        .split_for_parts();
    let v1 = v1.route(
        "/openapi.json",
        axum::routing::get(move || {
            let body = doc_json.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body.as_ref().clone()) }
        }),
    );
    let v1 = if options.developer_aliases {
        let aliases = Router::new()
            .route("/developer/webhooks/{id}/secret", axum::routing::get(routes::webhooks::secret))
            .route("/developer/webhooks/{id}/test", axum::routing::post(routes::deliveries::test))
            .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::idempotency))
            .layer(axum::middleware::from_fn_with_state((state.clone(), scopes), middleware::authenticate));
        v1.merge(aliases)
    } else {
        v1
    };
    let (probes, _) = open_routes().split_for_parts();
    let mut api = if path_prefix.is_empty() { v1 } else { Router::new().nest(path_prefix, v1) };
    if let Some(partner) = &options.partner_v2 {
        api = api.nest(&partner.path_prefix, partner_v2::router(state.clone(), partner));
    }
    if options.svix {
        api = api.nest(&format!("{path_prefix}/api/v1"), svix::router(state.clone()));
    }
    outermost(
        api.merge(probes)
            .with_state(state)
            .fallback(|| async { ApiError::RouteNotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed }),
    )
}

/// The layers around every route: a handler that panics answers 500 with the error
/// envelope (and the panic is logged) instead of dropping the connection; every
/// response gets its request id, envelope and log line.
fn outermost(router: Router) -> Router {
    router
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a handler panicked".into());
            axum::response::IntoResponse::into_response(ApiError::Internal(message.into()))
        }))
        .layer(axum::middleware::from_fn(envelope::finalize))
}

/// The HTTP application of a node that only delivers (`--role worker`): the probes and
/// `/metrics`, for the load balancer and monitoring; every other path is 404.
pub fn ops_router(state: ApiState) -> Router {
    let (probes, _) = open_routes().split_for_parts();
    outermost(
        probes
            .with_state(state)
            .fallback(|| async { ApiError::RouteNotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed }),
    )
}

#[cfg(test)]
mod panic_tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_envelope() {
        let app = super::outermost(axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("boom");
                }
            }),
        ));
        let res = app.oneshot(Request::get("/boom").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), 500);
        assert!(res.headers().contains_key("x-request-id"));
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal_error", "{v}");
        assert!(!v.to_string().contains("boom"), "the panic's message stays in the log: {v}");
    }
}
