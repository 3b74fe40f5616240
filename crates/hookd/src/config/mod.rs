//! Configuration: compiled-in defaults, then a TOML file (`--config FILE`, else
//! `./hookd.toml` when present), then `HOOKD_*` environment variables (`__` for
//! nesting: `HOOKD_RATE_LIMIT__REQUESTS_PER_MINUTE`), then command-line flags.
//!
//! [`Config`] is the file's shape, with fixed key names operators rely on. It is
//! validated once into [`Settings`], typed values the components use; every error names
//! the key and where its value came from.

//!
//! # Layout
//!
//! - `file.rs`: [`Config`], the file's shape and defaults, and `config print`'s TOML.
//! - `load.rs`: [`load`], the layers and the messages that name a value's source.
//! - `values.rs`: durations as people write them, and the encryption key's text,
//!   which neither `Debug` nor `config print` shows.
//! - `settings.rs`: [`Settings`], the validated values. Nothing here knows HTTP: the
//!   API's options are built where the app is wired.

mod file;
mod load;
mod settings;
mod values;

pub use file::*;
pub use load::*;
pub use settings::*;
pub use values::KeyText;

#[cfg(test)]
mod tests;
