//! Every package 1 captured from the two real open-source DM clients, and the spec vectors,
//! decodes to the right values (vectors/README.md; FACTS.md B.1 on their quirks).

use omadm_protocol::*;

fn decoded(bytes: &[u8]) -> SyncMl {
    decode(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The content type the capture's request header carries, parsed as a real server would.
fn content_type(headers: &str) -> Encoding {
    let line =
        headers.lines().find(|l| l.to_ascii_lowercase().starts_with("content-type:")).expect("content type");
    Encoding::from_content_type(line.split_once(':').unwrap().1).expect("a SyncML content type")
}

fn devinfo(msg: &SyncMl, leaf: &str) -> Option<String> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Replace(r) => r.items.iter().find_map(|i| {
            let uri = &i.source.as_ref()?.loc_uri;
            (uri == &format!("./DevInfo/{leaf}"))
                .then(|| i.data.as_ref().and_then(|d| d.as_text()).unwrap_or("").to_owned())
        }),
        _ => None,
    })
}

fn alert_code(msg: &SyncMl) -> AlertCode {
    msg.body
        .commands
        .iter()
        .find_map(|c| if let Command::Alert(a) = c { Some(a.data) } else { None })
        .unwrap()
}

#[test]
fn motorola_pkg1_basic_xml() {
    let bytes = include_bytes!("vectors/cm_omadm_pkg1.xml");
    assert_eq!(content_type(include_str!("vectors/cm_omadm_pkg1.headers.txt")), Encoding::Xml);
    let m = decoded(bytes);
    assert_eq!(m.version(), Some(DmVersion::V1_2));
    assert_eq!(m.hdr.session_id, "FC2A"); // hex session id
    assert_eq!(m.hdr.target.loc_name.as_deref(), Some("testsrv"));
    assert_eq!(m.hdr.source.loc_uri, "IMEI:001010123456789");
    assert_eq!(m.hdr.source.loc_name.as_deref(), Some("devuser"));
    let cred = m.hdr.cred.as_ref().unwrap();
    assert_eq!(cred.meta.as_ref().unwrap().type_.as_deref(), Some("syncml:auth-basic"));
    assert_eq!(cred.meta.as_ref().unwrap().format, Some(Format::B64));
    assert_eq!(cred.data, "ZGV2dXNlcjpkZXZwdw==");
    assert_eq!(m.hdr.meta.as_ref().unwrap().max_msg_size, Some(122_880));
    assert_eq!(alert_code(&m), AlertCode::ClientInitiatedMgmt);
    assert_eq!(devinfo(&m, "DevId").as_deref(), Some("IMEI:001010123456789"));
    assert_eq!(devinfo(&m, "Man").as_deref(), Some(""));
    assert!(m.body.is_final);
}

#[test]
fn motorola_pkg1_digest_and_hmac_xml() {
    let d = decoded(include_bytes!("vectors/cm_omadm_pkg1_DIGEST.xml"));
    let cred = d.hdr.cred.as_ref().unwrap();
    assert_eq!(cred.meta.as_ref().unwrap().type_.as_deref(), Some("syncml:auth-md5"));
    assert_eq!(cred.data, "CqJOswhABxNtxsjWP9RBbw==");
    assert_eq!(d.hdr.session_id, "2DAB");

    // HMAC travels in the HTTP header only: no Cred in the message.
    let h = decoded(include_bytes!("vectors/cm_omadm_pkg1_HMAC.xml"));
    assert!(h.hdr.cred.is_none());
    assert!(include_str!("vectors/cm_omadm_pkg1_HMAC.headers.txt").contains("x-syncml-hmac:"));
    assert_eq!(devinfo(&h, "Mod").as_deref(), Some("Nexus"));
}

#[test]
fn motorola_pkg1_wbxml_with_string_table_fpi() {
    let bytes = include_bytes!("vectors/cm_omadm_pkg1_wbxml.wbxml");
    assert_eq!(&bytes[..4], &[0x02, 0x00, 0x00, 0x6A]); // public id in the string table
    assert_eq!(content_type(include_str!("vectors/cm_omadm_pkg1_wbxml.headers.txt")), Encoding::Wbxml);
    let m = decoded(bytes);
    assert_eq!(m.version(), Some(DmVersion::V1_2));
    assert_eq!(m.hdr.session_id, "44E");
    assert_eq!(m.hdr.meta.as_ref().unwrap().max_msg_size, Some(122_880));
    assert_eq!(devinfo(&m, "DevId").as_deref(), Some("IMEI:001010123456789"));
    // The same package as the XML capture of the same client, but for the session id.
    let mut xml = decoded(include_bytes!("vectors/cm_omadm_pkg1.xml"));
    xml.hdr.session_id = m.hdr.session_id.clone();
    assert_eq!(m, xml);
}

