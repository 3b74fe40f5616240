//! Typed, prefixed identifiers. Each kind of row has its own type so that a webhook id
//! can never be passed where a workspace id is expected, and every id says what it is
//! when it shows up in a log or a support ticket.
//!
//! UUIDv7 ids sort by creation time, which is what list pagination relies on: "newest
//! first" is "largest id first", and a cursor is simply the last id seen.

use std::fmt;

use uuid::Uuid;

/// The error when a string is not a well-formed id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id (expected `{prefix}…`)")]
pub struct ParseIdError {
    pub kind: &'static str,
    pub prefix: &'static str,
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, Uuid::now_v7().hyphenated()))
            }

            /// A new id as if generated at `t` (history loaded for a benchmark or an
            /// import keeps its place in time order).
            pub fn generate_at(t: time::OffsetDateTime) -> Self {
                let nanos = t.unix_timestamp_nanos().max(0);
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    (nanos / 1_000_000_000) as u64,
                    (nanos % 1_000_000_000) as u32,
                );
                Self(format!("{}{}", $prefix, Uuid::new_v7(ts).hyphenated()))
            }

            /// The smallest id generated at `t` (to the millisecond): every id generated
            /// before `t` sorts below it.
            pub fn floor_at(t: time::OffsetDateTime) -> Self {
                let ms = (t.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
                let u = uuid::Builder::from_unix_timestamp_millis(ms, &[0; 10]).into_uuid();
                Self(format!("{}{}", $prefix, u.hyphenated()))
            }

            /// Parses an id received from a client or read from storage.
            pub fn parse(s: &str) -> Result<Self, ParseIdError> {
                let err = ParseIdError { kind: $kind, prefix: $prefix };
                let rest = s.strip_prefix($prefix).ok_or(err.clone())?;
                // Only the canonical lower-case hyphenated form, so that string order is
                // time order and one id has exactly one spelling.
                match Uuid::try_parse(rest) {
                    Ok(u) if u.hyphenated().to_string() == rest => Ok(Self(s.to_owned())),
                    _ => Err(err),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id spelt with `prefix` in place of its own, as another API names it
            /// (the Svix-compatible API's `ep_…` for a webhook's `wh_…`).
            pub fn with_prefix(&self, prefix: &str) -> String {
                format!("{prefix}{}", &self.0[$prefix.len()..])
            }

            /// Parses an id spelt with `prefix` in place of this kind's own.
            pub fn parse_with_prefix(s: &str, prefix: &str) -> Result<Self, ParseIdError> {
                let rest = s.strip_prefix(prefix).ok_or(ParseIdError { kind: $kind, prefix: $prefix })?;
                Self::parse(&format!("{}{rest}", $prefix))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

uuid_id!(
    /// A workspace: one tenant.
    WorkspaceId, "ws_", "workspace"
);
uuid_id!(
    /// A webhook endpoint subscription.
    WebhookId, "wh_", "webhook"
);
uuid_id!(
    /// A published event.
    EventId, "evt_", "event"
);
uuid_id!(
    /// One event on its way to one webhook.
    DeliveryId, "dlv_", "delivery"
);
uuid_id!(
    /// A bulk erasure of events' payloads, run in the background.
    ErasureId, "era_", "erasure"
);

/// An API key's id: `key_` and the 8 hex digits that also appear in the key itself
/// (`<prefix>_<8 hex>.<secret>`), so a key can be looked up without scanning hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    pub const PREFIX: &'static str = "key_";

    /// A new random id (the store refuses a taken one; draw again then).
    pub fn random() -> Self {
        Self(format!("{}{:08x}", Self::PREFIX, rand::random::<u32>()))
    }

    /// Builds the id from the 8 lower-case hex digits of a key.
    pub fn from_hex(hex8: &str) -> Result<Self, ParseIdError> {
        if is_hex8(hex8) {
            Ok(Self(format!("{}{hex8}", Self::PREFIX)))
        } else {
            Err(Self::parse_error())
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseIdError> {
        match s.strip_prefix(Self::PREFIX) {
            Some(hex8) if is_hex8(hex8) => Ok(Self(s.to_owned())),
            _ => Err(Self::parse_error()),
        }
    }

    /// The 8 hex digits as they appear in the key.
    pub fn hex(&self) -> &str {
        &self.0[Self::PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse_error() -> ParseIdError {
        ParseIdError { kind: "API key", prefix: Self::PREFIX }
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_hex8(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_sort_by_creation() {
        let a = WebhookId::generate();
        let b = WebhookId::generate();
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(WebhookId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn the_floor_of_a_time_sorts_above_ids_generated_before_it_and_below_those_after() {
        let now = time::OffsetDateTime::now_utc();
        let id = WebhookId::generate();
        let (earlier, later) =
            (WebhookId::floor_at(now - time::Duration::SECOND), WebhookId::floor_at(now + time::Duration::SECOND));
        assert!(earlier < id && id < later, "{earlier} < {id} < {later}");
        assert_eq!(WebhookId::parse(later.as_str()).unwrap(), later, "a well-formed id");
        assert!(WebhookId::floor_at(now - time::Duration::days(1)) < earlier);
    }

    #[test]
    fn rejects_wrong_prefix_and_non_canonical_uuid() {
        let ws = WorkspaceId::generate();
        assert!(WebhookId::parse(ws.as_str()).is_err());
        assert!(WebhookId::parse("wh_not-a-uuid").is_err());
        let upper = WebhookId::generate().as_str().to_uppercase().replace("WH_", "wh_");
        assert!(WebhookId::parse(&upper).is_err());
    }

    #[test]
    fn api_key_ids_are_eight_lower_hex() {
        assert_eq!(ApiKeyId::from_hex("a1b2c3d4").unwrap().as_str(), "key_a1b2c3d4");
        assert!(ApiKeyId::from_hex("A1B2C3D4").is_err());
        assert!(ApiKeyId::from_hex("a1b2c3").is_err());
        assert_eq!(ApiKeyId::parse("key_0000ffff").unwrap().hex(), "0000ffff");
    }
}
