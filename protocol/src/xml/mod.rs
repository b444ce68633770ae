//! XML reader and writer for SyncML DM documents, on quick-xml.
//!
//! [`XmlReader`] turns an XML document into [`Event`](crate::event::Event)s, borrowing element
//! text from the input; [`XmlWriter`] writes [`Sink`](crate::event::Sink) calls as XML the way
//! DM clients and servers exchange it: SyncML elements in the root's default namespace
//! (`SYNCML:SYNCML1.2` or `SYNCML:SYNCML1.1`), each outermost MetInf element with
//! `xmlns="syncml:metinf"` and each outermost DDF/TNDS element with `xmlns="syncml:dmddf1.2"`
//! (FACTS.md B.1; the CM engine and libdmclient write exactly this, see
//! `tests/vectors/cm_omadm_pkg1.xml` and `tests/vectors/libdmclient_xml.xml`).
//!
//! Safety against hostile input: no DTD is processed, so no entity other than the five
//! predefined ones and character references exists; `&lol9;` or an external entity is an
//! error, not an expansion (billion laughs, XXE). Depth, element count and text length are
//! bounded by [`Limits`](crate::Limits).

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::XmlReader;
pub use writer::XmlWriter;
