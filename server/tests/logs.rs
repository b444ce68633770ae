//! Logs: every line of a DM message's handling carries the device and the DM SessionID (the
//! `dm` span), in text and in JSON; and nothing secret reaches the log, even at TRACE. Sessions
//! with known passwords, secrets, nonces and tokens run against the real server while every
//! event of the process (ours, hyper's, sqlx's) is captured, then the capture is searched.
//! Its own test binary: it installs the process-wide subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use common::*;
use omadm_protocol::auth::{self, Nonce};
use omadm_storage::{ClientAuthType, CommandSpec, Op};
use tracing_subscriber::layer::SubscriberExt as _;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_span_on_every_line_and_no_secrets_at_trace() {
    let (text, json) = (Capture::default(), Capture::default());
    let (t, j) = (text.clone(), json.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::TRACE)
        .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || t.clone()))
        .with(tracing_subscriber::fmt::layer().json().with_writer(move || j.clone()));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = Server::sqlite().await;
    // MD5 both ways: the device's and the server's passwords and nonces are known here.
    let mut md5 = DeviceCreds::new("IMEI:800000000000001", ClientAuthType::Md5);
    md5.password = "Cl1entPassw0rd-md5".into();
    md5.server_password = Some("S3rverPassw0rd-md5".into());
    md5.client_nonce = Nonce::new(b"KnownClientNonce-1".to_vec());
    md5.server_nonce = Nonce::new(b"KnownServerNonce-1".to_vec());
    let mut basic = DeviceCreds::new("IMEI:800000000000002", ClientAuthType::Basic);
    basic.password = "Cl1entPassw0rd-basic".into();
    let mut hmac = DeviceCreds::new("IMEI:800000000000003", ClientAuthType::Hmac);
    hmac.password = "Cl1entPassw0rd-hmac".into();
    hmac.server_password = Some("S3rverPassw0rd-hmac".into());
    hmac.client_nonce = Nonce::new(b"KnownClientNonce-3".to_vec());
    let mut tokens = Vec::new();
    let mut sent_nonces = Vec::new();
    for creds in [&md5, &basic, &hmac] {
        server.add_device(creds).await;
        let spec = CommandSpec {
            op: Some(Op::Get),
            target: Some("./DevDetail/SwV".into()),
            ..CommandSpec::default()
        };
        server.store.enqueue_command(&creds.device_id, &spec, 1).await.unwrap();
        let mut dev = Client::new(&server, creds.clone());
        let p1 = dev.package1();
        let p2 = dev.send(&p1).await;
        if let Some(uri) = &p2.hdr.resp_uri {
            tokens.push(uri.split("s=").nth(1).unwrap().to_owned());
        }
        sent_nonces.push(dev.creds.client_nonce.to_b64());
        let p3 = dev.reply(&p2, &[("./DevDetail/SwV", "2.0.1")]);
        dev.send(&p3).await;
        sent_nonces.push(dev.creds.client_nonce.to_b64());
    }
    // The admin API with its token, and a wrong password.
    assert_eq!(admin_api(&server, "GET", "/api/v1/devices", None).await.0, 200);
    let mut liar = md5.clone();
    liar.password = "Wr0ngPassw0rd-liar".into();
    let p = Client::new(&server, liar.clone()).package1();
    Client::new(&server, liar.clone()).send(&p).await;
    server.stop().await;

    let text = String::from_utf8(text.0.lock().unwrap().clone()).unwrap();
    let json = String::from_utf8(json.0.lock().unwrap().clone()).unwrap();
    assert!(text.lines().count() > 20, "TRACE captured little:\n{text}");

    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut secrets: Vec<String> = vec!["test-token".into()];
    for c in [&md5, &basic, &hmac, &liar] {
        secrets.push(c.password.clone());
        secrets.push(auth::md5_secret(&c.username, &c.password).expose().to_owned());
        secrets.push(auth::basic::encode(&c.username, &c.password).expose().to_owned());
        secrets.push(auth::md5::cred_data(&c.username, &c.password, c.client_nonce.as_bytes()));
        if let Some(p) = &c.server_password {
            secrets.push(p.clone());
            secrets.push(auth::md5_secret("omadm", p).expose().to_owned());
        }
        for n in [&c.client_nonce, &c.server_nonce] {
            secrets.push(n.to_b64());
            secrets.push(String::from_utf8_lossy(n.as_bytes()).into_owned());
        }
    }
    secrets.push(b64(b"KnownClientNonce-1"));
    secrets.extend(sent_nonces);
    secrets.extend(tokens.iter().cloned());
    assert_eq!(tokens.len(), 3);
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "secret {s:?} in the text log");
        assert!(!json.contains(s.as_str()), "secret {s:?} in the JSON log");
    }

    // The per-message line sits in the dm span: device and SessionID on it, in both formats.
    let line = text
        .lines()
        .find(|l| l.contains("DM message") && l.contains("IMEI:800000000000002"))
        .expect("the DM message line");
    assert!(line.contains("dm{device=IMEI:800000000000002 session=1F msg=1}"), "{line}");
    let refused = text.lines().find(|l| l.contains("Wr0ng") || l.contains("failed"));
    assert!(refused.is_none_or(|l| !l.contains("Wr0ng")));
    let mut in_span = 0;
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        if v["fields"]["message"] == "DM message" {
            assert_eq!(v["span"]["name"], "dm", "{l}");
            assert!(v["span"]["device"].as_str().unwrap().starts_with("IMEI:80000000000000"), "{l}");
            assert_eq!(v["span"]["session"], "1F", "{l}");
            in_span += 1;
        }
    }
    assert!(in_span >= 6, "{in_span} DM message lines in JSON");
}
