//! The delivery lifecycle: events stored with their deliveries, claims and leases,
//! results and their counters, retries and pruning.

use super::*;
use crate::Tx;

pub(super) async fn insert_events<D: Dialect>(
    store: &SqlStore<D>,
    batch: &[NewEventRecord],
) -> StoreResult<Vec<InsertedEvent>> {
    let mut tx = store.begin().await?;
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
                .bind(rec.deliveries.len() as i64)
                .bind(&e.owner)
                .bind(&e.ordering_key)
                .bind(channels_json(&e.channels))
                .bind(channels_json(&e.tags))
                .bind(e.trace_parent.as_ref().map(|t| t.header()));
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
                    Sql::new(format!("SELECT {EVENT_SELECT} FROM events WHERE workspace_id = ? AND producer_id = ?"))
                        .bind(rec.event.workspace_id.as_str())
                        .bind(&rec.event.producer_id),
                )
                .await?;
            out.push(InsertedEvent::Existing(Box::new(Event::try_from(existing)?)));
        }
    }
    for chunk in sized_chunks(&deliveries) {
        let mut q = Sql::new(format!("INSERT INTO deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_expires_at) "));
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
                .bind(&d.ordering_key)
                .bind(*owner)
                .bind(*lease);
        });
        tx.execute(q).await?;
    }
    let held: Vec<&str> =
        deliveries.iter().filter(|(d, ..)| d.status == DeliveryStatus::Held).map(|(d, ..)| d.id.as_str()).collect();
    for chunk in held.chunks(IDS_PER_STATEMENT) {
        release_if_enabled(&mut tx, Some(chunk), micros(hookd_core::time_fmt::now())).await?;
    }
    // Deliveries an API-only node stores are for the workers.
    if store.options.announce_unleased && deliveries.iter().any(|(_, owner, _)| owner.is_none()) {
        tx.announce_due().await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// `column` of the deliveries of `row`'s key to its webhook (`o`) for which `also` holds,
/// with `also` naming their status: a short range of the partial index
/// `deliveries_ordered` (webhook, key, status, id). `IS NOT NULL` repeats the index's
/// condition, so that SQLite uses it.
fn same_key(column: &str, row: &str, also: &str) -> String {
    format!(
        "SELECT o.{column} FROM deliveries o WHERE o.webhook_id = {row}.webhook_id \
         AND o.ordering_key = {row}.ordering_key AND o.ordering_key IS NOT NULL AND {also}"
    )
}

/// Whether pending delivery `row` may be sent now: it has no ordering key, or no earlier
/// delivery of its key is open and none is in flight. Each key's deliveries then go one at
/// a time, in order. Deliveries without a key pay one `IS NULL` test; with one, two
/// probes of a few index entries each, however long the key's queue.
fn first_of_its_key(row: &str) -> String {
    format!(
        "({row}.ordering_key IS NULL OR (NOT EXISTS ({}) AND NOT EXISTS ({})))",
        same_key("id", row, &format!("o.status IN ('pending', 'in_flight') AND o.id < {row}.id")),
        same_key("id", row, "o.status = 'in_flight'"),
    )
}

/// Most waiting deliveries moved out of the due range in one claim.
const MAX_DEFERRED: i64 = 1_000;

pub(super) async fn claim_due_deliveries<D: Dialect>(
    store: &SqlStore<D>,
    claim: &Claim<'_>,
) -> StoreResult<Vec<(Delivery, Event)>> {
    let now = micros(claim.now);
    // Every excluded webhook, as one value: the statement's text stays the same
    // (and prepared) whatever their number.
    let excluded = (!claim.exclude_webhooks.is_empty())
        .then(|| json(&claim.exclude_webhooks.iter().map(WebhookId::as_str).collect::<Vec<_>>()));
    let mut tx = store.begin().await?;
    // Those waiting behind an earlier delivery of their key first, so that the claims
    // below do not read past them.
    defer_waiting(&mut tx, claim).await?;
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
            &format!(" WHERE id IN (SELECT id FROM deliveries c WHERE status = '{status}' AND {column} <= ?"),
            now,
        );
        if status == "pending" {
            q.push(" AND ").push(first_of_its_key("c"));
        }
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

/// How long a delivery waiting behind one in flight of its key is left out of claims.
const DEFERRED: std::time::Duration = std::time::Duration::from_secs(1);

/// Moves the due deliveries that wait behind an earlier one of their key out of the due
/// range: until the first of their key is due again (a retry), and at least [`DEFERRED`].
/// Otherwise every claim would read past them again, and a long queue behind a failing
/// key would make each claim slow. When a delivery of a key finishes, [`record_results`]
/// makes the key's next one due at once ([`next_of_each_key`]). Where that races with a
/// claim on another node that has just deferred it, the deferral bounds the delay.
async fn defer_waiting<D: Dialect>(tx: &mut Tx<D>, claim: &Claim<'_>) -> StoreResult<()> {
    let (now, until) = (micros(claim.now), micros(claim.now + DEFERRED));
    let head_due = same_key("next_attempt_at", "deliveries", "o.status = 'pending' AND o.id < deliveries.id");
    let mut q = Sql::new(format!(
        "UPDATE deliveries SET next_attempt_at = {}(COALESCE(({head_due} ORDER BY o.id LIMIT 1), ?), ?), updated_at = ? \
         WHERE id IN (SELECT id FROM deliveries c WHERE status = 'pending' AND next_attempt_at <= ? \
         AND c.ordering_key IS NOT NULL AND NOT {}",
        D::GREATEST,
        first_of_its_key("c"),
    ))
    .bind(until)
    .bind(until)
    .bind(now)
    .bind(now);
    q.push_bind(" ORDER BY next_attempt_at LIMIT ?", MAX_DEFERRED).push(D::SKIP_LOCKED).push(")");
    tx.execute(q).await.map(drop)
}

/// Makes the next delivery of each finished delivery's key due now, unless it waits for
/// its own retry. Its claim then follows at once. The row is written even when it was
/// not deferred yet, so that a claim deferring it at the same moment on another node
/// (PostgreSQL) either waits for this and sees it first of its key, or skips it.
async fn next_of_each_key<D: Dialect>(tx: &mut Tx<D>, finished: &[&str], now: i64) -> StoreResult<()> {
    for chunk in finished.chunks(IDS_PER_STATEMENT) {
        let next = same_key("id", "d", "o.status = 'pending'");
        let mut q = Sql::new(format!(
            "UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE status = 'pending' \
             AND attempts = schedule_base AND id IN \
             (SELECT ({next} ORDER BY o.id LIMIT 1) FROM deliveries d WHERE d.id IN "
        ))
        .bind(now)
        .bind(now);
        q.push_list(chunk.iter().copied()).push(")");
        tx.execute(q).await?;
    }
    Ok(())
}

pub(super) async fn record_results<D: Dialect>(
    store: &SqlStore<D>,
    batch: &[DeliveryResult],
    disable_before: OffsetDateTime,
    failing_after: u32,
) -> StoreResult<Recorded> {
    // A few statements for the whole batch, not a few per result: the writer is
    // shared with publishing, and every statement costs a round trip.
    let now = micros(hookd_core::time_fmt::now());
    let mut tx = store.begin().await?;
    let attempts: Vec<&Attempt> = batch.iter().filter_map(|r| r.attempt.as_ref()).collect();
    for chunk in sized_chunks(&attempts) {
        let mut q = Sql::new(
            "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response, \
             error_kind, error_message, request_headers, response_headers) ",
        );
        q.push_values(chunk, |r, a| {
            r.bind(a.delivery_id.as_str())
                .bind(a.attempt)
                .bind(micros(a.started_at))
                .bind(a.duration_ms)
                .bind(a.status_code)
                .bind(&a.response)
                .bind(&a.error_kind)
                .bind(&a.error_message)
                .bind(headers_json(&a.request_headers))
                .bind(headers_json(&a.response_headers));
        });
        q.push(
            " ON CONFLICT (delivery_id, attempt) DO UPDATE SET started_at = excluded.started_at, \
             duration_ms = excluded.duration_ms, status_code = excluded.status_code, response = excluded.response, \
             error_kind = excluded.error_kind, error_message = excluded.error_message, \
             request_headers = excluded.request_headers, response_headers = excluded.response_headers",
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
                NextStep::Held => ("held", None),
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
    let finished: Vec<&str> =
        batch.iter().filter(|r| r.releases_next_in_order()).map(|r| r.delivery_id.as_str()).collect();
    if !finished.is_empty() {
        next_of_each_key(&mut tx, &finished, now).await?;
    }
    // Each webhook's counters, in webhook id order: two nodes recording results for
    // the same webhooks then lock their rows in the same order, never in a cycle.
    let mut failing = Vec::new();
    let mut succeeded = Vec::new();
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
        if t.last_success.is_some() {
            succeeded.push(*w);
        }
    }
    let mut out = Recorded::default();
    // A streak of failures that reached the threshold is told once; a success that ends
    // it, once. (`u32::MAX`: the caller tells nobody, so the flags are left alone.)
    if !failing.is_empty() && failing_after != u32::MAX {
        let mut q = Sql::new("UPDATE webhooks SET failing_alerted = TRUE WHERE failing_alerted = FALSE");
        q.push_bind(" AND failure_count >= ?", i64::from(failing_after))
            .push(" AND id IN ")
            .push_list(failing.iter().map(|w| w.as_str()))
            .push(" RETURNING id, failure_count");
        for (id, count) in tx.fetch_all::<(String, i64)>(q).await? {
            out.failing.push((WebhookId::parse(&id).map_err(StoreError::other)?, count));
        }
    }
    if !succeeded.is_empty() && failing_after != u32::MAX {
        let mut q = Sql::new("UPDATE webhooks SET failing_alerted = FALSE WHERE failing_alerted = TRUE");
        q.push_bind(" AND failure_count < ?", i64::from(failing_after))
            .push(" AND id IN ")
            .push_list(succeeded.iter().map(|w| w.as_str()))
            .push(" RETURNING id");
        for (id,) in tx.fetch_all::<(String,)>(q).await? {
            out.recovered.push(WebhookId::parse(&id).map_err(StoreError::other)?);
        }
    }
    let held: Vec<&str> = batch.iter().filter(|r| r.next == NextStep::Held).map(|r| r.delivery_id.as_str()).collect();
    for chunk in held.chunks(IDS_PER_STATEMENT) {
        release_if_enabled(&mut tx, Some(chunk), now).await?;
    }
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
                out.disabled.push((r.webhook_id.clone(), (*reason).to_owned()));
            }
            hold_open_deliveries(&mut tx, &r.webhook_id, Some(&r.delivery_id), now).await?;
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
            hold_open_deliveries(&mut tx, &w, None, now).await?;
            out.disabled.push((w, rows::DISABLED_FAILING.to_owned()));
        }
    }
    tx.commit().await?;
    Ok(out)
}

