//! OMA DM authentication math: `syncml:auth-basic`, `syncml:auth-md5`, the `x-syncml-hmac`
//! transport header (`syncml:auth-MAC`) and the package-0 notification digest.
//!
//! Everything here is pure computation (sans-IO): the caller supplies the stored secrets, the
//! nonces (including the random bytes for fresh ones: this crate has no RNG) and the exact body
//! bytes, and gets back the values to send or a verdict. Every check of a received credential is
//! done in constant time with [`subtle::ConstantTimeEq`]; secrets ([`Secret`]) and nonces
//! ([`Nonce`]) never print their value through `Debug`.
//!
//! Sources: OMA-TS-DM_Security-V1_2 §5 (authentication, integrity, notification
//! authentication), FACTS.md section D (D.1 credential types, D.2 formulas, D.3 challenges and
//! nonces), E.2 (package-0 digest), K (worked examples) and L.2/L.3 (nonce uncertainties).
//! The formulas were cross-checked against two client implementations: Intel libdmclient
//! (`dmcore/src/credentials.c`, `utils.c`, `package0.c`) and the Motorola/Android engine of
//! CyanogenMod `android_packages_apps_OMA-DM` (`dm_security.c`, `dmServerAuthentication.cc`,
//! `dm_tpt_connection.cc`, `dmNotification.cc`).
//!
//! Notation (FACTS D.2): `H` = MD5 (16 raw bytes), `B64` = standard Base64 with padding,
//! `:` = a literal colon.
//!
//! | scheme | value |
//! | --- | --- |
//! | [`basic`] | `B64(username ":" password)` |
//! | [`md5`] | `B64(H(B64(H(username ":" password)) ":" nonce))` |
//! | [`hmac`] | `B64(H(B64(H(username ":" password)) ":" nonce ":" B64(H(body))))` |
//! | [`notification_digest`] | `H(B64(H(server-id ":" password)) ":" nonce ":" B64(H(trigger)))` |
//!
//! The common part `B64(H(username ":" password))` is what a server stores instead of the
//! password for MD5 and HMAC: see [`md5_secret`].

mod auth_type;
pub mod basic;
mod error;
pub mod hmac;
pub mod md5;
mod nonce;
mod notification;
mod secret;

pub use auth_type::AuthType;
pub use error::AuthError;
pub use hmac::HmacHeader;
pub use nonce::Nonce;
pub use notification::{notification_digest, notification_digest_with_secret};
pub use secret::Secret;

use ::md5::{Digest, Md5};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use subtle::ConstantTimeEq;

/// Which form of the nonce made a received digest match.
///
/// FACTS D.2 / L.3: the nonce that goes into a digest is the **decoded binary** nonce
/// (libdmclient `utils.c` decodes NextNonce before storing it; the Motorola engine does the
/// same first), but the Motorola engine also accepts the raw Base64 *text* of the nonce
/// (`dmServerAuthentication.cc` CheckCredentials), so a server should tolerate both. The raw
/// text is taken to be [`Nonce::to_b64`], i.e. exactly the `<NextNonce>` the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonceForm {
    /// The digest was computed over the decoded nonce bytes (the normative form).
    Binary,
    /// The digest was computed over the Base64 text of the nonce (tolerated for old clients).
    Base64Text,
}

/// `B64(H(username ":" password))`: the value a server stores instead of the password for
/// `syncml:auth-md5` and `x-syncml-hmac` (FACTS D.2; OMA-TS-DM_Security-V1_2 §5), and, with
/// the server identifier and server password, the first half of the package-0 digest (E.2).
///
/// ```
/// # use omadm_protocol::auth::md5_secret;
/// assert_eq!(md5_secret("devuser", "devpw").expose(), "yqog/L4Ke+oHISWbd9XwQg==");
/// ```
pub fn md5_secret(username: &str, password: &str) -> Secret {
    Secret::new(b64(&md5_secret_raw(username, password)))
}

