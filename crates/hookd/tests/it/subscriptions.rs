//! Subscription features: custom headers per webhook and payload filters, against real
//! receivers on 127.0.0.1.

use std::time::Duration;

use hookd_test_support::TestReceiver;
use serde_json::json;

use crate::{assert_error, create, deliveries_until, delivering_server, id_of, publish};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn custom_headers_reach_the_receiver_and_stay_masked_in_the_api() {
    let server = delivering_server(|c| c.delivery.signature_header = "X-XQR-Signature".into()).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(
        &c,
        &json!({"url": rx.url("/h"), "events": ["*"],
                "headers": {"X-Api-Key": "k_live_123", "Authorization": "Bearer tok", "X-Tenant": "acme"}}),
    )
    .await;
    let id = id_of(&wh);
    assert_eq!(wh["headers"], json!({"Authorization": "********", "X-Api-Key": "********", "X-Tenant": "********"}));
    assert!(!c.get(&format!("/v1/webhooks/{id}")).await.text.contains("k_live_123"), "never in a representation");
    let full = c.get(&format!("/v1/webhooks/{id}/headers")).await;
    full.assert_status(200);
    assert_eq!(full.data()["headers"]["X-Api-Key"], "k_live_123");

    publish(&c, "link.created", json!({"n": 1})).await;
    let got = rx.wait_for(1, Some("/h"), WAIT).await;
    assert_eq!(got[0].header("x-api-key"), Some("k_live_123"));
    assert_eq!(got[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(got[0].header("x-tenant"), Some("acme"));
    assert!(got[0].header("x-xqr-signature").is_some(), "hookd's own headers are still sent");

    // A test ping carries them too.
    c.post(&format!("/v1/webhooks/{id}/test"), &json!({})).await.assert_status(200);
    let got = rx.wait_for(2, Some("/h"), WAIT).await;
    assert_eq!(got[1].header("x-api-key"), Some("k_live_123"));

    // The attempt log names them, without their values.
    let list = deliveries_until(&c, &id, "a success", |l| l.iter().any(|d| d["status"] == "succeeded")).await;
    let d = c.get(&format!("/v1/deliveries/{}", list.last().unwrap()["id"].as_str().unwrap())).await;
    assert!(!d.text.contains("k_live_123"), "{}", d.text);

    // Replacing them takes effect on the next delivery; null removes them.
    let r = c.patch(&format!("/v1/webhooks/{id}"), &json!({"headers": {"X-Api-Key": "k_live_456"}})).await;
    r.assert_status(200);
    assert_eq!(r.data()["headers"], json!({"X-Api-Key": "********"}));
    publish(&c, "link.created", json!({"n": 2})).await;
    let got = rx.wait_for(3, Some("/h"), WAIT).await;
    assert_eq!(got[2].header("x-api-key"), Some("k_live_456"));
    assert_eq!(got[2].header("x-tenant"), None);
    let r = c.patch(&format!("/v1/webhooks/{id}"), &json!({"headers": null})).await;
    assert_eq!(r.data()["headers"], json!({}));
    publish(&c, "link.created", json!({"n": 3})).await;
    let got = rx.wait_for(4, Some("/h"), WAIT).await;
    assert_eq!(got[3].header("x-api-key"), None);
}

#[tokio::test]
async fn bad_headers_are_refused_by_name_and_change_nothing() {
    let server = delivering_server(|_| {}).await;
    let c = server.client();
    let base = json!({"url": "https://example.com/h", "events": ["*"]});
    for (headers, field, rule) in [
        (json!({"Host": "evil.example"}), "headers.Host", "may not be set"),
        (json!({"Content-Length": "1"}), "headers.Content-Length", "may not be set"),
        (json!({"Transfer-Encoding": "chunked"}), "headers.Transfer-Encoding", "may not be set"),
        (json!({"webhook-signature": "v1,x"}), "headers.webhook-signature", "signs"),
        (json!({"X-Hookd-Signature": "x"}), "headers.X-Hookd-Signature", "signs"),
        (json!({"X-A": "a\r\nX-Injected: 1"}), "headers.X-A", "CR, LF or NUL"),
        (json!({"Bad Name": "v"}), "headers.Bad Name", "valid header name"),
    ] {
        let mut body = base.clone();
        body["headers"] = headers;
        let r = c.post("/v1/webhooks", &body).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), [field], "{}", r.text);
        assert!(r.text.contains(rule), "{}", r.text);
    }
    let many: serde_json::Map<String, serde_json::Value> = (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    let mut body = base.clone();
    body["headers"] = json!(many);
    assert_error(&c.post("/v1/webhooks", &body).await, 422, "validation_error");
    assert_eq!(crate::count(&c).await, 0, "nothing was created");

    let wh = create(&c, &json!({"url": "https://example.com/h", "events": ["*"], "headers": {"X-K": "1"}})).await;
    let r =
        c.patch(&format!("/v1/webhooks/{}", id_of(&wh)), &json!({"headers": {"Host": "x"}, "description": "d"})).await;
    assert_error(&r, 422, "validation_error");
    let now = c.get(&format!("/v1/webhooks/{}", id_of(&wh))).await;
    assert_eq!(
        (now.data()["headers"].clone(), now.data()["description"].clone()),
        (json!({"X-K": "********"}), json!(null))
    );
}

#[tokio::test]
async fn filters_choose_which_events_a_webhook_receives() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let filter = json!({"$or": [
        {"data.country": {"$in": ["NL", "BE"]}},
        {"data.total": {"$gte": 1000}, "data.items.0.sku": {"$prefix": "VIP-"}}
    ]});
    let nl = create(&c, &json!({"url": rx.url("/nl"), "events": ["link.*"], "filter": filter})).await;
    assert_eq!(nl["filter"], filter, "shown back as sent");
    let all = create(&c, &json!({"url": rx.url("/all"), "events": ["link.*"]})).await;
    assert_eq!(all["filter"], json!(null));

    let matched = publish(&c, "link.created", json!({"country": "NL"})).await;
    assert_eq!(matched["deliveries"], 2);
    let unmatched = publish(&c, "link.created", json!({"country": "DE", "total": 5})).await;
    assert_eq!(unmatched["deliveries"], 1, "the filtered webhook gets no delivery and counts nothing");
    let vip = publish(&c, "link.created", json!({"country": "US", "total": 1500, "items": [{"sku": "VIP-9"}]})).await;
    assert_eq!(vip["deliveries"], 2);
    publish(&c, "link.created", "not an object".into()).await;

    rx.wait_for(4, Some("/all"), WAIT).await;
    let got = rx.wait_for(2, Some("/nl"), WAIT).await;
    let ids: Vec<_> = got.iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(ids, [matched["id"].clone(), vip["id"].clone()]);
    let log = deliveries_until(&c, &id_of(&nl), "two", |l| l.len() == 2).await;
    assert_eq!(log.len(), 2);

    // A bad filter names the place and the rule; the webhook keeps its filter.
    let r = c
        .patch(&format!("/v1/webhooks/{}", id_of(&nl)), &json!({"filter": {"$and": [{"data.total": {"$gt": [1]}}]}}))
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["filter.$and[0].data.total.$gt"], "{}", r.text);
    assert_eq!(c.get(&format!("/v1/webhooks/{}", id_of(&nl))).await.data()["filter"], filter);
    let r = c.post("/v1/webhooks", &json!({"url": rx.url("/x"), "events": ["*"], "filter": {"payload.x": 1}})).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["filter.payload.x"]);

    // Removing it delivers everything again.
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&nl)), &json!({"filter": null})).await;
    assert_eq!(r.data()["filter"], json!(null));
    assert_eq!(publish(&c, "link.created", json!({"country": "DE"})).await["deliveries"], 2);
}

#[tokio::test]
async fn headers_and_filters_survive_a_restart() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(
        &c,
        &json!({"url": rx.url("/h"), "events": ["*"], "headers": {"X-K": "v1"}, "filter": {"data.n": {"$gt": 1}}}),
    )
    .await;
    let key = server.first_key.clone().expect("the first start's key");
    let server = server.restart().await;
    let c = server.anonymous().with_key(Some(&key));
    assert_eq!(publish(&c, "link.created", json!({"n": 1})).await["deliveries"], 0);
    assert_eq!(publish(&c, "link.created", json!({"n": 2})).await["deliveries"], 1);
    let got = rx.wait_for(1, Some("/h"), WAIT).await;
    assert_eq!(got[0].header("x-k"), Some("v1"));
    assert_eq!(c.get(&format!("/v1/webhooks/{}/headers", id_of(&wh))).await.data()["headers"], json!({"X-K": "v1"}));
}
