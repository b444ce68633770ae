//! DM notifications (package 0) with their retry schedule, and each device's notification
//! target (`migrations/*/0005_notification.sql`).
//!
//! A notification is stored `queued`; a scheduler leases due ones
//! ([`claim_notifications`](crate::Tx::claim_notifications): `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so two nodes never re-send the same one; SQLite's single writer serialises
//! them), queues a push and records the step ([`step_notification`](crate::Tx::step_notification)),
//! which only applies while the lease is still the scheduler's and nobody answered. The
//! schedule is in the rows, so a restart resumes it. A package 1 of the device answers every
//! open notification of it ([`answer_notifications`](crate::Tx::answer_notifications)).

use serde::Serialize;

use crate::conn::Conn;
use crate::error::{StoreError, classify};
use crate::model::Millis;
use crate::push::PushState;

/// Where a notification is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Not sent yet (the outstanding cap holds it back, or the scheduler has not run).
    Queued,
    /// The first package 0 is pushed (its push's own state says whether the SMSC took it).
    Sent,
    /// A DM 1.2 package 0 was pushed again.
    Retried,
    /// A DM 1.1.2 package 0 was pushed after the DM 1.2 ones went unanswered.
    FellBack,
    /// The device opened a session.
    SessionOpened,
    /// No session after every send and wait, or past the give-up time.
    GaveUp,
}

impl NotificationState {
    /// Every state.
    pub const ALL: [NotificationState; 6] = [
        NotificationState::Queued,
        NotificationState::Sent,
        NotificationState::Retried,
        NotificationState::FellBack,
        NotificationState::SessionOpened,
        NotificationState::GaveUp,
    ];

    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationState::Queued => "queued",
            NotificationState::Sent => "sent",
            NotificationState::Retried => "retried",
            NotificationState::FellBack => "fell_back",
            NotificationState::SessionOpened => "session_opened",
            NotificationState::GaveUp => "gave_up",
        }
    }

    /// The state of a stored spelling.
    pub fn parse(s: &str) -> Option<NotificationState> {
        NotificationState::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Still waiting for a session (the scheduler's business).
    pub const fn is_open(self) -> bool {
        !matches!(self, NotificationState::SessionOpened | NotificationState::GaveUp)
    }
}

/// The open states, as SQL.
macro_rules! open_states {
    () => {
        "('queued', 'sent', 'retried', 'fell_back')"
    };
}

/// How often and how long a notification is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct NotificationPolicy {
    /// DM 1.2 re-sends after the first package 0.
    pub retries: u32,
    /// Wait for a session after each DM 1.2 send.
    pub interval_ms: i64,
    /// Each wait varies by up to this many percent either way.
    pub jitter_pct: u32,
    /// DM 1.1.2 notifications sent once the DM 1.2 ones went unanswered (0: no fallback).
    pub fallback_retries: u32,
    /// Wait for a session after each DM 1.1.2 send.
    pub fallback_interval_ms: i64,
}

/// A notification to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewNotification {
    /// The device.
    pub device_id: String,
    /// The package 0 session id, 1..=0xFFFF.
    pub session_id: u16,
    /// The ui-mode field, 0..=3.
    pub ui_mode: u8,
    /// `1.2` or `1.1.2`: the version of the first send.
    pub dm_version: String,
    /// The destination number (E.164).
    pub msisdn: String,
    /// The channel (`smpp`, `pap`); `None`: the first configured.
    pub channel: Option<String>,
    /// Retries and waits.
    pub policy: NotificationPolicy,
    /// Given up at this time whatever the schedule says.
    pub give_up_at: Millis,
}

