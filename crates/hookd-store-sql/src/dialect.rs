//! What differs between SQLite and PostgreSQL, and nothing else.
//!
//! - Connections: SQLite has one writer and several read-only readers (it allows one
//!   writer at a time, and queueing on its file lock ends in `SQLITE_BUSY`); PostgreSQL
//!   has one pool for everything.
//! - A few words of SQL: `FOR UPDATE SKIP LOCKED` (several PostgreSQL nodes claim from
//!   one table; SQLite's single writer never races), `MIN`/`LEAST`, how a JSON array of
//!   ids is read as rows.
//! - Webhook numbering: a counter row on SQLite, an identity column on PostgreSQL.
//! - What a failure means: SQLite's result codes, PostgreSQL's SQLSTATEs.
//! - Announcements: PostgreSQL tells other nodes when deliveries become due; SQLite has
//!   no other nodes.

use std::future::Future;

use hookd_core::store::{StoreError, StoreResult};
use sqlx::{Postgres as Pg, Sqlite as Lite};

use crate::query::{build, Sql};

/// Rows that decode on both databases: every row type of this crate, and tuples of
/// plain values.
pub trait FromSqlRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin
{
}
impl<T> FromSqlRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// One database's way of running hookd's statements. Implemented by [`Sqlite`] and
/// [`Postgres`]; [`crate::SqlStore`] is written once against it.
pub trait Dialect: Send + Sync + Sized + 'static {
    /// The connection pools.
    type Pools: Clone + Send + Sync + 'static;
    /// One connection, in a transaction or not.
    type Conn: Send;
    type Tx: std::ops::DerefMut<Target = Self::Conn> + Send;
    type Pooled: std::ops::DerefMut<Target = Self::Conn> + Send;

    /// Ends a subquery that picks rows to change, so that rows another transaction holds
    /// are skipped rather than waited for.
    const SKIP_LOCKED: &'static str;
    /// Ends a query whose rows the transaction will change after judging them.
    const FOR_UPDATE: &'static str;
    /// The smaller and the larger of two values.
    const LEAST: &'static str;
    const GREATEST: &'static str;
    /// The rows of a JSON array of strings bound to its one placeholder, for `IN (…)`.
    const JSON_TEXT_ROWS: &'static str;
    /// After `FROM deliveries` when the query wants deliveries in flight: SQLite is told
    /// to read `deliveries_leased` (which lists exactly those) rather than walk a
    /// webhook's history in id order; PostgreSQL plans from statistics and needs no hint.
    const IN_FLIGHT_INDEX: &'static str;
    /// The same for pending deliveries (`deliveries_due`) and held ones
    /// (`deliveries_held`).
    const PENDING_INDEX: &'static str;
    const HELD_INDEX: &'static str;
    /// The function that finds a string in another, `(haystack, needle)`, 0 when absent,
    /// case-sensitive.
    const POSITION: &'static str;

    fn begin(pools: &Self::Pools) -> impl Future<Output = StoreResult<Self::Tx>> + Send;
    fn commit(tx: Self::Tx) -> impl Future<Output = StoreResult<()>> + Send;
    /// Closes the connections (on SQLite, checkpointing the WAL).
    fn close(pools: &Self::Pools) -> impl Future<Output = ()> + Send;
    /// A connection that reads (a read-only one on SQLite).
    fn reader(pools: &Self::Pools) -> impl Future<Output = StoreResult<Self::Pooled>> + Send;
    /// A connection that writes (SQLite's one writer).
    fn writer(pools: &Self::Pools) -> impl Future<Output = StoreResult<Self::Pooled>> + Send;

    /// Runs a statement; returns the rows it changed.
    fn execute<'c>(conn: &'c mut Self::Conn, sql: Sql<'c>) -> impl Future<Output = StoreResult<u64>> + Send + 'c;
    fn fetch_all<'c, T: FromSqlRow + 'c>(
        conn: &'c mut Self::Conn,
        sql: Sql<'c>,
    ) -> impl Future<Output = StoreResult<Vec<T>>> + Send + 'c;

    /// Takes whatever lock makes the first-start check-then-write safe when several
    /// processes start at once.
    fn lock_for_bootstrap(tx: &mut Self::Tx) -> impl Future<Output = StoreResult<()>> + Send;
    /// Whether a webhook's `number` comes from the `counters` table (else the database
    /// assigns it and the insert returns it).
    const NUMBERS_FROM_COUNTER: bool;
    /// Whether a writing transaction holds back every other writer ([`hookd_core::store::Store::exclusive_writer`]).
    const EXCLUSIVE_WRITER: bool;
    /// Tells other nodes, when `tx` commits, that deliveries are due.
    fn announce_due(tx: &mut Self::Tx) -> impl Future<Output = StoreResult<()>> + Send;

    /// Sorts a failure into the store's categories.
    fn map_err(e: sqlx::Error) -> StoreError;
}

