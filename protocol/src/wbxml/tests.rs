//! Tests of the WBXML reader and writer against libwbxml, libdmclient and Motorola output.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;
use crate::error::DecodeError;
use crate::event::{Event, EventReader, Sink};
use crate::limits::Limits;
use crate::tag::{DdfTag, MetInfTag, SyncMlTag, Tag};

const DM12: &[u8] = include_bytes!("../../tests/vectors/spec_dm12.wbxml");
const DM12_XML: &str = include_str!("../../tests/vectors/spec_dm12.xml");
const DM11: &[u8] = include_bytes!("../../tests/vectors/spec_dm11.wbxml");
const DM11_XML: &str = include_str!("../../tests/vectors/spec_dm11.xml");
const CM: &[u8] = include_bytes!("../../tests/vectors/cm_omadm_pkg1_wbxml.wbxml");
const LIBDM: &[u8] = include_bytes!("../../tests/vectors/libdmclient_wbxml.wbxml");

const VECTORS: [&[u8]; 4] = [DM12, DM11, CM, LIBDM];

fn s(t: SyncMlTag) -> Tag {
    Tag::SyncMl(t)
}

fn m(t: MetInfTag) -> Tag {
    Tag::MetInf(t)
}

fn text(t: &str) -> Event<'_> {
    Event::Text(Cow::Borrowed(t))
}

/// All events up to and including `Eof`. The iteration bound guards the test against a
/// reader that would stop consuming input.
fn decode_with<'a>(input: &'a [u8], limits: &Limits) -> Result<Vec<Event<'a>>, DecodeError> {
    let mut reader = WbxmlReader::new(input, limits)?;
    let mut events = Vec::new();
    for _ in 0..=2 * input.len() {
        let event = reader.next_event()?;
        let eof = event == Event::Eof;
        events.push(event);
        if eof {
            return Ok(events);
        }
    }
    panic!("reader did not reach Eof within {} events", 2 * input.len());
}

fn decode(input: &[u8]) -> Result<Vec<Event<'_>>, DecodeError> {
    decode_with(input, &Limits::DEFAULT)
}

fn header(input: &[u8]) -> Header {
    WbxmlReader::new(input, &Limits::DEFAULT).expect("header").header().clone()
}

