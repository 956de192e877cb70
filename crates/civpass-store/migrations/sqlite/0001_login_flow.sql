-- Relying parties, citizens' accounts and devices, login requests, grants, consents, releases,
-- and signing keys. Times are Unix seconds.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    hkid_hash TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL,
    vault BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    public_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX devices_account ON devices (account_id);

CREATE TABLE login_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients (id),
    client_name TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    oauth_state TEXT,
    nonce TEXT,
    scopes TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    match_code TEXT NOT NULL,
    challenge TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    account_id TEXT REFERENCES accounts (id),
    device_id TEXT,
    approved_scopes TEXT NOT NULL DEFAULT '',
    auth_time BIGINT,
    amr TEXT NOT NULL DEFAULT '',
    code_hash TEXT UNIQUE,
    code_expires_at BIGINT,
    grant_id TEXT
);
CREATE INDEX login_requests_expiry ON login_requests (expires_at);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    login_request_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    refresh_hash TEXT NOT NULL UNIQUE,
    refresh_expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_account ON grants (account_id);

CREATE TABLE consents (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE releases (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    client_id TEXT NOT NULL REFERENCES clients (id),
    grant_id TEXT NOT NULL,
    claims TEXT NOT NULL,
    channel TEXT NOT NULL,
    released_at BIGINT NOT NULL
);
CREATE INDEX releases_account ON releases (account_id, released_at);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    sealed_pkcs8 BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
