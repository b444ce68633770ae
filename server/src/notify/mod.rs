//! Waking devices: the DM notification (package 0, OMA-TS-DM_Notification-V1_2; FACTS.md E)
//! pushed over WAP push, re-sent on a schedule, falling back to DM 1.1.2, until the device
//! opens a session or the server gives up.
//!
//! - [`operation`]: the operator's request (`POST /api/v1/devices/{id}/notify`, `omadm notify
//!   send`): checks it, records the notification `queued`.
//! - [`scheduler`]: the background task of `serve` that sends, re-sends, falls back and gives
//!   up, with the schedule in the database (a restart resumes it).
//! - Here: the settings, and [`package0`] / [`push_pdu`], the bytes on the wire.
//!
//! **DM 1.2 and DM 1.1.2 on the wire.** Both send the version field 11 (`0000001011`: the
//! spec text and its example; libdmclient accepts only 11; FACTS E.1, L.1), so a 1.1.2
//! package 0 has the same layout and digest formula as a 1.2 one. What differs is the account
//! the device checks it against: DM 1.2 uses the DMAcc SRVCRED AAuthName/AAuthSecret/AAuthData,
//! DM 1.1.2 the flat `./SyncML/DMAcc/<X>` ServerId/ServerPW/ServerNonce (FACTS E.2, H.3). A
//! device row holds one set of server credentials (ServerID, `B64(H(ServerID:password))`,
//! nonce), which is what either bootstrap layout provisions, so the fallback signs with the
//! same credentials; its effect is that the device is then notified and managed with DM
//! 1.1.2 (the notification target's `dm_version`), which a device only answering 1.1.2
//! accounts needs. The session id differs per notification, not per version.

pub mod operation;
pub mod scheduler;

use std::time::Duration;

use omadm_protocol::auth::{Nonce, Secret};
use omadm_protocol::notification::{Initiator, Notification, NotificationError, NotificationVersion, UiMode};
use omadm_protocol::push::{ApplicationId, ContentType, MediaType, PushPdu};
use omadm_storage::{Device, NotificationPolicy};
use serde::Deserialize;

/// The DM versions a notification is sent for.
pub const DM_1_2: &str = "1.2";
/// DM 1.1.2, the fallback.
pub const DM_1_1_2: &str = "1.1.2";

/// `[notification]` in the configuration file; every key optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationFile {
    /// DM 1.2 re-sends after the first.
    pub retries: Option<u32>,
    /// Wait for a session after each DM 1.2 send.
    pub interval_secs: Option<u64>,
    /// Each wait varies by up to this many percent (0-100).
    pub jitter_pct: Option<u32>,
    /// DM 1.1.2 notifications after the DM 1.2 ones went unanswered (0: no fallback).
    pub fallback_retries: Option<u32>,
    /// Wait for a session after each DM 1.1.2 send.
    pub fallback_interval_secs: Option<u64>,
    /// Give up this long after the request, whatever the schedule says.
    pub give_up_secs: Option<u64>,
    /// At most this many notifications out and unanswered at once, over all nodes; others
    /// wait `queued`.
    pub max_outstanding: Option<u32>,
    /// At most this many notification sends per second from each node, over every channel
    /// (the SMPP bind's own `submits_per_second` limits that channel). Default: no limit.
    pub max_per_second: Option<u32>,
}

/// The notification settings of `serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationConfig {
    /// DM 1.2 re-sends after the first.
    pub retries: u32,
    /// Wait after each DM 1.2 send.
    pub interval: Duration,
    /// Jitter of each wait, percent either way.
    pub jitter_pct: u32,
    /// DM 1.1.2 sends after the DM 1.2 ones.
    pub fallback_retries: u32,
    /// Wait after each DM 1.1.2 send.
    pub fallback_interval: Duration,
    /// Give up this long after the request.
    pub give_up: Duration,
    /// Cap on outstanding (sent, unanswered) notifications.
    pub max_outstanding: u32,
    /// Sends per second from this node (`None`: no limit).
    pub max_per_second: Option<u32>,
    /// How often the scheduler looks for due notifications when nobody wakes it.
    pub poll: Duration,
}

impl Default for NotificationConfig {
    fn default() -> Self {
        NotificationConfig {
            retries: 2,
            interval: Duration::from_secs(300),
            jitter_pct: 10,
            fallback_retries: 1,
            fallback_interval: Duration::from_secs(600),
            give_up: Duration::from_secs(24 * 3600),
            max_outstanding: 10_000,
            max_per_second: None,
            poll: Duration::from_secs(1),
        }
    }
}

/// The largest retry count of either phase.
pub const MAX_RETRIES: u32 = 100;
/// The longest wait or give-up time (30 days).
pub const MAX_WAIT_SECS: u64 = 30 * 24 * 3600;

