use std::fmt;
use std::str::FromStr;

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::id::{ApiKeyId, WorkspaceId};

/// Length of the secret part of a key: 64 alphanumerics, about 381 bits.
const SECRET_LEN: usize = 64;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scope {
    #[serde(rename = "webhooks:read")]
    WebhooksRead,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
    #[serde(rename = "events:write")]
    EventsWrite,
    /// Every scope above. Not `admin`: managing other workspaces is never implied.
    #[serde(rename = "*")]
    All,
    /// Manages workspaces and their keys, and acts in any workspace (`Hookd-Workspace`).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] =
        [Scope::WebhooksRead, Scope::WebhooksWrite, Scope::EventsWrite, Scope::All, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
            Scope::EventsWrite => "events:write",
            Scope::All => "*",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scope::ALL.into_iter().find(|sc| sc.as_str() == s).ok_or_else(|| {
            format!("unknown scope `{s}` (expected one of webhooks:read, webhooks:write, events:write, *, admin)")
        })
    }
}

/// A stored API key. Only a hash of its secret is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// The prefix the key was issued with (`hk_live`), kept so keys stay valid if the
    /// deployment's `key_prefix` changes later.
    pub prefix: String,
    /// SHA-256 of the secret part. The secret is 64 random alphanumerics, so a fast
    /// hash is enough: there is nothing to brute-force.
    pub secret_hash: [u8; 32],
    pub scopes: Vec<Scope>,
    /// Sees and changes only the webhooks it created.
    pub owner_scoped: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// Refused from this time on.
    pub expires_at: Option<OffsetDateTime>,
    /// The owner whose webhooks alone this key sees and creates.
    pub owner: Option<String>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("name", &self.name)
            .field("scopes", &self.scopes)
            .field("owner_scoped", &self.owner_scoped)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether this key grants `needed`. `*` grants everything but `admin`, and write
    /// access to webhooks includes reading them.
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|&s| {
            s == needed
                || (s == Scope::All && needed != Scope::Admin)
                || (needed == Scope::WebhooksRead && s == Scope::WebhooksWrite)
        })
    }

    /// The owner this key acts for: its `owner`, or, for an owner-scoped key, its own id.
    pub fn acting_owner(&self) -> Option<String> {
        self.owner.clone().or_else(|| self.owner_scoped.then(|| self.id.to_string()))
    }

    /// Whether the key has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// Constant-time comparison of a presented secret with the stored hash.
    pub fn verify_secret(&self, secret: &str) -> bool {
        let h = token_hash(secret);
        h.ct_eq(&self.secret_hash).into()
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// A key as presented by a client: `<prefix>_<8 hex>.<secret>`.
pub struct ApiKeyToken<'a> {
    pub prefix: &'a str,
    pub id: ApiKeyId,
    pub secret: &'a str,
}

/// Why a presented key is not even well-formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("API key is malformed: expected `<prefix>_<8 hex>.<64 alphanumerics>`")]
pub struct TokenError;

impl<'a> ApiKeyToken<'a> {
    pub fn parse(token: &'a str) -> Result<Self, TokenError> {
        let (head, secret) = token.split_once('.').ok_or(TokenError)?;
        if secret.len() != SECRET_LEN || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenError);
        }
        let (prefix, hex8) = head.rsplit_once('_').ok_or(TokenError)?;
        if prefix.is_empty() {
            return Err(TokenError);
        }
        let id = ApiKeyId::from_hex(hex8).map_err(|_| TokenError)?;
        Ok(Self { prefix, id, secret })
    }
}

/// A newly issued key: the stored record and the full key, shown to its owner once.
pub struct GeneratedKey {
    pub key: ApiKey,
    pub token: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey").field("key", &self.key).finish_non_exhaustive()
    }
}

impl GeneratedKey {
    pub fn new(
        workspace_id: WorkspaceId,
        prefix: &str,
        name: String,
        scopes: Vec<Scope>,
        owner_scoped: bool,
        now: OffsetDateTime,
    ) -> Self {
        let id = ApiKeyId::random();
        let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), SECRET_LEN);
        let token = format!("{prefix}_{}.{secret}", id.hex());
        let key = ApiKey {
            id,
            workspace_id,
            name,
            prefix: prefix.to_owned(),
            secret_hash: token_hash(&secret),
            scopes,
            owner_scoped,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at: None,
            owner: None,
        };
        Self { key, token }
    }
}

/// The shortest and longest key a product may import.
pub const IMPORTED_KEY_LEN: std::ops::RangeInclusive<usize> = 16..=512;

