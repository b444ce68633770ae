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
