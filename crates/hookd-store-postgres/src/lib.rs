//! hookd's [`Store`] on PostgreSQL, for several hookd nodes sharing one database.
//!
//! The schema and the statements mirror the SQLite store's (`hookd-store-sqlite`), with
//! the row types shared through `hookd-store-rows`. What differs is what several nodes
//! need: claims take rows with `FOR UPDATE SKIP LOCKED`, so two nodes never claim the
//! same delivery and neither waits for the other; every node writes through one pool.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use hookd_core::domain::{ApiKey, Attempt, Delivery, DeliveryStatus, Event, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use hookd_core::store::{
    Claim, DeliveryFilter, DeliveryResult, IdempotencyClaim, IdempotencyRequest, InsertedEvent, NewEventRecord,
    NextStep, PageRequest, Store, StoreError, StoreResult, StoredResponse, WebhookFilter, WebhookSettings,
};
use hookd_store_rows as rows;
use hookd_store_rows::{
    json, micros, scopes_json, sized_chunks, ApiKeyRow, AttemptRow, ClaimRow, DeliveryRow, EventRow, WebhookRow,
    WorkspaceRow,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

/// Options for connecting.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this node opens.
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// Announce deliveries stored without a lease to the other nodes (an API-only node,
    /// whose deliveries are all for the workers). A delivering node leaves the ones it
    /// holds back to itself: announcing them woke every node, this one included, for
    /// each publish while one webhook was saturated.
    pub announce_unleased: bool,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(5), announce_unleased: false }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot connect to PostgreSQL at {url}")]
    Connect {
        /// The URL without its password.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot apply database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    announce_unleased: bool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`). Does not
    /// migrate; call [`PgStore::migrate`].
    pub async fn open(url: &str, options: &PgOptions) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect(url)
            .await
            .map_err(|source| OpenError::Connect { url: redact(url), source })?;
        Ok(Self { pool, announce_unleased: options.announce_unleased })
    }

    /// Applies the embedded migrations that have not run yet. Several nodes may start
    /// at once: the migrator takes an advisory lock, so one applies and the others wait.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        sqlx::migrate!("./migrations").run(&self.pool).await.map_err(OpenError::Migrate)
    }

    /// Calls `notice` with what other nodes announce, until the returned task is aborted:
    /// each webhook changed through any node (announced by a trigger when the change
    /// commits), and deliveries stored for any node to send. After the connection drops
    /// and comes back, announcements may have been missed: [`Notice::Missed`].
    pub fn watch(&self, notice: impl Fn(Notice) + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other nodes' changes; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen_all([WEBHOOK_CHANNEL, DUE_CHANNEL]).await {
                    tracing::warn!(error = %e, "cannot listen for other nodes' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                // Whatever changed while nobody listened is unknown.
                notice(Notice::Missed);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) if n.channel() == DUE_CHANNEL => notice(Notice::DeliveriesDue),
                        Ok(Some(n)) => {
                            let parsed = n
                                .payload()
                                .split_once(' ')
                                .and_then(|(ws, id)| Some((WorkspaceId::parse(ws).ok()?, WebhookId::parse(id).ok()?)));
                            notice(match parsed {
                                Some((ws, id)) => Notice::WebhookChanged(ws, id),
                                None => Notice::Missed,
                            });
                        }
                        // The connection dropped and was re-established.
                        Ok(None) => notice(Notice::Missed),
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the listener for other nodes' changes; reconnecting");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                    }
                }
            }
        })
    }

    /// The pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates an empty database named `<prefix>_<unique suffix>` on the server of
/// `admin_url` (whose user may create databases) and returns its URL. For test suites
/// and the benchmark, which give every hookd a database of its own.
pub async fn create_database(admin_url: &str, prefix: &str) -> Result<String, sqlx::Error> {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let name = format!("{prefix}_{:x}_{}_{}", nanos, std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut url = url::Url::parse(admin_url).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
    let _ = conn.close().await;
    url.set_path(&name);
    Ok(url.to_string())
}

/// The channel the `webhooks_changed` trigger announces changes on.
const WEBHOOK_CHANNEL: &str = "hookd_webhooks";
/// The channel on which a transaction that leaves deliveries due for any node (stored
/// without a lease, released, replayed) says so when it commits.
const DUE_CHANNEL: &str = "hookd_deliveries";

/// What other nodes announce; see [`PgStore::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A webhook was created, changed or deleted.
    WebhookChanged(WorkspaceId, WebhookId),
    /// Deliveries are due for any node to claim.
    DeliveriesDue,
    /// Announcements may have been lost: forget cached webhooks and look for work.
    Missed,
}

