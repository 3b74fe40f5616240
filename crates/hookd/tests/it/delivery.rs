//! Publishing and delivering: signatures, fan-out, retries, Retry-After, 410, redirects,
//! truncation, timeouts, replay, retry, test pings and producer-id idempotency, all
//! against real receivers on 127.0.0.1.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hookd_test_support::{eventually, Reply, TestReceiver};
use serde_json::json;
use sha2::Sha256;

use crate::{assert_error, create, deliveries_until, delivering_server, id_of, publish};

const WAIT: Duration = Duration::from_secs(10);

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().to_vec()
}

#[tokio::test]
async fn a_published_event_arrives_signed_both_ways() {
    let server = delivering_server(|c| c.delivery.signature_header = "X-XQR-Signature".into()).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/hook"), "events": ["link.created"]})).await;
    let secret = wh["signing_secret"].as_str().unwrap().to_owned();

    let r = c.post_raw("/v1/events", r#"{"event": "link.created", "data": {"short_code": "abc", "n": 1.50}}"#).await;
    r.assert_status(202);
    let evt = r.data().clone();
    assert!(evt["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(evt["deliveries"], 1);
    assert_eq!(evt["event"], "link.created");

    let got = rx.wait_for(1, Some("/hook"), WAIT).await;
    let req = &got[0];
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("hookd/"));
    assert_eq!(req.header("x-hookd-event"), Some("link.created"));
    assert!(req.header("x-hookd-delivery").unwrap().starts_with("dlv_"));
    assert_eq!(req.header("webhook-id"), evt["id"].as_str());
    let body = req.json();
    assert_eq!(body["id"], evt["id"]);
    assert_eq!(body["event"], "link.created");
    assert_eq!(body["created_at"], evt["created_at"]);
    assert_eq!(body["data"], json!({"short_code": "abc", "n": 1.50}));
    let raw = std::str::from_utf8(&req.body).unwrap();
    assert!(raw.ends_with(r#""data":{"short_code": "abc", "n": 1.50}}"#), "data is delivered byte for byte: {raw}");

    // The seed handler's check: "sha256=" + hex(HMAC-SHA256(secret string, raw body)).
    let expected = format!("sha256={}", hex::encode(hmac(secret.as_bytes(), &[&req.body])));
    assert_eq!(req.header("x-xqr-signature"), Some(expected.as_str()));
    // Standard Webhooks: v1,base64(HMAC(base64-decoded whsec_ key, "id.timestamp.body")).
    let ts = req.header("webhook-timestamp").unwrap();
    let age = time::OffsetDateTime::now_utc().unix_timestamp() - ts.parse::<i64>().unwrap();
    assert!((0..30).contains(&age), "timestamp {ts}");
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let sig =
        STANDARD.encode(hmac(&key, &[evt["id"].as_str().unwrap().as_bytes(), b".", ts.as_bytes(), b".", &req.body]));
    assert_eq!(req.header("webhook-signature"), Some(format!("v1,{sig}").as_str()));

    // The log and the event.
    let list = deliveries_until(&c, &id_of(&wh), "a success", |l| l.len() == 1 && l[0]["status"] == "succeeded").await;
    let d = c.get(&format!("/v1/deliveries/{}", list[0]["id"].as_str().unwrap())).await;
    d.assert_status(200);
    assert_eq!(d.data()["attempt_count"], 1);
    assert_eq!(d.data()["attempts"][0]["status_code"], 200);
    assert_eq!(d.data()["attempts"][0]["error_kind"], json!(null));
    let e = c.get(&format!("/v1/events/{}", evt["id"].as_str().unwrap())).await;
    e.assert_status(200);
    assert_eq!(e.data()["data"], json!({"short_code": "abc", "n": 1.50}));
    let got = c.get(&format!("/v1/webhooks/{}", id_of(&wh))).await;
    assert_eq!(got.data()["delivery_attempts"], 1);
    assert!(got.data()["last_delivered_at"].is_string());
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_the_body_hmac_uses_the_new_one() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/r"), "events": ["*"], "secret": "old-secret-value-1234"})).await;
    let r = c
        .post(&format!("/v1/webhooks/{}/secret/rotate", id_of(&wh)), &json!({"secret": "new-secret-value-5678"}))
        .await;
    r.assert_status(200);
    publish(&c, "order.paid", json!({})).await;
    let req = rx.wait_for(1, None, WAIT).await.remove(0);
    let ts = req.header("webhook-timestamp").unwrap();
    let id = req.header("webhook-id").unwrap();
    let sig = |k: &str| {
        format!("v1,{}", STANDARD.encode(hmac(k.as_bytes(), &[id.as_bytes(), b".", ts.as_bytes(), b".", &req.body])))
    };
    assert_eq!(
        req.header("webhook-signature").unwrap(),
        format!("{} {}", sig("new-secret-value-5678"), sig("old-secret-value-1234"))
    );
    let body_sig = format!("sha256={}", hex::encode(hmac(b"new-secret-value-5678", &[&req.body])));
    assert_eq!(req.header("x-hookd-signature"), Some(body_sig.as_str()));
}

#[tokio::test]
async fn fan_out_matches_exact_names_star_and_prefix_wildcards_and_skips_disabled() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    for (path, events) in [
        ("/exact", json!(["link.created"])),
        ("/star", json!(["*"])),
        ("/prefix", json!(["link.*"])),
        ("/other", json!(["bio.published"])),
    ] {
        create(&c, &json!({"url": rx.url(path), "events": events})).await;
    }
    let off = create(&c, &json!({"url": rx.url("/disabled"), "events": ["*"], "enabled": false})).await;
    assert_eq!(off["enabled"], false);
    let evt = publish(&c, "link.created", json!({"k": 1})).await;
    assert_eq!(evt["deliveries"], 4, "three sent and one held for the disabled webhook");
    publish(&c, "bio.published", json!({})).await;
    rx.wait_for(5, None, WAIT).await;
    for (path, n) in [("/exact", 1), ("/star", 2), ("/prefix", 1), ("/other", 1), ("/disabled", 0)] {
        assert_eq!(rx.received_on(path).len(), n, "{path}");
    }
}

#[tokio::test]
async fn a_producer_id_publishes_once() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/p"), "events": ["*"]})).await;
    let body = json!({"event": "order.paid", "data": {"n": 1}, "id": "order-42-paid"});
    let first = c.post("/v1/events", &body).await;
    first.assert_status(202);
    let again = c.post("/v1/events", &body).await;
    again.assert_status(200);
    assert_eq!(again.data()["id"], first.data()["id"]);
    assert_eq!(again.data()["producer_id"], "order-42-paid");
    // A batch repeating it, with a new one.
    let batch = json!({"events": [body, {"event": "order.paid", "data": {"n": 2}, "id": "order-43-paid"}]});
    let r = c.post("/v1/events/batch", &batch).await;
    r.assert_status(202);
    assert_eq!(r.data()[0]["id"], first.data()["id"]);
    deliveries_until(&c, &id_of(&wh), "two deliveries", |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(rx.received().len(), 2);
}

#[tokio::test]
async fn publishing_rules() {
    let server = TestServer::builder().config(crate::xqr_catalog).start().await;
    let c = server.client();
    for (body, field) in [
        (json!({"data": {}}), "event"),
        (json!({"event": "link.created"}), "data"),
        (json!({"event": "nope.nope", "data": {}}), "event"),
        (json!({"event": "link.created", "data": {}, "occurred_at": "yesterday"}), "occurred_at"),
        (json!({"event": "link.created", "data": {}, "id": ""}), "id"),
        (json!({"event": "link.created", "data": {}, "extra": 1}), "extra"),
    ] {
        let r = c.post("/v1/events", &body).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), [field], "{body}");
    }
    // null is a JSON value like any other.
    c.post("/v1/events", &json!({"event": "link.created", "data": null})).await.assert_status(202);
    let big = json!({"event": "link.created", "data": {"blob": "x".repeat(256 * 1024)}});
    assert_error(&c.post("/v1/events", &big).await, 413, "payload_too_large");
    let r =
        c.post("/v1/events/batch", &json!({"events": [{"event": "link.created", "data": 1}, {"event": "bad"}]})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["events[1].event", "events[1].data"]);
    let r = c.post("/v1/events/batch", &json!({"events": []})).await;
    assert_eq!(r.error_fields(), ["events"]);
    // A webhooks-only key may not publish.
    let ws = server.admin.find_workspace("default").await.unwrap();
    let k = server
        .admin
        .create_key(&ws.id, "w", vec![hookd_core::domain::Scope::WebhooksWrite], false, Default::default())
        .await
        .unwrap();
    let r = c.with_key(Some(&k.token)).post("/v1/events", &json!({"event": "link.created", "data": {}})).await;
    assert_error(&r, 403, "insufficient_scope");
}

use hookd_test_support::TestServer;

#[tokio::test]
async fn a_failing_receiver_is_retried_until_it_succeeds() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::status(500).body("boom"), Reply::status(503)]);
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/flaky"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let list =
        deliveries_until(&c, &id_of(&wh), "success after retries", |l| l.len() == 1 && l[0]["status"] == "succeeded")
            .await;
    assert_eq!(rx.received().len(), 3);
    // Each retry says which attempt it is, so a receiver can tell it from a duplicate.
    let received = rx.received();
    let numbers: Vec<Option<&str>> = received.iter().map(|r| r.header("x-hookd-attempt")).collect();
    assert_eq!(numbers, [Some("1"), Some("2"), Some("3")]);
    let d = c.get(&format!("/v1/deliveries/{}", list[0]["id"].as_str().unwrap())).await;
    let attempts = d.data()["attempts"].as_array().unwrap().clone();
    assert_eq!(
        attempts.iter().map(|a| a["status_code"].clone()).collect::<Vec<_>>(),
        [json!(500), json!(503), json!(200)]
    );
    assert_eq!(attempts[0]["response"], "boom");
    assert_eq!(attempts[0]["error_kind"], "http_status");
    let w = c.get(&format!("/v1/webhooks/{}", id_of(&wh))).await;
    assert_eq!(w.data()["failure_count"], 0, "a success resets the consecutive failures");
    assert_eq!(w.data()["delivery_attempts"], 3);
}

