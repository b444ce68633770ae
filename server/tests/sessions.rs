//! Whole DM sessions against the real server on a loopback port, over HTTP only, as a device
//! drives them (OMA-TS-DM_Protocol-V1_2 §8; OMA-TS-DM_Security-V1_2 §5). Each test names the
//! rule it checks.

mod common;

use common::*;
use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, CommandSpec, CommandState, Op, SessionOutcome};

fn get(target: &str) -> CommandSpec {
    CommandSpec { op: Some(Op::Get), target: Some(target.into()), ..CommandSpec::default() }
}

fn replace(target: &str, data: &str) -> CommandSpec {
    CommandSpec {
        op: Some(Op::Replace),
        target: Some(target.into()),
        data: Some(data.into()),
        format: Some("chr".into()),
        ..CommandSpec::default()
    }
}

const TREE: &[(&str, &str)] = &[("./DevDetail/SwV", "2.0.1"), ("./DevDetail/FwV", "fw-7")];

/// Package 1 with basic auth is accepted (212), the queued Get goes out in package 2, the
/// Status and Results of package 3 are stored, and package 4 with no command ends the session.
#[tokio::test]
async fn basic_auth_session_get_and_results() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000001", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let id = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();

    let mut dev = Client::new(&server, creds.clone());
    let pkg1 = dev.package1();
    let pkg2 = dev.send(&pkg1).await;
    assert_eq!(hdr_status(&pkg2).data, StatusCode::AuthenticationAccepted);
    assert!(pkg2.hdr.resp_uri.as_deref().unwrap().contains("/dm?s="), "RespURI carries the session token");
    assert_eq!(pkg2.hdr.session_id, "1F", "the session keeps the device's SessionID");
    let cmds = commands(&pkg2);
    assert!(
        matches!(cmds.as_slice(), [Command::Get(g)] if g.items[0].target.as_ref().unwrap().loc_uri == "./DevDetail/SwV")
    );
    assert!(pkg2.body.is_final);
    let meta = pkg2.hdr.meta.as_ref().unwrap();
    assert!(meta.max_msg_size.is_some() && meta.max_obj_size.is_some(), "the server advertises its limits");
    assert_eq!(
        server.store.get_command(&creds.device_id, id).await.unwrap().unwrap().state,
        CommandState::Sent
    );

    let pkg3 = dev.reply(&pkg2, TREE);
    let pkg4 = dev.send(&pkg3).await;
    assert!(commands(&pkg4).is_empty(), "nothing left: package 4 carries no command");
    assert!(pkg4.body.is_final);
    assert!(pkg4.hdr.resp_uri.is_none());

    let cmd = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
    assert_eq!(cmd.state, CommandState::Done);
    assert_eq!(cmd.status, Some(200));
    assert_eq!(cmd.results[0].data, "2.0.1");
    assert_eq!(cmd.results[0].source, "./DevDetail/SwV");
    let inv = server.store.list_inventory(&creds.device_id).await.unwrap();
    let value = |uri: &str| inv.iter().find(|i| i.uri == uri).map(|i| i.value.clone());
    assert_eq!(value("./DevInfo/Man").as_deref(), Some("Acme"), "DevInfo of package 1 is inventory");
    assert_eq!(value("./DevDetail/SwV").as_deref(), Some("2.0.1"), "values read later are inventory");
    let sessions = server.store.list_sessions(&creds.device_id, 10).await.unwrap();
    assert_eq!(sessions[0].outcome, SessionOutcome::Completed);
    assert_eq!(sessions[0].messages_in, 2);
    server.stop().await;
}

