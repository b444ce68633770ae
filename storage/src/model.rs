//! What is stored: plain records shared by the session engine, the admin API and the CLI.
//! Times are Unix epoch milliseconds (`Millis`), the same on both backends.

use serde::{Deserialize, Serialize};

/// Unix epoch milliseconds.
pub type Millis = i64;

/// How a device authenticates itself to the server (DMAcc AppAuth CLCRED; FACTS.md D.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthType {
    /// `syncml:auth-basic` in `<Cred>`.
    Basic,
    /// `syncml:auth-md5` in `<Cred>`.
    Md5,
    /// `x-syncml-hmac` HTTP header (`syncml:auth-MAC`).
    Hmac,
}

impl ClientAuthType {
    /// The stored spelling (`basic`, `md5`, `hmac`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ClientAuthType::Basic => "basic",
            ClientAuthType::Md5 => "md5",
            ClientAuthType::Hmac => "hmac",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "basic" => Some(ClientAuthType::Basic),
            "md5" => Some(ClientAuthType::Md5),
            "hmac" => Some(ClientAuthType::Hmac),
            _ => None,
        }
    }
}

/// A managed device and the credentials of both directions. Secrets are stored as
/// `B64(MD5(name:password))`, never in the clear: that is all MD5 digest, HMAC and (by
/// recomputing it from the received pair) basic auth need (FACTS.md D.2).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// DevId, e.g. `IMEI:493005100592800` (the SyncHdr Source LocURI of its messages).
    pub device_id: String,
    /// How the device authenticates to us.
    pub client_auth_type: ClientAuthType,
    /// The user name the device sends (Source LocName, or inside basic credentials).
    pub client_username: String,
    /// `B64(MD5(client_username:client_password))`.
    pub client_secret: String,
    /// Base64 of the nonce the device must use in its next digest (we issued it).
    pub client_nonce: String,
    /// The server identifier the device knows us by (DMAcc ServerID; SRVCRED AAuthName).
    pub server_id: String,
    /// `B64(MD5(server_id:server_password))`; `None` when the server does not authenticate
    /// itself to this device.
    pub server_secret: Option<String>,
    /// Base64 of the nonce the device expects in our next `<Cred>` (the device issued it).
    pub server_nonce: String,
    /// DM version of the last session: `1.2` or `1.1.2`.
    pub dm_version: Option<String>,
    /// When the record was created.
    pub created_at: Millis,
    /// When the record last changed.
    pub updated_at: Millis,
    /// When the device last opened a session.
    pub last_session_at: Option<Millis>,
}

impl std::fmt::Debug for Device {
    /// Secrets and nonces never appear in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.device_id)
            .field("client_auth_type", &self.client_auth_type)
            .field("client_username", &self.client_username)
            .field("server_id", &self.server_id)
            .field("dm_version", &self.dm_version)
            .finish_non_exhaustive()
    }
}

/// One leaf of a device's inventory: a node URI and the value the device reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    /// Node URI, e.g. `./DevInfo/Man`.
    pub uri: String,
    /// Meta Format as reported (`chr`, `int`, `node`, ...), if any.
    pub format: Option<String>,
    /// The value as text (Base64 for binary).
    pub value: String,
    /// When it was last reported.
    pub updated_at: Millis,
}

/// The management operation of a queued command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Read a node.
    Get,
    /// Create a node.
    Add,
    /// Set a node's value.
    Replace,
    /// Remove a node.
    Delete,
    /// Execute a node.
    Exec,
    /// Copy `source` to `target`.
    Copy,
    /// All children or none.
    Atomic,
    /// Children in order.
    Sequence,
    /// A user-interaction Alert (1100-1104) with `alert_code` and `texts`.
    Alert,
}

impl Op {
    /// The SyncML element name, also the stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Op::Get => "Get",
            Op::Add => "Add",
            Op::Replace => "Replace",
            Op::Delete => "Delete",
            Op::Exec => "Exec",
            Op::Copy => "Copy",
            Op::Atomic => "Atomic",
            Op::Sequence => "Sequence",
            Op::Alert => "Alert",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Op> {
        [Op::Get, Op::Add, Op::Replace, Op::Delete, Op::Exec, Op::Copy, Op::Atomic, Op::Sequence, Op::Alert]
            .into_iter()
            .find(|o| o.as_str() == s)
    }

