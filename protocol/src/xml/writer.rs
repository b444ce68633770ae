//! [`Sink`] calls to XML bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::event::Sink;
use crate::tag::{CodePage, NS_DMDDF, NS_METINF, Tag};

/// The XML declaration every document starts with.
const DECLARATION: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// An open element.
#[derive(Clone, Copy, Debug)]
struct Frame {
    tag: Tag,
    /// An element was written inside it.
    has_child: bool,
    /// Text was written inside it (pretty printing then adds no whitespace).
    has_text: bool,
}

/// Writes a SyncML DM document as XML.
///
/// The root element carries `xmlns="<root namespace>"`; below it an element declares its
/// namespace only where it differs from its parent's, so each outermost MetInf element gets
/// `xmlns="syncml:metinf"` and each outermost DDF element `xmlns="syncml:dmddf1.2"`, as DM
/// clients write them (FACTS.md B.1). An element with no content is written `<Final/>`.
///
/// Text is escaped (`&`, `<`, `>`; CR as `&#13;` so it is not normalized away on reading).
/// Control characters XML 1.0 cannot carry (C0 other than tab, LF, CR; U+FFFE, U+FFFF) are
/// written as character references anyway, XML 1.1 style: a strict XML 1.0 parser refuses
/// them, [`XmlReader`](super::XmlReader) reads them back. [`Sink::opaque`] bytes that are
/// UTF-8 without such characters are written as text, anything else as standard Base64:
/// binary data over XML must be Meta Format `b64` (FACTS.md C.7), which the caller declares.
///
/// Misuse never panics: text outside any element, an `end` with nothing open, and the
/// subtree of a [`Tag::Unknown`] (which has no name to write) are dropped, and
/// [`finish`](Self::finish) closes elements left open.
#[derive(Clone, Debug)]
pub struct XmlWriter {
    out: Vec<u8>,
    root_namespace: &'static str,
    pretty: bool,
    stack: Vec<Frame>,
    /// The start tag of the innermost open element still lacks its `>`.
    start_open: bool,
    /// Depth inside a dropped [`Tag::Unknown`] subtree.
    skipping: usize,
}

impl XmlWriter {
    /// A compact writer (no whitespace between elements). `root_namespace` is the namespace
    /// of SyncML elements, e.g. `SYNCML:SYNCML1.2` (DM 1.2) or `SYNCML:SYNCML1.1` (DM 1.1.2).
    pub fn new(root_namespace: &'static str) -> Self {
        Self::build(root_namespace, false, 1024)
    }

    /// A compact writer whose buffer starts with room for `capacity` bytes.
    pub fn with_capacity(root_namespace: &'static str, capacity: usize) -> Self {
        Self::build(root_namespace, false, capacity)
    }

    /// A writer that indents by two spaces per level and keeps elements holding text on one
    /// line (`<LocURI>./x</LocURI>`), for logs and tests. The whitespace it adds is text
    /// between elements, which DM readers ignore.
    pub fn pretty(root_namespace: &'static str) -> Self {
        Self::build(root_namespace, true, 1024)
    }

    fn build(root_namespace: &'static str, pretty: bool, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity.max(DECLARATION.len() + 1));
        out.extend_from_slice(DECLARATION);
        if pretty {
            out.push(b'\n');
        }
        XmlWriter {
            out,
            root_namespace,
            pretty,
            stack: Vec::with_capacity(16),
            start_open: false,
            skipping: 0,
        }
    }

    /// Closes any open elements and returns the document.
    pub fn finish(mut self) -> Vec<u8> {
        self.skipping = 0;
        while !self.stack.is_empty() {
            self.end();
        }
        self.out
    }

    /// The namespace URI of the page of `tag`.
    fn namespace(&self, tag: Tag) -> Option<&'static str> {
        match tag.page()? {
            CodePage::SyncMl => Some(self.root_namespace),
            CodePage::MetInf => Some(NS_METINF),
            CodePage::Ddf => Some(NS_DMDDF),
        }
    }

    /// Ends a pending start tag with `>`.
    fn close_start(&mut self) {
        if self.start_open {
            self.out.push(b'>');
            self.start_open = false;
        }
    }

    fn indent(&mut self, depth: usize) {
        self.out.push(b'\n');
        self.out.resize(self.out.len() + 2 * depth, b' ');
    }
}