/// Events as compact XML without namespaces: `<a><b/>text</a>`.
fn to_xml(events: &[Event<'_>]) -> String {
    let mut out = String::new();
    let mut open = Vec::new();
    let mut iter = events.iter().peekable();
    while let Some(event) = iter.next() {
        match event {
            Event::Start(tag) if iter.peek() == Some(&&Event::End) => {
                iter.next();
                out += &format!("<{}/>", tag.name());
            }
            Event::Start(tag) => {
                out += &format!("<{}>", tag.name());
                open.push(tag.name());
            }
            Event::End => out += &format!("</{}>", open.pop().expect("balanced")),
            Event::Text(t) => out += t,
            Event::Opaque(b) => out += &String::from_utf8_lossy(b),
            Event::Eof => {}
        }
    }
    out
}

/// The vector XML files, reduced to what `to_xml` produces.
fn strip_xml(xml: &str) -> String {
    let mut out = String::new();
    for line in xml.lines() {
        if line.starts_with("<?xml") || line.starts_with("<!DOCTYPE") {
            continue;
        }
        out += line;
    }
    for ns in ["SYNCML:SYNCML1.2", "SYNCML:SYNCML1.1", "syncml:metinf"] {
        out = out.replace(&format!(" xmlns=\"{ns}\""), "");
    }
    out
}

/// Replays events into a sink.
fn replay(events: &[Event<'_>], sink: &mut impl Sink) {
    for event in events {
        match event {
            Event::Start(tag) => sink.start(*tag),
            Event::Text(t) => sink.text(t),
            Event::Opaque(b) => sink.opaque(b),
            Event::End => sink.end(),
            Event::Eof => {}
        }
    }
}

fn body(bytes: &[u8]) -> Vec<u8> {
    // WBXML 1.2, SyncML 1.2, UTF-8, no string table.
    let mut doc = vec![0x02, 0xA4, 0x01, 0x6A, 0x00];
    doc.extend_from_slice(bytes);
    doc
}

fn wbxml_reason(result: Result<Vec<Event<'_>>, DecodeError>) -> (usize, String) {
    match result {
        Err(DecodeError::Wbxml { offset, reason }) => (offset, reason),
        other => panic!("expected a WBXML error, got {other:?}"),
    }
}

// ---- vectors -------------------------------------------------------------------------------

#[test]
fn dm12_header_and_first_events() {
    assert_eq!(
        header(DM12),
        Header { version: 0x02, public_id: PublicId::Numeric(SYNCML_1_2), charset: 106 }
    );
    let events = decode(DM12).unwrap();
    assert_eq!(
        events[..6],
        [
            Event::Start(s(SyncMlTag::SyncML)),
            Event::Start(s(SyncMlTag::SyncHdr)),
            Event::Start(s(SyncMlTag::VerDTD)),
            text("1.2"),
            Event::End,
            Event::Start(s(SyncMlTag::VerProto)),
        ]
    );
    assert_eq!(
        events[events.len() - 6..],
        [
            Event::End, // Get
            Event::Start(s(SyncMlTag::Final)),
            Event::End,
            Event::End, // SyncBody
            Event::End, // SyncML
            Event::Eof,
        ]
    );
}

#[test]
fn dm11_header() {
    assert_eq!(header(DM11).public_id, PublicId::Numeric(SYNCML_1_1));
    assert!(decode(DM11).unwrap().contains(&text("DM/1.1")));
}

#[test]
fn spec_vectors_match_their_xml() {
    // libwbxml encoded spec/dm1x.xml into dm1x.wbxml (FACTS.md K.5).
    assert_eq!(to_xml(&decode(DM12).unwrap()), strip_xml(DM12_XML));
    assert_eq!(to_xml(&decode(DM11).unwrap()), strip_xml(DM11_XML));
}

#[test]
fn metinf_page_is_switched_and_back() {
    let events = decode(DM12).unwrap();
    let i = events.iter().position(|e| *e == Event::Start(m(MetInfTag::MaxMsgSize))).unwrap();
    assert_eq!(events[i - 1], Event::Start(s(SyncMlTag::Meta)));
    assert_eq!(events[i + 1], text("10000"));
    // `00 00` after Meta's END switches back: SyncBody is page 0 again.
    assert_eq!(events[i + 5], Event::Start(s(SyncMlTag::SyncBody)));
}

#[test]
fn motorola_string_table_fpi_without_nul() {
    // 29-byte table holding the FPI with no trailing NUL (FACTS.md A.1).
    assert_eq!(CM[4], 0x1D);
    assert_eq!(
        header(CM),
        Header { version: 0x02, public_id: PublicId::Fpi(FPI_SYNCML_1_2.into()), charset: 106 }
    );
    let events = decode(CM).unwrap();
    let i = events.iter().position(|e| *e == Event::Start(m(MetInfTag::MaxMsgSize))).unwrap();
    assert_eq!(events[i + 1], text("122880"));
    // The engine writes empty values as an empty STR_I: `4F 03 00 01`.
    assert!(events.windows(3).any(|w| w == [Event::Start(s(SyncMlTag::Data)), text(""), Event::End]));
    assert!(events.contains(&text("IMEI:001010123456789")));
}

#[test]
fn libdmclient_opaque_data() {
    assert_eq!(header(LIBDM).public_id, PublicId::Numeric(SYNCML_1_2));
    let events = decode(LIBDM).unwrap();
    assert!(events.contains(&Event::Opaque(Cow::Borrowed(b"data of test3"))));
    assert!(events.contains(&text("16384")));
}

#[test]
fn every_vector_decodes_balanced_and_borrowed() {
    for v in VECTORS {
        let events = decode(v).unwrap();
        assert_eq!(events.last(), Some(&Event::Eof));
        let starts = events.iter().filter(|e| matches!(e, Event::Start(_))).count();
        let ends = events.iter().filter(|e| **e == Event::End).count();
        assert_eq!(starts, ends);
        assert!(!events.contains(&Event::Start(Tag::Unknown)));
        // Zero allocation per event for UTF-8: everything borrows from the input.
        for e in &events {
            match e {
                Event::Text(t) => assert!(matches!(t, Cow::Borrowed(_)), "{t:?}"),
                Event::Opaque(b) => assert!(matches!(b, Cow::Borrowed(_))),
                _ => {}
            }
        }
    }
}

#[test]
fn offsets_point_at_tokens() {
    let mut r = WbxmlReader::new(DM12, &Limits::DEFAULT).unwrap();
    assert_eq!(r.next_event().unwrap(), Event::Start(s(SyncMlTag::SyncML)));
    assert_eq!(r.offset(), 5);
    assert_eq!(r.next_event().unwrap(), Event::Start(s(SyncMlTag::SyncHdr)));
    assert_eq!(r.offset(), 6);
}

#[test]
fn eof_is_sticky() {
    let mut r = WbxmlReader::new(&[0x02, 0x01, 0x6A, 0x00, 0x2D], &Limits::DEFAULT).unwrap();
    assert_eq!(r.next_event().unwrap(), Event::Start(s(SyncMlTag::SyncML)));
    assert_eq!(r.next_event().unwrap(), Event::End);
    assert_eq!(r.next_event().unwrap(), Event::Eof);
    assert_eq!(r.next_event().unwrap(), Event::Eof);
}

// ---- writer --------------------------------------------------------------------------------

/// `xml2wbxml -v 1.2 -n` (libwbxml 0.11.8) output for the document written by `write_tiny`:
/// `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
/// <SessionID>1</SessionID><MsgID>2</MsgID><Target><LocURI>IMEI:493005100592800</LocURI>
/// </Target><Source><LocURI>https://dm.example.com/dm</LocURI></Source><Meta><MaxMsgSize
/// xmlns="syncml:metinf">10000</MaxMsgSize></Meta></SyncHdr><SyncBody><Status><CmdID>1</CmdID>
/// <MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Chal><Meta><Format
/// xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type>
/// <NextNonce xmlns="syncml:metinf">ZHVtbXk=</NextNonce></Meta></Chal><Data>401</Data></Status>
/// <Get><CmdID>2</CmdID><Item><Target><LocURI>./DevDetail/SwV</LocURI></Target></Item></Get>
/// <Final/></SyncBody></SyncML>` (one line, no whitespace).
const TINY_LIBWBXML: [u8; 222] = [
    0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6c, 0x71, 0x03, 0x31, 0x2e, 0x32, 0x00, 0x01, 0x72, 0x03, 0x44,
    0x4d, 0x2f, 0x31, 0x2e, 0x32, 0x00, 0x01, 0x65, 0x03, 0x31, 0x00, 0x01, 0x5b, 0x03, 0x32, 0x00, 0x01,
    0x6e, 0x57, 0x03, 0x49, 0x4d, 0x45, 0x49, 0x3a, 0x34, 0x39, 0x33, 0x30, 0x30, 0x35, 0x31, 0x30, 0x30,
    0x35, 0x39, 0x32, 0x38, 0x30, 0x30, 0x00, 0x01, 0x01, 0x67, 0x57, 0x03, 0x68, 0x74, 0x74, 0x70, 0x73,
    0x3a, 0x2f, 0x2f, 0x64, 0x6d, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d,
    0x2f, 0x64, 0x6d, 0x00, 0x01, 0x01, 0x5a, 0x00, 0x01, 0x4c, 0x03, 0x31, 0x30, 0x30, 0x30, 0x30, 0x00,
    0x01, 0x01, 0x01, 0x00, 0x00, 0x6b, 0x69, 0x4b, 0x03, 0x31, 0x00, 0x01, 0x5c, 0x03, 0x31, 0x00, 0x01,
    0x4c, 0x03, 0x30, 0x00, 0x01, 0x4a, 0x03, 0x53, 0x79, 0x6e, 0x63, 0x48, 0x64, 0x72, 0x00, 0x01, 0x49,
    0x5a, 0x00, 0x01, 0x47, 0x03, 0x62, 0x36, 0x34, 0x00, 0x01, 0x53, 0x03, 0x73, 0x79, 0x6e, 0x63, 0x6d,
    0x6c, 0x3a, 0x61, 0x75, 0x74, 0x68, 0x2d, 0x6d, 0x64, 0x35, 0x00, 0x01, 0x50, 0x03, 0x5a, 0x48, 0x56,
    0x74, 0x62, 0x58, 0x6b, 0x3d, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00, 0x4f, 0x03, 0x34, 0x30, 0x31, 0x00,
    0x01, 0x01, 0x53, 0x4b, 0x03, 0x32, 0x00, 0x01, 0x54, 0x6e, 0x57, 0x03, 0x2e, 0x2f, 0x44, 0x65, 0x76,
    0x44, 0x65, 0x74, 0x61, 0x69, 0x6c, 0x2f, 0x53, 0x77, 0x56, 0x00, 0x01, 0x01, 0x01, 0x01, 0x12, 0x01,
    0x01,
];

fn write_tiny(w: &mut impl Sink) {
    use SyncMlTag as S;
    w.start(s(S::SyncML));
    w.start(s(S::SyncHdr));
    w.leaf(s(S::VerDTD), "1.2");
    w.leaf(s(S::VerProto), "DM/1.2");
    w.leaf(s(S::SessionID), "1");
    w.leaf(s(S::MsgID), "2");
    w.start(s(S::Target));
    w.leaf(s(S::LocURI), "IMEI:493005100592800");
    w.end();
    w.start(s(S::Source));
    w.leaf(s(S::LocURI), "https://dm.example.com/dm");
    w.end();
    w.start(s(S::Meta));
    w.leaf(m(MetInfTag::MaxMsgSize), "10000");
    w.end();
    w.end(); // SyncHdr
    w.start(s(S::SyncBody));
    w.start(s(S::Status));
    w.leaf(s(S::CmdID), "1");
    w.leaf(s(S::MsgRef), "1");
    w.leaf(s(S::CmdRef), "0");
    w.leaf(s(S::Cmd), "SyncHdr");
    w.start(s(S::Chal));
    w.start(s(S::Meta));
    w.leaf(m(MetInfTag::Format), "b64");
    w.leaf(m(MetInfTag::Type), "syncml:auth-md5");
    w.leaf(m(MetInfTag::NextNonce), "ZHVtbXk=");
    w.end();
    w.end(); // Chal
    w.leaf(s(S::Data), "401");
    w.end(); // Status
    w.start(s(S::Get));
    w.leaf(s(S::CmdID), "2");
    w.start(s(S::Item));
    w.start(s(S::Target));
    w.leaf(s(S::LocURI), "./DevDetail/SwV");
    w.end();
    w.end();
    w.end(); // Get
    w.empty(s(S::Final));
    w.end(); // SyncBody
    w.end(); // SyncML
}

#[test]
fn writer_matches_libwbxml_byte_for_byte() {
    let mut w = WbxmlWriter::new(SYNCML_1_2);
    write_tiny(&mut w);
    assert_eq!(w.finish(), TINY_LIBWBXML);
}

#[test]
fn writer_empty_elements_match_libwbxml() {
    // xml2wbxml -v 1.2 -n of `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD>
    // </SyncHdr><SyncBody><Status><Data></Data><Cmd/></Status><Final/></SyncBody></SyncML>`.
    let expected = [
        0x02, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6c, 0x71, 0x03, 0x31, 0x2e, 0x32, 0x00, 0x01, 0x01, 0x6b, 0x69,
        0x0f, 0x0a, 0x01, 0x12, 0x01, 0x01,
    ];
    let mut w = WbxmlWriter::with_capacity(SYNCML_1_2, 64);
    w.start(s(SyncMlTag::SyncML));
    w.start(s(SyncMlTag::SyncHdr));
    w.leaf(s(SyncMlTag::VerDTD), "1.2");
    w.end();
    w.start(s(SyncMlTag::SyncBody));
    w.start(s(SyncMlTag::Status));
    w.leaf(s(SyncMlTag::Data), "");
    w.empty(s(SyncMlTag::Cmd));
    w.end();
    w.empty(s(SyncMlTag::Final));
    w.end();
    w.end();
    assert_eq!(w.finish(), expected);
}

#[test]
fn rewriting_libwbxml_and_libdmclient_vectors_is_identity() {
    // Both libwbxml and the libdmclient (SyncML RTK) encoder switch pages lazily and use
    // STR_I / OPAQUE exactly as the writer does.
    for v in [DM12, DM11, LIBDM] {
        let events = decode(v).unwrap();
        let public_id = match header(v).public_id {
            PublicId::Numeric(id) => id,
            PublicId::Fpi(f) => panic!("{f}"),
        };
        let mut w = WbxmlWriter::new(public_id);
        replay(&events, &mut w);
        assert_eq!(w.finish(), v);
    }
}

#[test]
fn rewriting_motorola_body_differs_only_in_empty_values() {
    // Same body as the Motorola engine wrote, except that the engine writes an empty value as
    // `4F 03 00 01` (Data, empty STR_I, END) where the writer (like libwbxml) writes `0F`.
    let mut w = WbxmlWriter::new(SYNCML_1_2);
    replay(&decode(CM).unwrap(), &mut w);
    let mut expected = vec![0x02, 0xA4, 0x01, 0x6A, 0x00];
    let cm_body = &CM[5 + 0x1D..];
    let mut i = 0;
    let mut empties = 0;
    while i < cm_body.len() {
        if cm_body[i..].starts_with(&[0x4F, 0x03, 0x00, 0x01]) {
            expected.push(0x0F);
            i += 4;
            empties += 1;
        } else {
            expected.push(cm_body[i]);
            i += 1;
        }
    }
    assert_eq!(empties, 2);
    assert_eq!(w.finish(), expected);
}

#[test]
fn writer_round_trip_all_pages() {
    let mut w = WbxmlWriter::new(SYNCML_1_2);
    w.start(s(SyncMlTag::SyncML));
    w.start(s(SyncMlTag::Meta));
    w.leaf(m(MetInfTag::Type), "application/vnd.syncml.dmddf+xml");
    w.end();
    w.start(s(SyncMlTag::Data));
    w.start(Tag::Ddf(DdfTag::MgmtTree));
    w.leaf(Tag::Ddf(DdfTag::VerDTD), "1.2");
    w.start(Tag::Ddf(DdfTag::Node));
    w.leaf(Tag::Ddf(DdfTag::NodeName), "Ünïcödé ✓");
    w.empty(Tag::Ddf(DdfTag::Permanent));
    w.end();
    w.end();
    w.end();
    w.leaf(s(SyncMlTag::Data), "a\0b");
    w.start(s(SyncMlTag::Data));
    w.opaque(&[0x00, 0xFF, 0x01]);
    w.end();
    w.start(s(SyncMlTag::Item));
    w.text("x");
    w.text("y");
    w.end();
    w.end();
    let bytes = w.finish();
    let dd = |t| Event::Start(Tag::Ddf(t));
    assert_eq!(
        decode(&bytes).unwrap(),
        [
            Event::Start(s(SyncMlTag::SyncML)),
            Event::Start(s(SyncMlTag::Meta)),
            Event::Start(m(MetInfTag::Type)),
            text("application/vnd.syncml.dmddf+xml"),
            Event::End,
            Event::End,
            Event::Start(s(SyncMlTag::Data)),
            dd(DdfTag::MgmtTree),
            dd(DdfTag::VerDTD),
            text("1.2"),
            Event::End,
            dd(DdfTag::Node),
            dd(DdfTag::NodeName),
            text("Ünïcödé ✓"),
            Event::End,
            dd(DdfTag::Permanent),
            Event::End,
            Event::End,
            Event::End,
            Event::End,
            Event::Start(s(SyncMlTag::Data)),
            Event::Opaque(Cow::Borrowed(b"a\0b")),
            Event::End,
            Event::Start(s(SyncMlTag::Data)),
            Event::Opaque(Cow::Borrowed(&[0x00, 0xFF, 0x01])),
            Event::End,
            Event::Start(s(SyncMlTag::Item)),
            text("x"),
            text("y"),
            Event::End,
            Event::End,
            Event::Eof,
        ]
    );
}

#[test]
fn writer_header_for_other_public_ids() {
    assert_eq!(WbxmlWriter::new(SYNCML_1_1).finish(), [0x02, 0x9F, 0x53, 0x6A, 0x00]);
    assert_eq!(WbxmlWriter::new(PROV_1_0).finish(), [0x02, 0x0B, 0x6A, 0x00]);
}

#[test]
#[cfg(not(debug_assertions))]
fn writer_skips_unknown_subtree_in_release() {
    let mut w = WbxmlWriter::new(SYNCML_1_2);
    w.start(s(SyncMlTag::SyncML));
    w.start(Tag::Unknown);
    w.leaf(s(SyncMlTag::Data), "x");
    w.end();
    w.end();
    assert_eq!(w.finish(), [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x2D]);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "Tag::Unknown")]
fn writer_rejects_unknown_in_debug() {
    let mut w = WbxmlWriter::new(SYNCML_1_2);
    w.start(Tag::Unknown);
}

// ---- header --------------------------------------------------------------------------------

#[test]
fn header_versions() {
    for v in [0x01, 0x02, 0x03, 0x0F] {
        let doc = [v, 0x01, 0x6A, 0x00, 0x2D];
        assert_eq!(header(&doc).version, v);
        assert_eq!(header(&doc).public_id, PublicId::Numeric(UNKNOWN_PUBLIC_ID));
    }
    for v in [0x00, 0x10, 0x13, 0xFF] {
        let doc = [v, 0x01, 0x6A, 0x00, 0x2D];
        assert!(matches!(
            WbxmlReader::new(&doc, &Limits::DEFAULT),
            Err(DecodeError::Wbxml { offset: 0, .. })
        ));
    }
}

#[test]
fn header_fpi_with_nul_and_offset() {
    // Public id 0, FPI at table offset 2 ("x\0" precedes it), NUL-terminated.
    let mut doc = vec![0x03, 0x00, 0x02, 0x6A, 2 + FPI_DMDDF_1_2.len() as u8 + 1, b'x', 0];
    doc.extend_from_slice(FPI_DMDDF_1_2.as_bytes());
    doc.extend_from_slice(&[0x00, 0x00, 0x02, 0x60, 0x83, 0x00, 0x01]);
    assert_eq!(header(&doc).public_id, PublicId::Fpi(FPI_DMDDF_1_2.to_string()));
    // STR_T 0 reads "x" from the same table.
    assert_eq!(
        decode(&doc).unwrap(),
        [Event::Start(Tag::Ddf(DdfTag::MgmtTree)), text("x"), Event::End, Event::Eof]
    );
}

#[test]
fn header_fpi_index_out_of_range() {
    let doc = [0x02, 0x00, 0x05, 0x6A, 0x02, b'a', 0x00, 0x2D];
    let err = WbxmlReader::new(&doc, &Limits::DEFAULT).unwrap_err();
    assert!(matches!(err, DecodeError::Wbxml { offset: 2, .. }), "{err:?}");
}

#[test]
fn header_string_table_longer_than_input() {
    let doc = [0x02, 0x01, 0x6A, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x2D];
    assert_eq!(
        WbxmlReader::new(&doc, &Limits::DEFAULT).unwrap_err(),
        DecodeError::UnexpectedEof { offset: doc.len() }
    );
}

#[test]
fn header_six_byte_public_id() {
    let doc = [0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x6A, 0x00, 0x2D];
    assert!(matches!(WbxmlReader::new(&doc, &Limits::DEFAULT), Err(DecodeError::Wbxml { offset: 1, .. })));
}

#[test]
fn charsets() {
    // ISO-8859-1: 0xE9 is é; converted to UTF-8.
    let doc = [0x02, 0xA4, 0x01, 0x04, 0x00, 0x4F, 0x03, b'c', 0xE9, 0x00, 0x01];
    let events = decode(&doc).unwrap();
    assert_eq!(events[1], Event::Text(Cow::Owned("cé".into())));
    // ISO-8859-1 ASCII text still borrows.
    let doc = [0x02, 0xA4, 0x01, 0x04, 0x00, 0x4F, 0x03, b'c', 0x00, 0x01];
    assert!(matches!(decode(&doc).unwrap()[1], Event::Text(Cow::Borrowed("c"))));
    // US-ASCII rejects 8-bit bytes.
    let doc = [0x02, 0xA4, 0x01, 0x03, 0x00, 0x4F, 0x03, b'c', 0xE9, 0x00, 0x01];
    assert_eq!(decode(&doc), Err(DecodeError::InvalidUtf8 { offset: 8 }));
    // UTF-8 is validated.
    let doc = body(&[0x4F, 0x03, b'a', b'b', 0xC3, 0x28, 0x00, 0x01]);
    assert_eq!(decode(&doc), Err(DecodeError::InvalidUtf8 { offset: 9 }));
    // Anything else is refused (UTF-16 = 1015, encoded 87 77).
    let doc = [0x02, 0xA4, 0x01, 0x87, 0x77, 0x00, 0x2D];
    assert!(matches!(WbxmlReader::new(&doc, &Limits::DEFAULT), Err(DecodeError::Wbxml { offset: 3, .. })));
}

#[test]
fn message_too_large() {
    let limits = Limits { max_message_bytes: 100, ..Limits::DEFAULT };
    assert_eq!(
        WbxmlReader::new(DM12, &limits).unwrap_err(),
        DecodeError::MessageTooLarge { size: DM12.len(), limit: 100 }
    );
}

// ---- body tokens ---------------------------------------------------------------------------

#[test]
fn entity() {
    let doc = body(&[0x4F, 0x02, 0x81, 0x7F, 0x02, 0xCE, 0x13, 0x01]);
    assert_eq!(
        decode(&doc).unwrap()[1..3],
        [Event::Text(Cow::Owned("ÿ".into())), Event::Text(Cow::Owned("✓".into()))]
    );
    // A surrogate is not a character.
    let doc = body(&[0x4F, 0x02, 0x83, 0xB0, 0x00, 0x01]);
    assert_eq!(wbxml_reason(decode(&doc)).0, 6);
}

#[test]
fn str_t_reads_to_nul_or_table_end_and_checks_range() {
    // Table "ab\0cd" (no NUL at the end); STR_T 0 → "ab", STR_T 3 → "cd", STR_T 5 → error.
    let head = [0x02, 0xA4, 0x01, 0x6A, 0x05, b'a', b'b', 0x00, b'c', b'd'];
    let mut doc = head.to_vec();
    doc.extend_from_slice(&[0x4F, 0x83, 0x00, 0x83, 0x03, 0x01]);
    assert_eq!(
        decode(&doc).unwrap(),
        [Event::Start(s(SyncMlTag::Data)), text("ab"), text("cd"), Event::End, Event::Eof]
    );
    let mut doc = head.to_vec();
    doc.extend_from_slice(&[0x4F, 0x83, 0x05, 0x01]);
    let (offset, reason) = wbxml_reason(decode(&doc));
    assert_eq!(offset, 11);
    assert!(reason.contains("out of range"), "{reason}");
    // A 6-byte index.
    let mut doc = head.to_vec();
    doc.extend_from_slice(&[0x4F, 0x83, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01]);
    assert_eq!(wbxml_reason(decode(&doc)).0, 12);
}

#[test]
fn opaque_bounds() {
    // Huge declared length: refused by the limit before anything is read.
    let doc = body(&[0x4F, 0xC3, 0x8F, 0xFF, 0xFF, 0xFF, 0x7F, 0x01]);
    assert!(matches!(decode(&doc), Err(DecodeError::ValueTooLong { len: 0xFFFF_FFFF, offset: 6, .. })));
    // Without the limit: refused because the input is shorter.
    let limits = Limits { max_opaque_bytes: usize::MAX, ..Limits::DEFAULT };
    assert_eq!(decode_with(&doc, &limits), Err(DecodeError::UnexpectedEof { offset: doc.len() }));
    // Exactly the remaining bytes, then no END: EOF.
    let doc = body(&[0x4F, 0xC3, 0x02, 0xAA, 0xBB]);
    assert!(matches!(decode(&doc), Err(DecodeError::UnexpectedEof { .. })));
}

#[test]
fn unknown_pages_and_tokens_are_unknown_tags() {
    // SyncML, SWITCH_PAGE 7, tag 0x05 with content, END, SWITCH_PAGE 0, reserved 0x30, END.
    let doc = body(&[0x6D, 0x00, 0x07, 0x45, 0x03, b'v', 0x00, 0x01, 0x00, 0x00, 0x30, 0x01]);
    assert_eq!(
        decode(&doc).unwrap(),
        [
            Event::Start(s(SyncMlTag::SyncML)),
            Event::Start(Tag::Unknown),
            text("v"),
            Event::End,
            Event::Start(Tag::Unknown),
            Event::End,
            Event::End,
            Event::Eof
        ]
    );
}

#[test]
fn literal_tags_are_unknown() {
    let doc = [0x02, 0xA4, 0x01, 0x6A, 0x02, b'X', 0x00, 0x6D, 0x44, 0x00, 0x01, 0x04, 0x00, 0x01];
    assert_eq!(
        decode(&doc).unwrap(),
        [
            Event::Start(s(SyncMlTag::SyncML)),
            Event::Start(Tag::Unknown),
            Event::End,
            Event::Start(Tag::Unknown),
            Event::End,
            Event::End,
            Event::Eof
        ]
    );
    // Name index outside the table.
    let doc = [0x02, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x04, 0x09, 0x01];
    assert_eq!(wbxml_reason(decode(&doc)).0, 6);
}

#[test]
fn attributes_are_refused() {
    for tag in [0xAD, 0xED, 0x84, 0xC4] {
        let doc = body(&[0x6D, tag, 0x05, 0x01, 0x01, 0x01]);
        let (offset, reason) = wbxml_reason(decode(&doc));
        assert_eq!(offset, 6, "{tag:#x}");
        assert!(reason.contains("attributes"), "{reason}");
    }
    // Also on the root.
    let (offset, _) = wbxml_reason(decode(&body(&[0xED, 0x01, 0x01])));
    assert_eq!(offset, 5);
}

#[test]
fn pi_and_extensions_are_refused_by_name() {
    for (token, name) in [
        (0x43, "PI"),
        (0x40, "EXT_I_0"),
        (0x41, "EXT_I_1"),
        (0x42, "EXT_I_2"),
        (0x80, "EXT_T_0"),
        (0x82, "EXT_T_2"),
        (0xC0, "EXT_0"),
        (0xC2, "EXT_2"),
    ] {
        let doc = body(&[0x6D, token, 0x00, 0x01]);
        let (offset, reason) = wbxml_reason(decode(&doc));
        assert_eq!(offset, 6);
        assert!(reason.contains(name), "{reason}");
    }
}

#[test]
fn structure_errors() {
    // Text before the root.
    for token in [0x03, 0x02, 0x83, 0xC3] {
        let doc = body(&[token, 0x41, 0x00, 0x6D, 0x01]);
        let (offset, reason) = wbxml_reason(decode(&doc));
        assert_eq!(offset, 5);
        assert!(reason.contains("outside the root"), "{reason}");
    }
    // END before the root.
    assert_eq!(wbxml_reason(decode(&body(&[0x01]))).0, 5);
    // Trailing bytes after the root, after an empty root and after a switch.
    assert_eq!(wbxml_reason(decode(&body(&[0x6D, 0x01, 0x2D]))).0, 7);
    assert_eq!(wbxml_reason(decode(&body(&[0x2D, 0x00]))).0, 6);
    // No root at all.
    assert_eq!(decode(&body(&[])), Err(DecodeError::UnexpectedEof { offset: 5 }));
    assert_eq!(decode(&body(&[0x00, 0x01])), Err(DecodeError::UnexpectedEof { offset: 7 }));
}

#[test]
fn depth_bomb() {
    let doc = body(&[0x6D; 10_000]);
    assert_eq!(decode(&doc), Err(DecodeError::TooDeep { limit: 32, offset: 5 + 32 }));
    // Exactly max_depth is fine.
    let mut nested = vec![0x6D; 32];
    nested.extend_from_slice(&[0x01; 32]);
    assert!(decode(&body(&nested)).is_ok());
}

#[test]
fn element_count_limit() {
    let limits = Limits { max_elements: 3, ..Limits::DEFAULT };
    assert_eq!(decode_with(DM12, &limits), Err(DecodeError::TooManyElements { limit: 3, offset: 14 }));
}

#[test]
fn string_length_limit() {
    let limits = Limits { max_string_bytes: 3, ..Limits::DEFAULT };
    // "DM/1.2" is the first string over 3 bytes; it starts at byte 16.
    assert_eq!(decode_with(DM12, &limits), Err(DecodeError::ValueTooLong { len: 6, limit: 3, offset: 16 }));
    // The FPI in the string table counts too.
    assert!(matches!(WbxmlReader::new(CM, &limits), Err(DecodeError::ValueTooLong { len: 29, .. })));
}

#[test]
fn every_truncation_of_every_vector_is_an_error() {
    for v in VECTORS {
        for len in 0..v.len() {
            assert!(decode(&v[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }
}

#[test]
fn every_single_byte_corruption_is_handled() {
    for v in [DM12, CM] {
        let mut doc = v.to_vec();
        for i in 0..doc.len() {
            let original = doc[i];
            for b in [0x00, 0x01, 0x03, 0x43, 0x83, 0xC3, 0xFF, original ^ 0x40] {
                doc[i] = b;
                let _ = decode(&doc);
            }
            doc[i] = original;
        }
    }
}

// ---- properties ----------------------------------------------------------------------------

/// A random element tree of known tags with text, written through the writer.
#[derive(Clone, Debug)]
enum Node {
    Element(Tag, Vec<Node>),
    Text(String),
    Opaque(Vec<u8>),
}

fn known_tag() -> impl Strategy<Value = Tag> {
    prop_oneof![
        prop::sample::select(SyncMlTag::ALL).prop_map(Tag::SyncMl),
        prop::sample::select(MetInfTag::ALL).prop_map(Tag::MetInf),
        prop::sample::select(DdfTag::ALL).prop_map(Tag::Ddf),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        "[^\u{0}]{1,12}".prop_map(Node::Text),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Node::Opaque),
        known_tag().prop_map(|t| Node::Element(t, Vec::new())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        (known_tag(), prop::collection::vec(inner, 0..6)).prop_map(|(t, c)| Node::Element(t, c))
    })
}

fn write_node(node: &Node, w: &mut WbxmlWriter, expected: &mut Vec<Event<'static>>) {
    match node {
        Node::Element(tag, children) => {
            w.start(*tag);
            expected.push(Event::Start(*tag));
            for c in children {
                write_node(c, w, expected);
            }
            w.end();
            expected.push(Event::End);
        }
        Node::Text(t) => {
            w.text(t);
            expected.push(Event::Text(Cow::Owned(t.clone())));
        }
        Node::Opaque(b) => {
            w.opaque(b);
            expected.push(Event::Opaque(Cow::Owned(b.clone())));
        }
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn random_bodies_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&body(&bytes));
        // And with a string table, so that STR_T and LITERAL can hit.
        let mut doc = vec![0x02, 0x00, 0x00, 0x6A, 0x04, b'a', 0x00, b'b', b'c'];
        doc.extend_from_slice(&bytes);
        let _ = decode(&doc);
    }

    #[test]
    fn writer_reader_round_trip(root_tag in known_tag(), children in prop::collection::vec(node(), 0..6)) {
        let root = Node::Element(root_tag, children);
        let mut w = WbxmlWriter::new(SYNCML_1_2);
        let mut expected = Vec::new();
        write_node(&root, &mut w, &mut expected);
        expected.push(Event::Eof);
        let bytes = w.finish();
        let limits = Limits { max_depth: 64, ..Limits::DEFAULT };
        prop_assert_eq!(decode_with(&bytes, &limits).unwrap(), expected);
    }
}
