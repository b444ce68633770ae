//! Push delivery channels: how a ready WAP push (a DM notification, a bootstrap) leaves the
//! server. One trait, [`PushChannel`], with two implementations chosen by configuration:
//! [`smpp`] submits the already-framed SMS user data to an SMSC (SMPP 3.4), [`pap`] hands the
//! content to a Push Proxy Gateway (PAP 2.0), which builds WSP and SMS itself.
//!
//! Errors say whether a retry can help ([`DeliveryError::is_retryable`]), so the dispatcher
//! knows whether to try again later or give up on the push.

pub mod callback;
mod endpoint;
pub mod pap;
pub mod smpp;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Deserialize;

pub use callback::{CallbackChannel, CallbackConfig};
pub use pap::{PapChannel, PapConfig};
pub use smpp::{SmppChannel, SmppConfig};

/// Octets of TP-User-Data in one SMS, UDH included (3GPP TS 23.040 §9.2.3.24; FACTS F.2).
pub const MAX_SMS_USER_DATA: usize = 140;

/// Most SMS one push may take: the 8-bit concatenation IE counts parts in one octet (FACTS F.2).
pub const MAX_SEGMENTS: usize = 255;

/// Longest push-id we accept: it goes into PAP XML and into logs.
pub const MAX_PUSH_ID_LEN: usize = 256;

/// One WAP push ready to leave. The push dispatcher fills both forms; each channel uses the one
/// its gateway needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundPush {
    /// Unique and stable across retries: the PAP push-id, and the correlation key in logs.
    pub push_id: String,
    /// The device it is for, when known (the HTTP callback passes it on).
    pub device_id: Option<String>,
    /// The device's number, E.164 with or without a leading `+`.
    pub msisdn: String,
    /// The complete TP-User-Data of each SMS (UDH + WSP bytes), at most 140 octets each, in
    /// order: what an SMSC sends (SMPP).
    pub sms_user_data: Vec<Vec<u8>>,
    /// The content before WSP framing: what a PPG needs (PAP).
    pub content: PushContent,
}

/// The pushed content as a PPG receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushContent {
    /// Media type, e.g. `application/vnd.syncml.notification` (FACTS B.6, E.3).
    pub content_type: String,
    /// Push application id, e.g. `x-wap-application:syncml.dm` (FACTS F.1).
    pub application_id: Option<String>,
    /// The content's bytes (e.g. a package 0).
    pub body: Vec<u8>,
}

/// A push the gateway took responsibility for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Accepted: SMSC `message_id`s (one per SMS, in order) or the PPG's push-id.
    Accepted { references: Vec<String> },
}

/// Why a push did not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The gateway refused this push for good (bad address, bad content): do not retry.
    /// `code` is the gateway's own: SMPP command_status, PAP status code or HTTP status.
    #[error("rejected by the gateway (code {code}): {reason}")]
    Rejected { code: u32, reason: String },
    /// The push itself is malformed (number, sizes, header values): do not retry.
    #[error("invalid push: {0}")]
    InvalidPush(String),
    /// Throttled, queue full, response lost, connection dropped: retry later.
    #[error("temporary failure: {reason}")]
    Temporary { reason: String },
    /// The channel cannot reach its gateway now (connect or bind refused, shut down): retry
    /// later, possibly on another channel.
    #[error("channel unavailable: {reason}")]
    Unavailable { reason: String },
}

impl DeliveryError {
    /// Whether trying the same push again later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Temporary { .. } | DeliveryError::Unavailable { .. })
    }
}

/// The future a channel returns for one push.
pub type DeliveryFuture<'a> =
    Pin<Box<dyn Future<Output = Result<DeliveryOutcome, DeliveryError>> + Send + 'a>>;

/// A way to send a push to a device.
pub trait PushChannel: Send + Sync {
    /// Hands one push to the gateway; resolves when the gateway accepted or refused it.
    fn deliver<'a>(&'a self, push: &'a OutboundPush) -> DeliveryFuture<'a>;
    /// Short name for logs and metrics (`smpp`, `pap`).
    fn name(&self) -> &'static str;
    /// Ends the channel cleanly (SMPP: unbind). Later deliveries fail as unavailable.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {})
    }
}

