//! Authenticating API keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{ApiKey, ApiKeyToken, Scope};
use crate::id::{ApiKeyId, WorkspaceId};
use crate::store::{Store, StoreError, WebhookFilter};
use crate::time_fmt;
use time::OffsetDateTime;

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
    /// The owner a request acts for on the caller's behalf (a Svix application).
    as_owner: Option<String>,
}

impl Principal {
    pub fn new(key: Arc<ApiKey>) -> Self {
        Self { key, acting_in: None, unowned_only: false, as_owner: None }
    }

    /// This caller acting for `owner`: it sees and creates only the owner's webhooks
    /// and events. `None` when the caller has an owner of its own and it is another.
    pub fn for_owner(&self, owner: &str) -> Option<Self> {
        match self.owner() {
            Some(own) if own != owner => None,
            _ => Some(Self { as_owner: Some(owner.to_owned()), ..self.clone() }),
        }
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
        if let Some(o) = &self.as_owner {
            return Some(o.clone());
        }
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

/// What a verified product token says about its bearer.
#[derive(Debug, Clone)]
pub struct TokenClaims {
    /// Who the bearer is, stable across its tokens (issuer and subject): its rate limit
    /// and idempotency keys are its own.
    pub subject: String,
    /// The workspace: its id (`ws_…`) or its external id.
    pub workspace: String,
    /// The owner it acts for; `None` acts for the whole workspace.
    pub owner: Option<String>,
    pub scopes: Vec<Scope>,
    /// Until when the verification holds.
    pub expires_at: OffsetDateTime,
}

/// Verifies the product's own tokens (its JWTs), so its customers' credentials work
/// unchanged beside hookd's keys.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// Its name in `/metrics` (`jwt`, `introspection`).
    fn method(&self) -> &'static str;
    /// Whether `token` is one of this verifier's (otherwise it is taken for a key).
    fn accepts(&self, token: &str) -> bool;
    /// Verifies it: [`AuthError::Token`] when it is refused, [`AuthError::Store`] with
    /// `Unavailable` when it cannot be checked now (a 503, never a 401).
    async fn verify(&self, token: &str) -> Result<TokenClaims, AuthError>;
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
    /// A product token (JWT) that does not verify; the reason is safe to tell.
    #[error("token refused: {0}")]
    Token(String),
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
    /// The product's token verifiers, tried before keys for the tokens they accept.
    verifiers: Vec<Arc<dyn TokenVerifier>>,
    /// Authentications by method and outcome, for `/metrics`.
    counts: Arc<Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>>,
    /// Verified tokens by hash, until they expire (or a second, for the workspace).
    tokens: Arc<Mutex<HashMap<[u8; 32], CachedToken>>>,
    /// Imported keys by the hash of their token; unknown hashes too, briefly.
    imported: Arc<Mutex<HashMap<[u8; 32], CachedImport>>>,
}

/// Past this many cached keys, the cache starts afresh.
const KEY_CACHE_MAX: usize = 10_000;

/// A key as read from the store, and when.
type CachedKey = (Arc<ApiKey>, Instant);
/// A verified token's key, when it was verified, and until when the token holds.
type CachedToken = (Arc<ApiKey>, Instant, OffsetDateTime);
/// What the store said of an imported key's hash (`None`: no such key), and when.
type CachedImport = (Option<Arc<ApiKey>>, Instant);

impl AuthService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            last_touch: Arc::default(),
            cache: Arc::default(),
            imported: Arc::default(),
            unowned_only: false,
            verifiers: Vec::new(),
            tokens: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// Callers without an owner see only webhooks without one (seed 003's rule:
    /// "API-key callers see only dashboard-managed webhooks").
    pub fn with_unowned_only(mut self, unowned_only: bool) -> Self {
        self.unowned_only = unowned_only;
        self
    }

    /// Accepts the product's tokens that `verifier` takes.
    pub fn with_verifier(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.verifiers.push(verifier);
        self
    }

    /// Checks a presented key. Keys are re-read from the store at most
    /// [`KEY_CACHE_TTL`] after they were last read, so a revocation made anywhere takes
    /// effect within that time.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let verifier = self.verifiers.iter().find(|v| v.accepts(token));
        let result = self.authenticate_with(verifier.map(|v| v.as_ref()), token).await;
        let method = match (verifier, &result) {
            (Some(v), _) => v.method(),
            (None, Ok(p)) if p.key.is_imported() => "imported_key",
            (None, _) => "key",
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::Store(_)) => "unavailable",
            Err(_) => "refused",
        };
        *self.counts.lock().unwrap_or_else(|p| p.into_inner()).entry((method, outcome)).or_default() += 1;
        result
    }

    /// A stored key by id, from the same cache as [`AuthService::authenticate`].
    pub async fn key_by_id(&self, id: &ApiKeyId) -> Result<Option<Arc<ApiKey>>, StoreError> {
        self.key(id).await
    }

    /// The caller a key is, under this deployment's visibility rule.
    pub fn principal(&self, key: Arc<ApiKey>) -> Principal {
        Principal { unowned_only: self.unowned_only, ..Principal::new(key) }
    }

    /// `/metrics` lines: authentications by method and outcome.
    pub fn render_metrics(&self, out: &mut String) {
        out.push_str("# HELP hookd_authentications_total Credentials checked, by method and outcome.\n");
        out.push_str("# TYPE hookd_authentications_total counter\n");
        for ((method, outcome), n) in self.counts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&format!("hookd_authentications_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}\n"));
        }
    }

    async fn authenticate_with(
        &self,
        verifier: Option<&dyn TokenVerifier>,
        token: &str,
    ) -> Result<Principal, AuthError> {
        if let Some(v) = verifier {
            let key = self.verified(v, token).await?;
            return Ok(Principal { unowned_only: self.unowned_only, ..Principal::new(key) });
        }
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

    /// A product token, verified (or taken from the cache until it expires; its
    /// workspace is looked up again after a second, so a deleted one stops it), as the
    /// key it stands for.
    async fn verified(&self, verifier: &dyn TokenVerifier, token: &str) -> Result<Arc<ApiKey>, AuthError> {
        let hash = crate::domain::token_hash(token);
        let now = time_fmt::now();
        {
            let cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((k, at, until)) = cache.get(&hash) {
                if *until > now && at.elapsed() < KEY_CACHE_TTL {
                    return Ok(k.clone());
                }
            }
        }
        let claims = verifier.verify(token).await?;
        let workspace = crate::service::admin::find_by_id_or_external_id(&*self.store, &claims.workspace)
            .await?
            .ok_or_else(|| AuthError::Token(format!("its workspace `{}` does not exist", claims.workspace)))?;
        let key = Arc::new(ApiKey::for_token(workspace.id, &claims, now));
        let mut cache = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= KEY_CACHE_MAX {
            cache.retain(|_, (_, _, until)| *until > now);
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(hash, (key.clone(), Instant::now(), claims.expires_at));
        Ok(key)
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
