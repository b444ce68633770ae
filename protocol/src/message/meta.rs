//! `<Meta>` and its MetInf children (SyncML MetInf DTD 1.2; FACTS.md B.3, C.5, C.7).

/// The Format of data or of a node (OMA-TS-DM_TND-V1_2 "Format"; FACTS.md C.7).
/// Parsed case-insensitively (real clients send `Chr`), written in the canonical lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `b64`: Base64 text carrying binary data (required for binary over XML).
    B64,
    /// `bin`: binary.
    Bin,
    /// `bool`: `true` / `false`.
    Bool,
    /// `chr`: text (the default).
    Chr,
    /// `int`: 32-bit signed decimal.
    Int,
    /// `node`: an interior node.
    Node,
    /// `null`.
    Null,
    /// `xml`.
    Xml,
    /// `date`: ISO 8601 date.
    Date,
    /// `time`: ISO 8601 time.
    Time,
    /// `float`.
    Float,
    /// Anything else, as received.
    Other(String),
}

impl Format {
    /// Parse a Format value, case-insensitively for the known ones.
    pub fn parse(s: &str) -> Format {
        let t = s.trim();
        const KNOWN: [(&str, Format); 11] = [
            ("b64", Format::B64),
            ("bin", Format::Bin),
            ("bool", Format::Bool),
            ("chr", Format::Chr),
            ("int", Format::Int),
            ("node", Format::Node),
            ("null", Format::Null),
            ("xml", Format::Xml),
            ("date", Format::Date),
            ("time", Format::Time),
            ("float", Format::Float),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(t))
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| Format::Other(t.to_owned()))
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Format::B64 => "b64",
            Format::Bin => "bin",
            Format::Bool => "bool",
            Format::Chr => "chr",
            Format::Int => "int",
            Format::Node => "node",
            Format::Null => "null",
            Format::Xml => "xml",
            Format::Date => "date",
            Format::Time => "time",
            Format::Float => "float",
            Format::Other(s) => s,
        }
    }
}

/// `<Anchor>` (data synchronisation; kept for completeness of the MetInf DTD).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anchor {
    /// `<Last>`.
    pub last: Option<String>,
    /// `<Next>`.
    pub next: String,
}

/// `<Mem>`: memory of a data store or device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// `<SharedMem/>` present.
    pub shared_mem: bool,
    /// `<FreeMem>` in bytes.
    pub free_mem: Option<u64>,
    /// `<FreeID>`.
    pub free_id: Option<u64>,
}

/// `<Meta>`: the MetInf elements, in MetInf DTD order. All are optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// `<Format>` of the data.
    pub format: Option<Format>,
    /// `<Type>`: MIME type of the data, an MO identifier, an auth type or a Generic Alert type.
    pub type_: Option<String>,
    /// `<Mark>`: Generic Alert severity, e.g. `critical`.
    pub mark: Option<String>,
    /// `<Size>`: total size of a large object, on its first chunk only (FACTS.md C.6).
    pub size: Option<u64>,
    /// `<Anchor>`.
    pub anchor: Option<Anchor>,
    /// `<Version>`.
    pub version: Option<String>,
    /// `<NextNonce>`: Base64 of the nonce to use next (FACTS.md D.3).
    pub next_nonce: Option<String>,
    /// `<MaxMsgSize>`: largest message the sender can receive, in bytes.
    pub max_msg_size: Option<u64>,
    /// `<MaxObjSize>`: largest object the sender can receive, in bytes.
    pub max_obj_size: Option<u64>,
    /// `<EMI>`: experimental meta information, in order.
    pub emi: Vec<String>,
    /// `<Mem>`.
    pub mem: Option<Mem>,
    /// `<FieldLevel/>` present (SyncML 1.2).
    pub field_level: bool,
}

impl Meta {
    /// A Meta with only a Format.
    pub fn with_format(format: Format) -> Meta {
        Meta { format: Some(format), ..Meta::default() }
    }

    /// A Meta with a Format and a Type.
    pub fn with_format_and_type(format: Format, type_: impl Into<String>) -> Meta {
        Meta { format: Some(format), type_: Some(type_.into()), ..Meta::default() }
    }
}
