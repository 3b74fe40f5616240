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
    let mut held_back_wait = HELD_BACK_WAIT;
    while !shared.stopping.load(Ordering::SeqCst) {
        if shared.claimable.swap(false, Ordering::Relaxed) {
            held_back_wait = HELD_BACK_WAIT;
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
                        held_back_wait = HELD_BACK_WAIT;
                        // Render each event's body once, however many of its deliveries came.
                        let mut bodies: HashMap<EventId, Arc<str>> = HashMap::new();
                        let jobs = rows
                            .into_iter()
                            .map(|(d, e)| {
                                let body = bodies.entry(e.id.clone()).or_insert_with(|| e.body().into()).clone();
                                DeliveryJob::new(&d, body)
                            })
                            .collect();
                        // Reserve the room now; the dispatcher corrects it.
                        shared.free.fetch_sub(claimed.min(shared.free.load(Ordering::Relaxed)), Ordering::Relaxed);
                        let _ = shared.dispatch.send(Msg::Jobs(jobs));
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
        let mut wait = match next_due {
            Some(t) if t > now => (t - now).try_into().unwrap_or(Duration::ZERO),
            // Due now but nothing claimable (full queues, open circuits, or another
            // node's live work): back off, but not past a retry this node scheduled.
            Some(_) => {
                let w = held_back_wait;
                // Never past the lease, so a dead node's deliveries wait little longer
                // than their lease for this node to take them over.
                let cap = opts.poll_interval.min(opts.lease).max(HELD_BACK_WAIT);
                held_back_wait = (held_back_wait * 2).min(cap);
                let retry = shared.next_retry.load(Ordering::Relaxed);
                let until_retry = Duration::from_micros(retry.saturating_sub(time_fmt::micros(now)).max(0) as u64);
                if until_retry <= w {
                    // This wait ends at that retry; the pass after it claims it.
                    let _ = shared.next_retry.compare_exchange(retry, i64::MAX, Ordering::Relaxed, Ordering::Relaxed);
                }
                w.min(until_retry)
            }
            None => opts.poll_interval,
        };
        wait = wait.min(opts.poll_interval).max(Duration::from_millis(5));
        shared.planned_pass.store(time_fmt::micros(now) + wait.as_micros() as i64, Ordering::Relaxed);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// The first wait after a pass that could claim nothing due.
const HELD_BACK_WAIT: Duration = Duration::from_secs(1);
