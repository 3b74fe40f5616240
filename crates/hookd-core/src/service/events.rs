//! Publishing events: validation, fan-out to the matching webhooks, one durable commit
//! shared by concurrent publishes (group commit), then the in-memory hand-off of the new
//! deliveries to the delivery engine.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{
    channels_admit, check_channels, pattern_matches, validate_ordering_key, validate_producer_id, Attempt, Delivery,
    DeliveryJob, DeliveryOrdering, DeliveryStatus, Event, EventCatalog, FieldErrors, FilterInput, NewEvent,
    MAX_EVENT_CHANNELS, MAX_EVENT_DATA, OPERATIONS_OWNER,
};
use crate::id::{EventId, WebhookId, WorkspaceId};
use crate::service::directory::WebhookDirectory;
use crate::service::{Principal, ServiceError};
use crate::store::{InsertedEvent, NewEventRecord, StorageHealth, Store, StoreError};
use crate::time_fmt;
use crate::trace::{TraceSpan, Tracer};

/// Most events in one `POST /v1/events/batch`.
pub const MAX_BATCH: usize = 1000;
/// Most events written in one transaction by the group commit.
const MAX_EVENTS_PER_COMMIT: usize = 2000;
/// Publish requests queued for the committer before callers wait for room.
const COMMIT_QUEUE: usize = 4096;

/// What the delivery engine offers the services.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Takes new deliveries, already committed and leased to this node.
    fn hand_off(&self, jobs: Vec<DeliveryJob>);
    /// Deliveries were made due in the store (a replay): look for work now.
    fn wake(&self);
    /// Sends one attempt at once, records it, and returns it (test pings).
    async fn send_now(&self, job: DeliveryJob) -> Result<Attempt, ServiceError>;
    /// The webhooks whose new deliveries the engine would not take in memory now (a
    /// full queue, an open circuit). Their deliveries are stored pending, with no lease,
    /// for the scheduler to claim when there is room, instead of being handed off and
    /// released again.
    fn refusals(&self) -> Refusals {
        Refusals::default()
    }
    /// How many attempts a webhook may have in flight on this node now, as its endpoint's
    /// answers taught; `None` when it has no deliveries here.
    fn concurrency_limit(&self, _webhook: &WebhookId) -> Option<usize> {
        None
    }
}

/// See [`Engine::refusals`].
#[derive(Debug, Clone, Default)]
pub struct Refusals {
    /// Every queue is full.
    pub all: bool,
    pub webhooks: Arc<HashSet<WebhookId>>,
}

impl Refusals {
    pub fn refuses(&self, webhook: &WebhookId) -> bool {
        self.all || self.webhooks.contains(webhook)
    }
}

/// Identifies this process's leases.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub node_id: String,
    /// How long a claim holds before another node may take it over.
    pub lease: Duration,
}

/// A published event, or the earlier one with the same producer id.
#[derive(Debug, Clone)]
pub struct Published {
    pub event: Event,
    /// Whether this request created it (false: the producer id was already published).
    pub created: bool,
}

#[derive(Clone)]
pub struct EventService {
    store: Arc<dyn Store>,
    directory: Arc<WebhookDirectory>,
    catalog: Arc<EventCatalog>,
    engine: Arc<dyn Engine>,
    node: NodeOptions,
    commits: mpsc::Sender<CommitRequest>,
    published: Arc<AtomicU64>,
    storage: Arc<StorageHealth>,
    /// Set when telemetry is on: a `publish` span per event.
    tracer: Option<Tracer>,
}

/// Records to commit. They travel to the commit task and back, so that a publish
/// never copies an event's data to keep it across the commit.
struct CommitRequest {
    records: Vec<NewEventRecord>,
    reply: oneshot::Sender<Result<Committed, StoreError>>,
}

type Committed = (Vec<NewEventRecord>, Vec<InsertedEvent>);

