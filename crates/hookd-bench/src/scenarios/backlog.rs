//! S5: a large backlog queued while the receivers are down, then drained.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::measure::{rss_mb, Figure};
use crate::node::{create_webhooks, start_hookd};
use crate::receiver::{start_receiver, Sink};

/// S5: `backlog` deliveries (10 webhooks x backlog/10 events) published while the
/// receivers answer 503, so they pile up behind open circuits; then the receivers come
/// back and the backlog drains. Measures the drain rate, and the peak resident memory of
/// this process (hookd with the bench's receiver and publisher) from the first publish
/// to the last delivery.
pub(crate) async fn backlog_drain(http: &reqwest::Client, backlog: u64) -> anyhow::Result<Figure> {
    const WEBHOOKS: u64 = 10;
    const BATCH: u64 = 1000;
    let events = backlog / WEBHOOKS;
    let sink = Arc::new(Sink::default());
    sink.down.store(true, Ordering::Relaxed);
    let rx = start_receiver(sink.clone()).await?;
    // Circuits probe at most every second, so the drain starts within a second of the
    // receivers' return; the retry schedule is long enough that no delivery runs out of
    // attempts while the receivers are down.
    let h = start_hookd(|c| {
        c.delivery.breaker_cooldown = Duration::from_millis(200);
        c.delivery.breaker_max_cooldown = Duration::from_secs(1);
        c.delivery.retry_schedule = [0, 1, 5, 30, 60, 300, 600, 1800, 3600, 7200].map(Duration::from_secs).to_vec();
    })
    .await?;
    let urls: Vec<String> = (0..WEBHOOKS).map(|i| format!("{rx}/s5/{i}")).collect();
    create_webhooks(http, &h.base, &h.key, &urls).await?;

    let peak = Arc::new(Mutex::new(rss_mb().unwrap_or(0.0)));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(now) = rss_mb() {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    eprintln!("S5: publishing {events} events to {WEBHOOKS} webhooks while their receivers are down");
    let t = Instant::now();
    let url = format!("{}/v1/events/batch", h.base);
    let batches = events.div_ceil(BATCH);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let bar = hookd::progress::items(events, "  publishing events");
    for _ in 0..4 {
        let (http, url, key, next, bar) = (http.clone(), url.clone(), h.key.clone(), next.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return Ok::<_, anyhow::Error>(());
                }
                let n = BATCH.min(events - b * BATCH);
                let body = json!({"events": (0..n).map(|i| json!({"event": "bench.ping", "data": {"n": b * BATCH + i}})).collect::<Vec<_>>()});
                let r = http.post(&url).bearer_auth(&key).json(&body).send().await?;
                anyhow::ensure!(r.status().is_success(), "batch publish answered {}", r.status());
                bar.inc(n);
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    bar.finish_and_clear();
    eprintln!("  {backlog} deliveries queued in {:.1} s; receivers back up", t.elapsed().as_secs_f64());

    sink.down.store(false, Ordering::Relaxed);
    let t0 = Instant::now();
    let bar = hookd::progress::items(backlog, "  delivering the backlog");
    let deadline = Duration::from_secs(3600);
    while sink.count.load(Ordering::Relaxed) < backlog && t0.elapsed() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(sink.count.load(Ordering::Relaxed).min(backlog));
    }
    bar.finish_and_clear();
    let took = t0.elapsed().as_secs_f64();
    let delivered = sink.count.load(Ordering::Relaxed);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let peak = *peak.lock().unwrap();
    eprintln!("  done: {delivered} of {backlog} delivered in {took:.1} s");
    h.stop().await;
    let rate = delivered as f64 / took;
    let mut f = Figure::throughput("S5 backlog drain", rate, f64::NAN);
    f.peak_rss_mb = Some(peak);
    let missing = backlog.saturating_sub(delivered);
    f.note = Some(format!(
        "{backlog} queued; peak RSS {peak:.0} MB{}",
        if missing > 0 { format!("; {missing} NOT delivered within {}s", deadline.as_secs()) } else { String::new() }
    ));
    Ok(f)
}
