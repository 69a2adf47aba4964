-- Calendly connections, their webhook subscriptions, the webhook inbox, and meetings.
-- Times are Unix milliseconds; flags are 0/1 integers (one set of queries for both databases).

-- One row per adviser, reused on reconnect. Tokens are AES-256-GCM encrypted (nonce || ct).
CREATE TABLE calendar_connections (
    id                  BIGSERIAL PRIMARY KEY,
    user_id             BIGINT NOT NULL UNIQUE REFERENCES advisers(id) ON DELETE CASCADE,
    status              TEXT   NOT NULL CHECK (status IN ('connected', 'needs_reconnect', 'disconnected')),
    calendly_user_uri   TEXT   NOT NULL,
    organization_uri    TEXT   NOT NULL,
    calendly_name       TEXT   NOT NULL,
    calendly_email      TEXT   NOT NULL,
    timezone            TEXT   NOT NULL,
    access_token_enc    BYTEA,
    refresh_token_enc   BYTEA,
    access_expires_at   BIGINT,
    scope               TEXT,
    live_updates        TEXT   NOT NULL DEFAULT 'pending' CHECK (live_updates IN ('pending', 'active', 'unavailable')),
    live_updates_reason TEXT,
    connected_at        BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    last_sync_at        BIGINT,
    last_sync_result    TEXT,
    next_sync_at        BIGINT
);
CREATE INDEX calendar_connections_by_calendly_user ON calendar_connections (calendly_user_uri);

-- A pending OAuth authorization: one-time state bound to the adviser's session.
CREATE TABLE oauth_states (
    state_hash        TEXT   PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    session_hash      TEXT   NOT NULL,
    pkce_verifier_enc BYTEA   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);

CREATE TABLE calendly_webhook_subscriptions (
    id               BIGSERIAL PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    scope            TEXT   NOT NULL CHECK (scope IN ('user', 'organization')),
    user_uri         TEXT   NOT NULL,
    organization_uri TEXT   NOT NULL,
    subscription_uri TEXT,
    route_token      TEXT   NOT NULL UNIQUE,
    callback_url     TEXT   NOT NULL,
    state            TEXT   NOT NULL,
    is_active        BIGINT NOT NULL DEFAULT 1,
    retry_started_at TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- At most one active user-scoped subscription per adviser.
CREATE UNIQUE INDEX calendly_subscriptions_one_active_per_user
    ON calendly_webhook_subscriptions (user_id) WHERE is_active = 1 AND scope = 'user';
CREATE INDEX calendly_subscriptions_by_user_uri
    ON calendly_webhook_subscriptions (user_uri) WHERE is_active = 1;

-- Remote clean-up Calendly could not accept at disconnect time (network error): retried later.
-- Holds the (encrypted) tokens needed for it until it succeeds.
CREATE TABLE calendly_cleanup_jobs (
    id                BIGSERIAL PRIMARY KEY,
    user_id           BIGINT NOT NULL,
    subscription_uri  TEXT,
    access_token_enc  BYTEA,
    refresh_token_enc BYTEA,
    attempts          BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT NOT NULL,
    last_error        TEXT,
    created_at        BIGINT NOT NULL
);

-- The webhook inbox and audit log: every verified delivery, committed before it is acknowledged.
CREATE TABLE webhook_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    user_id         BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    subscription_id BIGINT REFERENCES calendly_webhook_subscriptions(id),
    event           TEXT   NOT NULL,
    natural_key     TEXT   NOT NULL,
    signature_t     BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    body            TEXT   NOT NULL,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'processed', 'ignored', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    processed_at    BIGINT,
    error           TEXT
);
CREATE UNIQUE INDEX webhook_deliveries_natural_key ON webhook_deliveries (user_id, natural_key);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (status, id);
-- Recent deliveries and "last webhook" per adviser (derived, never a hot row to update).
CREATE INDEX webhook_deliveries_by_user ON webhook_deliveries (user_id, received_at);

CREATE TABLE meetings (
    id                 BIGSERIAL PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    event_uri          TEXT   NOT NULL,
    title              TEXT   NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    location           TEXT,
    join_url           TEXT,
    event_type_uri     TEXT,
    status             TEXT   NOT NULL CHECK (status IN ('active', 'canceled', 'rescheduled')),
    canceled_by        TEXT,
    cancel_reason      TEXT,
    canceler_type      TEXT,
    rescheduled_to     TEXT,
    rescheduled_from   TEXT,
    source             TEXT   NOT NULL,
    calendly_updated_at TEXT  NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (user_id, event_uri)
);
CREATE INDEX meetings_by_user_start ON meetings (user_id, start_at);

CREATE TABLE attendees (
    id               BIGSERIAL PRIMARY KEY,
    meeting_id       BIGINT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    user_id          BIGINT NOT NULL,
    invitee_uri      TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    email            TEXT   NOT NULL,
    timezone         TEXT,
    status           TEXT   NOT NULL CHECK (status IN ('active', 'canceled')),
    rescheduled      BIGINT NOT NULL DEFAULT 0,
    old_invitee_uri  TEXT,
    new_invitee_uri  TEXT,
    canceled_by      TEXT,
    cancel_reason    TEXT,
    canceler_type    TEXT,
    no_show          BIGINT NOT NULL DEFAULT 0,
    no_show_at       TEXT,
    questions        TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (user_id, invitee_uri)
);
CREATE INDEX attendees_by_meeting ON attendees (meeting_id);
-- Reschedule links are followed by index probes in both directions.
CREATE INDEX attendees_by_old_invitee ON attendees (user_id, old_invitee_uri) WHERE old_invitee_uri IS NOT NULL;
CREATE INDEX attendees_by_new_invitee ON attendees (user_id, new_invitee_uri) WHERE new_invitee_uri IS NOT NULL;

-- Every change to an adviser's meetings, in order: the live stream's catch-up log.
CREATE TABLE meeting_changes (
    seq        BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    meeting_id BIGINT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX meeting_changes_by_user ON meeting_changes (user_id, seq);
