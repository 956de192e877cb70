-- Passkeys registered before 0012 get their credential id from their key record, so that the
-- uniqueness check covers them too. The record holds it base64url-encoded without padding,
-- as the column does.
UPDATE devices SET credential_id = json_extract(public_key, '$.cred.cred_id')
WHERE kind = 'passkey' AND credential_id IS NULL;
