-- "Sync now" on Calendar Connections: when the adviser last asked for one. Claimed with a
-- conditional UPDATE, so double clicks and several instances start one sync per cooldown.
ALTER TABLE calendar_connections ADD COLUMN manual_sync_at BIGINT;
