-- DPoP (RFC 9449): the key a grant's tokens are bound to, and the proofs already seen.
ALTER TABLE grants ADD COLUMN dpop_jkt TEXT;

CREATE TABLE used_dpop_proofs (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_dpop_proofs_expiry ON used_dpop_proofs (expires_at);
