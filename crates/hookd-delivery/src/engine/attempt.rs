//! One attempt: look up the webhook, send, and decide what follows under the retry
//! schedule; and the one-off attempt of a test ping.

use super::*;

/// One attempt sent at once and recorded (test pings); no retry follows.
pub(super) async fn send_once(
    store: &Arc<dyn Store>,
    directory: &WebhookDirectory,
    sender: &Sender,
    metrics: &Metrics,
    options: &EngineOptions,
    job: DeliveryJob,
) -> Result<Attempt, ServiceError> {
    let route = directory.route(&job.webhook_id).await?.ok_or(ServiceError::NotFound { what: "webhook" })?;
    let outcome = sender.send(&route, &job).await;
    metrics.observe(&outcome);
    let next = if outcome.succeeded() {
        NextStep::Succeeded
    } else if outcome.gone() {
        NextStep::DisableWebhook { reason: DISABLED_GONE }
    } else {
        NextStep::Failed
    };
    let attempt = attempt_of(&job, outcome);
    let result = DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: Some(attempt.clone()),
        next,
        ordered: job.ordered,
    };
    let disabled = store.record_results(&[result], disable_before(options)).await?;
    for w in &disabled {
        directory.invalidate_webhook(w);
    }
    let mut tally = StatsTally::default();
    tally.add(&job.webhook_id, &attempt);
    write_stats(&**store, &mut tally).await;
    Ok(attempt)
}

pub(super) fn disable_before(options: &EngineOptions) -> OffsetDateTime {
    time_fmt::now() - options.disable_after
}

/// The attempt an outcome records; its headers move into it.
pub(super) fn attempt_of(job: &DeliveryJob, o: Outcome) -> Attempt {
    Attempt {
        delivery_id: job.delivery_id.clone(),
        attempt: job.attempts + 1,
        started_at: o.started_at,
        duration_ms: o.duration.as_millis() as i64,
        status_code: o.status_code.map(i32::from),
        response: o.response,
        error_kind: o.error_kind.map(str::to_owned),
        error_message: o.error_message,
        request_headers: o.request_headers,
        response_headers: o.response_headers,
    }
}

/// What follows an attempt under the retry schedule, decided at `now`.
pub(super) fn next_step(options: &EngineOptions, job: &DeliveryJob, o: &Outcome, now: OffsetDateTime) -> NextStep {
    if o.succeeded() {
        return NextStep::Succeeded;
    }
    if o.gone() {
        return NextStep::DisableWebhook { reason: DISABLED_GONE };
    }
    let made = (job.attempts + 1 - job.schedule_base).max(1) as usize;
    match options.retry_schedule.next_delay(made, o.retry_after) {
        Some(delay) => NextStep::RetryAt(now + delay),
        None => NextStep::Failed,
    }
}

