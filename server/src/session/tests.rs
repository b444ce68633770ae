//! The engine driven directly, without sockets or a database: message in, state and effects out.

use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, CommandRecord, CommandSpec, CommandState, Device, Op, SessionOutcome};

use super::*;

fn device() -> Device {
    Device {
        device_id: "IMEI:1".into(),
        client_auth_type: ClientAuthType::Md5,
        client_username: "u".into(),
        client_secret: auth::md5_secret("u", "p").expose().to_owned(),
        client_nonce: Nonce::new(b"n0".to_vec()).to_b64(),
        server_id: "omadm".into(),
        server_secret: None,
        server_nonce: String::new(),
        dm_version: None,
        created_at: 0,
        updated_at: 0,
        last_session_at: None,
    }
}

fn pkg1(msg_id: u32, nonce: &[u8]) -> SyncMl {
    let mut hdr =
        SyncHdr::new(DmVersion::V1_2, "9", msg_id, Location::uri("http://s/dm"), Location::uri("IMEI:1"));
    hdr.cred = Some(Cred {
        meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-md5")),
        data: auth::md5::cred_data("u", "p", nonce),
    });
    let alert = Alert {
        cmd_id: 1,
        no_resp: false,
        cred: None,
        data: AlertCode::ClientInitiatedMgmt,
        correlator: None,
        items: vec![],
    };
    SyncMl { hdr, body: SyncBody { commands: vec![Command::Alert(alert)], is_final: true } }
}

fn queued_get(id: i64) -> CommandRecord {
    CommandRecord {
        id,
        device_id: "IMEI:1".into(),
        parent_id: None,
        position: 0,
        spec: CommandSpec {
            op: Some(Op::Get),
            target: Some("./DevDetail/SwV".into()),
            ..CommandSpec::default()
        },
        state: CommandState::Queued,
        status: None,
        results: vec![],
        session_token: None,
        children: vec![],
        held_reason: None,
        forced: false,
        created_at: 0,
        updated_at: 0,
    }
}

fn run(state: &mut SessionState, d: &Device, q: &[CommandRecord], msg: &SyncMl) -> Output {
    let body = encode(msg, Encoding::Xml);
    let input = Input {
        msg,
        body: &body,
        hmac: None,
        encoding: Encoding::Xml,
        resp_uri: "http://s/dm?s=t",
        server_uri: "http://s/dm",
        now: 1000,
        tree: &[],
        ddfs: &DdfSet::default(),
        held: &[],
    };
    let mut n = 0u8;
    handle(&EngineConfig::default(), state, d, q, &input, &mut || {
        n += 1;
        [n; 16]
    })
}

fn message(out: &Output) -> &SyncMl {
    match &out.response {
        Response::Message(m) => m,
        Response::Replay => panic!("a replay"),
    }
}

#[test]
fn accepted_session_sends_queued_and_issues_next_nonce() {
    let d = device();
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    let out = run(&mut st, &d, &[queued_get(7)], &pkg1(1, b"n0"));
    let m = message(&out);
    assert!(out.store);
    assert_eq!(st.phase, Phase::Managing);
    assert!(matches!(&m.body.commands[2], Command::Get(_)));
    assert!(out.effects.contains(&Effect::CommandsSent(vec![7])));
    assert!(out.effects.contains(&Effect::DeviceSession));
    let next =
        out.effects.iter().find_map(|e| if let Effect::ClientNonce(n) = e { Some(n.clone()) } else { None });
    assert_eq!(
        next,
        Some(Nonce::new(vec![1u8; 16]).to_b64()),
        "the fresh nonce comes from the random source"
    );
    assert_eq!(out.outcome, SessionOutcome::Active);
    assert_eq!(st.sent.len(), 1);
}

#[test]
fn retransmission_is_replayed_and_old_message_refused() {
    let d = device();
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    run(&mut st, &d, &[queued_get(7)], &pkg1(1, b"n0"));
    st.last_response = Some("cached".into());
    let again = run(&mut st, &d, &[], &pkg1(1, b"n0"));
    assert!(matches!(again.response, Response::Replay));
    assert!(!again.store);

    // Another session's id, or a version change, may not touch this session.
    let mut other = pkg1(2, b"n0");
    other.hdr.session_id = "A".into();
    let before = st.clone();
    let out = run(&mut st, &d, &[], &other);
    assert!(!out.store);
    assert_eq!(st, before);
    let Command::Status(s) = &message(&out).body.commands[0] else { panic!() };
    assert_eq!(s.data, StatusCode::BadRequest);
}

