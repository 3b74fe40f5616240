-- Records a workspace keeps beside its webhooks, one table for every kind: the
-- applications and event types of the Svix-compatible API. `body` is the record's JSON;
-- `uid` is the caller's own unique name for it, where the kind has one.
CREATE TABLE records (
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    id            TEXT NOT NULL,
    uid           TEXT,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, id)
);
CREATE UNIQUE INDEX records_uid ON records (workspace_id, kind, uid) WHERE uid IS NOT NULL;

-- A webhook's own unique name among its owner's (a Svix endpoint's uid), and the
-- protocol its deliveries speak: 'standard' (hookd's body and webhook-* headers) or
-- 'svix' (the event's data as the body, svix-* headers).
ALTER TABLE webhooks ADD COLUMN uid TEXT;
ALTER TABLE webhooks ADD COLUMN protocol TEXT NOT NULL DEFAULT 'standard';
CREATE UNIQUE INDEX webhooks_uid ON webhooks (workspace_id, COALESCE(owner, ''), uid) WHERE uid IS NOT NULL;

-- An event's tags (a Svix message's), a JSON array; NULL for none.
ALTER TABLE events ADD COLUMN tags TEXT;
