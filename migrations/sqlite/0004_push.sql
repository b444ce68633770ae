-- omadm schema, version 4 (SQLite): WAP pushes (bootstrap documents, DM notifications) and
-- their delivery state, and each device's bootstrap.
--
-- Keep in step with ../postgres/0004_push.sql.

-- One WAP push. It is stored before anything is sent, so a restart between queueing and
-- sending loses nothing; `pdu` (the WSP push PDU, which may hold provisioned credentials in
-- the clear) is dropped once the push is accepted or has failed for good.
-- state: queued (waiting for next_attempt_at), sending (leased by a dispatcher until
-- lease_until), accepted (an SMSC or PPG took it), failed (failure says why).
CREATE TABLE pushes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id       TEXT    REFERENCES devices (device_id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    msisdn          TEXT    NOT NULL,
    channel         TEXT,
    content_type    TEXT    NOT NULL,
    pdu             BLOB,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    reference       TEXT,
    failure         TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX pushes_due_idx ON pushes (state, next_attempt_at);
CREATE INDEX pushes_device_idx ON pushes (device_id, id);

-- A device's bootstrap: pending from the push until the device opens its first authenticated
-- session with the provisioned credentials (the implicit acknowledgement,
-- OMA-TS-DM_Bootstrap: no response is sent to a bootstrap).
CREATE TABLE bootstraps (
    device_id       TEXT    PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    push_id         INTEGER REFERENCES pushes (id) ON DELETE SET NULL,
    profile         TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    bootstrapped_at INTEGER
) STRICT;
