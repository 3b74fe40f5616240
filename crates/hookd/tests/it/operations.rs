//! Operational webhooks: operators hear of disabled, failing and recovered webhooks and
//! of exhausted deliveries, signed and retried like any delivery.

use std::time::Duration;

use hookd_delivery::signing::{verify, VerifyKey};
use hookd_test_support::{eventually, Client, Received, Reply, TestReceiver};
use serde_json::{json, Value};

use crate::{assert_error, create, delivering_server, id_of, publish};

const WAIT: Duration = Duration::from_secs(10);
const OPS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The operational events received, each checked against `secret`, as (type, data).
fn events_of(got: &[Received], secret: &str) -> Vec<(String, Value)> {
    got.iter()
        .map(|r| {
            let headers: Vec<(String, String)> =
                r.headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            verify(&VerifyKey::Secret(secret.into()), &headers, &r.body, now, 300).expect("signed like any delivery");
            let body = r.json();
            (body["event"].as_str().unwrap().to_owned(), body["data"].clone())
        })
        .collect()
}

/// Waits until `rx` has received an operational event of `kind`, and returns its data.
async fn heard(rx: &TestReceiver, secret: &str, kind: &str) -> Value {
    eventually(WAIT, || async {
        let got = events_of(&rx.received(), secret);
        got.into_iter().find(|(t, _)| t == kind).map(|(_, d)| d).ok_or_else(|| format!("no {kind} yet"))
    })
    .await
}

async fn patch(c: &Client, webhook: &Value, body: Value) {
    c.patch(&format!("/v1/webhooks/{}", id_of(webhook)), &body).await.assert_status(200);
}