/// No credentials: 407 with a Chal naming auth-md5 and a fresh NextNonce; the device retries
/// with that nonce and is accepted (FACTS.md D.3).
#[tokio::test]
async fn md5_challenge_and_retry() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000002", ClientAuthType::Md5);
    server.add_device(&creds).await;
    let mut dev = Client::new(&server, creds);
    dev.send_creds = false;
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    let s = hdr_status(&r);
    assert_eq!(s.data, StatusCode::MissingCredentials);
    let chal = s.chal.as_ref().expect("a challenge");
    assert_eq!(chal.meta.type_.as_deref(), Some("syncml:auth-md5"));
    assert_eq!(chal.meta.format, Some(Format::B64));
    let nonce = chal.meta.next_nonce.clone().expect("a fresh nonce");
    assert_ne!(Nonce::from_b64(&nonce).unwrap().as_bytes(), b"clientnonce");
    assert!(commands(&r).is_empty(), "no management before authentication");

    dev.send_creds = true;
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::AuthenticationAccepted);
    // A new nonce for the next session comes with the 212.
    assert!(hdr_status(&r).chal.as_ref().and_then(|c| c.meta.next_nonce.as_ref()).is_some());
    server.stop().await;
}

/// Wrong credentials: 401 with a challenge each time; after three failures the session ends
/// and the device is told so by the absence of a RespURI.
#[tokio::test]
async fn wrong_password_is_refused_then_session_ends() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000003", ClientAuthType::Md5);
    server.add_device(&creds).await;
    let mut wrong = creds.clone();
    wrong.password = "not-the-password".into();
    let mut dev = Client::new(&server, wrong);
    for attempt in 1..=3 {
        let p1 = dev.package1();
        let r = dev.send(&p1).await;
        assert_eq!(hdr_status(&r).data, StatusCode::InvalidCredentials, "attempt {attempt}");
        assert!(hdr_status(&r).chal.is_some());
        // The Alert and the Replace are answered with the same code.
        assert!(
            r.body
                .commands
                .iter()
                .all(|c| matches!(c, Command::Status(s) if s.data == StatusCode::InvalidCredentials))
        );
        assert_eq!(r.hdr.resp_uri.is_none(), attempt == 3);
    }
    let sessions = server.store.list_sessions(&creds.device_id, 10).await.unwrap();
    assert_eq!(sessions[0].outcome, SessionOutcome::AuthFailed);
    server.stop().await;
}

/// HMAC: every message carries x-syncml-hmac over its exact body; the SyncHdr Status is 200
/// (not 212) and a NextNonce comes with every message (FACTS.md D.2).
#[tokio::test]
async fn hmac_every_message() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000004", ClientAuthType::Hmac);
    server.add_device(&creds).await;
    server.store.enqueue_command(&creds.device_id, &get("./DevDetail/FwV"), 1).await.unwrap();
    let mut dev = Client::new(&server, creds);
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::Ok);
    let n1 = hdr_status(&r).chal.as_ref().unwrap().meta.next_nonce.clone().unwrap();
    let p3 = dev.reply(&r, TREE);
    let r = dev.send(&p3).await;
    assert_eq!(hdr_status(&r).data, StatusCode::Ok);
    let n2 = hdr_status(&r).chal.as_ref().unwrap().meta.next_nonce.clone().unwrap();
    assert_ne!(n1, n2, "a new nonce per message");

    // A message without the header in an HMAC session is refused.
    let mut dev2 = Client::new(&server, DeviceCreds::new("IMEI:100000000000004", ClientAuthType::Hmac));
    dev2.send_creds = false;
    let p1 = dev2.package1();
    let r = dev2.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::MissingCredentials);
    assert_eq!(hdr_status(&r).chal.as_ref().unwrap().meta.type_.as_deref(), Some("syncml:auth-MAC"));
    server.stop().await;
}

