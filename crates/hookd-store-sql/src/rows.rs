//! Rows as the SQL stores (SQLite and PostgreSQL) return them, and their conversion into
//! domain types. Both stores keep timestamps as integer microseconds and ids as text, so
//! one set of row types serves both.

use std::collections::BTreeMap;

use hookd_core::crypto::Sealed;
use hookd_core::domain::{
    ApiKey, Attempt, Delivery, DeliveryOrdering, DeliveryStatus, Event, Filter, PortalLink, Scope, SealedHeaders,
    SigningScheme, StatRow, WebSession, Webhook, WebhookProtocol, WebhookSecrets, Workspace,
};
use hookd_core::id::{ApiKeyId, DeliveryId, EventId, WebhookId, WorkspaceId};
use hookd_core::store::StoreError;
use hookd_core::trace::TraceParent;
use time::OffsetDateTime;

/// A stored value that does not parse: a bug or a hand-edited database.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {column} in a stored row: {detail}")]
pub struct CorruptRow {
    column: &'static str,
    detail: String,
}

pub(crate) fn corrupt(column: &'static str, detail: impl ToString) -> StoreError {
    StoreError::other(CorruptRow { column, detail: detail.to_string() })
}

pub use hookd_core::time_fmt::micros;

pub fn from_micros(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1_000).map_err(|e| corrupt("timestamp", e))
}

pub(crate) fn opt_micros(v: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    v.map(from_micros).transpose()
}

#[derive(sqlx::FromRow)]
pub struct WorkspaceRow {
    id: String,
    name: String,
    external_id: Option<String>,
    metadata: String,
    created_at: i64,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;
    fn try_from(r: WorkspaceRow) -> Result<Self, StoreError> {
        Ok(Workspace {
            id: WorkspaceId::parse(&r.id).map_err(|e| corrupt("workspaces.id", e))?,
            name: r.name,
            external_id: r.external_id,
            metadata: serde_json::from_str::<BTreeMap<String, String>>(&r.metadata)
                .map_err(|e| corrupt("workspaces.metadata", e))?,
            created_at: from_micros(r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    id: String,
    workspace_id: String,
    name: String,
    prefix: String,
    secret_hash: Vec<u8>,
    scopes: String,
    owner_scoped: bool,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    expires_at: Option<i64>,
    owner: Option<String>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::parse(&r.id).map_err(|e| corrupt("api_keys.id", e))?,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("api_keys.workspace_id", e))?,
            name: r.name,
            prefix: r.prefix,
            secret_hash: r.secret_hash.as_slice().try_into().map_err(|_| corrupt("api_keys.secret_hash", "length"))?,
            scopes: serde_json::from_str::<Vec<Scope>>(&r.scopes).map_err(|e| corrupt("api_keys.scopes", e))?,
            owner_scoped: r.owner_scoped,
            created_at: from_micros(r.created_at)?,
            last_used_at: opt_micros(r.last_used_at)?,
            revoked_at: opt_micros(r.revoked_at)?,
            expires_at: opt_micros(r.expires_at)?,
            owner: r.owner,
        })
    }
}

pub fn scopes_json(scopes: &[Scope]) -> String {
    serde_json::to_string(scopes).expect("scopes serialise")
}

