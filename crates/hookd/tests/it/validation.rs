//! Every validation rule: a 4xx naming the field and the rule, and nothing written.

use hookd_test_support::{Client, TestServer};
use serde_json::{json, Value};

use crate::{assert_error, count, create, id_of, seed_webhook, xqr_catalog};

/// Sends `body`, expects a 422 naming exactly `fields`, and checks nothing was created.
async fn rejects(c: &Client, body: Value, fields: &[&str], rule: &str) {
    let r = c.post("/v1/webhooks", &body).await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), fields, "body {body}: {}", r.text);
    assert!(r.text.contains(rule), "expected the rule {rule:?} in {}", r.text);
    assert_eq!(count(c).await, 0, "a rejected request must write nothing");
}

fn with(key: &str, value: Value) -> Value {
    let mut b = seed_webhook();
    b[key] = value;
    b
}

#[tokio::test]
async fn every_create_rule_names_its_field() {
    let server = TestServer::builder().config(xqr_catalog).start().await;
    let c = server.client();
    rejects(&c, json!({"events": ["*"]}), &["url"], "is required").await;
    rejects(&c, json!({"url": "https://e.com"}), &["events"], "is required").await;
    rejects(&c, json!({}), &["url", "events"], "is required").await;
    rejects(&c, with("url", json!("http://example.com")), &["url"], "https").await;
    rejects(&c, with("url", json!("ftp://example.com")), &["url"], "https").await;
    rejects(&c, with("url", json!("/webhooks")), &["url"], "absolute").await;
    rejects(&c, with("url", json!("not a url")), &["url"], "absolute").await;
    rejects(&c, with("url", json!("https://user:pw@example.com/")), &["url"], "username or password").await;
    rejects(&c, with("url", json!("https://exa*mple.com/")), &["url"], "valid host name").await;
    rejects(&c, with("url", json!("https://a..b.example.com/")), &["url"], "valid host name").await;
    rejects(&c, with("url", json!(format!("https://{}.com/", "a".repeat(64)))), &["url"], "valid host name").await;
    rejects(&c, with("url", json!(format!("https://example.com/{}", "a".repeat(2048)))), &["url"], "2048").await;
    rejects(&c, with("events", json!([])), &["events"], "at least 1").await;
    rejects(&c, with("events", json!(vec!["link.created"; 101])), &["events"], "at most 100").await;
    rejects(&c, with("events", json!(["link.created", "nope.nope"])), &["events[1]"], "not a known event type").await;
    rejects(&c, with("events", json!(["link.created", "link.created"])), &["events[1]"], "more than once").await;
    rejects(&c, with("events", json!(["Link Created"])), &["events[0]"], "dotted lower-case").await;
    rejects(&c, with("events", json!(["chat.*"])), &["events[0]"], "matches no known event type").await;
    rejects(&c, with("description", json!("d".repeat(501))), &["description"], "at most 500").await;
    rejects(&c, with("secret", json!("short")), &["secret"], "16 to 255").await;
    rejects(
        &c,
        with("metadata", json!((0..51).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>())),
        &["metadata"],
        "at most 50 keys",
    )
    .await;
    rejects(&c, with("metadata", json!({"k".repeat(41): "v"})), &[&format!("metadata.{}", "k".repeat(41))], "1 to 40")
        .await;
    rejects(&c, with("metadata", json!({"team": "v".repeat(501)})), &["metadata.team"], "at most 500").await;
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_name_the_field() {
    let server = TestServer::start().await;
    let c = server.client();
    rejects(&c, with("events", json!("link.created")), &["events"], "invalid type").await;
    rejects(&c, with("events", json!(["link.created", 7])), &["events[1]"], "invalid type").await;
    rejects(&c, with("url", json!(42)), &["url"], "invalid type").await;
    rejects(&c, with("enabled", json!("yes")), &["enabled"], "invalid type").await;
    rejects(&c, with("metadata", json!(["a"])), &["metadata"], "invalid type").await;
    rejects(&c, with("metadata", json!({"team": 1})), &["metadata.team"], "invalid type").await;
    rejects(&c, with("colour", json!("red")), &["colour"], "not a known field").await;
    rejects(&c, json!(["https://e.com"]), &["body"], "JSON object").await;
}

#[tokio::test]
async fn malformed_json_is_a_400_that_says_where() {
    let server = TestServer::start().await;
    let c = server.client();
    let r = c.post_raw("/v1/webhooks", "{\"url\": \"https://e.com\",\n \"events\": [}").await;
    assert_error(&r, 400, "invalid_json");
    assert!(r.text.contains("line 2"), "{}", r.text);
    let r = c.post_raw("/v1/webhooks", "").await;
    assert_error(&r, 400, "invalid_json");
    assert_eq!(count(&c).await, 0);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let server = TestServer::start().await;
    let c = server.client();
    let big = format!(
        "{{\"url\": \"https://e.com\", \"events\": [\"*\"], \"description\": \"{}\"}}",
        "a".repeat(1024 * 1024)
    );
    let r = c.post_raw("/v1/webhooks", big.clone()).await;
    assert_error(&r, 413, "payload_too_large");
    // With an idempotency key the body is read by another layer, with the same limit.
    let r = Client::send(c.request(reqwest::Method::POST, "/v1/webhooks").header("idempotency-key", "big-1").body(big))
        .await;
    assert_error(&r, 413, "payload_too_large");
    assert_eq!(count(&c).await, 0);
}

#[tokio::test]
async fn patch_rules_and_nothing_changes_on_rejection() {
    let server = TestServer::start().await;
    let c = server.client();
    let d = create(&c, &seed_webhook()).await;
    let path = format!("/v1/webhooks/{}", id_of(&d));
    for (body, field) in [
        (json!({"url": null}), "url"),
        (json!({"events": null}), "events"),
        (json!({"enabled": null}), "enabled"),
        (json!({"url": "http://e.com"}), "url"),
        (json!({"events": []}), "events"),
        (json!({"description": "x".repeat(501)}), "description"),
        (json!({"secret": "your-webhook-secret-key"}), "secret"),
        (json!({"id": "wh_x"}), "id"),
    ] {
        let r = c.patch(&path, &body).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), [field], "{body}: {}", r.text);
    }
    let after = c.get(&path).await;
    let mut before = d.clone();
    before.as_object_mut().unwrap().remove("signing_secret");
    assert_eq!(after.data(), &before, "rejected patches must change nothing");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let server = TestServer::start().await;
    let c = server.client();
    let r = c.get("/v1/nothing-here").await;
    assert_error(&r, 404, "route_not_found");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = Client::send(c.request(reqwest::Method::PUT, "/v1/webhooks")).await;
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = Client::send(c.request(reqwest::Method::POST, "/healthz")).await;
    assert_error(&r, 405, "method_not_allowed");
}

