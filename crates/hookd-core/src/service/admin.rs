//! Workspaces and API keys: first start, and the provisioning the CLI exposes.

use std::sync::Arc;

use crate::domain::FieldErrors;
use crate::domain::{validate_workspace_name, ApiKey, GeneratedKey, Scope, Workspace};
use crate::id::{ApiKeyId, WorkspaceId};
use crate::service::ServiceError;
use crate::store::{Store, StoreError};
use crate::time_fmt;

/// How many times to draw a fresh key id when the 32-bit id collides.
const KEY_ID_ATTEMPTS: usize = 8;

/// The outcome of first start.
#[derive(Debug)]
pub struct Bootstrapped {
    pub workspace: Workspace,
    /// The full key, to be shown once.
    pub token: String,
}

#[derive(Clone)]
pub struct AdminService {
    store: Arc<dyn Store>,
    key_prefix: String,
}

impl AdminService {
    pub fn new(store: Arc<dyn Store>, key_prefix: String) -> Self {
        Self { store, key_prefix }
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
        let workspace = Workspace { id: WorkspaceId::generate(), name: "default".into(), created_at: now };
        let generated =
            GeneratedKey::new(workspace.id.clone(), &self.key_prefix, "default".into(), vec![Scope::All], false, now);
        if self.store.bootstrap(&workspace, &generated.key).await? {
            Ok(Some(Bootstrapped { workspace, token: generated.token }))
        } else {
            Ok(None)
        }
    }

    pub async fn create_workspace(&self, name: &str) -> Result<Workspace, ServiceError> {
        validate_workspace_name(name).map_err(|m| FieldErrors::single("name", m))?;
        let ws = Workspace { id: WorkspaceId::generate(), name: name.to_owned(), created_at: time_fmt::now() };
        match self.store.create_workspace(&ws).await {
            Ok(()) => Ok(ws),
            Err(StoreError::Conflict { .. }) => {
                Err(FieldErrors::single("name", format!("a workspace named `{name}` already exists")).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>, ServiceError> {
        Ok(self.store.list_workspaces().await?)
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
    ) -> Result<GeneratedKey, ServiceError> {
        let mut errs = FieldErrors::default();
        if name.is_empty() || name.chars().count() > 100 {
            errs.push("name", "must be 1 to 100 characters");
        }
        if scopes.is_empty() {
            errs.push("scopes", "must name at least one scope");
        }
        errs.into_result()?;
        for _ in 0..KEY_ID_ATTEMPTS {
            let g = GeneratedKey::new(
                workspace.clone(),
                &self.key_prefix,
                name.to_owned(),
                scopes.clone(),
                owner_scoped,
                time_fmt::now(),
            );
            match self.store.create_api_key(&g.key).await {
                Ok(()) => return Ok(g),
                Err(StoreError::Conflict { constraint: "api_key_id" }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict { constraint: "api_key_id" }.into())
    }

    pub async fn list_keys(&self, workspace: Option<&WorkspaceId>) -> Result<Vec<ApiKey>, ServiceError> {
        Ok(self.store.list_api_keys(workspace).await?)
    }

    pub async fn revoke_key(&self, id: &ApiKeyId) -> Result<(), ServiceError> {
        if self.store.revoke_api_key(id, time_fmt::now()).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound { what: "active API key" })
        }
    }
}
