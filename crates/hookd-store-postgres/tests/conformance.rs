//! The shared store conformance suite, one test per check, each on a fresh PostgreSQL
//! database that is dropped afterwards.
//!
//! Needs a server: set `HOOKD_TEST_DATABASE_URL` to a URL whose user may create
//! databases (`postgres://postgres@127.0.0.1:5432/postgres`). `.ci/run` starts one.
//! Without it the tests say so and pass, unless `HOOKD_TEST_REQUIRE_POSTGRES=1`.

use std::sync::Arc;

use hookd_core::store::Store;
use hookd_store_postgres::{PgOptions, TempDatabase};

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

async fn fresh_store() -> Option<(Arc<dyn Store>, TempDatabase)> {
    let db = TempDatabase::create(&admin_url()?, "hookd_conformance").await.unwrap();
    let s = hookd_store_postgres::open(db.url(), &PgOptions::default()).await.unwrap();
    hookd_store_postgres::migrate(&s).await.unwrap();
    Some((Arc::new(s), db))
}

hookd_core::store_conformance_tests!(
    fresh_store,
    #[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
);

/// Deleting a webhook while another node records one of its deliveries' results (and so
/// holds that row, and next wants the webhook's row for its counters) must not wait for
/// that node: waiting is a deadlock, which failed the delete with a 500.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn deleting_a_webhook_does_not_wait_for_rows_another_node_holds() {
    let Some(admin) = admin_url() else { return };
    let db = TempDatabase::create(&admin, "hookd_locks").await.unwrap();
    let store = hookd_store_postgres::open(db.url(), &PgOptions::default()).await.unwrap();
    hookd_store_postgres::migrate(&store).await.unwrap();
    let (ws, w, ids) = hookd_core::conformance::webhook_with_deliveries(&store, 2, "node-a").await;

    let mut other = store.pools().begin().await.unwrap();
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
}