impl NotificationConfig {
    /// The defaults with the file's keys applied.
    pub fn from_file(f: &NotificationFile) -> anyhow::Result<NotificationConfig> {
        let d = NotificationConfig::default();
        let secs = |name: &str, v: Option<u64>, default: Duration| -> anyhow::Result<Duration> {
            match v {
                None => Ok(default),
                Some(s) if (1..=MAX_WAIT_SECS).contains(&s) => Ok(Duration::from_secs(s)),
                Some(_) => anyhow::bail!("notification.{name} must be 1..{MAX_WAIT_SECS}"),
            }
        };
        let count = |name: &str, v: Option<u32>, default: u32| -> anyhow::Result<u32> {
            let v = v.unwrap_or(default);
            anyhow::ensure!(v <= MAX_RETRIES, "notification.{name} must be 0..{MAX_RETRIES}");
            Ok(v)
        };
        let jitter_pct = f.jitter_pct.unwrap_or(d.jitter_pct);
        anyhow::ensure!(jitter_pct <= 100, "notification.jitter_pct must be 0..100");
        let max_outstanding = f.max_outstanding.unwrap_or(d.max_outstanding);
        anyhow::ensure!(max_outstanding >= 1, "notification.max_outstanding must be at least 1");
        Ok(NotificationConfig {
            retries: count("retries", f.retries, d.retries)?,
            interval: secs("interval_secs", f.interval_secs, d.interval)?,
            jitter_pct,
            fallback_retries: count("fallback_retries", f.fallback_retries, d.fallback_retries)?,
            fallback_interval: secs("fallback_interval_secs", f.fallback_interval_secs, d.fallback_interval)?,
            give_up: secs("give_up_secs", f.give_up_secs, d.give_up)?,
            max_outstanding,
            max_per_second: match f.max_per_second {
                Some(0) => anyhow::bail!("notification.max_per_second must be at least 1"),
                v => v,
            },
            poll: d.poll,
        })
    }