#[tokio::test]
async fn the_schedule_runs_out_and_the_delivery_fails() {
    let server =
        delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_millis(20)]).await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(500));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/down"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let list = deliveries_until(&c, &id_of(&wh), "failure", |l| l.len() == 1 && l[0]["status"] == "failed").await;
    assert_eq!(list[0]["attempt_count"], 2);
    assert_eq!(rx.received().len(), 2);
    let w = c.get(&format!("/v1/webhooks/{}", id_of(&wh))).await;
    assert_eq!(w.data()["failure_count"], 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = delivering_server(|c| {
        c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_millis(10), Duration::from_secs(5)]
    })
    .await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::status(429).header("retry-after", "1")]);
    let c = server.client();
    create(&c, &json!({"url": rx.url("/busy"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let got = rx.wait_for(2, None, WAIT).await;
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(950), "the second attempt came {gap:?} after a Retry-After of 1 s");
}

#[tokio::test]
async fn gone_disables_the_webhook_and_holds_its_deliveries_until_it_is_re_enabled() {
    let server =
        delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_secs(3600)]).await;
    let rx = TestReceiver::start().await;
    rx.script([Reply::status(500)]);
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/gone"), "events": ["*"]})).await;
    let path = format!("/v1/webhooks/{}", id_of(&wh));
    // The first fails and waits an hour; the second gets 410.
    publish(&c, "order.paid", json!({"n": 1})).await;
    deliveries_until(&c, &id_of(&wh), "a retry scheduled", |l| l.len() == 1 && l[0]["status"] == "pending").await;
    rx.set_default(Reply::status(410));
    publish(&c, "order.paid", json!({"n": 2})).await;
    deliveries_until(&c, &id_of(&wh), "410 handled", |l| {
        l.len() == 2 && l.iter().any(|d| d["status"] == "failed") && l.iter().any(|d| d["status"] == "held")
    })
    .await;
    let w = c.get(&path).await;
    assert_eq!(w.data()["enabled"], false);
    assert_eq!(w.data()["disabled_reason"], "endpoint_gone");
    // Events published while it is disabled are held for it, not sent.
    let evt = publish(&c, "order.paid", json!({"n": 3})).await;
    assert_eq!(evt["deliveries"], 1);
    let held = c.get(&format!("{path}/deliveries?status=held")).await;
    assert_eq!(held.data().as_array().unwrap().len(), 2, "{}", held.text);
    // `deliver_held` says what re-enabling does; alone it changes nothing.
    let r = c.patch(&path, &json!({"deliver_held": true})).await;
    assert_eq!(r.data()["enabled"], false, "{}", r.text);
    let held = c.get(&format!("{path}/deliveries?status=held")).await;
    assert_eq!(held.data().as_array().unwrap().len(), 2, "{}", held.text);
    // Re-enabling with it resets the failure count and delivers what was held.
    rx.set_default(Reply::ok());
    let r = c.patch(&path, &json!({"enabled": true, "deliver_held": true})).await;
    assert_eq!(r.data()["failure_count"], 0);
    assert_eq!(r.data()["disabled_reason"], json!(null));
    let got = rx.wait_for(4, None, WAIT).await;
    let mut ns: Vec<i64> = got[2..].iter().map(|r| r.json()["data"]["n"].as_i64().unwrap()).collect();
    ns.sort();
    assert_eq!(ns, [1, 3], "the held deliveries, after the first attempts of 1 and 2");
    deliveries_until(&c, &id_of(&wh), "held ones delivered", |l| {
        l.iter().filter(|d| d["status"] == "succeeded").count() == 2
    })
    .await;
    assert_eq!(publish(&c, "order.paid", json!({"n": 4})).await["deliveries"], 1);
    rx.wait_for(5, None, WAIT).await;
}

