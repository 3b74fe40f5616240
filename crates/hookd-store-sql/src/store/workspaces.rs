//! Workspaces: a product's customers, found by id, name or the product's own id.

use super::*;

const WORKSPACE_COLUMNS: &str = "id, name, external_id, metadata, created_at";

/// The workspace whose `column` (a unique one) equals `value`.
pub(super) async fn find<D: Dialect>(
    store: &SqlStore<D>,
    column: &'static str,
    value: &str,
) -> StoreResult<Option<Workspace>> {
    let sql = Sql::new(format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE {column} = ?")).bind(value);
    store.read_one::<WorkspaceRow>(sql).await?.map(Workspace::try_from).transpose()
}

pub(super) async fn list<D: Dialect>(
    store: &SqlStore<D>,
    filter: &WorkspaceFilter,
    page: &PageRequest<WorkspaceId>,
) -> StoreResult<Vec<Workspace>> {
    let mut q = Sql::new(format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE TRUE"));
    if let Some(e) = &filter.external_id {
        q.push_bind(" AND external_id = ?", e.as_str());
    }
    if let Some(after) = &page.before {
        q.push_bind(" AND id > ?", after.as_str());
    }
    q.push_bind(" ORDER BY id LIMIT ?", i64::from(page.limit));
    store.read::<WorkspaceRow>(q).await?.into_iter().map(Workspace::try_from).collect()
}

pub(super) async fn update<D: Dialect>(store: &SqlStore<D>, w: &Workspace) -> StoreResult<bool> {
    let sql = Sql::new("UPDATE workspaces SET name = ?, external_id = ?, metadata = ? WHERE id = ?")
        .bind(&w.name)
        .bind(&w.external_id)
        .bind(json(&w.metadata))
        .bind(w.id.as_str());
    Ok(store.write(sql).await? == 1)
}

/// Its keys and webhooks go with it (foreign keys cascade); its open deliveries are
/// cancelled, skipping rows another node holds (they are cancelled when next attempted,
/// their webhook being gone). Events stay until pruning.
pub(super) async fn delete<D: Dialect>(store: &SqlStore<D>, id: &WorkspaceId) -> StoreResult<bool> {
    let now = micros(hookd_core::time_fmt::now());
    let mut tx = store.begin().await?;
    close_open_deliveries(&mut tx, Owner::Workspace(id), None, now, "cancelled").await?;
    let deleted = tx.execute(Sql::new("DELETE FROM workspaces WHERE id = ?").bind(id.as_str())).await? == 1;
    tx.commit().await?;
    Ok(deleted)
}
