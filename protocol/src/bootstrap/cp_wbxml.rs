//! WBXML encoding of CP documents (WAP-192-WBXML with attributes; FACTS.md A, G.1-G.3).
//!
//! Writing: WBXML 1.3, public id 0x0B, UTF-8, no string table; tags on page 0; names and
//! types with a token are written as that token (attribute page switched only when the
//! current page lacks it), others as the bare `name`/`type` token and an inline string, as
//! libwbxml does (`87 05 03 "ROLE" 00 06 03 "8" 00 01`); values are inline strings except
//! the enumerated values of [`cp_tokens::TOKENIZED_VALUE_PARMS`].
//!
//! Reading accepts what other encoders write: both attribute pages, values split into
//! tokens and strings (`E0 E0 03 "==" 00` = `AAAAAA==`, FACTS.md A.4), string-table
//! references, numeric or FPI public ids. Every size and count is bounded by [`Limits`].

use super::cp::{Characteristic, FPI_PROV_1_0, Parm, ProvisioningDoc};
use super::cp_tokens::{self, Attr, Element};
use crate::error::DecodeError;
use crate::limits::Limits;
use crate::wbxml::{
    CHARSET_ISO_8859_1, CHARSET_US_ASCII, CHARSET_UTF_8, PROV_1_0, UNKNOWN_PUBLIC_ID, mbuint,
};

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const STR_T: u8 = 0x83;
const OPAQUE: u8 = 0xC3;
const WITH_CONTENT: u8 = 0x40;
const WITH_ATTRS: u8 = 0x80;

/// Deepest nesting read whatever the limits say: the reader recurses, and PROV documents are
/// shallow (APPLICATION/APPADDR/PORT is depth 4).
const MAX_DEPTH: usize = 64;

/// WBXML 1.3, as Kannel and libwbxml write CP documents (FACTS.md G.1, K.5).
const VERSION_1_3: u8 = 0x03;

// ---- writing ----

struct Encoder {
    out: Vec<u8>,
    attr_page: u8,
}

/// Encodes `doc` (see the module documentation).
pub fn encode(doc: &ProvisioningDoc) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(VERSION_1_3);
    mbuint::write(&mut out, PROV_1_0);
    mbuint::write(&mut out, CHARSET_UTF_8);
    out.push(0x00); // empty string table
    let mut e = Encoder { out, attr_page: 0 };
    let content = !doc.characteristics.is_empty();
    e.tag(0x05, content);
    e.attr(Attr::Version, &doc.version);
    e.out.push(END);
    if content {
        for c in &doc.characteristics {
            e.characteristic(c);
        }
        e.out.push(END);
    }
    e.out
}

impl Encoder {
    fn tag(&mut self, token: u8, content: bool) {
        self.out.push(token | WITH_ATTRS | if content { WITH_CONTENT } else { 0 });
    }

    fn switch(&mut self, page: u8) {
        if page != self.attr_page {
            self.out.extend_from_slice(&[SWITCH_PAGE, page]);
            self.attr_page = page;
        }
    }

    /// An attribute whose whole value may be implied by its start token (version, type, name).
    fn attr(&mut self, attr: Attr, value: &str) {
        if let Some(start) = cp_tokens::find_attr_start(attr, value, self.attr_page) {
            self.switch(start.page);
            self.out.push(start.token);
            return;
        }
        if let Some(start) = cp_tokens::find_attr_start(attr, "", self.attr_page) {
            self.switch(start.page);
            self.out.push(start.token);
            self.string(value);
        }
    }

    fn string(&mut self, text: &str) {
        // STR_I ends at NUL: a NUL inside the text goes as ENTITY 0.
        for (i, piece) in text.split('\0').enumerate() {
            if i > 0 {
                self.out.extend_from_slice(&[ENTITY, 0x00]);
            }
            if !piece.is_empty() {
                self.out.push(STR_I);
                self.out.extend_from_slice(piece.as_bytes());
                self.out.push(0x00);
            }
        }
    }

    fn characteristic(&mut self, c: &Characteristic) {
        let content = !c.parms.is_empty() || !c.children.is_empty();
        self.tag(0x06, content);
        self.attr(Attr::Type, &c.type_);
        self.out.push(END);
        if !content {
            return;
        }
        for p in &c.parms {
            self.parm(p);
        }
        for child in &c.children {
            self.characteristic(child);
        }
        self.out.push(END);
    }

