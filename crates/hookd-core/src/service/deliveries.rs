//! The delivery log: listing, inspecting, retrying and replaying deliveries, and test pings.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::domain::{Attempt, Delivery, DeliveryJob, DeliveryStatus, FieldErrors};
use crate::id::{DeliveryId, EventId, WebhookId};
use crate::service::webhooks::{Page, WebhookService};
use crate::service::{EventService, Principal, ServiceError};
use crate::store::{DeliveryFilter, PageRequest, Store};
use crate::time_fmt;

/// A delivery with its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub attempts: Vec<Attempt>,
}

/// Deliveries of a webhook searched for one page of a filtered log.
pub const SEARCH_WINDOW: u32 = 10_000;

#[derive(Clone)]
pub struct DeliveryService {
    store: Arc<dyn Store>,
    webhooks: WebhookService,
    events: EventService,
}

impl DeliveryService {
    pub fn new(store: Arc<dyn Store>, webhooks: WebhookService, events: EventService) -> Self {
        Self { store, webhooks, events }
    }

    /// A webhook's deliveries, newest first.
    pub async fn list(
        &self,
        who: &Principal,
        webhook_id: &WebhookId,
        mut filter: DeliveryFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<Delivery>, ServiceError> {
        let wh = self.webhooks.get(who, webhook_id).await?;
        let before = cursor
            .map(|c| {
                DeliveryId::parse(c).map_err(|_| FieldErrors::single("cursor", "is not a cursor returned by this list"))
            })
            .transpose()?;
        // A filter may match nothing in a long history: search a window of the webhook's
        // newest deliveries (before the cursor) at a time, so that every page costs the
        // same however long the history. A page may then hold fewer matches than `limit`,
        // and still a cursor, to search the next window.
        let windowed =
            filter.status.is_some() || filter.event_type.is_some() || filter.since.is_some() || filter.until.is_some();
        let floor = if windowed {
            self.store.delivery_window_floor(&wh.id, before.as_ref(), SEARCH_WINDOW).await?
        } else {
            None
        };
        filter.webhook_id = Some(wh.id);
        filter.from = floor.clone();
        let items =
            self.store.list_deliveries(who.workspace_id(), &filter, &PageRequest { limit: limit + 1, before }).await?;
        let mut page = Page::from_overfetch(items, limit, |d| d.id.to_string());
        if page.next_cursor.is_none() {
            // The window is searched; older deliveries remain below its floor.
            page.next_cursor = floor.map(|f| f.to_string());
        }
        Ok(page)
    }

    /// The deliveries of one event (at most `limit`, newest first) to the webhooks the
    /// caller may see.
    pub async fn for_event(&self, who: &Principal, event: &EventId, limit: u32) -> Result<Vec<Delivery>, ServiceError> {
        let filter = DeliveryFilter { event_id: Some(event.clone()), ..DeliveryFilter::default() };
        let mut items =
            self.store.list_deliveries(who.workspace_id(), &filter, &PageRequest { limit, before: None }).await?;
        if who.visibility() != crate::store::WebhookFilter::All {
            let mut seen: std::collections::HashMap<WebhookId, bool> = Default::default();
            let mut kept = Vec::with_capacity(items.len());
            for d in items {
                let visible = match seen.get(&d.webhook_id) {
                    Some(v) => *v,
                    None => {
                        let v = self.webhooks.get(who, &d.webhook_id).await.is_ok();
                        seen.insert(d.webhook_id.clone(), v);
                        v
                    }
                };
                if visible {
                    kept.push(d);
                }
            }
            items = kept;
        }
        Ok(items)
    }

    /// One delivery with its attempts, if the caller may see its webhook.
    pub async fn get(&self, who: &Principal, id: &DeliveryId) -> Result<DeliveryDetail, ServiceError> {
        let delivery = self.visible(who, id).await?;
        let attempts = self.store.list_attempts(&delivery.id).await?;
        Ok(DeliveryDetail { delivery, attempts })
    }

    async fn visible(&self, who: &Principal, id: &DeliveryId) -> Result<Delivery, ServiceError> {
        let not_found = || ServiceError::NotFound { what: "delivery" };
        let d = self.store.get_delivery(who.workspace_id(), id).await?.ok_or_else(not_found)?;
        if who.visibility() != crate::store::WebhookFilter::All {
            // Callers with a narrower view see the deliveries of their webhooks only.
            self.webhooks.get(who, &d.webhook_id).await.map_err(|_| not_found())?;
        }
        Ok(d)
    }

    /// Sends a delivery again now, with a fresh retry schedule.
    pub async fn retry(&self, who: &Principal, id: &DeliveryId) -> Result<Delivery, ServiceError> {
        let d = self.visible(who, id).await?;
        let node = self.events.node();
        let engine = self.events.engine();
        // One write either way: leased to this node and handed to its engine, or, when
        // the engine would not take it now (an API-only node, a full queue), left due in
        // the store for the node that claims it. A delivery with an ordering key is
        // always left to a claim, which takes it only when it is first of its key.
        let take = d.ordering_key.is_none() && !engine.refusals().refuses(&d.webhook_id);
        let lease = take.then(|| (node.node_id.as_str(), time_fmt::now() + node.lease));
        let Some((delivery, event)) = self.store.claim_for_retry(who.workspace_id(), &d.id, lease).await? else {
            return Err(ServiceError::Conflict("the delivery is being sent right now; retry when it has finished"));
        };
        if take {
            engine.hand_off(vec![DeliveryJob::new(&delivery, event.body().into(), event.trace_parent)]);
        } else {
            engine.wake();
        }
        Ok(delivery)
    }

    /// Queues again the finished deliveries of a webhook created in `[since, until)`.
    pub async fn replay(
        &self,
        who: &Principal,
        webhook_id: &WebhookId,
        since: OffsetDateTime,
        until: OffsetDateTime,
        only_failed: bool,
    ) -> Result<u64, ServiceError> {
        let wh = self.webhooks.get(who, webhook_id).await?;
        if since >= until {
            return Err(FieldErrors::single("until", "must be later than since").into());
        }
        let n = self.store.replay_deliveries(&wh.id, since, until, only_failed, time_fmt::now()).await?;
        if n > 0 {
            self.events.engine().wake();
        }
        Ok(n)
    }

    /// Sends a `test.ping` to the webhook now and returns the attempt.
    pub async fn test(&self, who: &Principal, webhook_id: &WebhookId) -> Result<(Delivery, Attempt), ServiceError> {
        let wh = self.webhooks.get(who, webhook_id).await?;
        let (mut delivery, attempt) = self.events.send_test(&wh).await?;
        delivery.attempts = attempt.attempt;
        delivery.status = if attempt.error_kind.is_none() { DeliveryStatus::Succeeded } else { DeliveryStatus::Failed };
        delivery.last_status_code = attempt.status_code;
        Ok((delivery, attempt))
    }
}
