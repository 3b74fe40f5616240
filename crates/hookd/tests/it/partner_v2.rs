//! The partner-v2 surface, on a server started from `examples/linq.toml` itself: the
//! second seed's fetch and curl examples run as written (host and token changed), and
//! list, get, PUT, PATCH and DELETE beside them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hmac::{Hmac, Mac};
use hookd_core::domain::Scope;
use hookd_test_support::{eventually, Response, TestReceiver, TestServer};
use serde_json::{json, Value};
use sha2::Sha256;

const PREFIX: &str = "/api/partner/v2";
/// The second seed's request body, byte for byte.
const SEED_BODY: &str = r#"{ "webhook_subscription": { "webhook_url": "https://example.com/webhooks/linq", "version": 2, "secret": "your-webhook-secret-key", "active": true, "events": [ "message.sent", "message.received" ] } }"#;

fn linq_profile() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/linq.toml")
}

async fn linq_server() -> TestServer {
    TestServer::builder().profile(&linq_profile()).start().await
}

/// Requests with the token in the seed's header.
struct Partner {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Partner {
    fn new(server: &TestServer) -> Self {
        Self { http: reqwest::Client::new(), base: server.base.clone(), token: server.first_key.clone() }
    }

    fn with_token(&self, token: Option<&str>) -> Self {
        Self { http: self.http.clone(), base: self.base.clone(), token: token.map(str::to_owned) }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> Response {
        let mut rb = self.http.request(method, format!("{}{PREFIX}{path}", self.base));
        if let Some(t) = &self.token {
            rb = rb.header("X-LINQ-INTEGRATION-TOKEN", t);
        }
        if let Some(b) = body {
            rb = rb.header("Content-Type", "application/json").body(b.to_owned());
        }
        hookd_test_support::Client::send(rb).await
    }

    async fn get(&self, path: &str) -> Response {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, body: &Value) -> Response {
        self.send(reqwest::Method::POST, "/webhook_subscriptions", Some(&body.to_string())).await
    }

    async fn list(&self) -> Vec<Value> {
        let r = self.get("/webhook_subscriptions").await;
        r.assert_status(200);
        r.body["webhook_subscriptions"].as_array().expect("a list").clone()
    }
}

fn subscription(url: &str, events: &[&str]) -> Value {
    json!({"webhook_subscription": {"webhook_url": url, "version": 2, "events": events}})
}

#[track_caller]
fn assert_partner_error(r: &Response, status: u16, code: &str, fields: &[&str]) {
    r.assert_status(status);
    assert_eq!(r.body["error"]["code"], code, "{}", r.text);
    assert!(r.body.get("meta").is_none() && r.body.get("data").is_none(), "no /v1 envelope: {}", r.text);
    let got: Vec<String> = r.body["error"]["details"]
        .as_array()
        .map(|d| d.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    assert_eq!(got, fields, "{}", r.text);
    assert!(r.header("x-request-id").is_some());
}

/// Every field the seed documents for a subscription, with its type.
#[track_caller]
fn assert_seed_shape(s: &Value) {
    assert!(s["id"].as_i64().is_some_and(|n| n > 0), "integer id: {s}");
    assert!(s["webhook_url"].is_string() && s["events"].is_array(), "{s}");
    assert_eq!(s["version"], 2);
    assert!(s["active"].is_boolean() && s["secret_configured"] == true, "{s}");
    assert!(s["last_delivered_at"].is_null() || s["last_delivered_at"].is_string(), "{s}");
    assert!(s["delivery_attempts"].is_i64(), "{s}");
    for t in ["created_at", "updated_at"] {
        let v = s[t].as_str().unwrap_or_else(|| panic!("{t}: {s}"));
        time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    }
}

#[tokio::test]
async fn the_linq_curl_example_works_with_only_host_and_token_changed() {
    let server = linq_server().await;
    let token = server.first_key.clone().unwrap();
    assert!(token.starts_with("linq_live_"));
    let out = tokio::process::Command::new("curl")
        .args([
            "--request",
            "POST",
            "--url",
            &format!("{}/api/partner/v2/webhook_subscriptions", server.base),
            "--header",
            "Content-Type: application/json",
            "--header",
            &format!("X-LINQ-INTEGRATION-TOKEN: {token}"),
            "--data",
            SEED_BODY,
            "--silent",
            "--write-out",
            "\n%{http_code}",
        ])
        .output()
        .await
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap();
    assert_eq!(status, "201", "{stdout}");
    let body: Value = serde_json::from_str(body).expect("JSON");
    let s = &body["webhook_subscription"];
    assert_seed_shape(s);
    assert_eq!(s["webhook_url"], "https://example.com/webhooks/linq");
    assert_eq!(s["events"], json!(["message.sent", "message.received"]));
    assert_eq!((s["active"].as_bool(), s["delivery_attempts"].as_i64()), (Some(true), Some(0)));
    assert!(s["last_delivered_at"].is_null());
    assert!(s.get("signing_secret").is_none(), "the caller's own secret is never echoed: {s}");
    assert!(!stdout.contains("your-webhook-secret-key"));

    // The same webhook is a /v1 webhook.
    let v1 = server.client().get("/v1/webhooks").await;
    assert_eq!(v1.data()[0]["url"], "https://example.com/webhooks/linq");
}

#[tokio::test]
async fn the_linq_fetch_example_works_with_only_host_and_token_changed() {
    let server = linq_server().await;
    let token = server.first_key.clone().unwrap();
    // The page's script, as written, with the host and the token filled in.
    let script = format!(
        r#"const url = '{base}/api/partner/v2/webhook_subscriptions';
const options = {{
  method: 'POST',
  headers: {{
    'X-LINQ-INTEGRATION-TOKEN': '{token}',
    'Content-Type': 'application/json'
  }},
  body: '{{"webhook_subscription":{{"webhook_url":"https://example.com/webhooks/linq","version":2,"secret":"your-webhook-secret-key","active":true,"events":["message.sent","message.received"]}}}}'
}};


try {{
  const response = await fetch(url, options);
  const data = await response.json();
  console.log(data);
}} catch (error) {{
  console.error(error);
}}
"#,
        base = server.base
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("create.mjs");
    std::fs::write(&path, script).unwrap();
    let out = tokio::process::Command::new("node").arg(&path).output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    // console.log prints the object in Node's own notation.
    for part in ["webhook_subscription: {", "id: 1,", "version: 2,", "active: true,", "secret_configured: true"] {
        assert!(stdout.contains(part), "{part:?} in {stdout}");
    }
    let got = Partner::new(&server).get("/webhook_subscriptions/1").await;
    got.assert_status(200);
    assert_seed_shape(&got.body["webhook_subscription"]);

    // Running it again creates a second subscription, with the duplicate warning the
    // seed's note describes.
    let again = tokio::process::Command::new("node").arg(&path).output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("id: 2,") && stdout.contains("warnings: ["), "{stdout}");
}

#[tokio::test]
async fn subscriptions_list_get_update_and_delete() {
    let server = linq_server().await;
    let p = Partner::new(&server);
    assert!(p.list().await.is_empty());
    let a = p.post(&subscription("https://a.example.com/hook", &["message.sent"])).await;
    a.assert_status(201);
    let a = a.body["webhook_subscription"].clone();
    let secret = a["signing_secret"].as_str().expect("a generated secret is shown once");
    assert!(secret.starts_with("whsec_"));
    let b = p.post(&subscription("https://b.example.com/hook", &["call.completed"])).await.body["webhook_subscription"]
        .clone();
    assert_eq!(b["id"].as_i64().unwrap(), a["id"].as_i64().unwrap() + 1);

    let list = p.list().await;
    assert_eq!(list.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(), vec![a["id"].clone(), b["id"].clone()]);
    list.iter().for_each(assert_seed_shape);
    assert!(list.iter().all(|s| s.get("signing_secret").is_none()), "the secret is shown on create only");

    // PUT: the documented body, changing the URL and deactivating.
    let id = a["id"].as_i64().unwrap();
    let put = p
        .send(
            reqwest::Method::PUT,
            &format!("/webhook_subscriptions/{id}"),
            Some(
                &json!({"webhook_subscription": {"webhook_url": "https://a2.example.com/hook", "version": 2,
                    "active": false, "events": ["message.sent", "message.read"]}})
                .to_string(),
            ),
        )
        .await;
    put.assert_status(200);
    let s = &put.body["webhook_subscription"];
    assert_eq!((s["id"].as_i64(), s["active"].as_bool()), (Some(id), Some(false)));
    assert_eq!(
        (s["webhook_url"].as_str(), s["events"].clone()),
        (Some("https://a2.example.com/hook"), json!(["message.sent", "message.read"]))
    );
    // PUT requires what the seed marks required.
    let partial = p
        .send(
            reqwest::Method::PUT,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"active": true}}"#),
        )
        .await;
    assert_partner_error(
        &partial,
        422,
        "validation_error",
        &["webhook_subscription.version", "webhook_subscription.webhook_url", "webhook_subscription.events"],
    );
    // PATCH changes only what it names.
    let patch = p
        .send(
            reqwest::Method::PATCH,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"active": true}}"#),
        )
        .await;
    patch.assert_status(200);
    assert_eq!(patch.body["webhook_subscription"]["active"], true);
    assert_eq!(patch.body["webhook_subscription"]["webhook_url"], "https://a2.example.com/hook");

    // The change is the /v1 webhook's change.
    let v1 = server.client().get("/v1/webhooks").await;
    let v1_a =
        v1.data().as_array().unwrap().iter().find(|w| w["url"] == "https://a2.example.com/hook").unwrap().clone();
    assert_eq!(v1_a["enabled"], true);

    let del = p.send(reqwest::Method::DELETE, &format!("/webhook_subscriptions/{id}"), None).await;
    del.assert_status(204);
    assert!(del.text.is_empty());
    assert_partner_error(&p.get(&format!("/webhook_subscriptions/{id}")).await, 404, "not_found", &[]);
    assert_eq!(p.list().await.len(), 1);
    server.client().get(&format!("/v1/webhooks/{}", v1_a["id"].as_str().unwrap())).await.assert_status(404);
    // A deleted subscription's id is not handed out again.
    let c = p.post(&subscription("https://c.example.com/hook", &["chat.created"])).await;
    assert!(c.body["webhook_subscription"]["id"].as_i64().unwrap() > b["id"].as_i64().unwrap());
}

