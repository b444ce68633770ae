//! Tests of the XML reader and writer against real client output, the spec examples and
//! hostile input.

use std::borrow::Cow;

use proptest::prelude::*;

use super::{XmlReader, XmlWriter};
use crate::error::DecodeError;
use crate::event::{Event, EventReader, Sink};
use crate::limits::Limits;
use crate::tag::{DdfTag, MetInfTag, SyncMlTag, Tag};

const CM_PKG1: &[u8] = include_bytes!("../../tests/vectors/cm_omadm_pkg1.xml");
const CM_PKG1_DIGEST: &[u8] = include_bytes!("../../tests/vectors/cm_omadm_pkg1_DIGEST.xml");
const CM_PKG1_HMAC: &[u8] = include_bytes!("../../tests/vectors/cm_omadm_pkg1_HMAC.xml");
const LIBDMCLIENT: &[u8] = include_bytes!("../../tests/vectors/libdmclient_xml.xml");
const SPEC_DM12: &[u8] = include_bytes!("../../tests/vectors/spec_dm12.xml");
const SPEC_DM11: &[u8] = include_bytes!("../../tests/vectors/spec_dm11.xml");

const VECTORS: [(&str, &[u8]); 6] = [
    ("cm_omadm_pkg1", CM_PKG1),
    ("cm_omadm_pkg1_DIGEST", CM_PKG1_DIGEST),
    ("cm_omadm_pkg1_HMAC", CM_PKG1_HMAC),
    ("libdmclient_xml", LIBDMCLIENT),
    ("spec_dm12", SPEC_DM12),
    ("spec_dm11", SPEC_DM11),
];

fn s(t: SyncMlTag) -> Event<'static> {
    Event::Start(Tag::SyncMl(t))
}
fn m(t: MetInfTag) -> Event<'static> {
    Event::Start(Tag::MetInf(t))
}
fn d(t: DdfTag) -> Event<'static> {
    Event::Start(Tag::Ddf(t))
}
fn text(t: &str) -> Event<'_> {
    Event::Text(Cow::Borrowed(t))
}

/// All events up to and including Eof, with default limits.
fn read(input: &[u8]) -> Result<Vec<Event<'_>>, DecodeError> {
    read_with(input, &Limits::DEFAULT)
}

fn read_with<'a>(input: &'a [u8], limits: &Limits) -> Result<Vec<Event<'a>>, DecodeError> {
    let mut reader = XmlReader::new(input, limits)?;
    let mut events = Vec::new();
    // Every event consumes input or closes an element, so this terminates; the bound is a
    // guard against a reader bug looping forever.
    for _ in 0..=2 * input.len() + 2 {
        let event = reader.next_event()?;
        let eof = event == Event::Eof;
        events.push(event);
        if eof {
            return Ok(events);
        }
    }
    panic!("reader did not reach Eof");
}

