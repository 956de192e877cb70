-- A signing request's document names can name people (a review finding): they are kept
-- sealed with the platform key, the request id as associated data, no longer in plaintext.
ALTER TABLE signing_requests ADD COLUMN sealed_documents BLOB;
ALTER TABLE signing_requests DROP COLUMN documents;