#[tokio::test]
async fn re_enabling_without_deliver_held_cancels_what_was_held() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/paused"), "events": ["*"]})).await;
    let path = format!("/v1/webhooks/{}", id_of(&wh));
    c.patch(&path, &json!({"enabled": false})).await.assert_status(200);
    assert_eq!(publish(&c, "order.paid", json!({"n": 1})).await["deliveries"], 1);
    deliveries_until(&c, &id_of(&wh), "held", |l| l.len() == 1 && l[0]["status"] == "held").await;
    c.patch(&path, &json!({"enabled": true})).await.assert_status(200);
    deliveries_until(&c, &id_of(&wh), "cancelled", |l| l.len() == 1 && l[0]["status"] == "cancelled").await;
    publish(&c, "order.paid", json!({"n": 2})).await;
    let got = rx.wait_for(1, None, WAIT).await;
    assert_eq!(got[0].json()["data"]["n"], 2, "only what was published after");
    deliveries_until(&c, &id_of(&wh), "sent", |l| l.iter().any(|d| d["status"] == "succeeded")).await;
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO]).await;
    let rx = TestReceiver::start().await;
    let elsewhere = TestReceiver::start().await;
    rx.set_default(Reply::status(302).header("location", &elsewhere.url("/x")));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/moved"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let list = deliveries_until(&c, &id_of(&wh), "failure", |l| l.len() == 1 && l[0]["status"] == "failed").await;
    let d = c.get(&format!("/v1/deliveries/{}", list[0]["id"].as_str().unwrap())).await;
    assert_eq!(d.data()["attempts"][0]["status_code"], 302);
    assert_eq!(d.data()["attempts"][0]["error_kind"], "redirect");
    assert!(elsewhere.received().is_empty());
}

