//! Every statement hookd runs, written once for both databases. Where the databases
//! differ, the statement asks its [`Dialect`].

use std::collections::HashSet;

use async_trait::async_trait;
use hookd_core::domain::{ApiKey, Attempt, Delivery, DeliveryStatus, Event, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use hookd_core::store::{
    Claim, DeliveryFilter, DeliveryResult, IdempotencyClaim, IdempotencyRequest, InsertedEvent, NewEventRecord,
    NextStep, PageRequest, Store, StoreError, StoreResult, StoredResponse, WebhookFilter, WebhookSettings,
};
use time::OffsetDateTime;

use crate::batch::{sized_chunks, tally};
use crate::rows::{
    self, from_micros, json, micros, scopes_json, ApiKeyRow, AttemptRow, ClaimRow, DeliveryRow, EventRow, WebhookRow,
    WorkspaceRow,
};
use crate::{Dialect, Sql, SqlStore, Tx};

const WEBHOOK_COLUMNS: &str = "id, workspace_id, created_by, url, events, description, enabled, disabled_reason, \
     failure_count, delivery_attempts, last_delivered_at, metadata, rate_limit, secret, previous_secret, \
     previous_secret_expires_at, created_at, updated_at";

const DELIVERY_COLUMNS: &str = "id, workspace_id, webhook_id, event_id, event_type, status, attempts, schedule_base, \
     next_attempt_at, last_status_code, last_error, created_at, updated_at";

const EVENT_COLUMNS: &str = "id, workspace_id, event_type, producer_id, data, occurred_at, created_at, deliveries";

const API_KEY_COLUMNS: &str =
    "id, workspace_id, name, prefix, secret_hash, scopes, owner_scoped, created_at, last_used_at, revoked_at";

/// `SELECT` of webhooks, with their number.
fn select_webhooks() -> String {
    format!("SELECT {WEBHOOK_COLUMNS}, number FROM webhooks")
}

/// A claim's rows joined with their events, for the ids in the list that follows.
const CLAIM_SELECT: &str =
    "SELECT d.id, d.workspace_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, \
     d.schedule_base, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, \
     e.workspace_id AS e_workspace_id, e.producer_id AS e_producer_id, e.data AS e_data, \
     e.occurred_at AS e_occurred_at, e.created_at AS e_created_at, e.deliveries AS e_deliveries \
     FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id IN ";

/// Ids per statement when a list of ids is bound (SQLite allows 32,766 values).
const IDS_PER_STATEMENT: usize = 500;

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
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
        self.read_one::<WorkspaceRow>(
            Sql::new("SELECT id, name, created_at FROM workspaces WHERE id = ?").bind(id.as_str()),
        )
        .await?
        .map(Workspace::try_from)
        .transpose()
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        self.read_one::<WorkspaceRow>(Sql::new("SELECT id, name, created_at FROM workspaces WHERE name = ?").bind(name))
            .await?
            .map(Workspace::try_from)
            .transpose()
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        let rows =
            self.read::<WorkspaceRow>(Sql::new("SELECT id, name, created_at FROM workspaces ORDER BY id")).await?;
        rows.into_iter().map(Workspace::try_from).collect()
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        self.write(insert_api_key(key)).await.map(drop)
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let sql = Sql::new(format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?")).bind(id.as_str());
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
        let mut tx = self.begin().await?;
        // Numbers only grow, so a deleted webhook's number is never handed out again:
        // SQLite counts in a row of `counters`, PostgreSQL has an identity column.
        let counted = if D::NUMBERS_FROM_COUNTER {
            let (n,): (i64,) = tx
                .fetch_one(Sql::new(
                    "INSERT INTO counters (name, value) VALUES ('webhook_number', 1) \
                     ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                ))
                .await?;
            Some(n)
        } else {
            None
        };
        let mut q = Sql::new(format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}{}) ",
            if counted.is_some() { ", number" } else { "" }
        ));
        q.push_values([w], |r, w| {
            r.bind(w.id.as_str())
                .bind(w.workspace_id.as_str())
                .bind(w.created_by.as_ref().map(ApiKeyId::as_str))
                .bind(&w.url)
                .bind(json(&w.events))
                .bind(&w.description)
                .bind(w.enabled)
                .bind(&w.disabled_reason)
                .bind(w.failure_count)
                .bind(w.delivery_attempts)
                .bind(w.last_delivered_at.map(micros))
                .bind(json(&w.metadata))
                .bind(w.rate_limit.map(i64::from))
                .bind(&w.secrets.current.0)
                .bind(w.secrets.previous.as_ref().map(|s| &s.0))
                .bind(w.secrets.previous_expires_at.map(micros))
                .bind(micros(w.created_at))
                .bind(micros(w.updated_at));
            if let Some(n) = counted {
                r.bind(n);
            }
        });
        q.push(" RETURNING number");
        let (number,): (i64,) = tx.fetch_one(q).await?;
        tx.commit().await?;
        Ok(number)
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
        if let Some(owner) = &filter.created_by {
            q.push_bind(" AND created_by = ?", owner.as_str());
        }
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
             metadata = ?, rate_limit = ?, updated_at = ?, \
             failure_count = CASE WHEN ? THEN 0 ELSE failure_count END, \
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
        .bind(s.reset_failures)
        .bind(s.reset_failures)
        .bind(workspace.as_str())
        .bind(id.as_str());
        Ok(self.write(sql).await? == 1)
    }

    async fn update_webhook_secrets(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        secrets: &WebhookSecrets,
        updated_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = Sql::new(
            "UPDATE webhooks SET secret = ?, previous_secret = ?, previous_secret_expires_at = ?, updated_at = ? \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(&secrets.current.0)
        .bind(secrets.previous.as_ref().map(|s| &s.0))
        .bind(secrets.previous_expires_at.map(micros))
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
        let mut tx = self.begin().await?;
        // Nodes race for a key: the insert decides, and a row that exists is locked
        // while it is judged, so two nodes never both take over a stale claim.
        let inserted = tx
            .execute(
                Sql::new(
                    "INSERT INTO idempotency_keys (api_key_id, key, request_hash, completed, status, response, \
                     created_at) VALUES (?, ?, ?, FALSE, NULL, NULL, ?) ON CONFLICT (api_key_id, key) DO NOTHING",
                )
                .bind(req.api_key_id.as_str())
                .bind(req.key)
                .bind(req.request_hash)
                .bind(micros(req.now)),
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(IdempotencyClaim::Acquired);
        }
        let (hash, completed, status, response, created_at): (Vec<u8>, bool, Option<i64>, Option<String>, i64) = tx
            .fetch_one(
                Sql::new(format!(
                    "SELECT request_hash, completed, status, response, created_at FROM idempotency_keys \
                     WHERE api_key_id = ? AND key = ?{}",
                    D::FOR_UPDATE
                ))
                .bind(req.api_key_id.as_str())
                .bind(req.key),
            )
            .await?;
        let live =
            if completed { created_at >= micros(req.expired_before) } else { created_at >= micros(req.stale_before) };
        if live {
            return Ok(if completed {
                IdempotencyClaim::Completed {
                    request_hash: hash,
                    response: StoredResponse {
                        status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                        body: response.unwrap_or_default(),
                    },
                }
            } else {
                IdempotencyClaim::InFlight
            });
        }
        tx.execute(
            Sql::new(
                "UPDATE idempotency_keys SET request_hash = ?, completed = FALSE, status = NULL, response = NULL, \
                 created_at = ? WHERE api_key_id = ? AND key = ?",
            )
            .bind(req.request_hash)
            .bind(micros(req.now))
            .bind(req.api_key_id.as_str())
            .bind(req.key),
        )
        .await?;
        tx.commit().await?;
        Ok(IdempotencyClaim::Acquired)
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
        let mut tx = self.begin().await?;
        // The key's own earlier windows, by primary key: at most two rows per key remain,
        // and no reservation scans other keys' rows.
        tx.execute(
            Sql::new("DELETE FROM rate_limit_windows WHERE api_key_id = ? AND window_start < ?")
                .bind(key.as_str())
                .bind(window - 1),
        )
        .await?;
        // The upsert locks the key's row, so concurrent reservations (from several nodes)
        // queue on it and each sees the total the previous one left. Every right-hand
        // side reads the row as it was before this statement.
        let (want, limit) = (i64::from(want), i64::from(limit));
        let (least, greatest) = (D::LEAST, D::GREATEST);
        let (granted, used): (i64, i64) = tx
            .fetch_one(
                Sql::new(format!(
                    "INSERT INTO rate_limit_windows AS r (api_key_id, window_start, used, granted) \
                     VALUES (?, ?, {least}(?, ?), {least}(?, ?)) \
                     ON CONFLICT (api_key_id, window_start) DO UPDATE SET \
                     granted = {greatest}(0, {least}(?, ? - r.used)), \
                     used = r.used + {greatest}(0, {least}(?, ? - r.used)) RETURNING granted, used"
                ))
                .bind(key.as_str())
                .bind(window)
                .bind(want)
                .bind(limit)
                .bind(want)
                .bind(limit)
                .bind(want)
                .bind(limit)
                .bind(want)
                .bind(limit),
            )
            .await?;
        tx.commit().await?;
        Ok((granted as u32, used as u32))
    }

    async fn insert_events(&self, batch: &[NewEventRecord]) -> StoreResult<Vec<InsertedEvent>> {
        let mut tx = self.begin().await?;
        // Events first, in multi-row statements; a producer id already published makes
        // its row a no-op, recognised by its absence from RETURNING.
        let mut created: HashSet<String> = HashSet::with_capacity(batch.len());
        for chunk in sized_chunks(batch) {
            let mut q = Sql::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            q.push_values(chunk, |r, rec| {
                let e = &rec.event;
                r.bind(e.id.as_str())
                    .bind(e.workspace_id.as_str())
                    .bind(&e.event_type)
                    .bind(&e.producer_id)
                    .bind(&e.data)
                    .bind(e.occurred_at.map(micros))
                    .bind(micros(e.created_at))
                    .bind(rec.deliveries.len() as i64);
            });
            q.push(" ON CONFLICT DO NOTHING RETURNING id");
            let rows: Vec<(String,)> = tx.fetch_all(q).await?;
            created.extend(rows.into_iter().map(|(id,)| id));
        }
        let mut out = Vec::with_capacity(batch.len());
        let mut deliveries = Vec::new();
        for rec in batch {
            if created.contains(rec.event.id.as_str()) {
                out.push(InsertedEvent::Created);
                let (owner, lease) = match &rec.lease {
                    Some((o, until)) => (Some(o.as_str()), Some(micros(*until))),
                    None => (None, None),
                };
                // Only deliveries claimed at once carry the lease; pending ones wait for a claim.
                deliveries.extend(rec.deliveries.iter().map(|d| match d.status {
                    DeliveryStatus::InFlight => (d, owner, lease),
                    _ => (d, None, None),
                }));
            } else {
                let existing: EventRow = tx
                    .fetch_one(
                        Sql::new(format!(
                            "SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND producer_id = ?"
                        ))
                        .bind(rec.event.workspace_id.as_str())
                        .bind(&rec.event.producer_id),
                    )
                    .await?;
                out.push(InsertedEvent::Existing(Event::try_from(existing)?));
            }
        }
        for chunk in sized_chunks(&deliveries) {
            let mut q =
                Sql::new(format!("INSERT INTO deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_expires_at) "));
            q.push_values(chunk, |r, (d, owner, lease)| {
                r.bind(d.id.as_str())
                    .bind(d.workspace_id.as_str())
                    .bind(d.webhook_id.as_str())
                    .bind(d.event_id.as_str())
                    .bind(&d.event_type)
                    .bind(d.status.as_str())
                    .bind(d.attempts)
                    .bind(d.schedule_base)
                    .bind(d.next_attempt_at.map(micros))
                    .bind(d.last_status_code)
                    .bind(&d.last_error)
                    .bind(micros(d.created_at))
                    .bind(micros(d.updated_at))
                    .bind(*owner)
                    .bind(*lease);
            });
            tx.execute(q).await?;
        }
        // Deliveries an API-only node stores are for the workers.
        if self.options.announce_unleased && deliveries.iter().any(|(_, owner, _)| owner.is_none()) {
            tx.announce_due().await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn get_event(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
        filter: &WebhookFilter,
    ) -> StoreResult<Option<Event>> {
        let mut q = Sql::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND id = ?"))
            .bind(workspace.as_str())
            .bind(id.as_str());
        if let Some(owner) = &filter.created_by {
            q.push_bind(
                " AND EXISTS (SELECT 1 FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.event_id = events.id AND w.created_by = ?)",
                owner.as_str(),
            );
        }
        self.read_one::<EventRow>(q).await?.map(Event::try_from).transpose()
    }

    async fn list_enabled_webhooks(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Webhook>> {
        let sql = Sql::new(format!("{} WHERE workspace_id = ? AND enabled = TRUE ORDER BY id", select_webhooks()))
            .bind(workspace.as_str());
        self.read::<WebhookRow>(sql).await?.into_iter().map(Webhook::try_from).collect()
    }

    async fn find_webhook(&self, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        let sql = Sql::new(format!("{} WHERE id = ?", select_webhooks())).bind(id.as_str());
        self.read_one::<WebhookRow>(sql).await?.map(Webhook::try_from).transpose()
    }

    async fn claim_due_deliveries(&self, claim: &Claim<'_>) -> StoreResult<Vec<(Delivery, Event)>> {
        let now = micros(claim.now);
        // Every excluded webhook, as one value: the statement's text stays the same
        // (and prepared) whatever their number.
        let excluded = (!claim.exclude_webhooks.is_empty())
            .then(|| json(&claim.exclude_webhooks.iter().map(WebhookId::as_str).collect::<Vec<_>>()));
        let mut tx = self.begin().await?;
        let mut ids: Vec<String> = Vec::new();
        // Expired leases first (their node died), then due retries, oldest first.
        for (status, column) in [("in_flight", "lease_expires_at"), ("pending", "next_attempt_at")] {
            let remaining = claim.limit as usize - ids.len();
            if remaining == 0 {
                break;
            }
            let mut q = Sql::new("UPDATE deliveries SET status = 'in_flight', lease_owner = ?, lease_expires_at = ?, ")
                .bind(claim.owner)
                .bind(micros(claim.lease_until));
            q.push_bind("updated_at = ?", now).push_bind(
                &format!(" WHERE id IN (SELECT id FROM deliveries WHERE status = '{status}' AND {column} <= ?"),
                now,
            );
            if let Some(excluded) = &excluded {
                q.push_bind(&format!(" AND webhook_id NOT IN ({})", D::JSON_TEXT_ROWS), excluded.as_str());
            }
            q.push_bind(&format!(" ORDER BY {column} LIMIT ?"), remaining as i64)
                .push(D::SKIP_LOCKED)
                .push(") RETURNING id");
            let rows: Vec<(String,)> = tx.fetch_all(q).await?;
            ids.extend(rows.into_iter().map(|(id,)| id));
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = Sql::new(CLAIM_SELECT);
            q.push_list(chunk.iter().map(String::as_str));
            for row in tx.fetch_all::<ClaimRow>(q).await? {
                out.push(row.try_into()?);
            }
        }
        tx.commit().await?;
        Ok(out)
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

    async fn record_results(
        &self,
        batch: &[DeliveryResult],
        disable_before: OffsetDateTime,
    ) -> StoreResult<Vec<WebhookId>> {
        // A few statements for the whole batch, not a few per result: the writer is
        // shared with publishing, and every statement costs a round trip.
        let now = micros(hookd_core::time_fmt::now());
        let mut tx = self.begin().await?;
        let attempts: Vec<&Attempt> = batch.iter().filter_map(|r| r.attempt.as_ref()).collect();
        for chunk in sized_chunks(&attempts) {
            let mut q = Sql::new(
                "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response, \
                 error_kind, error_message) ",
            );
            q.push_values(chunk, |r, a| {
                r.bind(a.delivery_id.as_str())
                    .bind(a.attempt)
                    .bind(micros(a.started_at))
                    .bind(a.duration_ms)
                    .bind(a.status_code)
                    .bind(&a.response)
                    .bind(&a.error_kind)
                    .bind(&a.error_message);
            });
            q.push(
                " ON CONFLICT (delivery_id, attempt) DO UPDATE SET started_at = excluded.started_at, \
                 duration_ms = excluded.duration_ms, status_code = excluded.status_code, response = excluded.response, \
                 error_kind = excluded.error_kind, error_message = excluded.error_message",
            );
            tx.execute(q).await?;
        }
        for chunk in sized_chunks(batch) {
            let mut q = Sql::new("WITH v(id, status, next, attempts, code, error) AS (");
            q.push_values(chunk, |row, r| {
                let (status, next) = match &r.next {
                    NextStep::Succeeded => ("succeeded", None),
                    NextStep::RetryAt(t) => ("pending", Some(micros(*t))),
                    NextStep::Failed | NextStep::DisableWebhook { .. } => ("failed", None),
                    NextStep::Cancelled => ("cancelled", None),
                };
                let a = r.attempt.as_ref();
                row.bind(r.delivery_id.as_str())
                    .bind(status)
                    .bind(next)
                    .bind(a.map(|a| a.attempt))
                    .bind(a.and_then(|a| a.status_code))
                    .bind(a.and_then(|a| a.error_message.clone().or_else(|| a.error_kind.clone())));
            });
            q.push_bind(
                ") UPDATE deliveries SET status = v.status, next_attempt_at = v.next, lease_owner = NULL, \
                 lease_expires_at = NULL, attempts = COALESCE(v.attempts, deliveries.attempts), \
                 last_status_code = CASE WHEN v.attempts IS NULL THEN deliveries.last_status_code ELSE v.code END, \
                 last_error = CASE WHEN v.attempts IS NULL THEN deliveries.last_error ELSE v.error END, updated_at = ?",
                now,
            )
            .push(" FROM v WHERE deliveries.id = v.id AND deliveries.status IN ('in_flight', 'pending')");
            tx.execute(q).await?;
        }
        // Each webhook's counters, in webhook id order: two nodes recording results for
        // the same webhooks then lock their rows in the same order, never in a cycle.
        let mut failing = Vec::new();
        for (w, t) in &tally(batch) {
            let last_success = t.last_success.map(micros);
            let first_failure = t.first_failure_since_success.map(micros);
            tx.execute(
                Sql::new(
                    "UPDATE webhooks SET delivery_attempts = delivery_attempts + ?, \
                     failure_count = CASE WHEN ? IS NOT NULL THEN ? ELSE failure_count + ? END, \
                     failing_since = CASE WHEN ? IS NOT NULL THEN ? ELSE COALESCE(failing_since, ?) END, \
                     last_delivered_at = COALESCE(?, last_delivered_at) WHERE id = ?",
                )
                .bind(t.attempts)
                .bind(last_success)
                .bind(t.failures_since_success)
                .bind(t.failures_since_success)
                .bind(last_success)
                .bind(first_failure)
                .bind(first_failure)
                .bind(last_success)
                .bind(w.as_str()),
            )
            .await?;
            if t.failures_since_success > 0 {
                failing.push(*w);
            }
        }
        let mut disabled = Vec::new();
        for r in batch {
            if let NextStep::DisableWebhook { reason } = &r.next {
                let sql = Sql::new(
                    "UPDATE webhooks SET enabled = FALSE, disabled_reason = ?, updated_at = ? \
                     WHERE id = ? AND enabled = TRUE",
                )
                .bind(*reason)
                .bind(now)
                .bind(r.webhook_id.as_str());
                if tx.execute(sql).await? == 1 {
                    disabled.push(r.webhook_id.clone());
                }
                cancel_open_deliveries(&mut tx, &r.webhook_id, Some(&r.delivery_id), now).await?;
            }
        }
        if !failing.is_empty() {
            let mut q = Sql::new("UPDATE webhooks SET enabled = FALSE, disabled_reason = ?, updated_at = ?")
                .bind(rows::DISABLED_FAILING)
                .bind(now);
            q.push_bind(
                " WHERE enabled = TRUE AND failing_since IS NOT NULL AND failing_since < ?",
                micros(disable_before),
            )
            .push(" AND id IN ")
            .push_list(failing.iter().map(|w| w.as_str()))
            .push(" RETURNING id");
            for (id,) in tx.fetch_all::<(String,)>(q).await? {
                let w = WebhookId::parse(&id).map_err(StoreError::other)?;
                cancel_open_deliveries(&mut tx, &w, None, now).await?;
                disabled.push(w);
            }
        }
        tx.commit().await?;
        Ok(disabled)
    }

    async fn get_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> StoreResult<Option<Delivery>> {
        let sql = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = ? AND id = ?"))
            .bind(workspace.as_str())
            .bind(id.as_str());
        self.read_one::<DeliveryRow>(sql).await?.map(Delivery::try_from).transpose()
    }

    async fn list_attempts(&self, delivery: &DeliveryId) -> StoreResult<Vec<Attempt>> {
        let sql = Sql::new(
            "SELECT delivery_id, attempt, started_at, duration_ms, status_code, response, error_kind, error_message \
             FROM attempts WHERE delivery_id = ? ORDER BY attempt",
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
        let mut q = Sql::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = ?"))
            .bind(workspace.as_str());
        if let Some(w) = &filter.webhook_id {
            q.push_bind(" AND webhook_id = ?", w.as_str());
        }
        if let Some(s) = filter.status {
            q.push_bind(" AND status = ?", s.as_str());
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
        if let Some(before) = &page.before {
            q.push_bind(" AND id < ?", before.as_str());
        }
        q.push_bind(" ORDER BY id DESC LIMIT ?", i64::from(page.limit));
        self.read::<DeliveryRow>(q).await?.into_iter().map(Delivery::try_from).collect()
    }

    async fn claim_for_retry(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<(Delivery, Event)>> {
        let now = micros(hookd_core::time_fmt::now());
        let mut tx = self.begin().await?;
        let updated = tx
            .execute(
                Sql::new(
                    "UPDATE deliveries SET status = 'in_flight', lease_owner = ?, lease_expires_at = ?, \
                     next_attempt_at = ?, schedule_base = attempts, updated_at = ? \
                     WHERE workspace_id = ? AND id = ? AND status != 'in_flight'",
                )
                .bind(owner)
                .bind(micros(lease_until))
                .bind(now)
                .bind(now)
                .bind(workspace.as_str())
                .bind(id.as_str()),
            )
            .await?;
        if updated == 0 {
            return Ok(None);
        }
        let mut q = Sql::new(CLAIM_SELECT);
        q.push_list([id.as_str()]);
        let row: ClaimRow = tx.fetch_one(q).await?;
        tx.commit().await?;
        Ok(Some(row.try_into()?))
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
        let mut tx = self.begin().await?;
        let replayed = tx
            .execute(
                Sql::new(format!(
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, schedule_base = attempts, \
                     updated_at = ? WHERE webhook_id = ? AND created_at >= ? AND created_at < ? AND status IN {statuses}"
                ))
                .bind(micros(now))
                .bind(micros(now))
                .bind(webhook.as_str())
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

    async fn prune_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let cutoff = micros(before);
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new(
                "DELETE FROM attempts WHERE delivery_id IN \
                 (SELECT id FROM deliveries WHERE status = 'succeeded' AND created_at < ?)",
            )
            .bind(cutoff),
        )
        .await?;
        let pruned = tx
            .execute(Sql::new("DELETE FROM deliveries WHERE status = 'succeeded' AND created_at < ?").bind(cutoff))
            .await?;
        tx.execute(
            Sql::new(
                "DELETE FROM events WHERE created_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
            )
            .bind(cutoff),
        )
        .await?;
        tx.commit().await?;
        Ok(pruned)
    }
}

/// Cancels a webhook's pending and in-flight deliveries (but `except`).
///
/// On PostgreSQL, rows another transaction holds are skipped, not waited for: that is a
/// node recording those deliveries' results, which holds their rows and then wants this
/// webhook's row (its counters), while the caller already holds the webhook (deleting or
/// disabling it). Waiting would deadlock. A skipped delivery is cancelled when it next
/// comes up, because no attempt is made for a webhook that is gone or disabled.
async fn cancel_open_deliveries<D: Dialect>(
    tx: &mut Tx<D>,
    webhook: &WebhookId,
    except: Option<&DeliveryId>,
    now: i64,
) -> StoreResult<()> {
    let sql = Sql::new(format!(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, updated_at = ? WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = ? \
         AND status IN ('pending', 'in_flight') AND id != ?{})",
        D::SKIP_LOCKED
    ))
    .bind(now)
    .bind(webhook.as_str())
    .bind(except.map_or("", DeliveryId::as_str));
    tx.execute(sql).await.map(drop)
}

fn insert_workspace(w: &Workspace) -> Sql<'_> {
    Sql::new("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)")
        .bind(w.id.as_str())
        .bind(&w.name)
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
            .bind(k.revoked_at.map(micros));
    });
    q
}
