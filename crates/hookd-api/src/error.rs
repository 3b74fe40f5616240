//! `ApiError`: every way a request can fail, each with one status and one stable code.
//!
//! Adding a variant: give it a status in [`ApiError::status`] and a code in
//! [`ApiError::code`] (both matches are exhaustive, so it will not compile until you
//! do), then a message in `Display`. Codes are public API: never rename one.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookd_core::domain::FieldErrors;
use hookd_core::service::{AuthError, ServiceError};
use hookd_core::store::StoreError;

use crate::envelope::{ErrorDetail, ErrorObject, Payload};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request is invalid")]
    Validation(FieldErrors),
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request is invalid")]
    BadRequest(FieldErrors),
    #[error("{0}")]
    Unauthorized(String),
    #[error("this API key lacks the `{0}` scope")]
    Forbidden(&'static str),
    #[error("{0}")]
    FeatureDisabled(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route matches this path; see /openapi.json for the API")]
    RouteNotFound,
    #[error("this path does not accept this method; see /openapi.json for the API")]
    MethodNotAllowed,
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyInFlight,
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new request")]
    IdempotencyMismatch,
    #[error("the request body is larger than the {limit} bytes allowed")]
    PayloadTooLarge { limit: usize },
    #[error("`data` is larger than the {} bytes allowed for an event", hookd_core::domain::MAX_EVENT_DATA)]
    DataTooLarge,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("rate limit exceeded; retry after {retry_after} seconds")]
    RateLimited { retry_after: u64 },
    #[error("the database is unavailable; retry shortly")]
    Unavailable(#[source] StoreError),
    #[error("the database cannot store anything now (disk full, read-only or I/O error); nothing of this request was stored; retry later")]
    StorageUnavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::FeatureDisabled(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::IdempotencyInFlight => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } | ApiError::DataTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_error",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::BadRequest(_) => "invalid_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "insufficient_scope",
            ApiError::FeatureDisabled(_) => "feature_disabled",
            ApiError::NotFound(_) => "not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::IdempotencyInFlight => "idempotency_key_in_use",
            ApiError::IdempotencyMismatch => "idempotency_key_reused",
            ApiError::PayloadTooLarge { .. } | ApiError::DataTooLarge => "payload_too_large",
            ApiError::Conflict(_) => "conflict",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::StorageUnavailable(_) => "storage_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn object(&self) -> ErrorObject {
        let details = match self {
            ApiError::Validation(errs) | ApiError::BadRequest(errs) => {
                errs.0.iter().map(|e| ErrorDetail { field: e.field.clone(), message: e.message.clone() }).collect()
            }
            _ => Vec::new(),
        };
        let message = match self {
            ApiError::Validation(errs) | ApiError::BadRequest(errs) => format!("{self}: {errs}"),
            _ => self.to_string(),
        };
        ErrorObject { code: self.code().to_owned(), message, details }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(FieldErrors::single(field, message))
    }

    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest(FieldErrors::single(field, message))
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound { what } => ApiError::NotFound(what),
            ServiceError::Validation(errs) => ApiError::Validation(errs),
            ServiceError::FeatureDisabled(m) => ApiError::FeatureDisabled(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Store(s) => s.into(),
            ServiceError::Crypto(c) => ApiError::Internal(Box::new(c)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => ApiError::Unavailable(e),
            StoreError::Storage(_) => ApiError::StorageUnavailable(e),
            StoreError::NotFound => ApiError::NotFound("resource"),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(s) => s.into(),
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // Logged once, here, with the whole chain; the client gets a generic message.
            tracing::error!(error = %hookd_core::error_chain(&self), code = self.code(), "request failed");
        }
        let mut res = Response::new(axum::body::Body::empty());
        *res.status_mut() = status;
        if let ApiError::RateLimited { retry_after } = &self {
            res.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        match &self {
            ApiError::Unavailable(_) => {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // Space comes back when an operator frees it: no point in retrying every second.
            ApiError::StorageUnavailable(_) => {
                res.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        if let ApiError::Unauthorized(_) = &self {
            res.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(Payload::Error(self.object()));
        res
    }
}
