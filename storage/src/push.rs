//! WAP pushes and their delivery state, and each device's bootstrap (`migrations/*/0004_push.sql`).
//!
//! A push is stored `queued` before anything is sent. A dispatcher leases due pushes
//! ([`claim_pushes`](crate::Tx::claim_pushes): `FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! several nodes never take the same one; SQLite's single writer serialises them), hands them
//! to a channel and records what came of it ([`finish_push`](crate::Tx::finish_push)). A node
//! that dies while sending leaves its lease to expire, and the push is taken again: delivery
//! is at least once.

use serde::Serialize;

use crate::conn::Conn;
use crate::error::{StoreError, classify};
use crate::model::Millis;

/// What a push carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushKind {
    /// An OMA Client Provisioning document (content type 0xB6).
    BootstrapCp,
    /// A DM-profile WBXML bootstrap (0xC2).
    BootstrapDm,
    /// A DM notification, package 0 (0xC4).
    Notification,
}

impl PushKind {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            PushKind::BootstrapCp => "bootstrap-cp",
            PushKind::BootstrapDm => "bootstrap-dm",
            PushKind::Notification => "notification",
        }
    }

    /// The kind of a stored spelling.
    pub fn parse(s: &str) -> Option<PushKind> {
        [PushKind::BootstrapCp, PushKind::BootstrapDm, PushKind::Notification]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a push is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushState {
    /// Waiting for its next attempt.
    Queued,
    /// Leased by a dispatcher that is handing it to a gateway.
    Sending,
    /// An SMSC or a PPG took it (`reference` holds their ids).
    Accepted,
    /// Given up (`failure` says why).
    Failed,
}

impl PushState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            PushState::Queued => "queued",
            PushState::Sending => "sending",
            PushState::Accepted => "accepted",
            PushState::Failed => "failed",
        }
    }

    /// The state of a stored spelling.
    pub fn parse(s: &str) -> Option<PushState> {
        [PushState::Queued, PushState::Sending, PushState::Accepted, PushState::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A push to store.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPush {
    /// The device it is for (`None` for a number not registered as a device).
    pub device_id: Option<String>,
    /// What it carries.
    pub kind: PushKind,
    /// The destination number (E.164).
    pub msisdn: String,
    /// The channel to use (`smpp`, `pap`); `None`: the first one configured.
    pub channel: Option<String>,
    /// The content type as text, with its SEC/MAC parameters (for operators).
    pub content_type: String,
    /// The connectionless WSP push PDU (WAP-230-WSP §8.2.4.1), exactly as it goes out.
    pub pdu: Vec<u8>,
    /// Attempts before giving up.
    pub max_attempts: u32,
}

impl std::fmt::Debug for NewPush {
    /// The PDU may hold provisioned credentials: only its length is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPush")
            .field("device_id", &self.device_id)
            .field("kind", &self.kind)
            .field("msisdn", &self.msisdn)
            .field("channel", &self.channel)
            .field("content_type", &self.content_type)
            .field("pdu_len", &self.pdu.len())
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// A stored push.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PushRecord {
    /// Its id.
    pub id: i64,
    /// The device it is for.
    pub device_id: Option<String>,
    /// What it carries.
    pub kind: PushKind,
    /// The destination number.
    pub msisdn: String,
    /// The channel asked for (`None`: the first configured).
    pub channel: Option<String>,
    /// The content type as text.
    pub content_type: String,
    /// The WSP push PDU; `None` once accepted or failed (it may hold credentials).
    #[serde(skip)]
    pub pdu: Option<Vec<u8>>,
    /// Where it is.
    pub state: PushState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// When it is due (queued) or was last taken.
    pub next_attempt_at: Millis,
    /// The gateway's ids (SMSC message ids, comma-separated, or the PPG push-id).
    pub reference: Option<String>,
    /// Why the last attempt failed.
    pub failure: Option<String>,
    /// When it was queued.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

impl std::fmt::Debug for PushRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRecord")
            .field("id", &self.id)
            .field("device_id", &self.device_id)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("reference", &self.reference)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// What came of one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The gateway took it.
    Accepted { reference: String },
    /// Failed, may succeed later: queued again for `retry_at` unless it has used its attempts.
    Retry { reason: String, retry_at: Millis },
    /// Failed for good.
    Failed { reason: String },
}

/// Where a device's bootstrap is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootstrapState {
    /// Pushed (or being pushed); the device has not yet opened a session with the
    /// provisioned credentials.
    Pending,
    /// The device opened an authenticated session after the bootstrap.
    Bootstrapped,
}

impl BootstrapState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            BootstrapState::Pending => "pending",
            BootstrapState::Bootstrapped => "bootstrapped",
        }
    }
}

