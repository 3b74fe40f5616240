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
/// holds its transaction about a target time, and a pause after each of at least four
/// times its length, so that the work never has more than a fifth of the database's
/// writing time, however large the database. (With a third, publish p99 on SQLite was
/// 2.3 times its figure without pruning; with a fifth, 1.6 times: docs/performance.md.)
///
/// A step is timed from when it holds the writer to its commit: the time spent waiting
/// for the writer behind publishes (long under load) says nothing about how big the next
/// step may be. Timing the whole step instead, reads and wait included, shrank steps to
/// ten rows under load: a day of history then took 33 minutes to prune under S2
/// (docs/performance.md).
///
/// The target depends on the database. Where a writing transaction holds back every
/// other ([`Store::exclusive_writer`], SQLite), a publish queued behind a step waits as
/// long as the step holds the writer, so steps are kept to [`Pacer::EXCLUSIVE`].
/// Where it holds back only writers of the same rows (PostgreSQL), no publish waits for
/// a step, and what a step costs publishing is its share of the disk and of the log's
/// flushes. There each commit waits for a flush of a few milliseconds whatever its size,
/// so the short target shrank steps to ten rows, and three dozen small transactions a
/// second cost publish p99 more than a few large ones: steps there aim at
/// [`Pacer::SHARED`].
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    size: u32,
    target: Duration,
}

impl Pacer {
    /// What a step aims to hold the writer for: one writer, or row locks only.
    const EXCLUSIVE: Duration = Duration::from_millis(5);
    const SHARED: Duration = Duration::from_millis(40);
    const MIN: u32 = 10;
    const MAX: u32 = 500;
    const PAUSE: Duration = Duration::from_millis(10);

    /// A pacer for work on `store`.
    pub(crate) fn new(store: &dyn Store) -> Self {
        Self::with_target(if store.exclusive_writer() { Self::EXCLUSIVE } else { Self::SHARED })
    }

    fn with_target(target: Duration) -> Self {
        Self { size: 100, target }
    }

    /// Rows for the next step.
    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// After a step that held the writer for `held`: resizes the next, and pauses if it
    /// wrote.
    pub(crate) async fn after(&mut self, held: Duration, wrote: bool) {
        self.resize(held);
        if wrote {
            tokio::time::sleep(Self::pause(held)).await;
        }
    }

    /// Halves the next step after one that held the writer past the target, doubles it
    /// after one that held it under half the target.
    fn resize(&mut self, held: Duration) {
        if held > self.target {
            self.size = (self.size / 2).max(Self::MIN);
        } else if held < self.target / 2 {
            self.size = (self.size * 2).min(Self::MAX);
        }
    }

    /// The pause after a step that wrote: four times the step, so that the work has a
    /// fifth of the writer's time at most.
    fn pause(held: Duration) -> Duration {
        Self::PAUSE.max(held * 4)
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
            let mut pacer = Pacer::new(&*self.store);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn steps_shrink_past_the_target_and_grow_well_under_it_within_bounds() {
        let mut p = Pacer::with_target(Pacer::EXCLUSIVE);
        assert_eq!(p.size(), 100);
        p.resize(ms(6));
        assert_eq!(p.size(), 50);
        p.resize(ms(4));
        assert_eq!(p.size(), 50, "between half the target and the target: unchanged");
        p.resize(ms(1));
        assert_eq!(p.size(), 100);
        for _ in 0..10 {
            p.resize(ms(100));
        }
        assert_eq!(p.size(), Pacer::MIN);
        for _ in 0..10 {
            p.resize(Duration::ZERO);
        }
        assert_eq!(p.size(), Pacer::MAX);
    }

    #[test]
    fn a_shared_writer_takes_steps_that_one_writer_would_shrink() {
        // A step of 8 ms: past the target where it holds back every publish, well
        // under it where it holds back none.
        let (mut one, mut shared) = (Pacer::with_target(Pacer::EXCLUSIVE), Pacer::with_target(Pacer::SHARED));
        one.resize(ms(8));
        shared.resize(ms(8));
        assert_eq!((one.size(), shared.size()), (50, 200));
    }

    #[test]
    fn the_work_never_has_more_than_a_fifth_of_the_writers_time() {
        for held in [ms(0), ms(1), ms(5), ms(40), ms(400)] {
            let pause = Pacer::pause(held);
            assert!(pause >= held * 4 && pause >= Pacer::PAUSE, "{held:?} -> {pause:?}");
        }
    }
}
