//! Idempotency keys and the request allowance shared by several nodes.

use super::*;

pub(super) async fn begin_idempotent<D: Dialect>(
    store: &SqlStore<D>,
    req: &IdempotencyRequest<'_>,
) -> StoreResult<IdempotencyClaim> {
    let mut tx = store.begin().await?;
    // Nodes race for a key: the insert decides, and a row that exists is locked
    // while it is judged, so two nodes never both take over a stale claim.
    let inserted = tx
        .execute(
            Sql::new(
                "INSERT INTO idempotency_keys (api_key_id, key, request_hash, completed, status, response, \
                 created_at) VALUES (?, ?, ?, FALSE, NULL, NULL, ?) ON CONFLICT (api_key_id, key) DO NOTHING",
            )
            .bind(req.api_key_id.as_str())
            .bind(req.key)
            .bind(req.request_hash)
            .bind(micros(req.now)),
        )
        .await?;
    if inserted == 1 {
        tx.commit().await?;
        return Ok(IdempotencyClaim::Acquired);
    }
    let (hash, completed, status, response, created_at): (Vec<u8>, bool, Option<i64>, Option<String>, i64) = tx
        .fetch_one(
            Sql::new(format!(
                "SELECT request_hash, completed, status, response, created_at FROM idempotency_keys \
                 WHERE api_key_id = ? AND key = ?{}",
                D::FOR_UPDATE
            ))
            .bind(req.api_key_id.as_str())
            .bind(req.key),
        )
        .await?;
    let live =
        if completed { created_at >= micros(req.expired_before) } else { created_at >= micros(req.stale_before) };
    if live {
        return Ok(if completed {
            IdempotencyClaim::Completed {
                request_hash: hash,
                response: StoredResponse {
                    status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                    body: response.unwrap_or_default(),
                },
            }
        } else {
            IdempotencyClaim::InFlight
        });
    }
    tx.execute(
        Sql::new(
            "UPDATE idempotency_keys SET request_hash = ?, completed = FALSE, status = NULL, response = NULL, \
             created_at = ? WHERE api_key_id = ? AND key = ?",
        )
        .bind(req.request_hash)
        .bind(micros(req.now))
        .bind(req.api_key_id.as_str())
        .bind(req.key),
    )
    .await?;
    tx.commit().await?;
    Ok(IdempotencyClaim::Acquired)
}

pub(super) async fn reserve_requests<D: Dialect>(
    store: &SqlStore<D>,
    key: &ApiKeyId,
    window: i64,
    want: u32,
    limit: u32,
) -> StoreResult<(u32, u32)> {
    let mut tx = store.begin().await?;
    // The key's own earlier windows, by primary key: at most two rows per key remain,
    // and no reservation scans other keys' rows.
    tx.execute(
        Sql::new("DELETE FROM rate_limit_windows WHERE api_key_id = ? AND window_start < ?")
            .bind(key.as_str())
            .bind(window - 1),
    )
    .await?;
    // The upsert locks the key's row, so concurrent reservations (from several nodes)
    // queue on it and each sees the total the previous one left. Every right-hand
    // side reads the row as it was before this statement.
    let (want, limit) = (i64::from(want), i64::from(limit));
    let (least, greatest) = (D::LEAST, D::GREATEST);
    let (granted, used): (i64, i64) = tx
        .fetch_one(
            Sql::new(format!(
                "INSERT INTO rate_limit_windows AS r (api_key_id, window_start, used, granted) \
                 VALUES (?, ?, {least}(?, ?), {least}(?, ?)) \
                 ON CONFLICT (api_key_id, window_start) DO UPDATE SET \
                 granted = {greatest}(0, {least}(?, ? - r.used)), \
                 used = r.used + {greatest}(0, {least}(?, ? - r.used)) RETURNING granted, used"
            ))
            .bind(key.as_str())
            .bind(window)
            .bind(want)
            .bind(limit)
            .bind(want)
            .bind(limit)
            .bind(want)
            .bind(limit)
            .bind(want)
            .bind(limit),
        )
        .await?;
    tx.commit().await?;
    Ok((granted as u32, used as u32))
}
