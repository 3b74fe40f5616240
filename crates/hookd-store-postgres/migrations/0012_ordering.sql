-- Ordered delivery. A webhook with `per_key` ordering receives the events of one
-- `ordering_key` one at a time, in publish order. Only its deliveries carry the key, so
-- a claim's ordering check costs nothing for the others. The partial index holds the
-- deliveries with a key alone, by key and status: a claim's checks (an earlier one
-- open? one in flight?) and finding a key's next delivery each read a few entries of
-- it, however long the key's queue.
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';  -- none | per_key
ALTER TABLE events ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
CREATE INDEX deliveries_ordered ON deliveries(webhook_id, ordering_key, status, id)
    WHERE ordering_key IS NOT NULL;
-- The due deliveries with a key: a claim finds those that wait behind an earlier one of
-- their key here, without reading past the others.
CREATE INDEX deliveries_due_keyed ON deliveries(next_attempt_at)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
