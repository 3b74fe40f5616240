//! The storage interface. Services speak to storage only through [`Store`], written in
//! domain types. `hookd-store-sql` implements it once for SQLite and PostgreSQL; each
//! database's crate opens the connections and runs the shared conformance suite.
//!
//! Methods are named after what the caller wants, and each is one atomic step: a
//! backend may use a transaction inside a method, never across two.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    ApiKey, Attempt, Delivery, DeliveryStatus, Event, PortalLink, StatRow, WebSession, Webhook, Workspace,
};
use crate::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};

/// What can go wrong in storage, separated so callers can react to each.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness or foreign-key rule refused the write. `constraint` names the rule
    /// in backend-neutral terms (`workspace_name`, `api_key_id`).
    #[error("conflicts with an existing row ({constraint})")]
    Conflict { constraint: &'static str },
    /// The database cannot be reached or is overloaded; the operation may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot write: a full disk, a read-only file or an I/O error. Nothing
    /// of the operation was written; it may succeed once the operator frees space.
    #[error("the database cannot write (disk full, read-only or I/O error)")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: corrupt data, a failed migration, a bug.
    #[error("storage error")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn other(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StoreError::Other(Box::new(e))
    }
}

impl StoreError {
    /// The same failure for another caller that shared the operation (a group commit):
    /// the same variant, its causes kept as text.
    pub fn copy_of(e: &StoreError) -> StoreError {
        let chain = std::error::Error::source(e).map(crate::error_chain).unwrap_or_default();
        match e {
            StoreError::NotFound => StoreError::NotFound,
            StoreError::Conflict { constraint } => StoreError::Conflict { constraint },
            StoreError::Unavailable(_) => StoreError::Unavailable(chain.into()),
            StoreError::Storage(_) => StoreError::Storage(chain.into()),
            StoreError::Other(_) => StoreError::Other(chain.into()),
        }
    }

    /// Whether the operation may succeed if tried again later, unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Storage(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Whether the database has been refusing writes: set by any write that failed with
/// [`StoreError::Storage`], cleared by the next publish that commits or by a write probe
/// that succeeds. Readiness reports it, and probes the database while it is set, so a
/// node reports itself ready as soon as space is back, even when no traffic reaches it.
///
/// Small writes (a delivery result) may still fit in space the database already holds
/// while a publish does not, so they report failures only, never recovery.
#[derive(Debug, Default)]
pub struct StorageHealth {
    failing: std::sync::atomic::AtomicBool,
}

impl StorageHealth {
    /// Notes the outcome of a publish's commit or of a write probe.
    pub fn observe<T>(&self, r: &StoreResult<T>) {
        match r {
            // Every publish passes here: a plain read unless writes were failing.
            Ok(_) => {
                if self.failing() && self.failing.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    tracing::info!("the database accepts writes again");
                }
            }
            Err(e) => self.observe_failure(e),
        }
    }

    /// Notes a failed write of any kind.
    pub fn observe_failure(&self, e: &StoreError) {
        if let StoreError::Storage(_) = e {
            if !self.failing.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::error!(
                    "the database refuses writes (disk full, read-only or I/O error); requests that write are \
                     answered 503 storage_unavailable until it accepts them again"
                );
            }
        }
    }

    pub fn failing(&self) -> bool {
        self.failing.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Which workspaces a list returns.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceFilter {
    pub external_id: Option<String>,
}

/// Which webhooks of a workspace a caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WebhookFilter {
    /// Every one.
    #[default]
    All,
    /// Only this owner's (a key with an owner).
    Owner(String),
    /// Only those without an owner (`owner_visibility = "unowned"`).
    Unowned,
}

impl WebhookFilter {
    /// Whether a webhook with this owner is visible.
    pub fn admits(&self, owner: Option<&str>) -> bool {
        match self {
            WebhookFilter::All => true,
            WebhookFilter::Owner(o) => owner == Some(o.as_str()),
            WebhookFilter::Unowned => owner.is_none(),
        }
    }
}

/// A page of a list: at most `limit` rows with ids strictly below `before` (newest-first
/// lists) or, for the oldest-first list of workspaces, strictly above it. Ids are
/// time-ordered, so rows inserted while a client pages never shift the pages it has not
/// yet read.
#[derive(Debug, Clone)]
pub struct PageRequest<Id> {
    pub limit: u32,
    pub before: Option<Id>,
}

