//! XML bytes to [`Event`]s.

use std::borrow::Cow;

use quick_xml::errors::{Error as XmlError, IllFormedError};
use quick_xml::events::{BytesDecl, BytesRef, BytesStart, Event as XmlEvent};
use quick_xml::name::ResolveResult;
use quick_xml::reader::{NsReader, Reader};

use crate::error::DecodeError;
use crate::event::{Event, EventReader};
use crate::limits::Limits;
use crate::tag::{DdfTag, MetInfTag, NS_DMDDF, NS_METINF, SyncMlTag, Tag};

/// The UTF-8 byte order mark, skipped at the start of the input (XML 1.0 §4.3.3, F.1).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Namespaces of SyncML RepPro 1.0, 1.1 and 1.2 (DM 1.1.2 uses 1.1, DM 1.2 uses 1.2;
/// FACTS.md B.1). Compared ASCII-case-insensitively, as clients vary in case.
const NS_SYNCML: [&str; 3] = ["SYNCML:SYNCML1.2", "SYNCML:SYNCML1.1", "SYNCML:SYNCML1.0"];

/// Longest piece of input quoted in an error message.
const QUOTE_MAX: usize = 64;

/// Where the reader is in the document (XML 1.0 §2.1: prolog, element, Misc*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the root element: XML declaration, DOCTYPE, comments, PIs, whitespace.
    Prolog,
    /// Inside the root element.
    Body,
    /// After the root element: only comments, PIs and whitespace may follow.
    Epilog,
    /// [`Event::Eof`] was returned.
    Done,
    /// An error was returned.
    Failed,
}

/// A pull reader of one SyncML DM XML document, borrowing from the input.
///
/// Accepts what real DM clients send and nothing a hostile peer could use against the server:
/// - UTF-8 only (a BOM is skipped); an XML declaration naming another encoding is refused,
///   invalid UTF-8 is [`DecodeError::InvalidUtf8`] with its offset.
/// - A DOCTYPE is skipped unread (the SyncML DTD is never fetched or applied). Only the five
///   predefined entities and character references are expanded; any other reference is an
///   error, so entity expansion attacks (billion laughs) and external entities (XXE) fail.
/// - Comments and processing instructions are skipped; attributes other than namespace
///   declarations are ignored.
/// - Element names map to [`Tag`]s as described below.
/// - Each run of character data (text, CDATA sections and references, also across comments)
///   is one [`Event::Text`], line ends normalized (XML 1.0 §2.11). Whitespace-only text
///   inside the root is reported too; the consumer decides whether it matters. The text
///   borrows from the input unless a reference, CDATA boundary or CR forced a copy.
/// - [`Limits`] bound depth, element count and text length.
///
/// # Element names
///
/// The namespace decides first (namespace URIs compared ASCII-case-insensitively, since real
/// clients vary):
/// - `syncml:metinf` → MetInf page; `syncml:dmddf1.2` → DDF page; a name the page lacks is
///   [`Tag::Unknown`].
/// - `SYNCML:SYNCML1.0`/`1.1`/`1.2` or no namespace: the parent decides, because clients
///   leave the MetInf namespace out (e.g. `<Meta><MaxMsgSize>`) and several names exist on
///   more than one page (`Format`, `Type`, `Size` on pages 1 and 2; `Add`, `Get`, ... on 0
///   and 2):
///   - child of `Meta` or of a MetInf element: MetInf page, else SyncML page;
///   - child of a DDF element: DDF page, else SyncML, else MetInf page;
///   - anywhere else: SyncML page, else MetInf page, else `MgmtTree` enters the DDF page
///     (a TNDS object in `<Data>` without its namespace).
/// - any other namespace → [`Tag::Unknown`].
///
/// Sources: FACTS.md B.1 (namespaces), B.3 (MetInf elements live in `<Meta>`), B.5 (DDF).
pub struct XmlReader<'a> {
    reader: NsReader<&'a [u8]>,
    /// Length of the skipped BOM: quick-xml offsets are relative to the text after it.
    base: usize,
    /// Length of the whole input.
    end: usize,
    limits: Limits,
    /// Tags of the open elements, root first.
    stack: Vec<Tag>,
    /// Elements seen so far.
    elements: usize,
    phase: Phase,
    /// Whether anything was read yet (the XML declaration must come first).
    seen_markup: bool,
    seen_doctype: bool,
    /// The element just returned was empty (`<Final/>`): its End is due next.
    pending_end: bool,
    /// An event read ahead to find the end of a text run, with its offset.
    lookahead: Option<(XmlEvent<'a>, usize)>,
    /// Offset of the event last returned.
    offset: usize,
}

