//! History for the benchmarks that need a large database (`pages`, S6): the outcome of
//! each stored delivery's one attempt.

use hookd_core::domain::Attempt;
use hookd_core::store::{DeliveryResult, NewEventRecord, NextStep};

/// One attempt for each delivery of `batch`, at its creation: 1 in 20 failed (a 500),
/// the rest succeeded, with a latency between 3 and 400 ms.
pub(crate) fn outcomes(batch: &[NewEventRecord]) -> Vec<DeliveryResult> {
    batch
        .iter()
        .flat_map(|r| r.deliveries.iter())
        .enumerate()
        .map(|(i, d)| {
            let failed = i % 20 == 7;
            DeliveryResult {
                delivery_id: d.id.clone(),
                webhook_id: d.webhook_id.clone(),
                attempt: Some(Attempt {
                    delivery_id: d.id.clone(),
                    attempt: 1,
                    started_at: d.created_at,
                    duration_ms: 3 + (i as i64 * 37) % 400,
                    status_code: Some(if failed { 500 } else { 200 }),
                    response: Some(if failed { r#"{"error":"boom"}"# } else { r#"{"ok":true}"# }.into()),
                    error_kind: failed.then(|| "http_status".into()),
                    error_message: failed.then(|| "answered 500 Internal Server Error".into()),
                    request_headers: vec![
                        ("x-hookd-signature".into(), format!("sha256={}", "ab".repeat(32))),
                        ("webhook-signature".into(), "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=".into()),
                    ],
                    response_headers: vec![("content-type".into(), "application/json".into())],
                }),
                next: if failed { NextStep::Failed } else { NextStep::Succeeded },
                ordered: false,
            }
        })
        .collect()
}
