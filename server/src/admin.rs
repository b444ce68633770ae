//! The management operations behind both the admin API (`/api/v1`) and the operator CLI
//! (`omadm device ...`, `omadm command ...`): one place validates the operator's input, turns
//! it into storage records, writes the change and its audit entry in one transaction, and
//! shapes what is shown back.
//!
//! What is shown never contains a device's secrets or nonces, nor session tokens: the views
//! ([`DeviceView`], [`CommandView`], [`SessionView`], [`AlertView`]) are built field by field
//! from the records instead of serialising them. Audit details never hold passwords, secrets,
//! nonces or command data (a Replace may carry a DMAcc password); they hold the length of the
//! data instead.

use omadm_protocol::auth::{Nonce, md5_secret};
use omadm_protocol::tree::{MgmtTree, NodeUri};
use omadm_storage::{
    AuditEntry, ClientAuthType, CommandRecord, CommandSpec, CommandState, Device, GenericAlert,
    InventoryItem, Millis, Op, ResultItem, SessionOutcome, SessionRecord, Store, StoreError, TreeNode,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::{now_millis, random16};

/// Longest device id, in bytes.
pub const MAX_DEVICE_ID: usize = 256;
/// Longest ServerID, in bytes.
pub const MAX_SERVER_ID: usize = 256;
/// Longest user name, in bytes.
pub const MAX_USERNAME: usize = 128;
/// Longest password, in bytes.
pub const MAX_PASSWORD: usize = 256;
/// Largest nonce, in decoded bytes.
pub const MAX_NONCE: usize = 256;
/// Longest node URI (`target`, `source`), in bytes.
pub const MAX_URI: usize = 1024;
/// Largest `data` of one command, in bytes.
pub const MAX_DATA: usize = 4 * 1024 * 1024;
/// Largest sum of `data` over a command tree, in bytes.
pub const MAX_TOTAL_DATA: usize = 16 * 1024 * 1024;
/// Longest MIME type (`type`), in bytes.
pub const MAX_MIME_TYPE: usize = 256;
/// Most children of one Atomic or Sequence.
pub const MAX_CHILDREN: usize = 100;
/// Deepest command tree (a top-level command is at depth 1).
pub const MAX_DEPTH: usize = 4;
/// Most commands in one tree, containers included.
pub const MAX_NODES: usize = 500;
/// Most texts of a UI Alert.
pub const MAX_TEXTS: usize = 100;
/// Longest text of a UI Alert, in bytes.
pub const MAX_TEXT: usize = 4096;
/// List size when the caller gives none.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest list size a caller may ask for (the store's own ceiling).
pub const MAX_LIMIT: u32 = omadm_storage::MAX_LIMIT;

/// Meta Format values a command may carry (OMA DM TND; FACTS.md C.7).
pub const FORMATS: [&str; 11] =
    ["b64", "bin", "bool", "chr", "int", "node", "null", "xml", "date", "time", "float"];

/// Every op, in the order error messages list them.
const OPS: [Op; 9] =
    [Op::Get, Op::Add, Op::Replace, Op::Delete, Op::Exec, Op::Copy, Op::Atomic, Op::Sequence, Op::Alert];

/// UI alert option keys (FACTS.md C.2).
const UI_OPTION_KEYS: [&str; 6] = ["MINDT", "MAXDT", "DR", "MAXLEN", "IT", "ET"];

/// Why a management operation failed; each kind has its HTTP status ([`AdminError::http_status`]).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The operator's input is not acceptable (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// No such device (HTTP 404).
    #[error("device {0:?} not found")]
    DeviceNotFound(String),
    /// No such command for this device (HTTP 404).
    #[error("command {id} of device {device_id:?} not found")]
    CommandNotFound {
        /// The device asked about.
        device_id: String,
        /// The command id asked about.
        id: i64,
    },
    /// The tree mirror of this device has no such node (HTTP 404).
    #[error("node {uri} of device {device_id:?} is not in the tree mirror")]
    NodeNotFound {
        /// The device asked about.
        device_id: String,
        /// The node asked about.
        uri: String,
    },
    /// A device with this id exists already (HTTP 409).
    #[error("device {0:?} already exists")]
    DeviceExists(String),
    /// No operator DDF with this id (HTTP 404).
    #[error("DDF {0} not found")]
    DdfNotFound(i64),
    /// An operator DDF with this name exists already (HTTP 409).
    #[error("a DDF named {0:?} already exists")]
    DdfExists(String),
    /// Something else asked about does not exist (HTTP 404): a push, a bootstrap.
    #[error("{0} not found")]
    NotFound(String),
    /// The upload is larger than allowed (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// The database failed (HTTP 500). The storage error text never holds bound values.
    #[error("{0}")]
    Storage(#[from] StoreError),
}

impl AdminError {
    /// The HTTP status code the admin API answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            AdminError::Invalid(_) => 400,
            AdminError::DeviceNotFound(_)
            | AdminError::CommandNotFound { .. }
            | AdminError::NodeNotFound { .. }
            | AdminError::DdfNotFound(_)
            | AdminError::NotFound(_) => 404,
            AdminError::DeviceExists(_) | AdminError::DdfExists(_) => 409,
            AdminError::TooLarge(_) => 413,
            AdminError::Storage(_) => 500,
        }
    }
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

// ------------------------------------------------------------------------------------------
// Requests

/// A new device: its id and the credentials of both directions (`POST /api/v1/devices`,
/// `omadm device add`).
///
/// Not `Serialize`: it holds passwords.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDevice {
    /// DevId, e.g. `IMEI:493005100592800`.
    pub device_id: String,
    /// How the device authenticates to us.
    pub client_auth: ClientAuthRequest,
    /// How we authenticate to the device; absent when we do not.
    #[serde(default)]
    pub server_auth: Option<ServerAuthRequest>,
    /// The ServerID the device knows us by; the configured one when absent.
    #[serde(default)]
    pub server_id: Option<String>,
}

/// The device's credentials (DMAcc AppAuth CLCRED).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthRequest {
    /// `basic`, `md5` or `hmac`.
    #[serde(rename = "type")]
    pub auth_type: String,
    /// AAuthName.
    pub username: String,
    /// AAuthSecret; only its digest is stored.
    pub password: String,
    /// AAuthData: Base64 of the nonce the device uses next; 16 random bytes when absent.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// Our credentials towards the device (DMAcc AppAuth SRVCRED).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerAuthRequest {
    /// AAuthSecret; only `B64(MD5(server_id:password))` is stored.
    pub password: String,
    /// AAuthData: Base64 of the nonce the device expects from us; 16 random bytes when absent.
    #[serde(default)]
    pub nonce: Option<String>,
}

