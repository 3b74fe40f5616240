//! Sessions as the pages see them: the cookie, the signed-in [`Viewer`], CSRF tokens
//! and form bodies.
//!
//! Cookies are `HttpOnly` and scoped to their surface's path. The dashboard's is
//! `SameSite=Strict`. The portal's is `SameSite=Lax` (it is opened from a link in the
//! product's own pages), or `SameSite=None; Secure; Partitioned` when the portal may be
//! framed, so that it works inside the product's page. Every form carries the
//! session's CSRF token; a POST without the right one is refused with 403 whatever
//! the cookie says.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use hookd_core::domain::Scope;
use hookd_core::service::ActiveSession;
use subtle::ConstantTimeEq;

use crate::error::WebError;
use crate::{Surface, WebState};

/// The cookie that carries the sign-in form's CSRF token before a session exists.
pub const SIGN_IN_COOKIE: &str = "hookd_sign_in";

/// The signed-in caller of a page.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub surface: Surface,
    pub active: ActiveSession,
}

impl Viewer {
    pub fn csrf(&self) -> &str {
        &self.active.session.csrf_token
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.active.principal.allows(scope)
    }

    /// Refuses with 403 unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), WebError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(WebError::Forbidden(match scope {
                Scope::WebhooksWrite => "Your API key may read webhooks but not change them (it lacks webhooks:write).",
                Scope::Admin => "Only API keys with the admin scope manage workspaces.",
                _ => "Your API key may not see this page (it lacks webhooks:read).",
            }))
        }
    }

    /// Whether this caller manages the workspace's API keys: dashboard sessions of
    /// `admin` or `*` keys without an owner.
    pub fn manages_keys(&self) -> bool {
        let key = &self.active.principal.key;
        self.surface == Surface::Dashboard
            && self.active.principal.owner().is_none()
            && (key.allows(Scope::Admin) || key.scopes.contains(&Scope::All))
    }

    /// A form body, once its CSRF token has been checked.
    pub fn form(&self, body: &[u8]) -> Result<Form, WebError> {
        let form = Form::parse(body);
        if same_token(form.get("csrf").unwrap_or_default(), self.csrf()) {
            Ok(form)
        } else {
            Err(WebError::Csrf)
        }
    }

    /// Whether this is the portal (which has no events, keys or settings pages).
    pub fn is_portal(&self) -> bool {
        self.surface == Surface::Portal
    }

    /// A path on this viewer's surface.
    pub fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.surface.base())
    }
}

/// Most of a form body read: forms here are small.
const FORM_LIMIT: usize = 64 * 1024;

/// A form posted from a signed-in page, its CSRF token checked.
pub struct Submitted {
    pub viewer: Viewer,
    pub form: Form,
}

impl FromRequest<WebState> for Submitted {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &WebState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let viewer = Viewer::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, FORM_LIMIT).await.map_err(|_| WebError::TooLarge)?;
        let form = viewer.form(&bytes)?;
        Ok(Self { viewer, form })
    }
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, WebError> {
        let surface = parts.extensions.get::<Surface>().copied().unwrap_or(Surface::Dashboard);
        let Some(cookie) = cookie(&parts.headers, surface.cookie()) else {
            return Err(WebError::SignedOut(surface));
        };
        match state.services().web.session(cookie).await? {
            Some(active) if active.session.is_portal() == (surface == Surface::Portal) => {
                Ok(Viewer { surface, active })
            }
            _ => Err(WebError::SignedOut(surface)),
        }
    }
}

/// Whether a form's token is the expected one: compared in constant time, and never
/// when either is empty.
pub fn same_token(sent: &str, expected: &str) -> bool {
    !sent.is_empty() && !expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether cookies must be `Secure`: the deployment says so, or the request came
/// through an https proxy.
pub fn secure(state: &WebState, headers: &HeaderMap) -> bool {
    state.config().secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a session of `surface` lasting `max_age` seconds.
pub fn session_cookie(
    state: &WebState,
    headers: &HeaderMap,
    surface: Surface,
    value: &str,
    max_age: i64,
) -> HeaderValue {
    let same_site = match surface {
        Surface::Dashboard => "SameSite=Strict",
        Surface::Portal if state.config().portal.frame_ancestors.is_empty() => "SameSite=Lax",
        Surface::Portal => "SameSite=None; Secure; Partitioned",
    };
    let secure = if secure(state, headers) && !same_site.contains("Secure") { "; Secure" } else { "" };
    let v = format!(
        "{}={value}; Path={}; HttpOnly; {same_site}; Max-Age={}{secure}",
        surface.cookie(),
        surface.base(),
        max_age.max(0)
    );
    HeaderValue::from_str(&v).expect("cookie values are hex")
}

/// `Set-Cookie` that removes a cookie.
pub fn clear_cookie(name: &str, path: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0")).expect("ascii")
}

/// An `application/x-www-form-urlencoded` body; a name may repeat (checkboxes).
#[derive(Debug, Clone, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed; `None` when missing or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; hookd_session=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, "hookd_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "hookd_portal"), None);
    }

    #[test]
    fn tokens_match_only_when_equal_and_present() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""), "no token is never the right one");
        assert!(!same_token("abc", ""));
    }

    #[test]
    fn forms_keep_repeated_names_in_order() {
        let f = Form::parse(b"events=link.created&events=link.deleted&description=+hi+&csrf=x&empty=");
        assert_eq!(f.all("events"), ["link.created", "link.deleted"]);
        assert_eq!(f.text("description").as_deref(), Some("hi"));
        assert_eq!(f.text("empty"), None);
        assert_eq!(f.get("missing"), None);
    }
}
