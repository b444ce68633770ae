//! Commands of the SyncBody and what they carry (OMA-TS-DM_RepPro-V1_2 §6.5-6.6).

use super::code::{AlertCode, StatusCode};
use super::ddf::DdfNode;
use super::meta::Meta;
use crate::tag::SyncMlTag;

/// `<Target>` or `<Source>`: a LocURI and an optional LocName.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// `<LocURI>`: a node URI (`./DevInfo/DevId`), a device id or a server URL.
    pub loc_uri: String,
    /// `<LocName>`: a display or user name.
    pub loc_name: Option<String>,
}

impl Location {
    /// A location with only a LocURI.
    pub fn uri(loc_uri: impl Into<String>) -> Location {
        Location { loc_uri: loc_uri.into(), loc_name: None }
    }
}

/// `<Cred>`: credentials of the sender, in the SyncHdr (FACTS.md D.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Cred {
    /// Meta Type (`syncml:auth-basic`, `syncml:auth-md5`) and Format (`b64`).
    pub meta: Option<Meta>,
    /// The credential value.
    pub data: String,
}

impl std::fmt::Debug for Cred {
    /// Credentials never appear in logs: the data is redacted.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cred").field("meta", &self.meta).field("data", &"<redacted>").finish()
    }
}

/// `<Chal>`: a challenge in a Status, with the auth type and the next nonce (FACTS.md D.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chal {
    /// Type, Format and NextNonce.
    pub meta: Meta,
}

/// `<Data>` content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// Text (XML character data or CDATA; WBXML inline or table strings).
    Text(String),
    /// WBXML OPAQUE bytes.
    Opaque(Vec<u8>),
    /// Embedded DDF/TNDS elements (`<MgmtTree xmlns="syncml:dmddf1.2">` in XML, code page 2
    /// in WBXML).
    Ddf(Vec<DdfNode>),
}

impl Data {
    /// The data as text when it is text or UTF-8 opaque bytes.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(s) => Some(s),
            Data::Opaque(b) => std::str::from_utf8(b).ok(),
            Data::Ddf(_) => None,
        }
    }

    /// The data as bytes when it is text or opaque.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Data::Text(s) => Some(s.as_bytes()),
            Data::Opaque(b) => Some(b),
            Data::Ddf(_) => None,
        }
    }
}

impl From<&str> for Data {
    fn from(s: &str) -> Data {
        Data::Text(s.to_owned())
    }
}

/// `<Item>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// `<Target>`: the node acted on.
    pub target: Option<Location>,
    /// `<Source>`: the node the data comes from (Results, Replace of DevInfo, Copy).
    pub source: Option<Location>,
    /// `<Meta>`: Format, Type, Size.
    pub meta: Option<Meta>,
    /// `<Data>`.
    pub data: Option<Data>,
    /// `<MoreData/>`: more chunks of this large object follow (FACTS.md C.6).
    pub more_data: bool,
}

/// Add, Copy, Delete, Get and Replace: a command acting on items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemCommand {
    /// `<CmdID>`, unique within the message.
    pub cmd_id: u32,
    /// `<NoResp/>`: the sender wants no Status.
    pub no_resp: bool,
    /// `<Cred>` (allowed by the SyncML DTD; DM puts credentials in the SyncHdr only).
    pub cred: Option<Cred>,
    /// `<Meta>` applying to every item.
    pub meta: Option<Meta>,
    /// `<Item>`s.
    pub items: Vec<Item>,
}

/// `<Exec>`: run an executable node, optionally with a Correlator for the Generic Alert
/// that reports the result later (FACTS.md I.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exec {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<NoResp/>`.
    pub no_resp: bool,
    /// `<Cred>`.
    pub cred: Option<Cred>,
    /// `<Meta>`.
    pub meta: Option<Meta>,
    /// `<Correlator>` (DM 1.2).
    pub correlator: Option<String>,
    /// The one `<Item>`: the node to execute, with optional data.
    pub item: Item,
}

/// `<Alert>`: session alerts (1200/1201), UI alerts (1100-1104), 1222/1223, Generic Alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<NoResp/>`.
    pub no_resp: bool,
    /// `<Cred>`.
    pub cred: Option<Cred>,
    /// `<Data>`: the alert code.
    pub data: AlertCode,
    /// `<Correlator>`: echoes the Exec's Correlator in a Generic Alert (DM 1.2).
    pub correlator: Option<String>,
    /// `<Item>`s: UI options and texts, or the Generic Alert's source, type and data.
    pub items: Vec<Item>,
}

/// `<Atomic>` or `<Sequence>`: a group of commands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<NoResp/>`.
    pub no_resp: bool,
    /// `<Meta>`.
    pub meta: Option<Meta>,
    /// The grouped commands, in order.
    pub commands: Vec<Command>,
}

