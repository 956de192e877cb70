-- Registry change events applied (issue 12): each id once, whatever feed it came from, so
-- that applying a feed again changes nothing more; and the position in the registry's feed.
CREATE TABLE registry_events (
    id TEXT PRIMARY KEY,
    applied_at BIGINT NOT NULL
);

CREATE TABLE registry_cursor (
    name TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
);
