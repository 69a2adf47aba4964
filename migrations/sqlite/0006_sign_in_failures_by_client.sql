-- Failed sign-ins are counted per (email, client address) and per client address, with growing
-- delays instead of a lock: a stranger's failures never keep an adviser out.
ALTER TABLE sign_in_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
DROP INDEX sign_in_failures_by_email;
CREATE INDEX sign_in_failures_by_email_client ON sign_in_failures (email, client, at);
CREATE INDEX sign_in_failures_by_client ON sign_in_failures (client, at);
