-- Client metadata for client authentication methods, grant types and keys, and the client
-- assertions already seen (RFC 7523 `jti`), kept until they expire.
ALTER TABLE clients ADD COLUMN auth_methods TEXT NOT NULL DEFAULT '';
UPDATE clients SET auth_methods = CASE WHEN secret_hash IS NULL THEN 'none' ELSE 'client_secret_basic client_secret_post' END;
ALTER TABLE clients ADD COLUMN grant_types TEXT NOT NULL DEFAULT 'authorization_code refresh_token';
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN scopes TEXT NOT NULL DEFAULT '';

CREATE TABLE used_client_assertions (
    client_id TEXT NOT NULL REFERENCES clients (id),
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX used_client_assertions_expiry ON used_client_assertions (expires_at);
