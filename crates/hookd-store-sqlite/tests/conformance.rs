//! The shared store conformance suite, on a temp SQLite file per check.

use std::sync::Arc;

use hookd_core::store::Store;
use hookd_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    hookd_core::conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let url = format!("sqlite://{}", dir.path().join(format!("c{n}.db")).display());
        async move {
            let s = SqliteStore::open(&url, &SqliteOptions::default()).await.unwrap();
            s.migrate().await.unwrap();
            Arc::new(s) as Arc<dyn Store>
        }
    })
    .await;
}
