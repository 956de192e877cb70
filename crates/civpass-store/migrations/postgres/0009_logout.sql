-- Logout (OpenID Connect RP-Initiated and Back-Channel Logout): where a client may be sent after
-- logging out, and where it hears that a citizen's session ended.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
