//! hookd's [`Store`] on an embedded SQLite file.
//!
//! # Layout
//!
//! - `lib.rs`: [`SqliteStore`]: connection setup and the trait implementation.
//! - row structs and their conversion into domain types are in `hookd-store-rows`, shared
//!   with the PostgreSQL store.
//! - `migrations/`: the schema, embedded in the binary and applied by [`SqliteStore::migrate`].
//!
//! SQLite allows one writer at a time. Rather than let connections queue on the file
//! lock (and hit `SQLITE_BUSY`), all writes go through a pool of exactly one connection,
//! while reads use a separate pool of read-only connections that WAL lets run beside
//! the writer. Other processes (the CLI while a server runs) are covered by the busy
//! timeout.

use hookd_store_rows as rows;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use hookd_core::domain::{ApiKey, Attempt, Delivery, DeliveryStatus, Event, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use hookd_core::store::{
    Claim, DeliveryFilter, DeliveryResult, IdempotencyClaim, IdempotencyRequest, InsertedEvent, NewEventRecord,
    NextStep, PageRequest, Store, StoreError, StoreResult, StoredResponse, WebhookFilter, WebhookSettings,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;

use hookd_store_rows::{
    json, micros, scopes_json, sized_chunks, ApiKeyRow, AttemptRow, ClaimRow, DeliveryRow, EventRow, WebhookRow,
    WorkspaceRow,
};

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections beside the single writer.
    pub readers: u32,
    /// How long an operation waits for a connection before failing as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { readers: 4, acquire_timeout: Duration::from_secs(30) }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid SQLite database URL `{url}` (expected sqlite://relative/path, sqlite:///absolute/path)")]
    BadUrl {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot open SQLite database {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot create SQLite database {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot apply database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://…`). Does not
    /// migrate; call [`SqliteStore::migrate`].
    pub async fn open(url: &str, options: &SqliteOptions) -> Result<Self, OpenError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|source| OpenError::BadUrl { url: url.to_owned(), source })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it is acknowledged, so an accepted
            // request survives power loss as well as a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Statement journals in memory, not temp files: a multi-row insert inside a
            // transaction writes one for every page it changes, in case it must be
            // undone alone. 17 % less CPU storing S3's rows.
            .pragma("temp_store", "memory");
        let path = base.get_filename().to_path_buf();
        protect_file(&path).map_err(|source| OpenError::Create { path: path.clone(), source })?;
        let open_err = |source| OpenError::Open { path: path.clone(), source };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .after_release(|conn, _| Box::pin(discard_if_in_transaction(conn)))
            // Checkpoint the WAL every ~40 MB instead of every ~4 MB: pages that change
            // again and again (index pages, the tail of each table) are copied into the
            // database once per checkpoint, not ten times. 14 % less time storing
            // S3's rows in a micro-benchmark of the store.
            .connect_with(base.clone().pragma("wal_autocheckpoint", "10000"))
            .await
            .map_err(open_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self { writer, reader, path })
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        sqlx::migrate!("./migrations").run(&self.writer).await.map_err(OpenError::Migrate)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Creates a missing database file readable by its owner only (0600), so that SQLite's
/// `-wal` and `-shm` files, which take the database file's permissions, are private too;
/// the database holds API key hashes, event payloads and sealed secrets. Warns about an
/// existing file that others may read.
fn protect_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Ok(());
        }
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for file in [path.to_path_buf(), suffixed(path, "-wal"), suffixed(path, "-shm")] {
                    if let Ok(meta) = std::fs::metadata(&file) {
                        let mode = meta.permissions().mode() & 0o777;
                        if mode & 0o077 != 0 {
                            tracing::warn!(
                                file = %file.display(),
                                mode = format!("{mode:o}"),
                                "the database file is readable by other users; make it private with chmod 600"
                            );
                        }
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(unix)]
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Whether a connection going back to the pool may be used again: not if it is still
/// inside a transaction. SQLite rolls a transaction back by itself on some errors
/// (`SQLITE_FULL`, `SQLITE_IOERR`), after which sqlx's `ROLLBACK` fails and sqlx still
/// counts the transaction as open: the next `begin` would then only open a savepoint,
/// and its "commit" release nothing to disk. Such a connection is closed and replaced.
async fn discard_if_in_transaction(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !conn.is_in_transaction() {
        // Committed: nothing to check, and no round trip to the connection's thread.
        return Ok(true);
    }
    // A dropped transaction queued its rollback: let it run, then look again.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Maps sqlx errors into the store's categories.
fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let msg = d.message();
            let constraint = if msg.contains("workspaces.name") {
                "workspace_name"
            } else if msg.contains("api_keys.id") {
                "api_key_id"
            } else if msg.contains("webhooks.id") {
                "webhook_id"
            } else {
                "unique"
            };
            StoreError::Conflict { constraint }
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict { constraint: "foreign_key" },
        sqlx::Error::Database(d) => match d.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff) {
            // SQLITE_BUSY and SQLITE_LOCKED: another process holds the lock.
            Some(5 | 6) => StoreError::Unavailable(Box::new(e)),
            // SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN: the file cannot
            // be written now (a full disk, permissions, a failing device).
            Some(8 | 10 | 13 | 14) => StoreError::Storage(Box::new(e)),
            _ => StoreError::other(e),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::other(e),
    }
}

const WEBHOOK_COLUMNS: &str = "id, workspace_id, created_by, url, events, description, enabled, disabled_reason, \
     failure_count, delivery_attempts, last_delivered_at, metadata, rate_limit, secret, previous_secret, \
     previous_secret_expires_at, created_at, updated_at, number";

const DELIVERY_COLUMNS: &str = "id, workspace_id, webhook_id, event_id, event_type, status, attempts, schedule_base, \
     next_attempt_at, last_status_code, last_error, created_at, updated_at";

const EVENT_COLUMNS: &str = "id, workspace_id, event_type, producer_id, data, occurred_at, created_at, deliveries";

/// A claim's rows joined with their events.
const CLAIM_SELECT: &str =
    "SELECT d.id, d.workspace_id, d.webhook_id, d.event_id, d.event_type, d.status, d.attempts, \
     d.schedule_base, d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, \
     e.workspace_id AS e_workspace_id, e.producer_id AS e_producer_id, e.data AS e_data, \
     e.occurred_at AS e_occurred_at, e.created_at AS e_created_at, e.deliveries AS e_deliveries \
     FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id IN ";

/// Rows per statement when a list of ids is bound (SQLite allows 32,766 variables).
const IDS_PER_STATEMENT: usize = 500;

/// One webhook's results in a batch, for its counters.

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(db_err)?;
        Ok(())
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let probe = rows::incompressible(hookd_core::domain::MAX_EVENT_DATA);
        for value in [probe.as_str(), ""] {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ('write_probe', ?) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn bootstrap(&self, workspace: &Workspace, key: &ApiKey) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM workspaces").fetch_one(&mut *tx).await.map_err(db_err)?;
        if count > 0 {
            return Ok(false);
        }
        insert_workspace(&mut tx, workspace).await?;
        insert_api_key(&mut tx, key).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn create_workspace(&self, workspace: &Workspace) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        insert_workspace(&mut conn, workspace).await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(Workspace::try_from)
            .transpose()
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(Workspace::try_from)
            .transpose()
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces ORDER BY id")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Workspace::try_from)
            .collect()
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        insert_api_key(&mut conn, key).await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        sqlx::query_as::<_, ApiKeyRow>("SELECT * FROM api_keys WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(ApiKey::try_from)
            .transpose()
    }

    async fn list_api_keys(&self, workspace: Option<&WorkspaceId>) -> StoreResult<Vec<ApiKey>> {
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM api_keys");
        if let Some(ws) = workspace {
            q.push(" WHERE workspace_id = ").push_bind(ws.as_str());
        }
        q.push(" ORDER BY created_at, id");
        q.build_query_as::<ApiKeyRow>()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(micros(at))
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_webhook(&self, w: &Webhook) -> StoreResult<i64> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        // The counter only grows, so a deleted webhook's number is never handed out again.
        let number: i64 = sqlx::query_scalar(
            "INSERT INTO counters (name, value) VALUES ('webhook_number', 1) \
             ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(w.id.as_str())
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
        .bind(micros(w.updated_at))
        .bind(number)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(number)
    }

    async fn get_webhook_by_number(&self, workspace: &WorkspaceId, number: i64) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = ? AND number = ?"
        ))
        .bind(workspace.as_str())
        .bind(number)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(Webhook::try_from)
        .transpose()
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = ? AND id = ?"
        ))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(Webhook::try_from)
        .transpose()
    }

    async fn list_webhooks(
        &self,
        workspace: &WorkspaceId,
        filter: &WebhookFilter,
        page: &PageRequest<WebhookId>,
    ) -> StoreResult<Vec<Webhook>> {
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = "));
        q.push_bind(workspace.as_str());
        if let Some(owner) = &filter.created_by {
            q.push(" AND created_by = ").push_bind(owner.as_str());
        }
        if let Some(before) = &page.before {
            q.push(" AND id < ").push_bind(before.as_str());
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit));
        q.build_query_as::<WebhookRow>()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Webhook::try_from)
            .collect()
    }

    async fn find_webhooks_by_url(&self, workspace: &WorkspaceId, url: &str) -> StoreResult<Vec<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = ? AND url = ? ORDER BY id"
        ))
        .bind(workspace.as_str())
        .bind(url)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Webhook::try_from)
        .collect()
    }

    async fn update_webhook_settings(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        s: &WebhookSettings,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
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
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn update_webhook_secrets(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
        secrets: &WebhookSecrets,
        updated_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE webhooks SET secret = ?, previous_secret = ?, previous_secret_expires_at = ?, updated_at = ? \
             WHERE workspace_id = ? AND id = ?",
        )
        .bind(&secrets.current.0)
        .bind(secrets.previous.as_ref().map(|s| &s.0))
        .bind(secrets.previous_expires_at.map(micros))
        .bind(micros(updated_at))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<bool> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let r = sqlx::query("DELETE FROM webhooks WHERE workspace_id = ? AND id = ?")
            .bind(workspace.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 1 {
            cancel_open_deliveries(&mut tx, id, None, micros(hookd_core::time_fmt::now())).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn begin_idempotent(&self, req: &IdempotencyRequest<'_>) -> StoreResult<IdempotencyClaim> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let existing: Option<(Vec<u8>, bool, Option<i64>, Option<String>, i64)> = sqlx::query_as(
            "SELECT request_hash, completed, status, response, created_at FROM idempotency_keys \
             WHERE api_key_id = ? AND key = ?",
        )
        .bind(req.api_key_id.as_str())
        .bind(req.key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some((hash, completed, status, response, created_at)) = existing {
            let live = if completed {
                created_at >= micros(req.expired_before)
            } else {
                created_at >= micros(req.stale_before)
            };
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
        }
        sqlx::query(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, completed, status, response, created_at) \
             VALUES (?, ?, ?, 0, NULL, NULL, ?) \
             ON CONFLICT (api_key_id, key) DO UPDATE SET request_hash = excluded.request_hash, completed = 0, \
             status = NULL, response = NULL, created_at = excluded.created_at",
        )
        .bind(req.api_key_id.as_str())
        .bind(req.key)
        .bind(req.request_hash)
        .bind(micros(req.now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(IdempotencyClaim::Acquired)
    }

    async fn complete_idempotent(
        &self,
        api_key_id: &ApiKeyId,
        key: &str,
        response: &StoredResponse,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE idempotency_keys SET completed = 1, status = ?, response = ? WHERE api_key_id = ? AND key = ?",
        )
        .bind(i64::from(response.status))
        .bind(&response.body)
        .bind(api_key_id.as_str())
        .bind(key)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, api_key_id: &ApiKeyId, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE api_key_id = ? AND key = ? AND completed = 0")
            .bind(api_key_id.as_str())
            .bind(key)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn prune_idempotency(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(micros(before))
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn reserve_requests(&self, key: &ApiKeyId, window: i64, want: u32, limit: u32) -> StoreResult<(u32, u32)> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        // The key's own earlier windows, by primary key: at most two rows per key remain.
        sqlx::query("DELETE FROM rate_limit_windows WHERE api_key_id = ? AND window_start < ?")
            .bind(key.as_str())
            .bind(window - 1)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // Every right-hand side reads the row as it was before this statement.
        let (granted, used): (i64, i64) = sqlx::query_as(
            "INSERT INTO rate_limit_windows (api_key_id, window_start, used, granted) VALUES (?1, ?2, MIN(?3, ?4), MIN(?3, ?4)) \
             ON CONFLICT (api_key_id, window_start) DO UPDATE SET \
             granted = MAX(0, MIN(?3, ?4 - used)), used = used + MAX(0, MIN(?3, ?4 - used)) \
             RETURNING granted, used",
        )
        .bind(key.as_str())
        .bind(window)
        .bind(i64::from(want))
        .bind(i64::from(limit))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok((granted as u32, used as u32))
    }

    async fn insert_events(&self, batch: &[NewEventRecord]) -> StoreResult<Vec<InsertedEvent>> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        // Events first, in multi-row statements; a producer id already published makes
        // its row a no-op, recognised by its absence from RETURNING.
        let mut created: HashSet<String> = HashSet::with_capacity(batch.len());
        for chunk in sized_chunks(batch) {
            let mut q = QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
            q.push_values(chunk, |mut b, rec| {
                let e = &rec.event;
                b.push_bind(e.id.as_str())
                    .push_bind(e.workspace_id.as_str())
                    .push_bind(&e.event_type)
                    .push_bind(&e.producer_id)
                    .push_bind(&e.data)
                    .push_bind(e.occurred_at.map(micros))
                    .push_bind(micros(e.created_at))
                    .push_bind(rec.deliveries.len() as i64);
            });
            q.push(" ON CONFLICT DO NOTHING RETURNING id");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(db_err)?;
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
                let existing = sqlx::query_as::<_, EventRow>(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND producer_id = ?"
                ))
                .bind(rec.event.workspace_id.as_str())
                .bind(&rec.event.producer_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                out.push(InsertedEvent::Existing(Event::try_from(existing)?));
            }
        }
        for chunk in sized_chunks(&deliveries) {
            let mut q = QueryBuilder::<Sqlite>::new(format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_expires_at) "
            ));
            q.push_values(chunk, |mut b, (d, owner, lease)| {
                b.push_bind(d.id.as_str())
                    .push_bind(d.workspace_id.as_str())
                    .push_bind(d.webhook_id.as_str())
                    .push_bind(d.event_id.as_str())
                    .push_bind(&d.event_type)
                    .push_bind(d.status.as_str())
                    .push_bind(d.attempts)
                    .push_bind(d.schedule_base)
                    .push_bind(d.next_attempt_at.map(micros))
                    .push_bind(d.last_status_code)
                    .push_bind(&d.last_error)
                    .push_bind(micros(d.created_at))
                    .push_bind(micros(d.updated_at))
                    .push_bind(*owner)
                    .push_bind(*lease);
            });
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn get_event(
        &self,
        workspace: &WorkspaceId,
        id: &EventId,
        filter: &WebhookFilter,
    ) -> StoreResult<Option<Event>> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = ? AND id = ?");
        if filter.created_by.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.event_id = events.id AND w.created_by = ?)",
            );
        }
        let mut q = sqlx::query_as::<_, EventRow>(&sql).bind(workspace.as_str()).bind(id.as_str());
        if let Some(owner) = &filter.created_by {
            q = q.bind(owner.as_str());
        }
        q.fetch_optional(&self.reader).await.map_err(db_err)?.map(Event::try_from).transpose()
    }

    async fn list_enabled_webhooks(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = ? AND enabled = 1 ORDER BY id"
        ))
        .bind(workspace.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Webhook::try_from)
        .collect()
    }

    async fn find_webhook(&self, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?
            .map(Webhook::try_from)
            .transpose()
    }

    async fn claim_due_deliveries(&self, claim: &Claim<'_>) -> StoreResult<Vec<(Delivery, Event)>> {
        let now = micros(claim.now);
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let mut ids: Vec<String> = Vec::new();
        // Expired leases first (their node died), then due retries, oldest first.
        for (status, column) in [("in_flight", "lease_expires_at"), ("pending", "next_attempt_at")] {
            let remaining = claim.limit as usize - ids.len();
            if remaining == 0 {
                break;
            }
            let mut q = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET status = 'in_flight', lease_owner = ");
            q.push_bind(claim.owner)
                .push(", lease_expires_at = ")
                .push_bind(micros(claim.lease_until))
                .push(", updated_at = ")
                .push_bind(now)
                .push(format!(" WHERE id IN (SELECT id FROM deliveries WHERE status = '{status}' AND {column} <= "))
                .push_bind(now);
            if !claim.exclude_webhooks.is_empty() {
                q.push(" AND webhook_id NOT IN (");
                let mut sep = q.separated(", ");
                for w in claim.exclude_webhooks.iter().take(IDS_PER_STATEMENT) {
                    sep.push_bind(w.as_str());
                }
                q.push(")");
            }
            q.push(format!(" ORDER BY {column} LIMIT ")).push_bind(remaining as i64).push(") RETURNING id");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(db_err)?;
            ids.extend(rows.into_iter().map(|(id,)| id));
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(CLAIM_SELECT);
            push_id_list(&mut q, chunk.iter().map(String::as_str));
            for row in q.build_query_as::<ClaimRow>().fetch_all(&mut *tx).await.map_err(db_err)? {
                out.push(row.try_into()?);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn renew_leases(&self, owner: &str, ids: &[DeliveryId], until: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new("UPDATE deliveries SET lease_expires_at = ");
            q.push_bind(micros(until))
                .push(" WHERE status = 'in_flight' AND lease_owner = ")
                .push_bind(owner)
                .push(" AND id IN ");
            push_id_list(&mut q, chunk.iter().map(DeliveryId::as_str));
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn release_deliveries(&self, owner: &str, ids: &[DeliveryId], now: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = ",
            );
            q.push_bind(micros(now))
                .push(", updated_at = ")
                .push_bind(micros(now))
                .push(" WHERE status = 'in_flight' AND lease_owner = ")
                .push_bind(owner)
                .push(" AND id IN ");
            push_id_list(&mut q, chunk.iter().map(DeliveryId::as_str));
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn release_all_leases(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             next_attempt_at = MIN(COALESCE(next_attempt_at, ?1), ?1), updated_at = ?1 WHERE status = 'in_flight'",
        )
        .bind(micros(now))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn next_due_at(&self) -> StoreResult<Option<OffsetDateTime>> {
        let (pending, leased): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'), \
                    (SELECT MIN(lease_expires_at) FROM deliveries WHERE status = 'in_flight')",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_err)?;
        match (pending, leased) {
            (Some(a), Some(b)) => Ok(Some(rows::from_micros(a.min(b))?)),
            (Some(a), None) | (None, Some(a)) => Ok(Some(rows::from_micros(a)?)),
            (None, None) => Ok(None),
        }
    }

    async fn record_results(
        &self,
        batch: &[DeliveryResult],
        disable_before: OffsetDateTime,
    ) -> StoreResult<Vec<WebhookId>> {
        // A few statements for the whole batch, not a few per result: the writer is
        // shared with publishing, and every statement costs a round trip to SQLite.
        let now = micros(hookd_core::time_fmt::now());
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let attempts: Vec<&Attempt> = batch.iter().filter_map(|r| r.attempt.as_ref()).collect();
        for chunk in sized_chunks(&attempts) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response, \
                 error_kind, error_message) ",
            );
            q.push_values(chunk, |mut b, a| {
                b.push_bind(a.delivery_id.as_str())
                    .push_bind(a.attempt)
                    .push_bind(micros(a.started_at))
                    .push_bind(a.duration_ms)
                    .push_bind(a.status_code)
                    .push_bind(&a.response)
                    .push_bind(&a.error_kind)
                    .push_bind(&a.error_message);
            });
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        for chunk in sized_chunks(batch) {
            let mut q = QueryBuilder::<Sqlite>::new("WITH v(id, status, next, attempts, code, error) AS (");
            q.push_values(chunk, |mut b, r| {
                let (status, next) = match &r.next {
                    NextStep::Succeeded => ("succeeded", None),
                    NextStep::RetryAt(t) => ("pending", Some(micros(*t))),
                    NextStep::Failed | NextStep::DisableWebhook { .. } => ("failed", None),
                    NextStep::Cancelled => ("cancelled", None),
                };
                let a = r.attempt.as_ref();
                b.push_bind(r.delivery_id.as_str())
                    .push_bind(status)
                    .push_bind(next)
                    .push_bind(a.map(|a| a.attempt))
                    .push_bind(a.and_then(|a| a.status_code))
                    .push_bind(a.and_then(|a| a.error_message.clone().or_else(|| a.error_kind.clone())));
            });
            q.push(
                ") UPDATE deliveries SET status = v.status, next_attempt_at = v.next, lease_owner = NULL, \
                 lease_expires_at = NULL, attempts = COALESCE(v.attempts, deliveries.attempts), \
                 last_status_code = CASE WHEN v.attempts IS NULL THEN deliveries.last_status_code ELSE v.code END, \
                 last_error = CASE WHEN v.attempts IS NULL THEN deliveries.last_error ELSE v.error END, updated_at = ",
            )
            .push_bind(now)
            .push(" FROM v WHERE deliveries.id = v.id AND deliveries.status IN ('in_flight', 'pending')");
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        // Each webhook's counters, from its results in order.
        let tallies = rows::tally(batch);
        let mut failing = Vec::new();
        for (w, t) in &tallies {
            sqlx::query(
                "UPDATE webhooks SET delivery_attempts = delivery_attempts + ?1, \
                 failure_count = CASE WHEN ?2 IS NOT NULL THEN ?3 ELSE failure_count + ?3 END, \
                 failing_since = CASE WHEN ?2 IS NOT NULL THEN ?4 ELSE COALESCE(failing_since, ?4) END, \
                 last_delivered_at = COALESCE(?2, last_delivered_at) WHERE id = ?5",
            )
            .bind(t.attempts)
            .bind(t.last_success.map(micros))
            .bind(t.failures_since_success)
            .bind(t.first_failure_since_success.map(micros))
            .bind(w.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if t.failures_since_success > 0 {
                failing.push(*w);
            }
        }
        let mut disabled = Vec::new();
        for r in batch {
            if let NextStep::DisableWebhook { reason } = &r.next {
                if disable_webhook(&mut tx, &r.webhook_id, reason, now).await? {
                    disabled.push(r.webhook_id.clone());
                }
                cancel_open_deliveries(&mut tx, &r.webhook_id, Some(&r.delivery_id), now).await?;
            }
        }
        if !failing.is_empty() {
            let mut q = QueryBuilder::<Sqlite>::new("UPDATE webhooks SET enabled = 0, disabled_reason = ");
            q.push_bind(rows::DISABLED_FAILING)
                .push(", updated_at = ")
                .push_bind(now)
                .push(" WHERE enabled = 1 AND failing_since IS NOT NULL AND failing_since < ")
                .push_bind(micros(disable_before))
                .push(" AND id IN ");
            push_id_list(&mut q, failing.iter().map(|w| w.as_str()));
            q.push(" RETURNING id");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(db_err)?;
            for (id,) in rows {
                let w = WebhookId::parse(&id).map_err(StoreError::other)?;
                cancel_open_deliveries(&mut tx, &w, None, now).await?;
                disabled.push(w);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(disabled)
    }

    async fn get_delivery(&self, workspace: &WorkspaceId, id: &DeliveryId) -> StoreResult<Option<Delivery>> {
        sqlx::query_as::<_, DeliveryRow>(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = ? AND id = ?"
        ))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(Delivery::try_from)
        .transpose()
    }

    async fn list_attempts(&self, delivery: &DeliveryId) -> StoreResult<Vec<Attempt>> {
        sqlx::query_as::<_, AttemptRow>(
            "SELECT delivery_id, attempt, started_at, duration_ms, status_code, response, error_kind, error_message \
             FROM attempts WHERE delivery_id = ? ORDER BY attempt",
        )
        .bind(delivery.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Attempt::try_from)
        .collect()
    }

    async fn list_deliveries(
        &self,
        workspace: &WorkspaceId,
        filter: &DeliveryFilter,
        page: &PageRequest<DeliveryId>,
    ) -> StoreResult<Vec<Delivery>> {
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = "));
        q.push_bind(workspace.as_str());
        if let Some(w) = &filter.webhook_id {
            q.push(" AND webhook_id = ").push_bind(w.as_str());
        }
        if let Some(s) = filter.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(t) = &filter.event_type {
            q.push(" AND event_type = ").push_bind(t.as_str());
        }
        if let Some(t) = filter.since {
            q.push(" AND created_at >= ").push_bind(micros(t));
        }
        if let Some(t) = filter.until {
            q.push(" AND created_at < ").push_bind(micros(t));
        }
        if let Some(before) = &page.before {
            q.push(" AND id < ").push_bind(before.as_str());
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit));
        q.build_query_as::<DeliveryRow>()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Delivery::try_from)
            .collect()
    }

    async fn claim_for_retry(
        &self,
        workspace: &WorkspaceId,
        id: &DeliveryId,
        owner: &str,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<(Delivery, Event)>> {
        let now = micros(hookd_core::time_fmt::now());
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let updated = sqlx::query(
            "UPDATE deliveries SET status = 'in_flight', lease_owner = ?, lease_expires_at = ?, next_attempt_at = ?, \
             schedule_base = attempts, updated_at = ? WHERE workspace_id = ? AND id = ? AND status != 'in_flight'",
        )
        .bind(owner)
        .bind(micros(lease_until))
        .bind(now)
        .bind(now)
        .bind(workspace.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        let mut q = QueryBuilder::<Sqlite>::new(CLAIM_SELECT);
        push_id_list(&mut q, [id.as_str()]);
        let row = q.build_query_as::<ClaimRow>().fetch_one(&mut *tx).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
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
        let r = sqlx::query(&format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, schedule_base = attempts, updated_at = ? \
             WHERE webhook_id = ? AND created_at >= ? AND created_at < ? AND status IN {statuses}"
        ))
        .bind(micros(now))
        .bind(micros(now))
        .bind(webhook.as_str())
        .bind(micros(since))
        .bind(micros(until))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn prune_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let cutoff = micros(before);
        sqlx::query(
            "DELETE FROM attempts WHERE delivery_id IN \
             (SELECT id FROM deliveries WHERE status = 'succeeded' AND created_at < ?)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let r = sqlx::query("DELETE FROM deliveries WHERE status = 'succeeded' AND created_at < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM events WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected())
    }
}

fn push_id_list<'a>(q: &mut QueryBuilder<'a, Sqlite>, ids: impl IntoIterator<Item = &'a str>) {
    q.push("(");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    q.push(")");
}

async fn disable_webhook(
    conn: &mut sqlx::SqliteConnection,
    id: &WebhookId,
    reason: &str,
    now: i64,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_reason = ?, updated_at = ? WHERE id = ? AND enabled = 1",
    )
    .bind(reason)
    .bind(now)
    .bind(id.as_str())
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(r.rows_affected() == 1)
}

/// Cancels a webhook's pending and in-flight deliveries (but `except`).
async fn cancel_open_deliveries(
    conn: &mut sqlx::SqliteConnection,
    webhook: &WebhookId,
    except: Option<&DeliveryId>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = ? WHERE webhook_id = ? AND status IN ('pending', 'in_flight') AND id != ?",
    )
    .bind(now)
    .bind(webhook.as_str())
    .bind(except.map_or("", DeliveryId::as_str))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_workspace(conn: &mut sqlx::SqliteConnection, w: &Workspace) -> StoreResult<()> {
    sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)")
        .bind(w.id.as_str())
        .bind(&w.name)
        .bind(micros(w.created_at))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn insert_api_key(conn: &mut sqlx::SqliteConnection, k: &ApiKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, owner_scoped, created_at, \
         last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(k.id.as_str())
    .bind(k.workspace_id.as_str())
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(k.secret_hash.as_slice())
    .bind(scopes_json(&k.scopes))
    .bind(k.owner_scoped)
    .bind(micros(k.created_at))
    .bind(k.last_used_at.map(micros))
    .bind(k.revoked_at.map(micros))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_use_only_the_fixed_sizes_and_cover_everything() {
        let items: Vec<u32> = (0..343).collect();
        let chunks = super::sized_chunks(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 1, 1, 1]);
        assert_eq!(chunks.concat(), items);
        assert!(super::sized_chunks::<u8>(&[]).is_empty());
    }
}