#[tokio::test]
async fn bad_requests_get_errors_in_this_surface_and_write_nothing() {
    let server = linq_server().await;
    let p = Partner::new(&server);
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({"webhook_url": "https://x.example.com"}), &["webhook_url"]),
        (json!({}), &["webhook_subscription"]),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "events": ["message.sent"]}}),
            &["webhook_subscription.version"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "version": 3, "events": ["message.sent"]}}),
            &["webhook_subscription.version"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "http://x.example.com", "version": 2, "events": ["message.sent", "message.bogus"]}}),
            &["webhook_subscription.webhook_url", "webhook_subscription.events[1]"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "version": 2, "events": []}}),
            &["webhook_subscription.events"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "version": 2, "events": ["message.sent"], "secret": "short"}}),
            &["webhook_subscription.secret"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "version": 2, "events": ["message.sent"], "colour": "red"}}),
            &["webhook_subscription.colour"],
        ),
        (
            json!({"webhook_subscription": {"webhook_url": "https://x.example.com", "version": "2", "events": ["message.sent"]}}),
            &["webhook_subscription.version"],
        ),
    ];
    for (body, fields) in cases {
        let r = p.post(&body).await;
        assert_partner_error(&r, 422, "validation_error", fields);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(fields[0]), "{}", r.text);
    }
    let bad_json = p.send(reqwest::Method::POST, "/webhook_subscriptions", Some("{\"webhook_subscription\": ")).await;
    assert_partner_error(&bad_json, 400, "invalid_json", &[]);
    assert!(p.list().await.is_empty(), "a rejected request writes nothing");

    // Ids: unknown, not a number, not positive.
    for id in ["999", "abc", "0", "-1", "wh_x"] {
        assert_partner_error(&p.get(&format!("/webhook_subscriptions/{id}")).await, 404, "not_found", &[]);
    }
    // A PUT that fails validation changes nothing, the secret included.
    let made = p.post(&serde_json::from_str(SEED_BODY).unwrap()).await.body["webhook_subscription"].clone();
    let before = p.get(&format!("/webhook_subscriptions/{}", made["id"])).await.body;
    let bad_put = p
        .send(
            reqwest::Method::PUT,
            &format!("/webhook_subscriptions/{}", made["id"]),
            Some(
                &json!({"webhook_subscription": {"webhook_url": "https://y.example.com", "version": 2,
                "events": ["message.nope"], "secret": "another-secret-key-123"}})
                .to_string(),
            ),
        )
        .await;
    assert_partner_error(&bad_put, 422, "validation_error", &["webhook_subscription.events[0]"]);
    assert_eq!(p.get(&format!("/webhook_subscriptions/{}", made["id"])).await.body, before);
}

