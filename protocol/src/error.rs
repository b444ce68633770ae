//! Errors of the codecs. Each names what was wrong and where (byte offset or element).

/// Why a document could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The encoded message is larger than [`Limits::max_message_bytes`](crate::Limits).
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { size: usize, limit: usize },
    /// Elements nest deeper than [`Limits::max_depth`](crate::Limits).
    #[error("elements nest deeper than {limit} at byte {offset}")]
    TooDeep { limit: usize, offset: usize },
    /// More elements than [`Limits::max_elements`](crate::Limits).
    #[error("more than {limit} elements (at byte {offset})")]
    TooManyElements { limit: usize, offset: usize },
    /// A string or OPAQUE longer than its limit.
    #[error("a string or opaque value of {len} bytes at byte {offset} exceeds the limit of {limit}")]
    ValueTooLong { len: usize, limit: usize, offset: usize },
    /// The input ends before the document does.
    #[error("unexpected end of input at byte {offset}")]
    UnexpectedEof { offset: usize },
    /// Ill-formed XML, or XML that uses what DM forbids (a DTD's entities, processing).
    #[error("malformed XML at byte {offset}: {reason}")]
    Xml { offset: usize, reason: String },
    /// Ill-formed WBXML.
    #[error("malformed WBXML at byte {offset}: {reason}")]
    Wbxml { offset: usize, reason: String },
    /// Text that is not valid UTF-8 (or not valid in the declared charset).
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// The document is well-formed but is not a valid SyncML DM message.
    #[error("<{element}> at byte {offset}: {reason}")]
    Structure { element: &'static str, reason: String, offset: usize },
    /// The input is neither XML nor WBXML.
    #[error("input is neither XML nor WBXML")]
    UnknownEncoding,
}
