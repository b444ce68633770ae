//! The connectionless WSP Push PDU (WAP-230-WSP §8.2.4.1; FACTS.md F.1, G.4, G.5, E.3).
//!
//! `TID | PDU type 0x06 | HeadersLen (uintvar) | Content-Type | headers | body`. HeadersLen
//! counts the Content-Type value and the headers, not the body. We send three well-known content
//! types: OMA CP (0x36), DM bootstrap (0x42) and DM notification (0x44). The Content-Type uses
//! the short form (one byte `0x80 | code`) without parameters and the general form
//! (`Value-length media SEC MAC`) with them, SEC before MAC because Intel CPClient only finds
//! them in that order (FACTS G.4). X-Wap-Application-Id is header 0x2F with an Integer-value.

use super::PushError;
use crate::wbxml::mbuint;

/// PDU type of a Push (FACTS F.1; Android `WspTypeDecoder.PDU_TYPE_PUSH`).
pub const PDU_TYPE_PUSH: u8 = 0x06;
/// Header field code of X-Wap-Application-Id (FACTS F.1).
pub const HEADER_X_WAP_APPLICATION_ID: u8 = 0x2F;
/// Well-known parameter code of Q (its value is a uintvar, WSP §8.4.2.4).
const PARAMETER_Q: u8 = 0x00;
/// Well-known parameter code of SEC (FACTS F.1).
pub const PARAMETER_SEC: u8 = 0x11;
/// Well-known parameter code of MAC (FACTS F.1).
pub const PARAMETER_MAC: u8 = 0x12;
/// Largest PDU [`PushPdu::decode`] reads: far above the 255 × 128 octets that concatenated SMS
/// can carry (FACTS F.2).
pub const MAX_PDU_LEN: usize = 64 * 1024;
/// Most headers, and most Content-Type parameters, [`PushPdu::decode`] reads.
pub const MAX_HEADERS: usize = 64;
/// Longest text [`PushError`] echoes from the input.
const ECHO_LIMIT: usize = 64;

/// The media types of the pushes we send, with their WSP well-known codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/vnd.wap.connectivity-wbxml`, 0x36: OMA CP (FACTS G.4).
    ConnectivityWbxml,
    /// `application/vnd.syncml.dm+wbxml`, 0x42: DM-profile WBXML bootstrap (FACTS G.5).
    DmBootstrap,
    /// `application/vnd.syncml.notification`, 0x44: DM notification, package 0 (FACTS E.3).
    DmNotification,
}

impl MediaType {
    const ALL: [MediaType; 3] = [Self::ConnectivityWbxml, Self::DmBootstrap, Self::DmNotification];

    /// The WSP well-known code (sent as the byte `0x80 | code`).
    pub const fn code(self) -> u8 {
        match self {
            Self::ConnectivityWbxml => 0x36,
            Self::DmBootstrap => 0x42,
            Self::DmNotification => 0x44,
        }
    }

    /// The media type of a well-known code.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| u32::from(m.code()) == code)
    }

    /// The textual MIME name, as a PAP sender writes it in the content part.
    pub const fn mime(self) -> &'static str {
        match self {
            Self::ConnectivityWbxml => "application/vnd.wap.connectivity-wbxml",
            Self::DmBootstrap => "application/vnd.syncml.dm+wbxml",
            Self::DmNotification => "application/vnd.syncml.notification",
        }
    }

    /// The media type of a textual name (ASCII case-insensitive).
    pub fn from_mime(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.mime().eq_ignore_ascii_case(name))
    }
}

/// The SEC parameter as carried on the wire: which key the MAC is computed with (FACTS G.4:
/// 0 NETWPIN, 1 USERPIN, 2 USERNETWPIN, 3 USERPINMAC; the methods themselves are
/// [`bootstrap::SecMethod`](crate::bootstrap::SecMethod)). A Short-integer, so 0..=127; other
/// values are kept as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sec(u8);

impl From<crate::bootstrap::SecMethod> for Sec {
    fn from(m: crate::bootstrap::SecMethod) -> Sec {
        Sec(m.code())
    }
}

impl Sec {
    /// Key from the IMSI.
    pub const NETWPIN: Self = Self(0);
    /// Key from a PIN the user types.
    pub const USERPIN: Self = Self(1);
    /// Key from the IMSI followed by the PIN.
    pub const USERNETWPIN: Self = Self(2);
    /// The PIN carries the MAC itself.
    pub const USERPINMAC: Self = Self(3);