pub(super) async fn claim_for_retry<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    id: &DeliveryId,
    lease: Option<(&str, OffsetDateTime)>,
) -> StoreResult<Option<(Delivery, Event)>> {
    let now = micros(hookd_core::time_fmt::now());
    let (status, owner, until) = match lease {
        Some((owner, until)) => ("in_flight", Some(owner), Some(micros(until))),
        None => ("pending", None, None),
    };
    let mut tx = store.begin().await?;
    let updated = tx
        .execute(
            Sql::new(
                "UPDATE deliveries SET status = ?, lease_owner = ?, lease_expires_at = ?, \
                 next_attempt_at = ?, schedule_base = attempts, updated_at = ? \
                 WHERE workspace_id = ? AND id = ? AND status != 'in_flight'",
            )
            .bind(status)
            .bind(owner)
            .bind(until)
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
    if lease.is_none() {
        tx.announce_due().await?;
    }
    tx.commit().await?;
    Ok(Some(row.try_into()?))
}

/// A statement's head and tail, around a list of ids.
type Around = (&'static str, &'static str);

pub(super) async fn prune_batch<D: Dialect>(
    store: &SqlStore<D>,
    target: PruneTarget,
    before: OffsetDateTime,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<PruneStep> {
    // Ids sort by creation time, so the rows older than `before` are a range of the
    // primary key, walked once per pass from `after`: rows kept (another status, or an
    // event still being retried) are stepped over, never read again in the same pass.
    let limit = i64::from(limit.min(IDS_PER_STATEMENT as u32));
    let after = after.unwrap_or("");
    // The rows to look at, whether each is due, and the statements that delete the due
    // ones and what hangs off them (each a head and a tail around the list of ids).
    // The deletes check the status again: a row may have been retried or replayed since
    // it was read.
    let (rows, deletes): (Vec<(String, bool)>, &[Around]) = match target {
        PruneTarget::Succeeded | PruneTarget::Finished => {
            let succeeded = target == PruneTarget::Succeeded;
            let due: &[&str] = if succeeded { &["succeeded"] } else { &["failed", "cancelled"] };
            let sql = Sql::new("SELECT id, status FROM deliveries WHERE id > ? AND id < ? ORDER BY id LIMIT ?")
                .bind(after)
                .bind(DeliveryId::floor_at(before).to_string())
                .bind(limit);
            let rows: Vec<(String, String)> = store.read(sql).await?;
            let rows = rows.into_iter().map(|(id, status)| (id, due.contains(&status.as_str()))).collect();
            let deletes: &[Around] = if succeeded {
                &[
                    ("DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE status = 'succeeded' AND id IN ", ")"),
                    ("DELETE FROM deliveries WHERE status = 'succeeded' AND id IN ", ""),
                ]
            } else {
                &[
                    (
                        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries \
                         WHERE status IN ('failed', 'cancelled') AND id IN ",
                        ")",
                    ),
                    ("DELETE FROM deliveries WHERE status IN ('failed', 'cancelled') AND id IN ", ""),
                ]
            };
            (rows, deletes)
        }
        PruneTarget::Events => {
            let sql = Sql::new(
                "SELECT e.id, (SELECT COUNT(*) FROM deliveries d WHERE d.event_id = e.id \
                 AND d.status IN ('pending', 'in_flight')) FROM events e WHERE e.id > ? AND e.id < ? \
                 ORDER BY e.id LIMIT ?",
            )
            .bind(after)
            .bind(EventId::floor_at(before).to_string())
            .bind(limit);
            let rows: Vec<(String, i64)> = store.read(sql).await?;
            (
                rows.into_iter().map(|(id, open)| (id, open == 0)).collect(),
                &[
                    (
                        "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries \
                         WHERE status NOT IN ('pending', 'in_flight') AND event_id IN ",
                        ")",
                    ),
                    ("DELETE FROM deliveries WHERE status NOT IN ('pending', 'in_flight') AND event_id IN ", ""),
                    ("DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id) AND id IN ", ""),
                ],
            )
        }
    };
    let next = (rows.len() as i64 == limit).then(|| rows.last().map(|(id, _)| id.clone())).flatten();
    let due: Vec<&str> = rows.iter().filter(|(_, due)| *due).map(|(id, _)| id.as_str()).collect();
    if due.is_empty() {
        return Ok(PruneStep { pruned: 0, next, held: std::time::Duration::ZERO });
    }
    let mut tx = store.begin().await?;
    let held = std::time::Instant::now();
    let mut pruned = 0;
    for (head, tail) in deletes {
        let mut q = Sql::new(head);
        q.push_list(due.iter().copied()).push(tail);
        pruned = tx.execute(q).await?;
    }
    tx.commit().await?;
    Ok(PruneStep { pruned, next, held: held.elapsed() })
}

/// Cancels a webhook's pending, in-flight and held deliveries (but `except`): it was
/// deleted, so none of them can be delivered.
///
/// On PostgreSQL, rows another transaction holds are skipped, not waited for: that is a
/// node recording those deliveries' results, which holds their rows and then wants this
/// webhook's row (its counters), while the caller already holds the webhook (deleting or
/// disabling it). Waiting would deadlock. A skipped delivery is cancelled when it next
/// comes up, because no attempt is made for a webhook that is gone.
pub(super) async fn cancel_open_deliveries<D: Dialect>(
    tx: &mut Tx<D>,
    webhook: &WebhookId,
    except: Option<&DeliveryId>,
    now: i64,
) -> StoreResult<()> {
    close_open_deliveries(tx, Owner::Webhook(webhook), except, now, "cancelled").await
}

/// Holds a webhook's pending and in-flight deliveries (but `except`): it was disabled.
/// Rows another transaction holds are skipped, as in [`cancel_open_deliveries`]; such a
/// delivery is held when it next comes up.
pub(super) async fn hold_open_deliveries<D: Dialect>(
    tx: &mut Tx<D>,
    webhook: &WebhookId,
    except: Option<&DeliveryId>,
    now: i64,
) -> StoreResult<()> {
    close_open_deliveries(tx, Owner::Webhook(webhook), except, now, "held").await
}

/// Whose open deliveries [`close_open_deliveries`] closes.
pub(super) enum Owner<'a> {
    Webhook(&'a WebhookId),
    Workspace(&'a WorkspaceId),
}

/// Sets the open deliveries of a webhook or a workspace (but `except`) to `status`
/// (`held` or `cancelled`; cancelling closes held deliveries too).
///
/// Each status is found through the partial index that lists exactly the deliveries in
/// it (`deliveries_due`, `deliveries_leased`, `deliveries_held`), not through the
/// webhook's or the workspace's own index: that one lists every delivery it ever had,
/// and reading months of them held SQLite's writer for a second and more. What is read
/// is the work still open across the database, which does not grow with history.
pub(super) async fn close_open_deliveries<D: Dialect>(
    tx: &mut Tx<D>,
    owner: Owner<'_>,
    except: Option<&DeliveryId>,
    now: i64,
    status: &'static str,
) -> StoreResult<()> {
    let (column, id) = match owner {
        Owner::Webhook(w) => ("webhook_id", w.as_str()),
        Owner::Workspace(w) => ("workspace_id", w.as_str()),
    };
    let open = [("pending", D::PENDING_INDEX), ("in_flight", D::IN_FLIGHT_INDEX), ("held", D::HELD_INDEX)];
    for (from, index) in open.into_iter().filter(|(from, _)| *from != status) {
        let sql = Sql::new(format!(
            "UPDATE deliveries SET status = '{status}', next_attempt_at = NULL, lease_owner = NULL, \
             lease_expires_at = NULL, updated_at = ? WHERE id IN (SELECT id FROM deliveries{index} \
             WHERE status = '{from}' AND {column} = ? AND id != ?{})",
            D::SKIP_LOCKED
        ))
        .bind(now)
        .bind(id)
        .bind(except.map_or("", DeliveryId::as_str));
        tx.execute(sql).await?;
    }
    Ok(())
}

/// What [`release_held`] does with a held delivery.
const DUE_AGAIN: &str = "status = 'pending', next_attempt_at = created_at, schedule_base = attempts";

/// Cancels the held deliveries of `webhook` (of every webhook when `None`) beyond the
/// newest `keep`. Returns how many.
pub(super) async fn trim_held<D: Dialect>(
    tx: &mut Tx<D>,
    webhook: Option<&WebhookId>,
    keep: u32,
    now: i64,
) -> StoreResult<u64> {
    let mut q = Sql::new(
        "UPDATE deliveries SET status = 'cancelled', last_error = 'more deliveries were held for its webhook \
         than retention.held_max', updated_at = ? WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER \
         (PARTITION BY webhook_id ORDER BY id DESC) AS n FROM deliveries WHERE status = 'held'",
    )
    .bind(now);
    if let Some(w) = webhook {
        q.push_bind(" AND webhook_id = ?", w.as_str());
    }
    q.push_bind(") h WHERE h.n > ?)", i64::from(keep));
    tx.execute(q).await
}

/// Re-enabling `webhook`: its held deliveries become due (oldest first, from a fresh
/// retry schedule) or are cancelled.
pub(super) async fn release_held<D: Dialect>(
    tx: &mut Tx<D>,
    webhook: &WebhookId,
    what: HeldDeliveries,
    now: i64,
) -> StoreResult<u64> {
    let set = match what {
        HeldDeliveries::Deliver { keep } => {
            trim_held(tx, Some(webhook), keep, now).await?;
            DUE_AGAIN
        }
        HeldDeliveries::Cancel => "status = 'cancelled'",
    };
    let sql = Sql::new(format!("UPDATE deliveries SET {set}, updated_at = ? WHERE webhook_id = ? AND status = 'held'"))
        .bind(now)
        .bind(webhook.as_str());
    let released = tx.execute(sql).await?;
    if matches!(what, HeldDeliveries::Deliver { .. }) && released > 0 {
        tx.announce_due().await?;
    }
    Ok(released)
}

/// Makes due the held deliveries among `ids` (all when `None`) whose webhook is
/// enabled: a publish or an attempt that read the webhook disabled just before it was
/// re-enabled. Returns how many.
pub(super) async fn release_if_enabled<D: Dialect>(tx: &mut Tx<D>, ids: Option<&[&str]>, now: i64) -> StoreResult<u64> {
    let mut q = Sql::new(format!(
        "UPDATE deliveries SET {DUE_AGAIN}, updated_at = ? WHERE status = 'held' AND EXISTS \
         (SELECT 1 FROM webhooks w WHERE w.id = deliveries.webhook_id AND w.enabled = TRUE)"
    ))
    .bind(now);
    if let Some(ids) = ids {
        q.push(" AND id IN ").push_list(ids.iter().copied());
    }
    let released = tx.execute(q).await?;
    if released > 0 {
        tx.announce_due().await?;
    }
    Ok(released)
}

pub(super) async fn maintain_held<D: Dialect>(store: &SqlStore<D>, keep: u32) -> StoreResult<(u64, u64)> {
    let now = micros(hookd_core::time_fmt::now());
    let mut tx = store.begin().await?;
    let dropped = trim_held(&mut tx, None, keep, now).await?;
    let released = release_if_enabled(&mut tx, None, now).await?;
    tx.commit().await?;
    Ok((dropped, released))
}
