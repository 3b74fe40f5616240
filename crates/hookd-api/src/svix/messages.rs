//! Messages and message attempts: an application's events, their deliveries and
//! attempts.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use hookd_core::domain::{Attempt, Delivery, DeliveryStatus, Event, NewEvent, Scope, Webhook};
use hookd_core::id::{DeliveryId, EventId};
use hookd_core::service::{Principal, ServiceError};
use hookd_core::store::{DeliveryFilter, EventFilter};
use serde::{Deserialize, Serialize};

use super::apps::ApplicationIn;
use super::endpoints::{self, PREFIX as ENDPOINT_PREFIX};
use super::{application, endpoint, list_response, time, DEFAULT_LIMIT, MAX_LIMIT};
use crate::envelope::ApiResponse;
use crate::error::ApiError;
use crate::extract::{Caller, RawBody};
use crate::ApiState;

/// The prefixes of a message id (`msg_…` for the event's `evt_…`) and an attempt id.
const MSG_PREFIX: &str = "msg_";
const ATTEMPT_PREFIX: &str = "atmpt_";
/// Deliveries of one message read at most (its fan-out to the application's endpoints).
const MAX_FAN_OUT: u32 = 1000;

/// `MessageIn`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageIn {
    event_type: Option<String>,
    payload: Option<Box<serde_json::value::RawValue>>,
    event_id: Option<String>,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    /// Creates the application along with the message when the path names none.
    application: Option<ApplicationIn>,
    /// Svix features hookd does not have: refused when set, never silently dropped.
    deliver_at: Option<serde_json::Value>,
    transformations_params: Option<serde_json::Value>,
}

/// `MessageOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageOut {
    id: String,
    event_type: String,
    event_id: Option<String>,
    payload: Box<serde_json::value::RawValue>,
    channels: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    timestamp: String,
}

fn message_out(e: &Event, with_content: bool) -> MessageOut {
    let payload = if with_content { e.data.as_str() } else { "{}" };
    MessageOut {
        id: e.id.with_prefix(MSG_PREFIX),
        event_type: e.event_type.clone(),
        event_id: e.producer_id.clone(),
        payload: serde_json::value::RawValue::from_string(payload.to_owned())
            .unwrap_or_else(|_| serde_json::value::RawValue::from_string("{}".into()).expect("valid JSON")),
        channels: (!e.channels.is_empty()).then(|| e.channels.clone()),
        tags: (!e.tags.is_empty()).then(|| e.tags.clone()),
        timestamp: time(e.created_at),
    }
}

/// `POST /app/{app_id}/msg` (202): published for the application, durable before the
/// answer, to every endpoint of it the type, channels and filters admit.
pub(super) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    headers: axum::http::HeaderMap,
    body: RawBody<{ hookd_core::domain::MAX_EVENT_DATA + 64 * 1024 }>,
) -> Result<ApiResponse, ApiError> {
    caller.require(Scope::EventsWrite)?;
    let input: MessageIn = body.json()?;
    let who = match application(&state, &caller, Scope::EventsWrite, &app_id).await {
        Ok((_, who)) => who,
        Err(ApiError::NotFound(_)) if input.application.is_some() => {
            let mut fields = input.application.unwrap_or_default().fields();
            if fields.uid.is_none() && !app_id.starts_with("app_") {
                fields.uid = Some(Some(app_id.clone()));
            }
            let (app, _) = state.applications.create(&caller.0, fields, true).await?;
            caller.0.for_owner(&app.id).ok_or(ServiceError::NotFound { what: "application" })?
        }
        Err(e) => return Err(e),
    };
    let mut errs = hookd_core::domain::FieldErrors::default();
    if input.event_type.is_none() {
        errs.push("eventType", "is required");
    }
    match &input.payload {
        None => errs.push("payload", "is required"),
        Some(p) if !p.get().trim_start().starts_with('{') => errs.push("payload", "must be a JSON object"),
        Some(_) => {}
    }
    if input.deliver_at.as_ref().is_some_and(|v| !v.is_null()) {
        errs.push("deliverAt", "scheduled messages are not supported: hookd delivers every message at once");
    }
    if input.transformations_params.as_ref().is_some_and(|v| !v.is_null()) {
        errs.push("transformationsParams", "transformations are not supported");
    }
    errs.into_result().map_err(ApiError::Validation)?;
    let req = NewEvent {
        event: input.event_type,
        owner: None,
        data: input.payload.map(|p| p.get().to_owned()),
        producer_id: input.event_id,
        occurred_at: None,
        ordering_key: None,
        channels: input.channels,
        tags: input.tags,
        trace_parent: crate::routes::events::trace_parent(&headers),
    };
    let published = state.events.publish(&who, req).await?;
    Ok(ApiResponse::new(StatusCode::ACCEPTED, message_out(&published.event, true)))
}