    /// A SEC value; fails above 127 (not a Short-integer).
    pub fn new(code: u8) -> Result<Self, PushError> {
        if code <= 0x7F { Ok(Self(code)) } else { Err(PushError::InvalidSec(code)) }
    }

    /// The numeric value.
    pub const fn code(self) -> u8 {
        self.0
    }
}

/// The MAC parameter: HMAC-SHA1 of the body as 40 hexadecimal characters (FACTS G.4; we send
/// uppercase, which Intel CPClient requires; received text is kept as it came).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mac(String);

impl Mac {
    /// Length of the text: 20 bytes of HMAC-SHA1 in hex.
    pub const LEN: usize = 40;

    /// Checks that `text` is 40 hexadecimal characters.
    pub fn new(text: &str) -> Result<Self, PushError> {
        if text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(PushError::InvalidMac)
        }
    }

    /// The uppercase hex text of a 20-byte HMAC-SHA1 value.
    pub fn from_hmac(hmac: &[u8; 20]) -> Self {
        Self(hmac.iter().map(|b| format!("{b:02X}")).collect())
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Content-Type header value: media type plus the optional SEC and MAC parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// The media type.
    pub media: MediaType,
    /// SEC, for signed CP and bootstrap documents.
    pub sec: Option<Sec>,
    /// MAC, for signed CP and bootstrap documents.
    pub mac: Option<Mac>,
}

impl ContentType {
    /// A content type without parameters.
    pub fn new(media: MediaType) -> Self {
        Self { media, sec: None, mac: None }
    }

    /// Appends the encoded value: short form without parameters, general form with them.
    fn encode(&self, out: &mut Vec<u8>) {
        let media = 0x80 | self.media.code();
        if self.sec.is_none() && self.mac.is_none() {
            out.push(media);
            return;
        }
        let mut value = vec![media];
        if let Some(sec) = self.sec {
            value.extend([0x80 | PARAMETER_SEC, 0x80 | sec.code()]);
        }
        if let Some(mac) = &self.mac {
            value.push(0x80 | PARAMETER_MAC);
            value.extend_from_slice(mac.as_str().as_bytes());
            value.push(0);
        }
        write_value_length(out, value.len());
        out.extend_from_slice(&value);
    }
}

/// X-Wap-Application-Id: the push application a PDU is for (FACTS F.1). Codes are kept raw;
/// [`ApplicationId::uri`] names the registered ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApplicationId(pub u32);

/// Registered push application ids and their names (FACTS F.1: Wireshark packet-wsp.c
/// `vals_wap_application_ids`, Kannel `wsp_strings.def`).
const APPLICATION_IDS: [&str; 11] = [
    "x-wap-application:*",
    "x-wap-application:push.sia",
    "x-wap-application:wml.ua",
    "x-wap-application:wta.ua",
    "x-wap-application:mms.ua",
    "x-wap-application:push.syncml",
    "x-wap-application:loc.ua",
    "x-wap-application:syncml.dm",
    "x-wap-application:drm.ua",
    "x-wap-application:emn.ua",
    "x-wap-application:wv.ua",
];

impl ApplicationId {
    /// `x-wap-application:syncml.dm`, 0x07: DM notification and DM bootstrap (FACTS E.3, G.5).
    pub const SYNCML_DM: Self = Self(0x07);

    /// The textual id of a registered code, as a PAP sender writes it.
    pub fn uri(self) -> Option<&'static str> {
        usize::try_from(self.0).ok().and_then(|i| APPLICATION_IDS.get(i)).copied()
    }

    /// The code of a registered textual id (ASCII case-insensitive).
    pub fn from_uri(uri: &str) -> Option<Self> {
        (0u32..).zip(APPLICATION_IDS).find(|(_, name)| name.eq_ignore_ascii_case(uri)).map(|(c, _)| Self(c))
    }
}

/// A connectionless WSP Push PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPdu {
    /// Transaction id; any value (examples use 1).
    pub tid: u8,
    /// Content-Type, always the first header.
    pub content_type: ContentType,
    /// X-Wap-Application-Id, sent right after Content-Type.
    pub application_id: Option<ApplicationId>,
    /// The content (WBXML document or package 0).
    pub body: Vec<u8>,
}

