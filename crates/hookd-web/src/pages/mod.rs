//! The pages. The webhook and delivery pages serve both surfaces; the [`Viewer`]
//! says which, and limits a portal session to its owner's webhooks.
//!
//! - [`auth`]: signing in and out, opening a portal link, switching workspace, assets.
//! - [`webhooks`]: the list, creating, the webhook's page and its actions.
//! - [`deliveries`]: the delivery log, one delivery's attempts, retry and replay.
//! - [`events`]: looking an event up (dashboard).
//! - [`settings`]: API keys and workspaces (dashboard).

mod auth;
mod deliveries;
mod events;
mod settings;
mod webhooks;

use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::WebError;
use crate::session::Viewer;
use crate::WebState;

/// The pages both surfaces have.
fn shared_routes() -> Router<WebState> {
    Router::new()
        .route("/", get(home))
        .route("/assets/app.css", get(auth::stylesheet))
        .route("/assets/app.js", get(auth::script))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/new", get(webhooks::new))
        .route("/webhooks/{id}", get(webhooks::show).post(webhooks::save))
        .route("/webhooks/{id}/enabled", post(webhooks::set_enabled))
        .route("/webhooks/{id}/delete", get(webhooks::confirm_delete).post(webhooks::delete))
        .route("/webhooks/{id}/secret", post(webhooks::reveal_secret))
        .route("/webhooks/{id}/rotate", post(webhooks::rotate_secret))
        .route("/webhooks/{id}/test", post(deliveries::send_test))
        .route("/webhooks/{id}/replay", post(deliveries::replay))
        .route("/webhooks/{id}/deliveries", get(deliveries::rows))
        .route("/deliveries/{id}", get(deliveries::show))
        .route("/deliveries/{id}/retry", post(deliveries::retry))
        .fallback(not_found)
}

/// The dashboard's pages.
pub fn dashboard_routes() -> Router<WebState> {
    shared_routes()
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/workspace", post(auth::switch_workspace))
        .route("/events", get(events::show))
        .route("/settings", get(settings::index))
        .route("/settings/keys", get(settings::keys).post(settings::create_key))
        .route("/settings/keys/{id}/revoke", post(settings::revoke_key))
        .route("/workspaces", get(settings::workspaces).post(settings::create_workspace))
}

/// The portal's pages.
pub fn portal_routes() -> Router<WebState> {
    shared_routes().route("/open", get(auth::open_portal)).route("/assets/theme.css", get(auth::theme))
}

async fn home(viewer: Viewer) -> Response {
    Redirect::to(&viewer.path("/webhooks")).into_response()
}

/// A page that does not exist; `/dashboard/` and other paths with a trailing slash are
/// the page without it.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    // Only within this origin: never a `//host` a browser would take for another site.
    if trimmed.len() < path.len() && trimmed.starts_with('/') && !trimmed.starts_with("//") {
        let to = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        return see_other(&to);
    }
    WebError::NotFound("page").into_response()
}

/// `?name=value` pairs of a page's query string.
pub(crate) fn query(q: Option<&str>) -> crate::session::Form {
    crate::session::Form::parse(q.unwrap_or_default().as_bytes())
}

/// A 303 to `to`, the answer to a form that worked.
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
