-- omadm schema, version 2 (SQLite): the server's mirror of each device's management tree,
-- and commands held back before sending (mirrored ACL or DDF refuses them).
--
-- Keep in step with ../postgres/0002_tree.sql.

-- One node of a device's tree as the device reported it: the value (leaves, when read) and
-- the run-time properties (OMA-TS-DM_TND-V1_2 "Properties of nodes"). NULL: not known.
CREATE TABLE tree_nodes (
    device_id  TEXT    NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    uri        TEXT    NOT NULL,
    value      TEXT,
    format     TEXT,
    mime_type  TEXT,
    acl        TEXT,
    title      TEXT,
    size       INTEGER,
    tstamp     TEXT,
    ver_no     INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, uri)
) STRICT;

-- Why a queued command is held back (NULL: not held); forced: an operator overrode the checks.
ALTER TABLE commands ADD COLUMN held_reason TEXT;
ALTER TABLE commands ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
