//! The receivers: a lean HTTP server that answers 200 and counts (and times) what it
//! gets, one that answers 500, and one that never answers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

/// What the receivers saw.
#[derive(Default)]
pub(crate) struct Sink {
    pub(crate) count: AtomicU64,
    /// Answer 503 and count nothing (S5's receivers are down).
    pub(crate) down: AtomicBool,
    /// Publish-to-receive latencies in microseconds, when recording.
    pub(crate) latencies: Mutex<Vec<u64>>,
    pub(crate) record: AtomicBool,
}

pub(crate) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

pub(crate) async fn receive(State(sink): State<Arc<Sink>>, _h: HeaderMap, body: Bytes) -> StatusCode {
    if sink.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    sink.count.fetch_add(1, Ordering::Relaxed);
    if sink.record.load(Ordering::Relaxed) {
        // The publisher put its clock in the data as "t":<µs>.
        if let Some(i) = body.windows(4).position(|w| w == b"\"t\":") {
            let digits: String = body[i + 4..].iter().take_while(|b| b.is_ascii_digit()).map(|b| *b as char).collect();
            if let Ok(t) = digits.parse::<u64>() {
                sink.latencies.lock().unwrap().push(now_us().saturating_sub(t));
            }
        }
    }
    StatusCode::OK
}

pub(crate) async fn start_receiver(sink: Arc<Sink>) -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(receive).with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// An endpoint that answers every request with 500.
pub(crate) async fn start_failing_receiver() -> anyhow::Result<String> {
    let app = axum::Router::new().fallback(|| async { StatusCode::INTERNAL_SERVER_ERROR });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

/// An endpoint that accepts connections and never answers.
pub(crate) async fn start_hanging_receiver() -> anyhow::Result<String> {
    async fn hang() -> StatusCode {
        std::future::pending::<()>().await;
        StatusCode::OK
    }
    let app = axum::Router::new().fallback(hang);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}
