//! [`AuthType`]: the credential types of DM security and their names.

use std::fmt;
use std::str::FromStr;

use super::AuthError;

/// A DM credential type (FACTS D.1; OMA-TS-DM_Security-V1_2 §5; OMA-TS-DM_RepPro `<Cred>`).
///
/// It has two spellings: the Meta Type of `<Cred>`/`<Chal>` (also the DM 1.1.2 `AuthPref`
/// value), e.g. `syncml:auth-md5`, and the DM 1.2 DMAcc `AppAuth/<X>/AAuthType` name, e.g.
/// `DIGEST` (FACTS H.1; libdmclient `credentials.c`, Motorola `syncml_dm_data_types.h`).
/// The transport-level AAuthTypes `HTTP-BASIC`, `HTTP-DIGEST` and `TRANSPORT` are not DM
/// credential types and are rejected by [`AuthType::from_aauth_type`].
///
/// This crate computes and verifies [`Basic`](AuthType::Basic), [`Md5`](AuthType::Md5) and
/// [`Hmac`](AuthType::Hmac) ([`AuthType::is_supported`]); the others are only named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `syncml:auth-basic` / `BASIC`: `B64(username ":" password)`.
    Basic,
    /// `syncml:auth-md5` / `DIGEST`: the MD5 digest with a nonce.
    Md5,
    /// `syncml:auth-MAC` / `HMAC`: the `x-syncml-hmac` transport header (never in `<Cred>`).
    Hmac,
    /// `syncml:auth-X509` / `X509`.
    X509,
    /// `syncml:auth-securid` / `SECURID`.
    SecurId,
    /// `syncml:auth-safeword` / `SAFEWORD`.
    SafeWord,
    /// `syncml:auth-digipass` / `DIGIPASS`.
    DigiPass,
}

impl AuthType {
    /// Every credential type, in declaration order.
    pub const ALL: [AuthType; 7] = [
        AuthType::Basic,
        AuthType::Md5,
        AuthType::Hmac,
        AuthType::X509,
        AuthType::SecurId,
        AuthType::SafeWord,
        AuthType::DigiPass,
    ];

    /// Parses a Meta Type such as `syncml:auth-md5` (ASCII case-insensitive, surrounding
    /// whitespace ignored).
    pub fn from_meta_type(text: &str) -> Result<Self, AuthError> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.meta_type().eq_ignore_ascii_case(t))
            .ok_or_else(|| AuthError::UnknownAuthType(AuthError::echo(t)))
    }

    /// The Meta Type, spelled as in the specification: `syncml:auth-basic`, `syncml:auth-md5`,
    /// `syncml:auth-MAC`, `syncml:auth-X509`, `syncml:auth-securid`, `syncml:auth-safeword`,
    /// `syncml:auth-digipass`.
    pub fn meta_type(self) -> &'static str {
        match self {
            AuthType::Basic => "syncml:auth-basic",
            AuthType::Md5 => "syncml:auth-md5",
            AuthType::Hmac => "syncml:auth-MAC",
            AuthType::X509 => "syncml:auth-X509",
            AuthType::SecurId => "syncml:auth-securid",
            AuthType::SafeWord => "syncml:auth-safeword",
            AuthType::DigiPass => "syncml:auth-digipass",
        }
    }

    /// Parses a DMAcc AAuthType name such as `DIGEST` (ASCII case-insensitive, surrounding
    /// whitespace ignored).
    pub fn from_aauth_type(text: &str) -> Result<Self, AuthError> {
        let t = text.trim();
        Self::ALL
            .into_iter()
            .find(|a| a.aauth_type().eq_ignore_ascii_case(t))
            .ok_or_else(|| AuthError::UnknownAuthType(AuthError::echo(t)))
    }

    /// The DMAcc AAuthType name: `BASIC`, `DIGEST`, `HMAC`, `X509`, `SECURID`, `SAFEWORD`,
    /// `DIGIPASS`.
    pub fn aauth_type(self) -> &'static str {
        match self {
            AuthType::Basic => "BASIC",
            AuthType::Md5 => "DIGEST",
            AuthType::Hmac => "HMAC",
            AuthType::X509 => "X509",
            AuthType::SecurId => "SECURID",
            AuthType::SafeWord => "SAFEWORD",
            AuthType::DigiPass => "DIGIPASS",
        }
    }

    /// Whether this crate can compute and verify the type (basic, MD5, HMAC).
    pub fn is_supported(self) -> bool {
        matches!(self, AuthType::Basic | AuthType::Md5 | AuthType::Hmac)
    }

    /// Whether the credential travels in `<Cred>` (every type but HMAC, which travels in the
    /// `x-syncml-hmac` transport header; FACTS D.1).
    pub fn uses_cred_element(self) -> bool {
        self != AuthType::Hmac
    }
}

impl fmt::Display for AuthType {
    /// Writes the Meta Type.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.meta_type())
    }
}

impl FromStr for AuthType {
    type Err = AuthError;

    /// Parses a Meta Type ([`AuthType::from_meta_type`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_meta_type(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_types_round_trip_case_insensitively() {
        for a in AuthType::ALL {
            assert_eq!(AuthType::from_meta_type(a.meta_type()), Ok(a));
            assert_eq!(AuthType::from_meta_type(&a.meta_type().to_ascii_uppercase()), Ok(a));
            assert_eq!(a.to_string().parse::<AuthType>(), Ok(a));
        }
        assert_eq!(AuthType::from_meta_type(" syncml:auth-mac "), Ok(AuthType::Hmac));
        assert_eq!(AuthType::from_meta_type("SYNCML:AUTH-MD5"), Ok(AuthType::Md5));
    }

    #[test]
    fn aauth_types_round_trip() {
        for a in AuthType::ALL {
            assert_eq!(AuthType::from_aauth_type(a.aauth_type()), Ok(a));
        }
        assert_eq!(AuthType::from_aauth_type("digest"), Ok(AuthType::Md5));
        for transport in ["HTTP-BASIC", "HTTP-DIGEST", "TRANSPORT"] {
            assert!(AuthType::from_aauth_type(transport).is_err());
        }
    }

    #[test]
    fn unknown_types_are_errors_with_bounded_echo() {
        assert_eq!(
            AuthType::from_meta_type("syncml:auth-none"),
            Err(AuthError::UnknownAuthType("syncml:auth-none".into()))
        );
        let long = "x".repeat(10_000);
        match AuthType::from_meta_type(&long) {
            Err(AuthError::UnknownAuthType(echo)) => assert_eq!(echo.len(), AuthError::ECHO_LIMIT),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn support_and_placement() {
        assert!(AuthType::Md5.is_supported());
        assert!(!AuthType::X509.is_supported());
        assert!(!AuthType::Hmac.uses_cred_element());
        assert!(AuthType::Basic.uses_cred_element());
    }
}
