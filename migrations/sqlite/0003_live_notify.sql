-- Live updates on SQLite (a single instance) go through an in-process channel; PostgreSQL's
-- version of this migration adds the NOTIFY trigger. Kept so both databases share versions.
SELECT 1;