/// `<Status>`: the answer to one command, or to the SyncHdr (`CmdRef` 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<MsgRef>`: the MsgID of the message holding the command answered.
    pub msg_ref: Option<u32>,
    /// `<CmdRef>`: the CmdID answered; 0 is the SyncHdr. Some clients omit it for the SyncHdr.
    pub cmd_ref: Option<u32>,
    /// `<Cmd>`: the element name answered, e.g. `SyncHdr`, `Get`.
    pub cmd: String,
    /// `<TargetRef>`s.
    pub target_ref: Vec<String>,
    /// `<SourceRef>`s.
    pub source_ref: Vec<String>,
    /// `<Cred>`.
    pub cred: Option<Cred>,
    /// `<Chal>`: with 401/407, or to hand over the next nonce.
    pub chal: Option<Chal>,
    /// `<Data>`: the status code.
    pub data: StatusCode,
    /// `<Item>`s, e.g. the text typed in answer to Alert 1102.
    pub items: Vec<Item>,
}

impl Status {
    /// Whether this Status answers the SyncHdr (`Cmd` SyncHdr, CmdRef 0 or absent).
    pub fn is_for_sync_hdr(&self) -> bool {
        self.cmd == "SyncHdr" && self.cmd_ref.unwrap_or(0) == 0
    }
}

/// `<Results>`: data returned for a Get.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Results {
    /// `<CmdID>`.
    pub cmd_id: u32,
    /// `<MsgRef>`.
    pub msg_ref: Option<u32>,
    /// `<CmdRef>`: the Get answered.
    pub cmd_ref: u32,
    /// `<Meta>`.
    pub meta: Option<Meta>,
    /// `<TargetRef>`s.
    pub target_ref: Vec<String>,
    /// `<SourceRef>`s.
    pub source_ref: Vec<String>,
    /// `<Item>`s, one per node returned.
    pub items: Vec<Item>,
}

/// A SyncML command that DM does not use (Sync, Map, Put, Search, Move), kept so that the
/// receiver can answer it with a Status instead of failing the whole message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The element.
    pub element: SyncMlTag,
    /// Its `<CmdID>`, when it had a numeric one.
    pub cmd_id: Option<u32>,
}

/// One element of a SyncBody, an Atomic or a Sequence.
// Variants are stored inline: boxing them would cost an allocation per decoded command.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `<Add>`.
    Add(ItemCommand),
    /// `<Alert>`.
    Alert(Alert),
    /// `<Atomic>`.
    Atomic(Container),
    /// `<Copy>`.
    Copy(ItemCommand),
    /// `<Delete>`.
    Delete(ItemCommand),
    /// `<Exec>`.
    Exec(Exec),
    /// `<Get>`.
    Get(ItemCommand),
    /// `<Replace>`.
    Replace(ItemCommand),
    /// `<Sequence>`.
    Sequence(Container),
    /// `<Results>`.
    Results(Results),
    /// `<Status>`.
    Status(Status),
    /// A SyncML command DM does not define.
    Unsupported(Unsupported),
}

impl Command {
    /// The element name, as `<Cmd>` of a Status answering it names it.
    pub fn name(&self) -> &'static str {
        self.tag().name()
    }

    /// The element.
    pub fn tag(&self) -> SyncMlTag {
        match self {
            Command::Add(_) => SyncMlTag::Add,
            Command::Alert(_) => SyncMlTag::Alert,
            Command::Atomic(_) => SyncMlTag::Atomic,
            Command::Copy(_) => SyncMlTag::Copy,
            Command::Delete(_) => SyncMlTag::Delete,
            Command::Exec(_) => SyncMlTag::Exec,
            Command::Get(_) => SyncMlTag::Get,
            Command::Replace(_) => SyncMlTag::Replace,
            Command::Sequence(_) => SyncMlTag::Sequence,
            Command::Results(_) => SyncMlTag::Results,
            Command::Status(_) => SyncMlTag::Status,
            Command::Unsupported(u) => u.element,
        }
    }

    /// The CmdID.
    pub fn cmd_id(&self) -> Option<u32> {
        Some(match self {
            Command::Add(c) | Command::Copy(c) | Command::Delete(c) => c.cmd_id,
            Command::Get(c) | Command::Replace(c) => c.cmd_id,
            Command::Alert(a) => a.cmd_id,
            Command::Atomic(c) | Command::Sequence(c) => c.cmd_id,
            Command::Exec(e) => e.cmd_id,
            Command::Results(r) => r.cmd_id,
            Command::Status(s) => s.cmd_id,
            Command::Unsupported(u) => return u.cmd_id,
        })
    }

    /// Whether `self` may stand directly inside `parent` (`Atomic` or `Sequence`).
    ///
    /// OMA-TS-DM_RepPro-V1_2 §6.6.2/6.6.13 and FACTS.md C.3/C.4: Status and Results never
    /// nest; Get inside an Atomic and an Atomic inside an Atomic are illegal and answered 500.
    pub fn may_nest_in(&self, parent: SyncMlTag) -> bool {
        match (self, parent) {
            (Command::Status(_) | Command::Results(_) | Command::Unsupported(_), _) => false,
            (Command::Get(_) | Command::Atomic(_), SyncMlTag::Atomic) => false,
            (_, SyncMlTag::Atomic | SyncMlTag::Sequence) => true,
            _ => false,
        }
    }
}
