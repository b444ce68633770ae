//! A simulated OMA DM 1.2 / 1.1.2 device: a real management tree, a client that runs DM
//! sessions against a server over HTTP, and faults to inject.
//!
//! Built only on `omadm-protocol`'s message model, codecs and authentication math; it shares
//! no code with the server's session engine, so that it can check that engine independently.
//!
//! - [`tree`]: the management tree with node properties and ACLs (OMA-TS-DM_TND-V1_2;
//!   FACTS.md C.7).
//! - [`objects`]: the device's standard and vendor objects: `./DevInfo`, `./DevDetail`,
//!   `./DMAcc/<x>` (DM 1.2) or `./SyncML/DMAcc/<x>` (DM 1.1.2), the FUMO object `./FwUpdate/x1`
//!   and `./Vendor` (FACTS.md H, I, J).
//! - [`client`]: one DM session (OMA-TS-DM_Protocol-V1_2 §8; FACTS.md C.4-C.6, D): package 1,
//!   authentication both ways, server commands executed against the tree, large objects and
//!   multi-message packages both ways, Generic Alerts.
//! - [`transport`]: HTTP/1.1 over TCP.
//! - [`faults`]: wrong password, dropped connection, slow answers, malformed messages.
//!
//! ```no_run
//! # async fn demo() {
//! use omadm_conformance::devsim::{AuthKind, Device, DeviceConfig};
//! let mut config = DeviceConfig::new("http://127.0.0.1:8080/dm", "IMEI:493005100592800");
//! config.client.kind = AuthKind::Md5;
//! config.client.username = "devuser".into();
//! config.client.password = "devpw".into();
//! let mut device = Device::new(config);
//! let report = device.run_session().await;
//! println!("{report}");
//! # }
//! ```

pub mod client;
mod exec;
pub mod faults;
pub mod objects;
pub mod report;
pub mod transport;
pub mod tree;

use std::time::Duration;

use omadm_protocol::auth::{AuthType, Nonce};
use omadm_protocol::{DmVersion, Encoding};

pub use client::ClientSession;
pub use faults::Faults;
pub use report::{Direction, MessageRecord, Outcome, SessionReport, StatusRecord};
pub use tree::{Acl, AclCommand, Node, Tree, TreeError};

/// How the device authenticates itself to the server (FACTS.md D.1, D.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// `syncml:auth-basic` in the SyncHdr Cred.
    Basic,
    /// `syncml:auth-md5` in the SyncHdr Cred.
    Md5,
    /// The `x-syncml-hmac` HTTP header on every message.
    Hmac,
}

impl AuthKind {
    /// The protocol credential type.
    pub fn auth_type(self) -> AuthType {
        match self {
            AuthKind::Basic => AuthType::Basic,
            AuthKind::Md5 => AuthType::Md5,
            AuthKind::Hmac => AuthType::Hmac,
        }
    }

    /// The kind for a credential type this device supports.
    pub fn from_auth_type(t: AuthType) -> Option<AuthKind> {
        match t {
            AuthType::Basic => Some(AuthKind::Basic),
            AuthType::Md5 => Some(AuthKind::Md5),
            AuthType::Hmac => Some(AuthKind::Hmac),
            _ => None,
        }
    }

    /// `basic`, `md5` or `hmac` (the names of omadm's admin API and of `--auth`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::Basic => "basic",
            AuthKind::Md5 => "md5",
            AuthKind::Hmac => "hmac",
        }
    }

    /// Parse [`AuthKind::as_str`] (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<AuthKind> {
        [AuthKind::Basic, AuthKind::Md5, AuthKind::Hmac]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// The device's credentials towards the server (DMAcc AppAuth CLCRED; DM 1.1.2
/// UserName/ClientPW/ClientNonce).
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// Auth type.
    pub kind: AuthKind,
    /// AAuthName (also the SyncHdr Source LocName).
    pub username: String,
    /// AAuthSecret.
    pub password: String,
    /// AAuthData: the nonce for the next MD5/HMAC credential.
    pub nonce: Nonce,
}