#[derive(sqlx::FromRow)]
pub struct WebhookRow {
    id: String,
    workspace_id: String,
    created_by: Option<String>,
    owner: Option<String>,
    url: String,
    events: String,
    description: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    failure_count: i64,
    delivery_attempts: i64,
    last_delivered_at: Option<i64>,
    metadata: String,
    rate_limit: Option<i64>,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    previous_secret_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    header_names: Option<String>,
    headers: Option<Vec<u8>>,
    payload_filter: Option<String>,
    signing: String,
    public_key: Option<String>,
    ordering: String,
    channels: Option<String>,
    uid: Option<String>,
    protocol: String,
    send_traceparent: bool,
    number: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            id: WebhookId::parse(&r.id).map_err(|e| corrupt("webhooks.id", e))?,
            number: r.number,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("webhooks.workspace_id", e))?,
            created_by: r
                .created_by
                .map(|k| ApiKeyId::parse(&k).map_err(|e| corrupt("webhooks.created_by", e)))
                .transpose()?,
            owner: r.owner,
            url: r.url,
            events: serde_json::from_str(&r.events).map_err(|e| corrupt("webhooks.events", e))?,
            description: r.description,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            failure_count: r.failure_count,
            delivery_attempts: r.delivery_attempts,
            last_delivered_at: opt_micros(r.last_delivered_at)?,
            metadata: serde_json::from_str::<BTreeMap<String, String>>(&r.metadata)
                .map_err(|e| corrupt("webhooks.metadata", e))?,
            rate_limit: r.rate_limit.and_then(|v| u32::try_from(v).ok()),
            secrets: WebhookSecrets {
                current: Sealed(r.secret),
                previous: r.previous_secret.map(Sealed),
                previous_expires_at: opt_micros(r.previous_secret_expires_at)?,
                public_key: r.public_key,
            },
            signing: SigningScheme::parse(&r.signing).ok_or_else(|| corrupt("webhooks.signing", &r.signing))?,
            ordering: DeliveryOrdering::parse(&r.ordering).ok_or_else(|| corrupt("webhooks.ordering", &r.ordering))?,
            channels: channels_from(r.channels.as_deref(), "webhooks.channels")?,
            uid: r.uid,
            send_traceparent: r.send_traceparent,
            protocol: WebhookProtocol::parse(&r.protocol).ok_or_else(|| corrupt("webhooks.protocol", &r.protocol))?,
            headers: match (r.header_names, r.headers) {
                (Some(names), Some(sealed)) => Some(SealedHeaders {
                    names: serde_json::from_str(&names).map_err(|e| corrupt("webhooks.header_names", e))?,
                    sealed: Sealed(sealed),
                }),
                _ => None,
            },
            filter: r
                .payload_filter
                .map(|f| {
                    let v = serde_json::from_str(&f).map_err(|e| corrupt("webhooks.payload_filter", e))?;
                    Filter::parse(&v).map_err(|e| corrupt("webhooks.payload_filter", e))
                })
                .transpose()?,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
        })
    }
}

/// `len` letters that do not compress (a database that compresses large values must
/// still find room for them): a write probe's payload.
pub fn incompressible(len: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ (OffsetDateTime::now_utc().unix_timestamp_nanos() as u64);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}

/// Channels as stored: a JSON array, NULL for none.
pub fn channels_json(channels: &[String]) -> Option<String> {
    (!channels.is_empty()).then(|| json(&channels))
}

fn channels_from(v: Option<&str>, column: &'static str) -> Result<Vec<String>, StoreError> {
    v.map(|s| serde_json::from_str(s).map_err(|e| corrupt(column, e))).transpose().map(Option::unwrap_or_default)
}

pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

