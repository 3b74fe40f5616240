//! The Svix-compatible API: its shapes and errors over HTTP, deliveries in Svix's
//! protocol, and Svix's own SDKs (npm `svix`, PyPI `svix`) driving hookd, with receivers
//! that verify every delivery with the SDKs' `Webhook` class.

use std::path::PathBuf;
use std::time::Duration;

use hookd_test_support::{eventually, Client, Reply, TestReceiver, TestServer};
use serde_json::{json, Value};

use crate::assert_error;

const WAIT: Duration = Duration::from_secs(10);
/// The SDK versions tested (docs/svix.md names them).
const NPM_SVIX: &str = "svix@1.99.1";
const PYPI_SVIX: &str = "svix==2.9.1";

async fn svix_server() -> TestServer {
    crate::delivering_server(|c| {
        c.compat.svix.enabled = true;
        c.secret_retrieval = true;
    })
    .await
}

/// Asserts a Svix error: the status, and `{"code", "detail"}`.
fn assert_svix_error(r: &hookd_test_support::Response, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", r.text);
    assert!(r.body.get("error").is_none(), "Svix's shape, not hookd's envelope: {}", r.text);
}

/// Asserts a Svix validation error naming exactly these locations.
fn assert_invalid(r: &hookd_test_support::Response, locs: &[Value]) {
    assert_eq!(r.status, 422, "{}", r.text);
    let got: Vec<&Value> = r.body["detail"].as_array().expect("a detail list").iter().map(|d| &d["loc"]).collect();
    assert_eq!(got, locs.iter().collect::<Vec<_>>(), "{}", r.text);
    for d in r.body["detail"].as_array().unwrap() {
        assert_eq!(d["type"], "value_error");
        assert!(d["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn the_svix_routes_are_served_only_when_enabled() {
    let off = crate::delivering_server(|_| {}).await;
    let r = off.client().get("/api/v1/app").await;
    assert_error(&r, 404, "route_not_found");
    let r = off.client().get("/api/v1/health").await;
    assert_eq!(r.status, 404);

    let on = svix_server().await;
    let r = on.client().with_key(None).get("/api/v1/health").await;
    assert_eq!(r.status, 204, "health needs no key: {}", r.text);
    let r = on.client().with_key(None).get("/api/v1/app").await;
    assert_svix_error(&r, 401, "authentication_failed");
    // Svix routes hookd does not serve say so, in Svix's shape.
    let r = on.client().post("/api/v1/auth/app-portal-access/app_x", &json!({})).await;
    assert_svix_error(&r, 404, "not_found");
    assert!(r.body["detail"].as_str().unwrap().contains("docs/svix.md"), "{}", r.text);
    // hookd's own API is unchanged beside it.
    on.client().get("/v1/webhooks").await.assert_status(200);

    // Below `path_prefix`, as hookd's own API is.
    let prefixed = crate::delivering_server(|c| {
        c.compat.svix.enabled = true;
        c.path_prefix = "/hooks".into();
    })
    .await;
    assert_eq!(prefixed.client().get("/hooks/api/v1/health").await.status, 204);
    let r = prefixed.client().post("/hooks/api/v1/app", &json!({"name": "Acme"})).await;
    r.assert_status(201);
    prefixed.client().get("/hooks/v1/webhooks").await.assert_status(200);
    assert_eq!(prefixed.client().get("/api/v1/health").await.status, 404);
}

#[tokio::test]
async fn applications_round_trip_by_id_and_uid_and_page_in_svix_shapes() {
    let server = svix_server().await;
    let c = server.client();
    let r = c
        .post("/api/v1/app", &json!({"name": "Acme", "uid": "acme", "metadata": {"plan": "pro"}, "rateLimit": 20}))
        .await;
    r.assert_status(201);
    let app = r.body.clone();
    let id = app["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("app_"), "{app}");
    assert_eq!((&app["uid"], &app["name"], &app["metadata"]["plan"]), (&json!("acme"), &json!("Acme"), &json!("pro")));
    assert_eq!((&app["rateLimit"], &app["throttleRate"]), (&json!(20), &json!(20)));
    for field in ["createdAt", "updatedAt"] {
        assert!(hookd_core::time_fmt::parse(app[field].as_str().unwrap()).is_ok(), "{app}");
    }
    // By uid as well as by id.
    assert_eq!(c.get("/api/v1/app/acme").await.body["id"], id.as_str());
    assert_eq!(c.get(&format!("/api/v1/app/{id}")).await.body["uid"], "acme");
    // The uid is taken; get_if_exists returns the existing one.
    assert_svix_error(&c.post("/api/v1/app", &json!({"name": "Again", "uid": "acme"})).await, 409, "conflict");
    let r = c.post("/api/v1/app?get_if_exists=true", &json!({"name": "Again", "uid": "acme"})).await;
    r.assert_status(200);
    assert_eq!((r.body["id"].as_str(), r.body["name"].as_str()), (Some(id.as_str()), Some("Acme")));
    // Every problem is named, and nothing is written.
    let r = c.post("/api/v1/app", &json!({"uid": "not ok!", "rateLimit": 0, "metadata": {"": "x"}})).await;
    assert_invalid(
        &r,
        &[
            json!(["body", "name"]),
            json!(["body", "uid"]),
            json!(["body", "metadata", ""]),
            json!(["body", "rateLimit"]),
        ],
    );
    let r = c.post("/api/v1/app", &json!({"name": 5})).await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Pages, in creation order, with an iterator.
    for n in 0..3 {
        c.post("/api/v1/app", &json!({"name": format!("App {n}")})).await.assert_status(201);
    }
    let mut seen = Vec::new();
    let mut iterator: Option<String> = None;
    loop {
        let path = match &iterator {
            Some(i) => format!("/api/v1/app?limit=3&iterator={i}"),
            None => "/api/v1/app?limit=3".to_owned(),
        };
        let page = c.get(&path).await;
        page.assert_status(200);
        seen.extend(page.body["data"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_owned()));
        assert!(page.body.get("prevIterator").is_some());
        if page.body["done"] == true {
            assert!(page.body["iterator"].is_null());
            break;
        }
        iterator = Some(page.body["iterator"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ["Acme", "App 0", "App 1", "App 2"]);
    let newest = c.get("/api/v1/app?limit=1&order=descending").await;
    assert_eq!(newest.body["data"][0]["name"], "App 2");
    assert_invalid(&c.get("/api/v1/app?limit=0").await, &[json!(["query", "limit"])]);

    // PATCH changes what it names; PUT replaces; PUT of an unknown uid creates it.
    let r = c.patch("/api/v1/app/acme", &json!({"name": "Acme Inc"})).await;
    assert_eq!((r.body["name"].as_str(), r.body["metadata"]["plan"].as_str()), (Some("Acme Inc"), Some("pro")));
    let r = c.put("/api/v1/app/acme", &json!({"name": "Acme Ltd"})).await;
    r.assert_status(200);
    assert_eq!((r.body["metadata"].clone(), r.body["uid"].clone()), (json!({}), Value::Null), "PUT resets: {}", r.text);
    let r = c.put("/api/v1/app/globex", &json!({"name": "Globex"})).await;
    r.assert_status(201);
    assert_eq!(r.body["uid"], "globex");

    // Deleting an application deletes its endpoints.
    let ep = c.post(&format!("/api/v1/app/{id}/endpoint"), &json!({"url": "https://example.com/a"})).await;
    ep.assert_status(201);
    let wh = ep.body["id"].as_str().unwrap().replace("ep_", "wh_");
    assert_eq!(c.delete(&format!("/api/v1/app/{id}")).await.status, 204);
    assert_svix_error(&c.get(&format!("/api/v1/app/{id}")).await, 404, "not_found");
    assert_error(&c.get(&format!("/v1/webhooks/{wh}")).await, 404, "not_found");
}

#[tokio::test]
async fn event_types_keep_their_schemas_and_archive() {
    let server = svix_server().await;
    let c = server.client();
    let schemas = json!({"1": {"type": "object", "properties": {"email": {"type": "string"}}}});
    let r = c
        .post("/api/v1/event-type", &json!({"name": "user.signup", "description": "Signed up", "schemas": schemas}))
        .await;
    r.assert_status(201);
    assert_eq!(
        (&r.body["schemas"], &r.body["archived"], &r.body["deprecated"]),
        (&schemas, &json!(false), &json!(false))
    );
    assert_svix_error(
        &c.post("/api/v1/event-type", &json!({"name": "user.signup", "description": "again"})).await,
        409,
        "conflict",
    );
    assert_invalid(
        &c.post("/api/v1/event-type", &json!({"name": "Not Valid", "schemas": []})).await,
        &[json!(["body", "name"]), json!(["body", "description"]), json!(["body", "schemas"])],
    );
    c.post("/api/v1/event-type", &json!({"name": "user.deleted", "description": "Gone"})).await.assert_status(201);
    let r = c.patch("/api/v1/event-type/user.deleted", &json!({"deprecated": true})).await;
    assert_eq!((&r.body["deprecated"], &r.body["description"]), (&json!(true), &json!("Gone")));
    let r = c.put("/api/v1/event-type/invoice.paid", &json!({"description": "Paid"})).await;
    r.assert_status(201);
    assert_eq!(c.get("/api/v1/event-type/user.signup").await.body["schemas"], schemas);

    // Deleting archives: hidden from the list unless asked for, still readable.
    assert_eq!(c.delete("/api/v1/event-type/user.deleted").await.status, 204);
    let names = |r: hookd_test_support::Response| -> Vec<String> {
        r.body["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(c.get("/api/v1/event-type").await), ["invoice.paid", "user.signup"]);
    assert_eq!(
        names(c.get("/api/v1/event-type?include_archived=true").await),
        ["invoice.paid", "user.deleted", "user.signup"]
    );
    assert_eq!(c.get("/api/v1/event-type/user.deleted").await.body["archived"], true);
    assert_eq!(c.delete("/api/v1/event-type/user.deleted?expunge=true").await.status, 204);
    assert_svix_error(&c.get("/api/v1/event-type/user.deleted").await, 404, "not_found");
}

/// Creates an application with an endpoint to `rx` filtering on `user.signup`, on the
/// channel `project_1`; returns the app id and the endpoint.
async fn app_with_endpoint(c: &Client, rx: &TestReceiver) -> (String, Value) {
    c.post("/api/v1/event-type", &json!({"name": "user.signup", "description": "Signed up"})).await.assert_status(201);
    c.post("/api/v1/event-type", &json!({"name": "user.deleted", "description": "Deleted"})).await.assert_status(201);
    let app = c.post("/api/v1/app", &json!({"name": "Acme", "uid": "acme"})).await;
    let app_id = app.body["id"].as_str().unwrap().to_owned();
    let ep = c
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            &json!({
                "url": rx.url("/svix"), "uid": "main", "description": "Main", "filterTypes": ["user.signup"],
                "channels": ["project_1"], "metadata": {"team": "growth"},
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "headers": {"X-Tenant": "acme"},
            }),
        )
        .await;
    ep.assert_status(201);
    (app_id, ep.body)
}

#[tokio::test]
async fn endpoints_receive_messages_in_svixs_protocol_and_log_their_attempts() {
    let server = svix_server().await;
    let c = server.client();
    let rx = TestReceiver::start().await;
    let (app, ep) = app_with_endpoint(&c, &rx).await;
    let ep_id = ep["id"].as_str().unwrap().to_owned();
    assert!(ep_id.starts_with("ep_"), "{ep}");
    assert_eq!(
        (&ep["filterTypes"], &ep["eventTypes"], &ep["channels"]),
        (&json!(["user.signup"]), &json!(["user.signup"]), &json!(["project_1"]))
    );
    assert_eq!(
        (&ep["uid"], &ep["disabled"], &ep["metadata"]["team"]),
        (&json!("main"), &json!(false), &json!("growth"))
    );
    // By uid too; the secret is the one given.
    assert_eq!(c.get("/api/v1/app/acme/endpoint/main").await.body["id"], ep_id.as_str());
    let secret = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/secret")).await;
    assert_eq!(secret.body["key"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    // An event type that does not exist is refused by name, as Svix does.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            &json!({"url": rx.url("/x"), "filterTypes": ["user.signup", "nope.never"]}),
        )
        .await;
    assert_invalid(&r, &[json!(["body", "filterTypes", 1])]);
    assert_svix_error(
        &c.post(&format!("/api/v1/app/{app}/endpoint"), &json!({"url": rx.url("/y"), "uid": "main"})).await,
        409,
        "conflict",
    );

    // Sent: the type and channel match. Not sent: another type, another channel.
    let msg = c
        .post(
            &format!("/api/v1/app/{app}/msg"),
            &json!({"eventType": "user.signup", "payload": {"email": "a@example.com"}, "channels": ["project_1"], "eventId": "signup-1", "tags": ["t1"]}),
        )
        .await;
    msg.assert_status(202);
    let msg_id = msg.body["id"].as_str().unwrap().to_owned();
    assert!(msg_id.starts_with("msg_"));
    assert_eq!(
        (&msg.body["eventId"], &msg.body["payload"], &msg.body["tags"]),
        (&json!("signup-1"), &json!({"email": "a@example.com"}), &json!(["t1"]))
    );
    for (ty, channels) in [("user.deleted", json!(["project_1"])), ("user.signup", json!(["project_2"]))] {
        c.post(&format!("/api/v1/app/{app}/msg"), &json!({"eventType": ty, "payload": {}, "channels": channels}))
            .await
            .assert_status(202);
    }
    // What hookd does not do is refused, not dropped.
    let r = c
        .post(
            &format!("/api/v1/app/{app}/msg"),
            &json!({"eventType": "user.signup", "payload": [1], "deliverAt": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_invalid(&r, &[json!(["body", "payload"]), json!(["body", "deliverAt"])]);
    // The same eventId again is the same message, not a second delivery.
    let again = c.post(&format!("/api/v1/app/{app}/msg"), &json!({"eventType": "user.signup", "payload": {"email": "other"}, "channels": ["project_1"], "eventId": "signup-1"})).await;
    assert_eq!(again.body["id"], msg_id.as_str());

    let got = rx.wait_for(1, Some("/svix"), WAIT).await;
    let d = &got[0];
    assert_eq!(&d.body[..], br#"{"email":"a@example.com"}"#, "the payload alone is the body");
    assert_eq!(d.header("svix-id"), Some(msg_id.as_str()));
    assert!(d.header("webhook-id").is_none() && d.header("webhook-signature").is_none());
    assert_eq!(d.header("x-tenant"), Some("acme"));
    let headers: Vec<(String, String)> =
        d.headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    let key = hookd_delivery::signing::VerifyKey::Secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    hookd_delivery::signing::verify(&key, &headers, &d.body, now, 300).expect("signed over svix-id");

    // The message, its list with filters, its attempts and destinations.
    let m = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}")).await;
    assert_eq!((&m.body["eventType"], &m.body["channels"]), (&json!("user.signup"), &json!(["project_1"])));
    assert_eq!(c.get(&format!("/api/v1/app/{app}/msg/signup-1")).await.body["id"], msg_id.as_str(), "by eventId");
    let list = c.get(&format!("/api/v1/app/{app}/msg?event_types=user.signup&channel=project_1")).await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "{}", list.text);
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/msg?tag=t1&with_content=false")).await.body["data"][0]["payload"],
        json!({})
    );
    assert_eq!(c.get(&format!("/api/v1/app/{app}/msg?limit=2")).await.body["data"].as_array().unwrap().len(), 2);
    let attempts = eventually(WAIT, || async {
        let r = c.get(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}")).await;
        match r.body["data"].as_array().map(Vec::len) {
            Some(1) => Ok(r.body),
            _ => Err(r.text),
        }
    })
    .await;
    let a = &attempts["data"][0];
    assert_eq!((&a["status"], &a["statusText"], &a["responseStatusCode"]), (&json!(0), &json!("success"), &json!(200)));
    assert_eq!((a["msgId"].as_str(), a["endpointId"].as_str()), (Some(msg_id.as_str()), Some(ep_id.as_str())));
    assert!(a["id"].as_str().unwrap().starts_with("atmpt_"));
    let one = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/attempt/{}", a["id"].as_str().unwrap())).await;
    assert_eq!(one.body, *a);
    let by_ep = c.get(&format!("/api/v1/app/{app}/attempt/endpoint/{ep_id}")).await;
    assert_eq!(by_ep.body["data"][0]["id"], a["id"]);
    let dest = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/endpoint")).await;
    assert_eq!((&dest.body["data"][0]["id"], &dest.body["data"][0]["status"]), (&json!(ep_id), &json!(0)));
    let sent = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/msg")).await;
    assert_eq!(sent.body["data"][0]["id"], msg_id.as_str());

    // Resend: a second delivery of the same message, logged as a manual attempt.
    assert_eq!(
        c.post(&format!("/api/v1/app/{app}/msg/{msg_id}/endpoint/{ep_id}/resend"), &json!({})).await.status,
        202
    );
    let got = rx.wait_for(2, Some("/svix"), WAIT).await;
    assert_eq!(got[1].header("svix-id"), Some(msg_id.as_str()));
    let stats = eventually(WAIT, || async {
        let r = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/stats")).await;
        if r.body["success"] == 1 {
            Ok(r.body)
        } else {
            Err(r.text)
        }
    })
    .await;
    assert_eq!(stats, json!({"success": 1, "pending": 0, "sending": 0, "fail": 0, "canceled": 0}));

    // Headers: read in full, patched, replaced.
    let h = c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers")).await;
    assert_eq!(h.body, json!({"headers": {"X-Tenant": "acme"}, "sensitive": []}));
    let r = c
        .patch(
            &format!("/api/v1/app/{app}/endpoint/{ep_id}/headers"),
            &json!({"headers": {"X-Extra": "1", "x-tenant": null}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/headers")).await.body["headers"],
        json!({"X-Extra": "1"})
    );

    // PATCH and PUT of the endpoint; `filterTypes: null` is every event.
    let r =
        c.patch(&format!("/api/v1/app/{app}/endpoint/{ep_id}"), &json!({"filterTypes": null, "disabled": true})).await;
    assert_eq!(
        (&r.body["filterTypes"], &r.body["disabled"], &r.body["uid"]),
        (&Value::Null, &json!(true), &json!("main"))
    );
    let r = c.put(&format!("/api/v1/app/{app}/endpoint/{ep_id}"), &json!({"url": rx.url("/svix")})).await;
    assert_eq!(
        (&r.body["channels"], &r.body["disabled"], &r.body["uid"], &r.body["description"]),
        (&Value::Null, &json!(false), &Value::Null, &json!(""))
    );
    assert_invalid(&c.put(&format!("/api/v1/app/{app}/endpoint/{ep_id}"), &json!({})).await, &[json!(["body", "url"])]);
    // A PUT to a uid no endpoint has creates it.
    let r = c.put(&format!("/api/v1/app/{app}/endpoint/backup"), &json!({"url": rx.url("/backup")})).await;
    assert_eq!((r.status, &r.body["uid"]), (201, &json!("backup")), "{}", r.text);
    assert_eq!(c.delete(&format!("/api/v1/app/{app}/endpoint/backup")).await.status, 204);

    // Rotation: the new secret signs, and the old one still does during the overlap.
    let rotated = c.post(&format!("/api/v1/app/{app}/endpoint/{ep_id}/secret/rotate"), &json!({})).await;
    rotated.assert_status(200);
    let new_secret =
        c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}/secret")).await.body["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated.body["key"], new_secret.as_str());
    assert!(new_secret.starts_with("whsec_") && new_secret != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    c.post(&format!("/api/v1/app/{app}/msg"), &json!({"eventType": "user.deleted", "payload": {"n": 3}}))
        .await
        .assert_status(202);
    let got = rx.wait_for(3, Some("/svix"), WAIT).await;
    let headers: Vec<(String, String)> =
        got[2].headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
    for s in [new_secret.as_str(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
        let key = hookd_delivery::signing::VerifyKey::Secret(s.into());
        hookd_delivery::signing::verify(&key, &headers, &got[2].body, now, 300).expect("both secrets sign");
    }
    assert_eq!(c.delete(&format!("/api/v1/app/{app}/endpoint/{ep_id}")).await.status, 204);
    assert_svix_error(&c.get(&format!("/api/v1/app/{app}/endpoint/{ep_id}")).await, 404, "not_found");
}

#[tokio::test]
async fn recover_sends_the_failed_messages_again() {
    let server = crate::delivering_server(|c| {
        c.compat.svix.enabled = true;
        c.delivery.retry_schedule = vec![Duration::ZERO];
    })
    .await;
    let c = server.client();
    let rx = TestReceiver::start().await;
    rx.respond_with(|r| (r.path == "/down").then(|| Reply::status(500)));
    let app = c.post("/api/v1/app", &json!({"name": "Acme"})).await.body["id"].as_str().unwrap().to_owned();
    let ep = c.post(&format!("/api/v1/app/{app}/endpoint"), &json!({"url": rx.url("/down")})).await;
    let ep_id = ep.body["id"].as_str().unwrap().to_owned();
    let since = hookd_core::time_fmt::format(hookd_core::time_fmt::now() - Duration::from_secs(60));
    let msg =
        c.post(&format!("/api/v1/app/{app}/msg"), &json!({"eventType": "user.signup", "payload": {"n": 1}})).await;
    let msg_id = msg.body["id"].as_str().unwrap().to_owned();
    eventually(WAIT, || async {
        let r = c.get(&format!("/api/v1/app/{app}/msg/{msg_id}/endpoint")).await;
        if r.body["data"][0]["status"] == 2 {
            Ok(())
        } else {
            Err(r.text)
        }
    })
    .await;
    let r = c.patch(&format!("/api/v1/app/{app}/endpoint/{ep_id}"), &json!({"url": rx.url("/up")})).await;
    r.assert_status(200);
    let r = c.post(&format!("/api/v1/app/{app}/endpoint/{ep_id}/recover"), &json!({"since": since})).await;
    assert_eq!((r.status, &r.body["task"], &r.body["status"]), (202, &json!("endpoint.recover"), &json!("finished")));
    let got = rx.wait_for(1, Some("/up"), WAIT).await;
    assert_eq!(got[0].header("svix-id"), Some(msg_id.as_str()));
    assert_invalid(
        &c.post(&format!("/api/v1/app/{app}/endpoint/{ep_id}/recover"), &json!({"since": "yesterday"})).await,
        &[json!(["body", "since"])],
    );
}

#[tokio::test]
async fn an_owner_scoped_key_acts_for_its_own_application_only() {
    let server = svix_server().await;
    let c = server.client();
    let mine = c.post("/api/v1/app", &json!({"name": "Mine"})).await.body["id"].as_str().unwrap().to_owned();
    let theirs = c.post("/api/v1/app", &json!({"name": "Theirs"})).await.body["id"].as_str().unwrap().to_owned();
    let ws = server.admin.find_workspace("default").await.unwrap();
    let key = server
        .admin
        .create_key(
            &ws.id,
            "app key",
            vec![hookd_core::domain::Scope::WebhooksWrite, hookd_core::domain::Scope::EventsWrite],
            false,
            hookd_core::service::KeyLimits { expires_at: None, owner: Some(mine.clone()) },
        )
        .await
        .unwrap();
    let k = c.with_key(Some(&key.token));
    k.get(&format!("/api/v1/app/{mine}")).await.assert_status(200);
    assert_svix_error(&k.get(&format!("/api/v1/app/{theirs}")).await, 404, "not_found");
    assert_svix_error(
        &k.post(&format!("/api/v1/app/{theirs}/msg"), &json!({"eventType": "a.b", "payload": {}})).await,
        404,
        "not_found",
    );
    let listed = k.get("/api/v1/app").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["data"][0]["id"], mine.as_str());
    assert_svix_error(&k.post("/api/v1/app", &json!({"name": "New"})).await, 409, "conflict");
    // A key without the scope gets Svix's 403.
    let read = server
        .admin
        .create_key(&ws.id, "ro", vec![hookd_core::domain::Scope::WebhooksRead], false, Default::default())
        .await
        .unwrap();
    let ro = c.with_key(Some(&read.token));
    assert_svix_error(&ro.post("/api/v1/app", &json!({"name": "X"})).await, 403, "insufficient_access");
    ro.get(&format!("/api/v1/app/{mine}")).await.assert_status(200);
    // Secrets and header values are credentials: reading them needs the write scope.
    let ep = c.post(&format!("/api/v1/app/{mine}/endpoint"), &json!({"url": "https://example.com/e"})).await;
    let ep = ep.body["id"].as_str().unwrap().to_owned();
    for path in ["secret", "headers"] {
        let r = ro.get(&format!("/api/v1/app/{mine}/endpoint/{ep}/{path}")).await;
        assert_svix_error(&r, 403, "insufficient_access");
    }
}

/// npm's `svix` and PyPI's `svix`, installed once into target/tmp.
async fn sdks() -> PathBuf {
    static DIR: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    let pip =
        ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", "python", PYPI_SVIX];
    crate::installed(&DIR, "svix-sdks", &[&["npm", "install", "--no-audit", "--no-fund", "--silent", NPM_SVIX], &pip])
        .await
}

/// A program written as a Svix user writes it: the SDK against `serverUrl`, and a
/// receiver that verifies each delivery with the SDK's `Webhook` class.
const NODE_PROGRAM: &str = r#"
import assert from "node:assert/strict";
import http from "node:http";
import { Svix, Webhook } from "svix";

const svix = new Svix(process.env.SVIX_TOKEN, { serverUrl: process.env.SVIX_SERVER });
const received = [];
const secrets = {};
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    try {
      const payload = new Webhook(secrets[req.url]).verify(body, req.headers);
      received.push({ path: req.url, id: req.headers["svix-id"], payload });
      res.writeHead(204).end();
    } catch (e) {
      received.push({ path: req.url, error: String(e) });
      res.writeHead(400).end();
    }
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${receiver.address().port}`;
const until = async (what, check) => {
  for (let i = 0; i < 200; i++) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const app = await svix.application.create({ name: "Acme", uid: "acme", metadata: { plan: "pro" } });
const same = await svix.application.getOrCreate({ name: "Acme", uid: "acme" });
assert.equal(same.id, app.id);
assert.ok(app.createdAt instanceof Date);
await svix.eventType.create({
  name: "user.signup",
  description: "A user signed up",
  schemas: { 1: { type: "object", properties: { email: { type: "string" } } } },
});
await svix.eventType.create({ name: "invoice.paid", description: "An invoice was paid" });
assert.deepEqual(Object.keys((await svix.eventType.get("user.signup")).schemas), ["1"]);

const signups = await svix.endpoint.create(app.id, {
  url: `${base}/signups`, uid: "signups", filterTypes: ["user.signup"], channels: ["eu"],
  metadata: { team: "growth" }, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
});
const everything = await svix.endpoint.create(app.id, { url: `${base}/all`, description: "All" });
secrets["/signups"] = (await svix.endpoint.getSecret(app.id, "signups")).key;
secrets["/all"] = (await svix.endpoint.getSecret(app.id, everything.id)).key;
assert.equal(secrets["/signups"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
assert.deepEqual(signups.filterTypes, ["user.signup"]);
assert.deepEqual(signups.channels, ["eu"]);
assert.equal(signups.metadata.team, "growth");
await svix.endpoint.updateHeaders(app.id, signups.id, { headers: { "X-Tenant": "acme" } });
assert.equal((await svix.endpoint.getHeaders(app.id, signups.id)).headers["X-Tenant"], "acme");

const m1 = await svix.message.create(app.id, { eventType: "user.signup", payload: { email: "a@example.com" }, channels: ["eu"], eventId: "signup-1" });
const m2 = await svix.message.create(app.id, { eventType: "invoice.paid", payload: { amount: 5 } });
const m3 = await svix.message.create(app.id, { eventType: "user.signup", payload: { email: "b@example.com" }, channels: ["us"] });
await until("3 deliveries", () => received.length >= 4 && received);
const byPath = (p) => received.filter((r) => r.path === p);
assert.deepEqual(byPath("/signups").map((r) => r.id), [m1.id]);
assert.deepEqual(new Set(byPath("/all").map((r) => r.id)), new Set([m1.id, m2.id, m3.id]));
assert.ok(received.every((r) => !r.error), JSON.stringify(received));
assert.deepEqual(byPath("/signups")[0].payload, { email: "a@example.com" });

const attempts = await until("the attempts of m1", async () => {
  const a = await svix.messageAttempt.listByMsg(app.id, m1.id);
  return a.data.length === 2 && a;
});
assert.ok(attempts.data.every((a) => a.status === 0 && a.responseStatusCode === 204));
const byEndpoint = await svix.messageAttempt.listByEndpoint(app.id, signups.id);
assert.equal(byEndpoint.data[0].msgId, m1.id);
assert.equal((await svix.message.get(app.id, m1.id)).eventId, "signup-1");
const listed = await svix.message.list(app.id, { eventTypes: ["user.signup"] });
assert.deepEqual(listed.data.map((m) => m.id), [m3.id, m1.id]);

await svix.messageAttempt.resend(app.id, m1.id, signups.id);
await until("the resend", () => byPath("/signups").length === 2);

await svix.endpoint.rotateSecret(app.id, signups.id, {});
secrets["/signups"] = (await svix.endpoint.getSecret(app.id, signups.id)).key;
assert.notEqual(secrets["/signups"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
await svix.message.create(app.id, { eventType: "user.signup", payload: { email: "c@example.com" }, channels: ["eu"] });
await until("a delivery after the rotation", () => byPath("/signups").length === 3);
assert.ok(received.every((r) => !r.error), JSON.stringify(received));

const patched = await svix.endpoint.patch(app.id, signups.id, { description: "Sign-ups" });
assert.equal(patched.description, "Sign-ups");
assert.equal((await svix.endpoint.list(app.id)).data.length, 2);
await assert.rejects(svix.endpoint.get(app.id, "ep_missing"), (e) => e.code === 404 && e.body.code === "not_found");
await assert.rejects(svix.application.create({ name: "" }), (e) => e.code === 422);
await svix.endpoint.delete(app.id, everything.id);
await svix.application.delete(app.id);
receiver.close();
console.log(JSON.stringify({ ok: true, deliveries: received.length }));
"#;

#[tokio::test]
async fn the_npm_svix_sdk_drives_hookd_and_its_webhook_class_verifies_every_delivery() {
    let server = svix_server().await;
    let dir = sdks().await;
    let script = dir.join("program.mjs");
    std::fs::write(&script, NODE_PROGRAM).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(&dir)
        .env("SVIX_TOKEN", server.first_key.clone().unwrap())
        .env("SVIX_SERVER", &server.base)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout {stdout}\nstderr {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report, json!({"ok": true, "deliveries": 7}));
}

const PYTHON_PROGRAM: &str = r#"
import os, threading, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from svix.api import (
    Svix, SvixOptions, ApplicationIn, EndpointIn, EndpointPatch, EndpointSecretRotateIn, EventTypeIn, MessageIn,
)
from svix.webhooks import Webhook, WebhookVerificationError

svix = Svix(os.environ["SVIX_TOKEN"], SvixOptions(server_url=os.environ["SVIX_SERVER"]))
received, secrets = [], {}

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        try:
            Webhook(secrets[self.path]).verify(body, dict(self.headers))
            received.append((self.path, self.headers["svix-id"]))
            self.send_response(204)
        except WebhookVerificationError as e:
            received.append((self.path, "refused: %s" % e))
            self.send_response(400)
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % server.server_port

def until(what, check):
    for _ in range(200):
        v = check()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)

app = svix.application.get_or_create(ApplicationIn(name="Py", uid="py-app", metadata={"tier": "free"}))
assert app.uid == "py-app" and app.metadata == {"tier": "free"}
svix.event_type.create(EventTypeIn(name="invoice.paid", description="Paid", schemas={"1": {"type": "object"}}))
assert svix.event_type.get("invoice.paid").schemas == {"1": {"type": "object"}}
ep = svix.endpoint.create(app.id, EndpointIn(url=base + "/py", event_types=["invoice.paid"], channels=["billing"], metadata={"a": "b"}))
assert ep.event_types == ["invoice.paid"] and ep.channels == ["billing"]
secrets["/py"] = svix.endpoint.get_secret(app.id, ep.id).key
m = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"amount": 5}, channels=["billing"], event_id="inv-1"))
assert m.event_id == "inv-1" and m.payload == {"amount": 5}
until("the delivery", lambda: received)
assert received == [("/py", m.id)], received
attempts = until("the attempt", lambda: svix.message_attempt.list_by_msg(app.id, m.id).data)
assert attempts[0].status == 0 and attempts[0].response_status_code == 204, attempts
assert svix.message_attempt.list_by_endpoint(app.id, ep.id).data[0].msg_id == m.id
svix.message_attempt.resend(app.id, m.id, ep.id)
until("the resend", lambda: len(received) == 2)
svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
secrets["/py"] = svix.endpoint.get_secret(app.id, ep.id).key
svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"amount": 6}, channels=["billing"]))
until("a delivery after the rotation", lambda: len(received) == 3)
assert all(not r[1].startswith("refused") for r in received), received
assert svix.endpoint.patch(app.id, ep.id, EndpointPatch(description="Billing")).description == "Billing"
assert [x.id for x in svix.message.list(app.id).data][-1] == m.id
svix.application.delete(app.id)
print("ok", len(received))
"#;

#[tokio::test]
async fn the_pypi_svix_sdk_drives_hookd_and_its_webhook_class_verifies_every_delivery() {
    let server = svix_server().await;
    let dir = sdks().await;
    let out = tokio::process::Command::new("python3")
        .args(["-c", PYTHON_PROGRAM])
        .env("PYTHONPATH", dir.join("python"))
        .env("SVIX_TOKEN", server.first_key.clone().unwrap())
        .env("SVIX_SERVER", &server.base)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout {stdout}\nstderr {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "ok 3");
}
