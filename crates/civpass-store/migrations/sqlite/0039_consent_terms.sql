-- Standing consents (issue 13) say what they release, what for and until when: the claims
-- (not only the scopes), the service's `purpose` (OIDC4IDA), and an expiry after which the
-- service's grants end. Consents given before have no expiry.
ALTER TABLE consents ADD COLUMN claims TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN purpose TEXT;
ALTER TABLE consents ADD COLUMN expires_at BIGINT;
CREATE INDEX consents_expiry ON consents (expires_at);
ALTER TABLE login_requests ADD COLUMN purpose TEXT;
