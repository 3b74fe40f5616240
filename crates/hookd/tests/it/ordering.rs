//! Ordered delivery: a webhook with `"ordering": "per_key"` receives the events of one
//! `ordering_key` one at a time, in publish order, against real receivers on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::Duration;

use hookd_test_support::{eventually, on_postgres, Client, Received, Reply, TestReceiver, TestServer};
use serde_json::{json, Value};

use crate::{assert_error, create, deliveries_until, delivering_server, id_of};

/// What one key's receiver saw: each request's event number, answer and timing.
struct Seen {
    n: u64,
    status: u16,
    at: std::time::Instant,
    answered_at: Option<std::time::Instant>,
}

/// The requests received, by ordering key (`data.key`), in arrival order.
fn by_key(received: &[Received]) -> BTreeMap<String, Vec<Seen>> {
    let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    let mut sorted: Vec<&Received> = received.iter().collect();
    sorted.sort_by_key(|r| r.at);
    for r in sorted {
        let body = r.json();
        let Some(key) = body["data"]["key"].as_str() else { continue };
        out.entry(key.to_owned()).or_default().push(Seen {
            n: body["data"]["n"].as_u64().unwrap(),
            status: r.reply_status,
            at: r.at,
            answered_at: r.answered_at,
        });
    }
    out
}

/// Checks one key's requests: never two at once (each arrived after the previous was
/// answered), and in order: the same event again after a failure, or the next event
/// after a success (or, with `exhausted`, after the numbered event's last failure).
fn assert_in_order(key: &str, seen: &[Seen], exhausted: &[u64]) {
    for pair in seen.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        let answered = prev.answered_at.unwrap_or_else(|| panic!("{key}: #{} was never answered", prev.n));
        assert!(next.at >= answered, "{key}: #{} arrived while #{} was in flight", next.n, prev.n);
        let ok = (200..300).contains(&prev.status);
        let expected = if ok || exhausted.contains(&prev.n) && next.n != prev.n { prev.n + 1 } else { prev.n };
        assert_eq!(next.n, expected, "{key}: after #{} answered {}, #{} came", prev.n, prev.status, next.n);
    }
}

async fn publish_keyed(c: &Client, key: Option<&str>, n: u64) -> Value {
    let mut body = json!({"event": "order.paid", "data": {"key": key, "n": n}});
    if let Some(k) = key {
        body["ordering_key"] = json!(k);
    }
    let r = c.post("/v1/events", &body).await;
    r.assert_status(202);
    r.data().clone()
}