/// A device's (latest) bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Bootstrap {
    /// The device.
    pub device_id: String,
    /// The push that carried it.
    pub push_id: Option<i64>,
    /// `cp` or `dm`.
    pub profile: String,
    /// Where it is.
    pub state: BootstrapState,
    /// When it was queued.
    pub created_at: Millis,
    /// When the device first authenticated after it.
    pub bootstrapped_at: Option<Millis>,
}

macro_rules! push_cols {
    () => {
        "id, device_id, kind, msisdn, channel, content_type, pdu, state, attempts, max_attempts, \
         next_attempt_at, reference, failure, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct PushRow {
    id: i64,
    device_id: Option<String>,
    kind: String,
    msisdn: String,
    channel: Option<String>,
    content_type: String,
    pdu: Option<Vec<u8>>,
    state: String,
    attempts: i32,
    max_attempts: i32,
    next_attempt_at: i64,
    reference: Option<String>,
    failure: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<PushRow> for PushRecord {
    type Error = StoreError;

    fn try_from(r: PushRow) -> Result<Self, StoreError> {
        let bad = |col: &str, v: &str| StoreError::Corrupt(format!("pushes.{col} of push {}: {v:?}", r.id));
        Ok(PushRecord {
            id: r.id,
            kind: PushKind::parse(&r.kind).ok_or_else(|| bad("kind", &r.kind))?,
            state: PushState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?,
            attempts: u32::try_from(r.attempts).map_err(|_| bad("attempts", &r.attempts.to_string()))?,
            max_attempts: u32::try_from(r.max_attempts)
                .map_err(|_| bad("max_attempts", &r.max_attempts.to_string()))?,
            device_id: r.device_id,
            msisdn: r.msisdn,
            channel: r.channel,
            content_type: r.content_type,
            pdu: r.pdu,
            next_attempt_at: r.next_attempt_at,
            reference: r.reference,
            failure: r.failure,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct BootstrapRow {
    device_id: String,
    push_id: Option<i64>,
    profile: String,
    state: String,
    created_at: i64,
    bootstrapped_at: Option<i64>,
}

impl TryFrom<BootstrapRow> for Bootstrap {
    type Error = StoreError;

    fn try_from(r: BootstrapRow) -> Result<Self, StoreError> {
        let state = match r.state.as_str() {
            "pending" => BootstrapState::Pending,
            "bootstrapped" => BootstrapState::Bootstrapped,
            other => {
                return Err(StoreError::Corrupt(format!("bootstraps.state of {}: {other:?}", r.device_id)));
            }
        };
        Ok(Bootstrap {
            device_id: r.device_id,
            push_id: r.push_id,
            profile: r.profile,
            state,
            created_at: r.created_at,
            bootstrapped_at: r.bootstrapped_at,
        })
    }
}

/// The longest failure text stored.
const MAX_FAILURE_LEN: usize = 1000;

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_FAILURE_LEN) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl Conn<'_> {
    pub(crate) async fn enqueue_push(&mut self, p: &NewPush, now: Millis) -> Result<i64, StoreError> {
        if p.pdu.is_empty() || p.max_attempts == 0 {
            return Err(StoreError::Invalid("a push needs a PDU and at least one attempt".into()));
        }
        const SQL: &str = "INSERT INTO pushes (device_id, kind, msisdn, channel, content_type, pdu, state, \
             attempts, max_attempts, next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $8, $8) RETURNING id";
        let max = i32::try_from(p.max_attempts).unwrap_or(i32::MAX);
        let device = p.device_id.as_deref().unwrap_or("");
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(p.device_id.as_deref())
            .bind(p.kind.as_str())
            .bind(&p.msisdn)
            .bind(p.channel.as_deref())
            .bind(&p.content_type)
            .bind(&p.pdu)
            .bind(max)
            .bind(now)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {device}")))?))
    }

    pub(crate) async fn claim_pushes(
        &mut self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<PushRecord>, StoreError> {
        // Due: queued and its time has come, or sending with a lease that ran out (its
        // dispatcher died). The attempt is counted when it is taken.
        macro_rules! claim {
            ($lock:literal) => {
                concat!(
                    "UPDATE pushes SET state = 'sending', attempts = attempts + 1, lease_until = $1, \
                     updated_at = $2 WHERE id IN (SELECT id FROM pushes WHERE \
                     (state = 'queued' AND next_attempt_at <= $2) OR (state = 'sending' AND lease_until < $2) \
                     ORDER BY next_attempt_at, id LIMIT $3",
                    $lock,
                    ") RETURNING ",
                    push_cols!()
                )
            };
        }
        let until = now.saturating_add(lease_ms);
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<PushRow> = match self {
            Conn::Sqlite(c) => {
                sqlx::query_as(claim!("")).bind(until).bind(now).bind(limit).fetch_all(&mut **c).await?
            }
            Conn::Postgres(c) => {
                sqlx::query_as(claim!(" FOR UPDATE SKIP LOCKED"))
                    .bind(until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut **c)
                    .await?
            }
        };
        let mut out = rows.into_iter().map(PushRecord::try_from).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|p| (p.next_attempt_at, p.id));
        Ok(out)
    }

    pub(crate) async fn finish_push(
        &mut self,
        id: i64,
        outcome: &PushOutcome,
        now: Millis,
    ) -> Result<PushRecord, StoreError> {
        // Only a push still leased (`sending`) changes: a late result for a push another node
        // has since taken over must not overwrite that node's.
        const ACCEPTED: &str = concat!(
            "UPDATE pushes SET state = 'accepted', pdu = NULL, lease_until = NULL, reference = $1, \
             failure = NULL, updated_at = $2 WHERE id = $3 AND state = 'sending' RETURNING ",
            push_cols!()
        );
        const RETRY: &str = concat!(
            "UPDATE pushes SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
             pdu = CASE WHEN attempts >= max_attempts THEN NULL ELSE pdu END, \
             next_attempt_at = $1, lease_until = NULL, failure = $2, updated_at = $3 \
             WHERE id = $4 AND state = 'sending' RETURNING ",
            push_cols!()
        );
        const FAILED: &str = concat!(
            "UPDATE pushes SET state = 'failed', pdu = NULL, lease_until = NULL, failure = $1, \
             updated_at = $2 WHERE id = $3 AND state = 'sending' RETURNING ",
            push_cols!()
        );
        let row: Option<PushRow> = match outcome {
            PushOutcome::Accepted { reference } => on_conn!(self, c => sqlx::query_as(ACCEPTED)
                .bind(clip(reference))
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *c)
                .await?),
            PushOutcome::Retry { reason, retry_at } => on_conn!(self, c => sqlx::query_as(RETRY)
                .bind(*retry_at)
                .bind(clip(reason))
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *c)
                .await?),
            PushOutcome::Failed { reason } => on_conn!(self, c => sqlx::query_as(FAILED)
                .bind(clip(reason))
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *c)
                .await?),
        };
        row.ok_or_else(|| StoreError::NotFound(format!("push {id} being sent")))?.try_into()
    }

    pub(crate) async fn get_push(&mut self, id: i64) -> Result<Option<PushRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", push_cols!(), " FROM pushes WHERE id = $1");
        let row: Option<PushRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id).fetch_optional(&mut *c).await?);
        row.map(PushRecord::try_from).transpose()
    }

    pub(crate) async fn list_pushes(
        &mut self,
        device_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<PushRecord>, StoreError> {
        const ALL: &str = concat!("SELECT ", push_cols!(), " FROM pushes ORDER BY id DESC LIMIT $1");
        const ONE: &str =
            concat!("SELECT ", push_cols!(), " FROM pushes WHERE device_id = $1 ORDER BY id DESC LIMIT $2");
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<PushRow> = match device_id {
            None => on_conn!(self, c => sqlx::query_as(ALL).bind(limit).fetch_all(&mut *c).await?),
            Some(d) => on_conn!(self, c => sqlx::query_as(ONE).bind(d).bind(limit).fetch_all(&mut *c).await?),
        };
        rows.into_iter().map(PushRecord::try_from).collect()
    }

    pub(crate) async fn set_bootstrap(&mut self, b: &Bootstrap) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO bootstraps (device_id, push_id, profile, state, created_at, \
             bootstrapped_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id) DO UPDATE SET \
             push_id = excluded.push_id, profile = excluded.profile, state = excluded.state, \
             created_at = excluded.created_at, bootstrapped_at = excluded.bootstrapped_at";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(&b.device_id)
            .bind(b.push_id)
            .bind(&b.profile)
            .bind(b.state.as_str())
            .bind(b.created_at)
            .bind(b.bootstrapped_at)
            .execute(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {}", b.device_id)))?
            .rows_affected());
        Ok(())
    }

    pub(crate) async fn get_bootstrap(&mut self, device_id: &str) -> Result<Option<Bootstrap>, StoreError> {
        const SQL: &str = "SELECT device_id, push_id, profile, state, created_at, bootstrapped_at \
             FROM bootstraps WHERE device_id = $1";
        let row: Option<BootstrapRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(device_id).fetch_optional(&mut *c).await?);
        row.map(Bootstrap::try_from).transpose()
    }

    pub(crate) async fn mark_bootstrapped(
        &mut self,
        device_id: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE bootstraps SET state = 'bootstrapped', bootstrapped_at = $1 \
             WHERE device_id = $2 AND state = 'pending'";
        Ok(
            on_conn!(self, c => sqlx::query(SQL).bind(now).bind(device_id).execute(&mut *c).await?.rows_affected())
                > 0,
        )
    }
}
