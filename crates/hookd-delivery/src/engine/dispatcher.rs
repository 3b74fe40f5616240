//! The dispatcher: the task that owns the queues ([`Queues`], where every decision is
//! made) and carries out what they decide: it starts attempts, gives deliveries it has
//! no room for back to the store, renews the leases of those it holds, and publishes its
//! room and saturated webhooks for the scheduler and for publishing.

use super::queues::{Limits, Queues};
use super::*;

pub(super) struct Dispatcher {
    shared: Arc<Shared>,
    queues: Queues,
    attempts: HashMap<DeliveryId, tokio::task::AbortHandle>,
    stopping: bool,
}

impl Dispatcher {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let o = &shared.options;
        let queues = Queues::new(Limits {
            max_in_flight: o.max_in_flight,
            max_in_flight_per_webhook: o.max_in_flight_per_webhook,
            max_queued: o.max_queued,
            max_queued_per_webhook: o.max_queued_per_webhook,
            breaker_threshold: o.breaker_threshold,
            breaker_cooldown: o.breaker_cooldown,
            breaker_max_cooldown: o.breaker_max_cooldown,
        });
        Self { shared, queues, attempts: HashMap::new(), stopping: false }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let renew_every = self.shared.options.lease / 3;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + renew_every, renew_every);
        let mut shutdown: Option<(tokio::time::Instant, oneshot::Sender<()>)> = None;
        loop {
            let timer = self.queues.next_timer().map(tokio::time::Instant::from_std);
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let grace_end = shutdown.as_ref().map(|(at, _)| *at).unwrap_or(far);
            let mut ack = None;
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Shutdown { grace, done }) => {
                        self.begin_shutdown().await;
                        shutdown = Some((tokio::time::Instant::now() + grace, done));
                    }
                    Some(Msg::Jobs(jobs, reply)) => {
                        self.enqueue(jobs);
                        ack = reply;
                    }
                    Some(msg) => self.handle(msg),
                    None => return,
                },
                _ = tokio::time::sleep_until(timer.unwrap_or(far)), if timer.is_some() => {
                    self.queues.fire_timers(Instant::now());
                }
                _ = renew.tick() => self.renew_leases(),
                _ = tokio::time::sleep_until(grace_end), if shutdown.is_some() => {
                    self.abandon_in_flight().await;
                }
            }
            if !self.stopping {
                let directory = &self.shared.directory;
                for job in self.queues.pump(Instant::now(), |w| directory.cached_rate_limit(w)) {
                    self.start(job);
                }
            }
            self.publish();
            if let Some(ack) = ack {
                // The scheduler waits for this before it claims again, so it sees the
                // room these deliveries took.
                let _ = ack.send(());
            }
            if self.stopping && self.queues.in_flight() == 0 {
                if let Some((_, done)) = shutdown.take() {
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Done { webhook_id, delivery_id, signal } => {
                self.attempts.remove(&delivery_id);
                if let Some(open) = self.queues.finished(&webhook_id, &delivery_id, signal, Instant::now()) {
                    tracing::info!(webhook_id = %webhook_id, open, "circuit breaker changed");
                }
            }
            Msg::Disabled(ids) => self.queues.disabled(&ids),
            Msg::Jobs(..) | Msg::Shutdown { .. } => unreachable!("handled in run"),
        }
    }

    fn enqueue(&mut self, jobs: Vec<DeliveryJob>) {
        let overflow =
            if self.stopping { jobs.into_iter().map(|j| j.delivery_id).collect() } else { self.queues.enqueue(jobs) };
        if !overflow.is_empty() {
            // Left to the store: pending and due now, for the scheduler to claim when
            // there is room.
            let shared = self.shared.clone();
            tokio::spawn(async move { release(&shared, &overflow).await });
        }
    }

    /// Tells the rest of the node what changed: the saturated webhooks (publishing
    /// stores their deliveries pending), the room left (the scheduler claims up to it),
    /// and whether stored deliveries became claimable here.
    fn publish(&mut self) {
        let changes = self.queues.take_changes();
        if let Some(set) = changes.saturated {
            *self.shared.saturated.lock().unwrap_or_else(|p| p.into_inner()) = set;
        }
        let free = self.queues.free();
        let had_none = self.shared.free.swap(free, Ordering::Relaxed) == 0;
        if changes.claimable || (had_none && free > 0) {
            self.shared.wake_to_claim();
        }
        if !changes.limits.is_empty() {
            self.shared.metrics.set_concurrency(changes.limits);
        }
        let q = &self.queues;
        self.shared.metrics.set_gauges(q.queued(), q.in_flight(), q.open_circuits());
    }

    fn start(&mut self, job: DeliveryJob) {
        let shared = self.shared.clone();
        let id = job.delivery_id.clone();
        let task = tokio::spawn(async move {
            let (result, signal) = attempt(&shared, &job, time_fmt::now()).await;
            if let Some(tx) = shared.results.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                let _ = tx.send(result);
            }
            let _ = shared.dispatch.send(Msg::Done {
                webhook_id: job.webhook_id.clone(),
                delivery_id: job.delivery_id.clone(),
                signal,
            });
        });
        self.attempts.insert(id, task.abort_handle());
    }

    fn renew_leases(&self) {
        let ids = self.queues.held();
        if ids.is_empty() {
            return;
        }
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
        let queued = self.queues.drain_queued();
        release(&self.shared, &queued).await;
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
        release(&self.shared, &ids).await;
        self.queues.forget_in_flight();
    }
}

/// Gives deliveries back to the store: pending, due now, with no lease.
async fn release(shared: &Shared, ids: &[DeliveryId]) {
    if ids.is_empty() {
        return;
    }
    if let Err(e) = shared.store.release_deliveries(&shared.options.node_id, ids, time_fmt::now()).await {
        tracing::warn!(error = %hookd_core::error_chain(&e), count = ids.len(), "could not release deliveries; their leases will expire");
    }
}
