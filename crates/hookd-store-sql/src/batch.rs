//! How batches become statements: multi-row statements of a few fixed sizes, and each
//! webhook's counters tallied from a batch of results.

use hookd_core::id::WebhookId;
use hookd_core::store::{DeliveryResult, NextStep};
use time::OffsetDateTime;

/// Rows per multi-row statement. Only these sizes are used, so that a batch of any size
/// is written with statements whose SQL text repeats and stays prepared in the
/// connection's statement cache: parsing a fresh 1,000-row INSERT costs about as much as
/// running it. The largest keeps the bound values under SQLite's limit of 32,766.
pub const ROWS_PER_STATEMENT: [usize; 5] = [256, 64, 16, 4, 1];

/// Splits `items` into runs of the sizes in [`ROWS_PER_STATEMENT`], largest first.
pub fn sized_chunks<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in ROWS_PER_STATEMENT {
        while items.len() >= size {
            let (head, rest) = items.split_at(size);
            out.push(head);
            items = rest;
        }
    }
    out
}

/// What a batch of results does to one webhook's counters.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub attempts: i64,
    /// The latest successful attempt's start, if any succeeded.
    pub last_success: Option<OffsetDateTime>,
    /// Failures after the batch's last success (all of them if none succeeded).
    pub failures_since_success: i64,
    pub first_failure_since_success: Option<OffsetDateTime>,
}

/// Each webhook's counters from a batch of results, in the batch's order, sorted by
/// webhook id: stores that lock webhook rows take them in that order, so two writers
/// never wait on each other in a cycle. Results without an attempt count for nothing.
pub fn tally(batch: &[DeliveryResult]) -> Vec<(&WebhookId, Tally)> {
    let mut tallies: Vec<(&WebhookId, Tally)> = Vec::new();
    for r in batch {
        let Some(a) = &r.attempt else { continue };
        let t = match tallies.iter().position(|(w, _)| *w == &r.webhook_id) {
            Some(i) => &mut tallies[i].1,
            None => {
                tallies.push((&r.webhook_id, Tally::default()));
                &mut tallies.last_mut().expect("just pushed").1
            }
        };
        t.attempts += 1;
        if r.next == NextStep::Succeeded {
            t.last_success = Some(t.last_success.map_or(a.started_at, |s| s.max(a.started_at)));
            t.failures_since_success = 0;
            t.first_failure_since_success = None;
        } else {
            t.failures_since_success += 1;
            t.first_failure_since_success.get_or_insert(a.started_at);
        }
    }
    tallies.sort_by(|a, b| a.0.cmp(b.0));
    tallies
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_use_only_the_fixed_sizes_and_cover_everything() {
        let items: Vec<u32> = (0..343).collect();
        let chunks = sized_chunks(&items);
        let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [256, 64, 16, 4, 1, 1, 1]);
        assert_eq!(chunks.concat(), items);
        assert!(sized_chunks::<u8>(&[]).is_empty());
    }

    use std::time::Duration;

    use hookd_core::domain::Attempt;
    use hookd_core::id::DeliveryId;
    use hookd_core::store::{DeliveryResult, NextStep};

    use super::*;

    fn result(w: &WebhookId, at: OffsetDateTime, next: NextStep, attempted: bool) -> DeliveryResult {
        let id = DeliveryId::generate();
        DeliveryResult {
            attempt: attempted.then(|| Attempt {
                delivery_id: id.clone(),
                attempt: 1,
                started_at: at,
                duration_ms: 1,
                status_code: Some(200),
                response: None,
                error_kind: None,
                error_message: None,
                request_headers: Vec::new(),
                response_headers: Vec::new(),
            }),
            delivery_id: id,
            webhook_id: w.clone(),
            next,
            ordered: false,
        }
    }

    #[test]
    fn tallies_count_failures_after_the_last_success_in_webhook_order() {
        let (a, b) = (WebhookId::generate(), WebhookId::generate());
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = |n| t0 + Duration::from_secs(n);
        let batch = vec![
            result(&b, s(1), NextStep::Failed, true),
            result(&a, s(2), NextStep::Succeeded, true),
            result(&b, s(3), NextStep::Succeeded, true),
            result(&b, s(4), NextStep::RetryAt(s(60)), true),
            result(&b, s(5), NextStep::Failed, true),
            result(&a, s(6), NextStep::Cancelled, false),
        ];
        let t = tally(&batch);
        // Sorted by webhook id whatever the batch's order (ids are creation-ordered).
        assert_eq!(t.iter().map(|(w, _)| (*w).clone()).collect::<Vec<_>>(), vec![a.clone(), b.clone()]);
        assert_eq!(
            t[0].1,
            Tally {
                attempts: 1,
                last_success: Some(s(2)),
                failures_since_success: 0,
                first_failure_since_success: None
            }
        );
        assert_eq!(
            t[1].1,
            Tally {
                attempts: 4,
                last_success: Some(s(3)),
                failures_since_success: 2,
                first_failure_since_success: Some(s(4)),
            }
        );
    }
}
