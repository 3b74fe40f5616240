//! The delivery engine: the dispatcher, the scheduler and the result writer.
//!
//! - New deliveries arrive in memory right after their commit ([`Engine::hand_off`]);
//!   due retries and deliveries whose lease expired (their node died) are claimed from
//!   the store by the scheduler, which sleeps until the next due time or a wake-up.
//! - The dispatcher keeps a queue per webhook and starts attempts under three limits: in
//!   flight per webhook, in flight in total, and the webhook's circuit breaker and rate
//!   limit. A slow or failing endpoint fills only its own queue.
//! - Attempts run as their own tasks; their outcomes go to the writer, which records them
//!   in batches (one transaction for many attempts).
//! - Every delivery held in memory is leased to this node; the dispatcher renews the
//!   leases, and releases them on shutdown. After a crash they expire and are claimed
//!   again, by this node after a restart or by another.
//!
//! One file per part: `dispatcher.rs`, `scheduler.rs`, `results.rs` (the writer),
//! `attempt.rs` (one attempt and what follows it) and `store_only.rs` (the engine of an
//! API-only node). This file holds what they share.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookd_core::domain::{Alert, Attempt, DeliveryJob, RetrySchedule, StatsTally};
use hookd_core::id::{DeliveryId, EventId, WebhookId};
use hookd_core::service::{Engine, Refusals, ServiceError, WebhookDirectory};
use hookd_core::store::{Claim, DeliveryResult, NextStep, Recorded, StorageHealth, Store};
use hookd_core::time_fmt;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::sender::{Outcome, Sender};

mod attempt;
mod dispatcher;
mod limiter;
mod queues;
mod results;
mod scheduler;
mod store_only;

use attempt::{attempt, disable_before, send_once};
use dispatcher::Dispatcher;
use results::{write_results, write_stats};
use scheduler::schedule;
pub use store_only::StoreOnlyEngine;

/// Reason recorded on a webhook whose endpoint answered 410 Gone.
pub const DISABLED_GONE: &str = "endpoint_gone";
/// Most results written in one transaction.
const MAX_RESULTS_PER_WRITE: usize = 1000;
/// How long the writer lets outcomes gather before writing them. Attempts are already
/// sent; only the log waits, and fewer, larger transactions leave the single SQLite
/// writer free for publishes.
const RESULTS_LINGER: Duration = Duration::from_millis(20);
/// Most deliveries claimed in one query.
const MAX_CLAIM: usize = 1000;
/// How often the attempts counted for the dashboard's statistics are written: one
/// statement for every webhook, hour and latency bucket seen since the last write.
const STATS_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Identifies this node's leases.
    pub node_id: String,
    /// How long a lease holds; renewed while the delivery is in memory.
    pub lease: Duration,
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    /// Deliveries held in memory; the rest wait in the database.
    pub max_queued: usize,
    pub max_queued_per_webhook: usize,
    pub retry_schedule: RetrySchedule,
    /// A webhook failing without a success for this long is disabled.
    pub disable_after: Duration,
    /// Consecutive failures that open a webhook's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit waits before its first probe.
    pub breaker_cooldown: Duration,
    /// Longest wait between probes of a circuit that keeps failing (the wait doubles).
    pub breaker_max_cooldown: Duration,
    /// How often the scheduler looks at the store when nothing woke it.
    pub poll_interval: Duration,
    /// Where the result writer reports whether its writes commit.
    pub storage: Arc<StorageHealth>,
    /// Consecutive failed attempts after which a webhook is reported failing.
    pub failing_after: u32,
    /// Where disabled, failing and recovered webhooks and exhausted deliveries are
    /// reported; `None`: to nobody.
    pub alerts: Option<hookd_core::domain::AlertSender>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            node_id: format!("node-{:08x}", rand::random::<u32>()),
            lease: Duration::from_secs(60),
            max_in_flight: 256,
            max_in_flight_per_webhook: 64,
            max_queued: 100_000,
            max_queued_per_webhook: 1_000,
            retry_schedule: RetrySchedule::default(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(600),
            poll_interval: Duration::from_secs(30),
            storage: Arc::default(),
            failing_after: 10,
            alerts: None,
        }
    }
}

/// What a finished attempt tells the queues: what it says of the endpoint's load and
/// latency (for its concurrency), and so whether it succeeded (for the circuit breaker).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    pub load: limiter::Load,
    pub latency: Duration,
}

impl Signal {
    pub(crate) fn of(outcome: &Outcome) -> Self {
        let load = if outcome.succeeded() {
            limiter::Load::Ok
        } else if outcome.error_kind == Some("timeout") || matches!(outcome.status_code, Some(429 | 503)) {
            limiter::Load::Overloaded
        } else {
            limiter::Load::Other
        };
        Self { load, latency: outcome.duration }
    }

    pub(crate) fn success(&self) -> bool {
        self.load == limiter::Load::Ok
    }