/// What the device expects of the server's credentials (DMAcc AppAuth SRVCRED; DM 1.1.2
/// ServerPW/ServerNonce). The server's name is [`DeviceConfig::server_id`].
#[derive(Clone, Debug)]
pub struct ServerCredentials {
    /// AAuthSecret.
    pub password: String,
    /// AAuthData: the nonce the server must use in its next credential.
    pub nonce: Nonce,
}

/// How the simulated user answers UI alerts 1100-1104 (FACTS.md C.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiAnswer {
    /// Yes / OK: Status 200.
    Accept,
    /// No to a 1101 confirmation: Status 304.
    Reject,
    /// The user cancels: Status 214.
    Cancel,
    /// The user does not answer: Status 408.
    Timeout,
}

/// The simulated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The answer to every UI alert.
    pub answer: UiAnswer,
    /// Text typed in answer to 1102; `None` takes the alert's default (`DR=`), else empty.
    pub text: Option<String>,
    /// Choices (1-based) for 1103/1104; `None` takes the default (`DR=`), else the first.
    pub choices: Option<Vec<u32>>,
}

impl Default for User {
    fn default() -> User {
        User { answer: UiAnswer::Accept, text: None, choices: None }
    }
}

/// When the result of an asynchronous FUMO Exec is reported (FACTS.md I.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportTiming {
    /// In the device's next message of the same session, after the Exec's 202.
    SameSession,
    /// In package 1 of the device's next session (the download happens in between).
    NextSession,
}

/// FUMO behaviour (FACTS.md I).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FumoConfig {
    /// Result code reported in the Generic Alert (I.4): 200 success, 4xx/5xx failures.
    pub result: u16,
    /// When the Generic Alert is sent.
    pub report: ReportTiming,
    /// The `./DevDetail/FwV` a successful update installs (`None`: unchanged).
    pub installs: Option<String>,
}

impl Default for FumoConfig {
    fn default() -> FumoConfig {
        FumoConfig { result: 200, report: ReportTiming::SameSession, installs: None }
    }
}

/// DevInfo and DevDetail values (FACTS.md J).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `./DevInfo/Man`.
    pub manufacturer: String,
    /// `./DevInfo/Mod`.
    pub model: String,
    /// `./DevInfo/Lang`.
    pub language: String,
    /// `./DevDetail/DevTyp`.
    pub device_type: String,
    /// `./DevDetail/OEM`.
    pub oem: String,
    /// `./DevDetail/FwV`.
    pub firmware_version: String,
    /// `./DevDetail/SwV`.
    pub software_version: String,
    /// `./DevDetail/HwV`.
    pub hardware_version: String,
}

impl Default for DeviceInfo {
    fn default() -> DeviceInfo {
        DeviceInfo {
            manufacturer: "Acme".into(),
            model: "Rocket 3".into(),
            language: "en-US".into(),
            device_type: "phone".into(),
            oem: "Acme OEM".into(),
            firmware_version: "fw-7".into(),
            software_version: "2.0.1".into(),
            hardware_version: "hw-B".into(),
        }
    }
}