/// Announces, when `conn`'s transaction commits, that deliveries are due.
async fn announce_due(conn: &mut sqlx::PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_notify($1, '')").bind(DUE_CHANNEL).execute(conn).await.map_err(db_err)?;
    Ok(())
}

/// `url` with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Maps sqlx errors into the store's categories.
fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let constraint = match d.constraint() {
                Some("workspaces_name_key") => "workspace_name",
                Some("api_keys_pkey") => "api_key_id",
                Some("webhooks_pkey") => "webhook_id",
                _ => "unique",
            };
            StoreError::Conflict { constraint }
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict { constraint: "foreign_key" },
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // Class 08 (connection), 57P01-03 (shutdown, crash recovery), 53300 (too many
            // connections), 40001/40P01 (serialization failure, deadlock): try again.
            Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "53300" || c == "40001" || c == "40P01" => {
                StoreError::Unavailable(Box::new(e))
            }
            // 53100 (disk full), class 53 (out of memory, other resources), class 58 (I/O
            // error), 25006 (a read-only server, such as a standby after a failover).
            Some(c) if c.starts_with("53") || c.starts_with("58") || c == "25006" => StoreError::Storage(Box::new(e)),
            _ => StoreError::other(e),
        },
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::other(e),
    }
}

const WEBHOOK_COLUMNS: &str = "id, workspace_id, created_by, url, events, description, enabled, disabled_reason, \
     failure_count, delivery_attempts, last_delivered_at, metadata, rate_limit, secret, previous_secret, \
     previous_secret_expires_at, created_at, updated_at, number";

const WEBHOOK_INSERT_COLUMNS: &str = "id, workspace_id, created_by, url, events, description, enabled, \
     disabled_reason, failure_count, delivery_attempts, last_delivered_at, metadata, rate_limit, secret, \
     previous_secret, previous_secret_expires_at, created_at, updated_at";

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

/// Rows per statement when a list of ids is bound.
const IDS_PER_STATEMENT: usize = 500;

