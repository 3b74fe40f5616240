//! Ed25519 keys in the Standard Webhooks forms: `whsk_` and the base64 of the 32-byte
//! seed for a private key (it never leaves hookd, and is stored sealed), `whpk_` and the
//! base64 of the 32-byte public key for what receivers verify with.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

pub const PRIVATE_PREFIX: &str = "whsk_";
pub const PUBLIC_PREFIX: &str = "whpk_";

/// A key that is not in its form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub &'static str);

/// A new key pair: (`whsk_…`, `whpk_…`).
pub fn generate() -> (String, String) {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let private = format!("{PRIVATE_PREFIX}{}", STANDARD.encode(seed));
    let public = public_key(&private).expect("a generated key is well formed");
    (private, public)
}

/// A private key ready to sign: deriving it from the seed costs about as much as a
/// signature, so it is done once, when a webhook is loaded, not on every attempt.
pub struct SigningKey(Ed25519KeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// The key of a `whsk_…` private key.
    pub fn from_private(private: &str) -> Result<Self, KeyError> {
        let seed = decode(private, PRIVATE_PREFIX)?;
        Ed25519KeyPair::from_seed_unchecked(&seed).map(Self).map_err(|_| KeyError("is not an Ed25519 private key"))
    }

    /// The signature of `message`, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.0.sign(message).as_ref())
    }

    /// Its `whpk_…` public key.
    pub fn public_key(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.public_key().as_ref()))
    }
}

fn decode(key: &str, prefix: &str) -> Result<[u8; 32], KeyError> {
    let b64 = key.strip_prefix(prefix).ok_or(KeyError(if prefix == PUBLIC_PREFIX {
        "a public key starts with whpk_"
    } else {
        "a private key starts with whsk_"
    }))?;
    let bytes = STANDARD.decode(b64.trim()).map_err(|_| KeyError("the key is not standard base64"))?;
    bytes.try_into().map_err(|_| KeyError("an Ed25519 key is 32 bytes"))
}

/// The `whpk_…` public key of a `whsk_…` private key.
pub fn public_key(private: &str) -> Result<String, KeyError> {
    Ok(SigningKey::from_private(private)?.public_key())
}

/// Whether `signature` (base64) is `public`'s signature of `message`.
pub fn verify(public: &str, message: &[u8], signature: &str) -> Result<bool, KeyError> {
    let key = decode(public, PUBLIC_PREFIX)?;
    let Ok(sig) = STANDARD.decode(signature) else { return Ok(false) };
    Ok(UnparsedPublicKey::new(&ED25519, key).verify(message, &sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1, test 2: a one-byte message.
    #[test]
    fn rfc_8032_test_vector() {
        let seed = hex::decode("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb").unwrap();
        let private = format!("whsk_{}", STANDARD.encode(&seed));
        let public = public_key(&private).unwrap();
        assert_eq!(
            STANDARD.decode(public.strip_prefix("whpk_").unwrap()).unwrap(),
            hex::decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c").unwrap()
        );
        let sig = SigningKey::from_private(&private).unwrap().sign(&[0x72]);
        assert_eq!(
            STANDARD.decode(&sig).unwrap(),
            hex::decode(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            )
            .unwrap()
        );
        assert!(verify(&public, &[0x72], &sig).unwrap());
        assert!(!verify(&public, &[0x73], &sig).unwrap());
    }

    #[test]
    fn generated_pairs_sign_and_verify() {
        let (private, public) = generate();
        assert!(private.starts_with("whsk_") && public.starts_with("whpk_"));
        let sig = SigningKey::from_private(&private).unwrap().sign(b"msg_1.1700000000.{}");
        assert!(verify(&public, b"msg_1.1700000000.{}", &sig).unwrap());
        let (_, other) = generate();
        assert!(!verify(&other, b"msg_1.1700000000.{}", &sig).unwrap());
        assert!(!verify(&public, b"x", "not base64!").unwrap());
    }

    #[test]
    fn malformed_keys_are_named() {
        assert_eq!(public_key("whsec_AAAA").unwrap_err().0, "a private key starts with whsk_");
        assert_eq!(verify("whsk_AAAA", b"", "").unwrap_err().0, "a public key starts with whpk_");
        assert_eq!(verify("whpk_AAAA", b"", "").unwrap_err().0, "an Ed25519 key is 32 bytes");
        assert_eq!(verify("whpk_!!", b"", "").unwrap_err().0, "the key is not standard base64");
    }
}
