//! The WBXML pull parser (WAP-192-WBXML §5, FACTS.md A).

use std::borrow::Cow;

use super::{CHARSET_ISO_8859_1, CHARSET_US_ASCII, CHARSET_UTF_8, Header, PublicId, mbuint};
use crate::error::DecodeError;
use crate::event::{Event, EventReader};
use crate::limits::Limits;
use crate::tag::Tag;

// Global tokens (FACTS.md A.3).
const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const ENTITY: u8 = 0x02;
const STR_I: u8 = 0x03;
const LITERAL: u8 = 0x04;
const EXT_I_0: u8 = 0x40;
const EXT_I_2: u8 = 0x42;
const PI: u8 = 0x43;
const LITERAL_C: u8 = 0x44;
const EXT_T_0: u8 = 0x80;
const EXT_T_2: u8 = 0x82;
const STR_T: u8 = 0x83;
const LITERAL_A: u8 = 0x84;
const EXT_0: u8 = 0xC0;
const EXT_2: u8 = 0xC2;
const OPAQUE: u8 = 0xC3;
const LITERAL_AC: u8 = 0xC4;

// Tag byte flags (FACTS.md A.4).
const WITH_CONTENT: u8 = 0x40;
const WITH_ATTRS: u8 = 0x80;
const IDENTITY: u8 = 0x3F;

const NO_ATTRIBUTES: &str = "attributes are not used in SyncML DM documents";

/// The charsets accepted for strings; all are ASCII-compatible, so NUL ends a string.
#[derive(Clone, Copy, Debug)]
enum Charset {
    Utf8,
    UsAscii,
    Latin1,
}

/// A pull parser over one WBXML document (WAP-192-WBXML, FACTS.md A and B).
///
/// Produces [`Event`]s for the three DM code pages via [`Tag::from_token`]; elements of other
/// pages and LITERAL tags come out as [`Tag::Unknown`]. UTF-8 and US-ASCII strings and all
/// OPAQUE data are borrowed from the input, so decoding allocates nothing per event (ENTITY
/// and non-ASCII ISO-8859-1 strings are the exceptions). Every [`Limits`] bound is enforced
/// and every error carries the byte offset where it was found.
///
/// Rejected, because SyncML DM does not use them: attributes, PI and EXT tokens.
#[derive(Debug)]
pub struct WbxmlReader<'a> {
    input: &'a [u8],
    /// Next byte to read.
    pos: usize,
    limits: Limits,
    header: Header,
    charset: Charset,
    strtbl: &'a [u8],
    /// Byte offset of the string table in `input`, for error offsets.
    strtbl_at: usize,
    /// Current tag code page (SWITCH_PAGE).
    page: u8,
    /// Open elements.
    depth: usize,
    /// Elements started so far.
    elements: usize,
    /// The last `Start` had no content: its `End` comes next, without input.
    pending_end: bool,
    /// The root element has ended.
    done: bool,
    /// Offset of the event last returned.
    last: usize,
}

impl<'a> WbxmlReader<'a> {
    /// Parses the header (version, public id, charset, string table; FACTS.md A.1) and
    /// positions the reader at the first body token.
    ///
    /// Accepts any WBXML 1.x from 1.1 on (version `0x01..=0x0F`; 1.0 had no charset field),
    /// numeric or string-table public ids (the string-table FPI ends at a NUL or at the end of
    /// the table: the Motorola engine writes it without NUL, FACTS.md A.1), and the charsets
    /// UTF-8 (106), US-ASCII (3) and ISO-8859-1 (4).
    pub fn new(input: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_message_bytes {
            return Err(DecodeError::MessageTooLarge { size: input.len(), limit: limits.max_message_bytes });
        }
        let Some(&version) = input.first() else {
            return Err(DecodeError::UnexpectedEof { offset: 0 });
        };
        if version == 0 || version > 0x0F {
            return Err(wbxml(
                0,
                format!("unsupported WBXML version byte {version:#04x} (expected 1.1 to 1.x)"),
            ));
        }
        let mut pos = 1;
        let public_id = mbuint::read(input, &mut pos)?;
        let fpi_at = pos;
        let fpi_index = if public_id == 0 { Some(mbuint::read(input, &mut pos)?) } else { None };
        let charset_at = pos;
        let charset_id = mbuint::read(input, &mut pos)?;
        let charset = match charset_id {
            CHARSET_UTF_8 => Charset::Utf8,
            CHARSET_US_ASCII => Charset::UsAscii,
            CHARSET_ISO_8859_1 => Charset::Latin1,
            other => {
                return Err(wbxml(
                    charset_at,
                    format!(
                        "unsupported charset MIBenum {other} (expected 106 UTF-8, 3 US-ASCII or 4 ISO-8859-1)"
                    ),
                ));
            }
        };
        let table_len = mbuint::read(input, &mut pos)? as usize;
        if table_len > input.len() - pos {
            return Err(DecodeError::UnexpectedEof { offset: input.len() });
        }
        let strtbl = &input[pos..pos + table_len];
        let strtbl_at = pos;
        pos += table_len;

        let mut reader = WbxmlReader {
            input,
            pos,
            limits: *limits,
            header: Header { version, public_id: PublicId::Numeric(public_id), charset: charset_id },
            charset,
            strtbl,
            strtbl_at,
            page: 0,
            depth: 0,
            elements: 0,
            pending_end: false,
            done: false,
            last: pos,
        };
        if let Some(index) = fpi_index {
            let (bytes, at) = reader.table_string(index, fpi_at)?;
            let fpi = reader.decode(bytes, at)?.into_owned();
            reader.header.public_id = PublicId::Fpi(fpi);
        }
        Ok(reader)
    }

