//! Events, deliveries, attempts, and the retry schedule.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;

use super::FieldErrors;
use crate::id::{DeliveryId, EventId, WebhookId, WorkspaceId};
use crate::time_fmt;
use crate::trace::TraceParent;

/// Largest `data` accepted: 256 KiB of JSON.
pub const MAX_EVENT_DATA: usize = 256 * 1024;
/// Longest producer-supplied event id.
pub const MAX_PRODUCER_ID_LEN: usize = 255;
/// Longest `ordering_key`, in characters.
pub const MAX_ORDERING_KEY_LEN: usize = 255;

/// A published event. Stored once, whatever its fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub workspace_id: WorkspaceId,
    pub event_type: String,
    /// The producer's own id, which makes publishing idempotent.
    pub producer_id: Option<String>,
    /// Published for this owner only: it reaches only the owner's webhooks.
    pub owner: Option<String>,
    /// The `data` JSON, exactly as the producer sent it.
    pub data: String,
    pub occurred_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// How many deliveries it fanned out to.
    pub deliveries: i64,
    /// Its place in an ordered sequence: webhooks with `per_key` ordering receive the
    /// events of one key one at a time, in publish order.
    pub ordering_key: Option<String>,
    /// The channels it was sent to (`channels_admit`); empty for none.
    pub channels: Vec<String>,
    /// Labels to find it by (a Svix message's `tags`); they do not route it.
    pub tags: Vec<String>,
    /// When its payload was erased (`data` is then `null`).
    pub erased_at: Option<OffsetDateTime>,
    /// The trace it belongs to: its `publish` span when telemetry is on, else the
    /// publisher's `traceparent`, if it sent one. Each attempt continues it.
    pub trace_parent: Option<TraceParent>,
}

/// An erased event's `data`.
pub const ERASED_DATA: &str = "null";

impl Event {
    /// The body every delivery of this event carries:
    /// `{"id", "event", "created_at", "data"}`, `data` byte for byte as published.
    pub fn body(&self) -> String {
        let head = serde_json::json!({
            "id": self.id,
            "event": self.event_type,
            "created_at": time_fmt::format(self.created_at),
        })
        .to_string();
        // `head` is a JSON object; splice `data` in before its closing brace.
        format!("{},\"data\":{}}}", &head[..head.len() - 1], self.data)
    }

    /// The `data` of a body [`Event::body`] rendered: what a webhook speaking
    /// [`WebhookProtocol::Svix`](crate::domain::WebhookProtocol::Svix) receives. The head
    /// before it holds an id, a validated type and a time, none of which can contain
    /// `,"data":`.
    pub fn data_of_body(body: &str) -> &str {
        match body.find(",\"data\":") {
            Some(i) if body.ends_with('}') => &body[i + ",\"data\":".len()..body.len() - 1],
            _ => body,
        }
    }
}

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a node, which is sending it (or about to).
    InFlight,
    Succeeded,
    /// The retry schedule ran out.
    Failed,
    /// Its webhook was deleted, or it was held and not delivered.
    Cancelled,
    /// Its webhook is disabled: kept, and delivered if the webhook is re-enabled with
    /// `deliver_held`, cancelled otherwise.
    Held,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::InFlight, Self::Succeeded, Self::Failed, Self::Cancelled, Self::Held]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One event going to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub workspace_id: WorkspaceId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Attempts made before the current retry round (a retry or replay starts a new
    /// round with the whole schedule).
    pub schedule_base: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Set when its webhook orders deliveries per key and its event carries a key: it is
    /// attempted only once every earlier delivery of the key to the webhook has finished.
    pub ordering_key: Option<String>,
}

