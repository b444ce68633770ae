//! TNDS (OMA-TS-DM_TNDS-V1_2; FACTS.md B.5): round trips of generated trees through every
//! carrier (standalone XML and WBXML, inline elements, whole SyncML messages in XML and
//! WBXML), flatten/unflatten, and libwbxml (Debian `libwbxml2-utils`, `-l DMDDF12`) as an
//! independent oracle in both directions. The tools are required: a missing tool fails.
//!
//! libwbxml trims leading and trailing whitespace of text and cannot read XML 1.0-forbidden
//! characters, so trees given to it have values without either.

use std::process::Command as Process;
use std::sync::atomic::{AtomicUsize, Ordering};

use omadm_protocol::message::ddf::DdfNode;
use omadm_protocol::tag::DdfTag;
use omadm_protocol::tree::NodeUri;
use omadm_protocol::tree::tnds::{self, FlatNode, MgmtTree, Node, NodeType, RtProperties, TndsError};
use omadm_protocol::*;
use proptest::prelude::*;
use quick_xml::events::Event as XmlEvent;

// ---- generators ----

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[A-Za-z][A-Za-z0-9_-]{0,7}", Just("x".to_owned()), "[a-z]{1,3}[é中 ][a-z]{1,3}"]
}

/// An identifier-like value (the decoder trims these).
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9./:_=&*+-]{1,16}"
}

/// Free text: anything but NUL (which XML cannot carry at all).
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof!["[^\u{0}]{0,24}", Just("<&>\"' ]]> \r\n\t mixed".to_owned()), Just(String::new())]
}

/// Text libwbxml keeps as is: no surrounding whitespace, no control characters but tab/LF.
fn plain_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9<>&\"'é€😀 \t\n.,;:/?=+-]{0,24}".prop_map(|s| s.trim().to_owned()),
        Just("http://dm.example.com:8080/path?a=b&c=d".to_owned()),
    ]
}

fn format() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![
        Format::B64,
        Format::Bin,
        Format::Bool,
        Format::Chr,
        Format::Int,
        Format::Node,
        Format::Null,
        Format::Xml,
        Format::Date,
        Format::Time,
        Format::Float,
    ])
}

fn node_type() -> impl Strategy<Value = NodeType> {
    prop_oneof![token().prop_map(NodeType::Mime), token().prop_map(NodeType::DdfName)]
}

fn rt_properties(text: BoxedStrategy<String>) -> impl Strategy<Value = RtProperties> {
    (
        (prop::option::of(token()), prop::option::of(format()), prop::option::of(token())),
        (prop::option::of(any::<u64>()), prop::option::of(text), prop::option::of(token())),
        (prop::option::of(node_type()), prop::option::of(any::<u16>())),
    )
        .prop_map(|((acl, format, name), (size, title, tstamp), (type_, ver_no))| RtProperties {
            acl,
            format,
            name,
            size,
            title,
            tstamp,
            type_,
            ver_no,
        })
}

/// A node tree with unique sibling names; leaves carry a value or none.
fn node(text: BoxedStrategy<String>) -> impl Strategy<Value = Node> {
    let leaf =
        (name(), prop::option::of(token()), rt_properties(text.clone()), prop::option::of(text.clone()))
            .prop_map(|(node_name, path, rt_properties, value)| Node {
                node_name,
                path,
                rt_properties,
                value,
                children: Vec::new(),
            });
    leaf.prop_recursive(4, 24, 4, move |inner| {
        (name(), rt_properties(text.clone()), prop::collection::vec(inner, 0..4)).prop_map(
            |(node_name, rt_properties, children)| Node {
                node_name,
                path: None,
                rt_properties,
                value: None,
                children: unique(children),
            },
        )
    })
}

fn unique(nodes: Vec<Node>) -> Vec<Node> {
    let mut seen = std::collections::HashSet::new();
    nodes.into_iter().filter(|n| seen.insert(n.node_name.clone())).collect()
}

fn tree(text: BoxedStrategy<String>) -> impl Strategy<Value = MgmtTree> {
    (
        prop_oneof![Just("1.2".to_owned()), token()],
        prop::option::of(token()),
        prop::option::of(token()),
        prop::collection::vec(node(text), 1..4),
    )
        .prop_map(|(ver_dtd, man, mod_, nodes)| MgmtTree { ver_dtd, man, mod_, nodes: unique(nodes) })
}

