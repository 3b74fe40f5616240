-- Claims skip the due rows of webhooks whose queues are full: with webhook_id in the
-- index, skipping them never reads the table. Deliveries are listed per webhook only,
-- so the per-workspace index is dropped.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at, webhook_id) WHERE status = 'pending';
DROP INDEX deliveries_workspace;
