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

#[tokio::test]
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
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    for url in made.into_inner().unwrap() {
        let name = url.rsplit('/').next().unwrap().to_owned();
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
    }
}
