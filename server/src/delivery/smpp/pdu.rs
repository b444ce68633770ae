//! SMPP 3.4 PDUs an SMS transmitter needs, encoded and decoded without I/O: bind_transmitter,
//! submit_sm, enquire_link, unbind (each with its _resp) and generic_nack. Any other command
//! decodes to [`Body::Other`] so that the caller can answer it with a generic_nack.
//!
//! Every PDU is a 16-octet header (command_length, command_id, command_status,
//! sequence_number; big-endian, SMPP 3.4 §3.2) and a body of fields; C-Octet Strings end in NUL
//! and have a maximum size including the NUL (§3.1). Decoding is bounded: command_length is
//! checked before anything is read ([`MAX_COMMAND_LENGTH`]), every string against its maximum.

use std::fmt;

/// Octets of the PDU header (SMPP 3.4 §3.2).
pub const HEADER_LEN: usize = 16;

/// Largest PDU we accept. Ours are below 400 octets (a submit_sm carries at most 254 octets of
/// short_message, §4.4.1); responses are smaller still. The spec sets no maximum, so this
/// bounds what a hostile peer can make us buffer.
pub const MAX_COMMAND_LENGTH: u32 = 4096;

/// interface_version for SMPP 3.4 (§5.2.4).
pub const INTERFACE_VERSION_34: u8 = 0x34;

/// Highest sequence_number; numbers run 0x00000001..=0x7FFFFFFF (§5.1.4).
pub const MAX_SEQUENCE_NUMBER: u32 = 0x7FFF_FFFF;

/// Command ids (SMPP 3.4 §5.1.2.1). Bit 31 marks a response.
pub mod command_id {
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    pub const UNBIND: u32 = 0x0000_0006;
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// Bit 31 set: the command is a response.
    pub const RESPONSE_BIT: u32 = 0x8000_0000;
}

/// esm_class with UDHI set (§5.2.12: bits 6 = UDHI): the short_message starts with a UDH.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// data_coding 0x04: 8-bit binary (§5.2.19), what WAP push over SMS uses (FACTS F.2).
pub const DATA_CODING_8BIT: u8 = 0x04;

/// Maximum sizes of C-Octet String fields, NUL included (§4.1.1, §4.4.1, §4.4.2).
pub mod max_len {
    pub const SYSTEM_ID: usize = 16;
    pub const PASSWORD: usize = 9;
    pub const SYSTEM_TYPE: usize = 13;
    pub const ADDRESS_RANGE: usize = 41;
    pub const SERVICE_TYPE: usize = 6;
    pub const ADDR: usize = 21;
    /// schedule_delivery_time and validity_period: empty or 16 characters + NUL (§7.1.1).
    pub const TIME: usize = 17;
    pub const MESSAGE_ID: usize = 65;
    /// sm_length is 0..=254 (§4.4.1).
    pub const SHORT_MESSAGE: usize = 254;
}

/// command_status values (SMPP 3.4 §5.1.3); unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandStatus {
    Ok,
    InvalidMessageLength,
    InvalidCommandLength,
    InvalidCommandId,
    IncorrectBindStatus,
    AlreadyBound,
    InvalidPriorityFlag,
    InvalidRegisteredDelivery,
    SystemError,
    InvalidSourceAddress,
    InvalidDestinationAddress,
    InvalidMessageId,
    BindFailed,
    InvalidPassword,
    InvalidSystemId,
    MessageQueueFull,
    InvalidServiceType,
    InvalidEsmClass,
    SubmitFailed,
    InvalidSourceTon,
    InvalidSourceNpi,
    InvalidDestinationTon,
    InvalidDestinationNpi,
    InvalidSystemType,
    Throttled,
    InvalidScheduledDeliveryTime,
    InvalidValidityPeriod,
    ReceiverTemporaryError,
    ReceiverPermanentError,
    InvalidOptionalParameterStream,
    OptionalParameterNotAllowed,
    InvalidParameterLength,
    MissingOptionalParameter,
    InvalidOptionalParameterValue,
    DeliveryFailure,
    UnknownError,
    /// A value this list does not name (reserved or SMSC-specific 0x400-0x4FF).
    Other(u32),
}