impl PushPdu {
    /// The PDU bytes, as WDP carries them to port 2948.
    pub fn encode(&self) -> Vec<u8> {
        let mut headers = Vec::new();
        self.content_type.encode(&mut headers);
        if let Some(app) = self.application_id {
            headers.push(0x80 | HEADER_X_WAP_APPLICATION_ID);
            write_integer(&mut headers, app.0);
        }
        let mut out = Vec::with_capacity(headers.len() + self.body.len() + 7);
        out.extend([self.tid, PDU_TYPE_PUSH]);
        write_uintvar(&mut out, headers.len());
        out.extend_from_slice(&headers);
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads a Push PDU. Headers other than Content-Type and X-Wap-Application-Id, and unknown
    /// Content-Type parameters, are skipped when their length can be told; code page shifts and
    /// content types other than [`MediaType`] are rejected.
    pub fn decode(input: &[u8]) -> Result<Self, PushError> {
        if input.len() > MAX_PDU_LEN {
            return Err(PushError::TooLong { len: input.len(), max: MAX_PDU_LEN });
        }
        let mut r = Reader { buf: input, pos: 0 };
        let tid = r.byte()?;
        let pdu_type = r.byte()?;
        if pdu_type != PDU_TYPE_PUSH {
            return Err(PushError::NotPush { pdu_type });
        }
        let headers_len = r.uintvar()?;
        let headers_end = r.end_after(headers_len)?;
        let mut h = Reader { buf: &input[..headers_end], pos: r.pos };
        let content_type = read_content_type(&mut h)?;
        let mut application_id = None;
        let mut count = 0;
        while !h.at_end() {
            count += 1;
            if count > MAX_HEADERS {
                return Err(PushError::TooManyHeaders { max: MAX_HEADERS });
            }
            let at = h.pos;
            match h.byte()? {
                b if b == 0x80 | HEADER_X_WAP_APPLICATION_ID => {
                    if application_id.replace(read_application_id(&mut h)?).is_some() {
                        return Err(PushError::Duplicate("X-Wap-Application-Id"));
                    }
                }
                0x80..=0xFF => h.skip_value()?,
                0x00..=0x1F | 0x7F => {
                    return Err(PushError::Malformed { offset: at, reason: "header code page shift" });
                }
                _ => {
                    // Application-header: Token-text name, then a Text-string value.
                    h.pos = at;
                    h.text()?;
                    h.text()?;
                }
            }
        }
        Ok(Self { tid, content_type, application_id, body: input[headers_end..].to_vec() })
    }
}

/// Reads the Content-Type value (WSP §8.4.2.24): short form, text, or general form.
fn read_content_type(r: &mut Reader<'_>) -> Result<ContentType, PushError> {
    let at = r.pos;
    match r.peek()? {
        0x80..=0xFF => {
            let code = u32::from(r.byte()? & 0x7F);
            Ok(ContentType::new(media_of_code(code)?))
        }
        0x20..=0x7F => Ok(ContentType::new(media_of_text(r.text_str()?)?)),
        _ => {
            let len = r.value_length()?;
            let end = r.end_after(len)?;
            let mut v = Reader { buf: &r.buf[..end], pos: r.pos };
            r.pos = end;
            if v.at_end() {
                return Err(PushError::Malformed { offset: at, reason: "empty Content-Type" });
            }
            let media = match v.peek()? {
                0x20..=0x7F => media_of_text(v.text_str()?)?,
                _ => media_of_code(v.integer()?)?,
            };
            let mut ct = ContentType::new(media);
            read_parameters(&mut v, &mut ct)?;
            Ok(ct)
        }
    }
}

/// Reads Content-Type parameters up to the end of `r`, keeping SEC and MAC.
fn read_parameters(r: &mut Reader<'_>, ct: &mut ContentType) -> Result<(), PushError> {
    let mut count = 0;
    while !r.at_end() {
        count += 1;
        if count > MAX_HEADERS {
            return Err(PushError::TooManyHeaders { max: MAX_HEADERS });
        }
        let at = r.pos;
        // Typed-parameter: Integer-value token; Untyped-parameter: Token-text name.
        let token = match r.peek()? {
            0x20..=0x7F => {
                let name = r.text_str()?;
                if name.eq_ignore_ascii_case("sec") {
                    Some(PARAMETER_SEC)
                } else if name.eq_ignore_ascii_case("mac") {
                    Some(PARAMETER_MAC)
                } else {
                    None
                }
            }
            0x1F => return Err(PushError::Malformed { offset: at, reason: "bad parameter token" }),
            _ => u8::try_from(r.integer()?).ok(),
        };
        match token {
            Some(PARAMETER_SEC) => {
                let code = r.integer()?;
                let sec = Sec::new(u8::try_from(code).unwrap_or(u8::MAX))?;
                if ct.sec.replace(sec).is_some() {
                    return Err(PushError::Duplicate("SEC parameter"));
                }
            }
            Some(PARAMETER_MAC) => {
                if r.peek()? == b'"' {
                    r.pos += 1;
                }
                let mac = Mac::new(r.text_str()?)?;
                if ct.mac.replace(mac).is_some() {
                    return Err(PushError::Duplicate("MAC parameter"));
                }
            }
            Some(PARAMETER_Q) => {
                r.uintvar()?;
            }
            _ => r.skip_value()?,
        }
    }
    Ok(())
}

/// Reads the X-Wap-Application-Id value: an Integer-value or a registered textual id.
fn read_application_id(r: &mut Reader<'_>) -> Result<ApplicationId, PushError> {
    match r.peek()? {
        0x20..=0x7F => {
            let uri = r.text_str()?;
            ApplicationId::from_uri(uri).ok_or_else(|| PushError::UnknownApplicationId(echo(uri)))
        }
        _ => Ok(ApplicationId(r.integer()?)),
    }
}

fn media_of_code(code: u32) -> Result<MediaType, PushError> {
    MediaType::from_code(code).ok_or_else(|| PushError::UnsupportedContentType(format!("0x{code:02x}")))
}

fn media_of_text(text: &str) -> Result<MediaType, PushError> {
    MediaType::from_mime(text).ok_or_else(|| PushError::UnsupportedContentType(echo(text)))
}

/// At most [`ECHO_LIMIT`] characters of received text, for an error message.
fn echo(text: &str) -> String {
    text.chars().take(ECHO_LIMIT).collect()
}

/// Appends a WSP Value-length: one byte up to 30, else 0x1F and a uintvar (FACTS F.1).
fn write_value_length(out: &mut Vec<u8>, len: usize) {
    if len <= 30 {
        out.push(len as u8);
    } else {
        out.push(0x1F);
        write_uintvar(out, len);
    }
}

/// Appends a uintvar. Lengths here are those of headers we build (tens of bytes), so they fit.
fn write_uintvar(out: &mut Vec<u8>, len: usize) {
    mbuint::write(out, u32::try_from(len).unwrap_or(u32::MAX));
}

/// Appends an Integer-value: Short-integer below 128, else Long-integer (WSP §8.4.2.3).
fn write_integer(out: &mut Vec<u8>, value: u32) {
    if value < 0x80 {
        out.push(0x80 | value as u8);
    } else {
        let bytes = value.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push((bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// A cursor over `buf` (which ends where the enclosing field ends); offsets are into the PDU.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn eof(&self) -> PushError {
        PushError::UnexpectedEof { offset: self.buf.len() }
    }

    fn peek(&self) -> Result<u8, PushError> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.eof())
    }

    fn byte(&mut self) -> Result<u8, PushError> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    /// The position `len` bytes on, checked against the end.
    fn end_after(&self, len: u32) -> Result<usize, PushError> {
        usize::try_from(len)
            .ok()
            .and_then(|l| self.pos.checked_add(l))
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| self.eof())
    }

