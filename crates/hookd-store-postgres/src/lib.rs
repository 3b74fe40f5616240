//! hookd's store on PostgreSQL, for several hookd nodes sharing one database: opening
//! it ([`open`]), its schema (`migrations/`, [`migrate`]) and the notifications by which
//! nodes tell each other about changes ([`watch`]). The statements are in
//! `hookd-store-sql`, shared with SQLite; what several nodes need there (claims with
//! `FOR UPDATE SKIP LOCKED`, one pool for every node's writes) is its `Postgres` dialect.

use std::time::Duration;

use hookd_core::id::{WebhookId, WorkspaceId};
use hookd_store_sql::{Postgres, SqlOptions, SqlStore, DUE_CHANNEL};
use sqlx::postgres::PgPoolOptions;

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

/// hookd's store on PostgreSQL.
pub type PgStore = SqlStore<Postgres>;

/// Connects to `url` (`postgres://user:password@host:port/database`). Does not migrate;
/// call [`migrate`].
pub async fn open(url: &str, options: &PgOptions) -> Result<PgStore, OpenError> {
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(2))
        .acquire_timeout(options.acquire_timeout)
        .connect(url)
        .await
        .map_err(|source| OpenError::Connect { url: redact(url), source })?;
    Ok(SqlStore::new(pool, SqlOptions { announce_unleased: options.announce_unleased }))
}

/// Applies the embedded migrations that have not run yet. Several nodes may start at
/// once: the migrator takes an advisory lock, so one applies and the others wait.
pub async fn migrate(store: &PgStore) -> Result<(), OpenError> {
    sqlx::migrate!("./migrations").run(store.pools()).await.map_err(OpenError::Migrate)
}

/// The embedded migrations this database has not had yet, in the order [`migrate`]
/// applies them.
pub async fn pending_migrations(store: &PgStore) -> Result<Vec<hookd_store_sql::PendingMigration>, OpenError> {
    let mut conn = store.pools().acquire().await.map_err(|e| OpenError::Migrate(e.into()))?;
    hookd_store_sql::pending_migrations(&sqlx::migrate!("./migrations"), &mut *conn).await.map_err(OpenError::Migrate)
}

/// Calls `notice` with what other nodes announce, until the returned task is aborted:
/// each webhook changed through any node (announced by a trigger when the change
/// commits), and deliveries stored for any node to send. After the connection drops
/// and comes back, announcements may have been missed: [`Notice::Missed`].
pub fn watch(store: &PgStore, notice: impl Fn(Notice) + Send + Sync + 'static) -> tokio::task::JoinHandle<()> {
    let pool = store.pools().clone();
    tokio::spawn(async move {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %hookd_core::error_chain(&e), "cannot listen for other nodes' changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen_all([WEBHOOK_CHANNEL, DUE_CHANNEL]).await {
                tracing::warn!(error = %hookd_core::error_chain(&e), "cannot listen for other nodes' changes; retrying");
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
                        tracing::warn!(error = %hookd_core::error_chain(&e), "lost the listener for other nodes' changes; reconnecting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    })
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

/// Drops the database at `url` on the server of `admin_url`, closing any connections
/// still open to it.
pub async fn drop_database(admin_url: &str, url: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let name = url::Url::parse(url)
        .map_err(|e| sqlx::Error::Configuration(Box::new(e)))?
        .path()
        .trim_start_matches('/')
        .to_owned();
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
    let _ = conn.close().await;
    Ok(())
}

/// A database made for one test or benchmark run ([`create_database`]), dropped when
/// this is dropped, so runs leave nothing behind on the server.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    url: String,
}

impl TempDatabase {
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self, sqlx::Error> {
        Ok(Self { admin_url: admin_url.to_owned(), url: create_database(admin_url, prefix).await? })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        // Dropped inside an async runtime (a test's), which cannot wait for async work:
        // drop the database from a thread with a runtime of its own.
        let (admin, url) = (self.admin_url.clone(), self.url.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(drop_database(&admin, &url)).map_err(std::io::Error::other)
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("cannot drop the temporary database {}: {e}", redact(&self.url));
        }
    }
}

/// What other nodes announce; see [`watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A webhook was created, changed or deleted.
    WebhookChanged(WorkspaceId, WebhookId),
    /// Deliveries are due for any node to claim.
    DeliveriesDue,
    /// Announcements may have been lost: forget cached webhooks and look for work.
    Missed,
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