#[test]
fn unknown_status_changes_nothing() {
    let d = device();
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    run(&mut st, &d, &[queued_get(7)], &pkg1(1, b"n0"));
    let mut hdr =
        SyncHdr::new(DmVersion::V1_2, "9", 2, Location::uri("http://s/dm"), Location::uri("IMEI:1"));
    hdr.cred = None;
    let bogus = Status {
        cmd_id: 1,
        msg_ref: Some(1),
        cmd_ref: Some(99),
        cmd: "Get".into(),
        target_ref: vec![],
        source_ref: vec![],
        cred: None,
        chal: None,
        data: StatusCode::Ok,
        items: vec![],
    };
    let msg = SyncMl { hdr, body: SyncBody { commands: vec![Command::Status(bogus)], is_final: false } };
    let out = run(&mut st, &d, &[], &msg);
    assert!(!out.effects.iter().any(|e| matches!(e, Effect::CommandStatus { .. })));
    assert!(!st.sent[0].answered);
}

// ---- the tree mirror, the ACL/DDF checks and held commands ----

use omadm_storage::TreeNode;

fn rec(id: i64, op: Op, target: &str, data: Option<&str>) -> CommandRecord {
    let mut r = queued_get(id);
    r.spec = CommandSpec {
        op: Some(op),
        target: Some(target.into()),
        data: data.map(Into::into),
        ..CommandSpec::default()
    };
    r
}

/// What the engine gets besides the message.
#[derive(Default)]
struct World {
    tree: Vec<TreeNode>,
    ddfs: DdfSet,
    held: Vec<CommandRecord>,
}

fn run_in(state: &mut SessionState, q: &[CommandRecord], msg: &SyncMl, w: &World) -> Output {
    let body = encode(msg, Encoding::Xml);
    let input = Input {
        msg,
        body: &body,
        hmac: None,
        encoding: Encoding::Xml,
        resp_uri: "http://s/dm?s=t",
        server_uri: "http://s/dm",
        now: 2000,
        tree: &w.tree,
        ddfs: &w.ddfs,
        held: &w.held,
    };
    let mut n = 0u8;
    handle(&EngineConfig::default(), state, &device(), q, &input, &mut || {
        n += 1;
        [n; 16]
    })
}

/// Package 1 with `q` queued: the state after it and the server's package 2.
fn opened(q: &[CommandRecord], w: &World) -> (SessionState, SyncMl) {
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    let out = run_in(&mut st, q, &pkg1(1, b"n0"), w);
    let m = message(&out).clone();
    (st, m)
}

/// The device's package 3: a Status for every command of `pkg2` (code from `code`, by name
/// and target), then `results`.
fn answer(pkg2: &SyncMl, code: impl Fn(&str, &str) -> u16, results: Vec<Results>) -> SyncMl {
    fn statuses(cmds: &[Command], code: &dyn Fn(&str, &str) -> u16, out: &mut Vec<Command>) {
        for c in cmds {
            let Some(cmd_ref) = c.cmd_id() else { continue };
            if matches!(c, Command::Status(_)) {
                continue;
            }
            let target = match c {
                Command::Add(x)
                | Command::Replace(x)
                | Command::Delete(x)
                | Command::Get(x)
                | Command::Copy(x) => x.items[0].target.as_ref().map_or(String::new(), |t| t.loc_uri.clone()),
                _ => String::new(),
            };
            out.push(Command::Status(Status {
                cmd_id: out.len() as u32 + 1,
                msg_ref: Some(1),
                cmd_ref: Some(cmd_ref),
                cmd: c.name().into(),
                target_ref: vec![],
                source_ref: vec![],
                cred: None,
                chal: None,
                data: StatusCode::from_code(code(c.name(), &target)),
                items: vec![],
            }));
            if let Command::Atomic(x) | Command::Sequence(x) = c {
                statuses(&x.commands, code, out);
            }
        }
    }
    let hdr = SyncHdr::new(DmVersion::V1_2, "9", 2, Location::uri("http://s/dm"), Location::uri("IMEI:1"));
    let mut cmds = Vec::new();
    statuses(&pkg2.body.commands, &code, &mut cmds);
    cmds.extend(results.into_iter().map(Command::Results));
    SyncMl { hdr, body: SyncBody { commands: cmds, is_final: true } }
}

