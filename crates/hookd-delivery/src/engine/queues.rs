//! The dispatcher's decisions, with no tasks, no store and no clock of their own: which
//! deliveries a node holds in memory, which attempts start now under the limits, and
//! what a finished attempt changes. Every step takes the time as an argument, so a test
//! drives it instant by instant.
//!
//! A webhook's queue is *saturated* once it reaches its hold limit (fewer while its
//! circuit is open): its new deliveries stay in the store until the queue is down to
//! half, which the dispatcher then announces so the scheduler claims them.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd_core::domain::DeliveryJob;
use hookd_core::id::{DeliveryId, WebhookId};

use super::limiter::Limiter;
use super::Signal;
use crate::breaker::{Breaker, Bucket, Permit};

/// Deliveries held in memory for a webhook whose circuit is open: enough for the probes;
/// the rest wait in the store, so a failing endpoint cannot fill the shared queue.
pub(super) const OPEN_CIRCUIT_HOLD: usize = 16;

/// The limits the queues keep.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub max_queued: usize,
    pub max_queued_per_webhook: usize,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub breaker_max_cooldown: Duration,
}

struct WebhookQueue {
    queue: VecDeque<DeliveryJob>,
    in_flight: usize,
    /// How many may be in flight, learned from the endpoint's answers.
    limiter: Limiter,
    breaker: Breaker,
    bucket: Option<Bucket>,
}

/// What changed for the rest of the node after a step: the dispatcher publishes it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    /// The saturated webhooks, when the set changed.
    pub saturated: Option<Arc<HashSet<WebhookId>>>,
    /// Stored deliveries may have become claimable here: a webhook left saturation.
    pub claimable: bool,
    /// Webhooks whose concurrency limit changed, and the new limit (`None`: the webhook
    /// is no longer held here).
    pub limits: Vec<(WebhookId, Option<usize>)>,
}

pub(super) struct Queues {
    limits: Limits,
    webhooks: HashMap<WebhookId, WebhookQueue>,
    /// Every delivery held: queued or in flight.
    known: HashSet<DeliveryId>,
    queued: usize,
    in_flight: usize,
    ready: VecDeque<WebhookId>,
    is_ready: HashSet<WebhookId>,
    saturated: HashSet<WebhookId>,
    timers: BinaryHeap<Reverse<(Instant, WebhookId)>>,
    changes: Changes,
}

