//! Sessions and packages (OMA-TS-DM_Protocol-V1_2 §8; FACTS.md C.4, C.4a, C.5): package 1,
//! the shape of the server's packages, how a session ends, and what a device relies on when
//! its link or its messages go wrong (README "What the server does in a session").

mod subject;

use std::time::Duration;

use omadm_conformance::devsim::{AuthKind, Device, DeviceConfig, Direction, Faults, Outcome};
use omadm_protocol::{AlertCode, Command, DmVersion, Encoding, StatusCode};
use serde_json::json;
use subject::*;

fn get(target: &str) -> serde_json::Value {
    json!({"op": "Get", "target": target})
}

/// FACTS.md C.4, J.1: package 1 carries Alert 1201 and a Replace of every `./DevInfo` leaf;
/// the server answers both with 200 and keeps the DevInfo values as the device's inventory.
#[tokio::test]
async fn package1_devinfo_is_acknowledged_and_kept() {
    let s = Subject::start().await;
    let mut d = s.device("pkg1", AuthKind::Md5).await;
    let r = d.run_session().await;
    completed(&r);
    let code = |cmd: &str| r.server_statuses.iter().find(|x| x.cmd == cmd).map(|x| x.code);
    check(code("Alert") == Some(200), "Alert 1201 answered 200", &r);
    check(code("Replace") == Some(200), "DevInfo Replace answered 200", &r);
    let inv = s.inventory(&d.config.device_id).await;
    for (leaf, value) in [
        ("DevId", d.config.device_id.as_str()),
        ("Man", "Acme"),
        ("Mod", "Rocket 3"),
        ("DmV", "1.2"),
        ("Lang", "en-US"),
    ] {
        let uri = format!("./DevInfo/{leaf}");
        let got = inv.iter().find(|i| i["uri"] == uri.as_str()).map(|i| i["value"].clone());
        assert_eq!(got, Some(json!(value)), "{uri} in {inv:?}");
    }
    s.stop().await;
}

/// FACTS.md C.2, C.4: a session answering a notification opens with Alert 1200
/// (server-initiated management), which the server accepts like 1201.
#[tokio::test]
async fn server_initiated_alert_1200() {
    let s = Subject::start().await;
    let mut d = s.device_with("alert1200", |c| c.server_initiated = true, |_| {}).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/FwV")).await;
    let r = d.run_session().await;
    completed(&r);
    let first = r.sent()[0];
    check(
        matches!(&first.body.commands[0], Command::Alert(a) if a.data == AlertCode::ServerInitiatedMgmt),
        "package 1 opens with Alert 1200",
        &r,
    );
    check(r.server_statuses.iter().any(|x| x.cmd == "Alert" && x.code == 200), "Alert 1200 answered 200", &r);
    assert_eq!(s.command(&d.config.device_id, id).await["status"], 200);
    s.stop().await;
}

/// FACTS.md C.4, C.4a, C.5: the server's package 2 keeps the device's SessionID, numbers its
/// messages from 1, answers the SyncHdr first (Cmd SyncHdr, CmdRef 0, MsgRef 1), addresses the
/// device (Target = DevId), gives a RespURI, announces MaxMsgSize and MaxObjSize, numbers its
/// commands uniquely and closes the package with Final.
#[tokio::test]
async fn package2_shape() {
    let s = Subject::start().await;
    let mut d = s.device_with("pkg2", |c| c.session_id = Some("3A".into()), |_| {}).await;
    s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    s.enqueue(&d.config.device_id, get("./DevDetail/HwV")).await;
    let r = d.run_session().await;
    completed(&r);
    let p2 = r.received()[0];
    assert_eq!(p2.hdr.session_id, "3A");
    assert_eq!(p2.hdr.msg_id, 1);
    assert_eq!(p2.version(), Some(DmVersion::V1_2));
    assert_eq!(p2.hdr.target.loc_uri, d.config.device_id);
    assert!(p2.hdr.resp_uri.is_some(), "a RespURI");
    let meta = p2.hdr.meta.as_ref().expect("SyncHdr Meta");
    assert!(meta.max_msg_size.is_some() && meta.max_obj_size.is_some(), "MaxMsgSize and MaxObjSize");
    let Command::Status(first) = &p2.body.commands[0] else { panic!("the SyncHdr Status comes first") };
    assert_eq!((first.cmd.as_str(), first.cmd_ref, first.msg_ref), ("SyncHdr", Some(0), Some(1)));
    let mut ids: Vec<u32> = p2.body.commands.iter().filter_map(Command::cmd_id).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "CmdIDs unique within the message");
    assert!(p2.body.is_final);
    assert_eq!(r.server_commands().iter().filter(|c| matches!(c, Command::Get(_))).count(), 2);
    // The device's next message is answered as MsgID 2, its statuses name MsgRef 2.
    let p4 = r.received()[1];
    assert_eq!(p4.hdr.msg_id, 2);
    let Command::Status(h) = &p4.body.commands[0] else { panic!() };
    assert_eq!(h.msg_ref, Some(2));
    s.stop().await;
}