fn attempt_of(r: &Received) -> u32 {
    r.header("x-hookd-attempt").and_then(|a| a.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_key_arrives_one_at_a_time_in_order_and_a_failure_holds_back_only_its_key() {
    let step = Duration::from_millis(400);
    let server = delivering_server(|c| c.delivery.retry_schedule = vec![Duration::ZERO, step, step, step]).await;
    let rx = TestReceiver::start().await;
    let plain = TestReceiver::start().await;
    // a#2 fails twice, then succeeds; c#1 always fails, so its retries run out.
    rx.respond_with(|r| {
        let body = r.json();
        let (key, n) = (body["data"]["key"].as_str(), body["data"]["n"].as_u64());
        match (key, n) {
            (Some("a"), Some(2)) if attempt_of(r) <= 2 => Some(Reply::status(503)),
            (Some("c"), Some(1)) => Some(Reply::status(500)),
            _ => Some(Reply::ok().delay(Duration::from_millis(5))),
        }
    });
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/ordered"), "events": ["order.*"], "ordering": "per_key"})).await;
    assert_eq!(wh["ordering"], "per_key");
    // The same events to a webhook without ordering: nothing holds them.
    let unordered = create(&c, &json!({"url": plain.url("/plain"), "events": ["order.*"]})).await;
    assert_eq!(unordered["ordering"], "none");

    let first = publish_keyed(&c, Some("a"), 1).await;
    assert_eq!(first["ordering_key"], "a");
    assert_eq!(first["deliveries"], 2);
    for n in 2..=5 {
        publish_keyed(&c, Some("a"), n).await;
    }
    for n in 1..=5 {
        publish_keyed(&c, Some("b"), n).await;
    }
    for n in 1..=3 {
        publish_keyed(&c, Some("c"), n).await;
    }
    publish_keyed(&c, None, 1).await;
    // a: 5 + 2 failures; b: 5; c: 4 failed attempts of #1, then #2 and #3; one without a key.
    let expected = 7 + 5 + 6 + 1;
    eventually(Duration::from_secs(20), || async {
        let got = rx.received().len();
        if got >= expected {
            Ok(())
        } else {
            Err(format!("{got} of {expected} requests"))
        }
    })
    .await;
    let got = rx.received();
    assert_eq!(got.len(), expected, "nothing more arrives");
    let keys = by_key(&got);
    assert_in_order("a", &keys["a"], &[]);
    assert_in_order("b", &keys["b"], &[]);
    assert_in_order("c", &keys["c"], &[1]);
    let ns = |k: &str| keys[k].iter().map(|s| s.n).collect::<Vec<_>>();
    assert_eq!(ns("a"), [1, 2, 2, 2, 3, 4, 5]);
    assert_eq!(ns("b"), [1, 2, 3, 4, 5]);
    assert_eq!(ns("c"), [1, 1, 1, 1, 2, 3]);
    // b kept flowing while a#2 was retried: all of b was answered before a#2 succeeded.
    let a2_success = keys["a"].iter().find(|s| s.n == 2 && s.status == 200).unwrap().at;
    assert!(keys["b"].iter().all(|s| s.answered_at.unwrap() < a2_success), "b waited for a");
    // The webhook without ordering got every event once, without waiting for a retry.
    plain.wait_for(14, None, Duration::from_secs(10)).await;

    // The delivery log tells the story, once the last results are written: c#1 failed,
    // every other one succeeded.
    let log = deliveries_until(&c, &id_of(&wh), "13 succeeded and 1 failed", |l| {
        let count = |status: &str| l.iter().filter(|d| d["status"] == status).count();
        l.len() == 14 && count("succeeded") == 13 && count("failed") == 1
    })
    .await;
    let keys: Vec<&str> = log.iter().filter_map(|d| d["ordering_key"].as_str()).collect();
    assert_eq!(keys.len(), 13, "the delivery log shows each one's key, none for the event without");
}

#[tokio::test]
async fn ordering_is_validated_and_can_be_switched() {
    let server = delivering_server(|_| {}).await;
    let c = server.client();
    let r =
        c.post("/v1/webhooks", &json!({"url": "https://example.com/h", "events": ["*"], "ordering": "strict"})).await;
    assert_error(&r, 422, "validation_error");
    assert!(r.text.contains("ordering"), "{}", r.text);
    assert_eq!(crate::count(&c).await, 0, "nothing was created");

    let wh = create(&c, &json!({"url": "https://example.com/h", "events": ["*"]})).await;
    let id = id_of(&wh);
    let r = c.patch(&format!("/v1/webhooks/{id}"), &json!({"ordering": null})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["ordering"]);
    let r = c.patch(&format!("/v1/webhooks/{id}"), &json!({"ordering": "per_key"})).await;
    r.assert_status(200);
    assert_eq!(r.data()["ordering"], "per_key");
    assert_eq!(c.get(&format!("/v1/webhooks/{id}")).await.data()["ordering"], "per_key");

    for (key, why) in
        [(json!(""), "empty"), (json!("a\nb"), "a control character"), (json!("k".repeat(256)), "too long")]
    {
        let r = c.post("/v1/events", &json!({"event": "order.paid", "data": {}, "ordering_key": key})).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), ["ordering_key"], "{why}: {}", r.text);
    }
    let r = c
        .post(
            "/v1/events/batch",
            &json!({"events": [{"event": "order.paid", "data": {}, "ordering_key": "ok"},
                               {"event": "order.paid", "data": {}, "ordering_key": ""}]}),
        )
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["events[1].ordering_key"]);
    let ok = c.post("/v1/events", &json!({"event": "order.paid", "data": {}, "ordering_key": "ünïcode-ключ"})).await;
    ok.assert_status(202);
    let ev = c.get(&format!("/v1/events/{}", ok.data()["id"].as_str().unwrap())).await;
    assert_eq!(ev.data()["ordering_key"], "ünïcode-ключ");
}