impl std::fmt::Debug for CreateDevice {
    /// Passwords and nonces never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateDevice")
            .field("device_id", &self.device_id)
            .field("client_auth_type", &self.client_auth.auth_type)
            .field("client_username", &self.client_auth.username)
            .field("server_auth", &self.server_auth.is_some())
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

/// A command to queue (`POST /api/v1/devices/{id}/commands`, `omadm command add`).
///
/// Item ops (`Get`, `Add`, `Replace`, `Delete`, `Exec`, `Copy`) use `target` and, as the op
/// allows, `data`, `format`, `type` and `source`; containers (`Atomic`, `Sequence`) use
/// `commands`; a UI `Alert` uses `alert_code` and `texts`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// The operation, e.g. `Get` (case-insensitive).
    pub op: String,
    /// Target node URI, `./...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Source node URI of a Copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Data of an Add, Replace or Exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Meta Format of the data (`chr` when data is given without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Meta Type of the data (a MIME type).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// UI alert code, 1100-1104.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_code: Option<i64>,
    /// UI alert texts: the options (`MAXDT=30&...`, may be empty), the prompt, then the choices.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
    /// Children of an Atomic or Sequence, in order.
    #[serde(default, deserialize_with = "null_as_empty", skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRequest>,
}

/// `null` read as an empty list, like an absent field.
fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

// ------------------------------------------------------------------------------------------
// Views

/// A device as shown to operators: no secrets, no nonces.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceView {
    /// DevId.
    pub device_id: String,
    /// How the device authenticates to us (type and user name only).
    pub client_auth: ClientAuthView,
    /// The ServerID the device knows us by.
    pub server_id: String,
    /// Whether we authenticate ourselves to the device.
    pub server_auth: bool,
    /// DM version of the last session.
    pub dm_version: Option<String>,
    /// Creation time, Unix epoch milliseconds.
    pub created_at: Millis,
    /// Last change, Unix epoch milliseconds.
    pub updated_at: Millis,
    /// Start of the last session, Unix epoch milliseconds.
    pub last_session_at: Option<Millis>,
}

/// The shown part of the device's credentials.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientAuthView {
    /// `basic`, `md5` or `hmac`.
    #[serde(rename = "type")]
    pub auth_type: ClientAuthType,
    /// AAuthName.
    pub username: String,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        DeviceView {
            device_id: d.device_id.clone(),
            client_auth: ClientAuthView {
                auth_type: d.client_auth_type,
                username: d.client_username.clone(),
            },
            server_id: d.server_id.clone(),
            server_auth: d.server_secret.is_some(),
            dm_version: d.dm_version.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
            last_session_at: d.last_session_at,
        }
    }
}

/// One page of devices.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevicePage {
    /// The devices, by id.
    pub devices: Vec<DeviceView>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_after: Option<String>,
}

/// A queued (or answered) command with its state, Status, Results and children.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommandView {
    /// Command id.
    pub id: i64,
    /// The device.
    pub device_id: String,
    /// The enclosing Atomic / Sequence, for a child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<i64>,
    /// `Get`, `Add`, ...
    pub op: String,
    /// Target node URI (`null` for containers and alerts).
    pub target: Option<String>,
    /// Source node URI of a Copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Data sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Meta Format of the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Meta Type of the data.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// UI alert code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_code: Option<u16>,
    /// UI alert texts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub texts: Vec<String>,
    /// `queued`, `sent`, `done` or `failed`.
    pub state: CommandState,
    /// The device's Status code, once answered.
    pub status: Option<u16>,
    /// Results of a Get.
    pub results: Vec<ResultView>,
    /// Children of an Atomic / Sequence, in order.
    pub commands: Vec<CommandView>,
    /// Why the command is held back instead of being sent (the mirrored ACLs or the DDF
    /// forbid it); absent when it is not held. `POST .../force` sends it anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// An operator forced it past the ACL and DDF checks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forced: bool,
    /// Enqueued at, Unix epoch milliseconds.
    pub created_at: Millis,
    /// Last state change, Unix epoch milliseconds.
    pub updated_at: Millis,
}

/// One Results item.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResultView {
    /// Node URI.
    pub source: String,
    /// Meta Format.
    pub format: Option<String>,
    /// Meta Type.
    #[serde(rename = "type")]
    pub mime_type: Option<String>,
    /// The value (Base64 for binary).
    pub data: String,
}

impl From<&ResultItem> for ResultView {
    fn from(r: &ResultItem) -> Self {
        ResultView {
            source: r.source.clone(),
            format: r.format.clone(),
            mime_type: r.mime_type.clone(),
            data: r.data.clone(),
        }
    }
}

impl From<&CommandRecord> for CommandView {
    fn from(c: &CommandRecord) -> Self {
        let s = &c.spec;
        CommandView {
            id: c.id,
            device_id: c.device_id.clone(),
            parent_id: c.parent_id,
            op: s.op.map_or("?", Op::as_str).to_owned(),
            target: s.target.clone(),
            source: s.source.clone(),
            data: s.data.clone(),
            format: s.format.clone(),
            mime_type: s.mime_type.clone(),
            alert_code: s.alert_code,
            texts: s.texts.clone(),
            state: c.state,
            status: c.status,
            results: c.results.iter().map(ResultView::from).collect(),
            commands: c.children.iter().map(CommandView::from).collect(),
            held: c.held_reason.clone(),
            forced: c.forced,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A DM session as shown to operators: no session token (it addresses the live session),
/// no engine state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionView {
    /// The session's public id: derived from its token, which stays secret (it continues the
    /// session); names the session in the transcript route.
    pub id: String,
    /// The SyncHdr SessionID the device chose.
    pub session_id: String,
    /// `1.2` or `1.1.2`.
    pub dm_version: String,
    /// Package 1 arrival, Unix epoch milliseconds.
    pub started_at: Millis,
    /// Last message, Unix epoch milliseconds.
    pub last_activity_at: Millis,
    /// End, Unix epoch milliseconds.
    pub ended_at: Option<Millis>,
    /// Messages received from the device.
    pub messages_in: i32,
    /// Messages sent to the device.
    pub messages_out: i32,
    /// `active`, `completed`, `aborted`, `auth_failed`, `timed_out` or `failed`.
    pub outcome: SessionOutcome,
}

impl From<&SessionRecord> for SessionView {
    fn from(s: &SessionRecord) -> Self {
        SessionView {
            id: session_public_id(&s.token),
            session_id: s.dm_session_id.clone(),
            dm_version: s.dm_version.clone(),
            started_at: s.started_at,
            last_activity_at: s.last_activity_at,
            ended_at: s.ended_at,
            messages_in: s.messages_in,
            messages_out: s.messages_out,
            outcome: s.outcome,
        }
    }
}

/// A Generic Alert (1226) as shown to operators (no session token).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AlertView {
    /// Alert id.
    pub id: i64,
    /// The sending device.
    pub device_id: String,
    /// Meta Type, e.g. `org.openmobilealliance.dm.firmwareupdate.download`.
    #[serde(rename = "type")]
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
    /// Arrival, Unix epoch milliseconds.
    pub received_at: Millis,
}

impl From<&GenericAlert> for AlertView {
    fn from(a: &GenericAlert) -> Self {
        AlertView {
            id: a.id,
            device_id: a.device_id.clone(),
            alert_type: a.alert_type.clone(),
            format: a.format.clone(),
            mark: a.mark.clone(),
            source: a.source.clone(),
            data: a.data.clone(),
            correlator: a.correlator.clone(),
            received_at: a.received_at,
        }
    }
}

// ------------------------------------------------------------------------------------------
// Operations

/// Validate and store a new device, with an audit entry `device.create`.
///
/// The client secret is `B64(MD5(username:password))` for every auth type (what MD5 and HMAC
/// need, and what basic auth is checked against); the server secret is
/// `B64(MD5(server_id:password))`. Nonces default to 16 random bytes. `server_id_default` is
/// the configured ServerID, used when the request names none.
pub async fn create_device(
    store: &Store,
    req: CreateDevice,
    server_id_default: &str,
    actor: &str,
) -> Result<DeviceView, AdminError> {
    let device = device_from_request(&req, server_id_default, now_millis(), &mut random16)?;
    let detail = json!({
        "client_auth_type": device.client_auth_type.as_str(),
        "client_username": device.client_username,
        "server_id": device.server_id,
        "server_auth": device.server_secret.is_some(),
    });
    let mut tx = store.begin().await?;
    tx.create_device(&device).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::DeviceExists(device.device_id.clone()),
        e => e.into(),
    })?;
    tx.audit(actor, "device.create", Some(&device.device_id), &detail, device.created_at).await?;
    tx.commit().await?;
    Ok(DeviceView::from(&device))
}

