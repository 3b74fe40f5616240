//! The delivery log of a webhook, one delivery with its attempts, retry, replay and
//! test pings.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use hookd_core::domain::{Attempt, Delivery, DeliveryStatus, Scope, Webhook};
use hookd_core::id::DeliveryId;
use hookd_core::service::ServiceError;
use hookd_core::store::DeliveryFilter;
use hookd_core::time_fmt;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::webhooks::parse_id;
use super::{query, see_other};
use crate::error::WebError;
use crate::session::{Form, Submitted, Viewer};
use crate::views::{ago, html, pretty_json, status, when, Chrome, Section};
use crate::WebState;

/// Deliveries per page of the log.
const PAGE: u32 = 25;

/// A delivery as the log shows it.
pub struct Row {
    pub href: String,
    pub id: String,
    pub created: String,
    pub created_ago: String,
    pub event_type: String,
    pub status: &'static str,
    pub badge: &'static str,
    pub attempts: i32,
    pub last: String,
}

/// A status filter choice.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The log on a webhook's page: filters, one page of rows, and the next page's link.
pub struct DeliveryLog {
    pub rows: Vec<Row>,
    pub statuses: Vec<Choice>,
    pub event_type: String,
    pub event_types: Vec<String>,
    pub next: Option<String>,
    /// Where the script fetches fresh rows, on the first page only.
    pub refresh: Option<String>,
    pub action: String,
    pub filtered: bool,
    /// A filtered page that searched its whole window without filling up: the next link
    /// searches the window before it.
    pub window_searched: bool,
    pub window: u32,
}

fn row(viewer: &Viewer, d: &Delivery, now: OffsetDateTime) -> Row {
    let (label, badge) = status(d.status);
    Row {
        href: viewer.path(&format!("/deliveries/{}", d.id)),
        id: d.id.to_string(),
        created: when(d.created_at),
        created_ago: ago(d.created_at, now),
        event_type: d.event_type.clone(),
        status: label,
        badge,
        attempts: d.attempts,
        last: match (d.last_status_code, &d.last_error) {
            (Some(c), _) => c.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "—".into(),
        },
    }
}

const STATUSES: [(&str, &str); 7] = [
    ("", "Any status"),
    ("pending", "pending"),
    ("in_flight", "sending"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("cancelled", "cancelled"),
    ("held", "held"),
];

pub(crate) async fn delivery_log(
    state: &WebState,
    viewer: &Viewer,
    w: &Webhook,
    q: &Form,
) -> Result<DeliveryLog, WebError> {
    let status = q.text("status").and_then(|s| DeliveryStatus::parse(&s));
    let event_type = q.text("event_type");
    let cursor = q.text("cursor");
    let filter = DeliveryFilter { status, event_type: event_type.clone(), ..DeliveryFilter::default() };
    let page =
        state.services().deliveries.list(&viewer.active.principal, &w.id, filter, PAGE, cursor.as_deref()).await?;
    let now = time_fmt::now();
    let base = viewer.path(&format!("/webhooks/{}", w.id));
    let mut params = Vec::new();
    if let Some(s) = status {
        params.push(format!("status={}", s.as_str()));
    }
    if let Some(t) = &event_type {
        params.push(format!("event_type={}", encode(t)));
    }
    let filtered = status.is_some() || event_type.is_some();
    let window_searched = filtered && page.items.len() < PAGE as usize && page.next_cursor.is_some();
    let next = page.next_cursor.map(|c| {
        let mut p = params.clone();
        p.push(format!("cursor={c}"));
        format!("{base}?{}#deliveries", p.join("&"))
    });
    let refresh = cursor.is_none().then(|| format!("{base}/deliveries?{}", params.join("&")));

    let mut event_types: Vec<String> =
        state.services().webhooks.catalog().types().iter().map(|t| t.name.clone()).collect();
    event_types.push(hookd_core::domain::TEST_PING.to_owned());
    Ok(DeliveryLog {
        rows: page.items.iter().map(|d| row(viewer, d, now)).collect(),
        statuses: STATUSES
            .iter()
            .map(|&(value, label)| Choice {
                value,
                label,
                selected: status.map(|s| s.as_str()).unwrap_or_default() == value,
            })
            .collect(),
        event_type: event_type.unwrap_or_default(),
        event_types,
        next,
        refresh,
        action: base,
        filtered,
        window_searched,
        window: hookd_core::service::SEARCH_WINDOW,
    })
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(Template)]
#[template(path = "delivery_rows.html")]
struct Rows {
    log: DeliveryLog,
}

/// The log's rows alone, for the script that refreshes them.
pub async fn rows(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksRead)?;
    let w = state.services().webhooks.get(&viewer.active.principal, &parse_id(&id)?).await?;
    let log = delivery_log(&state, &viewer, &w, &query(q.as_deref())).await?;
    Ok(html(&Rows { log }).into_response())
}

/// An attempt as the delivery page shows it.
pub struct AttemptView {
    pub number: i32,
    pub started: String,
    pub latency: String,
    pub status_code: String,
    pub ok: bool,
    pub error: String,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
    pub response: String,
}

