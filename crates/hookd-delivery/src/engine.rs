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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hookd_core::domain::{Attempt, DeliveryJob, RetrySchedule};
use hookd_core::id::{DeliveryId, EventId, WebhookId};
use hookd_core::service::{Engine, Refusals, ServiceError, WebhookDirectory};
use hookd_core::store::{Claim, DeliveryResult, NextStep, StorageHealth, Store};
use hookd_core::time_fmt;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::breaker::{Breaker, Bucket, Permit};
use crate::metrics::Metrics;
use crate::sender::{Outcome, Sender};

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
/// Deliveries held in memory for a webhook whose circuit is open: enough for the probes;
/// the rest wait in the store, so a failing endpoint cannot fill the shared queue.
const OPEN_CIRCUIT_HOLD: usize = 16;

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
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            node_id: format!("node-{:08x}", rand::random::<u32>()),
            lease: Duration::from_secs(60),
            max_in_flight: 256,
            max_in_flight_per_webhook: 4,
            max_queued: 100_000,
            max_queued_per_webhook: 1_000,
            retry_schedule: RetrySchedule::default(),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(600),
            poll_interval: Duration::from_secs(30),
            storage: Arc::default(),
        }
    }
}

enum Msg {
    Jobs(Vec<DeliveryJob>),
    Done { webhook_id: WebhookId, delivery_id: DeliveryId, success: Option<bool> },
    Disabled(Vec<WebhookId>),
    Shutdown { grace: Duration, done: oneshot::Sender<()> },
}

struct Shared {
    store: Arc<dyn Store>,
    directory: Arc<WebhookDirectory>,
    sender: Sender,
    options: EngineOptions,
    metrics: Arc<Metrics>,
    dispatch: mpsc::UnboundedSender<Msg>,
    results: Mutex<Option<mpsc::UnboundedSender<DeliveryResult>>>,
    /// Room left in memory, for the scheduler's claims.
    free: AtomicUsize,
    /// Webhooks whose queues are full: the scheduler leaves their rows in the store, and
    /// publishes store their new deliveries pending instead of handing them off.
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
        let _ = self.shared.dispatch.send(Msg::Jobs(jobs));
    }

    fn wake(&self) {
        self.shared.wake.notify_one();
    }

    fn refusals(&self) -> Refusals {
        Refusals {
            all: self.shared.free.load(Ordering::Relaxed) == 0,
            webhooks: self.shared.saturated.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    async fn send_now(&self, job: DeliveryJob) -> Result<Attempt, ServiceError> {
        let s = &self.shared;
        send_once(&s.store, &s.directory, &s.sender, &s.metrics, &s.options, job).await
    }
}

/// One attempt sent at once and recorded (test pings); no retry follows.
async fn send_once(
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
    let attempt = attempt_of(&job, &outcome);
    let next = if outcome.succeeded() {
        NextStep::Succeeded
    } else if outcome.gone() {
        NextStep::DisableWebhook { reason: DISABLED_GONE }
    } else {
        NextStep::Failed
    };
    let result = DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: Some(attempt.clone()),
        next,
    };
    let disabled = store.record_results(&[result], disable_before(options)).await?;
    for w in &disabled {
        directory.invalidate_webhook(w);
    }
    Ok(attempt)
}

/// The engine of a node that serves the API but does not deliver (`--role api`): every
/// new delivery is stored due and unleased, for worker nodes to claim (the store tells
/// them); only test pings are sent from here, at once.
pub struct StoreOnlyEngine {
    store: Arc<dyn Store>,
    directory: Arc<WebhookDirectory>,
    sender: Sender,
    options: EngineOptions,
    metrics: Arc<Metrics>,
}

impl StoreOnlyEngine {
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<WebhookDirectory>,
        sender: Sender,
        options: EngineOptions,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self { store, directory, sender, options, metrics })
    }
}

