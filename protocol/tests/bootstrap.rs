//! Bootstrap documents against the FACTS.md figures and an independent oracle, libwbxml
//! (Debian `libwbxml2-utils`): our CP and DM-profile WBXML must decode with `wbxml2xml` to
//! what our XML / model says, and libwbxml's encoding of our XML must decode with our decoder
//! to the same model. Under `CI` a missing tool fails the test; elsewhere the test prints a
//! notice and skips.
//!
//! The PROV XML is read here with quick-xml directly, not with anything of ours.

use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use omadm_protocol::bootstrap::security::{
    self, Credential, SecMethod, imsi_semi_octets, userpinmac_k_from_random, userpinmac_pin,
    verify_userpinmac,
};
use omadm_protocol::bootstrap::{
    AuthSpec, AuthType, Characteristic, DmAccount, DmBootstrap, DmForm, DmLayout, MsExtensions, NapAuth,
    NapDef, Parm, ProvisioningDoc, PxLogical, RootCertificate,
};
use omadm_protocol::tree::StandardDdf;
use omadm_protocol::tree::tnds::{self, MgmtTree};
use omadm_protocol::{Command, Data, DecodeError, Limits, decode};
use proptest::prelude::*;

const W7_XML: &[u8] = include_bytes!("vectors/bootstrap/w7.xml");
const W7_WBXML: &[u8] = include_bytes!("vectors/bootstrap/w7.wbxml");
const W7_NOSTRTBL: &[u8] = include_bytes!("vectors/bootstrap/w7_nostrtbl.wbxml");
const CP_PUSH_USERPIN: &[u8] = include_bytes!("vectors/bootstrap/cp_push_userpin.bin");
const IMSI: &str = "262011234567890";

// ---- oracle plumbing ----

/// Whether libwbxml's tools are installed; under `CI` their absence is a failure.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["wbxml2xml", "xml2wbxml"]
        .into_iter()
        .filter(|t| Process::new(t).arg("-h").output().is_err())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} required under CI (apt-get install libwbxml2-utils)"
    );
    eprintln!("notice: skipping libwbxml oracle test, {missing:?} not installed");
    false
}

