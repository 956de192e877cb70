-- e-ME address proofs (issue 13): uploaded documents, sealed to their account, kept in the
-- database by default (BlobStore), so that several nodes share them and backups hold them.
CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    content BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
