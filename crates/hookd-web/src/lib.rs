//! hookd-web: the operator dashboard (`/dashboard`) and the customer portal
//! (`/portal`), server-rendered from the core services.
//!
//! # Layout
//!
//! - [`session`]: cookies, the signed-in [`session::Viewer`], CSRF and form bodies.
//! - [`pages`]: the handlers, one module per area; they share one set of webhook and
//!   delivery pages between the dashboard and the portal ([`Surface`]).
//! - [`charts`]: the SVG charts, drawn on the server.
//! - [`error`]: [`error::WebError`], rendered as a page with its status.
//! - `templates/`: askama templates, compiled into the binary; `assets/`: the style
//!   sheet and the one small script, embedded too.
//!
//! Every page works without JavaScript: each action is a form, and the script only
//! refreshes the delivery log while it is open. The Content-Security-Policy allows
//! scripts and styles from hookd itself only.

pub mod charts;
pub mod error;
pub mod pages;
pub mod session;
mod views;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hookd_core::service::{AdminService, DeliveryService, EventService, WebService, WebhookService};
use tracing::Instrument;

/// Which of the two web surfaces a request is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The operator dashboard, signed in with an API key.
    Dashboard,
    /// The customer portal, opened with a one-time link, limited to one owner.
    Portal,
}

impl Surface {
    /// The path the surface is served under.
    pub fn base(self) -> &'static str {
        match self {
            Surface::Dashboard => "/dashboard",
            Surface::Portal => "/portal",
        }
    }

    /// The session cookie's name.
    pub fn cookie(self) -> &'static str {
        match self {
            Surface::Dashboard => "hookd_session",
            Surface::Portal => "hookd_portal",
        }
    }
}

/// How the portal looks and where it may be embedded.
#[derive(Debug, Clone)]
pub struct PortalOptions {
    /// The page title and heading.
    pub title: String,
    /// A CSS colour (`#4f46e5`) for links and buttons.
    pub accent_color: String,
    /// An `https://` image shown in the header.
    pub logo_url: Option<url::Url>,
    /// Origins that may frame the portal (CSP `frame-ancestors`); none: not framed.
    pub frame_ancestors: Vec<String>,
}

impl Default for PortalOptions {
    fn default() -> Self {
        Self { title: "Webhooks".into(), accent_color: "#4f46e5".into(), logo_url: None, frame_ancestors: Vec::new() }
    }
}

/// Deployment options of the web surfaces.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Mark cookies `Secure` even when a request arrived over plain HTTP (behind a
    /// TLS-terminating proxy). Requests with `X-Forwarded-Proto: https` get it anyway.
    pub secure_cookies: bool,
    pub portal: PortalOptions,
}

/// What the pages need.
pub struct WebServices {
    pub admin: AdminService,
    pub webhooks: WebhookService,
    pub events: EventService,
    pub deliveries: DeliveryService,
    pub web: WebService,
}

/// The shared state of every page.
#[derive(Clone)]
pub struct WebState(Arc<(WebServices, WebConfig)>);

impl WebState {
    pub fn new(services: WebServices, config: WebConfig) -> Self {
        Self(Arc::new((services, config)))
    }

    pub fn services(&self) -> &WebServices {
        &self.0 .0
    }

    pub fn config(&self) -> &WebConfig {
        &self.0 .1
    }
}

/// The dashboard under `/dashboard` and the portal under `/portal`, with their
/// security headers.
pub fn router(state: WebState) -> Router {
    let dashboard = pages::dashboard_routes()
        .layer(axum::middleware::from_fn_with_state((state.clone(), Surface::Dashboard), security_headers));
    let portal = pages::portal_routes()
        .layer(axum::middleware::from_fn_with_state((state.clone(), Surface::Portal), security_headers));
    let redirect = |to: &'static str| axum::routing::get(move || async move { axum::response::Redirect::to(to) });
    Router::new()
        .nest("/dashboard", dashboard)
        .nest("/portal", portal)
        // `/dashboard/` is outside the nested router; it is the dashboard all the same.
        .route("/dashboard/", redirect("/dashboard"))
        .route("/portal/", redirect("/portal"))
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(%message, "a page handler panicked");
            axum::response::IntoResponse::into_response(error::WebError::Internal)
        }))
}

/// Tells the pages which surface they are on, logs each page (method, path without its
/// query, status, duration), and sets the headers of every page: a strict Content-Security-Policy (the dashboard is never
/// framed; the portal only by the configured origins), no sniffing, no referrer, and
/// nothing kept in caches but the assets.
async fn security_headers(
    State((state, surface)): State<(WebState, Surface)>,
    mut req: Request,
    next: Next,
) -> Response {
    let is_asset = req.uri().path().contains("/assets/");
    req.extensions_mut().insert(surface);
    // The path without its query: a portal link's token never reaches the log.
    let span = tracing::info_span!("page", method = %req.method(), path = %req.uri().path());
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, duration_ms, "page failed");
        } else if !is_asset {
            tracing::info!(status, duration_ms, "page");
        }
    });
    let frame_ancestors = match surface {
        Surface::Dashboard => "'none'".to_owned(),
        Surface::Portal if state.config().portal.frame_ancestors.is_empty() => "'none'".to_owned(),
        Surface::Portal => state.config().portal.frame_ancestors.join(" "),
    };
    let img = match (&state.config().portal.logo_url, surface) {
        (Some(u), Surface::Portal) => format!(" {}", u.origin().ascii_serialization()),
        _ => String::new(),
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:{img}; connect-src 'self'; \
         form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if surface == Surface::Dashboard || state.config().portal.frame_ancestors.is_empty() {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}