#[derive(sqlx::FromRow)]
pub struct EventRow {
    id: String,
    workspace_id: String,
    event_type: String,
    producer_id: Option<String>,
    data: String,
    occurred_at: Option<i64>,
    created_at: i64,
    deliveries: i64,
    owner: Option<String>,
    ordering_key: Option<String>,
    channels: Option<String>,
    tags: Option<String>,
    erased_at: Option<i64>,
    trace_parent: Option<String>,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Event {
            id: EventId::parse(&r.id).map_err(|e| corrupt("events.id", e))?,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("events.workspace_id", e))?,
            event_type: r.event_type,
            producer_id: r.producer_id,
            data: r.data,
            occurred_at: opt_micros(r.occurred_at)?,
            created_at: from_micros(r.created_at)?,
            deliveries: r.deliveries,
            owner: r.owner,
            ordering_key: r.ordering_key,
            channels: channels_from(r.channels.as_deref(), "events.channels")?,
            tags: channels_from(r.tags.as_deref(), "events.tags")?,
            erased_at: opt_micros(r.erased_at)?,
            // Checked when it was stored; a value that no longer parses starts no trace.
            trace_parent: r.trace_parent.as_deref().and_then(TraceParent::parse),
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    id: String,
    workspace_id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    status: String,
    attempts: i64,
    schedule_base: i64,
    next_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
    ordering_key: Option<String>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            id: DeliveryId::parse(&r.id).map_err(|e| corrupt("deliveries.id", e))?,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("deliveries.workspace_id", e))?,
            webhook_id: WebhookId::parse(&r.webhook_id).map_err(|e| corrupt("deliveries.webhook_id", e))?,
            event_id: EventId::parse(&r.event_id).map_err(|e| corrupt("deliveries.event_id", e))?,
            event_type: r.event_type,
            status: DeliveryStatus::parse(&r.status).ok_or_else(|| corrupt("deliveries.status", &r.status))?,
            attempts: r.attempts as i32,
            schedule_base: r.schedule_base as i32,
            next_attempt_at: opt_micros(r.next_attempt_at)?,
            last_status_code: r.last_status_code.map(|c| c as i32),
            last_error: r.last_error,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
            ordering_key: r.ordering_key,
        })
    }
}

/// A delivery joined with its event, as claims return them.
#[derive(sqlx::FromRow)]
pub struct ClaimRow {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    e_workspace_id: String,
    e_producer_id: Option<String>,
    e_data: String,
    e_occurred_at: Option<i64>,
    e_created_at: i64,
    e_deliveries: i64,
    e_owner: Option<String>,
    e_ordering_key: Option<String>,
    e_channels: Option<String>,
    e_trace_parent: Option<String>,
}

impl TryFrom<ClaimRow> for (Delivery, Event) {
    type Error = StoreError;
    fn try_from(r: ClaimRow) -> Result<Self, StoreError> {
        let event = EventRow {
            id: r.delivery.event_id.clone(),
            workspace_id: r.e_workspace_id,
            event_type: r.delivery.event_type.clone(),
            producer_id: r.e_producer_id,
            data: r.e_data,
            occurred_at: r.e_occurred_at,
            created_at: r.e_created_at,
            deliveries: r.e_deliveries,
            owner: r.e_owner,
            ordering_key: r.e_ordering_key,
            channels: r.e_channels,
            // Tags find events; a delivery has no use for them.
            tags: None,
            erased_at: None,
            trace_parent: r.e_trace_parent,
        };
        Ok((Delivery::try_from(r.delivery)?, Event::try_from(event)?))
    }
}

#[derive(sqlx::FromRow)]
pub struct AttemptRow {
    delivery_id: String,
    attempt: i64,
    started_at: i64,
    duration_ms: i64,
    status_code: Option<i64>,
    response: Option<String>,
    error_kind: Option<String>,
    error_message: Option<String>,
    request_headers: Option<String>,
    response_headers: Option<String>,
}

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;
    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        Ok(Attempt {
            delivery_id: DeliveryId::parse(&r.delivery_id).map_err(|e| corrupt("attempts.delivery_id", e))?,
            attempt: r.attempt as i32,
            started_at: from_micros(r.started_at)?,
            duration_ms: r.duration_ms,
            status_code: r.status_code.map(|c| c as i32),
            response: r.response,
            error_kind: r.error_kind,
            error_message: r.error_message,
            request_headers: headers_from(r.request_headers.as_deref(), "attempts.request_headers")?,
            response_headers: headers_from(r.response_headers.as_deref(), "attempts.response_headers")?,
        })
    }
}

