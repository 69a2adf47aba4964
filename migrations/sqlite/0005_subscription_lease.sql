-- Ensuring an adviser's webhook subscription is serialised across instances by a short lease on
-- the connection row (taken with a conditional UPDATE, never held as a lock across a call to
-- Calendly), so two instances never create two subscriptions, one with a token never stored.
ALTER TABLE calendar_connections ADD COLUMN subscription_lease_until BIGINT;