/// The event `msg_id` names (its `msg_…` id, or the `eventId` it was sent with), if it
/// was published for the caller's application.
async fn find_message(state: &ApiState, who: &Principal, msg_id: &str) -> Result<Event, ApiError> {
    let not_found = || ApiError::from(ServiceError::NotFound { what: "message" });
    let e = match EventId::parse_with_prefix(msg_id, MSG_PREFIX) {
        Ok(id) => state.events.get(who, &id).await?,
        Err(_) => {
            let filter = EventFilter { producer_id: Some(msg_id.to_owned()), ..Default::default() };
            state.events.list(who, filter, 1, None).await?.items.into_iter().next().ok_or_else(not_found)?
        }
    };
    if e.owner != who.owner() {
        return Err(not_found());
    }
    Ok(e)
}

/// `GET /app/{app_id}/msg/{msg_id}`.
pub(super) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    let q = Query::parse(q.as_deref())?;
    Ok(ApiResponse::ok(message_out(&find_message(&state, &who, &msg_id).await?, q.with_content)))
}

/// The query of the message and attempt lists. Arrays come comma-separated (as Svix's
/// SDKs send them) or repeated.
#[derive(Debug)]
struct Query {
    limit: u32,
    iterator: Option<String>,
    event_types: Vec<String>,
    channel: Option<String>,
    tag: Option<String>,
    before: Option<time::OffsetDateTime>,
    after: Option<time::OffsetDateTime>,
    with_content: bool,
    status: Option<i64>,
}

impl Query {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = Query {
            limit: DEFAULT_LIMIT,
            iterator: None,
            event_types: Vec::new(),
            channel: None,
            tag: None,
            before: None,
            after: None,
            with_content: true,
            status: None,
        };
        let time = |k: &str, v: &str| {
            hookd_core::time_fmt::parse(v)
                .map_err(|_| ApiError::validation(format!("query.{k}"), "must be an RFC 3339 time"))
        };
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "limit" => {
                    q.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| ApiError::validation("query.limit", format!("must be 1 to {MAX_LIMIT}")))?
                }
                "iterator" => q.iterator = Some(v.into_owned()),
                "event_types" => q.event_types.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned)),
                "channel" => q.channel = Some(v.into_owned()),
                "tag" => q.tag = Some(v.into_owned()),
                "before" => q.before = Some(time("before", &v)?),
                "after" => q.after = Some(time("after", &v)?),
                "with_content" => q.with_content = v != "false",
                "status" => {
                    q.status = Some(v.parse().ok().filter(|s| (0..=3).contains(s)).ok_or_else(|| {
                        ApiError::validation(
                            "query.status",
                            "must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)",
                        )
                    })?)
                }
                // Svix's other filters (status_code_class, with_msg, expanded_statuses, …)
                // are accepted and not applied: docs/svix.md says which.
                _ => {}
            }
        }
        Ok(q)
    }
}

/// `GET /app/{app_id}/msg`, newest first.
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    let q = Query::parse(raw.as_deref())?;
    let before = q
        .iterator
        .as_deref()
        .map(|i| EventId::parse_with_prefix(i, MSG_PREFIX))
        .transpose()
        .map_err(|_| ApiError::validation("query.iterator", "is not from this list"))?;
    let filter = EventFilter {
        owner: who.owner(),
        event_types: q.event_types.clone(),
        channel: q.channel.clone(),
        tag: q.tag.clone(),
        since: q.after,
        until: q.before,
        producer_id: None,
    };
    let page = state.events.list(&who, filter, q.limit, before).await?;
    let next = page.next_cursor.and_then(|c| EventId::parse(&c).ok()).map(|e| e.with_prefix(MSG_PREFIX));
    Ok(list_response(page.items.iter().map(|e| message_out(e, q.with_content)).collect(), next))
}

