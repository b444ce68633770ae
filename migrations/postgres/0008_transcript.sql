-- omadm schema, version 8 (PostgreSQL): session transcripts for support engineers.
--
-- Keep in step with ../sqlite/0008_transcript.sql (comments there).

CREATE TABLE session_messages (
    session_token TEXT    NOT NULL REFERENCES sessions (token) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    direction     TEXT    NOT NULL,
    encoding      TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    xml           TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    PRIMARY KEY (session_token, seq)
);

CREATE INDEX session_messages_at_idx ON session_messages (at);
