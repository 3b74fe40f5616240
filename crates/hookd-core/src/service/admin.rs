//! Workspaces and API keys: first start, and the provisioning the CLI exposes.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::FieldErrors;
use crate::domain::{validate_external_id, validate_workspace_name, ApiKey, GeneratedKey, Scope, Workspace};
use crate::id::{ApiKeyId, WorkspaceId};
use crate::service::Page;
use crate::service::ServiceError;
use crate::store::{PageRequest, Store, StoreError, WorkspaceFilter};
use crate::time_fmt;

/// How many times to draw a fresh key id when the 32-bit id collides.
const KEY_ID_ATTEMPTS: usize = 8;

/// A workspace to create.
#[derive(Debug, Clone, Default)]
pub struct NewWorkspace {
    pub name: String,
    pub external_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// A change to a workspace: `None` leaves a field as it is; `Some(None)` clears the
/// external id.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    pub external_id: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
}

fn check_workspace(name: &str, external_id: Option<&str>, metadata: &BTreeMap<String, String>, errs: &mut FieldErrors) {
    if let Err(m) = validate_workspace_name(name) {
        errs.push("name", m);
    }
    if let Some(Err(m)) = external_id.map(validate_external_id) {
        errs.push("external_id", m);
    }
    crate::domain::check_metadata(metadata, errs);
}

/// A workspace by id (`ws_…`) or, failing that, by the product's external id: how
/// `Hookd-Workspace`, the admin routes and product tokens name one.
pub(crate) async fn find_by_id_or_external_id(
    store: &dyn Store,
    id_or_external: &str,
) -> crate::store::StoreResult<Option<Workspace>> {
    match WorkspaceId::parse(id_or_external) {
        Ok(id) => store.get_workspace(&id).await,
        Err(_) => store.find_workspace_by_external_id(id_or_external).await,
    }
}

/// What limits a new key beyond its scopes.
#[derive(Debug, Clone, Default)]
pub struct KeyLimits {
    /// Refused from then on.
    pub expires_at: Option<time::OffsetDateTime>,
    /// Sees and creates only this owner's webhooks.
    pub owner: Option<String>,
}

/// The rules every new key meets, issued or imported. A key's owner, when given, wins
/// over `owner_scoped` (whose owner is the key's id).
fn check_new_key(name: &str, scopes: &[Scope], limits: &KeyLimits) -> FieldErrors {
    let mut errs = FieldErrors::default();
    if let Some(Err(m)) = limits.owner.as_deref().map(crate::domain::validate_owner) {
        errs.push("owner", m);
    }
    if name.is_empty() || name.chars().count() > 100 {
        errs.push("name", "must be 1 to 100 characters");
    }
    if scopes.is_empty() {
        errs.push("scopes", "must name at least one scope");
    }
    if limits.expires_at.is_some_and(|t| t <= time_fmt::now()) {
        errs.push("expires_at", "must be in the future");
    }
    errs
}

/// A taken name or external id, as the 409 that says which.
fn workspace_conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { constraint: "workspace_name" } => {
            ServiceError::Conflict("a workspace with this name already exists")
        }
        StoreError::Conflict { constraint: "workspace_external_id" } => {
            ServiceError::Conflict("a workspace with this external_id already exists")
        }
        e => e.into(),
    }
}

/// The outcome of first start.
#[derive(Debug)]
pub struct Bootstrapped {
    pub workspace: Workspace,
    /// The full key, to be shown once.
    pub token: String,
}

/// A `Hookd-Workspace` value's workspace (`None`: there is none), and when it was read.
type ResolvedWorkspace = (Option<WorkspaceId>, std::time::Instant);

#[derive(Clone)]
pub struct AdminService {
    store: Arc<dyn Store>,
    key_prefix: String,
    /// `Hookd-Workspace` values resolved lately: every request of a product publishing
    /// for its customers names one.
    acting: Arc<std::sync::Mutex<std::collections::HashMap<String, ResolvedWorkspace>>>,
}

impl AdminService {
    pub fn new(store: Arc<dyn Store>, key_prefix: String) -> Self {
        Self { store, key_prefix, acting: Arc::default() }
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), ServiceError> {
        Ok(self.store.ping().await?)
    }

    /// Whether the database commits a small write (readiness, after writes failed).
    pub async fn probe_write(&self) -> crate::store::StoreResult<()> {
        self.store.probe_write().await
    }