/// One attempt of a job: look up the webhook, send, decide what follows.
/// `now` is when the attempt was started.
pub(super) async fn attempt(
    shared: &Shared,
    job: &DeliveryJob,
    now: OffsetDateTime,
) -> (DeliveryResult, Option<Signal>) {
    let cancelled = || DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: None,
        next: NextStep::Cancelled,
        ordered: job.ordered,
    };
    let route = match shared.directory.route(&job.webhook_id).await {
        Ok(Some(r)) if r.webhook.enabled => r,
        Ok(Some(_)) => {
            // Disabled: kept for its re-enabling.
            shared.metrics.held();
            return (DeliveryResult { next: NextStep::Held, ..cancelled() }, None);
        }
        Ok(None) => {
            shared.metrics.cancelled();
            return (cancelled(), None);
        }
        Err(e) => {
            // The store is unreachable or a secret cannot be opened: try again later.
            tracing::warn!(delivery_id = %job.delivery_id, error = %hookd_core::error_chain(&e), "cannot load the webhook; retrying later");
            let next = NextStep::RetryAt(now + shared.options.lease);
            let r = DeliveryResult {
                delivery_id: job.delivery_id.clone(),
                webhook_id: job.webhook_id.clone(),
                attempt: None,
                next,
                ordered: job.ordered,
            };
            return (r, None);
        }
    };
    let outcome = shared.sender.send(&route, job).await;
    shared.metrics.observe(&outcome);
    let next = next_step(&shared.options, job, &outcome, time_fmt::now());
    shared.metrics.outcome(&next);
    tracing::debug!(
        delivery_id = %job.delivery_id,
        webhook_id = %job.webhook_id,
        event_id = %job.event_id,
        attempt = job.attempts + 1,
        status = outcome.status_code,
        duration_ms = outcome.duration.as_millis() as u64,
        error = outcome.error_kind,
        "attempt"
    );
    let signal = Signal::of(&outcome);
    let result = DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: Some(attempt_of(job, outcome)),
        next,
        ordered: job.ordered,
    };
    (result, Some(signal))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hookd_core::domain::{DeliveryJob, RetrySchedule};
    use hookd_core::id::{DeliveryId, EventId, WebhookId};
    use hookd_core::store::NextStep;
    use hookd_core::time_fmt;

    use super::{next_step, DISABLED_GONE};
    use crate::engine::EngineOptions;
    use crate::sender::Outcome;

    fn job(attempts: i32, schedule_base: i32) -> DeliveryJob {
        DeliveryJob {
            delivery_id: DeliveryId::generate(),
            webhook_id: WebhookId::generate(),
            event_id: EventId::generate(),
            event_type: "link.created".into(),
            body: "{}".into(),
            attempts,
            schedule_base,
            ordered: false,
            trace_parent: None,
        }
    }

    fn answered(status: u16, retry_after: Option<Duration>) -> Outcome {
        let ok = (200..300).contains(&status);
        Outcome {
            started_at: time_fmt::now(),
            duration: Duration::from_millis(3),
            status_code: Some(status),
            response: None,
            error_kind: (!ok).then_some("status"),
            error_message: None,
            retry_after,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
        }
    }

    fn options(steps: &[u64]) -> EngineOptions {
        let schedule = RetrySchedule::new(steps.iter().map(|s| Duration::from_secs(*s)).collect());
        EngineOptions { retry_schedule: schedule, ..EngineOptions::default() }
    }

    /// A fixed instant: the decision takes the time as an argument.
    fn t0() -> time::OffsetDateTime {
        time::macros::datetime!(2026-12-02 12:00 UTC)
    }

    /// The delay a decision at [`t0`] schedules.
    fn delay(next: NextStep) -> Duration {
        match next {
            NextStep::RetryAt(t) => (t - t0()).try_into().unwrap(),
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn success_and_gone_end_the_delivery() {
        let o = options(&[0, 5]);
        assert_eq!(next_step(&o, &job(0, 0), &answered(204, None), t0()), NextStep::Succeeded);
        assert_eq!(
            next_step(&o, &job(0, 0), &answered(410, None), t0()),
            NextStep::DisableWebhook { reason: DISABLED_GONE }
        );
    }

    #[test]
    fn failures_follow_the_schedule_with_jitter_until_it_is_spent() {
        let o = options(&[0, 10, 100]);
        for (attempts, base) in [(0, 10.0), (1, 100.0)] {
            for _ in 0..50 {
                let d = delay(next_step(&o, &job(attempts, 0), &answered(500, None), t0())).as_secs_f64();
                assert!((base * 0.8..=base * 1.2).contains(&d), "attempt {attempts}: {d}s");
            }
        }
        assert_eq!(next_step(&o, &job(2, 0), &answered(500, None), t0()), NextStep::Failed);
    }

    #[test]
    fn retry_after_sets_a_floor_bounded_by_the_largest_step() {
        let o = options(&[0, 10, 100]);
        let d = delay(next_step(&o, &job(0, 0), &answered(429, Some(Duration::from_secs(60))), t0()));
        assert!(d >= Duration::from_secs(60), "{d:?}");
        let d = delay(next_step(&o, &job(0, 0), &answered(503, Some(Duration::from_secs(86_400))), t0()));
        assert_eq!(d, Duration::from_secs(100), "a Retry-After of a day waits the largest step");
    }

    #[test]
    fn a_manual_retry_starts_a_new_round_of_the_schedule() {
        let o = options(&[0, 10, 100]);
        // The third attempt failed, the first of a round a manual retry started after
        // the schedule was spent: the next waits the round's first step, not a spent one.
        assert_eq!(next_step(&o, &job(2, 0), &answered(500, None), t0()), NextStep::Failed);
        let d = delay(next_step(&o, &job(2, 2), &answered(500, None), t0())).as_secs_f64();
        assert!((8.0..=12.0).contains(&d), "{d}s");
    }
}
