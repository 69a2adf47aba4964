-- Live updates across instances: every change row is announced on the advicly_meeting_changes
-- channel as "user_id:seq" (ids only). NOTIFY is transactional: listeners hear it only after the
-- change has committed.
CREATE FUNCTION advicly_notify_meeting_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('advicly_meeting_changes', NEW.user_id::text || ':' || NEW.seq::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER meeting_changes_notify AFTER INSERT ON meeting_changes
    FOR EACH ROW EXECUTE FUNCTION advicly_notify_meeting_change();
