//! Multi-message packages (OMA-TS-DM_Protocol-V1_2 §8.6; FACTS.md C.4, C.5): a package too
//! large for one message goes in several, Final only on the last; the receiver asks for each
//! next message with Alert 1222.

mod subject;

use omadm_conformance::devsim::Direction;
use omadm_protocol::{AlertCode, Command, Encoding};
use serde_json::json;
use subject::*;

fn has_1222(m: &omadm_protocol::SyncMl) -> bool {
    m.body.commands.iter().any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::NextMessage))
}

/// FACTS.md C.4, C.5: commands that do not fit the device's MaxMsgSize go in further
/// messages: every message within the MaxMsgSize, no Final before the last; the device asks
/// for each with Alert 1222 (answered 200) and every command is executed and recorded.
#[tokio::test]
async fn server_package_spans_messages() {
    let s = Subject::start().await;
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let mut d = s
            .device_with(
                "mm-server",
                |c| {
                    c.encoding = encoding;
                    c.max_msg_size = Some(2000);
                },
                |_| {},
            )
            .await;
        for i in 0..30 {
            s.enqueue(
                &d.config.device_id,
                json!({"op": "Add", "target": format!("./Vendor/Item{i}"), "data": "x".repeat(60)}),
            )
            .await;
        }
        let r = d.run_session().await;
        completed(&r);
        let received = r.received();
        let with_commands =
            received.iter().filter(|m| m.body.commands.iter().any(|c| matches!(c, Command::Add(_)))).count();
        check(with_commands >= 3, "the package spans several messages", &r);
        for m in r.messages.iter().filter(|m| m.direction == Direction::Received) {
            check(m.size <= 2000, "every message within the device's MaxMsgSize", &r);
        }
        // Each non-final server message is answered with Alert 1222 and no Final.
        let sent = r.sent();
        for (i, m) in received.iter().enumerate() {
            if !m.body.is_final {
                let answer = sent[i + 1];
                check(has_1222(answer) && !answer.body.is_final, "answered with Alert 1222, no Final", &r);
            }
        }
        check(
            r.server_statuses.iter().filter(|st| st.cmd == "Alert").all(|st| st.code == 200),
            "every Alert 1222 answered 200",
            &r,
        );
        let done = s
            .api(
                "GET",
                &format!("/api/v1/devices/{}/commands?state=done", encode_segment(&d.config.device_id)),
                None,
            )
            .await
            .1;
        assert_eq!(done["commands"].as_array().unwrap().len(), 30, "{encoding:?}");
        for i in 0..30 {
            assert!(d.tree.node(&format!("./Vendor/Item{i}")).is_some());
        }
    }
    s.stop().await;
}

/// FACTS.md C.4 (the client's package in several messages): when the device's answers do
/// not fit one message, it sends them in several without Final; the server asks for each next
/// one with Alert 1222 and sends no command until the device's package is complete; every
/// result is stored.
#[tokio::test]
async fn device_package_spans_messages() {
    let s = Subject::start().await;
    let mut d = s.device_with("mm-device", |c| c.send_limit = Some(2500), |_| {}).await;
    let mut ids = Vec::new();
    for t in
        ["./Vendor/Log", "./DevDetail/SwV", "./Vendor/Log", "./DevDetail/OEM", "./Vendor/Log", "./Vendor/Log"]
    {
        ids.push(s.enqueue(&d.config.device_id, json!({"op": "Get", "target": t})).await);
    }
    let r = d.run_session().await;
    let sent = r.sent();
    let non_final = sent.iter().filter(|m| !m.body.is_final).count();
    check(non_final >= 1, "the device's package spans messages", &r);
    // The server's answer to a non-final device message asks for the next one.
    let received = r.received();
    for (i, m) in sent.iter().enumerate() {
        if !m.body.is_final && !has_1222(m) && i < received.len() {
            let answer = received[i];
            check(has_1222(answer), "Alert 1222 asks for the device's next message", &r);
            check(!answer.body.is_final, "no Final while the device's package is open", &r);
            check(
                !answer.body.commands.iter().any(|c| !matches!(c, Command::Status(_) | Command::Alert(_))),
                "no new command before the device's package is complete",
                &r,
            );
        }
    }
    for (n, id) in ids.iter().enumerate() {
        let c = s.command(&d.config.device_id, *id).await;
        assert_eq!(c["state"], "done", "command {n}: {c}");
        assert_eq!(c["results"].as_array().unwrap().len(), 1, "{c}");
    }
    completed(&r);
    s.stop().await;
}

/// FACTS.md C.4 (MsgRef names the message answered): in a multi-message exchange, each
/// Status the server sends names the device's message it answers.
#[tokio::test]
async fn statuses_name_the_message_they_answer() {
    let s = Subject::start().await;
    let mut d = s.device_with("mm-msgref", |c| c.max_msg_size = Some(1800), |_| {}).await;
    for i in 0..12 {
        s.enqueue(
            &d.config.device_id,
            json!({"op": "Replace", "target": "./Vendor/Settings/Greeting", "data": format!("v{i}")}),
        )
        .await;
    }
    let r = d.run_session().await;
    completed(&r);
    let sent = r.sent();
    for (i, m) in r.received().iter().enumerate() {
        for c in &m.body.commands {
            if let Command::Status(st) = c {
                check(st.msg_ref == Some(sent[i].hdr.msg_id), "MsgRef is the device message answered", &r);
            }
        }
    }
    assert_eq!(d.tree.text("./Vendor/Settings/Greeting").as_deref(), Some("v11"), "in order");
    s.stop().await;
}

/// FACTS.md C.5 (MaxMsgSize: the largest message the receiver accepts): a command that cannot
/// fit any message within the device's MaxMsgSize (and cannot be chunked) is not sent; it
/// fails with 413, and the commands after it still reach the device.
#[tokio::test]
async fn command_too_large_for_the_device_is_not_sent() {
    let s = Subject::start().await;
    let mut d = s.device_with("mm-toolarge", |c| c.max_msg_size = Some(1500), |_| {}).await;
    let big = s
        .enqueue(
            &d.config.device_id,
            json!({"op": "Alert", "alert_code": 1100, "texts": ["", "x".repeat(3000)]}),
        )
        .await;
    let small = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./DevDetail/SwV"})).await;
    let r = d.run_session().await;
    completed(&r);
    for m in r.messages.iter().filter(|m| m.direction == Direction::Received) {
        check(m.size <= 1500, "every message within the device's MaxMsgSize", &r);
    }
    let c = s.command(&d.config.device_id, big).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("failed"), json!(413)), "{c}");
    assert_eq!(s.command(&d.config.device_id, small).await["state"], "done");
    s.stop().await;
}
