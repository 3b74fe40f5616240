//! Egress proxies: the proxy environment variables never route deliveries (a proxy
//! resolves hosts itself, past the SSRF guard); `[delivery] proxy_url` does, and
//! literal non-public addresses are still refused.

use std::path::Path;
use std::time::Duration;

use hookd_test_support::{HookdProcess, TestReceiver, TestServer};
use serde_json::json;

use crate::{create, id_of};

#[tokio::test]
async fn proxy_environment_variables_are_ignored_by_deliveries_and_test_pings() {
    let bin = Path::new(env!("CARGO_BIN_EXE_hookd"));
    let dir = tempfile::tempdir().unwrap();
    // A "proxy" that would answer 200 to anything sent through it.
    let proxy = TestReceiver::start().await;
    let proxy_url = format!("http://{}", proxy.addr);
    let mut env = vec![("HOOKD_LOG_LEVEL", "warn")];
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        env.push((var, proxy_url.as_str()));
    }
    let node = HookdProcess::serve(bin, dir.path(), &["--dev"], &env).await;
    let client = node.client(node.first_key());
    let rx = TestReceiver::start().await;
    let wh = create(&client, &json!({"url": rx.url("/direct"), "events": ["*"]})).await;

    let r = client.post(&format!("/v1/webhooks/{}/test", id_of(&wh)), &json!({})).await;
    r.assert_status(200);
    assert_eq!(rx.received().len(), 1, "the test ping did not reach the receiver directly: {}", r.text);
    assert!(proxy.received().is_empty(), "a test ping went through the proxy of the environment");

    let r = client.post("/v1/events", &json!({"event": "order.paid", "data": {}})).await;
    r.assert_status(202);
    rx.wait_for(2, None, Duration::from_secs(10)).await;
    assert!(proxy.received().is_empty(), "a delivery went through the proxy of the environment");
}

#[tokio::test]
async fn proxy_url_routes_deliveries_through_the_proxy_and_literal_private_addresses_stay_refused() {
    let proxy = TestReceiver::start().await;
    // Named, not a literal address: the proxy's own name is resolved to loopback and
    // trusted, although deliveries may not reach loopback.
    let proxy_url = format!("http://localhost:{}", proxy.addr.port());
    let server = TestServer::builder()
        .config(|c| {
            c.allow_http = true;
            c.delivery.proxy_url = Some(proxy_url.clone());
        })
        .start()
        .await;
    let client = server.client();

    // The proxy resolves the host, so hookd never does: a public-looking name works.
    let wh = create(&client, &json!({"url": "http://hooks.example.com/receive", "events": ["*"]})).await;
    let r = client.post(&format!("/v1/webhooks/{}/test", id_of(&wh)), &json!({})).await;
    r.assert_status(200);
    assert_eq!(r.data()["status_code"], 200, "{}", r.text);
    assert_eq!(r.data()["success"], true, "{}", r.text);
    let got = proxy.received();
    assert_eq!(got[0].header("host"), Some("hooks.example.com"), "the proxy sees the webhook's host");
    assert_eq!(got[0].path, "/receive");
    assert!(got[0].header("webhook-signature").is_some(), "the request through the proxy is signed");

    // Literal non-public addresses are refused at registration, proxy or not.
    for url in ["http://127.0.0.1:9/x", "http://10.0.0.5/x", "http://[::1]/x", "http://169.254.169.254/latest"] {
        let r = client.post("/v1/webhooks", &json!({"url": url, "events": ["*"]})).await;
        r.assert_status(422);
        assert_eq!(r.error_fields(), vec!["url"], "{url}: {}", r.text);
    }
    assert_eq!(proxy.received().len(), 1, "only the test ping reached the proxy");
}

#[tokio::test]
async fn a_proxy_url_that_is_not_a_proxy_address_is_refused_at_start() {
    for (bad, why) in [
        ("socks5://127.0.0.1:1080", "http:// or https://"),
        ("http://", "not a URL"),
        ("http://proxy.internal:3128/path", "proxy's address only"),
    ] {
        let mut config = hookd::config::Config::default();
        config.delivery.proxy_url = Some(bad.into());
        let err = hookd::config::Settings::from_config(config).expect_err("refused").to_string();
        assert!(err.contains("delivery.proxy_url") && err.contains(why), "{bad}: {err}");
    }
}