impl AttemptView {
    fn of(a: &Attempt, delivery: &Delivery) -> Self {
        Self {
            number: a.attempt,
            started: when(a.started_at),
            latency: format!("{} ms", a.duration_ms),
            status_code: a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "no response".into()),
            ok: a.error_kind.is_none(),
            error: match (&a.error_kind, &a.error_message) {
                (Some(k), Some(m)) => format!("{k}: {m}"),
                (Some(k), None) => k.clone(),
                _ => String::new(),
            },
            request_headers: a.headers_sent(delivery),
            response_headers: a.response_headers.clone(),
            response: a.response.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    id: String,
    webhook_href: String,
    webhook_url: String,
    event_id: String,
    event_href: Option<String>,
    event_type: String,
    status: &'static str,
    badge: &'static str,
    created: String,
    next_attempt: String,
    body: Option<String>,
    attempts: Vec<AttemptView>,
    can_retry: bool,
    notice: &'static str,
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksRead)?;
    let id = DeliveryId::parse(&id).map_err(|_| WebError::NotFound("delivery"))?;
    let s = state.services();
    let who = &viewer.active.principal;
    let detail = s.deliveries.get(who, &id).await?;
    let d = &detail.delivery;
    let webhook = s.webhooks.get(who, &d.webhook_id).await.ok();
    let body = match s.events.get(who, &d.event_id).await {
        Ok(e) => Some(pretty_json(&e.body())),
        Err(ServiceError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let (label, badge) = status(d.status);
    let notice = match query(q.as_deref()).get("notice") {
        Some("test") => "Test event sent. Its attempt is below.",
        Some("retried") => "Sending again now. Reload in a moment to see the attempt.",
        _ => "",
    };
    let mut attempts: Vec<AttemptView> = detail.attempts.iter().map(|a| AttemptView::of(a, d)).collect();
    attempts.reverse();
    let page = DeliveryPage {
        chrome: Chrome::of(&viewer, &state, format!("Delivery {}", d.id), Section::Webhooks).await,
        id: d.id.to_string(),
        webhook_href: viewer.path(&format!("/webhooks/{}", d.webhook_id)),
        webhook_url: webhook.map(|w| w.url).unwrap_or_else(|| d.webhook_id.to_string()),
        event_id: d.event_id.to_string(),
        event_href: (!viewer.is_portal()).then(|| viewer.path(&format!("/events?id={}", d.event_id))),
        event_type: d.event_type.clone(),
        status: label,
        badge,
        created: when(d.created_at),
        next_attempt: match (d.status, d.next_attempt_at) {
            (DeliveryStatus::Pending, Some(t)) => when(t),
            _ => String::new(),
        },
        body,
        attempts,
        can_retry: viewer.allows(Scope::WebhooksWrite),
        notice,
    };
    Ok(html(&page).into_response())
}

pub async fn retry(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = DeliveryId::parse(&id).map_err(|_| WebError::NotFound("delivery"))?;
    state.services().deliveries.retry(&viewer.active.principal, &id).await?;
    Ok(see_other(&viewer.path(&format!("/deliveries/{id}?notice=retried"))))
}

pub async fn send_test(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let (delivery, _) = state.services().deliveries.test(&viewer.active.principal, &parse_id(&id)?).await?;
    Ok(see_other(&viewer.path(&format!("/deliveries/{}?notice=test", delivery.id))))
}

/// `2026-12-01T15:04` (a `datetime-local` field, read as UTC), with or without seconds.
fn parse_local(s: &str) -> Option<OffsetDateTime> {
    let minutes = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(s, minutes).or_else(|_| PrimitiveDateTime::parse(s, seconds)).ok().map(|t| t.assume_utc())
}

pub async fn replay(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = parse_id(&id)?;
    let s = state.services();
    let now = time_fmt::now();
    let Some(since) = form.text("since").as_deref().and_then(parse_local).filter(|t| *t < now) else {
        let w = s.webhooks.get(&viewer.active.principal, &id).await?;
        let notice = "Replay needs a start time in the past (UTC).".to_owned();
        return super::webhooks::show_page(&state, &viewer, &w, &Form::default(), None, notice, None).await;
    };
    let only_failed = form.get("only_failed").is_some();
    let n = s.deliveries.replay(&viewer.active.principal, &id, since, now, only_failed).await?;
    let failed = if only_failed { "&only_failed=1" } else { "" };
    Ok(see_other(&viewer.path(&format!("/webhooks/{id}?notice=replayed&count={n}{failed}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_local_fields_read_as_utc() {
        assert_eq!(parse_local("2026-12-01T15:04"), Some(time::macros::datetime!(2026-12-01 15:04 UTC)));
        assert_eq!(parse_local("2026-12-01T15:04:05"), Some(time::macros::datetime!(2026-12-01 15:04:05 UTC)));
        assert_eq!(parse_local("yesterday"), None);
    }
}
