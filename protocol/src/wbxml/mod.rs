//! WBXML 1.1-1.3 reader and writer for SyncML DM documents (WAP-192-WBXML, FACTS.md A and B).
//!
//! [`WbxmlReader`] turns a WBXML document into [`Event`](crate::event::Event)s, borrowing
//! strings and OPAQUE data from the input; [`WbxmlWriter`] writes [`Sink`](crate::event::Sink)
//! calls as WBXML 1.2 the way libwbxml does (numeric public id, UTF-8, empty string table,
//! inline strings). Only what DM uses is supported: the three code pages of
//! [`Tag`](crate::tag::Tag), no attributes, no extensions, no processing instructions.

pub mod mbuint;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::WbxmlReader;
pub use writer::WbxmlWriter;

/// WBXML public id of SyncML 1.2 (DM 1.2), FACTS.md B.1; encoded `A4 01`.
pub const SYNCML_1_2: u32 = 0x1201;
/// WBXML public id of SyncML 1.1 (DM 1.1.2), FACTS.md B.1; encoded `9F 53`.
pub const SYNCML_1_1: u32 = 0x0FD3;
/// WBXML public id of OMA Client Provisioning (`-//WAPFORUM//DTD PROV 1.0//EN`), FACTS.md K.5.
pub const PROV_1_0: u32 = 0x0B;
/// WBXML public id "unknown" (WAP-192-WBXML §7.2.1, FACTS.md A.1).
pub const UNKNOWN_PUBLIC_ID: u32 = 0x01;

/// Formal public identifier of SyncML 1.2, as written in a string table (FACTS.md B.1).
pub const FPI_SYNCML_1_2: &str = "-//SYNCML//DTD SyncML 1.2//EN";
/// Formal public identifier of SyncML 1.1 (FACTS.md B.1).
pub const FPI_SYNCML_1_1: &str = "-//SYNCML//DTD SyncML 1.1//EN";
/// Formal public identifier of DM DDF 1.2 and TNDS, which has no numeric id (FACTS.md B.1).
pub const FPI_DMDDF_1_2: &str = "-//OMA//DTD-DM-DDF 1.2//EN";

/// IANA MIBenum of UTF-8, the charset DM documents use (FACTS.md A.1).
pub const CHARSET_UTF_8: u32 = 106;
/// IANA MIBenum of US-ASCII.
pub const CHARSET_US_ASCII: u32 = 3;
/// IANA MIBenum of ISO-8859-1.
pub const CHARSET_ISO_8859_1: u32 = 4;

/// The document type of a WBXML document (FACTS.md A.1, B.1).
///
/// Real clients use both forms for the same DTD: libdmclient and libwbxml write
/// `Numeric(0x1201)`, the Motorola engine writes `Fpi("-//SYNCML//DTD SyncML 1.2//EN")`.
/// Neither is trusted for the protocol version; `VerDTD` decides (FACTS.md B.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicId {
    /// A registered numeric id, e.g. [`SYNCML_1_2`]; `Numeric(1)` means unknown.
    Numeric(u32),
    /// A formal public identifier from the string table (header public id `0` + index).
    Fpi(String),
}

/// The WBXML document header (FACTS.md A.1, WAP-192-WBXML §5.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The version byte: high nibble major − 1, low nibble minor (`0x02` = WBXML 1.2).
    pub version: u8,
    /// The document type.
    pub public_id: PublicId,
    /// IANA MIBenum of the charset of all strings (106 = UTF-8).
    pub charset: u32,
}
