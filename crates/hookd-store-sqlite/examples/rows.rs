//! The store's share of the bench's S3, alone: 2,000 events of 100 deliveries each (half
//! handed off, half pending), stored in group commits of 20 events, then the results of
//! the handed-off half recorded in batches. Prints the time each part took.
//!
//!   cargo run --release -p hookd-store-sqlite --example rows
//!   cargo run --release -p hookd-store-sqlite --example rows -- "DROP INDEX deliveries_event"
//!   HEADERS=0 cargo run --release -p hookd-store-sqlite --example rows
//!
//! An argument is SQL run after migrating, to try a schema change before writing a
//! migration for it. Pair runs with a timer that repeats them; single runs are noisy.

use std::time::{Duration, Instant};

use hookd_core::domain::{Attempt, Delivery, Event};
use hookd_core::id::{EventId, WebhookId, WorkspaceId};
use hookd_core::store::{DeliveryResult, NewEventRecord, NextStep, Store};
use hookd_core::time_fmt;
use hookd_store_sqlite::SqliteOptions;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("b.db").display());
    let s = hookd_store_sqlite::open(&url, &SqliteOptions::default()).await.unwrap();
    hookd_store_sqlite::migrate(&s).await.unwrap();
    if let Some(sql) = std::env::args().nth(1) {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for stmt in sql.split(';').filter(|x| !x.trim().is_empty()) {
            sqlx::query(stmt).execute(&mut c).await.unwrap();
        }
        c.close().await.unwrap();
    }
    // HEADERS=0 records attempts without their headers, to see what keeping them costs.
    let headers = std::env::var("HEADERS").as_deref() != Ok("0");
    let ws = WorkspaceId::generate();
    let hooks: Vec<WebhookId> = (0..100).map(|_| WebhookId::generate()).collect();
    let t = Instant::now();
    let mut ins = Duration::ZERO;
    let mut rec = Duration::ZERO;
    for _round in 0..100 {
        let now = time_fmt::now();
        let mut batch = Vec::new();
        for _ in 0..20 {
            let e = Event {
                owner: None,
                id: EventId::generate(),
                workspace_id: ws.clone(),
                event_type: "bench.ping".into(),
                producer_id: None,
                data: "{\"n\":1,\"t\":1234567890}".into(),
                occurred_at: None,
                created_at: now,
                deliveries: 100,
                ordering_key: None,
                channels: Vec::new(),
                tags: Vec::new(),
                erased_at: None,
                trace_parent: None,
            };
            let ds: Vec<Delivery> =
                hooks
                    .iter()
                    .enumerate()
                    .map(|(i, w)| {
                        if i % 2 == 0 {
                            Delivery::new_in_flight(&e, w, now)
                        } else {
                            Delivery::new_pending(&e, w, now)
                        }
                    })
                    .collect();
            batch.push(NewEventRecord {
                event: e,
                deliveries: ds,
                lease: Some(("n".into(), now + Duration::from_secs(60))),
            });
        }
        let t0 = Instant::now();
        s.insert_events(&batch).await.unwrap();
        ins += t0.elapsed();
        let results: Vec<DeliveryResult> = batch
            .iter()
            .flat_map(|r| r.deliveries.iter().step_by(2))
            .map(|d| DeliveryResult {
                delivery_id: d.id.clone(),
                webhook_id: d.webhook_id.clone(),
                attempt: Some(Attempt {
                    delivery_id: d.id.clone(),
                    attempt: 1,
                    started_at: now,
                    duration_ms: 1,
                    status_code: Some(200),
                    response: Some("".into()),
                    error_kind: None,
                    error_message: None,
                    // What the sender records: the signatures sent, and the answer's headers.
                    request_headers: [
                        ("x-hookd-signature", format!("sha256={}", "ab".repeat(32))),
                        ("webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".to_owned()),
                    ]
                    .into_iter()
                    .filter(|_| headers)
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                    response_headers: [("content-length", "0"), ("date", "Wed, 02 Dec 2026 16:00:00 GMT")]
                        .into_iter()
                        .filter(|_| headers)
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                }),
                next: NextStep::Succeeded,
                ordered: false,
            })
            .collect();
        let t1 = Instant::now();
        for c in results.chunks(256) {
            s.record_results(c, now - Duration::from_secs(86400)).await.unwrap();
        }
        rec += t1.elapsed();
    }
    println!("total {:?} insert {:?} record {:?}", t.elapsed(), ins, rec);
}
