//! Signing deliveries with both schemes hookd sends:
//!
//! - the body HMAC, `sha256=<hex HMAC-SHA256(secret, body)>`, keyed by the secret
//!   string's bytes (what the seed products' receivers verify);
//! - Standard Webhooks, `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, keyed
//!   by the base64-decoded part of a `whsec_` secret, or a plain secret's bytes;
//! - or, for a webhook that signs with Ed25519, Standard Webhooks
//!   `v1a,<base64 Ed25519(private key, "{id}.{timestamp}.{body}")>` alone.
//!
//! [`verify`] checks a received delivery, for `hookd verify` and `hookd listen`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hookd_core::ed25519::SigningKey;
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

/// What Standard Webhooks signs: `{id}.{timestamp}.{body}`.
pub fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(msg_id.len() + body.len() + 24);
    m.extend_from_slice(msg_id.as_bytes());
    m.push(b'.');
    m.extend_from_slice(timestamp.to_string().as_bytes());
    m.push(b'.');
    m.extend_from_slice(body);
    m
}

/// The `webhook-signature` header of an Ed25519 webhook: one `v1a,<base64>` signature
/// per key, space-separated.
pub fn ed25519_header<'a>(
    keys: impl IntoIterator<Item = &'a SigningKey>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let content = signed_content(msg_id, timestamp, body);
    keys.into_iter().map(|k| format!("v1a,{}", k.sign(&content))).collect::<Vec<_>>().join(" ")
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

/// What a received delivery is checked with.
#[derive(Debug, Clone)]
pub enum VerifyKey {
    /// The webhook's signing secret (`whsec_…` or the caller's own): `v1` signatures.
    Secret(String),
    /// An Ed25519 webhook's `whpk_…` public key: `v1a` signatures.
    PublicKey(String),
}

/// A delivery that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `v1` or `v1a`.
    pub scheme: &'static str,
    pub msg_id: String,
    pub timestamp: i64,
}

