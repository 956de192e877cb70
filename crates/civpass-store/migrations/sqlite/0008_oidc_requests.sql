-- What OpenID Connect lets a relying party ask of a login: acr values, the claims request, the
-- citizen it expects (id_token_hint), and why a login ended without approval.
ALTER TABLE login_requests ADD COLUMN acr_values TEXT NOT NULL DEFAULT '';
ALTER TABLE login_requests ADD COLUMN id_token_claims TEXT NOT NULL DEFAULT '';
ALTER TABLE login_requests ADD COLUMN expected_sub TEXT;
ALTER TABLE login_requests ADD COLUMN failure TEXT;
