//! Applications: `/api/v1/app`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hookd_core::domain::Scope;
use hookd_core::service::{Application, ApplicationFields};
use serde::{Deserialize, Serialize};

use super::{list_response, no_content, time, ListQuery};
use crate::envelope::ApiResponse;
use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RawBody};
use crate::ApiState;

/// `ApplicationIn`, `ApplicationPatch`: `rateLimit` and its older name `throttleRate`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApplicationIn {
    name: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    uid: Option<Option<String>>,
    metadata: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    rate_limit: Option<Option<u32>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    throttle_rate: Option<Option<u32>>,
}

impl ApplicationIn {
    pub(super) fn fields(self) -> ApplicationFields {
        ApplicationFields {
            name: self.name,
            uid: self.uid,
            metadata: self.metadata,
            rate_limit: self.rate_limit.or(self.throttle_rate),
        }
    }
}

/// `ApplicationOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApplicationOut {
    id: String,
    uid: Option<String>,
    name: String,
    metadata: BTreeMap<String, String>,
    rate_limit: Option<u32>,
    throttle_rate: Option<u32>,
    created_at: String,
    updated_at: String,
}

impl From<Application> for ApplicationOut {
    fn from(a: Application) -> Self {
        Self {
            id: a.id,
            uid: a.uid,
            name: a.name,
            metadata: a.metadata,
            rate_limit: a.rate_limit,
            throttle_rate: a.rate_limit,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CreateQuery {
    #[serde(default)]
    get_if_exists: bool,
}

/// `POST /app` (201; 200 with `get_if_exists` when the uid exists).
pub(super) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CreateQuery>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let input: ApplicationIn = body.json()?;
    let (app, created) = state.applications.create(who, input.fields(), q.get_if_exists).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(ApiResponse::new(status, ApplicationOut::from(app)))
}

/// `GET /app`.
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let page = state.applications.list(who, q.limit()?, q.iterator.clone(), q.descending(false)?).await?;
    Ok(list_response(page.items.into_iter().map(ApplicationOut::from).collect(), page.next))
}

/// `GET /app/{app_id}` (id or uid).
pub(super) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    Ok(ApiResponse::ok(ApplicationOut::from(state.applications.get(who, &app_id).await?)))
}

/// `PUT /app/{app_id}`: replaces it; creates it (201) when no application has this id
/// or uid, taking the path as its uid.
pub(super) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let input: ApplicationIn = body.json()?;
    let fields = input.fields();
    match state.applications.update(who, &app_id, fields.clone(), true).await {
        Ok(app) => Ok(ApiResponse::ok(ApplicationOut::from(app))),
        Err(hookd_core::service::ServiceError::NotFound { .. }) => {
            let mut fields = fields;
            if fields.uid.is_none() {
                fields.uid = Some(Some(app_id));
            }
            let (app, _) = state.applications.create(who, fields, false).await?;
            Ok(ApiResponse::new(StatusCode::CREATED, ApplicationOut::from(app)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `PATCH /app/{app_id}`.
pub(super) async fn patch(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let input: ApplicationIn = body.json_or_default()?;
    Ok(ApiResponse::ok(ApplicationOut::from(state.applications.update(who, &app_id, input.fields(), false).await?)))
}

/// `DELETE /app/{app_id}`: the application and its endpoints (204).
pub(super) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(app_id): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    state.applications.delete(who, &app_id).await?;
    Ok(no_content())
}
