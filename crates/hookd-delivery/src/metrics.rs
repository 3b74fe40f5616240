//! The engine's Prometheus metrics, kept in atomics and rendered as text.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hookd_core::id::WebhookId;

use hookd_core::store::NextStep;

use crate::sender::Outcome;

/// Upper bounds of the attempt latency histogram, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0];

#[derive(Debug, Default)]
pub struct Metrics {
    attempts_ok: AtomicU64,
    attempts_failed: AtomicU64,
    succeeded: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    held: AtomicU64,
    gone: AtomicU64,
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    queued: AtomicU64,
    in_flight: AtomicU64,
    open_circuits: AtomicU64,
    /// Each webhook held in memory here, and how many attempts it may have in flight.
    concurrency: Mutex<HashMap<WebhookId, usize>>,
}

impl Metrics {
    pub fn observe(&self, o: &Outcome) {
        if o.succeeded() { &self.attempts_ok } else { &self.attempts_failed }.fetch_add(1, Ordering::Relaxed);
        let secs = o.duration.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(o.duration.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn outcome(&self, next: &NextStep) {
        match next {
            NextStep::Succeeded => &self.succeeded,
            NextStep::RetryAt(_) => &self.retried,
            NextStep::Failed => &self.failed,
            NextStep::Cancelled => &self.cancelled,
            NextStep::Held => &self.held,
            NextStep::DisableWebhook { .. } => &self.gone,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn cancelled(&self) {
        self.cancelled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn held(&self) {
        self.held.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_gauges(&self, queued: usize, in_flight: usize, open_circuits: usize) {
        self.queued.store(queued as u64, Ordering::Relaxed);
        self.in_flight.store(in_flight as u64, Ordering::Relaxed);
        self.open_circuits.store(open_circuits as u64, Ordering::Relaxed);
    }

    /// Applies changes of webhooks' concurrency limits (`None`: no longer held here).
    pub fn set_concurrency(&self, changes: Vec<(WebhookId, Option<usize>)>) {
        let mut map = self.concurrency.lock().unwrap_or_else(|p| p.into_inner());
        for (w, limit) in changes {
            match limit {
                Some(l) => map.insert(w, l),
                None => map.remove(&w),
            };
        }
    }

    /// A webhook's concurrency limit on this node, while it has deliveries here.
    pub fn concurrency(&self, webhook: &WebhookId) -> Option<usize> {
        self.concurrency.lock().unwrap_or_else(|p| p.into_inner()).get(webhook).copied()
    }

    /// Appends the Prometheus text exposition of these metrics.
    pub fn render(&self, out: &mut String) {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP hookd_attempts_total HTTP attempts made, by result.");
        let _ = writeln!(out, "# TYPE hookd_attempts_total counter");
        let _ = writeln!(out, "hookd_attempts_total{{result=\"success\"}} {}", g(&self.attempts_ok));
        let _ = writeln!(out, "hookd_attempts_total{{result=\"failure\"}} {}", g(&self.attempts_failed));
        let _ = writeln!(out, "# HELP hookd_deliveries_total Delivery outcomes after each attempt.");
        let _ = writeln!(out, "# TYPE hookd_deliveries_total counter");
        for (name, v) in [
            ("succeeded", &self.succeeded),
            ("retry_scheduled", &self.retried),
            ("failed", &self.failed),
            ("cancelled", &self.cancelled),
            ("held", &self.held),
            ("endpoint_gone", &self.gone),
        ] {
            let _ = writeln!(out, "hookd_deliveries_total{{outcome=\"{name}\"}} {}", g(v));
        }
        let _ = writeln!(out, "# HELP hookd_attempt_duration_seconds Duration of HTTP attempts.");
        let _ = writeln!(out, "# TYPE hookd_attempt_duration_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "hookd_attempt_duration_seconds_bucket{{le=\"{b}\"}} {}", g(&self.latency[i]));
        }
        let count = g(&self.latency_count);
        let _ = writeln!(out, "hookd_attempt_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "hookd_attempt_duration_seconds_sum {}", g(&self.latency_sum_us) as f64 / 1e6);
        let _ = writeln!(out, "hookd_attempt_duration_seconds_count {count}");
        for (name, help, v) in [
            ("hookd_queue_depth", "Deliveries held in memory, waiting for an attempt.", &self.queued),
            ("hookd_in_flight", "Attempts under way.", &self.in_flight),
            ("hookd_open_circuits", "Webhooks whose circuit breaker is open.", &self.open_circuits),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {}", g(v));
        }
        let _ = writeln!(
            out,
            "# HELP hookd_webhook_concurrency_limit Attempts a webhook may have in flight on this node, \
             learned from its answers (webhooks with deliveries held here)."
        );
        let _ = writeln!(out, "# TYPE hookd_webhook_concurrency_limit gauge");
        let mut limits: Vec<(String, usize)> = self
            .concurrency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(w, l)| (w.to_string(), *l))
            .collect();
        limits.sort();
        for (w, l) in limits {
            let _ = writeln!(out, "hookd_webhook_concurrency_limit{{webhook_id=\"{w}\"}} {l}");
        }
    }
}
