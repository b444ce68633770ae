-- omadm schema, version 5 (SQLite): DM notifications (package 0) with their retry schedule,
-- and where and how each device is notified.
--
-- Keep in step with ../postgres/0005_notification.sql.

-- Where a device is woken and with which DM version. `msisdn`/`channel` are set by a notify
-- request or a bootstrap; `dm_version` becomes '1.1.2' when a DM 1.2 notification went
-- unanswered and a DM 1.1.2 one was sent, or when the device opened a DM 1.1.2 session: the
-- device is then notified and managed with DM 1.1.2.
CREATE TABLE notification_targets (
    device_id  TEXT    PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    msisdn     TEXT,
    channel    TEXT,
    dm_version TEXT    NOT NULL DEFAULT '1.2',
    updated_at INTEGER NOT NULL
) STRICT;

-- One notification and its schedule. The package 0 itself is built at each send from the
-- device's current server credentials and nonce, so it is not stored.
-- state: queued (not sent yet: waiting for the throttle), sent (first push queued), retried
-- (a DM 1.2 re-send queued), fell_back (a DM 1.1.2 notification queued), session_opened
-- (answered), gave_up. Open states are leased by a scheduler (lease_until) while it sends.
CREATE TABLE notifications (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id            TEXT    NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    session_id           INTEGER NOT NULL,
    ui_mode              INTEGER NOT NULL,
    state                TEXT    NOT NULL,
    dm_version           TEXT    NOT NULL,
    msisdn               TEXT    NOT NULL,
    channel              TEXT,
    retries              INTEGER NOT NULL,
    interval_ms          INTEGER NOT NULL,
    jitter_pct           INTEGER NOT NULL,
    fallback_retries     INTEGER NOT NULL,
    fallback_interval_ms INTEGER NOT NULL,
    give_up_at           INTEGER NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    fallback_attempts    INTEGER NOT NULL DEFAULT 0,
    push_ids             TEXT    NOT NULL DEFAULT '',
    last_push_id         INTEGER REFERENCES pushes (id) ON DELETE SET NULL,
    next_attempt_at      INTEGER,
    lease_until          INTEGER,
    answered_session_id  TEXT,
    answered_at          INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

-- The scheduler's due scan and the throttle's count, over open notifications only.
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at)
    WHERE state IN ('queued', 'sent', 'retried', 'fell_back');
-- A package 1 answers the device's open notifications: one probe of this index.
CREATE INDEX notifications_open_device_idx ON notifications (device_id)
    WHERE state IN ('queued', 'sent', 'retried', 'fell_back');
CREATE INDEX notifications_device_idx ON notifications (device_id, id);
