//! The webhook list, creating a webhook, and a webhook's own page with its actions.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hookd_core::domain::{DeliveryOrdering, FieldErrors, NewWebhook, Scope, SigningScheme, Webhook, WebhookChanges};
use hookd_core::id::WebhookId;
use hookd_core::service::ServiceError;
use hookd_core::time_fmt;
use time::Duration;

use super::deliveries::{delivery_log, DeliveryLog};
use super::{query, see_other};
use crate::charts;
use crate::error::WebError;
use crate::session::{Form, Submitted, Viewer};
use crate::views::{ago, field_errors, html, p95, rate, Chrome, Section};
use crate::WebState;

/// Webhooks per page of the list.
const PAGE: u32 = 50;

pub(crate) fn parse_id(id: &str) -> Result<WebhookId, WebError> {
    WebhookId::parse(id).map_err(|_| WebError::NotFound("webhook"))
}

/// A webhook as the list shows it.
pub struct Row {
    pub href: String,
    pub url: String,
    pub description: String,
    pub owner: String,
    pub enabled: bool,
    pub disabled_reason: String,
    pub success: String,
    pub p95: String,
    pub attempts: i64,
    pub last: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    next: Option<String>,
    can_write: bool,
    notice: Option<&'static str>,
}

pub async fn list(State(state): State<WebState>, viewer: Viewer, RawQuery(q): RawQuery) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksRead)?;
    let q = query(q.as_deref());
    let s = state.services();
    let who = &viewer.active.principal;
    let page = s.webhooks.list(who, PAGE, q.get("cursor")).await?;
    let now = time_fmt::now();
    let ids: Vec<WebhookId> = page.items.iter().map(|w| w.id.clone()).collect();
    let health = s.web.health(&ids, now - Duration::DAY).await?;
    let rows = page
        .items
        .iter()
        .map(|w| {
            let h = health.of(&w.id);
            Row {
                href: viewer.path(&format!("/webhooks/{}", w.id)),
                url: w.url.clone(),
                description: w.description.clone().unwrap_or_default(),
                owner: w.owner.clone().unwrap_or_default(),
                enabled: w.enabled,
                disabled_reason: w.disabled_reason.clone().unwrap_or_default(),
                success: rate(&h),
                p95: p95(&h),
                attempts: h.attempts(),
                last: w.last_delivered_at.map(|t| ago(t, now)).unwrap_or_else(|| "never".into()),
            }
        })
        .collect();
    let notice = match q.get("notice") {
        Some("deleted") => Some("Webhook deleted."),
        Some("switched") => Some("Workspace switched."),
        _ => None,
    };
    let page = ListPage {
        chrome: Chrome::of(&viewer, &state, "Webhooks", Section::Webhooks).await,
        rows,
        next: page.next_cursor.map(|c| viewer.path(&format!("/webhooks?cursor={c}"))),
        can_write: viewer.allows(Scope::WebhooksWrite),
        notice,
    };
    Ok(html(&page).into_response())
}

/// An event type checkbox.
pub struct EventChoice {
    pub name: String,
    pub checked: bool,
    pub id: String,
}

/// The form's fields and their errors, shared by "New webhook" and the webhook's page.
#[derive(Default)]
pub struct WebhookForm {
    pub url: String,
    pub description: String,
    pub owner: String,
    pub events: Vec<EventChoice>,
    /// Free-form event types, when the catalog is open.
    pub other_events: String,
    pub open_catalog: bool,
    pub errors: HashMap<String, String>,
}

