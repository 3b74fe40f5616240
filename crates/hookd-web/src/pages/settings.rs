//! Settings → API Keys, and Workspaces (dashboard).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookd_core::domain::{FieldErrors, Scope};
use hookd_core::id::ApiKeyId;
use hookd_core::service::{KeyLimits, NewWorkspace, ServiceError};
use hookd_core::time_fmt;
use time::Duration;

use super::{query, see_other};
use crate::error::WebError;
use crate::session::{Form, Submitted, Viewer};
use crate::views::{ago, field_errors, html, when, Chrome, Section};
use crate::WebState;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub scopes: String,
    pub owner: String,
    pub last_used: String,
    pub expires: String,
    pub state: &'static str,
    pub active: bool,
    pub current: bool,
    pub revoke: String,
}

pub struct ScopeChoice {
    pub value: &'static str,
    pub id: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
    scopes: Vec<ScopeChoice>,
    name: String,
    owner: String,
    expires_in_days: String,
    errors: HashMap<String, String>,
    notice: &'static str,
}

impl KeysPage {
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or_default()
    }
}

/// The scopes this viewer may grant: its own, `admin` only for admins.
fn grantable(viewer: &Viewer) -> Vec<Scope> {
    Scope::ALL.into_iter().filter(|s| *s != Scope::Admin || viewer.active.is_admin()).collect()
}

async fn keys_page(
    state: &WebState,
    viewer: &Viewer,
    form: Option<&Form>,
    errors: HashMap<String, String>,
    notice: &'static str,
) -> Result<KeysPage, WebError> {
    let s = state.services();
    let who = &viewer.active.principal;
    let now = time_fmt::now();
    let keys = s.admin.list_keys(Some(who.workspace_id())).await?;
    let chosen = form.map(|f| f.all("scopes")).unwrap_or_default();
    Ok(KeysPage {
        chrome: Chrome::of(viewer, state, "API Keys", Section::Keys).await,
        keys: keys
            .iter()
            .map(|k| {
                let state = if k.is_revoked() {
                    "revoked"
                } else if k.is_expired(now) {
                    "expired"
                } else {
                    "active"
                };
                KeyRow {
                    id: k.id.to_string(),
                    name: k.name.clone(),
                    scopes: k.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
                    owner: k.acting_owner().unwrap_or_default(),
                    last_used: k.last_used_at.map(|t| ago(t, now)).unwrap_or_else(|| "never".into()),
                    expires: k.expires_at.map(when).unwrap_or_else(|| "never".into()),
                    state,
                    active: state == "active",
                    current: &k.id == who.key_id(),
                    revoke: viewer.path(&format!("/settings/keys/{}/revoke", k.id)),
                }
            })
            .collect(),
        scopes: grantable(viewer)
            .into_iter()
            .map(|s| ScopeChoice {
                value: s.as_str(),
                id: format!("scope-{}", s.as_str().replace([':', '*'], "-")),
                checked: chosen.iter().any(|c| c == s.as_str()),
            })
            .collect(),
        name: form.and_then(|f| f.text("name")).unwrap_or_default(),
        owner: form.and_then(|f| f.text("owner")).unwrap_or_default(),
        expires_in_days: form.and_then(|f| f.text("expires_in_days")).unwrap_or_default(),
        errors,
        notice,
    })
}

/// Settings opens on its first (and, for now, only) section.
pub async fn index(viewer: Viewer) -> Response {
    see_other(&viewer.path("/settings/keys"))
}

pub async fn keys(State(state): State<WebState>, viewer: Viewer, RawQuery(q): RawQuery) -> Result<Response, WebError> {
    if !viewer.manages_keys() {
        return Err(WebError::Forbidden("Only API keys with the admin or * scope, and no owner, manage keys."));
    }
    let notice = match query(q.as_deref()).get("notice") {
        Some("revoked") => "Key revoked: it stops working within a second.",
        _ => "",
    };
    Ok(html(&keys_page(&state, &viewer, None, HashMap::new(), notice).await?).into_response())
}

#[derive(Template)]
#[template(path = "key_created.html")]
struct KeyCreatedPage {
    chrome: Chrome,
    name: String,
    token: String,
    back: String,
}

