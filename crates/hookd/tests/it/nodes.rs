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

    // Disabled through A: B stops routing to it within moments.
    ca.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"enabled": false})).await.assert_status(200);
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&cb).await {
            0 => Ok(()),
            _ => Err("node B still routes to the webhook disabled through node A".to_owned()),
        }
    })
    .await;
    // And a webhook deleted through B is gone for A.
    let other = create(&cb, &json!({"url": rx.url("/m"), "events": ["*"]})).await;
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&ca).await {
            1 => Ok(()),
            n => Err(format!("node A routes {n} webhooks, not the one created through B")),
        }
    })
    .await;
    cb.delete(&format!("/v1/webhooks/{}", id_of(&other))).await.assert_status(200);
    eventually(Duration::from_secs(3), || async {
        match deliveries_of_a_publish(&ca).await {
            0 => Ok(()),
            n => Err(format!("node A still routes {n} webhooks after B deleted one")),
        }
    })
    .await;
}