fn tool(name: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let inp = dir.join(format!("omadm-bootstrap-{}-{n}.in", std::process::id()));
    let out = dir.join(format!("omadm-bootstrap-{}-{n}.out", std::process::id()));
    std::fs::write(&inp, input).unwrap();
    let run = Process::new(name).args(args).arg("-o").arg(&out).arg(&inp).output().unwrap();
    assert!(run.status.success(), "{name} {args:?} failed: {}", String::from_utf8_lossy(&run.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&inp);
    let _ = std::fs::remove_file(&out);
    bytes
}

/// A PROV XML document read with quick-xml into the model (parms and characteristics of each
/// characteristic in document order, kept apart as the model keeps them).
fn prov_from_xml(xml: &[u8]) -> ProvisioningDoc {
    use quick_xml::events::{BytesStart, Event};
    fn attr(e: &BytesStart, name: &str) -> Option<String> {
        e.attributes()
            .map(Result::unwrap)
            .find(|a| a.key.as_ref() == name)
            .map(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).unwrap().into_owned())
    }
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut doc: Option<ProvisioningDoc> = None;
    let mut stack: Vec<Characteristic> = Vec::new();
    loop {
        let (e, empty) = match r.read_event().unwrap() {
            Event::Start(e) => (e.into_owned(), false),
            Event::Empty(e) => (e.into_owned(), true),
            Event::End(e) => {
                if e.local_name().as_ref() == "characteristic" {
                    let c = stack.pop().unwrap();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(c),
                        None => doc.as_mut().unwrap().characteristics.push(c),
                    }
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        match e.local_name().as_ref() {
            "wap-provisioningdoc" => {
                doc = Some(ProvisioningDoc { version: attr(&e, "version").unwrap(), characteristics: vec![] })
            }
            "characteristic" => {
                let c = Characteristic::new(attr(&e, "type").unwrap());
                if empty {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(c),
                        None => doc.as_mut().unwrap().characteristics.push(c),
                    }
                } else {
                    stack.push(c);
                }
            }
            "parm" => stack
                .last_mut()
                .unwrap()
                .parms
                .push(Parm { name: attr(&e, "name").unwrap(), value: attr(&e, "value") }),
            other => panic!("unexpected element {}", other),
        }
    }
    doc.unwrap()
}

/// Both directions through libwbxml for one CP document.
fn check_cp_with_libwbxml(doc: &ProvisioningDoc) {
    // Our XML says what the model says.
    assert_eq!(&prov_from_xml(&doc.to_xml()), doc, "our XML");
    // Our WBXML, decoded by libwbxml, is the same document.
    let theirs_xml = tool("wbxml2xml", &["-l", "PROV10", "-m", "1"], &doc.to_wbxml());
    assert_eq!(
        &prov_from_xml(&theirs_xml),
        doc,
        "wbxml2xml of our WBXML:\n{}",
        String::from_utf8_lossy(&theirs_xml)
    );
    // libwbxml's WBXML of our XML (with and without string table), decoded by us.
    for args in [&["-n"][..], &[][..]] {
        let theirs = tool("xml2wbxml", args, &doc.to_xml());
        assert_eq!(&theirs[..3], &[0x03, 0x0B, 0x6A], "WBXML 1.3, PROV 1.0, UTF-8");
        assert_eq!(
            &ProvisioningDoc::from_wbxml(&theirs, &Limits::default()).unwrap(),
            doc,
            "xml2wbxml {args:?}"
        );
    }
}

// ---- fixtures ----

/// The document of vectors/spec/w7.xml, built with the model.
fn w7_doc() -> ProvisioningDoc {
    ProvisioningDoc::new(vec![
        Characteristic::new("APPLICATION")
            .parm("APPID", "w7")
            .parm("PROVIDER-ID", "dms")
            .parm("NAME", "DM")
            .child(
                Characteristic::new("APPADDR")
                    .parm("ADDR", "http://dm.example.com/dm")
                    .parm("ADDRTYPE", "URI")
                    .child(Characteristic::new("PORT").parm("PORTNBR", "80")),
            )
            .child(
                Characteristic::new("APPAUTH")
                    .parm("AAUTHLEVEL", "APPSRV")
                    .parm("AAUTHTYPE", "DIGEST")
                    .parm("AAUTHNAME", "dev")
                    .parm("AAUTHSECRET", "cpw"),
            )
            .child(
                Characteristic::new("APPAUTH")
                    .parm("AAUTHLEVEL", "CLIENT")
                    .parm("AAUTHTYPE", "HTTP-DIGEST")
                    .parm("AAUTHNAME", "dms")
                    .parm("AAUTHSECRET", "spw")
                    .parm("AAUTHDATA", "AAAAAA=="),
            ),
    ])
}

fn account() -> DmAccount {
    DmAccount {
        server_id: "com.mgmtsrv.manage".into(),
        name: Some("Mgmt Server".into()),
        addr: "https://www.mgmtserver.com:8080/manage".into(),
        port: None,
        client_auth: AuthSpec {
            auth_type: AuthType::Digest,
            name: "clientname".into(),
            secret: "clientsecret".into(),
            nonce: b"clientnonce".to_vec(),
        },
        server_auth: AuthSpec {
            auth_type: AuthType::Digest,
            name: "com.mgmtsrv.manage".into(),
            secret: "serversecret".into(),
            nonce: b"servernonce".to_vec(),
        },
        to_napid: Some("ABCGPRS1".into()),
        to_proxy: None,
        init: true,
        con_ref: None,
    }
}

fn nap() -> NapDef {
    NapDef {
        napid: "ABCGPRS1".into(),
        name: "ABC GPRS Connection".into(),
        bearer: "GSM-GPRS".into(),
        nap_address: "ABCGPRSAPN".into(),
        nap_addrtype: "APN".into(),
        auth: Some(NapAuth { auth_type: "PAP".into(), name: "gprs".into(), secret: "gprs & <pw>".into() }),
    }
}

fn px() -> PxLogical {
    PxLogical {
        proxy_id: "PROXY1".into(),
        name: "ABC Proxy".into(),
        physical_proxy_id: "PHYS1".into(),
        pxaddr: "10.0.0.1".into(),
        pxaddrtype: "IPV4".into(),
        to_napid: "ABCGPRS1".into(),
        port: Some(8080),
    }
}

fn ms() -> MsExtensions {
    MsExtensions {
        role: Some(8),
        security_policies: vec![(4119, "128".into()), (4107, "3200".into())],
        root_certificates: vec![RootCertificate::from_der(b"\x30\x03\x02\x01\x01")],
    }
}

// ---- FACTS.md figures ----

#[test]
fn facts_netwpin_key_and_macs() {
    let key = imsi_semi_octets(IMSI).unwrap();
    assert_eq!(key, [0x29, 0x26, 0x10, 0x21, 0x43, 0x65, 0x87, 0x09]);
    let userpin = Credential::UserPin { pin: "1234".into() }.sign(W7_NOSTRTBL).unwrap();
    assert_eq!(userpin.sec, SecMethod::UserPin);
    assert_eq!(userpin.mac, "D74ED650CF67A91150E49A682A58AB6DA8CAE973");
    let netwpin = Credential::NetwPin { imsi: IMSI.into() }.sign(W7_NOSTRTBL).unwrap();
    assert_eq!(netwpin.mac, "A3190C221C8B7E2BE095FE28CAD18E4675CBCA90");
    assert_eq!(security::mac(&key, W7_NOSTRTBL), netwpin.mac);
    // Even number of digits: first nibble 1, F padding.
    assert_eq!(imsi_semi_octets("26201123456789").unwrap(), [0x21, 0x26, 0x10, 0x21, 0x43, 0x65, 0x87, 0xF9]);
}

#[test]
fn facts_push_vector_carries_our_mac() {
    // 01 06 2F 1F 2D B6 91 81 92 <40 hex> 00 <body> (FACTS.md G.4, K.3).
    assert_eq!(&CP_PUSH_USERPIN[..9], &[0x01, 0x06, 0x2F, 0x1F, 0x2D, 0xB6, 0x91, 0x81, 0x92]);
    assert_eq!(SecMethod::from_code(CP_PUSH_USERPIN[7] & 0x7F), Some(SecMethod::UserPin));
    let mac = std::str::from_utf8(&CP_PUSH_USERPIN[9..49]).unwrap();
    let body = &CP_PUSH_USERPIN[50..];
    assert_eq!(body, W7_NOSTRTBL);
    let device = Credential::UserPin { pin: "1234".into() };
    assert!(device.verify(body, mac).unwrap());
    assert!(!Credential::UserPin { pin: "1235".into() }.verify(body, mac).unwrap());
}

// ---- CP documents ----

#[test]
fn vectors_decode_to_the_w7_document() {
    assert_eq!(prov_from_xml(W7_XML), w7_doc(), "the fixture is vectors/spec/w7.xml");
    for bytes in [W7_WBXML, W7_NOSTRTBL] {
        assert_eq!(ProvisioningDoc::from_wbxml(bytes, &Limits::default()).unwrap(), w7_doc());
    }
}

#[test]
fn w7_document_through_libwbxml() {
    if !tools_present() {
        return;
    }
    check_cp_with_libwbxml(&w7_doc());
}

#[test]
fn full_document_through_libwbxml() {
    if !tools_present() {
        return;
    }
    let doc = ProvisioningDoc::for_dm_account(&account(), Some(&nap()), Some(&px()), Some(&ms())).unwrap();
    let types: Vec<&str> = doc.characteristics.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["APPLICATION", "NAPDEF", "PXLOGICAL", "SecurityPolicy", "CertificateStore"]);
    check_cp_with_libwbxml(&doc);
    // With a port: APPADDR/PORT, and links defaulting to the proxy.
    let mut a = account();
    a.port = Some(8443);
    a.to_napid = None;
    let doc = ProvisioningDoc::for_dm_account(&a, Some(&nap()), Some(&px()), None).unwrap();
    assert_eq!(doc.characteristics[0].value_of("TO-PROXY"), Some("PROXY1"));
    check_cp_with_libwbxml(&doc);
}

