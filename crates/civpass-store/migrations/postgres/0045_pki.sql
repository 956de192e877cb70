-- The platform's certificate authorities (issue 14): the root and the issuing CA with their
-- certificates and their keys sealed with the platform key. The root's key may be removed
-- for cold storage: issuing needs only the issuing CA's.
CREATE TABLE pki_authorities (
    kind TEXT PRIMARY KEY,
    certificate BYTEA NOT NULL,
    sealed_key BYTEA,
    created_at BIGINT NOT NULL
);
-- Citizens' signing certificates and keys, sealed with the account's data key (a certificate
-- names a person), found by serial number.
CREATE TABLE signing_credentials (
    serial TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    sealed_certificate BYTEA NOT NULL,
    sealed_key BYTEA NOT NULL,
    not_after BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason TEXT
);
CREATE INDEX signing_credentials_by_account ON signing_credentials (account_id, created_at);