/// A stored notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotificationRecord {
    /// Its id.
    pub id: i64,
    /// The device.
    pub device_id: String,
    /// The package 0 session id.
    pub session_id: u16,
    /// The session id as the device echoes it in SyncHdr/SessionID (uppercase hex).
    pub session_id_hex: String,
    /// The ui-mode field.
    pub ui_mode: u8,
    /// Where it is.
    pub state: NotificationState,
    /// The DM version of the latest send (of the next one while `queued`).
    pub dm_version: String,
    /// The destination number.
    pub msisdn: String,
    /// The channel asked for.
    pub channel: Option<String>,
    /// Retries and waits.
    pub policy: NotificationPolicy,
    /// Given up at this time.
    pub give_up_at: Millis,
    /// Packages 0 pushed so far.
    pub attempts: u32,
    /// Of which DM 1.1.2 ones.
    pub fallback_attempts: u32,
    /// The pushes that carried it, oldest first.
    pub push_ids: Vec<i64>,
    /// The state of the latest push (`accepted`: the SMSC or PPG took it).
    pub push_state: Option<PushState>,
    /// When the scheduler looks at it next (`None` once answered or given up).
    pub next_attempt_at: Option<Millis>,
    /// The SyncHdr/SessionID of the session that answered it (any session of the device
    /// answers; equal to `session_id_hex` when the device followed this notification).
    pub answered_session_id: Option<String>,
    /// When a session answered it.
    pub answered_at: Option<Millis>,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

/// What the scheduler did with a leased notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationStep {
    /// The new state.
    pub state: NotificationState,
    /// The DM version of this send (unchanged when nothing was sent).
    pub dm_version: String,
    /// The push queued by this step; `None` when nothing was sent.
    pub push_id: Option<i64>,
    /// This send was a DM 1.1.2 fallback.
    pub fallback: bool,
    /// When to look at it again; `None` for a final state.
    pub next_attempt_at: Option<Millis>,
}

/// Where and how a device is notified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotificationTarget {
    /// The device.
    pub device_id: String,
    /// Its number (E.164), if known.
    pub msisdn: Option<String>,
    /// The channel to use; `None`: the first configured.
    pub channel: Option<String>,
    /// `1.2`, or `1.1.2` once the device is managed with DM 1.1.2.
    pub dm_version: String,
    /// When it last changed.
    pub updated_at: Millis,
}

