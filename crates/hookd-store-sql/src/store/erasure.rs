//! Erasing events' payloads, one or in bulk, and the bulk erasures' progress.

use hookd_core::domain::{Erasure, ErasureScope, ErasureStatus, ERASED_DATA};
use hookd_core::id::ErasureId;
use hookd_core::store::ErasedStep;

use super::*;
use crate::rows::{corrupt, opt_micros};
use crate::Tx;

/// Erases the events `ids` (of one workspace) in `tx`.
async fn erase<D: Dialect>(tx: &mut Tx<D>, ids: &[&str], now: i64) -> StoreResult<u64> {
    let mut q = Sql::new("UPDATE events SET data = ?, erased_at = ? WHERE id IN ").bind(ERASED_DATA).bind(now);
    q.push_list(ids.iter().copied());
    let erased = tx.execute(q).await?;
    // What a receiver answered may echo the payload.
    let mut q = Sql::new(
        "UPDATE attempts SET response = NULL WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id IN ",
    );
    q.push_list(ids.iter().copied()).push(")");
    tx.execute(q).await?;
    let mut q = Sql::new(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, \
         lease_expires_at = NULL, last_error = 'its event''s payload was erased', updated_at = ? \
         WHERE status IN ('pending', 'in_flight', 'held') AND event_id IN ",
    )
    .bind(now);
    q.push_list(ids.iter().copied());
    tx.execute(q).await?;
    Ok(erased)
}

pub(super) async fn erase_event<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    id: &EventId,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    // Found on a reader: the writer is taken only to erase.
    let found: Option<(String,)> = store
        .read_one(
            Sql::new("SELECT id FROM events WHERE workspace_id = ? AND id = ?")
                .bind(workspace.as_str())
                .bind(id.as_str()),
        )
        .await?;
    if found.is_none() {
        return Ok(false);
    }
    let mut tx = store.begin().await?;
    erase(&mut tx, &[id.as_str()], micros(now)).await?;
    tx.commit().await?;
    Ok(true)
}

/// Appends the `WHERE` of the events in `scope` not erased yet.
fn in_scope<'a>(q: &mut Sql<'a>, scope: &'a ErasureScope) {
    q.push_bind(" WHERE workspace_id = ?", scope.workspace_id.as_str());
    if let Some(owner) = &scope.owner {
        q.push_bind(" AND owner = ?", owner.as_str());
    }
    q.push_bind(" AND id < ?", EventId::floor_at(scope.before).as_str().to_owned()).push(" AND erased_at IS NULL");
}

pub(super) async fn erase_events<D: Dialect>(
    store: &SqlStore<D>,
    scope: &ErasureScope,
    after: Option<&EventId>,
    limit: u32,
    now: OffsetDateTime,
) -> StoreResult<Option<ErasedStep>> {
    // Read first, so that the writer is held only for the updates.
    let mut q = Sql::new("SELECT id FROM events");
    in_scope(&mut q, scope);
    if let Some(after) = after {
        q.push_bind(" AND id > ?", after.as_str());
    }
    q.push_bind(" ORDER BY id LIMIT ?", i64::from(limit.min(IDS_PER_STATEMENT as u32)));
    let ids: Vec<(String,)> = store.read(q).await?;
    let Some((last,)) = ids.last() else { return Ok(None) };
    let last = EventId::parse(last).map_err(StoreError::other)?;
    let ids: Vec<&str> = ids.iter().map(|(id,)| id.as_str()).collect();
    let mut tx = store.begin().await?;
    let held = std::time::Instant::now();
    let erased = erase(&mut tx, &ids, micros(now)).await?;
    tx.commit().await?;
    Ok(Some(ErasedStep { last, erased, held: held.elapsed() }))
}

pub(super) async fn count_unerased<D: Dialect>(store: &SqlStore<D>, scope: &ErasureScope) -> StoreResult<u64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM events");
    in_scope(&mut q, scope);
    let (n,): (i64,) = store.read_one(q).await?.unwrap_or((0,));
    Ok(n.max(0) as u64)
}

