-- The citizen app: WebAuthn and device-signature ceremonies in progress, short app sessions,
-- when each service was first linked, and the relying party's preferred languages.
CREATE TABLE ceremonies (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    sealed_state BYTEA NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ceremonies_expiry ON ceremonies (expires_at);

CREATE TABLE app_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    device_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX app_sessions_expiry ON app_sessions (expires_at);

ALTER TABLE consents ADD COLUMN linked_at BIGINT NOT NULL DEFAULT 0;
UPDATE consents SET linked_at = granted_at;

ALTER TABLE login_requests ADD COLUMN ui_locales TEXT;
