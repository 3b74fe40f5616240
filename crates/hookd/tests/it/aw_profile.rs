//! The third seed's contract, on a server started from `examples/aw.toml` itself: each
//! sentence of its "Create a webhook" page, checked against hookd.

use std::path::Path;

use hookd_core::domain::Scope;
use hookd_test_support::{Client, Response, TestServer};
use serde_json::{json, Value};

use crate::assert_error;

async fn aw_server() -> TestServer {
    TestServer::builder().profile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/aw.toml")).start().await
}

/// Every event type the page lists, in its order.
const AW_EVENTS: [&str; 36] = [
    "conversation.created",
    "conversation.updated",
    "message.created",
    "page.submission.created",
    "submission.updated",
    "qr_code.scanned",
    "qr_code.updated",
    "qr_group.created",
    "qr_group.updated",
    "qr_group.deleted",
    "product.scanned",
    "product.created",
    "product.updated",
    "product.deleted",
    "object.scanned",
    "object.created",
    "object.updated",
    "object.deleted",
    "chatbot.created",
    "chatbot.updated",
    "chatbot.deleted",
    "article.created",
    "article.updated",
    "article.deleted",
    "article.published",
    "article.unpublished",
    "article.indexed",
    "article.indexing_failed",
    "article_category.created",
    "article_category.updated",
    "article_category.deleted",
    "member.invited",
    "member.joined",
    "member.removed",
    "member.role_changed",
    "invitation.revoked",
];

/// `YYYY-MM-DDTHH:MM:SSZ`: inside the page's date-time pattern (seconds, then `Z`).
#[track_caller]
fn assert_rfc3339(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    let b = s.as_bytes();
    assert!(
        b.len() == 20
            && b[4] == b'-'
            && b[7] == b'-'
            && b[10] == b'T'
            && b[13] == b':'
            && b[16] == b':'
            && b[19] == b'Z'
            && s.chars().filter(char::is_ascii_digit).count() == 14,
        "{s}"
    );
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
}

async fn idem(c: &Client, key: &str, body: &Value) -> Response {
    Client::send(c.request(reqwest::Method::POST, "/v1/webhooks").header("Idempotency-Key", key).json(body)).await
}

#[tokio::test]
async fn create_returns_a_webhook_endpoint_with_its_signing_secret_once() {
    let server = aw_server().await;
    let key = server.first_key.clone().unwrap();
    assert!(key.starts_with("aw_live_"), "Authorization: Bearer aw_live_…");
    let c = server.client();
    let r = c
        .post(
            "/v1/webhooks",
            &json!({"url": "https://hooks.example.com/aw", "events": AW_EVENTS.to_vec(), "description": "x".repeat(500)}),
        )
        .await;
    r.assert_status(201);
    let d = r.data();
    assert_eq!(d["object"], "webhook_endpoint");
    assert!(d["signing_secret"].as_str().is_some_and(|s| s.starts_with("whsec_")), "{}", r.text);
    assert_rfc3339(&d["created_at"]);
    assert_rfc3339(&d["updated_at"]);
    // "Returned ONLY here — it cannot be retrieved later."
    let id = d["id"].as_str().unwrap();
    let got = c.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(got.data()["object"], "webhook_endpoint");
    assert!(got.data().get("signing_secret").is_none());
    assert!(c.get("/v1/webhooks").await.data()[0].get("signing_secret").is_none());
    assert_error(&c.get(&format!("/v1/webhooks/{id}/secret")).await, 403, "feature_disabled");
}

#[tokio::test]
async fn events_are_one_to_36_of_the_catalog_and_descriptions_at_most_500() {
    let server = aw_server().await;
    let c = server.client();
    let body = |events: Value, description: Value| json!({"url": "https://hooks.example.com/aw", "events": events, "description": description});
    for (events, description, field) in [
        (json!([]), json!(null), "events"),
        (json!(AW_EVENTS.iter().chain(["member.joined"].iter()).collect::<Vec<_>>()), json!(null), "events"),
        (json!(["link.created"]), json!(null), "events[0]"),
        (json!(["message.created"]), json!("x".repeat(501)), "description"),
    ] {
        let r = c.post("/v1/webhooks", &body(events, description)).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), vec![field], "{}", r.text);
    }
    assert_eq!(crate::count(&c).await, 0, "nothing was written");
    c.post("/v1/webhooks", &body(json!(["message.created"]), json!("Optional human-readable label")))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn only_public_https_endpoints_are_subscribed() {
    let server = aw_server().await;
    let c = server.client();
    for url in ["http://hooks.example.com/aw", "https://10.0.0.5/aw", "https://127.0.0.1/aw", "https://[fd00::1]/aw"] {
        let r = c.post("/v1/webhooks", &json!({"url": url, "events": ["message.created"]})).await;
        assert_error(&r, 422, "validation_error");
        assert_eq!(r.error_fields(), vec!["url"], "{url}: {}", r.text);
    }
}