/// A tree as the message decoder keeps it: it drops whitespace-only text inside DDF
/// elements, so such values come back empty.
fn as_inline(mut tree: MgmtTree) -> MgmtTree {
    fn fix(node: &mut Node) {
        for v in [&mut node.value, &mut node.rt_properties.title].into_iter().flatten() {
            if v.trim().is_empty() {
                v.clear();
            }
        }
        node.children.iter_mut().for_each(fix);
    }
    tree.nodes.iter_mut().for_each(fix);
    tree
}

/// An Add of `tree` below `target` in a message of `version`.
fn add_message(tree: &MgmtTree, version: DmVersion, data: Data) -> SyncMl {
    let _ = tree;
    let hdr = SyncHdr::new(version, "1", 1, Location::uri("IMEI:1"), Location::uri("https://srv"));
    let item = Item {
        target: Some(Location::uri("./DMAcc")),
        meta: Some(Meta::with_format_and_type(Format::Xml, tnds::CONTENT_TYPE_XML)),
        data: Some(data),
        ..Item::default()
    };
    let add = ItemCommand { cmd_id: 1, items: vec![item], ..ItemCommand::default() };
    SyncMl { hdr, body: SyncBody { commands: vec![Command::Add(add)], is_final: true } }
}

fn first_data(msg: &SyncMl) -> &Data {
    match &msg.body.commands[0] {
        Command::Add(a) => a.items[0].data.as_ref().unwrap(),
        other => panic!("not an Add: {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn xml_round_trip(tree in tree(free_text().boxed())) {
        prop_assert_eq!(MgmtTree::from_xml(&tree.to_xml(), &tnds::LIMITS).unwrap(), tree.clone());
        prop_assert_eq!(MgmtTree::from_xml(&tree.to_xml_pretty(), &tnds::LIMITS).unwrap(), tree);
    }

    #[test]
    fn wbxml_round_trip(tree in tree(free_text().boxed())) {
        let bytes = tree.to_wbxml();
        prop_assert_eq!(MgmtTree::from_wbxml(&bytes, &tnds::LIMITS).unwrap(), tree.clone());
        prop_assert_eq!(MgmtTree::decode(&bytes, &tnds::LIMITS).unwrap(), tree);
    }

    #[test]
    fn element_round_trip(tree in tree(free_text().boxed())) {
        let elements = tree.to_elements();
        let is_tree = matches!(elements.as_slice(), [DdfNode::Element { tag: DdfTag::MgmtTree, .. }]);
        prop_assert!(is_tree);
        prop_assert_eq!(MgmtTree::from_elements(&elements).unwrap(), tree);
    }

    /// Inline in a whole SyncML message, through our XML and WBXML message codecs.
    #[test]
    fn message_round_trip(tree in tree(free_text().boxed())) {
        let expected = as_inline(tree.clone());
        for encoding in [Encoding::Xml, Encoding::Wbxml] {
            let msg = add_message(&tree, DmVersion::V1_2, tree.to_data());
            let back = decode(&encode(&msg, encoding), &Limits::default()).unwrap();
            prop_assert_eq!(MgmtTree::from_data(first_data(&back), &tnds::LIMITS).unwrap(), expected.clone());
        }
        // The libwbxml style: a nested WBXML document as OPAQUE.
        let msg = add_message(&tree, DmVersion::V1_2, tree.to_opaque_data());
        let back = decode(&encode(&msg, Encoding::Wbxml), &Limits::default()).unwrap();
        prop_assert_eq!(MgmtTree::from_data(first_data(&back), &tnds::LIMITS).unwrap(), tree);
    }

    #[test]
    fn flatten_unflatten(tree in tree(free_text().boxed())) {
        // Top-level Paths are arbitrary tokens: place them relative to a base.
        let base = NodeUri::parse("./Base").unwrap();
        let Ok(flat) = tree.flatten(&base) else { return Ok(()) };
        for f in &flat {
            prop_assert!(f.uri.starts_with(&NodeUri::root()));
        }
        // Paths may move a node into another top-level node's subtree: compare as sets.
        let sorted = |mut v: Vec<FlatNode>| {
            v.sort_by(|a, b| a.uri.cmp(&b.uri));
            v
        };
        let back = MgmtTree::unflatten(&flat, Some(&base)).unwrap();
        prop_assert_eq!(sorted(back.flatten(&base).unwrap()), sorted(flat.clone()));
        let absolute = MgmtTree::unflatten(&flat, None).unwrap();
        let elsewhere = absolute.flatten(&NodeUri::parse("./Elsewhere").unwrap()).unwrap();
        prop_assert_eq!(sorted(elsewhere), sorted(flat.clone()));
        // In document order (what flatten returns once unflattened), the round trip is exact.
        let ordered = back.flatten(&base).unwrap();
        prop_assert_eq!(MgmtTree::unflatten(&ordered, Some(&base)).unwrap().flatten(&base).unwrap(), ordered);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = MgmtTree::decode(&bytes, &tnds::LIMITS);
        let mut wbxml = MgmtTree::new(vec![Node::leaf("a", "b")]).to_wbxml();
        let cut = bytes.len().min(wbxml.len());
        wbxml.truncate(cut.max(1));
        wbxml.extend_from_slice(&bytes);
        let _ = MgmtTree::from_wbxml(&wbxml, &tnds::LIMITS);
    }
}

// ---- libwbxml oracle ----

fn tool(name: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let inp = dir.join(format!("omadm-tree-tnds-{}-{n}.in", std::process::id()));
    let out = dir.join(format!("omadm-tree-tnds-{}-{n}.out", std::process::id()));
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

/// XML as a flat list of element names and non-blank texts (namespaces, declaration,
/// DOCTYPE and escaping choices are not compared).
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
                let c = match name.as_str() {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    n if n.starts_with("#x") => {
                        char::from_u32(u32::from_str_radix(&n[2..], 16).unwrap()).unwrap().to_string()
                    }
                    n if n.starts_with('#') => char::from_u32(n[1..].parse().unwrap()).unwrap().to_string(),
                    other => panic!("entity {other}"),
                };
                text.push_str(&c);
            }
            XmlEvent::CData(c) => text.push_str(&c.xml10_content()),
            XmlEvent::Eof => break,
            _ => {}
        }
    }
    out
}

