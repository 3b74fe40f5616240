//! The response envelope (`{"data": …, "meta": {…}}` or `{"error": …, "meta": {…}}`) and
//! the outermost middleware that renders it.
//!
//! Handlers and errors do not serialise their bodies themselves: they leave a
//! [`Payload`] in the response's extensions, and [`finalize`] renders it once the whole
//! stack has run, when the request id and the caller's rate-limit state are known. That
//! gives every response, including rejections from extractors and the router's own
//! 404/405, the same envelope and headers without each handler threading them through.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use utoipa::ToSchema;

use crate::error::ApiError;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The request's id (`req_` and 16 hex digits), in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl RequestId {
    fn generate() -> Self {
        Self(format!("req_{:016x}", rand::thread_rng().gen::<u64>()))
    }
}

/// The caller's rate-limit state after this request, in response extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimitInfo {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// When the window resets, in Unix seconds.
    pub reset: u64,
}

impl From<hookd_core::service::RateLimitInfo> for RateLimitInfo {
    fn from(i: hookd_core::service::RateLimitInfo) -> Self {
        Self { limit: i.limit, remaining: i.remaining, reset: i.reset }
    }
}

/// A response body waiting to be rendered with its meta.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Data {
        data: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_cursor: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    Error(ErrorObject),
}

/// The error object of the envelope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorObject {
    /// Stable, snake_case; safe to match on.
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// One entry per field at fault.
    pub details: Vec<ErrorDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub field: String,
    pub message: String,
}

/// `meta` as documented in the OpenAPI schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    /// Also in the `X-Request-Id` header; quote it when asking for help.
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitInfo>,
    /// Present on lists when another page exists: pass it as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Things worth knowing about a request that succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// `{"data": T, "meta": …}`, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
    pub meta: Meta,
}

/// `{"error": …, "meta": …}`, for the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
    pub meta: Meta,
}

/// A successful response from a handler.
pub struct ApiResponse {
    status: StatusCode,
    payload: Payload,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiResponse {
    pub fn new(status: StatusCode, data: impl Serialize) -> Self {
        let data = serde_json::to_value(data).expect("response DTOs serialise");
        Self { status, payload: Payload::Data { data, next_cursor: None, warnings: Vec::new() }, headers: Vec::new() }
    }

    pub fn ok(data: impl Serialize) -> Self {
        Self::new(StatusCode::OK, data)
    }

    pub fn with_next_cursor(mut self, cursor: Option<String>) -> Self {
        if let Payload::Data { next_cursor, .. } = &mut self.payload {
            *next_cursor = cursor;
        }
        self
    }

    pub fn with_warnings(mut self, w: Vec<String>) -> Self {
        if let Payload::Data { warnings, .. } = &mut self.payload {
            *warnings = w;
        }
        self
    }

    /// Rebuilds a response from a stored payload (idempotent replay).
    pub fn from_payload(status: StatusCode, payload: Payload) -> Self {
        Self { status, payload, headers: Vec::new() }
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiResponse {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self.status;
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res.extensions_mut().insert(self.payload);
        res
    }
}

/// Renders a pending payload, or a JSON error for the router's own empty 404/405/413.
fn render(res: &mut Response, request_id: &RequestId) {
    let payload = match res.extensions_mut().remove::<Payload>() {
        Some(p) => p,
        None => {
            let bare = match res.status() {
                StatusCode::METHOD_NOT_ALLOWED => Some(ApiError::MethodNotAllowed),
                StatusCode::PAYLOAD_TOO_LARGE => Some(ApiError::PayloadTooLarge { limit: crate::BODY_LIMIT }),
                _ => None,
            };
            match bare {
                Some(e) if res.headers().get(header::CONTENT_TYPE).is_none() => Payload::Error(e.object()),
                _ => return,
            }
        }
    };
    let rate_limit = res.extensions().get::<RateLimitInfo>().copied();
    let body = match payload {
        Payload::Data { data, next_cursor, warnings } => serde_json::json!({
            "data": data,
            "meta": Meta {
                request_id: request_id.0.clone(),
                rate_limit,
                next_cursor,
                warnings: (!warnings.is_empty()).then_some(warnings),
            },
        }),
        Payload::Error(error) => serde_json::json!({
            "error": error,
            "meta": Meta { request_id: request_id.0.clone(), rate_limit, next_cursor: None, warnings: None },
        }),
    };
    set_json_body(res, &body);
}

/// Replaces a response's body with `body` as JSON.
pub(crate) fn set_json_body(res: &mut Response, body: &serde_json::Value) {
    let bytes = serde_json::to_vec(body).expect("JSON values serialise");
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut().remove(header::CONTENT_LENGTH);
    *res.body_mut() = Body::from(bytes);
}

/// The outermost middleware: assigns the request id, opens the request's span, renders
/// the envelope, sets `X-Request-Id` and the rate-limit headers, and logs the outcome.
pub async fn finalize(mut req: Request, next: Next) -> Response {
    let request_id = RequestId::generate();
    req.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id.0,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    render(&mut res, &request_id);
    let headers = res.headers_mut();
    headers.insert(X_REQUEST_ID, HeaderValue::from_str(&request_id.0).expect("ascii id"));
    if let Some(rl) = res.extensions().get::<RateLimitInfo>().copied() {
        let headers = res.headers_mut();
        headers.insert(X_RATELIMIT_LIMIT, rl.limit.into());
        headers.insert(X_RATELIMIT_REMAINING, rl.remaining.into());
        headers.insert(X_RATELIMIT_RESET, rl.reset.into());
    }
    let status = res.status().as_u16();
    // Milliseconds to the microsecond (1.607, not 1.6073680000000001).
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, duration_ms, "request failed");
        } else {
            tracing::info!(status, duration_ms, "request");
        }
    });
    res
}
