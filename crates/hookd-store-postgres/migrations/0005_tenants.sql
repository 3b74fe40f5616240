-- Workspaces are a product's customers: the product's own id for each (`external_id`,
-- unique when set) and free-form metadata. Keys may expire. The admin scope manages
-- workspaces over HTTP; the first key (made at first start) gets it.

ALTER TABLE workspaces ADD COLUMN external_id TEXT;
ALTER TABLE workspaces ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX workspaces_external_id ON workspaces(external_id) WHERE external_id IS NOT NULL;

ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;

UPDATE api_keys SET scopes = '["*","admin"]'
WHERE scopes = '["*"]' AND id = (SELECT id FROM api_keys ORDER BY created_at, id LIMIT 1);
