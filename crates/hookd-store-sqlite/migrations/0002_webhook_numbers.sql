-- Every webhook also gets a positive integer `number`, unique in the deployment and never
-- reused, for APIs whose documented ids are integers (the partner-v2 surface).

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) STRICT;

ALTER TABLE webhooks ADD COLUMN number INTEGER NOT NULL DEFAULT 0;

UPDATE webhooks SET number = (SELECT COUNT(*) FROM webhooks AS w WHERE w.id <= webhooks.id);
INSERT INTO counters (name, value) SELECT 'webhook_number', COUNT(*) FROM webhooks;

CREATE UNIQUE INDEX webhooks_number ON webhooks(number);
