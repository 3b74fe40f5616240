//! The webhook routes' success paths.

use hookd_test_support::TestServer;
use serde_json::json;

use crate::{count, create, id_of, seed_webhook, xqr_catalog};

#[tokio::test]
async fn create_answers_the_seed_shape_with_the_secret_once() {
    let server = TestServer::builder().config(xqr_catalog).start().await;
    let c = server.client();
    let r = c.post("/v1/webhooks", &seed_webhook()).await;
    r.assert_status(201);
    let d = r.data();
    assert!(d["id"].as_str().unwrap().starts_with("wh_"));
    assert_eq!(d["url"], "https://example.com/webhooks/xqr");
    assert_eq!(d["events"], json!(["link.created", "link.scanned"]));
    assert_eq!(d["description"], "Production link events");
    assert_eq!(d["enabled"], true);
    assert_eq!(d["failure_count"], 0);
    assert_eq!(d["delivery_attempts"], 0);
    assert_eq!(d["secret_configured"], true);
    assert_eq!(d["last_delivered_at"], json!(null));
    assert_eq!(d["disabled_reason"], json!(null));
    assert_eq!(d["metadata"], json!({}));
    let secret = d["signing_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let created = d["created_at"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339).is_ok());
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");
    // The envelope's meta, mirrored in headers.
    let meta = &r.body["meta"];
    assert_eq!(meta["request_id"].as_str(), r.header("x-request-id"));
    assert_eq!(meta["rate_limit"]["limit"], 600);
    assert_eq!(
        meta["rate_limit"]["remaining"].as_u64().unwrap().to_string(),
        r.header("x-ratelimit-remaining").unwrap()
    );
    assert!(r.body["meta"].get("warnings").is_none());

    // Every other view shows only that a secret is configured.
    let id = id_of(d);
    let got = c.get(&format!("/v1/webhooks/{id}")).await;
    got.assert_status(200);
    assert!(got.data().get("signing_secret").is_none());
    assert!(!got.text.contains(secret));
    let list = c.get("/v1/webhooks").await;
    assert!(!list.text.contains(secret));
}

#[tokio::test]
async fn a_supplied_secret_is_kept_as_given() {
    let server = TestServer::start().await;
    let mut body = seed_webhook();
    body["secret"] = json!("your-webhook-secret-key");
    let d = create(&server.client(), &body).await;
    assert_eq!(d["signing_secret"], "your-webhook-secret-key");
}

#[tokio::test]
async fn get_patch_and_delete() {
    let server = TestServer::start().await;
    let c = server.client();
    let mut body = seed_webhook();
    body["metadata"] = json!({"team": "growth"});
    let d = create(&c, &body).await;
    let id = id_of(&d);
    let path = format!("/v1/webhooks/{id}");

    let r = c.patch(&path, &json!({"url": "https://example.com/v2", "events": ["link.*"], "description": null})).await;
    r.assert_status(200);
    assert_eq!(r.data()["url"], "https://example.com/v2");
    assert_eq!(r.data()["events"], json!(["link.*"]));
    assert_eq!(r.data()["description"], json!(null));
    assert_eq!(r.data()["metadata"], json!({"team": "growth"}), "absent fields are left alone");
    assert_eq!(r.data()["created_at"], d["created_at"]);

    let r = c.patch(&path, &json!({"enabled": false})).await;
    assert_eq!((r.data()["enabled"].clone(), r.data()["disabled_reason"].clone()), (json!(false), json!("manual")));
    let r = c.patch(&path, &json!({"enabled": true, "metadata": {}})).await;
    assert_eq!((r.data()["enabled"].clone(), r.data()["disabled_reason"].clone()), (json!(true), json!(null)));
    assert_eq!(r.data()["metadata"], json!({}));

    let got = c.get(&path).await;
    assert_eq!(got.data()["url"], "https://example.com/v2");

    let r = c.delete(&path).await;
    r.assert_status(200);
    assert_eq!(r.data(), &json!({"id": id, "deleted": true}));
    crate::assert_error(&c.get(&path).await, 404, "not_found");
    crate::assert_error(&c.delete(&path).await, 404, "not_found");
    assert_eq!(count(&c).await, 0);
}

#[tokio::test]
async fn creating_with_enabled_false_records_why() {
    let server = TestServer::start().await;
    let mut body = seed_webhook();
    body["enabled"] = json!(false);
    let d = create(&server.client(), &body).await;
    assert_eq!(d["enabled"], false);
    assert_eq!(d["disabled_reason"], "manual");
}

#[tokio::test]
async fn a_duplicate_url_with_overlapping_events_is_created_with_a_warning() {
    let server = TestServer::start().await;
    let c = server.client();
    let first = create(&c, &seed_webhook()).await;
    let r = c.post("/v1/webhooks", &json!({"url": "https://example.com/webhooks/xqr", "events": ["link.*"]})).await;
    r.assert_status(201);
    let warnings = r.body["meta"]["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains(first["id"].as_str().unwrap()));
    // Same URL, disjoint events: no warning.
    let r =
        c.post("/v1/webhooks", &json!({"url": "https://example.com/webhooks/xqr", "events": ["bio.published"]})).await;
    r.assert_status(201);
    assert!(r.body["meta"].get("warnings").is_none(), "{}", r.text);
    assert_eq!(count(&c).await, 3);
}

#[tokio::test]
async fn event_types_lists_the_catalog_and_test_ping() {
    let server = TestServer::builder().config(xqr_catalog).start().await;
    let r = server.client().get("/v1/event-types").await;
    r.assert_status(200);
    let names: Vec<&str> = r.data().as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&"link.created") && names.contains(&"test.ping"));
    assert_eq!(r.data()[0]["description"], "link.created happened");
}

