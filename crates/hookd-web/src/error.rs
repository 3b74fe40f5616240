//! Failures of a page, each rendered as a page with its status.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hookd_core::service::ServiceError;
use hookd_core::store::StoreError;

use crate::views::Chrome;
use crate::Surface;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No session, or it ended: the dashboard sends the browser to sign in.
    #[error("signed out")]
    SignedOut(Surface),
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("the form is too large")]
    TooLarge,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// The database cannot answer now; nothing was changed.
    #[error("the database is unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal,
}

impl From<ServiceError> for WebError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NotFound { what } => WebError::NotFound(what),
            ServiceError::Conflict(m) => WebError::Conflict(m),
            ServiceError::FeatureDisabled(m) => WebError::Forbidden(m),
            // Forms turn validation errors into messages beside their fields; one that
            // reaches here came from a link, not a form.
            ServiceError::Validation(_) => WebError::NotFound("page"),
            ServiceError::Store(s) => s.into(),
            ServiceError::Crypto(e) => {
                tracing::error!(error = %hookd_core::error_chain(&e), "a page failed");
                WebError::Internal
            }
        }
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        if matches!(e, StoreError::NotFound) {
            return WebError::NotFound("page");
        }
        if e.is_transient() {
            tracing::warn!(error = %hookd_core::error_chain(&e), "a page could not reach the database");
            WebError::Unavailable
        } else {
            tracing::error!(error = %hookd_core::error_chain(&e), "a page failed");
            WebError::Internal
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    heading: &'static str,
    message: String,
    sign_in: bool,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            WebError::SignedOut(Surface::Dashboard) => {
                return Redirect::to("/dashboard/sign-in").into_response();
            }
            WebError::SignedOut(Surface::Portal) => (
                StatusCode::UNAUTHORIZED,
                "This session has ended",
                "Portal sessions last a limited time. Open the webhooks page again from the app that sent you here."
                    .to_owned(),
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form did not carry this session's security token (it may be from an older session). Go back, \
                 reload the page and try again."
                    .to_owned(),
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "This form is too large",
                "Forms take at most 64 KiB. Nothing was changed.".to_owned(),
            ),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", (*m).to_owned()),
            WebError::NotFound(what) => {
                (StatusCode::NOT_FOUND, "Not found", format!("There is no such {what}, or it is not yours to see."))
            }
            WebError::Conflict(m) => (StatusCode::CONFLICT, "Not now", (*m).to_owned()),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is unavailable",
                "Nothing was changed. Try again in a few seconds.".to_owned(),
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "hookd could not show this page; the server's log says why.".to_owned(),
            ),
        };
        let surface = match self {
            WebError::SignedOut(s) => s,
            _ => Surface::Dashboard,
        };
        let page = ErrorPage {
            chrome: Chrome::bare(surface, heading),
            heading,
            message,
            sign_in: matches!(self, WebError::Csrf | WebError::Forbidden(_)),
        };
        let mut res = (status, crate::views::html(&page)).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}