/// Everything a simulated device is. Fields are public; [`DeviceConfig::new`] fills sensible
/// defaults (DM 1.2, XML, MD5 as `devuser`/`devpw`, ServerID `omadm`, MaxMsgSize 16384).
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// The server's DM URL (`http://host:port/dm`): DMAcc AppAddr Addr.
    pub server_url: String,
    /// DevId, e.g. `IMEI:493005100592800`; the SyncHdr Source LocURI.
    pub device_id: String,
    /// The server's ServerID (DMAcc ServerID): ACLs name it, and its credentials use it.
    pub server_id: String,
    /// The name of the account node `<x>` under `./DMAcc` (or `./SyncML/DMAcc`).
    pub account: String,
    /// DM 1.2 or DM 1.1.2.
    pub version: DmVersion,
    /// XML or WBXML.
    pub encoding: Encoding,
    /// The device's credentials.
    pub client: ClientCredentials,
    /// The server's credentials the device checks; `None`: the device does not
    /// authenticate the server.
    pub server: Option<ServerCredentials>,
    /// MaxMsgSize announced in every SyncHdr (the largest message the device accepts).
    pub max_msg_size: Option<u64>,
    /// MaxObjSize announced (the largest object the device accepts).
    pub max_obj_size: Option<u64>,
    /// The largest message the device itself sends (its transmit buffer), below the server's
    /// MaxMsgSize; larger output goes in several messages and large objects in chunks.
    pub send_limit: Option<u64>,
    /// Open the session with Alert 1200 (answering a notification) instead of 1201.
    pub server_initiated: bool,
    /// SessionID of the next session; by default 1, 2, 3... in upper-case hex.
    pub session_id: Option<String>,
    /// Send credentials in package 1 before being challenged (else wait for 407).
    pub initial_credentials: bool,
    /// Packages 1 sent at most per session when the server refuses the credentials.
    pub max_auth_attempts: u32,
    /// The simulated user.
    pub user: User,
    /// FUMO behaviour.
    pub fumo: FumoConfig,
    /// Faults to inject.
    pub faults: Faults,
    /// DevInfo / DevDetail values.
    pub info: DeviceInfo,
    /// Longest wait for one HTTP answer.
    pub http_timeout: Duration,
}

impl DeviceConfig {
    /// A DM 1.2 XML device with MD5 credentials `devuser`/`devpw` and nonce `clientnonce`,
    /// not authenticating the server, ServerID `omadm`.
    pub fn new(server_url: &str, device_id: &str) -> DeviceConfig {
        DeviceConfig {
            server_url: server_url.to_owned(),
            device_id: device_id.to_owned(),
            server_id: "omadm".into(),
            account: "omadm".into(),
            version: DmVersion::V1_2,
            encoding: Encoding::Xml,
            client: ClientCredentials {
                kind: AuthKind::Md5,
                username: "devuser".into(),
                password: "devpw".into(),
                nonce: Nonce::new(b"clientnonce".to_vec()),
            },
            server: None,
            max_msg_size: Some(16_384),
            max_obj_size: Some(1024 * 1024),
            send_limit: None,
            server_initiated: false,
            session_id: None,
            initial_credentials: true,
            max_auth_attempts: 3,
            user: User::default(),
            fumo: FumoConfig::default(),
            faults: Faults::none(),
            info: DeviceInfo::default(),
            http_timeout: Duration::from_secs(30),
        }
    }
}

/// A Generic Alert (1226) waiting to be sent (FACTS.md I.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenericAlert {
    /// Correlator of the Exec it reports, if the Exec had one.
    pub correlator: Option<String>,
    /// Item Source LocURI: the FUMO object.
    pub source: String,
    /// Meta Type, e.g. `org.openmobilealliance.dm.firmwareupdate.download`.
    pub alert_type: String,
    /// Meta Format (`int` for FUMO results).
    pub format: String,
    /// Meta Mark (severity), e.g. `critical` for a failure.
    pub mark: Option<String>,
    /// Item Data: the result code.
    pub data: String,
}

/// A simulated device: its configuration, its management tree (kept across sessions, like
/// the credentials and nonces stored in it), and the Generic Alerts it has yet to deliver.
#[derive(Clone, Debug)]
pub struct Device {
    /// The configuration.
    pub config: DeviceConfig,
    /// The management tree.
    pub tree: Tree,
    /// Generic Alerts not yet acknowledged by the server.
    pub pending_alerts: Vec<GenericAlert>,
    /// Sessions started so far.
    pub sessions: u32,
}

impl Device {
    /// A device with the default tree for `config` ([`objects::default_tree`]).
    pub fn new(config: DeviceConfig) -> Device {
        let tree = objects::default_tree(&config);
        Device { config, tree, pending_alerts: Vec::new(), sessions: 0 }
    }

    /// The account as stored in the tree (credentials and current nonces).
    pub fn account(&self) -> objects::Account {
        objects::Account::read(&self.tree, &self.config)
    }

    /// Run one session over HTTP with the configured faults; never fails: what went wrong is
    /// the report's [`Outcome`].
    pub async fn run_session(&mut self) -> SessionReport {
        client::run(self).await
    }
}
