//! The typed SyncML DM message model (SyncML RepPro 1.2 / OMA-TS-DM_RepPro-V1_2 DTD), shared
//! by DM 1.2 and DM 1.1.2.
//!
//! A [`SyncMl`] is a [`SyncHdr`] and a [`SyncBody`] holding [`Command`]s. The model is read from
//! and written to the encoding-neutral events of [`crate::event`] by [`decode`](self::decode)
//! and [`encode`](self::encode); [`crate::codec`] joins it to XML and WBXML.

mod code;
mod command;
pub mod ddf;
mod decode;
mod encode;
mod meta;

pub use code::{AlertCode, StatusCode};
pub use command::{
    Alert, Chal, Command, Container, Cred, Data, Exec, Item, ItemCommand, Location, Results, Status,
    Unsupported,
};
pub use decode::decode_events;
pub use encode::encode_events;
pub use meta::{Anchor, Format, Mem, Meta};

/// The two protocol versions a session may speak (FACTS.md C.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DmVersion {
    /// OMA DM 1.2: VerDTD `1.2`, VerProto `DM/1.2`, namespace `SYNCML:SYNCML1.2`.
    V1_2,
    /// OMA DM 1.1.2: VerDTD `1.1`, VerProto `DM/1.1`, namespace `SYNCML:SYNCML1.1`.
    V1_1_2,
}

impl DmVersion {
    /// The `<VerDTD>` value.
    pub const fn ver_dtd(self) -> &'static str {
        match self {
            DmVersion::V1_2 => "1.2",
            DmVersion::V1_1_2 => "1.1",
        }
    }

    /// The `<VerProto>` value.
    pub const fn ver_proto(self) -> &'static str {
        match self {
            DmVersion::V1_2 => "DM/1.2",
            DmVersion::V1_1_2 => "DM/1.1",
        }
    }

    /// The XML namespace of the root element.
    pub const fn namespace(self) -> &'static str {
        match self {
            DmVersion::V1_2 => "SYNCML:SYNCML1.2",
            DmVersion::V1_1_2 => "SYNCML:SYNCML1.1",
        }
    }

    /// The numeric WBXML public id: 0x1201 for SyncML 1.2, 0x0FD3 for 1.1 (FACTS.md B.1).
    pub const fn wbxml_public_id(self) -> u32 {
        match self {
            DmVersion::V1_2 => 0x1201,
            DmVersion::V1_1_2 => 0x0FD3,
        }
    }
}

/// A whole DM message: `<SyncML>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncMl {
    /// `<SyncHdr>`.
    pub hdr: SyncHdr,
    /// `<SyncBody>`.
    pub body: SyncBody,
}

impl SyncMl {
    /// The DM version this message speaks, decided from VerDTD and VerProto, never from the
    /// WBXML public id, which real clients get wrong (FACTS.md B.1).
    pub fn version(&self) -> Option<DmVersion> {
        self.hdr.version()
    }
}

/// `<SyncHdr>` (OMA-TS-DM_RepPro-V1_2 §6.1.x; FACTS.md C.4a).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncHdr {
    /// `<VerDTD>`, e.g. `1.2`.
    pub ver_dtd: String,
    /// `<VerProto>`, e.g. `DM/1.2`.
    pub ver_proto: String,
    /// `<SessionID>`: the same for the whole session; hex when it echoes a package 0.
    pub session_id: String,
    /// `<MsgID>`: per sender, from 1.
    pub msg_id: u32,
    /// `<Target>`: the recipient (server URI, or device id).
    pub target: Location,
    /// `<Source>`: the sender; its LocName carries the user name for MD5 and HMAC.
    pub source: Location,
    /// `<RespURI>`: where the peer must send its next message.
    pub resp_uri: Option<String>,
    /// `<NoResp/>`.
    pub no_resp: bool,
    /// `<Cred>`.
    pub cred: Option<Cred>,
    /// `<Meta>`: MaxMsgSize, MaxObjSize.
    pub meta: Option<Meta>,
}

impl SyncHdr {
    /// A header for `version` with the required fields; everything optional left empty.
    pub fn new(
        version: DmVersion,
        session_id: impl Into<String>,
        msg_id: u32,
        target: Location,
        source: Location,
    ) -> SyncHdr {
        SyncHdr {
            ver_dtd: version.ver_dtd().to_owned(),
            ver_proto: version.ver_proto().to_owned(),
            session_id: session_id.into(),
            msg_id,
            target,
            source,
            resp_uri: None,
            no_resp: false,
            cred: None,
            meta: None,
        }
    }

    /// The DM version from VerDTD (`1.2`/`1.1`), cross-checked with VerProto when VerProto
    /// names a DM version.
    pub fn version(&self) -> Option<DmVersion> {
        let by_dtd = match self.ver_dtd.trim() {
            "1.2" => DmVersion::V1_2,
            "1.1" => DmVersion::V1_1_2,
            _ => return None,
        };
        match self.ver_proto.trim() {
            "DM/1.2" if by_dtd == DmVersion::V1_2 => Some(by_dtd),
            "DM/1.1" | "DM/1.1.2" if by_dtd == DmVersion::V1_1_2 => Some(by_dtd),
            _ => None,
        }
    }
}

/// `<SyncBody>`: commands in order, then `<Final/>` on the last message of a package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncBody {
    /// Commands, Status and Results, in document order.
    pub commands: Vec<Command>,
    /// `<Final/>` present.
    pub is_final: bool,
}