/// The events without whitespace-only text.
fn significant(events: Vec<Event<'_>>) -> Vec<Event<'_>> {
    events.into_iter().filter(|e| !matches!(e, Event::Text(t) if t.trim().is_empty())).collect()
}

fn contains(haystack: &[Event<'_>], needle: &[Event<'_>]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn xml_reason(result: Result<Vec<Event<'_>>, DecodeError>) -> String {
    match result {
        Err(DecodeError::Xml { reason, .. }) => reason,
        other => panic!("expected DecodeError::Xml, got {other:?}"),
    }
}

// ---- vectors ----

#[test]
fn every_vector_reads_to_eof_with_known_tags_only() {
    for (name, input) in VECTORS {
        let events = read(input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(events.last(), Some(&Event::Eof), "{name}");
        assert_eq!(events.first(), Some(&s(SyncMlTag::SyncML)), "{name}");
        let starts = events.iter().filter(|e| matches!(e, Event::Start(_))).count();
        let ends = events.iter().filter(|e| matches!(e, Event::End)).count();
        assert_eq!(starts, ends, "{name}");
        assert!(!events.contains(&Event::Start(Tag::Unknown)), "{name}");
    }
}

#[test]
fn cm_digest_spot_checks() {
    let events = significant(read(CM_PKG1_DIGEST).unwrap());
    // SyncHdr Meta: MaxMsgSize in the metinf namespace (FACTS.md C.5).
    assert!(contains(
        &events,
        &[s(SyncMlTag::Meta), m(MetInfTag::MaxMsgSize), text("122880"), Event::End, Event::End]
    ));
    // Cred/Meta: Format and Type are MetInf (FACTS.md D.1).
    assert!(contains(
        &events,
        &[
            s(SyncMlTag::Cred),
            s(SyncMlTag::Meta),
            m(MetInfTag::Format),
            text("b64"),
            Event::End,
            m(MetInfTag::Type),
            text("syncml:auth-md5"),
            Event::End,
            Event::End,
            s(SyncMlTag::Data),
            text("CqJOswhABxNtxsjWP9RBbw=="),
            Event::End,
            Event::End,
        ]
    ));
    // Empty Data (`<Data></Data>`) has no Text event; `<Final/>` is Start + End.
    assert!(contains(&events, &[s(SyncMlTag::Data), Event::End]));
    assert!(contains(&events, &[s(SyncMlTag::Final), Event::End, Event::End, Event::End, Event::Eof]));
}

#[test]
fn libdmclient_item_meta_is_metinf() {
    let events = read(LIBDMCLIENT).unwrap();
    assert!(contains(
        &events,
        &[
            s(SyncMlTag::Meta),
            m(MetInfTag::Format),
            text("chr"),
            Event::End,
            m(MetInfTag::Type),
            text("text/plain"),
            Event::End,
            Event::End,
            s(SyncMlTag::Data),
            text("data of test3"),
        ]
    ));
    assert!(contains(&events, &[m(MetInfTag::MaxMsgSize), text("16384")]));
}

#[test]
fn spec_vectors_skip_doctype_and_report_whitespace() {
    for input in [SPEC_DM12, SPEC_DM11] {
        let events = read(input).unwrap();
        // The newline after `<SyncML ...>` is text inside the root.
        assert_eq!(&events[..2], &[s(SyncMlTag::SyncML), text("\n")]);
        let events = significant(events);
        assert!(contains(&events, &[s(SyncMlTag::Cmd), text("SyncHdr"), Event::End]));
        assert!(contains(&events, &[m(MetInfTag::MaxMsgSize), text("10000")]));
        assert!(contains(&events, &[s(SyncMlTag::LocURI), text("./DevDetail/SwV")]));
    }
}

#[test]
fn offsets_point_at_the_event() {
    let input = b"<SyncML><SyncHdr>abc</SyncHdr><Final/></SyncML>";
    let mut reader = XmlReader::new(input, &Limits::DEFAULT).unwrap();
    let mut seen = Vec::new();
    loop {
        let event = reader.next_event().unwrap();
        seen.push(reader.offset());
        if event == Event::Eof {
            break;
        }
    }
    // SyncML, SyncHdr, text, end, Final, its end, end, Eof
    assert_eq!(seen, [0, 8, 17, 20, 30, 30, 38, 47]);
}

// ---- namespaces and tag mapping ----

#[test]
fn meta_children_without_namespace_are_metinf() {
    let input = b"<SyncML xmlns='SYNCML:SYNCML1.2'><SyncHdr><Meta><MaxMsgSize>5000</MaxMsgSize>\
        <Type>text/plain</Type><Mem><FreeMem>1</FreeMem></Mem></Meta></SyncHdr></SyncML>";
    let events = read(input).unwrap();
    assert!(contains(&events, &[s(SyncMlTag::Meta), m(MetInfTag::MaxMsgSize), text("5000")]));
    assert!(contains(&events, &[m(MetInfTag::Type), text("text/plain")]));
    assert!(contains(&events, &[m(MetInfTag::Mem), m(MetInfTag::FreeMem)]));
}

#[test]
fn metinf_names_outside_meta_fall_back_to_metinf() {
    let events = read(b"<SyncML><Item><MaxObjSize>1</MaxObjSize></Item></SyncML>").unwrap();
    assert!(contains(&events, &[s(SyncMlTag::Item), m(MetInfTag::MaxObjSize)]));
}

#[test]
fn ddf_subtree_in_data_gives_ddf_tags() {
    let input = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody><Results><Item><Data>
        <MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>x</NodeName>
        <DFProperties><AccessType><Get/><Replace/></AccessType><DFFormat><chr/></DFFormat>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties><Value>v</Value></Node></MgmtTree>
        </Data></Item></Results></SyncBody></SyncML>"#;
    let events = significant(read(input).unwrap());
    assert!(contains(
        &events,
        &[
            s(SyncMlTag::Data),
            d(DdfTag::MgmtTree),
            d(DdfTag::VerDTD),
            text("1.2"),
            Event::End,
            d(DdfTag::Node),
            d(DdfTag::NodeName),
            text("x"),
        ]
    ));
    // Names shared with page 0 resolve to the DDF page inside the DDF namespace.
    assert!(contains(
        &events,
        &[d(DdfTag::AccessType), d(DdfTag::Get), Event::End, d(DdfTag::Replace), Event::End]
    ));
    assert!(contains(&events, &[d(DdfTag::DFFormat), d(DdfTag::Chr)]));
    assert!(contains(&events, &[d(DdfTag::Value), text("v")]));
}

#[test]
fn ddf_subtree_without_namespace_still_gives_ddf_tags() {
    let input = b"<SyncML><Data><MgmtTree><Node><NodeName>n</NodeName><RTProperties>\
        <Format><int/></Format><Type><MIME>text/plain</MIME></Type></RTProperties></Node>\
        </MgmtTree></Data></SyncML>";
    let events = read(input).unwrap();
    assert!(contains(&events, &[s(SyncMlTag::Data), d(DdfTag::MgmtTree), d(DdfTag::Node)]));
    assert!(contains(&events, &[d(DdfTag::Format), d(DdfTag::Int)]));
    assert!(contains(&events, &[d(DdfTag::Type), d(DdfTag::MIME)]));
}

#[test]
fn prefixed_and_case_varied_namespaces() {
    let input = br#"<s:SyncML xmlns:s="SYNCML:SYNCML1.2"><s:SyncHdr><s:Meta>
        <m:Type xmlns:m="syncml:metinf">t</m:Type><Format xmlns="SYNCML:METINF">b64</Format>
        </s:Meta></s:SyncHdr></s:SyncML>"#;
    let events = significant(read(input).unwrap());
    assert_eq!(
        events,
        [
            s(SyncMlTag::SyncML),
            s(SyncMlTag::SyncHdr),
            s(SyncMlTag::Meta),
            m(MetInfTag::Type),
            text("t"),
            Event::End,
            m(MetInfTag::Format),
            text("b64"),
            Event::End,
            Event::End,
            Event::End,
            Event::End,
            Event::Eof,
        ]
    );
}

#[test]
fn unknown_names_and_namespaces_are_unknown() {
    let input = br#"<SyncML xmlns="syncml:syncml1.1"><Foo/><Meta xmlns="urn:other"/>
        <x:Type xmlns:x="syncml:metinf"><x:Bogus/></x:Type></SyncML>"#;
    let events = significant(read(input).unwrap());
    assert_eq!(
        events,
        [
            s(SyncMlTag::SyncML),
            Event::Start(Tag::Unknown),
            Event::End,
            Event::Start(Tag::Unknown),
            Event::End,
            m(MetInfTag::Type),
            Event::Start(Tag::Unknown),
            Event::End,
            Event::End,
            Event::End,
            Event::Eof,
        ]
    );
}

#[test]
fn undeclared_prefix_is_an_error() {
    let reason = xml_reason(read(b"<SyncML><m:Type>x</m:Type></SyncML>"));
    assert!(reason.contains("\"m\""), "{reason}");
}

// ---- text ----

#[test]
fn plain_text_is_borrowed() {
    let events = read(b"<SyncML><Data>plain text</Data></SyncML>").unwrap();
    assert!(matches!(&events[2], Event::Text(Cow::Borrowed("plain text"))));
}

#[test]
fn references_cdata_and_comments_make_one_text() {
    let input = b"<SyncML><Data>a&lt;b&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;<![CDATA[<x>&amp;]]><!-- c -->z</Data></SyncML>";
    let events = read(input).unwrap();
    assert_eq!(events[2], text("a<b>&\"'AB\u{1F600}<x>&amp;z"));
    assert_eq!(events[3], Event::End);
}

#[test]
fn cdata_alone_is_borrowed_verbatim() {
    let events = read(b"<SyncML><Data><![CDATA[a&b<c>]]></Data></SyncML>").unwrap();
    assert!(matches!(&events[2], Event::Text(Cow::Borrowed("a&b<c>"))));
}

#[test]
fn line_ends_are_normalized_but_char_ref_cr_survives() {
    let events = read(b"<SyncML><Data>a\r\nb\rc&#13;\nd</Data></SyncML>").unwrap();
    assert_eq!(events[2], text("a\nb\nc\r\nd"));
}

#[test]
fn control_character_references_are_accepted() {
    let events = read(b"<SyncML><Data>&#x1;&#0;&#x1F;&#xFFFF;</Data></SyncML>").unwrap();
    assert_eq!(events[2], text("\u{1}\0\u{1F}\u{FFFF}"));
}

#[test]
fn bad_character_references_are_errors() {
    for bad in ["&#xD800;", "&#x110000;", "&#;", "&#x;", "&#+5;", "&#x+5;", "&#X41;", "&#99999999999;"] {
        let input = format!("<SyncML><Data>{bad}</Data></SyncML>");
        let reason = xml_reason(read(input.as_bytes()));
        assert!(reason.contains("character reference"), "{bad}: {reason}");
    }
}

#[test]
fn bom_is_skipped_and_offsets_stay_absolute() {
    let events = read(b"\xEF\xBB\xBF<?xml version='1.0'?><SyncML/>").unwrap();
    assert_eq!(events, [s(SyncMlTag::SyncML), Event::End, Event::Eof]);
    let err = read(b"\xEF\xBB\xBF<SyncML></Other>").unwrap_err();
    assert!(matches!(err, DecodeError::Xml { offset: 11, .. }), "{err:?}");
}

#[test]
fn prolog_and_epilog_may_hold_comments_pis_and_space() {
    let input =
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- c --><?pi x?>\n<SyncML/>\n<!-- end -->\r\n";
    assert_eq!(read(input).unwrap(), [s(SyncMlTag::SyncML), Event::End, Event::Eof]);
}

#[test]
fn us_ascii_declaration_is_accepted() {
    assert!(read(b"<?xml version='1.0' encoding='US-ASCII'?><SyncML/>").is_ok());
}

// ---- hostile and malformed input ----

#[test]
fn billion_laughs_is_refused() {
    let input = br#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<SyncML><Data>&lol9;</Data></SyncML>"#;
    let reason = xml_reason(read(input));
    assert!(reason.contains("undefined entity &lol9;"), "{reason}");
}

#[test]
fn external_entity_is_refused() {
    let input = br#"<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]><SyncML><Data>&x;</Data></SyncML>"#;
    let reason = xml_reason(read(input));
    assert!(reason.contains("undefined entity &x;"), "{reason}");
}

#[test]
fn other_encodings_are_refused_by_name() {
    let reason = xml_reason(read(b"<?xml version='1.0' encoding='ISO-8859-1'?><SyncML/>"));
    assert!(reason.contains("ISO-8859-1"), "{reason}");
    // Latin-1 bytes under a Latin-1 declaration: the declaration is named, not the byte.
    let reason = xml_reason(read(b"<?xml version='1.0' encoding='ISO-8859-1'?><SyncML>caf\xE9</SyncML>"));
    assert!(reason.contains("ISO-8859-1"), "{reason}");
}

#[test]
fn invalid_utf8_reports_its_offset() {
    let err = read(b"<SyncML><Data>ab\xFFcd</Data></SyncML>").unwrap_err();
    assert_eq!(err, DecodeError::InvalidUtf8 { offset: 16 });
    let err = read(b"\xEF\xBB\xBF<SyncML>\xC3</SyncML>").unwrap_err();
    assert_eq!(err, DecodeError::InvalidUtf8 { offset: 11 });
    // UTF-16 is not UTF-8.
    assert!(matches!(read(b"\xFF\xFE<\0S\0"), Err(DecodeError::InvalidUtf8 { offset: 0 })));
}

#[test]
fn every_truncation_of_every_vector_is_an_error() {
    for (name, input) in VECTORS {
        let end = input.windows(9).rposition(|w| w == b"</SyncML>").unwrap() + 9;
        for cut in 0..input.len() {
            let result = read(&input[..cut]);
            if cut < end {
                assert!(result.is_err(), "{name} cut at {cut} was accepted");
            } else {
                assert!(result.is_ok(), "{name} cut at {cut}: {result:?}");
            }
        }
    }
}

#[test]
fn unclosed_elements_are_unexpected_eof() {
    assert_eq!(read(b"<SyncML><SyncHdr>"), Err(DecodeError::UnexpectedEof { offset: 17 }));
    assert_eq!(read(b"<SyncML><SyncHdr>text"), Err(DecodeError::UnexpectedEof { offset: 21 }));
    assert!(matches!(read(b"<SyncML><SyncH"), Err(DecodeError::UnexpectedEof { offset: 8 })));
    assert!(matches!(read(b""), Err(DecodeError::UnexpectedEof { .. })));
    assert!(matches!(read(b"<?xml version='1.0'?>"), Err(DecodeError::UnexpectedEof { .. })));
}

#[test]
fn depth_limit() {
    let limits = Limits { max_depth: 3, ..Limits::DEFAULT };
    assert!(read_with(b"<a><b><c/></b></a>", &limits).is_ok());
    assert_eq!(
        read_with(b"<a><b><c><d/></c></b></a>", &limits),
        Err(DecodeError::TooDeep { limit: 3, offset: 9 })
    );
    let deep = "<Item>".repeat(100_000);
    assert!(matches!(read(deep.as_bytes()), Err(DecodeError::TooDeep { limit: 32, .. })));
}

#[test]
fn element_limit() {
    let limits = Limits { max_elements: 3, ..Limits::DEFAULT };
    assert!(read_with(b"<a><b/><c/></a>", &limits).is_ok());
    assert_eq!(
        read_with(b"<a><b/><c/><d/></a>", &limits),
        Err(DecodeError::TooManyElements { limit: 3, offset: 11 })
    );
}

#[test]
fn text_length_limit() {
    let limits = Limits { max_string_bytes: 4, ..Limits::DEFAULT };
    assert!(read_with(b"<a>abcd</a>", &limits).is_ok());
    assert!(read_with(b"<a>ab&amp;d</a>", &limits).is_ok());
    assert_eq!(
        read_with(b"<a>abcde</a>", &limits),
        Err(DecodeError::ValueTooLong { len: 5, limit: 4, offset: 3 })
    );
    assert_eq!(
        read_with(b"<a>ab<![CDATA[cde]]></a>", &limits),
        Err(DecodeError::ValueTooLong { len: 5, limit: 4, offset: 3 })
    );
    assert!(matches!(read_with(b"<a>abcd&#65;</a>", &limits), Err(DecodeError::ValueTooLong { len: 5, .. })));
}

#[test]
fn message_size_limit() {
    let limits = Limits { max_message_bytes: 8, ..Limits::DEFAULT };
    assert_eq!(
        XmlReader::new(b"<SyncML/> ", &limits).err(),
        Some(DecodeError::MessageTooLarge { size: 10, limit: 8 })
    );
}

#[test]
fn malformed_documents_are_errors() {
    let cases: [&[u8]; 16] = [
        b"<SyncML><SyncHdr></SyncML></SyncHdr>", // mismatched end tag
        b"<SyncML></SyncML></SyncML>",           // end tag without start
        b"<SyncML/><SyncML/>",                   // second root
        b"<SyncML/>text",                        // text after the root
        b"<SyncML/>&amp;",                       // reference after the root
        b"text<SyncML/>",                        // text before the root
        b"<![CDATA[x]]><SyncML/>",               // CDATA before the root
        b" <?xml version='1.0'?><SyncML/>",      // declaration not first
        b"<?xml encoding='UTF-8'?><SyncML/>",    // declaration without version
        b"<!DOCTYPE a><!DOCTYPE b><SyncML/>",    // two DOCTYPEs
        b"<SyncML><!DOCTYPE a></SyncML>",        // DOCTYPE inside the root
        b"<SyncML><Data>a & b</Data></SyncML>",  // bare ampersand
        b"<SyncML><Data>&amp</Data></SyncML>",   // unterminated reference
        b"<SyncML><!-- a -- b --></SyncML>",     // `--` in a comment
        b"<SyncML a></SyncML>",                  // attribute without value
        b"<SyncML><></></SyncML>",               // element without a name
    ];
    for input in cases {
        let result = read(input);
        assert!(result.is_err(), "{:?} was accepted: {result:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn reader_stays_failed_after_an_error() {
    let mut reader = XmlReader::new(b"<a></b><c/>", &Limits::DEFAULT).unwrap();
    assert_eq!(reader.next_event(), Ok(Event::Start(Tag::Unknown)));
    assert!(reader.next_event().is_err());
    assert!(reader.next_event().is_err());
}

// ---- writer ----

/// Writes SyncML / SyncHdr / Meta / MaxMsgSize 10000, SyncBody / Final.
fn small_message(w: &mut XmlWriter) {
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::SyncMl(SyncMlTag::SyncHdr));
    w.start(Tag::SyncMl(SyncMlTag::Meta));
    w.leaf(Tag::MetInf(MetInfTag::MaxMsgSize), "10000");
    w.end();
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::SyncBody));
    w.empty(Tag::SyncMl(SyncMlTag::Final));
    w.end();
    w.end();
}

#[test]
fn writer_compact_output_is_exact() {
    let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
    small_message(&mut w);
    assert_eq!(
        String::from_utf8(w.finish()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr>\
         <Meta><MaxMsgSize xmlns=\"syncml:metinf\">10000</MaxMsgSize></Meta></SyncHdr>\
         <SyncBody><Final/></SyncBody></SyncML>"
    );
}

#[test]
fn writer_pretty_output_is_exact() {
    let mut w = XmlWriter::pretty("SYNCML:SYNCML1.1");
    small_message(&mut w);
    assert_eq!(
        String::from_utf8(w.finish()).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<SyncML xmlns=\"SYNCML:SYNCML1.1\">
  <SyncHdr>
    <Meta>
      <MaxMsgSize xmlns=\"syncml:metinf\">10000</MaxMsgSize>
    </Meta>
  </SyncHdr>
  <SyncBody>
    <Final/>
  </SyncBody>
</SyncML>
"
    );
}

#[test]
fn writer_namespaces_follow_the_page() {
    let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::SyncMl(SyncMlTag::Meta));
    w.start(Tag::MetInf(MetInfTag::Mem));
    w.leaf(Tag::MetInf(MetInfTag::FreeMem), "1");
    w.end();
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.start(Tag::Ddf(DdfTag::MgmtTree));
    w.start(Tag::Ddf(DdfTag::Node));
    w.end();
    w.end();
    w.end();
    let out = String::from_utf8(w.finish()).unwrap();
    assert!(out.ends_with(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><Meta><Mem xmlns=\"syncml:metinf\"><FreeMem>1</FreeMem>\
         </Mem></Meta><Data><MgmtTree xmlns=\"syncml:dmddf1.2\"><Node/></MgmtTree></Data></SyncML>"
    ));
}

#[test]
fn writer_escapes_text() {
    let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
    w.leaf(Tag::SyncMl(SyncMlTag::Data), "a<b>&\"'\r\n\t\u{1}\u{1F}\u{FFFE}\u{FFFF}é");
    let out = String::from_utf8(w.finish()).unwrap();
    assert!(out.ends_with(
        "<Data xmlns=\"SYNCML:SYNCML1.2\">a&lt;b&gt;&amp;\"'&#13;\n\t&#x1;&#x1F;&#xFFFE;&#xFFFF;é</Data>"
    ));
}

#[test]
fn writer_opaque_is_text_or_base64() {
    let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.opaque(b"plain & simple");
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.opaque(&[0xFF, 0x00, 0x10]);
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.opaque(b"ctl\x01");
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.opaque(b"");
    w.end();
    w.end();
    let out = String::from_utf8(w.finish()).unwrap();
    assert!(
        out.ends_with(
            "<Data>plain &amp; simple</Data><Data>/wAQ</Data><Data>Y3RsAQ==</Data><Data/></SyncML>"
        )
    );
}

#[test]
fn writer_tolerates_misuse() {
    let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
    w.text("outside");
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::Unknown);
    w.leaf(Tag::SyncMl(SyncMlTag::Data), "dropped");
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::SyncBody));
    let out = String::from_utf8(w.finish()).unwrap();
    assert_eq!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody/></SyncML>"
    );
}

