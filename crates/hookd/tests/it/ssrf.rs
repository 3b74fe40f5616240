//! The SSRF guard end to end: every spelling of a receiver on loopback is refused at
//! registration when loopback is not allowed, and a webhook registered while it was
//! allowed is refused on every attempt after the deployment stops allowing it. No
//! request reaches the receiver. (The verdict on each address and name is unit-tested
//! in hookd-delivery's `ssrf` module; tests never connect to non-loopback addresses.)

use hookd_test_support::{TestReceiver, TestServer};
use serde_json::json;

use crate::{create, id_of};

#[tokio::test]
async fn every_spelling_of_a_loopback_receiver_is_refused_at_registration() {
    let rx = TestReceiver::start().await;
    let port = rx.addr.port();
    let server = TestServer::builder().config(|c| c.allow_http = true).start().await;
    let client = server.client();
    let spellings = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://127.0.0.1.:{port}/"),
        format!("http://0:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::ffff:7f00:1]:{port}/"),
        format!("http://[64:ff9b::7f00:1]:{port}/"),
        format!("http://[2002:7f00:1::]:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://LOCALHOST.:{port}/"),
        format!("http://ｌｏｃａｌｈｏｓｔ:{port}/"),
        format!("http://hooks.localhost:{port}/"),
        format!("http://１２７．０．０．１:{port}/"),
        format!("http://vm:{port}/"),
        format!("http://example.com@127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{port}#@example.com/"),
    ];
    for url in &spellings {
        let r = client.post("/v1/webhooks", &json!({"url": url, "events": ["*"]})).await;
        assert_eq!(r.status, 422, "{url} was accepted: {}", r.text);
        assert_eq!(r.error_fields(), vec!["url"], "{url}: {}", r.text);
    }
    let r = client.get("/v1/webhooks").await;
    assert_eq!(r.data().as_array().unwrap().len(), 0, "nothing was registered");
    assert!(rx.received().is_empty(), "a refused URL reached the receiver");
}

#[tokio::test]
async fn a_webhook_registered_while_loopback_was_allowed_is_refused_on_every_attempt_after() {
    let rx = TestReceiver::start().await;
    let server = crate::delivering_server(|_| {}).await;
    let key = server.first_key.clone();
    let client = server.client();
    let by_name =
        create(&client, &json!({"url": format!("http://localhost:{}/n", rx.addr.port()), "events": ["*"]})).await;
    let by_address = create(&client, &json!({"url": rx.url("/a"), "events": ["*"]})).await;
    client.post(&format!("/v1/webhooks/{}/test", id_of(&by_name)), &json!({})).await.assert_status(200);
    assert_eq!(rx.received().len(), 1, "allowed while loopback is allowed");

    // The same database, loopback no longer allowed.
    let server = server
        .restart_with(|c| {
            c.delivery.allow_private_cidrs.clear();
        })
        .await;
    let client = server.anonymous().with_key(key.as_deref());
    for wh in [&by_name, &by_address] {
        let r = client.post(&format!("/v1/webhooks/{}/test", id_of(wh)), &json!({})).await;
        r.assert_status(200);
        assert_eq!(r.data()["success"], false, "{}", r.text);
        assert_eq!(r.data()["error_kind"], "blocked_address", "{}", r.text);
    }
    assert_eq!(rx.received().len(), 1, "a refused attempt reached the receiver");
}
