-- Back-channel logout notices waiting to be delivered: kept until the service accepts one or
-- the retries run out, so that a service that is down when a citizen unlinks it still hears.
-- The logout token is signed afresh at each attempt (it lives two minutes), so only the
-- subject the service knows is kept.
CREATE TABLE logout_notices (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX logout_notices_due ON logout_notices (next_attempt_at);