#[tokio::test]
async fn a_large_response_is_cut_to_four_kibibytes() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::ok().body("y".repeat(200 * 1024)));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/chatty"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let list = deliveries_until(&c, &id_of(&wh), "success", |l| l.len() == 1 && l[0]["status"] == "succeeded").await;
    let d = c.get(&format!("/v1/deliveries/{}", list[0]["id"].as_str().unwrap())).await;
    assert_eq!(d.data()["attempts"][0]["response"].as_str().unwrap().len(), 4096);
}

#[tokio::test]
async fn a_hanging_receiver_times_out() {
    let server = delivering_server(|c| {
        c.delivery.attempt_timeout = Duration::from_millis(300);
        c.delivery.retry_schedule = vec![Duration::ZERO];
    })
    .await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::hang());
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/hang"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    let list = deliveries_until(&c, &id_of(&wh), "timeout", |l| l.len() == 1 && l[0]["status"] == "failed").await;
    let d = c.get(&format!("/v1/deliveries/{}", list[0]["id"].as_str().unwrap())).await;
    let a = &d.data()["attempts"][0];
    assert_eq!(a["error_kind"], "timeout");
    let ms = a["duration_ms"].as_i64().unwrap();
    assert!((250..5000).contains(&ms), "{ms} ms");
}

