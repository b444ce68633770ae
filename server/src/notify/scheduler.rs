//! The notification scheduler: sends queued notifications under the outstanding cap, re-sends
//! unanswered ones, falls back to DM 1.1.2, and gives up.
//!
//! Every decision is taken from the notification row ([`decide`]) and recorded in it with the
//! push it queued, in one transaction, so a restart resumes the schedule where it stood. A
//! scheduler leases the rows it works on ([`LEASE`]; `FOR UPDATE SKIP LOCKED` on PostgreSQL),
//! so nodes sharing a database never re-send the same notification; a step whose lease ran
//! out, or whose notification a session answered meanwhile, is rolled back with its push.
//! The cap counts `sent`/`retried`/`fell_back` rows at the start of each round; several nodes
//! may overshoot it by one round's worth between them.

use std::time::Duration;

use omadm_storage::{
    NewPush, NotificationRecord, NotificationState, NotificationStep, PushKind, Store, StoreError,
};

use super::{DM_1_1_2, NotificationConfig, package0, push_pdu, ui_mode_of};
use crate::app::{now_millis, random16};
use crate::dispatcher::Wake;

/// How long a scheduler owns a notification it took: far longer than one step takes.
pub const LEASE: Duration = Duration::from_secs(60);
/// Notifications taken per round and kind (first sends, others).
pub const BATCH: u32 = 64;
/// Attempts each push gets at the gateway (the notification's own schedule is separate).
pub const PUSH_ATTEMPTS: u32 = 3;

/// What to do with a due notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Push a package 0 for `dm_version`, then wait `wait_ms` (before jitter).
    Send {
        /// The state after the send.
        state: NotificationState,
        /// `1.2` or `1.1.2`.
        dm_version: String,
        /// A DM 1.1.2 fallback send.
        fallback: bool,
        /// The wait for a session.
        wait_ms: i64,
    },
    /// Nothing more to send, or past the give-up time.
    GiveUp,
}

/// The schedule (issue 7): a first send; `retries` re-sends in the first version, each after
/// `interval`; then, if that version was DM 1.2, `fallback_retries` DM 1.1.2 sends, each after
/// `fallback_interval`; give up after the last wait, or at `give_up_at`. A device already
/// managed with DM 1.1.2 starts there and has no fallback.
pub fn decide(n: &NotificationRecord, now: i64) -> Next {
    if now >= n.give_up_at {
        return Next::GiveUp;
    }
    let p = &n.policy;
    let first_phase_sends = n.attempts.saturating_sub(n.fallback_attempts);
    let send = |state, dm_version: &str, fallback, wait_ms| Next::Send {
        state,
        dm_version: dm_version.to_owned(),
        fallback,
        wait_ms,
    };
    match n.state {
        NotificationState::Queued => send(NotificationState::Sent, &n.dm_version, false, p.interval_ms),
        NotificationState::Sent | NotificationState::Retried if first_phase_sends <= p.retries => {
            send(NotificationState::Retried, &n.dm_version, false, p.interval_ms)
        }
        NotificationState::Sent | NotificationState::Retried
            if n.dm_version != DM_1_1_2 && p.fallback_retries > 0 =>
        {
            send(NotificationState::FellBack, DM_1_1_2, true, p.fallback_interval_ms)
        }
        NotificationState::FellBack if n.fallback_attempts < p.fallback_retries => {
            send(NotificationState::FellBack, DM_1_1_2, true, p.fallback_interval_ms)
        }
        _ => Next::GiveUp,
    }
}

/// `wait_ms` varied by up to `pct` percent either way, from `random` (uniform enough for
/// spreading a campaign's re-sends).
pub fn jittered(wait_ms: i64, pct: u32, random: [u8; 16]) -> i64 {
    let span = wait_ms.saturating_mul(i64::from(pct.min(100))) / 100;
    if span <= 0 {
        return wait_ms;
    }
    let r = u64::from_le_bytes(random[..8].try_into().unwrap_or([0; 8]));
    let offset = (r % (2 * span as u64 + 1)) as i64 - span;
    wait_ms.saturating_add(offset).max(0)
}

