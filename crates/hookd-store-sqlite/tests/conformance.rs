//! The shared store conformance suite, one test per check, each on a temp SQLite file.

use std::sync::Arc;

use hookd_core::store::Store;
use hookd_store_sqlite::SqliteOptions;

async fn fresh_store() -> Option<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let s = hookd_store_sqlite::open(&url, &SqliteOptions::default()).await.unwrap();
    hookd_store_sqlite::migrate(&s).await.unwrap();
    Some((Arc::new(s), dir))
}

hookd_core::store_conformance_tests!(fresh_store);
