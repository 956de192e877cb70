-- e-ME (issue 13): the fields a citizen stores beside their registry-verified identity, as one
-- sealed JSON document per account (sealed with the account id, so no row can be moved to
-- another account). `version` rises with every write: a write that read an older version
-- does not land, so two devices' changes are never lost to each other.
CREATE TABLE eme_vaults (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    sealed BLOB NOT NULL,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