    fn uintvar(&mut self) -> Result<u32, PushError> {
        let at = self.pos;
        mbuint::read(self.buf, &mut self.pos).map_err(|e| match e {
            crate::DecodeError::UnexpectedEof { offset } => PushError::UnexpectedEof { offset },
            _ => PushError::Malformed { offset: at, reason: "uintvar longer than 32 bits" },
        })
    }

    /// Value-length: Short-length (0..=30) or 0x1F + uintvar.
    fn value_length(&mut self) -> Result<u32, PushError> {
        let at = self.pos;
        match self.byte()? {
            l @ 0..=30 => Ok(u32::from(l)),
            31 => self.uintvar(),
            _ => Err(PushError::Malformed { offset: at, reason: "expected a Value-length" }),
        }
    }

    /// Integer-value: Short-integer or Long-integer of 1..=4 octets (longer ones do not fit
    /// the codes we read).
    fn integer(&mut self) -> Result<u32, PushError> {
        let at = self.pos;
        match self.byte()? {
            b @ 0x80..=0xFF => Ok(u32::from(b & 0x7F)),
            len @ 1..=4 => {
                let end = self.end_after(u32::from(len))?;
                let v = self.buf[self.pos..end].iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
                self.pos = end;
                Ok(v)
            }
            _ => Err(PushError::Malformed { offset: at, reason: "expected an Integer-value" }),
        }
    }