fn oracle_tree() -> impl Strategy<Value = MgmtTree> {
    tree(plain_text().boxed())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Our XML, encoded by `xml2wbxml -v 1.2 -n`, is byte for byte our WBXML, and decodes to
    /// the same tree.
    #[test]
    fn libwbxml_encodes_our_xml_as_we_do(tree in oracle_tree()) {
        let theirs = tool("xml2wbxml", &["-v", "1.2", "-n"], &tree.to_xml());
        prop_assert_eq!(MgmtTree::from_wbxml(&theirs, &tnds::LIMITS).unwrap(), tree.clone());
        prop_assert_eq!(theirs, tree.to_wbxml());
    }

    /// Our WBXML, decoded by `wbxml2xml -l DMDDF12`, has the structure of our XML.
    #[test]
    fn libwbxml_decodes_our_wbxml(tree in oracle_tree()) {
        let theirs = tool("wbxml2xml", &["-l", "DMDDF12", "-m", "0"], &tree.to_wbxml());
        prop_assert_eq!(structure(&theirs), structure(&tree.to_xml()));
        prop_assert_eq!(MgmtTree::from_xml(&theirs, &tnds::LIMITS).unwrap(), tree);
    }
}

fn sample() -> MgmtTree {
    let mut account = Node::interior(
        "srv",
        vec![
            Node::leaf("AppID", "w7"),
            Node::leaf("ServerID", "com.mgmtsrv.manage"),
            Node::leaf("Name", "Example & Co"),
            Node::interior(
                "AppAddr",
                vec![Node::interior(
                    "1",
                    vec![
                        Node::leaf("Addr", "https://dm.example.com/dm?x=1&y=2"),
                        Node::leaf("AddrType", "URI"),
                    ],
                )],
            ),
        ],
    );
    account.rt_properties.acl = Some("Delete=com.mgmtsrv.manage&Get=com.mgmtsrv.manage".into());
    account.rt_properties.type_ = Some(NodeType::DdfName("urn:oma:mo:oma-dm-dmacc:1.0".into()));
    MgmtTree::new(vec![account])
}

