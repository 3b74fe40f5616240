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
/// holds the writer about [`Pacer::TARGET`] (publishes queued behind a step wait that
/// long at most), and a pause after each of at least twice its length, so that the work
/// never has more than a third of the writer's time, however large the database.
///
/// A 3 ms target with a 10 ms pause was tried against S6 (ten million deliveries, SQLite):
/// a day of history took 33 minutes to prune under S2 and 14 under the S4 rate, against
/// 7 minutes and 35 s with these, too slow to keep up with a busy deployment's intake.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    size: u32,
}

impl Pacer {
    const TARGET: Duration = Duration::from_millis(10);
    const MIN: u32 = 10;
    const MAX: u32 = 500;
    const PAUSE: Duration = Duration::from_millis(20);

    pub(crate) fn new() -> Self {
        Self { size: 100 }
    }

    /// Rows for the next step.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// After a step that took `took`: resizes the next, and pauses if it wrote.
    pub(crate) async fn after(&mut self, took: Duration, wrote: bool) {
        if took > Self::TARGET {
            self.size = (self.size / 2).max(Self::MIN);
        } else if took < Self::TARGET / 2 {
            self.size = (self.size * 2).min(Self::MAX);
        }
        if wrote {
            tokio::time::sleep(Self::PAUSE.max(took * 2)).await;
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
                let started = std::time::Instant::now();
                let step = self.store.prune_batch(target, now - keep, after.as_deref(), pacer.size()).await?;
                *total += step.pruned;
                match step.next {
                    None => break,
                    Some(next) => after = Some(next),
                }
                pacer.after(started.elapsed(), step.pruned > 0).await;
            }
        }
        Ok(out)
    }
}