impl Sink for XmlWriter {
    fn start(&mut self, tag: Tag) {
        if self.skipping > 0 || tag == Tag::Unknown {
            self.skipping += 1;
            return;
        }
        self.close_start();
        let depth = self.stack.len();
        let parent = self.stack.last_mut().map(|parent| {
            parent.has_child = true;
            *parent
        });
        if self.pretty && parent.is_some_and(|p| !p.has_text) {
            self.indent(depth);
        }
        let parent_namespace = parent.and_then(|p| self.namespace(p.tag));
        self.out.push(b'<');
        self.out.extend_from_slice(tag.name().as_bytes());
        let namespace = self.namespace(tag);
        if let Some(ns) = namespace.filter(|_| namespace != parent_namespace) {
            self.out.extend_from_slice(b" xmlns=\"");
            escape_into(&mut self.out, ns, true);
            self.out.push(b'"');
        }
        self.stack.push(Frame { tag, has_child: false, has_text: false });
        self.start_open = true;
    }

    fn text(&mut self, text: &str) {
        if self.skipping > 0 || text.is_empty() {
            return;
        }
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        frame.has_text = true;
        self.close_start();
        escape_into(&mut self.out, text, false);
    }

    fn opaque(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) if is_xml_text(text) => self.text(text),
            _ => {
                if self.skipping > 0 || self.stack.is_empty() || bytes.is_empty() {
                    return;
                }
                if let Some(frame) = self.stack.last_mut() {
                    frame.has_text = true;
                }
                self.close_start();
                let start = self.out.len();
                let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
                self.out.resize(start + len, 0);
                let written = STANDARD.encode_slice(bytes, &mut self.out[start..]).unwrap_or(0);
                self.out.truncate(start + written);
            }
        }
    }

    fn end(&mut self) {
        if self.skipping > 0 {
            self.skipping -= 1;
            return;
        }
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if self.start_open {
            self.out.extend_from_slice(b"/>");
            self.start_open = false;
        } else {
            if self.pretty && frame.has_child && !frame.has_text {
                self.indent(self.stack.len());
            }
            self.out.extend_from_slice(b"</");
            self.out.extend_from_slice(frame.tag.name().as_bytes());
            self.out.push(b'>');
        }
        if self.pretty && self.stack.is_empty() {
            self.out.push(b'\n');
        }
    }
}

/// Whether `text` holds only characters XML 1.0 allows (§2.2 `Char`).
fn is_xml_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).all(|i| restricted_at(bytes, i).is_none())
}

/// The character XML 1.0 cannot carry, not even as a reference, that starts at `bytes[i]`:
/// C0 controls other than tab, LF and CR, and U+FFFE/U+FFFF (UTF-8 `EF BF BE`/`EF BF BF`).
fn restricted_at(bytes: &[u8], i: usize) -> Option<u32> {
    match bytes[i] {
        b @ (0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F) => Some(u32::from(b)),
        0xEF => match bytes.get(i + 1..i + 3) {
            Some([0xBF, 0xBE]) => Some(0xFFFE),
            Some([0xBF, 0xBF]) => Some(0xFFFF),
            _ => None,
        },
        _ => None,
    }
}

/// Appends `text` escaped for element content, or for a double-quoted attribute value
/// (which also escapes `"`).
fn escape_into(out: &mut Vec<u8>, text: &str, attribute: bool) {
    let bytes = text.as_bytes();
    let mut plain = 0; // start of the run not yet copied
    let mut i = 0;
    while i < bytes.len() {
        let replacement: &[u8] = match bytes[i] {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' if attribute => b"&quot;",
            b'\r' => b"&#13;",
            _ => match restricted_at(bytes, i) {
                Some(code) => {
                    out.extend_from_slice(&bytes[plain..i]);
                    write_char_ref(out, code);
                    i += if code > 0xFF { 3 } else { 1 };
                    plain = i;
                    continue;
                }
                None => {
                    i += 1;
                    continue;
                }
            },
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(replacement);
        i += 1;
        plain = i;
    }
    out.extend_from_slice(&bytes[plain..]);
}

/// Appends the character reference `&#xN;` (uppercase hex, no leading zeros).
fn write_char_ref(out: &mut Vec<u8>, code: u32) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"&#x");
    let digits = (32 - code.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(HEX[((code >> (shift * 4)) & 0xF) as usize]);
    }
    out.push(b';');
}
