//! Looking an event up by id, with its deliveries (dashboard).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookd_core::domain::Scope;
use hookd_core::id::EventId;
use hookd_core::service::ServiceError;
use hookd_core::time_fmt;

use super::query;
use crate::error::WebError;
use crate::session::Viewer;
use crate::views::{ago, html, pretty_json, status, when, Chrome, Section};
use crate::WebState;

/// One of the event's deliveries.
pub struct Row {
    pub href: String,
    pub id: String,
    pub webhook: String,
    pub created_ago: String,
    pub status: &'static str,
    pub badge: &'static str,
    pub attempts: i32,
    pub last: String,
}

pub struct EventView {
    pub id: String,
    pub event_type: String,
    pub created: String,
    pub owner: String,
    pub producer_id: String,
    pub data: String,
    pub fanout: i64,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    asked: String,
    error: String,
    event: Option<EventView>,
    deliveries: Vec<Row>,
}

pub async fn show(State(state): State<WebState>, viewer: Viewer, RawQuery(q): RawQuery) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksRead)?;
    let asked = query(q.as_deref()).text("id").unwrap_or_default();
    let mut page = EventPage {
        chrome: Chrome::of(&viewer, &state, "Events", Section::Events).await,
        asked: asked.clone(),
        error: String::new(),
        event: None,
        deliveries: Vec::new(),
    };
    if asked.is_empty() {
        return Ok(html(&page).into_response());
    }
    let Ok(id) = EventId::parse(&asked) else {
        page.error = "An event id looks like evt_ followed by a UUID.".into();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response());
    };
    let s = state.services();
    let who = &viewer.active.principal;
    let event = match s.events.get(who, &id).await {
        Ok(e) => e,
        Err(ServiceError::NotFound { .. }) => {
            page.error = format!("No event {asked} in this workspace.");
            return Ok((StatusCode::NOT_FOUND, html(&page)).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let now = time_fmt::now();
    let deliveries = s.deliveries.for_event(who, &event.id, 200).await?;
    page.deliveries = deliveries
        .iter()
        .map(|d| {
            let (label, badge) = status(d.status);
            Row {
                href: viewer.path(&format!("/deliveries/{}", d.id)),
                id: d.id.to_string(),
                webhook: d.webhook_id.to_string(),
                created_ago: ago(d.created_at, now),
                status: label,
                badge,
                attempts: d.attempts,
                last: d.last_status_code.map(|c| c.to_string()).or_else(|| d.last_error.clone()).unwrap_or_default(),
            }
        })
        .collect();
    page.event = Some(EventView {
        id: event.id.to_string(),
        event_type: event.event_type.clone(),
        created: when(event.created_at),
        owner: event.owner.clone().unwrap_or_default(),
        producer_id: event.producer_id.clone().unwrap_or_default(),
        data: pretty_json(&event.data),
        fanout: event.deliveries,
    });
    Ok(html(&page).into_response())
}
