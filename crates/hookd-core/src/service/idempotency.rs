//! `Idempotency-Key` handling: the first response to a POST is kept for 24 hours per API
//! key and replayed for a retry with the same key and body.

use std::sync::Arc;
use std::time::Duration;

use crate::id::ApiKeyId;
use crate::store::{IdempotencyClaim, IdempotencyRequest, Store, StoreError, StoredResponse};
use crate::time_fmt;

/// How long a completed response is replayed.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// After this long an unfinished claim is taken to belong to a request that died with
/// its process, and a retry may run. Longer than any request may take.
const STALE_CLAIM: Duration = Duration::from_secs(120);
pub const MAX_KEY_LEN: usize = 255;

/// What to do with a request carrying an idempotency key.
#[derive(Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Run it, then call [`IdempotencyService::complete`] or [`IdempotencyService::abandon`].
    Proceed,
    /// Answer with the stored response.
    Replay(StoredResponse),
    /// The same key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

#[derive(Clone)]
pub struct IdempotencyService {
    store: Arc<dyn Store>,
}

impl IdempotencyService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Checks a key: 1–255 visible ASCII characters.
    pub fn validate_key(key: &str) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(format!("must be 1 to {MAX_KEY_LEN} characters"));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be visible ASCII characters without spaces".into());
        }
        Ok(())
    }

    pub async fn begin(&self, api_key: &ApiKeyId, key: &str, request_hash: &[u8]) -> Result<Idempotency, StoreError> {
        let now = time_fmt::now();
        let claim = self
            .store
            .begin_idempotent(&IdempotencyRequest {
                api_key_id: api_key,
                key,
                request_hash,
                now,
                expired_before: now - IDEMPOTENCY_TTL,
                stale_before: now - STALE_CLAIM,
            })
            .await?;
        Ok(match claim {
            IdempotencyClaim::Acquired => Idempotency::Proceed,
            IdempotencyClaim::InFlight => Idempotency::InFlight,
            IdempotencyClaim::Completed { request_hash: h, response } if h == request_hash => {
                Idempotency::Replay(response)
            }
            IdempotencyClaim::Completed { .. } => Idempotency::Mismatch,
        })
    }

    pub async fn complete(&self, api_key: &ApiKeyId, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.store.complete_idempotent(api_key, key, response).await
    }

    pub async fn abandon(&self, api_key: &ApiKeyId, key: &str) -> Result<(), StoreError> {
        self.store.abandon_idempotent(api_key, key).await
    }

    /// Deletes expired records; returns how many.
    pub async fn prune(&self) -> Result<u64, StoreError> {
        self.store.prune_idempotency(time_fmt::now() - IDEMPOTENCY_TTL).await
    }
}
