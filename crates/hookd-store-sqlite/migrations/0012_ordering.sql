-- Ordered delivery. A webhook with `per_key` ordering receives the events of one
-- `ordering_key` one at a time, in publish order. Only its deliveries carry the key, so
-- a claim's ordering check costs nothing for the others; the partial index holds the
-- open deliveries of keys alone, for that check.
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';  -- none | per_key
ALTER TABLE events ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
CREATE INDEX deliveries_ordered ON deliveries(webhook_id, ordering_key, id)
    WHERE ordering_key IS NOT NULL AND status IN ('pending', 'in_flight');
