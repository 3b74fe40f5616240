//! Per-API-key rate limiting.
//!
//! A fixed one-minute window per key: simple to explain in headers (`limit`,
//! `remaining`, `reset` = the window's end), and what the first seed documents
//! (600 requests a minute). One node counts in memory ([`WindowRateLimiter`]); several
//! nodes share each key's allowance through the database ([`SharedRateLimiter`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::id::ApiKeyId;
use crate::store::{Store, StoreError};

/// A key's allowance after a request: what the API reports in `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// When the window resets, in Unix seconds.
    pub reset: u64,
}

const WINDOW_SECS: u64 = 60;
/// Past this many tracked keys, entries from earlier windows are dropped.
const PRUNE_AT: usize = 10_000;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub info: RateLimitInfo,
    /// Seconds until the window resets (for `Retry-After`).
    pub retry_after: u64,
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request for `key` and says whether it is within the limit.
    async fn hit(&self, key: &ApiKeyId) -> Result<RateDecision, StoreError>;
}

/// Fixed-window counting in this process's memory.
pub struct WindowRateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<ApiKeyId, (u64, u32)>>,
}

impl WindowRateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::default() }
    }

    fn hit_at(&self, key: &ApiKeyId, now_secs: u64) -> RateDecision {
        let window = now_secs / WINDOW_SECS;
        let reset = (window + 1) * WINDOW_SECS;
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > PRUNE_AT {
            map.retain(|_, (w, _)| *w == window);
        }
        let entry = map.entry(key.clone()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        let allowed = entry.1 < self.per_minute;
        if allowed {
            entry.1 += 1;
        }
        RateDecision {
            allowed,
            info: RateLimitInfo { limit: self.per_minute, remaining: self.per_minute - entry.1, reset },
            retry_after: (reset - now_secs).max(1),
        }
    }
}

#[async_trait]
impl RateLimiter for WindowRateLimiter {
    async fn hit(&self, key: &ApiKeyId) -> Result<RateDecision, StoreError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Ok(self.hit_at(key, now))
    }
}

/// A key's allowance shared by several nodes through the database.
///
/// Each node takes a share of a key's allowance for the current window from the store
/// (a few requests' worth: a fiftieth of the limit, at least 1, at most 1,000) and
/// spends it from memory, going back for more when it runs out. The store never grants
/// past the limit, so the nodes together never admit more than `limit` requests in a
/// window. They may admit a little less: a share a node took but did not spend before
/// the window turned, at most a fiftieth of the limit per node.
pub struct SharedRateLimiter {
    per_minute: u32,
    store: Arc<dyn Store>,
    keys: Mutex<HashMap<ApiKeyId, Arc<tokio::sync::Mutex<Share>>>>,
}

/// What this node holds of one key's allowance.
#[derive(Debug, Default)]
struct Share {
    window: u64,
    /// Taken from the store and not yet spent.
    held: u32,
    /// The window's total taken by every node, as of this node's last reservation.
    taken: u32,
}

impl SharedRateLimiter {
    pub fn new(per_minute: u32, store: Arc<dyn Store>) -> Self {
        Self { per_minute, store, keys: Mutex::default() }
    }

    fn chunk(&self) -> u32 {
        (self.per_minute / 50).clamp(1, 1000)
    }

    async fn hit_at(&self, key: &ApiKeyId, now_secs: u64) -> Result<RateDecision, StoreError> {
        let window = now_secs / WINDOW_SECS;
        let reset = (window + 1) * WINDOW_SECS;
        let share = {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            if keys.len() > PRUNE_AT {
                keys.retain(|_, s| s.try_lock().map_or(true, |s| s.window == window));
            }
            keys.entry(key.clone()).or_default().clone()
        };
        let mut s = share.lock().await;
        if s.window != window {
            *s = Share { window, held: 0, taken: 0 };
        }
        // Nothing held, and the window not known to be used up: ask for more.
        if s.held == 0 && s.taken < self.per_minute {
            let (granted, taken) =
                self.store.reserve_requests(key, window as i64, self.chunk(), self.per_minute).await?;
            s.held = granted;
            s.taken = taken;
        }
        let allowed = s.held > 0;
        if allowed {
            s.held -= 1;
        }
        Ok(RateDecision {
            allowed,
            info: RateLimitInfo {
                limit: self.per_minute,
                remaining: self.per_minute.saturating_sub(s.taken) + s.held,
                reset,
            },
            retry_after: (reset - now_secs).max(1),
        })
    }
}

#[async_trait]
impl RateLimiter for SharedRateLimiter {
    async fn hit(&self, key: &ApiKeyId) -> Result<RateDecision, StoreError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.hit_at(key, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses_until_the_window_turns() {
        let l = WindowRateLimiter::new(2);
        let k = ApiKeyId::from_hex("0000000a").unwrap();
        let t = 1_000_040; // 20 s into the window [1_000_020, 1_000_080)
        let a = l.hit_at(&k, t);
        assert!(a.allowed);
        assert_eq!(a.info, RateLimitInfo { limit: 2, remaining: 1, reset: 1_000_080 });
        assert!(l.hit_at(&k, t).allowed);
        let refused = l.hit_at(&k, t + 1);
        assert!(!refused.allowed);
        assert_eq!(refused.info.remaining, 0);
        assert_eq!(refused.retry_after, 39);
        // Another key has its own window.
        assert!(l.hit_at(&ApiKeyId::from_hex("0000000b").unwrap(), t).allowed);
        // The next window starts afresh.
        assert!(l.hit_at(&k, t + 40).allowed);
    }
}
