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

/// A filter that matches only an old delivery, behind more than a search window of
/// others: each page searches one window, so a page may come back short (even empty)
/// with a cursor, and following the cursors finds it.
#[tokio::test]
async fn a_filtered_log_searches_one_window_per_page_and_the_cursor_goes_on() {
    let server = crate::delivering_server(|_| {}).await;
    let rx = hookd_test_support::TestReceiver::start().await;
    let c = server.client();
    let w = create(&c, &json!({"url": rx.url("/h"), "events": ["*"]})).await;
    let id = crate::id_of(&w);
    let old = crate::publish(&c, "link.deleted", json!({"old": true})).await;
    let window = hookd_core::service::SEARCH_WINDOW as usize;
    let events: Vec<_> = (0..1000).map(|i| json!({"event": "link.created", "data": {"i": i}})).collect();
    for _ in 0..=window / 1000 {
        c.post("/v1/events/batch", &json!({"events": events})).await.assert_status(202);
    }
    let first = c.get(&format!("/v1/webhooks/{id}/deliveries?event=link.deleted")).await;
    first.assert_status(200);
    assert_eq!(first.data().as_array().unwrap().len(), 0, "the newest window holds none");
    let mut cursor = first.body["meta"]["next_cursor"].as_str().expect("a cursor to search on").to_owned();
    let mut found = Vec::new();
    for _ in 0..5 {
        let page = c.get(&format!("/v1/webhooks/{id}/deliveries?event=link.deleted&cursor={cursor}")).await;
        page.assert_status(200);
        found.extend(page.data().as_array().unwrap().iter().map(|d| d["event_id"].clone()));
        match page.body["meta"]["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(found, vec![old["id"].clone()]);
}
