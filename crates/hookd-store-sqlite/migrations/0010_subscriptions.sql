-- Custom headers and payload filters. Header names stay in clear so that a webhook can
-- be shown with its headers masked; the names and values together are sealed like the
-- signing secrets. A filter is kept as the JSON the client sent.
ALTER TABLE webhooks ADD COLUMN header_names TEXT;    -- JSON array; NULL for none
ALTER TABLE webhooks ADD COLUMN headers BLOB;         -- sealed JSON object
ALTER TABLE webhooks ADD COLUMN payload_filter TEXT;  -- JSON; NULL for every event
