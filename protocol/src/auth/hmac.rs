//! `syncml:auth-MAC` (AAuthType `HMAC`): message integrity through the `x-syncml-hmac`
//! transport header (FACTS D.2; OMA-TS-DM_Security-V1_2 §5 integrity; Motorola `dm_security.c`
//! build_hmac_cred and `dm_tpt_connection.cc` for the header format).
//!
//! `mac = B64(H(B64(H(username ":" password)) ":" nonce ":" B64(H(body))))`, where `body` is
//! the exact HTTP body bytes (XML or WBXML) and `nonce` the decoded nonce bytes. The header
//! reads `x-syncml-hmac: algorithm=MD5, username="<name>", mac=<base64>`; `algorithm` is
//! optional (default MD5), `username` (= `SyncHdr/Source/LocName`) and `mac` are mandatory.
//! The credential is never put in `<Cred>`. Once used, every later message of the session
//! carries it, the SyncHdr Status is 200 (not 212) and each message brings a new NextNonce
//! (FACTS D.2).
//!
//! The spec's own example header (`username="Robert Jordan",
//! mac=NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk`) carries Base64 of a hex *text*; it is
//! illustrative only: real clients send Base64 of the 16 digest bytes, and [`verify`] requires
//! 16 bytes.

use std::fmt;

use super::{AuthError, Nonce, NonceForm, Secret, b64, b64_decode_digest, h, match_either_nonce};

/// The HTTP header name, in the lower case the Motorola engine sends.
pub const HEADER_NAME: &str = "x-syncml-hmac";

/// The longest header value [`HmacHeader::parse`] accepts, in bytes.
pub const MAX_HEADER_LEN: usize = 1024;

/// The only algorithm defined, and the default when `algorithm` is absent.
pub const ALGORITHM_MD5: &str = "MD5";

/// The parsed value of an `x-syncml-hmac` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HmacHeader {
    /// `algorithm` as received; `None` means absent, i.e. MD5. [`HmacHeader::parse`] accepts
    /// only MD5 (any case).
    pub algorithm: Option<String>,
    /// `username`, unquoted and unescaped.
    pub username: String,
    /// `mac`, the Base64 text as received (unquoted).
    pub mac: String,
}

impl HmacHeader {
    /// A header with `algorithm=MD5`.
    pub fn new(username: impl Into<String>, mac: impl Into<String>) -> Self {
        HmacHeader { algorithm: Some(ALGORITHM_MD5.to_owned()), username: username.into(), mac: mac.into() }
    }

    /// Parses a header value (without the `x-syncml-hmac:` name): comma-separated
    /// `name=value` pairs in any order, optional whitespace around `,` and `=`, names
    /// case-insensitive, values either tokens or quoted-strings with `\` escapes. Unknown
    /// parameters are ignored. `username` and `mac` must be present and non-empty;
    /// `algorithm`, if present, must be MD5 (any case); no parameter may repeat. Values over
    /// [`MAX_HEADER_LEN`] bytes are rejected before parsing.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(AuthError::HeaderTooLong { len: value.len(), max: MAX_HEADER_LEN });
        }
        let mut algorithm = None;
        let mut username = None;
        let mut mac = None;
        let mut cur = Cursor { bytes: value.as_bytes(), pos: 0 };
        loop {
            cur.skip(|b| b == b',' || is_ows(b));
            if cur.at_end() {
                break;
            }
            let name = cur.take(|b| b != b'=' && b != b',' && !is_ows(b));
            if name.is_empty() {
                return Err(AuthError::MalformedHeader("expected a parameter name"));
            }
            cur.skip(is_ows);
            if !cur.eat(b'=') {
                return Err(AuthError::MalformedHeader("expected '=' after a parameter name"));
            }
            cur.skip(is_ows);
            let raw =
                if cur.eat(b'"') { cur.quoted()? } else { cur.take(|b| b != b',' && !is_ows(b)).to_vec() };
            cur.skip(is_ows);
            if !cur.at_end() && !cur.eat(b',') {
                return Err(AuthError::MalformedHeader("expected ',' between parameters"));
            }
            let slot = if name.eq_ignore_ascii_case(b"algorithm") {
                (&mut algorithm, "algorithm")
            } else if name.eq_ignore_ascii_case(b"username") {
                (&mut username, "username")
            } else if name.eq_ignore_ascii_case(b"mac") {
                (&mut mac, "mac")
            } else {
                continue;
            };
            if slot.0.is_some() {
                return Err(AuthError::DuplicateParam(slot.1));
            }
            let text = String::from_utf8(raw)
                .map_err(|_| AuthError::NotUtf8 { field: "x-syncml-hmac parameter" })?;
            *slot.0 = Some(text);
        }
        if let Some(a) = &algorithm
            && !a.eq_ignore_ascii_case(ALGORITHM_MD5)
        {
            return Err(AuthError::UnsupportedAlgorithm(AuthError::echo(a)));
        }
        let username = username.filter(|u| !u.is_empty()).ok_or(AuthError::MissingParam("username"))?;
        let mac = mac.filter(|m| !m.is_empty()).ok_or(AuthError::MissingParam("mac"))?;
        Ok(HmacHeader { algorithm, username, mac })
    }

    /// The header value `algorithm=MD5, username="<name>", mac=<b64>`, the form the Motorola
    /// engine sends. `"` and `\` in the user name are escaped; control characters (other than
    /// tab) are dropped so the value cannot break the HTTP header.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(40 + self.username.len() + self.mac.len());
        out.push_str("algorithm=");
        out.push_str(ALGORITHM_MD5);
        out.push_str(", username=\"");
        for c in self.username.chars() {
            match c {
                '"' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                '\t' => out.push(c),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out.push_str("\", mac=");
        out.extend(self.mac.chars().filter(|c| !c.is_control()));
        out
    }

    /// Whether `algorithm` is absent or MD5.
    pub fn is_md5(&self) -> bool {
        self.algorithm.as_deref().is_none_or(|a| a.eq_ignore_ascii_case(ALGORITHM_MD5))
    }
}

