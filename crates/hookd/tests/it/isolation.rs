//! Isolation and safety: a hanging neighbour, the SSRF guard, the circuit breaker,
//! per-webhook rate limits, and a crash (`kill -9`) mid-stream.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use hookd_test_support::{eventually, HookdProcess, Reply, TestReceiver};
use serde_json::json;

use crate::{create, deliveries_until, delivering_server, id_of, publish};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn a_hanging_neighbour_does_not_delay_a_healthy_endpoint() {
    let server = delivering_server(|c| c.delivery.attempt_timeout = Duration::from_secs(30)).await;
    let hanging = TestReceiver::start().await;
    hanging.set_default(Reply::hang());
    let healthy = TestReceiver::start().await;
    let c = server.client();
    create(&c, &json!({"url": hanging.url("/stuck"), "events": ["*"]})).await;
    create(&c, &json!({"url": healthy.url("/fine"), "events": ["*"]})).await;
    for n in 0..40 {
        publish(&c, "order.paid", json!({"n": n})).await;
    }
    // Were the healthy endpoint's deliveries waiting behind the hanging ones, they would
    // come only after the 30 s attempt timeout: a deadline well under it is a bound the
    // engine controls, not the machine's speed.
    healthy.wait_for(40, None, Duration::from_secs(20)).await;
    // The hanging endpoint holds only its own slots.
    assert!(hanging.received().len() <= 4, "{} attempts in flight to the hanging endpoint", hanging.received().len());
}

#[tokio::test]
async fn non_public_webhook_urls_are_refused_by_default() {
    // Plain http allowed, but no private ranges.
    let server = hookd_test_support::TestServer::builder().config(|c| c.allow_http = true).start().await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let port = rx.addr.port();
    // A literal non-public address is refused when it is registered, in any spelling.
    for url in [
        format!("http://127.0.0.1:{port}/a"),
        format!("http://2130706433:{port}/c"),
        format!("http://0x7f.1:{port}/d"),
        format!("http://[::ffff:127.0.0.1]:{port}/e"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[::1]/".to_owned(),
        format!("http://localhost:{port}/b"),
        "https://metadata.google.internal/computeMetadata/v1/".to_owned(),
    ] {
        let r = c.post("/v1/webhooks", &json!({"url": url, "events": ["*"]})).await;
        crate::assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), vec!["url"], "{url}: {}", r.text);
        assert!(r.text.contains("allow_private_cidrs"), "says what to do: {}", r.text);
    }
    assert_eq!(crate::count(&c).await, 0);
    // Names are checked on every address they resolve to at connect time (ssrf.rs and
    // the resolver's unit tests); names that can only be internal already here.
    assert!(rx.received().is_empty(), "no connection reached the listener");
}

