//! The SMPP 3.4 channel: the server binds to an SMSC as a transmitter and submits each SMS of a
//! push as one submit_sm (esm_class UDHI, 8-bit data coding). [`pdu`] is the sans-IO codec,
//! [`client`] the connection task and the [`SmppChannel`] in front of it.

pub mod client;
pub mod pdu;

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Secret};
use pdu::max_len;

pub use client::SmppChannel;

/// How to reach and use an SMSC; `[delivery.smpp]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    /// `host:port` of the SMSC (2775 is the usual SMPP port).
    pub address: String,
    /// ESME system_id for bind_transmitter, at most 15 characters (SMPP 3.4 §4.1.1).
    pub system_id: String,
    /// Bind password, at most 8 characters (§4.1.1). Never logged.
    pub password: Secret,
    /// system_type for bind_transmitter, at most 12 characters; often empty or `WAP`.
    #[serde(default)]
    pub system_type: String,
    /// service_type of each submit_sm, at most 5 characters (§5.2.11); empty = SMSC default.
    #[serde(default)]
    pub service_type: String,
    /// Our sender address, at most 20 characters; empty lets the SMSC fill it in.
    #[serde(default)]
    pub source_addr: String,
    /// TON of `source_addr` (§5.2.5): 0 unknown, 1 international, 5 alphanumeric, ...
    #[serde(default)]
    pub source_addr_ton: u8,
    /// NPI of `source_addr` (§5.2.6): 0 unknown, 1 ISDN/E.164, ...
    #[serde(default)]
    pub source_addr_npi: u8,
    /// TON of the device's number; 1 (international) as we send E.164 digits.
    #[serde(default = "default_dest_ton")]
    pub dest_addr_ton: u8,
    /// NPI of the device's number; 1 (ISDN/E.164).
    #[serde(default = "default_dest_npi")]
    pub dest_addr_npi: u8,
    /// registered_delivery of each submit_sm (§5.2.17); 0 = no delivery receipt.
    #[serde(default)]
    pub registered_delivery: u8,
    /// Most submit_sm waiting for their response at once.
    #[serde(default = "default_window")]
    pub window: u16,
    /// Most submit_sm per second on this bind (token bucket; the SMSC's contracted rate).
    #[serde(default = "default_submits_per_second")]
    pub submits_per_second: u32,
    /// Seconds between our enquire_link checks of the link (SMPP 3.4 §7.2 enquire_link_timer).
    #[serde(default = "default_enquire_link_interval_secs")]
    pub enquire_link_interval_secs: u64,
    /// How long to wait for any response before the request counts as lost (§7.2
    /// response_timer), in milliseconds.
    #[serde(default = "default_response_timeout_ms")]
    pub response_timeout_ms: u64,
    /// TCP connect timeout, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// First pause before reconnecting after a failed bind or a lost connection, in
    /// milliseconds; doubled on each failure up to `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest pause between reconnection attempts, in milliseconds.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Pause of all submits after the SMSC answered ESME_RTHROTTLED or ESME_RMSGQFUL, in
    /// milliseconds.
    #[serde(default = "default_throttle_pause_ms")]
    pub throttle_pause_ms: u64,
    /// Submits of one SMS before a temporary refusal is reported to the caller.
    #[serde(default = "default_max_submit_attempts")]
    pub max_submit_attempts: u32,
}

fn default_dest_ton() -> u8 {
    1
}
fn default_dest_npi() -> u8 {
    1
}
fn default_window() -> u16 {
    10
}
fn default_submits_per_second() -> u32 {
    10
}
fn default_enquire_link_interval_secs() -> u64 {
    30
}
fn default_response_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_reconnect_min_ms() -> u64 {
    1_000
}
fn default_reconnect_max_ms() -> u64 {
    60_000
}
fn default_throttle_pause_ms() -> u64 {
    1_000
}
fn default_max_submit_attempts() -> u32 {
    3
}

impl SmppConfig {
    /// A configuration with every default, for `address`, `system_id` and `password`.
    pub fn new(address: impl Into<String>, system_id: impl Into<String>, password: Secret) -> Self {
        SmppConfig {
            address: address.into(),
            system_id: system_id.into(),
            password,
            system_type: String::new(),
            service_type: String::new(),
            source_addr: String::new(),
            source_addr_ton: 0,
            source_addr_npi: 0,
            dest_addr_ton: default_dest_ton(),
            dest_addr_npi: default_dest_npi(),
            registered_delivery: 0,
            window: default_window(),
            submits_per_second: default_submits_per_second(),
            enquire_link_interval_secs: default_enquire_link_interval_secs(),
            response_timeout_ms: default_response_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            throttle_pause_ms: default_throttle_pause_ms(),
            max_submit_attempts: default_max_submit_attempts(),
        }
    }

    /// Refuses values the SMSC or the client cannot work with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let text = |field: &'static str, value: &str, max: usize| {
            if !value.is_ascii() || value.contains('\0') || value.len() >= max {
                Err(ConfigError::new(field, format!("must be ASCII, at most {} characters", max - 1)))
            } else {
                Ok(())
            }
        };
        if self.address.is_empty() {
            return Err(ConfigError::new("smpp.address", "must be host:port"));
        }
        text("smpp.system_id", &self.system_id, max_len::SYSTEM_ID)?;
        text("smpp.password", self.password.expose(), max_len::PASSWORD)?;
        text("smpp.system_type", &self.system_type, max_len::SYSTEM_TYPE)?;
        text("smpp.service_type", &self.service_type, max_len::SERVICE_TYPE)?;
        text("smpp.source_addr", &self.source_addr, max_len::ADDR)?;
        let positive = |field: &'static str, v: u64| {
            if v == 0 { Err(ConfigError::new(field, "must be at least 1")) } else { Ok(()) }
        };
        positive("smpp.window", self.window.into())?;
        positive("smpp.submits_per_second", self.submits_per_second.into())?;
        positive("smpp.enquire_link_interval_secs", self.enquire_link_interval_secs)?;
        positive("smpp.response_timeout_ms", self.response_timeout_ms)?;
        positive("smpp.connect_timeout_ms", self.connect_timeout_ms)?;
        positive("smpp.reconnect_min_ms", self.reconnect_min_ms)?;
        positive("smpp.max_submit_attempts", self.max_submit_attempts.into())?;
        if self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(ConfigError::new("smpp.reconnect_max_ms", "must be at least reconnect_min_ms"));
        }
        Ok(())
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let c: SmppConfig =
            toml::from_str("address = \"127.0.0.1:2775\"\nsystem_id = \"omadm\"\npassword = \"pw\"\n")
                .unwrap();
        assert_eq!(c, SmppConfig::new("127.0.0.1:2775", "omadm", Secret::new("pw")));
        assert_eq!((c.window, c.dest_addr_ton, c.dest_addr_npi, c.registered_delivery), (10, 1, 1, 0));
        c.validate().unwrap();
        let mut bad = c.clone();
        bad.password = Secret::new("123456789");
        assert_eq!(bad.validate().unwrap_err().field, "smpp.password");
        let mut bad = c.clone();
        bad.system_id = "a".repeat(16);
        assert_eq!(bad.validate().unwrap_err().field, "smpp.system_id");
        let mut bad = c.clone();
        bad.window = 0;
        assert_eq!(bad.validate().unwrap_err().field, "smpp.window");
        let mut bad = c;
        bad.reconnect_max_ms = 1;
        assert_eq!(bad.validate().unwrap_err().field, "smpp.reconnect_max_ms");
    }
}
