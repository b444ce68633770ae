//! What an operator gives to bootstrap a device: the DM server account and, optionally, the
//! network access point and proxy it uses (the w7 APPLICATION, NAPDEF and PXLOGICAL of
//! OMA-WAP-ProvCont-v1_1, and the DMAcc MO of OMA-TS-DM_StdObj-V1_2; FACTS.md H.1-H.3).
//!
//! Every input is checked by `validate` before a document is built: required fields are
//! non-empty, every string is bounded and free of control characters (WBXML inline strings
//! end at NUL; XML cannot carry most C0 controls), the server address is an http(s) URL.

/// Longest identifier, name or secret accepted (ServerID, AAUTHNAME, NAPID, ...).
pub const MAX_FIELD_LEN: usize = 255;
/// Longest server address accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest nonce accepted, in bytes (DM Security recommends at least 16).
pub const MAX_NONCE_LEN: usize = 256;

/// Why bootstrap input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootstrapError {
    /// A required field is empty.
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// A field is longer than allowed.
    #[error("{field} is {len} bytes long, more than {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A field holds a control character.
    #[error("{field} holds a control character")]
    ControlCharacter {
        /// The field.
        field: &'static str,
    },
    /// The server address is not an http or https URL with a host.
    #[error("server address {0:?} is not an http:// or https:// URL with a host")]
    NotHttpUrl(String),
    /// A node name is not a single URI segment.
    #[error("{field} {value:?} is not a valid node name")]
    NodeName {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// Checks a text field: non-empty when `required`, at most `max` bytes, no control characters.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), BootstrapError> {
    if value.is_empty() {
        return Err(BootstrapError::Empty { field });
    }
    check_optional(field, value, max)
}

/// As [`check_text`], allowing the empty string.
pub(crate) fn check_optional(field: &'static str, value: &str, max: usize) -> Result<(), BootstrapError> {
    if value.len() > max {
        return Err(BootstrapError::TooLong { field, len: value.len(), max });
    }
    if value.chars().any(char::is_control) {
        return Err(BootstrapError::ControlCharacter { field });
    }
    Ok(())
}

/// Checks `url` is `http://host...` or `https://host...` (scheme case-insensitive), bounded,
/// without whitespace or control characters.
pub(crate) fn check_url(url: &str) -> Result<(), BootstrapError> {
    check_text("addr", url, MAX_URL_LEN)?;
    let bad = || BootstrapError::NotHttpUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') || url.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    Ok(())
}

/// An authentication type of a DM account (FACTS.md D.1, H.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// `syncml:auth-basic`: CP/DMAcc `BASIC`.
    Basic,
    /// `syncml:auth-md5`: CP/DMAcc `DIGEST`.
    Digest,
    /// `syncml:auth-MAC` (`x-syncml-hmac`): CP/DMAcc `HMAC`.
    Hmac,
}

impl AuthType {
    /// The AAUTHTYPE (CP) and AAuthType (DMAcc 1.2) value.
    pub const fn aauth_type(self) -> &'static str {
        match self {
            AuthType::Basic => "BASIC",
            AuthType::Digest => "DIGEST",
            AuthType::Hmac => "HMAC",
        }
    }

    /// The AuthPref value of a DM 1.1.2 account (FACTS.md H.3).
    pub const fn syncml_auth_pref(self) -> &'static str {
        match self {
            AuthType::Basic => "syncml:auth-basic",
            AuthType::Digest => "syncml:auth-md5",
            AuthType::Hmac => "syncml:auth-MAC",
        }
    }
}

/// One direction of DM authentication: the APPAUTH characteristic / AppAuth/`<x>` node.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSpec {
    /// AAUTHTYPE.
    pub auth_type: AuthType,
    /// AAUTHNAME: the user name (client side) or the server's name (server side).
    pub name: String,
    /// AAUTHSECRET: the password.
    pub secret: String,
    /// AAUTHDATA: the first nonce, binary (CP carries it Base64, FACTS.md H.2).
    pub nonce: Vec<u8>,
}

impl std::fmt::Debug for AuthSpec {
    /// Secrets and nonces never appear in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSpec")
            .field("auth_type", &self.auth_type)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("nonce", &"<redacted>")
            .finish()
    }
}

impl AuthSpec {
    fn validate(&self, side: &'static str) -> Result<(), BootstrapError> {
        check_optional(side, &self.name, MAX_FIELD_LEN)?;
        check_text(side, &self.secret, MAX_FIELD_LEN)?;
        if self.nonce.len() > MAX_NONCE_LEN {
            return Err(BootstrapError::TooLong { field: side, len: self.nonce.len(), max: MAX_NONCE_LEN });
        }
        Ok(())
    }
}

