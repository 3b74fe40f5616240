//! hookd: the binary's library half.
//!
//! # Layout
//!
//! - [`config`]: the layered configuration and its validation into [`config::Settings`].
//! - [`telemetry`]: the tracing subscriber.
//! - [`app`]: [`app::App`]: store, key, services and router, wired and run.
//! - [`cli`]: the `hookd` command line.
//! - [`listen`]: `hookd listen`, a local receiver that checks signatures.
//! - [`jwt`]: the product's own JWTs (`[auth.jwt]`), verified against its JWKS.

pub mod app;
pub mod cli;
pub mod config;
pub mod jwt;
pub mod listen;
pub mod telemetry;
