//! The rollout policy and the payloads of a campaign, as operators write them (JSON, stored
//! with the campaign) and as the engine reads them.

use serde::{Deserialize, Serialize};

use crate::admin::AdminError;
use crate::notify::operation::PolicyOverrides;

/// How a campaign rolls out. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// A canary: this percentage of the devices first; the rest only after every canary
    /// finished and the campaign was not paused. Shorthand for `waves: [pct, 100]`.
    pub canary_pct: Option<u32>,
    /// Waves as cumulative percentages, e.g. `[1, 10, 100]`: each starts when the one
    /// before it has finished.
    pub waves: Vec<u32>,
    /// Devices in flight (notified or in session) at once.
    pub max_concurrent: u32,
    /// Devices admitted per minute.
    pub max_per_minute: u32,
    /// The failure-rate guard looks at the last this many finished devices...
    pub failure_window: u32,
    /// ...and pauses the campaign when more than this percentage of them failed.
    pub failure_threshold_pct: u32,
    /// Attempts per device (1: no retry).
    pub max_attempts: u32,
    /// Wait before a retry, doubled for each further one.
    pub retry_backoff_secs: u64,
    /// How long a notified device has to open a session before it fails.
    pub session_timeout_secs: u64,
    /// How long to wait for the FUMO Generic Alert before reading `State`.
    pub alert_timeout_secs: u64,
    /// Reads of `State` without a final answer before the device fails.
    pub max_state_reads: u32,
    /// Admit devices only between these times of day (UTC, `HH:MM`; may wrap midnight).
    pub maintenance_window: Option<MaintenanceWindow>,
    /// How the campaign's devices are woken: overrides of `[notification]` (retries,
    /// intervals, fallback, give-up) for this campaign's notifications (issue 7).
    pub notification: PolicyOverrides,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            canary_pct: None,
            waves: Vec::new(),
            max_concurrent: 1000,
            max_per_minute: 6000,
            failure_window: 50,
            failure_threshold_pct: 50,
            max_attempts: 1,
            retry_backoff_secs: 300,
            session_timeout_secs: 24 * 3600,
            alert_timeout_secs: 3600,
            max_state_reads: 3,
            maintenance_window: None,
            notification: PolicyOverrides::default(),
        }
    }
}

/// A daily window, UTC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM`.
    pub end: String,
}

fn minute_of(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && hhmm.len() == 5).then_some(h * 60 + m)
}

impl MaintenanceWindow {
    /// Whether `now` (epoch ms) is inside the window.
    pub fn contains(&self, now: i64) -> bool {
        let (Some(s), Some(e)) = (minute_of(&self.start), minute_of(&self.end)) else { return false };
        let m = ((now.rem_euclid(86_400_000)) / 60_000) as u32;
        if s <= e { (s..e).contains(&m) } else { m >= s || m < e }
    }
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

impl Policy {
    /// Refuse values that make no sense.
    pub fn check(&self) -> Result<(), AdminError> {
        // The notification overrides are checked against the defaults now, not at each wake-up.
        crate::notify::operation::policy(
            &crate::notify::NotificationConfig::default(),
            &self.notification,
            0,
        )
        .map_err(|e| invalid(format!("policy.notification: {e}")))?;
        if self.canary_pct.is_some() && !self.waves.is_empty() {
            return Err(invalid("policy: give canary_pct or waves, not both"));
        }
        if self.canary_pct.is_some_and(|p| p == 0 || p >= 100) {
            return Err(invalid("policy.canary_pct: 1-99"));
        }
        if self.waves.len() > 100 || self.waves.iter().any(|w| *w == 0 || *w > 100) {
            return Err(invalid("policy.waves: at most 100 cumulative percentages of 1-100"));
        }
        if self.waves.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("policy.waves: percentages must increase"));
        }
        if self.max_concurrent == 0 || self.max_per_minute == 0 || self.max_attempts == 0 {
            return Err(invalid(
                "policy: max_concurrent, max_per_minute and max_attempts must be at least 1",
            ));
        }
        if self.max_attempts > 20 || self.failure_threshold_pct > 100 || self.failure_window > 100_000 {
            return Err(invalid(
                "policy: max_attempts at most 20, failure_threshold_pct at most 100, failure_window at most 100000",
            ));
        }
        for s in [self.session_timeout_secs, self.alert_timeout_secs, self.retry_backoff_secs] {
            if s == 0 || s > 365 * 86_400 {
                return Err(invalid("policy: timeouts and back-off are 1 s to 1 year"));
            }
        }
        if let Some(w) = &self.maintenance_window
            && (minute_of(&w.start).is_none() || minute_of(&w.end).is_none())
        {
            return Err(invalid("policy.maintenance_window: start and end as HH:MM (UTC)"));
        }
        Ok(())
    }

    /// The waves as the store splits devices: cumulative percentages.
    pub fn wave_split(&self) -> Vec<u32> {
        match self.canary_pct {
            Some(p) => vec![p, 100],
            None => self.waves.clone(),
        }
    }

    /// The wait before retry number `attempt` (1 = the first retry).
    pub fn backoff_ms(&self, attempt: u32) -> i64 {
        let factor = 1i64.checked_shl(attempt.saturating_sub(1).min(20)).unwrap_or(i64::MAX);
        (self.retry_backoff_secs as i64 * 1000).saturating_mul(factor)
    }
}

