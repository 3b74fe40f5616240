//! Signing in and out, opening a portal link, switching workspace, and the assets.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hookd_core::id::WorkspaceId;
use hookd_core::service::{AuthError, SignInError};

use super::{query, see_other};
use crate::error::WebError;
use crate::session::{self, clear_cookie, cookie, same_token, session_cookie, Form, Submitted, SIGN_IN_COOKIE};
use crate::views::{html, Chrome};
use crate::{Surface, WebState};

const STYLESHEET: &str = include_str!("../../assets/app.css");
const SCRIPT: &str = include_str!("../../assets/app.js");

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    error: Option<String>,
}

/// The sign-in form, with a fresh token in a cookie and in the form: the POST must
/// carry both, so another site cannot sign a browser in with its own key.
fn sign_in_form(state: &WebState, headers: &HeaderMap, status: StatusCode, error: Option<String>) -> Response {
    let csrf = hookd_core::service::random_token();
    let page = SignInPage { chrome: Chrome::bare(Surface::Dashboard, "Sign in"), csrf: csrf.clone(), error };
    let secure = if session::secure(state, headers) { "; Secure" } else { "" };
    let cookie = format!("{SIGN_IN_COOKIE}={csrf}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
    let mut res = (status, html(&page)).into_response();
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("hex"));
    res
}

pub async fn sign_in_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if let Some(c) = cookie(&headers, Surface::Dashboard.cookie()) {
        if let Ok(Some(_)) = state.services().web.session(c).await {
            return see_other("/dashboard/webhooks");
        }
    }
    sign_in_form(&state, &headers, StatusCode::OK, None)
}

pub async fn sign_in(State(state): State<WebState>, headers: HeaderMap, body: Bytes) -> Result<Response, WebError> {
    let form = Form::parse(&body);
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !same_token(form.get("csrf").unwrap_or_default(), expected) {
        return Err(WebError::Csrf);
    }
    let token = form.text("api_key").unwrap_or_default();
    if token.is_empty() {
        let msg = "Enter an API key.".to_owned();
        return Ok(sign_in_form(&state, &headers, StatusCode::UNPROCESSABLE_ENTITY, Some(msg)));
    }
    match state.services().web.sign_in(&token).await {
        Ok((secret, session)) => {
            let max_age = (session.expires_at - session.created_at).whole_seconds();
            let mut res = see_other("/dashboard/webhooks");
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, session_cookie(&state, &headers, Surface::Dashboard, &secret, max_age));
            h.append(header::SET_COOKIE, clear_cookie(SIGN_IN_COOKIE, "/dashboard"));
            Ok(res)
        }
        Err(SignInError::Auth(AuthError::Store(e))) => Err(e.into()),
        Err(SignInError::Refused(m)) => {
            Ok(sign_in_form(&state, &headers, StatusCode::UNAUTHORIZED, Some(m.to_owned())))
        }
        Err(SignInError::Auth(e)) => {
            let msg = match e {
                AuthError::Revoked => "That API key has been revoked.",
                AuthError::Expired => "That API key has expired.",
                AuthError::Malformed(_) => "That is not an API key (they look like hk_live_1a2b3c4d.…).",
                _ => "That API key is not valid.",
            };
            Ok(sign_in_form(&state, &headers, StatusCode::UNAUTHORIZED, Some(msg.to_owned())))
        }
    }
}

pub async fn sign_out(State(state): State<WebState>, headers: HeaderMap, _: Submitted) -> Result<Response, WebError> {
    if let Some(c) = cookie(&headers, Surface::Dashboard.cookie()) {
        state.services().web.sign_out(c).await?;
    }
    let mut res = see_other("/dashboard/sign-in");
    res.headers_mut().insert(header::SET_COOKIE, clear_cookie(Surface::Dashboard.cookie(), "/dashboard"));
    Ok(res)
}

pub async fn switch_workspace(
    State(state): State<WebState>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(hookd_core::domain::Scope::Admin)?;
    let to = form.text("workspace").and_then(|w| WorkspaceId::parse(&w).ok()).ok_or(WebError::NotFound("workspace"))?;
    // It must exist: a deleted one would leave the session acting nowhere.
    state.services().admin.get_workspace(&to).await?;
    state.services().web.switch_workspace(&viewer.active, Some(&to)).await?;
    Ok(see_other("/dashboard/webhooks"))
}

#[derive(Template)]
#[template(path = "error.html")]
struct LinkRefused {
    chrome: Chrome,
    heading: &'static str,
    message: String,
    sign_in: bool,
}

/// Opens a one-time portal link: its token stops working, a portal session starts, and
/// the browser moves on to a URL without the token.
pub async fn open_portal(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    let token = query(q.as_deref()).text("token").unwrap_or_default();
    match state.services().web.open_portal(&token).await? {
        Some((secret, session)) => {
            let max_age = (session.expires_at - session.created_at).whole_seconds();
            let mut res = see_other("/portal/webhooks");
            res.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&state, &headers, Surface::Portal, &secret, max_age));
            Ok(res)
        }
        None => {
            let page = LinkRefused {
                chrome: Chrome::bare(Surface::Portal, "Link expired"),
                heading: "This link no longer works",
                message: "Portal links work once and for a limited time. Open the webhooks page again from the app \
                          that sent you here to get a new one."
                    .into(),
                sign_in: false,
            };
            Ok((StatusCode::GONE, html(&page)).into_response())
        }
    }
}

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET.to_owned())
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT.to_owned())
}

/// The portal's colours, from `[portal] accent_color` (checked to be a colour when the
/// configuration was read).
pub async fn theme(State(state): State<WebState>) -> Response {
    let accent = &state.config().portal.accent_color;
    asset("text/css; charset=utf-8", format!(":root {{ --accent: {accent}; }}\n"))
}

fn asset(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        body,
    )
        .into_response()
}
