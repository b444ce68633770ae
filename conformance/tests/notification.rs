//! Server notification (OMA-TS-DM_Notification; FACTS.md E; issue 7), black box: the server
//! pushes package 0 over SMPP to a test SMSC; the simulated phone behind it reassembles the
//! SMS, checks the WSP push (port 2948, content type 0xC4, application id 0x07) and the
//! digest with the server credentials it holds, then the device simulator opens the session
//! the notification asked for (its SessionID is the notified one), and the server records
//! the notification as answered.

mod subject;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use omadm_conformance::devsim::AuthKind;
use omadm_protocol::notification::{Initiator, NonceUsed, Notification, verify_with_resync};
use omadm_protocol::push::{ApplicationId, MediaType, Ports, PushPdu, reassemble};
use omadm_server::delivery::smpp::pdu::{Body, CommandStatus, Pdu, frame_length};
use omadm_server::delivery::{DeliveryConfig, Secret, SmppConfig};
use serde_json::json;
use subject::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Phone = Arc<Mutex<Vec<Vec<u8>>>>;

/// A test SMSC: binds every ESME, accepts every submit_sm and hands its short message to the
/// phone.
async fn smsc() -> (u16, Phone) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let phone: Phone = Arc::default();
    let inbox = phone.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let inbox = inbox.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    while let Ok(Some(n)) = frame_length(&buf) {
                        if buf.len() < n {
                            break;
                        }
                        let frame: Vec<u8> = buf.drain(..n).collect();
                        let Ok(pdu) = Pdu::decode(&frame) else { return };
                        let body = match pdu.body {
                            Body::BindTransmitter(_) => {
                                Body::BindTransmitterResp { system_id: "SMSC".into(), tlvs: vec![] }
                            }
                            Body::SubmitSm(s) => {
                                inbox.lock().unwrap().push(s.short_message);
                                Body::SubmitSmResp { message_id: "1".into() }
                            }
                            Body::EnquireLink => Body::EnquireLinkResp,
                            Body::Unbind => Body::UnbindResp,
                            _ => continue,
                        };
                        let answer = Pdu {
                            command_status: CommandStatus::Ok,
                            sequence_number: pdu.sequence_number,
                            body,
                        };
                        if stream.write_all(&answer.encode().unwrap()).await.is_err() {
                            return;
                        }
                    }
                    if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                }
            });
        }
    });
    (port, phone)
}

/// FACTS.md E.1-E.3: package 0 over WAP push wakes the device, which opens the session it
/// names; the server links that session to the notification.
#[tokio::test]
async fn the_device_simulator_is_woken_by_an_smpp_delivered_notification() {
    let (port, phone) = smsc().await;
    let Some(s) = Subject::start_with(|c| {
        c.delivery = DeliveryConfig {
            smpp: Some(SmppConfig::new(format!("127.0.0.1:{port}"), "omadm", Secret::new("secret"))),
            pap: None,
            http: None,
        };
        c.notification.poll = Duration::from_millis(20);
    })
    .await
    else {
        eprintln!("skipped: needs the in-process server (its SMSC is this test's)");
        return;
    };
    let server = server_credentials();
    let mut d = s
        .device_with(
            "woken",
            |c| {
                c.client.kind = AuthKind::Md5;
                c.server = Some(server.clone());
            },
            |_| {},
        )
        .await;
    let dev = d.config.device_id.clone();
    let (status, n) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{}/notify", encode_segment(&dev)),
            Some(&json!({"msisdn": "+491709990001", "ui_mode": "background"})),
        )
        .await;
    assert_eq!(status, 202, "{n}");

    // The phone: SMS → WSP push → package 0, checked with what the device holds.
    let mut sms = Vec::new();
    for _ in 0..200 {
        sms = phone.lock().unwrap().clone();
        if !sms.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ports, wsp) = reassemble(&sms).expect("the notification's SMS");
    assert_eq!(ports.destination, Ports::WAP_PUSH);
    let pdu = PushPdu::decode(&wsp).unwrap();
    assert_eq!(pdu.content_type.media, MediaType::DmNotification);
    assert_eq!(pdu.application_id, Some(ApplicationId::SYNCML_DM));
    let used = verify_with_resync(&pdu.body, &d.config.server_id, &server.password, server.nonce.as_bytes());
    assert_eq!(used, Some(NonceUsed::Stored), "the digest checks with the device's server credentials");
    let (_, pkg0) = Notification::decode(&pdu.body).unwrap();
    assert_eq!((pkg0.initiator, pkg0.server_id.as_str()), (Initiator::Server, d.config.server_id.as_str()));

    // Woken: the session the notification asked for.
    d.config.session_id = Some(pkg0.session_id_hex());
    d.config.server_initiated = true;
    let r = d.run_session().await;
    completed(&r);
    let id = n["id"].as_i64().unwrap();
    let (_, n) = s.api("GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert_eq!(n["state"], "session_opened", "{n}");
    assert_eq!(n["answered_session_id"], pkg0.session_id_hex());
    s.stop().await;
}
