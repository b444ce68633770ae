-- omadm schema, version 5 (PostgreSQL): DM notifications (package 0) with their retry
-- schedule, and where and how each device is notified.
--
-- Keep in step with ../sqlite/0005_notification.sql (comments there).

CREATE TABLE notification_targets (
    device_id  TEXT    PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    msisdn     TEXT,
    channel    TEXT,
    dm_version TEXT    NOT NULL DEFAULT '1.2',
    updated_at BIGINT  NOT NULL
);

CREATE TABLE notifications (
    id                   BIGSERIAL PRIMARY KEY,
    device_id            TEXT    NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    session_id           INTEGER NOT NULL,
    ui_mode              INTEGER NOT NULL,
    state                TEXT    NOT NULL,
    dm_version           TEXT    NOT NULL,
    msisdn               TEXT    NOT NULL,
    channel              TEXT,
    retries              INTEGER NOT NULL,
    interval_ms          BIGINT  NOT NULL,
    jitter_pct           INTEGER NOT NULL,
    fallback_retries     INTEGER NOT NULL,
    fallback_interval_ms BIGINT  NOT NULL,
    give_up_at           BIGINT  NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    fallback_attempts    INTEGER NOT NULL DEFAULT 0,
    push_ids             TEXT    NOT NULL DEFAULT '',
    last_push_id         BIGINT  REFERENCES pushes (id) ON DELETE SET NULL,
    next_attempt_at      BIGINT,
    lease_until          BIGINT,
    answered_session_id  TEXT,
    answered_at          BIGINT,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL
);

CREATE INDEX notifications_due_idx ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'sent', 'retried', 'fell_back');
CREATE INDEX notifications_open_device_idx ON notifications (device_id)
    WHERE state IN ('queued', 'sent', 'retried', 'fell_back');
CREATE INDEX notifications_device_idx ON notifications (device_id, id);
