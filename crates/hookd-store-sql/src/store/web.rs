//! Dashboard and portal sessions, one-time portal links, and webhook statistics.

use hookd_core::domain::{PortalLink, StatRow, WebSession};
use hookd_core::id::{WebhookId, WorkspaceId};
use hookd_core::store::StoreResult;
use time::OffsetDateTime;

use crate::batch::sized_chunks;
use crate::rows::{micros, PortalLinkRow, StatRowRow, WebSessionRow};
use crate::{Dialect, Sql, SqlStore};

const SESSION_COLUMNS: &str = "id_hash, workspace_id, api_key_id, owner, csrf_token, acting_workspace, created_at, \
     last_seen_at, expires_at";

const LINK_COLUMNS: &str = "token_hash, workspace_id, owner, created_at, expires_at, used_at";

/// Webhooks per statistics read.
const WEBHOOKS_PER_READ: usize = 500;

pub(super) async fn create_session<D: Dialect>(store: &SqlStore<D>, s: &WebSession) -> StoreResult<()> {
    let mut q = Sql::new(format!("INSERT INTO web_sessions ({SESSION_COLUMNS}) "));
    q.push_values([s], |r, s| {
        r.bind(s.id_hash.as_slice())
            .bind(s.workspace_id.as_str())
            .bind(s.api_key_id.as_ref().map(|k| k.as_str()))
            .bind(s.owner.as_deref())
            .bind(s.csrf_token.as_str())
            .bind(s.acting_workspace.as_ref().map(|w| w.as_str()))
            .bind(micros(s.created_at))
            .bind(micros(s.last_seen_at))
            .bind(micros(s.expires_at));
    });
    store.write(q).await.map(drop)
}

pub(super) async fn get_session<D: Dialect>(
    store: &SqlStore<D>,
    id_hash: &[u8; 32],
) -> StoreResult<Option<WebSession>> {
    let sql =
        Sql::new(format!("SELECT {SESSION_COLUMNS} FROM web_sessions WHERE id_hash = ?")).bind(id_hash.as_slice());
    store.read_one::<WebSessionRow>(sql).await?.map(WebSession::try_from).transpose()
}

pub(super) async fn update_session<D: Dialect>(
    store: &SqlStore<D>,
    id_hash: &[u8; 32],
    last_seen_at: OffsetDateTime,
    acting_workspace: Option<&WorkspaceId>,
) -> StoreResult<bool> {
    let sql = Sql::new("UPDATE web_sessions SET last_seen_at = ?, acting_workspace = ? WHERE id_hash = ?")
        .bind(micros(last_seen_at))
        .bind(acting_workspace.map(|w| w.as_str()))
        .bind(id_hash.as_slice());
    Ok(store.write(sql).await? == 1)
}

pub(super) async fn delete_session<D: Dialect>(store: &SqlStore<D>, id_hash: &[u8; 32]) -> StoreResult<bool> {
    let sql = Sql::new("DELETE FROM web_sessions WHERE id_hash = ?").bind(id_hash.as_slice());
    Ok(store.write(sql).await? == 1)
}

pub(super) async fn create_link<D: Dialect>(store: &SqlStore<D>, l: &PortalLink) -> StoreResult<()> {
    let mut q = Sql::new(format!("INSERT INTO portal_links ({LINK_COLUMNS}) "));
    q.push_values([l], |r, l| {
        r.bind(l.token_hash.as_slice())
            .bind(l.workspace_id.as_str())
            .bind(l.owner.as_str())
            .bind(micros(l.created_at))
            .bind(micros(l.expires_at))
            .bind(l.used_at.map(micros));
    });
    store.write(q).await.map(drop)
}

pub(super) async fn redeem_link<D: Dialect>(
    store: &SqlStore<D>,
    token_hash: &[u8; 32],
    now: OffsetDateTime,
) -> StoreResult<Option<PortalLink>> {
    // One statement: of two browsers opening the same link at once, the row's lock lets
    // one update it; the other finds `used_at` set and gets nothing.
    let sql = Sql::new(format!(
        "UPDATE portal_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? \
         RETURNING {LINK_COLUMNS}"
    ))
    .bind(micros(now))
    .bind(token_hash.as_slice())
    .bind(micros(now));
    let mut tx = store.begin().await?;
    let row = tx.fetch_all::<PortalLinkRow>(sql).await?.into_iter().next();
    tx.commit().await?;
    row.map(PortalLink::try_from).transpose()
}

pub(super) async fn prune<D: Dialect>(
    store: &SqlStore<D>,
    now: OffsetDateTime,
    stats_before: OffsetDateTime,
) -> StoreResult<u64> {
    let mut tx = store.begin().await?;
    let mut n = tx.execute(Sql::new("DELETE FROM web_sessions WHERE expires_at <= ?").bind(micros(now))).await?;
    n += tx.execute(Sql::new("DELETE FROM portal_links WHERE expires_at <= ?").bind(micros(now))).await?;
    n += tx.execute(Sql::new("DELETE FROM webhook_stats WHERE hour < ?").bind(micros(stats_before))).await?;
    tx.commit().await?;
    Ok(n)
}

pub(super) async fn add_stats<D: Dialect>(store: &SqlStore<D>, rows: &[StatRow]) -> StoreResult<()> {
    let mut tx = store.begin().await?;
    for chunk in sized_chunks(rows) {
        let mut q = Sql::new("INSERT INTO webhook_stats (webhook_id, hour, bucket, succeeded, failed) ");
        q.push_values(chunk, |r, row| {
            r.bind(row.webhook_id.as_str())
                .bind(micros(row.hour))
                .bind(row.bucket as i64)
                .bind(row.succeeded)
                .bind(row.failed);
        });
        q.push(
            " ON CONFLICT (webhook_id, hour, bucket) DO UPDATE SET succeeded = webhook_stats.succeeded + \
             excluded.succeeded, failed = webhook_stats.failed + excluded.failed",
        );
        tx.execute(q).await?;
    }
    tx.commit().await
}

pub(super) async fn stats<D: Dialect>(
    store: &SqlStore<D>,
    webhooks: &[WebhookId],
    since: OffsetDateTime,
) -> StoreResult<Vec<StatRow>> {
    let mut out = Vec::new();
    for chunk in webhooks.chunks(WEBHOOKS_PER_READ) {
        let mut q = Sql::new("SELECT webhook_id, hour, bucket, succeeded, failed FROM webhook_stats WHERE hour >= ?")
            .bind(micros(since));
        q.push(" AND webhook_id IN ").push_list(chunk.iter().map(|w| w.as_str()));
        q.push(" ORDER BY webhook_id, hour, bucket");
        for row in store.read::<StatRowRow>(q).await? {
            out.push(row.try_into()?);
        }
    }
    Ok(out)
}
