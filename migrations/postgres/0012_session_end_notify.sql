-- Sign-out reaches open live streams on every instance: an ended session is announced on the
-- advicly_meeting_changes channel as "s:adviser_id" (after commit), and that adviser's streams
-- re-check their sessions. Streams no longer poll the sessions table.
CREATE FUNCTION advicly_notify_session_end() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('advicly_meeting_changes', 's:' || OLD.adviser_id::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_notify_end AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION advicly_notify_session_end();