impl WebhookForm {
    fn new(state: &WebState, chosen: &[String]) -> Self {
        let catalog = state.services().webhooks.catalog();
        let mut names: Vec<String> = catalog.types().iter().map(|t| t.name.clone()).collect();
        for c in chosen {
            if !names.contains(c) && c != "*" && !catalog.is_open() {
                names.push(c.clone());
            }
        }
        names.push("*".into());
        let events = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| EventChoice { checked: chosen.contains(&name), id: format!("event-{i}"), name })
            .collect();
        let other_events = if catalog.is_open() {
            chosen.iter().filter(|c| *c != "*").cloned().collect::<Vec<_>>().join(", ")
        } else {
            String::new()
        };
        Self { events, other_events, open_catalog: catalog.is_open(), ..Self::default() }
    }

    /// The events a submitted form chose.
    fn chosen(form: &Form) -> Vec<String> {
        let mut events = form.all("events");
        if let Some(other) = form.get("other_events") {
            events.extend(other.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
        }
        events.dedup();
        events
    }

    fn with_errors(mut self, errors: &FieldErrors) -> Self {
        self.errors = field_errors(errors);
        self
    }

    pub fn error(&self, field: &str) -> &str {
        self.errors.get(field).map(String::as_str).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "webhook_new.html")]
struct NewPage {
    chrome: Chrome,
    form: WebhookForm,
    can_set_owner: bool,
}

pub async fn new(State(state): State<WebState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let page = NewPage {
        chrome: Chrome::of(&viewer, &state, "New webhook", Section::Webhooks).await,
        form: WebhookForm::new(&state, &[]),
        can_set_owner: viewer.active.principal.owner().is_none(),
    };
    Ok(html(&page).into_response())
}

#[derive(Template)]
#[template(path = "webhook_created.html")]
struct CreatedPage {
    chrome: Chrome,
    href: String,
    id: String,
    url: String,
    secret: String,
    warnings: Vec<String>,
}