#[test]
fn userpinmac_pin_verifies_on_the_device_side() {
    let doc = ProvisioningDoc::for_dm_account(&account(), Some(&nap()), None, None).unwrap();
    let wbxml = doc.to_wbxml();
    let k = userpinmac_k_from_random(&[17, 200, 251, 3, 99, 42, 7, 8, 1, 0, 5], 8).unwrap();
    let pin = userpinmac_pin(&k, &wbxml).unwrap();
    assert_eq!(pin.len(), 16);
    assert!(pin.starts_with(&k) && pin.bytes().all(|b| b.is_ascii_digit()));
    assert!(verify_userpinmac(&pin, &wbxml));
    let mut changed = account();
    changed.addr = "https://evil.example.com/manage".into();
    let other = ProvisioningDoc::for_dm_account(&changed, Some(&nap()), None, None).unwrap().to_wbxml();
    assert!(!verify_userpinmac(&pin, &other));
    let mut flipped = wbxml.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 1;
    assert!(!verify_userpinmac(&pin, &flipped));
}

// ---- DM profile ----

fn dm_bootstrap<'a>(
    a: &'a DmAccount,
    n: &'a NapDef,
    p: &'a PxLogical,
    layout: DmLayout,
    form: DmForm,
) -> DmBootstrap<'a> {
    DmBootstrap {
        account: a,
        device_id: "IMEI:493005100592800",
        session_id: "1",
        account_node: "mgmtsrv",
        layout,
        form,
        nap: Some(n),
        px: Some(p),
    }
}

