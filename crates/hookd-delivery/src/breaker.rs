//! Per-webhook isolation state: the circuit breaker and the optional rate limit.

use std::time::{Duration, Instant};

/// A circuit breaker: after `threshold` consecutive failures the circuit opens and the
/// webhook's deliveries are held; after the cooldown one probe is sent; its success
/// closes the circuit, its failure reopens it for twice as long, up to a maximum.
#[derive(Debug, Clone)]
pub struct Breaker {
    failures: u32,
    state: State,
    cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

/// What the breaker allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Send as usual.
    Go,
    /// Send one probe, and nothing else until it returns.
    Probe,
    /// Hold everything until then.
    WaitUntil(Instant),
}

impl Breaker {
    pub fn new(base_cooldown: Duration) -> Self {
        Self { failures: 0, state: State::Closed, cooldown: base_cooldown }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Closed)
    }

    /// Closed with no failures counted: nothing worth remembering.
    pub fn is_clean(&self) -> bool {
        self.failures == 0 && !self.is_open()
    }

    pub fn permit(&mut self, now: Instant) -> Permit {
        match self.state {
            State::Closed => Permit::Go,
            State::Open { until } if now < until => Permit::WaitUntil(until),
            State::Open { .. } => {
                self.state = State::HalfOpen;
                Permit::Probe
            }
            State::HalfOpen => Permit::Probe,
        }
    }

    pub fn record(
        &mut self,
        success: bool,
        threshold: u32,
        (base_cooldown, max_cooldown): (Duration, Duration),
        now: Instant,
    ) {
        if success {
            self.failures = 0;
            self.state = State::Closed;
            self.cooldown = base_cooldown;
            return;
        }
        self.failures += 1;
        match self.state {
            State::HalfOpen => {
                self.cooldown = (self.cooldown * 2).min(max_cooldown.max(base_cooldown));
                self.state = State::Open { until: now + self.cooldown };
            }
            State::Closed if self.failures >= threshold => {
                self.state = State::Open { until: now + self.cooldown };
            }
            _ => {}
        }
    }
}

/// A token bucket: `rate` deliveries a second, bursts of up to `rate`.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: u32, now: Instant) -> Self {
        Self { rate: f64::from(rate.max(1)), tokens: 1.0, at: now }
    }

    pub fn rate(&self) -> u32 {
        self.rate as u32
    }

    /// Takes a token, or says when the next one is due.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes_on_success() {
        let base = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut b = Breaker::new(base);
        for _ in 0..2 {
            b.record(false, 3, (base, Duration::from_secs(600)), t0);
            assert_eq!(b.permit(t0), Permit::Go);
        }
        b.record(false, 3, (base, Duration::from_secs(600)), t0);
        assert_eq!(b.permit(t0), Permit::WaitUntil(t0 + base));
        assert_eq!(b.permit(t0 + base), Permit::Probe);
        // The probe fails: open again, twice as long.
        b.record(false, 3, (base, Duration::from_secs(600)), t0 + base);
        assert_eq!(b.permit(t0 + base), Permit::WaitUntil(t0 + base + base * 2));
        assert_eq!(b.permit(t0 + base * 3), Permit::Probe);
        b.record(true, 3, (base, Duration::from_secs(600)), t0 + base * 3);
        assert_eq!(b.permit(t0 + base * 3), Permit::Go);
        assert!(!b.is_open());
    }

    #[test]
    fn the_bucket_spaces_deliveries_at_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2, t0);
        assert!(b.take(t0).is_ok());
        let next = b.take(t0).unwrap_err();
        assert_eq!(next, t0 + Duration::from_millis(500));
        assert!(b.take(t0 + Duration::from_millis(500)).is_ok());
        // Idle time refills up to one second's worth.
        let later = t0 + Duration::from_secs(10);
        assert!(b.take(later).is_ok() && b.take(later).is_ok());
        assert!(b.take(later).is_err());
    }
}
