//! Plumbing shared by [`super::tnds`] and [`super::ddf`]: documents to and from the DDF/TNDS
//! element tree ([`Element`], the same type an Item's `Data` carries), and the standalone
//! WBXML writer for `application/vnd.syncml.dmtnds+wbxml` / `dmddf+wbxml` documents.

use crate::error::DecodeError;
use crate::event::{Event, EventReader, Sink};
use crate::message::ddf::DdfNode as Element;
use crate::tag::{DdfTag, Tag};
use crate::wbxml::{CHARSET_UTF_8, FPI_DMDDF_1_2, mbuint};

/// Reads one document into its root DDF element. Elements of other code pages (and unknown
/// ones) are skipped with their subtrees; text runs are merged; OPAQUE content must be
/// UTF-8 and counts as text. Iterative: the depth is bounded by the reader's limits only.
pub(crate) fn read_document<'a>(reader: &mut impl EventReader<'a>) -> Result<Element, DecodeError> {
    let mut stack: Vec<(DdfTag, Vec<Element>)> = Vec::new();
    let mut skip = 0usize;
    let mut root: Option<Element> = None;
    loop {
        match reader.next_event()? {
            Event::Start(tag) => {
                if root.is_some() {
                    return Err(structure("MgmtTree", "content after the root element", reader.offset()));
                }
                match tag {
                    Tag::Ddf(t) if skip == 0 => stack.push((t, Vec::new())),
                    _ if stack.is_empty() && skip == 0 => {
                        return Err(structure(
                            "MgmtTree",
                            format!("the root element is <{}>, not a DDF/TNDS <MgmtTree>", tag.name()),
                            reader.offset(),
                        ));
                    }
                    _ => skip += 1,
                }
            }
            Event::Text(text) => {
                if skip == 0
                    && let Some((_, children)) = stack.last_mut()
                {
                    push_text(children, &text);
                }
            }
            Event::Opaque(bytes) => {
                if skip == 0
                    && let Some((_, children)) = stack.last_mut()
                {
                    let Ok(text) = std::str::from_utf8(&bytes) else {
                        return Err(structure("Value", "opaque content is not UTF-8 text", reader.offset()));
                    };
                    push_text(children, text);
                }
            }
            Event::End => {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let Some((tag, children)) = stack.pop() else {
                    return Err(structure("MgmtTree", "end of an element never started", reader.offset()));
                };
                let element = Element::Element { tag, children };
                match stack.last_mut() {
                    Some((_, siblings)) => siblings.push(element),
                    None => root = Some(element),
                }
            }
            Event::Eof => {
                return root.ok_or(DecodeError::UnexpectedEof { offset: reader.offset() });
            }
        }
    }
}

fn push_text(children: &mut Vec<Element>, text: &str) {
    if text.is_empty() {
        return;
    }
    match children.last_mut() {
        Some(Element::Text(previous)) => previous.push_str(text),
        _ => children.push(Element::Text(text.to_owned())),
    }
}

fn structure(element: &'static str, reason: impl Into<String>, offset: usize) -> DecodeError {
    DecodeError::Structure { element, reason: reason.into(), offset }
}

/// A [`Sink`] that builds DDF elements: what an Item's `Data` holds for an inline TNDS.
/// Elements of other pages are dropped with their subtrees.
#[derive(Debug, Default)]
pub(crate) struct ElementSink {
    stack: Vec<(DdfTag, Vec<Element>)>,
    done: Vec<Element>,
    skip: usize,
}

impl ElementSink {
    /// The top-level elements written (closing any left open).
    pub(crate) fn finish(mut self) -> Vec<Element> {
        self.skip = 0;
        while !self.stack.is_empty() {
            self.end();
        }
        self.done
    }
}

impl Sink for ElementSink {
    fn start(&mut self, tag: Tag) {
        match tag {
            Tag::Ddf(t) if self.skip == 0 => self.stack.push((t, Vec::new())),
            _ => self.skip += 1,
        }
    }

    fn text(&mut self, text: &str) {
        if self.skip == 0
            && let Some((_, children)) = self.stack.last_mut()
        {
            push_text(children, text);
        }
    }

    fn opaque(&mut self, bytes: &[u8]) {
        self.text(&String::from_utf8_lossy(bytes));
    }

