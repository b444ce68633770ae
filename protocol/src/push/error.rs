//! [`PushError`]: why a WSP Push PDU or WDP-over-SMS user data could not be built or read.

/// Why a push PDU, one of its values or an SMS segment was rejected.
///
/// Every variant that refers to received bytes carries the byte offset into the input it was
/// read from (for SMS segments: into that segment).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The input ends inside a field.
    #[error("unexpected end of input at byte {offset}")]
    UnexpectedEof {
        /// Where the missing byte would be.
        offset: usize,
    },
    /// The input is longer than the decoder accepts.
    #[error("input of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The PDU type is not Push (0x06).
    #[error("WSP PDU type 0x{pdu_type:02x} is not Push (0x06)")]
    NotPush {
        /// The received PDU type.
        pdu_type: u8,
    },
    /// Bytes that do not follow the WSP or SMS encoding rules.
    #[error("malformed push data at byte {offset}: {reason}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A content type we do not handle (well-known code, or the first bytes of its text).
    #[error("unsupported content type {0}")]
    UnsupportedContentType(String),
    /// A textual X-Wap-Application-Id that is not a registered push application.
    #[error("unknown X-Wap-Application-Id {0:?}")]
    UnknownApplicationId(String),
    /// A MAC parameter that is not 40 hexadecimal characters (HMAC-SHA1).
    #[error("MAC parameter is not 40 hexadecimal characters")]
    InvalidMac,
    /// A SEC value outside the Short-integer range 0..=127.
    #[error("SEC value {0} is not a Short-integer (0..=127)")]
    InvalidSec(u8),
    /// A header or parameter that may appear once appears twice.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// More headers or parameters than the decoder accepts.
    #[error("more than {max} headers or parameters")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// The payload needs more than 255 concatenated SMS.
    #[error("payload of {len} bytes needs more than 255 SMS segments")]
    TooManySegments {
        /// Payload length.
        len: usize,
    },
    /// An SMS segment lacks the 16-bit application port IE (0x05).
    #[error("SMS segment {index} has no 16-bit application port addressing")]
    MissingPorts {
        /// Index of the segment in the list given.
        index: usize,
    },
    /// Segments that do not form one complete concatenated message.
    #[error("SMS segments do not reassemble: {0}")]
    Reassembly(&'static str),
}
