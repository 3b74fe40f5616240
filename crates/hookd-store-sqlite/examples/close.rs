//! What disabling and deleting a webhook cost as history grows. One webhook has
//! `HISTORY` finished deliveries and 100 in flight; `BACKLOG` deliveries of fifty other
//! webhooks wait for a retry. Disabling the webhook holds its open deliveries, and
//! deleting it cancels them, each in one transaction on SQLite's one writer: every
//! publish waits meanwhile. Prints how long each took.
//!
//!   cargo run --release -p hookd-store-sqlite --example close -- 1000000 100000
//!
//! The arguments are `HISTORY` (1,000,000 when absent) and `BACKLOG` (0).

use std::time::{Duration, Instant};

use hookd_core::domain::{Delivery, DeliveryStatus, Event};
use hookd_core::id::WebhookId;
use hookd_core::store::{NewEventRecord, Store, WebhookSettings};
use hookd_core::time_fmt;
use hookd_store_sqlite::SqliteOptions;

/// Deliveries per stored event, events per insert, and the other webhooks whose
/// deliveries make the backlog.
const FAN_OUT: u64 = 100;
const BATCH: usize = 20;
const OTHERS: u64 = 50;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("HISTORY and BACKLOG are numbers"));
    let history = args.next().unwrap_or(1_000_000);
    let backlog = args.next().unwrap_or(0);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let s = hookd_store_sqlite::open(&url, &SqliteOptions::default()).await.unwrap();
    hookd_store_sqlite::migrate(&s).await.unwrap();
    let (ws, w, open) = hookd_core::conformance::webhook_with_deliveries(&s, 100, "n").await;
    let others: Vec<WebhookId> = (0..OTHERS).map(|_| WebhookId::generate()).collect();
    let t = Instant::now();
    let later = time_fmt::now() + Duration::from_secs(3600);
    let mut batch = Vec::new();
    for n in 0..(history + backlog).div_ceil(FAN_OUT) {
        let e = Event { deliveries: FAN_OUT as i64, ..hookd_core::conformance::event(&ws.id, None) };
        let deliveries = (0..FAN_OUT)
            .map(|i| {
                let d = Delivery::new_pending(&e, &w.id, e.created_at);
                if n * FAN_OUT + i < history {
                    Delivery { status: DeliveryStatus::Succeeded, next_attempt_at: None, ..d }
                } else {
                    // Waiting for a retry an hour from now.
                    let to = others[(i % OTHERS) as usize].clone();
                    Delivery { webhook_id: to, next_attempt_at: Some(later), ..d }
                }
            })
            .collect();
        batch.push(NewEventRecord { event: e, deliveries, lease: None });
        if batch.len() == BATCH {
            s.insert_events(&std::mem::take(&mut batch)).await.unwrap();
        }
    }
    s.insert_events(&batch).await.unwrap();
    println!("{history} deliveries of history and {backlog} of backlog stored in {:.1?}", t.elapsed());

    let off = WebhookSettings {
        enabled: false,
        disabled_reason: Some("manual".into()),
        hold_pending: true,
        ..WebhookSettings::of(&w)
    };
    let t = Instant::now();
    assert!(s.update_webhook_settings(&ws.id, &w.id, &off).await.unwrap());
    println!("disabling it (holding its 100 open deliveries): {:.2?}", t.elapsed());
    let t = Instant::now();
    assert!(s.delete_webhook(&ws.id, &w.id).await.unwrap());
    println!("deleting it (cancelling them): {:.2?}", t.elapsed());
    let d = s.get_delivery(&ws.id, &open[0]).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Cancelled);
}