impl<'a> XmlReader<'a> {
    /// Prepares to read `input`. Fails at once if the input is larger than
    /// [`Limits::max_message_bytes`], is not UTF-8, or declares another encoding.
    pub fn new(input: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        if input.len() > limits.max_message_bytes {
            return Err(DecodeError::MessageTooLarge { size: input.len(), limit: limits.max_message_bytes });
        }
        let (base, body) = match input.strip_prefix(UTF8_BOM) {
            Some(rest) => (UTF8_BOM.len(), rest),
            None => (0, input),
        };
        // One validation pass up front gives the exact offset of a bad byte; quick-xml's
        // own per-chunk checks then never fail.
        let text = match std::str::from_utf8(body) {
            Ok(text) => text,
            Err(e) => {
                let valid = e.valid_up_to();
                // A document in another charset fails here first: name its declaration.
                let prefix = body.get(..valid).and_then(|p| std::str::from_utf8(p).ok());
                if let Some(err) = prefix.and_then(|p| declaration_error(p, base)) {
                    return Err(err);
                }
                return Err(DecodeError::InvalidUtf8 { offset: base + valid });
            }
        };
        let mut reader = NsReader::from_str(text);
        let config = reader.config_mut();
        config.enable_all_checks(true); // mismatched end tags, `--` in comments
        config.allow_unmatched_ends = false;
        config.allow_dangling_amp = false;
        config.expand_empty_elements = false; // would allocate the name per empty element
        config.trim_text(false);
        Ok(XmlReader {
            reader,
            base,
            end: input.len(),
            limits: *limits,
            stack: Vec::with_capacity(limits.max_depth.min(32)),
            elements: 0,
            phase: Phase::Prolog,
            seen_markup: false,
            seen_doctype: false,
            pending_end: false,
            lookahead: None,
            offset: 0,
        })
    }

    /// Absolute offset of the next unread byte.
    fn pos(&self) -> usize {
        self.base + self.reader.buffer_position() as usize
    }

