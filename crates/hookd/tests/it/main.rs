//! Integration tests: the real server on 127.0.0.1 with a temp SQLite database, driven
//! over HTTP; and the real binary for the command line.

mod auth;
mod aw_profile;
mod cli;
mod delivery;
mod disk_full;
mod erasure;
mod idempotency;
mod introspection;
mod isolation;
mod jwt;
mod nodes;
mod openapi;
mod operations;
mod ordering;
mod outage;
mod pagination;
mod partner_v2;
mod persistence;
mod proxy;
mod rate_limit;
mod seeds;
mod ssrf;
mod subscriptions;
mod svix;
mod tenants;
mod traces;
mod validation;
mod verify_docs;
mod web;
mod webhooks;

use hookd_test_support::{Client, Response};
use serde_json::{json, Value};
use std::time::Duration;

/// The first seed's documented create request.
pub fn seed_webhook() -> Value {
    json!({
        "url": "https://example.com/webhooks/xqr",
        "events": ["link.created", "link.scanned"],
        "description": "Production link events"
    })
}

/// The first seed's event catalog, as `examples/xqr.toml` would configure it.
pub fn xqr_catalog(c: &mut hookd::config::Config) {
    c.event_types = [
        "link.created",
        "link.updated",
        "link.deleted",
        "link.scanned",
        "link.threshold",
        "bio.published",
        "bio.unpublished",
        "asset.uploaded",
        "subscription.updated",
    ]
    .iter()
    .map(|n| hookd::config::EventTypeConfig { name: (*n).into(), description: format!("{n} happened") })
    .collect();
}

/// Creates a webhook and returns the response's `data`.
pub async fn create(client: &Client, body: &Value) -> Value {
    let r = client.post("/v1/webhooks", body).await;
    r.assert_status(201);
    r.data().clone()
}

/// How many webhooks the client can see.
pub async fn count(client: &Client) -> usize {
    let r = client.get("/v1/webhooks?limit=100").await;
    r.assert_status(200);
    r.data().as_array().expect("a list").len()
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_owned()
}

pub fn assert_error(r: &Response, status: u16, code: &str) {
    r.assert_status(status);
    assert_eq!(r.error_code(), code, "body: {}", r.text);
    assert!(r.body["meta"]["request_id"].as_str().is_some_and(|s| s.starts_with("req_")), "{}", r.text);
}

/// A server that may deliver to loopback receivers over plain HTTP, with a fast retry
/// schedule, plus `f`'s changes.
pub async fn delivering_server(f: impl FnOnce(&mut hookd::config::Config)) -> hookd_test_support::TestServer {
    hookd_test_support::TestServer::builder()
        .config(|c| {
            c.allow_http = true;
            c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
            c.delivery.retry_schedule = vec![Duration::ZERO, Duration::from_millis(50), Duration::from_millis(50)];
            f(c)
        })
        .start()
        .await
}

/// Publishes one event and returns the response's `data`.
pub async fn publish(client: &Client, event: &str, data: Value) -> Value {
    let r = client.post("/v1/events", &serde_json::json!({"event": event, "data": data})).await;
    r.assert_status(202);
    r.data().clone()
}

/// Waits until the delivery log of `webhook` satisfies `check`, and returns it.
pub async fn deliveries_until(
    client: &Client,
    webhook: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    hookd_test_support::eventually(Duration::from_secs(10), || async {
        let r = client.get(&format!("/v1/webhooks/{webhook}/deliveries?limit=100")).await;
        let list = r.data().as_array().cloned().unwrap_or_default();
        if check(&list) {
            Ok(list)
        } else {
            Err(format!("waiting for {what}; deliveries: {}", r.text))
        }
    })
    .await
}

/// Packages for code run as written (a seed's Express app, the receivers of
/// docs/verify.md), installed into `target/tmp/<name>` by `commands` (each run there:
/// `["npm", "install", …]`, `["python3", "-m", "pip", "install", "--target", "python", …]`).
/// Tests run side by side in one process: one install, which the others wait for. A
/// marker written after a successful install tells a complete install from one that was
/// interrupted, which starts again from scratch.
pub async fn installed(
    cell: &'static tokio::sync::OnceCell<std::path::PathBuf>,
    name: &str,
    commands: &[&[&str]],
) -> std::path::PathBuf {
    cell.get_or_init(|| async {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let marker = dir.join(".installed");
        if marker.exists() {
            return dir;
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let package = format!(r#"{{"name": "{name}", "private": true, "type": "module"}}"#);
        std::fs::write(dir.join("package.json"), package).unwrap();
        for argv in commands {
            let out =
                tokio::process::Command::new(argv[0]).args(&argv[1..]).current_dir(&dir).output().await.unwrap_or_else(
                    |e| panic!("{} runs (curl, node with npm and python3 with pip are needed): {e}", argv[0]),
                );
            assert!(out.status.success(), "{argv:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(&marker, "").unwrap();
        dir
    })
    .await
    .clone()
}
