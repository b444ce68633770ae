//! The DM notification, package 0 (OMA-TS-DM_Notification-V1_2 General Package #0; FACTS.md
//! E.1, E.2, L.1, L.2): the server asks a device to open a DM session.
//!
//! Layout, big-endian: `digest(16) | version(10 bits) ui-mode(2) initiator(1) future-use(27) |
//! session-id(16) | server-id length(8) | server-id | vendor-specific`. The digest is
//! [`notification_digest`] over everything after it (the "trigger"). It travels in a WSP push
//! with content type 0xC4 and application id 0x07 ([`crate::push`], FACTS E.3).

use crate::auth::{Nonce, Secret, ct_eq, notification_digest, notification_digest_with_secret};

/// Length of the MD5 digest that opens the package.
pub const DIGEST_LEN: usize = 16;
/// Shortest package: digest, 5 header bytes, session id and length byte (FACTS E.1; the
/// Motorola engine rejects shorter ones).
pub const MIN_LEN: usize = 24;
/// Longest package we build or read: what 255 concatenated SMS carry (255 × 128 octets, FACTS
/// F.2).
pub const MAX_LEN: usize = 255 * 128;

/// The 10-bit version field: the notification version × 10.
///
/// The spec text and its own example send `0000001011` = 11 for DM 1.2 (FACTS E.1, L.1), and
/// libdmclient accepts only 11; we send 11 for DM 1.2 and DM 1.1.2 alike. On input any value is
/// accepted (some devices are said to send 12 for 1.2; the Motorola and Nokia clients ignore
/// the field), so the receiver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotificationVersion(u16);

impl NotificationVersion {
    /// What we send for DM 1.2.
    pub const DM_1_2: Self = Self(11);
    /// What we send for DM 1.1.2: the same field value (FACTS L.1, unverified for 1.1.2).
    pub const DM_1_1_2: Self = Self(11);
    /// Largest value of the 10-bit field.
    pub const MAX: u16 = 0x3FF;

    /// A version field value; `None` above [`NotificationVersion::MAX`].
    pub fn new(value: u16) -> Option<Self> {
        (value <= Self::MAX).then_some(Self(value))
    }

    /// The field value.
    pub const fn value(self) -> u16 {
        self.0
    }
}

/// The ui-mode field: how much the device involves the user before connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UiMode {
    /// 0: the device decides.
    NotSpecified,
    /// 1: connect without telling the user.
    Background,
    /// 2: tell the user, then connect.
    Informative,
    /// 3: ask the user first.
    UserInteraction,
}

impl UiMode {
    const fn bits(self) -> u64 {
        match self {
            Self::NotSpecified => 0,
            Self::Background => 1,
            Self::Informative => 2,
            Self::UserInteraction => 3,
        }
    }

    const fn from_bits(bits: u64) -> Self {
        match bits & 3 {
            0 => Self::NotSpecified,
            1 => Self::Background,
            2 => Self::Informative,
            _ => Self::UserInteraction,
        }
    }
}

/// The initiator field: who asked for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// 0: the client or its user.
    Client,
    /// 1: the server.
    Server,
}

/// Why a notification could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotificationError {
    /// Fewer than [`MIN_LEN`] bytes.
    #[error("package 0 of {len} bytes is shorter than {MIN_LEN}")]
    TooShort {
        /// Input length.
        len: usize,
    },
    /// More than [`MAX_LEN`] bytes.
    #[error("package 0 of {len} bytes is longer than {MAX_LEN}")]
    TooLong {
        /// Length.
        len: usize,
    },
    /// The server-id length byte points past the end.
    #[error("server-id length {declared} exceeds the {available} bytes left")]
    ServerIdLength {
        /// The length byte.
        declared: usize,
        /// Bytes after it.
        available: usize,
    },
    /// A server identifier longer than the length byte can say.
    #[error("server identifier of {len} bytes is longer than 255")]
    ServerIdTooLong {
        /// Its length.
        len: usize,
    },
    /// The server identifier is not UTF-8.
    #[error("server identifier is not UTF-8")]
    ServerIdNotUtf8,
    /// Session id 0 (the field ranges over 1..=0xFFFF).
    #[error("session id 0 is not allowed")]
    SessionIdZero,
}

