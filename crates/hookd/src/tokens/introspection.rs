//! The product's opaque tokens (`[auth.introspection]`), asked about at its RFC 7662
//! introspection endpoint.
//!
//! Only tokens starting with one of `token_prefixes` are introspected; anything else is
//! taken for a key. Answers are cached per token: an active one for `cache_ttl` (never
//! past the token's own expiry), an inactive one for a few seconds. When the endpoint
//! fails, times out or answers nonsense, the request is a 503 with `Retry-After`: a
//! token is never let in unchecked, and never refused for the endpoint's outage.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookd_core::service::{AuthError, TokenClaims, TokenVerifier};
use hookd_core::store::StoreError;
use serde_json::Value;

use super::ClaimMap;

/// `[auth.introspection]`, validated.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    pub url: url::Url,
    pub client_id: String,
    /// Never shown by `Debug`.
    pub client_secret: crate::config::KeyText,
    pub token_prefixes: Vec<String>,
    pub cache_ttl: Duration,
    pub claims: ClaimMap,
}

/// How long an inactive answer is remembered.
const INACTIVE_TTL: Duration = Duration::from_secs(5);
/// Most answers remembered before the cache starts afresh.
const CACHE_MAX: usize = 10_000;

/// What the endpoint said of a token (its claims, or `None`: inactive), and until when
/// that holds.
type Answer = (Option<TokenClaims>, Instant);

pub struct IntrospectionVerifier {
    settings: IntrospectionSettings,
    http: reqwest::Client,
    /// Answers by token hash.
    cache: Mutex<HashMap<[u8; 32], Answer>>,
}

impl IntrospectionVerifier {
    pub fn new(settings: IntrospectionSettings) -> Self {
        let http = reqwest::Client::builder()
            // The endpoint is configuration: no proxy variable or redirect moves it.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client builds");
        Self { settings, http, cache: Mutex::default() }
    }

    /// Asks the endpoint. `Ok(None)`: the token is not active.
    async fn introspect(&self, token: &str) -> Result<Option<TokenClaims>, AuthError> {
        let unavailable =
            |why: String| AuthError::Store(StoreError::Unavailable(format!("the introspection endpoint {why}").into()));
        let s = &self.settings;
        let r = self
            .http
            .post(s.url.clone())
            .basic_auth(&s.client_id, Some(s.client_secret.expose()))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| unavailable(format!("cannot be reached: {}", hookd_core::error_chain(&e))))?;
        if !r.status().is_success() {
            return Err(unavailable(format!("answered {}", r.status())));
        }
        let body: Value = r.json().await.map_err(|_| unavailable("answered something that is not JSON".into()))?;
        match body.get("active").and_then(Value::as_bool) {
            Some(true) => {}
            Some(false) => return Ok(None),
            None => return Err(unavailable("answered without `active`".into())),
        }
        // Without `exp`, the answer holds for the cache's time.
        let exp = body
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| (hookd_core::time_fmt::now() + s.cache_ttl).unix_timestamp());
        if exp <= hookd_core::time_fmt::now().unix_timestamp() {
            return Ok(None);
        }
        let issuer = body.get("iss").and_then(Value::as_str).unwrap_or(s.url.as_str()).to_owned();
        s.claims.read(&body, &issuer, exp).map(Some)
    }
}

#[async_trait]
impl TokenVerifier for IntrospectionVerifier {
    fn method(&self) -> &'static str {
        "introspection"
    }

    fn accepts(&self, token: &str) -> bool {
        self.settings.token_prefixes.iter().any(|p| token.starts_with(p.as_str()))
    }

    async fn verify(&self, token: &str) -> Result<TokenClaims, AuthError> {
        let hash = hookd_core::domain::token_hash(token);
        let now = Instant::now();
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&hash).cloned();
        let answer = match cached {
            Some((answer, until)) if until > now => answer,
            _ => {
                let answer = self.introspect(token).await?;
                let ttl = match &answer {
                    Some(c) => {
                        let left = Duration::try_from(c.expires_at - hookd_core::time_fmt::now()).unwrap_or_default();
                        left.min(self.settings.cache_ttl)
                    }
                    None => INACTIVE_TTL,
                };
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(hash, (answer.clone(), now + ttl));
                answer
            }
        };
        answer.ok_or_else(|| AuthError::Token("it is not active".into()))
    }
}