#[test]
fn dm_bootstraps_decode_and_are_valid() {
    let tools = tools_present();
    let (mut a, n, p) = (account(), nap(), px());
    a.port = Some(8080);
    for layout in [DmLayout::Dm12, DmLayout::Dm112] {
        let ddf = match layout {
            DmLayout::Dm12 => StandardDdf::DmAcc,
            DmLayout::Dm112 => StandardDdf::SyncMlDmAcc112,
        }
        .get()
        .unwrap();
        for form in [DmForm::Commands, DmForm::Tnds] {
            let what = format!("{layout:?} {form:?}");
            let boot = dm_bootstrap(&a, &n, &p, layout, form);
            let msg = boot.message().unwrap();
            let wbxml = boot.to_wbxml().unwrap();
            let (public_id, lang): (&[u8], &str) = match layout {
                DmLayout::Dm12 => (&[0xA4, 0x01], "SYNCML12"),
                DmLayout::Dm112 => (&[0x9F, 0x53], "SYNCML11"),
            };
            assert_eq!(&wbxml[1..3], public_id, "{what}");
            let back = decode(&wbxml, &Limits::default()).unwrap();
            assert_eq!(back, msg, "{what}");
            assert_eq!(back.hdr.msg_id, 1);
            assert_eq!(back.hdr.source.loc_uri, "com.mgmtsrv.manage");
            assert_eq!(back.hdr.target.loc_uri, "IMEI:493005100592800");
            assert!(back.body.is_final);
            for c in &back.body.commands {
                ddf.validate_command(c).unwrap_or_else(|v| panic!("{what}: {v}"));
            }
            let tree = match form {
                DmForm::Commands => {
                    assert!(back.body.commands.len() > 10, "{what}");
                    None
                }
                DmForm::Tnds => {
                    let [Command::Add(add)] = back.body.commands.as_slice() else {
                        panic!("{what}: one Add")
                    };
                    assert_eq!(add.meta.as_ref().unwrap().type_.as_deref(), Some(tnds::CONTENT_TYPE_WBXML));
                    let Some(Data::Opaque(bytes)) = &add.items[0].data else { panic!("{what}: OPAQUE TNDS") };
                    Some((bytes.clone(), MgmtTree::from_wbxml(bytes, &tnds::LIMITS).unwrap()))
                }
            };
            if !tools {
                continue;
            }
            let xml =
                String::from_utf8(tool("wbxml2xml", &["-l", lang, "-m", "0"], &wbxml)).unwrap_or_default();
            assert!(xml.contains("<LocURI>com.mgmtsrv.manage</LocURI>"), "{what}: {xml}");
            match tree {
                None => {
                    let from_theirs = decode(xml.as_bytes(), &Limits::default()).unwrap();
                    assert_eq!(from_theirs, msg, "{what}: wbxml2xml of our WBXML");
                }
                Some((bytes, ours)) => {
                    let theirs = tool("wbxml2xml", &["-l", "DMDDF12", "-m", "0"], &bytes);
                    let theirs = MgmtTree::from_xml(&theirs, &tnds::LIMITS).unwrap();
                    assert_eq!(theirs, ours, "{what}: wbxml2xml of our TNDS");
                }
            }
        }
    }
}

