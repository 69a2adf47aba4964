-- The delivery log on Calendar Connections: repeated deliveries ("ignored: duplicate") are
-- counted on the stored delivery, and refused ones (bad signature, stale, not Calendly's) are
-- kept briefly per adviser, at most a few a minute.
ALTER TABLE webhook_deliveries ADD COLUMN duplicates BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_deliveries ADD COLUMN last_duplicate_at BIGINT;
CREATE INDEX webhook_deliveries_duplicates ON webhook_deliveries (user_id, last_duplicate_at)
    WHERE last_duplicate_at IS NOT NULL;

CREATE TABLE webhook_refusals (
    id      BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    at      BIGINT NOT NULL,
    reason  TEXT   NOT NULL
);
CREATE INDEX webhook_refusals_by_user ON webhook_refusals (user_id, at);
CREATE INDEX webhook_refusals_by_age ON webhook_refusals (at);
