//! `Idempotency-Key` on POST.

use hookd_test_support::{Client, Response, TestServer};
use serde_json::{json, Value};

use crate::{assert_error, count, seed_webhook};

async fn post(c: &Client, key: &str, body: &Value) -> Response {
    Client::send(c.request(reqwest::Method::POST, "/v1/webhooks").header("idempotency-key", key).json(body)).await
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_replays_the_first_response() {
    let server = TestServer::start().await;
    let c = server.client();
    let first = post(&c, "create-1", &seed_webhook()).await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post(&c, "create-1", &seed_webhook()).await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data(), first.data(), "the stored response, secret included");
    assert_eq!(count(&c).await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let server = TestServer::start().await;
    let c = server.client();
    post(&c, "k", &seed_webhook()).await.assert_status(201);
    let mut other = seed_webhook();
    other["description"] = json!("different");
    let r = post(&c, "k", &other).await;
    assert_error(&r, 422, "idempotency_key_reused");
    assert_eq!(count(&c).await, 1);
}

#[tokio::test]
async fn concurrent_duplicates_create_one_webhook() {
    let server = TestServer::start().await;
    let c = server.client();
    let body = seed_webhook();
    let results = futures::future::join_all((0..8).map(|_| post(&c, "same", &body))).await;
    let mut ids = std::collections::HashSet::new();
    for r in &results {
        match r.status {
            201 => {
                ids.insert(r.data()["id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(r.error_code(), "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ids.len(), 1, "every success names the same webhook");
    assert_eq!(count(&c).await, 1);
}

#[tokio::test]
async fn a_failed_request_does_not_consume_the_key() {
    let server = TestServer::start().await;
    let c = server.client();
    let r = post(&c, "fix-me", &json!({"url": "http://insecure.example.com", "events": ["*"]})).await;
    assert_error(&r, 422, "validation_error");
    let r = post(&c, "fix-me", &seed_webhook()).await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn keys_are_per_api_key_and_at_most_255_characters() {
    let server = TestServer::start().await;
    let c = server.client();
    let ws = server.admin.find_workspace("default").await.unwrap();
    let other = server
        .admin
        .create_key(&ws.id, "second", vec![hookd_core::domain::Scope::All], false, Default::default())
        .await
        .unwrap()
        .token;
    let c2 = c.with_key(Some(&other));
    post(&c, "shared", &seed_webhook()).await.assert_status(201);
    let r = post(&c2, "shared", &seed_webhook()).await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(count(&c).await, 2);

    let r = post(&c, &"k".repeat(256), &seed_webhook()).await;
    assert_error(&r, 400, "invalid_request");
    assert_eq!(r.error_fields(), ["Idempotency-Key"]);
    post(&c, &"k".repeat(255), &seed_webhook()).await.assert_status(201);
    assert_eq!(count(&c).await, 3);
}

/// A request with an `Idempotency-Key` runs its handler apart from the connection (so a
/// client hanging up cannot leave the key claimed); its log lines still carry the
/// request's id.
#[tokio::test]
async fn an_idempotent_requests_log_lines_carry_its_request_id() {
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_hookd"));
    let p = hookd_test_support::HookdProcess::serve(bin, dir.path(), &[], &[]).await;
    let c = p.client(p.first_key());
    let r = post(&c, "create-with-a-logged-id", &seed_webhook()).await;
    r.assert_status(201);
    let request_id = r.header("x-request-id").expect("a request id").to_owned();
    let line = hookd_test_support::eventually(Duration::from_secs(10), || async {
        let lines: Vec<String> = p.stdout().into_iter().chain(p.stderr()).collect();
        lines
            .into_iter()
            .find(|l| l.contains("webhook created"))
            .ok_or_else(|| "no `webhook created` line yet".to_owned())
    })
    .await;
    assert!(line.contains(&request_id), "the handler's line lacks {request_id}: {line}");
}
