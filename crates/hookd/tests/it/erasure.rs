//! Erasing events' payloads: one at once, and in bulk in the background.

use std::time::Duration;

use hookd_core::domain::Scope;
use hookd_test_support::{eventually, Client, Reply, TestReceiver, TestServer};
use serde_json::{json, Value};

use crate::{assert_error, create, deliveries_until, delivering_server, id_of, publish};

async fn publish_for(c: &Client, owner: &str, n: i64) -> String {
    let r = c
        .post(
            "/v1/events",
            &json!({"event": "user.updated", "data": {"email": format!("{n}@example.com")}, "owner": owner}),
        )
        .await;
    r.assert_status(202);
    r.data()["id"].as_str().unwrap().to_owned()
}

async fn key(server: &TestServer, scopes: &[Scope], owner: Option<&str>) -> Client {
    let ws = server.admin.find_workspace("default").await.unwrap();
    let limits = hookd_core::service::KeyLimits { owner: owner.map(str::to_owned), expires_at: None };
    let k = server.admin.create_key(&ws.id, "test", scopes.to_vec(), false, limits).await.unwrap();
    server.client().with_key(Some(&k.token))
}

/// Polls an erasure until it has finished, and returns it.
async fn finished(c: &Client, id: &str) -> Value {
    eventually(Duration::from_secs(10), || async {
        let r = c.get(&format!("/v1/erasure/{id}")).await;
        r.assert_status(200);
        let e = r.data().clone();
        if e["status"] == "running" {
            Err(format!("still running: {e}"))
        } else {
            Ok(e)
        }
    })
    .await
}

#[tokio::test]
async fn erasing_a_payload_blanks_it_and_cancels_its_unsent_deliveries() {
    let server =
        delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_secs(3600)]).await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(500).body("rejected user 7@example.com"));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/h"), "events": ["*"]})).await;
    let evt = publish(&c, "user.updated", json!({"email": "7@example.com"})).await;
    let id = evt["id"].as_str().unwrap();
    let log =
        deliveries_until(&c, &id_of(&wh), "a retry waiting", |l| l.len() == 1 && l[0]["status"] == "pending").await;
    let delivery = format!("/v1/deliveries/{}", log[0]["id"].as_str().unwrap());
    assert!(c.get(&delivery).await.text.contains("7@example.com"), "the attempt log keeps the answer");
    let r = c.delete(&format!("/v1/events/{id}/payload")).await;
    r.assert_status(200);
    assert_eq!(r.data()["data"], Value::Null);
    assert!(r.data()["erased_at"].is_string(), "{}", r.text);
    let e = c.get(&format!("/v1/events/{id}")).await;
    assert_eq!((e.data()["data"].clone(), e.data()["erased_at"].is_string()), (Value::Null, true));
    let d = c.get(&delivery).await;
    assert_eq!(d.data()["status"], "cancelled");
    assert!(!d.text.contains("7@example.com"), "the receiver's answer echoed the payload: {}", d.text);
    // Again: nothing more to do, and the same answer.
    c.delete(&format!("/v1/events/{id}/payload")).await.assert_status(200);
    assert_error(&c.delete("/v1/events/evt_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b/payload").await, 404, "not_found");
    // A reader may not erase; an owner's key erases only its own events.
    let reader = key(&server, &[Scope::WebhooksRead], None).await;
    assert_error(&reader.delete(&format!("/v1/events/{id}/payload")).await, 403, "insufficient_scope");
    let theirs = publish_for(&c, "acct_2", 1).await;
    let mine = key(&server, &[Scope::EventsWrite, Scope::WebhooksRead], Some("acct_1")).await;
    assert_error(&mine.delete(&format!("/v1/events/{theirs}/payload")).await, 404, "not_found");
    assert!(c.get(&format!("/v1/events/{theirs}")).await.data()["erased_at"].is_null());
    assert_eq!(rx.received().len(), 1, "the cancelled retry is never sent");
    // The producer's own id names the event too.
    let r = c
        .post("/v1/events", &json!({"event": "user.updated", "data": {"email": "8@example.com"}, "id": "user-8-v2"}))
        .await;
    r.assert_status(202);
    assert_eq!(c.get("/v1/events/user-8-v2").await.data()["id"], r.data()["id"]);
    let erased = c.delete("/v1/events/user-8-v2/payload").await;
    assert_eq!((erased.data()["id"].clone(), erased.data()["data"].clone()), (r.data()["id"].clone(), Value::Null));
}

