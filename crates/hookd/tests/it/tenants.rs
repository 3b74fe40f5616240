//! The admin API: a product creates its customers' workspaces and keys over HTTP, and
//! acts (and publishes) in any of them with `Hookd-Workspace`.

use std::time::Duration;

use hookd_test_support::{eventually, TestReceiver, TestServer};
use serde_json::{json, Value};

use crate::{assert_error, count, create, delivering_server, id_of, publish};

async fn workspace(c: &hookd_test_support::Client, name: &str, external_id: &str) -> Value {
    let r = c.post("/v1/workspaces", &json!({"name": name, "external_id": external_id})).await;
    r.assert_status(201);
    r.data().clone()
}

/// Waits (a few seconds at most) until the client's key is refused.
async fn refused_within_a_second(k: &hookd_test_support::Client) {
    eventually(Duration::from_secs(3), || async {
        let r = k.get("/v1/webhooks").await;
        if r.status == 401 {
            Ok(())
        } else {
            Err(r.text)
        }
    })
    .await;
}

#[tokio::test]
async fn workspaces_are_created_listed_found_by_external_id_changed_and_unique() {
    let server = TestServer::start().await;
    let c = server.client();
    let a = workspace(&c, "acme", "cust_1").await;
    assert!(id_of(&a).starts_with("ws_"));
    assert_eq!(a["external_id"], "cust_1");
    // A taken name or external id is a 409 naming which, and writes nothing.
    let r = c.post("/v1/workspaces", &json!({"name": "other", "external_id": "cust_1"})).await;
    assert_error(&r, 409, "conflict");
    assert!(r.text.contains("external_id"), "{}", r.text);
    let r = c.post("/v1/workspaces", &json!({"name": "acme"})).await;
    assert_error(&r, 409, "conflict");
    // Bad input names each field.
    let r = c.post("/v1/workspaces", &json!({"name": "no spaces", "external_id": "ws_x", "metadata": {"": "v"}})).await;
    assert_error(&r, 422, "validation_error");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["external_id", "metadata.", "name"], "{}", r.text);
    let b = workspace(&c, "beta", "cust_2").await;
    // Oldest first (the first-start workspace, then these), in pages.
    let page = c.get("/v1/workspaces?limit=2").await;
    page.assert_status(200);
    let ids: Vec<&str> = page.data().as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids[1], id_of(&a));
    let cursor = page.body["meta"]["next_cursor"].as_str().expect("a next page").to_owned();
    let next = c.get(&format!("/v1/workspaces?limit=2&cursor={cursor}")).await;
    assert_eq!(next.data()[0]["id"], b["id"]);
    let only = c.get("/v1/workspaces?external_id=cust_2").await;
    assert_eq!(only.data().as_array().unwrap().len(), 1);
    assert_eq!(only.data()[0]["id"], b["id"]);
    // By id or by external id.
    assert_eq!(c.get("/v1/workspaces/cust_1").await.data()["id"], a["id"]);
    assert_eq!(c.get(&format!("/v1/workspaces/{}", id_of(&a))).await.data()["name"], "acme");
    assert_error(&c.get("/v1/workspaces/cust_404").await, 404, "not_found");
    // PATCH changes what it names; null clears the external id.
    let r = c.patch("/v1/workspaces/cust_1", &json!({"metadata": {"plan": "pro"}, "external_id": null})).await;
    r.assert_status(200);
    assert_eq!((r.data()["metadata"]["plan"].as_str(), r.data()["external_id"].clone()), (Some("pro"), Value::Null));
    let r = c.patch(&format!("/v1/workspaces/{}", id_of(&a)), &json!({"external_id": "cust_2"})).await;
    assert_error(&r, 409, "conflict");
}

#[tokio::test]
async fn only_admin_keys_manage_workspaces() {
    let server = TestServer::start().await;
    let c = server.client();
    let a = workspace(&c, "acme", "cust_1").await;
    // A key with every scope but admin (`*` does not imply it).
    let r = c.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"], "name": "backend"})).await;
    r.assert_status(201);
    let all = r.data()["key"].as_str().unwrap().to_owned();
    let k = c.with_key(Some(&all));
    k.get("/v1/webhooks").await.assert_status(200);
    for r in [
        k.get("/v1/workspaces").await,
        k.post("/v1/workspaces", &json!({"name": "x"})).await,
        k.get(&format!("/v1/workspaces/{}/keys", id_of(&a))).await,
    ] {
        assert_error(&r, 403, "insufficient_scope");
        assert!(r.text.contains("admin"), "{}", r.text);
    }
}

