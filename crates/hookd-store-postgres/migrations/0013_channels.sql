-- Channels: an event may be sent to channels, and a webhook may listen to some; one
-- that does receives only the events sent to one of them. Both are JSON arrays of
-- names, NULL for none (a webhook then receives every event, an event every webhook).
ALTER TABLE webhooks ADD COLUMN channels TEXT;
ALTER TABLE events ADD COLUMN channels TEXT;