impl Queues {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            webhooks: HashMap::new(),
            known: HashSet::new(),
            queued: 0,
            in_flight: 0,
            ready: VecDeque::new(),
            is_ready: HashSet::new(),
            saturated: HashSet::new(),
            timers: BinaryHeap::new(),
            changes: Changes::default(),
        }
    }

    /// Takes deliveries into memory. Returns those it has no room for, which go back to
    /// the store (pending, due now) for the scheduler to claim when there is room.
    pub fn enqueue(&mut self, jobs: Vec<DeliveryJob>) -> Vec<DeliveryId> {
        let mut overflow = Vec::new();
        let mut touched = HashSet::new();
        for job in jobs {
            if !self.known.insert(job.delivery_id.clone()) {
                continue;
            }
            let limits = &self.limits;
            let changes = &mut self.changes;
            let q = self.webhooks.entry(job.webhook_id.clone()).or_insert_with(|| {
                let limiter = Limiter::new(limits.max_in_flight_per_webhook);
                changes.limits.push((job.webhook_id.clone(), Some(limiter.limit())));
                WebhookQueue {
                    queue: VecDeque::new(),
                    in_flight: 0,
                    limiter,
                    breaker: Breaker::new(limits.breaker_cooldown),
                    bucket: None,
                }
            });
            touched.insert(job.webhook_id.clone());
            if self.queued >= limits.max_queued || q.queue.len() >= hold_limit(limits, q) {
                self.known.remove(&job.delivery_id);
                overflow.push(job.delivery_id);
                continue;
            }
            let w = job.webhook_id.clone();
            q.queue.push_back(job);
            self.queued += 1;
            self.mark_ready(w);
        }
        for w in &touched {
            self.update_saturation(w);
        }
        overflow
    }

    /// The attempts to start now, round-robin across webhooks, under every limit: in
    /// flight in total and per webhook, the circuit breaker (one probe while open) and
    /// the webhook's rate limit (`rate_of`, per second). Held-back webhooks get a timer.
    pub fn pump(&mut self, now: Instant, rate_of: impl Fn(&WebhookId) -> Option<u32>) -> Vec<DeliveryJob> {
        let mut started = Vec::new();
        while self.in_flight < self.limits.max_in_flight {
            let Some(w) = self.ready.pop_front() else { break };
            self.is_ready.remove(&w);
            let Some(q) = self.webhooks.get_mut(&w) else { continue };
            if q.queue.is_empty() || q.in_flight >= q.limiter.limit() {
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
            if let Some(rate) = rate_of(&w) {
                let bucket = q.bucket.get_or_insert_with(|| Bucket::new(rate, now));
                if bucket.rate() != rate {
                    *bucket = Bucket::new(rate, now);
                }
                if let Err(at) = bucket.take(now) {
                    self.timers.push(Reverse((at, w)));
                    continue;
                }
            }
            let job = q.queue.pop_front().expect("non-empty");
            let probing = q.breaker.is_open();
            q.in_flight += 1;
            self.queued -= 1;
            self.in_flight += 1;
            let more = !probing && !q.queue.is_empty() && q.in_flight < q.limiter.limit();
            self.update_saturation(&w);
            started.push(job);
            if more {
                self.mark_ready(w);
            }
        }
        started
    }

    /// An attempt finished: `signal` is `None` when none was made (the webhook is gone
    /// or could not be loaded). Returns whether the webhook's circuit opened or closed.
    pub fn finished(
        &mut self,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        signal: Option<Signal>,
        now: Instant,
    ) -> Option<bool> {
        self.in_flight -= 1;
        self.known.remove(delivery);
        let mut circuit = None;
        if let Some(q) = self.webhooks.get_mut(webhook) {
            let was_in_flight = q.in_flight;
            q.in_flight -= 1;
            if let Some(signal) = signal {
                let before = q.limiter.limit();
                q.limiter.record(signal.load, signal.latency, was_in_flight, now);
                if q.limiter.limit() != before {
                    self.changes.limits.push((webhook.clone(), Some(q.limiter.limit())));
                }
                let ok = signal.success();
                let was_open = q.breaker.is_open();
                let l = &self.limits;
                q.breaker.record(ok, l.breaker_threshold, (l.breaker_cooldown, l.breaker_max_cooldown), now);
                if q.breaker.is_open() != was_open {
                    circuit = Some(q.breaker.is_open());
                }
            }
            // Forget idle webhooks, but not a breaker's count: failed deliveries come
            // back through the store, and must meet the same breaker.
            if q.queue.is_empty() && q.in_flight == 0 && q.breaker.is_clean() {
                self.webhooks.remove(webhook);
                self.changes.limits.push((webhook.clone(), None));
            }
        }
        self.update_saturation(webhook);
        self.mark_ready(webhook.clone());
        circuit
    }

    /// The store disabled these webhooks and cancelled their deliveries: forget the
    /// queued ones.
    pub fn disabled(&mut self, webhooks: &[WebhookId]) {
        for w in webhooks {
            if let Some(q) = self.webhooks.get_mut(w) {
                for job in q.queue.drain(..) {
                    self.known.remove(&job.delivery_id);
                    self.queued -= 1;
                }
            }
            self.update_saturation(w);
        }
    }

    /// Webhooks whose wait (an open circuit, a rate limit) is over become ready.
    pub fn fire_timers(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, w)) = self.timers.pop().expect("peeked");
            self.mark_ready(w);
        }
    }

    /// When the earliest held-back webhook may go again.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Gives up every queued delivery (shutdown): they go back to the store.
    pub fn drain_queued(&mut self) -> Vec<DeliveryId> {
        let mut ids = Vec::new();
        for q in self.webhooks.values_mut() {
            ids.extend(q.queue.drain(..).map(|j| j.delivery_id));
        }
        for id in &ids {
            self.known.remove(id);
        }
        self.queued = 0;
        ids
    }

    /// The shutdown grace is over and the attempts still running were stopped: they
    /// will not report back.
    pub fn forget_in_flight(&mut self) {
        self.in_flight = 0;
        for q in self.webhooks.values_mut() {
            q.in_flight = 0;
        }
        self.known.clear();
    }

    /// Every delivery held, for renewing their leases.
    pub fn held(&self) -> Vec<DeliveryId> {
        self.known.iter().cloned().collect()
    }

    /// Room for more deliveries in memory: what the scheduler may claim.
    pub fn free(&self) -> usize {
        self.limits.max_queued.saturating_sub(self.known.len())
    }

    pub fn queued(&self) -> usize {
        self.queued
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn open_circuits(&self) -> usize {
        self.webhooks.values().filter(|q| q.breaker.is_open()).count()
    }

    /// What changed since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// Marks a webhook saturated once its queue reaches its hold limit, and clears the
    /// mark once the queue is down to half of it.
    fn update_saturation(&mut self, w: &WebhookId) {
        let (len, limit) = match self.webhooks.get(w) {
            Some(q) => (q.queue.len(), hold_limit(&self.limits, q)),
            None => (0, usize::MAX),
        };
        let changed = if len >= limit && !self.saturated.contains(w) {
            self.saturated.insert(w.clone())
        } else if len <= limit / 2 && self.saturated.remove(w) {
            self.changes.claimable = true;
            true
        } else {
            false
        };
        if changed {
            self.changes.saturated = Some(Arc::new(self.saturated.clone()));
        }
    }

    fn mark_ready(&mut self, w: WebhookId) {
        if self.is_ready.insert(w.clone()) {
            self.ready.push_back(w);
        }
    }
}

