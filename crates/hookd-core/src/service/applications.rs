//! Applications and event types, as the Svix-compatible API has them.
//!
//! An application is one customer of the workspace: an owner, whose id is the
//! application's (`app_…`), with a record holding its name, uid, metadata and rate
//! limit. Its endpoints are the owner's webhooks and its messages the owner's events, so
//! every rule of webhooks and events applies to them unchanged. An event type is a name
//! with a description and JSON schemas, kept per workspace.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Principal, ServiceError, WebhookService};
use crate::domain::{validate_uid, FieldErrors, Record, RecordKind};
use crate::store::{RecordPage, Store, StoreError};
use crate::time_fmt;

/// Longest application name, in characters.
pub const MAX_APPLICATION_NAME: usize = 256;
/// Longest event type description, in characters.
pub const MAX_EVENT_TYPE_DESCRIPTION: usize = 4096;
/// Largest `schemas` of an event type, as JSON.
pub const MAX_EVENT_TYPE_SCHEMAS: usize = 64 * 1024;

/// An application: one customer of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// `app_…`; also the owner of its webhooks and events.
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    /// Most deliveries a second to each of its endpoints that has no limit of its own.
    pub rate_limit: Option<u32>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An application's fields as a request sets them; `None` leaves one as it is (or at
/// its default, on create).
#[derive(Debug, Clone, Default)]
pub struct ApplicationFields {
    pub name: Option<String>,
    pub uid: Option<Option<String>>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub rate_limit: Option<Option<u32>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ApplicationBody {
    name: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    rate_limit: Option<u32>,
}

/// An event type of the workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEventType {
    pub name: String,
    pub description: String,
    /// JSON schemas by version (`{"1": {…}}`), as the caller gave them.
    pub schemas: Option<serde_json::Value>,
    pub archived: bool,
    pub deprecated: bool,
    pub feature_flag: Option<String>,
    pub group_name: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// An event type's fields as a request sets them; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct EventTypeFields {
    pub description: Option<String>,
    pub schemas: Option<Option<serde_json::Value>>,
    pub archived: Option<bool>,
    pub deprecated: Option<bool>,
    pub feature_flag: Option<Option<String>>,
    pub group_name: Option<Option<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EventTypeBody {
    description: String,
    #[serde(default)]
    schemas: Option<serde_json::Value>,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    feature_flag: Option<String>,
    #[serde(default)]
    group_name: Option<String>,
}

/// A page of records, and the id to continue from.
#[derive(Debug, Clone)]
pub struct RecordList<T> {
    pub items: Vec<T>,
    /// The last item's id when another page may follow.
    pub next: Option<String>,
}

#[derive(Clone)]
pub struct ApplicationService {
    store: Arc<dyn Store>,
    webhooks: WebhookService,
}

impl ApplicationService {
    pub fn new(store: Arc<dyn Store>, webhooks: WebhookService) -> Self {
        Self { store, webhooks }
    }

    /// Creates an application; with `get_if_exists`, an application with the same uid is
    /// returned instead of a 409 (the bool says whether it was created).
    pub async fn create(
        &self,
        who: &Principal,
        fields: ApplicationFields,
        get_if_exists: bool,
    ) -> Result<(Application, bool), ServiceError> {
        let mut errs = FieldErrors::default();
        if fields.name.is_none() {
            errs.push("name", "is required");
        }
        check_application(&fields, &mut errs);
        errs.into_result()?;
        let uid = fields.uid.clone().flatten();
        if let (true, Some(uid)) = (get_if_exists, &uid) {
            if let Some(app) = self.find(who, uid).await? {
                return Ok((app, false));
            }
        }
        let now = time_fmt::now();
        let app = Application {
            id: format!("app_{}", uuid::Uuid::now_v7().simple()),
            uid,
            name: fields.name.unwrap_or_default(),
            metadata: fields.metadata.unwrap_or_default(),
            rate_limit: fields.rate_limit.flatten(),
            created_at: now,
            updated_at: now,
        };
        if who.for_owner(&app.id).is_none() {
            // A caller with an owner of its own acts for that owner alone.
            return Err(ServiceError::Conflict("this API key acts for one owner and cannot create applications"));
        }
        match self.store.insert_record(&application_record(who, &app)).await {
            Ok(()) => Ok((app, true)),
            Err(StoreError::Conflict { constraint: "record_uid" }) if get_if_exists => {
                // Created meanwhile by a concurrent request with the same uid.
                let uid = app.uid.as_deref().unwrap_or_default();
                Ok((self.find(who, uid).await?.ok_or(ServiceError::NotFound { what: "application" })?, false))
            }
            Err(e) => Err(uid_conflict(e, "an application with this uid already exists")),
        }
    }

