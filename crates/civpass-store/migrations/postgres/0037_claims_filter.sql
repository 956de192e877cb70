-- e-ME release (issue 13): a claims request (OIDC Core section 5.5) that names some claims of a
-- scope without asking for the scope releases only those (`claims_filter`, kept on the grant
-- for UserInfo), and the claims it marks essential are shown so in the app.
ALTER TABLE login_requests ADD COLUMN claims_filter TEXT NOT NULL DEFAULT '';
ALTER TABLE login_requests ADD COLUMN essential_claims TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN claims_filter TEXT NOT NULL DEFAULT '';
