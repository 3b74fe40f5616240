//! Storing webhooks: each gets a number that is never handed out twice.

use super::*;

pub(super) async fn insert_webhook<D: Dialect>(store: &SqlStore<D>, w: &Webhook) -> StoreResult<i64> {
    let mut tx = store.begin().await?;
    // Numbers only grow, so a deleted webhook's number is never handed out again:
    // SQLite counts in a row of `counters`, PostgreSQL has an identity column.
    let counted = if D::NUMBERS_FROM_COUNTER {
        let (n,): (i64,) = tx
            .fetch_one(Sql::new(
                "INSERT INTO counters (name, value) VALUES ('webhook_number', 1) \
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
            ))
            .await?;
        Some(n)
    } else {
        None
    };
    let mut q = Sql::new(format!(
        "INSERT INTO webhooks ({WEBHOOK_COLUMNS}{}) ",
        if counted.is_some() { ", number" } else { "" }
    ));
    q.push_values([w], |r, w| {
        r.bind(w.id.as_str())
            .bind(w.workspace_id.as_str())
            .bind(w.created_by.as_ref().map(ApiKeyId::as_str))
            .bind(&w.owner)
            .bind(&w.url)
            .bind(json(&w.events))
            .bind(&w.description)
            .bind(w.enabled)
            .bind(&w.disabled_reason)
            .bind(w.failure_count)
            .bind(w.delivery_attempts)
            .bind(w.last_delivered_at.map(micros))
            .bind(json(&w.metadata))
            .bind(w.rate_limit.map(i64::from))
            .bind(&w.secrets.current.0)
            .bind(w.secrets.previous.as_ref().map(|s| &s.0))
            .bind(w.secrets.previous_expires_at.map(micros))
            .bind(micros(w.created_at))
            .bind(micros(w.updated_at))
            .bind(w.headers.as_ref().map(|h| json(&h.names)))
            .bind(w.headers.as_ref().map(|h| &h.sealed.0))
            .bind(w.filter.as_ref().map(|f| json(f.source())))
            .bind(w.signing.as_str())
            .bind(&w.secrets.public_key)
            .bind(w.ordering.as_str())
            .bind(channels_json(&w.channels))
            .bind(&w.uid)
            .bind(w.protocol.as_str())
            .bind(w.send_traceparent);
        if let Some(n) = counted {
            r.bind(n);
        }
    });
    q.push(" RETURNING number");
    let (number,): (i64,) = tx.fetch_one(q).await?;
    tx.commit().await?;
    Ok(number)
}