/// One HTTP request of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub attempt: i32,
    pub started_at: OffsetDateTime,
    pub duration_ms: i64,
    pub status_code: Option<i32>,
    /// The start of the response body (at most 4 KiB).
    pub response: Option<String>,
    /// `timeout`, `connect`, `blocked_address`, `redirect`, `http_status`, …
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    /// The signature headers sent, then the webhook's custom headers with their values
    /// masked (none when no request was sent). The other headers follow from the
    /// delivery and the attempt: [`Attempt::headers_sent`].
    pub request_headers: Vec<(String, String)>,
    /// The headers of the response, in order (none when there was no response).
    pub response_headers: Vec<(String, String)>,
}

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("hookd/", env!("CARGO_PKG_VERSION"));

/// The headers of an attempt that follow from the delivery, in the order they are sent:
/// the sender sends these, then the signatures; the delivery log shows them the same way.
pub fn attempt_headers(
    event_type: &str,
    delivery_id: &DeliveryId,
    attempt: i32,
    event_id: &EventId,
    timestamp: i64,
) -> [(&'static str, String); 7] {
    [
        ("content-type", "application/json".to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
        ("x-hookd-event", event_type.to_owned()),
        ("x-hookd-delivery", delivery_id.to_string()),
        // 1 for the first attempt: a receiver (and `hookd listen`) can tell a retry from
        // a duplicate.
        ("x-hookd-attempt", attempt.to_string()),
        ("webhook-id", event_id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
    ]
}

impl Attempt {
    /// Every header this attempt sent, in order: those that follow from the delivery,
    /// then the stored signatures. Empty when no request was sent (a refused address).
    pub fn headers_sent(&self, delivery: &Delivery) -> Vec<(String, String)> {
        if self.request_headers.is_empty() {
            return Vec::new();
        }
        let derived = attempt_headers(
            &delivery.event_type,
            &delivery.id,
            self.attempt,
            &delivery.event_id,
            self.started_at.unix_timestamp(),
        );
        // A webhook speaking Svix's protocol sent its own id and timestamp headers (stored
        // with the signature) instead of the standard ones.
        let svix = self.request_headers.iter().any(|(k, _)| k == "svix-id");
        derived
            .into_iter()
            .filter(|(k, _)| !(svix && k.starts_with("webhook-")))
            .map(|(k, v)| (k.to_owned(), v))
            .chain(self.request_headers.iter().cloned())
            .collect()
    }
}

impl Delivery {
    /// A new delivery of `event` to `webhook`, claimed for an attempt at once.
    pub fn new_in_flight(event: &Event, webhook: &WebhookId, now: OffsetDateTime) -> Self {
        Self::new(event, webhook, now, DeliveryStatus::InFlight)
    }

    /// A new delivery of `event` to `webhook`, due now but left for a later claim.
    pub fn new_pending(event: &Event, webhook: &WebhookId, now: OffsetDateTime) -> Self {
        Self::new(event, webhook, now, DeliveryStatus::Pending)
    }

    /// This new delivery, held for a disabled webhook until it is re-enabled.
    pub fn held(self) -> Self {
        Self { status: DeliveryStatus::Held, next_attempt_at: None, ..self }
    }

    /// A new delivery in `event`'s key's sequence for `webhook`: always left for a claim,
    /// which takes only the first open delivery of a key (see [`Delivery::ordering_key`]).
    /// An event without a key is delivered unordered.
    pub fn new_ordered(event: &Event, webhook: &WebhookId, now: OffsetDateTime) -> Self {
        Self { ordering_key: event.ordering_key.clone(), ..Self::new_pending(event, webhook, now) }
    }

    fn new(event: &Event, webhook: &WebhookId, now: OffsetDateTime, status: DeliveryStatus) -> Self {
        Self {
            id: DeliveryId::generate(),
            workspace_id: event.workspace_id.clone(),
            webhook_id: webhook.clone(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            status,
            attempts: 0,
            schedule_base: 0,
            next_attempt_at: Some(now),
            last_status_code: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            ordering_key: None,
        }
    }
}

/// A delivery ready to be sent: everything the sender needs, with the body rendered once
/// per event and shared across its fan-out.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub delivery_id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: EventId,
    pub event_type: String,
    pub body: Arc<str>,
    pub attempts: i32,
    pub schedule_base: i32,
    /// It holds back later deliveries of its ordering key until it finishes.
    pub ordered: bool,
    /// Its event's trace ([`Event::trace_parent`]).
    pub trace_parent: Option<TraceParent>,
}

/// The delays before each attempt: `[0s, 5s, 5m, …]`, with ±20 % jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl DeliveryJob {
    /// The job for `delivery`, with its event's rendered body.
    pub fn new(delivery: &Delivery, body: Arc<str>, trace_parent: Option<TraceParent>) -> Self {
        Self {
            delivery_id: delivery.id.clone(),
            webhook_id: delivery.webhook_id.clone(),
            event_id: delivery.event_id.clone(),
            event_type: delivery.event_type.clone(),
            body,
            attempts: delivery.attempts,
            schedule_base: delivery.schedule_base,
            ordered: delivery.ordering_key.is_some(),
            trace_parent,
        }
    }
}

impl RetrySchedule {
    pub fn new(delays: Vec<Duration>) -> Self {
        assert!(!delays.is_empty(), "a retry schedule needs at least one step");
        Self(delays)
    }

    /// The largest step, which also bounds what `Retry-After` may ask for.
    pub fn max_step(&self) -> Duration {
        self.0.iter().copied().max().unwrap_or_default()
    }

    /// The delay before the next attempt, after `made` failed attempts of this round; `None`
    /// when the schedule is spent. `retry_after` (from a 429/503) sets a floor, bounded by
    /// the largest step.
    pub fn next_delay(&self, made: usize, retry_after: Option<Duration>) -> Option<Duration> {
        let base = *self.0.get(made)?;
        let factor = rand::thread_rng().gen_range(0.8..=1.2);
        let jittered = base.mul_f64(factor);
        Some(match retry_after {
            Some(ra) => jittered.max(ra.min(self.max_step())),
            None => jittered,
        })
    }
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let s = |secs| Duration::from_secs(secs);
        Self(vec![s(0), s(5), s(300), s(1800), s(7200), s(18000), s(36000), s(36000)])
    }
}

/// A publish request, as parsed from the client.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub event: Option<String>,
    /// Reach only this owner's webhooks.
    pub owner: Option<String>,
    /// The `data` JSON text; `None` when absent.
    pub data: Option<String>,
    pub producer_id: Option<String>,
    pub occurred_at: Option<String>,
    /// See [`Event::ordering_key`].
    pub ordering_key: Option<String>,
    /// See [`Event::channels`].
    pub channels: Option<Vec<String>>,
    /// See [`Event::tags`].
    pub tags: Option<Vec<String>>,
    /// The publisher's `traceparent` header, when it sent a valid one.
    pub trace_parent: Option<TraceParent>,
}

