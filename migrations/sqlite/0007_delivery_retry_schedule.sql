-- A stored delivery that keeps failing to apply is never dropped: after its first attempts it
-- is retried on a slower schedule, from this time (Unix ms; NULL = at the next round).
ALTER TABLE webhook_deliveries ADD COLUMN next_attempt_at BIGINT;
