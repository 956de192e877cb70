-- A client's registration metadata becomes one JSON document (`metadata`, the fields of
-- civpass_core's `Client` that serde writes): nothing queries those fields, and a new one then
-- needs no column. What is queried or kept apart stays in columns: id, secret_hash,
-- registration_token_hash, sector, created_at, deleted_at, disabled_at. Existing clients are
-- converted here (space-separated lists become arrays, the requirement words booleans), and
-- the columns the document replaces are dropped.
ALTER TABLE clients ADD COLUMN metadata TEXT;
UPDATE clients SET metadata = json_object(
    'name', name,
    'redirect_uris', json(redirect_uris),
    'id_token_alg', id_token_alg,
    'auth_methods', json(CASE WHEN trim(auth_methods) = '' THEN '[]' ELSE '["' || replace(trim(auth_methods), ' ', '","') || '"]' END),
    'grant_types', json(CASE WHEN trim(grant_types) = '' THEN '[]' ELSE '["' || replace(trim(grant_types), ' ', '","') || '"]' END),
    'jwks', jwks,
    'jwks_uri', jwks_uri,
    'scopes', json(CASE WHEN trim(scopes) = '' THEN '[]' ELSE '["' || replace(trim(scopes), ' ', '","') || '"]' END),
    'require_par', json(CASE WHEN instr(' ' || requirements || ' ', ' par ') > 0 THEN 'true' ELSE 'false' END),
    'require_signed_request', json(CASE WHEN instr(' ' || requirements || ' ', ' signed_request ') > 0 THEN 'true' ELSE 'false' END),
    'require_dpop', json(CASE WHEN instr(' ' || requirements || ' ', ' dpop ') > 0 THEN 'true' ELSE 'false' END),
    'resource_server', json(CASE WHEN instr(' ' || requirements || ' ', ' resource_server ') > 0 THEN 'true' ELSE 'false' END),
    'native', json(CASE WHEN instr(' ' || requirements || ' ', ' native ') > 0 THEN 'true' ELSE 'false' END),
    'acr_values_voluntary', json(CASE WHEN instr(' ' || requirements || ' ', ' acr_voluntary ') > 0 THEN 'true' ELSE 'false' END),
    'post_logout_redirect_uris', json(post_logout_redirect_uris),
    'backchannel_logout_uri', backchannel_logout_uri,
    'sector_identifier_uri', sector_identifier_uri
);
ALTER TABLE clients DROP COLUMN name;
ALTER TABLE clients DROP COLUMN redirect_uris;
ALTER TABLE clients DROP COLUMN id_token_alg;
ALTER TABLE clients DROP COLUMN auth_methods;
ALTER TABLE clients DROP COLUMN grant_types;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN scopes;
ALTER TABLE clients DROP COLUMN requirements;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN sector_identifier_uri;