/// How many deliveries a webhook may hold in memory: fewer while its circuit is open.
fn hold_limit(limits: &Limits, q: &WebhookQueue) -> usize {
    if q.breaker.is_open() {
        OPEN_CIRCUIT_HOLD.min(limits.max_queued_per_webhook)
    } else {
        limits.max_queued_per_webhook
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hookd_core::id::EventId;

    use super::*;

    fn limits() -> Limits {
        Limits {
            max_in_flight: 8,
            max_in_flight_per_webhook: 2,
            max_queued: 100,
            max_queued_per_webhook: 40,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(120),
        }
    }

    fn jobs(w: &WebhookId, n: usize) -> Vec<DeliveryJob> {
        (0..n)
            .map(|_| DeliveryJob {
                delivery_id: DeliveryId::generate(),
                webhook_id: w.clone(),
                event_id: EventId::generate(),
                event_type: "link.created".into(),
                body: Arc::from("{}"),
                attempts: 0,
                schedule_base: 0,
                ordered: false,
                trace_parent: None,
            })
            .collect()
    }

    fn no_rate(_: &WebhookId) -> Option<u32> {
        None
    }

    fn count_for(started: &[DeliveryJob], w: &WebhookId) -> usize {
        started.iter().filter(|j| &j.webhook_id == w).count()
    }

    #[test]
    fn attempts_start_within_the_per_webhook_and_global_limits_round_robin() {
        let t0 = Instant::now();
        let mut q = Queues::new(limits());
        let hooks: Vec<WebhookId> = (0..6).map(|_| WebhookId::generate()).collect();
        for w in &hooks {
            assert!(q.enqueue(jobs(w, 10)).is_empty());
        }
        let started = q.pump(t0, no_rate);
        // 8 in total and at most 2 per webhook: one each in turn, then a second for the
        // first two.
        assert_eq!(started.len(), 8);
        assert_eq!(q.in_flight(), 8);
        let per: Vec<usize> = hooks.iter().map(|w| count_for(&started, w)).collect();
        assert_eq!(per, [2, 2, 1, 1, 1, 1]);
        assert!(q.pump(t0, no_rate).is_empty(), "nothing more while every slot is taken");
        // One of the first webhook's finishes: the slot goes to the next in turn, which
        // has waited, not back to the same one.
        let done = &started[0];
        assert_eq!(done.webhook_id, hooks[0]);
        q.finished(&done.webhook_id, &done.delivery_id, Some(Signal::ok()), t0);
        let next = q.pump(t0, no_rate);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].webhook_id, hooks[2]);
        assert_eq!(q.queued(), 60 - 9);
    }

    #[test]
    fn the_breaker_opens_holds_probes_once_and_closes() {
        let t0 = Instant::now();
        let mut q = Queues::new(limits());
        let w = WebhookId::generate();
        q.enqueue(jobs(&w, 20));
        // Three failures in a row open the circuit.
        let mut opened = None;
        for _ in 0..3 {
            let started = q.pump(t0, no_rate);
            for j in started {
                opened = opened.or(q.finished(&w, &j.delivery_id, Some(Signal::failure()), t0));
            }
        }
        assert_eq!(opened, Some(true));
        assert_eq!(q.open_circuits(), 1);
        assert!(q.pump(t0, no_rate).is_empty(), "held while open");
        let probe_at = q.next_timer().expect("a timer for the probe");
        assert_eq!(probe_at, t0 + Duration::from_secs(30));
        // After the cooldown, exactly one probe, however many are queued.
        q.fire_timers(probe_at);
        let probe = q.pump(probe_at, no_rate);
        assert_eq!(probe.len(), 1);
        assert!(q.pump(probe_at, no_rate).is_empty(), "one probe at a time");
        // Its failure reopens for twice as long; a later probe's success closes it.
        assert_eq!(q.finished(&w, &probe[0].delivery_id, Some(Signal::failure()), probe_at), None);
        assert!(q.pump(probe_at, no_rate).is_empty());
        let again = q.next_timer().expect("timer");
        assert_eq!(again, probe_at + Duration::from_secs(60));
        q.fire_timers(again);
        let probe = q.pump(again, no_rate);
        assert_eq!(probe.len(), 1);
        assert_eq!(q.finished(&w, &probe[0].delivery_id, Some(Signal::ok()), again), Some(false));
        assert_eq!(q.pump(again, no_rate).len(), 2, "closed: back to the per-webhook limit");
    }

    #[test]
    fn a_full_queue_overflows_to_the_store_and_saturates_until_half_empty() {
        let t0 = Instant::now();
        let mut q = Queues::new(limits());
        let w = WebhookId::generate();
        let overflow = q.enqueue(jobs(&w, 50));
        assert_eq!(overflow.len(), 10, "the webhook holds 40");
        let changes = q.take_changes();
        assert!(changes.saturated.as_ref().is_some_and(|s| s.contains(&w)));
        assert!(!changes.claimable);
        assert_eq!(q.free(), 60);
        // Sending drains the queue; at half the hold limit the mark clears and stored
        // deliveries become claimable.
        let mut cleared = false;
        while !cleared {
            let started = q.pump(t0, no_rate);
            assert!(!started.is_empty());
            for j in &started {
                q.finished(&w, &j.delivery_id, Some(Signal::ok()), t0);
            }
            let c = q.take_changes();
            if c.claimable {
                assert!(c.saturated.is_some_and(|s| !s.contains(&w)));
                cleared = true;
            }
        }
        assert!(q.queued() <= 20);
    }

    #[test]
    fn an_open_circuit_holds_only_enough_for_its_probes() {
        let t0 = Instant::now();
        let mut q = Queues::new(limits());
        let w = WebhookId::generate();
        q.enqueue(jobs(&w, 3));
        for j in q.pump(t0, no_rate) {
            q.finished(&w, &j.delivery_id, Some(Signal::failure()), t0);
        }
        for j in q.pump(t0, no_rate) {
            q.finished(&w, &j.delivery_id, Some(Signal::failure()), t0);
        }
        assert_eq!(q.open_circuits(), 1);
        assert_eq!(q.queued(), 0);
        let overflow = q.enqueue(jobs(&w, 30));
        assert_eq!(overflow.len(), 30 - OPEN_CIRCUIT_HOLD);
        assert_eq!(q.queued(), OPEN_CIRCUIT_HOLD);
    }

    #[test]
    fn a_rate_limited_webhook_waits_for_its_bucket() {
        let t0 = Instant::now();
        let mut q = Queues::new(limits());
        let w = WebhookId::generate();
        q.enqueue(jobs(&w, 5));
        let one_per_second = |_: &WebhookId| Some(1);
        let first = q.pump(t0, one_per_second);
        assert_eq!(first.len(), 1);
        q.finished(&w, &first[0].delivery_id, Some(Signal::ok()), t0);
        assert!(q.pump(t0, one_per_second).is_empty());
        let at = q.next_timer().expect("a timer for the bucket");
        assert!(at > t0 && at <= t0 + Duration::from_secs(1), "{:?}", at - t0);
        q.fire_timers(at);
        assert_eq!(q.pump(at, one_per_second).len(), 1);
    }

    #[test]
    fn disabled_webhooks_drop_their_queue_and_duplicates_are_ignored() {
        let mut q = Queues::new(limits());
        let w = WebhookId::generate();
        let js = jobs(&w, 5);
        q.enqueue(js.clone());
        assert!(q.enqueue(js).is_empty(), "a delivery already held is not taken twice");
        assert_eq!(q.queued(), 5);
        q.disabled(std::slice::from_ref(&w));
        assert_eq!(q.queued(), 0);
        assert_eq!(q.free(), 100);
        assert!(q.held().is_empty());
    }
}
