-- The session (grant) a back-channel logout ends, sent as the logout token's `sid`, which the
-- service knows from the ID token; NULL when the notice is about the citizen as a whole.
ALTER TABLE logout_notices ADD COLUMN session_id TEXT;
