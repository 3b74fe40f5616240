//! Timestamps as the API shows them: RFC 3339, UTC, whole seconds
//! (`2026-03-21T14:30:00Z`), the form every seed document uses.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The current time, truncated to microseconds so that what is stored and read back
/// compares equal on every backend.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or(t)
}

/// Formats a timestamp for the API.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp with any offset.
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// Microseconds since the Unix epoch: how the stores keep timestamps.
pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    #[test]
    fn formats_whole_seconds_in_utc() {
        let t = datetime!(2026-03-21 16:30:00.123456 +02:00);
        assert_eq!(super::format(t), "2026-03-21T14:30:00Z");
    }
}
