-- Caps on the pending login requests one browser and one client address may hold: the
-- address's key is kept as a keyed hash. The indexes hold pending requests only (a request
-- leaves them once decided), so a count reads only those, however many finished requests the
-- key has, and a request costs one entry in and one out.
ALTER TABLE login_requests ADD COLUMN origin_hash TEXT;
CREATE INDEX login_requests_pending_browser ON login_requests (browser_hash, expires_at)
    WHERE status = 'pending';
CREATE INDEX login_requests_pending_origin ON login_requests (origin_hash, expires_at)
    WHERE status = 'pending' AND origin_hash IS NOT NULL;