#[tokio::test]
async fn an_open_circuit_holds_deliveries_and_a_probe_closes_it() {
    let server = delivering_server(|c| {
        c.delivery.breaker_threshold = 3;
        c.delivery.breaker_cooldown = Duration::from_millis(400);
        c.delivery.max_in_flight_per_webhook = 1;
        c.delivery.retry_schedule = vec![
            Duration::ZERO,
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_millis(10),
        ];
    })
    .await;
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::status(500));
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/fragile"), "events": ["*"]})).await;
    for n in 0..5 {
        publish(&c, "order.paid", json!({"n": n})).await;
    }
    // Three failures open the circuit.
    rx.wait_for(3, None, WAIT).await;
    let m = eventually(WAIT, || async {
        let m = server.anonymous().get("/metrics").await;
        if m.text.lines().any(|l| l == "hookd_open_circuits 1") {
            Ok(m.text)
        } else {
            Err(m.text)
        }
    })
    .await;
    assert!(m.contains("hookd_open_circuits 1"));
    let at_open = rx.received().len();
    // Events published while the circuit is open are stored, not held in memory: the
    // queue keeps only a few for the probes.
    let r = c
        .post(
            "/v1/events/batch",
            &json!({"events": (0..40).map(|n| json!({"event": "order.paid", "data": {"late": n}})).collect::<Vec<_>>()}),
        )
        .await;
    r.assert_status(202);
    let depth = server.anonymous().get("/metrics").await;
    let queued: f64 = depth
        .text
        .lines()
        .find_map(|l| l.strip_prefix("hookd_queue_depth "))
        .and_then(|v| v.parse().ok())
        .expect("hookd_queue_depth");
    assert!(queued <= 16.0, "{queued} deliveries held in memory behind an open circuit");
    // While open, nothing is sent until the cooldown passes; then one probe at a time.
    rx.set_default(Reply::ok());
    let all = deliveries_until(&c, &id_of(&wh), "all delivered after the circuit closed", |l| {
        l.len() == 45 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(all.len(), 45);
    // Each event reached the receiver once, however it waited.
    let ok: Vec<String> = rx
        .received()
        .iter()
        .filter(|m| m.reply_status == 200)
        .map(|m| m.header("webhook-id").unwrap().to_owned())
        .collect();
    let unique: HashSet<_> = ok.iter().collect();
    assert_eq!((ok.len(), unique.len()), (45, 45));
    let got = rx.received();
    // Without the breaker, 5 deliveries x 6 attempts would have gone out by now.
    assert!(at_open <= 6, "{at_open} attempts before the circuit opened");
    let first_probe = got[at_open..].first().expect("a probe").at;
    assert!(first_probe - got[2].at >= Duration::from_millis(350), "the probe waited for the cooldown");
}

#[tokio::test]
async fn a_webhook_rate_limit_spaces_its_deliveries() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/slow"), "events": ["*"], "rate_limit": 5})).await;
    assert_eq!(wh["rate_limit"], 5);
    // Warm the route cache so the limit applies from the first delivery.
    publish(&c, "order.paid", json!({"warm": true})).await;
    rx.wait_for(1, None, WAIT).await;
    let r = c
        .post(
            "/v1/events/batch",
            &json!({"events": (0..10).map(|n| json!({"event": "order.paid", "data": {"n": n}})).collect::<Vec<_>>()}),
        )
        .await;
    r.assert_status(202);
    let got = rx.wait_for(11, None, WAIT).await;
    let span = got[10].at - got[1].at;
    assert!(span >= Duration::from_millis(1500), "10 deliveries at 5/s took only {span:?}");
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"rate_limit": null})).await;
    assert_eq!(r.data()["rate_limit"], json!(null));
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"rate_limit": 0})).await;
    assert_eq!(r.error_fields(), ["rate_limit"]);
}

#[tokio::test]
async fn kill_9_loses_nothing_that_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_hookd"));
    let rx = TestReceiver::start().await;
    // Slow enough that 300 deliveries (at most 4 at a time: at least 7.5 s) cannot all be
    // made while the 300 events are published, so the kill interrupts them.
    rx.set_default(Reply::ok().delay(Duration::from_millis(100)));
    let env = [
        ("HOOKD_DELIVERY__RETRY_SCHEDULE", "[\"0s\", \"100ms\"]"),
        ("HOOKD_DELIVERY__MAX_IN_FLIGHT_PER_WEBHOOK", "4"),
        ("HOOKD_LOG_LEVEL", "warn"),
    ];
    let mut p = HookdProcess::serve(bin, dir.path(), &["--dev"], &env).await;
    let key = p.first_key().unwrap();
    let c = p.client(Some(key.clone()));
    create(&c, &json!({"url": rx.url("/k"), "events": ["*"]})).await;
    let mut accepted = HashSet::new();
    for n in 0..300 {
        let r = c.post("/v1/events", &json!({"event": "order.paid", "data": {"n": n}})).await;
        r.assert_status(202);
        accepted.insert(r.data()["id"].as_str().unwrap().to_owned());
    }
    p.kill9().await;
    let before = rx.received().len();
    assert!(before < 300, "the crash should interrupt delivery ({before} already delivered)");

    let p2 = HookdProcess::serve(bin, dir.path(), &["--dev"], &env).await;
    eventually(Duration::from_secs(30), || async {
        let ids: HashSet<String> =
            rx.received().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
        if accepted.is_subset(&ids) {
            Ok(())
        } else {
            Err(format!("{} of 300 delivered", accepted.intersection(&ids).count()))
        }
    })
    .await;
    let total = rx.received().len();
    println!("kill -9: accepted 300, delivered 300, duplicates {}", total - 300);
    drop(p2);
}

