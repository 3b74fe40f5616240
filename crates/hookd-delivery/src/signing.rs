//! Signing deliveries with both schemes hookd sends:
//!
//! - the body HMAC, `sha256=<hex HMAC-SHA256(secret, body)>`, keyed by the secret
//!   string's bytes (what the seed products' receivers verify);
//! - Standard Webhooks, `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, keyed
//!   by the base64-decoded part of a `whsec_` secret, or a plain secret's bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// `sha256=<hex>` of the body, keyed by the secret string.
pub fn body_hmac(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// The key Standard Webhooks signs with.
pub fn standard_key(secret: &str) -> Vec<u8> {
    match secret.strip_prefix("whsec_").map(|b64| STANDARD.decode(b64)) {
        Some(Ok(bytes)) => bytes,
        _ => secret.as_bytes().to_vec(),
    }
}

/// One `v1,<base64>` signature.
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = mac(&standard_key(secret));
    m.update(msg_id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("v1,{}", STANDARD.encode(m.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn standard_header<'a>(
    secrets: impl IntoIterator<Item = &'a str>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets.into_iter().map(|s| standard_signature(s, msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector published by the Standard Webhooks specification.
    #[test]
    fn standard_webhooks_test_vector() {
        let sig = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    /// What the seed's Express handler computes:
    /// `"sha256=" + crypto.createHmac("sha256", secret).update(body).digest("hex")`.
    #[test]
    fn body_hmac_matches_hex_hmac_sha256_of_the_secret_string() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            body_hmac("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rotation_carries_both_signatures() {
        let h = standard_header(["new-secret-value-1", "old-secret-value-2"], "evt_1", 1, b"{}");
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], standard_signature("new-secret-value-1", "evt_1", 1, b"{}"));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn plain_secrets_sign_with_their_bytes() {
        assert_eq!(standard_key("your-webhook-secret-key"), b"your-webhook-secret-key");
        assert_eq!(standard_key("whsec_AAEC"), vec![0, 1, 2]);
    }
}
