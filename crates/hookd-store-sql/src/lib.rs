//! hookd's [`Store`](hookd_core::store::Store), written once for SQLite and PostgreSQL.
//!
//! # Layout
//!
//! - `store/`: the trait implementation for [`SqlStore`], every statement hookd runs,
//!   each written once: `mod.rs` the short ones, `deliveries.rs` the delivery lifecycle
//!   (publish, claim, results, retry, prune), `limits.rs` idempotency keys and shared
//!   rate limits, `webhooks.rs` webhook numbering.
//! - `dialect.rs`: what differs between the databases ([`Dialect`], [`Sqlite`],
//!   [`Postgres`]): connections, a few words of SQL, webhook numbering, announcements
//!   and error codes.
//! - `query.rs`: [`Sql`], a statement with `?` placeholders that becomes each database's
//!   own when it runs.
//! - `rows.rs`: rows as both databases return them, and their conversion into domain
//!   types; `batch.rs`: how batches are split into statements and tallied.
//!
//! Opening a database (pools, file permissions, URLs), its migrations and PostgreSQL's
//! notifications stay in `hookd-store-sqlite` and `hookd-store-postgres`. Both schemas
//! have the same tables and columns: timestamps are integer microseconds and ids are
//! text, so one set of statements and row types serves both.

mod batch;
mod dialect;
mod query;
mod rows;
mod store;

pub use batch::{sized_chunks, tally, Tally, ROWS_PER_STATEMENT};
pub use dialect::{Dialect, FromSqlRow, Postgres, Sqlite, SqlitePools, DUE_CHANNEL};
pub use query::{Arg, Sql};
pub use rows::{incompressible, CorruptRow};

use hookd_core::store::StoreResult;

/// The store on one database, `D`.
pub struct SqlStore<D: Dialect> {
    pools: D::Pools,
    options: SqlOptions,
}

/// How the store behaves, beyond which database it runs on.
#[derive(Debug, Clone, Default)]
pub struct SqlOptions {
    /// Announce deliveries stored without a lease to the other nodes (an API-only node,
    /// whose deliveries are all for the workers). A delivering node leaves the ones it
    /// holds back to itself: announcing them woke every node, this one included, for
    /// each publish while one webhook was saturated.
    pub announce_unleased: bool,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self { pools: self.pools.clone(), options: self.options.clone() }
    }
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("dialect", &std::any::type_name::<D>()).finish_non_exhaustive()
    }
}

impl<D: Dialect> SqlStore<D> {
    /// A store on connections the backend crate opened.
    pub fn new(pools: D::Pools, options: SqlOptions) -> Self {
        Self { pools, options }
    }

    /// The connections, for migrations, notifications and tests.
    pub fn pools(&self) -> &D::Pools {
        &self.pools
    }

    /// Closes the connections.
    pub async fn close(&self) {
        D::close(&self.pools).await;
    }

    /// Rows read on a reading connection.
    async fn read<T: FromSqlRow>(&self, sql: Sql<'_>) -> StoreResult<Vec<T>> {
        let mut conn = D::reader(&self.pools).await?;
        D::fetch_all(&mut conn, sql).await
    }

    /// The one row a read finds, if any.
    async fn read_one<T: FromSqlRow>(&self, sql: Sql<'_>) -> StoreResult<Option<T>> {
        Ok(self.read(sql).await?.into_iter().next())
    }

    /// Runs one statement that writes, outside a transaction; returns the rows changed.
    async fn write(&self, sql: Sql<'_>) -> StoreResult<u64> {
        let mut conn = D::writer(&self.pools).await?;
        D::execute(&mut conn, sql).await
    }

    /// Opens a write transaction.
    async fn begin(&self) -> StoreResult<Tx<D>> {
        Ok(Tx(D::begin(&self.pools).await?))
    }
}

/// A write transaction. Dropped without [`Tx::commit`], it rolls back.
struct Tx<D: Dialect>(D::Tx);

impl<D: Dialect> Tx<D> {
    async fn execute(&mut self, sql: Sql<'_>) -> StoreResult<u64> {
        D::execute(&mut self.0, sql).await
    }

    async fn fetch_all<T: FromSqlRow>(&mut self, sql: Sql<'_>) -> StoreResult<Vec<T>> {
        D::fetch_all(&mut self.0, sql).await
    }

    async fn fetch_one<T: FromSqlRow>(&mut self, sql: Sql<'_>) -> StoreResult<T> {
        self.fetch_all(sql).await?.into_iter().next().ok_or(hookd_core::store::StoreError::NotFound)
    }

    async fn announce_due(&mut self) -> StoreResult<()> {
        D::announce_due(&mut self.0).await
    }

    /// Commits. A commit slower than [`SLOW_COMMIT`] is logged: sqlx logs slow statements
    /// but not commits, and on SQLite every other write waits for one (a checkpoint run by
    /// the commit itself, a disk slow to flush).
    async fn commit(self) -> StoreResult<()> {
        let started = std::time::Instant::now();
        let committed = D::commit(self.0).await;
        let took = started.elapsed();
        if took >= SLOW_COMMIT {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                exclusive_writer = D::EXCLUSIVE_WRITER,
                "a commit took over a second: the disk is slow or busy"
            );
        }
        committed
    }
}

/// How long a commit may take before it is logged: as long as sqlx lets a statement take.
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A migration the database has not had yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMigration {
    pub version: i64,
    pub description: String,
}

impl std::fmt::Display for PendingMigration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04} {}", self.version, self.description)
    }
}

/// The migrations of `migrator` that `conn`'s database has not applied, in order (all of
/// them on an empty database). Creates sqlx's bookkeeping table when it is missing, as
/// the migration itself would.
pub async fn pending_migrations<C>(
    migrator: &sqlx::migrate::Migrator,
    conn: &mut C,
) -> Result<Vec<PendingMigration>, sqlx::migrate::MigrateError>
where
    C: sqlx::migrate::Migrate,
{
    conn.ensure_migrations_table().await?;
    let applied: std::collections::HashSet<i64> =
        conn.list_applied_migrations().await?.into_iter().map(|m| m.version).collect();
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
        .map(|m| PendingMigration { version: m.version, description: m.description.to_string() })
        .collect())
}
