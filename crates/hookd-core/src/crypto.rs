//! Encryption of signing secrets at rest.
//!
//! Secrets are sealed with AES-256-GCM under the deployment's `encryption_key`. Each
//! sealed value is `nonce (12 bytes) || ciphertext || tag`, and the owning row's id is
//! bound as associated data, so a ciphertext copied onto another webhook's row fails to
//! open instead of silently signing with a neighbour's secret.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

/// The 32-byte key that seals secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

/// Why an encryption key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("encryption key is not valid standard base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("encryption key must decode to exactly 32 bytes, got {0} (generate one with `openssl rand -base64 32`)")]
    WrongLength(usize),
}

impl EncryptionKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        Self(k)
    }

    /// Parses 32 bytes in standard base64, as `openssl rand -base64 32` prints them.
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(s.trim()).map_err(KeyError::NotBase64)?;
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// A short, non-secret fingerprint, for telling two keys apart in logs and checks.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest([b"hookd-key-fingerprint:".as_slice(), &self.0].concat());
        hex::encode(&digest[..8])
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey({})", self.fingerprint())
    }
}

/// A secret sealed for storage. Opaque bytes to every store.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Why a sealed secret could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot decrypt a stored secret: the encryption key differs from the one it was sealed with, or the data is corrupt")]
pub struct OpenError;

/// Seals and opens secrets with one [`EncryptionKey`].
#[derive(Clone)]
pub struct SecretCipher {
    cipher: Aes256Gcm,
    fingerprint: String,
}

impl fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretCipher({})", self.fingerprint)
    }
}

impl SecretCipher {
    pub fn new(key: &EncryptionKey) -> Self {
        Self { cipher: Aes256Gcm::new((&key.0).into()), fingerprint: key.fingerprint() }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Seals `plaintext`, bound to `context` (the owning row's id).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            // AES-GCM encryption fails only for inputs beyond 64 GiB.
            .expect("AES-GCM encryption of a short secret cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Sealed(out)
    }

    /// Opens a value sealed with the same key and context.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Vec<u8>, OpenError> {
        if sealed.0.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.0.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() })
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_context() {
        let c = SecretCipher::new(&EncryptionKey::generate());
        let s = c.seal(b"whsec_abc", "wh_1");
        assert_ne!(s.0, b"whsec_abc");
        assert_eq!(c.open(&s, "wh_1").unwrap(), b"whsec_abc");
        assert!(c.open(&s, "wh_2").is_err());
    }

    #[test]
    fn another_key_cannot_open() {
        let s = SecretCipher::new(&EncryptionKey::generate()).seal(b"x", "a");
        assert!(SecretCipher::new(&EncryptionKey::generate()).open(&s, "a").is_err());
    }

    #[test]
    fn key_parsing_checks_base64_and_length() {
        let k = EncryptionKey::generate();
        assert_eq!(EncryptionKey::from_base64(&k.to_base64()).unwrap().0, k.0);
        assert!(matches!(EncryptionKey::from_base64("!!"), Err(KeyError::NotBase64(_))));
        assert!(matches!(EncryptionKey::from_base64("AAAA"), Err(KeyError::WrongLength(3))));
        assert!(!format!("{k:?}").contains(&k.to_base64()));
    }
}