/// A FUMO campaign's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FumoPayload {
    /// The firmware package to install.
    pub firmware_id: i64,
    /// The FUMO object on the devices (`./FwUpdate/x1`); when absent, the node of type
    /// `urn:oma:mo:oma-fumo:1.0` in each device's tree mirror (FACTS.md I.1: its place is
    /// the device's choice).
    #[serde(default)]
    pub fumo_uri: Option<String>,
    /// The download URL base (`https://dl.example.com`); the server's public URL when absent.
    #[serde(default)]
    pub download_base: Option<String>,
}

/// One command of a configuration profile; `target` and `data` may hold `{{Name}}`
/// variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileCommand {
    /// `Add`, `Replace` or `Delete`.
    pub op: String,
    /// The node.
    pub target: String,
    /// The value (Add, Replace).
    #[serde(default)]
    pub data: Option<String>,
    /// Meta Format (`chr` by default).
    #[serde(default)]
    pub format: Option<String>,
    /// Meta Type.
    #[serde(default, rename = "type")]
    pub mime_type: Option<String>,
}

/// A configuration campaign's payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPayload {
    /// The commands, in order.
    pub commands: Vec<ProfileCommand>,
    /// Read every written value back with Get and compare (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// The most commands a profile may hold.
pub const MAX_PROFILE_COMMANDS: usize = 100;

impl ConfigPayload {
    /// Refuse empty profiles and unknown ops.
    pub fn check(&self) -> Result<(), AdminError> {
        if self.commands.is_empty() || self.commands.len() > MAX_PROFILE_COMMANDS {
            return Err(invalid(format!("payload.commands: 1 to {MAX_PROFILE_COMMANDS} commands")));
        }
        for c in &self.commands {
            if !matches!(c.op.as_str(), "Add" | "Replace" | "Delete") {
                return Err(invalid("payload.commands[].op: Add, Replace or Delete"));
            }
            if !c.target.starts_with("./") || c.target.len() > 1024 {
                return Err(invalid("payload.commands[].target: a node URI starting with ./"));
            }
            if c.op != "Delete" && c.data.is_none() {
                return Err(invalid("payload.commands[].data: required for Add and Replace"));
            }
            if c.data.as_ref().is_some_and(|d| d.len() > 64 * 1024) {
                return Err(invalid("payload.commands[].data: at most 64 KiB"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_wraps_midnight() {
        let w = MaintenanceWindow { start: "22:00".into(), end: "04:00".into() };
        let at = |h: i64, m: i64| (h * 60 + m) * 60_000 + 19_000 * 86_400_000;
        assert!(w.contains(at(23, 0)));
        assert!(w.contains(at(3, 59)));
        assert!(!w.contains(at(4, 0)));
        assert!(!w.contains(at(12, 0)));
        let day = MaintenanceWindow { start: "01:00".into(), end: "02:00".into() };
        assert!(day.contains(at(1, 30)) && !day.contains(at(2, 30)));
    }

    #[test]
    fn policy_checks_and_backoff() {
        assert!(Policy::default().check().is_ok());
        assert!(Policy { canary_pct: Some(0), ..Policy::default() }.check().is_err());
        assert!(Policy { waves: vec![50, 10], ..Policy::default() }.check().is_err());
        assert_eq!(Policy { canary_pct: Some(5), ..Policy::default() }.wave_split(), vec![5, 100]);
        // Per-campaign notification policy (issue 7), bounded like a request's.
        let p: Policy = serde_json::from_value(
            serde_json::json!({"notification": {"retries": 0, "fallback_retries": 0}}),
        )
        .unwrap();
        assert_eq!((p.notification.retries, p.notification.fallback_retries), (Some(0), Some(0)));
        assert!(p.check().is_ok());
        let bad =
            Policy { notification: PolicyOverrides { jitter_pct: Some(500), ..Default::default() }, ..p };
        assert!(bad.check().is_err());
        let p = Policy { retry_backoff_secs: 10, ..Policy::default() };
        assert_eq!((p.backoff_ms(1), p.backoff_ms(2), p.backoff_ms(3)), (10_000, 20_000, 40_000));
    }
}
