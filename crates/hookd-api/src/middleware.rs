//! Middleware of the `/v1` routes: authentication with rate limiting, the route's scope,
//! then `Idempotency-Key` handling for POSTs. The scope is checked before anything reads
//! the body, so a key without access gets its 403 whatever it sends.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hookd_core::domain::Scope;
use hookd_core::service::{Idempotency, IdempotencyService, Principal};
use hookd_core::store::StoredResponse;
use sha2::{Digest, Sha256};

use crate::envelope::{ApiResponse, Payload};
use crate::error::ApiError;
use crate::routes::events::BATCH_BODY_LIMIT;
use crate::ApiState;
use tracing::Instrument;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Authenticates the Bearer key, counts the request against the key's rate limit,
/// checks the route's scope (before anything reads the body), and makes the
/// [`Principal`] available to handlers.
pub async fn authenticate(
    State((state, scopes)): State<(ApiState, Arc<ScopeTable>)>,
    req: Request,
    next: Next,
) -> Response {
    match bearer_token(&req) {
        Ok(token) => authenticated(&state, &scopes, &token, req, next).await,
        Err(e) => e.into_response(),
    }
}

/// Authenticates `token`, counts the request against the key's rate limit, checks the
/// scope `scopes` gives the route, and runs the rest of the stack with the
/// [`Principal`] in the request's extensions.
pub(crate) async fn authenticated(
    state: &ApiState,
    scopes: &ScopeTable,
    token: &str,
    mut req: Request,
    next: Next,
) -> Response {
    let principal = match state.auth.authenticate(token).await {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let named = match req.headers().get(HOOKD_WORKSPACE).map(|v| v.to_str().map(|s| s.trim().to_owned())) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return ApiError::bad_request("Hookd-Workspace", "must be a workspace id or external id").into_response()
        }
    };
    let principal = match acting_in(state, principal, named.as_deref()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let decision = match state.rate_limiter.hit(principal.key_id()).await {
        Ok(d) => d,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let needed = req.extensions().get::<MatchedPath>().and_then(|p| scopes.needs(req.method(), p.as_str()));
    let mut res = if !decision.allowed {
        ApiError::RateLimited { retry_after: decision.retry_after }.into_response()
    } else if let Some(scope) = needed.filter(|s| !principal.allows(*s)) {
        ApiError::Forbidden(scope.as_str()).into_response()
    } else {
        req.extensions_mut().insert(principal);
        next.run(req).await
    };
    res.extensions_mut().insert(crate::envelope::RateLimitInfo::from(decision.info));
    res
}

/// The header by which an `admin` key acts in another workspace.
pub const HOOKD_WORKSPACE: HeaderName = HeaderName::from_static("hookd-workspace");

/// Applies `Hookd-Workspace`: an `admin` key then acts in the workspace it names (by id
/// or external id), with every scope there; an unknown workspace is a 404. Any other
/// key may name only its own workspace: another is a 403, whether it exists or not.
async fn acting_in(state: &ApiState, principal: Principal, named: Option<&str>) -> Result<Principal, ApiError> {
    let Some(raw) = named else { return Ok(principal) };
    let admin = principal.allows(Scope::Admin);
    let found = crate::routes::workspaces::acting_workspace(state, raw).await?;
    match found {
        Some(ws) if &ws == principal.home_workspace_id() => Ok(principal),
        Some(ws) if admin => Ok(principal.acting_in(ws)),
        None if admin => Err(hookd_core::service::ServiceError::NotFound { what: "workspace" }.into()),
        _ => Err(ApiError::Forbidden("admin")),
    }
}

/// The scope each route needs, by method and route template (`/v1/webhooks/{id}`).
#[derive(Debug, Default)]
pub struct ScopeTable {
    /// Removed from a matched path before looking it up (`/api` under `path_prefix`).
    prefix: String,
    /// Route template → the scope of each method.
    routes: HashMap<String, Vec<(Method, Scope)>>,
}

impl ScopeTable {
    /// Reads each operation's scope from the OpenAPI document's security requirements,
    /// so that what the document says and what the server enforces cannot drift apart.
    pub fn from_openapi(json: &serde_json::Value, prefix: &str) -> Self {
        let mut routes = HashMap::new();
        for (path, item) in json["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else { continue };
                let scope = op["security"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|req| req["api_key"].as_array())
                    .flatten()
                    .filter_map(|s| s.as_str()?.parse::<Scope>().ok())
                    .next();
                if let Some(scope) = scope {
                    routes.entry(path.clone()).or_insert_with(Vec::new).push((method, scope));
                }
            }
        }
        Self { prefix: prefix.to_owned(), routes }
    }

    /// Looks routes up below `prefix`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Adds a route the document does not list (an alias).
    pub fn with(mut self, method: Method, path: &str, scope: Scope) -> Self {
        self.routes.entry(path.to_owned()).or_default().push((method, scope));
        self
    }

    pub(crate) fn needs(&self, method: &Method, matched: &str) -> Option<Scope> {
        let path = matched.strip_prefix(self.prefix.as_str()).unwrap_or(matched);
        self.routes.get(path).and_then(|by_method| by_method.iter().find(|(m, _)| m == method)).map(|(_, s)| *s)
    }
}