/// The settings of a webhook that a PATCH may change. Delivery counters and secrets are
/// written by their own methods, so a concurrent PATCH can never overwrite them.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub metadata: std::collections::BTreeMap<String, String>,
    pub rate_limit: Option<u32>,
    pub headers: Option<crate::domain::SealedHeaders>,
    pub filter: Option<crate::domain::Filter>,
    pub ordering: crate::domain::DeliveryOrdering,
    pub channels: Vec<String>,
    pub uid: Option<String>,
    pub send_traceparent: bool,
    /// Set when the webhook is (re-)enabled: `failure_count` restarts from zero.
    pub reset_failures: bool,
    /// What becomes of the deliveries held while the webhook was disabled, when this
    /// change re-enables it; `None` otherwise.
    pub held: Option<HeldDeliveries>,
    /// Set when this change disables the webhook: its pending deliveries are held.
    pub hold_pending: bool,
    pub updated_at: OffsetDateTime,
}

/// What recording a batch of outcomes changed, beyond the deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Webhooks disabled, with the reason (`endpoint_gone`, `failing`).
    pub disabled: Vec<(WebhookId, String)>,
    /// Webhooks whose consecutive failures reached the threshold, with their count.
    pub failing: Vec<(WebhookId, i64)>,
    /// Webhooks that were failing and succeeded again.
    pub recovered: Vec<WebhookId>,
}

/// What one round of retention deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneTarget {
    /// Succeeded deliveries, with their attempts.
    Succeeded,
    /// Failed and cancelled deliveries, with their attempts.
    Finished,
    /// Events, with every delivery left of them and its attempts; an event with a
    /// delivery still pending or in flight is kept.
    Events,
}

impl WebhookSettings {
    /// `w`'s settings as they are, to change some.
    pub fn of(w: &Webhook) -> Self {
        Self {
            url: w.url.clone(),
            events: w.events.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            metadata: w.metadata.clone(),
            rate_limit: w.rate_limit,
            headers: w.headers.clone(),
            filter: w.filter.clone(),
            ordering: w.ordering,
            channels: w.channels.clone(),
            uid: w.uid.clone(),
            send_traceparent: w.send_traceparent,
            reset_failures: false,
            held: None,
            hold_pending: false,
            updated_at: w.updated_at,
        }
    }
}

/// What one step of retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneStep {
    /// Deliveries (or events) deleted.
    pub pruned: u64,
    /// Where the next step starts; `None` when nothing older is left to look at.
    pub next: Option<String>,
    /// How long the step held the writer: from the start of its transaction to its
    /// commit, not counting the wait for the writer nor the reads before it. Zero when
    /// it wrote nothing.
    pub held: std::time::Duration,
}

/// What one step of a bulk erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedStep {
    /// The last event erased: the next step starts after it.
    pub last: EventId,
    /// Events erased.
    pub erased: u64,
    /// How long the step held the writer, as [`PruneStep::held`].
    pub held: std::time::Duration,
}

/// What a re-enabled webhook does with the deliveries held while it was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldDeliveries {
    /// Deliver them, oldest first, keeping at most this many (the newest).
    Deliver { keep: u32 },
    /// Cancel them.
    Cancel,
}

/// An event with the deliveries it fans out to, written in one transaction.
#[derive(Debug, Clone)]
pub struct NewEventRecord {
    pub event: Event,
    pub deliveries: Vec<Delivery>,
    /// The node that will send the deliveries at once (in-memory hand-off) and the
    /// lease's expiry; they are written `in_flight`, so no other claim takes them.
    pub lease: Option<(String, OffsetDateTime)>,
}

/// What became of one [`NewEventRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertedEvent {
    Created,
    /// The producer's id was already published: the stored event, nothing written.
    Existing(Box<Event>),
}

/// A claim of due deliveries for one node.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub owner: &'a str,
    pub now: OffsetDateTime,
    pub lease_until: OffsetDateTime,
    pub limit: u32,
    /// Webhooks whose queues are full on this node.
    pub exclude_webhooks: &'a [WebhookId],
}

