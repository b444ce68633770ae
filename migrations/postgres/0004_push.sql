-- omadm schema, version 4 (PostgreSQL): WAP pushes (bootstrap documents, DM notifications)
-- and their delivery state, and each device's bootstrap.
--
-- Keep in step with ../sqlite/0004_push.sql (comments there).

CREATE TABLE pushes (
    id              BIGSERIAL PRIMARY KEY,
    device_id       TEXT     REFERENCES devices (device_id) ON DELETE CASCADE,
    kind            TEXT     NOT NULL,
    msisdn          TEXT     NOT NULL,
    channel         TEXT,
    content_type    TEXT     NOT NULL,
    pdu             BYTEA,
    state           TEXT     NOT NULL,
    attempts        INTEGER  NOT NULL DEFAULT 0,
    max_attempts    INTEGER  NOT NULL,
    next_attempt_at BIGINT   NOT NULL,
    lease_until     BIGINT,
    reference       TEXT,
    failure         TEXT,
    created_at      BIGINT   NOT NULL,
    updated_at      BIGINT   NOT NULL
);

CREATE INDEX pushes_due_idx ON pushes (state, next_attempt_at);
CREATE INDEX pushes_device_idx ON pushes (device_id, id);

CREATE TABLE bootstraps (
    device_id       TEXT     PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    push_id         BIGINT   REFERENCES pushes (id) ON DELETE SET NULL,
    profile         TEXT     NOT NULL,
    state           TEXT     NOT NULL,
    created_at      BIGINT   NOT NULL,
    bootstrapped_at BIGINT
);