    /// Whether the op groups child commands.
    pub const fn is_container(self) -> bool {
        matches!(self, Op::Atomic | Op::Sequence)
    }
}

/// What an operator asks the device to do; containers hold children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// The operation (`None` only in `Default`).
    pub op: Option<Op>,
    /// Target node URI (`./...`).
    pub target: Option<String>,
    /// Source node URI (Copy).
    pub source: Option<String>,
    /// Data to send (Add, Replace, Exec).
    pub data: Option<String>,
    /// Meta Format of the data (`chr` by default).
    pub format: Option<String>,
    /// Meta Type of the data (MIME type).
    pub mime_type: Option<String>,
    /// Alert code for `Op::Alert` (1100-1104).
    pub alert_code: Option<u16>,
    /// UI alert texts: options first, then the prompt and the choices (FACTS.md C.2).
    pub texts: Vec<String>,
    /// Children of Atomic / Sequence, in order.
    pub children: Vec<CommandSpec>,
}

/// Where a command is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandState {
    /// Waiting for the device's next session.
    Queued,
    /// Sent in a session; no Status yet.
    Sent,
    /// Answered with a 2xx Status (results, if any, stored).
    Done,
    /// Answered with a failure Status, or abandoned.
    Failed,
}

impl CommandState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CommandState::Queued => "queued",
            CommandState::Sent => "sent",
            CommandState::Done => "done",
            CommandState::Failed => "failed",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(CommandState::Queued),
            "sent" => Some(CommandState::Sent),
            "done" => Some(CommandState::Done),
            "failed" => Some(CommandState::Failed),
            _ => None,
        }
    }
}

/// One Item of a Results answering a Get.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultItem {
    /// Source LocURI of the item.
    pub source: String,
    /// Meta Format.
    pub format: Option<String>,
    /// Meta Type.
    pub mime_type: Option<String>,
    /// Data as text (Base64 for binary).
    pub data: String,
}

/// A stored command with its state, Status, Results and children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// Database id.
    pub id: i64,
    /// Owning device.
    pub device_id: String,
    /// Enclosing Atomic/Sequence.
    pub parent_id: Option<i64>,
    /// Position among its siblings (0-based).
    pub position: i32,
    /// What to do (children are in `children`, not in `spec.children`).
    pub spec: CommandSpec,
    /// Life-cycle state.
    pub state: CommandState,
    /// The device's Status code, once answered.
    pub status: Option<u16>,
    /// Results received for a Get.
    pub results: Vec<ResultItem>,
    /// The session that sent it.
    pub session_token: Option<String>,
    /// Child commands in order (Atomic/Sequence).
    pub children: Vec<CommandRecord>,
    /// Why the command is held back instead of being sent (a mirrored ACL or the DDF refuses
    /// it); held commands stay `queued` but are not sent until an operator forces them.
    #[serde(default)]
    pub held_reason: Option<String>,
    /// An operator forced the command: it is sent without the ACL and DDF checks.
    #[serde(default)]
    pub forced: bool,
    /// When it was enqueued.
    pub created_at: Millis,
    /// When its state last changed.
    pub updated_at: Millis,
}

/// One node of the server's mirror of a device's management tree: what the device told us
/// (package 1 DevInfo, Results of Get, successful Add/Replace/Copy). `None`: not known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeNode {
    /// Node URI in normal form, e.g. `./DevInfo/Man`.
    pub uri: String,
    /// The leaf value as text (Base64 for binary), when read or written.
    pub value: Option<String>,
    /// Format property (`chr`, `int`, `node`, ...).
    pub format: Option<String>,
    /// Type property (MIME type, or the MO identifier of an interior node).
    pub mime_type: Option<String>,
    /// ACL property as the device reported it (`""`: inherits from its parent).
    pub acl: Option<String>,
    /// Title property.
    pub title: Option<String>,
    /// Size property (bytes of the value).
    pub size: Option<i64>,
    /// TStamp property (ISO 8601).
    pub tstamp: Option<String>,
    /// VerNo property.
    pub ver_no: Option<i32>,
    /// When the mirror last changed this node.
    pub updated_at: Millis,
}

