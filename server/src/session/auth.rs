//! Authentication in a session, both ways (OMA-TS-DM_Security-V1_2 §5; FACTS.md D.2, D.3).
//!
//! Client to server: `syncml:auth-basic` or `syncml:auth-md5` in the SyncHdr `<Cred>`, or the
//! `x-syncml-hmac` HTTP header. Server to client: `syncml:auth-md5` in our SyncHdr `<Cred>`,
//! computed from the stored `B64(MD5(server_id:password))` and the nonce the device issued.

use omadm_protocol::auth::{self, AuthType, HmacHeader, Nonce, Secret};
use omadm_protocol::{Cred, Format, Meta, SyncMl};
use omadm_storage::{ClientAuthType, Device};

/// The verdict on a client message's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Credentials present and right.
    Accepted,
    /// No credentials of the expected kind: answer 407 with a challenge.
    Missing,
    /// Credentials present but wrong (or of another kind): answer 401 with a challenge.
    Refused,
}

/// The SyncML auth type a device's configuration asks for.
pub fn auth_type(t: ClientAuthType) -> AuthType {
    match t {
        ClientAuthType::Basic => AuthType::Basic,
        ClientAuthType::Md5 => AuthType::Md5,
        ClientAuthType::Hmac => AuthType::Hmac,
    }
}

/// Check the credentials a device sent with `msg` (and `hmac`, the `x-syncml-hmac` header,
/// over the exact `body`).
pub fn check_client(device: &Device, msg: &SyncMl, hmac: Option<&str>, body: &[u8]) -> ClientAuth {
    let secret = Secret::new(device.client_secret.clone());
    let cred = msg.hdr.cred.as_ref();
    let cred_type = cred.map(|c| {
        c.meta
            .as_ref()
            .and_then(|m| m.type_.as_deref())
            .map(AuthType::from_meta_type)
            // A Cred without Meta Type is basic (SyncML RepPro: the default type).
            .unwrap_or(Ok(AuthType::Basic))
    });
    match device.client_auth_type {
        ClientAuthType::Hmac => {
            let Some(value) = hmac else { return ClientAuth::Missing };
            let Ok(header) = HmacHeader::parse(value) else { return ClientAuth::Refused };
            let Ok(nonce) = Nonce::from_b64(&device.client_nonce) else { return ClientAuth::Refused };
            let user_ok = header.username == device.client_username;
            let mac_ok = auth::hmac::verify(&header, &secret, &nonce, body).is_ok();
            if user_ok && mac_ok { ClientAuth::Accepted } else { ClientAuth::Refused }
        }
        ClientAuthType::Basic => match (cred, cred_type) {
            (Some(c), Some(Ok(AuthType::Basic))) => match auth::basic::decode(&c.data) {
                Ok(b) => {
                    let user_ok = b.username == device.client_username;
                    let pass_ok = auth::md5_secret(&b.username, b.password.expose()) == secret;
                    if user_ok && pass_ok { ClientAuth::Accepted } else { ClientAuth::Refused }
                }
                Err(_) => ClientAuth::Refused,
            },
            (None, _) => ClientAuth::Missing,
            _ => ClientAuth::Refused,
        },
        ClientAuthType::Md5 => match (cred, cred_type) {
            (Some(c), Some(Ok(AuthType::Md5))) => {
                // The user name travels in Source/LocName (FACTS.md D.2).
                if msg.hdr.source.loc_name.as_deref().is_some_and(|n| n != device.client_username) {
                    return ClientAuth::Refused;
                }
                let Ok(nonce) = Nonce::from_b64(&device.client_nonce) else { return ClientAuth::Refused };
                match auth::md5::verify(&secret, &c.data, &nonce) {
                    Ok(_) => ClientAuth::Accepted,
                    Err(_) => ClientAuth::Refused,
                }
            }
            (None, _) => ClientAuth::Missing,
            _ => ClientAuth::Refused,
        },
    }
}

/// The `<Cred>` the server puts in its SyncHdr for a device that authenticates servers:
/// `syncml:auth-md5` with the SRVCRED secret and the device-issued nonce.
pub fn server_cred(device: &Device) -> Option<Cred> {
    let secret = Secret::new(device.server_secret.clone()?);
    let nonce = Nonce::from_b64(&device.server_nonce).unwrap_or_default();
    Some(Cred {
        meta: Some(Meta::with_format_and_type(Format::B64, AuthType::Md5.meta_type())),
        data: auth::md5::digest(&secret, nonce.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use omadm_protocol::{Limits, decode};

    fn device(t: ClientAuthType, user: &str, pass: &str, nonce: &[u8]) -> Device {
        Device {
            device_id: "IMEI:001010123456789".into(),
            client_auth_type: t,
            client_username: user.into(),
            client_secret: auth::md5_secret(user, pass).expose().to_owned(),
            client_nonce: Nonce::new(nonce.to_vec()).to_b64(),
            server_id: "testsrv".into(),
            server_secret: None,
            server_nonce: String::new(),
            dm_version: None,
            created_at: 0,
            updated_at: 0,
            last_session_at: None,
        }
    }

    const BASIC: &[u8] = include_bytes!("../../../protocol/tests/vectors/cm_omadm_pkg1.xml");
    const DIGEST: &[u8] = include_bytes!("../../../protocol/tests/vectors/cm_omadm_pkg1_DIGEST.xml");
    const HMAC: &[u8] = include_bytes!("../../../protocol/tests/vectors/cm_omadm_pkg1_HMAC.xml");
    const HMAC_HEADER: &str = r#"algorithm=MD5, username="devuser", mac=LFZ/RHcksnmw4PDXjSZ+tA=="#;

    #[test]
    fn real_client_credentials_are_checked() {
        let l = Limits::default();
        let basic = decode(BASIC, &l).unwrap();
        let d = device(ClientAuthType::Basic, "devuser", "devpw", b"");
        assert_eq!(check_client(&d, &basic, None, BASIC), ClientAuth::Accepted);
        let wrong = device(ClientAuthType::Basic, "devuser", "other", b"");
        assert_eq!(check_client(&wrong, &basic, None, BASIC), ClientAuth::Refused);

        let digest = decode(DIGEST, &l).unwrap();
        let d = device(ClientAuthType::Md5, "devuser", "devpw", b"clientnonce");
        assert_eq!(check_client(&d, &digest, None, DIGEST), ClientAuth::Accepted);
        let stale = device(ClientAuthType::Md5, "devuser", "devpw", b"othernonce");
        assert_eq!(check_client(&stale, &digest, None, DIGEST), ClientAuth::Refused);
        // A device configured for MD5 that sends basic is refused, one sending nothing challenged.
        assert_eq!(check_client(&d, &basic, None, BASIC), ClientAuth::Refused);
        let hmac_msg = decode(HMAC, &l).unwrap();
        assert_eq!(check_client(&d, &hmac_msg, None, HMAC), ClientAuth::Missing);

        let d = device(ClientAuthType::Hmac, "devuser", "devpw", b"clientnonce");
        assert_eq!(check_client(&d, &hmac_msg, Some(HMAC_HEADER), HMAC), ClientAuth::Accepted);
        assert_eq!(check_client(&d, &hmac_msg, None, HMAC), ClientAuth::Missing);
        let mut tampered = HMAC.to_vec();
        tampered[200] ^= 1;
        assert_eq!(check_client(&d, &hmac_msg, Some(HMAC_HEADER), &tampered), ClientAuth::Refused);
    }
}
