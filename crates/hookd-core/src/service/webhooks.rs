//! Managing webhooks: create, read, change, delete, and their signing secrets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::crypto::{OpenError, SecretCipher};
use crate::domain::{
    generate_signing_secret, headers_context, validate_signing_secret, Alert, AlertSender, EventCatalog, FieldErrors,
    NewWebhook, SealedHeaders, SigningScheme, Webhook, WebhookChanges, WebhookRules, WebhookSecrets, OPERATIONS_OWNER,
};
use crate::id::{WebhookId, WorkspaceId};
use crate::service::directory::WebhookDirectory;
use crate::service::events::Engine;
use crate::service::{Principal, ServiceError};
use crate::store::{HeldDeliveries, PageRequest, Store, WebhookFilter, WebhookSettings};
use crate::time_fmt;

/// Reason recorded when a webhook is disabled through the API.
pub const DISABLED_MANUALLY: &str = "manual";

/// See [`WebhookOptions::held_max`].
pub const DEFAULT_HELD_MAX: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct WebhookOptions {
    pub rules: WebhookRules,
    /// Whether the current secret may be read back after creation.
    pub secret_retrieval: bool,
    /// How long the previous secret keeps signing after a rotation.
    pub rotation_overlap: Duration,
    /// Most deliveries held for a disabled webhook; the oldest beyond it are cancelled.
    pub held_max: u32,
    /// Where a webhook disabled by hand is reported.
    pub alerts: Option<AlertSender>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            rules: WebhookRules::default(),
            secret_retrieval: false,
            rotation_overlap: Duration::from_secs(24 * 3600),
            held_max: DEFAULT_HELD_MAX,
            alerts: None,
        }
    }
}

/// A webhook just created, with its secret in clear (shown this once).
#[derive(Debug)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub signing_secret: String,
    pub warnings: Vec<String>,
}