/// (variant, value, spec name): one table for both directions.
const STATUS_TABLE: &[(CommandStatus, u32, &str)] = {
    use CommandStatus::*;
    &[
        (Ok, 0x00, "ESME_ROK"),
        (InvalidMessageLength, 0x01, "ESME_RINVMSGLEN"),
        (InvalidCommandLength, 0x02, "ESME_RINVCMDLEN"),
        (InvalidCommandId, 0x03, "ESME_RINVCMDID"),
        (IncorrectBindStatus, 0x04, "ESME_RINVBNDSTS"),
        (AlreadyBound, 0x05, "ESME_RALYBND"),
        (InvalidPriorityFlag, 0x06, "ESME_RINVPRTFLG"),
        (InvalidRegisteredDelivery, 0x07, "ESME_RINVREGDLVFLG"),
        (SystemError, 0x08, "ESME_RSYSERR"),
        (InvalidSourceAddress, 0x0A, "ESME_RINVSRCADR"),
        (InvalidDestinationAddress, 0x0B, "ESME_RINVDSTADR"),
        (InvalidMessageId, 0x0C, "ESME_RINVMSGID"),
        (BindFailed, 0x0D, "ESME_RBINDFAIL"),
        (InvalidPassword, 0x0E, "ESME_RINVPASWD"),
        (InvalidSystemId, 0x0F, "ESME_RINVSYSID"),
        (MessageQueueFull, 0x14, "ESME_RMSGQFUL"),
        (InvalidServiceType, 0x15, "ESME_RINVSERTYP"),
        (InvalidEsmClass, 0x43, "ESME_RINVESMCLASS"),
        (SubmitFailed, 0x45, "ESME_RSUBMITFAIL"),
        (InvalidSourceTon, 0x48, "ESME_RINVSRCTON"),
        (InvalidSourceNpi, 0x49, "ESME_RINVSRCNPI"),
        (InvalidDestinationTon, 0x50, "ESME_RINVDSTTON"),
        (InvalidDestinationNpi, 0x51, "ESME_RINVDSTNPI"),
        (InvalidSystemType, 0x53, "ESME_RINVSYSTYP"),
        (Throttled, 0x58, "ESME_RTHROTTLED"),
        (InvalidScheduledDeliveryTime, 0x61, "ESME_RINVSCHED"),
        (InvalidValidityPeriod, 0x62, "ESME_RINVEXPIRY"),
        (ReceiverTemporaryError, 0x64, "ESME_RX_T_APPN"),
        (ReceiverPermanentError, 0x65, "ESME_RX_P_APPN"),
        (InvalidOptionalParameterStream, 0xC0, "ESME_RINVOPTPARSTREAM"),
        (OptionalParameterNotAllowed, 0xC1, "ESME_ROPTPARNOTALLWD"),
        (InvalidParameterLength, 0xC2, "ESME_RINVPARLEN"),
        (MissingOptionalParameter, 0xC3, "ESME_RMISSINGOPTPARAM"),
        (InvalidOptionalParameterValue, 0xC4, "ESME_RINVOPTPARAMVAL"),
        (DeliveryFailure, 0xFE, "ESME_RDELIVERYFAILURE"),
        (UnknownError, 0xFF, "ESME_RUNKNOWNERR"),
    ]
};

impl CommandStatus {
    /// The status a command_status value stands for.
    pub fn from_u32(value: u32) -> Self {
        STATUS_TABLE.iter().find(|(_, v, _)| *v == value).map_or(CommandStatus::Other(value), |(s, _, _)| *s)
    }

    /// The value on the wire.
    pub fn to_u32(self) -> u32 {
        match self {
            CommandStatus::Other(v) => v,
            known => STATUS_TABLE.iter().find(|(s, _, _)| *s == known).map_or(0xFF, |(_, v, _)| *v),
        }
    }

    /// The spec's name (`ESME_RTHROTTLED`), or `None` for [`CommandStatus::Other`].
    pub fn name(self) -> Option<&'static str> {
        STATUS_TABLE.iter().find(|(s, _, _)| *s == self).map(|(_, _, n)| *n)
    }

    /// Whether the same request may succeed later: throttling (the ESME exceeded its allowed
    /// rate), a full message queue, an SMSC system error, or a receiver's temporary error
    /// (§5.1.3 descriptions). Everything else describes the request and is permanent.
    pub fn is_temporary(self) -> bool {
        matches!(
            self,
            CommandStatus::Throttled
                | CommandStatus::MessageQueueFull
                | CommandStatus::SystemError
                | CommandStatus::ReceiverTemporaryError
        )
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08x})", self.to_u32()),
            None => write!(f, "command_status 0x{:08x}", self.to_u32()),
        }
    }
}

/// An optional parameter (TLV, SMPP 3.4 §3.2.4, §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    pub tag: u16,
    pub value: Vec<u8>,
}

/// bind_transmitter (§4.1.1).
#[derive(Clone, PartialEq, Eq)]
pub struct BindTransmitter {
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    pub interface_version: u8,
    pub addr_ton: u8,
    pub addr_npi: u8,
    pub address_range: String,
}

