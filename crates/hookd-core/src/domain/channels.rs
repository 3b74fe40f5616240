//! Channels: free-form names a publisher tags an event with, and a webhook may listen to.
//! A webhook with channels receives only events sent to at least one of them; a webhook
//! without receives every event its types and filter let through, channels or not. They
//! are orthogonal to event types (a project, a team, an environment), as in Svix.

use std::collections::HashSet;

use super::FieldErrors;

/// Longest channel name.
pub const MAX_CHANNEL_LEN: usize = 128;
/// Most channels a webhook listens to.
pub const MAX_WEBHOOK_CHANNELS: usize = 10;
/// Most channels an event is sent to.
pub const MAX_EVENT_CHANNELS: usize = 5;

/// Checks a list of channels under `field`: at most `max`, each 1–128 of
/// `a-z A-Z 0-9 - _ .`, and each once. Problems name the entry (`channels[2]`).
pub fn check_channels(channels: &[String], max: usize, field: &str, errs: &mut FieldErrors) {
    if channels.len() > max {
        errs.push(field, format!("must contain at most {max} channels"));
        return;
    }
    let mut seen = HashSet::with_capacity(channels.len());
    for (i, c) in channels.iter().enumerate() {
        let ok = (1..=MAX_CHANNEL_LEN).contains(&c.len())
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            errs.push(
                format!("{field}[{i}]"),
                format!("must be 1 to {MAX_CHANNEL_LEN} characters of a-z, A-Z, 0-9, '-', '_' and '.'"),
            );
        } else if !seen.insert(c.as_str()) {
            errs.push(format!("{field}[{i}]"), format!("`{c}` is listed more than once"));
        }
    }
}

/// Whether a webhook listening to `listens` receives an event sent to `sent`: always
/// when it listens to none, otherwise when they share one.
pub fn channels_admit(listens: &[String], sent: &[String]) -> bool {
    listens.is_empty() || sent.iter().any(|c| listens.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_webhook_without_channels_takes_everything_and_one_with_them_only_its_own() {
        assert!(channels_admit(&[], &[]));
        assert!(channels_admit(&[], &strings(&["project_1"])));
        let listens = strings(&["project_1", "team.a"]);
        assert!(channels_admit(&listens, &strings(&["team.a"])));
        assert!(channels_admit(&listens, &strings(&["x", "project_1"])));
        assert!(!channels_admit(&listens, &strings(&["project_2"])));
        assert!(!channels_admit(&listens, &[]), "an event without channels skips a webhook that has some");
        assert!(!channels_admit(&listens, &strings(&["Project_1"])), "case-sensitive");
    }

    #[test]
    fn names_counts_and_duplicates_are_checked_entry_by_entry() {
        let mut errs = FieldErrors::default();
        check_channels(&strings(&["ok-1_a.b", "bad name", "", "ok-1_a.b"]), 10, "channels", &mut errs);
        let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["channels[1]", "channels[2]", "channels[3]"]);
        let mut errs = FieldErrors::default();
        check_channels(&strings(&["a"; 6]), MAX_EVENT_CHANNELS, "channels", &mut errs);
        assert_eq!(errs.0.len(), 1, "too many: one error for the list");
        let mut errs = FieldErrors::default();
        check_channels(&["x".repeat(128)], 10, "channels", &mut errs);
        assert!(errs.0.is_empty());
        check_channels(&["x".repeat(129)], 10, "channels", &mut errs);
        assert_eq!(errs.0.len(), 1);
    }
}
