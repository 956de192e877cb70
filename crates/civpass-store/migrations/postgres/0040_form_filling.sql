-- Form filling (issue 13): the form a service asked to fill (RFC 9396 authorization_details,
-- civpass type form_filling) on the login request and its grant; and the citizen's own record
-- of an anonymous filling, which names neither the service nor the account in clear (the
-- account as a keyed hash, the rest sealed to it).
ALTER TABLE login_requests ADD COLUMN authorization_details TEXT;
ALTER TABLE grants ADD COLUMN authorization_details TEXT;
CREATE TABLE anonymous_fillings (
    id TEXT PRIMARY KEY,
    account_lookup TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX anonymous_fillings_account ON anonymous_fillings (account_lookup, created_at);
