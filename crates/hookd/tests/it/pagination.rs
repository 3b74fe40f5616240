//! Cursor pagination: newest first, stable while rows are inserted.

use std::collections::HashSet;

use hookd_test_support::TestServer;
use serde_json::json;

use crate::create;

#[tokio::test]
async fn pages_are_newest_first_and_stable_while_rows_are_inserted() {
    let server = TestServer::start().await;
    let c = server.client();
    let mut created = Vec::new();
    for i in 0..25 {
        let d = create(&c, &json!({"url": format!("https://example.com/{i}"), "events": ["*"]})).await;
        created.push(d["id"].as_str().unwrap().to_owned());
    }
    let r = c.get("/v1/webhooks").await;
    assert_eq!(r.data().as_array().unwrap().len(), 20, "default limit");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cur) => format!("/v1/webhooks?limit=10&cursor={cur}"),
            None => "/v1/webhooks?limit=10".to_owned(),
        };
        let r = c.get(&path).await;
        r.assert_status(200);
        seen.extend(r.data().as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap().to_owned()));
        pages += 1;
        // Someone creates webhooks while we page.
        create(&c, &json!({"url": format!("https://example.com/new{pages}"), "events": ["*"]})).await;
        match r.body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, expected, "every original row once, newest first, none of the new ones");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
}

#[tokio::test]
async fn the_last_full_page_has_no_cursor() {
    let server = TestServer::start().await;
    let c = server.client();
    for i in 0..3 {
        create(&c, &json!({"url": format!("https://example.com/{i}"), "events": ["*"]})).await;
    }
    let r = c.get("/v1/webhooks?limit=3").await;
    assert_eq!(r.data().as_array().unwrap().len(), 3);
    assert!(r.body["meta"].get("next_cursor").is_none(), "{}", r.text);
}
