//! The front door: detect the encoding, decode a message, encode one.
//!
//! Content types (OMA-TS-DM_RepPro-V1_2 §5; FACTS.md B.6): `application/vnd.syncml.dm+xml`
//! and `+wbxml`. Real clients also send the data-sync types `application/vnd.syncml+xml` and
//! `+wbxml` (libdmclient, vectors/clients), which are accepted as the same encodings.

use crate::error::DecodeError;
use crate::limits::Limits;
use crate::message::{DmVersion, SyncMl, decode_events, encode_events};
use crate::wbxml::{WbxmlReader, WbxmlWriter};
use crate::xml::{XmlReader, XmlWriter};

/// A wire encoding of DM messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// XML text.
    Xml,
    /// WAP Binary XML.
    Wbxml,
}

impl Encoding {
    /// Guess the encoding from the first bytes: a WBXML document starts with its version byte
    /// 0x01-0x03 (FACTS.md A.1); XML starts with `<`, a UTF-8 BOM, or whitespace.
    pub fn detect(bytes: &[u8]) -> Option<Encoding> {
        match bytes.first()? {
            0x01..=0x03 => Some(Encoding::Wbxml),
            b'<' | 0xEF | b' ' | b'\t' | b'\r' | b'\n' => Some(Encoding::Xml),
            _ => None,
        }
    }

    /// The encoding named by an HTTP `Content-Type` value (parameters ignored, case-insensitive).
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let media = value.split(';').next().unwrap_or("").trim();
        const TYPES: [(&str, Encoding); 4] = [
            ("application/vnd.syncml.dm+xml", Encoding::Xml),
            ("application/vnd.syncml.dm+wbxml", Encoding::Wbxml),
            ("application/vnd.syncml+xml", Encoding::Xml),
            ("application/vnd.syncml+wbxml", Encoding::Wbxml),
        ];
        TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(media)).map(|(_, e)| *e)
    }

    /// The DM content type of this encoding.
    pub const fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => "application/vnd.syncml.dm+xml",
            Encoding::Wbxml => "application/vnd.syncml.dm+wbxml",
        }
    }
}

/// Decode a message, detecting its encoding.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<SyncMl, DecodeError> {
    let encoding = Encoding::detect(bytes).ok_or(DecodeError::UnknownEncoding)?;
    decode_as(bytes, encoding, limits)
}

/// Decode a message in a known encoding.
pub fn decode_as(bytes: &[u8], encoding: Encoding, limits: &Limits) -> Result<SyncMl, DecodeError> {
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge { size: bytes.len(), limit: limits.max_message_bytes });
    }
    match encoding {
        Encoding::Xml => decode_events(XmlReader::new(bytes, limits)?),
        Encoding::Wbxml => decode_events(WbxmlReader::new(bytes, limits)?),
    }
}

/// The version to encode `msg` as: its own, or DM 1.2 when VerDTD names neither.
fn wire_version(msg: &SyncMl) -> DmVersion {
    match msg.hdr.ver_dtd.trim() {
        "1.1" => DmVersion::V1_1_2,
        _ => DmVersion::V1_2,
    }
}

/// Encode a message. WBXML uses the numeric public id of the message's version (0x1201 or
/// 0x0FD3) and no string table; XML is compact, with the version's namespace on the root.
pub fn encode(msg: &SyncMl, encoding: Encoding) -> Vec<u8> {
    let version = wire_version(msg);
    match encoding {
        Encoding::Xml => {
            let mut w = XmlWriter::new(version.namespace());
            encode_events(msg, &mut w);
            w.finish()
        }
        Encoding::Wbxml => {
            let mut w = WbxmlWriter::new(version.wbxml_public_id());
            encode_events(msg, &mut w);
            w.finish()
        }
    }
}

/// Encode a message as indented XML, for people (the `omadm codec decode` output).
pub fn encode_pretty_xml(msg: &SyncMl) -> Vec<u8> {
    let mut w = XmlWriter::pretty(wire_version(msg).namespace());
    encode_events(msg, &mut w);
    w.finish()
}
