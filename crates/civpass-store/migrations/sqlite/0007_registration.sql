-- Dynamic client registration (RFC 7591, 7592): initial access tokens, each client's
-- registration access token, and deletion (clients stay, marked, for the records that name them).
CREATE TABLE registration_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
ALTER TABLE clients ADD COLUMN deleted_at BIGINT;
