//! Route handlers: extract, call one service, map the result.

pub mod event_types;
pub mod health;
pub mod webhooks;
