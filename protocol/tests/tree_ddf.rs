//! DDF (OMA-TS-DM_TND-V1_2 "Device Description Framework"; FACTS.md C.7, H.1, H.3, I.1, J.1,
//! J.2): the standard descriptions parse (also after libwbxml turns them into WBXML), lookup
//! with placeholders, and validation of good and bad queued commands.

use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use omadm_protocol::tree::ddf::{AccessType, Ddf, Occurrence, Scope, Violation};
use omadm_protocol::tree::standard::{self, DEFAULT_FUMO_ROOT, StandardDdf};
use omadm_protocol::tree::tnds::{self, MgmtTree, Node};
use omadm_protocol::tree::uri::Property;
use omadm_protocol::tree::{NodeUri, Op};
use omadm_protocol::*;
use proptest::prelude::*;

fn uri(s: &str) -> NodeUri {
    NodeUri::parse(s).unwrap()
}

fn device() -> Ddf {
    standard::dm12_device(&uri(DEFAULT_FUMO_ROOT)).unwrap()
}

#[test]
fn every_standard_ddf_parses() {
    for d in StandardDdf::ALL {
        let ddf = d.parse().unwrap_or_else(|e| panic!("{}: {e}", d.file_name()));
        assert_eq!(ddf.ver_dtd, "1.2", "{}", d.file_name());
        assert!(!ddf.nodes.is_empty());
        let cached = d.get().unwrap_or_else(|e| panic!("{}: {e}", d.file_name()));
        if d != StandardDdf::Fumo {
            assert_eq!(*cached, ddf);
        }
        // The MO identifier is the DFType of the MO root.
        if let Some(mo_id) = d.mo_id() {
            assert_eq!(StandardDdf::from_mo_id(mo_id), Some(d));
            assert!(
                String::from_utf8_lossy(d.xml().as_bytes()).contains(&format!("<DDFName>{mo_id}</DDFName>")),
                "{}",
                d.file_name()
            );
        }
    }
    assert!(standard::dm11_device().is_ok());
}

#[test]
fn standard_shapes() {
    let d = device();
    let man = d.resolve(&uri("./DevInfo/Man")).unwrap();
    assert_eq!(man.df.access_type, AccessType::of(&[Op::Get]));
    assert_eq!(man.df.df_format, Format::Chr);
    assert_eq!(man.df.scope(), Scope::Permanent);
    let lrg = d.resolve(&uri("./DevDetail/LrgObj")).unwrap();
    assert_eq!(lrg.df.df_format, Format::Bool);
    let port = d.resolve(&uri("./DMAcc/srv/AppAddr/a1/Port/p1/PortNbr")).unwrap();
    assert_eq!(port.node_name, "PortNbr");
    let acc = d.resolve(&uri("./DMAcc/srv")).unwrap();
    assert!(acc.is_placeholder() && acc.is_interior());
    assert_eq!(acc.df.occurrence(), Occurrence::OneOrMore);
    assert_eq!(d.resolve(&uri("./DMAcc/srv/AppAuth/1/AAuthData")).unwrap().df.df_format, Format::Bin);
    let state = d.resolve(&uri("./FwUpdate/x1/State")).unwrap();
    assert_eq!(state.df.df_format, Format::Int);
    // Unmounted FUMO describes nothing at ./FwUpdate; mounted elsewhere it moves.
    let cm = StandardDdf::Fumo.mounted_at(&uri("./DevDetail/Ext/Software/FwUpdate")).unwrap();
    assert!(cm.resolve(&uri("./DevDetail/Ext/Software/FwUpdate/pkg/Update/PkgData")).is_some());
    assert!(cm.resolve(&uri("./FwUpdate/pkg")).is_none());
    // DM 1.1.2 flat layout.
    let dm11 = standard::dm11_device().unwrap();
    assert!(dm11.resolve(&uri("./SyncML/DMAcc/acc/ServerId")).is_some());
    assert!(dm11.resolve(&uri("./SyncML/Con/c1/NAP/Addr")).is_some());
    assert!(dm11.resolve(&uri("./SyncML/DMAcc/acc/ServerID")).is_none());
    // Not described.
    assert!(d.resolve(&uri("./Vendor")).is_none());
    assert!(d.resolve(&NodeUri::root()).is_none());
}

