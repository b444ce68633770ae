//! `syncml:auth-basic`: `Data = B64(username ":" password)` (FACTS D.2; OMA-TS-DM_Security-V1_2
//! §5; libdmclient `credentials.c`, Motorola `dm_security.c`).
//!
//! Basic credentials reveal the password to anyone who sees the message; use them only over
//! TLS, and prefer [`md5`](super::md5) or [`hmac`](super::hmac).

use super::{AuthError, Secret, b64, b64_decode, ct_eq};

/// Decoded `syncml:auth-basic` credentials. `Debug` redacts the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name (the text before the first `:`).
    pub username: String,
    /// The password (everything after the first `:`, which may contain further colons).
    pub password: Secret,
}

/// Builds the Cred Data `B64(username ":" password)`, e.g. `Bruce2`/`OhBehave` →
/// `QnJ1Y2UyOk9oQmVoYXZl`. The result is a [`Secret`]: it reveals the password.
///
/// A user name containing `:` cannot be represented (the receiver splits at the first colon).
pub fn encode(username: &str, password: &str) -> Secret {
    let mut plain = Vec::with_capacity(username.len() + 1 + password.len());
    plain.extend_from_slice(username.as_bytes());
    plain.push(b':');
    plain.extend_from_slice(password.as_bytes());
    let encoded = b64(&plain);
    plain.fill(0);
    std::hint::black_box(&plain);
    Secret::new(encoded)
}

/// Parses received Cred Data: Base64-decodes it (whitespace and missing padding tolerated) and
/// splits at the first `:`.
pub fn decode(cred_data: &str) -> Result<BasicCredentials, AuthError> {
    let plain = b64_decode(cred_data, "Cred Data")?;
    let text = String::from_utf8(plain).map_err(|_| AuthError::NotUtf8 { field: "basic credentials" })?;
    let (username, password) = text.split_once(':').ok_or(AuthError::MissingColon)?;
    Ok(BasicCredentials { username: username.to_owned(), password: Secret::new(password) })
}

/// Checks received Cred Data against the expected user name and password, comparing both in
/// constant time. `Err(AuthError::Mismatch)` if either differs.
pub fn verify(cred_data: &str, username: &str, password: &Secret) -> Result<(), AuthError> {
    let got = decode(cred_data)?;
    let user_ok = ct_eq(got.username.as_bytes(), username.as_bytes());
    let pass_ok = ct_eq(got.password.as_bytes(), password.as_bytes());
    if user_ok & pass_ok { Ok(()) } else { Err(AuthError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cred_data_of;
    use super::*;

    #[test]
    fn spec_example() {
        assert_eq!(encode("Bruce2", "OhBehave").expose(), "QnJ1Y2UyOk9oQmVoYXZl");
        let c = decode("QnJ1Y2UyOk9oQmVoYXZl").unwrap();
        assert_eq!(c.username, "Bruce2");
        assert_eq!(c.password.expose(), "OhBehave");
        assert!(!format!("{c:?}").contains("OhBehave"));
    }

    #[test]
    fn libdmclient_capture() {
        let data = cred_data_of(include_str!("../../tests/vectors/libdmclient_xml.xml"));
        assert_eq!(data, "ZnVuYW1ib2w6ZnVuYW1ib2w=");
        assert_eq!(verify(data, "funambol", &"funambol".into()), Ok(()));
        assert_eq!(encode("funambol", "funambol").expose(), data);
    }

    #[test]
    fn motorola_capture() {
        let data = cred_data_of(include_str!("../../tests/vectors/cm_omadm_pkg1.xml"));
        assert_eq!(data, "ZGV2dXNlcjpkZXZwdw==");
        assert_eq!(verify(data, "devuser", &"devpw".into()), Ok(()));
    }

    #[test]
    fn password_may_contain_colons_and_be_empty() {
        let c = decode(encode("u", "a:b:").expose()).unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "a:b:"));
        let c = decode(encode("u", "").expose()).unwrap();
        assert_eq!(c.password.expose(), "");
    }

    #[test]
    fn wrong_user_or_password_mismatches() {
        let data = "ZGV2dXNlcjpkZXZwdw==";
        assert_eq!(verify(data, "devuser", &"devpx".into()), Err(AuthError::Mismatch));
        assert_eq!(verify(data, "devusr", &"devpw".into()), Err(AuthError::Mismatch));
        assert_eq!(verify(data, "devuser", &"devpw2".into()), Err(AuthError::Mismatch));
    }

    #[test]
    fn malformed_input_is_typed() {
        assert_eq!(decode("not base64!"), Err(AuthError::InvalidBase64 { field: "Cred Data" }));
        // "nocolon"
        assert_eq!(decode("bm9jb2xvbg=="), Err(AuthError::MissingColon));
        // 0xFF 0x3A 0x61: not UTF-8
        assert_eq!(decode("/zph"), Err(AuthError::NotUtf8 { field: "basic credentials" }));
        // Whitespace and missing padding are tolerated.
        assert_eq!(decode(" ZGV2dXNlcjpkZXZwdw\n").unwrap().username, "devuser");
    }
}
