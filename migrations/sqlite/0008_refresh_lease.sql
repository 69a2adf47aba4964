-- A token refresh is single-flight across instances by a short lease on the connection row
-- (taken with a conditional UPDATE), so no connection or row lock is held while Calendly
-- answers.
ALTER TABLE calendar_connections ADD COLUMN refresh_lease_until BIGINT;
