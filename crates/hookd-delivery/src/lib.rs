//! hookd-delivery: getting deliveries to their endpoints.
//!
//! # Layout
//!
//! - [`engine`]: the dispatcher, scheduler and result writer ([`engine::DeliveryEngine`]),
//!   one file each, with one attempt and its retry decision in `engine/attempt.rs`.
//! - [`sender`]: one HTTP attempt, signed, with timeouts and limits.
//! - [`signing`]: the body HMAC and Standard Webhooks signatures.
//! - [`ssrf`]: which addresses deliveries may reach, enforced at connect time.
//! - [`breaker`]: per-webhook circuit breaker and rate limit.
//! - [`metrics`]: the engine's Prometheus metrics.

pub mod breaker;
pub mod engine;
pub mod metrics;
pub mod sender;
pub mod signing;
pub mod ssrf;

pub use engine::{DeliveryEngine, EngineOptions, StoreOnlyEngine};
pub use metrics::Metrics;
pub use sender::{Sender, SenderOptions};