    /// The document header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The string at `index` in the string table: up to its NUL or the table end.
    /// `at` is the offset of the reference, for the error.
    fn table_string(&self, index: u32, at: usize) -> Result<(&'a [u8], usize), DecodeError> {
        let start = index as usize;
        if start >= self.strtbl.len() {
            return Err(wbxml(
                at,
                format!(
                    "string table reference {index} is out of range (table of {} bytes)",
                    self.strtbl.len()
                ),
            ));
        }
        let rest = &self.strtbl[start..];
        let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let abs = self.strtbl_at + start;
        self.check_string_len(len, abs)?;
        Ok((&rest[..len], abs))
    }

    fn check_string_len(&self, len: usize, at: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_string_bytes {
            return Err(DecodeError::ValueTooLong { len, limit: self.limits.max_string_bytes, offset: at });
        }
        Ok(())
    }

    /// Decodes string bytes (without NUL) found at offset `at` in the document charset.
    fn decode(&self, bytes: &'a [u8], at: usize) -> Result<Cow<'a, str>, DecodeError> {
        match self.charset {
            Charset::Utf8 => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|e| DecodeError::InvalidUtf8 { offset: at + e.valid_up_to() }),
            Charset::UsAscii | Charset::Latin1 => {
                if let Some(i) = bytes.iter().position(|b| !b.is_ascii()) {
                    if matches!(self.charset, Charset::UsAscii) {
                        return Err(DecodeError::InvalidUtf8 { offset: at + i });
                    }
                    // ISO-8859-1 bytes are the code points U+0000..U+00FF.
                    return Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()));
                }
                // ASCII is UTF-8, so this cannot fail; map the error anyway rather than panic.
                std::str::from_utf8(bytes)
                    .map(Cow::Borrowed)
                    .map_err(|_| DecodeError::InvalidUtf8 { offset: at })
            }
        }
    }

    /// Character data is only allowed inside the root element.
    fn check_in_element(&self, at: usize, what: &str) -> Result<(), DecodeError> {
        if self.depth == 0 {
            return Err(wbxml(at, format!("{what} outside the root element")));
        }
        Ok(())
    }

    fn start(&mut self, tag: Tag, content: bool, at: usize) -> Result<Event<'a>, DecodeError> {
        if self.depth >= self.limits.max_depth {
            return Err(DecodeError::TooDeep { limit: self.limits.max_depth, offset: at });
        }
        if self.elements >= self.limits.max_elements {
            return Err(DecodeError::TooManyElements { limit: self.limits.max_elements, offset: at });
        }
        self.depth += 1;
        self.elements += 1;
        self.pending_end = !content;
        Ok(Event::Start(tag))
    }

    /// Closes the innermost element; when it is the root, the input must end here.
    fn end(&mut self) -> Result<Event<'a>, DecodeError> {
        self.depth -= 1;
        if self.depth == 0 {
            self.done = true;
            if self.pos < self.input.len() {
                return Err(wbxml(
                    self.pos,
                    format!("{} bytes after the end of the root element", self.input.len() - self.pos),
                ));
            }
        }
        Ok(Event::End)
    }
}

