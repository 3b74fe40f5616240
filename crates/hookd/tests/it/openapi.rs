//! `/openapi.json` documents every route, generated from the code.

use hookd_test_support::TestServer;

#[tokio::test]
async fn every_route_is_documented_with_its_schemas() {
    let server = TestServer::start().await;
    let r = server.anonymous().get("/openapi.json").await;
    r.assert_status(200);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/webhooks", &["get", "post"][..]),
        ("/v1/webhooks/{id}", &["get", "patch", "delete"]),
        ("/v1/webhooks/{id}/secret", &["get"]),
        ("/v1/webhooks/{id}/secret/rotate", &["post"]),
        ("/v1/event-types", &["get"]),
        ("/v1/events", &["post"]),
        ("/v1/events/batch", &["post"]),
        ("/v1/events/{id}", &["get"]),
        ("/v1/webhooks/{id}/deliveries", &["get"]),
        ("/v1/webhooks/{id}/replay", &["post"]),
        ("/v1/webhooks/{id}/test", &["post"]),
        ("/v1/deliveries/{id}", &["get"]),
        ("/v1/deliveries/{id}/retry", &["post"]),
        ("/metrics", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        ("/openapi.json", &["get"]),
    ] {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path} is not documented");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "CreateWebhookRequest",
        "UpdateWebhookRequest",
        "WebhookResponse",
        "WebhookWithSecretResponse",
        "ErrorEnvelope",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing; have {:?}", schemas.keys().collect::<Vec<_>>());
    }
    let create = &doc["paths"]["/v1/webhooks"]["post"];
    assert!(create["requestBody"].is_object());
    assert!(create["responses"]["201"].is_object() && create["responses"]["422"].is_object());
    let required = schemas["CreateWebhookRequest"]["required"].as_array().unwrap();
    assert!(required.contains(&"url".into()) && required.contains(&"events".into()));
}

#[tokio::test]
async fn the_served_document_matches_the_library_one() {
    let server = TestServer::start().await;
    let served = server.anonymous().get("/openapi.json").await.body;
    let built: serde_json::Value = hookd_api::openapi();
    assert_eq!(served, built);
}

#[tokio::test]
async fn every_status_and_bound_the_server_enforces_is_in_the_document() {
    let server = TestServer::start().await;
    let doc = server.anonymous().get("/openapi.json").await.body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses: Vec<&str> = op["responses"].as_object().unwrap().keys().map(String::as_str).collect();
            let has = |s: &str| statuses.contains(&s);
            if path.starts_with("/v1/") {
                for s in ["401", "429", "503"] {
                    assert!(has(s), "{method} {path} does not document {s}: {statuses:?}");
                }
                assert_eq!(op["responses"]["503"]["headers"]["Retry-After"]["required"], true, "{method} {path}");
            }
            if method == "post" && path.starts_with("/v1/") {
                for s in ["400", "409", "413", "422"] {
                    assert!(has(s), "{method} {path} does not document {s}: {statuses:?}");
                }
                let key = op["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "Idempotency-Key");
                let key = key.unwrap_or_else(|| panic!("{method} {path} has no Idempotency-Key"));
                assert_eq!(
                    (key["schema"]["minLength"].as_u64(), key["schema"]["maxLength"].as_u64()),
                    (Some(1), Some(255))
                );
            }
            if path.contains('{') {
                assert!(has("404"), "{method} {path} does not document 404");
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap()
            ["schema"]
            .clone()
    };
    for path in ["/v1/webhooks", "/v1/webhooks/{id}/deliveries"] {
        let limit = param(path, "limit");
        assert_eq!((limit["minimum"].as_u64(), limit["maximum"].as_u64()), (Some(1), Some(100)), "{path}");
    }
    assert_eq!(param("/v1/webhooks/{id}/deliveries", "since")["format"], "date-time");
    assert!(param("/v1/webhooks/{id}/deliveries", "status")["pattern"].as_str().unwrap().contains("in_flight"));
    let create = &schemas["CreateWebhookRequest"]["properties"];
    assert_eq!(create["events"]["minItems"], 1);
    assert_eq!(create["rate_limit"]["minimum"], 1);
    assert_eq!(create["url"]["maxLength"], 2048);
    assert!(create["url"]["pattern"].as_str().unwrap().starts_with("^https://"), "https only by default");
    let batch = &schemas["PublishBatchRequest"]["properties"]["events"];
    assert_eq!((batch["minItems"].as_u64(), batch["maxItems"].as_u64()), (Some(1), Some(1000)));
    // `data` is any JSON value; `event` is required and never null.
    let publish = &schemas["PublishEventRequest"];
    assert!(publish["properties"]["data"].get("type").is_none(), "{}", publish["properties"]["data"]);
    assert_eq!(publish["properties"]["event"]["type"], "string");
    assert!(publish["required"].as_array().unwrap().contains(&"event".into()));
    // A deployment that allows plain http says so.
    let dev = TestServer::builder().config(|c| c.allow_http = true).start().await;
    let doc = dev.anonymous().get("/openapi.json").await.body;
    let url = &doc["components"]["schemas"]["CreateWebhookRequest"]["properties"]["url"]["pattern"];
    assert!(url.as_str().unwrap().starts_with("^https?://"), "{url}");
}
