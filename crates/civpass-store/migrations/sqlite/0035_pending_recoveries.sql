-- A lost phone's account moved remotely (issue 12) waits a day before it takes effect, so
-- that the old device, if it is not lost but phished, can stop it: the new device and the
-- evidence that allowed the move wait here, one per account.
CREATE TABLE pending_recoveries (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    public_key TEXT NOT NULL,
    credential_id TEXT,
    evidence_id TEXT NOT NULL,
    method TEXT NOT NULL,
    level TEXT NOT NULL,
    sealed_reference BLOB NOT NULL,
    verified_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    -- Set when a device of the account stopped it: kept a while, so that no other remote move
    -- of the account can start meanwhile (it moves at a registration point instead).
    stopped_at BIGINT
);
CREATE UNIQUE INDEX pending_recoveries_device ON pending_recoveries (device_id);
CREATE INDEX pending_recoveries_due ON pending_recoveries (activates_at);
