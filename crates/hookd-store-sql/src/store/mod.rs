//! Every statement hookd runs, written once for both databases. Where the databases
//! differ, the statement asks its [`Dialect`].

use std::collections::HashSet;

use async_trait::async_trait;
use hookd_core::domain::{
    ApiKey, Attempt, Delivery, DeliveryStatus, Event, PortalLink, Record, RecordKind, StatRow, WebSession, Webhook,
    WebhookSecrets, Workspace,
};
use hookd_core::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use hookd_core::store::{
    Claim, DeliveryFilter, DeliveryResult, EventFilter, HeldDeliveries, IdempotencyClaim, IdempotencyRequest,
    InsertedEvent, NewEventRecord, NextStep, PageRequest, PruneStep, PruneTarget, RecordPage, Recorded, Store,
    StoreError, StoreResult, StoredResponse, WebhookFilter, WebhookSettings, WorkspaceFilter,
};
use time::OffsetDateTime;

use crate::batch::{sized_chunks, tally};
use crate::rows::{
    self, channels_json, from_micros, headers_json, json, micros, scopes_json, ApiKeyRow, AttemptRow, ClaimRow,
    DeliveryRow, EventRow, WebhookRow, WorkspaceRow,
};
use crate::{Dialect, Sql, SqlStore};

mod deliveries;
mod erasure;
mod limits;
mod records;
mod web;
mod webhooks;
mod workspaces;

use deliveries::{cancel_open_deliveries, close_open_deliveries, hold_open_deliveries, release_held, Owner};

const WEBHOOK_COLUMNS: &str =
    "id, workspace_id, created_by, owner, url, events, description, enabled, disabled_reason, \
     failure_count, delivery_attempts, last_delivered_at, metadata, rate_limit, secret, previous_secret, \
     previous_secret_expires_at, created_at, updated_at, header_names, headers, payload_filter, signing, public_key, ordering, channels, uid, protocol, send_traceparent";

const DELIVERY_COLUMNS: &str = "id, workspace_id, webhook_id, event_id, event_type, status, attempts, schedule_base, \
     next_attempt_at, last_status_code, last_error, created_at, updated_at, ordering_key";

/// The columns an event is inserted with.
const EVENT_COLUMNS: &str =
    "id, workspace_id, event_type, producer_id, data, occurred_at, created_at, deliveries, owner, ordering_key, channels, tags, \
     trace_parent";
/// The columns an event is read with ([`EventRow`]).
const EVENT_SELECT: &str =
    "id, workspace_id, event_type, producer_id, data, occurred_at, created_at, deliveries, owner, \
     ordering_key, channels, tags, erased_at, trace_parent";

const API_KEY_COLUMNS: &str = "id, workspace_id, name, prefix, secret_hash, scopes, owner_scoped, created_at, \
     last_used_at, revoked_at, expires_at, owner";

/// `SELECT` of webhooks, with their number.
fn select_webhooks() -> String {
    format!("SELECT {WEBHOOK_COLUMNS}, number FROM webhooks")
}

/// A claim's rows joined with their events, for the ids in the list that follows.
const CLAIM_SELECT: &str =
    "SELECT d.id, d.workspace_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, \
     d.schedule_base, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, \
     d.ordering_key, e.workspace_id AS e_workspace_id, e.producer_id AS e_producer_id, e.data AS e_data, \
     e.occurred_at AS e_occurred_at, e.created_at AS e_created_at, e.deliveries AS e_deliveries, e.owner AS e_owner, \
     e.ordering_key AS e_ordering_key, e.channels AS e_channels, \
     e.trace_parent AS e_trace_parent \
     FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id IN ";

