-- Accounts over their lifetime (issue 12): an operator suspends and reinstates accounts and
-- downgrades plus to basic, each with a reason, sealed with the account id (it may tell
-- circumstances). Registrations, upgrades and devices are read from where they are recorded
-- (evidence, devices); these are the operator's acts.
ALTER TABLE accounts ADD COLUMN suspended_at BIGINT;

CREATE TABLE account_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    sealed_reason BYTEA NOT NULL
);
CREATE INDEX account_events_account ON account_events (account_id, at);