    fn parm(&mut self, p: &Parm) {
        self.tag(0x07, false);
        self.attr(Attr::Name, &p.name);
        if let Some(value) = &p.value {
            if let Some(start) = cp_tokens::find_attr_start(Attr::Value, "", self.attr_page) {
                self.switch(start.page);
                self.out.push(start.token);
            }
            let token = cp_tokens::TOKENIZED_VALUE_PARMS
                .contains(&p.name.as_str())
                .then(|| cp_tokens::find_attr_value(value, self.attr_page))
                .flatten();
            match token {
                Some(t) => {
                    self.switch(t.page);
                    self.out.push(t.token);
                }
                None => self.string(value),
            }
        }
        self.out.push(END);
    }
}

// ---- reading ----

#[derive(Clone, Copy)]
enum Charset {
    Utf8,
    UsAscii,
    Latin1,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: Limits,
    charset: Charset,
    strtbl: &'a [u8],
    strtbl_at: usize,
    tag_page: u8,
    attr_page: u8,
    elements: usize,
}

/// One element as read, before its meaning is checked.
struct Raw {
    element: Element,
    at: usize,
    attrs: Vec<(Attr, String)>,
    children: Vec<Raw>,
}

fn wbxml(offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::Wbxml { offset, reason: reason.into() }
}

fn structure(element: &'static str, offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::Structure { element, reason: reason.into(), offset }
}

/// Decodes a CP document (see the module documentation).
pub fn decode(input: &[u8], limits: &Limits) -> Result<ProvisioningDoc, DecodeError> {
    if input.len() > limits.max_message_bytes {
        return Err(DecodeError::MessageTooLarge { size: input.len(), limit: limits.max_message_bytes });
    }
    let Some(&version) = input.first() else {
        return Err(DecodeError::UnexpectedEof { offset: 0 });
    };
    if version == 0 || version > 0x0F {
        return Err(wbxml(0, format!("unsupported WBXML version byte {version:#04x}")));
    }
    let mut pos = 1;
    let public_id = mbuint::read(input, &mut pos)?;
    let fpi_at = pos;
    let fpi_index = if public_id == 0 { Some(mbuint::read(input, &mut pos)?) } else { None };
    let charset_at = pos;
    let charset = match mbuint::read(input, &mut pos)? {
        CHARSET_UTF_8 => Charset::Utf8,
        CHARSET_US_ASCII => Charset::UsAscii,
        CHARSET_ISO_8859_1 => Charset::Latin1,
        other => return Err(wbxml(charset_at, format!("unsupported charset MIBenum {other}"))),
    };
    let table_len = mbuint::read(input, &mut pos)? as usize;
    if table_len > input.len() - pos {
        return Err(DecodeError::UnexpectedEof { offset: input.len() });
    }
    let mut d = Decoder {
        input,
        pos: pos + table_len,
        limits: *limits,
        charset,
        strtbl: &input[pos..pos + table_len],
        strtbl_at: pos,
        tag_page: 0,
        attr_page: 0,
        elements: 0,
    };
    match fpi_index {
        Some(index) => {
            let fpi = d.table_string(index, fpi_at)?;
            if fpi != FPI_PROV_1_0 {
                return Err(wbxml(fpi_at, format!("public id {fpi:?} is not {FPI_PROV_1_0}")));
            }
        }
        None if public_id == PROV_1_0 || public_id == UNKNOWN_PUBLIC_ID => {}
        None => return Err(wbxml(1, format!("public id {public_id:#x} is not PROV 1.0 (0x0B)"))),
    }
    let root = d.element(1)?;
    if d.pos != input.len() {
        return Err(wbxml(d.pos, format!("{} bytes after the root element", input.len() - d.pos)));
    }
    to_doc(root)
}

