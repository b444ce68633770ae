//! `syncml:auth-md5` (AAuthType `DIGEST`): `Data = B64(H(B64(H(username ":" password)) ":"
//! nonce))`, Meta Format `b64` (FACTS D.2; OMA-TS-DM_Security-V1_2 §5; libdmclient
//! `credentials.c` prv_get_digest_md5, Motorola `dm_security.c` build_md5_cred).
//!
//! The user name travels in `SyncHdr/Source/LocName`; the server looks up the stored secret
//! `B64(H(username ":" password))` ([`md5_secret`]) by it and calls
//! [`verify`] with the nonce it last sent that client in `<NextNonce>`. In the other direction
//! the server builds its own `<Cred>` with [`digest`] over the server secret and the nonce the
//! client gave it (FACTS D.3: CLCRED vs SRVCRED).
//!
//! Spec worked example (FACTS D.2, K.1): `Bruce2`/`OhBehave`, nonce bytes `Nonce` →
//! `Zz6EivR3yeaaENcRN6lpAQ==`.

use super::{AuthError, Nonce, NonceForm, Secret, b64, b64_decode_digest, h, match_either_nonce, md5_secret};

/// `H(secret ":" nonce)`: the raw 16 bytes behind [`digest`].
pub fn digest_raw(secret: &Secret, nonce: &[u8]) -> [u8; 16] {
    h(&[secret.as_bytes(), b":", nonce])
}

/// The Cred Data `B64(H(secret ":" nonce))`, where `secret` is the stored
/// `B64(H(username ":" password))` and `nonce` the decoded nonce bytes.
pub fn digest(secret: &Secret, nonce: &[u8]) -> String {
    b64(&digest_raw(secret, nonce))
}

/// The Cred Data from the user name and password directly:
/// `digest(&md5_secret(username, password), nonce)`.
pub fn cred_data(username: &str, password: &str, nonce: &[u8]) -> String {
    digest(&md5_secret(username, password), nonce)
}

/// Verifies received `syncml:auth-md5` Cred Data (Base64 text; whitespace and missing padding
/// tolerated) against the stored secret `B64(H(username ":" password))` and the nonce the
/// verifier issued.
///
/// The digest over the decoded binary nonce is tried first, then the digest over the nonce's
/// Base64 text ([`Nonce::to_b64`]), as the Motorola engine does (FACTS D.2, L.3); the result
/// says which matched. Both are compared in constant time. A nonce resynchronisation is a
/// separate call with [`Nonce::resync`].
///
/// Errors: [`AuthError::InvalidBase64`] / [`AuthError::BadDigestLength`] for malformed data,
/// [`AuthError::Mismatch`] for a wrong password, user or nonce.
pub fn verify(secret: &Secret, cred_data: &str, nonce: &Nonce) -> Result<NonceForm, AuthError> {
    let received = b64_decode_digest(cred_data, "Cred Data")?;
    match_either_nonce(&received, nonce, |n| digest_raw(secret, n))
}

#[cfg(test)]
mod tests {
    use super::super::tests::cred_data_of;
    use super::*;

    #[test]
    fn spec_worked_example() {
        assert_eq!(cred_data("Bruce2", "OhBehave", b"Nonce"), "Zz6EivR3yeaaENcRN6lpAQ==");
        let secret = md5_secret("Bruce2", "OhBehave");
        assert_eq!(
            verify(&secret, "Zz6EivR3yeaaENcRN6lpAQ==", &Nonce::new(*b"Nonce")),
            Ok(NonceForm::Binary)
        );
    }

    #[test]
    fn motorola_digest_capture() {
        let xml = include_str!("../../tests/vectors/cm_omadm_pkg1_DIGEST.xml");
        assert!(xml.contains("<Type xmlns='syncml:metinf'>syncml:auth-md5</Type>"));
        assert!(xml.contains("<LocName>devuser</LocName>"));
        let data = cred_data_of(xml);
        assert_eq!(data, "CqJOswhABxNtxsjWP9RBbw==");
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::from_b64("Y2xpZW50bm9uY2U=").unwrap();
        assert_eq!(nonce.as_bytes(), b"clientnonce");
        assert_eq!(digest(&secret, nonce.as_bytes()), data);
        assert_eq!(verify(&secret, data, &nonce), Ok(NonceForm::Binary));
    }

    #[test]
    fn raw_base64_nonce_text_is_tolerated() {
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::new(*b"clientnonce");
        let data = digest(&secret, b"Y2xpZW50bm9uY2U=");
        assert_eq!(verify(&secret, &data, &nonce), Ok(NonceForm::Base64Text));
    }

    #[test]
    fn wrong_password_user_or_nonce_mismatches() {
        let data = "CqJOswhABxNtxsjWP9RBbw==";
        let nonce = Nonce::new(*b"clientnonce");
        assert_eq!(verify(&md5_secret("devuser", "devpx"), data, &nonce), Err(AuthError::Mismatch));
        assert_eq!(verify(&md5_secret("devusr", "devpw"), data, &nonce), Err(AuthError::Mismatch));
        let secret = md5_secret("devuser", "devpw");
        assert_eq!(verify(&secret, data, &Nonce::new(*b"clientnoncf")), Err(AuthError::Mismatch));
        assert_eq!(verify(&secret, data, &Nonce::resync()), Err(AuthError::Mismatch));
    }

    #[test]
    fn resync_nonce_round_trip() {
        let secret = md5_secret("devuser", "devpw");
        let data = digest(&secret, &Nonce::RESYNC);
        assert_eq!(verify(&secret, &data, &Nonce::resync()), Ok(NonceForm::Binary));
    }

    #[test]
    fn malformed_cred_data_is_typed() {
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::new(*b"clientnonce");
        assert_eq!(
            verify(&secret, "CqJOswhABx%txsjWP9RBbw==", &nonce),
            Err(AuthError::InvalidBase64 { field: "Cred Data" })
        );
        assert_eq!(
            verify(&secret, "CqJOswhABxNtxsjWP9RB", &nonce),
            Err(AuthError::BadDigestLength { field: "Cred Data", len: 15 })
        );
        assert_eq!(
            verify(&secret, "", &nonce),
            Err(AuthError::BadDigestLength { field: "Cred Data", len: 0 })
        );
        // Whitespace and missing padding are tolerated.
        assert_eq!(verify(&secret, "\n  CqJOswhABxNtxsjWP9RBbw\n", &nonce), Ok(NonceForm::Binary));
    }
}