#[async_trait]
impl Engine for StoreOnlyEngine {
    /// A manual retry claimed a delivery for this node: give it back to the workers.
    fn hand_off(&self, jobs: Vec<DeliveryJob>) {
        let store = self.store.clone();
        let owner = self.options.node_id.clone();
        let ids: Vec<DeliveryId> = jobs.into_iter().map(|j| j.delivery_id).collect();
        tokio::spawn(async move {
            // If this fails the lease expires and a worker claims the delivery then.
            if let Err(e) = store.release_deliveries(&owner, &ids, time_fmt::now()).await {
                tracing::warn!(error = %hookd_core::error_chain(&e), "could not hand deliveries to the workers; they resume when the lease expires");
            }
        });
    }

    /// Replayed deliveries: the store announces them to the workers.
    fn wake(&self) {}

    fn refusals(&self) -> Refusals {
        Refusals { all: true, webhooks: Arc::default() }
    }

    async fn send_now(&self, job: DeliveryJob) -> Result<Attempt, ServiceError> {
        send_once(&self.store, &self.directory, &self.sender, &self.metrics, &self.options, job).await
    }
}

fn disable_before(options: &EngineOptions) -> OffsetDateTime {
    time_fmt::now() - options.disable_after
}

fn attempt_of(job: &DeliveryJob, o: &Outcome) -> Attempt {
    Attempt {
        delivery_id: job.delivery_id.clone(),
        attempt: job.attempts + 1,
        started_at: o.started_at,
        duration_ms: o.duration.as_millis() as i64,
        status_code: o.status_code.map(i32::from),
        response: o.response.clone(),
        error_kind: o.error_kind.map(str::to_owned),
        error_message: o.error_message.clone(),
    }
}

/// What follows an attempt under the retry schedule.
fn next_step(options: &EngineOptions, job: &DeliveryJob, o: &Outcome) -> NextStep {
    if o.succeeded() {
        return NextStep::Succeeded;
    }
    if o.gone() {
        return NextStep::DisableWebhook { reason: DISABLED_GONE };
    }
    let made = (job.attempts + 1 - job.schedule_base).max(1) as usize;
    match options.retry_schedule.next_delay(made, o.retry_after) {
        Some(delay) => NextStep::RetryAt(time_fmt::now() + delay),
        None => NextStep::Failed,
    }
}

struct WebhookQueue {
    queue: VecDeque<DeliveryJob>,
    in_flight: usize,
    breaker: Breaker,
    bucket: Option<Bucket>,
}

struct Dispatcher {
    shared: Arc<Shared>,
    webhooks: HashMap<WebhookId, WebhookQueue>,
    /// Every delivery held: queued or in flight.
    known: HashSet<DeliveryId>,
    queued: usize,
    in_flight: usize,
    ready: VecDeque<WebhookId>,
    is_ready: HashSet<WebhookId>,
    /// This dispatcher's copy of `Shared::saturated`, which it alone writes.
    saturated: HashSet<WebhookId>,
    timers: BinaryHeap<Reverse<(Instant, WebhookId)>>,
    attempts: HashMap<DeliveryId, tokio::task::AbortHandle>,
    stopping: bool,
}

