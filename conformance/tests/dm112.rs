//! DM 1.1.2 (FACTS.md B.1, C.1, H.3; README "DM 1.1.2 devices are served by the same
//! engine; answers use the request's encoding and version"): VerDTD 1.1, VerProto DM/1.1,
//! namespace `SYNCML:SYNCML1.1`, WBXML public id 0x0FD3, the `./SyncML/DMAcc` account.

mod subject;

use omadm_conformance::devsim::{AuthKind, Direction};
use omadm_protocol::{DmVersion, Encoding};
use serde_json::json;
use subject::*;

fn dm112(encoding: Encoding) -> impl FnOnce(&mut omadm_conformance::devsim::DeviceConfig) {
    move |c| {
        c.version = DmVersion::V1_1_2;
        c.encoding = encoding;
    }
}

/// FACTS.md C.1: a DM 1.1.2 session in XML is answered in DM 1.1.2 (VerDTD 1.1, VerProto
/// DM/1.1, namespace SYNCML:SYNCML1.1); commands and results work as in DM 1.2 and the device
/// is recorded as a DM 1.1.2 device.
#[tokio::test]
async fn dm112_xml_session() {
    let s = Subject::start().await;
    let mut d = s.device_with("dm11x", dm112(Encoding::Xml), |_| {}).await;
    let id = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./DevDetail/SwV"})).await;
    let r = d.run_session().await;
    completed(&r);
    for m in r.received() {
        assert_eq!((m.hdr.ver_dtd.as_str(), m.hdr.ver_proto.as_str()), ("1.1", "DM/1.1"));
    }
    let answer = r.messages.iter().find(|m| m.direction == Direction::Received).unwrap();
    assert!(String::from_utf8_lossy(&answer.bytes).contains("SYNCML:SYNCML1.1"), "the 1.1 namespace");
    assert_eq!(s.command(&d.config.device_id, id).await["results"][0]["data"], "2.0.1");
    assert_eq!(s.device_view(&d.config.device_id).await["dm_version"], "1.1.2");
    assert_eq!(s.sessions(&d.config.device_id).await[0]["dm_version"], "1.1.2");
    s.stop().await;
}

/// FACTS.md B.1 (public id 0x0FD3 for SyncML 1.1), C.1: a DM 1.1.2 WBXML session is answered
/// in WBXML with the 1.1 public id.
#[tokio::test]
async fn dm112_wbxml_session() {
    let s = Subject::start().await;
    let mut d = s.device_with("dm11w", dm112(Encoding::Wbxml), |_| {}).await;
    let id = s
        .enqueue(
            &d.config.device_id,
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": "hi"}),
        )
        .await;
    let r = d.run_session().await;
    completed(&r);
    let answer = r.messages.iter().find(|m| m.direction == Direction::Received).unwrap();
    assert_eq!(&answer.bytes[..3], &[0x02, 0x9F, 0x53], "WBXML 1.2, public id 0x0FD3");
    assert_eq!(s.command(&d.config.device_id, id).await["status"], 200);
    assert_eq!(d.tree.text("./Vendor/Settings/Greeting").as_deref(), Some("hi"));
    s.stop().await;
}

/// FACTS.md H.3: the DM 1.1.2 account lives in `./SyncML/DMAcc/<x>` (ServerId with a lower
/// case d); its passwords cannot be read (425).
#[tokio::test]
async fn dm112_account_layout() {
    let s = Subject::start().await;
    let mut d = s.device_with("dm11acc", dm112(Encoding::Xml), |_| {}).await;
    let acc = format!("./SyncML/DMAcc/{}", d.config.account);
    let a = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": format!("{acc}/ServerId")})).await;
    let b = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": format!("{acc}/ClientPW")})).await;
    let c = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": format!("{acc}/AuthPref")})).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(s.command(&d.config.device_id, a).await["results"][0]["data"], d.config.server_id.as_str());
    assert_eq!(s.command(&d.config.device_id, b).await["status"], 425);
    assert_eq!(s.command(&d.config.device_id, c).await["results"][0]["data"], "syncml:auth-md5");
    s.stop().await;
}

/// FACTS.md D.3 (DM 1.1.2: ServerPW/ServerNonce): the server authenticates itself to a
/// DM 1.1.2 device with MD5 too, and a basic device is accepted.
#[tokio::test]
async fn dm112_authentication_both_ways() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "dm11auth",
            |c| {
                c.version = DmVersion::V1_1_2;
                c.client.kind = AuthKind::Basic;
                c.server = Some(server_credentials());
            },
            |_| {},
        )
        .await;
    s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./DevInfo/DmV"})).await;
    let r = d.run_session().await;
    completed(&r);
    check(r.server_authenticated && r.client_authenticated, "both authenticated", &r);
    s.stop().await;
}

/// FACTS.md C.4-C.6 in DM 1.1.2: multi-message packages and large objects both ways work in
/// a DM 1.1.2 WBXML session.
#[tokio::test]
async fn dm112_multi_message_and_large_objects() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "dm11lo",
            |c| {
                c.version = DmVersion::V1_1_2;
                c.encoding = Encoding::Wbxml;
                c.max_msg_size = Some(3000);
                c.send_limit = Some(3000);
            },
            |_| {},
        )
        .await;
    let big: String = "0123456789".repeat(1500);
    d.tree.set_value("./Vendor/Log", big.clone());
    let get = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./Vendor/Log"})).await;
    let add = s
        .enqueue(&d.config.device_id, json!({"op": "Add", "target": "./Vendor/Big", "data": big.clone()}))
        .await;
    for i in 0..10 {
        s.enqueue(&d.config.device_id, json!({"op": "Add", "target": format!("./Vendor/N{i}"), "data": "v"}))
            .await;
    }
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(s.command(&d.config.device_id, get).await["results"][0]["data"].as_str(), Some(big.as_str()));
    assert_eq!(s.command(&d.config.device_id, add).await["status"], 200);
    assert_eq!(d.tree.text("./Vendor/Big").as_deref(), Some(big.as_str()));
    assert!(d.tree.node("./Vendor/N9").is_some());
    s.stop().await;
}

/// FACTS.md L.5 (Correlator exists only in the SyncML 1.2 DTD), C.1: an Exec sent to a
/// DM 1.1.2 device carries no Correlator, which a 1.1 parser would not know; the device runs
/// it and the server records the result.
#[tokio::test]
async fn dm112_exec_has_no_correlator() {
    let s = Subject::start().await;
    let mut d = s.device_with("dm11exec", dm112(Encoding::Wbxml), |_| {}).await;
    let id = s.enqueue(&d.config.device_id, json!({"op": "Exec", "target": "./FwUpdate/x1/Download"})).await;
    let r = d.run_session().await;
    completed(&r);
    let exec = r.server_commands().into_iter().find_map(|c| match c {
        omadm_protocol::Command::Exec(e) => Some(e.clone()),
        _ => None,
    });
    check(exec.as_ref().is_some_and(|e| e.correlator.is_none()), "no Correlator in DM 1.1.2", &r);
    assert_eq!(s.command(&d.config.device_id, id).await["status"], 200);
    s.stop().await;
}
