//! hookd: the binary's library half.
//!
//! # Layout
//!
//! - [`config`]: the layered configuration and its validation into [`config::Settings`].
//! - [`telemetry`]: the tracing subscriber.
//! - [`app`]: [`app::App`]: store, key, services and router, wired and run.
//! - [`cli`]: the `hookd` command line.
//! - [`listen`]: `hookd listen`, a local receiver that checks signatures.
//! - [`progress`]: progress bars for long commands, drawn only on a terminal.
//! - [`tokens`]: the product's own tokens: JWTs (`[auth.jwt]`) and introspection
//!   (`[auth.introspection]`).

pub mod app;
pub mod backup;
pub mod cli;
pub mod config;
pub mod listen;
pub mod progress;
pub mod telemetry;
pub mod tokens;
pub mod verify;
