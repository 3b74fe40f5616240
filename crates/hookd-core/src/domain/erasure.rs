//! Erasing events' payloads on request (a user's data, under GDPR and the like).

use time::OffsetDateTime;

use crate::id::{ErasureId, EventId, WorkspaceId};

/// Which events an erasure covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureScope {
    pub workspace_id: WorkspaceId,
    /// Only the events published for this owner; `None`: every event of the workspace.
    pub owner: Option<String>,
    /// Only the events created before this.
    pub before: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    Running,
    Succeeded,
    Failed,
}

impl ErasureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Running, Self::Succeeded, Self::Failed].into_iter().find(|x| x.as_str() == s)
    }
}

/// A bulk erasure and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub id: ErasureId,
    pub scope: ErasureScope,
    pub status: ErasureStatus,
    /// Events to erase, counted when it started.
    pub total: i64,
    pub erased: i64,
    /// The last event erased: the next batch starts after it.
    pub cursor: Option<EventId>,
    pub error: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

impl Erasure {
    /// A new erasure of `total` events, running from `now`.
    pub fn start(scope: ErasureScope, total: i64, now: OffsetDateTime) -> Self {
        Self {
            id: ErasureId::generate(),
            scope,
            status: ErasureStatus::Running,
            total,
            erased: 0,
            cursor: None,
            error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}