impl<'a> Decoder<'a> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.input.get(self.pos).ok_or(DecodeError::UnexpectedEof { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn text(&self, bytes: &[u8], at: usize) -> Result<String, DecodeError> {
        if bytes.len() > self.limits.max_string_bytes {
            return Err(DecodeError::ValueTooLong {
                len: bytes.len(),
                limit: self.limits.max_string_bytes,
                offset: at,
            });
        }
        match self.charset {
            Charset::Utf8 => std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|e| DecodeError::InvalidUtf8 { offset: at + e.valid_up_to() }),
            Charset::UsAscii => match bytes.iter().position(|b| !b.is_ascii()) {
                Some(i) => Err(DecodeError::InvalidUtf8 { offset: at + i }),
                None => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
            },
            Charset::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
        }
    }

    fn table_string(&self, index: u32, at: usize) -> Result<String, DecodeError> {
        let start = index as usize;
        let rest = self
            .strtbl
            .get(start..)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| wbxml(at, format!("string table reference {index} is out of range")))?;
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        self.text(&rest[..len], self.strtbl_at + start)
    }

    fn element(&mut self, depth: usize) -> Result<Raw, DecodeError> {
        let (token, at) = loop {
            let at = self.pos;
            match self.byte()? {
                SWITCH_PAGE => self.tag_page = self.byte()?,
                t @ (END | ENTITY | STR_I | STR_T | OPAQUE) => {
                    return Err(wbxml(at, format!("token {t:#04x}: PROV elements hold no character data")));
                }
                t if t & 0x3F <= LITERAL => {
                    return Err(wbxml(at, format!("token {t:#04x} is not a PROV element")));
                }
                t => break (t, at),
            }
        };
        let element = cp_tokens::element(self.tag_page, token & 0x3F)
            .ok_or_else(|| wbxml(at, format!("unknown tag {token:#04x} on page {}", self.tag_page)))?;
        let max_depth = self.limits.max_depth.min(MAX_DEPTH);
        if depth > max_depth {
            return Err(DecodeError::TooDeep { limit: max_depth, offset: at });
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(DecodeError::TooManyElements { limit: self.limits.max_elements, offset: at });
        }
        let attrs = if token & WITH_ATTRS != 0 { self.attributes()? } else { Vec::new() };
        let mut children = Vec::new();
        if token & WITH_CONTENT != 0 {
            loop {
                match self.input.get(self.pos) {
                    Some(&END) => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => children.push(self.element(depth + 1)?),
                    None => return Err(DecodeError::UnexpectedEof { offset: self.pos }),
                }
            }
        }
        Ok(Raw { element, at, attrs, children })
    }

    fn attributes(&mut self) -> Result<Vec<(Attr, String)>, DecodeError> {
        let mut attrs: Vec<(Attr, String)> = Vec::new();
        let mut current: Option<(Attr, String)> = None;
        loop {
            let at = self.pos;
            let token = self.byte()?;
            let piece = match token {
                SWITCH_PAGE => {
                    self.attr_page = self.byte()?;
                    continue;
                }
                END => {
                    attrs.extend(current.take());
                    break;
                }
                STR_I => {
                    let rest = &self.input[self.pos..];
                    let len = rest
                        .iter()
                        .position(|&b| b == 0)
                        .ok_or(DecodeError::UnexpectedEof { offset: self.input.len() })?;
                    let s = self.text(&rest[..len], self.pos)?;
                    self.pos += len + 1;
                    s
                }
                STR_T => {
                    let index = mbuint::read(self.input, &mut self.pos)?;
                    self.table_string(index, at)?
                }
                ENTITY => {
                    let code = mbuint::read(self.input, &mut self.pos)?;
                    char::from_u32(code)
                        .ok_or_else(|| wbxml(at, format!("ENTITY {code:#x} is not a character")))?
                        .to_string()
                }
                OPAQUE => {
                    let len = mbuint::read(self.input, &mut self.pos)? as usize;
                    if len > self.input.len() - self.pos {
                        return Err(DecodeError::UnexpectedEof { offset: self.input.len() });
                    }
                    let s = self.text(&self.input[self.pos..self.pos + len], self.pos)?;
                    self.pos += len;
                    s
                }
                t @ (0x04 | 0x40..=0x44 | 0x80..=0x82 | 0x84 | 0xC0..=0xC2 | 0xC4) => {
                    return Err(wbxml(at, format!("token {t:#04x} is not used in PROV attributes")));
                }
                t if t < 0x80 => {
                    let start = cp_tokens::attr_start(self.attr_page, t).ok_or_else(|| {
                        wbxml(at, format!("unknown attribute token {t:#04x} on page {}", self.attr_page))
                    })?;
                    attrs.extend(current.take());
                    if attrs.iter().any(|(a, _)| *a == start.attr) {
                        return Err(wbxml(at, format!("attribute {} given twice", start.attr.name())));
                    }
                    current = Some((start.attr, start.prefix.to_owned()));
                    continue;
                }
                t => cp_tokens::attr_value(self.attr_page, t)
                    .ok_or_else(|| {
                        wbxml(at, format!("unknown value token {t:#04x} on page {}", self.attr_page))
                    })?
                    .text
                    .to_owned(),
            };
            let (_, value) =
                current.as_mut().ok_or_else(|| wbxml(at, "attribute value before any attribute"))?;
            if value.len() + piece.len() > self.limits.max_string_bytes {
                return Err(DecodeError::ValueTooLong {
                    len: value.len() + piece.len(),
                    limit: self.limits.max_string_bytes,
                    offset: at,
                });
            }
            value.push_str(&piece);
        }
        Ok(attrs)
    }
}

