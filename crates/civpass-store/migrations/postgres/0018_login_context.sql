-- Where a login request came from (browser, system, approximate place), derived at /authorize
-- and sealed with the request id: the app shows it so that a relayed request stands out.
ALTER TABLE login_requests ADD COLUMN sealed_context BYTEA;
