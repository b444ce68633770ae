-- omadm schema, version 9 (SQLite): device groups, named by operators and used to target
-- campaigns.
--
-- Keep in step with ../postgres/0009_groups.sql.

CREATE TABLE device_groups (
    group_name TEXT    NOT NULL,
    device_id  TEXT    NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (group_name, device_id)
) STRICT;

CREATE INDEX device_groups_device_idx ON device_groups (device_id);
