//! Records a workspace keeps beside its webhooks: the applications and event types of
//! the Svix-compatible API. One table holds every kind; each record is a JSON body with
//! an id, an optional unique `uid`, and its times. The services that own a kind give its
//! body a type and its rules.

use time::OffsetDateTime;

use crate::id::WorkspaceId;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A Svix application: one customer (an owner) of the workspace.
    Application,
    /// A Svix event type, with its schemas; its id is its name.
    EventType,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Application => "application",
            Self::EventType => "event_type",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "application" => Some(Self::Application),
            "event_type" => Some(Self::EventType),
            _ => None,
        }
    }
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub workspace_id: WorkspaceId,
    pub kind: RecordKind,
    pub id: String,
    /// The caller's own name for it, unique among the workspace's records of its kind.
    pub uid: Option<String>,
    /// The record's JSON.
    pub body: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}