#[tokio::test]
async fn a_workspaces_operational_webhook_hears_of_failing_recovered_exhausted_and_disabled_webhooks() {
    let server = delivering_server(|c| c.delivery.failing_after = 2).await;
    let c = server.client();
    let ops = TestReceiver::start().await;
    let op = c
        .post(
            "/v1/webhooks",
            &json!({"url": ops.url("/ops"), "events": ["*"], "owner": "hookd:operations", "secret": OPS_SECRET}),
        )
        .await;
    op.assert_status(201);
    // Operational webhooks subscribe to operational events only.
    let r = c
        .post("/v1/webhooks", &json!({"url": ops.url("/x"), "events": ["order.paid"], "owner": "hookd:operations"}))
        .await;
    assert_error(&r, 422, "validation_error");
    assert!(r.text.contains("events[0]"), "{}", r.text);
    let rx = TestReceiver::start().await;
    let other = TestReceiver::start().await;
    let wh = create(&c, &json!({"url": rx.url("/shop"), "events": ["order.*"], "description": "the shop"})).await;
    let everything = create(&c, &json!({"url": other.url("/all"), "events": ["*"]})).await;
    // Three failed attempts: failing after the second, exhausted after the third.
    rx.set_default(Reply::status(500));
    publish(&c, "order.paid", json!({"n": 1})).await;
    let failing = heard(&ops, OPS_SECRET, "webhook.failing").await;
    assert_eq!(failing["webhook_id"], wh["id"]);
    assert_eq!((failing["failure_count"].as_i64(), failing["url"].as_str()), (Some(2), Some(rx.url("/shop").as_str())));
    assert_eq!(failing["description"], "the shop");
    let exhausted = heard(&ops, OPS_SECRET, "delivery.exhausted").await;
    assert_eq!((exhausted["attempts"].as_i64(), exhausted["last_status_code"].as_i64()), (Some(3), Some(500)));
    assert_eq!(exhausted["event_type"], "order.paid");
    assert!(exhausted["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    // A success ends the streak.
    rx.set_default(Reply::ok());
    publish(&c, "order.paid", json!({"n": 2})).await;
    assert_eq!(heard(&ops, OPS_SECRET, "webhook.recovered").await["webhook_id"], wh["id"]);
    // 410 disables it; so does a PATCH, which says so.
    rx.set_default(Reply::status(410));
    publish(&c, "order.paid", json!({"n": 3})).await;
    let disabled = heard(&ops, OPS_SECRET, "webhook.disabled").await;
    assert_eq!(
        (disabled["reason"].as_str(), disabled["webhook_id"].clone()),
        (Some("endpoint_gone"), wh["id"].clone())
    );
    patch(&c, &everything, json!({"enabled": false})).await;
    let by_hand = eventually(WAIT, || async {
        let got = events_of(&ops.received(), OPS_SECRET);
        got.into_iter()
            .find(|(t, d)| t == "webhook.disabled" && d["webhook_id"] == everything["id"])
            .map(|(_, d)| d)
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    assert_eq!(by_hand["reason"], "manual");
    // Each told once; no other webhook hears operational events, even one on `*`.
    let types: Vec<String> = events_of(&ops.received(), OPS_SECRET).into_iter().map(|(t, _)| t).collect();
    for t in ["webhook.failing", "delivery.exhausted", "webhook.recovered"] {
        assert_eq!(types.iter().filter(|x| *x == t).count(), 1, "{t} in {types:?}");
    }
    assert!(
        other.received().iter().all(|r| r.json()["event"] == "order.paid"),
        "a `*` webhook got an operational event"
    );
    assert_eq!(other.received().len(), 3);
    // Nobody publishes them but hookd.
    let r = c.post("/v1/events", &json!({"event": "webhook.disabled", "data": {}, "owner": "hookd:operations"})).await;
    assert_error(&r, 422, "validation_error");
    // Each counts in the metrics.
    let m = server.anonymous().get("/metrics").await;
    for line in [
        "hookd_operational_events_total{type=\"webhook.failing\"} 1",
        "hookd_operational_events_total{type=\"webhook.recovered\"} 1",
        "hookd_operational_events_total{type=\"delivery.exhausted\"} 1",
        "hookd_operational_events_total{type=\"webhook.disabled\"} 2",
    ] {
        assert!(m.text.lines().any(|l| l == line), "missing {line:?} in\n{}", m.text);
    }
}

#[tokio::test]
async fn the_deployments_operational_webhooks_hear_of_every_workspace_and_not_of_themselves() {
    let ops = TestReceiver::start().await;
    let url = ops.url("/deployment");
    let server = delivering_server(|c| {
        c.operational_webhooks = vec![hookd::config::OperationalWebhookConfig {
            url: url.clone(),
            secret: OPS_SECRET.into(),
            events: vec!["webhook.disabled".into()],
        }]
    })
    .await;
    let c = server.client();
    let rx = TestReceiver::start().await;
    let wh = create(&c, &json!({"url": rx.url("/a"), "events": ["*"]})).await;
    patch(&c, &wh, json!({"enabled": false})).await;
    let d = heard(&ops, OPS_SECRET, "webhook.disabled").await;
    let default = server.admin.find_workspace("default").await.unwrap();
    assert_eq!((d["workspace_id"].as_str(), d["reason"].as_str()), (Some(default.id.as_str()), Some("manual")));
    // They live in their own workspace, out of the others' way.
    assert_eq!(c.get("/v1/webhooks").await.data().as_array().unwrap().len(), 1);
    let ops_ws = server.admin.find_workspace("hookd-operations").await.unwrap();
    let in_ops = c.in_workspace(ops_ws.id.as_str());
    let hooks = in_ops.get("/v1/webhooks").await;
    assert_eq!(hooks.data().as_array().map(Vec::len), Some(1), "{}", hooks.text);
    let hook = hooks.data()[0].clone();
    assert_eq!((hook["owner"].as_str(), hook["url"].as_str()), (Some("hookd:operations"), Some(url.as_str())));
    // One that fails is not reported on (it would report itself).
    ops.set_default(Reply::status(410));
    patch(&c, &wh, json!({"enabled": true})).await;
    patch(&c, &wh, json!({"enabled": false})).await;
    eventually(WAIT, || async {
        if ops.received().len() >= 2 {
            Ok(())
        } else {
            Err("no second attempt".to_owned())
        }
    })
    .await;
    eventually(WAIT, || async {
        // The operational webhook is disabled by its own 410 …
        let h = in_ops.get(&format!("/v1/webhooks/{}", id_of(&hook))).await;
        if h.data()["enabled"] == false {
            Ok(())
        } else {
            Err("still enabled".to_owned())
        }
    })
    .await;
    // … and nothing was raised about it: alerts go out in order, so once a later one
    // (held, as its webhook is now disabled) is in the log, any about it would be too.
    patch(&c, &wh, json!({"enabled": true})).await;
    patch(&c, &wh, json!({"enabled": false})).await;
    let log = eventually(WAIT, || async {
        let l = in_ops.get(&format!("/v1/webhooks/{}/deliveries", id_of(&hook))).await.data().clone();
        let l = l.as_array().cloned().unwrap_or_default();
        if l.len() >= 3 {
            Ok(l)
        } else {
            Err(format!("{} deliveries", l.len()))
        }
    })
    .await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log.iter().filter(|d| d["status"] == "held").count(), 1);
    for d in &log {
        let event = in_ops.get(&format!("/v1/events/{}", d["event_id"].as_str().unwrap())).await;
        assert_eq!(event.data()["data"]["webhook_id"], wh["id"], "only about the other webhook");
    }
    assert_eq!(ops.received().len(), 2);
}