impl Dispatcher {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            webhooks: HashMap::new(),
            known: HashSet::new(),
            queued: 0,
            in_flight: 0,
            ready: VecDeque::new(),
            is_ready: HashSet::new(),
            saturated: HashSet::new(),
            timers: BinaryHeap::new(),
            attempts: HashMap::new(),
            stopping: false,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let renew_every = self.shared.options.lease / 3;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
        let mut shutdown: Option<(tokio::time::Instant, oneshot::Sender<()>)> = None;
        loop {
            let timer = self.timers.peek().map(|Reverse((at, _))| tokio::time::Instant::from_std(*at));
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let grace_end = shutdown.as_ref().map(|(at, _)| *at).unwrap_or(far);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Shutdown { grace, done }) => {
                        self.begin_shutdown().await;
                        shutdown = Some((tokio::time::Instant::now() + grace, done));
                    }
                    Some(msg) => self.handle(msg),
                    None => return,
                },
                _ = tokio::time::sleep_until(timer.unwrap_or(far)), if timer.is_some() => {
                    let now = Instant::now();
                    while let Some(Reverse((at, _))) = self.timers.peek() {
                        if *at > now {
                            break;
                        }
                        let Reverse((_, w)) = self.timers.pop().expect("peeked");
                        self.mark_ready(w);
                    }
                }
                _ = renew.tick() => self.renew_leases(),
                _ = tokio::time::sleep_until(grace_end), if shutdown.is_some() => {
                    self.abandon_in_flight().await;
                }
            }
            if !self.stopping {
                self.pump();
            }
            self.publish_gauges();
            if self.stopping && self.in_flight == 0 {
                if let Some((_, done)) = shutdown.take() {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Jobs(jobs) => self.enqueue(jobs),
            Msg::Done { webhook_id, delivery_id, success } => {
                self.in_flight -= 1;
                self.known.remove(&delivery_id);
                self.attempts.remove(&delivery_id);
                let opts = &self.shared.options;
                if let Some(q) = self.webhooks.get_mut(&webhook_id) {
                    q.in_flight -= 1;
                    if let Some(ok) = success {
                        let was_open = q.breaker.is_open();
                        q.breaker.record(
                            ok,
                            opts.breaker_threshold,
                            (opts.breaker_cooldown, opts.breaker_max_cooldown),
                            Instant::now(),
                        );
                        if q.breaker.is_open() != was_open {
                            tracing::info!(webhook_id = %webhook_id, open = q.breaker.is_open(), "circuit breaker changed");
                        }
                    }
                    // Forget idle webhooks, but not a breaker's count: failed deliveries
                    // come back through the store, and must meet the same breaker.
                    if q.queue.is_empty() && q.in_flight == 0 && q.breaker.is_clean() {
                        self.webhooks.remove(&webhook_id);
                    }
                }
                self.update_saturation(&webhook_id);
                self.mark_ready(webhook_id);
            }
            Msg::Disabled(ids) => {
                // The store cancelled their deliveries; forget the queued ones.
                for w in ids {
                    if let Some(q) = self.webhooks.get_mut(&w) {
                        for job in q.queue.drain(..) {
                            self.known.remove(&job.delivery_id);
                            self.queued -= 1;
                        }
                    }
                    self.update_saturation(&w);
                }
            }
            Msg::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn enqueue(&mut self, jobs: Vec<DeliveryJob>) {
        let shared = self.shared.clone();
        let opts = &shared.options;
        let mut overflow = Vec::new();
        let mut touched = HashSet::new();
        for job in jobs {
            if self.stopping {
                overflow.push(job.delivery_id);
                continue;
            }
            if !self.known.insert(job.delivery_id.clone()) {
                continue;
            }
            let q = self.webhooks.entry(job.webhook_id.clone()).or_insert_with(|| WebhookQueue {
                queue: VecDeque::new(),
                in_flight: 0,
                breaker: Breaker::new(opts.breaker_cooldown),
                bucket: None,
            });
            if self.queued >= opts.max_queued || q.queue.len() >= hold_limit(opts, q) {
                self.known.remove(&job.delivery_id);
                touched.insert(job.webhook_id.clone());
                overflow.push(job.delivery_id);
                continue;
            }
            let w = job.webhook_id.clone();
            q.queue.push_back(job);
            self.queued += 1;
            touched.insert(w.clone());
            self.mark_ready(w);
        }
        for w in &touched {
            self.update_saturation(w);
        }
        if !overflow.is_empty() {
            // Left to the store: pending and due now, for the scheduler to claim when
            // there is room.
            let shared = self.shared.clone();
            tokio::spawn(async move {
                if let Err(e) =
                    shared.store.release_deliveries(&shared.options.node_id, &overflow, time_fmt::now()).await
                {
                    tracing::warn!(error = %hookd_core::error_chain(&e), count = overflow.len(), "could not release deliveries; their leases will expire");
                }
            });
        }
    }

    /// Marks a webhook saturated once its queue reaches its hold limit, and clears the
    /// mark (waking the scheduler to claim its stored backlog) once the queue is down to
    /// half of it.
    ///
    /// Called for every attempt started, so the shared set (a lock) is touched only when
    /// the mark changes.
    fn update_saturation(&mut self, w: &WebhookId) {
        let opts = &self.shared.options;
        let (len, limit) = match self.webhooks.get(w) {
            Some(q) => (q.queue.len(), hold_limit(opts, q)),
            None => (0, usize::MAX),
        };
        if len >= limit && !self.saturated.contains(w) {
            self.saturated.insert(w.clone());
            let mut set = self.shared.saturated.lock().unwrap_or_else(|p| p.into_inner());
            Arc::make_mut(&mut set).insert(w.clone());
        } else if len <= limit / 2 && self.saturated.remove(w) {
            let mut set = self.shared.saturated.lock().unwrap_or_else(|p| p.into_inner());
            Arc::make_mut(&mut set).remove(w);
            drop(set);
            self.shared.wake_to_claim();
        }
    }

    fn mark_ready(&mut self, w: WebhookId) {
        if self.is_ready.insert(w.clone()) {
            self.ready.push_back(w);
        }
    }

    /// Starts every attempt the limits allow, round-robin across webhooks.
    fn pump(&mut self) {
        let shared = self.shared.clone();
        let opts = &shared.options;
        let now = Instant::now();
        while self.in_flight < opts.max_in_flight {
            let Some(w) = self.ready.pop_front() else { break };
            self.is_ready.remove(&w);
            let Some(q) = self.webhooks.get_mut(&w) else { continue };
            if q.queue.is_empty() || q.in_flight >= opts.max_in_flight_per_webhook {
                continue;
            }
            match q.breaker.permit(now) {
                Permit::Go => {}
                Permit::Probe if q.in_flight == 0 => {}
                Permit::Probe => continue,
                Permit::WaitUntil(at) => {
                    self.timers.push(Reverse((at, w)));
                    continue;
                }
            }
            let job = q.queue.pop_front().expect("non-empty");
            let rate = self.shared.directory.cached_rate_limit(&job.webhook_id);
            if let Some(rate) = rate {
                let bucket = q.bucket.get_or_insert_with(|| Bucket::new(rate, now));
                if bucket.rate() != rate {
                    *bucket = Bucket::new(rate, now);
                }
                if let Err(at) = bucket.take(now) {
                    q.queue.push_front(job);
                    self.timers.push(Reverse((at, w)));
                    continue;
                }
            }
            let probing = q.breaker.is_open();
            q.in_flight += 1;
            self.queued -= 1;
            self.in_flight += 1;
            let more = !probing && !q.queue.is_empty() && q.in_flight < opts.max_in_flight_per_webhook;
            self.update_saturation(&w);
            self.start(job);
            if more {
                self.mark_ready(w);
            }
        }
    }

    fn start(&mut self, job: DeliveryJob) {
        let shared = self.shared.clone();
        let id = job.delivery_id.clone();
        let task = tokio::spawn(async move {
            let (result, success) = attempt(&shared, &job).await;
            if let Some(tx) = shared.results.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                let _ = tx.send(result);
            }
            let _ = shared.dispatch.send(Msg::Done {
                webhook_id: job.webhook_id.clone(),
                delivery_id: job.delivery_id.clone(),
                success,
            });
        });
        self.attempts.insert(id, task.abort_handle());
    }

    fn renew_leases(&self) {
        if self.known.is_empty() {
            return;
        }
        let ids: Vec<DeliveryId> = self.known.iter().cloned().collect();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let until = time_fmt::now() + shared.options.lease;
            if let Err(e) = shared.store.renew_leases(&shared.options.node_id, &ids, until).await {
                tracing::warn!(error = %hookd_core::error_chain(&e), count = ids.len(), "could not renew leases");
            }
        });
    }

    /// Stops starting attempts and hands every queued delivery back to the store.
    async fn begin_shutdown(&mut self) {
        self.stopping = true;
        let mut queued = Vec::new();
        for q in self.webhooks.values_mut() {
            queued.extend(q.queue.drain(..).map(|j| j.delivery_id));
        }
        for id in &queued {
            self.known.remove(id);
        }
        self.queued = 0;
        self.release(queued).await;
    }

    /// The grace period is over: stop the attempts still running and release them.
    async fn abandon_in_flight(&mut self) {
        let ids: Vec<DeliveryId> = self.attempts.keys().cloned().collect();
        for (_, h) in self.attempts.drain() {
            h.abort();
        }
        if !ids.is_empty() {
            tracing::warn!(count = ids.len(), "shutdown grace over; releasing attempts still in flight");
        }
        self.release(ids).await;
        self.in_flight = 0;
    }

    async fn release(&self, ids: Vec<DeliveryId>) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.shared.store.release_deliveries(&self.shared.options.node_id, &ids, time_fmt::now()).await
        {
            tracing::warn!(error = %hookd_core::error_chain(&e), count = ids.len(), "could not release deliveries; their leases will expire");
        }
    }

    fn publish_gauges(&self) {
        let m = &self.shared.metrics;
        m.set_gauges(self.queued, self.in_flight, self.webhooks.values().filter(|q| q.breaker.is_open()).count());
        let free = self.shared.options.max_queued.saturating_sub(self.known.len());
        if self.shared.free.swap(free, Ordering::Relaxed) == 0 && free > 0 {
            // Room again after a full queue: deliveries stored meanwhile can be claimed.
            self.shared.wake_to_claim();
        }
    }
}