/// The server authenticates itself: its SyncHdr carries Cred auth-md5 computed from the
/// SRVCRED secret and the device's nonce, until the device answers 212; a 401 with a new
/// nonce makes the server retry with that nonce.
#[tokio::test]
async fn server_authenticates_itself() {
    let server = Server::sqlite().await;
    let mut creds = DeviceCreds::new("IMEI:100000000000005", ClientAuthType::Basic);
    creds.server_password = Some("srvpw".into());
    server.add_device(&creds).await;
    for t in ["./DevDetail/SwV", "./DevDetail/FwV"] {
        server.store.enqueue_command(&creds.device_id, &get(t), 1).await.unwrap();
    }
    let mut dev = Client::new(&server, creds.clone());
    dev.max_msg_size = Some(1400); // one Get per message
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    let cred = r.hdr.cred.as_ref().expect("server credentials");
    let expect = auth::md5::cred_data("omadm", "srvpw", b"servernonce");
    assert_eq!(cred.data, expect);
    assert_eq!(r.hdr.source.loc_name.as_deref(), Some("omadm"));

    // The device refuses and challenges with a new nonce.
    let mut reply = dev.reply(&r, TREE);
    if let Command::Status(s) = &mut reply.body.commands[0] {
        s.data = StatusCode::InvalidCredentials;
        s.chal = Some(Chal {
            meta: Meta {
                format: Some(Format::B64),
                type_: Some("syncml:auth-md5".into()),
                next_nonce: Some(Nonce::new(b"n2".to_vec()).to_b64()),
                ..Meta::default()
            },
        });
    }
    let r = dev.send(&reply).await;
    assert_eq!(r.hdr.cred.as_ref().unwrap().data, auth::md5::cred_data("omadm", "srvpw", b"n2"));
    let stored = server.store.get_device(&creds.device_id).await.unwrap().unwrap();
    assert_eq!(stored.server_nonce, Nonce::new(b"n2".to_vec()).to_b64(), "the device's nonce is stored");
    // 212: no more Cred.
    let reply = dev.reply(&r, TREE);
    let r = dev.send(&reply).await;
    assert!(r.hdr.cred.is_none());
    server.stop().await;
}

/// Each command type goes out and its Status is recorded against it: Add, Replace, Delete,
/// Exec, Copy, Atomic, Sequence and a UI Alert 1101.
#[tokio::test]
async fn every_command_type() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000006", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let spec =
        |op: Op| CommandSpec { op: Some(op), target: Some("./Vendor/X".into()), ..CommandSpec::default() };
    let mut ids = Vec::new();
    for s in [
        CommandSpec { data: Some("v".into()), format: Some("chr".into()), ..spec(Op::Add) },
        replace("./Vendor/X", "w"),
        spec(Op::Delete),
        CommandSpec { data: Some("go".into()), ..spec(Op::Exec) },
        CommandSpec { source: Some("./Vendor/A".into()), ..spec(Op::Copy) },
        CommandSpec {
            op: Some(Op::Atomic),
            children: vec![replace("./Vendor/A", "1"), replace("./Vendor/B", "2")],
            ..CommandSpec::default()
        },
        CommandSpec {
            op: Some(Op::Sequence),
            children: vec![get("./DevDetail/SwV"), replace("./Vendor/C", "3")],
            ..CommandSpec::default()
        },
        CommandSpec {
            op: Some(Op::Alert),
            alert_code: Some(1101),
            texts: vec!["MAXDT=30".into(), "Install?".into()],
            ..CommandSpec::default()
        },
    ] {
        ids.push(server.store.enqueue_command(&creds.device_id, &s, 1).await.unwrap());
    }
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    let names: Vec<&str> = commands(&r).iter().map(|c| c.name()).collect();
    assert_eq!(names, ["Add", "Replace", "Delete", "Exec", "Copy", "Atomic", "Sequence", "Alert"]);
    let Command::Atomic(a) = commands(&r)[5] else { panic!() };
    assert_eq!(a.commands.len(), 2);
    let Command::Copy(c) = commands(&r)[4] else { panic!() };
    assert_eq!(c.items[0].source.as_ref().unwrap().loc_uri, "./Vendor/A");
    let Command::Exec(e) = commands(&r)[3] else { panic!() };
    assert_eq!(e.correlator, Some(format!("omadm-{}", ids[3])), "an Exec carries its command's Correlator");
    let Command::Alert(al) = commands(&r)[7] else { panic!() };
    assert_eq!(al.data, AlertCode::ConfirmOrReject);
    assert_eq!(al.items.len(), 2);

    let reply = dev.reply(&r, TREE);
    let r = dev.send(&reply).await;
    assert!(commands(&r).is_empty());
    for id in ids {
        let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
        assert_eq!((c.state, c.status), (CommandState::Done, Some(200)), "{:?}", c.spec.op);
        for child in &c.children {
            assert_eq!(child.state, CommandState::Done);
        }
    }
    server.stop().await;
}

