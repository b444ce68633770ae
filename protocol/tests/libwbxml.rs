//! Independent oracle: libwbxml (Debian `libwbxml2-utils`), written by other people, checks
//! both directions of our WBXML codec, so that a bug in our encoder cannot be cancelled by the
//! same bug in our decoder. The tools are required: a missing tool fails the test.
//!
//! libwbxml quirks worked around (shared/TOOLS.md): it writes any `<Data>` directly in an
//! Add/Replace Item as OPAQUE and decodes OPAQUE back as CDATA, so models are compared with
//! UTF-8 opaque data folded into text, and XML is compared as element/text structure.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use omadm_protocol::*;
use quick_xml::events::Event as XmlEvent;

/// The corpus: our DM 1.2 and 1.1.2 messages plus the real clients' package 1 and the spec
/// vectors.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["tests/corpus", "tests/vectors"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if matches!(p.extension().and_then(|e| e.to_str()), Some("xml" | "wbxml")) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 15, "corpus too small: {files:?}");
    files
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect()
}

fn tool(name: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let inp = dir.join(format!("omadm-libwbxml-{}-{n}.in", std::process::id()));
    let out = dir.join(format!("omadm-libwbxml-{}-{n}.out", std::process::id()));
    std::fs::write(&inp, input).unwrap();
    let status = Process::new(name).args(args).arg("-o").arg(&out).arg(&inp).output().unwrap_or_else(|e| {
        panic!("{name} is required for this test (apt-get install libwbxml2-utils): {e}")
    });
    assert!(status.status.success(), "{name} failed: {}", String::from_utf8_lossy(&status.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&inp);
    let _ = std::fs::remove_file(&out);
    bytes
}

/// XML as a flat list of element names and non-blank texts: attributes (namespaces), the
/// declaration, DOCTYPE and the CDATA/escape choice are not compared.
fn structure(xml: &[u8]) -> Vec<String> {
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, out: &mut Vec<String>| {
        if !text.trim().is_empty() {
            out.push(format!("\"{text}\""));
        }
        text.clear();
    };
    loop {
        match r.read_event().unwrap() {
            XmlEvent::Start(e) => {
                flush(&mut text, &mut out);
                out.push(format!("<{}>", e.local_name().into_inner()));
            }
            XmlEvent::Empty(e) => {
                flush(&mut text, &mut out);
                out.push(format!("<{}>", e.local_name().into_inner()));
                out.push("</>".into());
            }
            XmlEvent::End(_) => {
                flush(&mut text, &mut out);
                out.push("</>".into());
            }
            XmlEvent::Text(t) => text.push_str(&t.xml10_content()),
            XmlEvent::GeneralRef(g) => {
                let name = g.into_inner().to_string();
                text.push_str(match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("entity {other}"),
                });
            }
            XmlEvent::CData(c) => text.push_str(&c.xml10_content()),
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    out
}

/// Fold UTF-8 OPAQUE data into text (libwbxml's Add/Replace Data heuristic).
fn fold_opaque(msg: &mut SyncMl) {
    fn items(items: &mut [Item]) {
        for i in items {
            if let Some(Data::Opaque(b)) = &i.data
                && let Ok(s) = std::str::from_utf8(b)
            {
                i.data = Some(Data::Text(s.to_owned()));
            }
        }
    }
    fn commands(cmds: &mut [Command]) {
        for c in cmds {
            match c {
                Command::Add(x)
                | Command::Copy(x)
                | Command::Delete(x)
                | Command::Get(x)
                | Command::Replace(x) => items(&mut x.items),
                Command::Exec(e) => items(std::slice::from_mut(&mut e.item)),
                Command::Alert(a) => items(&mut a.items),
                Command::Atomic(c) | Command::Sequence(c) => commands(&mut c.commands),
                Command::Results(r) => items(&mut r.items),
                Command::Status(s) => items(&mut s.items),
                Command::Unsupported(_) => {}
            }
        }
    }
    commands(&mut msg.body.commands);
}

fn decoded(name: &str, bytes: &[u8]) -> SyncMl {
    decode(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Our WBXML, decoded by `wbxml2xml`, has the structure of our XML for the same message.
#[test]
fn our_wbxml_decoded_by_libwbxml_equals_our_xml() {
    for (name, bytes) in corpus() {
        let msg = decoded(&name, &bytes);
        let ours_xml = encode(&msg, Encoding::Xml);
        let ours_wbxml = encode(&msg, Encoding::Wbxml);
        let theirs_xml = tool("wbxml2xml", &["-m", "0"], &ours_wbxml);
        assert_eq!(structure(&theirs_xml), structure(&ours_xml), "{name}");
    }
}

/// `xml2wbxml -v 1.2 -n` of a message, decoded by us, equals our decode of the source XML.
#[test]
fn libwbxml_wbxml_decoded_by_us_equals_the_source() {
    for (name, bytes) in corpus() {
        let mut source = decoded(&name, &bytes);
        // Give libwbxml the XML form (the corpus holds WBXML vectors too).
        let xml = encode(&source, Encoding::Xml);
        let theirs = tool("xml2wbxml", &["-v", "1.2", "-n"], &xml);
        assert_eq!(theirs[0], 0x02, "{name}: WBXML 1.2");
        let mut back = decoded(&name, &theirs);
        fold_opaque(&mut back);
        fold_opaque(&mut source);
        assert_eq!(back, source, "{name}");
    }
}

/// libwbxml reads the public id we write: 0x1201 for DM 1.2, 0x0FD3 for DM 1.1.2.
#[test]
fn libwbxml_names_our_public_ids() {
    for (file, doctype) in
        [("dm12_pkg2_commands.xml", "SyncML 1.2"), ("dm11_pkg2_commands.xml", "SyncML 1.1")]
    {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(file);
        let msg = decoded(file, &std::fs::read(path).unwrap());
        let xml = tool("wbxml2xml", &["-m", "0"], &encode(&msg, Encoding::Wbxml));
        assert!(String::from_utf8_lossy(&xml).contains(&format!("-//SYNCML//DTD {doctype}//EN")), "{file}");
    }
}
