//! The result writer: outcomes recorded in batches, one transaction for many attempts,
//! retried until the store takes them.

use super::*;

/// Writes outcomes in batches, retrying the store until it takes them. Attempts are
/// also counted for the dashboard's statistics, written every [`STATS_INTERVAL`] in one
/// statement rather than with every batch.
pub(super) async fn write_results(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<DeliveryResult>) {
    let mut tally = StatsTally::default();
    let mut stats_timer = tokio::time::interval(STATS_INTERVAL);
    stats_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Waiting for the first result of a batch is the one place to stop and write the
        // statistics (a channel's `recv` loses nothing when another branch wins).
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = stats_timer.tick() => {
                write_stats(&*shared.store, &mut tally).await;
                continue;
            }
        };
        let Some(first) = first else { break };
        let batch = collect_batch(first, &mut rx).await;
        let failing_after = if shared.options.alerts.is_some() { shared.options.failing_after } else { u32::MAX };
        let recorded = until_stored(&shared.options.storage, batch.len(), || {
            shared.store.record_outcomes(&batch, disable_before(&shared.options), failing_after)
        })
        .await;
        for r in &batch {
            if let Some(a) = &r.attempt {
                tally.add(&r.webhook_id, a);
            }
        }
        for (w, reason) in &recorded.disabled {
            tracing::warn!(webhook_id = %w, reason, "webhook disabled");
            shared.directory.invalidate_webhook(w);
        }
        if let Some(alerts) = &shared.options.alerts {
            for a in alerts_of(&batch, &recorded) {
                let _ = alerts.send(a);
            }
        }
        if !recorded.disabled.is_empty() {
            let _ = shared.dispatch.send(Msg::Disabled(recorded.disabled.into_iter().map(|(w, _)| w).collect()));
        }
        // A retry due before the scheduler's next pass wakes it; later ones it will see
        // in the store when it gets there.
        let earliest = batch
            .iter()
            .filter_map(|r| match r.next {
                NextStep::RetryAt(t) => Some(time_fmt::micros(t)),
                _ => None,
            })
            .min();
        if let Some(t) = earliest {
            shared.next_retry.fetch_min(t, Ordering::Relaxed);
            if t < shared.planned_pass.load(Ordering::Relaxed) {
                shared.wake.notify_one();
            }
        }
        // A finished delivery with an ordering key lets the next of its key go: claim it
        // now, not at the next pass.
        if batch.iter().any(DeliveryResult::releases_next_in_order) {
            shared.wake_to_claim();
        }
    }
    // Shutting down: what is counted is written now.
    write_stats(&*shared.store, &mut tally).await;
}

/// What operators are told of after a batch: the webhooks it disabled, made failing or
/// saw recover, and the deliveries whose retry schedule it ended.
fn alerts_of(batch: &[DeliveryResult], recorded: &Recorded) -> Vec<Alert> {
    let mut out: Vec<Alert> = recorded
        .disabled
        .iter()
        .map(|(w, reason)| Alert::Disabled { webhook: w.clone(), reason: reason.clone() })
        .collect();
    out.extend(recorded.failing.iter().map(|(w, n)| Alert::Failing { webhook: w.clone(), failure_count: *n }));
    out.extend(recorded.recovered.iter().map(|w| Alert::Recovered { webhook: w.clone() }));
    out.extend(batch.iter().filter(|r| r.next == NextStep::Failed).filter_map(|r| {
        let a = r.attempt.as_ref()?;
        Some(Alert::Exhausted {
            webhook: r.webhook_id.clone(),
            delivery: r.delivery_id.clone(),
            attempts: a.attempt,
            last_status_code: a.status_code,
            last_error: a.error_message.clone().or_else(|| a.error_kind.clone()),
        })
    }));
    out
}

/// Writes the statistics counted so far. They are not worth holding results up for: a
/// write that fails keeps its counts for the next one.
pub(super) async fn write_stats(store: &dyn Store, tally: &mut StatsTally) {
    if tally.is_empty() {
        return;
    }
    let rows = tally.take();
    if let Err(e) = store.add_webhook_stats(&rows).await {
        tracing::warn!(error = %hookd_core::error_chain(&e), "could not record delivery statistics; keeping them for the next write");
        tally.restore(rows);
    }
}

