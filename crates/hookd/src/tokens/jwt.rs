//! The product's own JWTs (`[auth.jwt]`): verified against the product's JWKS, so its
//! customers' tokens work on every route beside hookd's keys.
//!
//! Only the asymmetric algorithms configured are accepted (RS256, ES256 and EdDSA by
//! default): `alg: none` and HMAC-signed tokens are refused before any key is looked at,
//! so a public key can never be used as an HMAC secret. The JWKS is fetched at start,
//! and again when a token names a `kid` it does not hold or the set is ten minutes old,
//! at most every 30 s. When it cannot be fetched and holds nothing, tokens are answered
//! 503, never let in.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookd_core::service::{AuthError, TokenClaims, TokenVerifier};
use hookd_core::store::StoreError;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::ClaimMap;

/// Where the JWKS comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    Url(url::Url),
    File(PathBuf),
}

/// `[auth.jwt]`, validated.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub jwks: JwksSource,
    pub algorithms: Vec<Algorithm>,
    pub claims: ClaimMap,
}

/// Leeway on `exp` and `nbf`, for clocks that disagree a little.
const LEEWAY_SECS: u64 = 60;
/// The soonest the JWKS is fetched again for an unknown `kid`.
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// How often the JWKS is fetched again anyway.
const REFRESH_EVERY: Duration = Duration::from_secs(600);

pub struct JwtVerifier {
    settings: JwtSettings,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    /// When a token last made it fetch (the start does not count): at most once every
    /// [`REFETCH_AFTER`], whether that fetch worked or not, so neither garbage `kid`s nor
    /// an identity provider that is down make every request wait on a fetch.
    attempted_at: Option<Instant>,
}

impl Keys {
    /// Whether a token naming `kid` should fetch the JWKS first: the key is unknown or
    /// the set is old (or was never loaded), and no fetch was attempted lately.
    fn due(&self, kid: &str) -> bool {
        let old = self.fetched_at.is_none_or(|t| t.elapsed() > REFRESH_EVERY);
        let missing = !self.by_kid.contains_key(kid);
        (old || missing) && self.attempted_at.is_none_or(|t| t.elapsed() > REFETCH_AFTER)
    }
}

impl JwtVerifier {
    /// Builds the verifier and fetches the JWKS once; a failure is logged, and the next
    /// token tries again.
    pub async fn start(settings: JwtSettings) -> Self {
        let http = reqwest::Client::builder()
            // The JWKS location is configuration: no proxy variable or redirect moves it.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client builds");
        let v = Self { settings, http, keys: RwLock::default(), fetching: tokio::sync::Mutex::new(()) };
        if let Err(e) = v.fetch().await {
            tracing::warn!(error = %e, "cannot load the JWKS for [auth.jwt]; tokens are refused with 503 until it loads");
        }
        v
    }

    /// Loads the JWKS; keys without a `kid` are kept under "".
    async fn fetch(&self) -> Result<usize, String> {
        let body = match &self.settings.jwks {
            JwksSource::Url(u) => {
                let r = self.http.get(u.clone()).send().await.map_err(|e| hookd_core::error_chain(&e))?;
                if !r.status().is_success() {
                    return Err(format!("{u} answered {}", r.status()));
                }
                r.bytes().await.map_err(|e| hookd_core::error_chain(&e))?.to_vec()
            }
            JwksSource::File(p) => tokio::fs::read(p).await.map_err(|e| format!("{}: {e}", p.display()))?,
        };
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            match DecodingKey::from_jwk(jwk) {
                Ok(k) => {
                    by_kid.insert(jwk.common.key_id.clone().unwrap_or_default(), k);
                }
                Err(e) => tracing::warn!(kid = ?jwk.common.key_id, error = %e, "skipping a JWKS key hookd cannot use"),
            }
        }
        let n = by_kid.len();
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        keys.by_kid = by_kid;
        keys.fetched_at = Some(Instant::now());
        Ok(n)
    }

    /// The key for `kid`, fetching the JWKS again first when [`Keys::due`].
    async fn key(&self, kid: &str) -> Result<DecodingKey, AuthError> {
        let keys = || self.keys.read().unwrap_or_else(|p| p.into_inner());
        if keys().due(kid) {
            let _one = self.fetching.lock().await;
            // Another request may have fetched while this one waited.
            if keys().due(kid) {
                self.keys.write().unwrap_or_else(|p| p.into_inner()).attempted_at = Some(Instant::now());
                if let Err(e) = self.fetch().await {
                    tracing::warn!(error = %e, "cannot load the JWKS for [auth.jwt]");
                }
            }
        }
        let keys = keys();
        if keys.fetched_at.is_none() {
            return Err(AuthError::Store(StoreError::Unavailable("the JWKS for [auth.jwt] cannot be loaded".into())));
        }
        keys.by_kid.get(kid).cloned().ok_or_else(|| AuthError::Token(format!("unknown key id `{kid}`")))
    }

    fn claims(&self, c: &Value) -> Result<TokenClaims, AuthError> {
        let exp = c.get("exp").and_then(Value::as_i64).ok_or_else(|| AuthError::Token("it has no `exp`".into()))?;
        self.settings.claims.read(c, &self.settings.issuer, exp)
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    /// A JWS in compact form: three base64url parts, the first a JSON header.
    fn method(&self) -> &'static str {
        "jwt"
    }

    fn accepts(&self, token: &str) -> bool {
        token.starts_with("eyJ") && token.split('.').count() == 3
    }

    async fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let refused = |m: &str| AuthError::Token(m.to_owned());
        // `alg: none` has no `Algorithm`, so it fails here.
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| refused("its header is not a supported JWS header"))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(AuthError::Token(format!("algorithm {:?} is not accepted", header.alg)));
        }
        let key = self.key(header.kid.as_deref().unwrap_or_default()).await?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[&self.settings.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            refused(match e.kind() {
                K::ExpiredSignature => "it has expired",
                K::ImmatureSignature => "it is not valid yet",
                K::InvalidSignature => "its signature does not verify",
                K::InvalidIssuer => "it was issued by another issuer",
                K::InvalidAudience => "it is meant for another audience",
                K::InvalidAlgorithm => "its algorithm does not match its key",
                K::MissingRequiredClaim(_) => "it lacks exp, iss or aud",
                _ => "it does not verify",
            })
        })?;
        self.claims(&data.claims)
    }
}
