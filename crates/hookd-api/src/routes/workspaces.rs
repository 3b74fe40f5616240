//! `/v1/workspaces`: the admin API. A product creates a workspace per customer, gives
//! each its keys, and acts in any of them with `Hookd-Workspace`. Every route needs the
//! `admin` scope.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::{ApiKey, FieldErrors, Scope, Workspace};
use hookd_core::id::{ApiKeyId, WorkspaceId};
use hookd_core::service::{KeyLimits, NewWorkspace, ServiceError, WorkspaceChanges};
use hookd_core::time_fmt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{page_limit, present, DeletedResponse, WorkspaceListParams};
use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RawBody};
use crate::ApiState;

/// A workspace: one of the product's customers.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceResponse {
    /// `ws_…`
    pub id: String,
    pub name: String,
    /// The product's own id for this customer; `Hookd-Workspace` accepts it.
    pub external_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
}

impl From<&Workspace> for WorkspaceResponse {
    fn from(w: &Workspace) -> Self {
        Self {
            id: w.id.to_string(),
            name: w.name.clone(),
            external_id: w.external_id.clone(),
            metadata: w.metadata.clone(),
            created_at: time_fmt::format(w.created_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceRequest {
    /// Unique: 1–64 letters, digits, `-`, `_` and `.`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: String,
    /// The product's own id for the customer, unique: 1–128 visible ASCII characters, not
    /// starting with `ws_`.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub external_id: Option<String>,
    /// At most 20 keys.
    #[schema(value_type = Object)]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspaceRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub external_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
}

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyResponse {
    /// `key_…`
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// Sees and changes only the webhooks it creates.
    pub owner_scoped: bool,
    /// Issued by the product and imported (`key` in the request): hookd keeps only its hash.
    pub imported: bool,
    /// The owner whose webhooks alone the key sees and creates.
    pub owner: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiKey> for KeyResponse {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.to_string(),
            name: k.name.clone(),
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            owner_scoped: k.owner_scoped,
            imported: k.is_imported(),
            owner: k.owner.clone(),
            created_at: time_fmt::format(k.created_at),
            last_used_at: k.last_used_at.map(time_fmt::format),
            expires_at: k.expires_at.map(time_fmt::format),
            revoked_at: k.revoked_at.map(time_fmt::format),
        }
    }
}

/// A new key, with the full key: the only time it is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyResponse {
    #[serde(flatten)]
    pub key: KeyResponse,
    /// `Authorization: Bearer <key>`. Store it now: it cannot be shown again. Absent for
    /// an imported key.
    #[serde(rename = "key", skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label; default `api`.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// `webhooks:read`, `webhooks:write`, `events:write`, `*` or `admin`.
    #[schema(min_items = 1)]
    pub scopes: Vec<String>,
    /// The key sees and changes only the webhooks it creates.
    #[serde(default)]
    pub owner_scoped: bool,
    /// The owner (a sub-account of the customer) whose webhooks alone the key sees and
    /// creates: 1–128 visible ASCII characters.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub owner: Option<String>,
    /// RFC 3339; the key is refused from then on.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// A key the product already issued to this customer (16–512 visible ASCII
    /// characters), imported so it keeps working: only its hash is kept, and it is not
    /// echoed back. Without it, hookd issues a key.
    #[schema(min_length = 16, max_length = 512, pattern = "^[!-~]+$")]
    pub key: Option<String>,
}

/// The workspace a path names: its id or its external id.
async fn workspace_of(state: &ApiState, raw: &str) -> Result<Workspace, ApiError> {
    state.admin.resolve_workspace(raw).await?.ok_or(ApiError::from(ServiceError::NotFound { what: "workspace" }))
}

/// Creates a workspace for one of the product's customers.
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces",
    security(("api_key" = ["admin"])),
    request_body = CreateWorkspaceRequest,
    responses(
        (status = 201, description = "Created", body = Envelope<WorkspaceResponse>),
        (status = 409, description = "The name or the external_id is taken", body = ErrorEnvelope),
        (status = 422, description = "Validation failed; `details` names each field", body = ErrorEnvelope),
    ))]
