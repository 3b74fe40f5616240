//! The product's own tokens, accepted beside hookd's keys: JWTs verified against its
//! JWKS (`jwt.rs`) and opaque tokens asked about at its introspection endpoint
//! (`introspection.rs`). Both read the same claims ([`ClaimMap`]).

pub mod introspection;
pub mod jwt;

use std::collections::HashMap;

use hookd_core::domain::Scope;
use hookd_core::service::{AuthError, TokenClaims};
use serde_json::Value;

/// Which claims name a token's workspace, owner and scopes, and what the product's
/// scopes grant in hookd.
#[derive(Debug, Clone)]
pub struct ClaimMap {
    pub workspace_claim: String,
    /// `None`: tokens act for the whole workspace. Falls back to `sub`.
    pub owner_claim: Option<String>,
    pub scope_claim: String,
    /// The product's scope names, and the hookd scopes each grants.
    pub scopes: HashMap<String, Vec<Scope>>,
}

impl ClaimMap {
    /// The claims of a verified token (a JWT's payload, an introspection answer) that
    /// expires at `exp` (Unix seconds); `issuer` makes its subject unique.
    pub fn read(&self, c: &Value, issuer: &str, exp: i64) -> Result<TokenClaims, AuthError> {
        let text = |name: &str| c.get(name).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
        let workspace = text(&self.workspace_claim).ok_or_else(|| {
            AuthError::Token(format!("it has no `{}` claim naming a workspace", self.workspace_claim))
        })?;
        let owner = self.owner_claim.as_deref().and_then(|claim| text(claim).or_else(|| text("sub")));
        let granted: Vec<&str> = match c.get(&self.scope_claim) {
            Some(Value::String(v)) => v.split_whitespace().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut scopes = Vec::new();
        for g in granted {
            for scope in self.scopes.get(g).into_iter().flatten() {
                if !scopes.contains(scope) {
                    scopes.push(*scope);
                }
            }
        }
        let expires_at = time::OffsetDateTime::from_unix_timestamp(exp)
            .map_err(|_| AuthError::Token("its expiry is out of range".into()))?;
        let subject = format!("{issuer} {}", text("sub").or_else(|| text("client_id")).unwrap_or_default());
        Ok(TokenClaims { subject, workspace, owner, scopes, expires_at })
    }
}