/// Check a device request and build the record to store (secrets digested, nonces
/// normalised or drawn from `random`).
pub fn device_from_request(
    req: &CreateDevice,
    server_id_default: &str,
    now: Millis,
    random: &mut dyn FnMut() -> [u8; 16],
) -> Result<Device, AdminError> {
    check_device_id(&req.device_id)?;
    let c = &req.client_auth;
    let auth_type = ClientAuthType::parse(&c.auth_type.to_ascii_lowercase()).ok_or_else(|| {
        invalid(format!("client_auth.type: {:?} is not one of basic, md5, hmac", truncate(&c.auth_type)))
    })?;
    check_name("client_auth.username", &c.username, MAX_USERNAME)?;
    if auth_type == ClientAuthType::Basic && c.username.contains(':') {
        return Err(invalid(
            "client_auth.username: must not contain ':' with basic auth (it separates user and password)",
        ));
    }
    check_password("client_auth.password", &c.password)?;
    let client_nonce = nonce_or_random("client_auth.nonce", c.nonce.as_deref(), random)?;
    let server_id = req.server_id.as_deref().unwrap_or(server_id_default);
    check_name("server_id", server_id, MAX_SERVER_ID)?;
    let (server_secret, server_nonce) = match &req.server_auth {
        Some(s) => {
            check_password("server_auth.password", &s.password)?;
            let nonce = nonce_or_random("server_auth.nonce", s.nonce.as_deref(), random)?;
            (Some(md5_secret(server_id, &s.password).expose().to_owned()), nonce)
        }
        None => (None, Nonce::generate(random()).to_b64()),
    };
    Ok(Device {
        device_id: req.device_id.clone(),
        client_auth_type: auth_type,
        client_username: c.username.clone(),
        client_secret: md5_secret(&c.username, &c.password).expose().to_owned(),
        client_nonce,
        server_id: server_id.to_owned(),
        server_secret,
        server_nonce,
        dm_version: None,
        created_at: now,
        updated_at: now,
        last_session_at: None,
    })
}

