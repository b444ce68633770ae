//! The generator of the systematic kinds of the hostile corpus (`GENERATED_KINDS`): it derives
//! them from the real messages in `protocol/tests/vectors/` and from a few skeletons written
//! here. Compiled into `conformance/tests/hostile.rs`, which checks that the committed files are
//! exactly what this writes; to rewrite them after changing this file or the vectors:
//!
//! ```sh
//! cargo test -p omadm-conformance --test hostile -- --ignored write_generated_corpus
//! ```
//!
//! Expectations are decided here from the construction of each input, never by running the
//! decoder: a prefix of a document stops before its root ends; a corruption is chosen so that
//! the element structure can no longer balance or a byte can no longer be UTF-8; a control case
//! that must still decode says so. Inputs too large to commit (over 64 KB) are described by a
//! `generate` list in their `.case.json` and built by the test.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

/// The kinds this file writes whole (their folders hold nothing else).
pub const GENERATED_KINDS: &[&str] =
    &["truncated", "corrupted", "mbint", "nesting", "entities", "utf8", "content_type", "huge"];

/// The device of the captured vectors; never registered by the test.
pub const UNKNOWN_DEVICE: &str = "IMEI:001010123456789";

/// The committed files of the generated kinds: path relative to `conformance/hostile/` to bytes.
pub fn corpus(vectors: &Path) -> BTreeMap<String, Vec<u8>> {
    let read =
        |name: &str| std::fs::read(vectors.join(name)).unwrap_or_else(|e| panic!("vector {name}: {e}"));
    let mut out = Corpus::default();
    truncated(&mut out, &read);
    corrupted(&mut out, &read);
    mbint(&mut out, &read);
    nesting(&mut out);
    entities(&mut out);
    utf8(&mut out, &read);
    content_type(&mut out, &read);
    huge(&mut out);
    out.0
}

#[derive(Default)]
struct Corpus(BTreeMap<String, Vec<u8>>);

impl Corpus {
    fn file(&mut self, path: String, bytes: impl Into<Vec<u8>>) {
        let previous = self.0.insert(path.clone(), bytes.into());
        assert!(previous.is_none(), "generated twice: {path}");
    }

    fn json(&mut self, path: String, value: Value) {
        let mut text = serde_json::to_string_pretty(&value).unwrap();
        text.push('\n');
        self.file(path, text);
    }

    fn kind(&mut self, kind: &str, rule: &str, defaults: Value) {
        self.json(format!("{kind}/kind.json"), json!({ "rule": rule, "defaults": defaults }));
    }
}

fn ext(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(_, e)| e)
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// The offset just after the root element's end: the last `>` of an XML document (the
/// vectors end with `</SyncML>` and at most whitespace), the whole of a WBXML one (its last
/// byte is the root's END).
fn document_end(bytes: &[u8], ext: &str) -> usize {
    match ext {
        "xml" => bytes.iter().rposition(|&b| b == b'>').unwrap() + 1,
        _ => bytes.len(),
    }
}

// ---------------------------------------------------------------------------------------------
// truncated

