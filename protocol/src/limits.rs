//! Hard bounds on decoded input. Every decoder takes a [`Limits`]; exceeding one is a typed
//! [`DecodeError`](crate::DecodeError), never a panic or an unbounded allocation.

/// Bounds applied while decoding one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted encoded message, in bytes.
    pub max_message_bytes: usize,
    /// Deepest element nesting (the root `SyncML` is depth 1).
    pub max_depth: usize,
    /// Most elements in one message.
    pub max_elements: usize,
    /// Longest single string (text content, string-table entry, inline string), in bytes.
    pub max_string_bytes: usize,
    /// Longest single WBXML OPAQUE, in bytes.
    pub max_opaque_bytes: usize,
}

impl Limits {
    /// Defaults sized for DM traffic: a message is at most 1 MiB (far above the MaxMsgSize
    /// real clients announce, e.g. 16 384 by libdmclient and 122 880 by the Motorola engine,
    /// FACTS.md C.5); large objects travel in chunks below that.
    pub const DEFAULT: Limits = Limits {
        max_message_bytes: 1024 * 1024,
        max_depth: 32,
        max_elements: 65_536,
        max_string_bytes: 1024 * 1024,
        max_opaque_bytes: 1024 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