/// What happens to a delivery after an attempt (or instead of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Succeeded,
    RetryAt(OffsetDateTime),
    /// The schedule is spent.
    Failed,
    /// Its webhook is gone; no attempt was made.
    Cancelled,
    /// Its webhook is disabled; no attempt was made, and the delivery waits for the
    /// webhook to be re-enabled.
    Held,
    /// The endpoint answered 410 Gone: the delivery fails, the webhook is disabled with
    /// this reason, and its other open deliveries are held.
    DisableWebhook {
        reason: &'static str,
    },
}

/// One delivery's outcome, for [`Store::record_results`].
#[derive(Debug, Clone)]
pub struct DeliveryResult {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    pub attempt: Option<Attempt>,
    pub next: NextStep,
    /// The delivery has an ordering key: when it finishes, the next of its key is due.
    pub ordered: bool,
}

impl DeliveryResult {
    /// Whether recording it lets the next delivery of its ordering key be claimed.
    pub fn releases_next_in_order(&self) -> bool {
        self.ordered && !matches!(self.next, NextStep::RetryAt(_))
    }
}

/// Filters of the delivery log.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub webhook_id: Option<WebhookId>,
    pub event_id: Option<EventId>,
    /// Only deliveries with this id or a later one (a search window's floor).
    pub from: Option<DeliveryId>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// A response kept for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// The claim on an idempotency key, as [`Store::begin_idempotent`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// This request now owns the key and must complete or abandon it.
    Acquired,
    /// Another request with this key is still running.
    InFlight,
    /// A request with this key finished; `request_hash` tells whether it was the same.
    Completed { request_hash: Vec<u8>, response: StoredResponse },
}