    /// On an empty database, creates the workspace `default` and an all-scope key.
    /// Returns `None` when the database already has a workspace.
    pub async fn bootstrap(&self) -> Result<Option<Bootstrapped>, ServiceError> {
        let now = time_fmt::now();
        let workspace = Workspace::new("default", now);
        // The first key may do everything, including managing other workspaces.
        let generated = GeneratedKey::new(
            workspace.id.clone(),
            &self.key_prefix,
            "default".into(),
            vec![Scope::All, Scope::Admin],
            false,
            now,
        );
        if self.store.bootstrap(&workspace, &generated.key).await? {
            Ok(Some(Bootstrapped { workspace, token: generated.token }))
        } else {
            Ok(None)
        }
    }

    pub async fn create_workspace(&self, new: NewWorkspace) -> Result<Workspace, ServiceError> {
        let mut errs = FieldErrors::default();
        check_workspace(&new.name, new.external_id.as_deref(), &new.metadata, &mut errs);
        errs.into_result()?;
        let mut ws = Workspace::new(new.name, time_fmt::now());
        ws.external_id = new.external_id;
        ws.metadata = new.metadata;
        self.store.create_workspace(&ws).await.map_err(workspace_conflict)?;
        Ok(ws)
    }

    /// A page of workspaces, oldest first, optionally only the one with this external id.
    pub async fn list_workspaces(
        &self,
        external_id: Option<String>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Workspace>, ServiceError> {
        let after = cursor
            .map(|c| {
                WorkspaceId::parse(c)
                    .map_err(|_| FieldErrors::single("cursor", "is not a cursor returned by this list"))
            })
            .transpose()?;
        let filter = WorkspaceFilter { external_id };
        let items = self.store.list_workspaces(&filter, &PageRequest { limit: limit + 1, before: after }).await?;
        Ok(Page::from_overfetch(items, limit, |w| w.id.to_string()))
    }

    /// Every workspace (the CLI's list).
    pub async fn all_workspaces(&self) -> Result<Vec<Workspace>, ServiceError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_workspaces(None, 500, cursor.as_deref()).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(all),
            }
        }
    }

    pub async fn get_workspace(&self, id: &WorkspaceId) -> Result<Workspace, ServiceError> {
        self.store.get_workspace(id).await?.ok_or(ServiceError::NotFound { what: "workspace" })
    }

    /// The workspace a `Hookd-Workspace` header names: its id (`ws_…`) or its external id.
    pub async fn resolve_workspace(&self, id_or_external: &str) -> Result<Option<Workspace>, ServiceError> {
        Ok(find_by_id_or_external_id(&*self.store, id_or_external).await?)
    }

    /// The id of the workspace a `Hookd-Workspace` header names, read from the store
    /// at most a second before (as keys are, so a deleted workspace stops within a
    /// second).
    pub async fn acting_workspace(&self, id_or_external: &str) -> Result<Option<WorkspaceId>, ServiceError> {
        use crate::service::auth::KEY_CACHE_TTL;
        if let Some((id, at)) = self.acting.lock().unwrap_or_else(|p| p.into_inner()).get(id_or_external) {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(id.clone());
            }
        }
        let id = self.resolve_workspace(id_or_external).await?.map(|w| w.id);
        let mut cache = self.acting.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(id_or_external.to_owned(), (id.clone(), std::time::Instant::now()));
        Ok(id)
    }

    /// Changes name, external id or metadata; absent fields stay as they are.
    pub async fn update_workspace(
        &self,
        id: &WorkspaceId,
        changes: WorkspaceChanges,
    ) -> Result<Workspace, ServiceError> {
        let mut ws = self.get_workspace(id).await?;
        if let Some(name) = changes.name {
            ws.name = name;
        }
        if let Some(external_id) = changes.external_id {
            ws.external_id = external_id;
        }
        if let Some(metadata) = changes.metadata {
            ws.metadata = metadata;
        }
        let mut errs = FieldErrors::default();
        check_workspace(&ws.name, ws.external_id.as_deref(), &ws.metadata, &mut errs);
        errs.into_result()?;
        if !self.store.update_workspace(&ws).await.map_err(workspace_conflict)? {
            return Err(ServiceError::NotFound { what: "workspace" });
        }
        Ok(ws)
    }

    /// Deletes a workspace with its webhooks and keys, and cancels its pending
    /// deliveries. `caller` is the workspace of the key asking: a key cannot delete the
    /// workspace it lives in (it would lock itself out).
    pub async fn delete_workspace(&self, id: &WorkspaceId, caller: &WorkspaceId) -> Result<(), ServiceError> {
        if id == caller {
            return Err(ServiceError::Conflict(
                "a key cannot delete its own workspace; use an admin key of another workspace",
            ));
        }
        if self.store.delete_workspace(id).await? {
            // This node forgets it at once; others within a second.
            self.acting.lock().unwrap_or_else(|p| p.into_inner()).clear();
            Ok(())
        } else {
            Err(ServiceError::NotFound { what: "workspace" })
        }
    }

    /// Finds a workspace by id (`ws_…`) or by name.
    pub async fn find_workspace(&self, id_or_name: &str) -> Result<Workspace, ServiceError> {
        let found = match WorkspaceId::parse(id_or_name) {
            Ok(id) => self.store.get_workspace(&id).await?,
            Err(_) => self.store.find_workspace_by_name(id_or_name).await?,
        };
        found.ok_or(ServiceError::NotFound { what: "workspace" })
    }

    /// Issues a key; the returned token is the only time its secret exists in clear.
    pub async fn create_key(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        scopes: Vec<Scope>,
        owner_scoped: bool,
        limits: KeyLimits,
    ) -> Result<GeneratedKey, ServiceError> {
        check_new_key(name, &scopes, &limits).into_result()?;
        let KeyLimits { expires_at, owner } = limits;
        for _ in 0..KEY_ID_ATTEMPTS {
            // The id is part of the key: a taken one means a whole new key.
            let mut g = GeneratedKey::new(
                workspace.clone(),
                &self.key_prefix,
                name.to_owned(),
                scopes.clone(),
                owner_scoped,
                time_fmt::now(),
            );
            g.key.expires_at = expires_at;
            g.key.owner.clone_from(&owner);
            match self.store.create_api_key(&g.key).await {
                Ok(()) => return Ok(g),
                Err(StoreError::Conflict { constraint: "api_key_id" }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { constraint: "api_key_id" }.into())
    }

    /// The key [`Self::import_key`] would store, or the fields that are wrong; writes
    /// nothing (a bulk import checks every key before it imports the first).
    pub fn check_import(
        workspace: &WorkspaceId,
        name: &str,
        token: &str,
        scopes: Vec<Scope>,
        owner_scoped: bool,
        limits: KeyLimits,
    ) -> Result<ApiKey, ServiceError> {
        let mut errs = check_new_key(name, &scopes, &limits);
        let KeyLimits { expires_at, owner } = limits;
        let imported =
            ApiKey::imported(workspace.clone(), name.to_owned(), token, scopes, owner_scoped, time_fmt::now());
        if let Err(m) = &imported {
            errs.push("key", m.clone());
        }
        errs.into_result()?;
        let mut key = imported.expect("checked above");
        key.expires_at = expires_at;
        key.owner = owner;
        Ok(key)
    }

    /// Imports a key the product already issued, so its customer keeps using it. Only
    /// its hash is kept; the key itself is never shown again.
    pub async fn import_key(
        &self,
        workspace: &WorkspaceId,
        name: &str,
        token: &str,
        scopes: Vec<Scope>,
        owner_scoped: bool,
        limits: KeyLimits,
    ) -> Result<ApiKey, ServiceError> {
        let key = Self::check_import(workspace, name, token, scopes, owner_scoped, limits)?;
        self.import_checked(key).await
    }

    /// Stores a key [`Self::check_import`] accepted. A key imported before is a 409.
    pub async fn import_checked(&self, mut key: ApiKey) -> Result<ApiKey, ServiceError> {
        for _ in 0..KEY_ID_ATTEMPTS {
            match self.store.create_api_key(&key).await {
                Ok(()) => return Ok(key),
                Err(StoreError::Conflict { constraint: "api_key_id" }) => key.id = ApiKeyId::random(),
                Err(StoreError::Conflict { constraint: "imported_key" }) => {
                    return Err(ServiceError::Conflict("this key has been imported already"));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { constraint: "api_key_id" }.into())
    }

    pub async fn list_keys(&self, workspace: Option<&WorkspaceId>) -> Result<Vec<ApiKey>, ServiceError> {
        Ok(self.store.list_api_keys(workspace).await?)
    }

    /// Revokes a key of `workspace`; a key of another workspace is not found.
    pub async fn revoke_key_in(&self, workspace: &WorkspaceId, id: &ApiKeyId) -> Result<(), ServiceError> {
        match self.store.get_api_key(id).await? {
            Some(k) if &k.workspace_id == workspace && !k.is_revoked() => self.revoke_key(id).await,
            _ => Err(ServiceError::NotFound { what: "active API key" }),
        }
    }

    pub async fn revoke_key(&self, id: &ApiKeyId) -> Result<(), ServiceError> {
        if self.store.revoke_api_key(id, time_fmt::now()).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound { what: "active API key" })
        }
    }
}