/// One webhook's results in a batch, for its counters.

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let probe = rows::incompressible(hookd_core::domain::MAX_EVENT_DATA);
        for value in [probe.as_str(), ""] {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ('write_probe', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let (stored,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    async fn bootstrap(&self, workspace: &Workspace, key: &ApiKey) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Nodes starting together: one bootstraps, the others wait here and then see it.
        sqlx::query("LOCK TABLE workspaces IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await.map_err(db_err)?;
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
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        insert_workspace(&mut conn, workspace).await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Workspace::try_from)
            .transpose()
    }

    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Workspace::try_from)
            .transpose()
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<Workspace>> {
        sqlx::query_as::<_, WorkspaceRow>("SELECT id, name, created_at FROM workspaces ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Workspace::try_from)
            .collect()
    }

    async fn create_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        insert_api_key(&mut conn, key).await
    }

    async fn get_api_key(&self, id: &ApiKeyId) -> StoreResult<Option<ApiKey>> {
        sqlx::query_as::<_, ApiKeyRow>("SELECT * FROM api_keys WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(ApiKey::try_from)
            .transpose()
    }

    async fn list_api_keys(&self, workspace: Option<&WorkspaceId>) -> StoreResult<Vec<ApiKey>> {
        let mut q = QueryBuilder::<Postgres>::new("SELECT * FROM api_keys");
        if let Some(ws) = workspace {
            q.push(" WHERE workspace_id = ").push_bind(ws.as_str());
        }
        q.push(" ORDER BY created_at, id");
        q.build_query_as::<ApiKeyRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(ApiKey::try_from)
            .collect()
    }

    async fn revoke_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(micros(at))
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &ApiKeyId, at: OffsetDateTime) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(micros(at))
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_webhook(&self, w: &Webhook) -> StoreResult<i64> {
        // `number` is an identity column: it only grows, so a deleted webhook's number is
        // never handed out again.
        let number: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO webhooks ({WEBHOOK_INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING number"
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
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(number)
    }

    async fn get_webhook_by_number(&self, workspace: &WorkspaceId, number: i64) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND number = $2"
        ))
        .bind(workspace.as_str())
        .bind(number)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(Webhook::try_from)
        .transpose()
    }

    async fn get_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
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
            QueryBuilder::<Postgres>::new(format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = "));
        q.push_bind(workspace.as_str());
        if let Some(owner) = &filter.created_by {
            q.push(" AND created_by = ").push_bind(owner.as_str());
        }
        if let Some(before) = &page.before {
            q.push(" AND id < ").push_bind(before.as_str());
        }
        q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(page.limit));
        q.build_query_as::<WebhookRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(Webhook::try_from)
            .collect()
    }

    async fn find_webhooks_by_url(&self, workspace: &WorkspaceId, url: &str) -> StoreResult<Vec<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND url = $2 ORDER BY id"
        ))
        .bind(workspace.as_str())
        .bind(url)
        .fetch_all(&self.pool)
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
            "UPDATE webhooks SET url = $1, events = $2, description = $3, enabled = $4, disabled_reason = $5, \
             metadata = $6, rate_limit = $7, updated_at = $8, \
             failure_count = CASE WHEN $9 THEN 0 ELSE failure_count END, \
             failing_since = CASE WHEN $10 THEN NULL ELSE failing_since END \
             WHERE workspace_id = $11 AND id = $12",
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
        .execute(&self.pool)
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
            "UPDATE webhooks SET secret = $1, previous_secret = $2, previous_secret_expires_at = $3, updated_at = $4 \
             WHERE workspace_id = $5 AND id = $6",
        )
        .bind(&secrets.current.0)
        .bind(secrets.previous.as_ref().map(|s| &s.0))
        .bind(secrets.previous_expires_at.map(micros))
        .bind(micros(updated_at))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_webhook(&self, workspace: &WorkspaceId, id: &WebhookId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let r = sqlx::query("DELETE FROM webhooks WHERE workspace_id = $1 AND id = $2")
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Nodes race for a key: the insert decides, and a row that exists is locked
        // while it is judged, so two nodes never both take over a stale claim.
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (api_key_id, key, request_hash, completed, status, response, created_at) \
             VALUES ($1, $2, $3, false, NULL, NULL, $4) ON CONFLICT (api_key_id, key) DO NOTHING",
        )
        .bind(req.api_key_id.as_str())
        .bind(req.key)
        .bind(req.request_hash)
        .bind(micros(req.now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if inserted.rows_affected() == 1 {
            tx.commit().await.map_err(db_err)?;
            return Ok(IdempotencyClaim::Acquired);
        }
        let (hash, completed, status, response, created_at): (Vec<u8>, bool, Option<i64>, Option<String>, i64) =
            sqlx::query_as(
                "SELECT request_hash, completed, status, response, created_at FROM idempotency_keys \
                 WHERE api_key_id = $1 AND key = $2 FOR UPDATE",
            )
            .bind(req.api_key_id.as_str())
            .bind(req.key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
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
        sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $3, completed = false, status = NULL, response = NULL, \
             created_at = $4 WHERE api_key_id = $1 AND key = $2",
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
            "UPDATE idempotency_keys SET completed = true, status = $1, response = $2 WHERE api_key_id = $3 AND key = $4",
        )
        .bind(i64::from(response.status))
        .bind(&response.body)
        .bind(api_key_id.as_str())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn abandon_idempotent(&self, api_key_id: &ApiKeyId, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM idempotency_keys WHERE api_key_id = $1 AND key = $2 AND completed = false")
            .bind(api_key_id.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn prune_idempotency(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(micros(before))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn reserve_requests(&self, key: &ApiKeyId, window: i64, want: u32, limit: u32) -> StoreResult<(u32, u32)> {
        // One statement: the upsert locks the key's row, so concurrent reservations from
        // several nodes queue on it and each sees the total the previous one left. The
        // key's own earlier windows go on the way (by primary key), so the table holds at
        // most two rows per key and no reservation scans other keys' rows.
        let (granted, used): (i64, i64) = sqlx::query_as(
            "WITH old AS (DELETE FROM rate_limit_windows WHERE api_key_id = $1 AND window_start < $2 - 1) \
             INSERT INTO rate_limit_windows AS r (api_key_id, window_start, used, granted) \
             VALUES ($1, $2, LEAST($3, $4), LEAST($3, $4)) \
             ON CONFLICT (api_key_id, window_start) DO UPDATE SET \
             granted = GREATEST(0, LEAST($3, $4 - r.used)), used = r.used + GREATEST(0, LEAST($3, $4 - r.used)) \
             RETURNING granted, used",
        )
        .bind(key.as_str())
        .bind(window)
        .bind(i64::from(want))
        .bind(i64::from(limit))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((granted as u32, used as u32))
    }

    async fn insert_events(&self, batch: &[NewEventRecord]) -> StoreResult<Vec<InsertedEvent>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Events first, in multi-row statements; a producer id already published makes
        // its row a no-op, recognised by its absence from RETURNING.
        let mut created: HashSet<String> = HashSet::with_capacity(batch.len());
        for chunk in sized_chunks(batch) {
            let mut q = QueryBuilder::<Postgres>::new(format!("INSERT INTO events ({EVENT_COLUMNS}) "));
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
                    "SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = $1 AND producer_id = $2"
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
            let mut q = QueryBuilder::<Postgres>::new(format!(
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
        // Deliveries an API-only node stores are for the workers.
        if self.announce_unleased && deliveries.iter().any(|(_, owner, _)| owner.is_none()) {
            announce_due(&mut tx).await?;
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
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE workspace_id = $1 AND id = $2");
        if filter.created_by.is_some() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                 WHERE d.event_id = events.id AND w.created_by = $3)",
            );
        }
        let mut q = sqlx::query_as::<_, EventRow>(&sql).bind(workspace.as_str()).bind(id.as_str());
        if let Some(owner) = &filter.created_by {
            q = q.bind(owner.as_str());
        }
        q.fetch_optional(&self.pool).await.map_err(db_err)?.map(Event::try_from).transpose()
    }

    async fn list_enabled_webhooks(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE workspace_id = $1 AND enabled ORDER BY id"
        ))
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(Webhook::try_from)
        .collect()
    }

    async fn find_webhook(&self, id: &WebhookId) -> StoreResult<Option<Webhook>> {
        sqlx::query_as::<_, WebhookRow>(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .map(Webhook::try_from)
            .transpose()
    }

    async fn claim_due_deliveries(&self, claim: &Claim<'_>) -> StoreResult<Vec<(Delivery, Event)>> {
        let now = micros(claim.now);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut ids: Vec<String> = Vec::new();
        // Expired leases first (their node died), then due retries, oldest first.
        for (status, column) in [("in_flight", "lease_expires_at"), ("pending", "next_attempt_at")] {
            let remaining = claim.limit as usize - ids.len();
            if remaining == 0 {
                break;
            }
            let mut q = QueryBuilder::<Postgres>::new("UPDATE deliveries SET status = 'in_flight', lease_owner = ");
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
            // SKIP LOCKED: rows another node is claiming right now are left to it, and
            // neither node waits for the other.
            q.push(format!(" ORDER BY {column} LIMIT "))
                .push_bind(remaining as i64)
                .push(" FOR UPDATE SKIP LOCKED) RETURNING id");
            let rows: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await.map_err(db_err)?;
            ids.extend(rows.into_iter().map(|(id,)| id));
        }
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Postgres>::new(CLAIM_SELECT);
            push_id_list(&mut q, chunk.iter().map(String::as_str));
            for row in q.build_query_as::<ClaimRow>().fetch_all(&mut *tx).await.map_err(db_err)? {
                out.push(row.try_into()?);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn renew_leases(&self, owner: &str, ids: &[DeliveryId], until: OffsetDateTime) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Postgres>::new("UPDATE deliveries SET lease_expires_at = ");
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let mut q = QueryBuilder::<Postgres>::new(
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
        // Another node may send them before this one would.
        announce_due(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn release_all_leases(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
             next_attempt_at = LEAST(COALESCE(next_attempt_at, $1), $1), updated_at = $1 WHERE status = 'in_flight'",
        )
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn next_due_at(&self) -> StoreResult<Option<OffsetDateTime>> {
        let (pending, leased): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'), \
                    (SELECT MIN(lease_expires_at) FROM deliveries WHERE status = 'in_flight')",
        )
        .fetch_one(&self.pool)
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
        // shared with publishing, and every statement costs a round trip to the database.
        let now = micros(hookd_core::time_fmt::now());
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let attempts: Vec<&Attempt> = batch.iter().filter_map(|r| r.attempt.as_ref()).collect();
        for chunk in sized_chunks(&attempts) {
            let mut q = QueryBuilder::<Postgres>::new(
                "INSERT INTO attempts (delivery_id, attempt, started_at, duration_ms, status_code, response, \
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
            q.push(
                " ON CONFLICT (delivery_id, attempt) DO UPDATE SET started_at = EXCLUDED.started_at, \
                 duration_ms = EXCLUDED.duration_ms, status_code = EXCLUDED.status_code, response = EXCLUDED.response, \
                 error_kind = EXCLUDED.error_kind, error_message = EXCLUDED.error_message",
            );
            q.build().execute(&mut *tx).await.map_err(db_err)?;
        }
        for chunk in sized_chunks(batch) {
            let mut q = QueryBuilder::<Postgres>::new("WITH v(id, status, next, attempts, code, error) AS (");
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
        // Each webhook's counters, in webhook id order: two nodes recording results for
        // the same webhooks then lock their rows in the same order, never in a cycle.
        let tallies = rows::tally(batch);
        let mut failing = Vec::new();
        for (w, t) in &tallies {
            sqlx::query(
                "UPDATE webhooks SET delivery_attempts = delivery_attempts + $1, \
                 failure_count = CASE WHEN $2 IS NOT NULL THEN $3 ELSE failure_count + $3 END, \
                 failing_since = CASE WHEN $2 IS NOT NULL THEN $4 ELSE COALESCE(failing_since, $4) END, \
                 last_delivered_at = COALESCE($2, last_delivered_at) WHERE id = $5",
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
            let mut q = QueryBuilder::<Postgres>::new("UPDATE webhooks SET enabled = false, disabled_reason = ");
            q.push_bind(rows::DISABLED_FAILING)
                .push(", updated_at = ")
                .push_bind(now)
                .push(" WHERE enabled AND failing_since IS NOT NULL AND failing_since < ")
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
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = $1 AND id = $2"
        ))
        .bind(workspace.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .map(Delivery::try_from)
        .transpose()
    }

    async fn list_attempts(&self, delivery: &DeliveryId) -> StoreResult<Vec<Attempt>> {
        sqlx::query_as::<_, AttemptRow>(
            "SELECT delivery_id, attempt, started_at, duration_ms, status_code, response, error_kind, error_message \
             FROM attempts WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(delivery.as_str())
        .fetch_all(&self.pool)
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
            QueryBuilder::<Postgres>::new(format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE workspace_id = "));
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
            .fetch_all(&self.pool)
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let updated = sqlx::query(
            "UPDATE deliveries SET status = 'in_flight', lease_owner = $1, lease_expires_at = $2, next_attempt_at = $3, \
             schedule_base = attempts, updated_at = $4 WHERE workspace_id = $5 AND id = $6 AND status != 'in_flight'",
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
        let mut q = QueryBuilder::<Postgres>::new(CLAIM_SELECT);
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let r = sqlx::query(&format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = $1, schedule_base = attempts, updated_at = $2 \
             WHERE webhook_id = $3 AND created_at >= $4 AND created_at < $5 AND status IN {statuses}"
        ))
        .bind(micros(now))
        .bind(micros(now))
        .bind(webhook.as_str())
        .bind(micros(since))
        .bind(micros(until))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if r.rows_affected() > 0 {
            announce_due(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn prune_deliveries(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let cutoff = micros(before);
        sqlx::query(
            "DELETE FROM attempts WHERE delivery_id IN \
             (SELECT id FROM deliveries WHERE status = 'succeeded' AND created_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let r = sqlx::query("DELETE FROM deliveries WHERE status = 'succeeded' AND created_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM events WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(r.rows_affected())
    }
}

fn push_id_list<'a>(q: &mut QueryBuilder<'a, Postgres>, ids: impl IntoIterator<Item = &'a str>) {
    q.push("(");
    let mut sep = q.separated(", ");
    for id in ids {
        sep.push_bind(id);
    }
    q.push(")");
}

async fn disable_webhook(conn: &mut sqlx::PgConnection, id: &WebhookId, reason: &str, now: i64) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE webhooks SET enabled = false, disabled_reason = $1, updated_at = $2 WHERE id = $3 AND enabled",
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
///
/// Rows another transaction holds are skipped, not waited for: that is a node recording
/// those deliveries' results, which holds their rows and then wants this webhook's row
/// (its counters), while the caller already holds the webhook (deleting or disabling it).
/// Waiting would deadlock. A skipped delivery is cancelled when it next comes up, because
/// no attempt is made for a webhook that is gone or disabled.
async fn cancel_open_deliveries(
    conn: &mut sqlx::PgConnection,
    webhook: &WebhookId,
    except: Option<&DeliveryId>,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, lease_owner = NULL, lease_expires_at = NULL, \
         updated_at = $1 WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $2 \
         AND status IN ('pending', 'in_flight') AND id != $3 FOR UPDATE SKIP LOCKED)",
    )
    .bind(now)
    .bind(webhook.as_str())
    .bind(except.map_or("", DeliveryId::as_str))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_workspace(conn: &mut sqlx::PgConnection, w: &Workspace) -> StoreResult<()> {
    sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(w.id.as_str())
        .bind(&w.name)
        .bind(micros(w.created_at))
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn insert_api_key(conn: &mut sqlx::PgConnection, k: &ApiKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, owner_scoped, created_at, \
         last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
