//! Event types: `/api/v1/event-type`, the workspace's, with their schemas.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use hookd_core::domain::Scope;
use hookd_core::service::{EventTypeFields, StoredEventType};
use serde::{Deserialize, Serialize};

use super::{list_response, no_content, time, ListQuery};
use crate::envelope::ApiResponse;
use crate::error::ApiError;
use crate::extract::{Caller, RawBody};
use crate::ApiState;

/// `EventTypeIn`, `EventTypeUpdate` and `EventTypePatch`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventTypeIn {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    schemas: Option<Option<serde_json::Value>>,
    archived: Option<bool>,
    deprecated: Option<bool>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    feature_flag: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::dto::present")]
    group_name: Option<Option<String>>,
}

impl EventTypeIn {
    fn fields(self) -> EventTypeFields {
        EventTypeFields {
            description: self.description,
            schemas: self.schemas,
            archived: self.archived,
            deprecated: self.deprecated,
            feature_flag: self.feature_flag,
            group_name: self.group_name,
        }
    }
}

/// `EventTypeOut`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct EventTypeOut {
    name: String,
    description: String,
    schemas: Option<serde_json::Value>,
    archived: bool,
    deprecated: bool,
    feature_flag: Option<String>,
    group_name: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<StoredEventType> for EventTypeOut {
    fn from(t: StoredEventType) -> Self {
        Self {
            name: t.name,
            description: t.description,
            schemas: t.schemas,
            archived: t.archived,
            deprecated: t.deprecated,
            feature_flag: t.feature_flag,
            group_name: t.group_name,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

/// `POST /event-type` (201).
pub(super) async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let mut input: EventTypeIn = body.json()?;
    let name = input.name.take().ok_or_else(|| ApiError::validation("name", "is required"))?;
    let t = state.applications.create_event_type(who, &name, input.fields()).await?;
    Ok(ApiResponse::new(StatusCode::CREATED, EventTypeOut::from(t)))
}

/// `GET /event-type`, by name; archived types only with `include_archived=true`.
pub(super) async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    let mut q = ListQuery::default();
    let mut include_archived = false;
    for (k, v) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "limit" => {
                q.limit = Some(v.parse().map_err(|_| ApiError::validation("query.limit", "must be a whole number"))?)
            }
            "iterator" => q.iterator = Some(v.into_owned()),
            "order" => q.order = Some(v.into_owned()),
            "include_archived" => include_archived = v == "true",
            // `with_content`: the schemas are always included.
            _ => {}
        }
    }
    let page = state
        .applications
        .list_event_types(who, q.limit()?, q.iterator.clone(), q.descending(false)?, include_archived)
        .await?;
    Ok(list_response(page.items.into_iter().map(EventTypeOut::from).collect(), page.next))
}

/// `GET /event-type/{name}`.
pub(super) async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksRead)?;
    Ok(ApiResponse::ok(EventTypeOut::from(state.applications.get_event_type(who, &name).await?)))
}

/// `PUT /event-type/{name}`: replaces it, or creates it (201).
pub(super) async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let input: EventTypeIn = body.json()?;
    let (t, created) = state.applications.update_event_type(who, &name, input.fields(), true).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(ApiResponse::new(status, EventTypeOut::from(t)))
}

/// `PATCH /event-type/{name}`.
pub(super) async fn patch(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    body: RawBody,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let input: EventTypeIn = body.json_or_default()?;
    let (t, _) = state.applications.update_event_type(who, &name, input.fields(), false).await?;
    Ok(ApiResponse::ok(EventTypeOut::from(t)))
}

/// `DELETE /event-type/{name}` (204): archives it; `?expunge=true` deletes it.
pub(super) async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<ApiResponse, ApiError> {
    let who = caller.require(Scope::WebhooksWrite)?;
    let expunge =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()).any(|(k, v)| k == "expunge" && v == "true");
    state.applications.delete_event_type(who, &name, expunge).await?;
    Ok(no_content())
}