    /// The policy a request gets when it overrides nothing.
    pub fn policy(&self) -> NotificationPolicy {
        NotificationPolicy {
            retries: self.retries,
            interval_ms: millis(self.interval),
            jitter_pct: self.jitter_pct,
            fallback_retries: self.fallback_retries,
            fallback_interval_ms: millis(self.fallback_interval),
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Why a package 0 cannot be built for a device.
#[derive(Debug, thiserror::Error)]
pub enum Package0Error {
    /// The device has no server credentials: it could not check the digest.
    #[error(
        "device {0:?} has no server credentials (server_auth): it could not verify a notification; set a server password or bootstrap it"
    )]
    NoServerCredentials(String),
    /// The stored server nonce is not Base64.
    #[error("the stored server nonce of device {0:?} is not Base64")]
    BadNonce(String),
    /// The fields do not fit (a ServerID over 255 bytes).
    #[error("package 0: {0}")]
    Layout(#[from] NotificationError),
}

/// The ui-mode by name: `not-specified`, `background`, `informative`, `user-interaction`
/// (FACTS E.1), or its number 0-3.
pub fn parse_ui_mode(s: &str) -> Option<UiMode> {
    match s.to_ascii_lowercase().as_str() {
        "0" | "not-specified" | "not_specified" => Some(UiMode::NotSpecified),
        "1" | "background" => Some(UiMode::Background),
        "2" | "informative" => Some(UiMode::Informative),
        "3" | "user-interaction" | "user_interaction" => Some(UiMode::UserInteraction),
        _ => None,
    }
}

/// The ui-mode field's value.
pub fn ui_mode_bits(m: UiMode) -> u8 {
    match m {
        UiMode::NotSpecified => 0,
        UiMode::Background => 1,
        UiMode::Informative => 2,
        UiMode::UserInteraction => 3,
    }
}

/// The ui-mode of a field value (0-3; larger values keep their two low bits).
pub fn ui_mode_of(bits: u8) -> UiMode {
    match bits & 3 {
        0 => UiMode::NotSpecified,
        1 => UiMode::Background,
        2 => UiMode::Informative,
        _ => UiMode::UserInteraction,
    }
}

/// The version field for `dm_version` (`1.2` or `1.1.2`): 11 for both (module docs).
pub fn version_field(dm_version: &str) -> NotificationVersion {
    if dm_version == DM_1_1_2 { NotificationVersion::DM_1_1_2 } else { NotificationVersion::DM_1_2 }
}

/// A server-initiated package 0 for `device`, signed with its server credentials: the digest
/// `H(B64(H(server-id:password)):nonce:B64(H(trigger)))` (FACTS E.2) from the stored
/// `server_secret` (that very `B64(H(server-id:password))`) and the decoded `server_nonce`,
/// with the ServerID the device knows us by.
pub fn package0(
    device: &Device,
    session_id: u16,
    ui_mode: UiMode,
    dm_version: &str,
) -> Result<Vec<u8>, Package0Error> {
    let secret = device
        .server_secret
        .as_ref()
        .ok_or_else(|| Package0Error::NoServerCredentials(device.device_id.clone()))?;
    let nonce = Nonce::from_b64(&device.server_nonce)
        .map_err(|_| Package0Error::BadNonce(device.device_id.clone()))?;
    let n = Notification {
        version: version_field(dm_version),
        ui_mode,
        initiator: Initiator::Server,
        session_id,
        server_id: device.server_id.clone(),
        vendor_specific: Vec::new(),
    };
    Ok(n.encode_with_secret(&Secret::new(secret.clone()), nonce.as_bytes())?)
}

/// The connectionless WSP push carrying a package 0: content type 0xC4
/// (`application/vnd.syncml.notification`), X-Wap-Application-Id 0x07 (`syncml.dm`), to port
/// 2948 (FACTS E.3).
pub fn push_pdu(package0: Vec<u8>) -> PushPdu {
    PushPdu {
        tid: 1,
        content_type: ContentType::new(MediaType::DmNotification),
        application_id: Some(ApplicationId::SYNCML_DM),
        body: package0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadm_protocol::auth::md5_secret;
    use omadm_protocol::notification::verify;
    use omadm_storage::ClientAuthType;

    fn device(secret: Option<&str>) -> Device {
        Device {
            device_id: "IMEI:1".into(),
            client_auth_type: ClientAuthType::Md5,
            client_username: "u".into(),
            client_secret: "x".into(),
            client_nonce: "AAAA".into(),
            server_id: "com.mgmtsrv.manage".into(),
            server_secret: secret.map(str::to_owned),
            // "srvnonce" in Base64.
            server_nonce: "c3J2bm9uY2U=".into(),
            dm_version: None,
            created_at: 0,
            updated_at: 0,
            last_session_at: None,
        }
    }

    /// FACTS K.2: the spec layout with password `srvpwd`, nonce `srvnonce`, session 0x1234,
    /// ui-mode 1; we set the initiator bit (server-initiated), so only byte 18 and the digest
    /// differ from the vector, and the device's check with the clear password passes.
    #[test]
    fn package0_from_the_stored_secret_verifies_with_the_password() {
        let secret = md5_secret("com.mgmtsrv.manage", "srvpwd").expose().to_owned();
        let d = device(Some(&secret));
        let p = package0(&d, 0x1234, UiMode::Background, DM_1_2).unwrap();
        assert_eq!(&p[16..21], &[0x02, 0xD8, 0, 0, 0], "version 11, ui 1, initiator 1");
        assert_eq!(&p[21..24], &[0x12, 0x34, 18]);
        assert_eq!(&p[24..], b"com.mgmtsrv.manage");
        assert!(verify(&p, "com.mgmtsrv.manage", "srvpwd", b"srvnonce"));
        assert!(!verify(&p, "com.mgmtsrv.manage", "srvpwd", b"other"));
        // DM 1.1.2: the same field value and credentials (module docs).
        let q = package0(&d, 0x1234, UiMode::Background, DM_1_1_2).unwrap();
        assert_eq!(p, q);
        assert!(matches!(
            package0(&device(None), 1, UiMode::Background, DM_1_2),
            Err(Package0Error::NoServerCredentials(_))
        ));
        let mut bad = device(Some(&secret));
        bad.server_nonce = "not base64!".into();
        assert!(matches!(package0(&bad, 1, UiMode::Background, DM_1_2), Err(Package0Error::BadNonce(_))));
    }

    #[test]
    fn push_is_0xc4_for_syncml_dm() {
        let pdu = push_pdu(vec![0; 24]).encode();
        assert_eq!(&pdu[..6], &[0x01, 0x06, 0x03, 0xC4, 0xAF, 0x87]);
    }

    #[test]
    fn ui_modes_and_config() {
        assert_eq!(parse_ui_mode("user-interaction"), Some(UiMode::UserInteraction));
        assert_eq!(parse_ui_mode("2"), Some(UiMode::Informative));
        assert_eq!(parse_ui_mode("loud"), None);
        for b in 0..4 {
            assert_eq!(ui_mode_bits(ui_mode_of(b)), b);
        }
        let c = NotificationConfig::from_file(&NotificationFile {
            retries: Some(3),
            interval_secs: Some(60),
            ..NotificationFile::default()
        })
        .unwrap();
        assert_eq!((c.retries, c.interval, c.fallback_retries), (3, Duration::from_secs(60), 1));
        assert!(
            NotificationConfig::from_file(&NotificationFile { jitter_pct: Some(101), ..Default::default() })
                .is_err()
        );
        assert!(
            NotificationConfig::from_file(&NotificationFile { interval_secs: Some(0), ..Default::default() })
                .is_err()
        );
        let file: crate::config::FileConfig =
            toml::from_str("[notification]\nretries = 4\nmax_outstanding = 5\n").unwrap();
        let c = NotificationConfig::from_file(&file.notification).unwrap();
        assert_eq!((c.retries, c.max_outstanding, c.interval), (4, 5, Duration::from_secs(300)));
        assert!(toml::from_str::<crate::config::FileConfig>("[notification]\nretry = 4\n").is_err());
    }
}
