-- hookd schema, SQLite. Timestamps are INTEGER microseconds since the Unix epoch (UTC);
-- ids are prefixed strings whose order is creation order.

-- Deployment-wide facts, such as the fingerprint of the key that seals secrets.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_hash   BLOB NOT NULL,
    scopes        TEXT NOT NULL,          -- JSON array of scope names
    owner_scoped  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY,
    workspace_id                TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    created_by                  TEXT,
    url                         TEXT NOT NULL,
    events                      TEXT NOT NULL,  -- JSON array of patterns
    description                 TEXT,
    enabled                     INTEGER NOT NULL,
    disabled_reason             TEXT,
    failure_count               INTEGER NOT NULL DEFAULT 0,
    delivery_attempts           INTEGER NOT NULL DEFAULT 0,
    last_delivered_at           INTEGER,
    metadata                    TEXT NOT NULL,  -- JSON object of strings
    rate_limit                  INTEGER,        -- deliveries per second
    failing_since               INTEGER,        -- first failure since the last success
    secret                      BLOB NOT NULL,  -- sealed
    previous_secret             BLOB,           -- sealed
    previous_secret_expires_at  INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_workspace ON webhooks(workspace_id, id);
CREATE INDEX webhooks_owner ON webhooks(workspace_id, created_by, id);
CREATE INDEX webhooks_url ON webhooks(workspace_id, url);

CREATE TABLE idempotency_keys (
    api_key_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    completed     INTEGER NOT NULL,
    status        INTEGER,
    response      TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, key)
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    producer_id   TEXT,
    data          TEXT NOT NULL,
    occurred_at   INTEGER,
    created_at    INTEGER NOT NULL,
    deliveries    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX events_producer ON events(workspace_id, producer_id) WHERE producer_id IS NOT NULL;

-- No foreign keys to webhooks or events: a webhook deleted while an event is being
-- published must not fail the publish; the engine cancels such deliveries.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL,
    webhook_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,   -- pending, in_flight, succeeded, failed, cancelled
    attempts          INTEGER NOT NULL DEFAULT 0,
    schedule_base     INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,
    lease_owner       TEXT,
    lease_expires_at  INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_workspace ON deliveries(workspace_id, id);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries(lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX deliveries_event ON deliveries(event_id);

CREATE TABLE attempts (
    delivery_id    TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    status_code    INTEGER,
    response       TEXT,
    error_kind     TEXT,
    error_message  TEXT,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
