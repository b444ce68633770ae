//! The WBXML writer (WAP-192-WBXML §5, FACTS.md A and B), byte-compatible with libwbxml's
//! `xml2wbxml -v 1.2 -n` for DM documents with text values.

use super::{CHARSET_UTF_8, mbuint};
use crate::event::Sink;
use crate::tag::Tag;

const SWITCH_PAGE: u8 = 0x00;
const END: u8 = 0x01;
const STR_I: u8 = 0x03;
const OPAQUE: u8 = 0xC3;
const WITH_CONTENT: u8 = 0x40;

/// Writes a WBXML 1.2 document: numeric public id, UTF-8, empty string table, inline strings
/// (FACTS.md A.1, K.5).
///
/// - The tag code page is switched lazily: `SWITCH_PAGE` is written just before a tag of
///   another page, never at `END`, as libwbxml does (`5A 00 01 4C 03 "10000" 00 01 01 00 00`
///   for a `Meta` holding `MaxMsgSize`, FACTS.md B.3).
/// - An element is written with the content bit `0x40`; if `end()` directly follows its
///   `start()`, the bit is cleared and no `END` is written (`<Final/>` is `12`).
/// - Text is `STR_I`; empty text writes nothing (the element is then empty, like `<Data/>`);
///   text containing U+0000, which `STR_I` cannot carry, is written as `OPAQUE`.
/// - [`Tag::Unknown`] has no token: it is a caller bug (`debug_assert`), and in release builds
///   the element is skipped together with its whole subtree.
#[derive(Clone, Debug)]
pub struct WbxmlWriter {
    out: Vec<u8>,
    /// Current tag code page.
    page: u8,
    /// Index in `out` of the last tag byte, while nothing has been written after it.
    open_tag: Option<usize>,
    /// Open elements written.
    depth: usize,
    /// Depth inside a skipped [`Tag::Unknown`] subtree (0 = not skipping).
    skip: usize,
}

impl WbxmlWriter {
    /// A document with the numeric `public_id` (e.g. [`SYNCML_1_2`](super::SYNCML_1_2)).
    pub fn new(public_id: u32) -> Self {
        Self::with_capacity(public_id, 0)
    }

    /// As [`new`](Self::new), with room for `cap` bytes of output.
    pub fn with_capacity(public_id: u32, cap: usize) -> Self {
        let mut out = Vec::with_capacity(cap.max(8));
        out.push(0x02); // WBXML 1.2
        mbuint::write(&mut out, public_id);
        mbuint::write(&mut out, CHARSET_UTF_8);
        out.push(0x00); // string table length
        WbxmlWriter { out, page: 0, open_tag: None, depth: 0, skip: 0 }
    }

    /// The encoded document. Every `start` must have been matched by an `end`.
    pub fn finish(self) -> Vec<u8> {
        debug_assert_eq!(self.depth, 0, "WbxmlWriter::finish with open elements");
        self.out
    }

    fn write_opaque(&mut self, bytes: &[u8]) {
        self.out.push(OPAQUE);
        // A Vec longer than u32::MAX is not a DM message; saturate rather than panic.
        mbuint::write(&mut self.out, u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(bytes);
    }
}

impl Sink for WbxmlWriter {
    fn start(&mut self, tag: Tag) {
        if self.skip > 0 {
            self.skip += 1;
            return;
        }
        let (Some(page), Some(token)) = (tag.page(), tag.token()) else {
            debug_assert!(false, "Tag::Unknown cannot be written as WBXML");
            self.skip = 1;
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
        if self.skip > 0 || text.is_empty() {
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
        if self.skip > 0 {
            return;
        }
        self.write_opaque(bytes);
    }

    fn end(&mut self) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        debug_assert!(self.depth > 0, "WbxmlWriter::end without start");
        self.depth = self.depth.saturating_sub(1);
        match self.open_tag.take() {
            Some(i) if i + 1 == self.out.len() => self.out[i] &= !WITH_CONTENT,
            _ => self.out.push(END),
        }
    }
}
