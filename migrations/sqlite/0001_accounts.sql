-- Advisers, their sessions and failed sign-ins (for throttling). Times are Unix milliseconds.
CREATE TABLE advisers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE sessions (
    id_hash    TEXT   PRIMARY KEY,
    adviser_id BIGINT NOT NULL REFERENCES advisers(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_adviser ON sessions (adviser_id);

CREATE TABLE sign_in_failures (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT   NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_by_email ON sign_in_failures (email, at);
