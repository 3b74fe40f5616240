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