pub async fn create_key(
    State(state): State<WebState>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    if !viewer.manages_keys() {
        return Err(WebError::Forbidden("Only API keys with the admin or * scope, and no owner, manage keys."));
    }
    let mut errors = FieldErrors::default();
    let allowed = grantable(&viewer);
    let mut scopes = Vec::new();
    for s in form.all("scopes") {
        match allowed.iter().find(|a| a.as_str() == s) {
            Some(a) => scopes.push(*a),
            None => errors.push("scopes", format!("`{s}` is not a scope you may grant")),
        }
    }
    let expires_at = match form.text("expires_in_days") {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(time_fmt::now() + Duration::days(n)),
            _ => {
                errors.push("expires_in_days", "must be a whole number of days from 1 to 3650");
                None
            }
        },
    };
    let name = form.text("name").unwrap_or_default();
    let result = if errors.is_empty() {
        let limits = KeyLimits { expires_at, owner: form.text("owner") };
        let ws = viewer.active.principal.workspace_id().clone();
        state.services().admin.create_key(&ws, &name, scopes, false, limits).await
    } else {
        Err(ServiceError::Validation(errors))
    };
    match result {
        Ok(g) => {
            tracing::info!(api_key_id = %g.key.id, by = %viewer.active.principal.key_id(), "key created in the dashboard");
            let page = KeyCreatedPage {
                chrome: Chrome::of(&viewer, &state, "Key created", Section::Keys).await,
                name: g.key.name.clone(),
                token: g.token,
                back: viewer.path("/settings/keys"),
            };
            Ok((StatusCode::CREATED, html(&page)).into_response())
        }
        Err(ServiceError::Validation(e)) => {
            let page = keys_page(&state, &viewer, Some(&form), field_errors(&e), "").await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_key(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    if !viewer.manages_keys() {
        return Err(WebError::Forbidden("Only API keys with the admin or * scope, and no owner, manage keys."));
    }
    let id = ApiKeyId::parse(&id).map_err(|_| WebError::NotFound("API key"))?;
    let ws = viewer.active.principal.workspace_id().clone();
    state.services().admin.revoke_key_in(&ws, &id).await?;
    tracing::info!(api_key_id = %id, by = %viewer.active.principal.key_id(), "key revoked in the dashboard");
    if &id == viewer.active.principal.key_id() {
        // The session's own key: the session ends with it.
        return Ok(see_other("/dashboard/sign-in"));
    }
    Ok(see_other(&viewer.path("/settings/keys?notice=revoked")))
}

pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub external_id: String,
    pub created: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "workspaces.html")]
struct WorkspacesPage {
    chrome: Chrome,
    rows: Vec<WorkspaceRow>,
    next: Option<String>,
    name: String,
    external_id: String,
    errors: HashMap<String, String>,
    notice: &'static str,
}

impl WorkspacesPage {
    fn error(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or_default()
    }
}

async fn workspaces_page(
    state: &WebState,
    viewer: &Viewer,
    cursor: Option<&str>,
    form: Option<&Form>,
    errors: HashMap<String, String>,
    notice: &'static str,
) -> Result<WorkspacesPage, WebError> {
    let page = state.services().admin.list_workspaces(None, 50, cursor).await?;
    let current = viewer.active.principal.workspace_id();
    Ok(WorkspacesPage {
        chrome: Chrome::of(viewer, state, "Workspaces", Section::Workspaces).await,
        rows: page
            .items
            .iter()
            .map(|w| WorkspaceRow {
                id: w.id.to_string(),
                name: w.name.clone(),
                external_id: w.external_id.clone().unwrap_or_default(),
                created: when(w.created_at),
                current: &w.id == current,
            })
            .collect(),
        next: page.next_cursor.map(|c| viewer.path(&format!("/workspaces?cursor={c}"))),
        name: form.and_then(|f| f.text("name")).unwrap_or_default(),
        external_id: form.and_then(|f| f.text("external_id")).unwrap_or_default(),
        errors,
        notice,
    })
}

pub async fn workspaces(
    State(state): State<WebState>,
    viewer: Viewer,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    viewer.require(Scope::Admin)?;
    let q = query(q.as_deref());
    let notice = if q.get("notice") == Some("created") { "Workspace created." } else { "" };
    let page = workspaces_page(&state, &viewer, q.get("cursor"), None, HashMap::new(), notice).await?;
    Ok(html(&page).into_response())
}

pub async fn create_workspace(
    State(state): State<WebState>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::Admin)?;
    let new = NewWorkspace {
        name: form.text("name").unwrap_or_default(),
        external_id: form.text("external_id"),
        metadata: Default::default(),
    };
    match state.services().admin.create_workspace(new).await {
        Ok(_) => Ok(see_other(&viewer.path("/workspaces?notice=created"))),
        Err(ServiceError::Validation(e)) => {
            let page = workspaces_page(&state, &viewer, None, Some(&form), field_errors(&e), "").await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
        Err(ServiceError::Conflict(m)) => {
            let errors = HashMap::from([("name".to_owned(), m.to_owned())]);
            let page = workspaces_page(&state, &viewer, None, Some(&form), errors, "").await?;
            Ok((StatusCode::CONFLICT, html(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
