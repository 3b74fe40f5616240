//! Wiring: opening the store, loading the encryption key, building the services and the
//! router, and running them until shutdown. The only place that picks a store backend.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hookd_api::{ApiState, Services, SharedRateLimiter, WindowRateLimiter};
use hookd_core::crypto::{EncryptionKey, SecretCipher};
use hookd_core::domain::{AddressCheck, RetrySchedule, WebhookRules};
use hookd_core::service::{
    AdminService, AuthService, Bootstrapped, IdempotencyService, WebOptions, WebService, WebhookOptions, WebhookService,
};
use hookd_core::service::{
    DeliveryService, Engine, ErasureService, EventService, NodeOptions, OperationsService, Pruned, RetentionService,
    WebhookDirectory,
};
use hookd_core::store::{StorageHealth, Store};
use hookd_core::time_fmt;
use hookd_delivery::ssrf::AddressPolicy;
use hookd_delivery::{DeliveryEngine, EngineOptions, Metrics, Sender, SenderOptions, StoreOnlyEngine};
use hookd_store_postgres::{Notice, PgOptions, PgStore};
use hookd_store_sqlite::{SqliteOptions, SqliteStore};
use reqwest::header::HeaderName;
use tokio::net::TcpListener;

use crate::config::{DatabaseUrl, PoolSettings, Role, Settings};

/// The setting under which the encryption key's fingerprint is recorded.
const KEY_FINGERPRINT: &str = "encryption_key_fingerprint";
/// How often the housekeeping runs (retention, expired idempotency records, sessions).
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(600);

/// An opened database.
pub struct Database {
    pub store: Arc<dyn Store>,
    backend: Backend,
    /// The migrations this opening applied, and how long they took.
    pub migrated: Migrated,
}

/// The migrations applied when a database was opened.
#[derive(Debug, Default)]
pub struct Migrated {
    pub applied: Vec<hookd_store_sql::PendingMigration>,
    pub took: Duration,
}

/// Applies `pending` through `run`, logging each migration and showing a spinner on a
/// terminal: a migration that rewrites a large table can take minutes.
async fn apply_migrations<F, E>(pending: Vec<hookd_store_sql::PendingMigration>, run: F) -> anyhow::Result<Migrated>
where
    F: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    if pending.is_empty() {
        return Ok(Migrated::default());
    }
    let names: Vec<String> = pending.iter().map(ToString::to_string).collect();
    tracing::info!(count = pending.len(), migrations = names.join(", "), "applying database migrations");
    let started = std::time::Instant::now();
    let spinner =
        crate::progress::spinner(format!("applying {} database migration(s): {}", names.len(), names.join(", ")));
    let result = run.await;
    spinner.finish_and_clear();
    result?;
    let took = started.elapsed();
    tracing::info!(count = pending.len(), took_ms = took.as_millis() as u64, "database migrations applied");
    Ok(Migrated { applied: pending, took })
}

enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    /// Opens the database and applies pending migrations.
    pub async fn open(url: &DatabaseUrl, pool: &PoolSettings, role: Role) -> anyhow::Result<Self> {
        match url {
            DatabaseUrl::Sqlite { url, path } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
                }
                let mut options = SqliteOptions::default();
                if let Some(t) = pool.acquire_timeout {
                    options.acquire_timeout = t;
                }
                if let Some(n) = pool.max_connections {
                    options.readers = n - 1;
                }
                let sqlite = hookd_store_sqlite::open(url, &options).await?;
                let pending = hookd_store_sqlite::pending_migrations(&sqlite).await?;
                let migrated = apply_migrations(pending, hookd_store_sqlite::migrate(&sqlite)).await?;
                Ok(Self { store: Arc::new(sqlite.clone()), backend: Backend::Sqlite(sqlite), migrated })
            }
            DatabaseUrl::Postgres { url } => {
                let mut options = PgOptions { announce_unleased: !role.delivers(), ..PgOptions::default() };
                if let Some(t) = pool.acquire_timeout {
                    options.acquire_timeout = t;
                }
                if let Some(n) = pool.max_connections {
                    options.max_connections = n;
                }
                let pg = hookd_store_postgres::open(url, &options).await?;
                let pending = hookd_store_postgres::pending_migrations(&pg).await?;
                let migrated = apply_migrations(pending, hookd_store_postgres::migrate(&pg)).await?;
                Ok(Self { store: Arc::new(pg.clone()), backend: Backend::Postgres(pg), migrated })
            }
        }
    }

    /// On PostgreSQL, keeps `directory` in step with changes made through other nodes,
    /// and wakes `engine` when other nodes leave deliveries due.
    fn watch(&self, directory: Arc<WebhookDirectory>, engine: Arc<dyn Engine>) -> Option<tokio::task::JoinHandle<()>> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(hookd_store_postgres::watch(pg, move |notice| match notice {
                Notice::WebhookChanged(ws, id) => directory.invalidate(&ws, &id),
                Notice::DeliveriesDue => engine.wake(),
                Notice::Missed => {
                    directory.invalidate_all();
                    engine.wake();
                }
            })),
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// The running parts of a `hookd serve`.
pub struct App {
    db: Database,
    state: ApiState,
    role: Role,
    /// The engine to shut down; `None` on an API-only node.
    delivering: Option<Arc<DeliveryEngine>>,
    routes: hookd_api::RouterOptions,
    /// The dashboard and the portal, when enabled.
    web: Option<hookd_web::WebState>,
    shutdown_grace: Duration,
    retention: RetentionService,
    operations: OperationsService,
    /// `[[operational_webhooks]]`, stored when the app runs (after the bootstrap, which
    /// needs an empty database).
    operational_webhooks: Vec<hookd_core::domain::OperationalTarget>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// The span exporter, when `[telemetry]` names a collector.
    traces: Option<crate::telemetry::Traces>,
    /// The lock on a SQLite file's `.lock` companion, held while this app lives.
    _owner: Option<std::fs::File>,
}