impl EventService {
    /// Builds the service and starts its group-commit task.
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<WebhookDirectory>,
        catalog: Arc<EventCatalog>,
        engine: Arc<dyn Engine>,
        node: NodeOptions,
        storage: Arc<StorageHealth>,
    ) -> Self {
        let (commits, rx) = mpsc::channel(COMMIT_QUEUE);
        tokio::spawn(group_commit(store.clone(), storage.clone(), rx));
        Self { store, directory, catalog, engine, node, commits, published: Arc::default(), storage, tracer: None }
    }

    /// Traces every publish with `tracer` ([`crate::trace`]).
    pub fn with_tracer(mut self, tracer: Option<Tracer>) -> Self {
        self.tracer = tracer;
        self
    }

    /// Whether the database has been refusing writes, as publishes found.
    pub fn storage(&self) -> &Arc<StorageHealth> {
        &self.storage
    }

    pub fn node(&self) -> &NodeOptions {
        &self.node
    }

    /// See [`Engine::concurrency_limit`].
    pub fn concurrency_limit(&self, webhook: &WebhookId) -> Option<usize> {
        self.engine.concurrency_limit(webhook)
    }

    /// Events published by this process (for metrics).
    pub fn published_total(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Publishes one event. Returns once it and its deliveries are durable.
    pub async fn publish(&self, who: &Principal, req: NewEvent) -> Result<Published, ServiceError> {
        let mut errs = FieldErrors::default();
        self.check(&req, "", &mut errs);
        errs.into_result()?;
        Ok(self.publish_checked(who, vec![req]).await?.remove(0))
    }

    /// Publishes up to [`MAX_BATCH`] events in one commit; all are checked first, and
    /// one bad event rejects the batch (fields named `events[i].…`).
    pub async fn publish_batch(&self, who: &Principal, reqs: Vec<NewEvent>) -> Result<Vec<Published>, ServiceError> {
        let mut errs = FieldErrors::default();
        if reqs.is_empty() || reqs.len() > MAX_BATCH {
            errs.push("events", format!("must contain 1 to {MAX_BATCH} events"));
        }
        for (i, r) in reqs.iter().enumerate() {
            self.check(r, &format!("events[{i}]."), &mut errs);
        }
        errs.into_result()?;
        self.publish_checked(who, reqs).await
    }

    /// The size rule on `data`, which the API reports as 413 rather than 422.
    pub fn data_too_large(req: &NewEvent) -> bool {
        req.data.as_ref().is_some_and(|d| d.len() > MAX_EVENT_DATA)
    }

    fn check(&self, req: &NewEvent, prefix: &str, errs: &mut FieldErrors) {
        match &req.event {
            None => errs.push(format!("{prefix}event"), "is required"),
            Some(t) => {
                if let Err(e) = self.catalog.check_event(t) {
                    errs.push(format!("{prefix}event"), format!("`{t}` {e}"));
                }
            }
        }
        if req.data.is_none() {
            errs.push(format!("{prefix}data"), "is required (any JSON value)");
        }
        if let Some(id) = &req.producer_id {
            validate_producer_id(id, errs, &format!("{prefix}id"));
        }
        if let Some(k) = &req.ordering_key {
            validate_ordering_key(k, errs, &format!("{prefix}ordering_key"));
        }
        if let Some(c) = &req.channels {
            check_channels(c, MAX_EVENT_CHANNELS, &format!("{prefix}channels"), errs);
        }
        if let Some(t) = &req.tags {
            check_channels(t, MAX_EVENT_CHANNELS, &format!("{prefix}tags"), errs);
        }
        if let Some(Err(m)) = req.owner.as_deref().map(crate::domain::validate_owner) {
            errs.push(format!("{prefix}owner"), m);
        }
        if req.owner.as_deref() == Some(OPERATIONS_OWNER) {
            errs.push(
                format!("{prefix}owner"),
                format!("`{OPERATIONS_OWNER}` is reserved for hookd's operational events"),
            );
        }
        if let Some(t) = &req.occurred_at {
            if time_fmt::parse(t).is_err() {
                errs.push(format!("{prefix}occurred_at"), "must be an RFC 3339 timestamp such as 2026-03-21T14:30:00Z");
            }
        }
    }

    async fn publish_checked(&self, who: &Principal, reqs: Vec<NewEvent>) -> Result<Vec<Published>, ServiceError> {
        // A caller with an owner publishes for it alone.
        self.publish_in(who.workspace_id().clone(), who.owner(), reqs).await
    }

    /// Publishes hookd's own events (operational events) in `workspace`, for `owner`;
    /// they are built by hookd, so not checked.
    pub async fn publish_internal(
        &self,
        workspace: &WorkspaceId,
        owner: &str,
        reqs: Vec<NewEvent>,
    ) -> Result<Vec<Published>, ServiceError> {
        self.publish_in(workspace.clone(), Some(owner.to_owned()), reqs).await
    }

    async fn publish_in(
        &self,
        ws: WorkspaceId,
        caller_owner: Option<String>,
        reqs: Vec<NewEvent>,
    ) -> Result<Vec<Published>, ServiceError> {
        // A span's start, read only when tracing.
        let started = self.tracer.as_ref().map(|_| std::time::SystemTime::now());
        let routes = self.directory.routes(&ws).await?;
        let refusals = self.engine.refusals();
        let now = time_fmt::now();
        let lease = Some((self.node.node_id.clone(), now + self.node.lease));
        let mut records = Vec::with_capacity(reqs.len());
        let mut spans: Vec<TraceSpan> = Vec::new();
        // Ordered deliveries are never handed off: a claim takes each key's first.
        let mut ordered = false;
        for req in reqs {
            let event_type = req.event.expect("checked");
            let owner = caller_owner.clone().or(req.owner);
            let id = EventId::generate();
            // The event's trace: its own span when tracing, else the publisher's.
            let trace_parent = match (&self.tracer, started) {
                (Some(t), Some(started)) => {
                    let span = t.publish(req.trace_parent.as_ref(), started, ws.as_str(), id.as_str(), &event_type);
                    let tp = span.trace_parent();
                    spans.push(span);
                    Some(tp)
                }
                _ => req.trace_parent,
            };
            let event = Event {
                owner,
                id,
                trace_parent,
                workspace_id: ws.clone(),
                deliveries: 0,
                producer_id: req.producer_id,
                data: req.data.expect("checked"),
                occurred_at: req.occurred_at.as_deref().and_then(|t| time_fmt::parse(t).ok()),
                created_at: now,
                event_type,
                ordering_key: req.ordering_key,
                channels: req.channels.unwrap_or_default(),
                tags: req.tags.unwrap_or_default(),
                erased_at: None,
            };
            // Parsed only when a subscribed webhook has a filter, and then once.
            let mut data: Option<serde_json::Value> = None;
            let mut deliveries = Vec::new();
            for r in routes.iter() {
                if !r.webhook.events.iter().any(|p| pattern_matches(p, &event.event_type))
                    || !(event.owner.is_none() || r.webhook.owner == event.owner)
                    // Operational webhooks receive operational events alone.
                    || (event.owner.is_none() && r.webhook.owner.as_deref() == Some(OPERATIONS_OWNER))
                    || !channels_admit(&r.webhook.channels, &event.channels)
                {
                    continue;
                }
                if let Some(filter) = &r.webhook.filter {
                    let data = data.get_or_insert_with(|| serde_json::from_str(&event.data).unwrap_or_default());
                    let input = FilterInput {
                        event_type: &event.event_type,
                        id: event.id.as_str(),
                        owner: event.owner.as_deref(),
                        data,
                    };
                    if !filter.matches(&input) {
                        continue;
                    }
                }
                let per_key = event.ordering_key.is_some() && r.webhook.ordering == DeliveryOrdering::PerKey;
                deliveries.push(if !r.webhook.enabled {
                    // Kept for the webhook's re-enabling (`deliver_held`).
                    let d = if per_key {
                        Delivery::new_ordered(&event, &r.webhook.id, now)
                    } else {
                        Delivery::new_pending(&event, &r.webhook.id, now)
                    };
                    d.held()
                } else if per_key {
                    ordered = true;
                    Delivery::new_ordered(&event, &r.webhook.id, now)
                } else if refusals.refuses(&r.webhook.id) {
                    Delivery::new_pending(&event, &r.webhook.id, now)
                } else {
                    Delivery::new_in_flight(&event, &r.webhook.id, now)
                });
            }
            let event = Event { deliveries: deliveries.len() as i64, ..event };
            records.push(NewEventRecord { event, deliveries, lease: lease.clone() });
        }
        let (records, outcomes) = match self.commit(records).await {
            Ok(c) => c,
            Err(e) => {
                for mut span in spans {
                    span.fail("not_stored", e.to_string());
                    span.end();
                }
                return Err(e);
            }
        };
        let mut spans = spans.into_iter();
        for (rec, outcome) in records.iter().zip(&outcomes) {
            if let Some(mut span) = spans.next() {
                span.set_i64("hookd.deliveries", rec.deliveries.len() as i64);
                // The producer's `id` was published before: nothing new was stored.
                span.set_bool("hookd.duplicate", matches!(outcome, InsertedEvent::Existing(_)));
                span.end();
            }
        }
        let mut jobs = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for (rec, outcome) in records.into_iter().zip(outcomes) {
            match outcome {
                InsertedEvent::Created => {
                    let body: Arc<str> = rec.event.body().into();
                    jobs.extend(
                        rec.deliveries
                            .iter()
                            .filter(|d| d.status == DeliveryStatus::InFlight)
                            .map(|d| DeliveryJob::new(d, body.clone(), rec.event.trace_parent)),
                    );
                    out.push(Published { event: rec.event, created: true });
                }
                InsertedEvent::Existing(event) => out.push(Published { event: *event, created: false }),
            }
        }
        self.published.fetch_add(out.iter().filter(|p| p.created).count() as u64, Ordering::Relaxed);
        if !jobs.is_empty() {
            self.engine.hand_off(jobs);
        }
        if ordered {
            self.engine.wake();
        }
        Ok(out)
    }

    async fn commit(&self, records: Vec<NewEventRecord>) -> Result<Committed, ServiceError> {
        let (reply, rx) = oneshot::channel();
        self.commits
            .send(CommitRequest { records, reply })
            .await
            .map_err(|_| ServiceError::Store(StoreError::Unavailable("the commit task has stopped".into())))?;
        rx.await
            .map_err(|_| ServiceError::Store(StoreError::Unavailable("the commit task has stopped".into())))?
            .map_err(ServiceError::Store)
    }

    pub async fn get(&self, who: &Principal, id: &EventId) -> Result<Event, ServiceError> {
        let not_found = ServiceError::NotFound { what: "event" };
        // An owner-scoped caller sees the events published for it, and those routed to
        // one of its own webhooks.
        let filter = who.visibility();
        if let Some(owner) = who.owner() {
            let any = self.store.get_event(who.workspace_id(), id, &crate::store::WebhookFilter::All).await?;
            if let Some(e) = any.filter(|e| e.owner.as_deref() == Some(owner.as_str())) {
                return Ok(e);
            }
        }
        self.store.get_event(who.workspace_id(), id, &filter).await?.ok_or(not_found)
    }

    /// An event by its id (`evt_…`) or by the producer's own `id` it was published with.
    pub async fn find(&self, who: &Principal, id_or_producer_id: &str) -> Result<Event, ServiceError> {
        if let Ok(id) = EventId::parse(id_or_producer_id) {
            return self.get(who, &id).await;
        }
        let filter =
            crate::store::EventFilter { producer_id: Some(id_or_producer_id.to_owned()), ..Default::default() };
        let page = crate::store::PageRequest { limit: 1, before: None };
        let found = self.store.list_events(who.workspace_id(), &filter, &page).await?;
        match found.into_iter().next() {
            // Seen through the same rules as by id.
            Some(e) => self.get(who, &e.id).await,
            None => Err(ServiceError::NotFound { what: "event" }),
        }
    }

    /// A page of events, newest first: a caller with an owner sees those published for
    /// it.
    pub async fn list(
        &self,
        who: &Principal,
        mut filter: crate::store::EventFilter,
        limit: u32,
        before: Option<EventId>,
    ) -> Result<super::Page<Event>, ServiceError> {
        if let Some(owner) = who.owner() {
            filter.owner = Some(owner);
        }
        let page = crate::store::PageRequest { limit: limit + 1, before };
        let items = self.store.list_events(who.workspace_id(), &filter, &page).await?;
        Ok(super::Page::from_overfetch(items, limit, |e| e.id.to_string()))
    }

    /// The engine, for the delivery routes.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Builds and commits a `test.ping` for one webhook and sends it at once.
    pub async fn send_test(&self, webhook: &crate::domain::Webhook) -> Result<(Delivery, Attempt), ServiceError> {
        let now = time_fmt::now();
        let data = serde_json::json!({
            "webhook_id": webhook.id,
            "message": "This is a test delivery from hookd.",
        })
        .to_string();
        let event = Event {
            owner: None,
            id: EventId::generate(),
            workspace_id: webhook.workspace_id.clone(),
            event_type: crate::domain::TEST_PING.into(),
            producer_id: None,
            data,
            occurred_at: None,
            created_at: now,
            deliveries: 1,
            ordering_key: None,
            channels: Vec::new(),
            tags: Vec::new(),
            erased_at: None,
            trace_parent: None,
        };
        let delivery = Delivery::new_in_flight(&event, &webhook.id, now);
        let job = DeliveryJob::new(&delivery, event.body().into(), event.trace_parent);
        let lease = Some((self.node.node_id.clone(), now + self.node.lease));
        self.commit(vec![NewEventRecord { event, deliveries: vec![delivery.clone()], lease }]).await?;
        let attempt = self.engine.send_now(job).await?;
        Ok((delivery, attempt))
    }
}

