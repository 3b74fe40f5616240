//! Row structs as SQLite returns them, and their conversion into domain types.

use std::collections::BTreeMap;

use hookd_core::crypto::Sealed;
use hookd_core::domain::{ApiKey, Scope, Webhook, WebhookSecrets, Workspace};
use hookd_core::id::{ApiKeyId, WebhookId, WorkspaceId};
use hookd_core::store::StoreError;
use time::OffsetDateTime;

/// A stored value that does not parse: a bug or a hand-edited database.
#[derive(Debug, thiserror::Error)]
#[error("corrupt {column} in a stored row: {detail}")]
pub struct CorruptRow {
    column: &'static str,
    detail: String,
}

fn corrupt(column: &'static str, detail: impl ToString) -> StoreError {
    StoreError::other(CorruptRow {
        column,
        detail: detail.to_string(),
    })
}

pub fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_micros(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(v as i128 * 1_000)
        .map_err(|e| corrupt("timestamp", e))
}

fn opt_micros(v: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    v.map(from_micros).transpose()
}

#[derive(sqlx::FromRow)]
pub struct WorkspaceRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;
    fn try_from(r: WorkspaceRow) -> Result<Self, StoreError> {
        Ok(Workspace {
            id: WorkspaceId::parse(&r.id).map_err(|e| corrupt("workspaces.id", e))?,
            name: r.name,
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
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKey {
            id: ApiKeyId::parse(&r.id).map_err(|e| corrupt("api_keys.id", e))?,
            workspace_id: WorkspaceId::parse(&r.workspace_id)
                .map_err(|e| corrupt("api_keys.workspace_id", e))?,
            name: r.name,
            prefix: r.prefix,
            secret_hash: r
                .secret_hash
                .as_slice()
                .try_into()
                .map_err(|_| corrupt("api_keys.secret_hash", "length"))?,
            scopes: serde_json::from_str::<Vec<Scope>>(&r.scopes)
                .map_err(|e| corrupt("api_keys.scopes", e))?,
            owner_scoped: r.owner_scoped,
            created_at: from_micros(r.created_at)?,
            last_used_at: opt_micros(r.last_used_at)?,
            revoked_at: opt_micros(r.revoked_at)?,
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
    url: String,
    events: String,
    description: Option<String>,
    enabled: bool,
    disabled_reason: Option<String>,
    failure_count: i64,
    delivery_attempts: i64,
    last_delivered_at: Option<i64>,
    metadata: String,
    secret: Vec<u8>,
    previous_secret: Option<Vec<u8>>,
    previous_secret_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            id: WebhookId::parse(&r.id).map_err(|e| corrupt("webhooks.id", e))?,
            workspace_id: WorkspaceId::parse(&r.workspace_id)
                .map_err(|e| corrupt("webhooks.workspace_id", e))?,
            created_by: r
                .created_by
                .map(|k| ApiKeyId::parse(&k).map_err(|e| corrupt("webhooks.created_by", e)))
                .transpose()?,
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
            secrets: WebhookSecrets {
                current: Sealed(r.secret),
                previous: r.previous_secret.map(Sealed),
                previous_expires_at: opt_micros(r.previous_secret_expires_at)?,
            },
            created_at: from_micros(r.created_at)?,
            updated_at: from_micros(r.updated_at)?,
        })
    }
}

pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}
