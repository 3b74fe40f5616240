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

/// Creates an empty database and returns its URL.
async fn fresh_database(admin: &str) -> String {
    let name = format!("hookd_test_{:016x}", rand_u64());
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect to HOOKD_TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
    conn.close().await.ok();
    let mut url = url::Url::parse(admin).expect("a URL");
    url.set_path(&name);
    url.to_string()
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some(admin) = admin_url() else { return };
    let made = std::sync::Mutex::new(Vec::new());
    hookd_core::conformance::run_all(|| {
        let admin = admin.clone();
        let made = &made;
        async move {
            let url = fresh_database(&admin).await;
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