#[tokio::test]
async fn an_open_catalog_accepts_any_dotted_name_and_a_closed_one_does_not() {
    let open = TestServer::start().await;
    create(&open.client(), &json!({"url": "https://e.com", "events": ["whatever.happened", "order.*"]})).await;
    let closed = TestServer::builder().config(xqr_catalog).start().await;
    let r =
        closed.client().post("/v1/webhooks", &json!({"url": "https://e.com", "events": ["whatever.happened"]})).await;
    crate::assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["events[0]"]);
}

#[tokio::test]
async fn secret_retrieval_is_off_by_default_and_returns_the_secret_when_enabled() {
    let off = TestServer::start().await;
    let d = create(&off.client(), &seed_webhook()).await;
    let r = off.client().get(&format!("/v1/webhooks/{}/secret", id_of(&d))).await;
    crate::assert_error(&r, 403, "feature_disabled");
    assert!(r.text.contains("secret_retrieval"));

    let on = TestServer::builder().config(|c| c.secret_retrieval = true).start().await;
    let d = create(&on.client(), &seed_webhook()).await;
    let r = on.client().get(&format!("/v1/webhooks/{}/secret", id_of(&d))).await;
    r.assert_status(200);
    assert_eq!(r.data()["signing_secret"], d["signing_secret"]);
}

#[tokio::test]
async fn rotation_returns_the_new_secret_and_keeps_the_old_one_for_the_overlap() {
    let server = TestServer::builder().config(|c| c.secret_retrieval = true).start().await;
    let c = server.client();
    let d = create(&c, &seed_webhook()).await;
    let id = id_of(&d);
    let r = c.post_raw(&format!("/v1/webhooks/{id}/secret/rotate"), "").await;
    r.assert_status(200);
    let new = r.data()["signing_secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != d["signing_secret"]);
    let expires = time::OffsetDateTime::parse(
        r.data()["previous_secret_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let hours = (expires - time::OffsetDateTime::now_utc()).whole_minutes() as f64 / 60.0;
    assert!((23.9..=24.1).contains(&hours), "overlap of {hours} h");
    let got = c.get(&format!("/v1/webhooks/{id}/secret")).await;
    assert_eq!(got.data()["signing_secret"], new.as_str());

    let r = c.post(&format!("/v1/webhooks/{id}/secret/rotate"), &json!({"secret": "my-own-rotated-secret"})).await;
    r.assert_status(200);
    assert_eq!(r.data()["signing_secret"], "my-own-rotated-secret");

    // A bad supplied secret changes nothing.
    let r = c.post(&format!("/v1/webhooks/{id}/secret/rotate"), &json!({"secret": "short"})).await;
    crate::assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["secret"]);
    let got = c.get(&format!("/v1/webhooks/{id}/secret")).await;
    assert_eq!(got.data()["signing_secret"], "my-own-rotated-secret");
}

#[tokio::test]
async fn plain_http_urls_only_where_allowed() {
    let strict = TestServer::start().await;
    let r = strict.client().post("/v1/webhooks", &json!({"url": "http://example.com/h", "events": ["*"]})).await;
    crate::assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["url"]);
    let lax = TestServer::builder().config(|c| c.allow_http = true).start().await;
    create(&lax.client(), &json!({"url": "http://example.com/h", "events": ["*"]})).await;
}

#[tokio::test]
async fn probes_answer_without_a_key() {
    let server = TestServer::start().await;
    let a = server.anonymous();
    let r = a.get("/healthz").await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "ok");
    let r = a.get("/readyz").await;
    r.assert_status(200);
    assert_eq!(r.data()["status"], "ready");
}

