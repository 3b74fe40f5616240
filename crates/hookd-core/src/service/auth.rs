//! Authenticating API keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{ApiKey, ApiKeyToken, Scope};
use crate::id::{ApiKeyId, WorkspaceId};
use crate::store::{Store, StoreError, WebhookFilter};
use crate::time_fmt;

/// How often `last_used_at` is written for a busy key: once a minute is precise enough
/// for "when was this key last used" and keeps a write off every request.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long a key read from the store is trusted without reading it again. This bounds
/// how late a revocation made elsewhere (the CLI, another node) takes effect, and keeps
/// a database read off every request of a busy key.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub key: Arc<ApiKey>,
    /// The workspace an admin key acts in (`Hookd-Workspace`), when not its own.
    acting_in: Option<WorkspaceId>,
    /// Callers without an owner see only webhooks without one
    /// (`owner_visibility = "unowned"`).
    unowned_only: bool,
}

impl Principal {
    pub fn new(key: Arc<ApiKey>) -> Self {
        Self { key, acting_in: None, unowned_only: false }
    }

    /// An admin key acting in `workspace`, with every scope there.
    pub fn acting_in(self, workspace: WorkspaceId) -> Self {
        debug_assert!(self.key.allows(Scope::Admin));
        Self { acting_in: Some(workspace), ..self }
    }

    /// The workspace the caller acts in.
    pub fn workspace_id(&self) -> &WorkspaceId {
        self.acting_in.as_ref().unwrap_or(&self.key.workspace_id)
    }

    /// The workspace of the key itself.
    pub fn home_workspace_id(&self) -> &WorkspaceId {
        &self.key.workspace_id
    }

    pub fn key_id(&self) -> &ApiKeyId {
        &self.key.id
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.acting_in.is_some() || self.key.allows(scope)
    }

    /// The owner this caller acts for, whose webhooks alone it sees and creates.
    pub fn owner(&self) -> Option<String> {
        if self.acting_in.is_some() {
            return None;
        }
        self.key.acting_owner()
    }

    /// Which webhooks of the workspace this caller sees.
    pub fn visibility(&self) -> WebhookFilter {
        match self.owner() {
            Some(o) => WebhookFilter::Owner(o),
            None if self.unowned_only && self.acting_in.is_none() => WebhookFilter::Unowned,
            None => WebhookFilter::All,
        }
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
    #[error("API key has expired")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone)]
pub struct AuthService {
    store: Arc<dyn Store>,
    last_touch: Arc<Mutex<HashMap<ApiKeyId, Instant>>>,
    cache: Arc<Mutex<HashMap<ApiKeyId, CachedKey>>>,
    /// Callers without an owner see only webhooks without one.
    unowned_only: bool,
    /// Imported keys by the hash of their token; unknown hashes too, briefly.
    imported: Arc<Mutex<HashMap<[u8; 32], CachedImport>>>,
}

/// Past this many cached keys, the cache starts afresh.
const KEY_CACHE_MAX: usize = 10_000;

/// A key as read from the store, and when.
type CachedKey = (Arc<ApiKey>, Instant);
/// What the store said of an imported key's hash (`None`: no such key), and when.
type CachedImport = (Option<Arc<ApiKey>>, Instant);

impl AuthService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, last_touch: Arc::default(), cache: Arc::default(), imported: Arc::default(), unowned_only: false }
    }

    /// Callers without an owner see only webhooks without one (seed 003's rule:
    /// "API-key callers see only dashboard-managed webhooks").
    pub fn with_unowned_only(mut self, unowned_only: bool) -> Self {
        self.unowned_only = unowned_only;
        self
    }

    /// Checks a presented key. Keys are re-read from the store at most
    /// [`KEY_CACHE_TTL`] after they were last read, so a revocation made anywhere takes
    /// effect within that time.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let key = match ApiKeyToken::parse(token) {
            Ok(parsed) => match self.key(&parsed.id).await? {
                // Compare the secret before looking at anything else, so the response
                // does not tell a guesser whether the id exists.
                Some(k) if k.verify_secret(parsed.secret) && k.prefix == parsed.prefix => k,
                // A key the product issued may look like hookd's.
                _ => self.imported(token).await?.ok_or(AuthError::Invalid)?,
            },
            Err(malformed) => self.imported(token).await?.ok_or(AuthError::Malformed(malformed))?,
        };
        if key.is_revoked() {
            return Err(AuthError::Revoked);
        }
        if key.is_expired(time_fmt::now()) {
            return Err(AuthError::Expired);
        }
        self.touch(&key.id).await;
        Ok(Principal { unowned_only: self.unowned_only, ..Principal::new(key) })
    }

    /// A key the product issued and imported, by the hash of the whole token; cached
    /// like keys by id.
    async fn imported(&self, token: &str) -> Result<Option<Arc<ApiKey>>, StoreError> {
        if !crate::domain::importable(token) {
            return Ok(None);
        }
        let hash = crate::domain::token_hash(token);
        {
            let cache = self.imported.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((k, at)) = cache.get(&hash) {
                if at.elapsed() < KEY_CACHE_TTL {
                    return Ok(k.clone());
                }
            }
        }
        let key = self.store.find_imported_api_key(&hash).await?.map(Arc::new);
        let mut cache = self.imported.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEY_CACHE_MAX {
            cache.clear();
        }
        cache.insert(hash, (key.clone(), Instant::now()));
        Ok(key)
    }

    async fn key(&self, id: &ApiKeyId) -> Result<Option<Arc<ApiKey>>, StoreError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((k, at)) = cache.get(id) {
                if at.elapsed() < KEY_CACHE_TTL {
                    return Ok(Some(k.clone()));
                }
            }
        }
        let key = self.store.get_api_key(id).await?.map(Arc::new);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEY_CACHE_MAX {
            cache.clear();
        }
        match &key {
            Some(k) => {
                cache.insert(id.clone(), (k.clone(), Instant::now()));
            }
            None => {
                cache.remove(id);
            }
        }
        Ok(key)
    }

    async fn touch(&self, id: &ApiKeyId) {
        let due = {
            let mut map = self.last_touch.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            match map.get(id) {
                Some(t) if now.duration_since(*t) < TOUCH_INTERVAL => false,
                _ => {
                    // Bounded like the key cache: a key not seen for TOUCH_INTERVAL
                    // would be touched on its next use anyway.
                    if map.len() >= KEY_CACHE_MAX {
                        map.retain(|_, t| now.duration_since(*t) < TOUCH_INTERVAL);
                    }
                    map.insert(id.clone(), now);
                    true
                }
            }
        };
        if due {
            if let Err(e) = self.store.touch_api_key(id, time_fmt::now()).await {
                // Not worth failing the request for.
                tracing::warn!(api_key_id = %id, error = %crate::error_chain(&e), "could not record key use");
            }
        }
    }
}