/// A device may not manage the server: commands other than Replace (DevInfo), Alert, Status
/// and Results are answered 405 and change nothing.
#[tokio::test]
async fn client_commands_not_allowed() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000007", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let mut dev = Client::new(&server, creds);
    let mut p1 = dev.package1();
    p1.body.commands.push(Command::Get(ItemCommand {
        cmd_id: 3,
        items: vec![Item { target: Some(Location::uri("./Server/Secret")), ..Item::default() }],
        ..ItemCommand::default()
    }));
    let r = dev.send(&p1).await;
    let st = r.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd == "Get" => Some(s),
        _ => None,
    });
    assert_eq!(st.unwrap().data, StatusCode::CommandNotAllowed);
    server.stop().await;
}

/// WBXML in, WBXML out; a DM 1.1.2 session is served by the same engine in its own version.
#[tokio::test]
async fn wbxml_and_dm_1_1_2_sessions() {
    let server = Server::sqlite().await;
    for (i, (version, encoding)) in [
        (DmVersion::V1_2, Encoding::Wbxml),
        (DmVersion::V1_1_2, Encoding::Xml),
        (DmVersion::V1_1_2, Encoding::Wbxml),
    ]
    .into_iter()
    .enumerate()
    {
        let creds = DeviceCreds::new(&format!("IMEI:20000000000000{i}"), ClientAuthType::Md5);
        server.add_device(&creds).await;
        let id = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
        let mut dev = Client::new(&server, creds.clone());
        dev.version = version;
        dev.encoding = encoding;
        let p1 = dev.package1();
        let r = dev.send(&p1).await;
        assert_eq!(r.version(), Some(version));
        if encoding == Encoding::Wbxml {
            let body = &dev.last_http.as_ref().unwrap().body;
            assert_eq!(
                &body[..3],
                if version == DmVersion::V1_2 { &[0x02, 0xA4, 0x01][..] } else { &[0x02, 0x9F, 0x53][..] }
            );
        }
        assert_eq!(hdr_status(&r).data, StatusCode::AuthenticationAccepted);
        let reply = dev.reply(&r, TREE);
        dev.send(&reply).await;
        let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
        assert_eq!(c.results[0].data, "2.0.1");
        let d = server.store.get_device(&creds.device_id).await.unwrap().unwrap();
        assert_eq!(d.dm_version.as_deref(), Some(if version == DmVersion::V1_2 { "1.2" } else { "1.1.2" }));
    }
    server.stop().await;
}

/// Multi-message package: commands that do not fit the device's MaxMsgSize go in further
/// messages without Final; the device asks for each with Alert 1222 (FACTS.md C.4).
#[tokio::test]
async fn multi_message_package() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000008", ClientAuthType::Basic);
    server.add_device(&creds).await;
    for i in 0..30 {
        server
            .store
            .enqueue_command(&creds.device_id, &replace(&format!("./Vendor/Item{i}"), &"x".repeat(60)), 1)
            .await
            .unwrap();
    }
    let mut dev = Client::new(&server, creds.clone());
    dev.max_msg_size = Some(2000);
    let p1 = dev.package1();
    let mut r = dev.send(&p1).await;
    let mut seen = 0;
    let mut messages = 0;
    loop {
        messages += 1;
        assert!(dev.last_http.as_ref().unwrap().body.len() <= 2000, "message within the device's MaxMsgSize");
        seen += commands(&r).iter().filter(|c| matches!(c, Command::Replace(_))).count();
        if r.body.is_final {
            break;
        }
        // Statuses and Alert 1222, no Final.
        let reply = dev.reply(&r, TREE);
        r = dev.send(&ask_next(reply)).await;
    }
    assert!(messages > 2, "the package spans several messages ({messages})");
    assert_eq!(seen, 30);
    let reply = dev.reply(&r, TREE);
    let r = dev.send(&reply).await;
    assert!(commands(&r).is_empty());
    let done = server.store.list_commands(&creds.device_id, Some(CommandState::Done), 100).await.unwrap();
    assert_eq!(done.len(), 30);
    server.stop().await;
}

