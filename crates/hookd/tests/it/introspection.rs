//! The product's opaque tokens (`[auth.introspection]`, RFC 7662): an introspection
//! endpoint started by the test on loopback, answers cached, outages answered 503.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookd::config::IntrospectionConfig;
use hookd_test_support::TestServer;
use serde_json::{json, Value};

use crate::{assert_error, count, create};

/// The product's introspection endpoint: the answers it gives per token, how often it
/// was asked, and whether it is down.
#[derive(Clone, Default)]
struct Endpoint {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    calls: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn introspect(State(e): State<Endpoint>, headers: HeaderMap, body: String) -> (StatusCode, axum::Json<Value>) {
    e.calls.fetch_add(1, Ordering::SeqCst);
    if e.down.load(Ordering::SeqCst) {
        return (StatusCode::BAD_GATEWAY, axum::Json(json!({})));
    }
    // hookd authenticates as the configured client (HTTP Basic).
    let expected =
        format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "hookd:s3cret"));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"})));
    }
    let token = form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned());
    let answer = token.and_then(|t| e.answers.lock().unwrap().get(&t).cloned()).unwrap_or(json!({"active": false}));
    (StatusCode::OK, axum::Json(answer))
}

async fn endpoint() -> (Endpoint, String) {
    let e = Endpoint::default();
    let app = axum::Router::new().route("/introspect", axum::routing::post(introspect)).with_state(e.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (e, format!("http://{addr}/introspect"))
}

async fn server(url: &str) -> TestServer {
    let cfg = IntrospectionConfig {
        url: url.into(),
        client_id: "hookd".into(),
        client_secret: "s3cret".into(),
        token_prefixes: vec!["aw_oauth_".into()],
        cache_ttl: Duration::from_secs(60),
        workspace_claim: "workspace".into(),
        owner_claim: "client_id".into(),
        scope_claim: "scope".into(),
        scopes: BTreeMap::from([(
            "webhooks.manage".to_owned(),
            vec!["webhooks:read".to_owned(), "webhooks:write".to_owned()],
        )]),
    };
    let server = TestServer::builder().config(|c| c.auth.introspection = Some(cfg)).start().await;
    server.client().post("/v1/workspaces", &json!({"name": "acme", "external_id": "cust_1"})).await.assert_status(201);
    server
}

fn active(client: &str) -> Value {
    let exp = hookd_core::time_fmt::now().unix_timestamp() + 3600;
    json!({"active": true, "client_id": client, "sub": "user-1", "workspace": "cust_1",
        "scope": "webhooks.manage", "exp": exp})
}

#[tokio::test]
async fn active_tokens_act_for_their_client_and_answers_are_cached() {
    let (e, url) = endpoint().await;
    e.answers.lock().unwrap().insert("aw_oauth_one".into(), active("client-1"));
    e.answers.lock().unwrap().insert("aw_oauth_two".into(), active("client-2"));
    let server = server(&url).await;
    let one = server.anonymous().with_key(Some("aw_oauth_one"));
    let two = server.anonymous().with_key(Some("aw_oauth_two"));
    let wh = create(&one, &json!({"url": "https://example.com/1", "events": ["*"]})).await;
    assert_eq!(wh["owner"], "client-1");
    assert_eq!(count(&one).await, 1);
    assert_eq!(count(&two).await, 0, "another client's token sees none of it");
    // Asked once per token, however many requests.
    for _ in 0..5 {
        one.get("/v1/webhooks").await.assert_status(200);
    }
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
    // hookd's own keys are not introspected.
    server.client().get("/v1/webhooks").await.assert_status(200);
    assert_eq!(e.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn inactive_expired_or_misplaced_tokens_are_401() {
    let (e, url) = endpoint().await;
    let past = hookd_core::time_fmt::now().unix_timestamp() - 10;
    let mut expired = active("c");
    expired["exp"] = json!(past);
    let mut elsewhere = active("c");
    elsewhere["workspace"] = json!("cust_404");
    e.answers
        .lock()
        .unwrap()
        .extend([("aw_oauth_expired".to_owned(), expired), ("aw_oauth_lost".to_owned(), elsewhere)]);
    let server = server(&url).await;
    for token in ["aw_oauth_unknown", "aw_oauth_expired", "aw_oauth_lost"] {
        let r = server.anonymous().with_key(Some(token)).get("/v1/webhooks").await;
        assert_error(&r, 401, "unauthorized");
        assert!(r.text.contains("token refused"), "{token}: {}", r.text);
    }
}

#[tokio::test]
async fn an_endpoint_that_fails_or_cannot_be_reached_is_a_503_never_a_401() {
    let (e, url) = endpoint().await;
    e.answers.lock().unwrap().insert("aw_oauth_one".into(), active("client-1"));
    e.down.store(true, Ordering::SeqCst);
    let server = server(&url).await;
    let r = server.anonymous().with_key(Some("aw_oauth_one")).get("/v1/webhooks").await;
    assert_error(&r, 503, "service_unavailable");
    assert!(r.header("retry-after").is_some());
    // Nothing listening at all.
    let port = hookd_test_support::free_port();
    let gone = self::server(&format!("http://127.0.0.1:{port}/introspect")).await;
    let r = gone.anonymous().with_key(Some("aw_oauth_one")).get("/v1/webhooks").await;
    assert_error(&r, 503, "service_unavailable");
    // Once it answers again, the token works (a failure is not cached).
    e.down.store(false, Ordering::SeqCst);
    server.anonymous().with_key(Some("aw_oauth_one")).get("/v1/webhooks").await.assert_status(200);
    let m = server.anonymous().get("/metrics").await.text;
    assert!(m.contains(r#"hookd_authentications_total{method="introspection",outcome="unavailable"} 1"#), "{m}");
    assert!(m.contains(r#"hookd_authentications_total{method="introspection",outcome="ok"} 1"#), "{m}");
}
