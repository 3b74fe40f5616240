//! The dashboard's and the portal's sessions, one-time portal links, and webhook health.
//!
//! A session's cookie holds 32 random bytes (hex); the store keeps their SHA-256. A
//! dashboard session belongs to the API key that signed in and is checked against it
//! on every request: revoking or expiring the key ends the session. A portal session
//! belongs to one owner of one workspace and ends when its link's lifetime does.

use std::collections::HashMap;
use std::sync::Arc;

use rand::RngCore;
use time::{Duration, OffsetDateTime};

use crate::domain::{hour_of, token_hash, ApiKey, Health, PortalLink, Scope, StatRow, WebSession};
use crate::id::{ApiKeyId, WebhookId, WorkspaceId};
use crate::service::{AuthError, AuthService, Principal, ServiceError};
use crate::store::Store;
use crate::time_fmt;

/// How often a session's activity is written: its idle timer is this precise.
const TOUCH_INTERVAL: Duration = Duration::minutes(1);

/// The longest a portal link may live.
pub const MAX_PORTAL_LIFETIME: Duration = Duration::days(7);

#[derive(Debug, Clone)]
pub struct WebOptions {
    /// A session not used for this long ends.
    pub idle_timeout: Duration,
    /// A dashboard session ends this long after sign-in, however active.
    pub lifetime: Duration,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self { idle_timeout: Duration::minutes(30), lifetime: Duration::hours(12) }
    }
}

/// A session as a request finds it: who it acts as, and its CSRF token.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub session: WebSession,
    pub principal: Principal,
}

impl ActiveSession {
    /// Whether this session may manage workspaces and keys.
    pub fn is_admin(&self) -> bool {
        !self.session.is_portal() && self.principal.key.allows(Scope::Admin)
    }
}

/// Why signing in failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Success, failures and latency of webhooks over a window, from their hourly rows.
#[derive(Debug, Clone, Default)]
pub struct HealthReport {
    /// Every row read, by webhook.
    pub rows: HashMap<WebhookId, Vec<StatRow>>,
}

impl HealthReport {
    pub fn of(&self, webhook: &WebhookId) -> Health {
        Health::of(self.rows.get(webhook).into_iter().flatten())
    }

    /// One webhook's rows summed per hour, from `since` to the current hour, oldest
    /// first; hours without attempts are empty.
    pub fn hourly(
        &self,
        webhook: &WebhookId,
        since: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Vec<(OffsetDateTime, Health)> {
        let rows = self.rows.get(webhook).map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::new();
        let mut hour = hour_of(since);
        while hour <= now {
            out.push((hour, Health::of(rows.iter().filter(|r| r.hour == hour))));
            hour += Duration::HOUR;
        }
        out
    }
}

#[derive(Clone)]
pub struct WebService {
    store: Arc<dyn Store>,
    auth: AuthService,
    options: WebOptions,
}

impl WebService {
    pub fn new(store: Arc<dyn Store>, auth: AuthService, options: WebOptions) -> Self {
        Self { store, auth, options }
    }

    pub fn options(&self) -> &WebOptions {
        &self.options
    }

    /// Signs in with an API key: returns the cookie value and the session.
    pub async fn sign_in(&self, token: &str) -> Result<(String, WebSession), SignInError> {
        let principal = self.auth.authenticate(token).await?;
        if principal.key.prefix == "token" {
            return Err(SignInError::Refused("sign in with an API key; product tokens work on the API only"));
        }
        let now = time_fmt::now();
        let lifetime = match principal.key.expires_at {
            Some(t) => (t - now).min(self.options.lifetime),
            None => self.options.lifetime,
        };
        let (secret, id_hash) = new_secret();
        let session = WebSession {
            id_hash,
            workspace_id: principal.key.workspace_id.clone(),
            api_key_id: Some(principal.key.id.clone()),
            owner: None,
            csrf_token: new_secret().0,
            acting_workspace: None,
            created_at: now,
            last_seen_at: now,
            expires_at: now + lifetime,
        };
        self.store.create_web_session(&session).await.map_err(AuthError::Store)?;
        tracing::info!(api_key_id = %principal.key.id, workspace_id = %session.workspace_id, "dashboard sign-in");
        Ok((secret, session))
    }

    /// The live session a cookie value names, with its caller; `None` when it does not
    /// exist, has ended, or its key no longer works. Records activity (at most once a
    /// minute).
    pub async fn session(&self, cookie: &str) -> Result<Option<ActiveSession>, ServiceError> {
        let Some(id_hash) = hash_of_secret(cookie) else { return Ok(None) };
        let Some(session) = self.store.get_web_session(&id_hash).await? else { return Ok(None) };
        let now = time_fmt::now();
        if !session.is_live(now, self.options.idle_timeout) {
            self.forget(&id_hash).await;
            return Ok(None);
        }
        let principal = match &session.api_key_id {
            Some(key_id) => {
                let Some(key) = self.auth.key_by_id(key_id).await? else { return Ok(None) };
                if key.is_revoked() || key.is_expired(now) {
                    self.forget(&id_hash).await;
                    return Ok(None);
                }
                let p = self.auth.principal(key);
                match &session.acting_workspace {
                    Some(w) if p.key.allows(Scope::Admin) => p.acting_in(w.clone()),
                    _ => p,
                }
            }
            None => {
                let owner = session.owner.clone().unwrap_or_default();
                Principal::new(Arc::new(ApiKey::for_portal(session.workspace_id.clone(), owner, session.expires_at)))
            }
        };
        if now - session.last_seen_at >= TOUCH_INTERVAL {
            // Reading pages needs no write: a database that refuses writes (a full disk)
            // leaves the idle timer where it was, and the page is served.
            if let Err(e) = self.store.update_web_session(&id_hash, now, session.acting_workspace.as_ref()).await {
                tracing::warn!(error = %crate::error_chain(&e), "could not record a session's activity");
            }
        }
        Ok(Some(ActiveSession { session, principal }))
    }

