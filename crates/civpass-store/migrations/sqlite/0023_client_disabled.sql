-- When the operator suspended a client (`civpass client disable`); NULL while it is enabled.
ALTER TABLE clients ADD COLUMN disabled_at INTEGER;
