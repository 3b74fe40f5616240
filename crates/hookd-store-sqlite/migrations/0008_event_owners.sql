-- An event published for one owner reaches only that owner's webhooks; it keeps the
-- owner it was published for.
ALTER TABLE events ADD COLUMN owner TEXT;
