-- Deliveries held for a disabled webhook (status 'held') until it is re-enabled: found
-- by webhook, oldest first.
CREATE INDEX deliveries_held ON deliveries(webhook_id, id) WHERE status = 'held';

-- When an event's payload was erased (its data replaced by null); NULL while it is whole.
ALTER TABLE events ADD COLUMN erased_at BIGINT;

-- Bulk erasures (POST /v1/erasure), run in the background in batches.
CREATE TABLE erasures (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    owner         TEXT,               -- only this owner's events; NULL: the whole workspace's
    created_before BIGINT,           -- only events created before this; NULL: all
    status        TEXT NOT NULL,      -- running, succeeded, failed
    total         BIGINT NOT NULL,  -- events to erase, counted when it started
    erased        BIGINT NOT NULL,
    cursor        TEXT,               -- the last event erased: the next batch starts after it
    error         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,  -- the last batch; a running erasure left alone is resumed
    finished_at   BIGINT
);
CREATE INDEX erasures_running ON erasures(updated_at) WHERE status = 'running';
