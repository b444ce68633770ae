-- omadm schema, version 8 (SQLite): session transcripts for support engineers.
--
-- Keep in step with ../postgres/0008_transcript.sql.

-- Every DM message of a session, both directions, as XML whatever the wire encoding, with
-- credentials and secrets redacted before they are stored. seq counts from 1 per session
-- (device message, our answer, ...). Kept for the configured retention, then deleted.
CREATE TABLE session_messages (
    session_token TEXT    NOT NULL REFERENCES sessions (token) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    direction     TEXT    NOT NULL,
    encoding      TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    xml           TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (session_token, seq)
) STRICT;

CREATE INDEX session_messages_at_idx ON session_messages (at);
