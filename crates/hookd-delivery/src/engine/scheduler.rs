//! The scheduler: claims due retries and expired leases from the store for the
//! dispatcher, and sleeps until the next due time or a wake-up.

use super::*;

/// Claims due deliveries for the dispatcher, sleeping until the next due time, a
/// wake-up, or the poll interval.
pub(super) async fn schedule(shared: Arc<Shared>) {
    let opts = shared.options.clone();
    // How long to wait after a pass that found deliveries due but could claim none of
    // them: they all belong to webhooks this node is holding back (a full queue, an open
    // circuit). Such a pass reads past every one of those rows, so with a large backlog
    // it is expensive, and repeating it every second took a quarter of the writer's time
    // in the mixed-health benchmark. It doubles up to the poll interval, and is reset
    // when a webhook leaves saturation or claims succeed.
    let mut pacing = Pacing::new(opts.poll_interval, opts.lease);
    while !shared.stopping.load(Ordering::SeqCst) {
        if shared.claimable.swap(false, Ordering::Relaxed) {
            pacing.reset();
        }
        let free = shared.free.load(Ordering::Relaxed).min(MAX_CLAIM);
        let mut claimed = 0;
        if free > 0 {
            let exclude: Vec<WebhookId> =
                shared.saturated.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
            let now = time_fmt::now();
            let claim = Claim {
                owner: &opts.node_id,
                now,
                lease_until: now + opts.lease,
                limit: free as u32,
                exclude_webhooks: &exclude,
            };
            match shared.store.claim_due_deliveries(&claim).await {
                Ok(rows) => {
                    claimed = rows.len();
                    if claimed > 0 {
                        pacing.reset();
                        // Render each event's body once, however many of its deliveries came.
                        let mut bodies: HashMap<EventId, Arc<str>> = HashMap::new();
                        let jobs = rows
                            .into_iter()
                            .map(|(d, e)| {
                                let body = bodies.entry(e.id.clone()).or_insert_with(|| e.body().into()).clone();
                                DeliveryJob::new(&d, body, e.trace_parent)
                            })
                            .collect();
                        // The next pass reads the room these take, once the dispatcher
                        // has them.
                        let (taken, wait_taken) = oneshot::channel();
                        let _ = shared.dispatch.send(Msg::Jobs(jobs, Some(taken)));
                        let _ = wait_taken.await;
                    }
                }
                Err(e) => tracing::warn!(error = %hookd_core::error_chain(&e), "could not claim due deliveries"),
            }
        }
        if claimed == free && free > 0 {
            continue;
        }
        let now = time_fmt::now();
        let next_due = match shared.store.next_due_at().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %hookd_core::error_chain(&e), "could not read the next due time");
                Some(now + Duration::from_secs(1))
            }
        };
        let retry = shared.next_retry.load(Ordering::Relaxed);
        let next_retry = (retry != i64::MAX).then(|| from_micros(retry));
        let (wait, ends_at_retry) = pacing.wait(now, next_due, next_retry);
        if ends_at_retry {
            // This wait ends at that retry; the pass after it claims it.
            let _ = shared.next_retry.compare_exchange(retry, i64::MAX, Ordering::Relaxed, Ordering::Relaxed);
        }
        shared.planned_pass.store(time_fmt::micros(now) + wait.as_micros() as i64, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// The first wait after a pass that could claim nothing due.
const HELD_BACK_WAIT: Duration = Duration::from_secs(1);
/// The shortest wait between passes.
const MIN_WAIT: Duration = Duration::from_millis(5);

fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// How long the scheduler waits before its next pass; the decision alone, with the
/// time passed in.
#[derive(Debug)]
pub(super) struct Pacing {
    poll: Duration,
    /// The longest held-back wait: never past the lease, so a dead node's deliveries wait
    /// little longer than their lease for this node to take them over.
    cap: Duration,
    held_back: Duration,
}

impl Pacing {
    pub fn new(poll: Duration, lease: Duration) -> Self {
        Self { poll, cap: poll.min(lease).max(HELD_BACK_WAIT), held_back: HELD_BACK_WAIT }
    }

    /// Claims succeeded, or stored deliveries became claimable here: the back-off
    /// starts over.
    pub fn reset(&mut self) {
        self.held_back = HELD_BACK_WAIT;
    }

    /// The wait, at `now`, after a pass that claimed less than it had room for:
    /// - until the next due time (a retry, or a lease that expires), at most the poll
    ///   interval;
    /// - when deliveries are due but none could be claimed (full queues, open circuits,
    ///   another node's live work), a back-off that doubles up to the cap, cut short by
    ///   this node's earliest scheduled retry (`next_retry`). The flag says the wait ends
    ///   at that retry.
    pub fn wait(
        &mut self,
        now: OffsetDateTime,
        next_due: Option<OffsetDateTime>,
        next_retry: Option<OffsetDateTime>,
    ) -> (Duration, bool) {
        let until = |t: OffsetDateTime| Duration::try_from(t - now).unwrap_or(Duration::ZERO);
        let (wait, ends_at_retry) = match next_due {
            Some(t) if t > now => (until(t), false),
            Some(_) => {
                let w = self.held_back;
                self.held_back = (self.held_back * 2).min(self.cap);
                match next_retry.map(until) {
                    Some(r) if r <= w => (r, true),
                    _ => (w, false),
                }
            }
            None => (self.poll, false),
        };
        (wait.min(self.poll).max(MIN_WAIT), ends_at_retry)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Pacing;

    fn t0() -> time::OffsetDateTime {
        time::macros::datetime!(2026-12-02 12:00 UTC)
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn waits_for_the_next_due_time_within_the_poll_interval() {
        let mut p = Pacing::new(S(30), S(60));
        assert_eq!(p.wait(t0(), None, None), (S(30), false), "nothing due: the poll interval");
        assert_eq!(p.wait(t0(), Some(t0() + S(3)), None), (S(3), false));
        assert_eq!(p.wait(t0(), Some(t0() + S(3600)), None), (S(30), false));
        // A lease expiring in 2 s: the pass that reclaims it comes then.
        assert_eq!(p.wait(t0(), Some(t0() + S(2)), None), (S(2), false));
    }

    #[test]
    fn held_back_deliveries_back_off_doubling_to_the_lease_and_start_over() {
        let mut p = Pacing::new(S(30), S(10));
        let due = Some(t0());
        let waits: Vec<u64> = (0..6).map(|_| p.wait(t0(), due, None).0.as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10], "capped at the lease, below the poll interval");
        p.reset();
        assert_eq!(p.wait(t0(), due, None), (S(1), false));
    }

    #[test]
    fn a_retry_this_node_scheduled_cuts_the_back_off_short() {
        let mut p = Pacing::new(S(30), S(60));
        let due = Some(t0());
        p.wait(t0(), due, None);
        p.wait(t0(), due, None);
        // The back-off is at 4 s; a retry in 300 ms ends it, and says so.
        let retry = Some(t0() + Duration::from_millis(300));
        assert_eq!(p.wait(t0(), due, retry), (Duration::from_millis(300), true));
        // A retry later than the back-off does not lengthen it.
        assert_eq!(p.wait(t0(), due, Some(t0() + S(60))), (S(8), false));
        // Never a busy loop.
        assert_eq!(p.wait(t0(), due, Some(t0())), (Duration::from_millis(5), true));
    }
}