/// A DM notification, without its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The version field.
    pub version: NotificationVersion,
    /// The ui-mode field.
    pub ui_mode: UiMode,
    /// The initiator field.
    pub initiator: Initiator,
    /// 1..=0xFFFF; the device echoes it in SyncHdr/SessionID ([`Notification::session_id_hex`]).
    pub session_id: u16,
    /// The ServerID the device has an account for (at most 255 bytes of UTF-8).
    pub server_id: String,
    /// The vendor-specific tail; usually empty.
    pub vendor_specific: Vec<u8>,
}

/// Which nonce made a received notification verify ([`verify_with_resync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceUsed {
    /// The nonce stored for the server.
    Stored,
    /// Four zero bytes, the resynchronisation nonce ([`Nonce::RESYNC`]): the device then
    /// authenticates with it until new nonces are exchanged (FACTS E.2).
    Resync,
}

impl Notification {
    /// A server-initiated, background notification for DM 1.2.
    pub fn new(server_id: impl Into<String>, session_id: u16) -> Self {
        Self {
            version: NotificationVersion::DM_1_2,
            ui_mode: UiMode::Background,
            initiator: Initiator::Server,
            session_id,
            server_id: server_id.into(),
            vendor_specific: Vec::new(),
        }
    }

    /// The trigger: every byte after the digest. Future-use bits are zero.
    pub fn trigger(&self) -> Result<Vec<u8>, NotificationError> {
        let id = self.server_id.as_bytes();
        let id_len =
            u8::try_from(id.len()).map_err(|_| NotificationError::ServerIdTooLong { len: id.len() })?;
        if self.session_id == 0 {
            return Err(NotificationError::SessionIdZero);
        }
        let len = MIN_LEN + id.len() + self.vendor_specific.len();
        if len > MAX_LEN {
            return Err(NotificationError::TooLong { len });
        }
        let initiator = match self.initiator {
            Initiator::Client => 0,
            Initiator::Server => 1,
        };
        let header = (u64::from(self.version.value()) << 54)
            | (self.ui_mode.bits() << 52)
            | (initiator << 51)
            | (u64::from(self.session_id) << 8)
            | u64::from(id_len);
        let mut out = Vec::with_capacity(len - DIGEST_LEN);
        out.extend_from_slice(&header.to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.vendor_specific);
        Ok(out)
    }

    /// The package, digest first, for the server's `password` as the device stores it (SRVCRED
    /// AAuthSecret; DM 1.1.2 ServerPW) with `self.server_id` as the name, and the decoded
    /// server `nonce` (or [`Nonce::RESYNC`] to resynchronise, FACTS E.2).
    pub fn encode(&self, password: &str, nonce: &[u8]) -> Result<Vec<u8>, NotificationError> {
        let trigger = self.trigger()?;
        Ok(with_digest(notification_digest(&self.server_id, password, nonce, &trigger), trigger))
    }

    /// [`Notification::encode`] from the stored `B64(H(name ":" password))`
    /// ([`crate::auth::md5_secret`]), for servers that keep no clear password or whose SRVCRED
    /// AAuthName differs from the ServerID.
    pub fn encode_with_secret(&self, secret: &Secret, nonce: &[u8]) -> Result<Vec<u8>, NotificationError> {
        let trigger = self.trigger()?;
        Ok(with_digest(notification_digest_with_secret(secret, nonce, &trigger), trigger))
    }

    /// Reads a package: the digest as received and the fields. Future-use bits are ignored; the
    /// digest is not checked (see [`verify`]).
    pub fn decode(bytes: &[u8]) -> Result<([u8; DIGEST_LEN], Self), NotificationError> {
        if bytes.len() < MIN_LEN {
            return Err(NotificationError::TooShort { len: bytes.len() });
        }
        if bytes.len() > MAX_LEN {
            return Err(NotificationError::TooLong { len: bytes.len() });
        }
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&bytes[..DIGEST_LEN]);
        let mut header = [0u8; 8];
        header.copy_from_slice(&bytes[DIGEST_LEN..MIN_LEN]);
        let header = u64::from_be_bytes(header);
        let session_id = ((header >> 8) & 0xFFFF) as u16;
        if session_id == 0 {
            return Err(NotificationError::SessionIdZero);
        }
        let declared = (header & 0xFF) as usize;
        let rest = &bytes[MIN_LEN..];
        let id = rest
            .get(..declared)
            .ok_or(NotificationError::ServerIdLength { declared, available: rest.len() })?;
        let server_id = std::str::from_utf8(id).map_err(|_| NotificationError::ServerIdNotUtf8)?;
        let notification = Self {
            version: NotificationVersion(((header >> 54) & 0x3FF) as u16),
            ui_mode: UiMode::from_bits(header >> 52),
            initiator: if (header >> 51) & 1 == 1 { Initiator::Server } else { Initiator::Client },
            session_id,
            server_id: server_id.to_owned(),
            vendor_specific: rest[declared..].to_vec(),
        };
        Ok((digest, notification))
    }

    /// The session id as the device writes SyncHdr/SessionID: uppercase hex without leading
    /// zeros (FACTS E.1), e.g. 0x1234 → `1234`, 0x00AB → `AB`.
    pub fn session_id_hex(&self) -> String {
        format!("{:X}", self.session_id)
    }
}

