//! Several hookd nodes on one PostgreSQL database. These run when the suite runs on
//! PostgreSQL (`HOOKD_TEST_DATABASE_URL`), as CI does.

use std::time::Duration;

use hookd_test_support::{eventually, on_postgres, TestReceiver, TestServer};
use serde_json::json;

use crate::{create, id_of};

fn delivering(c: &mut hookd::config::Config) {
    c.allow_http = true;
    c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
}

async fn deliveries_of_a_publish(c: &hookd_test_support::Client) -> i64 {
    let r = c.post("/v1/events", &json!({"event": "order.paid", "data": {}})).await;
    r.assert_status(202);
    r.data()["deliveries"].as_i64().unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn a_webhook_changed_through_one_node_changes_on_every_node() {
    if !on_postgres() {
        return;
    }
    let a = TestServer::builder().config(delivering).start().await;
    let b = TestServer::builder().database(a.database_url()).config(delivering).start().await;
    assert_eq!(b.first_key, None, "the second node joins the first one's deployment");
    let key = a.first_key.clone().unwrap();
    let (ca, cb) = (a.client(), b.client().with_key(Some(&key)));
    // B routes this workspace with no webhooks, and caches that.
    assert_eq!(deliveries_of_a_publish(&cb).await, 0);

    let rx = TestReceiver::start().await;
    let wh = create(&ca, &json!({"url": rx.url("/n"), "events": ["*"]})).await;
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&cb).await {
            0 => Err("node B does not route to the webhook created through node A yet".to_owned()),
            n => Ok(n),
        }
    })
    .await;
    rx.wait_for(1, None, Duration::from_secs(10)).await;

    // Disabled through A: within moments B holds its events instead of sending them.
    ca.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"enabled": false})).await.assert_status(200);
    let held = format!("/v1/webhooks/{}/deliveries?status=held", id_of(&wh));
    eventually(Duration::from_secs(3), || async {
        let r = cb.post("/v1/events", &json!({"event": "order.paid", "data": {}})).await;
        r.assert_status(202);
        let id = r.data()["id"].clone();
        let log = ca.get(&held).await;
        if log.data().as_array().unwrap().iter().any(|d| d["event_id"] == id) {
            Ok(())
        } else {
            Err("node B still sends to the webhook disabled through node A".to_owned())
        }
    })
    .await;
    // And a webhook deleted through B is gone for A (which holds for the disabled one).
    let other = create(&cb, &json!({"url": rx.url("/m"), "events": ["*"]})).await;
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&ca).await {
            2 => Ok(()),
            n => Err(format!("node A routes {n} webhooks, not the one created through B and the disabled one")),
        }
    })
    .await;
    cb.delete(&format!("/v1/webhooks/{}", id_of(&other))).await.assert_status(200);
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&ca).await {
            1 => Ok(()),
            n => Err(format!("node A still routes {n} webhooks after B deleted one")),
        }
    })
    .await;
}