/// `H(username ":" password)` as 16 raw bytes; [`md5_secret`] is its Base64 text.
pub fn md5_secret_raw(username: &str, password: &str) -> [u8; 16] {
    h(&[username.as_bytes(), b":", password.as_bytes()])
}

/// MD5 over the concatenation of `parts` (no separators are added).
pub(crate) fn h(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Standard Base64 with padding (what every DM implementation emits).
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The tolerant decoder used for everything received: standard alphabet, padding optional,
/// non-zero trailing bits accepted.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes received Base64 text, ignoring ASCII whitespace anywhere in it (XML `<Data>` may be
/// indented or line-wrapped) and tolerating missing padding. `field` names the value in the
/// error.
pub(crate) fn b64_decode(text: &str, field: &'static str) -> Result<Vec<u8>, AuthError> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    LENIENT.decode(&compact).map_err(|_| AuthError::InvalidBase64 { field })
}

/// Decodes a received Base64 MD5 digest, which must be exactly 16 bytes.
pub(crate) fn b64_decode_digest(text: &str, field: &'static str) -> Result<[u8; 16], AuthError> {
    let bytes = b64_decode(text, field)?;
    <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| AuthError::BadDigestLength { field, len: bytes.len() })
}

/// Constant-time equality of two byte strings (`false` at once if the lengths differ; the
/// lengths of digests are public anyway).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Checks `received` against the digests computed over the binary nonce and over its Base64
/// text. Both candidates are always computed and compared, so the time taken does not depend
/// on which one (if any) matched.
pub(crate) fn match_either_nonce(
    received: &[u8; 16],
    nonce: &Nonce,
    compute: impl Fn(&[u8]) -> [u8; 16],
) -> Result<NonceForm, AuthError> {
    let binary = compute(nonce.as_bytes());
    let text = compute(nonce.to_b64().as_bytes());
    let binary_ok = received.ct_eq(&binary);
    let text_ok = received.ct_eq(&text);
    if bool::from(binary_ok) {
        Ok(NonceForm::Binary)
    } else if bool::from(text_ok) {
        Ok(NonceForm::Base64Text)
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The text of `<Data>` inside the first `<Cred>` of a captured XML message (a plain
    /// string search, independent of the XML codec).
    pub(crate) fn cred_data_of(xml: &str) -> &str {
        let cred = &xml[xml.find("<Cred>").expect("<Cred>")..];
        let start = cred.find("<Data>").expect("<Data>") + "<Data>".len();
        let len = cred[start..].find("</Data>").expect("</Data>");
        &cred[start..start + len]
    }

    #[test]
    fn md5_secret_is_b64_of_md5_of_name_colon_password() {
        assert_eq!(md5_secret("devuser", "devpw").expose(), "yqog/L4Ke+oHISWbd9XwQg==");
        assert_eq!(b64(&md5_secret_raw("devuser", "devpw")), md5_secret("devuser", "devpw").expose());
    }

    #[test]
    fn md5_of_empty_input_is_the_known_value() {
        // RFC 1321 test suite: MD5("") = d41d8cd98f00b204e9800998ecf8427e.
        assert_eq!(
            h(&[]),
            [0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e]
        );
    }

    #[test]
    fn decoder_tolerates_whitespace_and_missing_padding() {
        assert_eq!(b64_decode(" Tm9u\n Y2U= ", "x").unwrap(), b"Nonce");
        assert_eq!(b64_decode("Tm9uY2U", "x").unwrap(), b"Nonce");
        assert_eq!(b64_decode("", "x").unwrap(), b"");
        assert_eq!(b64_decode("Tm9u*2U=", "x"), Err(AuthError::InvalidBase64 { field: "x" }));
        assert_eq!(
            b64_decode_digest("Tm9uY2U=", "mac"),
            Err(AuthError::BadDigestLength { field: "mac", len: 5 })
        );
    }

    #[test]
    fn ct_eq_handles_unequal_lengths() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(!ct_eq(b"", b"a"));
    }
}
