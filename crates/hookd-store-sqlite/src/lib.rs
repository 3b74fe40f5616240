//! hookd's store on an embedded SQLite file: opening it and its schema. The statements
//! are in `hookd-store-sql`, shared with PostgreSQL; this crate opens the connections
//! ([`open`]) and applies `migrations/` ([`migrate`]).
//!
//! SQLite allows one writer at a time. Rather than let connections queue on the file
//! lock (and hit `SQLITE_BUSY`), all writes go through a pool of exactly one connection,
//! while reads use a separate pool of read-only connections that WAL lets run beside
//! the writer. Other processes (the CLI while a server runs) are covered by the busy
//! timeout.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hookd_store_sql::{SqlOptions, SqlStore, Sqlite, SqlitePools};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

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

/// hookd's store on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;

/// Opens (creating when missing) the database at `url` (`sqlite://…`). Does not
/// migrate; call [`migrate`].
pub async fn open(url: &str, options: &SqliteOptions) -> Result<SqliteStore, OpenError> {
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
        // S3's rows in a micro-benchmark of the store. The copying itself is mostly
        // done beside the writer ([`checkpoint_in_background`]); the commit that
        // crosses the threshold copies only what came since, and lets the log restart,
        // which a checkpoint beside a busy writer never does.
        .connect_with(base.clone().pragma("wal_autocheckpoint", "10000"))
        .await
        .map_err(open_err)?;
    let reader = SqlitePoolOptions::new()
        .max_connections(options.readers.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(base.clone().read_only(true))
        .await
        .map_err(open_err)?;
    let (alive, stopped) = tokio::sync::watch::channel(());
    tokio::spawn(checkpoint_in_background(base, stopped));
    Ok(SqlStore::new(SqlitePools { writer, reader, keep_alive: Some(Arc::new(alive)) }, SqlOptions::default()))
}

/// How often the background checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the write-ahead log into the database file every [`CHECKPOINT_EVERY`], on a
/// connection of its own, until the store is dropped. `PASSIVE` waits for no reader or
/// writer: commits go on while it copies. Otherwise the commit that reaches the
/// automatic checkpoint's threshold would copy the whole log and fsync the database
/// while every write queued behind it waits: seconds, once pruning has changed pages
/// all over a large file.
async fn checkpoint_in_background(options: SqliteConnectOptions, mut stopped: tokio::sync::watch::Receiver<()>) {
    use sqlx::Connection;
    // A checkpoint after heavy deletes takes seconds; that is what it is here for.
    let options = sqlx::ConnectOptions::disable_statement_logging(options);
    let mut conn = match sqlx::SqliteConnection::connect_with(&options).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open the checkpointing connection; the log is copied when the database closes");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            // The store was dropped.
            _ = stopped.changed() => break,
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await {
            // A full disk, or the file gone: the next round tries again.
            tracing::debug!(error = %e, "background checkpoint failed");
        }
    }
    let _ = conn.close().await;
}

/// Applies the embedded migrations that have not run yet.
pub async fn migrate(store: &SqliteStore) -> Result<(), OpenError> {
    sqlx::migrate!("./migrations").run(&store.pools().writer).await.map_err(OpenError::Migrate)
}

/// The embedded migrations this database has not had yet, in the order [`migrate`]
/// applies them.
pub async fn pending_migrations(store: &SqliteStore) -> Result<Vec<hookd_store_sql::PendingMigration>, OpenError> {
    let mut conn = store.pools().writer.acquire().await.map_err(|e| OpenError::Migrate(e.into()))?;
    hookd_store_sql::pending_migrations(&sqlx::migrate!("./migrations"), &mut *conn).await.map_err(OpenError::Migrate)
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

/// Copies the database at `db` into `to`, consistently and while it is in use: one
/// `VACUUM INTO` on a read-only connection. Publishing and delivery go on meanwhile; the
/// copy holds what was committed when the copy began. `to` must not exist, or be empty.
pub async fn backup(db: &Path, to: &Path) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let options = SqliteConnectOptions::new().filename(db).read_only(true).busy_timeout(BUSY_TIMEOUT);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let target = to.to_str().ok_or_else(|| sqlx::Error::Protocol("the backup path is not UTF-8".into()))?;
    let done = sqlx::query("VACUUM INTO ?").bind(target).execute(&mut conn).await;
    conn.close().await?;
    done.map(drop)
}

/// Checks that `file` is an intact hookd database: SQLite's integrity check passes and it
/// holds hookd's schema. Returns the newest migration it has, or what is wrong.
pub async fn check_database_file(file: &Path) -> Result<i64, String> {
    use sqlx::Connection;
    let options = SqliteConnectOptions::new().filename(file).read_only(true).immutable(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("cannot open it as a SQLite database: {e}"))?;
    let result = async {
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check(1)")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("not a SQLite database ({e})"))?;
        if check != "ok" {
            return Err(format!("SQLite's integrity check fails: {check}"));
        }
        let (tables,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name IN ('_sqlx_migrations', 'workspaces', 'webhooks', 'events', 'deliveries')",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        if tables != 5 {
            return Err("it is a SQLite database, but not a hookd one (its tables are missing)".into());
        }
        let (version,): (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        version.ok_or_else(|| "it has hookd's tables but no applied migration".to_owned())
    }
    .await;
    let _ = conn.close().await;
    result
}

/// The newest migration this build knows: a database with a newer one was written by a
/// newer hookd.
pub fn latest_migration() -> i64 {
    sqlx::migrate!("./migrations").iter().map(|m| m.version).max().unwrap_or(0)
}