/// Large object to the device: a value larger than one message goes in chunks, Meta Size on
/// the first, MoreData on all but the last; the device answers 213 per chunk (FACTS.md C.6).
#[tokio::test]
async fn large_object_to_device() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000009", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let value: String = (0..20_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let id =
        server.store.enqueue_command(&creds.device_id, &replace("./Vendor/Big", &value), 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    dev.max_msg_size = Some(4000);
    let p1 = dev.package1();
    let mut r = dev.send(&p1).await;
    let mut got = String::new();
    let mut first = true;
    loop {
        let Command::Replace(rep) = commands(&r)[0] else { panic!("a Replace chunk") };
        let item = &rep.items[0];
        assert_eq!(item.meta.as_ref().unwrap().size.is_some(), first, "Size only on the first chunk");
        if first {
            assert_eq!(item.meta.as_ref().unwrap().size, Some(20_000));
        }
        first = false;
        got.push_str(item.data.as_ref().unwrap().as_text().unwrap());
        let mut reply = dev.reply(&r, TREE);
        if !item.more_data {
            assert!(r.body.is_final);
            dev.send(&reply).await;
            break;
        }
        assert!(!r.body.is_final, "no Final inside a large object");
        if let Command::Status(s) = &mut reply.body.commands[1] {
            s.data = StatusCode::ChunkedItemAccepted;
        }
        r = dev.send(&ask_next(reply)).await;
    }
    assert_eq!(got, value);
    let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
    assert_eq!((c.state, c.status), (CommandState::Done, Some(200)));
    server.stop().await;
}

/// Large object from the device: Results in chunks are answered 213 and Alert 1222, then
/// reassembled and checked against Size; a mismatch is 424 (FACTS.md C.6).
#[tokio::test]
async fn large_object_from_device() {
    let server = Server::sqlite().await;
    for (n, announced, expect) in [(1u8, 9000u64, StatusCode::Ok), (2, 8999, StatusCode::SizeMismatch)] {
        let creds = DeviceCreds::new(&format!("IMEI:30000000000000{n}"), ClientAuthType::Basic);
        server.add_device(&creds).await;
        let id = server.store.enqueue_command(&creds.device_id, &get("./Vendor/Log"), 1).await.unwrap();
        let mut dev = Client::new(&server, creds.clone());
        let p1 = dev.package1();
        let r = dev.send(&p1).await;
        let Command::Get(g) = commands(&r)[0] else { panic!() };
        let (get_id, get_msg) = (g.cmd_id, r.hdr.msg_id);
        let value = "L".repeat(9000);
        let chunks: Vec<&str> = vec![&value[..3000], &value[3000..6000], &value[6000..]];
        let mut server_msg = r;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i == 2;
            let mut m = dev.reply(&server_msg, &[]);
            m.body.commands.retain(|c| matches!(c, Command::Status(s) if s.cmd == "SyncHdr") || i == 0);
            if let Some(Command::Status(s)) =
                m.body.commands.iter_mut().find(|c| matches!(c, Command::Status(s) if s.cmd == "Get"))
            {
                s.data = StatusCode::Ok;
            }
            let cmd_id = m.body.commands.len() as u32 + 1;
            m.body.commands.push(Command::Results(Results {
                cmd_id,
                msg_ref: Some(get_msg),
                cmd_ref: get_id,
                items: vec![Item {
                    source: Some(Location::uri("./Vendor/Log")),
                    meta: Some(Meta {
                        format: Some(Format::Chr),
                        size: (i == 0).then_some(announced),
                        ..Meta::default()
                    }),
                    data: Some(Data::from(*chunk)),
                    more_data: !last,
                    ..Item::default()
                }],
                ..Results::default()
            }));
            m.body.is_final = last;
            server_msg = dev.send(&m).await;
            let results_status = server_msg.body.commands.iter().find_map(|c| match c {
                Command::Status(s) if s.cmd == "Results" => Some(s.data),
                _ => None,
            });
            if !last {
                assert_eq!(results_status, Some(StatusCode::ChunkedItemAccepted));
                assert!(
                    server_msg
                        .body
                        .commands
                        .iter()
                        .any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::NextMessage))
                );
                assert!(!server_msg.body.is_final);
            } else if expect == StatusCode::SizeMismatch {
                assert_eq!(results_status, Some(StatusCode::SizeMismatch));
            }
        }
        let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
        if expect == StatusCode::Ok {
            assert_eq!(c.results.len(), 1);
            assert_eq!(c.results[0].data, value);
        } else {
            assert_eq!(c.state, CommandState::Failed);
            assert!(c.results.is_empty(), "nothing committed on a size mismatch");
        }
    }
    server.stop().await;
}

