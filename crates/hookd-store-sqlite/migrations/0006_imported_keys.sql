-- Keys a product already issued to its customers can be imported: only the SHA-256 of
-- the whole key is kept (in secret_hash, with an empty prefix), and a presented key is
-- looked up by it. One product key is imported once.
CREATE UNIQUE INDEX api_keys_imported ON api_keys(secret_hash) WHERE prefix = '';
