-- omadm schema, version 3 (SQLite): operator DDF files (OMA-TS-DM_TND-V1_2 "Device Description
-- Framework"), imported through the admin API or the CLI and used, with the standard DDFs, to
-- check queued commands before they are sent.
--
-- Keep in step with ../postgres/0003_ddf.sql.

-- One imported DDF document. mount: where the MO sits on devices (the URI of its root node, or
-- of the interior node its placeholder root goes under, e.g. ./FwUpdate). mo_id: the DDF's
-- DFType of its root node, or the operator's. man/model: apply only to devices whose mirrored
-- ./DevInfo/Man (and Mod) are these (NULL: every device). document: the file as uploaded, XML
-- or WBXML.
CREATE TABLE ddfs (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    mo_id      TEXT,
    mount      TEXT    NOT NULL,
    man        TEXT,
    model      TEXT,
    document   BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
-- Names are unique (import conflicts by name).
CREATE UNIQUE INDEX ddfs_name_idx ON ddfs (name);