/// A failing key's deliveries wait across a restart and then go in order.
#[tokio::test]
async fn order_holds_across_a_restart() {
    let schedule: Vec<Duration> =
        std::iter::once(Duration::ZERO).chain(std::iter::repeat_n(Duration::from_millis(200), 50)).collect();
    let server = delivering_server(|c| c.delivery.retry_schedule = schedule).await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(503));
    let c = server.client();
    create(&c, &json!({"url": rx.url("/r"), "events": ["*"], "ordering": "per_key"})).await;
    for key in ["x", "y"] {
        for n in 1..=4 {
            publish_keyed(&c, Some(key), n).await;
        }
    }
    // Each key's first is being retried; nothing behind it has been tried.
    rx.wait_for(4, None, Duration::from_secs(10)).await;
    let _server = server.restart().await;
    rx.set_default(Reply::ok());
    eventually(Duration::from_secs(20), || async {
        let keys = by_key(&rx.received());
        let done = |k: &str| keys.get(k).map_or(0, |s| s.iter().filter(|s| s.status == 200).count());
        if done("x") == 4 && done("y") == 4 {
            Ok(())
        } else {
            Err(format!("x {} of 4, y {} of 4 delivered", done("x"), done("y")))
        }
    })
    .await;
    let keys = by_key(&rx.received());
    for k in ["x", "y"] {
        assert_in_order(k, &keys[k], &[]);
        let first_ok = keys[k].iter().position(|s| s.status == 200).unwrap();
        assert!(keys[k][..first_ok].iter().all(|s| s.n == 1), "{k}: only #1 was tried before the restart");
    }
}

/// Three nodes on one PostgreSQL database claim each other's retries: each key still
/// arrives one at a time, in order.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn order_holds_across_nodes() {
    if !on_postgres() {
        return;
    }
    let config = |c: &mut hookd::config::Config| {
        c.allow_http = true;
        c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
        c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_millis(50), Duration::from_millis(50)];
        // The failures below come ten at a time (one per key); this test is about order,
        // not about the circuit breaker they would trip.
        c.delivery.breaker_threshold = 1_000;
    };
    let a = TestServer::builder().config(config).start().await;
    let b = TestServer::builder().database(a.database_url()).config(config).start().await;
    let n3 = TestServer::builder().database(a.database_url()).config(config).start().await;
    let key = a.first_key.clone().unwrap();
    let clients = [a.client(), b.client().with_key(Some(&key)), n3.client().with_key(Some(&key))];
    let rx = TestReceiver::start().await;
    // One event in four fails its first attempt; its retry may go from any node.
    rx.respond_with(|r| {
        let n = r.json()["data"]["n"].as_u64().unwrap_or(1);
        Some(if n % 4 == 0 && attempt_of(r) == 1 {
            Reply::status(500)
        } else {
            Reply::ok().delay(Duration::from_millis(3))
        })
    });
    create(&clients[0], &json!({"url": rx.url("/nodes"), "events": ["*"], "ordering": "per_key"})).await;
    // Published in turn through each node, each publish answered before the next.
    let keys: Vec<String> = (0..10).map(|k| format!("k{k}")).collect();
    for n in 1..=12u64 {
        for (i, k) in keys.iter().enumerate() {
            let events: Vec<Value> =
                vec![json!({"event": "order.paid", "ordering_key": k, "data": {"key": k, "n": n}})];
            let r = clients[(n as usize + i) % 3].post("/v1/events/batch", &json!({ "events": events })).await;
            r.assert_status(202);
        }
    }
    eventually(Duration::from_secs(60), || async {
        let seen = by_key(&rx.received());
        let done: usize = seen.values().map(|s| s.iter().filter(|s| s.status == 200).count()).sum();
        if done == 120 {
            Ok(())
        } else {
            Err(format!("{done} of 120 delivered"))
        }
    })
    .await;
    let seen = by_key(&rx.received());
    for k in &keys {
        assert_in_order(k, &seen[k], &[]);
        assert_eq!(seen[k].iter().filter(|s| s.status == 200).count(), 12, "{k}");
    }
}