/// The validity check every statement passes before it runs.
fn checked(sql: Sql<'_>) -> StoreResult<Sql<'_>> {
    if sql.placeholders_match() {
        Ok(sql)
    } else {
        Err(StoreError::other(MiscountedStatement(sql.text().to_owned())))
    }
}

/// A statement whose placeholders and values do not pair up: a bug.
#[derive(Debug, thiserror::Error)]
#[error("statement has a different number of placeholders and values: {0}")]
struct MiscountedStatement(String);

/// SQLite's connections: the one writer, and read-only readers beside it (WAL).
#[derive(Debug, Clone)]
pub struct SqlitePools {
    pub writer: sqlx::SqlitePool,
    pub reader: sqlx::SqlitePool,
    /// Whatever must live as long as the store (the background checkpointer's signal:
    /// it stops when the last clone of this is dropped).
    pub keep_alive: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

/// The embedded SQLite file.
#[derive(Debug, Clone, Copy)]
pub struct Sqlite;

impl Dialect for Sqlite {
    type Pools = SqlitePools;
    type Conn = sqlx::SqliteConnection;
    type Tx = sqlx::Transaction<'static, Lite>;
    type Pooled = sqlx::pool::PoolConnection<Lite>;

    const SKIP_LOCKED: &'static str = "";
    const FOR_UPDATE: &'static str = "";
    const LEAST: &'static str = "MIN";
    const GREATEST: &'static str = "MAX";
    const JSON_TEXT_ROWS: &'static str = "SELECT value FROM json_each(?)";
    const IN_FLIGHT_INDEX: &'static str = " INDEXED BY deliveries_leased";
    const PENDING_INDEX: &'static str = " INDEXED BY deliveries_due";
    const HELD_INDEX: &'static str = " INDEXED BY deliveries_held";
    const POSITION: &'static str = "instr";
    const NUMBERS_FROM_COUNTER: bool = true;
    const EXCLUSIVE_WRITER: bool = true;

    async fn begin(pools: &SqlitePools) -> StoreResult<Self::Tx> {
        pools.writer.begin().await.map_err(Self::map_err)
    }
    async fn commit(tx: Self::Tx) -> StoreResult<()> {
        tx.commit().await.map_err(Self::map_err)
    }
    async fn close(pools: &SqlitePools) {
        pools.reader.close().await;
        pools.writer.close().await;
    }
    async fn reader(pools: &SqlitePools) -> StoreResult<Self::Pooled> {
        pools.reader.acquire().await.map_err(Self::map_err)
    }
    async fn writer(pools: &SqlitePools) -> StoreResult<Self::Pooled> {
        pools.writer.acquire().await.map_err(Self::map_err)
    }

    async fn execute<'c>(conn: &'c mut Self::Conn, sql: Sql<'c>) -> StoreResult<u64> {
        let mut q = build::<Lite>(checked(sql)?);
        Ok(q.build().execute(conn).await.map_err(Self::map_err)?.rows_affected())
    }
    async fn fetch_all<'c, T: FromSqlRow + 'c>(conn: &'c mut Self::Conn, sql: Sql<'c>) -> StoreResult<Vec<T>> {
        let mut q = build::<Lite>(checked(sql)?);
        q.build_query_as::<T>().fetch_all(conn).await.map_err(Self::map_err)
    }

    async fn lock_for_bootstrap(_: &mut Self::Tx) -> StoreResult<()> {
        // The first write in the transaction takes the file's write lock; another
        // process that read meanwhile fails with SQLITE_BUSY and retries.
        Ok(())
    }
    async fn announce_due(_: &mut Self::Tx) -> StoreResult<()> {
        Ok(())
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                let msg = d.message();
                let constraint = if msg.contains("workspaces.name") {
                    "workspace_name"
                } else if msg.contains("workspaces.external_id") {
                    "workspace_external_id"
                } else if msg.contains("api_keys.secret_hash") {
                    "imported_key"
                } else if msg.contains("api_keys.id") {
                    "api_key_id"
                } else if msg.contains("webhooks.id") {
                    "webhook_id"
                } else if msg.contains("webhooks_uid") {
                    "webhook_uid"
                } else if msg.contains("records_uid") || msg.contains("records.uid") {
                    "record_uid"
                } else if msg.contains("records.") {
                    "record_id"
                } else {
                    "unique"
                };
                StoreError::Conflict { constraint }
            }
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::Conflict { constraint: "foreign_key" }
            }
            sqlx::Error::Database(d) => match d.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff) {
                // SQLITE_BUSY and SQLITE_LOCKED: another process holds the lock.
                Some(5 | 6) => StoreError::Unavailable(Box::new(e)),
                // SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: the file
                // cannot be written now (a full disk, permissions, a failing device).
                Some(8 | 10 | 13 | 14) => StoreError::Storage(Box::new(e)),
                _ => StoreError::other(e),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::other(e),
        }
    }
}

