-- Self-service kiosks (issue 12): a kiosk is a member of staff of its own kind, assigned to the
-- one point where it stands, whose requests are signed with its own key (this column).
ALTER TABLE staff ADD COLUMN public_key TEXT;
