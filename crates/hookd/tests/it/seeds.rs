//! The seed documents' own code, run as written against hookd: the xqr integration
//! guide's Express handler receives and verifies real deliveries from hookd configured
//! as `examples/xqr.toml` does it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_test_support::{eventually, free_port};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{create, deliveries_until, id_of, publish};

/// The handler from the xqr "Webhook Integration" page, unchanged, inside the few lines
/// an app needs around it (the page elides `const app = express()` and `listen`).
const EXPRESS_APP: &str = r#"
import crypto from "node:crypto";
import express from "express";
const WEBHOOK_SECRET = process.env.XQR_WEBHOOK_SECRET;
const app = express();

app.post("/webhooks/xqr", express.raw({ type: "application/json" }), (req, res) => {
// Verify signature
const signature = req.headers["x-xqr-signature"];
const expected = "sha256=" + crypto
.createHmac("sha256", WEBHOOK_SECRET)
.update(req.body)
.digest("hex");
if (signature !== expected) {
return res.status(401).send("Invalid signature");
}
// Process event
const event = JSON.parse(req.body);
switch (event.event) {
case "link.created":
console.log("New link:", event.data.short_code);
break;
case "link.scanned":
console.log("Scan from:", event.data.country);
break;
}
res.status(200).send("OK");
});

app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
"#;

/// A directory with express installed, shared by test runs.
async fn express_dir() -> PathBuf {
    static INSTALLED: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    crate::installed(
        &INSTALLED,
        "seed-express",
        &[&["npm", "install", "--no-audit", "--no-fund", "--silent", "express@4"]],
    )
    .await
}

struct NodeApp {
    _child: tokio::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

async fn start_express(secret: &str, port: u16) -> NodeApp {
    let dir = express_dir().await;
    let script = dir.join(format!("app-{port}.mjs"));
    std::fs::write(&script, EXPRESS_APP).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .env("XQR_WEBHOOK_SECRET", secret)
        .env("PORT", port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut r = BufReader::new(stdout).lines();
        while let Ok(Some(l)) = r.next_line().await {
            sink.lock().unwrap().push(l);
        }
    });
    let app = NodeApp { _child: child, lines };
    eventually(Duration::from_secs(20), || async {
        if app.lines.lock().unwrap().iter().any(|l| l == "listening") {
            Ok(())
        } else {
            Err("express not up".to_owned())
        }
    })
    .await;
    app
}

#[tokio::test]
async fn the_xqr_express_handler_verifies_hookd_deliveries_unchanged() {
    let server = crate::delivering_server(|c| {
        crate::xqr_catalog(c);
        c.key_prefix = "xqr_pk".into();
        c.delivery.signature_header = "X-XQR-Signature".into();
        c.delivery.retry_schedule = vec![Duration::ZERO];
    })
    .await;
    let c = server.client();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/webhooks/xqr");
    let wh = create(
        &c,
        &json!({"url": url, "events": ["link.created", "link.scanned"], "description": "Production webhook"}),
    )
    .await;
    let app = start_express(wh["signing_secret"].as_str().unwrap(), port).await;

    publish(&c, "link.created", json!({"short_code": "abc123"})).await;
    publish(&c, "link.scanned", json!({"country": "NL"})).await;
    deliveries_until(&c, &id_of(&wh), "both accepted by the handler", |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let lines = app.lines.lock().unwrap().clone();
    assert!(lines.contains(&"New link: abc123".to_owned()), "{lines:?}");
    assert!(lines.contains(&"Scan from: NL".to_owned()), "{lines:?}");

    // The handler really checks: a webhook whose secret the app does not have is refused.
    let other = create(&c, &json!({"url": url, "events": ["link.created"]})).await;
    publish(&c, "link.created", json!({"short_code": "zzz"})).await;
    let list =
        deliveries_until(&c, &id_of(&other), "refused by the handler", |l| l.len() == 1 && l[0]["status"] == "failed")
            .await;
    assert_eq!(list[0]["last_status_code"], 401);
}

/// A server configured as `examples/xqr.toml`: xqr's catalog, `xqr_pk` keys, `/api`.
async fn xqr_server() -> hookd_test_support::TestServer {
    hookd_test_support::TestServer::builder()
        .config(|c| {
            crate::xqr_catalog(c);
            c.key_prefix = "xqr_pk".into();
            c.path_prefix = "/api".into();
            c.delivery.signature_header = "X-XQR-Signature".into();
        })
        .start()
        .await
}

/// The first seed's request body, as its three examples send it.
fn assert_created_like_the_seed(server_body: &serde_json::Value) {
    let d = &server_body["data"];
    assert!(d["id"].as_str().unwrap().starts_with("wh_"), "{server_body}");
    assert_eq!(d["url"], "https://example.com/webhooks/xqr");
    assert_eq!(d["events"], json!(["link.created", "link.scanned"]));
    assert_eq!(d["description"], "Production link events");
    assert_eq!(d["enabled"], true);
    assert_eq!(d["failure_count"], 0);
    assert_eq!(server_body["meta"]["rate_limit"]["limit"], 600);
}

#[tokio::test]
async fn the_xqr_curl_example_works_with_only_host_and_key_changed() {
    let server = xqr_server().await;
    let key = server.first_key.clone().unwrap();
    assert!(key.starts_with("xqr_pk_"));
    let out = tokio::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            &format!("{}/api/v1/webhooks", server.base),
            "-H",
            &format!("Authorization: Bearer {key}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{ "url": "https://example.com/webhooks/xqr", "events": ["link.created", "link.scanned"], "description": "Production link events" }"#,
        ])
        .output()
        .await
        .expect("curl runs");
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON from curl");
    assert_created_like_the_seed(&body);
}

