//! The push dispatcher: takes due pushes from the database and hands them to a delivery
//! channel, recording what came of each attempt.
//!
//! Pushes are stored before they are sent ([`omadm_storage::Tx::enqueue_push`]), so a restart
//! between queueing and sending loses nothing: the next dispatcher takes them. Each node runs
//! one dispatcher; a push is leased while it is being sent ([`LEASE`]), so nodes sharing
//! PostgreSQL never send the same push twice while the lease runs. A node that dies mid-send
//! leaves the lease to run out and the push is sent again (at least once).

use std::sync::Arc;
use std::time::Duration;

use omadm_protocol::push::{ConcatReference, PushPdu, sms};
use omadm_storage::{PushOutcome, PushRecord, Store};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::app::now_millis;
use crate::delivery::{DeliveryError, OutboundPush, PushChannel, PushContent};
use crate::metrics::{Channel, DbOperation, METRICS, PushResult};

/// How long a dispatcher owns a push it took: longer than any channel takes to answer.
pub const LEASE: Duration = Duration::from_secs(120);
/// How often the dispatcher looks for due pushes when nobody wakes it.
pub const POLL: Duration = Duration::from_secs(1);
/// Pushes taken per round (and sent concurrently).
pub const BATCH: u32 = 32;

/// Retry policy for pushes that failed for a reason that may pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_secs(10), max: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The wait after attempt `attempts` (1-based): doubling from `first`, capped at `max`.
    pub fn after(&self, attempts: u32) -> Duration {
        let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// The running dispatcher's handle: wake it when a push was queued on this node.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Look for due pushes now.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Resolves at the next [`Wake::wake`] (or at once if one is pending).
    pub async fn notified(&self) {
        self.0.notified().await
    }
}

/// Run until `shutdown` resolves. `channels` in order of preference: a push that names a
/// channel goes there, others to the first.
pub async fn run(
    store: Store,
    channels: Vec<Arc<dyn PushChannel>>,
    backoff: Backoff,
    wake: Wake,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match round(&store, &channels, backoff).await {
            // A full batch: there may be more due now.
            Ok(n) if n == BATCH as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "push dispatcher: database error"),
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = wake.0.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One round: take due pushes, send them concurrently, record the outcomes. Returns how many
/// were taken.
pub async fn round(
    store: &Store,
    channels: &[Arc<dyn PushChannel>],
    backoff: Backoff,
) -> Result<usize, omadm_storage::StoreError> {
    let claim = METRICS.db_timer(DbOperation::PushClaim);
    let due = store.claim_pushes(now_millis(), LEASE.as_millis() as i64, BATCH).await?;
    drop(claim);
    let taken = due.len();
    let mut sends = JoinSet::new();
    for push in due {
        let channel = pick(channels, push.channel.as_deref());
        let label = channel.as_ref().map_or(Channel::None, |c| Channel::of(c.name()));
        sends.spawn(async move {
            let outcome = attempt(&push, channel.as_deref(), backoff).await;
            (push, outcome, label)
        });
    }
    while let Some(done) = sends.join_next().await {
        let Ok((push, outcome, label)) = done else { continue };
        let result = match &outcome {
            PushOutcome::Accepted { .. } => PushResult::Accepted,
            PushOutcome::Retry { .. } => PushResult::Retry,
            PushOutcome::Failed { .. } => PushResult::Failed,
        };
        METRICS.push(label, result);
        match &outcome {
            PushOutcome::Accepted { reference } => {
                tracing::info!(push = push.id, kind = push.kind.as_str(), %reference, "push accepted")
            }
            PushOutcome::Retry { reason, .. } => {
                tracing::warn!(push = push.id, attempts = push.attempts, %reason, "push failed, will retry")
            }
            PushOutcome::Failed { reason } => tracing::warn!(push = push.id, %reason, "push failed for good"),
        }
        let _finish = METRICS.db_timer(DbOperation::PushFinish);
        match store.finish_push(push.id, &outcome, now_millis()).await {
            Ok(_) | Err(omadm_storage::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(taken)
}

fn pick(channels: &[Arc<dyn PushChannel>], wanted: Option<&str>) -> Option<Arc<dyn PushChannel>> {
    match wanted {
        Some(name) => channels.iter().find(|c| c.name() == name).cloned(),
        None => channels.first().cloned(),
    }
}

async fn attempt(push: &PushRecord, channel: Option<&dyn PushChannel>, backoff: Backoff) -> PushOutcome {
    let retry = |reason: String| PushOutcome::Retry {
        reason,
        retry_at: now_millis().saturating_add(backoff.after(push.attempts).as_millis() as i64),
    };
    let Some(channel) = channel else {
        // Configuration may change (a restart with the channel added): keep it queued.
        return retry(match &push.channel {
            Some(c) => format!("channel {c:?} is not configured"),
            None => "no delivery channel is configured".to_owned(),
        });
    };
    let outbound = match outbound(push) {
        Ok(o) => o,
        Err(reason) => return PushOutcome::Failed { reason },
    };
    match channel.deliver(&outbound).await {
        Ok(crate::delivery::DeliveryOutcome::Accepted { references }) => {
            PushOutcome::Accepted { reference: format!("{}:{}", channel.name(), references.join(",")) }
        }
        Err(e @ (DeliveryError::Temporary { .. } | DeliveryError::Unavailable { .. })) => {
            retry(e.to_string())
        }
        Err(e) if e.is_retryable() => retry(e.to_string()),
        Err(e) => PushOutcome::Failed { reason: e.to_string() },
    }
}

/// Both forms a channel may need, from the stored PDU.
fn outbound(push: &PushRecord) -> Result<OutboundPush, String> {
    let pdu = push.pdu.as_deref().ok_or("the push has no PDU")?;
    let decoded = PushPdu::decode(pdu).map_err(|e| format!("stored PDU does not decode: {e}"))?;
    // The concatenation reference only has to differ between pushes in flight to one phone.
    let sms_user_data = sms::segment(pdu, sms::Ports::PUSH, ConcatReference::Eight(push.id as u8))
        .map_err(|e| format!("cannot split into SMS: {e}"))?;
    Ok(OutboundPush {
        device_id: push.device_id.clone(),
        push_id: format!("omadm-{}", push.id),
        msisdn: push.msisdn.clone(),
        sms_user_data,
        content: PushContent {
            content_type: decoded.content_type.media.mime().to_owned(),
            application_id: decoded.application_id.and_then(|a| a.uri()).map(str::to_owned),
            body: decoded.body,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap() {
        let b = Backoff { first: Duration::from_secs(10), max: Duration::from_secs(60) };
        let waits: Vec<u64> = (1..=6).map(|a| b.after(a).as_secs()).collect();
        assert_eq!(waits, vec![10, 20, 40, 60, 60, 60]);
        assert_eq!(b.after(u32::MAX), Duration::from_secs(60));
    }
}
