-- Registration points (issue 12): the operator's staff, the places they work, the codes a
-- citizen's app shows at a counter, and every act an officer performs there.

-- Officers, supervisors and administrators of the registration operator (never citizens).
CREATE TABLE staff (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

-- Counters, post offices, kiosks and mobile teams; hours as JSON (Hong Kong time): weekly
-- opening hours, or a mobile team's schedule of venues and dates.
CREATE TABLE registration_points (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name_en TEXT NOT NULL,
    name_zh_hant TEXT NOT NULL,
    name_zh_hans TEXT NOT NULL,
    district TEXT NOT NULL,
    hours TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Where each member of staff may act.
CREATE TABLE staff_assignments (
    staff_id TEXT NOT NULL REFERENCES staff (id),
    point_id TEXT NOT NULL REFERENCES registration_points (id),
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (staff_id, point_id)
);

-- A code the app shows at a counter: a keyed hash of it, the device key it is bound to (and
-- the device, when the key is an enrolled one), single use, short-lived.
CREATE TABLE registration_codes (
    code_hash TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    device_id TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX registration_codes_expiry ON registration_codes (expires_at);

-- What an officer did at a point, whatever its outcome (the audit), and, while it waits for
-- the citizen's confirmation on the phone, what will take effect. The card details the
-- officer typed are sealed with the act's id.
CREATE TABLE counter_acts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    point_id TEXT NOT NULL REFERENCES registration_points (id),
    at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    account_id TEXT,
    public_key TEXT,
    device_id TEXT,
    hkid_hash TEXT,
    sealed_details BLOB,
    expires_at BIGINT,
    decided_at BIGINT
);
CREATE INDEX counter_acts_key ON counter_acts (public_key, outcome);
CREATE INDEX counter_acts_staff ON counter_acts (staff_id, at);
