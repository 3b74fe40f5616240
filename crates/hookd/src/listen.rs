//! `hookd listen`: a local receiver for development. It prints every delivery it gets
//! and whether its signatures verify, and answers 200 (or the status you choose).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hookd_delivery::signing::{self, VerifyError, VerifyKey};

/// How far a `webhook-timestamp` may be from now and still verify.
const TOLERANCE_SECS: i64 = 300;

pub struct ListenOptions {
    pub addr: SocketAddr,
    pub key: Option<VerifyKey>,
    pub signature_header: String,
    pub status: StatusCode,
}

struct Ctx {
    key: Option<VerifyKey>,
    signature_header: String,
    status: StatusCode,
}

/// Serves until Ctrl-C.
pub async fn listen(opts: ListenOptions) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("cannot listen on {} (choose another with --port)", opts.addr))?;
    let addr = listener.local_addr()?;
    println!("Listening on http://{addr}/ (any path). Point a webhook at it with `hookd serve --dev`:");
    println!("  {{\"url\": \"http://{addr}/webhooks\", \"events\": [\"*\"]}}");
    match &opts.key {
        None => println!(
            "Signatures are not checked: pass --secret <the webhook's signing_secret> (or --public-key whpk_… \
             for an ed25519 webhook) to check them."
        ),
        Some(VerifyKey::Secret(_)) => {
            println!("Checking the body signature in {} and the Standard Webhooks signature.", opts.signature_header)
        }
        Some(VerifyKey::PublicKey(_)) => println!("Checking the Standard Webhooks v1a (Ed25519) signature."),
    }
    if !opts.status.is_success() {
        println!(
            "Answering {} to every delivery: hookd retries on its schedule (by default 5 s, then 5 min, \
             30 min, 2 h, …; the attempt number is shown on each).",
            opts.status.as_u16()
        );
    }
    let ctx = Arc::new(Ctx { key: opts.key, signature_header: opts.signature_header, status: opts.status });
    let app = axum::Router::new().fallback(receive).with_state(ctx);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the listener failed")
}

async fn receive(State(ctx): State<Arc<Ctx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
    println!("{}", describe(&ctx, uri.path(), &headers, &body));
    ctx.status
}

fn describe(ctx: &Ctx, path: &str, headers: &HeaderMap, body: &[u8]) -> String {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("-");
    let mut out = format!(
        "── {} {}  event {}  delivery {}  attempt {}  on {}  → answered {}\n",
        h("x-hookd-event"),
        time_now(),
        h("webhook-id"),
        h("x-hookd-delivery"),
        h("x-hookd-attempt"),
        path,
        ctx.status.as_u16()
    );
    let (hmac, standard) = verify(ctx, headers, body);
    out.push_str(&format!("   {:<28} {hmac}\n", format!("{}:", ctx.signature_header)));
    out.push_str(&format!("   {:<28} {standard}\n", "webhook-signature:"));
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => out.push_str(&serde_json::to_string_pretty(&v).unwrap_or_default()),
        Err(_) => out.push_str(&String::from_utf8_lossy(body)),
    }
    out
}

fn time_now() -> String {
    hookd_core::time_fmt::format(time::OffsetDateTime::now_utc())
}

/// The verdicts on the body HMAC and on the Standard Webhooks signature.
fn verify(ctx: &Ctx, headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let Some(key) = &ctx.key else {
        return ("not checked (no --secret)".into(), "not checked (no --secret)".into());
    };
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let hmac = match (key, get(&ctx.signature_header)) {
        (VerifyKey::PublicKey(_), None) => "none (an ed25519 webhook signs v1a only)".to_owned(),
        (VerifyKey::PublicKey(_), Some(_)) => "not checked (needs the secret)".to_owned(),
        (VerifyKey::Secret(_), None) => "missing".to_owned(),
        (VerifyKey::Secret(secret), Some(v)) if v == signing::body_hmac(secret, body) => "valid".to_owned(),
        (VerifyKey::Secret(_), Some(_)) => "INVALID".to_owned(),
    };
    let pairs: Vec<(String, String)> =
        headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))).collect();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let standard = match signing::verify(key, &pairs, body, now, TOLERANCE_SECS) {
        Ok(v) => format!("valid ({})", v.scheme),
        Err(VerifyError::MissingHeader(..)) => "missing".to_owned(),
        Err(VerifyError::BadSignature { .. }) => "INVALID".to_owned(),
        Err(VerifyError::OutsideTolerance { age, direction, .. }) => {
            format!("valid signature, but the timestamp is {age} s {direction}")
        }
        Err(e) => format!("INVALID ({e})"),
    };
    (hmac, standard)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn checks_both_signatures() {
        let ctx = Ctx {
            key: Some(VerifyKey::Secret("whsec_AAECAwQFBgcICQoLDA0ODw==".into())),
            signature_header: "x-hookd-signature".into(),
            status: StatusCode::OK,
        };
        let body = br#"{"id":"evt_1","event":"link.created","data":{}}"#;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut h = HeaderMap::new();
        h.insert(
            "x-hookd-signature",
            HeaderValue::from_str(&signing::body_hmac("whsec_AAECAwQFBgcICQoLDA0ODw==", body)).unwrap(),
        );
        h.insert("webhook-id", HeaderValue::from_static("evt_1"));
        h.insert("webhook-timestamp", HeaderValue::from(ts));
        let sig = signing::standard_signature("whsec_AAECAwQFBgcICQoLDA0ODw==", "evt_1", ts, body);
        h.insert("webhook-signature", HeaderValue::from_str(&format!("v1,old {sig}")).unwrap());
        assert_eq!(verify(&ctx, &h, body), ("valid".into(), "valid (v1)".into()));
        h.insert("x-hookd-attempt", HeaderValue::from(2));
        let out = describe(&ctx, "/webhooks", &h, body);
        assert!(out.contains("\"event\": \"link.created\""), "{out}");
        assert!(out.contains("attempt 2") && out.contains("answered 200"), "{out}");
        assert_eq!(verify(&ctx, &h, b"tampered"), ("INVALID".into(), "INVALID".into()));
    }

    #[test]
    fn checks_an_ed25519_signature_with_the_public_key() {
        let (private, public) = hookd_core::ed25519::generate();
        let ctx = Ctx {
            key: Some(VerifyKey::PublicKey(public)),
            signature_header: "x-hookd-signature".into(),
            status: StatusCode::OK,
        };
        let body = br#"{"id":"evt_1","event":"link.created","data":{}}"#;
        let ts = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_static("evt_1"));
        h.insert("webhook-timestamp", HeaderValue::from(ts));
        let key = hookd_core::ed25519::SigningKey::from_private(&private).unwrap();
        let sig = signing::ed25519_header([&key], "evt_1", ts, body);
        h.insert("webhook-signature", HeaderValue::from_str(&sig).unwrap());
        let (hmac, standard) = verify(&ctx, &h, body);
        assert_eq!(standard, "valid (v1a)");
        assert!(hmac.starts_with("none"), "{hmac}");
        assert_eq!(verify(&ctx, &h, b"tampered").1, "INVALID");
    }
}