#[tokio::test]
async fn retry_and_replay_send_again() {
    let server = delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO]).await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(500));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/later"), "events": ["*"]})).await;
    let since = time::OffsetDateTime::now_utc() - Duration::from_secs(5);
    for n in 0..3 {
        publish(&c, "order.paid", json!({"n": n})).await;
    }
    let list = deliveries_until(&c, &id_of(&wh), "three failures", |l| {
        l.len() == 3 && l.iter().all(|d| d["status"] == "failed")
    })
    .await;
    rx.set_default(Reply::ok());

    let one = list[0]["id"].as_str().unwrap();
    let r = c.post_raw(&format!("/v1/deliveries/{one}/retry"), "").await;
    r.assert_status(202);
    eventually(WAIT, || async {
        let d = c.get(&format!("/v1/deliveries/{one}")).await;
        if d.data()["status"] == "succeeded" {
            Ok(())
        } else {
            Err(d.text)
        }
    })
    .await;

    let since = since.format(&time::format_description::well_known::Rfc3339).unwrap();
    let r = c.post(&format!("/v1/webhooks/{}/replay", id_of(&wh)), &json!({"since": since})).await;
    r.assert_status(202);
    assert_eq!(r.data()["queued"], 2, "only the two still failed");
    deliveries_until(&c, &id_of(&wh), "all succeeded", |l| l.iter().all(|d| d["status"] == "succeeded")).await;
    assert_eq!(rx.received().len(), 6);
    let r = c.post(&format!("/v1/webhooks/{}/replay", id_of(&wh)), &json!({"since": since, "status": "all"})).await;
    assert_eq!(r.data()["queued"], 3);
    rx.wait_for(9, None, WAIT).await;

    let r = c.post(&format!("/v1/webhooks/{}/replay", id_of(&wh)), &json!({"status": "some"})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["since", "status"]);
}

#[tokio::test]
async fn a_test_ping_answers_with_the_attempt() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/ping"), "events": ["link.created"]})).await;
    let r = c.post_raw(&format!("/v1/webhooks/{}/test", id_of(&wh)), "").await;
    r.assert_status(200);
    assert_eq!(r.data()["success"], true);
    assert_eq!(r.data()["status_code"], 200);
    let got = rx.received();
    assert_eq!(got.len(), 1, "sent before the answer");
    assert_eq!(got[0].json()["event"], "test.ping");
    rx.set_default(Reply::status(500).body("nope"));
    let r = c.post_raw(&format!("/v1/webhooks/{}/test", id_of(&wh)), "").await;
    assert_eq!(r.data()["success"], false);
    assert_eq!(r.data()["status_code"], 500);
    assert_eq!(r.data()["response"], "nope");
    let list = c.get(&format!("/v1/webhooks/{}/deliveries?event=test.ping", id_of(&wh))).await;
    assert_eq!(list.data().as_array().unwrap().len(), 2, "test pings are in the log");
    let failed = c.get(&format!("/v1/webhooks/{}/deliveries?status=failed", id_of(&wh))).await;
    assert_eq!(failed.data().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_metrics_count_what_happened() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/m"), "events": ["*"]})).await;
    publish(&c, "order.paid", json!({})).await;
    deliveries_until(&c, &id_of(&wh), "success", |l| l.len() == 1 && l[0]["status"] == "succeeded").await;
    let m = server.anonymous().get("/metrics").await;
    m.assert_status(200);
    for line in [
        "hookd_events_published_total 1",
        "hookd_deliveries_total{outcome=\"succeeded\"} 1",
        "hookd_attempts_total{result=\"success\"} 1",
        "hookd_attempt_duration_seconds_count 1",
        "hookd_queue_depth 0",
        "hookd_in_flight 0",
        "hookd_open_circuits 0",
    ] {
        assert!(m.text.lines().any(|l| l == line), "missing {line:?} in\n{}", m.text);
    }
}
