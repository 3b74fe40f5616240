//! A database made by an earlier version is upgraded in place: webhooks that existed
//! before `number` was added get numbers in creation order, and new ones follow.

use hookd_core::id::{WebhookId, WorkspaceId};
use hookd_core::store::Store;
use hookd_store_sqlite::SqliteOptions;
use sqlx::migrate::Migrator;
use sqlx::Connection;

#[tokio::test]
async fn existing_webhooks_are_numbered_in_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let ws = WorkspaceId::generate();
    let ids = [WebhookId::generate(), WebhookId::generate()];
    {
        // The schema as the first migration left it, with two webhooks in it.
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        let all = sqlx::migrate!("./migrations");
        let first = Migrator { migrations: all.migrations[..1].to_vec().into(), ..Migrator::DEFAULT };
        first.run(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES (?, 'old', 0)")
            .bind(ws.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
        // Inserted newest first, so row order differs from creation order.
        for id in ids.iter().rev() {
            sqlx::query(
                "INSERT INTO webhooks (id, workspace_id, url, events, enabled, metadata, secret, created_at, updated_at) \
                 VALUES (?, ?, 'https://example.com', '[\"*\"]', 1, '{}', x'00', 0, 0)",
            )
            .bind(id.as_str())
            .bind(ws.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }
    let store = hookd_store_sqlite::open(&url, &SqliteOptions::default()).await.unwrap();
    hookd_store_sqlite::migrate(&store).await.unwrap();
    for (n, id) in ids.iter().enumerate() {
        let w = store.get_webhook(&ws, id).await.unwrap().unwrap();
        assert_eq!(w.number, n as i64 + 1, "{id}");
    }
    let mut next = store.get_webhook(&ws, &ids[0]).await.unwrap().unwrap();
    next.id = WebhookId::generate();
    assert_eq!(store.insert_webhook(&next).await.unwrap(), 3);
}

/// Upgrading to workspaces managed over HTTP gives the deployment's first key (the one
/// made at first start) the `admin` scope, and no other key.
#[tokio::test]
async fn the_first_key_becomes_the_admin_key() {
    use hookd_core::domain::Scope;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let ws = WorkspaceId::generate();
    {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc")).await.unwrap();
        let all = sqlx::migrate!("./migrations");
        let before = all.migrations.iter().position(|m| m.description.contains("tenants")).unwrap();
        let old = Migrator { migrations: all.migrations[..before].to_vec().into(), ..Migrator::DEFAULT };
        old.run(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO workspaces (id, name, created_at) VALUES (?, 'default', 0)")
            .bind(ws.as_str())
            .execute(&mut conn)
            .await
            .unwrap();
        for (id, at) in [("key_0000000a", 1), ("key_0000000b", 2)] {
            sqlx::query(
                "INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, scopes, owner_scoped, created_at) \
                 VALUES (?, ?, 'k', 'hk_live', zeroblob(32), '[\"*\"]', 0, ?)",
            )
            .bind(id)
            .bind(ws.as_str())
            .bind(at)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        conn.close().await.unwrap();
    }
    let store = hookd_store_sqlite::open(&url, &SqliteOptions::default()).await.unwrap();
    hookd_store_sqlite::migrate(&store).await.unwrap();
    let first = store.get_api_key(&hookd_core::id::ApiKeyId::parse("key_0000000a").unwrap()).await.unwrap();
    let second = store.get_api_key(&hookd_core::id::ApiKeyId::parse("key_0000000b").unwrap()).await.unwrap();
    assert_eq!(first.unwrap().scopes, [Scope::All, Scope::Admin]);
    assert_eq!(second.unwrap().scopes, [Scope::All]);
}
