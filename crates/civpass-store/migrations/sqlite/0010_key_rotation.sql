-- Signing-key rotation: a key is published from creation, signs from activates_at, and leaves
-- the JWKS at retires_at.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ADD COLUMN retires_at BIGINT;