/// Seed 003: "API-key callers see only dashboard-managed webhooks; OAuth callers see only
/// webhooks bound to their own token". Token clients are keys with an owner here.
#[tokio::test]
async fn owner_scoped_keys_see_only_their_own_webhooks() {
    let server = aw_server().await;
    let ws = server.admin.find_workspace("default").await.unwrap();
    let a = server.admin.create_key(&ws.id, "token a", vec![Scope::All], true, Default::default()).await.unwrap().token;
    let b = server.admin.create_key(&ws.id, "token b", vec![Scope::All], true, Default::default()).await.unwrap().token;
    let (ca, cb) = (server.client().with_key(Some(&a)), server.client().with_key(Some(&b)));
    let wa = crate::create(&ca, &json!({"url": "https://a.example.com", "events": ["message.created"]})).await;
    let wb = crate::create(&cb, &json!({"url": "https://b.example.com", "events": ["message.created"]})).await;
    let ids = |r: Response| r.data().as_array().unwrap().iter().map(|w| w["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(ca.get("/v1/webhooks").await), vec![wa["id"].clone()]);
    assert_eq!(ids(cb.get("/v1/webhooks").await), vec![wb["id"].clone()]);
    assert_error(&ca.get(&format!("/v1/webhooks/{}", wb["id"].as_str().unwrap())).await, 404, "not_found");
    assert_error(&ca.delete(&format!("/v1/webhooks/{}", wb["id"].as_str().unwrap())).await, 404, "not_found");
    // The API key (no owner) sees only the webhooks without one: the dashboard's.
    let api = server.client();
    assert_eq!(crate::count(&api).await, 0);
    let dashboard = crate::create(&api, &json!({"url": "https://d.example.com", "events": ["message.created"]})).await;
    assert_eq!(dashboard["owner"], json!(null));
    assert_eq!(ids(api.get("/v1/webhooks").await), vec![dashboard["id"].clone()]);
    assert_error(&api.get(&format!("/v1/webhooks/{}", wa["id"].as_str().unwrap())).await, 404, "not_found");
    assert_error(&ca.get(&format!("/v1/webhooks/{}", dashboard["id"].as_str().unwrap())).await, 404, "not_found");
    // Nor can it create one for a token client.
    let r = api
        .post("/v1/webhooks", &json!({"url": "https://e.example.com", "events": ["message.created"], "owner": "x"}))
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["owner"]);
}

#[tokio::test]
async fn idempotency_keys_cache_responses_per_api_key() {
    let server = aw_server().await;
    let c = server.client();
    let body = json!({"url": "https://hooks.example.com/aw", "events": ["message.created"]});
    let first = idem(&c, "create-aw-1", &body).await;
    first.assert_status(201);
    let again = idem(&c, "create-aw-1", &body).await;
    again.assert_status(201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.data()["id"], first.data()["id"]);
    assert_eq!(again.data()["signing_secret"], first.data()["signing_secret"], "the cached response, secret included");
    // Per API key: another key's identical request is its own.
    let ws = server.admin.find_workspace("default").await.unwrap();
    let other =
        server.admin.create_key(&ws.id, "other", vec![Scope::All], false, Default::default()).await.unwrap().token;
    let theirs = idem(&c.with_key(Some(&other)), "create-aw-1", &body).await;
    theirs.assert_status(201);
    assert_ne!(theirs.data()["id"], first.data()["id"]);
    // At most 255 characters.
    let r = idem(&c, &"k".repeat(256), &body).await;
    assert_error(&r, 400, "invalid_request");
    assert_eq!(crate::count(&c).await, 2);
    assert_eq!(hookd_core::service::IDEMPOTENCY_TTL, std::time::Duration::from_secs(24 * 3600), "cached for 24h");
}

/// Seed 003's rule with the product's own tokens: two OAuth clients (JWTs whose
/// `client_id` names them) and an API key, on the aw profile.
#[tokio::test]
async fn token_clients_see_only_their_webhooks_and_the_api_key_only_the_dashboards() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .profile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/aw.toml"))
        .config(|c| c.auth.jwt = Some(crate::jwt::jwt_from_file(dir.path())))
        .start()
        .await;
    let ws = server.admin.find_workspace("default").await.unwrap().id.to_string();
    let token = |client: &str| {
        let t = crate::jwt::ed25519_token(&json!({"workspace": ws, "client_id": client}));
        server.anonymous().with_key(Some(&t))
    };
    let (a, b, api) = (token("client-a"), token("client-b"), server.client());
    let body = |u: &str| json!({"url": u, "events": ["message.created"]});
    let wa = crate::create(&a, &body("https://a.example.com")).await;
    let wb = crate::create(&b, &body("https://b.example.com")).await;
    let wd = crate::create(&api, &body("https://d.example.com")).await;
    assert_eq!(
        (wa["owner"].as_str(), wb["owner"].as_str(), wd["owner"].as_str()),
        (Some("client-a"), Some("client-b"), None)
    );
    let ids = |r: Response| r.data().as_array().unwrap().iter().map(|w| w["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(a.get("/v1/webhooks").await), vec![wa["id"].clone()]);
    assert_eq!(ids(b.get("/v1/webhooks").await), vec![wb["id"].clone()]);
    assert_eq!(ids(api.get("/v1/webhooks").await), vec![wd["id"].clone()]);
    for (who, other) in [(&a, &wb), (&a, &wd), (&api, &wa)] {
        assert_error(&who.get(&format!("/v1/webhooks/{}", other["id"].as_str().unwrap())).await, 404, "not_found");
    }
}
