//! Retention: what is deleted when, in small batches that never hold the database for
//! long, so that publishing goes on at its usual pace while history is pruned.

use std::sync::Arc;
use std::time::Duration;

use crate::store::{PruneTarget, Store, StoreError};
use crate::time_fmt;

/// How long each kind of history is kept (`[retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub succeeded: Duration,
    /// Failed and cancelled deliveries.
    pub failed: Duration,
    /// Events, at least as long as both of the above.
    pub events: Duration,
    /// Most deliveries held for a disabled webhook.
    pub held_max: u32,
}

impl Default for Retention {
    fn default() -> Self {
        let days = |d: u64| Duration::from_secs(d * 86_400);
        Self { succeeded: days(30), failed: days(30), events: days(30), held_max: super::webhooks::DEFAULT_HELD_MAX }
    }
}

/// Paces background work on the writer (retention, erasure): steps sized so that each
/// holds the writer about [`Pacer::TARGET`], and a pause after each of at least twice its
/// length, so that the work never has more than a third of the writer's time, however
/// large the database.
///
/// A step is timed from when it holds the writer to its commit: a publish queued behind
/// it waits that long at most, and the time spent waiting for the writer behind
/// publishes (long under load) says nothing about how big the next step may be. Timing
/// the whole step instead, reads and wait included, shrank steps to ten rows under load:
/// a day of history then took 33 minutes to prune under S2 (docs/performance.md).
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    size: u32,
}

impl Pacer {
    const TARGET: Duration = Duration::from_millis(5);
    const MIN: u32 = 10;
    const MAX: u32 = 500;
    const PAUSE: Duration = Duration::from_millis(10);

    pub(crate) fn new() -> Self {
        Self { size: 100 }
    }

    /// Rows for the next step.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// After a step that held the writer for `held`: resizes the next, and pauses if it
    /// wrote.
    pub(crate) async fn after(&mut self, held: Duration, wrote: bool) {
        if held > Self::TARGET {
            self.size = (self.size / 2).max(Self::MIN);
        } else if held < Self::TARGET / 2 {
            self.size = (self.size * 2).min(Self::MAX);
        }
        if wrote {
            tokio::time::sleep(Self::PAUSE.max(held * 2)).await;
        }
    }
}

/// What one round of retention did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub succeeded: u64,
    pub failed: u64,
    pub events: u64,
    /// Held deliveries cancelled beyond `held_max`.
    pub held_dropped: u64,
    /// Held deliveries of webhooks re-enabled meanwhile, made due.
    pub held_released: u64,
    /// Steps that took the writer to delete, and how long they held it in all.
    pub steps: u64,
    pub writer_held: Duration,
}

impl std::ops::AddAssign for Pruned {
    fn add_assign(&mut self, p: Pruned) {
        self.succeeded += p.succeeded;
        self.failed += p.failed;
        self.events += p.events;
        self.held_dropped += p.held_dropped;
        self.held_released += p.held_released;
        self.steps += p.steps;
        self.writer_held += p.writer_held;
    }
}

#[derive(Clone)]
pub struct RetentionService {
    store: Arc<dyn Store>,
    retention: Retention,
}

impl RetentionService {
    pub fn new(store: Arc<dyn Store>, retention: Retention) -> Self {
        Self { store, retention }
    }

    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// Deletes everything past its retention, batch by batch, and keeps held deliveries
    /// within their limit. Stops at the first error (the next round goes on).
    pub async fn prune(&self) -> Result<Pruned, StoreError> {
        let now = time_fmt::now();
        let r = &self.retention;
        let mut out = Pruned::default();
        let (dropped, released) = self.store.maintain_held(r.held_max).await?;
        (out.held_dropped, out.held_released) = (dropped, released);
        for (target, keep, total) in [
            (PruneTarget::Succeeded, r.succeeded, &mut out.succeeded),
            (PruneTarget::Finished, r.failed, &mut out.failed),
            (PruneTarget::Events, r.events, &mut out.events),
        ] {
            let mut after: Option<String> = None;
            let mut pacer = Pacer::new();
            loop {
                let step = self.store.prune_batch(target, now - keep, after.as_deref(), pacer.size()).await?;
                *total += step.pruned;
                if step.held > Duration::ZERO {
                    out.steps += 1;
                    out.writer_held += step.held;
                }
                match step.next {
                    None => break,
                    Some(next) => after = Some(next),
                }
                pacer.after(step.held, step.pruned > 0).await;
            }
        }
        Ok(out)
    }
}
