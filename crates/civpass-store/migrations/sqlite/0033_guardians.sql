-- Minors (issue 12): a citizen aged 11 to 17 registers with the approval of a guardian the
-- population registry names, who holds an adult plus account. Until the guardian approves,
-- the minor's account is waiting (it cannot log in); the link is kept for both to see.
ALTER TABLE accounts ADD COLUMN awaiting_guardian_since BIGINT;

-- The minor's account is inserted after its link, in the registration's own write, so the
-- minor side has no foreign key; a link whose account never came is never shown.
CREATE TABLE guardian_links (
    id TEXT PRIMARY KEY,
    minor_account_id TEXT NOT NULL,
    guardian_account_id TEXT NOT NULL REFERENCES accounts (id),
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    approved_at BIGINT
);
CREATE INDEX guardian_links_guardian ON guardian_links (guardian_account_id, approved_at);
CREATE INDEX guardian_links_minor ON guardian_links (minor_account_id);
