-- One typed outbox for every kind of message delivered after the change that caused it
-- (back-channel logout first; notifications, webhooks and security events later): each row
-- names its kind and carries its payload as JSON. The logout notices waiting in the table this
-- replaces move over as kind 'backchannel_logout', with their attempts and due times.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (kind, next_attempt_at);
INSERT INTO outbox (id, kind, payload, attempts, next_attempt_at, created_at)
    SELECT id, 'backchannel_logout', json_object('client_id', client_id, 'subject', subject, 'session_id', session_id),
           attempts, next_attempt_at, created_at
    FROM logout_notices;
DROP TABLE logout_notices;
