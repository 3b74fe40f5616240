//! The dispatcher: a queue per webhook, and attempts started under the limits (in flight
//! per webhook and in total, the circuit breaker, the rate limit), round-robin across
//! webhooks. It alone owns the queues; the scheduler and the attempts talk to it by
//! message.

use super::*;

struct WebhookQueue {
    queue: VecDeque<DeliveryJob>,
    in_flight: usize,
    breaker: Breaker,
    bucket: Option<Bucket>,
}

pub(super) struct Dispatcher {
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
    pub(super) fn new(shared: Arc<Shared>) -> Self {
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

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
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
