//! API keys: 401 for missing, malformed, wrong and revoked keys; 403 for a missing
//! scope; 404 across workspaces and outside an owner-scoped key's view.

use hookd_core::domain::{ApiKeyToken, Scope};
use hookd_test_support::{Client, TestServer};
use serde_json::json;

use crate::{assert_error, count, create, id_of, seed_webhook};

async fn key(server: &TestServer, workspace: &str, scopes: &[Scope], owner_scoped: bool) -> String {
    let ws = server.admin.find_workspace(workspace).await.unwrap();
    server.admin.create_key(&ws.id, "test", scopes.to_vec(), owner_scoped, Default::default()).await.unwrap().token
}

#[tokio::test]
async fn missing_malformed_wrong_and_revoked_keys_are_401() {
    let server = TestServer::start().await;
    let good = server.first_key.clone().unwrap();
    let base = server.anonymous();
    let r = base.get("/v1/webhooks").await;
    assert_error(&r, 401, "unauthorized");
    assert!(r.text.contains("Authorization: Bearer"), "{}", r.text);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));

    let wrong_secret = format!("{}.{}", good.split_once('.').unwrap().0, "x".repeat(64));
    let unknown_id = format!("hk_live_00000000.{}", good.split_once('.').unwrap().1);
    for bad in ["garbage", "hk_live_zzzz.abc", wrong_secret.as_str(), unknown_id.as_str()] {
        let r = base.with_key(Some(bad)).get("/v1/webhooks").await;
        assert_error(&r, 401, "unauthorized");
    }
    let r = Client::send(
        base.request(reqwest::Method::GET, "/v1/webhooks").header("authorization", format!("Basic {good}")),
    )
    .await;
    assert_error(&r, 401, "unauthorized");

    // A revoked key stops working at once.
    let other = key(&server, "default", &[Scope::All], false).await;
    let c = base.with_key(Some(&other));
    c.get("/v1/webhooks").await.assert_status(200);
    let id = ApiKeyToken::parse(&other).unwrap().id;
    server.admin.revoke_key(&id).await.unwrap();
    // Keys are cached for up to a second.
    let r = hookd_test_support::eventually(std::time::Duration::from_secs(5), || async {
        let r = c.get("/v1/webhooks").await;
        if r.status == 401 {
            Ok(r)
        } else {
            Err(format!("still {}", r.status))
        }
    })
    .await;
    assert_error(&r, 401, "unauthorized");
    assert!(r.text.contains("revoked"));
}

#[tokio::test]
async fn a_missing_scope_is_403_and_writes_nothing() {
    let server = TestServer::start().await;
    let read_only = server.anonymous().with_key(Some(&key(&server, "default", &[Scope::WebhooksRead], false).await));
    let r = read_only.post("/v1/webhooks", &seed_webhook()).await;
    assert_error(&r, 403, "insufficient_scope");
    assert!(r.text.contains("webhooks:write"));
    // Scope is checked before the body is parsed.
    let r = read_only.post_raw("/v1/webhooks", "{not json").await;
    assert_error(&r, 403, "insufficient_scope");
    assert_eq!(count(&read_only).await, 0);

    let publisher = server.anonymous().with_key(Some(&key(&server, "default", &[Scope::EventsWrite], false).await));
    assert_error(&publisher.get("/v1/webhooks").await, 403, "insufficient_scope");
    // Any valid key may read the catalog.
    publisher.get("/v1/event-types").await.assert_status(200);

    // Write includes read.
    let writer = server.anonymous().with_key(Some(&key(&server, "default", &[Scope::WebhooksWrite], false).await));
    create(&writer, &seed_webhook()).await;
    assert_eq!(count(&writer).await, 1);
    let d = create(&server.client(), &seed_webhook()).await;
    let r = read_only.get(&format!("/v1/webhooks/{}/secret", id_of(&d))).await;
    assert_error(&r, 403, "insufficient_scope");
}

#[tokio::test]
async fn another_workspaces_webhooks_are_not_found() {
    let server = TestServer::start().await;
    let mine = server.client();
    let d = create(&mine, &seed_webhook()).await;
    let id = id_of(&d);
    server
        .admin
        .create_workspace(hookd_core::service::NewWorkspace { name: "acme".into(), ..Default::default() })
        .await
        .unwrap();
    let theirs = server.anonymous().with_key(Some(&key(&server, "acme", &[Scope::All], false).await));
    assert_eq!(count(&theirs).await, 0);
    let path = format!("/v1/webhooks/{id}");
    assert_error(&theirs.get(&path).await, 404, "not_found");
    assert_error(&theirs.patch(&path, &json!({"enabled": false})).await, 404, "not_found");
    assert_error(&theirs.post_raw(&format!("{path}/secret/rotate"), "").await, 404, "not_found");
    assert_error(&theirs.delete(&path).await, 404, "not_found");
    // Untouched.
    let got = mine.get(&path).await;
    assert_eq!(got.data()["enabled"], true);
}