#[tokio::test]
async fn stats_count_attempts_by_outcome_with_latency_percentiles_per_hour() {
    use hookd_test_support::{eventually, Reply, TestReceiver};
    let server = crate::delivering_server(|c| c.delivery.retry_schedule = vec![std::time::Duration::ZERO]).await;
    let c = server.client();
    let rx = TestReceiver::start().await;
    // One request in four fails.
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    rx.respond_with(move |_| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(if n % 4 == 3 { Reply::status(500) } else { Reply::ok() })
    });
    let wh = create(&c, &json!({"url": rx.url("/stats"), "events": ["*"]})).await;
    let id = id_of(&wh);
    let empty = c.get(&format!("/v1/webhooks/{id}/stats")).await;
    empty.assert_status(200);
    let d = empty.data();
    assert_eq!(
        (&d["window"], &d["attempts"], &d["success_rate"], &d["latency_p50_ms"]),
        (&json!("24h"), &json!(0), &json!(null), &json!(null))
    );
    assert_eq!(d["hours"].as_array().unwrap().len(), 24);

    for n in 0..8 {
        crate::publish(&c, "link.created", json!({"n": n})).await;
    }
    let d = eventually(std::time::Duration::from_secs(10), || async {
        let r = c.get(&format!("/v1/webhooks/{id}/stats")).await;
        if r.data()["attempts"] == 8 {
            Ok(r.data().clone())
        } else {
            Err(r.text)
        }
    })
    .await;
    assert_eq!((&d["succeeded"], &d["failed"], &d["success_rate"]), (&json!(6), &json!(2), &json!(0.75)));
    for p in ["latency_p50_ms", "latency_p95_ms", "latency_p99_ms"] {
        assert!(d[p].as_f64().is_some_and(|v| v >= 0.0), "{p}: {d}");
    }
    assert!(d["latency_p50_ms"].as_f64() <= d["latency_p99_ms"].as_f64());
    // The hours sum to the total; the current hour is the last.
    let hours = d["hours"].as_array().unwrap();
    assert_eq!(hours.iter().map(|h| h["attempts"].as_i64().unwrap()).sum::<i64>(), 8);
    assert!(hours.last().unwrap()["attempts"].as_i64().unwrap() > 0 || hours[22]["attempts"].as_i64().unwrap() > 0);
    let since = hookd_core::time_fmt::parse(d["since"].as_str().unwrap()).unwrap();
    assert_eq!(hookd_core::time_fmt::parse(hours[0]["hour"].as_str().unwrap()).unwrap(), since);

    let week = c.get(&format!("/v1/webhooks/{id}/stats?window=7d")).await;
    assert_eq!((week.data()["hours"].as_array().unwrap().len(), &week.data()["attempts"]), (168, &json!(8)));
    let r = c.get(&format!("/v1/webhooks/{id}/stats?window=30d")).await;
    crate::assert_error(&r, 422, "validation_error");
    assert_eq!(r.error_fields(), ["window"]);
    crate::assert_error(&c.get("/v1/webhooks/wh_00000000-0000-7000-8000-000000000000/stats").await, 404, "not_found");
}
