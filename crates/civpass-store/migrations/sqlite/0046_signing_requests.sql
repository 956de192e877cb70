-- Services' requests to have a citizen sign documents (issue 14): the documents' names and
-- digests, the expected signer, the matching code, and once decided the outcome; the
-- signatures (they name the citizen) sealed with the signer's data key.
CREATE TABLE signing_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    client_name TEXT NOT NULL,
    sector TEXT NOT NULL,
    documents TEXT NOT NULL,
    expected_sub TEXT,
    match_code TEXT NOT NULL,
    status TEXT NOT NULL,
    account_id TEXT,
    sealed_result BLOB,
    failure TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX signing_requests_by_expiry ON signing_requests (expires_at);