/// A Generic Alert (1226) as received (FACTS.md I.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenericAlert {
    /// Database id (0 before insertion).
    pub id: i64,
    /// Sending device.
    pub device_id: String,
    /// The session it came in.
    pub session_token: Option<String>,
    /// Meta Type, e.g. `org.openmobilealliance.dm.firmwareupdate.download`.
    pub alert_type: Option<String>,
    /// Meta Format.
    pub format: Option<String>,
    /// Meta Mark (severity).
    pub mark: Option<String>,
    /// Item Source LocURI.
    pub source: Option<String>,
    /// Item Data (the result code for FUMO).
    pub data: Option<String>,
    /// Correlator echoing an Exec.
    pub correlator: Option<String>,
    /// When it was received.
    pub received_at: Millis,
}

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    /// Still running.
    Active,
    /// Ended normally: nothing left to send.
    Completed,
    /// The device (or server) sent Alert 1223.
    Aborted,
    /// Authentication failed too often.
    AuthFailed,
    /// No message within the idle timeout.
    TimedOut,
    /// A protocol violation ended it.
    Failed,
}

impl SessionOutcome {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionOutcome::Active => "active",
            SessionOutcome::Completed => "completed",
            SessionOutcome::Aborted => "aborted",
            SessionOutcome::AuthFailed => "auth_failed",
            SessionOutcome::TimedOut => "timed_out",
            SessionOutcome::Failed => "failed",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            SessionOutcome::Active,
            SessionOutcome::Completed,
            SessionOutcome::Aborted,
            SessionOutcome::AuthFailed,
            SessionOutcome::TimedOut,
            SessionOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A DM session: its record and the engine's state between messages (JSON), so that the next
/// message may land on any server node sharing the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Random token carried in the RespURI (`?s=<token>`); the primary key.
    pub token: String,
    /// The device.
    pub device_id: String,
    /// The SyncHdr SessionID the device chose.
    pub dm_session_id: String,
    /// `1.2` or `1.1.2`.
    pub dm_version: String,
    /// When package 1 arrived.
    pub started_at: Millis,
    /// When the last message arrived.
    pub last_activity_at: Millis,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// Messages received from the device.
    pub messages_in: i32,
    /// Messages sent to the device.
    pub messages_out: i32,
    /// Outcome so far.
    pub outcome: SessionOutcome,
    /// The engine's state (opaque to storage).
    pub state: serde_json::Value,
}

/// An entry of the audit log: every management action, by whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Database id.
    pub id: i64,
    /// When.
    pub at: Millis,
    /// Who: `api`, `cli`, `session`, ...
    pub actor: String,
    /// What, e.g. `device.create`, `command.enqueue`.
    pub action: String,
    /// The device concerned.
    pub device_id: Option<String>,
    /// Details (never secrets).
    pub detail: serde_json::Value,
}

/// What one DM message changes on its device's row; `None` leaves a column as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceChange<'a> {
    /// The nonce the device must use next (we sent it in a `Chal`).
    pub client_nonce: Option<&'a str>,
    /// The nonce we must use next (the device sent it in a `Chal`).
    pub server_nonce: Option<&'a str>,
    /// A session was opened with this DM version: sets `dm_version` and `last_session_at`.
    pub session_version: Option<&'a str>,
}

/// An operator's DDF file as imported (OMA-TS-DM_TND-V1_2 "Device Description Framework").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdfRecord {
    /// Database id (0 before insertion).
    pub id: i64,
    /// The operator's name for it, unique.
    pub name: String,
    /// Management object identifier (the DFType of the MO root, or the operator's).
    pub mo_id: Option<String>,
    /// Where the MO sits on devices, e.g. `./Vendor/Acme` or `./FwUpdate`.
    pub mount: String,
    /// Only for devices whose `./DevInfo/Man` is this (`None`: every device).
    pub man: Option<String>,
    /// Only for devices whose `./DevInfo/Mod` is this (`None`: every model).
    pub model: Option<String>,
    /// The document as uploaded (XML or WBXML); empty when listed without documents.
    pub document: Vec<u8>,
    /// When imported.
    pub created_at: Millis,
    /// When last changed.
    pub updated_at: Millis,
}

/// What identifies the state of the `ddfs` table cheaply: a node compares it with the one of
/// the DDFs it holds in memory to see whether another node changed them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DdfRevision {
    /// Number of DDFs.
    pub count: i64,
    /// Largest id (AUTOINCREMENT/BIGSERIAL ids are never reused).
    pub max_id: i64,
    /// Latest `updated_at`.
    pub max_updated_at: Millis,
}