/// Generic Alert 1226 from the device is stored as received and answered 200.
#[tokio::test]
async fn generic_alert_is_stored() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000010", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let mut dev = Client::new(&server, creds.clone());
    let mut p1 = dev.package1();
    p1.body.commands.push(Command::Alert(Alert {
        cmd_id: 3,
        no_resp: false,
        cred: None,
        data: AlertCode::GenericAlert,
        correlator: Some("c-42".into()),
        items: vec![Item {
            source: Some(Location::uri("./FwUpdate/x1")),
            meta: Some(Meta {
                format: Some(Format::Int),
                type_: Some("org.openmobilealliance.dm.firmwareupdate.update".into()),
                mark: Some("critical".into()),
                ..Meta::default()
            }),
            data: Some(Data::from("410")),
            ..Item::default()
        }],
    }));
    let r = dev.send(&p1).await;
    let st = r.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.cmd_ref == Some(3) => Some(s.data),
        _ => None,
    });
    assert_eq!(st, Some(StatusCode::Ok));
    let alerts = server.store.list_generic_alerts(Some(&creds.device_id), 10).await.unwrap();
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.alert_type.as_deref(), Some("org.openmobilealliance.dm.firmwareupdate.update"));
    assert_eq!(
        (a.data.as_deref(), a.correlator.as_deref(), a.mark.as_deref()),
        (Some("410"), Some("c-42"), Some("critical"))
    );
    assert_eq!(a.source.as_deref(), Some("./FwUpdate/x1"));
    server.stop().await;
}

/// Alert 1223 from the device aborts the session; commands sent and not answered go back to
/// the queue (nothing lost).
#[tokio::test]
async fn session_abort_requeues() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000011", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let id = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(commands(&r).len(), 1);
    let hdr = dev.header();
    let abort = SyncMl {
        hdr,
        body: SyncBody {
            commands: vec![Command::Alert(Alert {
                cmd_id: 1,
                no_resp: false,
                cred: None,
                data: AlertCode::SessionAbort,
                correlator: None,
                items: vec![],
            })],
            is_final: true,
        },
    };
    let r = dev.send(&abort).await;
    assert!(r.hdr.resp_uri.is_none());
    assert_eq!(
        server.store.get_command(&creds.device_id, id).await.unwrap().unwrap().state,
        CommandState::Queued
    );
    assert_eq!(
        server.store.list_sessions(&creds.device_id, 5).await.unwrap()[0].outcome,
        SessionOutcome::Aborted
    );
    server.stop().await;
}

