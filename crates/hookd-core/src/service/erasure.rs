//! Erasing events' payloads on request: one event at once, or many in the background
//! (one owner's events, or a whole workspace's), with progress a caller can follow.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::{Erasure, ErasureScope, ErasureStatus, Event, FieldErrors};
use crate::id::{ErasureId, WorkspaceId};
use crate::service::{EventService, Principal, ServiceError};
use crate::store::Store;
use crate::time_fmt;

/// A running erasure no node has advanced for this long is taken over.
pub const STALLED_AFTER: Duration = Duration::from_secs(120);

/// `POST /v1/erasure`: an `owner`'s events, or the `workspace`'s, or the owner's in the
/// workspace named.
#[derive(Debug, Clone, Default)]
pub struct ErasureRequest {
    pub owner: Option<String>,
    /// The workspace the caller acts in, named to say "all of it".
    pub workspace: Option<String>,
    /// Only events created before this (RFC 3339); now when left out.
    pub before: Option<String>,
}

#[derive(Clone)]
pub struct ErasureService {
    store: Arc<dyn Store>,
    events: EventService,
}

impl ErasureService {
    pub fn new(store: Arc<dyn Store>, events: EventService) -> Self {
        Self { store, events }
    }

    /// Erases one event's payload (a caller with an owner: one published for it), and
    /// returns the event as it is now.
    /// `id` is the event's id or the producer's own id for it.
    pub async fn erase_payload(&self, who: &Principal, id: &str) -> Result<Event, ServiceError> {
        let event = self.events.find(who, id).await?;
        if event.erased_at.is_none() {
            self.store.erase_event(who.workspace_id(), &event.id, time_fmt::now()).await?;
            tracing::info!(event_id = %event.id, "event payload erased");
        }
        self.events.get(who, &event.id).await
    }

    /// Checks the request, counts what it covers, records it, and starts erasing in the
    /// background.
    pub async fn start(&self, who: &Principal, req: ErasureRequest) -> Result<Erasure, ServiceError> {
        let now = time_fmt::now();
        let scope = self.scope(who, &req, now)?;
        let total = self.store.count_unerased(&scope).await? as i64;
        let job = Erasure::start(scope, total, now);
        self.store.insert_erasure(&job).await?;
        tracing::info!(erasure_id = %job.id, owner = job.scope.owner.as_deref(), total, "erasure started");
        tokio::spawn(run(self.store.clone(), job.clone()));
        Ok(job)
    }

    fn scope(&self, who: &Principal, req: &ErasureRequest, now: OffsetDateTime) -> Result<ErasureScope, ServiceError> {
        let mut errs = FieldErrors::default();
        if req.owner.is_none() && req.workspace.is_none() {
            errs.push("owner", "is required unless workspace is given (every event of the workspace)");
        }
        if let Some(Err(m)) = req.owner.as_deref().map(crate::domain::validate_owner) {
            errs.push("owner", m);
        }
        let before = match req.before.as_deref().map(time_fmt::parse) {
            None => now,
            Some(Ok(t)) => t.min(now),
            Some(Err(_)) => {
                errs.push("before", "must be an RFC 3339 timestamp such as 2026-03-21T14:30:00Z");
                now
            }
        };
        errs.into_result()?;
        // The workspace named is the one the key acts in (an admin key names another with
        // the Hookd-Workspace header); any other is not there for this key.
        if req.workspace.as_deref().is_some_and(|ws| WorkspaceId::parse(ws).ok().as_ref() != Some(who.workspace_id())) {
            return Err(ServiceError::NotFound { what: "workspace" });
        }
        // A key with an owner erases that owner's events alone.
        let owner = match (req.owner.clone(), who.owner()) {
            (Some(o), Some(own)) if o != own => return Err(ServiceError::NotFound { what: "owner" }),
            (None, Some(own)) => Some(own),
            (o, _) => o,
        };
        Ok(ErasureScope { workspace_id: who.workspace_id().clone(), owner, before })
    }

    /// An erasure and its progress (a caller with an owner: only its own).
    pub async fn get(&self, who: &Principal, id: &ErasureId) -> Result<Erasure, ServiceError> {
        let e = self.store.get_erasure(who.workspace_id(), id).await?;
        match (e, who.owner()) {
            (Some(e), Some(own)) if e.scope.owner.as_deref() != Some(own.as_str()) => {
                Err(ServiceError::NotFound { what: "erasure" })
            }
            (Some(e), _) => Ok(e),
            (None, _) => Err(ServiceError::NotFound { what: "erasure" }),
        }
    }

    /// Takes over the erasures whose node stopped before finishing them.
    pub async fn resume_stalled(&self) -> Result<usize, ServiceError> {
        let stalled = self.store.stalled_erasures(time_fmt::now() - STALLED_AFTER).await?;
        let n = stalled.len();
        for job in stalled {
            tracing::info!(erasure_id = %job.id, erased = job.erased, total = job.total, "resuming an erasure");
            tokio::spawn(run(self.store.clone(), job));
        }
        Ok(n)
    }
}

/// Erases `job`'s events batch by batch, recording its progress after each. Stops when
/// another node has taken the job over; on a store error it leaves the job running, for
/// [`ErasureService::resume_stalled`] to take up again.
async fn run(store: Arc<dyn Store>, mut job: Erasure) {
    let mut seen = job.updated_at;
    let mut pacer = super::retention::Pacer::new(&*store);
    loop {
        let now = time_fmt::now();
        let step = store.erase_events(&job.scope, job.cursor.as_ref(), pacer.size(), now).await;
        let mut held = Duration::ZERO;
        let done = match step {
            Ok(Some(step)) => {
                job.erased += step.erased as i64;
                job.cursor = Some(step.last);
                held = step.held;
                false
            }
            Ok(None) => {
                job.status = ErasureStatus::Succeeded;
                job.finished_at = Some(now);
                true
            }
            Err(e) => {
                tracing::warn!(erasure_id = %job.id, error = %crate::error_chain(&e), "erasure interrupted; it resumes within minutes");
                return;
            }
        };
        job.updated_at = now.max(seen + Duration::from_micros(1));
        match store.update_erasure(&job, seen).await {
            Ok(true) => seen = job.updated_at,
            Ok(false) => {
                tracing::info!(erasure_id = %job.id, "another node took this erasure over");
                return;
            }
            Err(e) => {
                tracing::warn!(erasure_id = %job.id, error = %crate::error_chain(&e), "could not record an erasure's progress; it resumes within minutes");
                return;
            }
        }
        if done {
            tracing::info!(erasure_id = %job.id, erased = job.erased, "erasure finished");
            return;
        }
        pacer.after(held, true).await;
    }
}
