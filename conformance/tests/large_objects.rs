//! Large objects (OMA-TS-DM_Protocol-V1_2 §6.3 / DM RepPro large object handling; FACTS.md
//! C.5, C.6), both directions: values larger than a message travel in chunks with MoreData,
//! the total Size on the first chunk only, 213 per chunk, a 424 on a size mismatch, and
//! MaxObjSize honoured.

mod subject;

use omadm_conformance::devsim::{AuthKind, Direction, Faults, SessionReport};
use omadm_protocol::{AlertCode, Command, Encoding, Item, StatusCode};
use serde_json::json;
use subject::*;

/// The text of a value of `n` characters.
fn value(n: usize) -> String {
    (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect()
}

/// The chunks (items) the server sent for `target`, in order.
fn chunks_to(r: &SessionReport, target: &str) -> Vec<Item> {
    r.server_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::Add(x) | Command::Replace(x) => x.items.first().cloned(),
            _ => None,
        })
        .filter(|i| i.target.as_ref().is_some_and(|t| t.loc_uri == target))
        .collect()
}

/// FACTS.md C.6: a value larger than the device's MaxMsgSize goes in chunks: MoreData on all
/// but the last, Meta Size (the whole size) on the first only, no Final while chunks remain,
/// every message within the device's MaxMsgSize; the device answers 213 per chunk and
/// reassembles the value.
#[tokio::test]
async fn large_object_to_device_in_chunks() {
    let s = Subject::start().await;
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let mut d = s
            .device_with(
                "lo-in",
                |c| {
                    c.encoding = encoding;
                    c.max_msg_size = Some(4000);
                },
                |_| {},
            )
            .await;
        let big = value(20_000);
        let id =
            s.enqueue(&d.config.device_id, json!({"op": "Add", "target": "./Vendor/Big", "data": big})).await;
        let r = d.run_session().await;
        completed(&r);
        let chunks = chunks_to(&r, "./Vendor/Big");
        check(chunks.len() >= 5, "several chunks", &r);
        let (last, rest) = chunks.split_last().unwrap();
        check(rest.iter().all(|i| i.more_data) && !last.more_data, "MoreData on all but the last", &r);
        let sizes: Vec<Option<u64>> = chunks.iter().map(|i| i.meta.as_ref().and_then(|m| m.size)).collect();
        check(
            sizes[0] == Some(20_000) && sizes[1..].iter().all(Option::is_none),
            "Size on the first only",
            &r,
        );
        for m in r.messages.iter().filter(|m| m.direction == Direction::Received) {
            check(m.size <= 4000, "within the device's MaxMsgSize", &r);
        }
        let finals: Vec<bool> = r.received().iter().map(|m| m.body.is_final).collect();
        check(finals[..chunks.len() - 1].iter().all(|f| !f), "no Final while chunks remain", &r);
        check(
            r.device_codes("Add", "./Vendor/Big").iter().filter(|c| **c == 213).count() == chunks.len() - 1,
            "213 per chunk",
            &r,
        );
        assert_eq!(d.tree.text("./Vendor/Big").as_deref(), Some(big.as_str()), "{encoding:?}");
        let c = s.command(&d.config.device_id, id).await;
        assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{encoding:?}");
    }
    s.stop().await;
}

/// FACTS.md C.6, C.7: a binary value (Format b64 over XML) in chunks is reassembled, then
/// decoded; FACTS.md I.2: a FUMO package delivered in band makes the object ready (State 50).
#[tokio::test]
async fn binary_large_object_to_device() {
    let s = Subject::start().await;
    let mut d = s.device_with("lo-bin", |c| c.max_msg_size = Some(3000), |_| {}).await;
    let bytes: Vec<u8> = (0..9000u32).map(|i| (i * 7 % 251) as u8).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let id = s
        .enqueue(
            &d.config.device_id,
            json!({"op": "Replace", "target": "./FwUpdate/x1/Update/PkgData", "data": b64, "format": "b64"}),
        )
        .await;
    let r = d.run_session().await;
    completed(&r);
    check(chunks_to(&r, "./FwUpdate/x1/Update/PkgData").len() > 1, "chunked", &r);
    assert_eq!(d.tree.value("./FwUpdate/x1/Update/PkgData"), Some(bytes.as_slice()));
    assert_eq!(d.tree.text("./FwUpdate/x1/State").as_deref(), Some("50"));
    assert_eq!(s.command(&d.config.device_id, id).await["status"], 200);
    s.stop().await;
}

/// FACTS.md C.5 (MaxObjSize: the largest object the receiver accepts): the server does not
/// send a value larger than the device's MaxObjSize; the command fails with 413.
#[tokio::test]
async fn large_object_over_device_max_obj_size_is_not_sent() {
    let s = Subject::start().await;
    let mut d = s
        .device_with(
            "lo-maxobj",
            |c| {
                c.max_msg_size = Some(4000);
                c.max_obj_size = Some(8000);
            },
            |_| {},
        )
        .await;
    let id = s
        .enqueue(&d.config.device_id, json!({"op": "Add", "target": "./Vendor/Big", "data": value(20_000)}))
        .await;
    let r = d.run_session().await;
    completed(&r);
    check(chunks_to(&r, "./Vendor/Big").is_empty(), "nothing sent", &r);
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("failed"), json!(413)), "{c}");
    s.stop().await;
}