impl fmt::Display for HmacHeader {
    /// Writes [`HmacHeader::to_header_value`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header_value())
    }
}

/// The raw 16-byte MAC `H(secret ":" nonce ":" B64(H(body)))`.
pub fn compute_raw(secret: &Secret, nonce: &[u8], body: &[u8]) -> [u8; 16] {
    let body_digest = b64(&h(&[body]));
    h(&[secret.as_bytes(), b":", nonce, b":", body_digest.as_bytes()])
}

/// The `mac` value `B64(H(secret ":" nonce ":" B64(H(body))))`, where `secret` is the stored
/// `B64(H(username ":" password))` ([`md5_secret`](super::md5_secret)), `nonce` the decoded
/// nonce bytes and `body` the exact HTTP body.
pub fn compute(secret: &Secret, nonce: &[u8], body: &[u8]) -> String {
    b64(&compute_raw(secret, nonce, body))
}

/// The header to send with `body`: [`HmacHeader::new`]`(username, compute(secret, nonce, body))`.
pub fn header(username: &str, secret: &Secret, nonce: &[u8], body: &[u8]) -> HmacHeader {
    HmacHeader::new(username, compute(secret, nonce, body))
}

/// Verifies a received header against the stored secret of `header.username`, the nonce the
/// verifier issued and the exact received body bytes, in constant time.
///
/// As for `syncml:auth-md5`, the MAC over the decoded nonce is tried first and then the MAC
/// over the nonce's Base64 text (FACTS D.2, L.3).
///
/// Errors: [`AuthError::UnsupportedAlgorithm`] if `algorithm` is not MD5,
/// [`AuthError::InvalidBase64`] / [`AuthError::BadDigestLength`] for a malformed `mac`,
/// [`AuthError::Mismatch`] for a wrong secret, nonce or body.
pub fn verify(
    header: &HmacHeader,
    secret: &Secret,
    nonce: &Nonce,
    body: &[u8],
) -> Result<NonceForm, AuthError> {
    if !header.is_md5() {
        let algorithm = header.algorithm.as_deref().unwrap_or_default();
        return Err(AuthError::UnsupportedAlgorithm(AuthError::echo(algorithm)));
    }
    let received = b64_decode_digest(&header.mac, "mac")?;
    match_either_nonce(&received, nonce, |n| compute_raw(secret, n, body))
}

