//! The product's own JWTs (`[auth.jwt]`): tokens signed in the test with RS256, ES256 and
//! EdDSA keys made in the test, a JWKS served on loopback, and every refusal.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hookd::config::JwtConfig;
use hookd_test_support::{Client, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::KeyPair;
use serde_json::{json, Value};

use crate::{assert_error, count, create};

const ISSUER: &str = "https://id.example.com";

/// Signing keys, made once per run (an RSA key takes a moment), with their public JWKs.
struct Keys {
    rsa: (Vec<u8>, Value),
    ec: (Vec<u8>, Value),
    ed: (Vec<u8>, Value),
    ed2: (Vec<u8>, Value),
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let rng = ring::rand::SystemRandom::new();
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let rsa_jwk = json!({"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
            "n": B64.encode(rsa.n().to_bytes_be()), "e": B64.encode(rsa.e().to_bytes_be())});
        let ec_alg = &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let ec = ring::signature::EcdsaKeyPair::generate_pkcs8(ec_alg, &rng).unwrap();
        let ec_pair = ring::signature::EcdsaKeyPair::from_pkcs8(ec_alg, ec.as_ref(), &rng).unwrap();
        let point = ec_pair.public_key().as_ref();
        let ec_jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec1", "use": "sig", "alg": "ES256",
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
        let ed = |kid: &str| {
            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
            let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "alg": "EdDSA",
                "x": B64.encode(pair.public_key().as_ref())});
            (pkcs8.as_ref().to_vec(), jwk)
        };
        Keys {
            rsa: (rsa.to_pkcs1_der().unwrap().as_bytes().to_vec(), rsa_jwk),
            ec: (ec.as_ref().to_vec(), ec_jwk),
            ed: ed("ed1"),
            ed2: ed("ed2"),
        }
    })
}

/// A JWKS endpoint on loopback whose keys the test changes, counting fetches.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(keys: Vec<Value>) -> Jwks {
    let (set, fetches) = (Arc::new(Mutex::new(keys)), Arc::new(AtomicUsize::new(0)));
    let (s, f) = (set.clone(), fetches.clone());
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"keys": *s.lock().unwrap()}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Jwks { url: format!("http://{addr}/jwks.json"), keys: set, fetches }
}

pub(crate) fn jwt_config(jwks_url: &str) -> JwtConfig {
    JwtConfig {
        issuer: ISSUER.into(),
        audience: "hookd".into(),
        jwks_url: Some(jwks_url.into()),
        jwks_file: None,
        algorithms: ["RS256", "ES256", "EdDSA"].map(String::from).to_vec(),
        workspace_claim: "workspace".into(),
        owner_claim: "client_id".into(),
        scope_claim: "scope".into(),
        scopes: BTreeMap::from([
            ("webhooks.manage".to_owned(), vec!["webhooks:read".to_owned(), "webhooks:write".to_owned()]),
            ("events.publish".to_owned(), vec!["events:write".to_owned()]),
        ]),
    }
}

/// A server accepting the JWKS's tokens, with a workspace `acme` (external id `cust_1`).
async fn server(jwks_url: &str) -> TestServer {
    let cfg = jwt_config(jwks_url);
    let server = TestServer::builder().config(|c| c.auth.jwt = Some(cfg)).start().await;
    let r = server.client().post("/v1/workspaces", &json!({"name": "acme", "external_id": "cust_1"})).await;
    r.assert_status(201);
    server
}

fn now() -> i64 {
    hookd_core::time_fmt::now().unix_timestamp()
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": "hookd", "sub": "client-a", "exp": now() + 300, "iat": now(),
        "workspace": "cust_1", "scope": "webhooks.manage events.publish"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn sign(alg: Algorithm, kid: &str, claims: &Value) -> String {
    let k = keys();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&k.rsa.0),
        Algorithm::ES256 => EncodingKey::from_ec_der(&k.ec.0),
        Algorithm::EdDSA if kid == "ed2" => EncodingKey::from_ed_der(&k.ed2.0),
        Algorithm::EdDSA => EncodingKey::from_ed_der(&k.ed.0),
        other => panic!("{other:?}"),
    };
    let header = Header { kid: Some(kid.into()), ..Header::new(alg) };
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// `[auth.jwt]` with a JWKS file in `dir` holding the test's Ed25519 key (`kid` `ed1`):
/// for servers started from a profile that also take the product's tokens.
pub(crate) fn jwt_from_file(dir: &std::path::Path) -> JwtConfig {
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [keys().ed.1.clone()]}).to_string()).unwrap();
    JwtConfig { jwks_url: None, jwks_file: Some(jwks), ..jwt_config("") }
}