impl App {
    /// Opens the store, loads (or creates) the encryption key, builds the services and
    /// starts the delivery engine.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        // One node owns a SQLite file: a second `serve` would release the first's leases
        // and send its deliveries twice. (Commands such as `key create` share the file.)
        let owner = match &settings.database {
            DatabaseUrl::Sqlite { path, .. } => Some(own_sqlite_file(path)?),
            DatabaseUrl::Postgres { .. } => None,
        };
        let db = Database::open(&settings.database, &settings.pool, settings.role)
            .await
            .context("cannot open the database")?;
        let key = match &settings.encryption_key {
            Some(k) => k.clone(),
            None => match settings.database.key_file() {
                Some(file) => load_or_create_key(&file)?,
                None => bail!("encryption_key is required with a postgres:// database_url"),
            },
        };
        let recorded = db.store.claim_setting(KEY_FINGERPRINT, &key.fingerprint()).await?;
        if recorded != key.fingerprint() {
            bail!(
                "the encryption key (fingerprint {}) is not the one this database's secrets were sealed with \
                 (fingerprint {recorded}); restore the original encryption_key / HOOKD_ENCRYPTION_KEY or the \
                 hookd.key file that was beside the database",
                key.fingerprint()
            );
        }
        let store = db.store.clone();
        // One node serves a SQLite file, so every lease left in it belongs to a process
        // that is gone: its deliveries are due now. On a shared database the leases may
        // be other nodes' live work; a dead node's expire and are claimed then.
        if !settings.database.is_shared() {
            let released = store.release_all_leases(time_fmt::now()).await?;
            if released > 0 {
                tracing::info!(count = released, "resuming deliveries left in flight by the previous run");
            }
        }
        let directory = Arc::new(WebhookDirectory::new(store.clone(), SecretCipher::new(&key)));
        let mut auth = AuthService::new(store.clone())
            .with_unowned_only(settings.owner_visibility == crate::config::OwnerVisibility::Unowned);
        if let Some(jwt) = &settings.jwt {
            auth = auth.with_verifier(Arc::new(crate::tokens::jwt::JwtVerifier::start(jwt.clone()).await));
        }
        if let Some(i) = &settings.introspection {
            auth = auth.with_verifier(Arc::new(crate::tokens::introspection::IntrospectionVerifier::new(i.clone())));
        }
        let catalog = Arc::new(settings.catalog.clone());
        let traces = settings.telemetry.as_ref().map(crate::telemetry::Traces::start).transpose()?;
        let tracer = traces.as_ref().map(crate::telemetry::Traces::tracer);
        let d = &settings.delivery;
        let signature_header = HeaderName::from_bytes(settings.signature_header.to_ascii_lowercase().as_bytes())
            .context("invalid delivery.signature_header")?;
        let sender = Sender::new(SenderOptions {
            connect_timeout: d.connect_timeout,
            attempt_timeout: d.attempt_timeout,
            signature_header,
            policy: AddressPolicy::new(settings.allow_private_cidrs.clone()),
            max_idle_per_host: d.max_in_flight,
            proxy: d.proxy.clone(),
        })
        .context("cannot build the HTTP client")?
        .with_tracer(tracer.clone());
        let node_id = format!("node-{:08x}", rand::random::<u32>());
        let storage = Arc::new(StorageHealth::default());
        // Disabled, failing and recovered webhooks and exhausted deliveries, for the
        // operational webhooks.
        let (alerts, alerts_rx) = tokio::sync::mpsc::unbounded_channel();
        let engine_options = EngineOptions {
            node_id: node_id.clone(),
            lease: d.lease,
            max_in_flight: d.max_in_flight,
            max_in_flight_per_webhook: d.max_in_flight_per_webhook,
            retry_schedule: RetrySchedule::new(settings.retry_schedule.clone()),
            disable_after: d.disable_after,
            breaker_threshold: d.breaker_threshold,
            breaker_cooldown: d.breaker_cooldown,
            breaker_max_cooldown: d.breaker_max_cooldown,
            storage: storage.clone(),
            failing_after: d.failing_after,
            alerts: Some(alerts.clone()),
            ..EngineOptions::default()
        };
        let engine_metrics = Arc::new(Metrics::default());
        // An API-only node leaves delivery to the workers: its engine stores deliveries
        // and sends only test pings, and there is nothing to shut down.
        let (engine, delivering): (Arc<dyn Engine>, _) = if settings.role.delivers() {
            let e =
                DeliveryEngine::start(store.clone(), directory.clone(), sender, engine_options, engine_metrics.clone());
            (e.clone(), Some(e))
        } else {
            let e =
                StoreOnlyEngine::new(store.clone(), directory.clone(), sender, engine_options, engine_metrics.clone());
            (e, None)
        };
        // On a shared database, other nodes' webhook changes reach this node's cache, and
        // deliveries they leave due wake this node's engine.
        let watcher = db.watch(directory.clone(), engine.clone());
        let webhooks = WebhookService::new(
            store.clone(),
            directory.clone(),
            catalog.clone(),
            engine.clone(),
            WebhookOptions {
                rules: WebhookRules {
                    allow_http: settings.allow_http,
                    max_events: settings.max_events_per_webhook,
                    max_description_len: settings.max_description_length,
                    address_check: {
                        let policy = AddressPolicy::new(settings.allow_private_cidrs.clone());
                        AddressCheck::new(move |url| {
                            policy.check_url(url).map_err(|b| format!("must point to a public host: {b}"))
                        })
                    },
                    signature_header: settings.signature_header.clone(),
                },
                secret_retrieval: settings.secret_retrieval,
                rotation_overlap: settings.secret_rotation_overlap,
                held_max: settings.retention.held_max,
                alerts: Some(alerts),
            },
        );
        let events = EventService::new(
            store.clone(),
            directory,
            catalog,
            engine,
            NodeOptions { node_id, lease: d.lease },
            storage,
        )
        .with_tracer(tracer);
        let deliveries = DeliveryService::new(store.clone(), webhooks.clone(), events.clone());
        let admin = AdminService::new(store.clone(), settings.key_prefix.clone());
        let operations = OperationsService::new(store.clone(), events.clone());
        tokio::spawn(operations.clone().run(alerts_rx));
        let metrics = {
            let (events, auth, operations) = (events.clone(), auth.clone(), operations.clone());
            Arc::new(move || {
                let mut out = String::with_capacity(4096);
                out.push_str("# HELP hookd_events_published_total Events published through this node.\n");
                out.push_str("# TYPE hookd_events_published_total counter\n");
                out.push_str(&format!("hookd_events_published_total {}\n", events.published_total()));
                engine_metrics.render(&mut out);
                operations.render_metrics(&mut out);
                auth.render_metrics(&mut out);
                out
            })
        };
        let w = &settings.web;
        let web = WebService::new(
            store.clone(),
            auth.clone(),
            WebOptions {
                idle_timeout: time::Duration::try_from(w.idle_timeout).context("dashboard.idle_timeout")?,
                lifetime: time::Duration::try_from(w.session_lifetime).context("dashboard.session_lifetime")?,
            },
        );
        let web_state = w.enabled.then(|| {
            hookd_web::WebState::new(
                hookd_web::WebServices {
                    admin: admin.clone(),
                    webhooks: webhooks.clone(),
                    events: events.clone(),
                    deliveries: deliveries.clone(),
                    web: web.clone(),
                },
                hookd_web::WebConfig { secure_cookies: w.secure_cookies, portal: w.portal.clone() },
            )
        });
        let applications = hookd_core::service::ApplicationService::new(store.clone(), webhooks.clone());
        let erasure = ErasureService::new(store.clone(), events.clone());
        let state = ApiState::new(Services {
            applications,
            admin,
            auth,
            webhooks,
            events,
            deliveries,
            erasure,
            web,
            public_url: settings.public_url.as_ref().map(|u| u.as_str().trim_end_matches('/').to_owned()),
            idempotency: IdempotencyService::new(store.clone()),
            // Nodes sharing a database share each key's allowance through it.
            rate_limiter: if settings.database.is_shared() {
                Arc::new(SharedRateLimiter::new(settings.requests_per_minute, store.clone()))
            } else {
                Arc::new(WindowRateLimiter::new(settings.requests_per_minute))
            },
            metrics,
        });
        Ok(Self {
            db,
            state,
            role: settings.role,
            delivering,
            routes: hookd_api::RouterOptions {
                path_prefix: settings.path_prefix.clone(),
                partner_v2: settings.partner_v2.as_ref().map(|p| hookd_api::PartnerV2Options {
                    path_prefix: p.path_prefix.clone(),
                    token_header: HeaderName::try_from(p.token_header.as_str())
                        .expect("the configuration checked the header name"),
                }),
                developer_aliases: settings.developer_aliases,
                svix: settings.svix,
                allow_http: settings.allow_http,
                signature_header: settings.signature_header.clone(),
            },
            web: web_state,
            shutdown_grace: d.shutdown_grace,
            retention: RetentionService::new(store.clone(), settings.retention),
            operations,
            operational_webhooks: settings.operational_webhooks.clone(),
            watcher,
            traces,
            _owner: owner,
        })
    }

    /// On an empty database, creates the workspace `default` and its first key.
    pub async fn bootstrap(&self) -> anyhow::Result<Option<Bootstrapped>> {
        Ok(self.state.admin.bootstrap().await?)
    }

    pub fn admin(&self) -> &AdminService {
        &self.state.admin
    }

    /// The store, for tools that work beside the app (the benchmark's history).
    pub fn store(&self) -> Arc<dyn Store> {
        self.db.store.clone()
    }

    /// Serves the API on `listener` until `shutdown` completes; then drains in-flight
    /// requests, gives in-flight attempts the shutdown grace, releases the rest, and
    /// closes the database.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        if let Some(ws) =
            sync_operational_webhooks(&self.state.admin, &self.state.webhooks, &self.operational_webhooks).await?
        {
            self.operations.set_deployment(ws);
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let maintenance = tokio::spawn(maintain(
            self.state.idempotency.clone(),
            self.retention,
            self.state.erasure.clone(),
            self.state.web.clone(),
            stop_rx,
        ));
        let router = if self.role.serves_api() {
            let api = hookd_api::router(self.state, &self.routes);
            match self.web {
                Some(web) => hookd_web::router(web).merge(api),
                None => api,
            }
        } else {
            hookd_api::ops_router(self.state)
        };
        let served = axum::serve(listener, router).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = maintenance.await;
        if let Some(engine) = &self.delivering {
            engine.shutdown(self.shutdown_grace).await;
        }
        if let Some(w) = &self.watcher {
            w.abort();
        }
        self.db.close().await;
        if let Some(t) = self.traces {
            t.shutdown().await;
        }
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Takes the exclusive lock on `<database>.lock` (created 0600), with this process's id
/// in it, or says which process holds it.
pub(crate) fn own_sqlite_file(db: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    let path = std::path::PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            bail!(
                "another hookd serve (process {}) is running on {}: one node owns a SQLite file. Stop it first, \
                 or move to PostgreSQL to run several nodes (docs/scaling.md). Commands such as `hookd key create` \
                 work beside it.",
                pid.trim(),
                db.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// How long the hourly statistics behind the dashboard's charts are kept: the longest
/// chart shows 7 days.
const STATS_RETENTION: time::Duration = time::Duration::days(8);

/// Periodic housekeeping: expired idempotency records, history past its retention (in
/// small batches), held deliveries beyond their limit, ended sessions and old statistics.
/// Sleeps until the next round or until told to stop.
async fn maintain(
    idempotency: IdempotencyService,
    retention: RetentionService,
    erasure: ErasureService,
    web: WebService,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match idempotency.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "deleted expired idempotency records"),
            Err(e) => tracing::warn!(error = %hookd_core::error_chain(&e), "could not prune idempotency records"),
        }
        let started = std::time::Instant::now();
        match retention.prune().await {
            Ok(p) if p == Pruned::default() => {}
            Ok(p) => tracing::info!(
                succeeded = p.succeeded,
                failed = p.failed,
                events = p.events,
                held_dropped = p.held_dropped,
                held_released = p.held_released,
                steps = p.steps,
                writer_ms = p.writer_held.as_millis() as u64,
                took_ms = started.elapsed().as_millis() as u64,
                "applied the retention"
            ),
            Err(e) => {
                tracing::warn!(error = %hookd_core::error_chain(&e), "could not apply the retention; trying again next round")
            }
        }
        if let Err(e) = erasure.resume_stalled().await {
            tracing::warn!(error = %hookd_core::error_chain(&e), "could not look for interrupted erasures");
        }
        match web.prune(STATS_RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "deleted ended sessions, used portal links and old statistics"),
            Err(e) => tracing::warn!(error = %hookd_core::error_chain(&e), "could not prune sessions"),
        }
        tokio::select! {
            _ = tokio::time::sleep(MAINTENANCE_INTERVAL) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The workspace that holds the deployment's own operational webhooks.
pub const OPERATIONS_WORKSPACE: &str = "hookd-operations";

/// Stores the configuration's `[[operational_webhooks]]` in [`OPERATIONS_WORKSPACE`]
/// (made when first needed), and removes those no longer configured. Returns the
/// workspace, if there is one.
async fn sync_operational_webhooks(
    admin: &AdminService,
    webhooks: &WebhookService,
    targets: &[hookd_core::domain::OperationalTarget],
) -> anyhow::Result<Option<hookd_core::id::WorkspaceId>> {
    let existing = match admin.find_workspace(OPERATIONS_WORKSPACE).await {
        Ok(ws) => Some(ws),
        Err(hookd_core::service::ServiceError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let ws = match (existing, targets.is_empty()) {
        (None, true) => return Ok(None),
        (Some(ws), _) => ws,
        (None, false) => {
            let new = hookd_core::service::NewWorkspace {
                name: OPERATIONS_WORKSPACE.into(),
                external_id: None,
                metadata: [("purpose".to_owned(), "the configuration's [[operational_webhooks]]".to_owned())].into(),
            };
            match admin.create_workspace(new).await {
                Ok(ws) => ws,
                // Another node made it at the same moment.
                Err(hookd_core::service::ServiceError::Conflict(_)) => {
                    admin.find_workspace(OPERATIONS_WORKSPACE).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    webhooks
        .sync_operational(&ws.id, targets)
        .await
        .with_context(|| "cannot store the configuration's [[operational_webhooks]]")?;
    if !targets.is_empty() {
        tracing::info!(count = targets.len(), workspace = OPERATIONS_WORKSPACE, "operational webhooks configured");
    }
    Ok(Some(ws.id))
}

/// Reads the key file, or creates it (mode 0600) with a fresh key.
fn load_or_create_key(path: &Path) -> anyhow::Result<EncryptionKey> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            return EncryptionKey::from_base64(&s)
                .with_context(|| format!("the key file {} is not valid", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
    let key = EncryptionKey::generate();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(format!("{}\n", key.to_base64()).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write the key file {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "generated an encryption key for signing secrets; back it up with the database, which cannot be read without it"
            );
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_key(path),
        Err(e) => Err(e).with_context(|| format!("cannot create the key file {}", path.display())),
    }
}
