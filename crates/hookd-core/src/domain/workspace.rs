use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::id::WorkspaceId;

/// A tenant: one of the product's customers. Every key and webhook belongs to exactly
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    /// Unique, human-chosen; the CLI accepts it wherever it accepts the id.
    pub name: String,
    /// The product's own id for this customer; unique when set, and accepted wherever
    /// the workspace id is (`Hookd-Workspace`).
    pub external_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: OffsetDateTime,
}

impl Workspace {
    /// A new workspace with no external id or metadata.
    pub fn new(name: impl Into<String>, now: OffsetDateTime) -> Self {
        Self {
            id: WorkspaceId::generate(),
            name: name.into(),
            external_id: None,
            metadata: BTreeMap::new(),
            created_at: now,
        }
    }
}

/// External ids: 1–128 visible ASCII characters, never starting like a workspace id, so
/// that `Hookd-Workspace` and the admin routes, which take either, are never ambiguous.
pub fn validate_external_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("must be 1 to 128 characters".into());
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may contain only visible ASCII characters (no spaces)".into());
    }
    if id.starts_with(WorkspaceId::PREFIX) {
        return Err(format!("must not start with `{}`, which marks workspace ids", WorkspaceId::PREFIX));
    }
    Ok(())
}

/// Workspace names: 1–64 characters of letters, digits, `-`, `_` and `.`, so they are
/// safe to type on a command line and never look like an id.
pub fn validate_workspace_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err("may contain only letters, digits, '-', '_' and '.'".into());
    }
    if name.starts_with(WorkspaceId::PREFIX) {
        return Err(format!("must not start with `{}`, which marks workspace ids", WorkspaceId::PREFIX));
    }
    Ok(())
}
