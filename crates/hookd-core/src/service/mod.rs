//! The use cases. Each service takes the store (`Arc<dyn Store>`) and its own options,
//! and never sees HTTP types: the API and the CLI are two callers of the same rules.

mod admin;
mod applications;
mod auth;
mod deliveries;
mod directory;
mod erasure;
mod events;
mod idempotency;
mod operations;
mod rate_limit;
mod retention;
mod web;
mod webhooks;

pub use admin::{AdminService, Bootstrapped, KeyLimits, NewWorkspace, WorkspaceChanges};
pub use applications::{
    Application, ApplicationFields, ApplicationService, EventTypeFields, RecordList, StoredEventType,
};
pub use auth::{AuthError, AuthService, Principal, TokenClaims, TokenVerifier};
pub use deliveries::{DeliveryDetail, DeliveryService, SEARCH_WINDOW};
pub use directory::{SigningSecret, WebhookDirectory, WebhookRoute};
pub use erasure::{ErasureRequest, ErasureService};
pub use events::{Engine, EventService, NodeOptions, Published, Refusals, MAX_BATCH};
pub use idempotency::{Idempotency, IdempotencyService, IDEMPOTENCY_TTL};
pub use operations::OperationsService;
pub use rate_limit::{RateDecision, RateLimitInfo, RateLimiter, SharedRateLimiter, WindowRateLimiter};
pub use retention::{Pruned, Retention, RetentionService};
pub(crate) use web::portal_key_id;
pub use web::{random_token, ActiveSession, HealthReport, SignInError, WebOptions, WebService, MAX_PORTAL_LIFETIME};
pub use webhooks::{CreatedWebhook, Page, WebhookOptions, WebhookService, DEFAULT_HELD_MAX};

use crate::crypto::OpenError;
use crate::domain::FieldErrors;
use crate::store::StoreError;

/// What a use case can fail with. The API maps each variant to one status and code.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request broke one or more rules; nothing was written.
    #[error("invalid request: {0}")]
    Validation(FieldErrors),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(&'static str),
    /// The deployment has this feature switched off.
    #[error("{0}")]
    FeatureDisabled(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] OpenError),
}

impl From<FieldErrors> for ServiceError {
    fn from(e: FieldErrors) -> Self {
        ServiceError::Validation(e)
    }
}