/// A DM server account: what the w7 APPLICATION and the DMAcc MO carry (FACTS.md H.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmAccount {
    /// PROVIDER-ID / ServerID: the server's identity, the principal in the device's ACLs.
    pub server_id: String,
    /// NAME / Name: display name.
    pub name: Option<String>,
    /// ADDR / AppAddr/`<x>`/Addr: the server URL (http or https).
    pub addr: String,
    /// PORTNBR: when set, the address goes in APPADDR with a PORT (FACTS.md H.2).
    pub port: Option<u16>,
    /// The credentials the client uses toward the server: AAUTHLEVEL APPSRV, AAuthLevel
    /// CLCRED (FACTS.md H.2, D.3).
    pub client_auth: AuthSpec,
    /// The credentials the server uses toward the client: AAUTHLEVEL CLIENT, AAuthLevel
    /// SRVCRED.
    pub server_auth: AuthSpec,
    /// TO-NAPID: the NAPDEF the account uses.
    pub to_napid: Option<String>,
    /// TO-PROXY: the PXLOGICAL the account uses.
    pub to_proxy: Option<String>,
    /// INIT: the client starts a session right after provisioning (FACTS.md H.2).
    pub init: bool,
    /// PrefConRef (DM 1.2) / ConRef (DM 1.1.2) for the DM profile: a connectivity MO URI or
    /// an implementation id. In the DM 1.1.2 layout a given NAP defaults it to its
    /// `./SyncML/Con/<x>`.
    pub con_ref: Option<String>,
}

impl DmAccount {
    /// Checks every field (see the module documentation).
    pub fn validate(&self) -> Result<(), BootstrapError> {
        check_text("server_id", &self.server_id, MAX_FIELD_LEN)?;
        if let Some(name) = &self.name {
            check_optional("name", name, MAX_FIELD_LEN)?;
        }
        check_url(&self.addr)?;
        self.client_auth.validate("client_auth")?;
        self.server_auth.validate("server_auth")?;
        for (field, value) in [("to_napid", &self.to_napid), ("to_proxy", &self.to_proxy)] {
            if let Some(v) = value {
                check_text(field, v, MAX_FIELD_LEN)?;
            }
        }
        if let Some(c) = &self.con_ref {
            check_text("con_ref", c, MAX_URL_LEN)?;
        }
        Ok(())
    }
}

/// NAPAUTHINFO of a NAPDEF: PAP/CHAP credentials of the access point.
#[derive(Clone, PartialEq, Eq)]
pub struct NapAuth {
    /// AUTHTYPE, e.g. `PAP`, `CHAP`.
    pub auth_type: String,
    /// AUTHNAME.
    pub name: String,
    /// AUTHSECRET.
    pub secret: String,
}

impl std::fmt::Debug for NapAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NapAuth")
            .field("auth_type", &self.auth_type)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A network access point: the NAPDEF characteristic (OMA-WAP-ProvCont-v1_1 §5.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NapDef {
    /// NAPID: the id TO-NAPID refers to.
    pub napid: String,
    /// NAME.
    pub name: String,
    /// BEARER, e.g. `GSM-GPRS`.
    pub bearer: String,
    /// NAP-ADDRESS, e.g. the APN.
    pub nap_address: String,
    /// NAP-ADDRTYPE, e.g. `APN`, `E164`, `IPV4`.
    pub nap_addrtype: String,
    /// NAPAUTHINFO.
    pub auth: Option<NapAuth>,
}

impl NapDef {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), BootstrapError> {
        check_text("napid", &self.napid, MAX_FIELD_LEN)?;
        check_text("nap name", &self.name, MAX_FIELD_LEN)?;
        check_text("bearer", &self.bearer, MAX_FIELD_LEN)?;
        check_text("nap_address", &self.nap_address, MAX_FIELD_LEN)?;
        check_text("nap_addrtype", &self.nap_addrtype, MAX_FIELD_LEN)?;
        if let Some(a) = &self.auth {
            check_text("nap auth_type", &a.auth_type, MAX_FIELD_LEN)?;
            check_optional("nap auth name", &a.name, MAX_FIELD_LEN)?;
            check_optional("nap auth secret", &a.secret, MAX_FIELD_LEN)?;
        }
        Ok(())
    }
}