/// FACTS.md C.6: Results larger than the device can send in one message go in chunks; the
/// server answers each non-final chunk with 213 and Alert 1222 (no Final), reassembles the
/// value and stores it whole.
#[tokio::test]
async fn large_object_from_device_in_chunks() {
    let s = Subject::start().await;
    for encoding in [Encoding::Xml, Encoding::Wbxml] {
        let mut d = s
            .device_with(
                "lo-out",
                |c| {
                    c.encoding = encoding;
                    c.send_limit = Some(3000);
                },
                |_| {},
            )
            .await;
        let log = value(30_000);
        d.tree.set_value("./Vendor/Log", log.clone());
        let id = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./Vendor/Log"})).await;
        let r = d.run_session().await;
        completed(&r);
        let sent_chunks: usize = r
            .sent()
            .iter()
            .flat_map(|m| m.body.commands.iter())
            .filter(|c| matches!(c, Command::Results(_)))
            .count();
        check(sent_chunks >= 10, "the device sent chunks", &r);
        let answers: Vec<_> = r
            .received()
            .into_iter()
            .filter(|m| m.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.cmd == "Results")))
            .collect();
        check(answers.len() == sent_chunks - 1, "a Status for each non-final chunk", &r);
        for a in &answers {
            let ok = a.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.cmd == "Results" && s.data == StatusCode::ChunkedItemAccepted))
                && a.body.commands.iter().any(|c| matches!(c, Command::Alert(x) if x.data == AlertCode::NextMessage))
                && !a.body.is_final;
            check(ok, "213 and Alert 1222, no Final", &r);
        }
        let c = s.command(&d.config.device_id, id).await;
        assert_eq!((c["state"].clone(), c["status"].clone()), (json!("done"), json!(200)), "{encoding:?}");
        assert_eq!(c["results"].as_array().unwrap().len(), 1);
        assert_eq!(c["results"][0]["data"].as_str(), Some(log.as_str()), "{encoding:?}");
    }
    s.stop().await;
}

/// FACTS.md C.6 (424 Size mismatch, nothing committed): when the reassembled value differs
/// from the announced Size, the server answers the last chunk 424, fails the command and
/// stores no result.
#[tokio::test]
async fn large_object_from_device_size_mismatch_is_424() {
    let s = Subject::start().await;
    let mut d = s.device_with("lo-424", |c| c.send_limit = Some(3000), |_| {}).await;
    d.tree.set_value("./Vendor/Log", value(12_000));
    d.config.faults = Faults { wrong_object_size: Some(7), ..Faults::none() };
    let id = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./Vendor/Log"})).await;
    let r = d.run_session().await;
    check(
        r.server_statuses.iter().any(|st| st.cmd == "Results" && st.code == 424),
        "424 on the last chunk",
        &r,
    );
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("failed"), json!(424)), "{c}");
    assert_eq!(c["results"], json!([]));
    s.stop().await;
}

/// FACTS.md C.5 (the server announces its MaxMsgSize; the peer keeps within it): a server
/// configured with a small MaxMsgSize announces it, and a device that keeps within it (its
/// Results in chunks) is served.
#[tokio::test]
async fn server_max_msg_size_is_announced_and_honoured() {
    let Some(s) = Subject::start_with(|c| c.engine.max_msg_size = 4096).await else { return };
    let mut d = s.device("lo-srvmsg", AuthKind::Md5).await;
    d.tree.set_value("./Vendor/Log", value(20_000));
    let id = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./Vendor/Log"})).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.received()[0].hdr.meta.as_ref().unwrap().max_msg_size, Some(4096));
    for m in r.messages.iter().filter(|m| m.direction == Direction::Sent) {
        check(m.size <= 4096, "the device kept within the server's MaxMsgSize", &r);
    }
    assert_eq!(
        s.command(&d.config.device_id, id).await["results"][0]["data"].as_str().map(str::len),
        Some(20_000)
    );
    s.stop().await;
}

/// FACTS.md C.5 (MaxObjSize announced by the server): a value larger than the server's
/// MaxObjSize is not sent; the device answers the Get with 413, which the server records.
#[tokio::test]
async fn value_over_server_max_obj_size_is_413() {
    let Some(s) = Subject::start_with(|c| c.engine.max_obj_size = 8192).await else { return };
    let mut d = s.device("lo-srvobj", AuthKind::Md5).await;
    d.tree.set_value("./Vendor/Log", value(20_000));
    let id = s.enqueue(&d.config.device_id, json!({"op": "Get", "target": "./Vendor/Log"})).await;
    let r = d.run_session().await;
    completed(&r);
    assert_eq!(r.received()[0].hdr.meta.as_ref().unwrap().max_obj_size, Some(8192));
    let c = s.command(&d.config.device_id, id).await;
    assert_eq!((c["state"].clone(), c["status"].clone()), (json!("failed"), json!(413)), "{c}");
    s.stop().await;
}