pub async fn create(
    State(state): State<WebState>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let events = WebhookForm::chosen(&form);
    let req = NewWebhook {
        owner: form.text("owner").filter(|_| viewer.active.principal.owner().is_none()),
        url: Some(form.text("url").unwrap_or_default()),
        events: Some(events.clone()),
        description: form.text("description"),
        signing: form.text("signing").as_deref().and_then(SigningScheme::parse),
        ordering: form.text("ordering").as_deref().and_then(DeliveryOrdering::parse),
        ..Default::default()
    };
    match state.services().webhooks.create(&viewer.active.principal, req).await {
        Ok(created) => {
            let w = created.webhook;
            let page = CreatedPage {
                chrome: Chrome::of(&viewer, &state, "Webhook created", Section::Webhooks).await,
                href: viewer.path(&format!("/webhooks/{}", w.id)),
                id: w.id.to_string(),
                url: w.url,
                secret: created.signing_secret,
                warnings: created.warnings,
            };
            Ok((StatusCode::CREATED, html(&page)).into_response())
        }
        Err(ServiceError::Validation(errors)) => {
            let mut f = WebhookForm::new(&state, &events).with_errors(&errors);
            f.url = form.text("url").unwrap_or_default();
            f.description = form.text("description").unwrap_or_default();
            f.owner = form.text("owner").unwrap_or_default();
            let page = NewPage {
                chrome: Chrome::of(&viewer, &state, "New webhook", Section::Webhooks).await,
                form: f,
                can_set_owner: viewer.active.principal.owner().is_none(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// A webhook's details as its page shows them.
pub struct Details {
    pub id: String,
    pub href: String,
    pub url: String,
    pub description: String,
    pub owner: String,
    pub enabled: bool,
    pub disabled_reason: String,
    pub created: String,
    pub last: String,
    pub failing: i64,
    pub events: String,
    pub signing: &'static str,
    pub public_key: String,
    /// Custom header names, comma-separated.
    pub headers: String,
    pub filter: String,
    /// `per_key`, or empty for none.
    pub ordering: &'static str,
    /// The channels it listens to, comma-separated; empty for all.
    pub channels: String,
    /// How it receives deliveries, when not hookd's standard way.
    pub protocol: &'static str,
    pub send_traceparent: bool,
}

impl Details {
    fn of(w: &Webhook, viewer: &Viewer) -> Self {
        let now = time_fmt::now();
        Self {
            id: w.id.to_string(),
            href: viewer.path(&format!("/webhooks/{}", w.id)),
            url: w.url.clone(),
            description: w.description.clone().unwrap_or_default(),
            owner: w.owner.clone().unwrap_or_default(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone().unwrap_or_default(),
            created: crate::views::when(w.created_at),
            last: w.last_delivered_at.map(|t| ago(t, now)).unwrap_or_else(|| "never".into()),
            failing: w.failure_count,
            events: w.events.join(", "),
            signing: w.signing.as_str(),
            public_key: w.secrets.public_key.clone().unwrap_or_default(),
            headers: w.headers.as_ref().map(|h| h.names.join(", ")).unwrap_or_default(),
            filter: w.filter.as_ref().map(|f| f.source().to_string()).unwrap_or_default(),
            ordering: match w.ordering {
                DeliveryOrdering::None => "",
                DeliveryOrdering::PerKey => "per key: one delivery of an ordering key at a time, in publish order",
            },
            channels: w.channels.join(", "),
            protocol: match w.protocol {
                hookd_core::domain::WebhookProtocol::Standard => "",
                hookd_core::domain::WebhookProtocol::Svix => {
                    "Svix: the payload alone, with svix-id, svix-timestamp and svix-signature"
                }
            },
            send_traceparent: w.send_traceparent,
        }
    }
}

/// The figures above the charts.
pub struct Summary {
    /// Attempts it may have in flight on this node now.
    pub concurrency: String,
    pub attempts: i64,
    pub success: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct ShowPage {
    chrome: Chrome,
    w: Details,
    form: WebhookForm,
    can_write: bool,
    secret_retrieval: bool,
    range_7d: bool,
    summary: Summary,
    volume_chart: String,
    latency_chart: String,
    log: DeliveryLog,
    notice: String,
    secret: Option<String>,
    replay_since: String,
}

pub(crate) async fn show_page(
    state: &WebState,
    viewer: &Viewer,
    w: &Webhook,
    q: &Form,
    form: Option<WebhookForm>,
    notice: String,
    secret: Option<String>,
) -> Result<Response, WebError> {
    let now = time_fmt::now();
    let range_7d = q.get("range") == Some("7d");
    let since = now - if range_7d { Duration::days(7) } else { Duration::DAY } + Duration::HOUR;
    let health = state.services().web.health(std::slice::from_ref(&w.id), since).await?;
    let hourly = health.hourly(&w.id, since, now);
    let total = health.of(&w.id);
    let q_ms = |q: f64| total.latency_quantile(q).map(crate::views::millis).unwrap_or_else(|| "—".into());
    let summary = Summary {
        concurrency: state.services().events.concurrency_limit(&w.id).map_or_else(|| "—".into(), |n| n.to_string()),
        attempts: total.attempts(),
        success: rate(&total),
        p50: q_ms(0.5),
        p95: q_ms(0.95),
        p99: q_ms(0.99),
    };
    let status = if form.as_ref().is_some_and(|f| !f.errors.is_empty()) {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ShowPage {
        chrome: Chrome::of(viewer, state, w.url.clone(), Section::Webhooks).await,
        w: Details::of(w, viewer),
        form: form.unwrap_or_else(|| {
            let mut f = WebhookForm::new(state, &w.events);
            f.description = w.description.clone().unwrap_or_default();
            f
        }),
        can_write: viewer.allows(Scope::WebhooksWrite),
        secret_retrieval: state.services().webhooks.secret_retrieval(),
        range_7d,
        summary,
        volume_chart: charts::volume(&hourly),
        latency_chart: charts::latency(&hourly),
        log: delivery_log(state, viewer, w, q).await?,
        notice,
        secret,
        replay_since: {
            let t = now - Duration::DAY;
            format!("{:04}-{:02}-{:02}T{:02}:{:02}", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        },
    };
    Ok((status, html(&page)).into_response())
}

pub async fn show(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksRead)?;
    let w = state.services().webhooks.get(&viewer.active.principal, &parse_id(&id)?).await?;
    let q = query(q.as_deref());
    let notice = match q.get("notice") {
        Some("saved") => "Changes saved.".to_owned(),
        Some("enabled") => {
            "Webhook enabled: deliveries resume; those held while it was disabled are cancelled.".to_owned()
        }
        Some("enabled_delivering") => {
            "Webhook enabled: the deliveries held while it was disabled go out first, oldest first.".to_owned()
        }
        Some("disabled") => "Webhook disabled: its events are held (not sent) until you enable it again.".to_owned(),
        Some("replayed") => {
            let n = q.get("count").and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            let what = if q.get("only_failed").is_some() { "failed" } else { "finished" };
            format!("Replaying {n} {what} deliveries.")
        }
        _ => String::new(),
    };
    show_page(&state, &viewer, &w, &q, None, notice, None).await
}

pub async fn save(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = parse_id(&id)?;
    let events = WebhookForm::chosen(&form);
    let changes = WebhookChanges {
        events: Some(events.clone()),
        description: Some(form.text("description")),
        ..WebhookChanges::default()
    };
    let s = state.services();
    match s.webhooks.update(&viewer.active.principal, &id, changes).await {
        Ok(_) => Ok(see_other(&viewer.path(&format!("/webhooks/{id}?notice=saved")))),
        Err(ServiceError::Validation(errors)) => {
            let w = s.webhooks.get(&viewer.active.principal, &id).await?;
            let mut f = WebhookForm::new(&state, &events).with_errors(&errors);
            f.description = form.text("description").unwrap_or_default();
            show_page(&state, &viewer, &w, &Form::default(), Some(f), String::new(), None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn set_enabled(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, form }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = parse_id(&id)?;
    let enabled = form.get("enabled") == Some("true");
    // Enabling says what becomes of the deliveries held while it was disabled.
    let deliver_held = enabled.then(|| form.get("deliver_held") == Some("true"));
    let changes = WebhookChanges { enabled: Some(enabled), deliver_held, ..WebhookChanges::default() };
    state.services().webhooks.update(&viewer.active.principal, &id, changes).await?;
    let notice = match deliver_held {
        Some(true) => "enabled_delivering",
        Some(false) => "enabled",
        None => "disabled",
    };
    Ok(see_other(&viewer.path(&format!("/webhooks/{id}?notice={notice}"))))
}

#[derive(Template)]
#[template(path = "webhook_delete.html")]
struct DeletePage {
    chrome: Chrome,
    w: Details,
}

pub async fn confirm_delete(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let w = state.services().webhooks.get(&viewer.active.principal, &parse_id(&id)?).await?;
    let page = DeletePage {
        chrome: Chrome::of(&viewer, &state, "Delete webhook", Section::Webhooks).await,
        w: Details::of(&w, &viewer),
    };
    Ok(html(&page).into_response())
}

pub async fn delete(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    state.services().webhooks.delete(&viewer.active.principal, &parse_id(&id)?).await?;
    Ok(see_other(&viewer.path("/webhooks?notice=deleted")))
}

/// Shows the signing secret on the webhook's page, in the answer to a POST: never in a
/// URL, and only with the session's CSRF token.
pub async fn reveal_secret(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = parse_id(&id)?;
    let s = state.services();
    let secret = s.webhooks.secret(&viewer.active.principal, &id).await?;
    let w = s.webhooks.get(&viewer.active.principal, &id).await?;
    show_page(&state, &viewer, &w, &Form::default(), None, "Signing secret shown below.".into(), Some(secret)).await
}

pub async fn rotate_secret(
    State(state): State<WebState>,

    Path(id): Path<String>,
    Submitted { viewer, .. }: Submitted,
) -> Result<Response, WebError> {
    viewer.require(Scope::WebhooksWrite)?;
    let id = parse_id(&id)?;
    let (w, secret) = state.services().webhooks.rotate_secret(&viewer.active.principal, &id, None).await?;
    let notice = "Secret rotated. The previous secret keeps signing alongside the new one during the overlap, so \
                  receivers can switch without missing a delivery. The new secret is shown once, below.";
    show_page(&state, &viewer, &w, &Form::default(), None, notice.into(), Some(secret)).await
}