fn with_digest(digest: [u8; DIGEST_LEN], trigger: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(DIGEST_LEN + trigger.len());
    out.extend_from_slice(&digest);
    out.extend(trigger);
    out
}

/// Whether `bytes` is a well-formed package whose digest matches `server_id`, `password` and
/// `nonce`. Constant time in the digest comparison.
pub fn verify(bytes: &[u8], server_id: &str, password: &str, nonce: &[u8]) -> bool {
    check(bytes, |trigger| notification_digest(server_id, password, nonce, trigger))
}

/// [`verify`] with the stored `B64(H(name ":" password))`.
pub fn verify_with_secret(bytes: &[u8], secret: &Secret, nonce: &[u8]) -> bool {
    check(bytes, |trigger| notification_digest_with_secret(secret, nonce, trigger))
}

/// What a device does (FACTS E.2): verify with the stored nonce, then with the all-zero
/// resynchronisation nonce. Returns which one matched, or `None`.
pub fn verify_with_resync(
    bytes: &[u8],
    server_id: &str,
    password: &str,
    stored_nonce: &[u8],
) -> Option<NonceUsed> {
    if verify(bytes, server_id, password, stored_nonce) {
        Some(NonceUsed::Stored)
    } else if verify(bytes, server_id, password, &Nonce::RESYNC) {
        Some(NonceUsed::Resync)
    } else {
        None
    }
}

