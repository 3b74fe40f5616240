-- Owners: the product's own sub-accounts inside a customer's workspace (seed 003's OAuth
-- clients). A webhook belongs to an owner or, with none, to the workspace itself; a key
-- with an owner sees and creates only that owner's webhooks. An owner-scoped key's owner
-- is its key id, so its existing webhooks keep their owner.
ALTER TABLE webhooks ADD COLUMN owner TEXT;
UPDATE webhooks SET owner = created_by WHERE created_by IN (SELECT id FROM api_keys WHERE owner_scoped = TRUE);
CREATE INDEX webhooks_by_owner ON webhooks(workspace_id, owner, id);

ALTER TABLE api_keys ADD COLUMN owner TEXT;