    fn end(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if let Some((tag, children)) = self.stack.pop() {
            let element = Element::Element { tag, children };
            match self.stack.last_mut() {
                Some((_, siblings)) => siblings.push(element),
                None => self.done.push(element),
            }
        }
    }
}

// WBXML global tokens (FACTS.md A.3) and tag flags (A.4).
const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const STR_I: u8 = 0x03;
const OPAQUE: u8 = 0xC3;
const WITH_CONTENT: u8 = 0x40;

/// Writes a standalone DDF/TNDS WBXML document: WBXML 1.2, public id `0` with the FPI
/// `-//OMA//DTD-DM-DDF 1.2//EN` at offset 0 of the string table (the DTD has no numeric id,
/// FACTS.md B.1, B.5), UTF-8, code page 2 selected before the first tag, inline strings.
///
/// This is byte-for-byte what libwbxml's `xml2wbxml -v 1.2 -n` writes for a TNDS document
/// (checked in `tests/tree_tnds.rs`). [`crate::wbxml::WbxmlWriter`] cannot write a
/// string-table FPI, hence this small writer; content encoding follows the same rules
/// (content bit cleared for empty elements, `STR_I`, `OPAQUE` for text holding NUL).
#[derive(Clone, Debug)]
pub(crate) struct DdfWbxmlWriter {
    out: Vec<u8>,
    page: u8,
    open_tag: Option<usize>,
    depth: usize,
    skip: usize,
}

impl DdfWbxmlWriter {
    pub(crate) fn new() -> Self {
        let mut out = Vec::with_capacity(256);
        out.push(0x02); // WBXML 1.2
        out.extend_from_slice(&[0x00, 0x00]); // public id in the string table, at offset 0
        mbuint::write(&mut out, CHARSET_UTF_8);
        let table_len = u32::try_from(FPI_DMDDF_1_2.len() + 1).unwrap_or(u32::MAX);
        mbuint::write(&mut out, table_len);
        out.extend_from_slice(FPI_DMDDF_1_2.as_bytes());
        out.push(0x00);
        DdfWbxmlWriter { out, page: 0, open_tag: None, depth: 0, skip: 0 }
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.skip = 0;
        while self.depth > 0 {
            self.end();
        }
        self.out
    }

    fn write_opaque(&mut self, bytes: &[u8]) {
        self.out.push(OPAQUE);
        mbuint::write(&mut self.out, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(bytes);
    }
}

impl Sink for DdfWbxmlWriter {
    fn start(&mut self, tag: Tag) {
        let (Some(page), Some(token), 0) = (tag.page(), tag.token(), self.skip) else {
            self.skip += 1;
            return;
        };
        let page = page as u8;
        if page != self.page {
            self.out.extend_from_slice(&[SWITCH_PAGE, page]);
            self.page = page;
        }
        self.open_tag = Some(self.out.len());
        self.out.push(token | WITH_CONTENT);
        self.depth += 1;
    }

    fn text(&mut self, text: &str) {
        if self.skip > 0 || text.is_empty() || self.depth == 0 {
            return;
        }
        if text.contains('\0') {
            self.write_opaque(text.as_bytes());
        } else {
            self.out.push(STR_I);
            self.out.extend_from_slice(text.as_bytes());
            self.out.push(0x00);
        }
    }

    fn opaque(&mut self, bytes: &[u8]) {
        if self.skip == 0 && self.depth > 0 {
            self.write_opaque(bytes);
        }
    }

    fn end(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if self.depth == 0 {
            return;
        }
        self.depth -= 1;
        match self.open_tag.take() {
            Some(i) if i + 1 == self.out.len() => self.out[i] &= !WITH_CONTENT,
            _ => self.out.push(END),
        }
    }
}

/// The text content of an element's children (element children ignored).
pub(crate) fn text_of(children: &[Element]) -> String {
    let mut out = String::new();
    for child in children {
        if let Element::Text(t) = child {
            out.push_str(t);
        }
    }
    out
}

/// The element children of `children`, with their tags.
pub(crate) fn elements_of(children: &[Element]) -> impl Iterator<Item = (DdfTag, &[Element])> {
    children.iter().filter_map(|c| match c {
        Element::Element { tag, children } => Some((*tag, children.as_slice())),
        Element::Text(_) => None,
    })
}
