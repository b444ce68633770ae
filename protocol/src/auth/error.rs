//! [`AuthError`]: why a credential could not be parsed or did not verify.

/// Why a credential, a nonce or an `x-syncml-hmac` header was rejected.
///
/// Messages never contain a secret, a nonce or a received credential value; the two variants
/// that echo received text ([`AuthError::UnsupportedAlgorithm`], [`AuthError::UnknownAuthType`])
/// carry at most [`AuthError::ECHO_LIMIT`] characters of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A received value is not Base64 (standard alphabet; whitespace and missing padding are
    /// tolerated).
    #[error("{field} is not valid Base64")]
    InvalidBase64 {
        /// Which value (`"Cred Data"`, `"nonce"`, `"mac"`, ...).
        field: &'static str,
    },
    /// A received digest or MAC does not decode to the 16 bytes of an MD5 digest.
    #[error("{field} decodes to {len} bytes, expected a 16-byte MD5 digest")]
    BadDigestLength {
        /// Which value.
        field: &'static str,
        /// Its decoded length.
        len: usize,
    },
    /// Decoded text is not UTF-8.
    #[error("{field} is not valid UTF-8")]
    NotUtf8 {
        /// Which value.
        field: &'static str,
    },
    /// Decoded `syncml:auth-basic` data has no `:` between user name and password.
    #[error("basic credentials lack the ':' between user name and password")]
    MissingColon,
    /// The credential is well-formed but wrong (wrong user, password, nonce or body).
    #[error("credentials do not match")]
    Mismatch,
    /// The `x-syncml-hmac` header value is longer than [`crate::auth::hmac::MAX_HEADER_LEN`].
    #[error("x-syncml-hmac header value is {len} bytes long, the limit is {max}")]
    HeaderTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The `x-syncml-hmac` header value does not follow `name=value, name="value", ...`.
    #[error("malformed x-syncml-hmac header: {0}")]
    MalformedHeader(&'static str),
    /// A mandatory `x-syncml-hmac` parameter (`username`, `mac`) is absent or empty.
    #[error("x-syncml-hmac header lacks the mandatory `{0}` parameter")]
    MissingParam(&'static str),
    /// An `x-syncml-hmac` parameter appears more than once.
    #[error("x-syncml-hmac header repeats the `{0}` parameter")]
    DuplicateParam(&'static str),
    /// The `x-syncml-hmac` `algorithm` is not MD5, the only one defined.
    #[error("unsupported x-syncml-hmac algorithm {0:?} (only MD5 is defined)")]
    UnsupportedAlgorithm(String),
    /// A Meta Type or DMAcc AAuthType that names no known credential type.
    #[error("unknown authentication type {0:?}")]
    UnknownAuthType(String),
}

impl AuthError {
    /// How many characters of received text an error echoes at most.
    pub const ECHO_LIMIT: usize = 40;

    /// Truncates received text for echoing in an error.
    pub(crate) fn echo(text: &str) -> String {
        text.chars().take(Self::ECHO_LIMIT).collect()
    }
}
