-- Refresh tokens that a rotation replaced. Presenting one again means it leaked: the grant is
-- revoked (RFC 9700 section 4.14.2).
CREATE TABLE retired_refresh_tokens (
    refresh_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id),
    retired_at BIGINT NOT NULL
);
CREATE INDEX retired_refresh_tokens_retired ON retired_refresh_tokens (retired_at);
