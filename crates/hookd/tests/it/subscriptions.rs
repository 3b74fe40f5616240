//! Subscription features: custom headers per webhook and payload filters, against real
//! receivers on 127.0.0.1.

use std::time::Duration;

use hookd_test_support::TestReceiver;
use serde_json::{json, Value};

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

    // Reading them in full needs webhooks:write.
    let ws = server.admin.find_workspace("default").await.unwrap().id;
    let k = c.post(&format!("/v1/workspaces/{ws}/keys"), &json!({"scopes": ["webhooks:read"]})).await;
    k.assert_status(201);
    let ro = c.with_key(k.data()["key"].as_str());
    ro.get(&format!("/v1/webhooks/{id}")).await.assert_status(200);
    assert_error(&ro.get(&format!("/v1/webhooks/{id}/headers")).await, 403, "insufficient_scope");
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
    let many: serde_json::Map<String, Value> = (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
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

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_hookd"))
}

/// A received request saved as a receiver would: `Name: value` lines and the raw body.
fn save(dir: &std::path::Path, name: &str, req: &hookd_test_support::Received) -> (String, String) {
    let head: String = req.headers.iter().map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap())).collect();
    let (h, b) = (dir.join(format!("{name}.headers")), dir.join(format!("{name}.body")));
    std::fs::write(&h, format!("POST {} HTTP/1.1\n{head}", req.path)).unwrap();
    std::fs::write(&b, &req.body).unwrap();
    (h.to_str().unwrap().to_owned(), b.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn ed25519_webhooks_sign_v1a_that_hookd_verify_accepts_through_a_rotation() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/ed"), "events": ["*"], "signing": "ed25519"})).await;
    let id = id_of(&wh);
    let pk = wh["public_key"].as_str().unwrap().to_owned();
    assert!(pk.starts_with("whpk_"), "{wh}");
    assert_eq!((wh["signing"].as_str(), wh["signing_secret"].as_str()), (Some("ed25519"), Some(pk.as_str())));
    // The public key is no secret: readable even without secret retrieval.
    assert_eq!(c.get(&format!("/v1/webhooks/{id}/secret")).await.data()["signing_secret"], pk);

    publish(&c, "link.created", json!({"n": 1})).await;
    let got = rx.wait_for(1, Some("/ed"), WAIT).await;
    let sig = got[0].header("webhook-signature").unwrap();
    assert!(sig.starts_with("v1a,") && !sig.contains(' '), "{sig}");
    assert_eq!(got[0].header("x-hookd-signature"), None, "no shared secret, no body HMAC");

    let dir = tempfile::tempdir().unwrap();
    let (headers, body) = save(dir.path(), "first", &got[0]);
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hookd_test_support::run_cli(bin(), std::path::Path::new("."), &args, &[]).await
    };
    let verify = |key: &str, flag: &str, headers: &str, body: &str| {
        vec!["verify".into(), flag.into(), key.into(), "--headers".into(), headers.into(), "--body".into(), body.into()]
    };
    let (code, out, err) = run(verify(&pk, "--public-key", &headers, &body)).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("verified: a valid v1a signature"), "{out}");

    // A byte changed in the body, another key, a missing header: exit 1 with the reason.
    std::fs::write(dir.path().join("tampered"), [&got[0].body[..], b" "].concat()).unwrap();
    let tampered = dir.path().join("tampered").to_str().unwrap().to_owned();
    let (code, _, err) = run(verify(&pk, "--public-key", &headers, &tampered)).await;
    assert_eq!(code, 1);
    assert!(err.contains("bad signature"), "{err}");
    let stranger = create(&c, &json!({"url": rx.url("/x"), "events": ["x.y"], "signing": "ed25519"})).await;
    let (code, _, err) = run(verify(stranger["public_key"].as_str().unwrap(), "--public-key", &headers, &body)).await;
    assert_eq!((code, err.contains("bad signature")), (1, true), "{err}");
    let (code, _, err) = run(verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--secret", &headers, &body)).await;
    assert_eq!(code, 1);
    assert!(err.contains("carries no v1 signature") && err.contains("--public-key"), "{err}");
    let only_two = dir.path().join("two.headers");
    let text = std::fs::read_to_string(&headers).unwrap();
    std::fs::write(
        &only_two,
        text.lines().filter(|l| !l.starts_with("webhook-timestamp")).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let (code, _, err) = run(verify(&pk, "--public-key", only_two.to_str().unwrap(), &body)).await;
    assert_eq!(code, 1);
    assert!(err.contains("missing header webhook-timestamp"), "{err}");

    // Rotation: a new key pair; both sign during the overlap, and each key verifies.
    let r = c.post(&format!("/v1/webhooks/{id}/secret/rotate"), &json!({})).await;
    r.assert_status(200);
    let new_pk = r.data()["public_key"].as_str().unwrap().to_owned();
    assert!(new_pk.starts_with("whpk_") && new_pk != pk);
    assert_eq!(r.data()["signing_secret"], new_pk);
    let r = c.post(&format!("/v1/webhooks/{id}/secret/rotate"), &json!({"secret": "my-own-secret-value-1"})).await;
    assert_error(&r, 409, "conflict");
    assert!(r.text.contains("secret applies to hmac signing only"), "{}", r.text);
    publish(&c, "link.created", json!({"n": 2})).await;
    let got = rx.wait_for(2, Some("/ed"), WAIT).await;
    assert_eq!(got[1].header("webhook-signature").unwrap().split(' ').count(), 2);
    let (headers, body) = save(dir.path(), "second", &got[1]);
    for key in [&pk, &new_pk] {
        let (code, out, err) = run(verify(key, "--public-key", &headers, &body)).await;
        assert_eq!(code, 0, "{out}{err}");
    }
}

#[tokio::test]
async fn hookd_verify_checks_v1_secrets_and_the_timestamp_tolerance() {
    use base64::Engine;
    use hmac::Mac;
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let wh = create(&c, &json!({"url": rx.url("/v1"), "events": ["*"]})).await;
    let secret = wh["signing_secret"].as_str().unwrap().to_owned();
    assert_eq!((wh["signing"].as_str(), &wh["public_key"]), (Some("hmac"), &json!(null)));
    publish(&c, "link.created", json!({"n": 1})).await;
    let got = rx.wait_for(1, Some("/v1"), WAIT).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, body) = save(dir.path(), "d", &got[0]);
    let h = |n: &str| format!("{n}: {}", got[0].header(n).unwrap());
    let mut args = vec!["verify".to_owned(), "--body".into(), body.clone()];
    for n in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        args.extend(["-H".to_owned(), h(n)]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    // The secret from the environment, so it stays out of the shell's history.
    let (code, out, err) =
        hookd_test_support::run_cli(bin(), dir.path(), &a, &[("HOOKD_VERIFY_SECRET", &secret)]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("valid v1 signature"), "{out}");
    let (code, _, err) = hookd_test_support::run_cli(
        bin(),
        dir.path(),
        &a,
        &[("HOOKD_VERIFY_SECRET", "whsec_AAAAAAAAAAAAAAAAAAAAAA==")],
    )
    .await;
    assert_eq!((code, err.contains("bad signature")), (1, true), "{err}");

    // A capture an hour old: valid, but outside the 5-minute tolerance unless raised.
    let ts = time::OffsetDateTime::now_utc().unix_timestamp() - 3600;
    let key = base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    m.update(format!("evt_old.{ts}.").as_bytes());
    m.update(&got[0].body);
    let sig = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes()));
    let old: Vec<String> = vec![
        "verify".into(),
        "--secret".into(),
        secret.clone(),
        "--body".into(),
        body.clone(),
        "-H".into(),
        "webhook-id: evt_old".into(),
        "-H".into(),
        format!("webhook-timestamp: {ts}"),
        "-H".into(),
        format!("webhook-signature: {sig}"),
    ];
    let a: Vec<&str> = old.iter().map(String::as_str).collect();
    let (code, _, err) = hookd_test_support::run_cli(bin(), dir.path(), &a, &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("the signature is valid, but the timestamp is 36") && err.contains("in the past"), "{err}");
    let mut a = a.clone();
    a.extend(["--tolerance", "2h"]);
    let (code, out, err) = hookd_test_support::run_cli(bin(), dir.path(), &a, &[]).await;
    assert_eq!(code, 0, "{out}{err}");

    // The body from standard input, as `hookd verify … < body.json` gives it.
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(bin())
        .args(["verify", "--secret", &secret])
        .args(["-H", &h("webhook-id"), "-H", &h("webhook-timestamp"), "-H", &h("webhook-signature")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&got[0].body).await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // An unreadable body file is not a verdict: exit 2.
    let (code, _, err) =
        hookd_test_support::run_cli(bin(), dir.path(), &["verify", "--secret", &secret, "--body", "/nonexistent"], &[])
            .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read /nonexistent"), "{err}");
}