/// FACTS.md C.4: a server package with no command ends the session; the device sends
/// nothing more, and the session is recorded as completed.
#[tokio::test]
async fn package_without_commands_ends_the_session() {
    let s = Subject::start().await;
    let mut d = s.device("empty", AuthKind::Basic).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.messages.len(), 2, "package 1 and package 2 only");
    let p2 = r.received()[0];
    assert!(p2.body.is_final);
    assert!(p2.hdr.resp_uri.is_none(), "no RespURI in the last message");
    let sessions = s.sessions(&d.config.device_id).await;
    assert_eq!(sessions[0]["outcome"], "completed");
    s.stop().await;
}

/// FACTS.md C.4: after the device's package 3 the server's package 4 carries only Statuses
/// when nothing is left, and the session ends (packages 3 and 4 iterate until then).
#[tokio::test]
async fn packages_iterate_until_no_command_is_left() {
    let s = Subject::start().await;
    let mut d = s.device("iterate", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.messages.iter().filter(|m| m.direction == Direction::Sent).count(), 2);
    let p4 = r.received()[1];
    assert!(p4.body.commands.iter().all(|c| matches!(c, Command::Status(_))));
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)));
    let sessions = s.sessions(&d.config.device_id).await;
    assert_eq!(sessions[0]["outcome"], "completed");
    assert_eq!(sessions[0]["messages_in"], 2);
    s.stop().await;
}

/// OMA-TS-DM_RepPro HTTP binding, README: a WBXML request is answered in WBXML (content type
/// `application/vnd.syncml.dm+wbxml`, WBXML 1.2, public id 0x1201 for DM 1.2).
#[tokio::test]
async fn wbxml_request_gets_wbxml_answer() {
    let s = Subject::start().await;
    let mut d = s.device_with("wbxml", |c| c.encoding = Encoding::Wbxml, |_| {}).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/OEM")).await;
    let r = d.run_session().await;
    completed(&r);
    let answer = r.messages.iter().find(|m| m.direction == Direction::Received).unwrap();
    assert_eq!(&answer.bytes[..3], &[0x02, 0xA4, 0x01], "WBXML 1.2, public id 0x1201");
    assert_eq!(s.command(&d.config.device_id, id).await["results"][0]["data"], "Acme OEM");
    s.stop().await;
}

/// README (a new package 1 replaces an abandoned session): the device loses the link right
/// after package 1, never seeing package 2; its next session gets the commands package 2 had
/// carried, and they are executed once.
#[tokio::test]
async fn dropped_connection_then_new_session_gets_the_requeued_commands() {
    let s = Subject::start().await;
    let mut d = s.device("drop", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { drop_after_message: Some(1), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Dropped { after: 1 }, "dropped after message 1", &r);
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    check(r.device_codes("Get", "./DevDetail/SwV") == [200], "the Get arrives in the new session", &r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{c}");
    assert_eq!(c["results"].as_array().unwrap().len(), 1, "results stored once: {c}");
    s.stop().await;
}

/// README (everything a message changes is committed before the answer is sent): when the
/// link drops after the device's package 3 reached the server, the results are kept and the
/// next session does not send the command again.
#[tokio::test]
async fn dropped_answer_after_results_is_not_repeated() {
    let s = Subject::start().await;
    let mut d = s.device("drop3", AuthKind::Basic).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/HwV")).await;
    d.config.faults = Faults { drop_after_message: Some(2), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Dropped { after: 2 }, "dropped after message 2", &r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["results"][0]["data"].clone()), (json!("done"), json!("hw-B")), "{c}");
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    check(r.server_commands().is_empty(), "nothing sent again", &r);
    s.stop().await;
}

/// README (400 for undecodable messages): a malformed package 1 gets HTTP 400 and opens no
/// session.
#[tokio::test]
async fn malformed_package1_is_http_400() {
    let s = Subject::start().await;
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let mut d = s.device_with("malformed1", |c| c.encoding = encoding, |_| {}).await;
        d.config.faults = Faults { malformed_message: Some(1), ..Faults::none() };
        let r = d.run_session().await;
        check(r.outcome == Outcome::Http { status: 400 }, "HTTP 400", &r);
        assert!(s.sessions(&d.config.device_id).await.is_empty(), "no session opened");
    }
    s.stop().await;
}