#[tokio::test]
async fn the_token_header_is_the_api_key() {
    let server = linq_server().await;
    let p = Partner::new(&server);
    let missing = p.with_token(None).get("/webhook_subscriptions").await;
    assert_partner_error(&missing, 401, "unauthorized", &[]);
    assert!(
        missing.body["error"]["message"].as_str().unwrap().contains("x-linq-integration-token"),
        "{}",
        missing.text
    );
    let wrong = p.with_token(Some("linq_live_00000000.nope")).get("/webhook_subscriptions").await;
    assert_partner_error(&wrong, 401, "unauthorized", &[]);
    // Bearer works too, for clients that send the key the /v1 way.
    let bearer = hookd_test_support::Client::send(
        reqwest::Client::new()
            .get(format!("{}{PREFIX}/webhook_subscriptions", server.base))
            .bearer_auth(server.first_key.clone().unwrap()),
    )
    .await;
    bearer.assert_status(200);
    // Scopes and the per-key rate limit apply as on /v1.
    let ws = server.admin.find_workspace("default").await.unwrap();
    let reader = server
        .admin
        .create_key(&ws.id, "reader", vec![Scope::WebhooksRead], false, Default::default())
        .await
        .unwrap()
        .token;
    let r = p.with_token(Some(&reader)).post(&subscription("https://x.example.com", &["message.sent"])).await;
    assert_partner_error(&r, 403, "insufficient_scope", &[]);
    assert_eq!(p.get("/webhook_subscriptions").await.header("x-ratelimit-limit"), Some("600"));
}

