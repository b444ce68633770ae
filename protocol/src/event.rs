//! The interface between the typed message model and the two wire encodings.
//!
//! Both the XML and the WBXML reader turn bytes into the same stream of [`Event`]s, and both
//! writers accept the same [`Sink`] calls, so the message model is mapped to and from the wire
//! once, whatever the encoding. Readers borrow from the input where they can.

use std::borrow::Cow;

use crate::error::DecodeError;
use crate::tag::Tag;

/// One step of a document, in document order.
#[derive(Clone, Debug, PartialEq)]
pub enum Event<'a> {
    /// An element starts. An empty element is a `Start` directly followed by its `End`.
    Start(Tag),
    /// Character data (XML text or CDATA, WBXML STR_I/STR_T/ENTITY).
    Text(Cow<'a, str>),
    /// WBXML OPAQUE bytes. XML has no such thing.
    Opaque(Cow<'a, [u8]>),
    /// The innermost open element ends.
    End,
    /// The document is complete (the root element has ended).
    Eof,
}

/// A pull parser over one encoded document.
pub trait EventReader<'a> {
    /// The next event. After [`Event::Eof`] or an error the reader must not be used again.
    fn next_event(&mut self) -> Result<Event<'a>, DecodeError>;

    /// Byte offset in the input of the event last returned, for error messages.
    fn offset(&self) -> usize;
}

/// A document writer. Writing to memory cannot fail; structure is the caller's duty
/// (every `start` is matched by an `end`).
pub trait Sink {
    /// Open an element.
    fn start(&mut self, tag: Tag);
    /// Character data inside the open element.
    fn text(&mut self, text: &str);
    /// Binary data inside the open element (WBXML OPAQUE; XML writers must encode it as text).
    fn opaque(&mut self, bytes: &[u8]);
    /// Close the innermost open element.
    fn end(&mut self);

    /// An element holding only `text`.
    fn leaf(&mut self, tag: Tag, text: &str) {
        self.start(tag);
        self.text(text);
        self.end();
    }

    /// An element with no content, e.g. `<Final/>`.
    fn empty(&mut self, tag: Tag) {
        self.start(tag);
        self.end();
    }
}
