-- Calendly as of November 2026 (calendly-api.md §0): conference links that arrive after the
-- booking, guests and the invitee's own links kept for the adviser, and a sync that resumes
-- where it stopped (after a 429 or when pacing itself) instead of starting over.
ALTER TABLE meetings ADD COLUMN location_kind TEXT;
ALTER TABLE meetings ADD COLUMN location_status TEXT;
ALTER TABLE meetings ADD COLUMN location_details TEXT;
ALTER TABLE meetings ADD COLUMN guests TEXT;
ALTER TABLE attendees ADD COLUMN cancel_url TEXT;
ALTER TABLE attendees ADD COLUMN reschedule_url TEXT;
ALTER TABLE calendar_connections ADD COLUMN sync_cursor TEXT;
ALTER TABLE calendar_connections ADD COLUMN last_full_sync_at BIGINT;
-- Upcoming conference meetings still waiting for their link are re-checked at each interval.
CREATE INDEX meetings_awaiting_link ON meetings (user_id, start_at) WHERE join_url IS NULL AND location_kind IS NOT NULL;