macro_rules! notification_cols {
    () => {
        "id, device_id, session_id, ui_mode, state, dm_version, msisdn, channel, retries, interval_ms, \
         jitter_pct, fallback_retries, fallback_interval_ms, give_up_at, attempts, fallback_attempts, \
         push_ids, next_attempt_at, answered_session_id, answered_at, created_at, updated_at, \
         (SELECT p.state FROM pushes p WHERE p.id = notifications.last_push_id) AS push_state"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: i64,
    device_id: String,
    session_id: i32,
    ui_mode: i32,
    state: String,
    dm_version: String,
    msisdn: String,
    channel: Option<String>,
    retries: i32,
    interval_ms: i64,
    jitter_pct: i32,
    fallback_retries: i32,
    fallback_interval_ms: i64,
    give_up_at: i64,
    attempts: i32,
    fallback_attempts: i32,
    push_ids: String,
    next_attempt_at: Option<i64>,
    answered_session_id: Option<String>,
    answered_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    push_state: Option<String>,
}

impl TryFrom<NotificationRow> for NotificationRecord {
    type Error = StoreError;

    fn try_from(r: NotificationRow) -> Result<Self, StoreError> {
        let id = r.id;
        let bad = |col: &str, v: &dyn std::fmt::Debug| {
            StoreError::Corrupt(format!("notifications.{col} of notification {id}: {v:?}"))
        };
        let count = |col: &str, v: i32| u32::try_from(v).map_err(|_| bad(col, &v));
        let session_id = u16::try_from(r.session_id)
            .ok()
            .filter(|s| *s != 0)
            .ok_or_else(|| bad("session_id", &r.session_id))?;
        let push_ids = if r.push_ids.is_empty() {
            Vec::new()
        } else {
            r.push_ids
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<i64>, _>>()
                .map_err(|_| bad("push_ids", &r.push_ids))?
        };
        let push_state = match &r.push_state {
            Some(s) => Some(PushState::parse(s).ok_or_else(|| bad("push state", s))?),
            None => None,
        };
        Ok(NotificationRecord {
            id,
            session_id,
            session_id_hex: format!("{session_id:X}"),
            ui_mode: u8::try_from(r.ui_mode)
                .ok()
                .filter(|m| *m <= 3)
                .ok_or_else(|| bad("ui_mode", &r.ui_mode))?,
            state: NotificationState::parse(&r.state).ok_or_else(|| bad("state", &r.state))?,
            policy: NotificationPolicy {
                retries: count("retries", r.retries)?,
                interval_ms: r.interval_ms,
                jitter_pct: count("jitter_pct", r.jitter_pct)?,
                fallback_retries: count("fallback_retries", r.fallback_retries)?,
                fallback_interval_ms: r.fallback_interval_ms,
            },
            attempts: count("attempts", r.attempts)?,
            fallback_attempts: count("fallback_attempts", r.fallback_attempts)?,
            push_ids,
            push_state,
            device_id: r.device_id,
            dm_version: r.dm_version,
            msisdn: r.msisdn,
            channel: r.channel,
            give_up_at: r.give_up_at,
            next_attempt_at: r.next_attempt_at,
            answered_session_id: r.answered_session_id,
            answered_at: r.answered_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TargetRow {
    device_id: String,
    msisdn: Option<String>,
    channel: Option<String>,
    dm_version: String,
    updated_at: i64,
}

/// The longest SessionID kept from a device's package 1 (the field is hex of 16 bits; a
/// hostile device may send more).
const MAX_SESSION_ID_LEN: usize = 16;

fn small(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

impl Conn<'_> {
    pub(crate) async fn create_notification(
        &mut self,
        n: &NewNotification,
        now: Millis,
    ) -> Result<i64, StoreError> {
        // An empty number is for the HTTP callback channel, which names the device instead.
        if n.session_id == 0 || n.ui_mode > 3 || (n.msisdn.is_empty() && n.channel.as_deref() != Some("http"))
        {
            return Err(StoreError::Invalid(
                "a notification needs a session id, a ui-mode and a number (unless sent by HTTP callback)"
                    .into(),
            ));
        }
        if n.policy.interval_ms < 0 || n.policy.fallback_interval_ms < 0 {
            return Err(StoreError::Invalid("notification intervals must not be negative".into()));
        }
        const SQL: &str = "INSERT INTO notifications (device_id, session_id, ui_mode, state, dm_version, msisdn, \
             channel, retries, interval_ms, jitter_pct, fallback_retries, fallback_interval_ms, give_up_at, \
             next_attempt_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $13) RETURNING id";
        let p = &n.policy;
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL)
            .bind(&n.device_id)
            .bind(i32::from(n.session_id))
            .bind(i32::from(n.ui_mode))
            .bind(&n.dm_version)
            .bind(&n.msisdn)
            .bind(n.channel.as_deref())
            .bind(small(p.retries))
            .bind(p.interval_ms)
            .bind(small(p.jitter_pct))
            .bind(small(p.fallback_retries))
            .bind(p.fallback_interval_ms)
            .bind(n.give_up_at)
            .bind(now)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {}", n.device_id)))?))
    }

    pub(crate) async fn get_notification(
        &mut self,
        id: i64,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        const SQL: &str = concat!("SELECT ", notification_cols!(), " FROM notifications WHERE id = $1");
        let row: Option<NotificationRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(id).fetch_optional(&mut *c).await?);
        row.map(NotificationRecord::try_from).transpose()
    }

    pub(crate) async fn list_notifications(
        &mut self,
        device_id: Option<&str>,
        state: Option<NotificationState>,
        limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        const SQL: &str = concat!(
            "SELECT ",
            notification_cols!(),
            " FROM notifications WHERE ($1 IS NULL OR device_id = $1) AND ($2 IS NULL OR state = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let limit = i64::from(limit.min(crate::MAX_LIMIT));
        let rows: Vec<NotificationRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(device_id)
            .bind(state.map(NotificationState::as_str))
            .bind(limit)
            .fetch_all(&mut *c)
            .await?);
        rows.into_iter().map(NotificationRecord::try_from).collect()
    }

    pub(crate) async fn outstanding_notifications(&mut self) -> Result<i64, StoreError> {
        const SQL: &str =
            "SELECT COUNT(*) FROM notifications WHERE state IN ('sent', 'retried', 'fell_back')";
        Ok(on_conn!(self, c => sqlx::query_scalar(SQL).fetch_one(&mut *c).await?))
    }

    pub(crate) async fn claim_notifications(
        &mut self,
        now: Millis,
        lease_ms: i64,
        queued_limit: u32,
        open_limit: u32,
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        // Due: its time has come and no live lease (a scheduler that died leaves its lease to
        // run out). Queued ones (first sends, under the outstanding cap) and the others
        // (re-sends, fallbacks, give-ups) are taken up to separate limits.
        macro_rules! claim {
            ($states:literal, $lock:literal) => {
                concat!(
                    "UPDATE notifications SET lease_until = $1, updated_at = $2 WHERE id IN (SELECT id FROM \
                     notifications WHERE state IN ",
                    $states,
                    " AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                     ORDER BY next_attempt_at, id LIMIT $3",
                    $lock,
                    ") RETURNING ",
                    notification_cols!()
                )
            };
        }
        let until = now.saturating_add(lease_ms);
        let mut rows: Vec<NotificationRow> = Vec::new();
        for (limit, queued) in [(queued_limit, true), (open_limit, false)] {
            if limit == 0 {
                continue;
            }
            let limit = i64::from(limit.min(crate::MAX_LIMIT));
            let got: Vec<NotificationRow> = match (&mut *self, queued) {
                (Conn::Sqlite(c), true) => {
                    sqlx::query_as(claim!("('queued')", ""))
                        .bind(until)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut **c)
                        .await?
                }
                (Conn::Sqlite(c), false) => {
                    sqlx::query_as(claim!("('sent', 'retried', 'fell_back')", ""))
                        .bind(until)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut **c)
                        .await?
                }
                (Conn::Postgres(c), true) => {
                    sqlx::query_as(claim!("('queued')", " FOR UPDATE SKIP LOCKED"))
                        .bind(until)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut **c)
                        .await?
                }
                (Conn::Postgres(c), false) => {
                    sqlx::query_as(claim!("('sent', 'retried', 'fell_back')", " FOR UPDATE SKIP LOCKED"))
                        .bind(until)
                        .bind(now)
                        .bind(limit)
                        .fetch_all(&mut **c)
                        .await?
                }
            };
            rows.extend(got);
        }
        let mut out = rows.into_iter().map(NotificationRecord::try_from).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|n| (n.next_attempt_at, n.id));
        Ok(out)
    }

    pub(crate) async fn step_notification(
        &mut self,
        claimed: &NotificationRecord,
        lease_until: Millis,
        step: &NotificationStep,
        now: Millis,
    ) -> Result<Option<NotificationRecord>, StoreError> {
        // Applies only while the lease taken at `lease_until` is still this scheduler's and
        // the notification is open: a session that answered it meanwhile wins.
        const SQL: &str = concat!(
            "UPDATE notifications SET state = $1, dm_version = $2, attempts = $3, fallback_attempts = $4, \
             push_ids = $5, last_push_id = COALESCE($6, last_push_id), next_attempt_at = $7, \
             lease_until = NULL, updated_at = $8 \
             WHERE id = $9 AND lease_until = $10 AND state IN ",
            open_states!(),
            " RETURNING ",
            notification_cols!()
        );
        let mut attempts = claimed.attempts;
        let mut fallback_attempts = claimed.fallback_attempts;
        let mut push_ids = claimed.push_ids.clone();
        if let Some(p) = step.push_id {
            attempts = attempts.saturating_add(1);
            if step.fallback {
                fallback_attempts = fallback_attempts.saturating_add(1);
            }
            push_ids.push(p);
        }
        let push_ids = push_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let row: Option<NotificationRow> = on_conn!(self, c => sqlx::query_as(SQL)
            .bind(step.state.as_str())
            .bind(&step.dm_version)
            .bind(small(attempts))
            .bind(small(fallback_attempts))
            .bind(push_ids)
            .bind(step.push_id)
            .bind(step.next_attempt_at)
            .bind(now)
            .bind(claimed.id)
            .bind(lease_until)
            .fetch_optional(&mut *c)
            .await?);
        row.map(NotificationRecord::try_from).transpose()
    }

    pub(crate) async fn answer_notifications(
        &mut self,
        device_id: &str,
        session_id: &str,
        now: Millis,
    ) -> Result<u64, StoreError> {
        const SQL: &str = concat!(
            "UPDATE notifications SET state = 'session_opened', answered_session_id = $1, answered_at = $2, \
             next_attempt_at = NULL, lease_until = NULL, updated_at = $2 WHERE device_id = $3 AND state IN ",
            open_states!()
        );
        let session_id: String = session_id.chars().take(MAX_SESSION_ID_LEN).collect();
        Ok(on_conn!(self, c => sqlx::query(SQL)
            .bind(session_id)
            .bind(now)
            .bind(device_id)
            .execute(&mut *c)
            .await?
            .rows_affected()))
    }

    pub(crate) async fn set_notification_target(
        &mut self,
        device_id: &str,
        msisdn: Option<&str>,
        channel: Option<&str>,
        now: Millis,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO notification_targets (device_id, msisdn, channel, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (device_id) DO UPDATE SET msisdn = excluded.msisdn, \
             channel = excluded.channel, updated_at = excluded.updated_at";
        on_conn!(self, c => sqlx::query(SQL)
            .bind(device_id)
            .bind(msisdn)
            .bind(channel)
            .bind(now)
            .execute(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {device_id}")))?
            .rows_affected());
        Ok(())
    }

    pub(crate) async fn set_notification_dm_version(
        &mut self,
        device_id: &str,
        dm_version: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        if !matches!(dm_version, "1.2" | "1.1.2") {
            return Err(StoreError::Invalid(format!("DM version {dm_version:?}: 1.2 or 1.1.2")));
        }
        // No write when the version is already the stored one.
        const SQL: &str = "INSERT INTO notification_targets (device_id, dm_version, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET dm_version = excluded.dm_version, \
             updated_at = excluded.updated_at WHERE notification_targets.dm_version <> excluded.dm_version";
        let changed = on_conn!(self, c => sqlx::query(SQL)
            .bind(device_id)
            .bind(dm_version)
            .bind(now)
            .execute(&mut *c)
            .await
            .map_err(|e| classify(e, || format!("device {device_id}")))?
            .rows_affected());
        Ok(changed > 0)
    }

    pub(crate) async fn get_notification_target(
        &mut self,
        device_id: &str,
    ) -> Result<Option<NotificationTarget>, StoreError> {
        const SQL: &str = "SELECT device_id, msisdn, channel, dm_version, updated_at FROM notification_targets \
             WHERE device_id = $1";
        let row: Option<TargetRow> =
            on_conn!(self, c => sqlx::query_as(SQL).bind(device_id).fetch_optional(&mut *c).await?);
        Ok(row.map(|r| NotificationTarget {
            device_id: r.device_id,
            msisdn: r.msisdn,
            channel: r.channel,
            dm_version: r.dm_version,
            updated_at: r.updated_at,
        }))
    }
}