#[tokio::test]
async fn keys_are_issued_listed_without_secrets_expire_and_are_revoked() {
    let server = TestServer::start().await;
    let c = server.client();
    let a = workspace(&c, "acme", "cust_1").await;
    let r = c
        .post(
            "/v1/workspaces/cust_1/keys",
            &json!({"name": "acme backend", "scopes": ["webhooks:write", "events:write"]}),
        )
        .await;
    r.assert_status(201);
    let token = r.data()["key"].as_str().unwrap().to_owned();
    let key_id = id_of(r.data());
    // The key works in its own workspace only.
    let k = c.with_key(Some(&token));
    create(&k, &json!({"url": "https://example.com/acme", "events": ["*"]})).await;
    assert_eq!(count(&k).await, 1);
    assert_eq!(count(&c).await, 0, "the admin's own workspace has none");
    let listed = c.get(&format!("/v1/workspaces/{}/keys", id_of(&a))).await;
    listed.assert_status(200);
    assert_eq!(listed.data().as_array().unwrap().len(), 1);
    assert!(!listed.text.contains(token.split_once('.').unwrap().1), "never a secret: {}", listed.text);
    assert_eq!(listed.data()[0]["scopes"], json!(["webhooks:write", "events:write"]));
    // Bad scopes and past expiry are named.
    let r =
        c.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["root"], "expires_at": "2001-01-01T00:00:00Z"})).await;
    assert_error(&r, 422, "validation_error");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["expires_at", "scopes[0]"], "{}", r.text);
    // A key that expires is refused from then on.
    let soon = hookd_core::time_fmt::format(hookd_core::time_fmt::now() + Duration::from_secs(2));
    let r = c.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["webhooks:read"], "expires_at": soon})).await;
    r.assert_status(201);
    let short = c.with_key(r.data()["key"].as_str());
    short.get("/v1/webhooks").await.assert_status(200);
    eventually(Duration::from_secs(10), || async {
        let r = short.get("/v1/webhooks").await;
        if r.status == 401 && r.text.contains("expired") {
            Ok(())
        } else {
            Err(r.text)
        }
    })
    .await;
    // Revoked: refused within a second, and a second revoke finds nothing.
    let r = c.delete(&format!("/v1/workspaces/cust_1/keys/{key_id}")).await;
    r.assert_status(200);
    refused_within_a_second(&k).await;
    assert_error(&c.delete(&format!("/v1/workspaces/cust_1/keys/{key_id}")).await, 404, "not_found");
    // A key of another workspace is not found through this one.
    let first_key_id = hookd_core::domain::ApiKeyToken::parse(server.first_key.as_deref().unwrap()).unwrap().id;
    assert_error(&c.delete(&format!("/v1/workspaces/cust_1/keys/{first_key_id}")).await, 404, "not_found");
}

#[tokio::test]
async fn an_admin_key_publishes_for_each_customer_and_each_event_reaches_only_its_workspace() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let admin = server.client();
    workspace(&admin, "acme", "cust_1").await;
    workspace(&admin, "beta", "cust_2").await;
    for (ws, path) in [("cust_1", "/acme"), ("cust_2", "/beta")] {
        create(&admin.in_workspace(ws), &json!({"url": rx.url(path), "events": ["*"]})).await;
    }
    publish(&admin.in_workspace("cust_1"), "order.paid", json!({"for": "acme"})).await;
    publish(&admin.in_workspace("cust_2"), "order.paid", json!({"for": "beta"})).await;
    publish(&admin.in_workspace("cust_2"), "order.paid", json!({"for": "beta"})).await;
    let got = rx.wait_for(3, None, Duration::from_secs(10)).await;
    for m in &got {
        let who = m.json()["data"]["for"].as_str().unwrap().to_owned();
        assert_eq!(m.path, format!("/{who}"), "an event of {who} reached {}", m.path);
    }
    assert_eq!(rx.received_on("/acme").len(), 1);
    assert_eq!(rx.received_on("/beta").len(), 2);
    // The admin's own workspace has no webhooks: nothing went there.
    assert_eq!(count(&admin).await, 0);
    assert_eq!(count(&admin.in_workspace("cust_1")).await, 1);
    // An unknown workspace is a 404.
    assert_error(&admin.in_workspace("cust_404").get("/v1/webhooks").await, 404, "not_found");
}

