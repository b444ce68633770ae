//! Session transcripts (`migrations/*/0008_transcript.sql`): every DM message of a session as
//! redacted XML, so that support can read what a device and the server said without a packet
//! capture. The redaction happens before storing (the server's `transcript` module); this
//! layer keeps and returns the text.

use serde::Serialize;

use crate::conn::Conn;
use crate::error::{StoreError, classify};
use crate::model::Millis;

/// Who sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The device's message.
    Device,
    /// Our answer.
    Server,
}

impl Direction {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Device => "device",
            Direction::Server => "server",
        }
    }
}

/// One message of a transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TranscriptMessage {
    /// Position in the session, from 1 (the device's package 1).
    pub seq: u32,
    /// Who sent it.
    pub direction: Direction,
    /// The wire encoding (`xml`, `wbxml`).
    pub encoding: String,
    /// Its size on the wire, in bytes.
    pub size: u32,
    /// The message as XML, secrets redacted.
    pub xml: String,
    /// When it was handled.
    pub at: Millis,
}

#[derive(sqlx::FromRow)]
struct TranscriptRow {
    seq: i32,
    direction: String,
    encoding: String,
    size: i32,
    xml: String,
    at: i64,
}

impl Conn<'_> {
    pub(crate) async fn add_session_messages(
        &mut self,
        session_token: &str,
        messages: &[TranscriptMessage],
    ) -> Result<(), StoreError> {
        if messages.is_empty() {
            return Ok(());
        }
        on_conn!(self, c => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO session_messages (session_token, seq, direction, encoding, size, xml, at) ",
            );
            q.push_values(messages, |mut b, m| {
                b.push_bind(session_token)
                    .push_bind(i32::try_from(m.seq).unwrap_or(i32::MAX))
                    .push_bind(m.direction.as_str())
                    .push_bind(&m.encoding)
                    .push_bind(i32::try_from(m.size).unwrap_or(i32::MAX))
                    .push_bind(&m.xml)
                    .push_bind(m.at);
            });
            // A retransmission handled twice (it cannot be: replays are not stored) keeps the first.
            q.push(" ON CONFLICT (session_token, seq) DO NOTHING");
            q.build()
                .execute(&mut *c)
                .await
                .map_err(|e| classify(e, || format!("session {session_token}")))?;
        });
        Ok(())
    }

    pub(crate) async fn session_transcript(
        &mut self,
        session_token: &str,
    ) -> Result<Vec<TranscriptMessage>, StoreError> {
        const SQL: &str = "SELECT seq, direction, encoding, size, xml, at FROM session_messages \
             WHERE session_token = $1 ORDER BY seq LIMIT 10000";
        let rows: Vec<TranscriptRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(session_token).fetch_all(&mut *c).await?);
        rows.into_iter()
            .map(|r| {
                let direction = match r.direction.as_str() {
                    "device" => Direction::Device,
                    "server" => Direction::Server,
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "session_messages.direction of {session_token}/{}: {other:?}",
                            r.seq
                        )));
                    }
                };
                Ok(TranscriptMessage {
                    seq: u32::try_from(r.seq).unwrap_or(0),
                    direction,
                    encoding: r.encoding,
                    size: u32::try_from(r.size).unwrap_or(0),
                    xml: r.xml,
                    at: r.at,
                })
            })
            .collect()
    }

    pub(crate) async fn delete_transcripts_before(&mut self, cutoff: Millis) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM session_messages WHERE at < $1";
        Ok(on_conn!(self, c => sqlx::query(SQL).bind(cutoff).execute(&mut *c).await?.rows_affected()))
    }
}