/// Ids per statement when a list of ids is bound (SQLite allows 32,766 values).
const IDS_PER_STATEMENT: usize = 500;

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    fn exclusive_writer(&self) -> bool {
        D::EXCLUSIVE_WRITER
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read::<(i32,)>(Sql::new("SELECT 1")).await.map(drop)
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let probe = rows::incompressible(hookd_core::domain::MAX_EVENT_DATA);
        for value in [probe.as_str(), ""] {
            self.write(
                Sql::new(
                    "INSERT INTO settings (name, value) VALUES ('write_probe', ?) \
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )
                .bind(value),
            )
            .await?;
        }
        Ok(())
    }

    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
                .bind(name)
                .bind(value),
        )
        .await?;
        let (stored,): (String,) =
            tx.fetch_one(Sql::new("SELECT value FROM settings WHERE name = ?").bind(name)).await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn bootstrap(&self, workspace: &Workspace, key: &ApiKey) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        D::lock_for_bootstrap(&mut tx.0).await?;
        let (count,): (i64,) = tx.fetch_one(Sql::new("SELECT COUNT(*) FROM workspaces")).await?;
        if count > 0 {
            return Ok(false);
        }
        tx.execute(insert_workspace(workspace)).await?;
        tx.execute(insert_api_key(key)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        self.write(insert_workspace(workspace)).await.map(drop)
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        workspaces::find(self, "id", id.as_str()).await
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        workspaces::find(self, "name", name).await
    }

    async fn find_workspace_by_external_id(&self, external_id: &str) -> StoreResult<Option<Workspace>> {
        workspaces::find(self, "external_id", external_id).await
    }

    async fn list_workspaces(
        &self,
        filter: &WorkspaceFilter,
        page: &PageRequest<WorkspaceId>,
    ) -> StoreResult<Vec<Workspace>> {
        workspaces::list(self, filter, page).await
    }

    async fn update_workspace(&self, workspace: &Workspace) -> StoreResult<bool> {
        workspaces::update(self, workspace).await
    }

    async fn delete_workspace(&self, id: &WorkspaceId) -> StoreResult<bool> {
        workspaces::delete(self, id).await
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.write(insert_api_key(key)).await.map(drop)
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let sql = Sql::new(format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?")).bind(id.as_str());
        self.read_one::<ApiKeyRow>(sql).await?.map(ApiKey::try_from).transpose()
    }

    async fn find_imported_api_key(&self, token_hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        let sql = Sql::new(format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE secret_hash = ? AND prefix = ''"))
            .bind(token_hash.as_slice());
        self.read_one::<ApiKeyRow>(sql).await?.map(ApiKey::try_from).transpose()
    }

    async fn list_api_keys(&self, workspace: Option<&WorkspaceId>) -> StoreResult<Vec<ApiKey>> {
        let mut q = Sql::new(format!("SELECT {API_KEY_COLUMNS} FROM api_keys"));
        if let Some(ws) = workspace {
            q.push_bind(" WHERE workspace_id = ?", ws.as_str());
        }
        q.push(" ORDER BY created_at, id");
        self.read::<ApiKeyRow>(q).await?.into_iter().map(ApiKey::try_from).collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<bool> {
        let sql = Sql::new("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(id.as_str());
        Ok(self.write(sql).await? == 1)
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
        self.write(Sql::new("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(micros(at)).bind(id.as_str()))
            .await
            .map(drop)
    }

    async fn insert_webhook(&self, w: &Webhook) -> StoreResult<i64> {
        webhooks::insert_webhook(self, w).await
    }

    async fn get_webhook_by_number(&self, workspace: &WorkspaceId, number: i64) -> StoreResult<Option<Webhook>> {
        let sql = Sql::new(format!("{} WHERE workspace_id = ? AND number = ?", select_webhooks()))
            .bind(workspace.as_str())
            .bind(number);
        self.read_one::<WebhookRow>(sql).await?.map(Webhook::try_from).transpose()
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        let sql = Sql::new(format!("{} WHERE workspace_id = ? AND id = ?", select_webhooks()))
            .bind(workspace.as_str())
            .bind(id.as_str());
        self.read_one::<WebhookRow>(sql).await?.map(Webhook::try_from).transpose()
    }

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        filter: &WebhookFilter,
        page: &PageRequest<WebhookId>,
    ) -> StoreResult<Vec<Webhook>> {
        let mut q = Sql::new(format!("{} WHERE workspace_id = ?", select_webhooks())).bind(workspace.as_str());
        push_owner_filter(&mut q, filter, "owner");
        if let Some(before) = &page.before {
            q.push_bind(" AND id < ?", before.as_str());
        }
        q.push_bind(" ORDER BY id DESC LIMIT ?", i64::from(page.limit));
        self.read::<WebhookRow>(q).await?.into_iter().map(Webhook::try_from).collect()
    }

    async fn find_webhooks_by_url(&self, workspace: &WorkspaceId, url: &str) -> StoreResult<Vec<Webhook>> {
        let sql = Sql::new(format!("{} WHERE workspace_id = ? AND url = ? ORDER BY id", select_webhooks()))
            .bind(workspace.as_str())
            .bind(url);
        self.read::<WebhookRow>(sql).await?.into_iter().map(Webhook::try_from).collect()
    }

    async fn update_webhook_settings(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        s: &WebhookSettings,
    ) -> StoreResult<bool> {
        let sql = Sql::new(
            "UPDATE webhooks SET url = ?, events = ?, description = ?, enabled = ?, disabled_reason = ?, \
             metadata = ?, rate_limit = ?, updated_at = ?, header_names = ?, headers = ?, payload_filter = ?, \
             ordering = ?, channels = ?, uid = ?, send_traceparent = ?, failure_count = CASE WHEN ? THEN 0 ELSE failure_count END, \
             failing_since = CASE WHEN ? THEN NULL ELSE failing_since END \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(&s.url)
        .bind(json(&s.events))
        .bind(&s.description)
        .bind(s.enabled)
        .bind(&s.disabled_reason)
        .bind(json(&s.metadata))
        .bind(s.rate_limit.map(i64::from))
        .bind(micros(s.updated_at))
        .bind(s.headers.as_ref().map(|h| json(&h.names)))
        .bind(s.headers.as_ref().map(|h| &h.sealed.0))
        .bind(s.filter.as_ref().map(|f| json(f.source())))
        .bind(s.ordering.as_str())
        .bind(channels_json(&s.channels))
        .bind(&s.uid)
        .bind(s.send_traceparent)
        .bind(s.reset_failures)
        .bind(s.reset_failures)
        .bind(workspace.as_str())
        .bind(id.as_str());
        if s.held.is_none() && !s.hold_pending {
            return Ok(self.write(sql).await? == 1);
        }
        // Enabling or disabling moves the webhook's deliveries in the same transaction.
        let now = micros(s.updated_at);
        let mut tx = self.begin().await?;
        let updated = tx.execute(sql).await? == 1;
        if updated {
            if let Some(what) = s.held {
                release_held(&mut tx, id, what, now).await?;
            }
            if s.hold_pending {
                hold_open_deliveries(&mut tx, id, None, now).await?;
            }
        }
        tx.commit().await?;
        Ok(updated)
    }

    async fn update_webhook_secrets(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        secrets: &WebhookSecrets,
        updated_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = Sql::new(
            "UPDATE webhooks SET secret = ?, previous_secret = ?, previous_secret_expires_at = ?, public_key = ?, \
             updated_at = ? WHERE workspace_id = ? AND id = ?",
        )
        .bind(&secrets.current.0)
        .bind(secrets.previous.as_ref().map(|s| &s.0))
        .bind(secrets.previous_expires_at.map(micros))
        .bind(&secrets.public_key)
        .bind(micros(updated_at))
        .bind(workspace.as_str())
        .bind(id.as_str());
        Ok(self.write(sql).await? == 1)
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let deleted = tx
            .execute(
                Sql::new("DELETE FROM webhooks WHERE workspace_id = ? AND id = ?")
                    .bind(workspace.as_str())
                    .bind(id.as_str()),
            )
            .await?
            == 1;
        if deleted {
            cancel_open_deliveries(&mut tx, id, None, micros(hookd_core::time_fmt::now())).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn begin_idempotent(&self, req: &IdempotencyRequest<'_>) -> StoreResult<IdempotencyClaim> {
        limits::begin_idempotent(self, req).await
    }

    async fn complete_idempotent(
        &self,
        api_key_id: &ApiKeyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        let sql = Sql::new(
            "UPDATE idempotency_keys SET completed = TRUE, status = ?, response = ? WHERE api_key_id = ? AND key = ?",
        )
        .bind(i64::from(response.status))
        .bind(&response.body)
        .bind(api_key_id.as_str())
        .bind(key);
        self.write(sql).await.map(drop)
    }

    async fn abandon_idempotent(&self, api_key_id: &ApiKeyId, key: &str) -> StoreResult<()> {
        let sql = Sql::new("DELETE FROM idempotency_keys WHERE api_key_id = ? AND key = ? AND completed = FALSE")
            .bind(api_key_id.as_str())
            .bind(key);
        self.write(sql).await.map(drop)
    }

    async fn prune_idempotency(&self, before: OffsetDateTime) -> StoreResult<u64> {
        self.write(Sql::new("DELETE FROM idempotency_keys WHERE created_at < ?").bind(micros(before))).await
    }

    async fn reserve_requests(&self, key: &ApiKeyId, window: i64, want: u32, limit: u32) -> StoreResult<(u32, u32)> {
        limits::reserve_requests(self, key, window, want, limit).await
    }

    async fn insert_events(&self, batch: &[NewEventRecord]) -> StoreResult<Vec<InsertedEvent>> {
        deliveries::insert_events(self, batch).await
    }

    async fn get_event(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
        filter: &WebhookFilter,
    ) -> StoreResult<Option<Event>> {
        let mut q = Sql::new(format!("SELECT {EVENT_SELECT} FROM events WHERE workspace_id = ? AND id = ?"))
            .bind(workspace.as_str())
            .bind(id.as_str());
        if *filter != WebhookFilter::All {
            q.push(
                " AND EXISTS (SELECT 1 FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.event_id = events.id",
            );
            push_owner_filter(&mut q, filter, "w.owner");
            q.push(")");
        }
        self.read_one::<EventRow>(q).await?.map(Event::try_from).transpose()
    }

    async fn list_routed_webhooks(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Webhook>> {
        let sql =
            Sql::new(format!("{} WHERE workspace_id = ? ORDER BY id", select_webhooks())).bind(workspace.as_str());
        self.read::<WebhookRow>(sql).await?.into_iter().map(Webhook::try_from).collect()
    }

    async fn find_webhook(&self, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        let sql = Sql::new(format!("{} WHERE id = ?", select_webhooks())).bind(id.as_str());
        self.read_one::<WebhookRow>(sql).await?.map(Webhook::try_from).transpose()
    }

    async fn claim_due_deliveries(&self, claim: &Claim<'_>) -> StoreResult<Vec<(Delivery, Event)>> {
        deliveries::claim_due_deliveries(self, claim).await
    }

    async fn renew_leases(&self, owner: &str, ids: &[DeliveryId], until: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q =
                Sql::new("UPDATE deliveries SET lease_expires_at = ? WHERE status = 'in_flight' AND lease_owner = ?")
                    .bind(micros(until))
                    .bind(owner);
            q.push(" AND id IN ").push_list(chunk.iter().map(DeliveryId::as_str));
            tx.execute(q).await?;
        }
        tx.commit().await
    }

    async fn release_deliveries(&self, owner: &str, ids: &[DeliveryId], now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = Sql::new(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
                 next_attempt_at = ?, updated_at = ? WHERE status = 'in_flight' AND lease_owner = ?",
            )
            .bind(micros(now))
            .bind(micros(now))
            .bind(owner);
            q.push(" AND id IN ").push_list(chunk.iter().map(DeliveryId::as_str));
            tx.execute(q).await?;
        }
        // Another node may send them before this one would.
        tx.announce_due().await?;
        tx.commit().await
    }

    async fn release_all_leases(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let now = micros(now);
        let sql = Sql::new(format!(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             next_attempt_at = {}(COALESCE(next_attempt_at, ?), ?), updated_at = ? WHERE status = 'in_flight'",
            D::LEAST
        ))
        .bind(now)
        .bind(now)
        .bind(now);
        self.write(sql).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<OffsetDateTime>> {
        let row: Option<(Option<i64>, Option<i64>)> = self
            .read_one(Sql::new(
                "SELECT (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'), \
                        (SELECT MIN(lease_expires_at) FROM deliveries WHERE status = 'in_flight')",
            ))
            .await?;
        let (pending, leased) = row.ok_or(StoreError::NotFound)?;
        let earliest = match (pending, leased) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        earliest.map(from_micros).transpose()
    }

    async fn record_outcomes(
        &self,
        batch: &[DeliveryResult],
        disable_before: OffsetDateTime,
        failing_after: u32,
    ) -> StoreResult<Recorded> {
        deliveries::record_results(self, batch, disable_before, failing_after).await
    }

    async fn get_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> StoreResult<Option<Delivery>> {
        let sql = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = ? AND id = ?"))
            .bind(workspace.as_str())
            .bind(id.as_str());
        self.read_one::<DeliveryRow>(sql).await?.map(Delivery::try_from).transpose()
    }

    async fn list_attempts(&self, delivery: &DeliveryId) -> StoreResult<Vec<Attempt>> {
        let sql = Sql::new(
            "SELECT delivery_id, attempt, started_at, duration_ms, status_code, response, error_kind, error_message, \
             request_headers, response_headers FROM attempts WHERE delivery_id = ? ORDER BY attempt",
        )
        .bind(delivery.as_str());
        self.read::<AttemptRow>(sql).await?.into_iter().map(Attempt::try_from).collect()
    }

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> StoreResult<Vec<Delivery>> {
        // Deliveries in flight are few in the whole database (each node holds at most its
        // `max_in_flight`), and `deliveries_leased` lists exactly them: read that, not a
        // webhook's whole history, which may hold none.
        let hint = if filter.status == Some(DeliveryStatus::InFlight) { D::IN_FLIGHT_INDEX } else { "" };
        let mut q = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries{hint} WHERE workspace_id = ?"))
            .bind(workspace.as_str());
        if let Some(w) = &filter.webhook_id {
            q.push_bind(" AND webhook_id = ?", w.as_str());
        }
        if let Some(e) = &filter.event_id {
            q.push_bind(" AND event_id = ?", e.as_str());
        }
        if let Some(s) = filter.status {
            // A literal, not a parameter (the status is one of a fixed set): a partial
            // index on one status (`deliveries_leased`) is usable only when the statement
            // names that status.
            q.push(format!(" AND status = '{}'", s.as_str()));
        }
        if let Some(t) = &filter.event_type {
            q.push_bind(" AND event_type = ?", t.as_str());
        }
        if let Some(t) = filter.since {
            q.push_bind(" AND created_at >= ?", micros(t));
        }
        if let Some(t) = filter.until {
            q.push_bind(" AND created_at < ?", micros(t));
        }
        if let Some(from) = &filter.from {
            q.push_bind(" AND id >= ?", from.as_str());
        }
        if let Some(before) = &page.before {
            q.push_bind(" AND id < ?", before.as_str());
        }
        q.push_bind(" ORDER BY id DESC LIMIT ?", i64::from(page.limit));
        self.read::<DeliveryRow>(q).await?.into_iter().map(Delivery::try_from).collect()
    }

    async fn delivery_window_floor(
        &self,
        webhook: &WebhookId,
        before: Option<&DeliveryId>,
        size: u32,
    ) -> StoreResult<Option<DeliveryId>> {
        let mut q = Sql::new("SELECT id FROM deliveries WHERE webhook_id = ?").bind(webhook.as_str());
        if let Some(b) = before {
            q.push_bind(" AND id < ?", b.as_str());
        }
        q.push_bind(" ORDER BY id DESC LIMIT 1 OFFSET ?", i64::from(size.max(1)) - 1);
        let row: Option<(String,)> = self.read_one(q).await?;
        row.map(|(id,)| DeliveryId::parse(&id).map_err(StoreError::other)).transpose()
    }

    async fn claim_for_retry(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
        lease: Option<(&str, OffsetDateTime)>,
    ) -> StoreResult<Option<(Delivery, Event)>> {
        deliveries::claim_for_retry(self, workspace, id, lease).await
    }

    async fn replay_deliveries(
        &self,
        webhook: &WebhookId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        only_failed: bool,
        now: OffsetDateTime,
    ) -> StoreResult<u64> {
        let statuses = if only_failed { "('failed')" } else { "('failed', 'succeeded', 'cancelled')" };
        // Ids sort by creation: bounding them too reads the window's deliveries, not the
        // webhook's whole history, while the writer is held. A second's margin either side
        // covers an id and its `created_at` read from the clock a moment apart.
        let margin = time::Duration::SECOND;
        let mut tx = self.begin().await?;
        let replayed = tx
            .execute(
                Sql::new(format!(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, schedule_base = attempts, \
                     updated_at = ? WHERE webhook_id = ? AND id >= ? AND id < ? \
                     AND created_at >= ? AND created_at < ? AND status IN {statuses}"
                ))
                .bind(micros(now))
                .bind(micros(now))
                .bind(webhook.as_str())
                .bind(DeliveryId::floor_at(since.saturating_sub(margin)).as_str().to_owned())
                .bind(DeliveryId::floor_at(until.saturating_add(margin)).as_str().to_owned())
                .bind(micros(since))
                .bind(micros(until)),
            )
            .await?;
        if replayed > 0 {
            tx.announce_due().await?;
        }
        tx.commit().await?;
        Ok(replayed)
    }

    async fn prune_batch(
        &self,
        target: PruneTarget,
        before: OffsetDateTime,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<PruneStep> {
        deliveries::prune_batch(self, target, before, after, limit).await
    }

    async fn maintain_held(&self, keep: u32) -> StoreResult<(u64, u64)> {
        deliveries::maintain_held(self, keep).await
    }

    async fn erase_event(&self, workspace: &WorkspaceId, id: &EventId, now: OffsetDateTime) -> StoreResult<bool> {
        erasure::erase_event(self, workspace, id, now).await
    }

    async fn erase_events(
        &self,
        scope: &hookd_core::domain::ErasureScope,
        after: Option<&EventId>,
        limit: u32,
        now: OffsetDateTime,
    ) -> StoreResult<Option<hookd_core::store::ErasedStep>> {
        erasure::erase_events(self, scope, after, limit, now).await
    }

    async fn count_unerased(&self, scope: &hookd_core::domain::ErasureScope) -> StoreResult<u64> {
        erasure::count_unerased(self, scope).await
    }

    async fn insert_erasure(&self, e: &hookd_core::domain::Erasure) -> StoreResult<()> {
        erasure::insert(self, e).await
    }

    async fn get_erasure(
        &self,
        workspace: &WorkspaceId,
        id: &hookd_core::id::ErasureId,
    ) -> StoreResult<Option<hookd_core::domain::Erasure>> {
        erasure::get(self, workspace, id).await
    }

    async fn update_erasure(&self, e: &hookd_core::domain::Erasure, seen: OffsetDateTime) -> StoreResult<bool> {
        erasure::update(self, e, seen).await
    }

    async fn stalled_erasures(&self, before: OffsetDateTime) -> StoreResult<Vec<hookd_core::domain::Erasure>> {
        erasure::stalled(self, before).await
    }

    async fn create_web_session(&self, session: &WebSession) -> StoreResult<()> {
        web::create_session(self, session).await
    }

    async fn get_web_session(&self, id_hash: &[u8; 32]) -> StoreResult<Option<WebSession>> {
        web::get_session(self, id_hash).await
    }

    async fn update_web_session(
        &self,
        id_hash: &[u8; 32],
        last_seen_at: OffsetDateTime,
        acting_workspace: Option<&WorkspaceId>,
    ) -> StoreResult<bool> {
        web::update_session(self, id_hash, last_seen_at, acting_workspace).await
    }

    async fn delete_web_session(&self, id_hash: &[u8; 32]) -> StoreResult<bool> {
        web::delete_session(self, id_hash).await
    }

    async fn create_portal_link(&self, link: &PortalLink) -> StoreResult<()> {
        web::create_link(self, link).await
    }

    async fn redeem_portal_link(&self, token_hash: &[u8; 32], now: OffsetDateTime) -> StoreResult<Option<PortalLink>> {
        web::redeem_link(self, token_hash, now).await
    }

    async fn prune_web(&self, now: OffsetDateTime, stats_before: OffsetDateTime) -> StoreResult<u64> {
        web::prune(self, now, stats_before).await
    }

    async fn add_webhook_stats(&self, rows: &[StatRow]) -> StoreResult<()> {
        web::add_stats(self, rows).await
    }

    async fn insert_record(&self, record: &Record) -> StoreResult<()> {
        records::insert(self, record).await
    }

    async fn get_record(
        &self,
        workspace: &WorkspaceId,
        kind: RecordKind,
        id_or_uid: &str,
    ) -> StoreResult<Option<Record>> {
        records::get(self, workspace, kind, id_or_uid).await
    }

    async fn list_records(
        &self,
        workspace: &WorkspaceId,
        kind: RecordKind,
        page: &RecordPage,
    ) -> StoreResult<Vec<Record>> {
        records::list(self, workspace, kind, page).await
    }

    async fn update_record(&self, record: &Record) -> StoreResult<bool> {
        records::update(self, record).await
    }

    async fn delete_record(&self, workspace: &WorkspaceId, kind: RecordKind, id: &str) -> StoreResult<bool> {
        records::delete(self, workspace, kind, id).await
    }

    async fn list_events(
        &self,
        workspace: &WorkspaceId,
        filter: &EventFilter,
        page: &PageRequest<EventId>,
    ) -> StoreResult<Vec<Event>> {
        records::list_events(self, workspace, filter, page).await
    }

    async fn webhook_stats(&self, webhooks: &[WebhookId], since: OffsetDateTime) -> StoreResult<Vec<StatRow>> {
        web::stats(self, webhooks, since).await
    }
}

/// ` AND <column> …` for the webhooks `filter` admits.
fn push_owner_filter<'a>(q: &mut Sql<'a>, filter: &'a WebhookFilter, column: &str) {
    match filter {
        WebhookFilter::All => {}
        WebhookFilter::Owner(o) => {
            q.push_bind(&format!(" AND {column} = ?"), o.as_str());
        }
        WebhookFilter::Unowned => {
            q.push(format!(" AND {column} IS NULL"));
        }
    }
}

fn insert_workspace(w: &Workspace) -> Sql<'_> {
    Sql::new("INSERT INTO workspaces (id, name, external_id, metadata, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(w.id.as_str())
        .bind(&w.name)
        .bind(&w.external_id)
        .bind(json(&w.metadata))
        .bind(micros(w.created_at))
}

fn insert_api_key(k: &ApiKey) -> Sql<'_> {
    let mut q = Sql::new(format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) "));
    q.push_values([k], |r, k| {
        r.bind(k.id.as_str())
            .bind(k.workspace_id.as_str())
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(k.secret_hash.as_slice())
            .bind(scopes_json(&k.scopes))
            .bind(k.owner_scoped)
            .bind(micros(k.created_at))
            .bind(k.last_used_at.map(micros))
            .bind(k.revoked_at.map(micros))
            .bind(k.expires_at.map(micros))
            .bind(&k.owner);
    });
    q
}
