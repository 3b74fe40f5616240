//! Route handlers: extract, call one service, map the result.

pub mod deliveries;
pub mod erasure;
pub mod event_types;
pub mod events;
pub mod health;
pub mod portal;
pub mod webhooks;
pub mod workspaces;
