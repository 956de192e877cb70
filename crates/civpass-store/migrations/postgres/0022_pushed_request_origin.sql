-- The address (keyed hash of its key) that pushed a request for a public client, whose pushes
-- are capped per address as its logins are.
ALTER TABLE pushed_requests ADD COLUMN origin_hash TEXT;
CREATE INDEX pushed_requests_origin ON pushed_requests (origin_hash, expires_at);
