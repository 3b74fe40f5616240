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
    let built: serde_json::Value = serde_json::to_value(hookd_api::openapi()).unwrap();
    assert_eq!(served, built);
}
