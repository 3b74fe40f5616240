//! Domain types and their validation rules. Validation collects every problem with a
//! request into [`FieldErrors`], each naming the field and the rule, so a client can fix
//! them all in one round trip.

mod api_key;
mod channels;
mod erasure;
mod event;
mod event_type;
mod filter;
mod headers;
mod operations;
mod record;
mod web;
mod webhook;
mod workspace;

pub use api_key::{
    importable, token_hash, validate_key_prefix, ApiKey, ApiKeyToken, GeneratedKey, Scope, TokenError, IMPORTED_KEY_LEN,
};
pub use channels::{channels_admit, check_channels, MAX_CHANNEL_LEN, MAX_EVENT_CHANNELS, MAX_WEBHOOK_CHANNELS};
pub use erasure::{Erasure, ErasureScope, ErasureStatus};
pub use event::{
    attempt_headers, validate_ordering_key, validate_producer_id, Attempt, Delivery, DeliveryJob, DeliveryStatus,
    Event, NewEvent, RetrySchedule, ERASED_DATA, MAX_EVENT_DATA, USER_AGENT,
};
pub use event_type::{
    pattern_matches, validate_name as validate_event_name, EventCatalog, EventType, EventTypeError, TEST_PING,
};
pub use filter::{Filter, FilterError, FilterInput, MAX_FILTER_BYTES, MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH};
pub use headers::{
    check_headers, headers_context, is_token, SealedHeaders, MASKED_VALUE, MAX_CUSTOM_HEADERS, MAX_CUSTOM_HEADER_BYTES,
    REFUSED_HEADERS, REFUSED_HEADER_PREFIXES,
};
pub use operations::{
    Alert, AlertSender, OperationalTarget, DELIVERY_EXHAUSTED, OPERATIONAL_EVENTS, OPERATIONS_OWNER, WEBHOOK_DISABLED,
    WEBHOOK_FAILING, WEBHOOK_RECOVERED,
};
pub use record::{Record, RecordKind};
pub use web::{hour_of, latency_bucket, Health, PortalLink, StatRow, StatsTally, WebSession, LATENCY_BOUNDS_MS};
pub(crate) use webhook::check_metadata;
pub use webhook::{
    generate_signing_secret, validate_owner, validate_signing_secret, validate_uid, validate_url, AddressCheck,
    DeliveryOrdering, NewWebhook, SigningScheme, Webhook, WebhookChanges, WebhookProtocol, WebhookRules,
    WebhookSecrets,
};
pub use workspace::{validate_external_id, validate_workspace_name, Workspace};

/// One problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field, as the client spelled it (`url`, `events[2]`, `metadata.team`).
    pub field: String,
    /// The rule it broke, as a sentence fragment (`must use https`).
    pub message: String,
}

/// Every problem found with a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was found, else the errors.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::default();
        e.push(field, message);
        e
    }

    /// The same errors with each field named under `prefix` (`operational_webhooks[0].`).
    pub fn prefixed(self, prefix: &str) -> Self {
        Self(self.0.into_iter().map(|e| FieldError { field: format!("{prefix}{}", e.field), ..e }).collect())
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}
