-- A client's registration metadata becomes one JSON document (`metadata`, the fields of
-- civpass_core's `Client` that serde writes): nothing queries those fields, and a new one then
-- needs no column. What is queried or kept apart stays in columns: id, secret_hash,
-- registration_token_hash, sector, created_at, deleted_at, disabled_at. Existing clients are
-- converted here (space-separated lists become arrays, the requirement words booleans), and
-- the columns the document replaces are dropped.
ALTER TABLE clients ADD COLUMN metadata TEXT;
UPDATE clients SET metadata = json_build_object(
    'name', name,
    'redirect_uris', redirect_uris::json,
    'id_token_alg', id_token_alg,
    'auth_methods', COALESCE(to_json(string_to_array(NULLIF(trim(auth_methods), ''), ' ')), '[]'::json),
    'grant_types', COALESCE(to_json(string_to_array(NULLIF(trim(grant_types), ''), ' ')), '[]'::json),
    'jwks', jwks,
    'jwks_uri', jwks_uri,
    'scopes', COALESCE(to_json(string_to_array(NULLIF(trim(scopes), ''), ' ')), '[]'::json),
    'require_par', (position(' par ' in ' ' || requirements || ' ') > 0),
    'require_signed_request', (position(' signed_request ' in ' ' || requirements || ' ') > 0),
    'require_dpop', (position(' dpop ' in ' ' || requirements || ' ') > 0),
    'resource_server', (position(' resource_server ' in ' ' || requirements || ' ') > 0),
    'native', (position(' native ' in ' ' || requirements || ' ') > 0),
    'acr_values_voluntary', (position(' acr_voluntary ' in ' ' || requirements || ' ') > 0),
    'post_logout_redirect_uris', post_logout_redirect_uris::json,
    'backchannel_logout_uri', backchannel_logout_uri,
    'sector_identifier_uri', sector_identifier_uri
)::text;
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
