-- Envelope encryption (issue 13, part 7): each account's data key, the platform's key and the
-- identifier secret, each wrapped (AES-256-GCM, its owner as associated data) by a key derived
-- from master key version kek_version. Rotating the master re-wraps these rows only.
CREATE TABLE wrapped_keys (
    owner TEXT PRIMARY KEY,
    kek_version BIGINT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX wrapped_keys_by_version ON wrapped_keys (kek_version, owner);
