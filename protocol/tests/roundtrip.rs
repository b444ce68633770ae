//! Round-trip property tests: model -> XML -> model and model -> WBXML -> model over generated
//! messages, and XML -> WBXML -> XML stability of the encoders.

use omadm_protocol::message::ddf::DdfNode;
use omadm_protocol::tag::DdfTag;
use omadm_protocol::*;
use proptest::prelude::*;

/// Values of fields the decoder trims (URIs, ids, types): no surrounding whitespace.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9./:_?=&+-]{1,24}"
}

/// Free text as Data may hold: any Unicode scalar except NUL (which XML cannot carry).
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[^\u{0}]{0,40}", Just("<&>\"' ]]> mixed \r\n\t".to_owned()), Just(String::new()),]
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![
        Just(Format::Chr),
        Just(Format::B64),
        Just(Format::Bin),
        Just(Format::Int),
        Just(Format::Node),
        Just(Format::Xml),
        "x-[a-z]{1,8}".prop_map(Format::Other),
    ]
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        (proptest::option::of(format()), proptest::option::of(token()), proptest::option::of(token())),
        (proptest::option::of(any::<u64>()), proptest::option::of(token()), proptest::option::of(token())),
        (proptest::option::of(any::<u64>()), proptest::option::of(any::<u64>())),
        (
            proptest::collection::vec(text(), 0..2),
            any::<bool>(),
            proptest::option::of(any::<(bool, Option<u64>, Option<u64>)>()),
        ),
        proptest::option::of((proptest::option::of(text()), text())),
    )
        .prop_map(
            |(
                (format, type_, mark),
                (size, version, next_nonce),
                (max_msg_size, max_obj_size),
                (emi, field_level, mem),
                anchor,
            )| Meta {
                format,
                type_,
                mark,
                size,
                anchor: anchor.map(|(last, next)| Anchor { last, next }),
                version,
                next_nonce,
                max_msg_size,
                max_obj_size,
                emi,
                mem: mem.map(|(shared_mem, free_mem, free_id)| Mem { shared_mem, free_mem, free_id }),
                field_level,
            },
        )
}

fn location() -> impl Strategy<Value = Location> {
    (token(), proptest::option::of(text())).prop_map(|(loc_uri, loc_name)| Location { loc_uri, loc_name })
}

fn ddf_node() -> impl Strategy<Value = DdfNode> {
    let leaf = ("[a-zA-Z0-9]{1,10}", 0..DdfTag::ALL.len())
        .prop_map(|(t, i)| DdfNode::Element { tag: DdfTag::ALL[i], children: vec![DdfNode::Text(t)] });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (proptest::collection::vec(inner, 1..3), 0..DdfTag::ALL.len())
            .prop_map(|(children, i)| DdfNode::Element { tag: DdfTag::ALL[i], children })
    })
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![4 => text().prop_map(Data::Text), 1 => proptest::collection::vec(ddf_node(), 1..2).prop_map(Data::Ddf)]
}

fn item() -> impl Strategy<Value = Item> {
    (
        proptest::option::of(location()),
        proptest::option::of(location()),
        proptest::option::of(meta()),
        proptest::option::of(data()),
        any::<bool>(),
    )
        .prop_map(|(target, source, meta, data, more_data)| Item {
            target,
            source,
            meta,
            data,
            more_data,
        })
}

fn cred() -> impl Strategy<Value = Cred> {
    (proptest::option::of(meta()), token()).prop_map(|(meta, data)| Cred { meta, data })
}

fn item_command() -> impl Strategy<Value = ItemCommand> {
    (
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(cred()),
        proptest::option::of(meta()),
        proptest::collection::vec(item(), 0..3),
    )
        .prop_map(|(cmd_id, no_resp, cred, meta, items)| ItemCommand {
            cmd_id,
            no_resp,
            cred,
            meta,
            items,
        })
}

/// Commands that may stand inside Atomic/Sequence.
fn operation() -> impl Strategy<Value = Command> {
    let leaf = prop_oneof![
        item_command().prop_map(Command::Add),
        item_command().prop_map(Command::Copy),
        item_command().prop_map(Command::Delete),
        item_command().prop_map(Command::Get),
        item_command().prop_map(Command::Replace),
        (any::<u32>(), any::<bool>(), proptest::option::of(meta()), proptest::option::of(token()), item())
            .prop_map(|(cmd_id, no_resp, meta, correlator, item)| Command::Exec(Exec {
                cmd_id,
                no_resp,
                cred: None,
                meta,
                correlator,
                item
            })),
        (
            any::<u32>(),
            any::<bool>(),
            any::<u16>(),
            proptest::option::of(token()),
            proptest::collection::vec(item(), 0..3)
        )
            .prop_map(|(cmd_id, no_resp, code, correlator, items)| Command::Alert(Alert {
                cmd_id,
                no_resp,
                cred: None,
                data: AlertCode::from_code(code),
                correlator,
                items
            })),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        (
            any::<u32>(),
            any::<bool>(),
            proptest::option::of(meta()),
            proptest::collection::vec(inner, 0..4),
            any::<bool>(),
        )
            .prop_map(|(cmd_id, no_resp, meta, commands, atomic)| {
                let c = Container { cmd_id, no_resp, meta, commands };
                if atomic { Command::Atomic(c) } else { Command::Sequence(c) }
            })
    })
}