    /// Reads one quick-xml event; `start` is its offset, for errors.
    fn read(&mut self, start: usize) -> Result<XmlEvent<'a>, DecodeError> {
        match self.reader.read_event() {
            Ok(event) => Ok(event),
            Err(e) => Err(self.map_error(e, start)),
        }
    }

    /// A quick-xml error as a [`DecodeError`] at the most precise offset known.
    fn map_error(&self, error: XmlError, start: usize) -> DecodeError {
        // quick-xml records a position only for some errors; it is never before `start`.
        let offset = start.max(self.base + self.reader.error_position() as usize);
        let at_end = self.pos() >= self.end;
        match error {
            // Markup (or a reference) cut off by the end of the input.
            XmlError::Syntax(_) | XmlError::IllFormed(IllFormedError::UnclosedReference) if at_end => {
                DecodeError::UnexpectedEof { offset }
            }
            XmlError::Encoding(_) => DecodeError::InvalidUtf8 { offset },
            other => DecodeError::Xml { offset, reason: other.to_string() },
        }
    }

    fn next_inner(&mut self) -> Result<Event<'a>, DecodeError> {
        match self.phase {
            Phase::Done => return Ok(Event::Eof),
            Phase::Failed => {
                return Err(xml_error(self.offset, "reader used after an error".into()));
            }
            _ => {}
        }
        if self.pending_end {
            self.pending_end = false;
            return Ok(self.close());
        }
        loop {
            let (event, start) = match self.lookahead.take() {
                Some(pending) => pending,
                None => {
                    let start = self.pos();
                    (self.read(start)?, start)
                }
            };
            if let Some(event) = self.handle(event, start)? {
                return Ok(event);
            }
        }
    }

    /// Turns one quick-xml event into the next [`Event`], or `None` if it is skipped.
    fn handle(&mut self, event: XmlEvent<'a>, start: usize) -> Result<Option<Event<'a>>, DecodeError> {
        let phase = self.phase;
        let first = !self.seen_markup;
        self.seen_markup = true;
        match (phase, event) {
            (_, XmlEvent::Comment(_) | XmlEvent::PI(_)) => Ok(None),
            (Phase::Prolog, XmlEvent::Decl(decl)) if first => {
                check_declaration(&decl, start)?;
                Ok(None)
            }
            (Phase::Prolog, XmlEvent::DocType(_)) if !self.seen_doctype => {
                // Skipped unread: no DTD is processed (no entities, no defaults, no fetch).
                self.seen_doctype = true;
                Ok(None)
            }
            (Phase::Prolog | Phase::Epilog, XmlEvent::Text(t)) if is_xml_space(&t) => Ok(None),
            (Phase::Prolog | Phase::Body, XmlEvent::Start(e)) => {
                let tag = self.open(&e, start)?;
                Ok(Some(Event::Start(tag)))
            }
            (Phase::Prolog | Phase::Body, XmlEvent::Empty(e)) => {
                let tag = self.open(&e, start)?;
                self.pending_end = true;
                Ok(Some(Event::Start(tag)))
            }
            (Phase::Body, XmlEvent::End(_)) => {
                self.offset = start;
                if self.stack.is_empty() {
                    // quick-xml reports unmatched end tags itself; this is a second guard.
                    return Err(xml_error(start, "end tag without a start tag".into()));
                }
                Ok(Some(self.close()))
            }
            (Phase::Body, event @ (XmlEvent::Text(_) | XmlEvent::CData(_) | XmlEvent::GeneralRef(_))) => {
                self.text(event, start).map(Some)
            }
            (Phase::Epilog, XmlEvent::Eof) => {
                self.phase = Phase::Done;
                self.offset = self.end;
                Ok(Some(Event::Eof))
            }
            (Phase::Prolog | Phase::Body, XmlEvent::Eof) => {
                Err(DecodeError::UnexpectedEof { offset: self.end })
            }
            (_, XmlEvent::Decl(_)) => Err(xml_error(start, "misplaced XML declaration".into())),
            (_, XmlEvent::DocType(_)) => Err(xml_error(start, "misplaced DOCTYPE".into())),
            (Phase::Epilog, XmlEvent::Start(_) | XmlEvent::Empty(_)) => {
                Err(xml_error(start, "a second root element".into()))
            }
            (Phase::Prolog, _) => Err(xml_error(start, "content before the root element".into())),
            _ => Err(xml_error(start, "content after the root element".into())),
        }
    }

    /// Enters an element: checks the limits and resolves its tag.
    fn open(&mut self, start: &BytesStart<'_>, offset: usize) -> Result<Tag, DecodeError> {
        self.offset = offset;
        self.phase = Phase::Body;
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(DecodeError::TooManyElements { limit: self.limits.max_elements, offset });
        }
        if self.stack.len() >= self.limits.max_depth {
            return Err(DecodeError::TooDeep { limit: self.limits.max_depth, offset });
        }
        // Attributes are ignored, but must be well-formed.
        for attribute in start.attributes().with_checks(false) {
            if let Err(e) = attribute {
                return Err(xml_error(offset, format!("malformed attribute: {e}")));
            }
        }
        let (namespace, local) = self.reader.resolver().resolve_element(start.name());
        let local = local.into_inner();
        if local.is_empty() {
            return Err(xml_error(offset, "element without a name".into()));
        }
        let namespace = match namespace {
            ResolveResult::Bound(ns) => Some(ns.into_inner()),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(xml_error(offset, format!("undeclared namespace prefix {:?}", clip(&prefix))));
            }
        };
        let tag = resolve_tag(namespace, local.as_bytes(), self.stack.last().copied());
        self.stack.push(tag);
        Ok(tag)
    }

    /// Leaves the innermost element.
    fn close(&mut self) -> Event<'a> {
        self.stack.pop();
        if self.stack.is_empty() {
            self.phase = Phase::Epilog;
        }
        Event::End
    }

    /// Gathers a run of character data starting with `first` into one [`Event::Text`],
    /// keeping the event that ends the run as lookahead.
    fn text(&mut self, first: XmlEvent<'a>, start: usize) -> Result<Event<'a>, DecodeError> {
        self.offset = start;
        let mut text: Cow<'a, str> = Cow::Borrowed("");
        let mut next = Some((first, start));
        loop {
            let (event, at) = match next.take() {
                Some(event) => event,
                None => {
                    let at = self.pos();
                    (self.read(at)?, at)
                }
            };
            match event {
                XmlEvent::Text(t) => self.append(&mut text, t.xml10_content(), start)?,
                XmlEvent::CData(c) => self.append(&mut text, c.xml10_content(), start)?,
                XmlEvent::GeneralRef(r) => {
                    let c = resolve_reference(&r, at)?;
                    self.check_length(text.len() + c.len_utf8(), start)?;
                    text.to_mut().push(c);
                }
                // Markup that does not end character data.
                XmlEvent::Comment(_) | XmlEvent::PI(_) => {}
                other => {
                    self.lookahead = Some((other, at));
                    return Ok(Event::Text(text));
                }
            }
        }
    }

    /// Appends a piece of text, borrowing it if it is the first.
    fn append(&self, text: &mut Cow<'a, str>, piece: Cow<'a, str>, start: usize) -> Result<(), DecodeError> {
        self.check_length(text.len() + piece.len(), start)?;
        if text.is_empty() {
            *text = piece;
        } else {
            text.to_mut().push_str(&piece);
        }
        Ok(())
    }

    fn check_length(&self, len: usize, offset: usize) -> Result<(), DecodeError> {
        if len > self.limits.max_string_bytes {
            return Err(DecodeError::ValueTooLong { len, limit: self.limits.max_string_bytes, offset });
        }
        Ok(())
    }
}