/// Three `hookd serve` processes on one database; 5,000 events published across them;
/// one node killed with `kill -9` halfway. Every accepted event is delivered: the dead
/// node's claims expire and the others take them over.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn three_nodes_share_the_work_and_survive_a_kill_9() {
    use std::collections::HashSet;
    use std::path::Path;

    use hookd_test_support::{HookdProcess, Reply};

    if !on_postgres() {
        return;
    }
    let db = hookd_test_support::fresh_postgres_database().await.unwrap();
    let url = db.url().to_owned();
    let bin = Path::new(env!("CARGO_BIN_EXE_hookd"));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("HOOKD_ENCRYPTION_KEY", hookd_test_support::test_encryption_key()),
        ("HOOKD_DELIVERY__LEASE", "2s"),
        ("HOOKD_LOG_LEVEL", "warn"),
    ];
    let args = ["--dev", "--database", url.as_str()];
    let first = HookdProcess::serve(bin, dir.path(), &args, &env).await;
    let key = first.first_key().expect("the first node provisions the deployment");
    let mut nodes = vec![first];
    for _ in 0..2 {
        let n = HookdProcess::serve(bin, dir.path(), &args, &env).await;
        assert_eq!(n.first_key(), None, "later nodes join the same deployment");
        nodes.push(n);
    }
    let rx = TestReceiver::start().await;
    rx.set_default(Reply::ok().delay(Duration::from_millis(2)));
    let clients: Vec<_> = nodes.iter().map(|n| n.client(Some(key.clone()))).collect();
    create(&clients[0], &json!({"url": rx.url("/nodes"), "events": ["*"]})).await;

    let mut accepted = HashSet::new();
    let mut killed = false;
    for batch in 0..50 {
        if batch == 25 {
            nodes[1].kill9().await;
            killed = true;
        }
        let node = if killed { [0, 2][batch % 2] } else { batch % 3 };
        let events: Vec<_> = (0..100).map(|i| json!({"event": "order.paid", "data": {"n": batch * 100 + i}})).collect();
        let r = clients[node].post("/v1/events/batch", &json!({ "events": events })).await;
        r.assert_status(202);
        accepted.extend(r.data().as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(accepted.len(), 5000);
    eventually(Duration::from_secs(60), || async {
        let got: HashSet<String> =
            rx.received().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
        let delivered = accepted.intersection(&got).count();
        if delivered == accepted.len() {
            Ok(())
        } else {
            Err(format!("{delivered} of 5000 delivered"))
        }
    })
    .await;
    let total = rx.received().len();
    println!("three nodes, kill -9 of one: accepted 5000, delivered 5000, duplicates {}", total - 5000);
}

/// `role = "api"` stores deliveries for the workers; `role = "worker"` sends them and
/// serves only the probes and metrics. A worker hears of new work at once (the store
/// announces it), not at its next poll, which here is far away.
#[tokio::test]
#[ignore = "needs PostgreSQL (HOOKD_TEST_DATABASE_URL); run with `-- --include-ignored` (README)"]
async fn api_and_worker_nodes_split_the_work() {
    use hookd::config::Role;

    if !on_postgres() {
        return;
    }
    let api = TestServer::builder()
        .config(|c| {
            delivering(c);
            c.role = Role::Api;
        })
        .start()
        .await;
    let worker = TestServer::builder()
        .database(api.database_url())
        .config(|c| {
            delivering(c);
            c.role = Role::Worker;
        })
        .start()
        .await;
    let key = api.first_key.clone().unwrap();
    let c = api.client();
    let w = worker.client().with_key(Some(&key));
    assert_eq!(w.get("/v1/webhooks").await.assert_status(404).error_code(), "route_not_found");
    worker.anonymous().get("/readyz").await.assert_status(200);
    worker.anonymous().get("/metrics").await.assert_status(200);

    let rx = TestReceiver::start().await;
    let wh = create(&c, &json!({"url": rx.url("/split"), "events": ["*"]})).await;
    let r = c.post("/v1/events", &json!({"event": "order.paid", "data": {"n": 1}})).await;
    r.assert_status(202);
    let got = rx.wait_for(1, Some("/split"), Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["data"]["n"], 1);

    // The worker recorded it; the API node reads it back.
    let id = id_of(&wh);
    let delivery = eventually(Duration::from_secs(5), || async {
        let r = c.get(&format!("/v1/webhooks/{id}/deliveries")).await;
        let d = r.data()[0].clone();
        if d["status"] == "succeeded" {
            Ok(d)
        } else {
            Err(format!("the delivery is {}", d["status"]))
        }
    })
    .await;
    // A manual retry through the API node is sent by the worker.
    let d_id = delivery["id"].as_str().unwrap();
    c.post(&format!("/v1/deliveries/{d_id}/retry"), &json!({})).await.assert_status(202);
    rx.wait_for(2, Some("/split"), Duration::from_secs(5)).await;
    // A test ping is sent by the API node itself, at once.
    let r = c.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await;
    r.assert_status(200);
    assert_eq!(rx.received_on("/split").len(), 3);
}