    /// Deletes an ended session. It is refused either way, so a failed delete only
    /// leaves a row for the pruning to take.
    async fn forget(&self, id_hash: &[u8; 32]) {
        if let Err(e) = self.store.delete_web_session(id_hash).await {
            tracing::warn!(error = %crate::error_chain(&e), "could not delete an ended session");
        }
    }

    /// Ends the session a cookie value names.
    pub async fn sign_out(&self, cookie: &str) -> Result<(), ServiceError> {
        if let Some(h) = hash_of_secret(cookie) {
            self.store.delete_web_session(&h).await?;
        }
        Ok(())
    }

    /// An admin's session acts in `workspace` from now on (`None`: its own again).
    pub async fn switch_workspace(
        &self,
        active: &ActiveSession,
        workspace: Option<&WorkspaceId>,
    ) -> Result<(), ServiceError> {
        if !active.is_admin() {
            return Err(ServiceError::NotFound { what: "workspace" });
        }
        let workspace = workspace.filter(|w| **w != active.session.workspace_id);
        self.store.update_web_session(&active.session.id_hash, time_fmt::now(), workspace).await?;
        Ok(())
    }

    /// A one-time link into the portal for `owner`, valid for `lifetime`: returns the
    /// token to put in the URL and the link.
    pub async fn create_portal_link(
        &self,
        who: &Principal,
        owner: &str,
        lifetime: Duration,
    ) -> Result<(String, PortalLink), ServiceError> {
        let mut errors = crate::domain::FieldErrors::default();
        if let Err(e) = crate::domain::validate_owner(owner) {
            errors.push("owner", e);
        }
        if lifetime < Duration::minutes(1) || lifetime > MAX_PORTAL_LIFETIME {
            errors.push("expires_in", "must be between 60 and 604800 seconds");
        }
        if let Some(own) = who.owner() {
            if own != owner {
                errors.push("owner", "must be the key's own owner");
            }
        }
        errors.into_result()?;
        let now = time_fmt::now();
        let (token, token_hash) = new_secret();
        let link = PortalLink {
            token_hash,
            workspace_id: who.workspace_id().clone(),
            owner: owner.to_owned(),
            created_at: now,
            expires_at: now + lifetime,
            used_at: None,
        };
        self.store.create_portal_link(&link).await?;
        tracing::info!(workspace_id = %link.workspace_id, owner = %link.owner, "portal link created");
        Ok((token, link))
    }

    /// Opens a portal link: marks it used and starts a portal session until the link's
    /// end. `None` when the link is unknown, used or expired.
    pub async fn open_portal(&self, token: &str) -> Result<Option<(String, WebSession)>, ServiceError> {
        let Some(token_hash) = hash_of_secret(token) else { return Ok(None) };
        let now = time_fmt::now();
        let Some(link) = self.store.redeem_portal_link(&token_hash, now).await? else { return Ok(None) };
        let (secret, id_hash) = new_secret();
        let session = WebSession {
            id_hash,
            workspace_id: link.workspace_id,
            api_key_id: None,
            owner: Some(link.owner),
            csrf_token: new_secret().0,
            acting_workspace: None,
            created_at: now,
            last_seen_at: now,
            expires_at: link.expires_at,
        };
        self.store.create_web_session(&session).await?;
        Ok(Some((secret, session)))
    }

    /// The hourly statistics of these webhooks from `since`.
    pub async fn health(&self, webhooks: &[WebhookId], since: OffsetDateTime) -> Result<HealthReport, ServiceError> {
        let mut report = HealthReport::default();
        for row in self.store.webhook_stats(webhooks, hour_of(since)).await? {
            report.rows.entry(row.webhook_id.clone()).or_insert_with(Vec::new).push(row);
        }
        Ok(report)
    }

    /// Deletes ended sessions and links, and statistics older than `stats_retention`.
    pub async fn prune(&self, stats_retention: Duration) -> Result<u64, ServiceError> {
        let now = time_fmt::now();
        Ok(self.store.prune_web(now, now - stats_retention).await?)
    }
}

/// A random token of 64 hex digits (256 bits), for a form's CSRF field.
pub fn random_token() -> String {
    new_secret().0
}

/// A new random secret (64 hex digits) and its SHA-256.
fn new_secret() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let hash = token_hash(&secret);
    (secret, hash)
}

/// The hash a presented secret is stored under, if it looks like one of ours.
fn hash_of_secret(secret: &str) -> Option<[u8; 32]> {
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then(|| token_hash(secret))
}

/// The key id a portal session's caller gets: derived from the workspace and owner, so
/// everything the portal does is attributed to that owner.
pub(crate) fn portal_key_id(workspace: &WorkspaceId, owner: &str) -> ApiKeyId {
    let h = token_hash(&format!("portal\0{workspace}\0{owner}"));
    ApiKeyId::from_hex(&hex::encode(&h[..4])).expect("8 lower-case hex digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_64_hex_digits_and_only_those_are_looked_up() {
        let (s, h) = new_secret();
        assert_eq!(s.len(), 64);
        assert_eq!(hash_of_secret(&s), Some(h));
        assert_eq!(hash_of_secret("short"), None);
        assert_eq!(hash_of_secret(&"z".repeat(64)), None);
    }

    #[test]
    fn portal_callers_are_one_id_per_owner() {
        let ws = WorkspaceId::generate();
        assert_eq!(portal_key_id(&ws, "a"), portal_key_id(&ws, "a"));
        assert_ne!(portal_key_id(&ws, "a"), portal_key_id(&ws, "b"));
    }
}
