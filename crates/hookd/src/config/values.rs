//! Value types of the configuration file: durations as people write them (`30s`, `5m`,
//! `2h`, `5days`), and the encryption key, which `Debug` and `config print` never show.
//!
//! Durations parse with `humantime` at load time, so a bad one is reported with its key
//! and source before anything starts. (The `humantime-serde` crate does the same, but
//! its errors read "expected number at 0"; these say what a duration looks like.)

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

fn parse<E: serde::de::Error>(s: &str) -> Result<Duration, E> {
    humantime::parse_duration(s).map_err(|_| E::custom(format!("`{s}` is not a duration such as 30s, 5m, 2h")))
}

fn format(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// `#[serde(with = "duration")]`: one duration.
pub mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

/// `#[serde(with = "optional_duration")]`: a duration that may be unset.
pub mod optional_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format(d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?.map(|s| parse(&s)).transpose()
    }
}

/// `#[serde(with = "durations")]`: a list of durations.
pub mod durations {
    use super::*;

    pub fn serialize<S: Serializer>(ds: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ds.iter().map(format))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|s| parse(s)).collect()
    }
}

/// The encryption key as written in the configuration (base64). `Debug` shows
/// `[REDACTED]`, and it serialises (for `config print`) as `<redacted>`.
#[derive(Debug, Clone)]
pub struct KeyText(SecretString);

impl KeyText {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for KeyText {
    fn from(s: String) -> Self {
        Self(SecretString::from(s))
    }
}

impl From<&str> for KeyText {
    fn from(s: &str) -> Self {
        Self(SecretString::from(s))
    }
}

impl PartialEq for KeyText {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Serialize for KeyText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::KeyText;

    #[test]
    fn the_key_never_shows() {
        let k = KeyText::from("c2VjcmV0LWtleS1tYXRlcmlhbC1ub3Qtc2hvd24tZXZlcg==");
        assert!(!format!("{k:?}").contains("c2Vj"), "{k:?}");
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"<redacted>\"");
        assert_eq!(k.expose(), "c2VjcmV0LWtleS1tYXRlcmlhbC1ub3Qtc2hvd24tZXZlcg==");
    }
}
