-- The counter console (issue 12): members of staff sign in with a passkey, enrolled through a
-- one-time link (its keyed hash and expiry here); administrators also give a TOTP code (RFC
-- 6238; the secret sealed with the staff id, and the last time step used, so a code counts
-- once). Console sessions are stored as hashes of their tokens.
ALTER TABLE staff ADD COLUMN enrolment_hash TEXT;
ALTER TABLE staff ADD COLUMN enrolment_expires_at BIGINT;
ALTER TABLE staff ADD COLUMN passkey TEXT;
ALTER TABLE staff ADD COLUMN credential_id TEXT;
ALTER TABLE staff ADD COLUMN totp_sealed BYTEA;
ALTER TABLE staff ADD COLUMN totp_last_step BIGINT;
CREATE UNIQUE INDEX staff_enrolment ON staff (enrolment_hash);
CREATE UNIQUE INDEX staff_credential ON staff (credential_id);

CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at);
