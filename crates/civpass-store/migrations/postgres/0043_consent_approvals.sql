-- Each approval that makes up a standing consent (issue 13, a review finding): its claims,
-- purpose, time and expiry, as JSON, so that a later approval changes the terms of only the
-- claims the citizen was shown then, and the receipt lists them all.
ALTER TABLE consents ADD COLUMN approvals TEXT NOT NULL DEFAULT '[]';