/// An attempt to claim an idempotency key.
#[derive(Debug, Clone)]
pub struct IdempotencyRequest<'a> {
    pub api_key_id: &'a ApiKeyId,
    pub key: &'a str,
    pub request_hash: &'a [u8],
    pub now: OffsetDateTime,
    /// Completed records older than this are expired and may be replaced.
    pub expired_before: OffsetDateTime,
    /// In-flight claims older than this belong to a request that died; take them over.
    pub stale_before: OffsetDateTime,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Whether a writing transaction holds every other writer back until it commits
    /// (SQLite's one writer), rather than only those after the same rows (PostgreSQL).
    /// Retention and erasure size their steps by it.
    fn exclusive_writer(&self) -> bool;
    /// Checks that the database can commit a write as large as the largest event, to a
    /// row of its own (written, then removed): readiness asks it after writes failed for
    /// lack of space.
    async fn probe_write(&self) -> StoreResult<()>;

    /// Records `value` under `name` unless a value is already recorded, and returns the
    /// recorded value. Used for facts every process must agree on, such as the
    /// fingerprint of the encryption key.
    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String>;

    // Workspaces.

    /// Creates the first workspace and its key, only when no workspace exists yet.
    /// Returns `false` (and writes nothing) when the database was already set up, so two
    /// processes starting at once never both print a first key.
    async fn bootstrap(&self, workspace: &Workspace, key: &ApiKey) -> StoreResult<bool>;
    /// Fails with `Conflict` (`workspace_name`, `workspace_external_id`) when the name or
    /// the external id is taken.
    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>>;
    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>>;
    async fn find_workspace_by_external_id(&self, external_id: &str) -> StoreResult<Option<Workspace>>;
    /// A page of workspaces, oldest first (ids are time-ordered): at most `limit` with
    /// ids after `after`.
    async fn list_workspaces(
        &self,
        filter: &WorkspaceFilter,
        page: &PageRequest<WorkspaceId>,
    ) -> StoreResult<Vec<Workspace>>;
    /// Writes name, external id and metadata; `false` when it no longer exists. Conflicts
    /// as [`Store::create_workspace`].
    async fn update_workspace(&self, workspace: &Workspace) -> StoreResult<bool>;
    /// Deletes a workspace with its keys and webhooks, and cancels its pending and
    /// in-flight deliveries; `false` when it did not exist.
    async fn delete_workspace(&self, id: &WorkspaceId) -> StoreResult<bool>;

    // API keys.

    /// Fails with `Conflict { constraint: "api_key_id" }` when the id is taken, and
    /// `"imported_key"` when the same product key was imported before.
    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// An imported key (empty prefix) by the SHA-256 of its whole token.
    async fn find_imported_api_key(&self, token_hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self, workspace: Option<&WorkspaceId>) -> StoreResult<Vec<ApiKey>>;
    /// Marks a key revoked; `false` when it does not exist or was already revoked.
    async fn revoke_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<()>;

    // Webhooks.

    /// Stores a new webhook and returns the `number` it was given: the next of a
    /// deployment-wide sequence that never hands out a number twice (`webhook.number` is
    /// ignored).
    async fn insert_webhook(&self, webhook: &Webhook) -> StoreResult<i64>;
    /// The webhook with this `number`, when it belongs to the workspace.
    async fn get_webhook_by_number(&self, workspace: &WorkspaceId, number: i64) -> StoreResult<Option<Webhook>>;
    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<Option<Webhook>>;
    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        filter: &WebhookFilter,
        page: &PageRequest<WebhookId>,
    ) -> StoreResult<Vec<Webhook>>;
    /// The workspace's webhooks with exactly this URL (for the duplicate warning).
    async fn find_webhooks_by_url(&self, workspace: &WorkspaceId, url: &str) -> StoreResult<Vec<Webhook>>;
    /// Writes the settings; `false` when the webhook no longer exists.
    async fn update_webhook_settings(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        settings: &WebhookSettings,
    ) -> StoreResult<bool>;
    /// Replaces the signing secrets; `false` when the webhook no longer exists.
    async fn update_webhook_secrets(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        secrets: &crate::domain::WebhookSecrets,
        updated_at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes a webhook; `false` when it did not exist.
    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<bool>;

    // Idempotency keys.

    async fn begin_idempotent(&self, req: &IdempotencyRequest<'_>) -> StoreResult<IdempotencyClaim>;
    async fn complete_idempotent(&self, api_key_id: &ApiKeyId, key: &str, response: &StoredResponse)
        -> StoreResult<()>;
    /// Releases a claim whose request did not succeed, so a retry runs afresh.
    async fn abandon_idempotent(&self, api_key_id: &ApiKeyId, key: &str) -> StoreResult<()>;
    /// Deletes records created before `before`; returns how many.
    async fn prune_idempotency(&self, before: OffsetDateTime) -> StoreResult<u64>;

    // Rate limits shared by several nodes.

    /// Takes up to `want` requests from `key`'s allowance of `limit` in the window
    /// `window`, never letting the window's total pass `limit`. Returns how many were
    /// granted and the window's total afterwards. The key's windows before
    /// `window - 1` are deleted on the way.
    async fn reserve_requests(&self, key: &ApiKeyId, window: i64, want: u32, limit: u32) -> StoreResult<(u32, u32)>;

    // Events and deliveries.

    /// Writes a batch of events with their deliveries in one transaction (group commit).
    /// An event whose producer id was already published in its workspace writes nothing
    /// and comes back as [`InsertedEvent::Existing`].
    async fn insert_events(&self, batch: &[NewEventRecord]) -> StoreResult<Vec<InsertedEvent>>;
    /// An event of the workspace; with a narrower `filter`, only if it was routed to one
    /// of the webhooks it admits (a delivery of it exists for one).
    async fn get_event(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
        filter: &WebhookFilter,
    ) -> StoreResult<Option<Event>>;
    /// Every webhook of a workspace, for routing events: an enabled one gets
    /// deliveries, a disabled one has them held.
    async fn list_routed_webhooks(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Webhook>>;
    /// A webhook by id alone, for the delivery engine.
    async fn find_webhook(&self, id: &WebhookId) -> StoreResult<Option<Webhook>>;
    /// Claims deliveries whose next attempt is due, or whose lease expired, for `owner`.
    async fn claim_due_deliveries(&self, claim: &Claim<'_>) -> StoreResult<Vec<(Delivery, Event)>>;
    /// Extends `owner`'s leases on these deliveries.
    async fn renew_leases(&self, owner: &str, ids: &[DeliveryId], until: OffsetDateTime) -> StoreResult<()>;
    /// Gives up `owner`'s leases: the deliveries become pending, due at `now`.
    async fn release_deliveries(&self, owner: &str, ids: &[DeliveryId], now: OffsetDateTime) -> StoreResult<()>;
    /// Releases every lease, whoever holds it: for a database served by one node, whose
    /// previous process (the only possible holder) is gone when this one starts.
    async fn release_all_leases(&self, now: OffsetDateTime) -> StoreResult<u64>;
    /// When the earliest pending delivery is due, or the earliest lease expires.
    async fn next_due_at(&self) -> StoreResult<Option<OffsetDateTime>>;
    /// Writes a batch of outcomes in one transaction: attempts, delivery states and the
    /// webhooks' counters. A webhook failing continuously since before `disable_before`
    /// is disabled. Returns the webhooks disabled by this batch.
    async fn record_results(
        &self,
        batch: &[DeliveryResult],
        disable_before: OffsetDateTime,
    ) -> StoreResult<Vec<WebhookId>> {
        let recorded = self.record_outcomes(batch, disable_before, u32::MAX).await?;
        Ok(recorded.disabled.into_iter().map(|(w, _)| w).collect())
    }
    /// [`Store::record_results`], and what changed for the operators to hear of: a
    /// webhook whose consecutive failures reached `failing_after` is failing (once, until
    /// a success ends the streak: it has then recovered).
    async fn record_outcomes(
        &self,
        batch: &[DeliveryResult],
        disable_before: OffsetDateTime,
        failing_after: u32,
    ) -> StoreResult<Recorded>;
    async fn get_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> StoreResult<Option<Delivery>>;
    async fn list_attempts(&self, delivery: &DeliveryId) -> StoreResult<Vec<Attempt>>;
    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> StoreResult<Vec<Delivery>>;
    /// The id of the `size`-th newest delivery of `webhook` older than `before`: the floor
    /// of a search window of `size` deliveries. `None` when fewer exist.
    async fn delivery_window_floor(
        &self,
        webhook: &WebhookId,
        before: Option<&DeliveryId>,
        size: u32,
    ) -> StoreResult<Option<DeliveryId>>;
    /// Starts a new retry round for one delivery, due now: leased to `lease`'s node for
    /// an immediate attempt, or, without a lease, left pending for whichever node claims
    /// it (and announced to them). `None` when it does not exist or is in flight.
    async fn claim_for_retry(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
        lease: Option<(&str, OffsetDateTime)>,
    ) -> StoreResult<Option<(Delivery, Event)>>;
    /// Makes the finished deliveries of a webhook created in `[since, until)` due now, each
    /// with a new retry round: only failed ones, or every finished one. Returns how many.
    async fn replay_deliveries(
        &self,
        webhook: &WebhookId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        only_failed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// One step of retention: looks at the next `limit` rows of `target`'s table created
    /// before `before` (after `after`, in id order), and deletes, in one short
    /// transaction, those `target` names. The rows are read before the transaction, so
    /// the writer is held only for the deletes.
    async fn prune_batch(
        &self,
        target: PruneTarget,
        before: OffsetDateTime,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<PruneStep>;
    /// Upkeep of held deliveries: cancels those beyond the newest `keep` of each webhook,
    /// and makes due those of an enabled webhook (held by a publish or an attempt that
    /// raced with its re-enabling). Returns (cancelled, made due).
    async fn maintain_held(&self, keep: u32) -> StoreResult<(u64, u64)>;

    // Erasure.

    /// Erases one event's payload: its data becomes `null`, the response bodies kept with
    /// its attempts are dropped, and its deliveries not yet made are cancelled. False
    /// when there is no such event.
    async fn erase_event(&self, workspace: &WorkspaceId, id: &EventId, now: OffsetDateTime) -> StoreResult<bool>;
    /// Erases, as [`Store::erase_event`] does, at most `limit` events of `scope` after
    /// `after` (in id order) not erased yet, in one transaction. Returns the last one
    /// erased, how many, and how long the writer was held; `None` when none is left.
    async fn erase_events(
        &self,
        scope: &crate::domain::ErasureScope,
        after: Option<&EventId>,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ErasedStep>>;
    /// How many events of `scope` are not erased yet.
    async fn count_unerased(&self, scope: &crate::domain::ErasureScope) -> StoreResult<u64>;
    async fn insert_erasure(&self, e: &crate::domain::Erasure) -> StoreResult<()>;
    async fn get_erasure(
        &self,
        workspace: &WorkspaceId,
        id: &crate::id::ErasureId,
    ) -> StoreResult<Option<crate::domain::Erasure>>;
    /// Writes an erasure's progress; only while its `updated_at` is still `seen` (false:
    /// another node took it over).
    async fn update_erasure(&self, e: &crate::domain::Erasure, seen: OffsetDateTime) -> StoreResult<bool>;
    /// Running erasures no node has advanced since `before` (their node stopped).
    async fn stalled_erasures(&self, before: OffsetDateTime) -> StoreResult<Vec<crate::domain::Erasure>>;

    // The dashboard and the portal.

    async fn create_web_session(&self, session: &WebSession) -> StoreResult<()>;
    async fn get_web_session(&self, id_hash: &[u8; 32]) -> StoreResult<Option<WebSession>>;
    /// Records activity and the workspace an admin acts in. False when the session is gone.
    async fn update_web_session(
        &self,
        id_hash: &[u8; 32],
        last_seen_at: OffsetDateTime,
        acting_workspace: Option<&WorkspaceId>,
    ) -> StoreResult<bool>;
    async fn delete_web_session(&self, id_hash: &[u8; 32]) -> StoreResult<bool>;
    async fn create_portal_link(&self, link: &PortalLink) -> StoreResult<()>;
    /// Marks the link used at `now` and returns it, if it exists, is unused and has not
    /// expired; `None` otherwise. Of two concurrent calls, one gets the link.
    async fn redeem_portal_link(&self, token_hash: &[u8; 32], now: OffsetDateTime) -> StoreResult<Option<PortalLink>>;
    /// Deletes sessions and links expired at `now`, and statistics of hours before
    /// `stats_before`. Returns how many rows.
    async fn prune_web(&self, now: OffsetDateTime, stats_before: OffsetDateTime) -> StoreResult<u64>;
    /// Adds attempt counts to the hourly statistics.
    async fn add_webhook_stats(&self, rows: &[StatRow]) -> StoreResult<()>;
    /// The statistics rows of these webhooks for the hours from `since`.
    async fn webhook_stats(&self, webhooks: &[WebhookId], since: OffsetDateTime) -> StoreResult<Vec<StatRow>>;

    // Records (applications, event types).
    /// Conflict `record_id` or `record_uid` when either is taken.
    async fn insert_record(&self, record: &crate::domain::Record) -> StoreResult<()>;
    /// The record of `kind` whose id, or else whose uid, is `id_or_uid`.
    async fn get_record(
        &self,
        workspace: &WorkspaceId,
        kind: crate::domain::RecordKind,
        id_or_uid: &str,
    ) -> StoreResult<Option<crate::domain::Record>>;
    /// A page of records of `kind` ordered by id: after `page.after` ascending, or before
    /// `page.before` descending.
    async fn list_records(
        &self,
        workspace: &WorkspaceId,
        kind: crate::domain::RecordKind,
        page: &RecordPage,
    ) -> StoreResult<Vec<crate::domain::Record>>;
    /// Replaces a record's uid, body and `updated_at`; false when it does not exist.
    async fn update_record(&self, record: &crate::domain::Record) -> StoreResult<bool>;
    async fn delete_record(
        &self,
        workspace: &WorkspaceId,
        kind: crate::domain::RecordKind,
        id: &str,
    ) -> StoreResult<bool>;

    /// A page of the workspace's events, newest first (older than `page.before`).
    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: &PageRequest<EventId>,
    ) -> StoreResult<Vec<Event>>;
}

/// Which records a list returns, and in which order.
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    pub limit: u32,
    /// Newest id first, starting below this id (or from the last, when `None`).
    pub descending: bool,
    /// Continue after this id (ascending) or before it (descending).
    pub from: Option<String>,
}

/// Which events [`Store::list_events`] returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events published for this owner.
    pub owner: Option<String>,
    /// Only events of these types (any of them).
    pub event_types: Vec<String>,
    /// Only events sent to this channel.
    pub channel: Option<String>,
    /// Only events with this tag.
    pub tag: Option<String>,
    /// Only the event with this producer id (`events_producer` finds it).
    pub producer_id: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}