/// Checks an `ordering_key`: 1 to 255 characters, none of them a control character.
pub fn validate_ordering_key(key: &str, errs: &mut FieldErrors, field: &str) {
    if key.is_empty() || key.chars().count() > MAX_ORDERING_KEY_LEN || key.chars().any(char::is_control) {
        errs.push(field, format!("must be 1 to {MAX_ORDERING_KEY_LEN} characters, none of them a control character"));
    }
}

/// Checks a producer-supplied event id.
pub fn validate_producer_id(id: &str, errs: &mut FieldErrors, field: &str) {
    if id.is_empty() || id.len() > MAX_PRODUCER_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        errs.push(field, format!("must be 1 to {MAX_PRODUCER_ID_LEN} visible ASCII characters"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_event() -> Event {
        Event {
            id: EventId::generate(),
            workspace_id: WorkspaceId::generate(),
            event_type: "link.created".into(),
            producer_id: None,
            owner: None,
            data: "{}".into(),
            occurred_at: None,
            created_at: time_fmt::now(),
            deliveries: 1,
            ordering_key: None,
            channels: Vec::new(),
            tags: Vec::new(),
            erased_at: None,
            trace_parent: None,
        }
    }

    #[test]
    fn the_data_is_cut_back_out_of_the_body() {
        for data in [r#"{"a":1,"data":{"b":[1,2]}}"#, "[]", r#""text, \"data\":""#, "null", r#"{"x":"}"}"#] {
            let e = Event { data: data.into(), event_type: "user.created".into(), ..test_event() };
            assert_eq!(Event::data_of_body(&e.body()), data);
        }
    }

    #[test]
    fn an_attempts_headers_are_the_derived_ones_then_its_signatures() {
        let now = time_fmt::now();
        let e = Event { created_at: now, ..test_event() };
        let d = Delivery::new_in_flight(&e, &WebhookId::generate(), now);
        let mut a = Attempt {
            delivery_id: d.id.clone(),
            attempt: 2,
            started_at: now,
            duration_ms: 5,
            status_code: Some(200),
            response: None,
            error_kind: None,
            error_message: None,
            request_headers: vec![("webhook-signature".into(), "v1,abc".into())],
            response_headers: Vec::new(),
        };
        let sent = a.headers_sent(&d);
        let names: Vec<&str> = sent.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "user-agent",
                "x-hookd-event",
                "x-hookd-delivery",
                "x-hookd-attempt",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature"
            ]
        );
        assert_eq!(sent[4].1, "2");
        assert_eq!(sent[5].1, e.id.to_string());
        assert_eq!(sent[6].1, now.unix_timestamp().to_string());
        a.request_headers.clear();
        assert!(a.headers_sent(&d).is_empty(), "nothing was sent");
    }

    #[test]
    fn schedule_steps_jitter_within_twenty_percent_and_run_out() {
        let s = RetrySchedule::new(vec![Duration::ZERO, Duration::from_secs(10), Duration::from_secs(100)]);
        assert_eq!(s.next_delay(0, None), Some(Duration::ZERO));
        for _ in 0..200 {
            let d = s.next_delay(1, None).unwrap();
            assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12), "{d:?}");
        }
        assert_eq!(s.next_delay(3, None), None);
    }

    #[test]
    fn retry_after_is_a_floor_bounded_by_the_largest_step() {
        let s = RetrySchedule::new(vec![Duration::ZERO, Duration::from_secs(10), Duration::from_secs(100)]);
        let d = s.next_delay(1, Some(Duration::from_secs(60))).unwrap();
        assert_eq!(d, Duration::from_secs(60));
        let d = s.next_delay(1, Some(Duration::from_secs(10_000))).unwrap();
        assert_eq!(d, Duration::from_secs(100));
        let d = s.next_delay(1, Some(Duration::from_secs(1))).unwrap();
        assert!(d >= Duration::from_secs(8));
    }

    #[test]
    fn the_body_carries_data_verbatim() {
        let e = Event {
            owner: None,
            id: EventId::generate(),
            workspace_id: WorkspaceId::generate(),
            event_type: "link.created".into(),
            producer_id: None,
            data: "{\"short_code\":\"abc\",  \"n\": 1.50}".into(),
            occurred_at: None,
            created_at: time::macros::datetime!(2026-03-21 14:30:00 UTC),
            deliveries: 1,
            ordering_key: None,
            channels: Vec::new(),
            tags: Vec::new(),
            erased_at: None,
            trace_parent: None,
        };
        let body = e.body();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["event"], "link.created");
        assert_eq!(v["id"], e.id.as_str());
        assert_eq!(v["created_at"], "2026-03-21T14:30:00Z");
        assert_eq!(v["data"]["short_code"], "abc");
        assert!(body.ends_with(",\"data\":{\"short_code\":\"abc\",  \"n\": 1.50}}"), "{body}");
    }
}