#[test]
fn good_commands_pass() {
    let d = device();
    let ok = |op, target: &str, format: Option<Format>, data: Option<&str>| {
        d.validate(op, target, format.as_ref(), data.map(str::as_bytes))
            .unwrap_or_else(|v| panic!("{op} {target}: {v}"));
    };
    ok(Op::Get, "./DevInfo/Man", None, None);
    ok(Op::Get, "DevInfo/Man", None, None);
    ok(Op::Get, "./DevInfo?list=Struct", None, None);
    ok(Op::Get, "./DevDetail/URI/MaxDepth?prop=Format", None, None);
    ok(Op::Replace, "./DMAcc/x/AppAddr/1/Addr", Some(Format::Chr), Some("https://dm.example.com/"));
    ok(Op::Replace, "./DMAcc/x/AppAddr/1/Addr", None, Some("https://dm.example.com/"));
    ok(Op::Add, "./DMAcc/x/AppAddr/2", Some(Format::Node), None);
    ok(Op::Add, "./DMAcc/x2", None, Some(""));
    ok(Op::Replace, "./DMAcc/x/AppAuth/1/AAuthData", Some(Format::B64), Some("bm9uY2U="));
    ok(Op::Replace, "./DMAcc/x/AppAuth/1/AAuthData", Some(Format::Bin), Some("\u{1}\u{2}"));
    ok(Op::Replace, "./DMAcc/x?prop=ACL", None, Some("Get=*&Replace=srv"));
    ok(Op::Replace, "./DMAcc/x?prop=Name", None, Some("renamed"));
    ok(Op::Delete, "./DMAcc/x", None, None);
    ok(Op::Exec, "./FwUpdate/x1/DownloadAndUpdate", None, None);
    ok(Op::Exec, "./FwUpdate/x1/Download", None, Some("optional argument"));
    ok(Op::Replace, "./FwUpdate/x1/DownloadAndUpdate/PkgURL", Some(Format::Chr), Some("http://fw/pkg.dd"));
    ok(Op::Get, "./FwUpdate/x1/State", None, None);
}

#[test]
fn bad_commands_are_rejected() {
    let d = device();
    let check = |op, target: &str, format: Option<Format>, data: Option<&str>| {
        d.validate(op, target, format.as_ref(), data.map(str::as_bytes)).unwrap_err()
    };
    // DevInfo leaves are Get only.
    assert_eq!(
        check(Op::Replace, "./DevInfo/Man", Some(Format::Chr), Some("x")),
        Violation::AccessDenied { op: Op::Replace, uri: "./DevInfo/Man".into() }
    );
    assert_eq!(
        check(Op::Delete, "./DevInfo", None, None),
        Violation::AccessDenied { op: Op::Delete, uri: "./DevInfo".into() }
    );
    // Exec of a leaf (and of an interior node) without Exec.
    assert_eq!(
        check(Op::Exec, "./FwUpdate/x1/State", None, None),
        Violation::NotExecutable { uri: "./FwUpdate/x1/State".into() }
    );
    assert!(matches!(check(Op::Exec, "./DevInfo", None, None), Violation::NotExecutable { .. }));
    // Add under a path the DDF does not know.
    assert_eq!(
        check(Op::Add, "./DMAcc/x/Nope", None, Some("v")),
        Violation::NoSuchNode { uri: "./DMAcc/x/Nope".into() }
    );
    assert!(matches!(check(Op::Add, "./Nowhere/a", None, None), Violation::NoSuchNode { .. }));
    assert!(matches!(check(Op::Get, "./DevInfo/Man/Deeper", None, None), Violation::NoSuchNode { .. }));
    // Replace of an interior (format node) node with data.
    assert_eq!(
        check(Op::Replace, "./DMAcc/x/AppAddr", None, Some("data")),
        Violation::InteriorValue { uri: "./DMAcc/x/AppAddr".into() }
    );
    // Wrong formats.
    assert_eq!(
        check(Op::Replace, "./DMAcc/x/AppAddr/1/Addr", Some(Format::Int), Some("5")),
        Violation::WrongFormat {
            uri: "./DMAcc/x/AppAddr/1/Addr".into(),
            expected: Format::Chr,
            got: Format::Int
        }
    );
    assert!(matches!(
        check(Op::Add, "./DMAcc/x/AppAddr/2", Some(Format::Chr), None),
        Violation::WrongFormat { expected: Format::Node, .. }
    ));
    // Bad values.
    assert!(matches!(
        check(Op::Replace, "./DMAcc/x/AppAuth/1/AAuthData", Some(Format::B64), Some("not base64!")),
        Violation::BadValue { format: Format::B64, .. }
    ));
    // Secrets are never readable.
    assert!(matches!(
        check(Op::Get, "./DMAcc/x/AppAuth/1/AAuthSecret", None, None),
        Violation::AccessDenied { op: Op::Get, .. }
    ));
    // Properties.
    assert_eq!(
        check(Op::Replace, "./DevInfo/Man?prop=Format", None, Some("int")),
        Violation::PropertyNotAllowed {
            op: Op::Replace,
            property: Property::Format,
            uri: "./DevInfo/Man".into()
        }
    );
    assert!(matches!(
        check(Op::Replace, "./DevInfo?prop=Name", None, Some("X")),
        Violation::Permanent { .. }
    ));
    assert!(matches!(check(Op::Add, "./DevInfo?list=TNDS", None, None), Violation::ListNotAllowed { .. }));
    assert!(matches!(check(Op::Get, "./a//b", None, None), Violation::BadUri(_)));
}

