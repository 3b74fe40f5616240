//! Adaptive concurrency per endpoint: how many attempts a webhook may have in flight,
//! learned from its answers, as TCP learns a congestion window.
//!
//! - **Slow start.** The limit starts at [`INITIAL`] and grows by one for every success
//!   that came back quickly while the limit was in use, so it doubles every round trip
//!   until the first sign of congestion.
//! - **Additive increase.** After that, it grows by one per round trip (`1 / limit` per
//!   such success).
//! - **Multiplicative decrease.** A timeout, a 429 or a 503 halves it; a success that took
//!   clearly longer than the endpoint's best recent latency (its queue is building up)
//!   cuts it by a tenth. At most one cut per round trip, so a burst of slow answers to
//!   requests sent together counts once.
//!
//! Other failures (a 500, a 404, a refused connection) say nothing about load: the
//! circuit breaker deals with them. The limit stays between 1 and the configured most.
//! Every step takes the time as an argument, so tests drive it on a synthetic clock.

use std::time::{Duration, Instant};

/// The limit a webhook starts with.
const INITIAL: f64 = 4.0;
/// A latency above `best × SLOWER + SLACK` means the endpoint is queueing requests. The
/// slack is small: on loopback, where the best answer takes a fraction of a millisecond,
/// 5 ms let the limit climb to 64 while the cores were the bottleneck, and S1 lost 18 %.
const SLOWER: f64 = 1.5;
const SLACK: Duration = Duration::from_millis(1);
/// How long a best latency stands before fresher answers replace it, so the limit
/// follows an endpoint whose speed changes.
const BEST_WINDOW: Duration = Duration::from_secs(10);
/// Cuts of the limit.
const ON_OVERLOAD: f64 = 0.5;
const ON_LATENCY: f64 = 0.9;

/// What an attempt told about the endpoint's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// Answered with success.
    Ok,
    /// A timeout, 429 or 503: too much.
    Overloaded,
    /// Failed for another reason; nothing learned.
    Other,
}

