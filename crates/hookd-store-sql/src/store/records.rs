//! Records (applications and event types of the Svix-compatible API), and listing
//! events.

use super::*;
use crate::rows::RecordRow;

const RECORD_COLUMNS: &str = "workspace_id, kind, id, uid, body, created_at, updated_at";

pub(super) async fn insert<D: Dialect>(store: &SqlStore<D>, r: &Record) -> StoreResult<()> {
    let sql = Sql::new(format!("INSERT INTO records ({RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"))
        .bind(r.workspace_id.as_str())
        .bind(r.kind.as_str())
        .bind(&r.id)
        .bind(&r.uid)
        .bind(&r.body)
        .bind(micros(r.created_at))
        .bind(micros(r.updated_at));
    store.write(sql).await.map(drop)
}

/// By id first: a uid that happens to equal another record's id never shadows it.
pub(super) async fn get<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    kind: RecordKind,
    id_or_uid: &str,
) -> StoreResult<Option<Record>> {
    for column in ["id", "uid"] {
        let sql = Sql::new(format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE workspace_id = ? AND kind = ? AND {column} = ?"
        ))
        .bind(workspace.as_str())
        .bind(kind.as_str())
        .bind(id_or_uid);
        if let Some(row) = store.read_one::<RecordRow>(sql).await? {
            return Record::try_from(row).map(Some);
        }
    }
    Ok(None)
}

pub(super) async fn list<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    kind: RecordKind,
    page: &RecordPage,
) -> StoreResult<Vec<Record>> {
    let mut q = Sql::new(format!("SELECT {RECORD_COLUMNS} FROM records WHERE workspace_id = ? AND kind = ?"))
        .bind(workspace.as_str())
        .bind(kind.as_str());
    let (cmp, order) = if page.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some(from) = &page.from {
        q.push_bind(&format!(" AND id {cmp} ?"), from.as_str());
    }
    q.push_bind(&format!(" ORDER BY id {order} LIMIT ?"), i64::from(page.limit));
    store.read::<RecordRow>(q).await?.into_iter().map(Record::try_from).collect()
}

pub(super) async fn update<D: Dialect>(store: &SqlStore<D>, r: &Record) -> StoreResult<bool> {
    let sql =
        Sql::new("UPDATE records SET uid = ?, body = ?, updated_at = ? WHERE workspace_id = ? AND kind = ? AND id = ?")
            .bind(&r.uid)
            .bind(&r.body)
            .bind(micros(r.updated_at))
            .bind(r.workspace_id.as_str())
            .bind(r.kind.as_str())
            .bind(&r.id);
    Ok(store.write(sql).await? == 1)
}

pub(super) async fn delete<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    kind: RecordKind,
    id: &str,
) -> StoreResult<bool> {
    let sql = Sql::new("DELETE FROM records WHERE workspace_id = ? AND kind = ? AND id = ?")
        .bind(workspace.as_str())
        .bind(kind.as_str())
        .bind(id);
    Ok(store.write(sql).await? == 1)
}

/// Newest first. Channels and tags are JSON arrays of names that cannot hold a quote, so
/// `"name"` is found in the text exactly where the name is an element.
pub(super) async fn list_events<D: Dialect>(
    store: &SqlStore<D>,
    workspace: &WorkspaceId,
    filter: &EventFilter,
    page: &PageRequest<EventId>,
) -> StoreResult<Vec<Event>> {
    let mut q = Sql::new(format!("SELECT {EVENT_SELECT} FROM events WHERE workspace_id = ?")).bind(workspace.as_str());
    if let Some(o) = &filter.owner {
        q.push_bind(" AND owner = ?", o.as_str());
    }
    if let Some(p) = &filter.producer_id {
        q.push_bind(" AND producer_id = ?", p.as_str());
    }
    if !filter.event_types.is_empty() {
        q.push(" AND event_type IN (");
        for (i, t) in filter.event_types.iter().enumerate() {
            q.push_bind(if i == 0 { "?" } else { ", ?" }, t.as_str());
        }
        q.push(")");
    }
    if let Some(c) = &filter.channel {
        q.push_bind(&format!(" AND {}(channels, ?) > 0", D::POSITION), format!("\"{c}\""));
    }
    if let Some(t) = &filter.tag {
        q.push_bind(&format!(" AND {}(tags, ?) > 0", D::POSITION), format!("\"{t}\""));
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
    store.read::<EventRow>(q).await?.into_iter().map(Event::try_from).collect()
}