/// Why a delivery did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing header {0} (also looked for {1})")]
    MissingHeader(&'static str, &'static str),
    #[error("{0} is not a Unix timestamp in seconds: {1:?}")]
    BadTimestamp(&'static str, String),
    #[error("{header} carries no {scheme} signature (it has: {found}); {hint}")]
    NoSignatureOfScheme { header: &'static str, scheme: &'static str, found: String, hint: &'static str },
    #[error("bad signature: no {scheme} signature in {header} matches this key, id, timestamp and body (check the key, and that the body is byte for byte what was received)")]
    BadSignature { header: &'static str, scheme: &'static str },
    #[error("the signature is valid, but the timestamp is {age} s {direction}, outside the tolerance of {tolerance} s (a replay, or a clock that is off)")]
    OutsideTolerance { age: i64, direction: &'static str, tolerance: i64 },
    #[error("the key is not usable: {0}")]
    BadKey(String),
}

/// The Standard Webhooks headers, or Svix's names for them.
const NAMES: [(&str, &str); 3] =
    [("webhook-id", "svix-id"), ("webhook-timestamp", "svix-timestamp"), ("webhook-signature", "svix-signature")];

/// Checks a received delivery as a Standard Webhooks receiver does: the signature over
/// `{id}.{timestamp}.{body}` first, then that the timestamp is within `tolerance_secs`
/// of `now`. Header names are matched without regard to case.
pub fn verify(
    key: &VerifyKey,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<Verified, VerifyError> {
    let get = |(std, svix): (&'static str, &'static str)| {
        let find = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.trim());
        find(std)
            .map(|v| (std, v))
            .or_else(|| find(svix).map(|v| (svix, v)))
            .ok_or(VerifyError::MissingHeader(std, svix))
    };
    let (_, msg_id) = get(NAMES[0])?;
    let (ts_name, ts) = get(NAMES[1])?;
    let (sig_name, sigs) = get(NAMES[2])?;
    let timestamp = ts.parse::<i64>().map_err(|_| VerifyError::BadTimestamp(ts_name, ts.to_owned()))?;
    let scheme = match key {
        VerifyKey::Secret(_) => "v1",
        VerifyKey::PublicKey(_) => "v1a",
    };
    let candidates: Vec<&str> = sigs
        .split_whitespace()
        .filter_map(|s| s.split_once(',').filter(|(v, _)| *v == scheme).map(|(_, b)| b))
        .collect();
    if candidates.is_empty() {
        let mut found: Vec<&str> = sigs.split_whitespace().filter_map(|s| s.split_once(',').map(|(v, _)| v)).collect();
        found.dedup();
        let hint = if scheme == "v1" {
            "an Ed25519 webhook is checked with its public key (--public-key whpk_…)"
        } else {
            "an HMAC webhook is checked with its secret (--secret whsec_…)"
        };
        let found = if found.is_empty() { "nothing".to_owned() } else { found.join(", ") };
        return Err(VerifyError::NoSignatureOfScheme { header: sig_name, scheme, found, hint });
    }
    let matched = match key {
        VerifyKey::Secret(secret) => {
            // The signature hookd would send, compared in constant time: the comparison
            // leaks nothing about the secret.
            let expected = standard_signature(secret, msg_id, timestamp, body);
            let expected = expected.strip_prefix("v1,").unwrap_or_default().as_bytes();
            candidates.iter().any(|c| subtle::ConstantTimeEq::ct_eq(c.as_bytes(), expected).into())
        }
        VerifyKey::PublicKey(public) => {
            let content = signed_content(msg_id, timestamp, body);
            let mut any = false;
            for c in &candidates {
                any |=
                    hookd_core::ed25519::verify(public, &content, c).map_err(|e| VerifyError::BadKey(e.to_string()))?;
            }
            any
        }
    };
    if !matched {
        return Err(VerifyError::BadSignature { header: sig_name, scheme });
    }
    let age = now - timestamp;
    if age.abs() > tolerance_secs {
        let direction = if age > 0 { "in the past" } else { "in the future" };
        return Err(VerifyError::OutsideTolerance { age: age.abs(), direction, tolerance: tolerance_secs });
    }
    Ok(Verified { scheme, msg_id: msg_id.to_owned(), timestamp })
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

#[cfg(test)]
mod verify_tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn headers(id: &str, ts: i64, sig: &str) -> Vec<(String, String)> {
        vec![
            ("Webhook-Id".into(), id.into()),
            ("webhook-timestamp".into(), ts.to_string()),
            ("webhook-signature".into(), sig.into()),
        ]
    }

    #[test]
    fn the_standard_webhooks_test_vector_verifies() {
        let h = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let ok = verify(&VerifyKey::Secret(SECRET.into()), &h, br#"{"test": 2432232314}"#, 1614265330, 300).unwrap();
        assert_eq!((ok.scheme, ok.timestamp), ("v1", 1614265330));
        let err = verify(&VerifyKey::Secret(SECRET.into()), &h, br#"{"test": 2432232315}"#, 1614265330, 300);
        assert!(matches!(err, Err(VerifyError::BadSignature { .. })), "{err:?}");
        let err = verify(&VerifyKey::Secret(SECRET.into()), &h, br#"{"test": 2432232314}"#, 1614265330 + 301, 300);
        assert_eq!(err.unwrap_err().to_string(), "the signature is valid, but the timestamp is 301 s in the past, outside the tolerance of 300 s (a replay, or a clock that is off)");
    }

    #[test]
    fn v1a_verifies_with_the_public_key_during_a_rotation_too() {
        let (old_sk, old_pk) = hookd_core::ed25519::generate();
        let (new_sk, new_pk) = hookd_core::ed25519::generate();
        let (new_sk, old_sk) = (SigningKey::from_private(&new_sk).unwrap(), SigningKey::from_private(&old_sk).unwrap());
        let sig = ed25519_header([&new_sk, &old_sk], "evt_1", 1700000000, b"{}");
        for pk in [&new_pk, &old_pk] {
            let ok =
                verify(&VerifyKey::PublicKey(pk.clone()), &headers("evt_1", 1700000000, &sig), b"{}", 1700000010, 300);
            assert_eq!(ok.unwrap().scheme, "v1a");
        }
        let (_, stranger) = hookd_core::ed25519::generate();
        let err = verify(&VerifyKey::PublicKey(stranger), &headers("evt_1", 1700000000, &sig), b"{}", 1700000000, 300);
        assert!(matches!(err, Err(VerifyError::BadSignature { .. })));
        // A v1a header checked with a secret says what to do instead.
        let err =
            verify(&VerifyKey::Secret(SECRET.into()), &headers("evt_1", 1700000000, &sig), b"{}", 1700000000, 300);
        assert!(err.unwrap_err().to_string().contains("--public-key"));
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let key = VerifyKey::Secret(SECRET.into());
        let mut h = headers("evt_1", 1, "v1,AAAA");
        h.remove(2);
        assert_eq!(
            verify(&key, &h, b"", 1, 300).unwrap_err().to_string(),
            "missing header webhook-signature (also looked for svix-signature)"
        );
        let h = headers("evt_1", 1, "v1,AAAA");
        let mut bad_ts = h.clone();
        bad_ts[1].1 = "yesterday".into();
        assert!(matches!(verify(&key, &bad_ts, b"", 1, 300), Err(VerifyError::BadTimestamp(..))));
        // Svix's header names are read too.
        let svix: Vec<(String, String)> =
            h.iter().map(|(k, v)| (k.to_ascii_lowercase().replace("webhook-", "svix-"), v.clone())).collect();
        assert!(matches!(
            verify(&key, &svix, b"", 1, 300),
            Err(VerifyError::BadSignature { header: "svix-signature", .. })
        ));
    }
}