/// Hostile or wrong requests get HTTP errors (415, 400, 413) or a SyncHdr Status, and change
/// nothing: unknown device (401), unknown session token (404), a first message that is not a
/// package 1 (400), a message replayed into an ended session (400).
#[tokio::test]
async fn bad_requests() {
    let server = Server::sqlite().await;
    let url = server.dm_url();
    let ct = |t: &str| vec![("Content-Type".to_owned(), t.to_owned())];
    let r = http::post(&url, &ct("text/plain"), b"<SyncML/>").await;
    assert_eq!(r.status, 415);
    let r = http::post(&url, &ct("application/vnd.syncml.dm+xml"), b"<SyncML><SyncHdr>").await;
    assert_eq!(r.status, 400);
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = http::post(&url, &ct("application/vnd.syncml.dm+xml"), &big).await;
    assert_eq!(r.status, 413);

    let creds = DeviceCreds::new("IMEI:100000000000012", ClientAuthType::Basic);
    let mut stranger = Client::new(&server, creds.clone());
    let p1 = stranger.package1();
    let r = stranger.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::InvalidCredentials);
    assert!(server.store.list_sessions(&creds.device_id, 5).await.unwrap().is_empty(), "nothing stored");

    server.add_device(&creds).await;
    let mut dev = Client::new(&server, creds.clone());
    dev.url = format!("{url}?s=0123456789abcdef0123456789abcdef");
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::NotFound);

    let mut dev = Client::new(&server, creds.clone());
    let hdr = dev.header();
    let not_pkg1 = SyncMl { hdr, body: SyncBody { commands: vec![], is_final: true } };
    let r = dev.send(&not_pkg1).await;
    assert_eq!(hdr_status(&r).data, StatusCode::BadRequest);
    server.stop().await;
}

/// A retransmitted message (same MsgID, e.g. after a lost HTTP response) gets the same answer
/// and is not processed twice.
#[tokio::test]
async fn retransmission_gets_the_same_answer() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000013", ClientAuthType::Basic);
    server.add_device(&creds).await;
    server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    let reply = dev.reply(&r, TREE);
    let url = dev.url.clone();
    let a = dev.send(&reply).await;
    let first = dev.last_http.clone().unwrap().body;
    dev.url = url;
    let b = dev.send(&reply).await;
    assert_eq!(dev.last_http.as_ref().unwrap().body, first);
    assert_eq!(a, b);
    let c = server.store.list_commands(&creds.device_id, None, 10).await.unwrap();
    assert_eq!(c[0].results.len(), 1, "results stored once");
    server.stop().await;
}

/// HTTP/1.0, as the Motorola engine sends it, works.
#[tokio::test]
async fn http_1_0_client() {
    let server = Server::sqlite().await;
    let body =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/tests/vectors/cm_omadm_pkg1.xml"))
            .unwrap();
    let r = http::request(
        "POST",
        &server.dm_url(),
        "HTTP/1.0",
        &[("Content-Type".into(), "application/vnd.syncml.dm+xml".into())],
        &body,
    )
    .await;
    assert_eq!(r.status, 200);
    let m = decode(&r.body, &Limits::default()).unwrap();
    assert_eq!(hdr_status(&m).data, StatusCode::InvalidCredentials, "unknown device");
    server.stop().await;
}