/// An int leaf that may be replaced, to check value parsing where access allows it.
const COUNTER_DDF: &str = r#"<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD>
  <Node><NodeName>Counter</NodeName><Path>./Vendor</Path>
    <DFProperties><AccessType><Get/><Replace/></AccessType><DFFormat><int/></DFFormat>
      <Occurrence><One/></Occurrence><DFType><MIME>text/plain</MIME></DFType></DFProperties>
  </Node>
  <Node><NodeName>Flags</NodeName><Path>Vendor</Path>
    <DFProperties><AccessType><Add/><Get/><Replace/></AccessType><DFFormat><node/></DFFormat>
      <Occurrence><ZeroOrN>3</ZeroOrN></Occurrence><DFType><DDFName/></DFType></DFProperties>
    <Node><NodeName/>
      <DFProperties><AccessType><Add/><Get/><Replace/></AccessType><DFFormat><bool/></DFFormat>
        <Occurrence><ZeroOrMore/></Occurrence><DFType><MIME>text/plain</MIME></DFType></DFProperties>
    </Node>
    <Node><NodeName>Special</NodeName>
      <DFProperties><AccessType><Get/></AccessType><DFFormat><chr/></DFFormat>
        <DFType><MIME>text/plain</MIME></DFType></DFProperties>
    </Node>
  </Node>
</MgmtTree>"#;

#[test]
fn value_formats() {
    let d = Ddf::from_xml(COUNTER_DDF.as_bytes()).unwrap();
    assert!(d.validate(Op::Replace, "./Vendor/Counter", Some(&Format::Int), Some(b"-42")).is_ok());
    assert!(d.validate(Op::Replace, "./Vendor/Counter", None, Some(b"7")).is_ok());
    assert!(matches!(
        d.validate(Op::Replace, "./Vendor/Counter", Some(&Format::Int), Some(b"abc")),
        Err(Violation::BadValue { format: Format::Int, .. })
    ));
    assert!(matches!(
        d.validate(Op::Replace, "./Vendor/Counter", None, Some(b"4294967296")),
        Err(Violation::BadValue { .. })
    ));
    assert!(d.validate(Op::Add, "./Vendor/Flags/f1", Some(&Format::Bool), Some(b"true")).is_ok());
    assert!(matches!(
        d.validate(Op::Add, "./Vendor/Flags/f1", Some(&Format::Bool), Some(b"maybe")),
        Err(Violation::BadValue { .. })
    ));
    // The exact name beats the placeholder sibling.
    assert_eq!(d.resolve(&uri("./Vendor/Flags/Special")).unwrap().df.df_format, Format::Chr);
    assert!(matches!(
        d.validate(Op::Add, "./Vendor/Flags/Special", None, Some(b"x")),
        Err(Violation::AccessDenied { op: Op::Add, .. })
    ));
    assert_eq!(d.resolve(&uri("./Vendor/Flags")).unwrap().df.occurrence(), Occurrence::ZeroOrN(3));
}

