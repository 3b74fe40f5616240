//! What the dashboard and the customer portal keep: sessions, one-time portal links,
//! and the hourly attempt statistics their health figures and charts read.

use time::{Duration, OffsetDateTime};

use crate::id::{ApiKeyId, WebhookId, WorkspaceId};

/// A signed-in browser. The cookie holds a random secret; only its SHA-256 is stored,
/// so a copy of the database does not let anyone in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub id_hash: [u8; 32],
    pub workspace_id: WorkspaceId,
    /// The key that signed in (dashboard sessions): its scopes and owner apply, and a
    /// revoked or expired key ends the session.
    pub api_key_id: Option<ApiKeyId>,
    /// The owner a portal session is limited to.
    pub owner: Option<String>,
    /// Every form of the session carries it; a POST without it is refused.
    pub csrf_token: String,
    /// The workspace an admin key has switched to.
    pub acting_workspace: Option<WorkspaceId>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    /// Absolute end, whatever the activity.
    pub expires_at: OffsetDateTime,
}

impl WebSession {
    /// A portal session rather than a dashboard one.
    pub fn is_portal(&self) -> bool {
        self.api_key_id.is_none()
    }

    /// Whether it still holds at `now`, given the idle timeout.
    pub fn is_live(&self, now: OffsetDateTime, idle_timeout: Duration) -> bool {
        now < self.expires_at && now < self.last_seen_at + idle_timeout
    }
}

/// A one-time link into the customer portal for one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalLink {
    pub token_hash: [u8; 32],
    pub workspace_id: WorkspaceId,
    pub owner: String,
    pub created_at: OffsetDateTime,
    /// The link must be opened before, and the portal session it starts ends, then.
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// Upper bounds of the latency buckets, in milliseconds; the last bucket is open.
pub const LATENCY_BOUNDS_MS: [i64; 21] =
    [5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000, 30_000];

/// The bucket of a latency: the first whose bound is above it.
pub fn latency_bucket(ms: i64) -> usize {
    LATENCY_BOUNDS_MS.iter().position(|&b| ms < b).unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// Attempts of one webhook in one hour and one latency bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatRow {
    pub webhook_id: WebhookId,
    /// The start of the hour.
    pub hour: OffsetDateTime,
    pub bucket: usize,
    pub succeeded: i64,
    pub failed: i64,
}

/// Attempts counted in memory by webhook, hour and latency bucket, until they are
/// written (`Store::add_webhook_stats`) in one statement for many batches of results.
#[derive(Debug, Default)]
pub struct StatsTally(std::collections::HashMap<WebhookId, HourlyCounts>);

/// Succeeded and failed attempts by hour (Unix seconds) and latency bucket.
type HourlyCounts = std::collections::BTreeMap<(i64, usize), (i64, i64)>;

impl StatsTally {
    /// Counts one attempt of `webhook`.
    pub fn add(&mut self, webhook: &WebhookId, attempt: &crate::domain::Attempt) {
        let hour = hour_of(attempt.started_at).unix_timestamp();
        // The webhook's id is copied only the first time it is seen.
        let per_webhook = match self.0.get_mut(webhook) {
            Some(m) => m,
            None => self.0.entry(webhook.clone()).or_default(),
        };
        let counts = per_webhook.entry((hour, latency_bucket(attempt.duration_ms))).or_default();
        if attempt.error_kind.is_none() {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows counted so far, in key order (so that two nodes writing the same rows
    /// lock them in the same order); the tally starts again empty.
    pub fn take(&mut self) -> Vec<StatRow> {
        let mut webhooks: Vec<_> = std::mem::take(&mut self.0).into_iter().collect();
        webhooks.sort_by(|a, b| a.0.cmp(&b.0));
        webhooks
            .into_iter()
            .flat_map(|(webhook_id, counts)| {
                counts.into_iter().map(move |((hour, bucket), (succeeded, failed))| StatRow {
                    webhook_id: webhook_id.clone(),
                    hour: OffsetDateTime::from_unix_timestamp(hour).unwrap_or(OffsetDateTime::UNIX_EPOCH),
                    bucket,
                    succeeded,
                    failed,
                })
            })
            .collect()
    }

    /// Adds rows back (a write that failed), to be written with the next ones.
    pub fn restore(&mut self, rows: Vec<StatRow>) {
        for r in rows {
            let counts =
                self.0.entry(r.webhook_id).or_default().entry((r.hour.unix_timestamp(), r.bucket)).or_default();
            counts.0 += r.succeeded;
            counts.1 += r.failed;
        }
    }
}

/// The start of the hour `t` falls in.
pub fn hour_of(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_minute(0).and_then(|t| t.replace_second(0)).and_then(|t| t.replace_nanosecond(0)).unwrap_or(t)
}

/// Attempts summed over some rows: counts and latency percentiles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub succeeded: i64,
    pub failed: i64,
    /// Attempts per latency bucket.
    pub buckets: Vec<i64>,
}

impl Health {
    pub fn of<'a>(rows: impl IntoIterator<Item = &'a StatRow>) -> Self {
        let mut h = Self { buckets: vec![0; LATENCY_BOUNDS_MS.len() + 1], ..Self::default() };
        for r in rows {
            h.succeeded += r.succeeded;
            h.failed += r.failed;
            if let Some(b) = h.buckets.get_mut(r.bucket) {
                *b += r.succeeded + r.failed;
            }
        }
        h
    }

    pub fn attempts(&self) -> i64 {
        self.succeeded + self.failed
    }

    /// Succeeded attempts over all, `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.attempts() > 0).then(|| self.succeeded as f64 / self.attempts() as f64)
    }

