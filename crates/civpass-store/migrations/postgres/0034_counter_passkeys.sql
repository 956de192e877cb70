-- The app at a counter (issue 12): a passkey made for a new account (or a lost phone's
-- replacement) waits here, with the hash of the token the app follows it with, until the
-- citizen confirms the officer's act with it and it becomes the account's device.
CREATE TABLE pending_passkeys (
    credential_id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_passkeys_expiry ON pending_passkeys (expires_at);
