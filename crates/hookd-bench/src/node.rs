//! The hookd under test: started in this process on a temp SQLite file or a fresh
//! PostgreSQL database, or as a node process of its own (`--serve-node`).

use anyhow::Context;
use hookd::app::App;
use hookd::config::{Config, Settings};
use hookd_store_postgres::TempDatabase;
use serde_json::json;
use std::time::Duration;

pub(crate) struct Hookd {
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) _dir: tempfile::TempDir,
    /// A PostgreSQL database made for this run, dropped after it.
    pub(crate) _db: Option<TempDatabase>,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Where each hookd of the run keeps its data: SQLite in a temp dir, or a fresh database
/// on the PostgreSQL server of `--database`.
pub(crate) static POSTGRES: std::sync::OnceLock<String> = std::sync::OnceLock::new();

pub(crate) async fn database_url(dir: &std::path::Path) -> anyhow::Result<(String, Option<TempDatabase>)> {
    let Some(admin) = POSTGRES.get() else {
        return Ok((format!("sqlite://{}", dir.join("hookd.db").display()), None));
    };
    let db = TempDatabase::create(admin, "hookd_bench").await.context("cannot create a database on --database")?;
    Ok((db.url().to_owned(), Some(db)))
}

/// The encryption key of every hookd the bench runs: a fixed throwaway.
pub(crate) const BENCH_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

/// The configuration of every hookd the bench runs.
pub(crate) fn bench_config(database_url: String) -> Config {
    Config {
        database_url,
        allow_http: true,
        log_level: "warn".into(),
        // A fixed throwaway key, so no key file is generated (and warned about).
        encryption_key: Some(BENCH_KEY.into()),
        rate_limit: hookd::config::RateLimitConfig { requests_per_minute: u32::MAX },
        delivery: hookd::config::DeliveryConfig {
            allow_private_cidrs: vec!["127.0.0.0/8".into()],
            // The neighbour scenario leaves attempts hanging; do not wait for them.
            shutdown_grace: Duration::from_secs(1),
            ..Default::default()
        },
        ..Config::default()
    }
}

pub(crate) async fn start_hookd(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Hookd> {
    let dir = tempfile::tempdir()?;
    let (url, db) = database_url(dir.path()).await?;
    Ok(start_hookd_on(dir, url, db, None, adjust).await?.0)
}

/// Starts hookd on a database that may hold data already (`key`: a key it has; `None`:
/// a fresh database, whose first key hookd makes). Returns it with its store.
pub(crate) async fn start_hookd_on(
    dir: tempfile::TempDir,
    url: String,
    db: Option<TempDatabase>,
    key: Option<String>,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<(Hookd, std::sync::Arc<dyn hookd_core::store::Store>)> {
    let mut config = bench_config(url);
    adjust(&mut config);
    let settings = Settings::from_config(config)?;
    static LOG: std::sync::Once = std::sync::Once::new();
    LOG.call_once(|| hookd::telemetry::init(settings.log_format, &settings.log_level));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = App::build(&settings).await?;
    let key = match (app.bootstrap().await?, key) {
        (Some(b), _) => b.token,
        (None, Some(k)) => k,
        (None, None) => anyhow::bail!("the database has a workspace already, and no key was given"),
    };
    let store = app.store();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(listener, async move {
        let _ = rx.await;
    }));
    Ok((Hookd { base, key, _dir: dir, _db: db, stop: Some(tx), task }, store))
}

impl Hookd {
    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

pub(crate) async fn create_webhooks(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    urls: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for u in urls {
        let r: serde_json::Value = http
            .post(format!("{base}/v1/webhooks"))
            .bearer_auth(key)
            .json(&json!({"url": u, "events": ["*"]}))
            .send()
            .await?
            .json()
            .await?;
        ids.push(r["data"]["id"].as_str().context("webhook id")?.to_owned());
    }
    Ok(ids)
}

pub(crate) async fn delete_webhooks(http: &reqwest::Client, h: &Hookd, ids: &[String]) -> anyhow::Result<()> {
    for id in ids {
        // A webhook left behind would take its share of the next scenario's events.
        http.delete(format!("{}/v1/webhooks/{id}", h.base))
            .bearer_auth(&h.key)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("deleting webhook {id}"))?;
    }
    Ok(())
}

/// One hookd node in a process of its own (see `--serve-node`): prints `key <token>` if
/// it provisioned the deployment, then `ready`, and runs until killed.
pub(crate) async fn serve_node(database_url: &str, addr: &str) -> anyhow::Result<()> {
    let mut config = bench_config(database_url.to_owned());
    config.listen = addr.to_owned();
    let settings = Settings::from_config(config)?;
    hookd::telemetry::init(settings.log_format, &settings.log_level);
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let app = App::build(&settings).await?;
    if let Some(b) = app.bootstrap().await? {
        println!("key {}", b.token);
    }
    println!("ready");
    app.run(listener, std::future::pending()).await
}