#[test]
fn dm12_tree_holds_the_account() {
    let (a, n, p) = (account(), nap(), px());
    let boot = dm_bootstrap(&a, &n, &p, DmLayout::Dm12, DmForm::Commands);
    let (base, tree) = boot.tree().unwrap();
    let flat = tree.flatten(&base).unwrap();
    let value = |uri: &str| flat.iter().find(|f| f.uri.as_str() == uri).and_then(|f| f.value.clone());
    assert_eq!(value("./DMAcc/mgmtsrv/AppID").as_deref(), Some("w7"));
    assert_eq!(value("./DMAcc/mgmtsrv/ServerID").as_deref(), Some("com.mgmtsrv.manage"));
    assert_eq!(value("./DMAcc/mgmtsrv/AppAuth/1/AAuthLevel").as_deref(), Some("CLCRED"));
    assert_eq!(value("./DMAcc/mgmtsrv/AppAuth/2/AAuthLevel").as_deref(), Some("SRVCRED"));
    assert_eq!(value("./DMAcc/mgmtsrv/AppAuth/1/AAuthData").as_deref(), Some("Y2xpZW50bm9uY2U="));
    let boot = dm_bootstrap(&a, &n, &p, DmLayout::Dm112, DmForm::Commands);
    let (base, tree) = boot.tree().unwrap();
    let flat = tree.flatten(&base).unwrap();
    let value = |uri: &str| flat.iter().find(|f| f.uri.as_str() == uri).and_then(|f| f.value.clone());
    assert_eq!(value("./SyncML/DMAcc/mgmtsrv/ConRef").as_deref(), Some("./SyncML/Con/mgmtsrv"));
    assert_eq!(value("./SyncML/DMAcc/mgmtsrv/AuthPref").as_deref(), Some("syncml:auth-md5"));
    assert_eq!(value("./SyncML/Con/mgmtsrv/NAP/Addr").as_deref(), Some("ABCGPRSAPN"));
    assert_eq!(value("./SyncML/Con/mgmtsrv/PX/PortNbr").as_deref(), Some("8080"));
}

// ---- hostile input ----

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Z0-9-]{1,12}",
        Just("APPLICATION".to_owned()),
        Just("GSM-GPRS".to_owned()),
        Just("NAP-ADDRTYPE".to_owned()),
        "\\PC{0,16}",
    ]
}

fn arb_characteristic() -> impl Strategy<Value = Characteristic> {
    let leaf = (arb_text(), prop::collection::vec((arb_text(), prop::option::of(arb_text())), 0..4))
        .prop_map(|(t, parms)| Characteristic {
            type_: t,
            parms: parms.into_iter().map(|(name, value)| Parm { name, value }).collect(),
            children: vec![],
        });
    leaf.prop_recursive(3, 16, 3, |inner| {
        (arb_text(), prop::collection::vec(inner, 0..3)).prop_map(|(t, children)| Characteristic {
            type_: t,
            parms: vec![Parm::new("NAME", "x")],
            children,
        })
    })
}

proptest! {
    #[test]
    fn cp_round_trips(chars in prop::collection::vec(arb_characteristic(), 0..4), version in arb_text()) {
        let doc = ProvisioningDoc { version, characteristics: chars };
        prop_assert_eq!(ProvisioningDoc::from_wbxml(&doc.to_wbxml(), &Limits::default()).unwrap(), doc);
    }

    #[test]
    fn cp_decoder_never_panics(
        cut in 0usize..400,
        flips in prop::collection::vec((0usize..400, any::<u8>()), 0..6),
    ) {
        let mut bytes = W7_NOSTRTBL.to_vec();
        for (at, b) in flips {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        bytes.truncate(cut.min(bytes.len()));
        let small = Limits { max_depth: 4, max_elements: 20, max_string_bytes: 16, ..Limits::default() };
        for limits in [Limits::default(), small] {
            match ProvisioningDoc::from_wbxml(&bytes, &limits) {
                Ok(_) | Err(DecodeError::Wbxml { .. } | DecodeError::UnexpectedEof { .. }
                    | DecodeError::Structure { .. } | DecodeError::InvalidUtf8 { .. }
                    | DecodeError::TooDeep { .. } | DecodeError::TooManyElements { .. }
                    | DecodeError::ValueTooLong { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn cp_decoder_survives_noise(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut doc = vec![0x03, 0x0B, 0x6A, 0x00];
        doc.extend_from_slice(&bytes);
        let _ = ProvisioningDoc::from_wbxml(&doc, &Limits::default());
        let _ = ProvisioningDoc::from_wbxml(&bytes, &Limits::default());
    }
}