#[tokio::test]
async fn sigterm_lets_attempts_in_flight_finish_and_releases_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_hookd"));
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::ok().delay(Duration::from_millis(800)));
    let env = [("HOOKD_DELIVERY__MAX_IN_FLIGHT_PER_WEBHOOK", "1"), ("HOOKD_LOG_LEVEL", "warn")];
    let mut p = HookdProcess::serve(bin, dir.path(), &["--dev"], &env).await;
    let key = p.first_key().unwrap();
    let c = p.client(Some(key.clone()));
    let wh = create(&c, &json!({"url": rx.url("/slow"), "events": ["*"]})).await;
    for n in 0..3 {
        publish(&c, "order.paid", json!({"n": n})).await;
    }
    // One attempt is in flight (one at a time), two are queued.
    rx.wait_for(1, None, WAIT).await;
    let status = p.terminate().await;
    assert!(status.success(), "{status:?}");
    assert_eq!(rx.received().len(), 1, "no new attempt starts after SIGTERM");

    // The attempt in flight finished and was recorded; the queued two were released
    // and go out after a restart, and the finished one is not sent again.
    let p2 = HookdProcess::serve(bin, dir.path(), &["--dev"], &env).await;
    let c = p2.client(Some(key));
    let list = deliveries_until(&c, &id_of(&wh), "all three delivered", |l| {
        l.len() == 3 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(list.len(), 3);
    assert_eq!(rx.received().len(), 3, "exactly one attempt per delivery");
}

/// A webhook's learned concurrency limit, from `/metrics`.
async fn concurrency_limit(server: &hookd_test_support::TestServer, webhook: &str) -> Option<u64> {
    let m = server.anonymous().get("/metrics").await.text;
    m.lines()
        .find(|l| l.starts_with("hookd_webhook_concurrency_limit{") && l.contains(webhook))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn concurrency_grows_for_a_willing_endpoint_and_shrinks_on_429() {
    let server = delivering_server(|c| {
        c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_secs(60)];
    })
    .await;
    let c = server.client();
    // A steady endpoint taking 50 ms an answer: the limit doubles each round trip from 4
    // while it is in use.
    let steady = TestReceiver::start().await;
    steady.set_default(Reply::ok().delay(Duration::from_millis(50)));
    let wh = id_of(&create(&c, &json!({"url": steady.url("/s"), "events": ["*"]})).await);
    let events: Vec<serde_json::Value> = (0..400).map(|n| json!({"event": "order.paid", "data": {"n": n}})).collect();
    c.post("/v1/events/batch", &json!({"events": events})).await.assert_status(202);
    eventually(WAIT, || async {
        match concurrency_limit(&server, &wh).await {
            Some(l) if l >= 16 => Ok(()),
            other => Err(format!("limit {other:?}")),
        }
    })
    .await;
    steady.wait_for(400, None, WAIT).await;

    // An endpoint that answers 429 to everything: the limit halves down to 1, and the
    // metrics say so while its deliveries wait for their retry.
    let busy = TestReceiver::start().await;
    busy.set_default(Reply::status(429));
    let wh = id_of(&create(&c, &json!({"url": busy.url("/b"), "events": ["order.shipped"]})).await);
    for n in 0..20 {
        publish(&c, "order.shipped", json!({"n": n})).await;
    }
    eventually(WAIT, || async {
        match concurrency_limit(&server, &wh).await {
            Some(1) => Ok(()),
            other => Err(format!("limit {other:?}")),
        }
    })
    .await;
}