/// Svix's message status: 0 success, 1 pending, 2 fail, 3 sending.
fn status_of(d: &Delivery) -> (i64, &'static str) {
    match d.status {
        DeliveryStatus::Succeeded => (0, "success"),
        DeliveryStatus::Pending | DeliveryStatus::Held => (1, "pending"),
        DeliveryStatus::Failed => (2, "fail"),
        DeliveryStatus::InFlight => (3, "sending"),
        DeliveryStatus::Cancelled => (2, "canceled"),
    }
}

/// `MessageAttemptOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AttemptOut {
    id: String,
    msg_id: String,
    endpoint_id: String,
    url: String,
    response: String,
    response_status_code: i32,
    response_duration_ms: i64,
    status: i64,
    status_text: &'static str,
    trigger_type: i64,
    timestamp: String,
}

fn attempt_out(d: &Delivery, a: &Attempt, url: &str) -> AttemptOut {
    let ok = a.error_kind.is_none() && a.status_code.is_some_and(|c| (200..300).contains(&c));
    AttemptOut {
        id: format!("{ATTEMPT_PREFIX}{}_{}", &d.id.as_str()[DeliveryId::PREFIX.len()..], a.attempt),
        msg_id: d.event_id.with_prefix(MSG_PREFIX),
        endpoint_id: d.webhook_id.with_prefix(ENDPOINT_PREFIX),
        url: url.to_owned(),
        response: a.response.clone().or_else(|| a.error_message.clone()).unwrap_or_default(),
        response_status_code: a.status_code.unwrap_or(0),
        response_duration_ms: a.duration_ms,
        status: if ok { 0 } else { 2 },
        status_text: if ok { "success" } else { "fail" },
        // A retry asked for by hand starts a new round of the schedule.
        trigger_type: i64::from(a.attempt > 1 && a.attempt == d.schedule_base + 1),
        timestamp: time(a.started_at),
    }
}

/// The attempts of `deliveries`, newest first, kept by Svix's `status` filter.
async fn attempts_of(
    state: &ApiState,
    who: &Principal,
    deliveries: &[Delivery],
    status: Option<i64>,
) -> Result<Vec<AttemptOut>, ApiError> {
    let mut urls: std::collections::HashMap<hookd_core::id::WebhookId, String> = Default::default();
    let mut out = Vec::new();
    for d in deliveries {
        let detail = state.deliveries.get(who, &d.id).await?;
        if !urls.contains_key(&d.webhook_id) {
            let url = state.webhooks.get(who, &d.webhook_id).await.map(|w| w.url).unwrap_or_default();
            urls.insert(d.webhook_id.clone(), url);
        }
        let url = &urls[&d.webhook_id];
        for a in detail.attempts.iter().rev() {
            let item = attempt_out(d, a, url);
            if status.is_none_or(|s| s == item.status) {
                out.push(item);
            }
        }
    }
    Ok(out)
}

/// `GET /app/{app_id}/attempt/msg/{msg_id}`: every attempt of the message, newest first.
pub(super) async fn attempts_by_message(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    let q = Query::parse(raw.as_deref())?;
    let e = find_message(&state, &who, &msg_id).await?;
    let deliveries = state.deliveries.for_event(&who, &e.id, MAX_FAN_OUT).await?;
    let mut items = attempts_of(&state, &who, &deliveries, q.status).await?;
    items.truncate(q.limit as usize);
    Ok(list_response(items, None))
}

/// `GET /app/{app_id}/attempt/endpoint/{endpoint_id}`: the endpoint's attempts, newest
/// first; a page holds the attempts of `limit` deliveries.
pub(super) async fn attempts_by_endpoint(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksRead, &app_id, &endpoint_id).await?;
    let q = Query::parse(raw.as_deref())?;
    let (deliveries, next) = endpoint_deliveries(&state, &who, &wh, &q).await?;
    let items = attempts_of(&state, &who, &deliveries, q.status).await?;
    Ok(list_response(items, next))
}

/// A page of the endpoint's deliveries, filtered by the query, and the next iterator.
async fn endpoint_deliveries(
    state: &ApiState,
    who: &Principal,
    wh: &Webhook,
    q: &Query,
) -> Result<(Vec<Delivery>, Option<String>), ApiError> {
    let filter = DeliveryFilter {
        event_type: (q.event_types.len() == 1).then(|| q.event_types[0].clone()),
        since: q.after,
        until: q.before,
        ..Default::default()
    };
    let page = state.deliveries.list(who, &wh.id, filter, q.limit, q.iterator.as_deref()).await?;
    let items = page.items.into_iter().filter(|d| q.event_types.is_empty() || q.event_types.contains(&d.event_type));
    Ok((items.collect(), page.next_cursor))
}