/// Whether `token` could be an imported key: 16–512 visible ASCII characters.
pub fn importable(token: &str) -> bool {
    IMPORTED_KEY_LEN.contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

/// SHA-256: what is stored of a hookd key's secret, and of an imported key's whole token
/// (looked up by it). Both are long random strings, so a fast hash is enough.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl ApiKey {
    /// A key the product already issued to its customer, imported so that it keeps
    /// working: only the hash of the whole token is kept, and `prefix` is empty.
    pub fn imported(
        workspace_id: WorkspaceId,
        name: String,
        token: &str,
        scopes: Vec<Scope>,
        owner_scoped: bool,
        now: OffsetDateTime,
    ) -> Result<Self, String> {
        if !importable(token) {
            return Err(format!(
                "must be {} to {} visible ASCII characters, with no spaces",
                IMPORTED_KEY_LEN.start(),
                IMPORTED_KEY_LEN.end()
            ));
        }
        Ok(ApiKey {
            id: ApiKeyId::random(),
            workspace_id,
            name,
            prefix: String::new(),
            secret_hash: token_hash(token),
            scopes,
            owner_scoped,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at: None,
            owner: None,
        })
    }

    /// The key a verified product token stands for: its scopes and owner, in its
    /// workspace, with an id derived from the token's subject (so the subject's rate limit
    /// and idempotency keys are its own across tokens). Never stored.
    pub fn for_token(workspace_id: WorkspaceId, claims: &crate::service::TokenClaims, now: OffsetDateTime) -> Self {
        let h = Sha256::digest(claims.subject.as_bytes());
        let hex8 = format!("{:02x}{:02x}{:02x}{:02x}", h[0], h[1], h[2], h[3]);
        ApiKey {
            id: ApiKeyId::from_hex(&hex8).expect("8 lower-case hex digits"),
            workspace_id,
            name: format!("token of {}", claims.subject),
            prefix: "token".into(),
            secret_hash: [0; 32],
            scopes: claims.scopes.clone(),
            owner_scoped: false,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
            expires_at: Some(claims.expires_at),
            owner: claims.owner.clone(),
        }
    }

    /// The caller of a portal session: the webhook scopes, limited to `owner`, until
    /// the session ends. Never stored.
    pub fn for_portal(workspace_id: WorkspaceId, owner: String, expires_at: OffsetDateTime) -> Self {
        ApiKey {
            id: crate::service::portal_key_id(&workspace_id, &owner),
            workspace_id,
            name: format!("portal of {owner}"),
            prefix: "portal".into(),
            secret_hash: [0; 32],
            scopes: vec![Scope::WebhooksWrite],
            owner_scoped: false,
            created_at: expires_at,
            last_used_at: None,
            revoked_at: None,
            expires_at: Some(expires_at),
            owner: Some(owner),
        }
    }

    /// Whether the product issued this key and imported it.
    pub fn is_imported(&self) -> bool {
        self.prefix.is_empty()
    }
}

/// Key prefixes: 1–32 characters, letters, digits and `_`, starting with a letter.
pub fn validate_key_prefix(prefix: &str) -> Result<(), String> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 32
        && prefix.as_bytes()[0].is_ascii_alphabetic()
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("must be 1 to 32 letters, digits or '_', starting with a letter".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(prefix: &str) -> GeneratedKey {
        GeneratedKey::new(WorkspaceId::generate(), prefix, "k".into(), vec![Scope::All], false, crate::time_fmt::now())
    }

    #[test]
    fn generated_token_parses_and_verifies() {
        let g = sample("aw_live");
        let t = ApiKeyToken::parse(&g.token).unwrap();
        assert_eq!(t.prefix, "aw_live");
        assert_eq!(t.id, g.key.id);
        assert!(g.key.verify_secret(t.secret));
        assert!(!g.key.verify_secret(&"x".repeat(64)));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "hk_live",
            "hk_live_a1b2c3d4",
            "hk_live_a1b2c3d4.short",
            "hk_live_A1B2C3D4.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "_a1b2c3d4.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "hk_live_a1b2c3d4.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-",
        ] {
            assert!(ApiKeyToken::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // The seed's documented example key is well-formed.
        assert!(ApiKeyToken::parse("xqr_pk_a1b2c3d4.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
            .is_ok());
    }

    #[test]
    fn write_scope_includes_read() {
        let mut k = sample("hk").key;
        k.scopes = vec![Scope::WebhooksWrite];
        assert!(k.allows(Scope::WebhooksRead));
        assert!(!k.allows(Scope::EventsWrite));
        k.scopes = vec![Scope::WebhooksRead];
        assert!(!k.allows(Scope::WebhooksWrite));
    }

    #[test]
    fn all_scopes_never_imply_admin() {
        let mut k = sample("hk").key;
        assert!(k.allows(Scope::EventsWrite) && !k.allows(Scope::Admin));
        k.scopes = vec![Scope::Admin];
        assert!(k.allows(Scope::Admin) && !k.allows(Scope::WebhooksRead));
    }

    #[test]
    fn scopes_parse_from_their_names() {
        assert_eq!("events:write".parse::<Scope>().unwrap(), Scope::EventsWrite);
        assert_eq!("admin".parse::<Scope>().unwrap(), Scope::Admin);
        assert!("root".parse::<Scope>().is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let g = sample("hk");
        assert!(!format!("{g:?}").contains(&g.token));
    }
}
