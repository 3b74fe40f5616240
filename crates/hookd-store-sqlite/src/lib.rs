//! hookd's [`Store`] on an embedded SQLite file.
//!
//! # Layout
//!
//! - `lib.rs`: [`SqliteStore`]: connection setup and the trait implementation.
//! - `rows.rs`: row structs and their conversion into domain types.
//! - `migrations/`: the schema, embedded in the binary and applied by [`SqliteStore::migrate`].
//!
//! SQLite allows one writer at a time. Rather than let connections queue on the file
//! lock (and hit `SQLITE_BUSY`), all writes go through a pool of exactly one connection,
//! while reads use a separate pool of read-only connections that WAL lets run beside
//! the writer. Other processes (the CLI while a server runs) are covered by the busy
//! timeout.

mod rows;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use hookd_core::domain::{ApiKey, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{ApiKeyId, WebhookId, WorkspaceId};
use hookd_core::store::{
    IdempotencyClaim, IdempotencyRequest, PageRequest, Store, StoreError, StoreResult,
    StoredResponse, WebhookFilter, WebhookSettings,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use time::OffsetDateTime;

use crate::rows::{json, micros, scopes_json, ApiKeyRow, WebhookRow, WorkspaceRow};

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Options for opening the database.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Read-only connections beside the single writer.
    pub readers: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { readers: 4 }
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
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://…`). Does not
    /// migrate; call [`SqliteStore::migrate`].
    pub async fn open(url: &str, options: &SqliteOptions) -> Result<Self, OpenError> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|source| OpenError::BadUrl {
                url: url.to_owned(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before it is acknowledged, so an accepted
            // request survives power loss as well as a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let path = base.get_filename().to_path_buf();
        let open_err = |source| OpenError::Open {
            path: path.clone(),
            source,
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone())
            .await
            .map_err(open_err)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.readers.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await
            .map_err(open_err)?;
        Ok(Self {
            writer,
            reader,
            path,
        })
    }

    /// Applies the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        sqlx::migrate!("./migrations")
            .run(&self.writer)
            .await
            .map_err(OpenError::Migrate)
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
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict {
            constraint: "foreign_key",
        },
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6): another process holds the lock.
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5") | Some("6")) => {
            StoreError::Unavailable(Box::new(e))
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::other(e),
    }
}

const WEBHOOK_COLUMNS: &str =
    "id, workspace_id, created_by, url, events, description, enabled, disabled_reason, \
     failure_count, delivery_attempts, last_delivered_at, metadata, secret, previous_secret, \
     previous_secret_expires_at, created_at, updated_at";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
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
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM workspaces")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
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
        sqlx::query_as::<_, WorkspaceRow>(
            "SELECT id, name, created_at FROM workspaces WHERE id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?
        .map(Workspace::try_from)
        .transpose()
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>(
            "SELECT id, name, created_at FROM workspaces WHERE name = ?",
        )
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
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
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

    async fn insert_webhook(&self, w: &Webhook) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        .bind(&w.secrets.current.0)
        .bind(w.secrets.previous.as_ref().map(|s| &s.0))
        .bind(w.secrets.previous_expires_at.map(micros))
        .bind(micros(w.created_at))
        .bind(micros(w.updated_at))
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_webhook(
        &self,
        workspace: &WorkspaceId,
        id: &WebhookId,
    ) -> StoreResult<Option<Webhook>> {
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
        let mut q = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = "
        ));
        q.push_bind(workspace.as_str());
        if let Some(owner) = &filter.created_by {
            q.push(" AND created_by = ").push_bind(owner.as_str());
        }
        if let Some(before) = &page.before {
            q.push(" AND id < ").push_bind(before.as_str());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit));
        q.build_query_as::<WebhookRow>()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Webhook::try_from)
            .collect()
    }

    async fn find_webhooks_by_url(
        &self,
        workspace: &WorkspaceId,
        url: &str,
    ) -> StoreResult<Vec<Webhook>> {
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
             metadata = ?, updated_at = ? WHERE workspace_id = ? AND id = ?",
        )
        .bind(&s.url)
        .bind(json(&s.events))
        .bind(&s.description)
        .bind(s.enabled)
        .bind(&s.disabled_reason)
        .bind(json(&s.metadata))
        .bind(micros(s.updated_at))
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
        let r = sqlx::query("DELETE FROM webhooks WHERE workspace_id = ? AND id = ?")
            .bind(workspace.as_str())
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn begin_idempotent(
        &self,
        req: &IdempotencyRequest<'_>,
    ) -> StoreResult<IdempotencyClaim> {
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
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE api_key_id = ? AND key = ? AND completed = 0",
        )
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
