-- The W3C `traceparent` of an event's publish (its span when telemetry is on, else the
-- publisher's), continued by every attempt.
ALTER TABLE events ADD COLUMN trace_parent TEXT;
-- Whether a webhook's deliveries carry the attempt's `traceparent` header.
ALTER TABLE webhooks ADD COLUMN send_traceparent BOOLEAN NOT NULL DEFAULT FALSE;
