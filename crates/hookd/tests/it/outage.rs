//! The database going away and coming back, under load. Runs on PostgreSQL (a server of
//! the test's own, so stopping it disturbs no other test), as CI does.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_test_support::{eventually, on_postgres, skip_postgres_test, PrivatePostgres, TestReceiver, TestServer};
use serde_json::json;

use crate::create;

#[derive(Default)]
struct Tally {
    accepted: HashSet<String>,
    unavailable: usize,
    other: Vec<String>,
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn a_database_restart_under_load_fails_readiness_and_publishes_then_recovers_losing_nothing() {
    if !on_postgres() {
        return;
    }
    // A server this test may stop: from the local PostgreSQL installation, which the
    // server of HOOKD_TEST_DATABASE_URL need not be.
    let Some(pg) = PrivatePostgres::start() else {
        skip_postgres_test("PostgreSQL is not installed in /usr/lib/postgresql (Debian's postgresql package)");
        return;
    };
    let url = hookd_store_postgres::create_database(&pg.url(), "hookd_outage").await.unwrap();
    let server = TestServer::builder()
        .database(&url)
        .config(|c| {
            c.allow_http = true;
            c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
            c.database.acquire_timeout = Some(Duration::from_secs(1));
        })
        .start()
        .await;
    let client = server.client();
    let rx = TestReceiver::start().await;
    create(&client, &json!({"url": rx.url("/outage"), "events": ["*"]})).await;
    server.anonymous().get("/readyz").await.assert_status(200);

    // A producer publishing batches without pause, as a backend would, all along.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (client, tally, stop) = (client.clone(), tally.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let events: Vec<_> = (0..10).map(|i| json!({"event": "order.paid", "data": {"n": n + i}})).collect();
                n += 10;
                let r = client.post("/v1/events/batch", &json!({ "events": events })).await;
                let mut t = tally.lock().unwrap();
                match r.status {
                    202 => t
                        .accepted
                        .extend(r.data().as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned())),
                    503 => t.unavailable += 1,
                    s => t.other.push(format!("{s}: {}", r.body)),
                }
            }
        })
    };
    let accepted = || tally.lock().unwrap().accepted.len();
    eventually(Duration::from_secs(10), || async {
        if accepted() >= 200 {
            Ok(())
        } else {
            Err("the producer has not published 200 events yet".to_owned())
        }
    })
    .await;

    pg.stop();
    let r = eventually(Duration::from_secs(10), || async {
        let r = server.anonymous().get("/readyz").await;
        if r.status == 503 {
            Ok(r)
        } else {
            Err(format!("/readyz answers {} with the database stopped", r.status))
        }
    })
    .await;
    assert_eq!(r.error_code(), "service_unavailable");
    let r = client.post("/v1/events", &json!({"event": "order.paid", "data": {}})).await;
    r.assert_status(503);
    assert_eq!(r.error_code(), "service_unavailable");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("database"), "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("1"));
    let during = accepted();

    pg.resume();
    eventually(Duration::from_secs(30), || async {
        match server.anonymous().get("/readyz").await.status {
            200 => Ok(()),
            s => Err(format!("/readyz answers {s} after the database came back")),
        }
    })
    .await;
    eventually(Duration::from_secs(30), || async {
        if accepted() >= during + 200 {
            Ok(())
        } else {
            Err("publishes are not accepted again after the database came back".to_owned())
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    producer.await.unwrap();

    let t = std::mem::take(&mut *tally.lock().unwrap());
    assert!(t.other.is_empty(), "publishes answered other than 202 or 503: {:?}", t.other);
    assert!(t.unavailable > 0, "no publish saw the outage");
    // Every event accepted before, during or after the outage is delivered.
    eventually(Duration::from_secs(60), || async {
        let got: HashSet<String> =
            rx.received().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
        let missing = t.accepted.difference(&got).count();
        if missing == 0 {
            Ok(())
        } else {
            Err(format!("{missing} of {} accepted events not delivered", t.accepted.len()))
        }
    })
    .await;
    println!("database restart under load: accepted {}, answered 503 {} times", t.accepted.len(), t.unavailable);
    server.stop().await;
}