    /// The `q` quantile (0–1) of latency in milliseconds, interpolated within its
    /// bucket; `None` without attempts.
    pub fn latency_quantile(&self, q: f64) -> Option<f64> {
        let total: i64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0i64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if (seen + n) as f64 >= rank {
                let low = if i == 0 { 0 } else { LATENCY_BOUNDS_MS[i - 1] } as f64;
                let high = LATENCY_BOUNDS_MS.get(i).map(|&b| b as f64).unwrap_or(low * 2.0);
                let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
                return Some(low + (high - low) * within);
            }
            seen += n;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn row(bucket: usize, succeeded: i64, failed: i64) -> StatRow {
        StatRow { webhook_id: WebhookId::generate(), hour: datetime!(2026-01-01 10:00 UTC), bucket, succeeded, failed }
    }

    #[test]
    fn latencies_fall_in_the_first_bucket_above_them() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(4), 0);
        assert_eq!(latency_bucket(5), 1);
        assert_eq!(latency_bucket(99), 6);
        assert_eq!(latency_bucket(100), 7);
        assert_eq!(latency_bucket(60_000), LATENCY_BOUNDS_MS.len());
    }

    #[test]
    fn hours_start_on_the_hour() {
        assert_eq!(hour_of(datetime!(2026-01-01 10:59:59.999 UTC)), datetime!(2026-01-01 10:00 UTC));
    }

    #[test]
    fn health_sums_rows_and_interpolates_quantiles_within_a_bucket() {
        let h = Health::of(&[row(0, 90, 0), row(6, 5, 5)]);
        assert_eq!((h.succeeded, h.failed, h.attempts()), (95, 5, 100));
        assert_eq!(h.success_rate(), Some(0.95));
        // 90 attempts under 5 ms, 10 between 75 and 100 ms.
        let p50 = h.latency_quantile(0.5).unwrap();
        assert!(p50 > 0.0 && p50 < 5.0, "{p50}");
        let p95 = h.latency_quantile(0.95).unwrap();
        assert!((75.0..=100.0).contains(&p95), "{p95}");
        assert_eq!(h.latency_quantile(1.0), Some(100.0));
        assert_eq!(Health::of(&[]).success_rate(), None);
        assert_eq!(Health::of(&[]).latency_quantile(0.95), None);
    }

    #[test]
    fn a_tally_counts_attempts_by_webhook_hour_and_bucket_and_keeps_failed_writes() {
        let w = WebhookId::generate();
        let t = datetime!(2026-01-01 10:20 UTC);
        let attempt = |ms: i64, ok: bool, at: OffsetDateTime| crate::domain::Attempt {
            delivery_id: crate::id::DeliveryId::generate(),
            attempt: 1,
            started_at: at,
            duration_ms: ms,
            status_code: Some(if ok { 200 } else { 500 }),
            response: None,
            error_kind: (!ok).then(|| "http_status".into()),
            error_message: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
        };
        let mut tally = StatsTally::default();
        tally.add(&w, &attempt(3, true, t));
        tally.add(&w, &attempt(4, false, t + Duration::minutes(30)));
        tally.add(&w, &attempt(120, true, t));
        tally.add(&w, &attempt(3, true, t + Duration::HOUR));
        let rows = tally.take();
        assert!(tally.is_empty());
        let summary: Vec<_> = rows.iter().map(|r| (r.hour.hour(), r.bucket, r.succeeded, r.failed)).collect();
        assert_eq!(summary, [(10, 0, 1, 1), (10, latency_bucket(120), 1, 0), (11, 0, 1, 0)]);
        tally.restore(rows.clone());
        tally.add(&w, &attempt(3, true, t));
        assert_eq!(tally.take()[0].succeeded, 2, "restored rows add up with new ones");
    }

    #[test]
    fn sessions_end_when_idle_or_expired() {
        let t = datetime!(2026-01-01 10:00 UTC);
        let s = WebSession {
            id_hash: [0; 32],
            workspace_id: WorkspaceId::generate(),
            api_key_id: None,
            owner: Some("acct_1".into()),
            csrf_token: "c".into(),
            acting_workspace: None,
            created_at: t,
            last_seen_at: t,
            expires_at: t + Duration::hours(1),
        };
        assert!(s.is_portal());
        assert!(s.is_live(t + Duration::minutes(10), Duration::minutes(30)));
        assert!(!s.is_live(t + Duration::minutes(31), Duration::minutes(30)), "idle");
        assert!(!s.is_live(t + Duration::minutes(61), Duration::hours(8)), "expired");
    }
}
