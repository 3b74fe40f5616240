-- Ed25519 signing (Standard Webhooks v1a). The private key is stored sealed in `secret`
-- (and `previous_secret` during a rotation), like an HMAC secret; its public key, which
-- receivers verify with, is kept in clear.
ALTER TABLE webhooks ADD COLUMN signing TEXT NOT NULL DEFAULT 'hmac';  -- hmac | ed25519
ALTER TABLE webhooks ADD COLUMN public_key TEXT;                       -- whpk_…, ed25519 only