impl fmt::Debug for BindTransmitter {
    /// The password never appears in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindTransmitter")
            .field("system_id", &self.system_id)
            .field("password", &"<redacted>")
            .field("system_type", &self.system_type)
            .field("interface_version", &self.interface_version)
            .field("addr_ton", &self.addr_ton)
            .field("addr_npi", &self.addr_npi)
            .field("address_range", &self.address_range)
            .finish()
    }
}

/// submit_sm (§4.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitSm {
    pub service_type: String,
    pub source_addr_ton: u8,
    pub source_addr_npi: u8,
    pub source_addr: String,
    pub dest_addr_ton: u8,
    pub dest_addr_npi: u8,
    pub destination_addr: String,
    pub esm_class: u8,
    pub protocol_id: u8,
    pub priority_flag: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub registered_delivery: u8,
    pub replace_if_present_flag: u8,
    pub data_coding: u8,
    pub sm_default_msg_id: u8,
    /// 0..=254 octets; sm_length is written from its length.
    pub short_message: Vec<u8>,
    pub tlvs: Vec<Tlv>,
}

/// The body of a PDU, by command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    BindTransmitter(BindTransmitter),
    /// system_id of the SMSC (absent when command_status is an error, §4.1.2) and TLVs
    /// (sc_interface_version).
    BindTransmitterResp {
        system_id: String,
        tlvs: Vec<Tlv>,
    },
    SubmitSm(SubmitSm),
    /// message_id; empty when command_status is an error (the body is omitted, §4.4.2).
    SubmitSmResp {
        message_id: String,
    },
    EnquireLink,
    EnquireLinkResp,
    Unbind,
    UnbindResp,
    GenericNack,
    /// A command this codec does not model; its body is skipped.
    Other {
        command_id: u32,
    },
}

impl Body {
    /// The command_id of this body (§5.1.2.1).
    pub fn command_id(&self) -> u32 {
        use command_id::*;
        match self {
            Body::BindTransmitter(_) => BIND_TRANSMITTER,
            Body::BindTransmitterResp { .. } => BIND_TRANSMITTER_RESP,
            Body::SubmitSm(_) => SUBMIT_SM,
            Body::SubmitSmResp { .. } => SUBMIT_SM_RESP,
            Body::EnquireLink => ENQUIRE_LINK,
            Body::EnquireLinkResp => ENQUIRE_LINK_RESP,
            Body::Unbind => UNBIND,
            Body::UnbindResp => UNBIND_RESP,
            Body::GenericNack => GENERIC_NACK,
            Body::Other { command_id } => *command_id,
        }
    }
}

/// One SMPP PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    pub command_status: CommandStatus,
    pub sequence_number: u32,
    pub body: Body,
}

/// The header of a PDU, readable even when its body is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub command_length: u32,
    pub command_id: u32,
    pub command_status: CommandStatus,
    pub sequence_number: u32,
}