/// Takes the one allowed attribute set out of `raw`, refusing others.
fn attrs_of(raw: &mut Raw, name: &'static str, allowed: &[Attr]) -> Result<Vec<(Attr, String)>, DecodeError> {
    let attrs = std::mem::take(&mut raw.attrs);
    if let Some((a, _)) = attrs.iter().find(|(a, _)| !allowed.contains(a)) {
        return Err(structure(name, raw.at, format!("attribute {} is not allowed here", a.name())));
    }
    Ok(attrs)
}

fn take(attrs: &mut Vec<(Attr, String)>, attr: Attr) -> Option<String> {
    let i = attrs.iter().position(|(a, _)| *a == attr)?;
    Some(attrs.swap_remove(i).1)
}

fn to_doc(mut root: Raw) -> Result<ProvisioningDoc, DecodeError> {
    if root.element != Element::ProvisioningDoc {
        return Err(structure("wap-provisioningdoc", root.at, "the root element is not wap-provisioningdoc"));
    }
    let mut attrs = attrs_of(&mut root, "wap-provisioningdoc", &[Attr::Version])?;
    let version = take(&mut attrs, Attr::Version).unwrap_or_else(|| "1.0".to_owned());
    let characteristics = root
        .children
        .into_iter()
        .map(|c| match c.element {
            Element::Characteristic => to_characteristic(c),
            _ => Err(structure("wap-provisioningdoc", c.at, "only characteristic elements are allowed here")),
        })
        .collect::<Result<_, _>>()?;
    Ok(ProvisioningDoc { version, characteristics })
}

fn to_characteristic(mut raw: Raw) -> Result<Characteristic, DecodeError> {
    let mut attrs = attrs_of(&mut raw, "characteristic", &[Attr::Type])?;
    let type_ = take(&mut attrs, Attr::Type).ok_or_else(|| structure("characteristic", raw.at, "no type"))?;
    let mut c = Characteristic::new(type_);
    for child in raw.children {
        match child.element {
            Element::Characteristic => c.children.push(to_characteristic(child)?),
            Element::Parm => c.parms.push(to_parm(child)?),
            Element::ProvisioningDoc => {
                return Err(structure("characteristic", child.at, "wap-provisioningdoc cannot nest"));
            }
        }
    }
    Ok(c)
}

