-- The identity check each account rests on: which method and how strong, when, and the
-- vendor's reference to the session (sealed with the account id; the images stay with the
-- vendor). Written in the same transaction as the account.
CREATE TABLE identity_evidence (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    purpose TEXT NOT NULL,
    method TEXT NOT NULL,
    level TEXT NOT NULL,
    sealed_reference BYTEA NOT NULL,
    verified_at BIGINT NOT NULL
);
CREATE INDEX identity_evidence_account ON identity_evidence (account_id);

-- Attempts per key (a keyed hash of an identity) in fixed windows, for limits that hold
-- whatever address the attempts come from.
CREATE TABLE attempt_counters (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);