fn status() -> impl Strategy<Value = Command> {
    (
        (any::<u32>(), proptest::option::of(any::<u32>()), proptest::option::of(any::<u32>()), token()),
        (proptest::collection::vec(token(), 0..2), proptest::collection::vec(token(), 0..2)),
        (proptest::option::of(meta()), any::<u16>(), proptest::collection::vec(item(), 0..2)),
    )
        .prop_map(|((cmd_id, msg_ref, cmd_ref, cmd), (target_ref, source_ref), (chal, code, items))| {
            Command::Status(Status {
                cmd_id,
                msg_ref,
                cmd_ref,
                cmd,
                target_ref,
                source_ref,
                cred: None,
                chal: chal.map(|meta| Chal { meta }),
                data: StatusCode::from_code(code),
                items,
            })
        })
}

fn results() -> impl Strategy<Value = Command> {
    (
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        any::<u32>(),
        proptest::option::of(meta()),
        proptest::collection::vec(item(), 0..3),
    )
        .prop_map(|(cmd_id, msg_ref, cmd_ref, meta, items)| {
            Command::Results(Results {
                cmd_id,
                msg_ref,
                cmd_ref,
                meta,
                target_ref: vec![],
                source_ref: vec![],
                items,
            })
        })
}

fn message() -> impl Strategy<Value = SyncMl> {
    (
        prop_oneof![Just(DmVersion::V1_2), Just(DmVersion::V1_1_2)],
        (token(), any::<u32>(), location(), location()),
        (
            proptest::option::of(token()),
            any::<bool>(),
            proptest::option::of(cred()),
            proptest::option::of(meta()),
        ),
        proptest::collection::vec(prop_oneof![3 => operation(), 2 => status(), 1 => results()], 0..6),
        any::<bool>(),
    )
        .prop_map(
            |(
                v,
                (session_id, msg_id, target, source),
                (resp_uri, no_resp, cred, meta),
                commands,
                is_final,
            )| {
                let mut hdr = SyncHdr::new(v, session_id, msg_id, target, source);
                hdr.resp_uri = resp_uri;
                hdr.no_resp = no_resp;
                hdr.cred = cred;
                hdr.meta = meta;
                SyncMl { hdr, body: SyncBody { commands, is_final } }
            },
        )
}

/// Run a property on a thread with a large stack: the generated message strategy is deep, and
/// debug builds of proptest's combinators need more than the 2 MiB test threads get.
fn check<S>(strategy: fn() -> S, test: impl Fn(S::Value) -> Result<(), TestCaseError> + Send + 'static)
where
    S: Strategy + 'static,
{
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
                cases: 256,
                ..ProptestConfig::default()
            });
            if let Err(e) = runner.run(&strategy(), test) {
                panic!("{e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

fn round_trip(msg: SyncMl, bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let back = decode(&bytes, &Limits::default())
        .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
    prop_assert_eq!(back, msg);
    Ok(())
}

#[test]
fn xml_round_trip() {
    check(message, |msg| {
        let bytes = encode(&msg, Encoding::Xml);
        round_trip(msg, bytes)
    });
}

#[test]
fn wbxml_round_trip() {
    check(message, |msg| {
        let bytes = encode(&msg, Encoding::Wbxml);
        round_trip(msg, bytes)
    });
}

#[test]
fn pretty_xml_round_trip() {
    check(message, |msg| {
        let bytes = encode_pretty_xml(&msg);
        round_trip(msg, bytes)
    });
}

/// WBXML -> model -> XML -> model equals the direct decode: the two encoders agree.
#[test]
fn xml_and_wbxml_agree() {
    check(message, |msg| {
        let via_wbxml = decode(&encode(&msg, Encoding::Wbxml), &Limits::default()).unwrap();
        let via_xml = decode(&encode(&via_wbxml, Encoding::Xml), &Limits::default()).unwrap();
        prop_assert_eq!(via_xml, via_wbxml);
        Ok(())
    });
}

/// Binary data survives WBXML as OPAQUE.
#[test]
fn wbxml_carries_binary_opaque() {
    check(
        || proptest::collection::vec(any::<u8>(), 0..200),
        |bytes| {
            let mut msg = decode(include_bytes!("vectors/spec_dm12.xml"), &Limits::default()).unwrap();
            msg.body.commands.push(Command::Replace(ItemCommand {
                cmd_id: 9,
                items: vec![Item {
                    target: Some(Location::uri("./x")),
                    data: Some(Data::Opaque(bytes.clone())),
                    ..Item::default()
                }],
                ..ItemCommand::default()
            }));
            let back = decode(&encode(&msg, Encoding::Wbxml), &Limits::default()).unwrap();
            let Some(Command::Replace(r)) = back.body.commands.last() else {
                return Err(TestCaseError::fail("not a Replace"));
            };
            prop_assert_eq!(r.items[0].data.as_ref().unwrap().as_bytes().unwrap(), &bytes[..]);
            Ok(())
        },
    );
}
