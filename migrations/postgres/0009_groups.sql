-- omadm schema, version 9 (PostgreSQL): device groups, named by operators and used to target
-- campaigns.
--
-- Keep in step with ../sqlite/0009_groups.sql.

CREATE TABLE device_groups (
    group_name TEXT   NOT NULL,
    device_id  TEXT   NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    added_at   BIGINT NOT NULL,
    PRIMARY KEY (group_name, device_id)
);

CREATE INDEX device_groups_device_idx ON device_groups (device_id);
