-- A passkey's credential id, unique across all devices: WebAuthn Level 3 section 7.1 step 26
-- has the relying party refuse a registration whose credential id is already registered.
-- Software devices have none (NULL, which a unique index does not compare). Passkeys registered
-- before this migration keep NULL: their ids live only in the JSON key record.
ALTER TABLE devices ADD COLUMN credential_id TEXT;
CREATE UNIQUE INDEX devices_credential ON devices (credential_id);