#[test]
fn writer_pretty_keeps_mixed_content_inline() {
    let mut w = XmlWriter::pretty("SYNCML:SYNCML1.2");
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.text("t");
    w.empty(Tag::SyncMl(SyncMlTag::Final));
    w.end();
    w.end();
    let out = String::from_utf8(w.finish()).unwrap();
    assert!(out.ends_with(">\n  <Data>t<Final/></Data>\n</SyncML>\n"), "{out}");
}

// ---- round trips ----

/// One of each kind of content, written with `w`.
fn sample(w: &mut XmlWriter, data: &str) {
    w.start(Tag::SyncMl(SyncMlTag::SyncML));
    w.start(Tag::SyncMl(SyncMlTag::SyncHdr));
    w.leaf(Tag::SyncMl(SyncMlTag::VerDTD), "1.2");
    w.start(Tag::SyncMl(SyncMlTag::Meta));
    w.leaf(Tag::MetInf(MetInfTag::MaxMsgSize), "10000");
    w.start(Tag::MetInf(MetInfTag::Mem));
    w.leaf(Tag::MetInf(MetInfTag::FreeMem), "7");
    w.end();
    w.end();
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::SyncBody));
    w.start(Tag::SyncMl(SyncMlTag::Results));
    w.start(Tag::SyncMl(SyncMlTag::Item));
    w.start(Tag::SyncMl(SyncMlTag::Meta));
    w.leaf(Tag::MetInf(MetInfTag::Format), "xml");
    w.end();
    w.start(Tag::SyncMl(SyncMlTag::Data));
    w.start(Tag::Ddf(DdfTag::MgmtTree));
    w.start(Tag::Ddf(DdfTag::Node));
    w.leaf(Tag::Ddf(DdfTag::NodeName), "n");
    w.start(Tag::Ddf(DdfTag::RTProperties));
    w.start(Tag::Ddf(DdfTag::Format));
    w.empty(Tag::Ddf(DdfTag::Chr));
    w.end();
    w.start(Tag::Ddf(DdfTag::AccessType));
    w.empty(Tag::Ddf(DdfTag::Get));
    w.end();
    w.end();
    w.leaf(Tag::Ddf(DdfTag::Value), data);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    w.leaf(Tag::SyncMl(SyncMlTag::Data), data);
    w.empty(Tag::SyncMl(SyncMlTag::Final));
    w.end();
    w.end();
}