/// PostgreSQL, shared by several hookd nodes.
#[derive(Debug, Clone, Copy)]
pub struct Postgres;

/// The channel on which a transaction that leaves deliveries due for any node (stored
/// without a lease, released, replayed) says so when it commits.
pub const DUE_CHANNEL: &str = "hookd_deliveries";

impl Dialect for Postgres {
    type Pools = sqlx::PgPool;
    type Conn = sqlx::PgConnection;
    type Tx = sqlx::Transaction<'static, Pg>;
    type Pooled = sqlx::pool::PoolConnection<Pg>;

    // SKIP LOCKED: rows another node is claiming right now are left to it, and neither
    // node waits for the other.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const LEAST: &'static str = "LEAST";
    const GREATEST: &'static str = "GREATEST";
    const JSON_TEXT_ROWS: &'static str = "SELECT jsonb_array_elements_text(CAST(? AS jsonb))";
    const POSITION: &'static str = "strpos";
    const IN_FLIGHT_INDEX: &'static str = "";
    const PENDING_INDEX: &'static str = "";
    const HELD_INDEX: &'static str = "";
    const NUMBERS_FROM_COUNTER: bool = false;
    const EXCLUSIVE_WRITER: bool = false;

    async fn begin(pool: &sqlx::PgPool) -> StoreResult<Self::Tx> {
        pool.begin().await.map_err(Self::map_err)
    }
    async fn commit(tx: Self::Tx) -> StoreResult<()> {
        tx.commit().await.map_err(Self::map_err)
    }
    async fn close(pool: &sqlx::PgPool) {
        pool.close().await;
    }
    async fn reader(pool: &sqlx::PgPool) -> StoreResult<Self::Pooled> {
        pool.acquire().await.map_err(Self::map_err)
    }
    async fn writer(pool: &sqlx::PgPool) -> StoreResult<Self::Pooled> {
        pool.acquire().await.map_err(Self::map_err)
    }

    async fn execute<'c>(conn: &'c mut Self::Conn, sql: Sql<'c>) -> StoreResult<u64> {
        let mut q = build::<Pg>(checked(sql)?);
        Ok(q.build().execute(conn).await.map_err(Self::map_err)?.rows_affected())
    }
    async fn fetch_all<'c, T: FromSqlRow + 'c>(conn: &'c mut Self::Conn, sql: Sql<'c>) -> StoreResult<Vec<T>> {
        let mut q = build::<Pg>(checked(sql)?);
        q.build_query_as::<T>().fetch_all(conn).await.map_err(Self::map_err)
    }

    async fn lock_for_bootstrap(tx: &mut Self::Tx) -> StoreResult<()> {
        // Nodes starting together: one bootstraps, the others wait here and then see it.
        Self::execute(tx, Sql::new("LOCK TABLE workspaces IN SHARE ROW EXCLUSIVE MODE")).await.map(drop)
    }
    async fn announce_due(tx: &mut Self::Tx) -> StoreResult<()> {
        Self::execute(tx, Sql::new("SELECT pg_notify(?, '')").bind(DUE_CHANNEL)).await.map(drop)
    }

    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                let constraint = match d.constraint() {
                    Some("workspaces_name_key") => "workspace_name",
                    Some("workspaces_external_id") => "workspace_external_id",
                    Some("api_keys_pkey") => "api_key_id",
                    Some("api_keys_imported") => "imported_key",
                    Some("webhooks_pkey") => "webhook_id",
                    Some("webhooks_uid") => "webhook_uid",
                    Some("records_uid") => "record_uid",
                    Some("records_pkey") => "record_id",
                    _ => "unique",
                };
                StoreError::Conflict { constraint }
            }
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                StoreError::Conflict { constraint: "foreign_key" }
            }
            sqlx::Error::Database(d) => match d.code().as_deref() {
                // Class 08 (connection), 57P01-03 (shutdown, crash recovery), 53300 (too
                // many connections), 40001/40P01 (serialization failure, deadlock): try
                // again.
                Some(c)
                    if c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "40001" || c == "40P01" =>
                {
                    StoreError::Unavailable(Box::new(e))
                }
                // 53100 (disk full), class 53 (out of memory, other resources), class 58
                // (I/O error), 25006 (a read-only server, such as a standby after a
                // failover).
                Some(c) if c.starts_with("53") || c.starts_with("58") || c == "25006" => {
                    StoreError::Storage(Box::new(e))
                }
                _ => StoreError::other(e),
            },
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::other(e),
        }
    }
}