#[tokio::test]
async fn channels_route_events_to_the_webhooks_that_listen_to_them() {
    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let p1 = create(&c, &json!({"url": rx.url("/p1"), "events": ["*"], "channels": ["project_1"]})).await;
    assert_eq!(p1["channels"], json!(["project_1"]));
    let both =
        create(&c, &json!({"url": rx.url("/both"), "events": ["*"], "channels": ["project_1", "project.2"]})).await;
    let all = create(&c, &json!({"url": rx.url("/all"), "events": ["*"]})).await;
    assert_eq!(all["channels"], json!([]), "no channels: every event");

    let sent = |channels: Value| {
        let c = c.clone();
        async move {
            let r = c.post("/v1/events", &json!({"event": "link.created", "data": {}, "channels": channels})).await;
            r.assert_status(202);
            r.data().clone()
        }
    };
    let e = sent(json!(["project_1"])).await;
    assert_eq!((e["deliveries"].clone(), e["channels"].clone()), (json!(3), json!(["project_1"])));
    assert_eq!(sent(json!(["project.2", "other"])).await["deliveries"], 2, "both and all");
    assert_eq!(sent(json!(null)).await["deliveries"], 1, "no channels: only the webhook that listens to all");
    assert_eq!(sent(json!(["nobody"])).await["deliveries"], 1);
    rx.wait_for(7, None, WAIT).await;
    let on = |path: &str| rx.received_on(path).len();
    assert_eq!((on("/p1"), on("/both"), on("/all")), (1, 2, 4));
    let ev = c.get(&format!("/v1/events/{}", e["id"].as_str().unwrap())).await;
    assert_eq!(ev.data()["channels"], json!(["project_1"]));

    // A PATCH replaces them; null listens to everything again.
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&p1)), &json!({"channels": ["project.2"]})).await;
    assert_eq!(r.data()["channels"], json!(["project.2"]));
    assert_eq!(sent(json!(["project.2"])).await["deliveries"], 3);
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&both)), &json!({"channels": null})).await;
    assert_eq!(r.data()["channels"], json!([]));
    assert_eq!(sent(json!(["project_1"])).await["deliveries"], 2);

    // Bad names and counts are refused by entry, and change nothing.
    let r = c
        .post("/v1/webhooks", &json!({"url": rx.url("/x"), "events": ["*"], "channels": ["ok", "no spaces", "ok"]}))
        .await;
    assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["channels[1]", "channels[2]"]);
    let eleven: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
    let r = c.patch(&format!("/v1/webhooks/{}", id_of(&all)), &json!({"channels": eleven})).await;
    assert_eq!(r.error_fields(), ["channels"]);
    assert_eq!(c.get(&format!("/v1/webhooks/{}", id_of(&all))).await.data()["channels"], json!([]));
    let r = c
        .post("/v1/events", &json!({"event": "link.created", "data": {}, "channels": ["a", "b", "c", "d", "e", "f"]}))
        .await;
    assert_eq!(r.error_fields(), ["channels"]);
    let r = c
        .post("/v1/events/batch", &json!({"events": [{"event": "link.created", "data": {}, "channels": ["é"]}]}))
        .await;
    assert_eq!(r.error_fields(), ["events[0].channels[0]"]);
}