impl<'a> EventReader<'a> for XmlReader<'a> {
    fn next_event(&mut self) -> Result<Event<'a>, DecodeError> {
        let result = self.next_inner();
        if let Err(e) = &result {
            if let Some(offset) = error_offset(e) {
                self.offset = offset;
            }
            self.phase = Phase::Failed;
        }
        result
    }

    fn offset(&self) -> usize {
        self.offset
    }
}

/// Maps an element to its [`Tag`] by the rule documented on [`XmlReader`].
pub(crate) fn resolve_tag(namespace: Option<&str>, local: &[u8], parent: Option<Tag>) -> Tag {
    let metinf = || MetInfTag::from_name(local).map(Tag::MetInf);
    let ddf = || DdfTag::from_name(local).map(Tag::Ddf);
    let syncml = || SyncMlTag::from_name(local).map(Tag::SyncMl);
    let tag = match namespace {
        Some(ns) if ns.eq_ignore_ascii_case(NS_METINF) => metinf(),
        Some(ns) if ns.eq_ignore_ascii_case(NS_DMDDF) => ddf(),
        Some(ns) if !NS_SYNCML.iter().any(|s| ns.eq_ignore_ascii_case(s)) => None,
        _ => match parent {
            Some(Tag::SyncMl(SyncMlTag::Meta) | Tag::MetInf(_)) => metinf().or_else(syncml),
            Some(Tag::Ddf(_)) => ddf().or_else(syncml).or_else(metinf),
            _ => syncml()
                .or_else(metinf)
                .or_else(|| (local == b"MgmtTree").then_some(Tag::Ddf(DdfTag::MgmtTree))),
        },
    };
    tag.unwrap_or(Tag::Unknown)
}

/// Expands a reference: a character reference or one of the five predefined entities
/// (XML 1.0 §4.1, §4.6). Any other entity would need the DTD, which is never read.
///
/// Character references to characters XML 1.0 forbids (`&#x1;`, even `&#0;`) are accepted:
/// [`XmlWriter`](super::XmlWriter) writes control characters that way.
fn resolve_reference(reference: &BytesRef<'_>, offset: usize) -> Result<char, DecodeError> {
    let name: &str = reference;
    if let Some(number) = name.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        // `from_str_radix` would accept a leading `+`.
        let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        return valid
            .then(|| u32::from_str_radix(digits, radix).ok())
            .flatten()
            .and_then(char::from_u32)
            .ok_or_else(|| xml_error(offset, format!("invalid character reference &{};", clip(name))));
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(xml_error(offset, format!("undefined entity &{};", clip(name)))),
    }
}

/// Checks an XML declaration: it needs a version, and the encoding, if named, must be UTF-8
/// (or its subset US-ASCII): DM XML is UTF-8 and nothing here transcodes.
fn check_declaration(decl: &BytesDecl<'_>, offset: usize) -> Result<(), DecodeError> {
    if let Err(e) = decl.version() {
        return Err(xml_error(offset, e.to_string()));
    }
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(name)) if name.eq_ignore_ascii_case("UTF-8") || name.eq_ignore_ascii_case("US-ASCII") => {
            Ok(())
        }
        Some(Ok(name)) => {
            Err(xml_error(offset, format!("unsupported encoding {:?}; only UTF-8 is accepted", clip(&name))))
        }
        Some(Err(e)) => Err(xml_error(offset, e.to_string())),
    }
}

/// The error for an XML declaration at the start of `prefix` (the valid UTF-8 part of a
/// document that is not UTF-8) that names an unsupported encoding, if it does.
fn declaration_error(prefix: &str, base: usize) -> Option<DecodeError> {
    match Reader::from_str(prefix).read_event() {
        Ok(XmlEvent::Decl(decl)) => check_declaration(&decl, base).err(),
        _ => None,
    }
}

fn xml_error(offset: usize, reason: String) -> DecodeError {
    DecodeError::Xml { offset, reason }
}

/// The offset an error names, if any.
fn error_offset(error: &DecodeError) -> Option<usize> {
    match error {
        DecodeError::TooDeep { offset, .. }
        | DecodeError::TooManyElements { offset, .. }
        | DecodeError::ValueTooLong { offset, .. }
        | DecodeError::UnexpectedEof { offset }
        | DecodeError::Xml { offset, .. }
        | DecodeError::Wbxml { offset, .. }
        | DecodeError::InvalidUtf8 { offset }
        | DecodeError::Structure { offset, .. } => Some(*offset),
        DecodeError::MessageTooLarge { .. } | DecodeError::UnknownEncoding => None,
    }
}

/// XML whitespace only (XML 1.0 §2.3 `S`).
fn is_xml_space(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// At most [`QUOTE_MAX`] bytes of `s`, cut at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(QUOTE_MAX);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