/// The events `sample` should read back as.
fn sample_events(data: &str) -> Vec<Event<'_>> {
    let mut v = vec![
        s(SyncMlTag::SyncML),
        s(SyncMlTag::SyncHdr),
        s(SyncMlTag::VerDTD),
        text("1.2"),
        Event::End,
        s(SyncMlTag::Meta),
        m(MetInfTag::MaxMsgSize),
        text("10000"),
        Event::End,
        m(MetInfTag::Mem),
        m(MetInfTag::FreeMem),
        text("7"),
        Event::End,
        Event::End,
        Event::End,
        Event::End,
        s(SyncMlTag::SyncBody),
        s(SyncMlTag::Results),
        s(SyncMlTag::Item),
        s(SyncMlTag::Meta),
        m(MetInfTag::Format),
        text("xml"),
        Event::End,
        Event::End,
        s(SyncMlTag::Data),
        d(DdfTag::MgmtTree),
        d(DdfTag::Node),
        d(DdfTag::NodeName),
        text("n"),
        Event::End,
        d(DdfTag::RTProperties),
        d(DdfTag::Format),
        d(DdfTag::Chr),
        Event::End,
        Event::End,
        d(DdfTag::AccessType),
        d(DdfTag::Get),
        Event::End,
        Event::End,
        Event::End,
        d(DdfTag::Value),
    ];
    let data_event: &[Event<'_>] = if data.is_empty() { &[] } else { &[text(data)] };
    v.extend_from_slice(data_event);
    v.extend([Event::End, Event::End, Event::End, Event::End, Event::End, Event::End]);
    v.push(s(SyncMlTag::Data));
    v.extend_from_slice(data_event);
    v.extend([Event::End, s(SyncMlTag::Final), Event::End, Event::End, Event::End, Event::Eof]);
    v
}

