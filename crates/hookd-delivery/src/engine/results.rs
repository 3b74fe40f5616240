//! The result writer: outcomes recorded in batches, one transaction for many attempts,
//! retried until the store takes them.

use super::*;

/// Writes outcomes in batches, retrying the store until it takes them.
pub(super) async fn write_results(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<DeliveryResult>) {
    while let Some(first) = rx.recv().await {
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
        let mut backoff = Duration::from_millis(50);
        loop {
            match shared.store.record_results(&batch, disable_before(&shared.options)).await {
                Ok(disabled) => {
                    for w in &disabled {
                        tracing::warn!(webhook_id = %w, "webhook disabled");
                        shared.directory.invalidate_webhook(w);
                    }
                    if !disabled.is_empty() {
                        let _ = shared.dispatch.send(Msg::Disabled(disabled));
                    }
                    break;
                }
                Err(e) => {
                    shared.options.storage.observe_failure(&e);
                    tracing::warn!(error = %hookd_core::error_chain(&e), count = batch.len(), "could not record delivery results; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
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
    }
}