#[tokio::test]
async fn owner_scoped_keys_see_and_change_only_their_own_webhooks() {
    let server = TestServer::start().await;
    let admin = server.client();
    let theirs = create(&admin, &seed_webhook()).await;
    let owner_a = server.anonymous().with_key(Some(&key(&server, "default", &[Scope::WebhooksWrite], true).await));
    let owner_b = server.anonymous().with_key(Some(&key(&server, "default", &[Scope::WebhooksWrite], true).await));
    let a1 = create(&owner_a, &json!({"url": "https://a.example.com", "events": ["*"]})).await;
    // Same URL as a webhook it cannot see: no warning, which would leak it.
    let r = owner_b.post("/v1/webhooks", &seed_webhook()).await;
    r.assert_status(201);
    assert!(r.body["meta"].get("warnings").is_none(), "{}", r.text);

    let listed = owner_a.get("/v1/webhooks").await;
    let ids: Vec<&str> = listed.data().as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a1["id"].as_str().unwrap()]);
    for path in [format!("/v1/webhooks/{}", id_of(&theirs)), format!("/v1/webhooks/{}", id_of(&r.data().clone()))] {
        assert_error(&owner_a.get(&path).await, 404, "not_found");
        assert_error(&owner_a.patch(&path, &json!({"description": "mine now"})).await, 404, "not_found");
        assert_error(&owner_a.delete(&path).await, 404, "not_found");
    }
    owner_a.patch(&format!("/v1/webhooks/{}", id_of(&a1)), &json!({"description": "ok"})).await.assert_status(200);
    // An ordinary key of the workspace sees everything.
    assert_eq!(count(&admin).await, 3);
}

#[tokio::test]
async fn keys_use_the_configured_prefix() {
    let server = TestServer::builder().config(|c| c.key_prefix = "aw_live".into()).start().await;
    let k = server.first_key.clone().unwrap();
    assert!(k.starts_with("aw_live_") && k.len() == "aw_live_".len() + 8 + 1 + 64, "{k}");
    server.client().get("/v1/webhooks").await.assert_status(200);
}

#[tokio::test]
async fn owner_scoped_keys_read_only_events_and_deliveries_of_their_own_webhooks() {
    let server = crate::delivering_server(|c| c.secret_retrieval = true).await;
    let admin = server.client();
    let rx = hookd_test_support::TestReceiver::start().await;
    let scopes = [Scope::WebhooksRead, Scope::WebhooksWrite];
    let owner_a = server.anonymous().with_key(Some(&key(&server, "default", &scopes, true).await));
    let owner_b = server.anonymous().with_key(Some(&key(&server, "default", &scopes, true).await));
    create(&admin, &json!({"url": rx.url("/all"), "events": ["*"]})).await;
    let wa = id_of(&create(&owner_a, &json!({"url": rx.url("/a"), "events": ["order.*"]})).await);
    let wb = id_of(&create(&owner_b, &json!({"url": rx.url("/b"), "events": ["order.*"]})).await);

    // Routed to both owners' webhooks, and to the workspace's only.
    let shared = id_of(&crate::publish(&admin, "order.paid", json!({"n": 1})).await);
    let workspace_only = id_of(&crate::publish(&admin, "invoice.paid", json!({"secret": "not for owners"})).await);
    for who in [&owner_a, &owner_b, &admin] {
        who.get(&format!("/v1/events/{shared}")).await.assert_status(200);
    }
    admin.get(&format!("/v1/events/{workspace_only}")).await.assert_status(200);
    for who in [&owner_a, &owner_b] {
        assert_error(&who.get(&format!("/v1/events/{workspace_only}")).await, 404, "not_found");
    }

    // B's delivery of the shared event, and every route that reaches it through A.
    let list = crate::deliveries_until(&owner_b, &wb, "B's delivery", |l| !l.is_empty()).await;
    let dlv = id_of(&list[0]);
    owner_b.get(&format!("/v1/deliveries/{dlv}")).await.assert_status(200);
    let replay = json!({"since": "2020-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"});
    let reads =
        [format!("/v1/deliveries/{dlv}"), format!("/v1/webhooks/{wb}/deliveries"), format!("/v1/webhooks/{wb}")];
    for path in reads {
        assert_error(&owner_a.get(&path).await, 404, "not_found");
    }
    assert_error(&owner_a.post(&format!("/v1/deliveries/{dlv}/retry"), &json!({})).await, 404, "not_found");
    assert_error(&owner_a.post(&format!("/v1/webhooks/{wb}/replay"), &replay).await, 404, "not_found");
    assert_error(&owner_a.post(&format!("/v1/webhooks/{wb}/test"), &json!({})).await, 404, "not_found");
    assert_error(&owner_a.get(&format!("/v1/webhooks/{wb}/secret")).await, 404, "not_found");
    assert_error(&owner_a.post(&format!("/v1/webhooks/{wb}/secret/rotate"), &json!({})).await, 404, "not_found");
    // A's own routes work.
    owner_a.post(&format!("/v1/webhooks/{wa}/test"), &json!({})).await.assert_status(200);
}