#[derive(Debug, Clone)]
pub(super) struct Limiter {
    limit: f64,
    max: f64,
    slow_start: bool,
    /// The best latency of the current and of the previous window.
    best: Option<Duration>,
    window_best: Option<Duration>,
    window_start: Option<Instant>,
    /// When the last cut happened, and the latency then (one cut per round trip).
    last_cut: Option<(Instant, Duration)>,
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: INITIAL.min(max),
            max,
            slow_start: true,
            best: None,
            window_best: None,
            window_start: None,
            last_cut: None,
        }
    }

    /// Attempts that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit.floor() as usize
    }

    /// An attempt finished after `latency`; `in_flight` were running as it finished
    /// (itself included), which tells whether the limit was in use.
    pub fn record(&mut self, load: Load, latency: Duration, in_flight: usize, now: Instant) {
        match load {
            Load::Other => {}
            Load::Overloaded => self.cut(ON_OVERLOAD, latency, now),
            Load::Ok => {
                self.observe_best(latency, now);
                let best = self.best.unwrap_or(latency);
                if latency > best.mul_f64(SLOWER) + SLACK {
                    self.cut(ON_LATENCY, latency, now);
                } else if 2 * in_flight >= self.limit() {
                    // Grow only while the limit is in use (at least half of it), not
                    // for an endpoint that gets one request at a time.
                    self.limit += if self.slow_start { 1.0 } else { 1.0 / self.limit };
                }
            }
        }
        self.limit = self.limit.clamp(1.0, self.max);
    }

    fn observe_best(&mut self, latency: Duration, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= BEST_WINDOW {
            // The new window starts from what the last one saw at best.
            self.best = self.window_best.or(self.best);
            self.window_best = None;
            self.window_start = Some(now);
        }
        self.window_best = Some(self.window_best.map_or(latency, |b| b.min(latency)));
        self.best = Some(self.best.map_or(latency, |b| b.min(latency)));
    }

    fn cut(&mut self, factor: f64, latency: Duration, now: Instant) {
        if let Some((at, rtt)) = self.last_cut {
            if now.duration_since(at) < rtt.max(latency) {
                return;
            }
        }
        self.slow_start = false;
        self.limit = (self.limit * factor).max(1.0);
        self.last_cut = Some((now, latency));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// An endpoint served at `limit` in flight for `rounds` round trips: each round every
    /// in-flight attempt answers after `latency(n)`.
    fn run(
        l: &mut Limiter,
        rounds: usize,
        start: Instant,
        mut latency: impl FnMut(usize) -> (Load, Duration),
    ) -> Instant {
        let mut now = start;
        for _ in 0..rounds {
            let n = l.limit();
            let (load, rtt) = latency(n);
            now += rtt;
            for _ in 0..n {
                l.record(load, rtt, n, now);
            }
        }
        now
    }

    #[test]
    fn a_fast_endpoint_gets_the_most() {
        let mut l = Limiter::new(64);
        assert_eq!(l.limit(), 4);
        run(&mut l, 10, Instant::now(), |_| (Load::Ok, 2 * MS));
        assert_eq!(l.limit(), 64);
    }

    #[test]
    fn an_endpoint_that_slows_past_eight_settles_near_eight() {
        // 20 ms up to 8 concurrent requests, then 25 ms more for each one beyond.
        let latency = |n: usize| (Load::Ok, 20 * MS + 25 * MS * n.saturating_sub(8) as u32);
        let mut l = Limiter::new(64);
        let now = run(&mut l, 50, Instant::now(), latency);
        let mut seen = Vec::new();
        run(&mut l, 200, now, |n| {
            seen.push(n);
            latency(n)
        });
        let (lo, hi) = (*seen.iter().min().unwrap(), *seen.iter().max().unwrap());
        assert!((6..=8).contains(&lo) && (8..=10).contains(&hi), "settled between {lo} and {hi}: {seen:?}");
    }

    #[test]
    fn overload_halves_and_the_limit_recovers_additively() {
        let mut l = Limiter::new(64);
        let now = run(&mut l, 10, Instant::now(), |_| (Load::Ok, 2 * MS));
        assert_eq!(l.limit(), 64);
        // A burst of 429s from requests sent together is one cut, not one per answer.
        let now = run(&mut l, 1, now, |_| (Load::Overloaded, 2 * MS));
        assert_eq!(l.limit(), 32);
        let now = run(&mut l, 1, now, |_| (Load::Overloaded, 2 * MS));
        assert_eq!(l.limit(), 16);
        // Back to health: one more per round trip, no more slow start.
        run(&mut l, 4, now, |_| (Load::Ok, 2 * MS));
        assert!((19..=20).contains(&l.limit()), "{}", l.limit());
    }

    #[test]
    fn timeouts_shrink_to_one_and_never_below() {
        let mut l = Limiter::new(64);
        run(&mut l, 20, Instant::now(), |_| (Load::Overloaded, Duration::from_secs(15)));
        assert_eq!(l.limit(), 1);
    }

    #[test]
    fn other_failures_and_an_idle_endpoint_leave_the_limit_alone() {
        let mut l = Limiter::new(64);
        run(&mut l, 10, Instant::now(), |_| (Load::Other, 2 * MS));
        assert_eq!(l.limit(), 4);
        // One request at a time never uses a limit of 4: no growth.
        let mut now = Instant::now();
        for _ in 0..100 {
            now += 2 * MS;
            l.record(Load::Ok, 2 * MS, 1, now);
        }
        assert_eq!(l.limit(), 4);
    }

    #[test]
    fn the_limit_follows_an_endpoint_that_gets_faster_or_slower_for_good() {
        let mut l = Limiter::new(64);
        let now = run(&mut l, 20, Instant::now(), |_| (Load::Ok, 2 * MS));
        // Slower for good (a new region), at any concurrency: the limit drops, and within
        // two windows the new latency is the baseline and the limit grows back.
        let now = run(&mut l, 20, now, |_| (Load::Ok, 50 * MS));
        let low = l.limit();
        assert!(low < 64, "{low}");
        let now = run(&mut l, 400, now, |_| (Load::Ok, 50 * MS));
        run(&mut l, 30, now, |_| (Load::Ok, 50 * MS));
        assert!(l.limit() > low + 20, "{low} → {}", l.limit());
    }

    #[test]
    fn a_maximum_of_one_is_one() {
        let mut l = Limiter::new(1);
        run(&mut l, 10, Instant::now(), |_| (Load::Ok, MS));
        assert_eq!(l.limit(), 1);
    }
}