fn add(target: &str, meta: Option<Meta>, data: Data) -> Command {
    Command::Add(ItemCommand {
        cmd_id: 1,
        items: vec![Item { target: Some(Location::uri(target)), meta, data: Some(data), ..Item::default() }],
        ..ItemCommand::default()
    })
}

#[test]
fn whole_commands_and_tnds_subtrees() {
    let d = device();
    // A whole account Added as TNDS below ./DMAcc.
    let account = MgmtTree::new(vec![Node::interior(
        "srv2",
        vec![
            Node::leaf("AppID", "w7"),
            Node::leaf("ServerID", "srv2"),
            Node::interior("AppAddr", vec![Node::interior("1", vec![Node::leaf("Addr", "https://a/")])]),
        ],
    )]);
    let tnds_meta = Meta::with_format_and_type(Format::Xml, tnds::CONTENT_TYPE_XML);
    assert_eq!(d.validate_command(&add("./DMAcc", Some(tnds_meta.clone()), account.to_data())), Ok(()));
    // Inline elements are recognised even without Meta Type; the XML text form needs it.
    assert_eq!(d.validate_command(&add("./DMAcc", None, account.to_data())), Ok(()));
    let text = Data::Text(String::from_utf8(account.to_xml()).unwrap());
    assert_eq!(d.validate_command(&add("./DMAcc", Some(tnds_meta.clone()), text)), Ok(()));
    // A subtree with a node the DDF does not describe.
    let bad = MgmtTree::new(vec![Node::interior("srv3", vec![Node::leaf("Colour", "red")])]);
    assert_eq!(
        d.validate_command(&add("./DMAcc", Some(tnds_meta), bad.to_data())),
        Err(Violation::NoSuchNode { uri: "./DMAcc/srv3/Colour".into() })
    );
    // Containers are searched; the first violation is reported.
    let atomic = Command::Atomic(Container {
        cmd_id: 2,
        commands: vec![
            add("./DMAcc/x/Name", None, Data::from("ok")),
            Command::Replace(ItemCommand {
                cmd_id: 3,
                items: vec![Item {
                    target: Some(Location::uri("./DevInfo/Mod")),
                    data: Some(Data::from("hacked")),
                    ..Item::default()
                }],
                ..ItemCommand::default()
            }),
        ],
        ..Container::default()
    });
    assert_eq!(
        d.validate_command(&atomic),
        Err(Violation::AccessDenied { op: Op::Replace, uri: "./DevInfo/Mod".into() })
    );
    // Exec with its Item.
    let exec = |target: &str| {
        Command::Exec(Exec {
            cmd_id: 4,
            no_resp: false,
            cred: None,
            meta: None,
            correlator: Some("c1".into()),
            item: Item { target: Some(Location::uri(target)), ..Item::default() },
        })
    };
    assert_eq!(d.validate_command(&exec("./FwUpdate/pkg1/DownloadAndUpdate")), Ok(()));
    assert!(matches!(
        d.validate_command(&exec("./FwUpdate/pkg1/PkgName")),
        Err(Violation::NotExecutable { .. })
    ));
    // An Item without a target.
    let no_target =
        Command::Get(ItemCommand { cmd_id: 5, items: vec![Item::default()], ..ItemCommand::default() });
    assert_eq!(d.validate_command(&no_target), Err(Violation::NoTarget));
}

#[test]
fn real_world_shape_without_namespace() {
    // Vendor DDFs (e.g. Microsoft's CSP DDFs) carry a DOCTYPE, no default namespace, foreign
    // elements and empty DDFName.
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE MgmtTree PUBLIC " -//OMA//DTD-DM-DDF 1.2//EN" "http://www.openmobilealliance.org/tech/DTD/DM_DDF-V1_2.dtd">
<MgmtTree xmlns:MSFT="http://schemas.microsoft.com/MobileDevice/DM">
  <VerDTD>1.2</VerDTD>
  <Node>
    <NodeName>Thing</NodeName>
    <Path>./Vendor/MSFT/</Path>
    <DFProperties>
      <AccessType><Get /></AccessType>
      <DFFormat><node /></DFFormat>
      <Occurrence><One /></Occurrence>
      <Scope><Permanent /></Scope>
      <DFType><DDFName></DDFName></DFType>
      <MSFT:Applicability><MSFT:OsBuildVersion>10.0</MSFT:OsBuildVersion></MSFT:Applicability>
    </DFProperties>
    <Node>
      <NodeName>Enabled</NodeName>
      <DFProperties>
        <AccessType><Get /><Replace /></AccessType>
        <DefaultValue>false</DefaultValue>
        <DFFormat><bool /></DFFormat>
        <Occurrence><ZeroOrOne /></Occurrence>
        <DFType><MIME>text/plain</MIME></DFType>
        <CaseSense><CIS /></CaseSense>
      </DFProperties>
    </Node>
  </Node>
</MgmtTree>"#;
    let d = Ddf::from_xml(xml).unwrap();
    assert!(
        d.validate(Op::Replace, "./Vendor/MSFT/Thing/Enabled", Some(&Format::Bool), Some(b"true")).is_ok()
    );
    assert!(
        d.validate(Op::Replace, "./Vendor/MSFT/Thing/Enabled", Some(&Format::Bool), Some(b"on")).is_err()
    );
}