/// The CmdID our package 2 gave the command on `target`.
fn cmd_id_of(pkg2: &SyncMl, target: &str) -> u32 {
    pkg2.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Get(x) if x.items[0].target.as_ref().is_some_and(|t| t.loc_uri == target) => {
                Some(x.cmd_id)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{target} not sent"))
}

fn results(cmd_ref: u32, items: Vec<Item>) -> Results {
    Results { cmd_id: 90 + cmd_ref, msg_ref: Some(1), cmd_ref, items, ..Results::default() }
}

fn item(source: &str, format: Option<Format>, mime: Option<&str>, data: Option<&str>) -> Item {
    let meta = (format.is_some() || mime.is_some()).then(|| Meta {
        format,
        type_: mime.map(Into::into),
        ..Meta::default()
    });
    Item { source: Some(Location::uri(source)), meta, data: data.map(Data::from), ..Item::default() }
}

fn upserts(out: &Output) -> Vec<TreeNode> {
    out.effects
        .iter()
        .filter_map(|e| if let Effect::TreeUpsert(n) = e { Some(n.clone()) } else { None })
        .flatten()
        .collect()
}

fn deletes(out: &Output) -> Vec<String> {
    out.effects
        .iter()
        .filter_map(|e| if let Effect::TreeDelete(u) = e { Some(u.clone()) } else { None })
        .collect()
}

fn node<'a>(nodes: &'a [TreeNode], uri: &str) -> &'a TreeNode {
    nodes.iter().find(|n| n.uri == uri).unwrap_or_else(|| panic!("{uri} not in {nodes:?}"))
}

