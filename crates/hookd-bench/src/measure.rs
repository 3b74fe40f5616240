//! Measuring: sustained throughput, latency at a fixed rate, percentiles, and the
//! figures the bench prints.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::receiver::{now_us, Sink};

#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Figure {
    pub(crate) scenario: &'static str,
    pub(crate) per_second: f64,
    pub(crate) ratio_to_ceiling: Option<f64>,
    /// What else the scenario measured, for people: "0.85 x S2", "peak RSS 97 MB".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peak_rss_mb: Option<f64>,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p95_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) publish_p99_ms: Option<f64>,
}

impl Figure {
    pub(crate) fn throughput(scenario: &'static str, per_second: f64, ceiling: f64) -> Self {
        let ratio = Some(per_second / ceiling).filter(|r| r.is_finite());
        Self {
            scenario,
            per_second,
            ratio_to_ceiling: ratio,
            note: None,
            peak_rss_mb: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            publish_p99_ms: None,
        }
    }

    pub(crate) fn latency(
        scenario: &'static str,
        rate: f64,
        (p50, p95, p99, publish_p99): (f64, f64, f64, f64),
    ) -> Self {
        Self {
            scenario,
            per_second: rate,
            ratio_to_ceiling: None,
            note: None,
            peak_rss_mb: None,
            p50_ms: Some(p50),
            p95_ms: Some(p95),
            p99_ms: Some(p99),
            publish_p99_ms: Some(publish_p99),
        }
    }
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Runs `concurrency` loops of `step` for `secs`, returning how many the sink counted
/// per second over the window (after a warm-up of a fifth of it).
pub(crate) async fn sustained<F, Fut>(sink: &Sink, concurrency: usize, secs: f64, step: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (step, stop, seq) = (step.clone(), stop.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                step(seq.fetch_add(1, Ordering::Relaxed)).await;
            }
        }));
    }
    let warm = Duration::from_secs_f64(secs / 5.0);
    tokio::time::sleep(warm).await;
    let c0 = sink.count.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let window = Duration::from_secs_f64(secs);
    let bar = hookd::progress::timed(window, "measuring");
    while t0.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let rate = (sink.count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
        bar.set_position(t0.elapsed().as_millis() as u64);
        bar.set_message(format!("{rate:.0}/s"));
    }
    bar.finish_and_clear();
    let rate = (sink.count.load(Ordering::Relaxed) - c0) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    eprintln!("  done: {rate:.0}/s");
    rate
}

pub(crate) fn publish_step(
    http: reqwest::Client,
    url: String,
    key: String,
) -> impl Fn(u64) -> futures_like::BoxFut + Send + Sync {
    move |n| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        Box::pin(async move {
            let body = json!({"event": "bench.ping", "data": {"n": n, "t": now_us()}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
        })
    }
}

pub(crate) mod futures_like {
    pub type BoxFut = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// Waits until the receiver stops counting (the backlog is delivered).
pub(crate) async fn drain(sink: &Sink) {
    let mut last = sink.count.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = sink.count.load(Ordering::Relaxed);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Publishes at a fixed rate; returns publish-to-receive p50/p95/p99 and publish p99, in ms.
pub(crate) async fn latency_at(
    http: &reqwest::Client,
    sink: &Arc<Sink>,
    url: &str,
    key: &str,
    rate: f64,
    secs: f64,
) -> (f64, f64, f64, f64) {
    sink.latencies.lock().unwrap().clear();
    sink.record.store(true, Ordering::Relaxed);
    let publish_lat = Arc::new(Mutex::new(Vec::new()));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let started = hookd_core::time_fmt::format(hookd_core::time_fmt::now());
    let mut tasks = Vec::new();
    let mut n = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        n += 1;
        let (http, url, key, publish_lat) = (http.clone(), url.to_owned(), key.to_owned(), publish_lat.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = json!({"event": "bench.ping", "data": {"n": n, "t": now_us()}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
            publish_lat.lock().unwrap().push(t.elapsed().as_micros() as u64);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    drain(sink).await;
    sink.record.store(false, Ordering::Relaxed);
    let mut l = std::mem::take(&mut *sink.latencies.lock().unwrap());
    l.sort_unstable();
    let mut p = std::mem::take(&mut *publish_lat.lock().unwrap());
    p.sort_unstable();
    let (p50, p95, p99) = (percentile(&l, 0.5), percentile(&l, 0.95), percentile(&l, 0.99));
    let publish_p99 = percentile(&p, 0.99);
    // With its start, so that a slow window can be matched against the database's log.
    eprintln!(
        "  {} deliveries timed from {started}: p50 {p50:.1} ms, p99 {p99:.1} ms, publish p99 {publish_p99:.1} ms",
        l.len()
    );
    (p50, p95, p99, publish_p99)
}

/// This process's resident set, in MB (Linux; `None` elsewhere).
pub(crate) fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb / 1024.0)
}
