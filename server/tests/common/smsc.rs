//! A fake SMSC for the tests: accepts every bind and `submit_sm` over SMPP 3.4 and keeps the
//! short messages (TP-User-Data with its UDH), as a phone would get them.

use std::sync::{Arc, Mutex};

use omadm_server::delivery::smpp::pdu::{Body, CommandStatus, Pdu, frame_length};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The short messages the SMSC took, in order.
pub type Inbox = Arc<Mutex<Vec<Vec<u8>>>>;

/// Start an SMSC on a loopback port: its port and what it receives.
pub async fn smsc() -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut next_id = 0u32;
                loop {
                    while let Ok(Some(n)) = frame_length(&buf) {
                        if buf.len() < n {
                            break;
                        }
                        let frame: Vec<u8> = buf.drain(..n).collect();
                        let pdu = Pdu::decode(&frame).unwrap();
                        let body = match pdu.body {
                            Body::BindTransmitter(_) => {
                                Body::BindTransmitterResp { system_id: "TEST".into(), tlvs: vec![] }
                            }
                            Body::SubmitSm(s) => {
                                sink.lock().unwrap().push(s.short_message);
                                next_id += 1;
                                Body::SubmitSmResp { message_id: format!("m{next_id}") }
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
    (port, got)
}