/// Headers as stored: a JSON array of `[name, value]` pairs, in order (a name may repeat).
pub fn headers_json(headers: &[(String, String)]) -> Option<String> {
    (!headers.is_empty()).then(|| serde_json::to_string(headers).expect("headers serialise"))
}

fn headers_from(v: Option<&str>, column: &'static str) -> Result<Vec<(String, String)>, StoreError> {
    v.map(|s| serde_json::from_str(s).map_err(|e| corrupt(column, e))).transpose().map(Option::unwrap_or_default)
}

fn hash32(v: Vec<u8>, column: &'static str) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|v: Vec<u8>| corrupt(column, format!("{} bytes, not 32", v.len())))
}

#[derive(sqlx::FromRow)]
pub struct WebSessionRow {
    id_hash: Vec<u8>,
    workspace_id: String,
    api_key_id: Option<String>,
    owner: Option<String>,
    csrf_token: String,
    acting_workspace: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl TryFrom<WebSessionRow> for WebSession {
    type Error = StoreError;
    fn try_from(r: WebSessionRow) -> Result<Self, StoreError> {
        Ok(WebSession {
            id_hash: hash32(r.id_hash, "web_sessions.id_hash")?,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("web_sessions.workspace_id", e))?,
            api_key_id: r
                .api_key_id
                .map(|k| ApiKeyId::parse(&k).map_err(|e| corrupt("web_sessions.api_key_id", e)))
                .transpose()?,
            owner: r.owner,
            csrf_token: r.csrf_token,
            acting_workspace: r
                .acting_workspace
                .map(|w| WorkspaceId::parse(&w).map_err(|e| corrupt("web_sessions.acting_workspace", e)))
                .transpose()?,
            created_at: from_micros(r.created_at)?,
            last_seen_at: from_micros(r.last_seen_at)?,
            expires_at: from_micros(r.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PortalLinkRow {
    token_hash: Vec<u8>,
    workspace_id: String,
    owner: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<PortalLinkRow> for PortalLink {
    type Error = StoreError;
    fn try_from(r: PortalLinkRow) -> Result<Self, StoreError> {
        Ok(PortalLink {
            token_hash: hash32(r.token_hash, "portal_links.token_hash")?,
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("portal_links.workspace_id", e))?,
            owner: r.owner,
            created_at: from_micros(r.created_at)?,
            expires_at: from_micros(r.expires_at)?,
            used_at: opt_micros(r.used_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct StatRowRow {
    webhook_id: String,
    hour: i64,
    bucket: i64,
    succeeded: i64,
    failed: i64,
}

impl TryFrom<StatRowRow> for StatRow {
    type Error = StoreError;
    fn try_from(r: StatRowRow) -> Result<Self, StoreError> {
        Ok(StatRow {
            webhook_id: WebhookId::parse(&r.webhook_id).map_err(|e| corrupt("webhook_stats.webhook_id", e))?,
            hour: from_micros(r.hour)?,
            bucket: usize::try_from(r.bucket).map_err(|e| corrupt("webhook_stats.bucket", e))?,
            succeeded: r.succeeded,
            failed: r.failed,
        })
    }
}

/// Reason recorded on a webhook disabled for failing continuously.
pub const DISABLED_FAILING: &str = "failing";

#[derive(sqlx::FromRow)]
pub struct RecordRow {
    workspace_id: String,
    kind: String,
    id: String,
    uid: Option<String>,
    body: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RecordRow> for hookd_core::domain::Record {
    type Error = StoreError;
    fn try_from(r: RecordRow) -> Result<Self, StoreError> {
        Ok(hookd_core::domain::Record {
            workspace_id: WorkspaceId::parse(&r.workspace_id).map_err(|e| corrupt("records.workspace_id", e))?,
            kind: hookd_core::domain::RecordKind::parse(&r.kind).ok_or_else(|| corrupt("records.kind", &r.kind))?,
            id: r.id,
            uid: r.uid,
            body: r.body,
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
        })
    }
}