/// One page of devices ordered by id, those after `after`; `limit` defaults to
/// [`DEFAULT_LIMIT`].
pub async fn list_devices(
    store: &Store,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<DevicePage, AdminError> {
    let limit = check_limit(limit)?;
    let after = after.filter(|a| !a.is_empty());
    // One more than asked tells whether another page exists; the store clamps at MAX_LIMIT,
    // where a full page has to be taken to mean "maybe more".
    let mut devices: Vec<DeviceView> =
        store.list_devices(after, limit + 1).await?.iter().map(DeviceView::from).collect();
    let more = devices.len() > limit as usize || (limit == MAX_LIMIT && devices.len() == limit as usize);
    devices.truncate(limit as usize);
    let next_after = if more { devices.last().map(|d| d.device_id.clone()) } else { None };
    Ok(DevicePage { devices, next_after })
}

/// A device by id.
pub async fn get_device(store: &Store, device_id: &str) -> Result<DeviceView, AdminError> {
    Ok(DeviceView::from(&load_device(store, device_id).await?))
}

/// Delete a device with everything it owns (inventory, commands, alerts, sessions; not its
/// audit entries), with an audit entry `device.delete`.
pub async fn delete_device(store: &Store, device_id: &str, actor: &str) -> Result<(), AdminError> {
    let mut tx = store.begin().await?;
    if !tx.delete_device(device_id).await? {
        return Err(AdminError::DeviceNotFound(device_id.to_owned()));
    }
    tx.audit(actor, "device.delete", Some(device_id), &json!({}), now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

/// The most devices one request puts in a group.
pub const MAX_GROUP_ADD: usize = 100_000;

/// Put devices in a group (audited as `group.add`); returns how many were not in it yet.
pub async fn add_to_group(
    store: &Store,
    group: &str,
    device_ids: &[String],
    actor: &str,
) -> Result<u64, AdminError> {
    if device_ids.is_empty() || device_ids.len() > MAX_GROUP_ADD {
        return Err(invalid(format!("device_ids: 1 to {MAX_GROUP_ADD} devices")));
    }
    for d in device_ids {
        check_device_id(d)?;
    }
    let now = now_millis();
    let mut tx = store.begin().await?;
    let added = tx.add_to_group(group, device_ids, now).await.map_err(|e| match e {
        StoreError::NotFound(_) => invalid("device_ids: a device does not exist"),
        StoreError::Invalid(m) => invalid(m),
        e => e.into(),
    })?;
    tx.audit(
        actor,
        "group.add",
        None,
        &json!({ "group": group, "devices": device_ids.len(), "added": added }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(added)
}

/// Take a device out of a group (audited as `group.remove`).
pub async fn remove_from_group(
    store: &Store,
    group: &str,
    device_id: &str,
    actor: &str,
) -> Result<(), AdminError> {
    let mut tx = store.begin().await?;
    if !tx.remove_from_group(group, device_id).await? {
        return Err(AdminError::NotFound(format!("device {device_id:?} in group {group:?}")));
    }
    tx.audit(actor, "group.remove", Some(device_id), &json!({ "group": group }), now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

/// A device's inventory (the leaves it reported), by URI.
pub async fn inventory(store: &Store, device_id: &str) -> Result<Vec<InventoryItem>, AdminError> {
    load_device(store, device_id).await?;
    Ok(store.list_inventory(device_id).await?)
}

/// A device's sessions, newest first.
pub async fn sessions(
    store: &Store,
    device_id: &str,
    limit: Option<u32>,
) -> Result<Vec<SessionView>, AdminError> {
    let limit = check_limit(limit)?;
    load_device(store, device_id).await?;
    Ok(store.list_sessions(device_id, limit).await?.iter().map(SessionView::from).collect())
}

/// The public id of a session: the first 16 hex digits of SHA-256 of its token (the token
/// continues the session and is never shown).
pub fn session_public_id(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A session's transcript (redacted XML of every message), by device and public session id.
pub async fn transcript(
    store: &Store,
    device_id: &str,
    session: &str,
) -> Result<Vec<omadm_storage::TranscriptMessage>, AdminError> {
    load_device(store, device_id).await?;
    let found = store
        .list_sessions(device_id, crate::admin::MAX_LIMIT_SESSIONS)
        .await?
        .into_iter()
        .find(|s| session_public_id(&s.token) == session)
        .ok_or_else(|| AdminError::NotFound(format!("session {session:?} of device {device_id:?}")))?;
    Ok(store.session_transcript(&found.token).await?)
}

/// How far back [`transcript`] looks among a device's sessions.
pub const MAX_LIMIT_SESSIONS: u32 = 1000;

/// Validate a command (tree) and queue it for the device's next session, with an audit
/// entry `command.enqueue`. Returns the id of the top command.
pub async fn enqueue_command(
    store: &Store,
    device_id: &str,
    req: CommandRequest,
    actor: &str,
) -> Result<i64, AdminError> {
    let spec = command_spec(&req)?;
    let now = now_millis();
    let mut tx = store.begin().await?;
    let id = tx.enqueue_command(device_id, &spec, now).await.map_err(|e| match e {
        StoreError::NotFound(_) => AdminError::DeviceNotFound(device_id.to_owned()),
        StoreError::Invalid(m) => AdminError::Invalid(m),
        e => e.into(),
    })?;
    let (nodes, data) = tree_size(&spec);
    let detail = json!({
        "id": id,
        "op": spec.op.map(Op::as_str),
        "target": spec.target,
        "commands": nodes,
        "data_bytes": data,
    });
    tx.audit(actor, "command.enqueue", Some(device_id), &detail, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// A command of a device (top-level or child) with its children and results.
pub async fn get_command(store: &Store, device_id: &str, id: i64) -> Result<CommandView, AdminError> {
    match store.get_command(device_id, id).await? {
        Some(c) => Ok(CommandView::from(&c)),
        None => {
            load_device(store, device_id).await?;
            Err(AdminError::CommandNotFound { device_id: device_id.to_owned(), id })
        }
    }
}

/// A device's top-level commands, newest first, optionally only those in `state`
/// (`queued`, `sent`, `done`, `failed`).
pub async fn list_commands(
    store: &Store,
    device_id: &str,
    state: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<CommandView>, AdminError> {
    let limit = check_limit(limit)?;
    let state = match state.filter(|s| !s.is_empty()) {
        Some(s) => Some(CommandState::parse(s).ok_or_else(|| {
            invalid(format!("state: {:?} is not one of queued, sent, done, failed", truncate(s)))
        })?),
        None => None,
    };
    load_device(store, device_id).await?;
    Ok(store.list_commands(device_id, state, limit).await?.iter().map(CommandView::from).collect())
}

/// Force a held (or any queued) top-level command: it goes out in the device's next session
/// without the mirrored-ACL and DDF checks. Audited as `command.force` with the reason it was
/// held.
pub async fn force_command(
    store: &Store,
    device_id: &str,
    id: i64,
    actor: &str,
) -> Result<CommandView, AdminError> {
    let now = now_millis();
    let mut tx = store.begin().await?;
    let Some(cmd) = tx.get_command(device_id, id).await? else {
        drop(tx);
        load_device(store, device_id).await?;
        return Err(AdminError::CommandNotFound { device_id: device_id.to_owned(), id });
    };
    if cmd.parent_id.is_some() {
        return Err(invalid(format!(
            "command {id} is inside command {}: force that one",
            cmd.parent_id.unwrap_or(0)
        )));
    }
    if cmd.state != CommandState::Queued {
        return Err(invalid(format!("command {id} is {}, not queued", cmd.state.as_str())));
    }
    tx.force_command(device_id, id, now).await?;
    let detail = json!({ "id": id, "held": cmd.held_reason });
    tx.audit(actor, "command.force", Some(device_id), &detail, now).await?;
    tx.commit().await?;
    get_command(store, device_id, id).await
}

/// One node of a device's tree mirror with its properties and the ACL in force on it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeNodeView {
    /// The node as mirrored (`null` fields: not known).
    #[serde(flatten)]
    pub node: TreeNode,
    /// The ACL in force: the node's own if not empty, else the nearest ancestor's that the
    /// mirror knows; `null` when unknown.
    pub effective_acl: Option<String>,
    /// The node whose ACL is in force.
    pub acl_source: Option<String>,
}

/// A device's mirrored tree, by URI.
pub async fn tree(store: &Store, device_id: &str) -> Result<Vec<TreeNode>, AdminError> {
    load_device(store, device_id).await?;
    Ok(store.list_tree(device_id).await?)
}

/// A device's mirrored tree as a TNDS document (`application/vnd.syncml.dmtnds+xml`).
pub async fn tree_tnds(store: &Store, device_id: &str) -> Result<Vec<u8>, AdminError> {
    use omadm_protocol::tree::tnds::{FlatNode, NodeType, RtProperties};
    let nodes = tree(store, device_id).await?;
    let flat: Vec<FlatNode> = nodes
        .iter()
        .filter_map(|n| {
            let uri = NodeUri::parse(&n.uri).ok()?;
            let interior = n.format.as_deref() == Some("node");
            let type_ =
                n.mime_type.clone().map(|t| if interior { NodeType::DdfName(t) } else { NodeType::Mime(t) });
            Some(FlatNode {
                uri,
                properties: RtProperties {
                    acl: n.acl.clone(),
                    format: n.format.as_deref().map(omadm_protocol::Format::parse),
                    name: None,
                    size: n.size.and_then(|s| u64::try_from(s).ok()),
                    title: n.title.clone(),
                    tstamp: n.tstamp.clone(),
                    type_,
                    ver_no: n.ver_no.and_then(|v| u16::try_from(v).ok()),
                },
                value: if interior { None } else { n.value.clone() },
            })
        })
        .collect();
    let tree =
        MgmtTree::unflatten(&flat, None).map_err(|e| invalid(format!("the mirror is not a tree: {e}")))?;
    Ok(tree.to_xml_pretty())
}

/// One mirrored node with the ACL in force on it. `uri` is normalised (`./A/B`).
pub async fn tree_node(store: &Store, device_id: &str, uri: &str) -> Result<TreeNodeView, AdminError> {
    let parsed = NodeUri::parse(uri).map_err(|e| invalid(format!("uri: {e}")))?;
    load_device(store, device_id).await?;
    let Some(node) = store.get_tree_node(device_id, parsed.as_str()).await? else {
        return Err(AdminError::NodeNotFound { device_id: device_id.to_owned(), uri: parsed.to_string() });
    };
    let mut effective_acl = None;
    let mut acl_source = None;
    for a in parsed.ancestors() {
        let n =
            if a == parsed { Some(node.clone()) } else { store.get_tree_node(device_id, a.as_str()).await? };
        let Some(acl) = n.and_then(|n| n.acl) else { break };
        if !acl.is_empty() {
            effective_acl = Some(acl);
            acl_source = Some(a.to_string());
            break;
        }
    }
    Ok(TreeNodeView { node, effective_acl, acl_source })
}

/// Generic Alerts received, newest first, of one device (which must exist) or of all.
pub async fn generic_alerts(
    store: &Store,
    device_id: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<AlertView>, AdminError> {
    let limit = check_limit(limit)?;
    let device_id = device_id.filter(|d| !d.is_empty());
    if let Some(d) = device_id {
        load_device(store, d).await?;
    }
    Ok(store.list_generic_alerts(device_id, limit).await?.iter().map(AlertView::from).collect())
}

/// Audit entries, newest first, of one device (deleted ones included) or of all.
pub async fn audit_log(
    store: &Store,
    device_id: Option<&str>,
    limit: Option<u32>,
) -> Result<Vec<AuditEntry>, AdminError> {
    let limit = check_limit(limit)?;
    Ok(store.list_audit(device_id.filter(|d| !d.is_empty()), limit).await?)
}

async fn load_device(store: &Store, device_id: &str) -> Result<Device, AdminError> {
    store.get_device(device_id).await?.ok_or_else(|| AdminError::DeviceNotFound(device_id.to_owned()))
}

// ------------------------------------------------------------------------------------------
// Validation

/// A list size: 1..=[`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn check_limit(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(invalid(format!("limit: {n} is not within 1..={MAX_LIMIT}"))),
    }
}

/// A device id: 1..=256 bytes, no whitespace or control characters.
pub fn check_device_id(id: &str) -> Result<(), AdminError> {
    check_name("device_id", id, MAX_DEVICE_ID)
}

/// A non-empty printable name of at most `max` bytes, without whitespace.
fn check_name(field: &str, value: &str, max: usize) -> Result<(), AdminError> {
    if value.is_empty() {
        return Err(invalid(format!("{field}: must not be empty")));
    }
    if value.len() > max {
        return Err(invalid(format!("{field}: longer than {max} bytes")));
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(format!("{field}: must not contain whitespace or control characters")));
    }
    Ok(())
}

fn check_password(field: &str, value: &str) -> Result<(), AdminError> {
    if value.is_empty() || value.len() > MAX_PASSWORD {
        return Err(invalid(format!("{field}: must be 1..={MAX_PASSWORD} bytes")));
    }
    Ok(())
}

/// The normalised Base64 of a given nonce, or of 16 fresh random bytes.
fn nonce_or_random(
    field: &str,
    given: Option<&str>,
    random: &mut dyn FnMut() -> [u8; 16],
) -> Result<String, AdminError> {
    match given {
        None => Ok(Nonce::generate(random()).to_b64()),
        Some(text) => {
            let nonce = Nonce::from_b64(text).map_err(|_| invalid(format!("{field}: not valid Base64")))?;
            if nonce.len() > MAX_NONCE {
                return Err(invalid(format!("{field}: longer than {MAX_NONCE} bytes once decoded")));
            }
            Ok(nonce.to_b64())
        }
    }
}

/// At most 40 characters of an offending value, for error messages.
fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Running totals over a command tree.
struct Budget {
    nodes: usize,
    data: usize,
}

/// Where a command sits, for the nesting rules.
#[derive(Clone, Copy)]
struct Place {
    /// 1 for a top-level command.
    depth: usize,
    /// Whether an Atomic encloses it (at any level).
    in_atomic: bool,
}

/// Validate a command request and turn it into the stored spec.
///
/// Rules: a known op; item ops need a `./` target (≤ 1024 bytes, no control characters, no
/// empty, `.` or `..` segments); Copy needs a `source` too; only Add, Replace and Exec carry
/// data (≤ 4 MiB), format (one of [`FORMATS`], `chr` by default when there is data) and type;
/// containers hold 1..=100 commands, nest at most 4 deep and count at most 500 commands; a
/// Get or an Atomic anywhere inside an Atomic is refused, since devices answer it with 500
/// (FACTS.md C.3); an Alert has a UI code 1100-1104 and its texts (options, prompt, choices).
pub fn command_spec(req: &CommandRequest) -> Result<CommandSpec, AdminError> {
    let mut budget = Budget { nodes: 0, data: 0 };
    build_spec(req, "", Place { depth: 1, in_atomic: false }, &mut budget)
}

fn build_spec(
    req: &CommandRequest,
    at: &str,
    place: Place,
    budget: &mut Budget,
) -> Result<CommandSpec, AdminError> {
    let bad = |msg: String| invalid(format!("{at}{msg}"));
    budget.nodes += 1;
    if budget.nodes > MAX_NODES {
        return Err(invalid(format!("too many commands: at most {MAX_NODES} in one tree")));
    }
    let op = OPS.into_iter().find(|o| o.as_str().eq_ignore_ascii_case(req.op.trim())).ok_or_else(|| {
        let names: Vec<&str> = OPS.iter().map(|o| o.as_str()).collect();
        bad(format!("op: {:?} is not one of {}", truncate(&req.op), names.join(", ")))
    })?;
    if place.in_atomic && op == Op::Get {
        return Err(bad(
            "op: Get is not allowed inside an Atomic (devices answer it with 500); use a Sequence".into(),
        ));
    }
    if place.in_atomic && op == Op::Atomic {
        return Err(bad(
            "op: an Atomic cannot be nested inside an Atomic (devices answer it with 500)".into()
        ));
    }
    let mut spec = CommandSpec { op: Some(op), ..CommandSpec::default() };
    let item_op = matches!(op, Op::Get | Op::Add | Op::Replace | Op::Delete | Op::Exec | Op::Copy);
    let carries_data = matches!(op, Op::Add | Op::Replace | Op::Exec);

    // Fields an op does not use are refused rather than silently dropped.
    let unused = |field: &str, present: bool| -> Result<(), AdminError> {
        if present { Err(bad(format!("{field}: not used by {}", op.as_str()))) } else { Ok(()) }
    };
    unused("target", !item_op && req.target.is_some())?;
    unused("source", op != Op::Copy && req.source.is_some())?;
    unused("data", !carries_data && req.data.is_some())?;
    unused("format", !carries_data && req.format.is_some())?;
    unused("type", !carries_data && req.mime_type.is_some())?;
    unused("alert_code", op != Op::Alert && req.alert_code.is_some())?;
    unused("texts", op != Op::Alert && !req.texts.is_empty())?;
    unused("commands", !op.is_container() && !req.commands.is_empty())?;

    if item_op {
        let target =
            req.target.as_deref().ok_or_else(|| bad(format!("target: required for {}", op.as_str())))?;
        check_uri("target", target).map_err(bad)?;
        spec.target = Some(target.to_owned());
    }
    if op == Op::Copy {
        let source = req.source.as_deref().ok_or_else(|| bad("source: required for Copy".into()))?;
        check_uri("source", source).map_err(bad)?;
        spec.source = Some(source.to_owned());
    }
    if carries_data {
        if let Some(data) = &req.data {
            if data.len() > MAX_DATA {
                return Err(bad(format!("data: larger than {MAX_DATA} bytes")));
            }
            budget.data += data.len();
            if budget.data > MAX_TOTAL_DATA {
                return Err(invalid(format!("data: more than {MAX_TOTAL_DATA} bytes in one command tree")));
            }
        }
        let format = match &req.format {
            Some(f) => {
                let f = f.trim().to_ascii_lowercase();
                if !FORMATS.contains(&f.as_str()) {
                    return Err(bad(format!(
                        "format: {:?} is not one of {}",
                        truncate(&f),
                        FORMATS.join(", ")
                    )));
                }
                Some(f)
            }
            None => req.data.as_ref().map(|_| "chr".to_owned()),
        };
        if let (Some(f), Some(d)) = (&format, &req.data) {
            check_data_format(f, d).map_err(bad)?;
        }
        if let Some(t) = &req.mime_type
            && (t.is_empty()
                || t.len() > MAX_MIME_TYPE
                || t.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(bad(format!(
                "type: must be a MIME type of 1..={MAX_MIME_TYPE} bytes without spaces"
            )));
        }
        spec.data = req.data.clone();
        spec.format = format;
        spec.mime_type = req.mime_type.clone();
    }
    if op == Op::Alert {
        let (code, texts) = check_ui_alert(req).map_err(bad)?;
        spec.alert_code = Some(code);
        spec.texts = texts;
    }
    if op.is_container() {
        if req.commands.is_empty() || req.commands.len() > MAX_CHILDREN {
            return Err(bad(format!("commands: {} needs 1..={MAX_CHILDREN} commands", op.as_str())));
        }
        if place.depth >= MAX_DEPTH {
            return Err(bad(format!("commands: nested deeper than {MAX_DEPTH} levels")));
        }
        let inner = Place { depth: place.depth + 1, in_atomic: place.in_atomic || op == Op::Atomic };
        for (i, child) in req.commands.iter().enumerate() {
            spec.children.push(build_spec(child, &format!("{at}commands[{i}]."), inner, budget)?);
        }
    }
    Ok(spec)
}

/// A node URI we send: `./` then non-empty segments (no `.` or `..`), an optional `?query`
/// (`?prop=ACL`, `?list=Struct`), at most [`MAX_URI`] bytes, no control characters.
fn check_uri(field: &str, uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI {
        return Err(format!("{field}: longer than {MAX_URI} bytes"));
    }
    if uri.chars().any(char::is_control) {
        return Err(format!("{field}: must not contain control characters"));
    }
    let Some(rest) = uri.strip_prefix("./") else {
        return Err(format!("{field}: must start with \"./\" (a node URI relative to the device root)"));
    };
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(format!("{field}: has an empty, \".\" or \"..\" segment"));
    }
    Ok(())
}

/// Data that cannot be what its format says.
fn check_data_format(format: &str, data: &str) -> Result<(), String> {
    match format {
        "node" => Err("data: a node (interior) has no data".into()),
        "int" if data.trim().parse::<i32>().is_err() => Err("data: not a 32-bit integer (format int)".into()),
        "bool" if !matches!(data.trim(), "true" | "false") => {
            Err("data: must be true or false (format bool)".into())
        }
        "b64" if Nonce::from_b64(data).is_err() => Err("data: not valid Base64 (format b64)".into()),
        _ => Ok(()),
    }
}

/// A UI alert (FACTS.md C.2): code 1100-1104; texts = options, prompt, then choices
/// (exactly those two for 1100-1102, at least one choice for 1103/1104).
fn check_ui_alert(req: &CommandRequest) -> Result<(u16, Vec<String>), String> {
    let code = req.alert_code.ok_or("alert_code: required for Alert (1100-1104)")?;
    if !(1100..=1104).contains(&code) {
        return Err(format!(
            "alert_code: {code} is not a user-interaction alert (1100 display, 1101 confirm, 1102 text input, 1103 single choice, 1104 multiple choice)"
        ));
    }
    let texts = &req.texts;
    let (min, max) = if code <= 1102 { (2, 2) } else { (3, MAX_TEXTS) };
    if texts.len() < min || texts.len() > max {
        return Err(if code <= 1102 {
            format!(
                "texts: alert {code} takes 2 texts: the options (e.g. \"MAXDT=30\", may be empty) and the prompt"
            )
        } else {
            format!("texts: alert {code} takes the options, the prompt and 1..={} choices", MAX_TEXTS - 2)
        });
    }
    if let Some(t) = texts.iter().find(|t| t.len() > MAX_TEXT) {
        return Err(format!("texts: a text is longer than {MAX_TEXT} bytes ({} bytes)", t.len()));
    }
    if texts.iter().any(|t| t.chars().any(|c| c.is_control() && c != '\n' && c != '\t')) {
        return Err("texts: must not contain control characters".into());
    }
    if !texts[0].is_empty() {
        for opt in texts[0].split('&') {
            let key = opt.split_once('=').map(|(k, _)| k);
            if !key.is_some_and(|k| UI_OPTION_KEYS.contains(&k)) {
                return Err(format!(
                    "texts[0]: the options must be KEY=value pairs joined by '&' with KEY one of {} (got {:?})",
                    UI_OPTION_KEYS.join(", "),
                    truncate(opt)
                ));
            }
        }
    }
    Ok((code as u16, texts.clone()))
}

/// Commands and data bytes in a spec tree.
fn tree_size(spec: &CommandSpec) -> (usize, usize) {
    spec.children
        .iter()
        .map(tree_size)
        .fold((1, spec.data.as_ref().map_or(0, String::len)), |(n, d), (cn, cd)| (n + cn, d + cd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(op: &str, target: Option<&str>) -> CommandRequest {
        CommandRequest { op: op.into(), target: target.map(Into::into), ..Default::default() }
    }

    fn container(op: &str, commands: Vec<CommandRequest>) -> CommandRequest {
        CommandRequest { op: op.into(), commands, ..Default::default() }
    }

    fn err(req: &CommandRequest) -> String {
        match command_spec(req) {
            Err(AdminError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn device_req(auth: &str) -> CreateDevice {
        CreateDevice {
            device_id: "IMEI:493005100592800".into(),
            client_auth: ClientAuthRequest {
                auth_type: auth.into(),
                username: "devuser".into(),
                password: "devpw".into(),
                nonce: None,
            },
            server_auth: None,
            server_id: None,
        }
    }

    fn counter() -> impl FnMut() -> [u8; 16] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; 16]
        }
    }

    #[test]
    fn device_secrets_are_digests_and_nonces_default_to_random() {
        let mut req = device_req("md5");
        req.server_auth =
            Some(ServerAuthRequest { password: "srvpw".into(), nonce: Some("c2VydmVy".into()) });
        let d = device_from_request(&req, "omadm", 5, &mut counter()).unwrap();
        assert_eq!(d.client_secret, "yqog/L4Ke+oHISWbd9XwQg==");
        assert_eq!(d.client_auth_type, ClientAuthType::Md5);
        assert_eq!(d.client_nonce, Nonce::new([1u8; 16]).to_b64());
        assert_eq!(d.server_id, "omadm");
        assert_eq!(d.server_secret.as_deref(), Some(md5_secret("omadm", "srvpw").expose()));
        assert_eq!(d.server_nonce, "c2VydmVy");
        assert_eq!((d.created_at, d.updated_at), (5, 5));

        req.server_id = Some("other".into());
        req.client_auth.nonce = Some(" Y2xp ZW50 ".into());
        let d = device_from_request(&req, "omadm", 5, &mut counter()).unwrap();
        assert_eq!(d.server_id, "other");
        assert_eq!(d.server_secret.as_deref(), Some(md5_secret("other", "srvpw").expose()));
        assert_eq!(d.client_nonce, "Y2xpZW50");
    }

    #[test]
    fn device_validation() {
        let check = |f: &dyn Fn(&mut CreateDevice), needle: &str| {
            let mut r = device_req("basic");
            f(&mut r);
            match device_from_request(&r, "omadm", 0, &mut counter()) {
                Err(AdminError::Invalid(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
                other => panic!("expected Invalid for {needle}, got {other:?}"),
            }
        };
        check(&|r| r.device_id.clear(), "device_id");
        check(&|r| r.device_id = "x".repeat(257), "device_id");
        check(&|r| r.device_id = "IMEI:1\n".into(), "device_id");
        check(&|r| r.device_id = "IMEI 1".into(), "device_id");
        check(&|r| r.client_auth.auth_type = "digest".into(), "client_auth.type");
        check(&|r| r.client_auth.username.clear(), "client_auth.username");
        check(&|r| r.client_auth.username = "u".repeat(129), "client_auth.username");
        check(&|r| r.client_auth.username = "a:b".into(), "client_auth.username");
        check(&|r| r.client_auth.password.clear(), "client_auth.password");
        check(&|r| r.client_auth.password = "p".repeat(257), "client_auth.password");
        check(&|r| r.client_auth.nonce = Some("!!notb64".into()), "client_auth.nonce");
        check(&|r| r.server_id = Some(String::new()), "server_id");
        check(
            &|r| r.server_auth = Some(ServerAuthRequest { password: String::new(), nonce: None }),
            "server_auth.password",
        );
        check(
            &|r| r.server_auth = Some(ServerAuthRequest { password: "p".into(), nonce: Some("*".into()) }),
            "server_auth.nonce",
        );
        // Boundaries accepted; a colon in an MD5 user name is harmless.
        let mut r = device_req("HMAC");
        r.device_id = "d".repeat(256);
        r.client_auth.username = "a:b".into();
        r.client_auth.password = "p".repeat(256);
        assert_eq!(
            device_from_request(&r, "omadm", 0, &mut counter()).unwrap().client_auth_type,
            ClientAuthType::Hmac
        );
    }

    #[test]
    fn item_commands() {
        let parsed: CommandRequest =
            serde_json::from_str(r#"{"op":"Get","target":"./A","data":null,"texts":null,"commands":null}"#)
                .unwrap();
        assert_eq!(parsed, cmd("Get", Some("./A")));
        let spec = command_spec(&cmd("get", Some("./DevDetail/SwV"))).unwrap();
        assert_eq!(spec.op, Some(Op::Get));
        assert_eq!(spec.target.as_deref(), Some("./DevDetail/SwV"));
        assert_eq!(spec.format, None);

        let replace = CommandRequest { data: Some("42".into()), ..cmd("Replace", Some("./Vendor/X")) };
        let spec = command_spec(&replace).unwrap();
        assert_eq!((spec.data.as_deref(), spec.format.as_deref()), (Some("42"), Some("chr")));

        let add_node = CommandRequest { format: Some("node".into()), ..cmd("Add", Some("./Vendor/New")) };
        assert_eq!(command_spec(&add_node).unwrap().format.as_deref(), Some("node"));
        assert!(command_spec(&cmd("Get", Some("./DMAcc?list=Struct"))).is_ok());

        let copy = CommandRequest { source: Some("./A/B".into()), ..cmd("Copy", Some("./A/C")) };
        assert_eq!(command_spec(&copy).unwrap().source.as_deref(), Some("./A/B"));

        assert!(err(&cmd("Fetch", Some("./A"))).starts_with("op:"));
        assert!(err(&cmd("Get", None)).starts_with("target: required"));
        assert!(err(&cmd("Get", Some("/DevInfo"))).contains("must start with"));
        assert!(err(&cmd("Get", Some("DevInfo/Man"))).contains("must start with"));
        assert!(err(&cmd("Get", Some("./A//B"))).contains("segment"));
        assert!(err(&cmd("Get", Some("./A/../B"))).contains("segment"));
        assert!(err(&cmd("Get", Some("./A/"))).contains("segment"));
        assert!(err(&cmd("Get", Some("./A\u{7}"))).contains("control"));
        assert!(err(&cmd("Get", Some(&format!("./{}", "a".repeat(1023))))).contains("longer"));
        assert!(command_spec(&cmd("Get", Some(&format!("./{}", "a".repeat(1022))))).is_ok());
        assert!(err(&cmd("Copy", Some("./A"))).starts_with("source: required"));
        assert!(
            err(&CommandRequest { data: Some("x".into()), ..cmd("Get", Some("./A")) })
                .starts_with("data: not used")
        );
        assert!(
            err(&CommandRequest { source: Some("./B".into()), ..cmd("Add", Some("./A")) })
                .starts_with("source")
        );
        assert!(
            err(&CommandRequest { format: Some("text".into()), ..cmd("Add", Some("./A")) })
                .starts_with("format")
        );
        let big = CommandRequest { data: Some("x".repeat(MAX_DATA + 1)), ..cmd("Replace", Some("./A")) };
        assert!(err(&big).contains("larger"));
        let int = CommandRequest {
            data: Some("x".into()),
            format: Some("int".into()),
            ..cmd("Replace", Some("./A"))
        };
        assert!(err(&int).contains("integer"));
        let node =
            CommandRequest { data: Some("x".into()), format: Some("node".into()), ..cmd("Add", Some("./A")) };
        assert!(err(&node).contains("no data"));
        let typ = CommandRequest { mime_type: Some("text plain".into()), ..cmd("Add", Some("./A")) };
        assert!(err(&typ).starts_with("type"));
    }

    #[test]
    fn containers() {
        let atomic = container(
            "Atomic",
            vec![
                CommandRequest { data: Some("1".into()), ..cmd("Replace", Some("./A")) },
                container("Sequence", vec![cmd("Delete", Some("./B"))]),
            ],
        );
        let spec = command_spec(&atomic).unwrap();
        assert_eq!(spec.children.len(), 2);
        assert_eq!(spec.children[1].children[0].op, Some(Op::Delete));
        assert_eq!(tree_size(&spec), (4, 1));

        let e = err(&container("Atomic", vec![cmd("Get", Some("./A"))]));
        assert!(e.starts_with("commands[0].op: Get is not allowed inside an Atomic"), "{e}");
        let e = err(&container("Atomic", vec![container("Sequence", vec![cmd("Get", Some("./A"))])]));
        assert!(e.starts_with("commands[0].commands[0].op: Get"), "{e}");
        let e = err(&container("Atomic", vec![container("Atomic", vec![cmd("Delete", Some("./A"))])]));
        assert!(e.contains("cannot be nested"), "{e}");
        assert!(command_spec(&container("Sequence", vec![cmd("Get", Some("./A"))])).is_ok());
        assert!(err(&container("Sequence", vec![])).starts_with("commands:"));
        assert!(err(&container("Sequence", vec![cmd("Get", Some("./A")); 101])).starts_with("commands:"));
        assert!(command_spec(&container("Sequence", vec![cmd("Get", Some("./A")); 100])).is_ok());
        assert!(
            err(&CommandRequest {
                target: Some("./A".into()),
                ..container("Atomic", vec![cmd("Delete", Some("./A"))])
            })
            .starts_with("target: not used")
        );
        assert!(
            err(&CommandRequest { commands: vec![cmd("Get", Some("./A"))], ..cmd("Get", Some("./A")) })
                .starts_with("commands: not used")
        );

        // Depth: 4 levels pass, 5 fail.
        let leaf = cmd("Delete", Some("./A"));
        let depth4 =
            container("Sequence", vec![container("Sequence", vec![container("Atomic", vec![leaf.clone()])])]);
        assert!(command_spec(&depth4).is_ok());
        assert!(err(&container("Sequence", vec![depth4])).contains("deeper"));

        // Total size: 5 x 100 leaves + 6 containers > 500; 5 x 98 + 6 = 496 pass.
        let wide = container("Sequence", vec![container("Sequence", vec![leaf.clone(); 100]); 5]);
        assert!(err(&wide).contains("too many"));
        let ok = container("Sequence", vec![container("Sequence", vec![leaf; 98]); 5]);
        assert!(command_spec(&ok).is_ok());
    }

    #[test]
    fn ui_alerts() {
        let alert = |code: i64, texts: &[&str]| CommandRequest {
            op: "Alert".into(),
            alert_code: Some(code),
            texts: texts.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        };
        let spec = command_spec(&alert(1101, &["MAXDT=30", "Install?"])).unwrap();
        assert_eq!((spec.op, spec.alert_code, spec.texts.len()), (Some(Op::Alert), Some(1101), 2));
        assert!(command_spec(&alert(1100, &["", "Hello"])).is_ok());
        assert!(command_spec(&alert(1103, &["DR=1&MAXDT=10", "Pick", "a", "b"])).is_ok());
        assert!(err(&alert(1200, &["", "x"])).starts_with("alert_code"));
        assert!(
            err(&CommandRequest { alert_code: None, ..alert(1100, &["", "x"]) }).starts_with("alert_code")
        );
        assert!(err(&alert(1101, &["Install?"])).starts_with("texts"));
        assert!(err(&alert(1103, &["", "Pick"])).starts_with("texts"));
        assert!(err(&alert(1101, &["Install?", "MAXDT=30"])).starts_with("texts[0]"));
        assert!(
            err(&CommandRequest { target: Some("./A".into()), ..alert(1100, &["", "x"]) })
                .starts_with("target")
        );
        assert!(
            err(&CommandRequest { alert_code: Some(1100), ..cmd("Get", Some("./A")) })
                .starts_with("alert_code")
        );
        // Alerts may stand in containers (confirm, then install).
        let seq =
            container("Sequence", vec![alert(1101, &["", "Install?"]), cmd("Exec", Some("./FUMO/Update"))]);
        assert!(command_spec(&seq).is_ok());
    }

    #[test]
    fn limits_and_errors() {
        assert_eq!(check_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(check_limit(Some(MAX_LIMIT)).unwrap(), MAX_LIMIT);
        assert!(check_limit(Some(0)).is_err());
        assert!(check_limit(Some(MAX_LIMIT + 1)).is_err());
        assert_eq!(invalid("x").http_status(), 400);
        assert_eq!(AdminError::DeviceNotFound("d".into()).http_status(), 404);
        assert_eq!(AdminError::CommandNotFound { device_id: "d".into(), id: 1 }.http_status(), 404);
        assert_eq!(AdminError::DeviceExists("d".into()).http_status(), 409);
        assert_eq!(AdminError::Storage(StoreError::Corrupt("x".into())).http_status(), 500);
    }

    #[test]
    fn create_device_debug_hides_passwords() {
        let mut r = device_req("md5");
        r.server_auth = Some(ServerAuthRequest { password: "srvpw".into(), nonce: Some("bm9uY2U=".into()) });
        let printed = format!("{r:?}");
        assert!(!printed.contains("devpw") && !printed.contains("srvpw") && !printed.contains("bm9uY2U"));
    }
}
