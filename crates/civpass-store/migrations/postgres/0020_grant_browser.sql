-- The browser a session's login happened in (hash of its binding cookie): RP-initiated logout
-- ends the session only from that browser, so a leaked ID token ends nothing elsewhere.
ALTER TABLE grants ADD COLUMN browser_hash TEXT;
