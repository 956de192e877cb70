-- A check value per master key version (issue 13, a review finding): a known text sealed
-- under that version's key-encryption key, so that a node given a different key under the
-- same version number refuses to start or to wrap, instead of wrapping keys no other node
-- can open.
CREATE TABLE master_key_checks (
    version BIGINT PRIMARY KEY,
    sealed_check BLOB NOT NULL
);