/// One page of a list, and the cursor of the next page when there is one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from a read of one row more than `limit` (which tells whether another
    /// page exists): the cursor is the last kept row's.
    pub(crate) fn from_overfetch(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Self {
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(cursor)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

#[derive(Clone)]
pub struct WebhookService {
    store: Arc<dyn Store>,
    cipher: SecretCipher,
    directory: Arc<WebhookDirectory>,
    catalog: Arc<EventCatalog>,
    operational: Arc<EventCatalog>,
    /// Woken when re-enabling a webhook makes its held deliveries due.
    engine: Arc<dyn Engine>,
    options: WebhookOptions,
}

impl WebhookService {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<WebhookDirectory>,
        catalog: Arc<EventCatalog>,
        engine: Arc<dyn Engine>,
        options: WebhookOptions,
    ) -> Self {
        let operational = Arc::new(EventCatalog::operational());
        Self { store, cipher: directory.cipher().clone(), directory, catalog, operational, engine, options }
    }

    /// Whether signing secrets may be read back (`secret_retrieval`).
    pub fn secret_retrieval(&self) -> bool {
        self.options.secret_retrieval
    }

    pub fn catalog(&self) -> &EventCatalog {
        &self.catalog
    }

    /// Forgets the cached webhooks of a deleted workspace, so no attempt starts for them
    /// from this node's cache.
    pub fn forget_workspace(&self, workspace: &WorkspaceId) {
        self.directory.invalidate_workspace(workspace);
    }

    /// The events a webhook of `owner` may subscribe to: the catalog's, or the
    /// operational events for an operational webhook.
    fn catalog_for(&self, owner: Option<&str>) -> &EventCatalog {
        if owner == Some(OPERATIONS_OWNER) {
            &self.operational
        } else {
            &self.catalog
        }
    }

    pub async fn create(&self, who: &Principal, mut req: NewWebhook) -> Result<CreatedWebhook, ServiceError> {
        let owner = who.owner().or_else(|| req.owner.clone());
        self.options.rules.check_new(&mut req, self.catalog_for(owner.as_deref()))?;
        let (Some(url), Some(events)) = (req.url.take(), req.events.take()) else {
            unreachable!("check_new requires url and events");
        };
        let owner = match (who.owner(), req.owner.take()) {
            (Some(mine), Some(asked)) if mine != asked => {
                return Err(FieldErrors::single(
                    "owner",
                    format!("must be this key's own owner (`{mine}`), or left out"),
                )
                .into())
            }
            (Some(mine), _) => Some(mine),
            (None, asked) => asked,
        };
        if owner.is_some() && who.visibility() == WebhookFilter::Unowned {
            return Err(FieldErrors::single(
                "owner",
                "this key sees only webhooks without an owner (owner_visibility = \"unowned\"), so it cannot create one for an owner",
            )
            .into());
        }
        let filter = who.visibility();
        let warnings = self.duplicate_warnings(who, &filter, &url, &events, None).await?;
        let (webhook, signing_secret) =
            self.insert_new(who.workspace_id(), Some(who.key_id().clone()), owner, url, events, req).await?;
        Ok(CreatedWebhook { webhook, signing_secret, warnings })
    }

    /// Stores a webhook from a checked request; returns it with what its receiver
    /// verifies with (the shared secret, or the public key).
    async fn insert_new(
        &self,
        workspace: &WorkspaceId,
        created_by: Option<crate::id::ApiKeyId>,
        owner: Option<String>,
        url: String,
        events: Vec<String>,
        req: NewWebhook,
    ) -> Result<(Webhook, String), ServiceError> {
        let id = WebhookId::generate();
        let signing = req.signing.unwrap_or_default();
        let (secret, public_key) = new_signing_key(signing, req.secret);
        let now = time_fmt::now();
        let enabled = req.enabled.unwrap_or(true);
        let mut webhook = Webhook {
            number: 0,
            secrets: WebhookSecrets {
                current: self.cipher.seal(secret.as_bytes(), id.as_str()),
                previous: None,
                previous_expires_at: None,
                public_key: public_key.clone(),
            },
            signing,
            id,
            workspace_id: workspace.clone(),
            created_by,
            owner,
            url,
            events,
            description: req.description,
            enabled,
            disabled_reason: (!enabled).then(|| DISABLED_MANUALLY.to_owned()),
            failure_count: 0,
            delivery_attempts: 0,
            last_delivered_at: None,
            metadata: req.metadata.unwrap_or_default(),
            rate_limit: req.rate_limit,
            headers: None,
            filter: req.parsed_filter,
            ordering: req.ordering.unwrap_or_default(),
            channels: req.channels.unwrap_or_default(),
            uid: req.uid,
            protocol: req.protocol.unwrap_or_default(),
            send_traceparent: req.send_traceparent.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        webhook.headers = seal_headers(&self.cipher, &webhook.id, req.headers.unwrap_or_default());
        webhook.number = self.store.insert_webhook(&webhook).await.map_err(uid_taken)?;
        self.directory.invalidate(&webhook.workspace_id, &webhook.id);
        tracing::info!(webhook_id = %webhook.id, workspace_id = %webhook.workspace_id, "webhook created");
        Ok((webhook, public_key.unwrap_or(secret)))
    }

    /// Makes the operational webhooks of `workspace` named `config-1`, `config-2`, …
    /// match `targets` (the configuration's `[[operational_webhooks]]`), and deletes
    /// those beyond them. Errors name the target (`operational_webhooks[0].url`).
    pub async fn sync_operational(
        &self,
        workspace: &WorkspaceId,
        targets: &[crate::domain::OperationalTarget],
    ) -> Result<(), ServiceError> {
        let page = PageRequest { limit: 10_000, before: None };
        let owner = WebhookFilter::Owner(OPERATIONS_OWNER.to_owned());
        let existing = self.store.list_webhooks(workspace, &owner, &page).await?;
        let uid_of = |i: usize| format!("config-{}", i + 1);
        for (i, t) in targets.iter().enumerate() {
            let mut req = NewWebhook {
                owner: Some(OPERATIONS_OWNER.to_owned()),
                url: Some(t.url.clone()),
                events: Some(t.events.clone()),
                secret: Some(t.secret.clone()),
                description: Some("From the configuration's [[operational_webhooks]].".into()),
                uid: Some(uid_of(i)),
                ..NewWebhook::default()
            };
            self.options
                .rules
                .check_new(&mut req, &self.operational)
                .map_err(|e| e.prefixed(&format!("operational_webhooks[{i}].")))?;
            let (Some(url), Some(events)) = (req.url.take(), req.events.take()) else {
                unreachable!("check_new requires url and events");
            };
            let Some(w) = existing.iter().find(|w| w.uid.as_deref() == Some(uid_of(i).as_str())) else {
                match self.insert_new(workspace, None, Some(OPERATIONS_OWNER.to_owned()), url, events, req).await {
                    // Another node, starting at the same moment, made it.
                    Err(ServiceError::Conflict(_)) => continue,
                    r => r.map(drop)?,
                }
                continue;
            };
            if w.url != url || w.events != events || !w.enabled {
                let settings = WebhookSettings {
                    url,
                    events,
                    enabled: true,
                    disabled_reason: None,
                    reset_failures: !w.enabled,
                    updated_at: time_fmt::now(),
                    ..WebhookSettings::of(w)
                };
                self.store.update_webhook_settings(workspace, &w.id, &settings).await?;
            }
            let current = self.cipher.open(&w.secrets.current, w.id.as_str())?;
            if current != t.secret.as_bytes() {
                let secrets = WebhookSecrets {
                    current: self.cipher.seal(t.secret.as_bytes(), w.id.as_str()),
                    previous: None,
                    previous_expires_at: None,
                    public_key: None,
                };
                self.store.update_webhook_secrets(workspace, &w.id, &secrets, time_fmt::now()).await?;
            }
            self.directory.invalidate(workspace, &w.id);
        }
        for w in existing.iter().filter(|w| w.uid.as_deref().is_some_and(|u| u.starts_with("config-"))) {
            if !(0..targets.len()).any(|i| w.uid.as_deref() == Some(uid_of(i).as_str())) {
                self.store.delete_webhook(workspace, &w.id).await?;
                self.directory.invalidate(workspace, &w.id);
            }
        }
        Ok(())
    }

    pub async fn list(&self, who: &Principal, limit: u32, cursor: Option<&str>) -> Result<Page<Webhook>, ServiceError> {
        let before = cursor
            .map(|c| {
                WebhookId::parse(c).map_err(|_| FieldErrors::single("cursor", "is not a cursor returned by this list"))
            })
            .transpose()?;
        let filter = who.visibility();
        // One row more than asked tells whether another page exists.
        let page = PageRequest { limit: limit + 1, before };
        let items = self.store.list_webhooks(who.workspace_id(), &filter, &page).await?;
        Ok(Page::from_overfetch(items, limit, |w| w.id.to_string()))
    }

    /// A webhook the caller may see. Another workspace's webhook, or one outside an
    /// owner-scoped key's view, is "not found": its existence is not the caller's to know.
    pub async fn get(&self, who: &Principal, id: &WebhookId) -> Result<Webhook, ServiceError> {
        let not_found = ServiceError::NotFound { what: "webhook" };
        let wh = self.store.get_webhook(who.workspace_id(), id).await?.ok_or(not_found)?;
        if who.visibility().admits(wh.owner.as_deref()) {
            Ok(wh)
        } else {
            Err(ServiceError::NotFound { what: "webhook" })
        }
    }

    /// A webhook the caller may see, by its `number`.
    pub async fn get_by_number(&self, who: &Principal, number: i64) -> Result<Webhook, ServiceError> {
        let wh = self
            .store
            .get_webhook_by_number(who.workspace_id(), number)
            .await?
            .ok_or(ServiceError::NotFound { what: "webhook" })?;
        if who.visibility().admits(wh.owner.as_deref()) {
            Ok(wh)
        } else {
            Err(ServiceError::NotFound { what: "webhook" })
        }
    }

    /// Applies a PATCH. Returns the updated webhook and any warnings.
    pub async fn update(
        &self,
        who: &Principal,
        id: &WebhookId,
        mut changes: WebhookChanges,
    ) -> Result<(Webhook, Vec<String>), ServiceError> {
        let current = self.get(who, id).await?;
        self.options.rules.check_changes(&mut changes, self.catalog_for(current.owner.as_deref()))?;
        if changes.is_empty() {
            return Ok((current, Vec::new()));
        }
        let url = changes.url.unwrap_or_else(|| current.url.clone());
        let events = changes.events.unwrap_or_else(|| current.events.clone());
        let warnings = if url != current.url || events != current.events {
            self.duplicate_warnings(who, &who.visibility(), &url, &events, Some(&current.id)).await?
        } else {
            Vec::new()
        };
        let reset_failures = changes.enabled == Some(true) && !current.enabled;
        let held = reset_failures.then_some(match changes.deliver_held {
            Some(true) => HeldDeliveries::Deliver { keep: self.options.held_max },
            _ => HeldDeliveries::Cancel,
        });
        let hold_pending = changes.enabled == Some(false) && current.enabled;
        let (enabled, disabled_reason) = match changes.enabled {
            Some(true) => (true, None),
            Some(false) if current.enabled => (false, Some(DISABLED_MANUALLY.to_owned())),
            _ => (current.enabled, current.disabled_reason.clone()),
        };
        let settings = WebhookSettings {
            url,
            events,
            description: changes.description.unwrap_or_else(|| current.description.clone()),
            enabled,
            disabled_reason,
            metadata: changes.metadata.unwrap_or_else(|| current.metadata.clone()),
            rate_limit: changes.rate_limit.unwrap_or(current.rate_limit),
            headers: match changes.headers {
                Some(h) => seal_headers(&self.cipher, &current.id, h.unwrap_or_default()),
                None => current.headers.clone(),
            },
            filter: match changes.filter {
                Some(_) => changes.parsed_filter,
                None => current.filter.clone(),
            },
            ordering: changes.ordering.unwrap_or(current.ordering),
            channels: match changes.channels {
                Some(c) => c.unwrap_or_default(),
                None => current.channels.clone(),
            },
            uid: match changes.uid {
                Some(u) => u,
                None => current.uid.clone(),
            },
            send_traceparent: changes.send_traceparent.unwrap_or(current.send_traceparent),
            reset_failures,
            held,
            hold_pending,
            updated_at: time_fmt::now(),
        };
        let updated =
            self.store.update_webhook_settings(who.workspace_id(), &current.id, &settings).await.map_err(uid_taken)?;
        self.directory.invalidate(who.workspace_id(), &current.id);
        if !updated {
            return Err(ServiceError::NotFound { what: "webhook" });
        }
        match held {
            Some(HeldDeliveries::Deliver { .. }) => {
                self.engine.wake();
                tracing::info!(webhook_id = %current.id, "webhook re-enabled; delivering the deliveries held while it was disabled");
            }
            Some(HeldDeliveries::Cancel) => {
                tracing::info!(webhook_id = %current.id, "webhook re-enabled; the deliveries held while it was disabled are cancelled");
            }
            None if hold_pending => {
                tracing::info!(webhook_id = %current.id, "webhook disabled by hand; new deliveries are held");
                if let Some(alerts) = &self.options.alerts {
                    let _ =
                        alerts.send(Alert::Disabled { webhook: current.id.clone(), reason: DISABLED_MANUALLY.into() });
                }
            }
            None => {}
        }
        tracing::info!(webhook_id = %current.id, "webhook updated");
        let updated = Webhook {
            url: settings.url,
            events: settings.events,
            description: settings.description,
            enabled: settings.enabled,
            disabled_reason: settings.disabled_reason,
            metadata: settings.metadata,
            rate_limit: settings.rate_limit,
            headers: settings.headers,
            filter: settings.filter,
            ordering: settings.ordering,
            channels: settings.channels,
            uid: settings.uid,
            send_traceparent: settings.send_traceparent,
            failure_count: if reset_failures { 0 } else { current.failure_count },
            updated_at: settings.updated_at,
            ..current
        };
        Ok((updated, warnings))
    }

    pub async fn delete(&self, who: &Principal, id: &WebhookId) -> Result<(), ServiceError> {
        let wh = self.get(who, id).await?;
        let deleted = self.store.delete_webhook(who.workspace_id(), &wh.id).await?;
        self.directory.invalidate(who.workspace_id(), &wh.id);
        if !deleted {
            return Err(ServiceError::NotFound { what: "webhook" });
        }
        tracing::info!(webhook_id = %wh.id, "webhook deleted");
        Ok(())
    }

    /// A webhook's custom headers in clear.
    pub async fn headers(&self, who: &Principal, id: &WebhookId) -> Result<BTreeMap<String, String>, ServiceError> {
        let wh = self.get(who, id).await?;
        Ok(open_headers(&self.cipher, &wh)?)
    }

    /// What a receiver verifies with: the current secret in clear, where the deployment
    /// allows reading it back, or an Ed25519 webhook's public key (always).
    pub async fn secret(&self, who: &Principal, id: &WebhookId) -> Result<String, ServiceError> {
        if !self.options.secret_retrieval {
            let wh = self.get(who, id).await?;
            if let (SigningScheme::Ed25519, Some(pk)) = (wh.signing, wh.secrets.public_key) {
                return Ok(pk);
            }
            return Err(ServiceError::FeatureDisabled(
                "secret retrieval is disabled on this deployment (set secret_retrieval = true to enable it)",
            ));
        }
        let wh = self.get(who, id).await?;
        if let (SigningScheme::Ed25519, Some(pk)) = (wh.signing, &wh.secrets.public_key) {
            return Ok(pk.clone());
        }
        let plain = self.cipher.open(&wh.secrets.current, wh.id.as_str())?;
        Ok(String::from_utf8_lossy(&plain).into_owned())
    }

    /// Replaces the secret with `supplied` or a generated one. The old secret keeps
    /// signing alongside the new one for the rotation overlap; a secret older than that
    /// (from an earlier rotation still in its overlap) is dropped.
    pub async fn rotate_secret(
        &self,
        who: &Principal,
        id: &WebhookId,
        supplied: Option<String>,
    ) -> Result<(Webhook, String), ServiceError> {
        if let Some(s) = &supplied {
            validate_signing_secret(s).map_err(|m| FieldErrors::single("secret", m))?;
        }
        let wh = self.get(who, id).await?;
        if supplied.is_some() && wh.signing == SigningScheme::Ed25519 {
            // The body is valid; the webhook it is sent to is what makes it wrong.
            return Err(ServiceError::Conflict(
                "secret applies to hmac signing only: this webhook signs with ed25519, and rotating it without a \
                 secret generates a new key pair",
            ));
        }
        if let Some(s) = &supplied {
            // Setting the secret it already has changes nothing, and must not start an
            // overlap that would sign with the same secret twice.
            if self.cipher.open(&wh.secrets.current, wh.id.as_str())? == s.as_bytes() {
                return Ok((wh, s.clone()));
            }
        }
        let (secret, public_key) = new_signing_key(wh.signing, supplied);
        let now = time_fmt::now();
        let secrets = WebhookSecrets {
            current: self.cipher.seal(secret.as_bytes(), wh.id.as_str()),
            previous: Some(wh.secrets.current.clone()),
            previous_expires_at: Some(now + self.options.rotation_overlap),
            public_key: public_key.clone(),
        };
        let updated = self.store.update_webhook_secrets(who.workspace_id(), &wh.id, &secrets, now).await?;
        self.directory.invalidate(who.workspace_id(), &wh.id);
        if !updated {
            return Err(ServiceError::NotFound { what: "webhook" });
        }
        tracing::info!(webhook_id = %wh.id, "signing secret rotated");
        Ok((Webhook { secrets, updated_at: now, ..wh }, public_key.unwrap_or(secret)))
    }

    /// A warning per visible webhook with the same URL whose events overlap: the second
    /// seed's note that such duplicates double every delivery.
    async fn duplicate_warnings(
        &self,
        who: &Principal,
        filter: &WebhookFilter,
        url: &str,
        events: &[String],
        except: Option<&WebhookId>,
    ) -> Result<Vec<String>, ServiceError> {
        let same_url = self.store.find_webhooks_by_url(who.workspace_id(), url).await?;
        Ok(same_url
            .iter()
            .filter(|w| Some(&w.id) != except)
            .filter(|w| filter.admits(w.owner.as_deref()))
            .filter(|w| events.iter().any(|a| w.events.iter().any(|b| patterns_overlap(a, b))))
            .map(|w| {
                format!(
                    "webhook {} already receives some of these events at the same URL; each such event will be delivered twice",
                    w.id
                )
            })
            .collect())
    }
}

/// A new signing key and, for Ed25519, its public key: the caller's own secret or a
/// generated one for HMAC, a generated key pair for Ed25519.
fn new_signing_key(signing: SigningScheme, supplied: Option<String>) -> (String, Option<String>) {
    match signing {
        SigningScheme::Hmac => (supplied.unwrap_or_else(generate_signing_secret), None),
        SigningScheme::Ed25519 => {
            let (private, public) = crate::ed25519::generate();
            (private, Some(public))
        }
    }
}

/// Seals custom headers under the webhook's id; `None` for none.
fn seal_headers(cipher: &SecretCipher, id: &WebhookId, headers: BTreeMap<String, String>) -> Option<SealedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let json = serde_json::to_vec(&headers).expect("a map of strings serialises");
    Some(SealedHeaders {
        names: headers.into_keys().collect(),
        sealed: cipher.seal(&json, &headers_context(id.as_str())),
    })
}

/// A webhook's custom headers in clear, by name.
pub(crate) fn open_headers(cipher: &SecretCipher, w: &Webhook) -> Result<BTreeMap<String, String>, OpenError> {
    match &w.headers {
        None => Ok(BTreeMap::new()),
        Some(h) => {
            let plain = cipher.open(&h.sealed, &headers_context(w.id.as_str()))?;
            serde_json::from_slice(&plain).map_err(|_| OpenError)
        }
    }
}

/// Whether some event type matches both subscription patterns.
fn patterns_overlap(a: &str, b: &str) -> bool {
    let prefix = |p: &str| p.strip_suffix('*').map(str::to_owned);
    match (prefix(a), prefix(b)) {
        (Some(pa), Some(pb)) => pa.starts_with(&pb) || pb.starts_with(&pa),
        (Some(_), None) => crate::domain::pattern_matches(a, b),
        (None, Some(_)) => crate::domain::pattern_matches(b, a),
        (None, None) => a == b,
    }
}

/// A webhook uid another of the owner's webhooks has, as the 409 that says so.
fn uid_taken(e: crate::store::StoreError) -> ServiceError {
    match e {
        crate::store::StoreError::Conflict { constraint: "webhook_uid" } => {
            ServiceError::Conflict("another webhook of this owner already has this uid")
        }
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::patterns_overlap;

    #[test]
    fn overlap_of_patterns() {
        assert!(patterns_overlap("*", "link.created"));
        assert!(patterns_overlap("link.*", "*"));
        assert!(patterns_overlap("link.*", "link.created"));
        assert!(patterns_overlap("link.qr.*", "link.*"));
        assert!(!patterns_overlap("link.*", "bio.published"));
        assert!(!patterns_overlap("link.created", "link.scanned"));
        assert!(patterns_overlap("link.created", "link.created"));
    }
}