#[tokio::test]
async fn the_surface_is_off_unless_enabled() {
    let server = TestServer::start().await;
    let r = server.client().get("/api/partner/v2/webhook_subscriptions").await;
    assert_eq!(r.status, 404);
}

/// A subscription made through partner v2 receives deliveries signed with the secret
/// the caller chose, and its counters show them.
#[tokio::test]
async fn a_partner_subscription_receives_signed_deliveries() {
    let receiver = TestReceiver::start().await;
    let server = TestServer::builder()
        .profile(&linq_profile())
        .config(|c| {
            c.allow_http = true;
            c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
        })
        .start()
        .await;
    let p = Partner::new(&server);
    let body = SEED_BODY.replace("https://example.com/webhooks/linq", &receiver.url("/webhooks/linq"));
    let made = p.send(reqwest::Method::POST, "/webhook_subscriptions", Some(&body)).await;
    made.assert_status(201);
    let id = made.body["webhook_subscription"]["id"].as_i64().unwrap();

    crate::publish(&server.client(), "message.sent", json!({"text": "hi"})).await;
    let got = receiver.wait_for(1, None, Duration::from_secs(10)).await;
    let sig = got[0].header("x-linq-signature").expect("signed").to_owned();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"your-webhook-secret-key").unwrap();
    mac.update(&got[0].body);
    assert_eq!(sig, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));

    let seen = eventually(Duration::from_secs(10), || async {
        let s = p.get(&format!("/webhook_subscriptions/{id}")).await.body["webhook_subscription"].clone();
        if s["delivery_attempts"] == 1 && s["last_delivered_at"].is_string() {
            Ok(s)
        } else {
            Err(format!("counters not updated: {s}"))
        }
    })
    .await;
    assert_seed_shape(&seen);

    // Deactivated through PATCH: the next event is held for it, not sent.
    p.send(
        reqwest::Method::PATCH,
        &format!("/webhook_subscriptions/{id}"),
        Some(r#"{"webhook_subscription": {"active": false}}"#),
    )
    .await
    .assert_status(200);
    let ev = crate::publish(&server.client(), "message.sent", json!({"text": "again"})).await;
    assert_eq!(ev["deliveries"], 1, "{ev}");
}