fn truncated(out: &mut Corpus, read: &dyn Fn(&str) -> Vec<u8>) {
    out.kind(
        "truncated",
        "A message cut short (any prefix that stops before the root element ends) never decodes: \
         HTTP 400, and nothing is stored.",
        json!({ "expect": { "http": 400 } }),
    );
    out.file("truncated/empty.xml".into(), Vec::new());
    out.file("truncated/empty.wbxml".into(), Vec::new());
    for (name, step) in [
        ("cm_omadm_pkg1.xml", 16),
        ("cm_omadm_pkg1_HMAC.xml", 64),
        ("cm_omadm_pkg1_wbxml.wbxml", 16),
        ("libdmclient_xml.xml", 32),
        ("libdmclient_wbxml.wbxml", 16),
        ("spec_dm12.xml", 16),
        ("spec_dm12.wbxml", 16),
        ("spec_dm11.wbxml", 16),
    ] {
        let bytes = read(name);
        let end = document_end(&bytes, ext(name));
        for at in (step..end).step_by(step) {
            out.file(format!("truncated/{}.at{at:04}.{}", stem(name), ext(name)), &bytes[..at]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// corrupted

/// Offsets of every end tag (`</`) of an XML document.
fn end_tags(bytes: &[u8]) -> Vec<usize> {
    bytes.windows(2).enumerate().filter(|(_, w)| w == b"</").map(|(i, _)| i).collect()
}

/// One token of a WBXML body, as far as the corruptions need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A tag; whether it has content.
    Tag {
        content: bool,
    },
    End,
    /// An inline string whose bytes (without NUL) are at `start..end`.
    Str {
        start: usize,
        end: usize,
    },
    Other,
}

fn mb_u_int32(bytes: &[u8], pos: &mut usize) -> u32 {
    let mut v = 0u32;
    loop {
        let b = bytes[*pos];
        *pos += 1;
        v = (v << 7) | u32::from(b & 0x7F);
        if b & 0x80 == 0 {
            return v;
        }
    }
}

/// The header fields and the tokens of a well-formed WBXML document (only what DM uses:
/// SWITCH_PAGE, END, STR_I, STR_T, OPAQUE, ENTITY, tags without attributes).
struct Wbxml {
    charset_at: usize,
    charset: u32,
    tokens: Vec<(usize, Token)>,
}

fn tokenize(bytes: &[u8]) -> Wbxml {
    let mut pos = 1;
    let public_id = mb_u_int32(bytes, &mut pos);
    if public_id == 0 {
        mb_u_int32(bytes, &mut pos);
    }
    let charset_at = pos;
    let charset = mb_u_int32(bytes, &mut pos);
    let table = mb_u_int32(bytes, &mut pos) as usize;
    pos += table;
    let mut tokens = Vec::new();
    while pos < bytes.len() {
        let at = pos;
        let t = bytes[pos];
        pos += 1;
        let token = match t {
            0x00 => {
                pos += 1;
                Token::Other
            }
            0x01 => Token::End,
            0x02 | 0x83 => {
                mb_u_int32(bytes, &mut pos);
                Token::Other
            }
            0x03 => {
                let start = pos;
                while bytes[pos] != 0 {
                    pos += 1;
                }
                pos += 1;
                Token::Str { start, end: pos - 1 }
            }
            0xC3 => {
                let len = mb_u_int32(bytes, &mut pos) as usize;
                pos += len;
                Token::Other
            }
            t if t & 0x80 == 0 && t & 0x3F >= 0x05 => Token::Tag { content: t & 0x40 != 0 },
            t => panic!("token {t:#04x} at {at}: not in the vectors' subset"),
        };
        tokens.push((at, token));
    }
    Wbxml { charset_at, charset, tokens }
}

fn corrupted(out: &mut Corpus, read: &dyn Fn(&str) -> Vec<u8>) {
    out.kind(
        "corrupted",
        "A real message with one byte changed so that it is no longer well-formed (an end tag \
         that no longer closes its element, a tag whose END is left over, an attribute, PI or \
         extension token DM does not use, bytes that are not UTF-8, an unsupported WBXML version \
         or charset) is refused with HTTP 400; nothing is stored. A corruption that still \
         decodes is served as what it then says: the captured device is unknown, so 401.",
        json!({ "expect": { "http": 400 } }),
    );
    // XML: every end tag of two messages, three ways in turn.
    for name in ["cm_omadm_pkg1.xml", "spec_dm12.xml"] {
        let bytes = read(name);
        for (i, at) in end_tags(&bytes).into_iter().enumerate() {
            let mut b = bytes.clone();
            let (offset, what) = match i % 3 {
                // `</X>` becomes text ` /X>`: X stays open, the next end tag does not match it.
                0 => {
                    b[at] = b' ';
                    (at, "endtag-lt-to-space")
                }
                // `</X>` becomes `<QX>`: one element more opens than closes.
                1 => {
                    b[at + 1] = b'Q';
                    (at + 1, "endtag-slash-to-q")
                }
                // `</X>` becomes `</x>`: names are case-sensitive, it does not close `<X>`.
                _ => {
                    b[at + 2] ^= 0x20;
                    (at + 2, "endtag-name-case")
                }
            };
            out.file(format!("corrupted/{}.{offset:04}.{what}.xml", stem(name)), b);
        }
    }
    // XML: an invalid byte anywhere is invalid UTF-8 (every 97th byte of a message).
    let bytes = read("cm_omadm_pkg1.xml");
    for at in (0..bytes.len()).step_by(97) {
        let mut b = bytes.clone();
        b[at] = 0xFF;
        out.file(format!("corrupted/cm_omadm_pkg1.{at:04}.byte-ff.xml"), b);
    }
    // WBXML: tokens of three messages.
    for name in ["spec_dm12.wbxml", "cm_omadm_pkg1_wbxml.wbxml", "libdmclient_wbxml.wbxml"] {
        let bytes = read(name);
        let doc = tokenize(&bytes);
        let mut count = 0usize;
        for (i, &(at, token)) in doc.tokens.iter().enumerate() {
            // Every token of the spec message, every third of the longer captures.
            if name != "spec_dm12.wbxml" && i % 3 != 0 {
                continue;
            }
            let mut b = bytes.clone();
            let (offset, what) = match token {
                Token::Tag { content: true } => match count % 3 {
                    // The tag loses its content flag: its END is left over.
                    0 => {
                        b[at] &= !0x40;
                        (at, "tag-content-bit-cleared")
                    }
                    // Attributes, which DM never uses.
                    1 => {
                        b[at] |= 0x80;
                        (at, "tag-attribute-bit-set")
                    }
                    // A processing instruction, which DM never uses.
                    _ => {
                        b[at] = 0x43;
                        (at, "tag-to-pi")
                    }
                },
                // An END becomes a tag with content: two elements more open than close.
                Token::End => {
                    b[at] = 0x45;
                    (at, "end-to-tag")
                }
                Token::Str { start, end } if end > start && doc.charset == 106 => {
                    b[start] = 0xFF;
                    (start, "string-byte-ff")
                }
                // An extension token, which DM never uses.
                _ => {
                    b[at] = 0xC0;
                    (at, "token-to-ext0")
                }
            };
            count += 1;
            out.file(format!("corrupted/{}.{offset:04}.{what}.wbxml", stem(name)), b);
        }
        // Header: version 0 (before WBXML 1.1) and 0x10 (none yet), an unknown charset.
        for (offset, value, what) in
            [(0, 0x00, "version-00"), (0, 0x10, "version-10"), (doc.charset_at, 0x05, "charset-5")]
        {
            let mut b = bytes.clone();
            b[offset] = value;
            out.file(format!("corrupted/{}.{offset:04}.{what}.wbxml", stem(name)), b);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// mbint

/// A DM 1.2 WBXML message body (after the header) from an unknown device: SyncML, SyncHdr,
/// SyncBody with `body` and Final.
fn wbxml_body(body: &[u8]) -> Vec<u8> {
    let mut b = vec![0x6D, 0x6C];
    for (tag, text) in [(0x71, "1.2"), (0x72, "DM/1.2"), (0x65, "1"), (0x5B, "1")] {
        b.push(tag);
        b.push(0x03);
        b.extend_from_slice(text.as_bytes());
        b.extend_from_slice(&[0x00, 0x01]);
    }
    for (tag, uri) in [(0x6E, "http://localhost/dm"), (0x67, UNKNOWN_DEVICE)] {
        b.extend_from_slice(&[tag, 0x57, 0x03]);
        b.extend_from_slice(uri.as_bytes());
        b.extend_from_slice(&[0x00, 0x01, 0x01]);
    }
    b.extend_from_slice(&[0x01, 0x6B]);
    b.extend_from_slice(body);
    b.extend_from_slice(&[0x12, 0x01, 0x01]);
    b
}

/// Version 1.2, public id 0x1201, UTF-8, no string table.
const WBXML_HEADER: [u8; 5] = [0x02, 0xA4, 0x01, 0x6A, 0x00];

fn mbint(out: &mut Corpus, read: &dyn Fn(&str) -> Vec<u8>) {
    out.kind(
        "mbint",
        "A WBXML multi-byte integer (mb_u_int32) longer than 5 bytes, above 2^32-1, cut off by \
         the end of input, or naming a length, index or character that does not exist is \
         refused with HTTP 400 before anything is allocated for it; an XML number beyond its \
         field (MsgID, CmdID) likewise. Nothing is stored.",
        json!({ "expect": { "http": 400 } }),
    );
    let body = wbxml_body(&[]);
    const SIX: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    const TWO_32: &[u8] = &[0x90, 0x80, 0x80, 0x80, 0x00];
    const ALL_FF: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
    const U32_MAX: &[u8] = &[0x8F, 0xFF, 0xFF, 0xFF, 0x7F];
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("public-id-six-bytes", cat(&[&[0x02], SIX, &[0x6A, 0x00], &body])),
        ("public-id-2pow32", cat(&[&[0x02], TWO_32, &[0x6A, 0x00], &body])),
        ("public-id-all-ff", cat(&[&[0x02], ALL_FF, &[0x6A, 0x00], &body])),
        ("public-id-cut", vec![0x02, 0x81]),
        ("public-id-continues-forever", cat(&[&[0x02], &[0x80; 64]])),
        ("fpi-index-u32-max", cat(&[&[0x02, 0x00], U32_MAX, &[0x6A, 0x00], &body])),
        ("fpi-index-past-table", cat(&[&[0x02, 0x00, 0x05, 0x6A, 0x03], b"ab\0", &body])),
        ("charset-six-bytes", cat(&[&[0x02, 0xA4, 0x01], SIX, &[0x00], &body])),
        ("charset-2pow32", cat(&[&[0x02, 0xA4, 0x01], TWO_32, &[0x00], &body])),
        ("charset-u32-max", cat(&[&[0x02, 0xA4, 0x01], U32_MAX, &[0x00], &body])),
        ("string-table-length-u32-max", cat(&[&[0x02, 0xA4, 0x01, 0x6A], U32_MAX, &body])),
        ("string-table-length-2pow32", cat(&[&[0x02, 0xA4, 0x01, 0x6A], TWO_32, &body])),
        ("string-table-length-six-bytes", cat(&[&[0x02, 0xA4, 0x01, 0x6A], SIX, &body])),
        ("string-table-length-cut", vec![0x02, 0xA4, 0x01, 0x6A, 0xFF]),
    ];
    // In the body: an Alert's Data (SyncML page 0x0F with content).
    let in_data = |tokens: &[u8]| {
        let mut inner = vec![0x46, 0x4B, 0x03, b'1', 0x00, 0x01, 0x4F];
        inner.extend_from_slice(tokens);
        inner.extend_from_slice(&[0x01, 0x01]);
        cat(&[&WBXML_HEADER, &wbxml_body(&inner)])
    };
    cases.extend([
        ("str-t-index-u32-max", in_data(&cat(&[&[0x83], U32_MAX]))),
        ("str-t-index-2pow32", in_data(&cat(&[&[0x83], TWO_32]))),
        ("str-t-no-table", in_data(&[0x83, 0x00])),
        ("opaque-length-u32-max", in_data(&cat(&[&[0xC3], U32_MAX, b"1201"]))),
        ("opaque-length-2pow32", in_data(&cat(&[&[0xC3], TWO_32, b"1201"]))),
        ("opaque-length-six-bytes", in_data(&cat(&[&[0xC3], SIX, b"1201"]))),
        // 1 MiB + 1: over the OPAQUE limit, though the message is small.
        ("opaque-length-1mib-plus-1", in_data(&[0xC3, 0xC0, 0x80, 0x01, b'1'])),
        // 500 000 announced, 4 present.
        ("opaque-length-past-end", in_data(&[0xC3, 0x9E, 0xC2, 0x20, b'1', b'2', b'0', b'1'])),
        ("entity-u32-max", in_data(&cat(&[&[0x02], U32_MAX]))),
        ("entity-2pow32", in_data(&cat(&[&[0x02], TWO_32]))),
        ("entity-above-unicode", in_data(&[0x02, 0xC4, 0x80, 0x00])),
        ("entity-surrogate", in_data(&[0x02, 0x83, 0xB0, 0x00])),
        ("switch-page-cut", cat(&[&WBXML_HEADER, &[0x6D, 0x00]])),
    ]);
    for (name, bytes) in cases {
        out.file(format!("mbint/{name}.wbxml"), bytes);
    }
    // XML numbers beyond their fields (the captured message, MsgID and CmdID changed).
    let xml = String::from_utf8(read("cm_omadm_pkg1.xml")).unwrap();
    for (name, from, to) in [
        ("msgid-2pow32", "<MsgID>1</MsgID>", "<MsgID>4294967296</MsgID>"),
        ("msgid-40-digits", "<MsgID>1</MsgID>", "<MsgID>9999999999999999999999999999999999999999</MsgID>"),
        ("msgid-negative", "<MsgID>1</MsgID>", "<MsgID>-1</MsgID>"),
        ("msgid-hex", "<MsgID>1</MsgID>", "<MsgID>0x1</MsgID>"),
        ("cmdid-2pow64", "<CmdID>1</CmdID>", "<CmdID>18446744073709551616</CmdID>"),
        ("cmdid-empty", "<CmdID>1</CmdID>", "<CmdID></CmdID>"),
    ] {
        assert!(xml.contains(from));
        out.file(format!("mbint/{name}.xml"), xml.replacen(from, to, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// nesting

/// A DM 1.2 XML message from an unknown device, `body` in its SyncBody. The root is depth 1,
/// SyncBody depth 2; it has 12 elements besides `body`.
fn xml_message(body: &str) -> String {
    format!(
        "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
         <SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>http://localhost/dm</LocURI></Target>\
         <Source><LocURI>{UNKNOWN_DEVICE}</LocURI></Source></SyncHdr><SyncBody>{body}<Final/></SyncBody></SyncML>"
    )
}

fn xml_split() -> (String, String) {
    let whole = xml_message("\u{0}");
    let (a, b) = whole.split_once('\u{0}').unwrap();
    (a.to_owned(), b.to_owned())
}

fn wbxml_split() -> (Vec<u8>, Vec<u8>) {
    let whole = [&WBXML_HEADER[..], &wbxml_body(&[0xFE])].concat();
    let at = whole.iter().position(|&b| b == 0xFE).unwrap();
    (whole[..at].to_vec(), whole[at + 1..].to_vec())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn nesting(out: &mut Corpus) {
    out.kind(
        "nesting",
        "Elements nested deeper than 32 or more than 65,536 elements in one message are refused \
         with HTTP 400 (limits.rs), however deep the bomb goes and whether or not it is closed; \
         nothing is stored. At the limits exactly the message still decodes (from an unknown \
         device: 401).",
        json!({ "expect": { "http": 400 } }),
    );
    let deep = |levels: usize| format!("{}{}", "<x>".repeat(levels), "</x>".repeat(levels));
    out.file("nesting/depth-33.xml".into(), xml_message(&deep(31)));
    out.file("nesting/depth-1000.xml".into(), xml_message(&deep(998)));
    out.file("nesting/depth-1000-unclosed.xml".into(), xml_message(&"<x>".repeat(998)));
    out.file("nesting/depth-33-atomic.xml".into(), {
        let open = "<Atomic><CmdID>1</CmdID>".repeat(31);
        xml_message(&format!("{open}{}", "</Atomic>".repeat(31)))
    });
    out.file("nesting/depth-32.xml".into(), xml_message(&deep(30)));
    out.json(
        "nesting/depth-32.case.json".into(),
        json!({ "body": "depth-32.xml", "expect": { "http": 200, "hdr_status": 401 } }),
    );
    let (head, tail) = xml_split();
    out.json(
        "nesting/depth-70000.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+xml",
            "generate": [{ "text": head }, { "repeat": "<x>", "count": 69_998 }, { "repeat": "</x>", "count": 69_998 }, { "text": tail }],
        }),
    );
    out.json(
        "nesting/depth-170000-unclosed.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+xml",
            "generate": [{ "text": head }, { "repeat": "<x>", "count": 170_000 }],
        }),
    );
    out.json(
        "nesting/elements-65537.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+xml",
            "generate": [{ "text": head }, { "repeat": "<x/>", "count": 65_525 }, { "text": tail }],
        }),
    );
    out.json(
        "nesting/elements-65536.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+xml",
            "generate": [{ "text": head }, { "repeat": "<x/>", "count": 65_524 }, { "text": tail }],
            "expect": { "http": 200, "hdr_status": 401 },
        }),
    );
    // WBXML: elements of code page 0x7F (unknown to DM) in the SyncBody, depth 3 onwards.
    let wb_deep = |levels: usize| {
        let mut b = vec![0x00, 0x7F];
        b.extend(std::iter::repeat_n(0x45, levels));
        b.extend(std::iter::repeat_n(0x01, levels));
        b.extend_from_slice(&[0x00, 0x00]);
        b
    };
    let wb = |inner: &[u8]| [&WBXML_HEADER[..], &wbxml_body(inner)].concat();
    out.file("nesting/depth-33.wbxml".into(), wb(&wb_deep(31)));
    out.file("nesting/depth-5000.wbxml".into(), wb(&wb_deep(4998)));
    out.file("nesting/depth-32.wbxml".into(), wb(&wb_deep(30)));
    out.json(
        "nesting/depth-32-wbxml.case.json".into(),
        json!({ "body": "depth-32.wbxml", "expect": { "http": 200, "hdr_status": 401 } }),
    );
    let (head, tail) = wbxml_split();
    out.json(
        "nesting/depth-200000-wbxml.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+wbxml",
            "generate": [{ "hex": hex(&head) }, { "hex": "007f" }, { "repeat_hex": "45", "count": 200_000 }, { "repeat_hex": "01", "count": 200_000 }, { "hex": "0000" }, { "hex": hex(&tail) }],
        }),
    );
    out.json(
        "nesting/depth-400000-unclosed-wbxml.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+wbxml",
            "generate": [{ "hex": hex(&head) }, { "hex": "007f" }, { "repeat_hex": "45", "count": 400_000 }],
        }),
    );
    out.json(
        "nesting/elements-400000-wbxml.case.json".into(),
        json!({
            "content_type": "application/vnd.syncml.dm+wbxml",
            "generate": [{ "hex": hex(&head) }, { "hex": "007f" }, { "repeat_hex": "05", "count": 400_000 }, { "hex": "0000" }, { "hex": hex(&tail) }],
        }),
    );
}

