//! `/v1/portal/sessions`: one-time links into the customer portal, for a product to
//! embed one customer's (one owner's) webhooks in its own pages.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookd_core::domain::Scope;
use hookd_core::time_fmt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::envelope::{ApiResponse, Envelope, ErrorEnvelope};
use crate::error::ApiError;
use crate::extract::{Caller, RawBody};
use crate::ApiState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortalSessionRequest {
    /// The owner whose webhooks the portal shows and creates: 1–128 visible ASCII
    /// characters. A caller with an owner of its own may name only that one.
    #[schema(min_length = 1, max_length = 128, pattern = "^[!-~]+$")]
    pub owner: String,
    /// Seconds the link, and the portal session it opens, last: 60 to 604800; default
    /// 3600.
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 604800)]
    pub expires_in: Option<u32>,
}

/// A one-time portal link.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalSessionResponse {
    /// Opening it starts a portal session and the link stops working. Put it in an
    /// `<iframe>` or a link; never log it.
    pub url: String,
    pub owner: String,
    /// When the link and its session end.
    pub expires_at: String,
}

/// Creates a one-time link into the customer portal for one owner.
#[utoipa::path(post, path = "/v1/portal/sessions", tag = "portal",
    security(("api_key" = ["webhooks:write"])),
    request_body = CreatePortalSessionRequest,
    responses(
        (status = 201, description = "Created", body = Envelope<PortalSessionResponse>),
        (status = 422, description = "Validation failed; `details` names each field", body = ErrorEnvelope),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let req: CreatePortalSessionRequest = body.json()?;
    let seconds = i64::from(req.expires_in.unwrap_or(3600));
    let (token, link) = state.web.create_portal_link(who, &req.owner, time::Duration::seconds(seconds)).await?;
    let base = match &state.public_url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None => request_origin(&headers),
    };
    Ok(ApiResponse::new(
        StatusCode::CREATED,
        PortalSessionResponse {
            url: format!("{base}/portal/open?token={token}"),
            owner: link.owner,
            expires_at: time_fmt::format(link.expires_at),
        },
    ))
}

/// `http://host` as the request reached hookd (`https` behind a proxy that says so).
fn request_origin(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let https =
        headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}
