-- The dashboard and the customer portal.
--
-- Sessions are kept server-side; the cookie carries a random secret whose SHA-256 is
-- the row's key. Dashboard sessions belong to the API key that signed in (its scopes
-- and owner apply, and revoking it ends them); portal sessions to one owner.
CREATE TABLE web_sessions (
    id_hash           BYTEA PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    api_key_id        TEXT,
    owner             TEXT,
    csrf_token        TEXT NOT NULL,
    acting_workspace  TEXT,
    created_at        BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);

-- One-time portal links: opening one marks it used and starts a portal session.
CREATE TABLE portal_links (
    token_hash    BYTEA PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    used_at       BIGINT
);
CREATE INDEX portal_links_expires ON portal_links(expires_at);

-- Attempts by webhook, hour and latency bucket, written with the attempts: the
-- dashboard's health figures and charts read these few rows instead of the log.
CREATE TABLE webhook_stats (
    webhook_id  TEXT NOT NULL,
    hour        BIGINT NOT NULL,   -- start of the hour, microseconds
    bucket      BIGINT NOT NULL,   -- index into the latency bucket bounds
    succeeded   BIGINT NOT NULL,
    failed      BIGINT NOT NULL,
    PRIMARY KEY (webhook_id, hour, bucket)
);
CREATE INDEX webhook_stats_hour ON webhook_stats(hour);

-- What was sent and what came back, for the delivery log: JSON objects of header
-- names to values.
ALTER TABLE attempts ADD COLUMN request_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;