/// An idle session ends: the next message gets 408, commands sent in it go back to the queue
/// and are sent again in the device's next session.
#[tokio::test]
async fn idle_session_times_out_and_requeues() {
    let server = Server::sqlite_with(|c| c.session_idle_timeout = std::time::Duration::from_secs(1)).await;
    let creds = DeviceCreds::new("IMEI:100000000000014", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let id = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(commands(&r).len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let reply = dev.reply(&r, TREE);
    let r = dev.send(&reply).await;
    assert_eq!(hdr_status(&r).data, StatusCode::RequestTimeout);
    assert_eq!(
        server.store.get_command(&creds.device_id, id).await.unwrap().unwrap().state,
        CommandState::Queued
    );
    assert_eq!(
        server.store.list_sessions(&creds.device_id, 5).await.unwrap()[0].outcome,
        SessionOutcome::TimedOut
    );

    // The next session sends it again.
    let mut dev = Client::new(&server, creds.clone());
    dev.session_id = "20".into();
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    assert_eq!(commands(&r).len(), 1);
    server.stop().await;
}

/// A new command arriving before the last chunk of a large object: the server sends Alert
/// 1225 naming the object and drops it (FACTS.md C.6).
#[tokio::test]
async fn interrupted_large_object_gets_1225() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000015", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let id = server.store.enqueue_command(&creds.device_id, &get("./Vendor/Log"), 1).await.unwrap();
    let mut dev = Client::new(&server, creds.clone());
    let p1 = dev.package1();
    let r = dev.send(&p1).await;
    let Command::Get(g) = commands(&r)[0] else { panic!() };
    let (get_id, get_msg) = (g.cmd_id, r.hdr.msg_id);
    let mut m = dev.reply(&r, &[]);
    if let Command::Status(s) = &mut m.body.commands[1] {
        s.data = StatusCode::Ok;
    }
    m.body.commands.push(Command::Results(Results {
        cmd_id: 9,
        msg_ref: Some(get_msg),
        cmd_ref: get_id,
        items: vec![Item {
            source: Some(Location::uri("./Vendor/Log")),
            meta: Some(Meta { size: Some(100), ..Meta::default() }),
            data: Some(Data::from("first half")),
            more_data: true,
            ..Item::default()
        }],
        ..Results::default()
    }));
    m.body.is_final = false;
    let r = dev.send(&m).await;
    assert!(!r.body.is_final);
    // Instead of the next chunk: a Generic Alert.
    let hdr = dev.header();
    let interrupt = SyncMl {
        hdr,
        body: SyncBody {
            commands: vec![Command::Alert(Alert {
                cmd_id: 1,
                no_resp: false,
                cred: None,
                data: AlertCode::GenericAlert,
                correlator: None,
                items: vec![Item { data: Some(Data::from("1")), ..Item::default() }],
            })],
            is_final: true,
        },
    };
    let r = dev.send(&interrupt).await;
    let alert = r.body.commands.iter().find_map(|c| match c {
        Command::Alert(a) if a.data == AlertCode::NoEndOfData => Some(a),
        _ => None,
    });
    let alert = alert.expect("Alert 1225");
    assert_eq!(alert.items[0].source.as_ref().unwrap().loc_uri, "./Vendor/Log");
    let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
    assert_eq!(c.state, CommandState::Failed);
    assert!(c.results.is_empty());
    server.stop().await;
}

/// A device that starts over (a new package 1 while its last session is open) gets the
/// commands the abandoned session sent and never saw answered: nothing is lost.
#[tokio::test]
async fn new_session_takes_over_an_abandoned_one() {
    let server = Server::sqlite().await;
    let creds = DeviceCreds::new("IMEI:100000000000016", ClientAuthType::Basic);
    server.add_device(&creds).await;
    let id = server.store.enqueue_command(&creds.device_id, &get("./DevDetail/SwV"), 1).await.unwrap();
    let mut first = Client::new(&server, creds.clone());
    let p1 = first.package1();
    assert_eq!(commands(&first.send(&p1).await).len(), 1);

    let mut again = Client::new(&server, creds.clone());
    again.session_id = "77".into();
    let p1 = again.package1();
    let r = again.send(&p1).await;
    assert_eq!(commands(&r).len(), 1, "the Get is sent again");
    let reply = again.reply(&r, TREE);
    again.send(&reply).await;
    let c = server.store.get_command(&creds.device_id, id).await.unwrap().unwrap();
    assert_eq!((c.state, c.results.len()), (CommandState::Done, 1));
    let sessions = server.store.list_sessions(&creds.device_id, 5).await.unwrap();
    let outcomes: Vec<_> = sessions.iter().map(|s| s.outcome).collect();
    assert!(
        outcomes.contains(&SessionOutcome::TimedOut) && outcomes.contains(&SessionOutcome::Completed),
        "{outcomes:?}"
    );
    server.stop().await;
}