pub async fn create(State(state): State<ApiState>, caller: Caller, body: RawBody) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let req: CreateWorkspaceRequest = body.json()?;
    let ws = state
        .admin
        .create_workspace(NewWorkspace {
            name: req.name,
            external_id: req.external_id,
            metadata: req.metadata.unwrap_or_default(),
        })
        .await?;
    Ok(ApiResponse::new(StatusCode::CREATED, WorkspaceResponse::from(&ws)))
}

/// Lists workspaces, oldest first.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(WorkspaceListParams),
    responses(
        (status = 200, description = "A page; `meta.next_cursor` when more exist", body = Envelope<Vec<WorkspaceResponse>>),
        (status = 422, description = "Bad limit or cursor", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<WorkspaceListParams>,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let mut errs = FieldErrors::default();
    let limit = page_limit(params.limit, &mut errs);
    if params.external_id.as_ref().is_some_and(|e| e.is_empty() || e.len() > 128) {
        errs.push("external_id", "must be 1 to 128 characters");
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let page = state.admin.list_workspaces(params.external_id, limit, params.cursor.as_deref()).await?;
    let items: Vec<WorkspaceResponse> = page.items.iter().map(WorkspaceResponse::from).collect();
    Ok(ApiResponse::ok(items).with_next_cursor(page.next_cursor))
}

/// One workspace, by id or external id.
#[utoipa::path(get, path = "/v1/workspaces/{id}", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Workspace id (`ws_…`) or external id")),
    responses(
        (status = 200, description = "The workspace", body = Envelope<WorkspaceResponse>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    Ok(ApiResponse::ok(WorkspaceResponse::from(&workspace_of(&state, &id).await?)))
}

/// Changes name, external id or metadata. Absent fields are left alone.
#[utoipa::path(patch, path = "/v1/workspaces/{id}", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Workspace id (`ws_…`) or external id")),
    request_body = UpdateWorkspaceRequest,
    responses(
        (status = 200, description = "The updated workspace", body = Envelope<WorkspaceResponse>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        (status = 409, description = "The name or the external_id is taken", body = ErrorEnvelope),
        (status = 422, description = "Validation failed", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let req: UpdateWorkspaceRequest = body.json()?;
    let mut errs = FieldErrors::default();
    if matches!(req.name, Some(None)) {
        errs.push("name", "must not be null");
    }
    if matches!(req.metadata, Some(None)) {
        errs.push("metadata", "must not be null; send {} to clear it");
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let ws = workspace_of(&state, &id).await?;
    let changes =
        WorkspaceChanges { name: req.name.flatten(), external_id: req.external_id, metadata: req.metadata.flatten() };
    let ws = state.admin.update_workspace(&ws.id, changes).await?;
    Ok(ApiResponse::ok(WorkspaceResponse::from(&ws)))
}

/// Deletes a workspace with its webhooks and keys; its pending deliveries are cancelled.
/// A key cannot delete the workspace it belongs to.
#[utoipa::path(delete, path = "/v1/workspaces/{id}", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Workspace id (`ws_…`) or external id")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<DeletedResponse>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        (status = 409, description = "It is the workspace of the key making the request", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::Admin)?;
    let ws = workspace_of(&state, &id).await?;
    state.admin.delete_workspace(&ws.id, who.home_workspace_id()).await?;
    state.webhooks.forget_workspace(&ws.id);
    Ok(ApiResponse::ok(DeletedResponse { id: ws.id.to_string(), deleted: true }))
}

/// Issues a key in the workspace (the response carries the full key, the only time it
/// is shown), or imports one the product issued (`key`; not echoed back).
#[utoipa::path(post, path = "/v1/workspaces/{id}/keys", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Workspace id (`ws_…`) or external id")),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created (an imported key comes back without `key`)", body = Envelope<CreatedKeyResponse>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        (status = 409, description = "This product key was imported before", body = ErrorEnvelope),
        (status = 422, description = "Validation failed", body = ErrorEnvelope),
    ))]
pub async fn create_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let req: CreateKeyRequest = body.json()?;
    let mut errs = FieldErrors::default();
    let mut scopes = Vec::new();
    for (i, s) in req.scopes.iter().enumerate() {
        match s.parse::<Scope>() {
            Ok(scope) if scopes.contains(&scope) => errs.push(format!("scopes[{i}]"), "is listed more than once"),
            Ok(scope) => scopes.push(scope),
            Err(m) => errs.push(format!("scopes[{i}]"), m),
        }
    }
    let expires_at = match req.expires_at.as_deref().map(time_fmt::parse) {
        Some(Ok(t)) if t <= time_fmt::now() => {
            errs.push("expires_at", "must be in the future");
            None
        }
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            errs.push("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z");
            None
        }
        None => None,
    };
    errs.into_result().map_err(ApiError::Validation)?;
    let ws = workspace_of(&state, &id).await?;
    let name = req.name.unwrap_or_else(|| "api".into());
    let limits = KeyLimits { expires_at, owner: req.owner };
    if let Some(token) = &req.key {
        let key = state.admin.import_key(&ws.id, &name, token, scopes, req.owner_scoped, limits).await?;
        let dto = CreatedKeyResponse { key: KeyResponse::from(&key), token: None };
        return Ok(ApiResponse::new(StatusCode::CREATED, dto));
    }
    let g = state.admin.create_key(&ws.id, &name, scopes, req.owner_scoped, limits).await?;
    let dto = CreatedKeyResponse { key: KeyResponse::from(&g.key), token: Some(g.token) };
    Ok(ApiResponse::new(StatusCode::CREATED, dto))
}