#[tokio::test]
async fn a_bulk_erasure_runs_in_the_background_and_reports_its_progress() {
    let server = TestServer::start().await;
    let c = server.client();
    let mut first = Vec::new();
    for n in 0..3 {
        first.push(publish_for(&c, "acct_1", n).await);
    }
    let kept = publish_for(&c, "acct_2", 9).await;
    let r = c.post("/v1/erasure", &json!({"owner": "acct_1"})).await;
    r.assert_status(202);
    let job = r.data().clone();
    assert_eq!((job["owner"].as_str(), job["total"].as_i64()), (Some("acct_1"), Some(3)), "{job}");
    assert!(job["id"].as_str().unwrap().starts_with("era_"));
    let done = finished(&c, job["id"].as_str().unwrap()).await;
    assert_eq!((done["status"].as_str(), done["erased"].as_i64()), (Some("succeeded"), Some(3)), "{done}");
    assert!(done["finished_at"].is_string());
    for id in &first {
        assert!(c.get(&format!("/v1/events/{id}")).await.data()["erased_at"].is_string(), "{id}");
    }
    assert_eq!(c.get(&format!("/v1/events/{kept}")).await.data()["data"]["email"], "9@example.com");
    // Only events from before: one published after `before` stays.
    let later = publish_for(&c, "acct_2", 10).await;
    let r = c.post("/v1/erasure", &json!({"owner": "acct_2", "before": "2020-01-01T00:00:00Z"})).await;
    assert_eq!(r.data()["total"], 0);
    assert_eq!(finished(&c, r.data()["id"].as_str().unwrap()).await["erased"], 0);
    // The whole workspace.
    let ws = server.admin.find_workspace("default").await.unwrap();
    let r = c.post("/v1/erasure", &json!({"workspace": ws.id})).await;
    r.assert_status(202);
    assert_eq!(r.data()["total"], 2, "what is left: {}", r.text);
    assert_eq!(finished(&c, r.data()["id"].as_str().unwrap()).await["erased"], 2);
    assert!(c.get(&format!("/v1/events/{later}")).await.data()["erased_at"].is_string());
}

#[tokio::test]
async fn erasure_requests_are_checked_and_kept_to_their_caller() {
    let server = TestServer::start().await;
    let c = server.client();
    let ws = server.admin.find_workspace("default").await.unwrap();
    for (body, field) in [
        (json!({}), "owner"),
        (json!({"before": "2026-01-01T00:00:00Z"}), "owner"),
        (json!({"owner": "acct_1", "before": "yesterday"}), "before"),
        (json!({"owner": ""}), "owner"),
    ] {
        let r = c.post("/v1/erasure", &body).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.body["error"]["details"][0]["field"], field, "{body}: {}", r.text);
    }
    // Another workspace than the one the key acts in is not there for it.
    let r = c.post("/v1/erasure", &json!({"workspace": "ws_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b"})).await;
    assert_error(&r, 404, "not_found");
    // An owner and a workspace: the owner's events in it.
    let r = c.post("/v1/erasure", &json!({"owner": "acct_3", "workspace": ws.id})).await;
    r.assert_status(202);
    assert_eq!(r.data()["owner"], "acct_3");
    // A key with an owner erases that owner's events alone, named or not.
    let mine = key(&server, &[Scope::EventsWrite], Some("acct_1")).await;
    assert_error(&mine.post("/v1/erasure", &json!({"owner": "acct_2"})).await, 404, "not_found");
    let r = mine.post("/v1/erasure", &json!({"workspace": ws.id})).await;
    r.assert_status(202);
    assert_eq!(r.data()["owner"], "acct_1", "{}", r.text);
    let own = mine.post("/v1/erasure", &json!({"owner": "acct_1"})).await;
    own.assert_status(202);
    let other = c.post("/v1/erasure", &json!({"owner": "acct_2"})).await;
    let other_id = other.data()["id"].as_str().unwrap();
    assert_error(&mine.get(&format!("/v1/erasure/{other_id}")).await, 404, "not_found");
    mine.get(&format!("/v1/erasure/{}", own.data()["id"].as_str().unwrap())).await.assert_status(200);
    assert_error(&c.get("/v1/erasure/era_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b").await, 404, "not_found");
    assert_error(&c.get("/v1/erasure/nonsense").await, 404, "not_found");
}