/// How many deliveries a webhook may hold in memory: fewer while its circuit is open.
fn hold_limit(opts: &EngineOptions, q: &WebhookQueue) -> usize {
    if q.breaker.is_open() {
        OPEN_CIRCUIT_HOLD.min(opts.max_queued_per_webhook)
    } else {
        opts.max_queued_per_webhook
    }
}

/// One attempt of a job: look up the webhook, send, decide what follows.
async fn attempt(shared: &Shared, job: &DeliveryJob) -> (DeliveryResult, Option<bool>) {
    let cancelled = || DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: None,
        next: NextStep::Cancelled,
    };
    let route = match shared.directory.route(&job.webhook_id).await {
        Ok(Some(r)) if r.webhook.enabled => r,
        Ok(_) => {
            shared.metrics.cancelled();
            return (cancelled(), None);
        }
        Err(e) => {
            // The store is unreachable or a secret cannot be opened: try again later.
            tracing::warn!(delivery_id = %job.delivery_id, error = %hookd_core::error_chain(&e), "cannot load the webhook; retrying later");
            let next = NextStep::RetryAt(time_fmt::now() + shared.options.lease);
            let r = DeliveryResult {
                delivery_id: job.delivery_id.clone(),
                webhook_id: job.webhook_id.clone(),
                attempt: None,
                next,
            };
            return (r, None);
        }
    };
    let outcome = shared.sender.send(&route, job).await;
    shared.metrics.observe(&outcome);
    let next = next_step(&shared.options, job, &outcome);
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
    let success = outcome.succeeded();
    let result = DeliveryResult {
        delivery_id: job.delivery_id.clone(),
        webhook_id: job.webhook_id.clone(),
        attempt: Some(attempt_of(job, &outcome)),
        next,
    };
    (result, Some(success))
}

/// Claims due deliveries for the dispatcher, sleeping until the next due time, a
/// wake-up, or the poll interval.
async fn schedule(shared: Arc<Shared>) {
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

/// Writes outcomes in batches, retrying the store until it takes them.
async fn write_results(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<DeliveryResult>) {
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