/// Why bytes are not a PDU, or a PDU cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("command_length {0} is shorter than the 16-octet header")]
    LengthBelowHeader(u32),
    #[error("command_length {length} exceeds the limit of {max} octets")]
    LengthOverLimit { length: u32, max: u32 },
    #[error("frame of {actual} octets but command_length says {declared}")]
    LengthMismatch { declared: u32, actual: usize },
    #[error("PDU ends inside field {field}")]
    Truncated { field: &'static str },
    #[error("field {field} has no NUL within its {max} octets")]
    UnterminatedString { field: &'static str, max: usize },
    #[error("field {field} is longer than {max} octets")]
    FieldTooLong { field: &'static str, max: usize },
    #[error("field {field} is not ASCII without NUL")]
    InvalidText { field: &'static str },
    #[error("field {field} must be empty or 16 characters (SMPP 3.4 §7.1.1)")]
    InvalidTime { field: &'static str },
    #[error("{0} octets after the last field")]
    TrailingOctets(usize),
    #[error("optional parameter 0x{tag:04x} claims {length} octets past the PDU end")]
    TruncatedTlv { tag: u16, length: u16 },
    #[error("sequence_number {0} is outside 1..=0x7FFFFFFF")]
    InvalidSequenceNumber(u32),
}

/// How many octets the next PDU in `buf` takes: `Ok(None)` until its 4-octet command_length
/// has arrived, an error when that length is impossible (the stream cannot be resynchronised).
pub fn frame_length(buf: &[u8]) -> Result<Option<usize>, PduError> {
    let Some(len) = buf.get(..4) else { return Ok(None) };
    let length = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    if (length as usize) < HEADER_LEN {
        return Err(PduError::LengthBelowHeader(length));
    }
    if length > MAX_COMMAND_LENGTH {
        return Err(PduError::LengthOverLimit { length, max: MAX_COMMAND_LENGTH });
    }
    Ok(Some(length as usize))
}

impl Header {
    /// Reads the header of one complete frame (exactly command_length octets).
    pub fn parse(frame: &[u8]) -> Result<Header, PduError> {
        let declared = frame_length(frame)?.ok_or(PduError::Truncated { field: "command_length" })?;
        if declared != frame.len() {
            return Err(PduError::LengthMismatch { declared: declared as u32, actual: frame.len() });
        }
        let word = |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        Ok(Header {
            command_length: declared as u32,
            command_id: word(4),
            command_status: CommandStatus::from_u32(word(8)),
            sequence_number: word(12),
        })
    }
}

/// A cursor over a PDU body that never reads past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, PduError> {
        let b = *self.bytes.get(self.pos).ok_or(PduError::Truncated { field })?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, PduError> {
        Ok(u16::from_be_bytes([self.u8(field)?, self.u8(field)?]))
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], PduError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or(PduError::Truncated { field })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A C-Octet String of at most `max` octets including its NUL (§3.1).
    fn cstring(&mut self, field: &'static str, max: usize) -> Result<String, PduError> {
        let rest = &self.bytes[self.pos..];
        let window = &rest[..rest.len().min(max)];
        let Some(nul) = window.iter().position(|b| *b == 0) else {
            return Err(if rest.len() < max {
                PduError::Truncated { field }
            } else {
                PduError::UnterminatedString { field, max }
            });
        };
        let text = &window[..nul];
        if !text.is_ascii() {
            return Err(PduError::InvalidText { field });
        }
        self.pos += nul + 1;
        Ok(text.iter().map(|b| *b as char).collect())
    }

    /// A time field: empty or exactly 16 characters (§7.1.1).
    fn time(&mut self, field: &'static str) -> Result<String, PduError> {
        let t = self.cstring(field, max_len::TIME)?;
        check_time(&t, field)?;
        Ok(t)
    }

    /// The optional parameters filling the rest of the body (§3.2.4).
    fn tlvs(&mut self) -> Result<Vec<Tlv>, PduError> {
        let mut tlvs = Vec::new();
        while self.remaining() > 0 {
            let tag = self.u16("tlv tag")?;
            let length = self.u16("tlv length")?;
            let value = self
                .take(length as usize, "tlv value")
                .map_err(|_| PduError::TruncatedTlv { tag, length })?;
            tlvs.push(Tlv { tag, value: value.to_vec() });
        }
        Ok(tlvs)
    }

    fn end(&self) -> Result<(), PduError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(PduError::TrailingOctets(n)),
        }
    }
}

fn check_time(t: &str, field: &'static str) -> Result<(), PduError> {
    if t.is_empty() || t.len() == max_len::TIME - 1 { Ok(()) } else { Err(PduError::InvalidTime { field }) }
}

fn put_cstring(out: &mut Vec<u8>, value: &str, field: &'static str, max: usize) -> Result<(), PduError> {
    if !value.is_ascii() || value.as_bytes().contains(&0) {
        return Err(PduError::InvalidText { field });
    }
    if value.len() + 1 > max {
        return Err(PduError::FieldTooLong { field, max: max - 1 });
    }
    out.extend_from_slice(value.as_bytes());
    out.push(0);
    Ok(())
}

fn put_tlvs(out: &mut Vec<u8>, tlvs: &[Tlv]) -> Result<(), PduError> {
    for t in tlvs {
        let length = u16::try_from(t.value.len())
            .map_err(|_| PduError::FieldTooLong { field: "tlv value", max: u16::MAX as usize })?;
        out.extend_from_slice(&t.tag.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&t.value);
    }
    Ok(())
}

impl Pdu {
    /// A request or response with status ESME_ROK.
    pub fn new(sequence_number: u32, body: Body) -> Pdu {
        Pdu { command_status: CommandStatus::Ok, sequence_number, body }
    }

    /// The PDU's octets, header included. Refuses values the spec does not allow (strings over
    /// their maximum, a short_message over 254 octets, a bad sequence_number), so nothing we
    /// send can be malformed.
    pub fn encode(&self) -> Result<Vec<u8>, PduError> {
        if self.sequence_number == 0 || self.sequence_number > MAX_SEQUENCE_NUMBER {
            return Err(PduError::InvalidSequenceNumber(self.sequence_number));
        }
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.body.command_id().to_be_bytes());
        out.extend_from_slice(&self.command_status.to_u32().to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        match &self.body {
            Body::BindTransmitter(b) => {
                put_cstring(&mut out, &b.system_id, "system_id", max_len::SYSTEM_ID)?;
                put_cstring(&mut out, &b.password, "password", max_len::PASSWORD)?;
                put_cstring(&mut out, &b.system_type, "system_type", max_len::SYSTEM_TYPE)?;
                out.extend_from_slice(&[b.interface_version, b.addr_ton, b.addr_npi]);
                put_cstring(&mut out, &b.address_range, "address_range", max_len::ADDRESS_RANGE)?;
            }
            Body::BindTransmitterResp { system_id, tlvs } => {
                put_cstring(&mut out, system_id, "system_id", max_len::SYSTEM_ID)?;
                put_tlvs(&mut out, tlvs)?;
            }
            Body::SubmitSm(s) => {
                put_cstring(&mut out, &s.service_type, "service_type", max_len::SERVICE_TYPE)?;
                out.extend_from_slice(&[s.source_addr_ton, s.source_addr_npi]);
                put_cstring(&mut out, &s.source_addr, "source_addr", max_len::ADDR)?;
                out.extend_from_slice(&[s.dest_addr_ton, s.dest_addr_npi]);
                put_cstring(&mut out, &s.destination_addr, "destination_addr", max_len::ADDR)?;
                out.extend_from_slice(&[s.esm_class, s.protocol_id, s.priority_flag]);
                check_time(&s.schedule_delivery_time, "schedule_delivery_time")?;
                put_cstring(&mut out, &s.schedule_delivery_time, "schedule_delivery_time", max_len::TIME)?;
                check_time(&s.validity_period, "validity_period")?;
                put_cstring(&mut out, &s.validity_period, "validity_period", max_len::TIME)?;
                out.extend_from_slice(&[
                    s.registered_delivery,
                    s.replace_if_present_flag,
                    s.data_coding,
                    s.sm_default_msg_id,
                ]);
                if s.short_message.len() > max_len::SHORT_MESSAGE {
                    return Err(PduError::FieldTooLong {
                        field: "short_message",
                        max: max_len::SHORT_MESSAGE,
                    });
                }
                out.push(s.short_message.len() as u8);
                out.extend_from_slice(&s.short_message);
                put_tlvs(&mut out, &s.tlvs)?;
            }
            Body::SubmitSmResp { message_id } => {
                put_cstring(&mut out, message_id, "message_id", max_len::MESSAGE_ID)?;
            }
            Body::EnquireLink
            | Body::EnquireLinkResp
            | Body::Unbind
            | Body::UnbindResp
            | Body::GenericNack
            | Body::Other { .. } => {}
        }
        let length = out.len() as u32;
        if length > MAX_COMMAND_LENGTH {
            return Err(PduError::LengthOverLimit { length, max: MAX_COMMAND_LENGTH });
        }
        out[..4].copy_from_slice(&length.to_be_bytes());
        Ok(out)
    }

    /// Decodes one complete frame (exactly command_length octets, see [`frame_length`]).
    pub fn decode(frame: &[u8]) -> Result<Pdu, PduError> {
        let header = Header::parse(frame)?;
        let mut r = Reader { bytes: &frame[HEADER_LEN..], pos: 0 };
        let error = header.command_status != CommandStatus::Ok;
        use command_id::*;
        let body = match header.command_id {
            BIND_TRANSMITTER => {
                let b = BindTransmitter {
                    system_id: r.cstring("system_id", max_len::SYSTEM_ID)?,
                    password: r.cstring("password", max_len::PASSWORD)?,
                    system_type: r.cstring("system_type", max_len::SYSTEM_TYPE)?,
                    interface_version: r.u8("interface_version")?,
                    addr_ton: r.u8("addr_ton")?,
                    addr_npi: r.u8("addr_npi")?,
                    address_range: r.cstring("address_range", max_len::ADDRESS_RANGE)?,
                };
                r.end()?;
                Body::BindTransmitter(b)
            }
            BIND_TRANSMITTER_RESP => {
                // An error response may omit the body (§4.1.2).
                let system_id = if error && r.remaining() == 0 {
                    String::new()
                } else {
                    r.cstring("system_id", max_len::SYSTEM_ID)?
                };
                Body::BindTransmitterResp { system_id, tlvs: r.tlvs()? }
            }
            SUBMIT_SM => {
                let service_type = r.cstring("service_type", max_len::SERVICE_TYPE)?;
                let source_addr_ton = r.u8("source_addr_ton")?;
                let source_addr_npi = r.u8("source_addr_npi")?;
                let source_addr = r.cstring("source_addr", max_len::ADDR)?;
                let dest_addr_ton = r.u8("dest_addr_ton")?;
                let dest_addr_npi = r.u8("dest_addr_npi")?;
                let destination_addr = r.cstring("destination_addr", max_len::ADDR)?;
                let esm_class = r.u8("esm_class")?;
                let protocol_id = r.u8("protocol_id")?;
                let priority_flag = r.u8("priority_flag")?;
                let schedule_delivery_time = r.time("schedule_delivery_time")?;
                let validity_period = r.time("validity_period")?;
                let registered_delivery = r.u8("registered_delivery")?;
                let replace_if_present_flag = r.u8("replace_if_present_flag")?;
                let data_coding = r.u8("data_coding")?;
                let sm_default_msg_id = r.u8("sm_default_msg_id")?;
                let sm_length = r.u8("sm_length")? as usize;
                if sm_length > max_len::SHORT_MESSAGE {
                    return Err(PduError::FieldTooLong {
                        field: "short_message",
                        max: max_len::SHORT_MESSAGE,
                    });
                }
                let short_message = r.take(sm_length, "short_message")?.to_vec();
                Body::SubmitSm(SubmitSm {
                    service_type,
                    source_addr_ton,
                    source_addr_npi,
                    source_addr,
                    dest_addr_ton,
                    dest_addr_npi,
                    destination_addr,
                    esm_class,
                    protocol_id,
                    priority_flag,
                    schedule_delivery_time,
                    validity_period,
                    registered_delivery,
                    replace_if_present_flag,
                    data_coding,
                    sm_default_msg_id,
                    short_message,
                    tlvs: r.tlvs()?,
                })
            }
            SUBMIT_SM_RESP => {
                // The body is not returned with an error status (§4.4.2).
                let message_id = if error && r.remaining() == 0 {
                    String::new()
                } else {
                    r.cstring("message_id", max_len::MESSAGE_ID)?
                };
                r.end()?;
                Body::SubmitSmResp { message_id }
            }
            ENQUIRE_LINK | ENQUIRE_LINK_RESP | UNBIND | UNBIND_RESP | GENERIC_NACK => {
                r.end()?;
                match header.command_id {
                    ENQUIRE_LINK => Body::EnquireLink,
                    ENQUIRE_LINK_RESP => Body::EnquireLinkResp,
                    UNBIND => Body::Unbind,
                    UNBIND_RESP => Body::UnbindResp,
                    _ => Body::GenericNack,
                }
            }
            other => Body::Other { command_id: other },
        };
        Ok(Pdu { command_status: header.command_status, sequence_number: header.sequence_number, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn submit(short_message: Vec<u8>) -> SubmitSm {
        SubmitSm {
            service_type: String::new(),
            source_addr_ton: 0,
            source_addr_npi: 0,
            source_addr: String::new(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: "491701234567".into(),
            esm_class: ESM_CLASS_UDHI,
            protocol_id: 0,
            priority_flag: 0,
            schedule_delivery_time: String::new(),
            validity_period: String::new(),
            registered_delivery: 0,
            replace_if_present_flag: 0,
            data_coding: DATA_CODING_8BIT,
            sm_default_msg_id: 0,
            short_message,
            tlvs: vec![],
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn bind_transmitter_bytes() {
        let pdu = Pdu::new(
            1,
            Body::BindTransmitter(BindTransmitter {
                system_id: "omadm".into(),
                password: "secret".into(),
                system_type: "".into(),
                interface_version: INTERFACE_VERSION_34,
                addr_ton: 0,
                addr_npi: 0,
                address_range: "".into(),
            }),
        );
        let bytes = pdu.encode().unwrap();
        // length 0x22 = 16 + "omadm\0" 6 + "secret\0" 7 + "\0" + 3 + "\0"
        let want = hex("00000022 00000002 00000000 00000001 6f6d61646d00 73656372657400 00 34 00 00 00");
        assert_eq!(bytes, want);
        assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
        assert!(!format!("{pdu:?}").contains("secret"));
    }

    #[test]
    fn submit_sm_bytes() {
        let sm = hex("0605040b84c002 010603c4af87");
        let bytes = Pdu::new(7, Body::SubmitSm(submit(sm.clone()))).encode().unwrap();
        let mut want = hex("00000000 00000004 00000000 00000007 00 00 00 00 01 01 34393137303132333435363700
             40 00 00 00 00 00 00 04 00");
        want.push(sm.len() as u8);
        want.extend_from_slice(&sm);
        let len = want.len() as u32;
        want[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(bytes, want);
    }

    #[test]
    fn error_responses_without_body() {
        let throttled = hex("00000010 80000004 00000058 00000009");
        let pdu = Pdu::decode(&throttled).unwrap();
        assert_eq!(pdu.command_status, CommandStatus::Throttled);
        assert_eq!(pdu.body, Body::SubmitSmResp { message_id: String::new() });
        let refused = hex("00000010 80000002 0000000e 00000001");
        assert_eq!(Pdu::decode(&refused).unwrap().command_status, CommandStatus::InvalidPassword);
        // An OK submit_sm_resp must carry its message_id.
        let ok_empty = hex("00000010 80000004 00000000 00000009");
        assert_eq!(Pdu::decode(&ok_empty), Err(PduError::Truncated { field: "message_id" }));
    }

    #[test]
    fn bind_resp_with_sc_interface_version() {
        let bytes = hex("0000001a 80000002 00000000 00000001 534d534300 0210 0001 34");
        let pdu = Pdu::decode(&bytes).unwrap();
        assert_eq!(
            pdu.body,
            Body::BindTransmitterResp {
                system_id: "SMSC".into(),
                tlvs: vec![Tlv { tag: 0x0210, value: vec![0x34] }]
            }
        );
        assert_eq!(pdu.encode().unwrap(), bytes);
    }

    #[test]
    fn hostile_frames_are_typed_errors() {
        assert_eq!(frame_length(&hex("000000")), Ok(None));
        assert_eq!(frame_length(&hex("0000000f")), Err(PduError::LengthBelowHeader(15)));
        assert_eq!(
            frame_length(&hex("7fffffff")),
            Err(PduError::LengthOverLimit { length: 0x7fff_ffff, max: MAX_COMMAND_LENGTH })
        );
        assert!(matches!(
            Pdu::decode(&hex("00000014 80000004 00000000 00000001 4142")),
            Err(PduError::LengthMismatch { .. })
        ));
        // message_id without NUL in 65 octets
        let mut long = hex("00000000 80000004 00000000 00000001");
        long.extend(std::iter::repeat_n(b'A', 70));
        long.push(0);
        let len = long.len() as u32;
        long[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(
            Pdu::decode(&long),
            Err(PduError::UnterminatedString { field: "message_id", max: max_len::MESSAGE_ID })
        );
        // sm_length past the end
        let mut trunc = Pdu::new(1, Body::SubmitSm(submit(vec![1, 2, 3]))).encode().unwrap();
        trunc.truncate(trunc.len() - 1);
        let len = trunc.len() as u32;
        trunc[..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(Pdu::decode(&trunc), Err(PduError::Truncated { field: "short_message" }));
        // enquire_link with a body
        assert_eq!(
            Pdu::decode(&hex("00000011 00000015 00000000 00000001 00")),
            Err(PduError::TrailingOctets(1))
        );
        // TLV longer than the PDU
        assert_eq!(
            Pdu::decode(&hex("00000017 80000002 00000000 00000001 5300 0210 0005 34")),
            Err(PduError::TruncatedTlv { tag: 0x0210, length: 5 })
        );
        // non-ASCII string
        assert_eq!(
            Pdu::decode(&hex("00000012 80000004 00000000 00000001 ff00")),
            Err(PduError::InvalidText { field: "message_id" })
        );
    }

    #[test]
    fn encode_refuses_out_of_spec_values() {
        let mut s = submit(vec![0; 255]);
        assert!(matches!(
            Pdu::new(1, Body::SubmitSm(s.clone())).encode(),
            Err(PduError::FieldTooLong { .. })
        ));
        s.short_message = vec![];
        s.destination_addr = "1".repeat(21);
        assert!(matches!(
            Pdu::new(1, Body::SubmitSm(s.clone())).encode(),
            Err(PduError::FieldTooLong { .. })
        ));
        s.destination_addr = "49\u{0}1".into();
        assert!(matches!(Pdu::new(1, Body::SubmitSm(s.clone())).encode(), Err(PduError::InvalidText { .. })));
        s.destination_addr = "49".into();
        s.validity_period = "000001000000000".into();
        assert!(matches!(Pdu::new(1, Body::SubmitSm(s)).encode(), Err(PduError::InvalidTime { .. })));
        assert_eq!(Pdu::new(0, Body::EnquireLink).encode(), Err(PduError::InvalidSequenceNumber(0)));
        assert_eq!(
            Pdu::new(0x8000_0000, Body::EnquireLink).encode(),
            Err(PduError::InvalidSequenceNumber(0x8000_0000))
        );
    }

    #[test]
    fn command_status_table() {
        assert_eq!(CommandStatus::from_u32(0x58), CommandStatus::Throttled);
        assert_eq!(CommandStatus::from_u32(0x14), CommandStatus::MessageQueueFull);
        assert_eq!(CommandStatus::from_u32(0x0B), CommandStatus::InvalidDestinationAddress);
        assert_eq!(CommandStatus::from_u32(0x0D), CommandStatus::BindFailed);
        assert_eq!(CommandStatus::from_u32(0x0400), CommandStatus::Other(0x400));
        assert_eq!(CommandStatus::Other(0x400).to_u32(), 0x400);
        for (s, v, name) in STATUS_TABLE {
            assert_eq!(CommandStatus::from_u32(*v), *s);
            assert_eq!(s.to_u32(), *v);
            assert_eq!(s.name(), Some(*name));
        }
        assert!(CommandStatus::Throttled.is_temporary());
        assert!(CommandStatus::MessageQueueFull.is_temporary());
        assert!(CommandStatus::SystemError.is_temporary());
        assert!(!CommandStatus::InvalidDestinationAddress.is_temporary());
        assert!(!CommandStatus::InvalidMessageLength.is_temporary());
        assert_eq!(CommandStatus::Throttled.to_string(), "ESME_RTHROTTLED (0x00000058)");
    }

    fn ascii(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0x20u8..0x7f, 0..max).prop_map(|v| v.into_iter().map(char::from).collect())
    }

    fn time() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[0-9]{12}[0-9][0-4][0-9][+R-]"]
    }

    fn tlvs() -> impl Strategy<Value = Vec<Tlv>> {
        proptest::collection::vec(
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..20))
                .prop_map(|(tag, value)| Tlv { tag, value }),
            0..3,
        )
    }

    fn body() -> impl Strategy<Value = Body> {
        let bind =
            (ascii(15), ascii(8), ascii(12), any::<[u8; 3]>(), ascii(40)).prop_map(|(s, p, t, b, r)| {
                Body::BindTransmitter(BindTransmitter {
                    system_id: s,
                    password: p,
                    system_type: t,
                    interface_version: b[0],
                    addr_ton: b[1],
                    addr_npi: b[2],
                    address_range: r,
                })
            });
        let submit = (
            (ascii(5), ascii(20), ascii(20), any::<[u8; 4]>()),
            (time(), time(), any::<[u8; 8]>()),
            proptest::collection::vec(any::<u8>(), 0..=254),
            tlvs(),
        )
            .prop_map(|((st, src, dst, a), (sched, valid, b), sm, tlvs)| {
                Body::SubmitSm(SubmitSm {
                    service_type: st,
                    source_addr_ton: a[0],
                    source_addr_npi: a[1],
                    source_addr: src,
                    dest_addr_ton: a[2],
                    dest_addr_npi: a[3],
                    destination_addr: dst,
                    esm_class: b[0],
                    protocol_id: b[1],
                    priority_flag: b[2],
                    schedule_delivery_time: sched,
                    validity_period: valid,
                    registered_delivery: b[3],
                    replace_if_present_flag: b[4],
                    data_coding: b[5],
                    sm_default_msg_id: b[6],
                    short_message: sm,
                    tlvs,
                })
            });
        prop_oneof![
            bind,
            submit,
            (ascii(15), tlvs()).prop_map(|(system_id, tlvs)| Body::BindTransmitterResp { system_id, tlvs }),
            ascii(64).prop_map(|message_id| Body::SubmitSmResp { message_id }),
            Just(Body::EnquireLink),
            Just(Body::EnquireLinkResp),
            Just(Body::Unbind),
            Just(Body::UnbindResp),
            Just(Body::GenericNack),
        ]
    }

    proptest! {
        #[test]
        fn round_trip(body in body(), seq in 1..=MAX_SEQUENCE_NUMBER, status in any::<u32>()) {
            // An error response may drop its body; keep the status OK when the body matters.
            let keep = matches!(body, Body::BindTransmitterResp { .. } | Body::SubmitSmResp { .. });
            let command_status = if keep { CommandStatus::Ok } else { CommandStatus::from_u32(status) };
            let pdu = Pdu { command_status, sequence_number: seq, body };
            let bytes = pdu.encode().unwrap();
            prop_assert_eq!(frame_length(&bytes).unwrap(), Some(bytes.len()));
            prop_assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Some(n)) = frame_length(&bytes)
                && n <= bytes.len()
            {
                let _ = Pdu::decode(&bytes[..n]);
            }
            let _ = Pdu::decode(&bytes);
        }

        #[test]
        fn decode_mutated_submit_never_panics(i in 16usize..60, v in any::<u8>()) {
            let mut bytes = Pdu::new(3, Body::SubmitSm(submit(vec![7; 40]))).encode().unwrap();
            let n = bytes.len();
            bytes[i % n] = v;
            let _ = Pdu::decode(&bytes);
        }
    }
}
