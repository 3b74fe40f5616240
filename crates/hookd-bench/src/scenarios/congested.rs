//! `congested`: one endpoint that answers in 20 ms up to 8 concurrent requests and
//! 25 ms more for each request beyond, published to faster than it can take. hookd must
//! learn to send it about 8 at a time, without timeouts, however high its per-webhook
//! maximum.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;

use super::Run;
use crate::measure::Figure;
use crate::node::{create_webhooks, delete_webhooks, Hookd};

/// Concurrent requests the endpoint serves at its best latency.
const KNEE: usize = 8;
const BASE: Duration = Duration::from_millis(20);
const PER_EXTRA: Duration = Duration::from_millis(25);
/// Publishes a second: above what the endpoint can take (8 / 20 ms = 400/s).
const RATE: f64 = 600.0;

#[derive(Default)]
struct Endpoint {
    in_flight: AtomicUsize,
    served: AtomicU64,
    /// The concurrency each request found on arrival (itself included).
    seen: Mutex<Vec<usize>>,
}

async fn answer(State(e): State<Arc<Endpoint>>) -> StatusCode {
    let n = e.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    e.seen.lock().unwrap().push(n);
    tokio::time::sleep(BASE + PER_EXTRA * n.saturating_sub(KNEE) as u32).await;
    e.in_flight.fetch_sub(1, Ordering::SeqCst);
    e.served.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

pub(crate) async fn run(r: &Run, h: &Hookd) -> anyhow::Result<Figure> {
    eprintln!("congested: an endpoint whose latency rises past {KNEE} concurrent requests, {RATE}/s offered");
    let endpoint = Arc::new(Endpoint::default());
    let app = axum::Router::new().fallback(answer).with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/congested", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let ids = create_webhooks(&r.http, &h.base, &h.key, &[url]).await?;

    let events = format!("{}/v1/events", h.base);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / RATE));
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(r.secs);
    let mut n = 0u64;
    while Instant::now() < end {
        tick.tick().await;
        n += 1;
        let (http, url, key) = (r.http.clone(), events.clone(), h.key.clone());
        tokio::spawn(async move {
            let body = serde_json::json!({"event": "bench.ping", "data": {"n": n}});
            let _ = http.post(&url).bearer_auth(&key).json(&body).send().await;
        });
    }
    let served = endpoint.served.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let metrics = r.http.get(format!("{}/metrics", h.base)).send().await?.text().await?;
    let limit = metrics
        .lines()
        .find(|l| l.starts_with("hookd_webhook_concurrency_limit{") && l.contains(&ids[0]))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("-")
        .to_owned();
    let retries = metrics
        .lines()
        .find(|l| l.starts_with("hookd_deliveries_total{outcome=\"retry_scheduled\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("-")
        .to_owned();
    // The concurrency the endpoint saw over the second half, once hookd had learned.
    let seen = std::mem::take(&mut *endpoint.seen.lock().unwrap());
    let mut late = seen[seen.len() / 2..].to_vec();
    late.sort_unstable();
    let at = |p: f64| late.get(((late.len().saturating_sub(1)) as f64 * p) as usize).copied().unwrap_or(0);
    let most = late.last().copied().unwrap_or(0);
    delete_webhooks(&r.http, h, &ids).await?;
    let mut f = Figure::throughput("congested endpoint", served, f64::NAN);
    let slowest = BASE + PER_EXTRA * most.saturating_sub(KNEE) as u32;
    f.note = Some(format!(
        "in flight p50 {} p90 {} max {most} (second half; slowest answer {} ms); limit {limit}; \
         retries {retries}; capacity {:.0}/s at {KNEE}",
        at(0.5),
        at(0.9),
        slowest.as_millis(),
        KNEE as f64 / BASE.as_secs_f64(),
    ));
    Ok(f)
}