/// `EndpointMessageOut`: a message as one endpoint has it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EndpointMessageOut {
    #[serde(flatten)]
    message: MessageOut,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/msg`: the messages sent to the endpoint,
/// newest first, with their state there.
pub(super) async fn list_attempted_messages(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksRead, &app_id, &endpoint_id).await?;
    let q = Query::parse(raw.as_deref())?;
    let (deliveries, next) = endpoint_deliveries(&state, &who, &wh, &q).await?;
    let mut items = Vec::with_capacity(deliveries.len());
    for d in &deliveries {
        let (status, status_text) = status_of(d);
        if q.status.is_some_and(|s| s != status) {
            continue;
        }
        let e = state.events.get(&who, &d.event_id).await?;
        items.push(EndpointMessageOut {
            message: message_out(&e, q.with_content),
            status,
            status_text,
            next_attempt: d.next_attempt_at.map(time),
        });
    }
    Ok(list_response(items, next))
}

/// `MessageEndpointOut`: an endpoint a message went to, with its state there.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageEndpointOut {
    #[serde(flatten)]
    endpoint: endpoints::EndpointOut,
    status: i64,
    status_text: &'static str,
    next_attempt: Option<String>,
}

/// `GET /app/{app_id}/msg/{msg_id}/endpoint`: the endpoints the message went to.
pub(super) async fn list_attempted_destinations(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    let e = find_message(&state, &who, &msg_id).await?;
    let mut items = Vec::new();
    for d in state.deliveries.for_event(&who, &e.id, MAX_FAN_OUT).await? {
        // An endpoint deleted since is left out.
        let Ok(w) = state.webhooks.get(&who, &d.webhook_id).await else { continue };
        let (status, status_text) = status_of(&d);
        items.push(MessageEndpointOut {
            endpoint: endpoints::EndpointOut::from(&w),
            status,
            status_text,
            next_attempt: d.next_attempt_at.map(time),
        });
    }
    Ok(list_response(items, None))
}

/// `GET /app/{app_id}/msg/{msg_id}/attempt/{attempt_id}`.
pub(super) async fn attempt(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, msg_id, attempt_id)): Path<(String, String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (_, who) = application(&state, &caller, Scope::WebhooksRead, &app_id).await?;
    let e = find_message(&state, &who, &msg_id).await?;
    let not_found = || ApiError::from(ServiceError::NotFound { what: "message attempt" });
    let (delivery, n) = attempt_id
        .strip_prefix(ATTEMPT_PREFIX)
        .and_then(|rest| rest.rsplit_once('_'))
        .and_then(|(d, n)| {
            Some((DeliveryId::parse(&format!("{}{d}", DeliveryId::PREFIX)).ok()?, n.parse::<i32>().ok()?))
        })
        .ok_or_else(not_found)?;
    let detail = state.deliveries.get(&who, &delivery).await.map_err(|_| not_found())?;
    if detail.delivery.event_id != e.id {
        return Err(not_found());
    }
    let a = detail.attempts.iter().find(|a| a.attempt == n).ok_or_else(not_found)?;
    let url = state.webhooks.get(&who, &detail.delivery.webhook_id).await.map(|w| w.url).unwrap_or_default();
    Ok(ApiResponse::ok(attempt_out(&detail.delivery, a, &url)))
}

/// `POST /app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend` (202): sends the
/// message to the endpoint again now, with a fresh retry schedule.
pub(super) async fn resend(
    State(state): State<ApiState>,
    caller: Caller,
    Path((app_id, msg_id, endpoint_id)): Path<(String, String, String)>,
) -> Result<ApiResponse, ApiError> {
    let (who, wh) = endpoint(&state, &caller, Scope::WebhooksWrite, &app_id, &endpoint_id).await?;
    let e = find_message(&state, &who, &msg_id).await?;
    let deliveries = state.deliveries.for_event(&who, &e.id, MAX_FAN_OUT).await?;
    let d = deliveries
        .iter()
        .find(|d| d.webhook_id == wh.id)
        .ok_or_else(|| ApiError::from(ServiceError::NotFound { what: "delivery of this message to this endpoint" }))?;
    state.deliveries.retry(&who, &d.id).await?;
    Ok(ApiResponse::new(StatusCode::ACCEPTED, serde_json::json!({})))
}
