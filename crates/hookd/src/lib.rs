//! hookd: the binary's library half.
//!
//! # Layout
//!
//! - [`config`]: the layered configuration and its validation into [`config::Settings`].
//! - [`telemetry`]: the tracing subscriber.
//! - [`app`]: [`app::App`]: store, key, services and router, wired and run.
//! - [`cli`]: the `hookd` command line.

pub mod app;
pub mod cli;
pub mod config;
pub mod telemetry;
