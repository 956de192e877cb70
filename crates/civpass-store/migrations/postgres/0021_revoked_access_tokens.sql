-- Revoked access tokens that have no grant to revoke (client credentials), by jti, until they
-- expire: introspection (and any API that checks such a token) must see them inactive.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
