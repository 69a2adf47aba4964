-- On PostgreSQL this migration announces ended sessions to every instance (a trigger). SQLite runs
-- one instance, which tells its own live streams in process (backend::live): nothing to store.
SELECT 1;
