//! The package-0 (DM notification) digest (FACTS E.2; OMA-TS-DM_Notification-V1_2 and
//! OMA-TS-DM_Security-V1_2 §5; libdmclient `package0.c` validate_package_0, Motorola
//! `dmNotification.cc` + `dm_security.c` with `o_encode_base64 = FALSE`).

use super::{Secret, b64, h, md5_secret};

/// The 16-byte digest that opens a package-0 notification:
/// `H(B64(H(server_id ":" password)) ":" nonce ":" B64(H(trigger)))`, raw (not Base64).
///
/// `server_id`, `password` and `nonce` are the credentials the **client** uses to authenticate
/// the server (DMAcc AppAuth SRVCRED AAuthName/AAuthSecret/AAuthData; DM 1.1.2
/// ServerId/ServerPW/ServerNonce); `nonce` is the decoded bytes. `trigger` is everything after
/// the digest: the header, the server identifier and any vendor part.
///
/// A client that fails to verify with its stored nonce retries with
/// [`Nonce::RESYNC`](super::Nonce::RESYNC) (FACTS E.2), so a server that suspects the client
/// lost its nonce sends the digest computed over four zero bytes.
pub fn notification_digest(server_id: &str, password: &str, nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    notification_digest_with_secret(&md5_secret(server_id, password), nonce, trigger)
}

/// [`notification_digest`] from the stored `B64(H(server_id ":" password))`.
pub fn notification_digest_with_secret(secret: &Secret, nonce: &[u8], trigger: &[u8]) -> [u8; 16] {
    let trigger_digest = b64(&h(&[trigger]));
    h(&[secret.as_bytes(), b":", nonce, b":", trigger_digest.as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::super::Nonce;
    use super::*;

    const PKG0: &[u8] = include_bytes!("../../tests/vectors/spec_pkg0.bin");

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn worked_example_k2() {
        let (digest, trigger) = PKG0.split_at(16);
        assert_eq!(hex(trigger), "02d0000000123412636f6d2e6d676d747372762e6d616e616765");
        let d = notification_digest("com.mgmtsrv.manage", "srvpwd", b"srvnonce", trigger);
        assert_eq!(hex(&d), "2e84b4d47d65793a313fb4b5ffcbaac5");
        assert_eq!(d, digest);
        let secret = md5_secret("com.mgmtsrv.manage", "srvpwd");
        assert_eq!(notification_digest_with_secret(&secret, b"srvnonce", trigger), d);
    }

    #[test]
    fn worked_example_k2_resync_nonce() {
        let trigger = &PKG0[16..];
        let d = notification_digest("com.mgmtsrv.manage", "srvpwd", &Nonce::RESYNC, trigger);
        assert_eq!(hex(&d), "e37fdc0f8e9070fc31b0967910b921af");
    }

    #[test]
    fn any_change_changes_the_digest() {
        let trigger = &PKG0[16..];
        let good = notification_digest("com.mgmtsrv.manage", "srvpwd", b"srvnonce", trigger);
        assert_ne!(notification_digest("com.mgmtsrv.manage", "srvpwe", b"srvnonce", trigger), good);
        assert_ne!(notification_digest("com.mgmtsrv.manage", "srvpwd", b"srvnoncf", trigger), good);
        let mut t = trigger.to_vec();
        t[6] ^= 1;
        assert_ne!(notification_digest("com.mgmtsrv.manage", "srvpwd", b"srvnonce", &t), good);
    }
}
