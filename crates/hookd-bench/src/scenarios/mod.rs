//! The scenarios, one file each. Every scenario gets the run's shared parts ([`Run`])
//! and returns what it measured as [`Figure`](crate::measure::Figure)s.

pub(crate) mod backlog;
pub(crate) mod ceiling;
pub(crate) mod congested;
pub(crate) mod fan_out;
pub(crate) mod history;
pub(crate) mod latency;
pub(crate) mod mixed_health;
pub(crate) mod nodes;
pub(crate) mod ordered;

use std::sync::Arc;

use crate::receiver::Sink;

/// What every scenario shares: the publisher's client, the counting receiver and how
/// long and how hard to publish.
pub(crate) struct Run {
    pub http: reqwest::Client,
    pub sink: Arc<Sink>,
    /// The counting receiver's base URL.
    pub rx: String,
    /// Concurrent publishing connections.
    pub conc: usize,
    /// Seconds per throughput scenario.
    pub secs: f64,
}
