//! The routing cache: each workspace's webhooks with their secrets opened, so
//! that neither a publish nor a delivery attempt reads webhooks from the database.
//!
//! Entries are loaded on first use and dropped when the webhook changes (the webhook
//! service and the delivery engine call [`WebhookDirectory::invalidate`]). A generation
//! counter keeps a load that raced with an invalidation from caching what it read.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use time::OffsetDateTime;

use crate::crypto::SecretCipher;
use crate::domain::Webhook;
use crate::ed25519::SigningKey;
use crate::id::{WebhookId, WorkspaceId};
use crate::service::ServiceError;
use crate::store::Store;

/// A signing secret in clear: a shared secret, or an Ed25519 private key (`whsk_…`),
/// which is also kept ready to sign. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SigningSecret {
    text: String,
    ed25519: Option<Arc<SigningKey>>,
}

impl SigningSecret {
    pub fn new(text: String) -> Self {
        let ed25519 = text
            .starts_with(crate::ed25519::PRIVATE_PREFIX)
            .then(|| SigningKey::from_private(&text).ok().map(Arc::new))
            .flatten();
        Self { text, ed25519 }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The Ed25519 key, for a webhook that signs with one.
    pub fn ed25519(&self) -> Option<&SigningKey> {
        self.ed25519.as_deref()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// A webhook as the engine needs it.
#[derive(Debug, Clone)]
pub struct WebhookRoute {
    pub webhook: Webhook,
    /// `webhook.url` parsed once, not on every attempt; the error if it does not parse.
    pub url: Result<url::Url, url::ParseError>,
    pub secret: SigningSecret,
    /// The rotated-out secret, while it still signs.
    pub previous_secret: Option<(SigningSecret, OffsetDateTime)>,
    /// The custom headers in clear, sent with every delivery.
    pub headers: Vec<(String, String)>,
}

impl WebhookRoute {
    /// The secrets that sign a delivery now: the current one first.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<&SigningSecret> {
        let mut v = vec![&self.secret];
        if let Some((s, until)) = &self.previous_secret {
            if *until > now {
                v.push(s);
            }
        }
        v
    }
}

type Routes = Arc<Vec<Arc<WebhookRoute>>>;

pub struct WebhookDirectory {
    store: Arc<dyn Store>,
    cipher: SecretCipher,
    generation: AtomicU64,
    workspaces: RwLock<HashMap<WorkspaceId, Routes>>,
    webhooks: RwLock<HashMap<WebhookId, Arc<WebhookRoute>>>,
}

impl WebhookDirectory {
    pub fn new(store: Arc<dyn Store>, cipher: SecretCipher) -> Self {
        Self {
            store,
            cipher,
            generation: AtomicU64::new(0),
            workspaces: RwLock::default(),
            webhooks: RwLock::default(),
        }
    }

    pub fn cipher(&self) -> &SecretCipher {
        &self.cipher
    }

    /// The webhooks of a workspace, enabled or not (a disabled one holds its deliveries).
    pub async fn routes(&self, workspace: &WorkspaceId) -> Result<Routes, ServiceError> {
        if let Some(r) = self.workspaces.read().unwrap_or_else(|p| p.into_inner()).get(workspace) {
            return Ok(r.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let loaded = self.store.list_routed_webhooks(workspace).await?;
        let routes: Routes =
            Arc::new(loaded.into_iter().map(|w| self.open(w).map(Arc::new)).collect::<Result<_, _>>()?);
        if self.generation.load(Ordering::Acquire) == generation {
            let mut by_id = self.webhooks.write().unwrap_or_else(|p| p.into_inner());
            for r in routes.iter() {
                by_id.insert(r.webhook.id.clone(), r.clone());
            }
            drop(by_id);
            let mut map = self.workspaces.write().unwrap_or_else(|p| p.into_inner());
            if self.generation.load(Ordering::Acquire) == generation {
                map.insert(workspace.clone(), routes.clone());
            }
        }
        Ok(routes)
    }

    /// One webhook, enabled or not; `None` when it was deleted.
    pub async fn route(&self, id: &WebhookId) -> Result<Option<Arc<WebhookRoute>>, ServiceError> {
        if let Some(r) = self.webhooks.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(r.clone()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(w) = self.store.find_webhook(id).await? else { return Ok(None) };
        let route = Arc::new(self.open(w)?);
        let mut map = self.webhooks.write().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            map.insert(id.clone(), route.clone());
        }
        Ok(Some(route))
    }

    /// A webhook's delivery rate limit, if the webhook is cached (never waits).
    pub fn cached_rate_limit(&self, id: &WebhookId) -> Option<u32> {
        self.webhooks.read().unwrap_or_else(|p| p.into_inner()).get(id).and_then(|r| r.webhook.rate_limit)
    }

    /// Forgets a webhook after it changed.
    pub fn invalidate(&self, workspace: &WorkspaceId, id: &WebhookId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.workspaces.write().unwrap_or_else(|p| p.into_inner()).remove(workspace);
        self.webhooks.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Forgets a workspace's webhooks (the workspace was deleted).
    pub fn invalidate_workspace(&self, workspace: &WorkspaceId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.workspaces.write().unwrap_or_else(|p| p.into_inner()).remove(workspace);
        self.webhooks.write().unwrap_or_else(|p| p.into_inner()).retain(|_, r| &r.webhook.workspace_id != workspace);
    }

    /// Forgets everything (another node's changes may have been missed).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.workspaces.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.webhooks.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Forgets a webhook known only by id (the engine disabled it).
    pub fn invalidate_webhook(&self, id: &WebhookId) {
        let ws =
            self.webhooks.read().unwrap_or_else(|p| p.into_inner()).get(id).map(|r| r.webhook.workspace_id.clone());
        match ws {
            Some(ws) => self.invalidate(&ws, id),
            None => {
                // Not cached by id: drop every workspace entry to be sure.
                self.generation.fetch_add(1, Ordering::AcqRel);
                self.workspaces.write().unwrap_or_else(|p| p.into_inner()).clear();
            }
        }
    }

    fn open(&self, w: Webhook) -> Result<WebhookRoute, ServiceError> {
        let ctx = w.id.as_str().to_owned();
        let open = |sealed| -> Result<SigningSecret, ServiceError> {
            Ok(SigningSecret::new(String::from_utf8_lossy(&self.cipher.open(sealed, &ctx)?).into_owned()))
        };
        let secret = open(&w.secrets.current)?;
        let previous_secret = match (&w.secrets.previous, w.secrets.previous_expires_at) {
            (Some(p), Some(until)) => Some((open(p)?, until)),
            _ => None,
        };
        let url = url::Url::parse(&w.url);
        let headers = super::webhooks::open_headers(&self.cipher, &w)?.into_iter().collect();
        Ok(WebhookRoute { webhook: w, url, secret, previous_secret, headers })
    }
}
