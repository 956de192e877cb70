-- Sector identifiers for pairwise subjects (OpenID Connect Core section 8.1).
ALTER TABLE clients ADD COLUMN sector_identifier_uri TEXT;
ALTER TABLE clients ADD COLUMN sector TEXT;