const ERASURE_COLUMNS: &str = "id, workspace_id, owner, created_before, status, total, erased, cursor, error, \
     created_at, updated_at, finished_at";

#[derive(sqlx::FromRow)]
pub(crate) struct ErasureRow {
    id: String,
    workspace_id: String,
    owner: Option<String>,
    created_before: Option<i64>,
    status: String,
    total: i64,
    erased: i64,
    cursor: Option<String>,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl TryFrom<ErasureRow> for Erasure {
    type Error = StoreError;
    fn try_from(r: ErasureRow) -> Result<Self, StoreError> {
        let bad = |column: &'static str| move |e: hookd_core::id::ParseIdError| corrupt(column, e);
        Ok(Erasure {
            id: ErasureId::parse(&r.id).map_err(bad("erasures.id"))?,
            scope: ErasureScope {
                workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(bad("erasures.workspace_id"))?,
                owner: r.owner,
                before: from_micros(r.created_before.unwrap_or(r.created_at))?,
            },
            status: ErasureStatus::parse(&r.status).ok_or_else(|| corrupt("erasures.status", &r.status))?,
            total: r.total,
            erased: r.erased,
            cursor: r.cursor.as_deref().map(EventId::parse).transpose().map_err(bad("erasures.cursor"))?,
            error: r.error,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
            finished_at: opt_micros(r.finished_at)?,
        })
    }
}

pub(super) async fn insert<D: Dialect>(store: &SqlStore<D>, e: &Erasure) -> StoreResult<()> {
    let sql = Sql::new(format!("INSERT INTO erasures ({ERASURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
        .bind(e.id.as_str())
        .bind(e.scope.workspace_id.as_str())
        .bind(&e.scope.owner)
        .bind(micros(e.scope.before))
        .bind(e.status.as_str())
        .bind(e.total)
        .bind(e.erased)
        .bind(e.cursor.as_ref().map(EventId::as_str))
        .bind(&e.error)
        .bind(micros(e.created_at))
        .bind(micros(e.updated_at))
        .bind(e.finished_at.map(micros));
    store.write(sql).await.map(drop)
}

pub(super) async fn get<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    id: &ErasureId,
) -> StoreResult<Option<Erasure>> {
    let sql = Sql::new(format!("SELECT {ERASURE_COLUMNS} FROM erasures WHERE workspace_id = ? AND id = ?"))
        .bind(workspace.as_str())
        .bind(id.as_str());
    store.read_one::<ErasureRow>(sql).await?.map(Erasure::try_from).transpose()
}

pub(super) async fn update<D: Dialect>(store: &SqlStore<D>, e: &Erasure, seen: OffsetDateTime) -> StoreResult<bool> {
    let sql = Sql::new(
        "UPDATE erasures SET status = ?, total = ?, erased = ?, cursor = ?, error = ?, updated_at = ?, \
         finished_at = ? WHERE id = ? AND updated_at = ?",
    )
    .bind(e.status.as_str())
    .bind(e.total)
    .bind(e.erased)
    .bind(e.cursor.as_ref().map(EventId::as_str))
    .bind(&e.error)
    .bind(micros(e.updated_at))
    .bind(e.finished_at.map(micros))
    .bind(e.id.as_str())
    .bind(micros(seen));
    Ok(store.write(sql).await? == 1)
}

pub(super) async fn stalled<D: Dialect>(store: &SqlStore<D>, before: OffsetDateTime) -> StoreResult<Vec<Erasure>> {
    let sql = Sql::new(format!(
        "SELECT {ERASURE_COLUMNS} FROM erasures WHERE status = 'running' AND updated_at < ? ORDER BY updated_at LIMIT 100"
    ))
    .bind(micros(before));
    store.read::<ErasureRow>(sql).await?.into_iter().map(Erasure::try_from).collect()
}
