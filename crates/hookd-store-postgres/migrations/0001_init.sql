-- hookd schema, PostgreSQL. The same tables as the SQLite schema: timestamps are BIGINT
-- microseconds since the Unix epoch (UTC); ids are prefixed text whose order is creation
-- order.

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    secret_hash   BYTEA NOT NULL,
    scopes        TEXT NOT NULL,
    owner_scoped  BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id);

CREATE TABLE webhooks (
    id                          TEXT PRIMARY KEY,
    workspace_id                TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    created_by                  TEXT,
    url                         TEXT NOT NULL,
    events                      TEXT NOT NULL,
    description                 TEXT,
    enabled                     BOOLEAN NOT NULL,
    disabled_reason             TEXT,
    failure_count               BIGINT NOT NULL DEFAULT 0,
    delivery_attempts           BIGINT NOT NULL DEFAULT 0,
    last_delivered_at           BIGINT,
    metadata                    TEXT NOT NULL,
    rate_limit                  BIGINT,
    failing_since               BIGINT,
    secret                      BYTEA NOT NULL,
    previous_secret             BYTEA,
    previous_secret_expires_at  BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL,
    -- Unique in the deployment and never reused (the partner-v2 surface's integer ids).
    number                      BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX webhooks_workspace ON webhooks(workspace_id, id);
CREATE INDEX webhooks_owner ON webhooks(workspace_id, created_by, id);
CREATE INDEX webhooks_url ON webhooks(workspace_id, url);

CREATE TABLE idempotency_keys (
    api_key_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    completed     BOOLEAN NOT NULL,
    status        BIGINT,
    response      TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    producer_id   TEXT,
    data          TEXT NOT NULL,
    occurred_at   BIGINT,
    created_at    BIGINT NOT NULL,
    deliveries    BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_producer ON events(workspace_id, producer_id) WHERE producer_id IS NOT NULL;

-- No foreign keys to webhooks or events, as in the SQLite schema.
CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL,
    webhook_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL DEFAULT 0,
    schedule_base     BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    lease_owner       TEXT,
    lease_expires_at  BIGINT,
    last_status_code  BIGINT,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_workspace ON deliveries(workspace_id, id);
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries(lease_expires_at) WHERE status = 'in_flight';
CREATE INDEX deliveries_event ON deliveries(event_id);

CREATE TABLE attempts (
    delivery_id    TEXT NOT NULL,
    attempt        BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    duration_ms    BIGINT NOT NULL,
    status_code    BIGINT,
    response       TEXT,
    error_kind     TEXT,
    error_message  TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