/// The workspace's keys, never their secrets.
#[utoipa::path(get, path = "/v1/workspaces/{id}/keys", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(("id" = String, Path, description = "Workspace id (`ws_…`) or external id")),
    responses(
        (status = 200, description = "Every key of the workspace", body = Envelope<Vec<KeyResponse>>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
    ))]
pub async fn list_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let ws = workspace_of(&state, &id).await?;
    let keys = state.admin.list_keys(Some(&ws.id)).await?;
    Ok(ApiResponse::ok(keys.iter().map(KeyResponse::from).collect::<Vec<_>>()))
}

/// Revokes a key: every node refuses it within a second.
#[utoipa::path(delete, path = "/v1/workspaces/{id}/keys/{key_id}", tag = "workspaces",
    security(("api_key" = ["admin"])),
    params(
        ("id" = String, Path, description = "Workspace id (`ws_…`) or external id"),
        ("key_id" = String, Path, description = "Key id (`key_…`)"),
    ),
    responses(
        (status = 200, description = "Revoked", body = Envelope<DeletedResponse>),
        (status = 404, description = "No such active key in this workspace", body = ErrorEnvelope),
    ))]
pub async fn revoke_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path((id, key_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::Admin)?;
    let ws = workspace_of(&state, &id).await?;
    let not_found = || ApiError::from(ServiceError::NotFound { what: "active API key" });
    let key = ApiKeyId::parse(&key_id).map_err(|_| not_found())?;
    state.admin.revoke_key_in(&ws.id, &key).await?;
    Ok(ApiResponse::ok(DeletedResponse { id: key_id, deleted: true }))
}

/// Resolves `Hookd-Workspace` for a caller (see the auth middleware).
pub(crate) async fn acting_workspace(state: &ApiState, raw: &str) -> Result<Option<WorkspaceId>, ApiError> {
    Ok(state.admin.acting_workspace(raw).await?)
}
