-- omadm schema, version 1 (PostgreSQL).
--
-- Keep in step with ../sqlite/0001_init.sql: same file names, table, column and index names
-- (the storage crate's `migrations_in_step` and `schema_in_step` tests check it).
-- Times are Unix epoch milliseconds (BIGINT); JSON is stored as TEXT so that the SQL is shared
-- with SQLite. Device ids and URIs use the "C" collation: byte order, as on SQLite, so that
-- keyset pagination orders the same on both backends.

-- A managed device and its credentials (secrets only as B64(MD5(name:password))).
CREATE TABLE devices (
    device_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    client_auth_type TEXT    NOT NULL,
    client_username  TEXT    NOT NULL,
    client_secret    TEXT    NOT NULL,
    client_nonce     TEXT    NOT NULL,
    server_id        TEXT    NOT NULL,
    server_secret    TEXT,
    server_nonce     TEXT    NOT NULL,
    dm_version       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    last_session_at  BIGINT
);

-- The last reported value of each node of a device's tree.
CREATE TABLE inventory (
    device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    uri        TEXT COLLATE "C" NOT NULL,
    format     TEXT,
    value      TEXT    NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (device_id, uri)
);

-- Every command, children of Atomic/Sequence included (parent_id, position).
-- texts: JSON array of strings.
CREATE TABLE commands (
    id            BIGSERIAL NOT NULL PRIMARY KEY,
    device_id     TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    parent_id     BIGINT  REFERENCES commands (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    op            TEXT    NOT NULL,
    target        TEXT,
    source        TEXT,
    data          TEXT,
    format        TEXT,
    mime_type     TEXT,
    alert_code    INTEGER,
    texts         TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    status        INTEGER,
    session_token TEXT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
-- Top-level commands of a device by state in order (next_queued, list_commands with a state).
CREATE INDEX commands_queue_idx ON commands (device_id, state, id) WHERE parent_id IS NULL;
-- All commands of a device (list_commands without a state; the device cascade).
CREATE INDEX commands_device_idx ON commands (device_id, id);
-- Children of a container in order (tree loading; the parent cascade).
CREATE INDEX commands_parent_idx ON commands (parent_id, position);
-- Commands sent in a session (requeue_sent).
CREATE INDEX commands_session_idx ON commands (session_token) WHERE session_token IS NOT NULL;

-- Results items received for a command (Get), in arrival order.
CREATE TABLE command_results (
    id          BIGSERIAL NOT NULL PRIMARY KEY,
    command_id  BIGINT  NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
    source      TEXT    NOT NULL,
    format      TEXT,
    mime_type   TEXT,
    data        TEXT    NOT NULL,
    received_at BIGINT  NOT NULL
);
CREATE INDEX command_results_command_idx ON command_results (command_id, id);

-- Generic Alerts (1226) as received.
CREATE TABLE generic_alerts (
    id            BIGSERIAL NOT NULL PRIMARY KEY,
    device_id     TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    session_token TEXT,
    alert_type    TEXT,
    format        TEXT,
    mark          TEXT,
    source        TEXT,
    data          TEXT,
    correlator    TEXT,
    received_at   BIGINT  NOT NULL
);
CREATE INDEX generic_alerts_device_idx ON generic_alerts (device_id, id);

-- DM sessions and the engine's state between messages (state: JSON).
CREATE TABLE sessions (
    token            TEXT    NOT NULL PRIMARY KEY,
    device_id        TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    dm_session_id    TEXT    NOT NULL,
    dm_version       TEXT    NOT NULL,
    started_at       BIGINT  NOT NULL,
    last_activity_at BIGINT  NOT NULL,
    ended_at         BIGINT,
    messages_in      INTEGER NOT NULL,
    messages_out     INTEGER NOT NULL,
    outcome          TEXT    NOT NULL,
    state            TEXT    NOT NULL
);
CREATE INDEX sessions_device_idx ON sessions (device_id, started_at);
-- Active sessions by idleness (idle_sessions).
CREATE INDEX sessions_idle_idx ON sessions (last_activity_at) WHERE outcome = 'active';

-- Audit log. No foreign key: entries outlive the device they concern. detail: JSON.
CREATE TABLE audit_log (
    id        BIGSERIAL NOT NULL PRIMARY KEY,
    at        BIGINT  NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    device_id TEXT COLLATE "C",
    detail    TEXT    NOT NULL
);
CREATE INDEX audit_log_device_idx ON audit_log (device_id, id);
