//! Element names of the three WBXML code pages a DM message uses, with their tokens.
//!
//! Page 0 is SyncML (SyncML RepPro 1.1/1.2 WBXML tables), page 1 is MetInf (the contents of
//! `<Meta>`), page 2 is DM DDF/TNDS (`syncml:dmddf1.2`, OMA-TS-DM_TND 1.2 appendix "WBXML
//! definition"). Token values: libwbxml `wbxml_tables.c` (sv_syncml_syncml12_tag_table,
//! sv_syncml_metinf12_tag_table, sv_syncml_dmddf12_tag_table) and the SyncML RTK `xlttags.c`,
//! which agree (FACTS.md B.2, B.3, B.5). In XML the page is chosen by namespace instead.

/// Defines a code page: an enum of its element names with token and name lookups.
macro_rules! code_page {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $token:literal => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum $name { $($variant,)+ }

        impl $name {
            /// All elements of the page.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The WBXML token (identity bits only, without the content/attribute flags).
            pub const fn token(self) -> u8 {
                match self { $($name::$variant => $token,)+ }
            }

            /// The element name as written in XML.
            pub const fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The element for a WBXML token, if the page defines one.
            pub const fn from_token(token: u8) -> Option<Self> {
                match token { $($token => Some($name::$variant),)+ _ => None }
            }

            /// The element for an XML local name (case-sensitive, as XML is).
            pub fn from_name(name: &[u8]) -> Option<Self> {
                match name { $(n if n == $text.as_bytes() => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

code_page! {
    /// Code page 0: SyncML. 0x33-0x34 exist since 1.1, 0x35-0x3C since 1.2.
    SyncMlTag {
        Add = 0x05 => "Add", Alert = 0x06 => "Alert", Archive = 0x07 => "Archive",
        Atomic = 0x08 => "Atomic", Chal = 0x09 => "Chal", Cmd = 0x0A => "Cmd",
        CmdID = 0x0B => "CmdID", CmdRef = 0x0C => "CmdRef", Copy = 0x0D => "Copy",
        Cred = 0x0E => "Cred", Data = 0x0F => "Data", Delete = 0x10 => "Delete",
        Exec = 0x11 => "Exec", Final = 0x12 => "Final", Get = 0x13 => "Get",
        Item = 0x14 => "Item", Lang = 0x15 => "Lang", LocName = 0x16 => "LocName",
        LocURI = 0x17 => "LocURI", Map = 0x18 => "Map", MapItem = 0x19 => "MapItem",
        Meta = 0x1A => "Meta", MsgID = 0x1B => "MsgID", MsgRef = 0x1C => "MsgRef",
        NoResp = 0x1D => "NoResp", NoResults = 0x1E => "NoResults", Put = 0x1F => "Put",
        Replace = 0x20 => "Replace", RespURI = 0x21 => "RespURI", Results = 0x22 => "Results",
        Search = 0x23 => "Search", Sequence = 0x24 => "Sequence", SessionID = 0x25 => "SessionID",
        SftDel = 0x26 => "SftDel", Source = 0x27 => "Source", SourceRef = 0x28 => "SourceRef",
        Status = 0x29 => "Status", Sync = 0x2A => "Sync", SyncBody = 0x2B => "SyncBody",
        SyncHdr = 0x2C => "SyncHdr", SyncML = 0x2D => "SyncML", Target = 0x2E => "Target",
        TargetRef = 0x2F => "TargetRef", VerDTD = 0x31 => "VerDTD", VerProto = 0x32 => "VerProto",
        NumberOfChanges = 0x33 => "NumberOfChanges", MoreData = 0x34 => "MoreData",
        Field = 0x35 => "Field", Filter = 0x36 => "Filter", Record = 0x37 => "Record",
        FilterType = 0x38 => "FilterType", SourceParent = 0x39 => "SourceParent",
        TargetParent = 0x3A => "TargetParent", Move = 0x3B => "Move", Correlator = 0x3C => "Correlator",
    }
}

code_page! {
    /// Code page 1: MetInf (`syncml:metinf`). FieldLevel exists since 1.2.
    MetInfTag {
        Anchor = 0x05 => "Anchor", EMI = 0x06 => "EMI", Format = 0x07 => "Format",
        FreeID = 0x08 => "FreeID", FreeMem = 0x09 => "FreeMem", Last = 0x0A => "Last",
        Mark = 0x0B => "Mark", MaxMsgSize = 0x0C => "MaxMsgSize", Mem = 0x0D => "Mem",
        MetInf = 0x0E => "MetInf", Next = 0x0F => "Next", NextNonce = 0x10 => "NextNonce",
        SharedMem = 0x11 => "SharedMem", Size = 0x12 => "Size", Type = 0x13 => "Type",
        Version = 0x14 => "Version", MaxObjSize = 0x15 => "MaxObjSize", FieldLevel = 0x16 => "FieldLevel",
    }
}

code_page! {
    /// Code page 2: DM DDF 1.2 and TNDS (`syncml:dmddf1.2`).
    DdfTag {
        AccessType = 0x05 => "AccessType", ACL = 0x06 => "ACL", Add = 0x07 => "Add",
        B64 = 0x08 => "b64", Bin = 0x09 => "bin", Bool = 0x0A => "bool", Chr = 0x0B => "chr",
        CaseSense = 0x0C => "CaseSense", CIS = 0x0D => "CIS", Copy = 0x0E => "Copy", CS = 0x0F => "CS",
        Date = 0x10 => "date", DDFName = 0x11 => "DDFName", DefaultValue = 0x12 => "DefaultValue",
        Delete = 0x13 => "Delete", Description = 0x14 => "Description", DFFormat = 0x15 => "DFFormat",
        DFProperties = 0x16 => "DFProperties", DFTitle = 0x17 => "DFTitle", DFType = 0x18 => "DFType",
        Dynamic = 0x19 => "Dynamic", Exec = 0x1A => "Exec", Float = 0x1B => "float",
        Format = 0x1C => "Format", Get = 0x1D => "Get", Int = 0x1E => "int", Man = 0x1F => "Man",
        MgmtTree = 0x20 => "MgmtTree", MIME = 0x21 => "MIME", Mod = 0x22 => "Mod", Name = 0x23 => "Name",
        Node = 0x24 => "Node", NodeFormat = 0x25 => "node", NodeName = 0x26 => "NodeName",
        Null = 0x27 => "null", Occurrence = 0x28 => "Occurrence", One = 0x29 => "One",
        OneOrMore = 0x2A => "OneOrMore", OneOrN = 0x2B => "OneOrN", Path = 0x2C => "Path",
        Permanent = 0x2D => "Permanent", Replace = 0x2E => "Replace", RTProperties = 0x2F => "RTProperties",
        Scope = 0x30 => "Scope", Size = 0x31 => "Size", Time = 0x32 => "time", Title = 0x33 => "Title",
        TStamp = 0x34 => "TStamp", Type = 0x35 => "Type", Value = 0x36 => "Value", VerDTD = 0x37 => "VerDTD",
        VerNo = 0x38 => "VerNo", Xml = 0x39 => "xml", ZeroOrMore = 0x3A => "ZeroOrMore",
        ZeroOrN = 0x3B => "ZeroOrN", ZeroOrOne = 0x3C => "ZeroOrOne",
    }
}

/// An element of a DM document: its code page and name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Code page 0, namespace `SYNCML:SYNCML1.1` / `SYNCML:SYNCML1.2`.
    SyncMl(SyncMlTag),
    /// Code page 1, namespace `syncml:metinf`.
    MetInf(MetInfTag),
    /// Code page 2, namespace `syncml:dmddf1.2`.
    Ddf(DdfTag),
    /// An element this crate does not know; its subtree is skipped by the message decoder.
    Unknown,
}

/// A WBXML code page of DM documents (FACTS.md B.2-B.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodePage {
    /// Page 0: SyncML.
    SyncMl = 0,
    /// Page 1: MetInf.
    MetInf = 1,
    /// Page 2: DM DDF / TNDS.
    Ddf = 2,
}

/// XML namespace of the MetInf elements.
pub const NS_METINF: &str = "syncml:metinf";
/// XML namespace of DDF and TNDS elements.
pub const NS_DMDDF: &str = "syncml:dmddf1.2";

impl Tag {
    /// The code page, `None` for [`Tag::Unknown`].
    pub const fn page(self) -> Option<CodePage> {
        match self {
            Tag::SyncMl(_) => Some(CodePage::SyncMl),
            Tag::MetInf(_) => Some(CodePage::MetInf),
            Tag::Ddf(_) => Some(CodePage::Ddf),
            Tag::Unknown => None,
        }
    }

    /// The WBXML token, `None` for [`Tag::Unknown`].
    pub const fn token(self) -> Option<u8> {
        match self {
            Tag::SyncMl(t) => Some(t.token()),
            Tag::MetInf(t) => Some(t.token()),
            Tag::Ddf(t) => Some(t.token()),
            Tag::Unknown => None,
        }
    }

    /// The element for a token on a code page.
    pub fn from_token(page: u8, token: u8) -> Tag {
        let tag = match page {
            0 => SyncMlTag::from_token(token).map(Tag::SyncMl),
            1 => MetInfTag::from_token(token).map(Tag::MetInf),
            2 => DdfTag::from_token(token).map(Tag::Ddf),
            _ => None,
        };
        tag.unwrap_or(Tag::Unknown)
    }

    /// The XML local name (`"?"` for an unknown element).
    pub const fn name(self) -> &'static str {
        match self {
            Tag::SyncMl(t) => t.name(),
            Tag::MetInf(t) => t.name(),
            Tag::Ddf(t) => t.name(),
            Tag::Unknown => "?",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_names_are_bijective_per_page() {
        for t in SyncMlTag::ALL {
            assert_eq!(SyncMlTag::from_token(t.token()), Some(*t));
            assert_eq!(SyncMlTag::from_name(t.name().as_bytes()), Some(*t));
        }
        for t in MetInfTag::ALL {
            assert_eq!(MetInfTag::from_token(t.token()), Some(*t));
            assert_eq!(MetInfTag::from_name(t.name().as_bytes()), Some(*t));
        }
        for t in DdfTag::ALL {
            assert_eq!(DdfTag::from_token(t.token()), Some(*t));
            assert_eq!(DdfTag::from_name(t.name().as_bytes()), Some(*t));
        }
    }

    #[test]
    fn known_tokens_from_facts() {
        // FACTS.md A.4: Final 0x12, SyncHdr 0x2C; B.2: Correlator 0x3C; B.3: MaxMsgSize 0x0C.
        assert_eq!(SyncMlTag::Final.token(), 0x12);
        assert_eq!(SyncMlTag::SyncHdr.token(), 0x2C);
        assert_eq!(SyncMlTag::Correlator.token(), 0x3C);
        assert_eq!(MetInfTag::MaxMsgSize.token(), 0x0C);
        assert_eq!(DdfTag::MgmtTree.token(), 0x20);
        assert_eq!(Tag::from_token(0, 0x30), Tag::Unknown);
    }
}
