use time::OffsetDateTime;

use crate::id::WorkspaceId;

/// A tenant. Every key and webhook belongs to exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    /// Unique, human-chosen; the CLI accepts it wherever it accepts the id.
    pub name: String,
    pub created_at: OffsetDateTime,
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