fn check(bytes: &[u8], digest: impl FnOnce(&[u8]) -> [u8; DIGEST_LEN]) -> bool {
    Notification::decode(bytes).is_ok() && ct_eq(&digest(&bytes[DIGEST_LEN..]), &bytes[..DIGEST_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PKG0: &[u8] = include_bytes!("../tests/vectors/spec_pkg0.bin");
    const SERVER: &str = "com.mgmtsrv.manage";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn example() -> Notification {
        Notification {
            version: NotificationVersion::DM_1_2,
            ui_mode: UiMode::Background,
            initiator: Initiator::Client,
            session_id: 0x1234,
            server_id: SERVER.into(),
            vendor_specific: vec![],
        }
    }

    #[test]
    fn encodes_the_pkg0_vector() {
        assert_eq!(example().encode("srvpwd", b"srvnonce").unwrap(), PKG0);
        let secret = crate::auth::md5_secret(SERVER, "srvpwd");
        assert_eq!(example().encode_with_secret(&secret, b"srvnonce").unwrap(), PKG0);
        assert_eq!(hex(&example().trigger().unwrap()[..8]), "02d0000000123412");
    }

    #[test]
    fn resync_digest() {
        let bytes = example().encode("srvpwd", &Nonce::RESYNC).unwrap();
        assert_eq!(hex(&bytes[..16]), "e37fdc0f8e9070fc31b0967910b921af");
        assert_eq!(verify_with_resync(&bytes, SERVER, "srvpwd", b"srvnonce"), Some(NonceUsed::Resync));
        assert_eq!(verify_with_resync(PKG0, SERVER, "srvpwd", b"srvnonce"), Some(NonceUsed::Stored));
        assert_eq!(verify_with_resync(PKG0, SERVER, "other", b"srvnonce"), None);
    }

    #[test]
    fn decodes_the_pkg0_vector() {
        let (digest, n) = Notification::decode(PKG0).unwrap();
        assert_eq!(hex(&digest), "2e84b4d47d65793a313fb4b5ffcbaac5");
        assert_eq!(n, example());
        assert_eq!(n.session_id_hex(), "1234");
        assert!(verify(PKG0, SERVER, "srvpwd", b"srvnonce"));
        assert!(!verify(PKG0, SERVER, "srvpwd", b"srvnoncf"));
        let secret = crate::auth::md5_secret(SERVER, "srvpwd");
        assert!(verify_with_secret(PKG0, &secret, b"srvnonce"));
    }

    #[test]
    fn accepts_other_versions_and_fields_on_input() {
        let mut n = example();
        n.version = NotificationVersion::new(12).unwrap();
        n.ui_mode = UiMode::UserInteraction;
        n.initiator = Initiator::Server;
        n.vendor_specific = vec![0xFF, 0];
        let mut bytes = n.encode("pw", b"x").unwrap();
        assert_eq!(bytes[16..18], [0x03, 0x38]);
        bytes[20] = 0x7F; // future-use bits are ignored
        assert_eq!(Notification::decode(&bytes).unwrap().1, n);
        assert_eq!(NotificationVersion::new(0x400), None);
    }

    #[test]
    fn session_id_hex_has_no_leading_zeros() {
        let mut n = example();
        n.session_id = 0x00AB;
        assert_eq!(n.session_id_hex(), "AB");
        n.session_id = 0xFFFF;
        assert_eq!(n.session_id_hex(), "FFFF");
    }

    #[test]
    fn encode_refuses_what_the_fields_cannot_carry() {
        let mut n = example();
        n.session_id = 0;
        assert_eq!(n.encode("p", b""), Err(NotificationError::SessionIdZero));
        let mut n = example();
        n.server_id = "s".repeat(256);
        assert_eq!(n.encode("p", b""), Err(NotificationError::ServerIdTooLong { len: 256 }));
        n.server_id = "s".repeat(255);
        assert!(n.encode("p", b"").is_ok());
        n.vendor_specific = vec![0; MAX_LEN];
        assert!(matches!(n.encode("p", b""), Err(NotificationError::TooLong { .. })));
    }

    #[test]
    fn truncated_and_corrupted_input_errors() {
        for n in 0..PKG0.len() {
            let r = Notification::decode(&PKG0[..n]);
            assert!(r.is_err(), "prefix {n}");
            assert!(!verify(&PKG0[..n], SERVER, "srvpwd", b"srvnonce"));
        }
        let mut long_len = PKG0.to_vec();
        long_len[23] = 19;
        assert_eq!(
            Notification::decode(&long_len),
            Err(NotificationError::ServerIdLength { declared: 19, available: 18 })
        );
        let mut zero = PKG0.to_vec();
        zero[21..23].fill(0);
        assert_eq!(Notification::decode(&zero), Err(NotificationError::SessionIdZero));
        let mut bad_utf8 = PKG0.to_vec();
        bad_utf8[24] = 0xC3;
        assert_eq!(Notification::decode(&bad_utf8), Err(NotificationError::ServerIdNotUtf8));
        assert!(matches!(
            Notification::decode(&vec![1; MAX_LEN + 1]),
            Err(NotificationError::TooLong { .. })
        ));
        for i in 0..PKG0.len() {
            let mut flipped = PKG0.to_vec();
            flipped[i] ^= 0x20;
            assert!(!verify(&flipped, SERVER, "srvpwd", b"srvnonce"), "byte {i}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            version in 0u16..=0x3FF,
            ui in 0u64..4,
            server in any::<bool>(),
            session_id in 1u16..,
            server_id in "\\PC{0,60}",
            vendor_specific in proptest::collection::vec(any::<u8>(), 0..40),
            nonce in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            prop_assume!(server_id.len() <= 255);
            let n = Notification {
                version: NotificationVersion::new(version).unwrap(),
                ui_mode: UiMode::from_bits(ui),
                initiator: if server { Initiator::Server } else { Initiator::Client },
                session_id,
                server_id,
                vendor_specific,
            };
            let bytes = n.encode("password", &nonce).unwrap();
            let (_, back) = Notification::decode(&bytes).unwrap();
            prop_assert_eq!(&back, &n);
            prop_assert!(verify(&bytes, &n.server_id, "password", &nonce));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Notification::decode(&bytes);
        }
    }
}
