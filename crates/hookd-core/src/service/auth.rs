//! Authenticating API keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{ApiKey, ApiKeyToken, Scope};
use crate::id::{ApiKeyId, WorkspaceId};
use crate::store::{Store, StoreError};
use crate::time_fmt;

/// How often `last_used_at` is written for a busy key: once a minute is precise enough
/// for "when was this key last used" and keeps a write off every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: ApiKey,
}

impl Principal {
    pub fn workspace_id(&self) -> &WorkspaceId {
        &self.key.workspace_id
    }

    pub fn key_id(&self) -> &ApiKeyId {
        &self.key.id
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.key.allows(scope)
    }

    /// The key whose webhooks this caller is limited to, if it is owner-scoped.
    pub fn owner_filter(&self) -> Option<&ApiKeyId> {
        self.key.owner_scoped.then_some(&self.key.id)
    }
}

/// Why a key was refused. All but `Store` are a 401 to the client, which is not told
/// which of them it was beyond "malformed" versus "invalid".
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Malformed(#[from] crate::domain::TokenError),
    #[error("API key is not valid")]
    Invalid,
    #[error("API key has been revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    last_touch: Arc<Mutex<HashMap<ApiKeyId, Instant>>>,
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, last_touch: Arc::default() }
    }

    /// Checks a presented key. The key is read from the store on every request, so a
    /// revocation (by the CLI, or by another node) takes effect at once.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let parsed = ApiKeyToken::parse(token)?;
        let key = self.store.get_api_key(&parsed.id).await?.ok_or(AuthError::Invalid)?;
        // Compare the secret before looking at anything else, so the response does not
        // tell a guesser whether the id exists.
        if !key.verify_secret(parsed.secret) || key.prefix != parsed.prefix {
            return Err(AuthError::Invalid);
        }
        if key.is_revoked() {
            return Err(AuthError::Revoked);
        }
        self.touch(&key.id).await;
        Ok(Principal { key })
    }

    async fn touch(&self, id: &ApiKeyId) {
        let due = {
            let mut map = self.last_touch.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match map.get(id) {
                Some(t) if now.duration_since(*t) < TOUCH_INTERVAL => false,
                _ => {
                    map.insert(id.clone(), now);
                    true
                }
            }
        };
        if due {
            if let Err(e) = self.store.touch_api_key(id, time_fmt::now()).await {
                // Not worth failing the request for.
                tracing::warn!(api_key_id = %id, error = &e as &dyn std::error::Error, "could not record key use");
            }
        }
    }
}
