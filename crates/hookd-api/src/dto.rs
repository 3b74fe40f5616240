//! Request and response bodies of the API, and their OpenAPI schemas.

use std::collections::BTreeMap;

use hookd_core::domain::{EventType, FieldErrors, NewWebhook, Webhook, WebhookChanges};
use hookd_core::time_fmt;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A webhook endpoint subscription. The signing secret itself never appears here.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    #[schema(example = "wh_01968a3e-7f2b-7c4d-9a8b-1c2d3e4f5a6b")]
    pub id: String,
    #[schema(example = "https://example.com/webhooks/xqr")]
    pub url: String,
    #[schema(example = json!(["link.created", "link.scanned"]))]
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the webhook is disabled: `manual`, or set by the delivery engine.
    pub disabled_reason: Option<String>,
    /// Consecutive failed delivery attempts since the last success.
    pub failure_count: i64,
    pub secret_configured: bool,
    #[schema(format = DateTime)]
    pub last_delivered_at: Option<String>,
    /// Every delivery attempt made to this webhook.
    pub delivery_attempts: i64,
    pub metadata: BTreeMap<String, String>,
    #[schema(format = DateTime, example = "2026-03-21T14:30:00Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2026-03-21T14:30:00Z")]
    pub updated_at: String,
}

impl From<&Webhook> for WebhookResponse {
    fn from(w: &Webhook) -> Self {
        Self {
            id: w.id.to_string(),
            url: w.url.clone(),
            events: w.events.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
            disabled_reason: w.disabled_reason.clone(),
            failure_count: w.failure_count,
            secret_configured: true,
            last_delivered_at: w.last_delivered_at.map(time_fmt::format),
            delivery_attempts: w.delivery_attempts,
            metadata: w.metadata.clone(),
            created_at: time_fmt::format(w.created_at),
            updated_at: time_fmt::format(w.updated_at),
        }
    }
}

/// A webhook with its signing secret: the create and rotate responses, the only times
/// the secret is shown (unless the deployment enables secret retrieval).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretResponse {
    #[serde(flatten)]
    pub webhook: WebhookResponse,
    /// Store it now: it is not shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub signing_secret: String,
    /// After a rotation: until when the previous secret also signs deliveries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed. `https://` (plain `http://` only where the
    /// deployment allows it), at most 2,048 characters, no user-info.
    #[schema(required = true, example = "https://example.com/webhooks/xqr")]
    pub url: Option<String>,
    /// Event types: catalog names, `*` for all, or prefix wildcards such as `link.*`.
    #[schema(required = true, example = json!(["link.created", "link.scanned"]))]
    pub events: Option<Vec<String>>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// Your own signing secret (16–255 characters); generated when omitted.
    pub secret: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Up to 50 string keys (≤ 40 characters) with string values (≤ 500 characters).
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<CreateWebhookRequest> for NewWebhook {
    fn from(r: CreateWebhookRequest) -> Self {
        NewWebhook {
            url: r.url,
            events: r.events,
            description: r.description,
            secret: r.secret,
            enabled: r.enabled,
            metadata: r.metadata,
        }
    }
}

/// Absent leaves a field alone; `description: null` clears the description.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Option<BTreeMap<String, String>>>,
}

/// Distinguishes a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl UpdateWebhookRequest {
    pub fn into_changes(self) -> Result<WebhookChanges, FieldErrors> {
        let mut errs = FieldErrors::default();
        let mut non_null = |name: &str, present: bool| {
            if present {
                errs.push(name, "must not be null");
            }
        };
        non_null("url", matches!(self.url, Some(None)));
        non_null("events", matches!(self.events, Some(None)));
        non_null("enabled", matches!(self.enabled, Some(None)));
        non_null("metadata", matches!(self.metadata, Some(None)));
        errs.into_result()?;
        Ok(WebhookChanges {
            url: self.url.flatten(),
            events: self.events.flatten(),
            description: self.description,
            enabled: self.enabled.flatten(),
            metadata: self.metadata.flatten(),
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Your own new secret (16–255 characters); generated when omitted.
    pub secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretResponse {
    pub signing_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedResponse {
    pub id: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeResponse {
    #[schema(example = "link.created")]
    pub name: String,
    #[schema(example = "A new short link was created.")]
    pub description: String,
}

impl From<&EventType> for EventTypeResponse {
    fn from(t: &EventType) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Cursor pagination of newest-first lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1–100, default 20.
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

impl ListParams {
    pub fn limit(&self) -> Result<u32, FieldErrors> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
            Some(_) => Err(FieldErrors::single(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }
}