pub(crate) fn bearer_token(req: &Request) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing API key: send `Authorization: Bearer <API key>`".into()))?;
    let value =
        value.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not valid ASCII".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim().to_owned()),
        _ => Err(ApiError::Unauthorized("the Authorization header must be `Bearer <API key>`".into())),
    }
}

/// Replays the stored response of a POST retried with the same `Idempotency-Key`.
///
/// The handler runs in its own task, so a client that hangs up mid-request cannot leave
/// the key claimed but never completed: the work finishes and its response is stored
/// for the retry. Only successful (2xx) responses are stored; after any other outcome
/// the claim is released, so a corrected retry with the same key runs afresh.
pub async fn idempotency(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str().map_err(|_| "must be visible ASCII characters".to_owned()).and_then(|k| {
        IdempotencyService::validate_key(k)?;
        Ok(k.to_owned())
    }) {
        Ok(k) => k,
        Err(m) => return ApiError::bad_request("Idempotency-Key", m).into_response(),
    };
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return ApiError::Unauthorized("missing API key".into()).into_response();
    };
    let (parts, body) = req.into_parts();
    // The largest body any POST route takes; each route applies its own limit after.
    let bytes = match axum::body::to_bytes(body, BATCH_BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge { limit: BATCH_BODY_LIMIT }.into_response(),
    };
    // The workspace acted in is part of the request: an admin key's Idempotency-Key in
    // one workspace must not replay its response in another.
    let target = format!("{} {}", principal.workspace_id(), parts.uri.path_and_query().map_or("", |p| p.as_str()));
    let hash = request_hash(&parts.method, &target, &bytes);
    let key_id = principal.key_id().clone();
    match state.idempotency.begin(&key_id, &key, &hash).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Idempotency::InFlight) => ApiError::IdempotencyInFlight.into_response(),
        Ok(Idempotency::Mismatch) => ApiError::IdempotencyMismatch.into_response(),
        Ok(Idempotency::Replay(stored)) => replay(stored),
        Ok(Idempotency::Proceed) => {
            let req = Request::from_parts(parts, Body::from(bytes));
            // In the request's span, so the handler's log lines carry its request id.
            let res = match tokio::spawn(next.run(req).instrument(tracing::Span::current())).await {
                Ok(res) => res,
                Err(e) => ApiError::Internal(Box::new(e)).into_response(),
            };
            let stored = match res.extensions().get::<Payload>() {
                Some(p) if res.status().is_success() => Some(StoredResponse {
                    status: res.status().as_u16(),
                    body: serde_json::to_string(p).expect("payloads serialise"),
                }),
                _ => None,
            };
            let outcome = match &stored {
                Some(s) => state.idempotency.complete(&key_id, &key, s).await,
                None => state.idempotency.abandon(&key_id, &key).await,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %hookd_core::error_chain(&e), "could not record the idempotency outcome");
            }
            res
        }
    }
}

fn request_hash(method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(method.as_str());
    h.update(b"\n");
    h.update(path);
    h.update(b"\n");
    h.update(body);
    h.finalize().to_vec()
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    match serde_json::from_str::<Payload>(&stored.body) {
        Ok(payload) => ApiResponse::from_payload(status, payload)
            .with_header(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))
            .into_response(),
        Err(e) => ApiError::Internal(Box::new(e)).into_response(),
    }
}