#[tokio::test]
async fn a_key_without_admin_cannot_act_in_another_workspace() {
    let server = TestServer::start().await;
    let admin = server.client();
    let a = workspace(&admin, "acme", "cust_1").await;
    workspace(&admin, "beta", "cust_2").await;
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"]})).await;
    let k = admin.with_key(r.data()["key"].as_str());
    // Naming its own workspace (by id or external id) is fine.
    k.in_workspace("cust_1").get("/v1/webhooks").await.assert_status(200);
    k.in_workspace(&id_of(&a)).get("/v1/webhooks").await.assert_status(200);
    // Another, existing or not, is a 403, and nothing is written.
    for other in ["cust_2", "cust_404"] {
        let r =
            k.in_workspace(other).post("/v1/webhooks", &json!({"url": "https://example.com/x", "events": ["*"]})).await;
        assert_error(&r, 403, "insufficient_scope");
    }
    assert_eq!(count(&admin.in_workspace("cust_2")).await, 0);
    assert_eq!(count(&k).await, 0);
}

#[tokio::test]
async fn deleting_a_workspace_removes_its_webhooks_and_keys_and_cancels_its_deliveries() {
    // Deliveries wait: the receiver is down, and retries are minutes apart.
    let server =
        delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_secs(600)]).await;
    let rx = TestReceiver::start().await;
    rx.set_default(hookd_test_support::Reply::status(503));
    let admin = server.client();
    let a = workspace(&admin, "acme", "cust_1").await;
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"]})).await;
    let k = admin.with_key(r.data()["key"].as_str());
    create(&k, &json!({"url": rx.url("/acme"), "events": ["*"]})).await;
    publish(&k, "order.paid", json!({})).await;
    rx.wait_for(1, None, Duration::from_secs(10)).await;
    // A key cannot delete its own workspace.
    assert_error(&k.delete("/v1/workspaces/cust_1").await, 403, "insufficient_scope");
    let own =
        admin.delete(&format!("/v1/workspaces/{}", server.admin.find_workspace("default").await.unwrap().id)).await;
    assert_error(&own, 409, "conflict");
    let r = admin.delete("/v1/workspaces/cust_1").await;
    r.assert_status(200);
    assert_eq!(r.data()["id"], a["id"]);
    assert_error(&admin.get("/v1/workspaces/cust_1").await, 404, "not_found");
    refused_within_a_second(&k).await;
    // Gone for the command line too. (That its webhooks, keys and open deliveries go with
    // it is checked row by row in the store's conformance suite.)
    assert!(server.admin.find_workspace(&id_of(&a)).await.is_err());
}

#[tokio::test]
async fn keys_the_product_already_issued_are_imported_and_keep_working() {
    let server = TestServer::start().await;
    let admin = server.client();
    workspace(&admin, "acme", "cust_1").await;
    // Seed 000's documented key shape, and a shape nothing like hookd's.
    let xqr = format!("xqr_pk_a1b2c3d4.{}", "Q".repeat(64));
    let other = "sk_live_51HxYz-customer-key_0123456789";
    for token in [xqr.as_str(), other] {
        let r =
            admin.post("/v1/workspaces/cust_1/keys", &json!({"key": token, "scopes": ["*"], "name": "product"})).await;
        r.assert_status(201);
        assert_eq!(r.data()["imported"], true);
        assert!(!r.text.contains(token), "an imported key is never echoed: {}", r.text);
        let k = admin.with_key(Some(token));
        create(&k, &json!({"url": format!("https://example.com/{}", &token[..6]), "events": ["*"]})).await;
    }
    assert_eq!(count(&admin.in_workspace("cust_1")).await, 2);
    // Once only; and bounded.
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"key": other, "scopes": ["*"]})).await;
    assert_error(&r, 409, "conflict");
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"key": "short", "scopes": ["*"]})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["key"], "{}", r.text);
    // A near miss is refused like any wrong key.
    let r = admin.with_key(Some(&format!("{other}x"))).get("/v1/webhooks").await;
    assert_error(&r, 401, "unauthorized");
    // Revoked like any key.
    let listed = admin.get("/v1/workspaces/cust_1/keys").await;
    let imported_id = listed.data().as_array().unwrap().iter().find(|k| k["imported"] == true).map(id_of).unwrap();
    admin.delete(&format!("/v1/workspaces/cust_1/keys/{imported_id}")).await.assert_status(200);
}

