//! What a DM session remembers between messages. Stored as JSON in the session record, so the
//! next message may be handled by any server node sharing the database.

use omadm_protocol::DmVersion;
use omadm_storage::Op;
use serde::{Deserialize, Serialize};

use super::mirror::MirrorOp;

/// Where the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Package 1 arrived but the client has not authenticated yet.
    AwaitingAuth,
    /// Authenticated; commands flow (packages 2/3/4...).
    Managing,
    /// Over: no further message is accepted.
    Ended,
}

/// A command we sent and whose Status we await, by the (MsgID, CmdID) it was sent under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Our MsgID.
    pub msg_id: u32,
    /// Its CmdID in that message.
    pub cmd_id: u32,
    /// The stored command.
    pub command_id: i64,
    /// Its operation.
    pub op: Op,
    /// Whether this was a non-final chunk of a large object (its Status is 213).
    pub chunk: bool,
    /// A final Status has arrived.
    pub answered: bool,
    /// What the command changes in the tree mirror once accepted (or, for a Get, its target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<MirrorOp>,
    /// The CmdID of the outermost Atomic it is part of (same message): its changes count only
    /// if that Atomic succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<u32>,
    /// The Status code received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// A large object we are sending in chunks (OMA-TS-DM_Protocol-V1_2 §6.2; FACTS.md C.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingObject {
    /// The stored command (Add or Replace).
    pub command_id: i64,
    /// Add or Replace.
    pub op: Op,
    /// Target node.
    pub target: String,
    /// Meta Format.
    pub format: Option<String>,
    /// Meta Type.
    pub mime_type: Option<String>,
    /// The whole value.
    pub data: String,
    /// Bytes of the data already sent.
    pub offset: usize,
}

/// A large object the device is sending us in chunks (Results of a Get).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncomingObject {
    /// The Get the Results answer.
    pub command_id: i64,
    /// Item Source LocURI.
    pub source: String,
    /// Meta Format / Type of the first chunk.
    pub format: Option<String>,
    /// Meta Type.
    pub mime_type: Option<String>,
    /// Meta Size announced on the first chunk.
    pub size: Option<u64>,
    /// Data so far.
    pub data: String,
}

/// The engine's state for one session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// DM version spoken, fixed by package 1.
    #[serde(with = "version_text")]
    pub version: DmVersion,
    /// The SyncHdr SessionID the device chose.
    pub session_id: String,
    /// DevId.
    pub device_id: String,
    /// Where the session is.
    pub phase: Phase,
    /// Failed authentication attempts so far.
    pub auth_failures: u8,
    /// Whether the client authenticates with the HMAC header (every message carries one).
    pub hmac: bool,
    /// The device accepted our credentials for the session (212).
    pub server_authenticated: bool,
    /// Times the device refused our credentials.
    pub server_auth_failures: u8,
    /// Last MsgID received from the device.
    pub last_in_msg_id: u32,
    /// Last MsgID we sent.
    pub last_out_msg_id: u32,
    /// Our last response, encoded, to answer a retransmitted message identically.
    pub last_response: Option<String>,
    /// The device's MaxMsgSize.
    pub max_msg_size: Option<u64>,
    /// The device's MaxObjSize.
    pub max_obj_size: Option<u64>,
    /// Commands awaiting a Status.
    pub sent: Vec<Sent>,
    /// Our package is not finished: the device is expected to ask for more (Alert 1222).
    pub package_open: bool,
    /// A large object we are sending.
    pub outgoing: Option<OutgoingObject>,
    /// A large object we are receiving.
    pub incoming: Option<IncomingObject>,
}

impl SessionState {
    /// A fresh state for package 1.
    pub fn new(version: DmVersion, session_id: String, device_id: String) -> SessionState {
        SessionState {
            version,
            session_id,
            device_id,
            phase: Phase::AwaitingAuth,
            auth_failures: 0,
            hmac: false,
            server_authenticated: false,
            server_auth_failures: 0,
            last_in_msg_id: 0,
            last_out_msg_id: 0,
            last_response: None,
            max_msg_size: None,
            max_obj_size: None,
            sent: Vec::new(),
            package_open: false,
            outgoing: None,
            incoming: None,
        }
    }
}

/// `DmVersion` as its stored text, `1.2` or `1.1.2`.
pub mod version_text {
    use omadm_protocol::DmVersion;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The stored spelling.
    pub fn name(v: DmVersion) -> &'static str {
        match v {
            DmVersion::V1_2 => "1.2",
            DmVersion::V1_1_2 => "1.1.2",
        }
    }

    pub(super) fn serialize<S: Serializer>(v: &DmVersion, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(name(*v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DmVersion, D::Error> {
        match String::deserialize(d)?.as_str() {
            "1.2" => Ok(DmVersion::V1_2),
            "1.1.2" => Ok(DmVersion::V1_1_2),
            other => Err(serde::de::Error::custom(format!("unknown DM version {other:?}"))),
        }
    }
}