#[test]
fn writer_to_reader_round_trip() {
    let data = "x < y && z > \"q\" 'r'\r\n\ttab \u{1}\u{0}\u{FFFF} é 😀 ]]>";
    for pretty in [false, true] {
        let mut w =
            if pretty { XmlWriter::pretty("SYNCML:SYNCML1.2") } else { XmlWriter::new("SYNCML:SYNCML1.2") };
        sample(&mut w, data);
        let out = w.finish();
        let events = read(&out).unwrap();
        let events = if pretty { significant(events) } else { events };
        assert_eq!(events, sample_events(data), "pretty: {pretty}");
    }
}

#[test]
fn vectors_survive_read_write_read() {
    for (name, input) in VECTORS {
        let events = read(input).unwrap();
        let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
        for event in &events {
            match event {
                Event::Start(tag) => w.start(*tag),
                Event::Text(t) => w.text(t),
                Event::Opaque(b) => w.opaque(b),
                Event::End => w.end(),
                Event::Eof => {}
            }
        }
        let out = w.finish();
        assert_eq!(read(&out).unwrap(), events, "{name}");
    }
}

// ---- never panic ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read(&input);
    }

    #[test]
    fn random_xmlish_text_never_panics(input in "[<>/!?&#;a-zA-Z0-9:='\" \\[\\]x-]{0,200}") {
        let _ = read(input.as_bytes());
    }

    #[test]
    fn mutated_vectors_never_panic(
        which in 0..VECTORS.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut input = VECTORS[which].1.to_vec();
        for (at, byte, op) in edits {
            let i = at.index(input.len() + 1);
            match op {
                0 if i < input.len() => input[i] = byte,
                1 => input.insert(i, byte),
                _ if i < input.len() => { input.remove(i); }
                _ => {}
            }
        }
        let _ = read(&input);
        let _ = read_with(&input, &Limits { max_depth: 4, max_elements: 20, max_string_bytes: 8, ..Limits::DEFAULT });
    }

    #[test]
    fn any_text_round_trips(data in any::<String>()) {
        let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
        w.leaf(Tag::SyncMl(SyncMlTag::Data), &data);
        let out = w.finish();
        let events = read(&out).unwrap();
        let expected = if data.is_empty() {
            vec![s(SyncMlTag::Data), Event::End, Event::Eof]
        } else {
            vec![s(SyncMlTag::Data), text(&data), Event::End, Event::Eof]
        };
        prop_assert_eq!(events, expected);
    }

    #[test]
    fn opaque_round_trips_as_text_or_base64(bytes in proptest::collection::vec(any::<u8>(), 1..64)) {
        use base64::Engine as _;
        let mut w = XmlWriter::new("SYNCML:SYNCML1.2");
        w.start(Tag::SyncMl(SyncMlTag::Data));
        w.opaque(&bytes);
        w.end();
        let out = w.finish();
        let events = read(&out).unwrap();
        let Event::Text(t) = &events[1] else { panic!("{events:?}") };
        let back = match std::str::from_utf8(&bytes) {
            Ok(s) if t == s => bytes.clone(),
            _ => base64::engine::general_purpose::STANDARD.decode(t.as_bytes()).unwrap(),
        };
        prop_assert_eq!(back, bytes);
    }
}