    /// A quick success.
    #[cfg(test)]
    pub(crate) fn ok() -> Self {
        Self { load: limiter::Load::Ok, latency: Duration::from_millis(1) }
    }

    /// A failure that says nothing of load (a 500).
    #[cfg(test)]
    pub(crate) fn failure() -> Self {
        Self { load: limiter::Load::Other, latency: Duration::from_millis(1) }
    }
}

enum Msg {
    /// Deliveries to hold; the scheduler's claims ask to be told when they are taken.
    Jobs(Vec<DeliveryJob>, Option<oneshot::Sender<()>>),
    Done {
        webhook_id: WebhookId,
        delivery_id: DeliveryId,
        /// `None` when no attempt was made.
        signal: Option<Signal>,
    },
    Disabled(Vec<WebhookId>),
    Shutdown {
        grace: Duration,
        done: oneshot::Sender<()>,
    },
}

struct Shared {
    store: Arc<dyn Store>,
    directory: Arc<WebhookDirectory>,
    sender: Sender,
    options: EngineOptions,
    metrics: Arc<Metrics>,
    dispatch: mpsc::UnboundedSender<Msg>,
    results: Mutex<Option<mpsc::UnboundedSender<DeliveryResult>>>,
    /// Room left in memory, for the scheduler's claims: written by the dispatcher alone,
    /// after every step.
    free: AtomicUsize,
    /// Webhooks whose queues are full: the scheduler leaves their rows in the store, and
    /// publishes store their new deliveries pending instead of handing them off. Written
    /// by the dispatcher alone, when the set changes.
    saturated: Mutex<Arc<HashSet<WebhookId>>>,
    wake: Notify,
    /// Set with a wake-up when stored deliveries may have become claimable (a webhook
    /// left saturation, room returned), as opposed to a retry being scheduled.
    claimable: AtomicBool,
    /// The earliest retry this node scheduled that the scheduler has not yet planned
    /// for, in Unix microseconds (`i64::MAX`: none).
    next_retry: AtomicI64,
    /// When the scheduler means to look at the store next, in Unix microseconds.
    planned_pass: AtomicI64,
    stopping: AtomicBool,
}

impl Shared {
    /// Wakes the scheduler because stored deliveries may have become claimable here,
    /// which ends its back-off.
    fn wake_to_claim(&self) {
        self.claimable.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// The engine, shared by the services (as [`Engine`]) and the app (to shut it down).
pub struct DeliveryEngine {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl DeliveryEngine {
    /// Starts the dispatcher, the scheduler and the writer.
    pub fn start(
        store: Arc<dyn Store>,
        directory: Arc<WebhookDirectory>,
        sender: Sender,
        options: EngineOptions,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        let (dispatch, dispatch_rx) = mpsc::unbounded_channel();
        let (results, results_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            free: AtomicUsize::new(options.max_queued),
            store,
            directory,
            sender,
            options,
            metrics,
            dispatch,
            results: Mutex::new(Some(results)),
            saturated: Mutex::default(),
            wake: Notify::new(),
            claimable: AtomicBool::new(false),
            next_retry: AtomicI64::new(i64::MAX),
            planned_pass: AtomicI64::new(0),
            stopping: AtomicBool::new(false),
        });
        let tasks = vec![
            tokio::spawn(Dispatcher::new(shared.clone()).run(dispatch_rx)),
            tokio::spawn(schedule(shared.clone())),
            tokio::spawn(write_results(shared.clone(), results_rx)),
        ];
        Arc::new(Self { shared, tasks: Mutex::new(tasks) })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Stops taking work, gives in-flight attempts up to `grace` to finish, releases
    /// everything else to the store, and writes every outcome.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        let (done, rx) = oneshot::channel();
        if self.shared.dispatch.send(Msg::Shutdown { grace, done }).is_ok() {
            let _ = rx.await;
        }
        // Closing the results channel lets the writer finish once it has written all.
        self.shared.results.lock().unwrap_or_else(|p| p.into_inner()).take();
        let tasks: Vec<_> = self.tasks.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

#[async_trait]
impl Engine for DeliveryEngine {
    fn hand_off(&self, jobs: Vec<DeliveryJob>) {
        let _ = self.shared.dispatch.send(Msg::Jobs(jobs, None));
    }

    fn wake(&self) {
        self.shared.wake_to_claim();
    }

    fn refusals(&self) -> Refusals {
        Refusals {
            all: self.shared.free.load(Ordering::Relaxed) == 0,
            webhooks: self.shared.saturated.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    fn concurrency_limit(&self, webhook: &WebhookId) -> Option<usize> {
        self.shared.metrics.concurrency(webhook)
    }

    async fn send_now(&self, job: DeliveryJob) -> Result<Attempt, ServiceError> {
        let s = &self.shared;
        send_once(&s.store, &s.directory, &s.sender, &s.metrics, &s.options, job).await
    }
}