/// The next batch: the first outcome to arrive, and whatever follows it within
/// [`RESULTS_LINGER`], up to [`MAX_RESULTS_PER_WRITE`]. `None` once the channel is closed
/// and empty. A closed channel (shutdown) does not linger.
#[cfg(test)]
pub(super) async fn next_batch(rx: &mut mpsc::UnboundedReceiver<DeliveryResult>) -> Option<Vec<DeliveryResult>> {
    let first = rx.recv().await?;
    Some(collect_batch(first, rx).await)
}

/// A batch that starts with `first`: whatever follows it within [`RESULTS_LINGER`], up
/// to [`MAX_RESULTS_PER_WRITE`]. A closed channel (shutdown) does not linger.
pub(super) async fn collect_batch(
    first: DeliveryResult,
    rx: &mut mpsc::UnboundedReceiver<DeliveryResult>,
) -> Vec<DeliveryResult> {
    let mut batch = vec![first];
    if !rx.is_closed() {
        tokio::time::sleep(RESULTS_LINGER).await;
    }
    while batch.len() < MAX_RESULTS_PER_WRITE {
        match rx.try_recv() {
            Ok(r) => batch.push(r),
            Err(_) => break,
        }
    }
    batch
}

/// Runs `write` until it succeeds: the outcomes are already sent, so they are never
/// dropped. Waits 50 ms after a failure, doubling up to 5 s, and reports each failure
/// to `health` (readiness).
pub(super) async fn until_stored<T, F, Fut>(health: &StorageHealth, count: usize, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = hookd_core::store::StoreResult<T>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match write().await {
            Ok(v) => return v,
            Err(e) => {
                health.observe_failure(&e);
                tracing::warn!(error = %hookd_core::error_chain(&e), count, "could not record delivery results; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use hookd_core::id::{DeliveryId, WebhookId};
    use hookd_core::store::{DeliveryResult, NextStep, StorageHealth, StoreError};
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    use super::{next_batch, until_stored, MAX_RESULTS_PER_WRITE, RESULTS_LINGER};

    fn result() -> DeliveryResult {
        DeliveryResult {
            delivery_id: DeliveryId::generate(),
            webhook_id: WebhookId::generate(),
            attempt: None,
            next: NextStep::Cancelled,
            ordered: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn outcomes_gather_for_the_linger_then_go_in_batches_of_at_most_the_maximum() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        for _ in 0..1_500 {
            tx.send(result()).unwrap();
        }
        let started = Instant::now();
        let first = next_batch(&mut rx).await.unwrap();
        assert_eq!(first.len(), MAX_RESULTS_PER_WRITE);
        assert_eq!(started.elapsed(), RESULTS_LINGER, "one linger per batch");
        // What arrives during the linger joins the batch.
        let late = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RESULTS_LINGER / 2).await;
            late.send(result()).unwrap();
        });
        assert_eq!(next_batch(&mut rx).await.unwrap().len(), 501);
        // Closed (shutdown): what is left goes at once, then the writer ends.
        tx.send(result()).unwrap();
        drop(tx);
        let started = Instant::now();
        assert_eq!(next_batch(&mut rx).await.unwrap().len(), 1);
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(next_batch(&mut rx).await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_write_is_retried_with_backoff_until_it_is_stored() {
        let health = StorageHealth::default();
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let stored = until_stored(&health, 1, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 4 {
                    Err(StoreError::Storage("disk full".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(stored, 4, "the fifth try is stored");
        assert!(health.failing(), "readiness hears of the failures");
        assert_eq!(started.elapsed(), Duration::from_millis(50 + 100 + 200 + 400));
    }

    #[tokio::test(start_paused = true)]
    async fn the_backoff_stops_growing_at_five_seconds() {
        let health = StorageHealth::default();
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        until_stored(&health, 1, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 10 {
                    Err(StoreError::Unavailable("connection refused".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        // 50, 100, …, 3200 ms, then 5 s four times.
        let expected: u64 = (0..7).map(|i| 50u64 << i).sum::<u64>() + 3 * 5_000;
        assert_eq!(started.elapsed(), Duration::from_millis(expected));
        assert!(!health.failing(), "only storage failures (a full disk) mark readiness");
    }
}
