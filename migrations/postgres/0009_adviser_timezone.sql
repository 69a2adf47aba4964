-- The adviser's own time zone (an IANA name) for showing times: taken from the browser at
-- sign-up, changeable in Settings. NULL: the connected Calendly account's zone, else UTC.
ALTER TABLE advisers ADD COLUMN timezone TEXT;