/// A valid EdDSA token of the test's issuer, with `extra` claims.
pub(crate) fn ed25519_token(extra: &Value) -> String {
    sign(Algorithm::EdDSA, "ed1", &claims(extra.clone()))
}

fn all_keys() -> Vec<Value> {
    let k = keys();
    vec![k.rsa.1.clone(), k.ec.1.clone(), k.ed.1.clone()]
}

fn bearer(server: &TestServer, token: &str) -> Client {
    server.anonymous().with_key(Some(token))
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_work_beside_api_keys() {
    let j = jwks(all_keys()).await;
    let server = server(&j.url).await;
    for (alg, kid) in [(Algorithm::RS256, "rsa1"), (Algorithm::ES256, "ec1"), (Algorithm::EdDSA, "ed1")] {
        let c = bearer(&server, &sign(alg, kid, &claims(json!({"client_id": kid}))));
        let wh = create(&c, &json!({"url": format!("https://example.com/{kid}"), "events": ["*"]})).await;
        // The token acts for its client: the webhook is that client's.
        assert_eq!(wh["owner"], kid, "{alg:?}");
        assert_eq!(count(&c).await, 1, "{alg:?} sees its own client's webhook only");
    }
    // The workspace's keys keep working, and see every client's webhooks.
    assert_eq!(count(&server.client().in_workspace("cust_1")).await, 3);
    // Without client_id, the owner is the subject.
    let c = bearer(&server, &sign(Algorithm::EdDSA, "ed1", &claims(json!({}))));
    let wh = create(&c, &json!({"url": "https://example.com/sub", "events": ["*"]})).await;
    assert_eq!(wh["owner"], "client-a");
}

#[tokio::test]
async fn every_refused_token_is_a_401_and_changes_nothing() {
    let j = jwks(all_keys()).await;
    let server = server(&j.url).await;
    let good = claims(json!({}));
    let valid = sign(Algorithm::RS256, "rsa1", &good);
    let (head, rest) = valid.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let part = |v: &Value| B64.encode(v.to_string());
    // alg: none, unsigned.
    let none = format!("{}.{}.", part(&json!({"alg": "none", "typ": "JWT"})), part(&good));
    // Algorithm confusion: HMAC-SHA256 keyed with the RSA public key's bytes.
    let n = B64.decode(keys().rsa.1["n"].as_str().unwrap()).unwrap();
    let confused = jsonwebtoken::encode(
        &Header { kid: Some("rsa1".into()), ..Header::new(Algorithm::HS256) },
        &good,
        &EncodingKey::from_secret(&n),
    )
    .unwrap();
    // Another payload under the original signature.
    let tampered = format!("{head}.{}.{signature}", part(&claims(json!({"workspace": "ws_other"}))));
    let cases = [
        ("alg none", none),
        ("HMAC with the public key", confused),
        ("bad signature", tampered),
        ("expired past the leeway", sign(Algorithm::ES256, "ec1", &claims(json!({"exp": now() - 120})))),
        ("not valid yet", sign(Algorithm::ES256, "ec1", &claims(json!({"nbf": now() + 300})))),
        ("another issuer", sign(Algorithm::EdDSA, "ed1", &claims(json!({"iss": "https://evil.example.com"})))),
        ("another audience", sign(Algorithm::EdDSA, "ed1", &claims(json!({"aud": "someone-else"})))),
        ("unknown workspace", sign(Algorithm::EdDSA, "ed1", &claims(json!({"workspace": "cust_404"})))),
        ("no workspace claim", sign(Algorithm::EdDSA, "ed1", &claims(json!({"workspace": null})))),
        ("unknown kid", sign(Algorithm::EdDSA, "ed2", &good)),
    ];
    for (what, token) in cases {
        let c = bearer(&server, &token);
        let r = c.post("/v1/webhooks", &json!({"url": "https://example.com/x", "events": ["*"]})).await;
        assert_error(&r, 401, "unauthorized");
        assert!(r.text.contains("token refused"), "{what}: {}", r.text);
    }
    assert_eq!(count(&server.client().in_workspace("cust_1")).await, 0, "nothing was written");
    // Inside the leeway, an expired token still works.
    let c = bearer(&server, &sign(Algorithm::ES256, "ec1", &claims(json!({"exp": now() - 30}))));
    c.get("/v1/webhooks").await.assert_status(200);
    // /metrics counts them by method and outcome; no token appears there.
    let m = server.anonymous().get("/metrics").await.text;
    assert!(m.contains(r#"hookd_authentications_total{method="jwt",outcome="refused"} 10"#), "{m}");
    assert!(m.contains(r#"hookd_authentications_total{method="jwt",outcome="ok"} 1"#), "{m}");
    assert!(m.contains(r#"hookd_authentications_total{method="key",outcome="ok"}"#), "{m}");
    assert!(!m.contains("eyJ"), "no token in /metrics");
}

#[tokio::test]
async fn an_unknown_kid_fetches_the_jwks_again_at_most_every_30_seconds() {
    let j = jwks(all_keys()).await;
    let server = server(&j.url).await;
    let at_start = j.fetches.load(Ordering::SeqCst);
    assert_eq!(at_start, 1, "fetched at start");
    // A key added to the JWKS (a rotation) is found: the unknown kid triggers a fetch.
    j.keys.lock().unwrap().push(keys().ed2.1.clone());
    let c = bearer(&server, &sign(Algorithm::EdDSA, "ed2", &claims(json!({}))));
    c.get("/v1/webhooks").await.assert_status(200);
    assert_eq!(j.fetches.load(Ordering::SeqCst), 2);
    // Unknown kids right after do not fetch again (no amplification of garbage tokens).
    let mut bogus = claims(json!({}));
    bogus["sub"] = json!("x");
    for _ in 0..5 {
        let header = Header { kid: Some("nope".into()), ..Header::new(Algorithm::EdDSA) };
        let t = jsonwebtoken::encode(&header, &bogus, &EncodingKey::from_ed_der(&keys().ed.0)).unwrap();
        assert_error(&bearer(&server, &t).get("/v1/webhooks").await, 401, "unauthorized");
    }
    assert_eq!(j.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_token_without_a_mapped_scope_is_403() {
    let j = jwks(all_keys()).await;
    let server = server(&j.url).await;
    let reader = bearer(&server, &sign(Algorithm::RS256, "rsa1", &claims(json!({"scope": "profile.read"}))));
    assert_error(&reader.get("/v1/webhooks").await, 403, "insufficient_scope");
    let publisher = bearer(&server, &sign(Algorithm::RS256, "rsa1", &claims(json!({"scope": ["events.publish"]}))));
    assert_error(&publisher.get("/v1/webhooks").await, 403, "insufficient_scope");
    let r = publisher.post("/v1/events", &json!({"event": "order.paid", "data": {}})).await;
    r.assert_status(202);
    assert_eq!(r.data()["owner"], "client-a", "a token publishes for its own client");
}

#[tokio::test]
async fn tokens_are_refused_with_503_while_the_jwks_cannot_be_loaded() {
    // Nothing listens there.
    let port = hookd_test_support::free_port();
    let server = server(&format!("http://127.0.0.1:{port}/jwks.json")).await;
    let r = bearer(&server, &sign(Algorithm::EdDSA, "ed1", &claims(json!({})))).get("/v1/webhooks").await;
    assert_error(&r, 503, "service_unavailable");
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    // API keys are unaffected.
    server.client().get("/v1/webhooks").await.assert_status(200);
}