/// README (400 for undecodable messages; a new package 1 takes over): a malformed message in
/// the middle of a session gets HTTP 400 and changes nothing; the commands it should have
/// answered are sent again in the device's next session.
#[tokio::test]
async fn malformed_message_mid_session_is_http_400() {
    let s = Subject::start().await;
    let mut d = s.device("malformed2", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { malformed_message: Some(2), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Http { status: 400 }, "HTTP 400", &r);
    assert_ne!(s.command(&d.config.device_id, id).await["state"], "done");
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{c}");
    s.stop().await;
}

/// README (session idle timeout, 300 s by default): a device slow to answer, within the
/// timeout, completes its session normally.
#[tokio::test]
async fn slow_device_within_the_idle_timeout() {
    let s = Subject::start().await;
    let mut d = s.device("slow", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { slow_answer: Some(Duration::from_millis(1200)), ..Faults::none() };
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "done");
    s.stop().await;
}

/// README (408 after the idle timeout; unanswered commands go back to the queue): a device
/// that answers after the session timed out gets a SyncHdr Status 408, and its next session
/// gets the command again.
#[tokio::test]
async fn idle_timeout_is_408_and_requeues() {
    let Some(s) = Subject::start_with(|c| c.session_idle_timeout = Duration::from_secs(1)).await else {
        return;
    };
    let mut d = s.device("idle", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { slow_answer: Some(Duration::from_millis(2500)), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Refused { code: 408 }, "408 Request timeout", &r);
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "queued");
    assert_eq!(s.sessions(&d.config.device_id).await[0]["outcome"], "timed_out");
    d.config.faults = Faults::none();
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "done");
    s.stop().await;
}

/// FACTS.md C.2 (1223 session abort), README: a device that aborts the session gets no
/// further commands; what it had not answered goes back to the queue.
#[tokio::test]
async fn device_abort_1223_requeues() {
    let s = Subject::start().await;
    let mut d = s.device("abort", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { abort_at_message: Some(2), ..Faults::none() };
    let r = d.run_session().await;
    check(r.outcome == Outcome::Aborted, "aborted by the device", &r);
    let last = r.received().last().copied().unwrap();
    assert!(last.hdr.resp_uri.is_none(), "the server ends the session");
    assert!(last.body.commands.iter().all(|c| matches!(c, Command::Status(_))), "no new command");
    assert_eq!(s.command(&d.config.device_id, id).await["state"], "queued");
    assert_eq!(s.sessions(&d.config.device_id).await[0]["outcome"], "aborted");
    s.stop().await;
}

/// README (401 unknown device): a device the server does not know is refused with a
/// SyncHdr Status 401 and gets no command.
#[tokio::test]
async fn unknown_device_is_refused() {
    let s = Subject::start().await;
    let mut d = Device::new(DeviceConfig::new(&s.dm_url(), &unique_device_id("stranger")));
    let r = d.run_session().await;
    check(r.outcome == Outcome::AuthFailed { code: 401 }, "401", &r);
    check(r.server_commands().is_empty(), "no command", &r);
    assert_eq!(r.server_hdr_codes(), [StatusCode::InvalidCredentials.code()]);
    s.stop().await;
}

/// README ("a retransmitted message gets the same answer again"): when the answer to the
/// device's package 3 is lost, the device sends the same message again (same MsgID); the
/// server answers it without processing it twice, and the session completes.
#[tokio::test]
async fn lost_answer_is_recovered_by_retransmission() {
    let s = Subject::start().await;
    let mut d = s.device("retransmit", AuthKind::Md5).await;
    let id = s.enqueue(&d.config.device_id, get("./DevDetail/SwV")).await;
    d.config.faults = Faults { retransmit_message: Some(2), ..Faults::none() };
    let r = d.run_session().await;
    completed(&r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{c}");
    assert_eq!(c["results"].as_array().unwrap().len(), 1, "processed once: {c}");
    s.stop().await;
}

/// FACTS.md C.4 (a client-generated SessionID): a device that uses the same SessionID in
/// every session is served in each.
#[tokio::test]
async fn same_session_id_in_every_session() {
    let s = Subject::start().await;
    let mut d = s.device_with("sameid", |c| c.session_id = Some("1".into()), |_| {}).await;
    for t in ["./DevDetail/SwV", "./DevDetail/FwV"] {
        let id = s.enqueue(&d.config.device_id, get(t)).await;
        let r = d.run_session().await;
        completed(&r);
        assert_eq!(s.command(&d.config.device_id, id).await["state"], "done");
    }
    assert_eq!(s.sessions(&d.config.device_id).await.len(), 2);
    s.stop().await;
}