#[tokio::test]
async fn list_parameters_are_validated() {
    let server = TestServer::start().await;
    let c = server.client();
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("cursor=garbage", "cursor"),
        ("page=2", "page"),
    ] {
        let r = c.get(&format!("/v1/webhooks?{q}")).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), [field], "{q}: {}", r.text);
    }
}

#[tokio::test]
async fn malformed_ids_are_not_found() {
    let server = TestServer::start().await;
    let c = server.client();
    for id in ["nope", "wh_123", "ws_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b"] {
        assert_error(&c.get(&format!("/v1/webhooks/{id}")).await, 404, "not_found");
    }
}

#[tokio::test]
async fn deployment_limits_on_events_and_descriptions_apply() {
    // The third seed's rules: 1-36 events per webhook, descriptions of at most 500.
    let server = TestServer::builder()
        .config(|c| {
            c.max_events_per_webhook = 36;
            c.max_description_length = 120;
        })
        .start()
        .await;
    let c = server.client();
    let events: Vec<String> = (0..37).map(|i| format!("thing{i}.created")).collect();
    rejects(&c, json!({"url": "https://e.com", "events": events}), &["events"], "at most 36").await;
    rejects(
        &c,
        json!({"url": "https://e.com", "events": ["*"], "description": "d".repeat(121)}),
        &["description"],
        "at most 120",
    )
    .await;
    create(&c, &json!({"url": "https://e.com", "events": events[..36]})).await;
}

#[tokio::test]
async fn a_body_with_anything_after_its_json_is_a_400_and_writes_nothing() {
    let server = TestServer::start().await;
    let c = server.client();
    let webhook = r#"{"url": "https://example.com/hook", "events": ["*"]} xx"#;
    let r = c.post_raw("/v1/webhooks", webhook).await;
    assert_error(&r, 400, "invalid_json");
    assert!(r.text.contains("trailing characters"), "{}", r.text);
    assert_eq!(count(&c).await, 0);
    for body in [r#"{"event": "order.paid", "data": {}} xx"#, r#"{"event": "order.paid", "data": {}}{"event": "x"}"#] {
        let r = c.post_raw("/v1/events", body).await;
        assert_error(&r, 400, "invalid_json");
    }
    let r = c.post_raw("/v1/events/batch", r#"{"events": [{"event": "order.paid", "data": {}}]}]"#).await;
    assert_error(&r, 400, "invalid_json");
}

#[tokio::test]
async fn a_key_without_the_scope_gets_403_before_its_body_is_read() {
    use hookd_core::domain::Scope;
    let server = TestServer::builder().config(|c| c.compat.partner_v2.enabled = true).start().await;
    let ws = server.admin.find_workspace("default").await.unwrap();
    let reader = server
        .admin
        .create_key(&ws.id, "reader", vec![Scope::WebhooksRead], false, Default::default())
        .await
        .unwrap()
        .token;
    let c = server.anonymous().with_key(Some(&reader));
    // Larger than any route accepts (16 MiB for a batch).
    let huge = format!(r#"{{"data": "{}"}}"#, "x".repeat(17 * 1024 * 1024));
    for path in ["/v1/events", "/v1/events/batch", "/v1/webhooks", "/api/partner/v2/webhook_subscriptions"] {
        let r = Client::send(
            c.request(reqwest::Method::POST, path).header("content-type", "application/json").body(huge.clone()),
        )
        .await;
        assert_eq!(r.status, 403, "{path}: {}", r.text);
        assert_eq!(r.error_code(), "insufficient_scope", "{path}: {}", r.text);
        // With an Idempotency-Key too: the scope comes before the key's bookkeeping.
        let r = Client::send(
            c.request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .header("idempotency-key", "k1")
                .body(huge.clone()),
        )
        .await;
        assert_eq!(r.status, 403, "{path} with an Idempotency-Key: {}", r.text);
    }
}
