//! The operator's "notify a device" (`POST /api/v1/devices/{id}/notify`, `omadm notify send`):
//! check the request, pick the number, the DM version and the policy, check that a package 0
//! can be signed for the device, and record the notification `queued` (the scheduler sends it).
//!
//! The number given is stored as the device's notification target, so later requests (and
//! campaigns) need not repeat it.

use omadm_protocol::notification::UiMode;
use omadm_storage::{
    NewNotification, NotificationPolicy, NotificationRecord, NotificationTarget, Store, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    DM_1_1_2, DM_1_2, MAX_RETRIES, MAX_WAIT_SECS, NotificationConfig, package0, parse_ui_mode, ui_mode_bits,
};
use crate::admin::{AdminError, check_device_id};
use crate::app::{now_millis, random16};

/// A notify request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    /// `not-specified` (the default), `background`, `informative`, `user-interaction`, or 0-3.
    #[serde(default)]
    pub ui_mode: Option<String>,
    /// The device's number (E.164); the stored one when absent. A number given is stored.
    #[serde(default)]
    pub msisdn: Option<String>,
    /// `smpp` or `pap`; the stored one, else the first configured, when absent.
    #[serde(default)]
    pub channel: Option<String>,
    /// Force `1.2` or `1.1.2`; the device's (notification target) when absent.
    #[serde(default)]
    pub dm_version: Option<String>,
    /// Overrides of the configured policy.
    #[serde(default)]
    pub policy: PolicyOverrides,
}

/// Per-request (or per-campaign) overrides of `[notification]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyOverrides {
    /// DM 1.2 re-sends after the first.
    pub retries: Option<u32>,
    /// Wait after each DM 1.2 send, seconds.
    pub interval_secs: Option<u64>,
    /// Jitter of each wait, percent.
    pub jitter_pct: Option<u32>,
    /// DM 1.1.2 sends after the DM 1.2 ones (0: no fallback).
    pub fallback_retries: Option<u32>,
    /// Wait after each DM 1.1.2 send, seconds.
    pub fallback_interval_secs: Option<u64>,
    /// Give up this long after now, seconds.
    pub give_up_secs: Option<u64>,
}