/// Optional whitespace of HTTP (space and horizontal tab).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A byte cursor over the header value; never indexes out of bounds.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, want: u8) -> bool {
        if self.peek() == Some(want) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip(&mut self, pred: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
    }

    fn take(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        self.skip(pred);
        self.bytes.get(start..self.pos).unwrap_or_default()
    }

    /// The rest of a quoted-string whose opening `"` was consumed, with `\x` → `x`.
    fn quoted(&mut self) -> Result<Vec<u8>, AuthError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(AuthError::MalformedHeader("unterminated quoted-string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped =
                        self.peek().ok_or(AuthError::MalformedHeader("unterminated quoted-string"))?;
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::md5_secret;
    use super::*;

    const BODY: &[u8] = include_bytes!("../../tests/vectors/cm_omadm_pkg1_HMAC.xml");
    const HEADERS: &str = include_str!("../../tests/vectors/cm_omadm_pkg1_HMAC.headers.txt");

    /// The `x-syncml-hmac` value from the captured request headers.
    fn captured_value() -> &'static str {
        HEADERS
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.trim().eq_ignore_ascii_case(HEADER_NAME).then_some(value.trim())
            })
            .expect("capture has an x-syncml-hmac header")
    }

    #[test]
    fn motorola_hmac_capture_verifies() {
        let value = captured_value();
        assert_eq!(value, "algorithm=MD5, username=\"devuser\", mac=LFZ/RHcksnmw4PDXjSZ+tA==");
        let hdr = HmacHeader::parse(value).unwrap();
        assert_eq!(hdr.algorithm.as_deref(), Some("MD5"));
        assert_eq!(hdr.username, "devuser");
        assert_eq!(hdr.mac, "LFZ/RHcksnmw4PDXjSZ+tA==");
        assert_eq!(hdr.to_header_value(), value);
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::from_b64("Y2xpZW50bm9uY2U=").unwrap();
        assert_eq!(verify(&hdr, &secret, &nonce, BODY), Ok(NonceForm::Binary));
        assert_eq!(compute(&secret, nonce.as_bytes(), BODY), hdr.mac);
        assert_eq!(header("devuser", &secret, nonce.as_bytes(), BODY), hdr);
        // The capture carries no <Cred>: HMAC travels in the header only.
        assert!(!std::str::from_utf8(BODY).unwrap().contains("<Cred>"));
    }

    #[test]
    fn any_flipped_body_byte_fails() {
        let hdr = HmacHeader::parse(captured_value()).unwrap();
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::new(*b"clientnonce");
        for i in [0, BODY.len() / 2, BODY.len() - 1] {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(verify(&hdr, &secret, &nonce, &body), Err(AuthError::Mismatch));
        }
        let mut longer = BODY.to_vec();
        longer.push(b'\n');
        assert_eq!(verify(&hdr, &secret, &nonce, &longer), Err(AuthError::Mismatch));
    }

    #[test]
    fn wrong_password_or_nonce_fails() {
        let hdr = HmacHeader::parse(captured_value()).unwrap();
        let nonce = Nonce::new(*b"clientnonce");
        assert_eq!(verify(&hdr, &md5_secret("devuser", "devpx"), &nonce, BODY), Err(AuthError::Mismatch));
        let secret = md5_secret("devuser", "devpw");
        assert_eq!(verify(&hdr, &secret, &Nonce::new(*b"servernonce"), BODY), Err(AuthError::Mismatch));
        assert_eq!(verify(&hdr, &secret, &Nonce::resync(), BODY), Err(AuthError::Mismatch));
    }

    #[test]
    fn raw_base64_nonce_text_is_tolerated() {
        let secret = md5_secret("devuser", "devpw");
        let nonce = Nonce::new(*b"clientnonce");
        let hdr = HmacHeader::new("devuser", compute(&secret, b"Y2xpZW50bm9uY2U=", BODY));
        assert_eq!(verify(&hdr, &secret, &nonce, BODY), Ok(NonceForm::Base64Text));
    }

    #[test]
    fn parse_accepts_any_order_case_spacing_and_quoting() {
        let h = HmacHeader::parse(
            "  MAC = \"LFZ/RHcksnmw4PDXjSZ+tA==\" ,Username=\"Robert \\\"Bob\\\" Jordan\",\tx-ext=1,, ",
        )
        .unwrap();
        assert_eq!(h.algorithm, None);
        assert!(h.is_md5());
        assert_eq!(h.username, "Robert \"Bob\" Jordan");
        assert_eq!(h.mac, "LFZ/RHcksnmw4PDXjSZ+tA==");

        let h = HmacHeader::parse("algorithm=\"md5\",username=\"a,b\\\\c\",mac=abc").unwrap();
        assert_eq!(h.algorithm.as_deref(), Some("md5"));
        assert_eq!(h.username, "a,b\\c");
        assert_eq!(h.mac, "abc");
        assert_eq!(HmacHeader::parse(&h.to_header_value()).unwrap().username, "a,b\\c");

        // The spec example: parses (its mac is not a 16-byte digest, see the module docs).
        let spec = HmacHeader::parse(
            "algorithm=MD5, username=\"Robert Jordan\", mac=NTI2OTJhMDAwNjYxODkwYmQ3NWUxN2RhN2ZmYmJlMzk",
        )
        .unwrap();
        assert_eq!(spec.username, "Robert Jordan");
        assert_eq!(
            verify(&spec, &md5_secret("Robert Jordan", "x"), &Nonce::default(), b""),
            Err(AuthError::BadDigestLength { field: "mac", len: 32 })
        );
    }

    #[test]
    fn parse_requires_username_and_mac() {
        assert_eq!(
            HmacHeader::parse("algorithm=MD5, username=\"devuser\""),
            Err(AuthError::MissingParam("mac"))
        );
        assert_eq!(
            HmacHeader::parse("algorithm=MD5, mac=LFZ/RHcksnmw4PDXjSZ+tA=="),
            Err(AuthError::MissingParam("username"))
        );
        assert_eq!(HmacHeader::parse("username=\"\", mac=abc"), Err(AuthError::MissingParam("username")));
        assert_eq!(HmacHeader::parse("username=u, mac="), Err(AuthError::MissingParam("mac")));
        assert_eq!(HmacHeader::parse(""), Err(AuthError::MissingParam("username")));
    }

    #[test]
    fn parse_rejects_other_algorithms() {
        assert_eq!(
            HmacHeader::parse("algorithm=SHA-256, username=\"u\", mac=abc"),
            Err(AuthError::UnsupportedAlgorithm("SHA-256".into()))
        );
        let mut h = HmacHeader::new("devuser", "LFZ/RHcksnmw4PDXjSZ+tA==");
        h.algorithm = Some("SHA1".into());
        assert_eq!(
            verify(&h, &md5_secret("devuser", "devpw"), &Nonce::new(*b"clientnonce"), BODY),
            Err(AuthError::UnsupportedAlgorithm("SHA1".into()))
        );
    }

    #[test]
    fn parse_rejects_overlong_headers() {
        let value = format!("username=\"u\", mac=abc, pad=\"{}\"", "x".repeat(MAX_HEADER_LEN));
        assert_eq!(
            HmacHeader::parse(&value),
            Err(AuthError::HeaderTooLong { len: value.len(), max: MAX_HEADER_LEN })
        );
        let exactly = format!("username=u, mac=abc, p={}", "x".repeat(MAX_HEADER_LEN - 23));
        assert_eq!(exactly.len(), MAX_HEADER_LEN);
        assert!(HmacHeader::parse(&exactly).is_ok());
    }

    #[test]
    fn parse_rejects_malformed_syntax() {
        for (value, err) in [
            ("username=\"u, mac=abc", "unterminated quoted-string"),
            ("username=\"u\\", "unterminated quoted-string"),
            ("username \"u\", mac=abc", "expected '=' after a parameter name"),
            ("username=\"u\" mac=abc", "expected ',' between parameters"),
            ("=x, username=u, mac=abc", "expected a parameter name"),
            ("mac=a b, username=u", "expected ',' between parameters"),
        ] {
            assert_eq!(HmacHeader::parse(value), Err(AuthError::MalformedHeader(err)), "{value}");
        }
        assert_eq!(HmacHeader::parse("username=u, mac=a, MAC=b"), Err(AuthError::DuplicateParam("mac")));
    }

    #[test]
    fn header_value_cannot_be_split() {
        let h = HmacHeader::new("evil\r\nX-Injected: 1", "abc");
        let v = h.to_header_value();
        assert!(!v.contains('\r') && !v.contains('\n'), "{v}");
        assert_eq!(h.to_string(), v);
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = HmacHeader::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_header_like_input(s in "[ \t,=\"\\\\a-zA-Z0-9+/]{0,120}") {
            let _ = HmacHeader::parse(&s);
        }

        #[test]
        fn header_value_round_trips(user in "[^\\p{Cc}]{1,40}", mac in "[A-Za-z0-9+/=]{1,30}") {
            let h = HmacHeader::new(user, mac);
            proptest::prop_assert_eq!(HmacHeader::parse(&h.to_header_value()), Ok(h));
        }
    }
}