#[test]
fn malformed_ddfs_are_typed_errors() {
    for bad in [
        &b""[..],
        b"<MgmtTree/>",
        b"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>a</NodeName></Node></MgmtTree>",
        b"<MgmtTree><Node><NodeName>a</NodeName><DFProperties><DFFormat><chr/></DFFormat></DFProperties></Node></MgmtTree>",
        b"<MgmtTree><Node><NodeName>a</NodeName><DFProperties><AccessType/><DFFormat><chr/></DFFormat></DFProperties><Node><NodeName>b</NodeName><DFProperties><AccessType/><DFFormat><chr/></DFFormat></DFProperties></Node></Node></MgmtTree>",
        b"<MgmtTree><Node><NodeName>a</NodeName><DFProperties><AccessType/><DFFormat><chr/></DFFormat><Occurrence><ZeroOrN>x</ZeroOrN></Occurrence></DFProperties></Node></MgmtTree>",
        b"<SyncML/>",
    ] {
        assert!(Ddf::from_xml(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

// ---- libwbxml: the standard DDFs as WBXML read back the same ----

fn xml2wbxml(input: &[u8]) -> Vec<u8> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let inp = dir.join(format!("omadm-tree-ddf-{}-{n}.xml", std::process::id()));
    let out = dir.join(format!("omadm-tree-ddf-{}-{n}.wbxml", std::process::id()));
    std::fs::write(&inp, input).unwrap();
    let status = Process::new("xml2wbxml")
        .args(["-v", "1.2", "-n", "-o"])
        .arg(&out)
        .arg(&inp)
        .output()
        .unwrap_or_else(|e| panic!("xml2wbxml is required (apt-get install libwbxml2-utils): {e}"));
    assert!(status.status.success(), "xml2wbxml: {}", String::from_utf8_lossy(&status.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&inp);
    let _ = std::fs::remove_file(&out);
    bytes
}

#[test]
fn standard_ddfs_through_libwbxml() {
    for d in StandardDdf::ALL {
        let wbxml = xml2wbxml(d.xml().as_bytes());
        assert_eq!(Ddf::from_wbxml(&wbxml).unwrap(), d.parse().unwrap(), "{}", d.file_name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Truncated or corrupted standard DDFs never panic.
    #[test]
    fn corrupted_ddfs_never_panic(which in 0usize..5, cut in any::<prop::sample::Index>(), junk in "[<>/a-zA-Z =\"]{0,12}") {
        let xml = StandardDdf::ALL[which].xml();
        let mut at = cut.index(xml.len());
        while !xml.is_char_boundary(at) {
            at -= 1;
        }
        let mangled = format!("{}{junk}{}", &xml[..at], &xml[at..]);
        let _ = Ddf::from_xml(mangled.as_bytes());
        let _ = Ddf::from_xml(&xml.as_bytes()[..at]);
    }

    /// Validation never panics on arbitrary targets, formats and data.
    #[test]
    fn validate_never_panics(target in "[./A-Za-z?=+&]{0,30}", data in prop::collection::vec(any::<u8>(), 0..16), op in 0usize..6) {
        let d = device();
        let op = Op::ALL[op];
        for format in [None, Some(Format::Int), Some(Format::B64), Some(Format::Node), Some(Format::Other("x".into()))] {
            let _ = d.validate(op, &target, format.as_ref(), Some(&data));
        }
    }
}
