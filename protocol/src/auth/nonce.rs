//! [`Nonce`]: the binary nonce of `syncml:auth-md5`, `x-syncml-hmac` and package 0.

use std::fmt;

use super::{AuthError, b64, b64_decode};

/// A nonce as the bytes that go into a digest.
///
/// On the wire (`<NextNonce>` in a `<Chal>`, DMAcc AAuthData, DM 1.1.2 ClientNonce/ServerNonce)
/// a nonce is Base64 text; the digest uses the **decoded** bytes (FACTS D.2, L.3; libdmclient
/// `utils.c`). The specification recommends at least 128 bits, unpredictable, and a fresh
/// nonce per session (FACTS D.3; OMA-TS-DM_Security-V1_2 §5): build those with
/// [`Nonce::generate`] from random bytes the caller draws (this crate has no RNG).
///
/// `Debug` prints only the length, `Nonce(<16 bytes>)`. Equality is constant-time.
#[derive(Clone, Default)]
pub struct Nonce(Vec<u8>);

impl Nonce {
    /// The resynchronisation nonce "0x00000000" as four zero bytes (Base64
    /// [`Nonce::RESYNC_B64`]), as the Motorola engine hard-codes it (`SERVER_RESYNC_NONCE` in
    /// `dmSessionDefs.h`): a client whose stored nonce fails to verify a package-0 digest
    /// retries with it, and then uses it in packages 1–3 until a new nonce is exchanged
    /// (FACTS D.3, E.2, L.2).
    pub const RESYNC: [u8; 4] = [0; 4];

    /// Base64 text of [`Nonce::RESYNC`].
    pub const RESYNC_B64: &'static str = "AAAAAA==";

    /// libdmclient's reading of the resync nonce: the 10-character ASCII text `0x00000000`
    /// (`package0.c`; FACTS L.2). Not normative; a server may try it as a last resort.
    pub const RESYNC_LIBDMCLIENT: &'static [u8] = b"0x00000000";

    /// Length in bytes of a nonce made by [`Nonce::generate`] (128 bits).
    pub const GENERATED_LEN: usize = 16;

    /// A nonce with the given bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Nonce(bytes.into())
    }

    /// A fresh nonce from 16 random bytes supplied by the caller (from a CSPRNG).
    pub fn generate(rng_bytes: [u8; 16]) -> Self {
        Nonce(rng_bytes.to_vec())
    }

    /// The resynchronisation nonce, four zero bytes ([`Nonce::RESYNC`]).
    pub fn resync() -> Self {
        Nonce(Self::RESYNC.to_vec())
    }

    /// Whether this is the four-zero-byte resynchronisation nonce.
    pub fn is_resync(&self) -> bool {
        super::ct_eq(&self.0, &Self::RESYNC)
    }

    /// Decodes the Base64 text of a nonce (standard alphabet). Surrounding or embedded ASCII
    /// whitespace and missing padding are tolerated; an empty text gives an empty nonce.
    pub fn from_b64(text: &str) -> Result<Self, AuthError> {
        b64_decode(text, "nonce").map(Nonce)
    }

    /// The Base64 text of the nonce (standard alphabet, padded), as sent in `<NextNonce>`.
    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    /// The nonce bytes, as used in digests.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The nonce bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the nonce is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce(<{} bytes>)", self.0.len())
    }
}

impl PartialEq for Nonce {
    fn eq(&self, other: &Self) -> bool {
        super::ct_eq(&self.0, &other.0)
    }
}

impl Eq for Nonce {}

impl From<Vec<u8>> for Nonce {
    fn from(bytes: Vec<u8>) -> Self {
        Nonce(bytes)
    }
}

impl From<&[u8]> for Nonce {
    fn from(bytes: &[u8]) -> Self {
        Nonce(bytes.to_vec())
    }
}

impl AsRef<[u8]> for Nonce {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_tolerance() {
        let n = Nonce::from_b64("Y2xpZW50bm9uY2U=").unwrap();
        assert_eq!(n.as_bytes(), b"clientnonce");
        assert_eq!(n.to_b64(), "Y2xpZW50bm9uY2U=");
        assert_eq!(Nonce::from_b64("  Y2xpZW50bm9uY2U\r\n").unwrap(), n);
        assert_eq!(Nonce::from_b64("").unwrap().len(), 0);
    }

    #[test]
    fn malformed_base64_is_an_error() {
        assert_eq!(Nonce::from_b64("Y2xp!W50"), Err(AuthError::InvalidBase64 { field: "nonce" }));
        assert!(Nonce::from_b64("Y").is_err());
        assert!(Nonce::from_b64("Y2xpZW50bm9uY2U=garbage").is_err());
    }

    #[test]
    fn resync_is_four_zero_bytes() {
        let r = Nonce::resync();
        assert_eq!(r.as_bytes(), &[0, 0, 0, 0]);
        assert_eq!(r.to_b64(), Nonce::RESYNC_B64);
        assert_eq!(Nonce::from_b64("AAAAAA==").unwrap(), r);
        assert!(r.is_resync());
        assert!(!Nonce::new(Nonce::RESYNC_LIBDMCLIENT).is_resync());
        assert!(!Nonce::new([0u8; 5]).is_resync());
    }

    #[test]
    fn generate_uses_the_given_bytes() {
        let n = Nonce::generate([7; 16]);
        assert_eq!(n.as_bytes(), &[7; 16]);
        assert_eq!(n.len(), Nonce::GENERATED_LEN);
    }

    #[test]
    fn debug_hides_the_value() {
        let n = Nonce::new(b"clientnonce".to_vec());
        let printed = format!("{n:?}");
        assert_eq!(printed, "Nonce(<11 bytes>)");
        assert!(!printed.contains("client"));
    }
}