    /// The application with this id or uid, if the caller may act for it.
    pub async fn get(&self, who: &Principal, id_or_uid: &str) -> Result<Application, ServiceError> {
        self.find(who, id_or_uid).await?.ok_or(ServiceError::NotFound { what: "application" })
    }

    async fn find(&self, who: &Principal, id_or_uid: &str) -> Result<Option<Application>, ServiceError> {
        let Some(record) = self.store.get_record(who.workspace_id(), RecordKind::Application, id_or_uid).await? else {
            return Ok(None);
        };
        let app = application_of(record)?;
        Ok(who.for_owner(&app.id).map(|_| app))
    }

    /// A page of the caller's applications, by id (creation order).
    pub async fn list(
        &self,
        who: &Principal,
        limit: u32,
        from: Option<String>,
        descending: bool,
    ) -> Result<RecordList<Application>, ServiceError> {
        if let Some(owner) = who.owner() {
            // A caller with an owner sees its own application, if there is one.
            let app = self.find(who, &owner).await?.filter(|a| from.as_deref().is_none_or(|f| a.id.as_str() > f));
            return Ok(RecordList { items: app.into_iter().collect(), next: None });
        }
        let page = RecordPage { limit: limit + 1, descending, from };
        let records = self.store.list_records(who.workspace_id(), RecordKind::Application, &page).await?;
        let mut items = records.into_iter().map(application_of).collect::<Result<Vec<_>, _>>()?;
        let next = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items.last().map(|a| a.id.clone()).unwrap_or_default()
        });
        Ok(RecordList { items, next })
    }

    /// Changes the fields given; `replace` resets the others to their defaults (a PUT).
    pub async fn update(
        &self,
        who: &Principal,
        id_or_uid: &str,
        fields: ApplicationFields,
        replace: bool,
    ) -> Result<Application, ServiceError> {
        let mut errs = FieldErrors::default();
        if replace && fields.name.is_none() {
            errs.push("name", "is required");
        }
        check_application(&fields, &mut errs);
        errs.into_result()?;
        let current = self.get(who, id_or_uid).await?;
        let keep = !replace;
        let app = Application {
            name: fields.name.unwrap_or(current.name.clone()),
            uid: fields.uid.unwrap_or(if keep { current.uid.clone() } else { None }),
            metadata: fields.metadata.unwrap_or(if keep { current.metadata.clone() } else { BTreeMap::new() }),
            rate_limit: fields.rate_limit.unwrap_or(if keep { current.rate_limit } else { None }),
            updated_at: time_fmt::now(),
            ..current
        };
        match self.store.update_record(&application_record(who, &app)).await {
            Ok(true) => Ok(app),
            Ok(false) => Err(ServiceError::NotFound { what: "application" }),
            Err(e) => Err(uid_conflict(e, "an application with this uid already exists")),
        }
    }

    /// Deletes the application and its endpoints (their open deliveries are cancelled).
    /// Its messages stay until retention prunes them.
    pub async fn delete(&self, who: &Principal, id_or_uid: &str) -> Result<(), ServiceError> {
        let app = self.get(who, id_or_uid).await?;
        let owner = who.for_owner(&app.id).ok_or(ServiceError::NotFound { what: "application" })?;
        loop {
            let page = self.webhooks.list(&owner, 100, None).await?;
            if page.items.is_empty() {
                break;
            }
            for w in page.items {
                self.webhooks.delete(&owner, &w.id).await?;
            }
        }
        if !self.store.delete_record(who.workspace_id(), RecordKind::Application, &app.id).await? {
            return Err(ServiceError::NotFound { what: "application" });
        }
        Ok(())
    }

    pub async fn create_event_type(
        &self,
        who: &Principal,
        name: &str,
        fields: EventTypeFields,
    ) -> Result<StoredEventType, ServiceError> {
        let mut errs = FieldErrors::default();
        if let Err(e) = crate::domain::validate_event_name(name) {
            errs.push("name", e.to_string());
        }
        if fields.description.is_none() {
            errs.push("description", "is required");
        }
        check_event_type(&fields, &mut errs);
        errs.into_result()?;
        let now = time_fmt::now();
        let t = apply_event_type(name, None, fields, now);
        match self.store.insert_record(&event_type_record(who, &t)?).await {
            Ok(()) => Ok(t),
            Err(StoreError::Conflict { constraint: "record_id" }) => {
                Err(ServiceError::Conflict("an event type with this name already exists"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_event_type(&self, who: &Principal, name: &str) -> Result<StoredEventType, ServiceError> {
        let record = self.store.get_record(who.workspace_id(), RecordKind::EventType, name).await?;
        event_type_of(record.ok_or(ServiceError::NotFound { what: "event type" })?)
    }

    /// A page of event types by name; archived ones only with `include_archived`.
    pub async fn list_event_types(
        &self,
        who: &Principal,
        limit: u32,
        from: Option<String>,
        descending: bool,
        include_archived: bool,
    ) -> Result<RecordList<StoredEventType>, ServiceError> {
        let mut items = Vec::new();
        let mut cursor = from;
        // Archived types are skipped here rather than in SQL; read until the page is full.
        loop {
            let page = RecordPage { limit: limit + 1, descending, from: cursor.clone() };
            let records = self.store.list_records(who.workspace_id(), RecordKind::EventType, &page).await?;
            let exhausted = records.len() <= limit as usize;
            cursor = records.last().map(|r| r.id.clone());
            for r in records {
                let t = event_type_of(r)?;
                if include_archived || !t.archived {
                    items.push(t);
                }
            }
            if items.len() > limit as usize || exhausted {
                break;
            }
        }
        let next = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items.last().map(|t| t.name.clone()).unwrap_or_default()
        });
        Ok(RecordList { items, next })
    }

    /// Changes the fields given; `replace` resets the others (a PUT); a PUT of a type that
    /// does not exist creates it (the bool says so).
    pub async fn update_event_type(
        &self,
        who: &Principal,
        name: &str,
        fields: EventTypeFields,
        replace: bool,
    ) -> Result<(StoredEventType, bool), ServiceError> {
        let current = match self.get_event_type(who, name).await {
            Ok(t) => t,
            Err(ServiceError::NotFound { .. }) if replace => {
                return self.create_event_type(who, name, fields).await.map(|t| (t, true));
            }
            Err(e) => return Err(e),
        };
        let mut errs = FieldErrors::default();
        if replace && fields.description.is_none() {
            errs.push("description", "is required");
        }
        check_event_type(&fields, &mut errs);
        errs.into_result()?;
        let base = if replace {
            StoredEventType {
                schemas: None,
                archived: false,
                deprecated: false,
                feature_flag: None,
                group_name: None,
                ..current.clone()
            }
        } else {
            current.clone()
        };
        let t = apply_event_type(name, Some(base), fields, current.created_at);
        if !self.store.update_record(&event_type_record(who, &t)?).await? {
            return Err(ServiceError::NotFound { what: "event type" });
        }
        Ok((t, false))
    }

    /// Archives an event type (kept, hidden from lists), or with `expunge` deletes it.
    pub async fn delete_event_type(&self, who: &Principal, name: &str, expunge: bool) -> Result<(), ServiceError> {
        if expunge {
            return match self.store.delete_record(who.workspace_id(), RecordKind::EventType, name).await? {
                true => Ok(()),
                false => Err(ServiceError::NotFound { what: "event type" }),
            };
        }
        let fields = EventTypeFields { archived: Some(true), ..Default::default() };
        self.update_event_type(who, name, fields, false).await.map(drop)
    }
}

fn check_application(f: &ApplicationFields, errs: &mut FieldErrors) {
    if let Some(n) = &f.name {
        if n.trim().is_empty() || n.chars().count() > MAX_APPLICATION_NAME {
            errs.push("name", format!("must be 1 to {MAX_APPLICATION_NAME} characters"));
        }
    }
    if let Some(Some(Err(m))) = f.uid.as_ref().map(|u| u.as_deref().map(validate_uid)) {
        errs.push("uid", m);
    }
    if let Some(m) = &f.metadata {
        crate::domain::check_metadata(m, errs);
    }
    if let Some(Some(0)) = f.rate_limit {
        errs.push("rateLimit", "must be at least 1");
    }
}

fn check_event_type(f: &EventTypeFields, errs: &mut FieldErrors) {
    if let Some(d) = &f.description {
        if d.chars().count() > MAX_EVENT_TYPE_DESCRIPTION {
            errs.push("description", format!("must be at most {MAX_EVENT_TYPE_DESCRIPTION} characters"));
        }
    }
    if let Some(Some(s)) = &f.schemas {
        if !s.is_object() {
            errs.push("schemas", "must be an object of JSON schemas by version, such as {\"1\": {…}}");
        } else if s.to_string().len() > MAX_EVENT_TYPE_SCHEMAS {
            errs.push("schemas", format!("must be at most {MAX_EVENT_TYPE_SCHEMAS} bytes of JSON"));
        }
    }
    for (field, v) in [("featureFlag", &f.feature_flag), ("groupName", &f.group_name)] {
        if let Some(Some(Err(m))) = v.as_ref().map(|u| u.as_deref().map(validate_uid)) {
            errs.push(field, m);
        }
    }
}

fn apply_event_type(
    name: &str,
    base: Option<StoredEventType>,
    f: EventTypeFields,
    created_at: OffsetDateTime,
) -> StoredEventType {
    let now = time_fmt::now();
    let base = base.unwrap_or(StoredEventType {
        name: name.to_owned(),
        description: String::new(),
        schemas: None,
        archived: false,
        deprecated: false,
        feature_flag: None,
        group_name: None,
        created_at,
        updated_at: now,
    });
    StoredEventType {
        name: name.to_owned(),
        description: f.description.unwrap_or(base.description),
        schemas: f.schemas.unwrap_or(base.schemas),
        archived: f.archived.unwrap_or(base.archived),
        deprecated: f.deprecated.unwrap_or(base.deprecated),
        feature_flag: f.feature_flag.unwrap_or(base.feature_flag),
        group_name: f.group_name.unwrap_or(base.group_name),
        created_at,
        updated_at: now,
    }
}

fn uid_conflict(e: StoreError, message: &'static str) -> ServiceError {
    match e {
        StoreError::Conflict { constraint: "record_uid" } => ServiceError::Conflict(message),
        e => e.into(),
    }
}

fn application_record(who: &Principal, a: &Application) -> Record {
    let body = ApplicationBody { name: a.name.clone(), metadata: a.metadata.clone(), rate_limit: a.rate_limit };
    Record {
        workspace_id: who.workspace_id().clone(),
        kind: RecordKind::Application,
        id: a.id.clone(),
        uid: a.uid.clone(),
        body: serde_json::to_string(&body).expect("plain data serialises"),
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn application_of(r: Record) -> Result<Application, ServiceError> {
    let body: ApplicationBody = serde_json::from_str(&r.body).map_err(StoreError::other)?;
    Ok(Application {
        id: r.id,
        uid: r.uid,
        name: body.name,
        metadata: body.metadata,
        rate_limit: body.rate_limit,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

fn event_type_record(who: &Principal, t: &StoredEventType) -> Result<Record, ServiceError> {
    let body = EventTypeBody {
        description: t.description.clone(),
        schemas: t.schemas.clone(),
        archived: t.archived,
        deprecated: t.deprecated,
        feature_flag: t.feature_flag.clone(),
        group_name: t.group_name.clone(),
    };
    Ok(Record {
        workspace_id: who.workspace_id().clone(),
        kind: RecordKind::EventType,
        id: t.name.clone(),
        uid: None,
        body: serde_json::to_string(&body).expect("plain data serialises"),
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

fn event_type_of(r: Record) -> Result<StoredEventType, ServiceError> {
    let body: EventTypeBody = serde_json::from_str(&r.body).map_err(StoreError::other)?;
    Ok(StoredEventType {
        name: r.id,
        description: body.description,
        schemas: body.schemas,
        archived: body.archived,
        deprecated: body.deprecated,
        feature_flag: body.feature_flag,
        group_name: body.group_name,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}