fn status_of(out: &Output, id: i64) -> (CommandState, Option<u16>) {
    out.effects
        .iter()
        .find_map(|e| match e {
            Effect::CommandStatus { id: x, state, status } if *x == id => Some((*state, *status)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no status for {id}"))
}

#[test]
fn results_of_get_plain_struct_structdata_and_tnds_fill_the_mirror() {
    let w = World::default();
    let q = [
        rec(1, Op::Get, "./Vendor/Vol", None),
        rec(2, Op::Get, "./Vendor?list=Struct", None),
        rec(3, Op::Get, "./Other?list=StructData", None),
        rec(4, Op::Get, "./Acme?list=TNDS+Value+ACL", None),
    ];
    let (mut st, pkg2) = opened(&q, &w);
    let tnds = r#"<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>Acme</NodeName><Path>.</Path><RTProperties><ACL>Get=*&amp;Replace=omadm</ACL><Format><node/></Format></RTProperties><Node><NodeName>Level</NodeName><RTProperties><Format><int/></Format></RTProperties><Value>5</Value></Node></Node></MgmtTree>"#;
    let res = vec![
        results(
            cmd_id_of(&pkg2, "./Vendor/Vol"),
            vec![item("./Vendor/Vol", Some(Format::Int), None, Some("3"))],
        ),
        results(
            cmd_id_of(&pkg2, "./Vendor?list=Struct"),
            vec![
                item("./Vendor", Some(Format::Node), None, None),
                item("./Vendor/Name", Some(Format::Chr), None, Some("ignored")),
            ],
        ),
        results(
            cmd_id_of(&pkg2, "./Other?list=StructData"),
            vec![item("./Other/Key", Some(Format::Chr), Some("text/plain"), Some("k1"))],
        ),
        results(
            cmd_id_of(&pkg2, "./Acme?list=TNDS+Value+ACL"),
            vec![item("./Acme", Some(Format::Xml), Some(tree::tnds::CONTENT_TYPE_XML), Some(tnds))],
        ),
    ];
    let out = run_in(&mut st, &[], &answer(&pkg2, |_, _| 200, res), &w);
    let n = upserts(&out);
    let vol = node(&n, "./Vendor/Vol");
    assert_eq!((vol.value.as_deref(), vol.format.as_deref()), (Some("3"), Some("int")), "plain Get");
    assert_eq!(node(&n, "./Vendor").format.as_deref(), Some("node"), "Struct");
    let name = node(&n, "./Vendor/Name");
    assert_eq!((name.value.as_deref(), name.format.as_deref()), (None, Some("chr")), "Struct: no values");
    let key = node(&n, "./Other/Key");
    assert_eq!(
        (key.value.as_deref(), key.mime_type.as_deref()),
        (Some("k1"), Some("text/plain")),
        "StructData"
    );
    assert_eq!(node(&n, "./Acme").acl.as_deref(), Some("Get=*&Replace=omadm"), "TNDS properties");
    let level = node(&n, "./Acme/Level");
    assert_eq!((level.value.as_deref(), level.format.as_deref()), (Some("5"), Some("int")), "TNDS values");
    for id in 1..=4 {
        assert_eq!(status_of(&out, id), (CommandState::Done, Some(200)));
    }
}

#[test]
fn accepted_changes_are_mirrored_and_refused_ones_are_not() {
    let tree = vec![TreeNode {
        uri: "./Vendor/Src".into(),
        value: Some("v".into()),
        format: Some("chr".into()),
        ..TreeNode::default()
    }];
    let w = World { tree, ..World::default() };
    let mut copy = rec(4, Op::Copy, "./Vendor/Dst", None);
    copy.spec.source = Some("./Vendor/Src".into());
    let mut add = rec(1, Op::Add, "./Vendor/New", Some("12"));
    add.spec.format = Some("int".into());
    let q = [
        add,
        rec(2, Op::Replace, "./Vendor/Rep", Some("r")),
        rec(3, Op::Delete, "./Vendor/Old", None),
        copy,
        rec(5, Op::Replace, "./Vendor/Refused", Some("x")),
        rec(6, Op::Add, "./Vendor/Refused2", Some("y")),
        rec(7, Op::Delete, "./Vendor/Kept", None),
    ];
    let (mut st, pkg2) = opened(&q, &w);
    let refused = |_: &str, t: &str| if t.contains("Refused") || t.ends_with("Kept") { 425 } else { 200 };
    let out = run_in(&mut st, &[], &answer(&pkg2, refused, vec![]), &w);
    let n = upserts(&out);
    let new = node(&n, "./Vendor/New");
    assert_eq!((new.value.as_deref(), new.format.as_deref()), (Some("12"), Some("int")), "Add");
    assert_eq!(node(&n, "./Vendor/Rep").value.as_deref(), Some("r"), "Replace");
    assert_eq!(node(&n, "./Vendor/Dst").value.as_deref(), Some("v"), "Copy takes the source's value");
    assert_eq!(deletes(&out), ["./Vendor/Old"], "Delete; not the refused one");
    assert!(!n.iter().any(|x| x.uri.contains("Refused")), "refused Add/Replace change nothing");
    assert_eq!(status_of(&out, 5), (CommandState::Failed, Some(425)));
    assert_eq!(status_of(&out, 2), (CommandState::Done, Some(200)));
}

#[test]
fn failed_atomic_changes_nothing() {
    let w = World::default();
    let mut atomic = rec(1, Op::Atomic, "", None);
    atomic.spec.target = None;
    atomic.children = vec![rec(2, Op::Add, "./Vendor/A", Some("1")), rec(3, Op::Delete, "./Vendor/B", None)];
    for (atomic_code, mirrored) in [(507, false), (200, true)] {
        let (mut st, pkg2) = opened(std::slice::from_ref(&atomic), &w);
        assert!(matches!(pkg2.body.commands[2], Command::Atomic(_)));
        let code = |name: &str, _: &str| if name == "Atomic" { atomic_code } else { 200 };
        let out = run_in(&mut st, &[], &answer(&pkg2, code, vec![]), &w);
        assert_eq!(!upserts(&out).is_empty(), mirrored, "Atomic {atomic_code}");
        assert_eq!(!deletes(&out).is_empty(), mirrored, "Atomic {atomic_code}");
    }
}

#[test]
fn acl_title_and_name_properties() {
    let w = World::default();
    let q = [
        rec(1, Op::Replace, "./Vendor/A?prop=ACL", Some("Get=*&Replace=omadm")),
        rec(2, Op::Replace, "./Vendor/B?prop=ACL", Some("Get=*")),
        rec(3, Op::Replace, "./Vendor/A?prop=Title", Some("Volume")),
        rec(4, Op::Get, "./Vendor/C?prop=Title", None),
        rec(5, Op::Replace, "./Vendor/Old?prop=Name", Some("New")),
        rec(6, Op::Get, "./Vendor/D?prop=Name", None),
    ];
    let (mut st, pkg2) = opened(&q, &w);
    let res = vec![
        results(
            cmd_id_of(&pkg2, "./Vendor/C?prop=Title"),
            vec![item("./Vendor/C?prop=Title", None, None, Some("Cee"))],
        ),
        results(
            cmd_id_of(&pkg2, "./Vendor/D?prop=Name"),
            vec![item("./Vendor/D?prop=Name", None, None, Some("D"))],
        ),
    ];
    let code = |_: &str, t: &str| if t.starts_with("./Vendor/B") { 425 } else { 200 };
    let out = run_in(&mut st, &[], &answer(&pkg2, code, res), &w);
    let n = upserts(&out);
    let a: Vec<&TreeNode> = n.iter().filter(|x| x.uri == "./Vendor/A").collect();
    assert!(a.iter().any(|x| x.acl.as_deref() == Some("Get=*&Replace=omadm")), "accepted ACL Replace");
    assert!(a.iter().any(|x| x.title.as_deref() == Some("Volume")), "accepted Title Replace");
    assert!(!n.iter().any(|x| x.uri == "./Vendor/B"), "a refused ACL Replace changes nothing");
    assert_eq!(node(&n, "./Vendor/C").title.as_deref(), Some("Cee"), "Get ?prop=Title");
    assert_eq!(deletes(&out), ["./Vendor/Old"], "renamed: the old name goes");
    assert!(n.iter().any(|x| x.uri == "./Vendor/New"), "and the new one is known");
    assert!(n.iter().all(|x| x.uri != "./Vendor/D" || (x.value.is_none() && x.acl.is_none())));
    assert_eq!(status_of(&out, 6), (CommandState::Done, Some(200)));
}

#[test]
fn unsupported_property_answers_fail_the_command_and_change_nothing() {
    let w = World::default();
    let q = [
        rec(1, Op::Get, "./Vendor/A?prop=Title", None),
        rec(2, Op::Replace, "./Vendor/A?prop=Title", Some("T")),
        rec(3, Op::Get, "./Vendor/A?prop=Colour", None),
    ];
    let (mut st, pkg2) = opened(&q, &w);
    assert_eq!(pkg2.body.commands.iter().filter(|c| !matches!(c, Command::Status(_))).count(), 3, "all sent");
    let code = |name: &str, _: &str| if name == "Get" { 406 } else { 405 };
    let out = run_in(&mut st, &[], &answer(&pkg2, code, vec![]), &w);
    assert_eq!(status_of(&out, 1), (CommandState::Failed, Some(406)));
    assert_eq!(status_of(&out, 2), (CommandState::Failed, Some(405)));
    assert_eq!(status_of(&out, 3), (CommandState::Failed, Some(406)));
    assert!(upserts(&out).is_empty() && deletes(&out).is_empty(), "mirror unchanged");
}

fn acl_node(uri: &str, acl: &str) -> TreeNode {
    TreeNode { uri: uri.into(), acl: Some(acl.into()), format: Some("node".into()), ..TreeNode::default() }
}

fn held(out: &Output) -> Vec<(i64, String)> {
    out.effects
        .iter()
        .filter_map(|e| {
            if let Effect::CommandHeld { id, reason } = e { Some((*id, reason.clone())) } else { None }
        })
        .collect()
}

fn released(out: &Output) -> Vec<i64> {
    out.effects
        .iter()
        .filter_map(|e| if let Effect::CommandReleased { id } = e { Some(*id) } else { None })
        .collect()
}

#[test]
fn held_commands_are_released_when_the_mirror_now_allows_them() {
    let mut r = rec(5, Op::Replace, "./Vendor/Secure/Key", Some("x"));
    r.held_reason = Some("ACL: ...".into());
    let still_denied = World {
        tree: vec![acl_node("./Vendor/Secure", "Get=*&Replace=other")],
        held: vec![r.clone()],
        ..World::default()
    };
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    let out = run_in(&mut st, &[], &pkg1(1, b"n0"), &still_denied);
    assert!(released(&out).is_empty() && held(&out).is_empty(), "still held, nothing re-recorded");
    assert!(!out.effects.iter().any(|e| matches!(e, Effect::CommandsSent(_))));

    // A later session read the ACL: the server now has Replace.
    let granted = World {
        tree: vec![acl_node("./Vendor/Secure", "Get=*&Replace=omadm")],
        held: vec![r],
        ..World::default()
    };
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    let out = run_in(&mut st, &[queued_get(7)], &pkg1(1, b"n0"), &granted);
    assert_eq!(released(&out), [5]);
    assert!(out.effects.contains(&Effect::CommandsSent(vec![5, 7])), "sent in this session, in id order");
    let m = message(&out);
    assert!(matches!(&m.body.commands[2], Command::Replace(_)));
}

#[test]
fn operator_ddf_validates_commands_to_its_nodes() {
    use omadm_protocol::tree::NodeUri;
    const ACME: &str = r#"<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>Acme</NodeName>
      <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat></DFProperties>
      <Node><NodeName>Volume</NodeName>
        <DFProperties><AccessType><Get/><Replace/></AccessType><DFFormat><int/></DFFormat></DFProperties>
      </Node></Node></MgmtTree>"#;
    let mut ddf = ddfs::parse_document(ACME.as_bytes()).unwrap();
    ddfs::mount(&mut ddf, &NodeUri::parse("./Vendor/Acme").unwrap());
    let set = DdfSet::new(vec![ddfs::OperatorDdf { id: 1, man: None, model: None, ddf }]);
    let q = [
        rec(1, Op::Replace, "./Vendor/Acme/Volume", Some("loud")),
        rec(2, Op::Replace, "./Vendor/Acme/Volume", Some("7")),
        rec(3, Op::Add, "./Vendor/Acme/Bass", Some("1")),
        rec(4, Op::Replace, "./Vendor/Other", Some("free")),
    ];
    for (ddfs, held_ids) in [(DdfSet::default(), vec![]), (set, vec![1, 3])] {
        let w = World { ddfs, ..World::default() };
        let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
        let out = run_in(&mut st, &q, &pkg1(1, b"n0"), &w);
        let h = held(&out);
        assert_eq!(h.iter().map(|x| x.0).collect::<Vec<_>>(), held_ids);
        assert!(h.iter().all(|(_, r)| r.starts_with("DDF:")), "{h:?}");
        let sent: Vec<i64> = (1..=4).filter(|i| !held_ids.contains(i)).collect();
        assert!(out.effects.contains(&Effect::CommandsSent(sent)));
    }

    // Held before the DDF said the path is valid: released once it does.
    let mut r = rec(9, Op::Replace, "./Vendor/Acme/Volume", Some("3"));
    r.held_reason = Some("DDF: ...".into());
    let mut only_get = ddfs::parse_document(ACME.replace("<Replace/>", "").as_bytes()).unwrap();
    ddfs::mount(&mut only_get, &NodeUri::parse("./Vendor/Acme").unwrap());
    let before = World {
        ddfs: DdfSet::new(vec![ddfs::OperatorDdf { id: 1, man: None, model: None, ddf: only_get }]),
        held: vec![r.clone()],
        ..World::default()
    };
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    assert!(released(&run_in(&mut st, &[], &pkg1(1, b"n0"), &before)).is_empty());
    let mut fixed = ddfs::parse_document(ACME.as_bytes()).unwrap();
    ddfs::mount(&mut fixed, &NodeUri::parse("./Vendor/Acme").unwrap());
    let after = World {
        ddfs: DdfSet::new(vec![ddfs::OperatorDdf { id: 1, man: None, model: None, ddf: fixed }]),
        held: vec![r],
        ..World::default()
    };
    let mut st = SessionState::new(DmVersion::V1_2, "9".into(), "IMEI:1".into());
    assert_eq!(released(&run_in(&mut st, &[], &pkg1(1, b"n0"), &after)), [9]);
}