#[test]
fn libdmclient_pkg1_xml_and_wbxml() {
    assert_eq!(content_type(include_str!("vectors/libdmclient_xml.headers.txt")), Encoding::Xml);
    assert_eq!(content_type(include_str!("vectors/libdmclient_wbxml.headers.txt")), Encoding::Wbxml);
    let x = decoded(include_bytes!("vectors/libdmclient_xml.xml"));
    let w = decoded(include_bytes!("vectors/libdmclient_wbxml.wbxml"));
    for m in [&x, &w] {
        assert_eq!(m.version(), Some(DmVersion::V1_2));
        assert_eq!(m.hdr.source.loc_uri, "DMCtest");
        assert_eq!(m.hdr.meta.as_ref().unwrap().max_msg_size, Some(16_384));
        assert_eq!(m.hdr.cred.as_ref().unwrap().data, "ZnVuYW1ib2w6ZnVuYW1ib2w=");
        assert_eq!(devinfo(m, "Man").as_deref(), Some("test manufacturer"));
        assert_eq!(devinfo(m, "Ext").as_deref(), Some("Intel/other"));
        assert_eq!(alert_code(m), AlertCode::ClientInitiatedMgmt);
    }
    let Command::Replace(r) = &x.body.commands[1] else { panic!() };
    assert_eq!(r.items[1].meta.as_ref().unwrap().format, Some(Format::Node));
}

#[test]
fn spec_vectors_xml_equals_wbxml() {
    for (xml, wbxml, version) in [
        (
            &include_bytes!("vectors/spec_dm12.xml")[..],
            &include_bytes!("vectors/spec_dm12.wbxml")[..],
            DmVersion::V1_2,
        ),
        (
            &include_bytes!("vectors/spec_dm11.xml")[..],
            &include_bytes!("vectors/spec_dm11.wbxml")[..],
            DmVersion::V1_1_2,
        ),
    ] {
        let x = decoded(xml);
        assert_eq!(x.version(), Some(version));
        assert_eq!(x, decoded(wbxml));
        let Command::Status(s) = &x.body.commands[0] else { panic!() };
        assert!(s.is_for_sync_hdr());
        assert_eq!(s.data, StatusCode::AuthenticationAccepted);
        // Our WBXML for the same message is what libwbxml wrote (numeric public id, no
        // string table) except where libwbxml's Data heuristics differ; the header at least:
        let ours = encode(&x, Encoding::Wbxml);
        assert_eq!(&ours[..5], &wbxml[..5]);
    }
}

#[test]
fn tolerances_named_by_the_issue() {
    // Format case variants, MaxMsgSize without the metinf namespace, a SyncHdr Status
    // without CmdRef.
    let xml = br#"<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>
<SessionID>1</SessionID><MsgID>2</MsgID><Target><LocURI>http://s/dm</LocURI></Target>
<Source><LocURI>IMEI:1</LocURI></Source><Meta><MaxMsgSize>5000</MaxMsgSize></Meta></SyncHdr>
<SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>
<Results><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>2</CmdRef><Item><Source><LocURI>./DevDetail/SwV</LocURI></Source>
<Meta><Format xmlns="syncml:metinf">Chr</Format></Meta><Data>1.0</Data></Item></Results><Final/></SyncBody></SyncML>"#;
    let m = decoded(xml);
    assert_eq!(m.hdr.meta.unwrap().max_msg_size, Some(5000));
    let Command::Status(s) = &m.body.commands[0] else { panic!() };
    assert_eq!(s.cmd_ref, None);
    assert!(s.is_for_sync_hdr());
    let Command::Results(r) = &m.body.commands[1] else { panic!() };
    assert_eq!(r.items[0].meta.as_ref().unwrap().format, Some(Format::Chr));
}