/// A whole DM message with an inline TNDS, encoded by libwbxml: it nests the TNDS as a
/// WBXML document in OPAQUE (FACTS.md B.5), which `from_data` reads.
#[test]
fn libwbxml_nested_tnds_in_a_message() {
    let tree = sample();
    let msg = add_message(&tree, DmVersion::V1_2, tree.to_data());
    let theirs = tool("xml2wbxml", &["-v", "1.2", "-n"], &encode(&msg, Encoding::Xml));
    let back = decode(&theirs, &Limits::default()).unwrap();
    let data = first_data(&back);
    assert!(
        matches!(data, Data::Opaque(b) if b.starts_with(&[0x03, 0x00, 0x00, 0x6A, 0x1B]) || b.starts_with(&[0x02, 0x00, 0x00, 0x6A, 0x1B])),
        "{data:?}"
    );
    assert_eq!(MgmtTree::from_data(data, &tnds::LIMITS).unwrap(), tree);
    // And our own WBXML message with the elements inline on code page 2 reads back too.
    let ours = decode(&encode(&msg, Encoding::Wbxml), &Limits::default()).unwrap();
    assert_eq!(MgmtTree::from_data(first_data(&ours), &tnds::LIMITS).unwrap(), tree);
}

/// The spec's example shape (OMA-TS-DM_TNDS-V1_2 "DM Commands with TNDS data"): an E-Mail
/// object Added below a target, written by hand with whitespace and namespace on MgmtTree.
#[test]
fn spec_style_document() {
    let xml = br#"
        <MgmtTree xmlns='syncml:dmddf1.2'>
          <VerDTD>1.2</VerDTD>
          <Node>
            <NodeName>E-Mail</NodeName>
            <RTProperties>
              <Format>
                <node/>
              </Format>
              <Type><DDFName>com.operatorX.dm/1.0/EMail</DDFName></Type>
            </RTProperties>
            <Node>
              <NodeName>POP3</NodeName>
              <Node>
                <NodeName>POPServer</NodeName>
                <RTProperties>
                  <Format><chr/></Format>
                  <Type><MIME>text/plain</MIME></Type>
                </RTProperties>
                <Value>mail.Operatorx.com</Value>
              </Node>
            </Node>
          </Node>
        </MgmtTree>"#;
    let tree = MgmtTree::from_xml(xml, &tnds::LIMITS).unwrap();
    let flat = tree.flatten(&NodeUri::parse("./OperatorX").unwrap()).unwrap();
    let summary: Vec<(String, Option<Format>, Option<String>)> =
        flat.iter().map(|f| (f.uri.to_string(), f.properties.format.clone(), f.value.clone())).collect();
    assert_eq!(
        summary,
        [
            ("./OperatorX/E-Mail".to_owned(), Some(Format::Node), None),
            ("./OperatorX/E-Mail/POP3".to_owned(), None, None),
            (
                "./OperatorX/E-Mail/POP3/POPServer".to_owned(),
                Some(Format::Chr),
                Some("mail.Operatorx.com".into())
            ),
        ]
    );
}

#[test]
fn limits_and_errors() {
    // Nesting beyond MAX_NODE_DEPTH is refused, not overflowed.
    let mut node = Node::leaf("leaf", "v");
    for i in 0..60 {
        node = Node::interior(format!("n{i}"), vec![node]);
    }
    let deep = MgmtTree::new(vec![node]);
    assert!(MgmtTree::from_xml(&deep.to_xml(), &tnds::LIMITS).is_err());
    assert!(matches!(MgmtTree::from_elements(&deep.to_elements()), Err(TndsError::TooDeep)));
    assert!(deep.flatten(&NodeUri::root()).is_err());
    // Duplicate flat nodes.
    let flat = vec![
        FlatNode { uri: NodeUri::parse("./a").unwrap(), properties: RtProperties::default(), value: None },
        FlatNode { uri: NodeUri::parse("./a").unwrap(), properties: RtProperties::default(), value: None },
    ];
    assert!(matches!(MgmtTree::unflatten(&flat, None), Err(TndsError::Duplicate(_))));
    // Not TNDS.
    assert!(MgmtTree::from_xml(b"<SyncML xmlns='SYNCML:SYNCML1.2'/>", &tnds::LIMITS).is_err());
    assert_eq!(MgmtTree::from_data(&Data::Text("  ".into()), &tnds::LIMITS).map_err(|_| ()), Err(()));
}