// ---------------------------------------------------------------------------------------------
// entities

fn entities(out: &mut Corpus) {
    out.kind(
        "entities",
        "No DTD is processed and nothing is fetched: only the five predefined entities and \
         character references are expanded, so billion-laughs, quadratic blow-up, external \
         (file, http, parameter) entities and undefined references are refused with HTTP 400; \
         character references to non-characters too. A DOCTYPE that is only declared, an \
         external DTD or an XInclude is ignored and the message is served as it stands (here \
         from an unknown device: 401). Nothing is stored.",
        json!({ "expect": { "http": 400 } }),
    );
    let with_doctype = |doctype: &str, data: &str| {
        let msg = xml_message(&format!(
            "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>{data}</Data></Item></Replace>"
        ));
        format!("<?xml version=\"1.0\"?>\n<!DOCTYPE SyncML [\n{doctype}\n]>\n{msg}")
    };
    let mut laughs = String::from("<!ENTITY lol \"lol\">");
    for i in 1..=9 {
        let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
        laughs.push_str(&format!("\n<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
    }
    let big = "A".repeat(30_000);
    let cases: Vec<(&str, String, bool)> = vec![
        ("billion-laughs", with_doctype(&laughs, "&lol9;"), false),
        (
            "billion-laughs-in-attribute",
            with_doctype(&laughs, "1201").replace("<Replace>", "<Replace a=\"&lol9;\">"),
            true,
        ),
        ("quadratic-blowup", with_doctype(&format!("<!ENTITY a \"{big}\">"), &"&a;".repeat(2000)), false),
        ("xxe-file", with_doctype("<!ENTITY xxe SYSTEM \"file:///etc/passwd\">", "&xxe;"), false),
        ("xxe-http", with_doctype("<!ENTITY xxe SYSTEM \"http://127.0.0.1:9/x\">", "&xxe;"), false),
        (
            "xxe-public",
            with_doctype("<!ENTITY xxe PUBLIC \"-//X//Y\" \"file:///etc/shadow\">", "&xxe;"),
            false,
        ),
        (
            "xxe-parameter",
            with_doctype("<!ENTITY % p SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n%p;", "&exfil;"),
            false,
        ),
        (
            "xxe-in-header",
            with_doctype("<!ENTITY xxe SYSTEM \"file:///etc/hostname\">", "1201")
                .replace("<SessionID>1<", "<SessionID>&xxe;<"),
            false,
        ),
        (
            "undefined-entity",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&nbsp;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "undefined-entity-no-semicolon",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&amp</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "bare-ampersand",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>a & b</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-above-unicode",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#x110000;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-surrogate",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#xD800;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-huge",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#99999999999999999999999;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-empty",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-plus",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#+65;</Data></Item></Replace>",
            ),
            false,
        ),
        (
            "charref-hex-empty",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&#x;</Data></Item></Replace>",
            ),
            false,
        ),
        // Declared, never referenced: the DOCTYPE is skipped unread.
        ("billion-laughs-unreferenced", with_doctype(&laughs, "1201"), true),
        (
            "external-dtd",
            format!(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE SyncML SYSTEM \"http://127.0.0.1:9/syncml.dtd\">\n{}",
                xml_message("")
            ),
            true,
        ),
        (
            "xinclude",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data><xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\" parse=\"text\"/>1201</Data></Item></Replace>",
            ),
            true,
        ),
        (
            "predefined-and-charrefs",
            xml_message(
                "<Replace><CmdID>1</CmdID><Item><Source><LocURI>./DevInfo/Man</LocURI></Source><Data>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#0;</Data></Item></Replace>",
            ),
            true,
        ),
    ];
    for (name, text, decodes) in cases {
        out.file(format!("entities/{name}.xml"), text);
        if decodes {
            out.json(
                format!("entities/{name}.case.json"),
                json!({ "body": format!("{name}.xml"), "expect": { "http": 200, "hdr_status": 401 } }),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// utf8

fn utf8(out: &mut Corpus, read: &dyn Fn(&str) -> Vec<u8>) {
    out.kind(
        "utf8",
        "Text that is not UTF-8 (stray continuation bytes, overlong forms, surrogates, code \
         points above U+10FFFF, cut sequences, UTF-16) or not in the declared charset is refused \
         with HTTP 400 wherever it is: text, names, attribute values, comments, the WBXML string \
         table or inline strings. Nothing is stored. Valid ISO-8859-1 WBXML still decodes (from \
         an unknown device: 401).",
        json!({ "expect": { "http": 400 } }),
    );
    let bad: &[(&str, &[u8])] = &[
        ("ff", &[0xFF]),
        ("fe", &[0xFE]),
        ("lone-continuation", &[0x80]),
        ("overlong-slash", &[0xC0, 0xAF]),
        ("overlong-3-bytes", &[0xE0, 0x80, 0xAF]),
        ("overlong-nul", &[0xC0, 0x80]),
        ("surrogate-d800", &[0xED, 0xA0, 0x80]),
        ("surrogate-pair-cesu", &[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]),
        ("above-10ffff", &[0xF4, 0x90, 0x80, 0x80]),
        ("five-bytes", &[0xF8, 0x88, 0x80, 0x80, 0x80]),
        ("cut-2-byte", &[0xC3]),
        ("cut-3-byte", &[0xE2, 0x82]),
        ("cut-4-byte", &[0xF0, 0x9F, 0x98]),
    ];
    let xml = read("cm_omadm_pkg1.xml");
    let splice = |at: &[u8], seq: &[u8]| {
        let i = xml.windows(at.len()).position(|w| w == at).unwrap() + at.len();
        [&xml[..i], seq, &xml[i..]].concat()
    };
    for (name, seq) in bad {
        out.file(format!("utf8/xml-text-{name}.xml"), splice(b"<Data>en", seq));
    }
    for (name, seq) in &bad[..4] {
        out.file(format!("utf8/xml-element-name-{name}.xml"), splice(b"<Session", seq));
        out.file(format!("utf8/xml-attribute-{name}.xml"), splice(b"xmlns='SYNCML:", seq));
    }
    out.file("utf8/xml-comment-ff.xml".into(), splice(b"<SyncBody>", b"<!-- \xFF -->"));
    out.file("utf8/xml-cdata-surrogate.xml".into(), splice(b"<Data>en", b"<![CDATA[\xED\xA0\x80]]>"));
    let latin1_declared = String::from_utf8(xml.clone())
        .unwrap()
        .replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1)
        .replacen("<Data>en", "<Data>en\u{0}", 1)
        .into_bytes();
    // é in ISO-8859-1, where the NUL marks its place.
    out.file(
        "utf8/xml-declared-latin1.xml".into(),
        latin1_declared.into_iter().map(|b| if b == 0 { 0xE9 } else { b }).collect::<Vec<u8>>(),
    );
    out.file(
        "utf8/xml-declared-utf16.xml".into(),
        String::from_utf8(xml.clone()).unwrap().replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1),
    );
    let text = String::from_utf8(xml.clone()).unwrap();
    let mut le = vec![0xFF, 0xFE];
    let mut be = vec![0xFE, 0xFF];
    for u in text.encode_utf16() {
        le.extend_from_slice(&u.to_le_bytes());
        be.extend_from_slice(&u.to_be_bytes());
    }
    out.file("utf8/xml-utf16le-bom.xml".into(), le);
    out.file("utf8/xml-utf16be-bom.xml".into(), be);
    // WBXML, UTF-8 charset: the bad sequences inside an inline string (the SessionID).
    let wbxml = read("spec_dm12.wbxml");
    let sid = wbxml.windows(4).position(|w| w == [0x65, 0x03, b'1', 0x00]).unwrap() + 2;
    for (name, seq) in bad {
        out.file(format!("utf8/wbxml-str-i-{name}.wbxml"), [&wbxml[..sid], seq, &wbxml[sid..]].concat());
    }
    // WBXML, US-ASCII charset (3): a byte above 0x7F.
    let mut ascii = wbxml.clone();
    ascii[3] = 0x03;
    out.file("utf8/wbxml-us-ascii-high-byte.wbxml".into(), [&ascii[..sid], &[0xE9], &ascii[sid..]].concat());
    // WBXML, ISO-8859-1 charset (4): the same byte is a letter; the message decodes.
    let mut latin1 = wbxml.clone();
    latin1[3] = 0x04;
    out.file("utf8/wbxml-latin1-high-byte.wbxml".into(), [&latin1[..sid], &[0xE9], &latin1[sid..]].concat());
    out.json(
        "utf8/wbxml-latin1-high-byte.case.json".into(),
        json!({ "body": "wbxml-latin1-high-byte.wbxml", "expect": { "http": 200, "hdr_status": 401 } }),
    );
    // WBXML: a string-table FPI that is not UTF-8 (the Motorola form, its first byte broken).
    let moto = read("cm_omadm_pkg1_wbxml.wbxml");
    let mut b = moto.clone();
    b[6] = 0xFF;
    out.file("utf8/wbxml-string-table-fpi-ff.wbxml".into(), b);
}

// ---------------------------------------------------------------------------------------------
// content_type

fn content_type(out: &mut Corpus, read: &dyn Fn(&str) -> Vec<u8>) {
    out.kind(
        "content_type",
        "Only the SyncML DM media types are served (application/vnd.syncml.dm+xml and +wbxml, \
         and the data-sync spellings application/vnd.syncml+xml and +wbxml real clients use; \
         case-insensitive, parameters ignored): anything else, or none, is HTTP 415. A body in \
         the other encoding than its type names does not decode: 400. Nothing is stored. (The \
         accepted types serve a package 1 from an unknown device: 401.)",
        json!({ "expect": { "http": 415 } }),
    );
    out.file("content_type/pkg1.xml".into(), read("cm_omadm_pkg1.xml"));
    out.file("content_type/pkg1.wbxml".into(), read("cm_omadm_pkg1_wbxml.wbxml"));
    let refused: &[(&str, Option<&str>)] = &[
        ("none", None),
        ("empty", Some("")),
        ("text-xml", Some("text/xml")),
        ("application-xml", Some("application/xml")),
        ("text-plain", Some("text/plain")),
        ("octet-stream", Some("application/octet-stream")),
        ("json", Some("application/json")),
        ("dm-json", Some("application/vnd.syncml.dm+json")),
        ("dm-no-suffix", Some("application/vnd.syncml.dm")),
        ("dm-xml-wbxml", Some("application/vnd.syncml.dm+xml+wbxml")),
        ("dm-xmlx", Some("application/vnd.syncml.dm+xmlx")),
        ("prefix-garbage", Some("xapplication/vnd.syncml.dm+xml")),
        ("tnds", Some("application/vnd.syncml.dmtnds+xml")),
        ("notification", Some("application/vnd.syncml.notification")),
        ("multipart", Some("multipart/form-data; boundary=x")),
        ("form", Some("application/x-www-form-urlencoded")),
        ("wildcard", Some("*/*")),
        ("non-ascii-parameter", Some("application/vnd.syncml.dm+xml; x=\u{e9}")),
        ("comma-list", Some("text/plain, application/vnd.syncml.dm+xml")),
    ];
    for (name, ct) in refused {
        out.json(
            format!("content_type/refused-{name}.case.json"),
            json!({ "body": "pkg1.xml", "content_type": ct }),
        );
    }
    let accepted: &[(&str, &str, &str)] = &[
        ("dm-xml", "application/vnd.syncml.dm+xml", "pkg1.xml"),
        ("dm-wbxml", "application/vnd.syncml.dm+wbxml", "pkg1.wbxml"),
        ("ds-xml", "application/vnd.syncml+xml", "pkg1.xml"),
        ("ds-wbxml", "application/vnd.syncml+wbxml", "pkg1.wbxml"),
        ("upper-case", "APPLICATION/VND.SYNCML.DM+XML", "pkg1.xml"),
        ("charset-parameter", "application/vnd.syncml.dm+xml; charset=UTF-8", "pkg1.xml"),
        ("spaces", "application/vnd.syncml.dm+wbxml ;  x=y", "pkg1.wbxml"),
    ];
    for (name, ct, body) in accepted {
        out.json(
            format!("content_type/accepted-{name}.case.json"),
            json!({ "body": body, "content_type": ct, "expect": { "http": 200, "hdr_status": 401 } }),
        );
    }
    for (name, ct, body) in [
        ("xml-body-as-wbxml", "application/vnd.syncml.dm+wbxml", "pkg1.xml"),
        ("wbxml-body-as-xml", "application/vnd.syncml.dm+xml", "pkg1.wbxml"),
    ] {
        out.json(
            format!("content_type/mismatch-{name}.case.json"),
            json!({ "body": body, "content_type": ct, "expect": { "http": 400 } }),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// huge

fn huge(out: &mut Corpus) {
    out.kind(
        "huge",
        "A body larger than our MaxMsgSize (512 KiB) is refused with HTTP 413 without being read \
         whole, whether announced by Content-Length, sent chunked, behind Expect: 100-continue or \
         over HTTP/1.0; with a wrong content type as well it is 413 or 415. A body of exactly \
         MaxMsgSize is read and judged: 400 when it does not decode. Nothing is stored.",
        json!({ "expect": { "http": 413 } }),
    );
    const MB50: u64 = 50 * 1024 * 1024;
    const MAX: u64 = 512 * 1024;
    let xml = "application/vnd.syncml.dm+xml";
    let wbxml = "application/vnd.syncml.dm+wbxml";
    let (head, tail) = xml_split();
    let cases: Vec<(&str, Value)> = vec![
        ("zeros-50mb-xml", json!({ "content_type": xml, "generate": [{ "zeros": MB50 }] })),
        ("zeros-50mb-wbxml", json!({ "content_type": wbxml, "generate": [{ "zeros": MB50 }] })),
        (
            "zeros-50mb-http10",
            json!({ "content_type": xml, "http_version": "HTTP/1.0", "generate": [{ "zeros": MB50 }] }),
        ),
        (
            "zeros-50mb-chunked",
            json!({ "content_type": xml, "chunked": true, "generate": [{ "zeros": MB50 }] }),
        ),
        (
            "zeros-50mb-expect-continue",
            json!({ "content_type": xml, "headers": { "Expect": "100-continue" }, "generate": [{ "zeros": MB50 }] }),
        ),
        (
            "zeros-50mb-text-plain",
            json!({ "content_type": "text/plain", "generate": [{ "zeros": MB50 }], "expect": { "http": [413, 415] } }),
        ),
        (
            "zeros-50mb-no-content-type",
            json!({ "content_type": null, "generate": [{ "zeros": MB50 }], "expect": { "http": [413, 415] } }),
        ),
        (
            "message-50mb-whitespace",
            json!({ "content_type": xml, "generate": [{ "text": head }, { "repeat": " ", "count": MB50 }, { "text": tail }] }),
        ),
        (
            "message-50mb-data",
            json!({ "content_type": xml, "generate": [{ "text": head }, { "text": "<Alert><CmdID>1</CmdID><Data>" }, { "repeat": "A", "count": MB50 }, { "text": "</Data></Alert>" }, { "text": tail }] }),
        ),
        (
            "one-over-max-msg-size",
            json!({ "content_type": xml, "generate": [{ "text": "<" }, { "zeros": MAX }] }),
        ),
        (
            "one-mib",
            json!({ "content_type": wbxml, "generate": [{ "hex": "02a4016a00" }, { "zeros": 1024 * 1024 - 5 }] }),
        ),
        (
            "exactly-max-msg-size-zeros",
            json!({ "content_type": xml, "generate": [{ "zeros": MAX }], "expect": { "http": 400 } }),
        ),
        (
            "exactly-max-msg-size-unclosed-data",
            json!({ "content_type": xml, "generate": [{ "text": head }, { "text": "<Alert><CmdID>1</CmdID><Data>" }, { "repeat": "A", "count": MAX as usize - head.len() - 29 }], "expect": { "http": 400 } }),
        ),
    ];
    for (name, case) in cases {
        out.json(format!("huge/{name}.case.json"), case);
    }
}