/// A proxy: the PXLOGICAL characteristic with one PXPHYSICAL (OMA-WAP-ProvCont-v1_1 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PxLogical {
    /// PROXY-ID: the id TO-PROXY refers to.
    pub proxy_id: String,
    /// NAME.
    pub name: String,
    /// PXPHYSICAL/PHYSICAL-PROXY-ID.
    pub physical_proxy_id: String,
    /// PXPHYSICAL/PXADDR.
    pub pxaddr: String,
    /// PXPHYSICAL/PXADDRTYPE, e.g. `IPV4`.
    pub pxaddrtype: String,
    /// PXPHYSICAL/TO-NAPID: the NAPDEF the proxy is reached through.
    pub to_napid: String,
    /// PXPHYSICAL/PORT/PORTNBR.
    pub port: Option<u16>,
}

impl PxLogical {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), BootstrapError> {
        check_text("proxy_id", &self.proxy_id, MAX_FIELD_LEN)?;
        check_text("proxy name", &self.name, MAX_FIELD_LEN)?;
        check_text("physical_proxy_id", &self.physical_proxy_id, MAX_FIELD_LEN)?;
        check_text("pxaddr", &self.pxaddr, MAX_FIELD_LEN)?;
        check_text("pxaddrtype", &self.pxaddrtype, MAX_FIELD_LEN)?;
        check_text("proxy to_napid", &self.to_napid, MAX_FIELD_LEN)
    }
}

/// A root certificate for the Microsoft CertificateStore CSP: `CertificateStore/ROOT/<SHA-1
/// thumbprint>/EncodedCertificate` = Base64 of the DER (seed 001; Microsoft "CertificateStore
/// Configuration Service Provider", which supports only SHA-1 thumbprints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootCertificate {
    /// The SHA-1 thumbprint, 40 uppercase hex digits: the characteristic type.
    pub thumbprint: String,
    /// Base64 of the DER certificate.
    pub encoded: String,
}

impl RootCertificate {
    /// The entry for a DER certificate: thumbprint = SHA-1 of the DER.
    pub fn from_der(der: &[u8]) -> RootCertificate {
        use base64::Engine as _;
        use sha1::Digest as _;
        let digest = sha1::Sha1::digest(der);
        RootCertificate {
            thumbprint: super::security::upper_hex(&digest),
            encoded: base64::engine::general_purpose::STANDARD.encode(der),
        }
    }
}

/// The Microsoft extensions of a DM bootstrap document (seed 001; FACTS.md H.2 "ROLE"):
/// characteristics and parms that PROV has no token for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MsExtensions {
    /// w7 ROLE: the security role of the server's messages (8 = MANAGER).
    pub role: Option<u32>,
    /// SecurityPolicy parms: (policy id, value), e.g. (4119, "128") grant manager policy.
    pub security_policies: Vec<(u32, String)>,
    /// CertificateStore/ROOT entries.
    pub root_certificates: Vec<RootCertificate>,
}

impl MsExtensions {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), BootstrapError> {
        for (_, value) in &self.security_policies {
            check_optional("security policy value", value, MAX_FIELD_LEN)?;
        }
        for cert in &self.root_certificates {
            let hex = cert.thumbprint.len() == 40 && cert.thumbprint.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(BootstrapError::NodeName {
                    field: "root certificate thumbprint",
                    value: cert.thumbprint.clone(),
                });
            }
            check_text("root certificate", &cert.encoded, 64 * 1024)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in ["http://a", "https://dm.example.com:8443/dm?x=1", "HTTPS://u@h/p"] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for bad in ["", "ftp://a", "http://", "http:///p", "dm.example.com", "http://a b", "https://:80/"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_fields() {
        assert_eq!(check_text("f", "", 5), Err(BootstrapError::Empty { field: "f" }));
        assert_eq!(check_text("f", "abcdef", 5), Err(BootstrapError::TooLong { field: "f", len: 6, max: 5 }));
        assert_eq!(check_text("f", "a\0b", 5), Err(BootstrapError::ControlCharacter { field: "f" }));
        assert_eq!(check_text("f", "a\u{85}", 5), Err(BootstrapError::ControlCharacter { field: "f" }));
        assert_eq!(check_text("f", "ünï", 6), Ok(()));
    }

    #[test]
    fn thumbprint_of_a_der() {
        // SHA-1("abc") = A9993E36 4706816A BA3E2571 7850C26C 9CD0D89D (FIPS 180-2 example).
        let cert = RootCertificate::from_der(b"abc");
        assert_eq!(cert.thumbprint, "A9993E364706816ABA3E25717850C26C9CD0D89D");
        assert_eq!(cert.encoded, "YWJj");
    }

    #[test]
    fn debug_redacts_secrets() {
        let spec =
            AuthSpec { auth_type: AuthType::Digest, name: "u".into(), secret: "pw".into(), nonce: vec![1] };
        let text = format!("{spec:?}");
        assert!(!text.contains("pw") && text.contains("redacted"));
    }
}
