-- OpenID Connect for Identity Assurance (issue 13): the claims a claims request asked for as
-- `verified_claims`, per target (`userinfo:NAME`, `id_token:NAME`, and `only:NAME` for one
-- released only inside `verified_claims`), kept on the login request and its grant.
ALTER TABLE login_requests ADD COLUMN verified_claims TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN verified_claims TEXT NOT NULL DEFAULT '';