#[tokio::test]
async fn a_key_with_an_owner_sees_and_creates_only_that_owners_webhooks() {
    let server = TestServer::start().await;
    let admin = server.client();
    workspace(&admin, "acme", "cust_1").await;
    let c = admin.in_workspace("cust_1");
    let key_for = |owner: &'static str| {
        let admin = admin.clone();
        async move {
            let r = admin
                .post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"], "owner": owner, "name": owner}))
                .await;
            r.assert_status(201);
            assert_eq!(r.data()["owner"], owner);
            admin.with_key(r.data()["key"].as_str())
        }
    };
    let (one, two) = (key_for("acct_1").await, key_for("acct_2").await);
    let mine = create(&one, &json!({"url": "https://example.com/1", "events": ["*"]})).await;
    assert_eq!(mine["owner"], "acct_1");
    // The workspace (no owner) creates for any owner, or for itself.
    let theirs = create(&c, &json!({"url": "https://example.com/2", "events": ["*"], "owner": "acct_2"})).await;
    let shared = create(&c, &json!({"url": "https://example.com/w", "events": ["*"]})).await;
    assert_eq!((theirs["owner"].as_str(), shared["owner"].clone()), (Some("acct_2"), Value::Null));
    // Each owner sees its own; the workspace sees all.
    assert_eq!(count(&one).await, 1);
    assert_eq!(count(&two).await, 1);
    assert_eq!(count(&c).await, 3);
    for other in [&theirs, &shared] {
        assert_error(&one.get(&format!("/v1/webhooks/{}", id_of(other))).await, 404, "not_found");
        assert_error(&one.delete(&format!("/v1/webhooks/{}", id_of(other))).await, 404, "not_found");
    }
    // An owner cannot create for another.
    let r =
        one.post("/v1/webhooks", &json!({"url": "https://example.com/x", "events": ["*"], "owner": "acct_2"})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["owner"]);
    assert_eq!(count(&c).await, 3, "nothing written");
    // Owners are 1-128 visible characters.
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"], "owner": "a b"})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["owner"]);
}

#[tokio::test]
async fn an_event_for_one_owner_reaches_only_that_owners_webhooks() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let admin = server.client();
    workspace(&admin, "acme", "cust_1").await;
    let c = admin.in_workspace("cust_1");
    for (owner, path) in [(Some("acct_1"), "/one"), (Some("acct_2"), "/two"), (None, "/all")] {
        create(&c, &json!({"url": rx.url(path), "events": ["*"], "owner": owner})).await;
    }
    let r = admin.post("/v1/workspaces/cust_1/keys", &json!({"scopes": ["*"], "owner": "acct_2"})).await;
    let two = admin.with_key(r.data()["key"].as_str());
    // For acct_1 only; for everyone; and by acct_2's own key, which publishes for acct_2
    // whatever it asks.
    let e1 = c.post("/v1/events", &json!({"event": "order.paid", "data": {"n": 1}, "owner": "acct_1"})).await;
    e1.assert_status(202);
    assert_eq!((e1.data()["owner"].as_str(), e1.data()["deliveries"].as_i64()), (Some("acct_1"), Some(1)));
    publish(&c, "order.paid", json!({"n": 2})).await;
    let e3 = publish(&two, "order.paid", json!({"n": 3})).await;
    assert_eq!((e3["owner"].as_str(), e3["deliveries"].as_i64()), (Some("acct_2"), Some(1)));
    rx.wait_for(5, None, Duration::from_secs(10)).await;
    let ns = |path: &str| {
        let mut v: Vec<i64> = rx.received_on(path).iter().map(|m| m.json()["data"]["n"].as_i64().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!((ns("/one"), ns("/two"), ns("/all")), (vec![1, 2], vec![2, 3], vec![2]));
    // The event remembers whom it was for; a bad owner is named.
    let got = c.get(&format!("/v1/events/{}", id_of(e1.data()))).await;
    assert_eq!(got.data()["owner"], "acct_1");
    let r = c.post("/v1/events", &json!({"event": "order.paid", "data": {}, "owner": ""})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["owner"]);
}