fn to_parm(mut raw: Raw) -> Result<Parm, DecodeError> {
    let mut attrs = attrs_of(&mut raw, "parm", &[Attr::Name, Attr::Value])?;
    let name = take(&mut attrs, Attr::Name).ok_or_else(|| structure("parm", raw.at, "no name"))?;
    if let Some(child) = raw.children.first() {
        return Err(structure("parm", child.at, "parm is empty"));
    }
    Ok(Parm { name, value: take(&mut attrs, Attr::Value) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W7: &[u8] = include_bytes!("../../tests/vectors/bootstrap/w7_nostrtbl.wbxml");

    fn dec(bytes: &[u8]) -> Result<ProvisioningDoc, DecodeError> {
        decode(bytes, &Limits::default())
    }

    #[test]
    fn libwbxml_vector_decodes() {
        let doc = dec(W7).unwrap();
        let app = &doc.characteristics[0];
        assert_eq!(app.value_of("APPID"), Some("w7"));
        assert_eq!(app.children[1].value_of("AAUTHLEVEL"), Some("APPSRV"), "page-1 value token 8D");
        assert_eq!(app.children[1].value_of("AAUTHTYPE"), Some("DIGEST"), "page-1 value token 93");
        assert_eq!(app.children[2].value_of("AAUTHTYPE"), Some("HTTP-DIGEST"), "page-0 value token 9D");
        assert_eq!(app.children[2].value_of("AAUTHDATA"), Some("AAAAAA=="), "E0 E0 STR_I");
    }

    #[test]
    fn header_and_simple_bytes() {
        let doc = ProvisioningDoc::new(vec![
            Characteristic::new("NAPDEF").parm("NAME", "x").parm("BEARER", "GSM-GPRS"),
            Characteristic::new("APPLICATION").parm("APPID", "w7").parm("ROLE", "8"),
        ]);
        let bytes = encode(&doc);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x03, 0x0B, 0x6A, 0x00,
            0xC5, 0x46, 0x01,
            0xC6, 0x55, 0x01,
            0x87, 0x07, 0x06, 0x03, b'x', 0x00, 0x01,
            0x87, 0x10, 0x06, 0xAB, 0x01,
            0x01,
            0xC6, 0x00, 0x01, 0x55, 0x01,
            0x87, 0x36, 0x06, 0x03, b'w', b'7', 0x00, 0x01,
            0x87, 0x05, 0x03, b'R', b'O', b'L', b'E', 0x00, 0x06, 0x03, b'8', 0x00, 0x01,
            0x01,
            0x01,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(dec(&bytes).unwrap(), doc);
    }

    #[test]
    fn round_trip_odd_values() {
        let doc = ProvisioningDoc {
            version: "1.1".into(),
            characteristics: vec![
                Characteristic::new("X y")
                    .parm("", "")
                    .parm("NAP-ADDRTYPE", "APN")
                    .child(Characteristic::new("E")),
                Characteristic::new("A").parm("N", "a\0b").parm("INIT", "").parm("BEARER", "unknown"),
            ],
        };
        let mut doc2 = doc.clone();
        doc2.characteristics[1].parms.push(Parm::flag("F"));
        for d in [doc, doc2, ProvisioningDoc::default()] {
            assert_eq!(dec(&encode(&d)).unwrap(), d);
        }
    }

    #[test]
    fn string_table_and_fpi() {
        // Public id via the string table, a value from the table.
        let mut bytes = vec![0x03, 0x00, 0x00, 0x6A, 0x21];
        bytes.extend_from_slice(FPI_PROV_1_0.as_bytes());
        bytes.extend_from_slice(b"\0ab\0");
        bytes.extend_from_slice(&[0xC5, 0x46, 0x01, 0xC6, 0x50, 0x83, 30, 0x01, 0x01, 0x01]);
        assert_eq!(bytes[4] as usize, FPI_PROV_1_0.len() + 4);
        let doc = dec(&bytes).unwrap();
        assert_eq!(doc.characteristics[0].type_, "ab");
    }

    #[test]
    fn hostile_inputs_are_errors() {
        let good = encode(&ProvisioningDoc::new(vec![Characteristic::new("A").parm("N", "v")]));
        for len in 0..good.len() {
            assert!(dec(&good[..len]).is_err(), "truncated at {len}");
        }
        let mut trailing = good.clone();
        trailing.push(0x01);
        assert!(dec(&trailing).is_err());
        // SyncML public id.
        assert!(dec(&[0x02, 0xA4, 0x01, 0x6A, 0x00, 0xC5, 0x46, 0x01, 0x01]).is_err());
        // A parm at the top level, a characteristic without type, an unknown token.
        assert!(dec(&[0x03, 0x0B, 0x6A, 0x00, 0xC5, 0x46, 0x01, 0x87, 0x07, 0x01, 0x01]).is_err());
        assert!(dec(&[0x03, 0x0B, 0x6A, 0x00, 0xC5, 0x46, 0x01, 0x46, 0x01, 0x01]).is_err());
        assert!(dec(&[0x03, 0x0B, 0x6A, 0x00, 0xC5, 0x7F, 0x01, 0x01]).is_err());
        // Depth.
        let mut deep = vec![0x03, 0x0B, 0x6A, 0x00, 0xC5, 0x46, 0x01];
        for _ in 0..100 {
            deep.extend_from_slice(&[0xC6, 0x50, 0x01]);
        }
        assert!(matches!(dec(&deep), Err(DecodeError::TooDeep { .. })));
        // Value length.
        let small = Limits { max_string_bytes: 3, ..Limits::default() };
        let long = encode(&ProvisioningDoc::new(vec![Characteristic::new("A").parm("N", "vvvv")]));
        assert!(matches!(decode(&long, &small), Err(DecodeError::ValueTooLong { .. })));
    }
}
