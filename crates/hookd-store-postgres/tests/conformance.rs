//! The shared store conformance suite, on a fresh PostgreSQL database per check.
//!
//! Needs a server: set `HOOKD_TEST_DATABASE_URL` to a URL whose user may create
//! databases (`postgres://postgres@127.0.0.1:5432/postgres`). `.ci/run` starts one.
//! Without it the test says so and passes, unless `HOOKD_TEST_REQUIRE_POSTGRES=1`.

use std::sync::Arc;

use hookd_core::store::Store;
use hookd_store_postgres::{PgOptions, PgStore};
use sqlx::Connection;

fn admin_url() -> Option<String> {
    match std::env::var("HOOKD_TEST_DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("HOOKD_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "HOOKD_TEST_REQUIRE_POSTGRES=1 but HOOKD_TEST_DATABASE_URL is not set"
            );
            eprintln!("skipped: set HOOKD_TEST_DATABASE_URL to run the PostgreSQL suite");
            None
        }
    }
}

/// Drops a database `create_database` made, with any connections still open to it.
async fn drop_database(admin: &str, url: &str) {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    let name = url.rsplit('/').next().unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn postgres_store_conforms() {
    let Some(admin) = admin_url() else { return };
    let made = std::sync::Mutex::new(Vec::new());
    hookd_core::conformance::run_all(|| {
        let admin = admin.clone();
        let made = &made;
        async move {
            let url = hookd_store_postgres::create_database(&admin, "hookd_conformance").await.unwrap();
            made.lock().unwrap().push(url.clone());
            let s = PgStore::open(&url, &PgOptions::default()).await.unwrap();
            s.migrate().await.unwrap();
            Arc::new(s) as Arc<dyn Store>
        }
    })
    .await;
    // Leave nothing behind.
    for url in made.into_inner().unwrap() {
        drop_database(&admin, &url).await;
    }
}

/// Deleting a webhook while another node records one of its deliveries' results (and so
/// holds that row, and next wants the webhook's row for its counters) must not wait for
/// that node: waiting is a deadlock, which failed the delete with a 500.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn deleting_a_webhook_does_not_wait_for_rows_another_node_holds() {
    let Some(admin) = admin_url() else { return };
    let url = hookd_store_postgres::create_database(&admin, "hookd_locks").await.unwrap();
    let store = PgStore::open(&url, &PgOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let (ws, w, ids) = hookd_core::conformance::webhook_with_deliveries(&store, 2, "node-a").await;

    let mut other = store.pool().begin().await.unwrap();
    sqlx::query("SELECT id FROM deliveries WHERE id = $1 FOR UPDATE")
        .bind(ids[0].as_str())
        .execute(&mut *other)
        .await
        .unwrap();
    let deleted = tokio::time::timeout(std::time::Duration::from_secs(10), store.delete_webhook(&ws.id, &w.id))
        .await
        .expect("the delete waited for a row another transaction holds")
        .unwrap();
    assert!(deleted);
    // The free delivery is cancelled; the held one is left to its holder, and is cancelled
    // when next attempted, since its webhook is gone.
    let status = |id: &hookd_core::id::DeliveryId| {
        let (store, ws, id) = (&store, &ws, id.clone());
        async move { store.get_delivery(&ws.id, &id).await.unwrap().unwrap().status }
    };
    assert_eq!(status(&ids[1]).await, hookd_core::domain::DeliveryStatus::Cancelled);
    assert_eq!(status(&ids[0]).await, hookd_core::domain::DeliveryStatus::InFlight);
    other.rollback().await.unwrap();

    store.close().await;
    drop_database(&admin, &url).await;
}