/// Writes queued publishes in shared transactions: whatever arrived while the previous
/// commit ran goes into the next one, so under load many publishes share one fsync.
async fn group_commit(store: Arc<dyn Store>, storage: Arc<StorageHealth>, mut rx: mpsc::Receiver<CommitRequest>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let mut events = batch[0].records.len();
        while events < MAX_EVENTS_PER_COMMIT {
            match rx.try_recv() {
                Ok(req) => {
                    events += req.records.len();
                    batch.push(req);
                }
                Err(_) => break,
            }
        }
        // Move every request's records into one slice, and hand each its own back after.
        let mut sizes = Vec::with_capacity(batch.len());
        let mut all = Vec::with_capacity(events);
        for req in &mut batch {
            sizes.push(req.records.len());
            all.append(&mut req.records);
        }
        let result = store.insert_events(&all).await;
        storage.observe(&result);
        let mut all = all.into_iter();
        let returned: Vec<Vec<NewEventRecord>> = sizes.iter().map(|n| all.by_ref().take(*n).collect()).collect();
        match result {
            Ok(mut outcomes) => {
                for (req, records) in batch.into_iter().zip(returned) {
                    let rest = outcomes.split_off(records.len());
                    let _ = req.reply.send(Ok((records, outcomes)));
                    outcomes = rest;
                }
            }
            Err(e) if batch.len() > 1 && !e.is_transient() => {
                // Commit each request on its own, so one bad request fails alone.
                for (req, records) in batch.into_iter().zip(returned) {
                    let r = store.insert_events(&records).await.map(|o| (records, o));
                    let _ = req.reply.send(r);
                }
            }
            Err(e) => {
                // Every request that shared the failed transaction fails, none is handed
                // off. A transient failure (a full disk, a lost connection) would fail
                // each again, so they all get a copy of it at once.
                let last = batch.len() - 1;
                let mut e = Some(e);
                for (i, req) in batch.into_iter().enumerate() {
                    let err = if i == last {
                        e.take().expect("one error")
                    } else {
                        StoreError::copy_of(e.as_ref().expect("error"))
                    };
                    let _ = req.reply.send(Err(err));
                }
            }
        }
    }
}
