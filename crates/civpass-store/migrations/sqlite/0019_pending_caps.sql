-- Caps on the pending login requests one browser and one client address may hold: the
-- address's key is kept as a keyed hash, and both are counted through these indexes.
ALTER TABLE login_requests ADD COLUMN origin_hash TEXT;
CREATE INDEX login_requests_browser ON login_requests (browser_hash, expires_at);
CREATE INDEX login_requests_origin ON login_requests (origin_hash, expires_at);
