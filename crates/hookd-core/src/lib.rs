//! hookd-core: the domain of a webhook delivery service, the storage interface and the
//! use cases built on it. Nothing here knows about HTTP, SQL or the network.
//!
//! # Layout
//!
//! - [`id`]: typed, prefixed identifiers (`ws_…`, `key_…`, `wh_…`).
//! - [`domain`]: workspaces, API keys, event types and webhooks, with their validation.
//! - [`crypto`]: the AEAD that keeps signing secrets encrypted at rest.
//! - [`store`]: the [`store::Store`] trait every backend implements, and its error type.
//! - [`service`]: the use cases the API and CLI call (authenticate, create a webhook, …).
//! - [`trace`]: W3C trace context, and the spans exported when telemetry is on.
//! - `conformance` (feature `conformance`): the shared suite every store backend runs.

pub mod crypto;
pub mod domain;
pub mod ed25519;
pub mod id;
pub mod service;
pub mod store;
pub mod time_fmt;
pub mod trace;

#[cfg(feature = "conformance")]
pub mod conformance;

/// An error and all its causes, `outer: inner: root`, for one log line or message: the
/// one formatter for every error hookd logs or stores. A cause whose message the text
/// already holds (HTTP clients often repeat their inner errors) is left out.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct E(&'static str, #[source] Option<Box<E>>);

    #[test]
    fn the_chain_names_every_cause_once() {
        let root = E("disk full", None);
        let mid = E("storage error", Some(Box::new(root)));
        assert_eq!(
            super::error_chain(&E("cannot record results", Some(Box::new(mid)))),
            "cannot record results: storage error: disk full"
        );
        let repeated = E("connect failed: refused", Some(Box::new(E("refused", None))));
        assert_eq!(super::error_chain(&repeated), "connect failed: refused");
    }
}
