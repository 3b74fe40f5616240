//! docs/verify.md's Node and Python receivers, run as written against real deliveries
//! of an `hmac` and an `ed25519` webhook: each must accept the delivery, and refuse it
//! with its body changed or re-serialised. The `v1` ones use the Standard Webhooks
//! libraries from npm and PyPI; the `v1a` ones Node's own crypto and PyPI's
//! `cryptography`, implementations independent of hookd's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookd_test_support::{Received, TestReceiver};
use serde_json::json;

use crate::{create, delivering_server, publish};

const WAIT: Duration = Duration::from_secs(10);

/// A tested snippet: its language, scheme, exported function and code.
struct Snippet {
    language: String,
    scheme: String,
    function: String,
    code: String,
}

/// The fenced blocks marked `<!-- tested: <language> <scheme> <function> -->`.
fn snippets() -> Vec<Snippet> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/verify.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = doc.as_str();
    while let Some(at) = rest.find("<!-- tested: ") {
        rest = &rest[at + "<!-- tested: ".len()..];
        let (marker, after) = rest.split_once(" -->").unwrap();
        let mut words = marker.split_whitespace().map(str::to_owned);
        let (language, scheme, function) = (words.next().unwrap(), words.next().unwrap(), words.next().unwrap());
        let fence = after.find("```").unwrap();
        let body = &after[fence..];
        let start = body.find('\n').unwrap() + 1;
        let end = body[start..].find("```").unwrap();
        out.push(Snippet { language, scheme, function, code: body[start..start + end].to_owned() });
        rest = &body[start + end..];
    }
    out
}

/// What the snippets import: npm's standardwebhooks, and PyPI's standardwebhooks and
/// cryptography.
async fn packages() -> PathBuf {
    static DIR: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    let pip = ["python3", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", "python"];
    let pip: Vec<&str> = pip.iter().copied().chain(["standardwebhooks", "cryptography"]).collect();
    crate::installed(
        &DIR,
        "verify-docs",
        &[&["npm", "install", "--no-audit", "--no-fund", "--silent", "standardwebhooks@1"], &pip],
    )
    .await
}

/// Runs a snippet on one delivery: `Ok(())` when it accepts it, `Err(message)` when not.
async fn run(s: &Snippet, key: &str, req: &Received, body: &[u8]) -> Result<(), String> {
    let dir = packages().await;
    let case = tempfile::tempdir_in(&dir).unwrap();
    let headers: serde_json::Map<String, serde_json::Value> =
        req.headers.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap()))).collect();
    std::fs::write(case.path().join("headers.json"), serde_json::to_vec(&headers).unwrap()).unwrap();
    std::fs::write(case.path().join("body"), body).unwrap();
    let out = match s.language.as_str() {
        "node" => {
            std::fs::write(case.path().join("snippet.mjs"), &s.code).unwrap();
            let driver = format!(
                r#"import {{ readFileSync }} from "node:fs";
import {{ {f} }} from "./snippet.mjs";
const headers = JSON.parse(readFileSync("headers.json", "utf8"));
try {{ {f}(process.argv[2], headers, readFileSync("body")); console.log("ACCEPTED"); }}
catch (e) {{ console.log("REFUSED " + e.message); }}"#,
                f = s.function
            );
            std::fs::write(case.path().join("driver.mjs"), driver).unwrap();
            tokio::process::Command::new("node").arg("driver.mjs").arg(key).current_dir(case.path()).output().await
        }
        "python" => {
            std::fs::write(case.path().join("snippet.py"), &s.code).unwrap();
            let driver = format!(
                r#"import json, sys
from snippet import {f}
headers = json.load(open("headers.json"))
try:
    {f}(sys.argv[1], headers, open("body", "rb").read())
    print("ACCEPTED")
except Exception as e:
    print("REFUSED", type(e).__name__, e)"#,
                f = s.function
            );
            std::fs::write(case.path().join("driver.py"), driver).unwrap();
            tokio::process::Command::new("python3")
                .arg("driver.py")
                .arg(key)
                .env("PYTHONPATH", dir.join("python"))
                .current_dir(case.path())
                .output()
                .await
        }
        other => panic!("no runner for {other}"),
    }
    .expect("the interpreter runs");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match stdout.as_str() {
        "ACCEPTED" => Ok(()),
        s if s.starts_with("REFUSED") => Err(s.to_owned()),
        _ => panic!("the snippet did not run: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)),
    }
}

#[tokio::test]
async fn the_documented_node_and_python_receivers_verify_real_deliveries() {
    let snippets = snippets();
    let found: Vec<String> = snippets.iter().map(|s| format!("{} {}", s.language, s.scheme)).collect();
    assert_eq!(found, ["node v1", "node v1a", "python v1", "python v1a"]);

    let server = delivering_server(|_| {}).await;
    let rx = TestReceiver::start().await;
    let c = server.client();
    let hmac = create(&c, &json!({"url": rx.url("/v1"), "events": ["*"]})).await;
    let ed = create(&c, &json!({"url": rx.url("/v1a"), "events": ["*"], "signing": "ed25519"})).await;
    // Data whose bytes a JSON round trip changes: spacing, key order, a trailing zero.
    let raw = r#"{"event": "link.created", "data": {"z": 1.50, "a":  "caf\u00e9"}}"#;
    c.post_raw("/v1/events", raw).await.assert_status(202);
    publish(&c, "link.created", json!({"n": 1})).await;
    let v1 = rx.wait_for(2, Some("/v1"), WAIT).await;
    let v1a = rx.wait_for(2, Some("/v1a"), WAIT).await;

    for s in &snippets {
        let (key, got) = match s.scheme.as_str() {
            "v1" => (hmac["signing_secret"].as_str().unwrap(), &v1),
            _ => (ed["public_key"].as_str().unwrap(), &v1a),
        };
        for req in got {
            run(s, key, req, &req.body)
                .await
                .unwrap_or_else(|e| panic!("{} {} refused a delivery: {e}", s.language, s.scheme));
        }
        let req = &got[0];
        let mut tampered = req.body.to_vec();
        *tampered.last_mut().unwrap() = b' ';
        tampered.push(b'}');
        assert!(run(s, key, req, &tampered).await.is_err(), "{} {} accepted a changed body", s.language, s.scheme);
        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&req.body).unwrap()).unwrap();
        assert_ne!(reserialised, req.body.to_vec());
        assert!(
            run(s, key, req, &reserialised).await.is_err(),
            "{} {} accepted a re-serialised body",
            s.language,
            s.scheme
        );
        // The other scheme's key verifies nothing.
        let other = if s.scheme == "v1" { &v1a[0] } else { &v1[0] };
        assert!(
            run(s, key, other, &other.body).await.is_err(),
            "{} {}: another webhook's delivery",
            s.language,
            s.scheme
        );
    }
}