impl<'a> EventReader<'a> for WbxmlReader<'a> {
    fn next_event(&mut self) -> Result<Event<'a>, DecodeError> {
        if self.pending_end {
            self.pending_end = false;
            self.last = self.pos;
            return self.end();
        }
        if self.done {
            self.last = self.pos;
            return Ok(Event::Eof);
        }
        loop {
            let at = self.pos;
            self.last = at;
            let Some(&token) = self.input.get(at) else {
                return Err(DecodeError::UnexpectedEof { offset: at });
            };
            let mut pos = at + 1;
            match token {
                SWITCH_PAGE => {
                    let Some(&page) = self.input.get(pos) else {
                        return Err(DecodeError::UnexpectedEof { offset: pos });
                    };
                    self.page = page;
                    self.pos = pos + 1;
                }
                END => {
                    if self.depth == 0 {
                        return Err(wbxml(at, "END outside any element".into()));
                    }
                    self.pos = pos;
                    return self.end();
                }
                ENTITY => {
                    self.check_in_element(at, "ENTITY")?;
                    let code = mbuint::read(self.input, &mut pos)?;
                    let Some(c) = char::from_u32(code) else {
                        return Err(wbxml(at, format!("ENTITY {code:#x} is not a character")));
                    };
                    self.pos = pos;
                    return Ok(Event::Text(Cow::Owned(c.to_string())));
                }
                STR_I => {
                    self.check_in_element(at, "STR_I")?;
                    let rest = &self.input[pos..];
                    let Some(len) = rest.iter().position(|&b| b == 0) else {
                        return Err(DecodeError::UnexpectedEof { offset: self.input.len() });
                    };
                    self.check_string_len(len, pos)?;
                    let text = self.decode(&rest[..len], pos)?;
                    self.pos = pos + len + 1;
                    return Ok(Event::Text(text));
                }
                STR_T => {
                    self.check_in_element(at, "STR_T")?;
                    let index = mbuint::read(self.input, &mut pos)?;
                    let (bytes, abs) = self.table_string(index, at)?;
                    let text = self.decode(bytes, abs)?;
                    self.pos = pos;
                    return Ok(Event::Text(text));
                }
                OPAQUE => {
                    self.check_in_element(at, "OPAQUE")?;
                    let len = mbuint::read(self.input, &mut pos)? as usize;
                    if len > self.limits.max_opaque_bytes {
                        return Err(DecodeError::ValueTooLong {
                            len,
                            limit: self.limits.max_opaque_bytes,
                            offset: at,
                        });
                    }
                    if len > self.input.len() - pos {
                        return Err(DecodeError::UnexpectedEof { offset: self.input.len() });
                    }
                    self.pos = pos + len;
                    return Ok(Event::Opaque(Cow::Borrowed(&self.input[pos..pos + len])));
                }
                LITERAL | LITERAL_C => {
                    // The name is a string-table reference; DM defines no such elements.
                    let index = mbuint::read(self.input, &mut pos)?;
                    self.table_string(index, at)?;
                    self.pos = pos;
                    return self.start(Tag::Unknown, token == LITERAL_C, at);
                }
                LITERAL_A | LITERAL_AC => return Err(wbxml(at, NO_ATTRIBUTES.into())),
                PI => {
                    return Err(wbxml(
                        at,
                        "processing instruction (PI, 0x43) is not used in SyncML DM documents".into(),
                    ));
                }
                EXT_I_0..=EXT_I_2 | EXT_T_0..=EXT_T_2 | EXT_0..=EXT_2 => {
                    let name = match token {
                        EXT_I_0..=EXT_I_2 => "EXT_I",
                        EXT_T_0..=EXT_T_2 => "EXT_T",
                        _ => "EXT",
                    };
                    return Err(wbxml(
                        at,
                        format!(
                            "extension token {name}_{} ({token:#04x}) is not used in SyncML DM documents",
                            token & 0x03
                        ),
                    ));
                }
                _ if token & WITH_ATTRS != 0 => return Err(wbxml(at, NO_ATTRIBUTES.into())),
                _ => {
                    self.pos = pos;
                    let tag = Tag::from_token(self.page, token & IDENTITY);
                    return self.start(tag, token & WITH_CONTENT != 0, at);
                }
            }
        }
    }

    fn offset(&self) -> usize {
        self.last
    }
}

fn wbxml(offset: usize, reason: String) -> DecodeError {
    DecodeError::Wbxml { offset, reason }
}