/// A device's notification target with its recent notifications (`GET .../notify`).
#[derive(Debug, Serialize)]
pub struct TargetView {
    /// Where and with which DM version the device is notified (`None`: never set).
    pub target: Option<NotificationTarget>,
    /// Its notifications, newest first.
    pub notifications: Vec<NotificationRecord>,
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

/// The policy and give-up time of a request: the configured values with its overrides.
pub fn policy(
    config: &NotificationConfig,
    o: &PolicyOverrides,
    now: i64,
) -> Result<(NotificationPolicy, i64), AdminError> {
    let mut p = config.policy();
    let count = |name: &str, v: Option<u32>, d: u32| match v {
        Some(n) if n > MAX_RETRIES => Err(invalid(format!("policy.{name}: at most {MAX_RETRIES}"))),
        Some(n) => Ok(n),
        None => Ok(d),
    };
    let ms = |name: &str, v: Option<u64>, d: i64| match v {
        Some(s) if s == 0 || s > MAX_WAIT_SECS => Err(invalid(format!("policy.{name}: 1..{MAX_WAIT_SECS}"))),
        Some(s) => Ok(s as i64 * 1000),
        None => Ok(d),
    };
    p.retries = count("retries", o.retries, p.retries)?;
    p.fallback_retries = count("fallback_retries", o.fallback_retries, p.fallback_retries)?;
    p.interval_ms = ms("interval_secs", o.interval_secs, p.interval_ms)?;
    p.fallback_interval_ms = ms("fallback_interval_secs", o.fallback_interval_secs, p.fallback_interval_ms)?;
    if let Some(j) = o.jitter_pct {
        if j > 100 {
            return Err(invalid("policy.jitter_pct: 0..100"));
        }
        p.jitter_pct = j;
    }
    let give_up_ms =
        ms("give_up_secs", o.give_up_secs, i64::try_from(config.give_up.as_millis()).unwrap_or(i64::MAX))?;
    Ok((p, now.saturating_add(give_up_ms)))
}

/// A session id for package 0: random, 1..=0xFFFF (0 is not allowed, FACTS E.1).
pub fn session_id(random: [u8; 16]) -> u16 {
    match u16::from_le_bytes([random[0], random[1]]) {
        0 => 1,
        s => s,
    }
}

/// Record a notification for `device_id` (audited as `device.notify`). Refused (400) when the
/// device has no server credentials (it could not verify the package 0) or no number is known.
pub async fn notify_device(
    store: &Store,
    config: &NotificationConfig,
    device_id: &str,
    req: &NotifyRequest,
    actor: &str,
) -> Result<NotificationRecord, AdminError> {
    check_device_id(device_id)?;
    let ui_mode = match &req.ui_mode {
        None => UiMode::NotSpecified,
        Some(m) => parse_ui_mode(m).ok_or_else(|| {
            invalid("ui_mode: one of not-specified, background, informative, user-interaction (or 0-3)")
        })?,
    };
    if let Some(c) = &req.channel
        && !matches!(c.as_str(), "smpp" | "pap" | "http")
    {
        return Err(invalid("channel: smpp, pap or http"));
    }
    if let Some(v) = &req.dm_version
        && !matches!(v.as_str(), DM_1_2 | DM_1_1_2)
    {
        return Err(invalid("dm_version: 1.2 or 1.1.2"));
    }
    if let Some(m) = &req.msisdn {
        crate::delivery::e164_digits(m).map_err(|e| invalid(format!("msisdn: {e}")))?;
    }
    let now = now_millis();
    let (policy, give_up_at) = policy(config, &req.policy, now)?;

    let mut tx = store.begin().await?;
    let device =
        tx.lock_device(device_id).await?.ok_or_else(|| AdminError::DeviceNotFound(device_id.to_owned()))?;
    let target = tx.get_notification_target(device_id).await?;
    let stored_msisdn = target.as_ref().and_then(|t| t.msisdn.clone());
    let channel = req.channel.clone().or_else(|| target.as_ref().and_then(|t| t.channel.clone()));
    let msisdn = match (&req.msisdn, stored_msisdn) {
        (Some(m), _) => m.clone(),
        (None, Some(m)) => m,
        // The HTTP callback identifies the device by its id: no number needed.
        (None, None) if channel.as_deref() == Some("http") => String::new(),
        (None, None) => return Err(invalid("msisdn: the device has no stored number; give one")),
    };
    if req.msisdn.is_some() || req.channel.is_some() {
        tx.set_notification_target(device_id, Some(&msisdn), channel.as_deref(), now).await?;
    }
    let dm_version = req
        .dm_version
        .clone()
        .or_else(|| target.as_ref().map(|t| t.dm_version.clone()))
        .unwrap_or_else(|| DM_1_2.to_owned());
    let session_id = session_id(random16());
    // Built once here only to refuse what cannot be signed; the scheduler builds each send
    // anew with the nonce current then.
    package0(&device, session_id, ui_mode, &dm_version).map_err(|e| invalid(e.to_string()))?;
    let new = NewNotification {
        device_id: device_id.to_owned(),
        session_id,
        ui_mode: ui_mode_bits(ui_mode),
        dm_version: dm_version.clone(),
        msisdn,
        channel,
        policy,
        give_up_at,
    };
    let id = tx.create_notification(&new, now).await?;
    let detail = json!({
        "notification_id": id,
        "session_id": format!("{session_id:X}"),
        "dm_version": dm_version,
        "channel": new.channel,
    });
    tx.audit(actor, "device.notify", Some(device_id), &detail, now).await?;
    tx.commit().await?;
    store.get_notification(id).await?.ok_or_else(|| StoreError::NotFound(format!("notification {id}")).into())
}

/// A device's notification target and its latest notifications.
pub async fn target(store: &Store, device_id: &str, limit: u32) -> Result<TargetView, AdminError> {
    check_device_id(device_id)?;
    if store.get_device(device_id).await?.is_none() {
        return Err(AdminError::DeviceNotFound(device_id.to_owned()));
    }
    Ok(TargetView {
        target: store.get_notification_target(device_id).await?,
        notifications: store.list_notifications(Some(device_id), None, limit).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn overrides_apply_and_are_bounded() {
        let c = NotificationConfig { give_up: Duration::from_secs(100), ..NotificationConfig::default() };
        let o = PolicyOverrides {
            retries: Some(0),
            interval_secs: Some(5),
            give_up_secs: Some(60),
            ..Default::default()
        };
        let (p, give_up_at) = policy(&c, &o, 1_000).unwrap();
        assert_eq!((p.retries, p.interval_ms, p.fallback_retries, give_up_at), (0, 5_000, 1, 61_000));
        let (_, default_give_up) = policy(&c, &PolicyOverrides::default(), 0).unwrap();
        assert_eq!(default_give_up, 100_000);
        for bad in [
            PolicyOverrides { retries: Some(101), ..Default::default() },
            PolicyOverrides { interval_secs: Some(0), ..Default::default() },
            PolicyOverrides { jitter_pct: Some(101), ..Default::default() },
        ] {
            assert!(policy(&c, &bad, 0).is_err());
        }
    }

    #[test]
    fn session_ids_are_never_zero() {
        assert_eq!(session_id([0; 16]), 1);
        assert_eq!(session_id([0x34, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0x1234);
    }
}
