-- An account's events in the order they happened, also within one second (two operator acts
-- in a second, from two processes, would otherwise be ordered by their random ids).
ALTER TABLE account_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
