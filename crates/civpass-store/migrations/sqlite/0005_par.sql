-- Pushed authorization requests (RFC 9126), each used once within a minute, and the clients
-- that must use them or signed request objects (RFC 9101).
CREATE TABLE pushed_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    params TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

-- Space-separated: `par`, `signed_request`.
ALTER TABLE clients ADD COLUMN requirements TEXT NOT NULL DEFAULT '';
