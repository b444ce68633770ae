-- omadm schema, version 6 (SQLite): campaigns (FUMO firmware updates and configuration
-- rollouts over many devices), their per-device state, and firmware packages.
--
-- Keep in step with ../postgres/0006_campaign.sql.

-- A firmware package uploaded by an operator, stored on disk at `path` (OMA FUMO 1.0: the
-- device downloads it from the URL written to `<x>/DownloadAndUpdate/PkgURL`).
CREATE TABLE firmware_packages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    man         TEXT,
    model       TEXT,
    fwv         TEXT,
    size        INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- A campaign. `target`, `payload` and `policy` are JSON. state: scheduled (before start_at),
-- running, paused (by an operator or the failure-rate guard: pause_reason), cancelled,
-- completed (every device finished or the deadline passed).
CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    target        TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    start_at      INTEGER NOT NULL,
    deadline_at   INTEGER,
    pause_reason  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- One device of a campaign. state: pending, notified (commands queued, device told),
-- in_session (the device is working on them), succeeded, failed (reason). `step` and `data`
-- (JSON) are the flow's own progress; `command_ids` (JSON array) every command it queued.
-- lease_owner/lease_until: the engine node working on it (FOR UPDATE SKIP LOCKED on
-- PostgreSQL). next_at: when the engine looks at it next; checked_at: when it last did.
CREATE TABLE campaign_devices (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    device_id    TEXT    NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    wave         INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    step         TEXT,
    reason       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER,
    next_at      INTEGER NOT NULL,
    checked_at   INTEGER NOT NULL DEFAULT 0,
    command_ids  TEXT    NOT NULL DEFAULT '[]',
    vars         TEXT    NOT NULL DEFAULT '{}',
    data         TEXT    NOT NULL DEFAULT '{}',
    admitted_at  INTEGER,
    finished_at  INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, device_id)
) STRICT;

CREATE INDEX campaign_devices_state_idx ON campaign_devices (campaign_id, state, wave, next_at);
CREATE INDEX campaign_devices_active_idx ON campaign_devices (state, next_at)
    WHERE state IN ('notified', 'in_session');
CREATE INDEX campaign_devices_finished_idx ON campaign_devices (campaign_id, finished_at)
    WHERE finished_at IS NOT NULL;
CREATE INDEX campaign_devices_admitted_idx ON campaign_devices (campaign_id, admitted_at)
    WHERE admitted_at IS NOT NULL;
CREATE INDEX campaign_devices_device_idx ON campaign_devices (device_id);
CREATE INDEX generic_alerts_correlator_idx ON generic_alerts (device_id, correlator)
    WHERE correlator IS NOT NULL;