    /// A NUL-terminated text (without the NUL).
    fn text(&mut self) -> Result<&'a [u8], PushError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let nul = rest.iter().position(|&b| b == 0).ok_or_else(|| self.eof())?;
        self.pos += nul + 1;
        Ok(&rest[..nul])
    }

    /// A NUL-terminated UTF-8 text.
    fn text_str(&mut self) -> Result<&'a str, PushError> {
        let at = self.pos;
        let bytes = self.text()?;
        std::str::from_utf8(bytes)
            .map_err(|_| PushError::Malformed { offset: at, reason: "text is not UTF-8" })
    }

    /// Skips a value whose form its first byte tells (WSP §8.4.1.2): Value-length and data,
    /// a text, or one Short-integer byte.
    fn skip_value(&mut self) -> Result<(), PushError> {
        match self.peek()? {
            0..=31 => {
                let len = self.value_length()?;
                self.pos = self.end_after(len)?;
            }
            32..=127 => {
                self.text()?;
            }
            _ => self.pos += 1,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKG0: &[u8] = include_bytes!("../../tests/vectors/spec_pkg0.bin");
    const PKG0_PUSH: &[u8] = include_bytes!("../../tests/vectors/push/pkg0_push.bin");
    const CP_PUSH: &[u8] = include_bytes!("../../tests/vectors/push/cp_push_userpin.bin");
    const W7: &[u8] = include_bytes!("../../tests/vectors/push/w7_nostrtbl.wbxml");
    const MAC: &str = "D74ED650CF67A91150E49A682A58AB6DA8CAE973";

    fn notification_push() -> PushPdu {
        PushPdu {
            tid: 1,
            content_type: ContentType::new(MediaType::DmNotification),
            application_id: Some(ApplicationId::SYNCML_DM),
            body: PKG0.to_vec(),
        }
    }

    fn cp_push() -> PushPdu {
        PushPdu {
            tid: 1,
            content_type: ContentType {
                media: MediaType::ConnectivityWbxml,
                sec: Some(Sec::USERPIN),
                mac: Some(Mac::new(MAC).unwrap()),
            },
            application_id: None,
            body: W7.to_vec(),
        }
    }

    #[test]
    fn encodes_the_notification_vector() {
        assert_eq!(notification_push().encode(), PKG0_PUSH);
        assert_eq!(&PKG0_PUSH[..6], [0x01, 0x06, 0x03, 0xC4, 0xAF, 0x87]);
    }

    #[test]
    fn encodes_the_cp_userpin_vector() {
        let pdu = cp_push().encode();
        assert_eq!(pdu, CP_PUSH);
        assert_eq!(&pdu[..9], [0x01, 0x06, 0x2F, 0x1F, 0x2D, 0xB6, 0x91, 0x81, 0x92]);
    }

    #[test]
    fn decodes_both_vectors() {
        assert_eq!(PushPdu::decode(PKG0_PUSH).unwrap(), notification_push());
        assert_eq!(PushPdu::decode(CP_PUSH).unwrap(), cp_push());
    }

    #[test]
    fn bootstrap_uses_0xc2_and_the_general_form_with_sec_only() {
        let pdu = PushPdu {
            tid: 7,
            content_type: ContentType { media: MediaType::DmBootstrap, sec: Some(Sec::NETWPIN), mac: None },
            application_id: Some(ApplicationId::SYNCML_DM),
            body: vec![2, 0xA4, 1, 0x6A, 0],
        };
        let bytes = pdu.encode();
        assert_eq!(bytes[..9], [7, 6, 6, 3, 0xC2, 0x91, 0x80, 0xAF, 0x87]);
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn long_application_id_round_trips() {
        let mut pdu = notification_push();
        pdu.application_id = Some(ApplicationId(0x9000));
        let bytes = pdu.encode();
        assert_eq!(bytes[2..8], [5, 0xC4, 0xAF, 2, 0x90, 0x00]);
        assert_eq!(PushPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn names() {
        assert_eq!(MediaType::DmNotification.mime(), "application/vnd.syncml.notification");
        assert_eq!(MediaType::from_mime("Application/Vnd.SyncML.DM+WBXML"), Some(MediaType::DmBootstrap));
        assert_eq!(ApplicationId::SYNCML_DM.uri(), Some("x-wap-application:syncml.dm"));
        assert_eq!(ApplicationId::from_uri("x-wap-application:syncml.dm"), Some(ApplicationId::SYNCML_DM));
        assert_eq!(ApplicationId(0x99).uri(), None);
        assert_eq!(Mac::from_hmac(&[0xAB; 20]).as_str(), "AB".repeat(20));
        assert!(Mac::new("abc").is_err());
        assert!(Sec::new(128).is_err());
    }

    #[test]
    fn reads_textual_forms_and_skips_other_headers() {
        // Kannel-style: textual content type and application id, Content-Length header
        // (0x8D, short-int), an application header, then the body.
        let mut pdu = vec![1, 6, 0];
        let mut h = b"application/vnd.syncml.notification\0".to_vec();
        h.extend(b"\xAFx-wap-application:syncml.dm\0");
        h.extend([0x8D, 0x85]);
        h.extend(b"X-Foo\0bar\0");
        pdu[2] = h.len() as u8;
        pdu.extend(h);
        pdu.extend(b"body");
        let d = PushPdu::decode(&pdu).unwrap();
        assert_eq!(d.content_type, ContentType::new(MediaType::DmNotification));
        assert_eq!(d.application_id, Some(ApplicationId::SYNCML_DM));
        assert_eq!(d.body, b"body");
    }

    #[test]
    fn skips_unknown_parameters_and_reads_textual_sec_mac() {
        // Value-length, 0xB6, Q (uintvar 0x83 0x01), Charset 0x81 0xEA, "sec" 0x81, "mac" text.
        let mut v = vec![0xB6, 0x80, 0x83, 0x01, 0x81, 0xEA];
        v.extend(b"sec\0\x81mac\0");
        v.extend(MAC.as_bytes());
        v.push(0);
        let mut pdu = vec![1, 6, (v.len() + 2) as u8, 0x1F, v.len() as u8];
        pdu.extend(v);
        let d = PushPdu::decode(&pdu).unwrap();
        assert_eq!(d.content_type.sec, Some(Sec::USERPIN));
        assert_eq!(d.content_type.mac.unwrap().as_str(), MAC);
    }

    #[test]
    fn rejects_bad_input_with_typed_errors() {
        assert!(matches!(PushPdu::decode(&[1, 7, 1, 0xC4]), Err(PushError::NotPush { pdu_type: 7 })));
        assert!(matches!(PushPdu::decode(&[1, 6, 1, 0xC5]), Err(PushError::UnsupportedContentType(_))));
        assert!(matches!(PushPdu::decode(&[1, 6, 9, 0xC4]), Err(PushError::UnexpectedEof { .. })));
        assert!(matches!(
            PushPdu::decode(&[1, 6, 5, 0xC4, 0xAF, 0x87, 0xAF, 0x87]),
            Err(PushError::Duplicate(_))
        ));
        assert!(matches!(PushPdu::decode(&[1, 6, 2, 0xC4, 0x7F]), Err(PushError::Malformed { .. })));
        assert!(matches!(
            PushPdu::decode(&[1, 6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(PushError::Malformed { .. })
        ));
        assert!(matches!(PushPdu::decode(&vec![0; MAX_PDU_LEN + 1]), Err(PushError::TooLong { .. })));
        let mut bad_mac = CP_PUSH.to_vec();
        bad_mac[10] = b'G';
        assert_eq!(PushPdu::decode(&bad_mac), Err(PushError::InvalidMac));
    }

    #[test]
    fn every_truncation_of_the_vectors_errors() {
        for v in [PKG0_PUSH, CP_PUSH] {
            let headers_end = 3 + usize::from(v[2]);
            for n in 0..headers_end {
                assert!(PushPdu::decode(&v[..n]).is_err(), "prefix {n}");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic sweep of mutations of both vectors.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for v in [PKG0_PUSH, CP_PUSH] {
            for _ in 0..20_000 {
                let mut m = v.to_vec();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let i = (seed as usize) % m.len().min(60);
                    m[i] = (seed >> 32) as u8;
                }
                let _ = PushPdu::decode(&m);
            }
        }
    }
}