#[tokio::test]
async fn the_xqr_fetch_example_works_with_only_host_and_key_changed() {
    let server = xqr_server().await;
    let key = server.first_key.clone().unwrap();
    let script = format!(
        r#"const response = await fetch("{base}/api/v1/webhooks", {{ method: "POST", headers: {{ Authorization: "Bearer {key}", "Content-Type": "application/json", }}, body: JSON.stringify({{ url: "https://example.com/webhooks/xqr", events: ["link.created", "link.scanned"], description: "Production link events", }}),}});
const {{ data }} = await response.json();console.log(data.id); // "wh_a1b2c3d4..."
"#,
        base = server.base
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("create.mjs");
    std::fs::write(&path, script).unwrap();
    let out = tokio::process::Command::new("node").arg(&path).output().await.expect("node runs");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(id.starts_with("wh_"), "stdout {id:?}, stderr {}", String::from_utf8_lossy(&out.stderr));
    let got = server.client().get(&format!("/api/v1/webhooks/{id}")).await;
    got.assert_status(200);
    assert_created_like_the_seed(&got.body);
}

#[tokio::test]
async fn the_xqr_httpx_example_works_with_only_host_and_key_changed() {
    let server = xqr_server().await;
    let key = server.first_key.clone().unwrap();
    let site = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seed-httpx");
    if !site.join("httpx").exists() {
        let out = tokio::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target"])
            .arg(&site)
            .arg("httpx")
            .output()
            .await
            .expect("python3 runs");
        assert!(out.status.success(), "pip install httpx failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The page runs two statements together on one line; only that newline is restored.
    let script = format!(
        r#"import httpx
response = httpx.post( "{base}/api/v1/webhooks", headers={{ "Authorization": "Bearer {key}", "Content-Type": "application/json", }}, json={{ "url": "https://example.com/webhooks/xqr", "events": ["link.created", "link.scanned"], "description": "Production link events", }},)
data = response.json()["data"]
print(data["id"]) # "wh_a1b2c3d4..."
"#,
        base = server.base
    );
    let out = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .env("PYTHONPATH", &site)
        .output()
        .await
        .expect("python3 runs");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(id.starts_with("wh_"), "stdout {id:?}, stderr {}", String::from_utf8_lossy(&out.stderr));
    let got = server.client().get(&format!("/api/v1/webhooks/{id}")).await;
    assert_created_like_the_seed(&got.body);
    // The probes stay at the root.
    server.anonymous().get("/healthz").await.assert_status(200);
    assert_eq!(server.client().get("/v1/webhooks").await.status, 404, "the API lives below /api only");
}

/// The xqr integration guide, step by step, against a server started from
/// `examples/xqr.toml`: its shell commands run as written (`https://xqr.co` replaced by
/// the test server, the receiver on plain http on loopback), with `$XQR_API_KEY` and
/// `$JWT_TOKEN` both set to a hookd API key, and the guide's Express handler receiving.
#[tokio::test]
async fn the_xqr_integration_guide_runs_step_by_step() {
    xqr_guide(false).await;
}

/// The same guide with `$JWT_TOKEN` a real JWT of the product's (`[auth.jwt]`, a JWKS
/// file, workspace-wide tokens), as the guide's developer routes expect.
#[tokio::test]
async fn the_xqr_integration_guide_runs_with_a_jwt_as_jwt_token() {
    xqr_guide(true).await;
}

async fn xqr_guide(with_jwt: bool) {
    use hookd::config::JwtConfig;
    let jwks_dir = tempfile::tempdir().unwrap();
    let server = hookd_test_support::TestServer::builder()
        .profile(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/xqr.toml"))
        .config(|c| {
            c.allow_http = true;
            c.delivery.allow_private_cidrs = vec!["127.0.0.0/8".into()];
            if with_jwt {
                // Workspace-wide tokens: the guide's developer sees the workspace's webhooks.
                c.auth.jwt =
                    Some(JwtConfig { owner_claim: String::new(), ..crate::jwt::jwt_from_file(jwks_dir.path()) });
            }
        })
        .start()
        .await;
    let key = server.first_key.clone().unwrap();
    let jwt_token = if with_jwt {
        let ws = server.admin.find_workspace("default").await.unwrap();
        crate::jwt::ed25519_token(&json!({"workspace": ws.id.to_string(), "scope": "webhooks.manage"}))
    } else {
        key.clone()
    };
    let port = free_port();
    let sh = |script: String, webhook_id: &str| {
        let script = script.replace("https://xqr.co", &server.base);
        let mut cmd = tokio::process::Command::new("bash");
        cmd.args(["-c", &script]).env("XQR_API_KEY", &key).env("JWT_TOKEN", &jwt_token).env("WEBHOOK_ID", webhook_id);
        async move {
            let out = cmd.output().await.expect("bash runs");
            assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap_or_else(|_| panic!("{script}: not JSON: {}", String::from_utf8_lossy(&out.stdout)))
        }
    };
    // 1. Create a webhook endpoint.
    let step1 = format!(
        r#"curl -X POST https://xqr.co/api/v1/webhooks \
-H "Authorization: Bearer $XQR_API_KEY" \
-H "Content-Type: application/json" \
-d '{{
"url": "http://127.0.0.1:{port}/webhooks/xqr",
"events": ["link.created", "link.scanned"],
"description": "Production webhook"
}}'"#
    );
    let created = sh(step1, "").await;
    let id = created["data"]["id"].as_str().expect("Save the webhook id from the response").to_owned();
    // 2. Get the signing secret.
    let step2 = r#"curl "https://xqr.co/api/developer/webhooks/${WEBHOOK_ID}/secret" \
-H "Authorization: Bearer $JWT_TOKEN""#;
    let secret = sh(step2.to_owned(), &id).await["data"]["signing_secret"].as_str().expect("the secret").to_owned();
    assert_eq!(secret, created["data"]["signing_secret"].as_str().unwrap());
    // 3. The handler.
    let app = start_express(&secret, port).await;
    // 4. Test the endpoint.
    let step4 = r#"curl -X POST "https://xqr.co/api/developer/webhooks/${WEBHOOK_ID}/test" \
-H "Authorization: Bearer $JWT_TOKEN""#;
    let ping = sh(step4.to_owned(), &id).await;
    assert_eq!(
        (ping["data"]["success"].as_bool(), ping["data"]["status_code"].as_i64()),
        (Some(true), Some(200)),
        "{ping}"
    );
    // Real events, then 5. Monitor deliveries.
    let c = server.client().with_key(Some(&key));
    let list_path = format!("/api/v1/webhooks/{id}/deliveries");
    let events = c.post("/api/v1/events", &json!({"event": "link.created", "data": {"short_code": "q1"}})).await;
    events.assert_status(202);
    eventually(Duration::from_secs(10), || async {
        let l = c.get(&list_path).await;
        let all = l.data().as_array().cloned().unwrap_or_default();
        if all.len() == 2 && all.iter().all(|d| d["status"] == "succeeded") {
            Ok(())
        } else {
            Err(l.text)
        }
    })
    .await;
    let step5 = r#"curl "https://xqr.co/api/v1/webhooks/${WEBHOOK_ID}/deliveries" \
-H "Authorization: Bearer $XQR_API_KEY""#;
    let log = sh(step5.to_owned(), &id).await;
    let kinds: Vec<_> =
        log["data"].as_array().unwrap().iter().map(|d| d["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["link.created", "test.ping"], "{log}");
    assert!(app.lines.lock().unwrap().contains(&"New link: q1".to_owned()));
}