/// The partner surface takes the product's JWTs in its token header too.
#[tokio::test]
async fn a_product_jwt_works_in_the_partner_token_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::builder()
        .profile(&linq_profile())
        .config(|c| c.auth.jwt = Some(crate::jwt::jwt_from_file(dir.path())))
        .start()
        .await;
    let ws = server.admin.find_workspace("default").await.unwrap().id.to_string();
    let token = crate::jwt::ed25519_token(&json!({"workspace": ws, "client_id": "partner-7"}));
    let p = Partner::new(&server).with_token(Some(&token));
    let r = p.send(reqwest::Method::POST, "/webhook_subscriptions", Some(SEED_BODY)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let listed = p.get("/webhook_subscriptions").await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    // A refused token is refused here as everywhere.
    let bad = Partner::new(&server).with_token(Some(&format!("{token}x")));
    assert_eq!(bad.get("/webhook_subscriptions").await.status, 401);
}

#[tokio::test]
async fn subscriptions_carry_custom_headers_filters_and_ordering() {
    let server = linq_server().await;
    let p = Partner::new(&server);
    let mut body = subscription("https://example.com/webhooks/linq", &["message.sent"]);
    body["webhook_subscription"]["headers"] = json!({"X-Api-Key": "k_123"});
    body["webhook_subscription"]["filter"] = json!({"data.chat_id": {"$exists": true}});
    body["webhook_subscription"]["ordering"] = json!("per_key");
    let r = p.post(&body).await;
    r.assert_status(201);
    let s = &r.body["webhook_subscription"];
    assert_seed_shape(s);
    assert_eq!(s["headers"], json!({"X-Api-Key": "********"}));
    assert_eq!(s["filter"], json!({"data.chat_id": {"$exists": true}}));
    assert_eq!(s["ordering"], "per_key");
    let id = s["id"].as_i64().unwrap();

    // The same rules as /v1, named in this surface's terms.
    let r = p
        .send(
            reqwest::Method::PATCH,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"headers": {"Host": "x"}, "filter": {"$or": 1}}}"#),
        )
        .await;
    assert_partner_error(
        &r,
        422,
        "validation_error",
        &["webhook_subscription.headers.Host", "webhook_subscription.filter.$or"],
    );
    // null removes them; leaving them out keeps them.
    let r = p
        .send(
            reqwest::Method::PATCH,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"headers": null}}"#),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["webhook_subscription"]["headers"], json!({}));
    assert_eq!(r.body["webhook_subscription"]["filter"], json!({"data.chat_id": {"$exists": true}}));
    assert_eq!(r.body["webhook_subscription"]["ordering"], "per_key");
    let r = p
        .send(
            reqwest::Method::PATCH,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"ordering": "sometimes"}}"#),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(r.body.to_string().contains("ordering"), "{:?}", r.body);
    let r = p
        .send(
            reqwest::Method::PATCH,
            &format!("/webhook_subscriptions/{id}"),
            Some(r#"{"webhook_subscription": {"ordering": "none"}}"#),
        )
        .await;
    r.assert_status(200);
    assert_eq!(r.body["webhook_subscription"]["ordering"], "none");
}
