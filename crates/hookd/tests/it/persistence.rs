//! Restarting on the same database file.

use hookd_test_support::TestServer;

use crate::{create, id_of, seed_webhook};

#[tokio::test]
async fn data_and_keys_survive_a_restart_without_a_new_first_key() {
    let server = TestServer::builder().sqlite().config(|c| c.secret_retrieval = true).start().await;
    let key = server.first_key.clone().expect("first start prints a key");
    let d = create(&server.client(), &seed_webhook()).await;
    let id = id_of(&d);
    assert!(server.dir().join("hookd.key").exists(), "a generated key file beside the database");

    let server = server.restart().await;
    assert_eq!(server.first_key, None, "no second first-start key");
    let c = server.anonymous().with_key(Some(&key));
    let got = c.get(&format!("/v1/webhooks/{id}")).await;
    got.assert_status(200);
    assert_eq!(got.data()["url"], d["url"]);
    // The secret was sealed with the key file's key, which was reused.
    let s = c.get(&format!("/v1/webhooks/{id}/secret")).await;
    assert_eq!(s.data()["signing_secret"], d["signing_secret"]);
    assert_eq!(server.admin.all_workspaces().await.unwrap().len(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn the_generated_key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::builder().sqlite().start().await;
    let mode = std::fs::metadata(server.dir().join("hookd.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_wal_and_shm_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::builder().sqlite().start().await;
    // A write, so the WAL has content.
    create(&server.client(), &seed_webhook()).await;
    for file in ["hookd.db", "hookd.db-wal", "hookd.db-shm"] {
        let mode = std::fs::metadata(server.dir().join(file)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file} is {:o}", mode & 0o777);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_others_can_read_is_reported_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_hookd"));
    let dir = tempfile::tempdir().unwrap();
    let mut first = hookd_test_support::HookdProcess::serve(bin, dir.path(), &[], &[]).await;
    first.terminate().await;
    let db = dir.path().join("hookd.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut second = hookd_test_support::HookdProcess::serve(bin, dir.path(), &[], &[]).await;
    second.terminate().await;
    let logs = [second.stdout(), second.stderr()].concat().join("\n");
    assert!(logs.contains("readable by other users") && logs.contains("chmod 600"), "{logs}");
}

#[tokio::test]
async fn a_different_encryption_key_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("hookd.db").display());
    let mut config = hookd::config::Config { database_url: url, ..Default::default() };
    let first = hookd::config::Settings::from_config(config.clone()).unwrap();
    hookd::app::App::build(&first).await.unwrap();
    config.encryption_key = Some(hookd_core::crypto::EncryptionKey::generate().to_base64().into());
    let second = hookd::config::Settings::from_config(config).unwrap();
    let err = hookd::app::App::build(&second).await.err().expect("a different key must be refused").to_string();
    assert!(err.contains("fingerprint") && err.contains("restore"), "{err}");
}
