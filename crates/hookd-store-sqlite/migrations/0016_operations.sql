-- Set when a webhook's consecutive failures reached `failing_after` and operators were
-- told (`webhook.failing`); cleared by the success that ends the streak
-- (`webhook.recovered`). Each is told once, whichever node records it.
ALTER TABLE webhooks ADD COLUMN failing_alerted INTEGER NOT NULL DEFAULT 0;