/// Which channels the server uses; `[delivery]` in the server's TOML.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Submit SMS directly to an SMSC over SMPP 3.4.
    #[serde(default)]
    pub smpp: Option<SmppConfig>,
    /// Hand pushes to a Push Proxy Gateway over PAP 2.0.
    #[serde(default)]
    pub pap: Option<PapConfig>,
    /// Post pushes to an operator's HTTP endpoint, for devices not reached by SMS.
    #[serde(default)]
    pub http: Option<CallbackConfig>,
}

impl DeliveryConfig {
    /// Starts every configured channel, SMPP first. The SMPP channel spawns its connection
    /// task, so this must run inside a tokio runtime.
    pub fn start(&self) -> Result<Vec<Arc<dyn PushChannel>>, ConfigError> {
        let mut channels: Vec<Arc<dyn PushChannel>> = Vec::new();
        if let Some(smpp) = &self.smpp {
            channels.push(Arc::new(SmppChannel::start(smpp.clone())?));
        }
        if let Some(pap) = &self.pap {
            channels.push(Arc::new(PapChannel::new(pap.clone())?));
        }
        if let Some(http) = &self.http {
            channels.push(Arc::new(CallbackChannel::new(http.clone())?));
        }
        Ok(channels)
    }
}

/// A configuration value a channel cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("delivery configuration: {field}: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError { field, reason: reason.into() }
    }
}

/// A secret from the configuration (SMPP password, PPG password): never in logs or `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Most digits in an international number (ITU-T E.164 §6.1).
const MAX_E164_DIGITS: usize = 15;

/// The digits of an E.164 number given with or without `+`: 1-15 digits, the first (the
/// country code's) not 0 (ITU-T E.164 §6). National forms such as `0170...` are refused, since
/// both channels send the number as international.
pub fn e164_digits(msisdn: &str) -> Result<&str, DeliveryError> {
    let digits = msisdn.strip_prefix('+').unwrap_or(msisdn);
    let bad = |why: &str| DeliveryError::InvalidPush(format!("msisdn {msisdn:?}: {why}"));
    if digits.is_empty() || digits.len() > MAX_E164_DIGITS {
        return Err(bad("needs 1 to 15 digits"));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("only digits after an optional '+'"));
    }
    if digits.starts_with('0') {
        return Err(bad("an international number does not start with 0"));
    }
    Ok(digits)
}

/// Checks the push-id: non-empty, bounded, printable (it goes into XML and logs).
pub(crate) fn check_push_id(push_id: &str) -> Result<(), DeliveryError> {
    if push_id.is_empty() || push_id.len() > MAX_PUSH_ID_LEN || push_id.chars().any(char::is_control) {
        return Err(DeliveryError::InvalidPush(format!(
            "push_id must be 1-{MAX_PUSH_ID_LEN} octets without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_accepts_with_and_without_plus() {
        assert_eq!(e164_digits("+491701234567"), Ok("491701234567"));
        assert_eq!(e164_digits("491701234567"), Ok("491701234567"));
        assert_eq!(e164_digits("+123456789012345"), Ok("123456789012345"));
    }

    #[test]
    fn e164_refuses_malformed_numbers() {
        for bad in ["", "+", "+1234567890123456", "0170123", "+49 170", "49-170", "+4917a", "++49"] {
            assert!(matches!(e164_digits(bad), Err(DeliveryError::InvalidPush(_))), "{bad:?}");
        }
    }

    #[test]
    fn retryable_classes() {
        assert!(DeliveryError::Temporary { reason: "x".into() }.is_retryable());
        assert!(DeliveryError::Unavailable { reason: "x".into() }.is_retryable());
        assert!(!DeliveryError::Rejected { code: 11, reason: "x".into() }.is_retryable());
        assert!(!DeliveryError::InvalidPush("x".into()).is_retryable());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let config: DeliveryConfig = toml::from_str(
            "[smpp]\naddress = \"127.0.0.1:2775\"\nsystem_id = \"omadm\"\npassword = \"hunter2\"\n\
             [pap]\nurl = \"http://127.0.0.1:13080/wappush\"\nppg_host = \"ppg.example.com\"\n\
             username = \"pi\"\npassword = \"sesame\"\n",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("sesame"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert_eq!(config.smpp.unwrap().password.expose(), "hunter2");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<DeliveryConfig>("[sms]\naddress = \"x\"\n").is_err());
        assert!(
            toml::from_str::<DeliveryConfig>(
                "[smpp]\naddress = \"a:1\"\nsystem_id = \"s\"\npassword = \"p\"\nwindows = 3\n"
            )
            .is_err()
        );
    }
}