/// Run until `shutdown` resolves: a round, then wait for `wake`, the poll period or shutdown.
pub async fn run(
    store: Store,
    config: NotificationConfig,
    wake: Wake,
    push_wake: Wake,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut budget = Budget::new(config.max_per_second, std::time::Instant::now());
    loop {
        let allowed = budget.available(std::time::Instant::now());
        if allowed > 0 {
            match round(&store, &config, &push_wake, allowed).await {
                Ok(n) => {
                    budget.spend(n);
                    if n >= allowed as usize {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notification scheduler: database error"),
            }
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(config.poll) => {}
        }
    }
}

/// The send rate of one node (`[notification] max_per_second`): a token bucket holding at
/// most one second of sends.
#[derive(Debug)]
pub struct Budget {
    rate: Option<u32>,
    tokens: f64,
    at: std::time::Instant,
}

impl Budget {
    /// A full bucket for `rate` sends per second (`None`: unlimited).
    pub fn new(rate: Option<u32>, now: std::time::Instant) -> Budget {
        Budget { rate, tokens: f64::from(rate.unwrap_or(0)), at: now }
    }

    /// Sends allowed now, at most [`BATCH`].
    pub fn available(&mut self, now: std::time::Instant) -> u32 {
        let Some(rate) = self.rate else { return BATCH };
        let rate = f64::from(rate);
        self.tokens = (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate).min(rate);
        self.at = now;
        (self.tokens.floor() as u32).min(BATCH)
    }

    /// `n` notifications were taken.
    pub fn spend(&mut self, n: usize) {
        if self.rate.is_some() {
            self.tokens = (self.tokens - n as f64).max(0.0);
        }
    }
}

/// One round: lease at most `limit` due notifications (first sends only as far as the cap
/// allows), act on each. Returns how many were taken.
pub async fn round(
    store: &Store,
    config: &NotificationConfig,
    push_wake: &Wake,
    limit: u32,
) -> Result<usize, StoreError> {
    let now = now_millis();
    let outstanding = store.outstanding_notifications().await?;
    let room = i64::from(config.max_outstanding)
        .saturating_sub(outstanding)
        .clamp(0, i64::from(limit.min(BATCH))) as u32;
    let lease_ms = LEASE.as_millis() as i64;
    let due = store.claim_notifications(now, lease_ms, room, limit.min(BATCH)).await?;
    let taken = due.len();
    let mut pushed = false;
    for n in due {
        match step(store, &n, now.saturating_add(lease_ms)).await {
            Ok(sent) => pushed |= sent,
            // One bad row does not stop the others; its lease runs out and it is tried again.
            Err(e) => tracing::warn!(notification = n.id, error = %e, "notification step failed"),
        }
    }
    if pushed {
        push_wake.wake();
    }
    Ok(taken)
}

/// Act on one leased notification; `true` if a push was queued.
async fn step(store: &Store, n: &NotificationRecord, lease_until: i64) -> Result<bool, StoreError> {
    let now = now_millis();
    let mut tx = store.begin().await?;
    let next = decide(n, now);
    let (step, version_change) = match next {
        Next::GiveUp => (give_up(n), None),
        Next::Send { state, dm_version, fallback, wait_ms } => {
            let device = tx.get_device(&n.device_id).await?;
            let built =
                device.as_ref().ok_or_else(|| format!("device {:?} is gone", n.device_id)).and_then(|d| {
                    package0(d, n.session_id, ui_mode_of(n.ui_mode), &dm_version).map_err(|e| e.to_string())
                });
            match built {
                Err(reason) => {
                    // The credentials went away since the request: nothing can be sent.
                    tracing::warn!(notification = n.id, %reason, "notification given up");
                    (give_up(n), None)
                }
                Ok(pkg0) => {
                    let pdu = push_pdu(pkg0);
                    let push = NewPush {
                        device_id: Some(n.device_id.clone()),
                        kind: PushKind::Notification,
                        msisdn: n.msisdn.clone(),
                        channel: n.channel.clone(),
                        content_type: pdu.content_type.media.mime().to_owned(),
                        pdu: pdu.encode(),
                        max_attempts: PUSH_ATTEMPTS,
                    };
                    let push_id = tx.enqueue_push(&push, now).await?;
                    let wait = jittered(wait_ms, n.policy.jitter_pct, random16());
                    let next_at = now.saturating_add(wait).min(n.give_up_at);
                    let step = NotificationStep {
                        state,
                        dm_version: dm_version.clone(),
                        push_id: Some(push_id),
                        fallback,
                        next_attempt_at: Some(next_at),
                    };
                    (step, fallback.then_some(dm_version))
                }
            }
        }
    };
    let Some(done) = tx.step_notification(n, lease_until, &step, now).await? else {
        // Answered meanwhile, or the lease is gone: the push is rolled back with the rest.
        tx.rollback().await?;
        return Ok(false);
    };
    if let Some(v) = version_change {
        // Remembered per device: later notifications start with DM 1.1.2.
        tx.set_notification_dm_version(&n.device_id, &v, now).await?;
    }
    tx.commit().await?;
    tracing::info!(
        notification = done.id, device = %done.device_id, state = done.state.as_str(),
        dm_version = %done.dm_version, attempts = done.attempts, "notification step"
    );
    Ok(step.push_id.is_some())
}

fn give_up(n: &NotificationRecord) -> NotificationStep {
    NotificationStep {
        state: NotificationState::GaveUp,
        dm_version: n.dm_version.clone(),
        push_id: None,
        fallback: false,
        next_attempt_at: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_refills_at_its_rate_and_holds_one_second() {
        let t0 = std::time::Instant::now();
        let mut b = super::Budget::new(Some(10), t0);
        assert_eq!(b.available(t0), 10);
        b.spend(10);
        assert_eq!(b.available(t0), 0);
        assert_eq!(b.available(t0 + std::time::Duration::from_millis(500)), 5);
        assert_eq!(b.available(t0 + std::time::Duration::from_secs(60)), 10, "at most one second's worth");
        let mut open = super::Budget::new(None, t0);
        open.spend(1000);
        assert_eq!(open.available(t0), super::BATCH);
    }

    use super::*;
    use omadm_storage::NotificationPolicy;

    fn record(
        state: NotificationState,
        version: &str,
        attempts: u32,
        fallback_attempts: u32,
    ) -> NotificationRecord {
        NotificationRecord {
            id: 1,
            device_id: "d".into(),
            session_id: 1,
            session_id_hex: "1".into(),
            ui_mode: 0,
            state,
            dm_version: version.into(),
            msisdn: "+1".into(),
            channel: None,
            policy: NotificationPolicy {
                retries: 2,
                interval_ms: 100,
                jitter_pct: 0,
                fallback_retries: 1,
                fallback_interval_ms: 300,
            },
            give_up_at: 10_000,
            attempts,
            fallback_attempts,
            push_ids: vec![],
            push_state: None,
            next_attempt_at: Some(0),
            answered_session_id: None,
            answered_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn sends(state: NotificationState, version: &str, fallback: bool, wait_ms: i64) -> Next {
        Next::Send { state, dm_version: version.into(), fallback, wait_ms }
    }

    /// The whole DM 1.2 schedule: first send, 2 retries, 1 fallback, give up.
    #[test]
    fn schedule_retries_then_falls_back_then_gives_up() {
        use NotificationState::*;
        assert_eq!(decide(&record(Queued, "1.2", 0, 0), 0), sends(Sent, "1.2", false, 100));
        assert_eq!(decide(&record(Sent, "1.2", 1, 0), 0), sends(Retried, "1.2", false, 100));
        assert_eq!(decide(&record(Retried, "1.2", 2, 0), 0), sends(Retried, "1.2", false, 100));
        assert_eq!(decide(&record(Retried, "1.2", 3, 0), 0), sends(FellBack, "1.1.2", true, 300));
        assert_eq!(decide(&record(FellBack, "1.1.2", 4, 1), 0), Next::GiveUp);
        // Past the give-up time, whatever is left.
        assert_eq!(decide(&record(Queued, "1.2", 0, 0), 10_000), Next::GiveUp);
    }

    /// A device already managed with DM 1.1.2 gets its retries and no fallback.
    #[test]
    fn a_dm112_device_has_no_fallback() {
        use NotificationState::*;
        assert_eq!(decide(&record(Queued, "1.1.2", 0, 0), 0), sends(Sent, "1.1.2", false, 100));
        assert_eq!(decide(&record(Retried, "1.1.2", 2, 0), 0), sends(Retried, "1.1.2", false, 100));
        assert_eq!(decide(&record(Retried, "1.1.2", 3, 0), 0), Next::GiveUp);
        let mut r = record(Retried, "1.2", 3, 0);
        r.policy.fallback_retries = 0;
        assert_eq!(decide(&r, 0), Next::GiveUp);
    }

    #[test]
    fn jitter_stays_within_its_percent() {
        assert_eq!(jittered(1000, 0, [7; 16]), 1000);
        for seed in 0..=255u8 {
            let w = jittered(1000, 10, [seed.wrapping_mul(37); 16]);
            assert!((900..=1100).contains(&w), "{w}");
        }
        assert!((0..=2000).contains(&jittered(1000, 500, [255; 16])), "clamped to 100 %");
    }
}
