//! Waking devices end to end (issue 7): the admin API records a notification, the scheduler
//! pushes its package 0, the dispatcher submits it to a fake SMSC over SMPP, a test phone
//! reassembles the short messages, decodes the WSP push and package 0 and verifies the digest
//! with the device's server password and nonce, then opens a session with the notified
//! session id, which answers the notification. Also: retries and the DM 1.1.2 fallback with
//! short intervals, ending `gave_up`; a restart in the middle of a retry schedule; the
//! outstanding cap; `omadm notify build` against the FACTS.md K.2 vector.

mod common;

use std::time::Duration;

use common::smsc::{Inbox, smsc};
use common::{Client, DeviceCreds, Server, TempDir, admin_api};
use omadm_protocol::notification::{Initiator, NonceUsed, Notification, UiMode, verify_with_resync};
use omadm_protocol::push::{ApplicationId, MediaType, Ports, PushPdu, reassemble};
use omadm_protocol::{Command, DmVersion, StatusCode};
use omadm_server::config::Config;
use omadm_server::delivery::{DeliveryConfig, Secret, SmppConfig};
use omadm_server::dispatcher::Backoff;
use omadm_server::notify::NotificationConfig;
use omadm_storage::ClientAuthType;
use serde_json::{Value, json};

const DEVICE: &str = "IMEI:353000000000888";
const SERVER_PASSWORD: &str = "srvpw888";
const MSISDN: &str = "+491701234888";

fn path(device: &str) -> String {
    format!("/api/v1/devices/{}/notify", device.replace(':', "%3A"))
}

/// SMPP to the fake SMSC, and a notification schedule of `interval` waits.
fn with_notify(c: &mut Config, port: u16, interval: Duration, retries: u32, fallback_retries: u32) {
    c.push_backoff = Backoff { first: Duration::from_millis(200), max: Duration::from_millis(500) };
    c.delivery = DeliveryConfig {
        smpp: Some(SmppConfig::new(format!("127.0.0.1:{port}"), "omadm", Secret::new("secret"))),
        pap: None,
        http: None,
    };
    c.notification = NotificationConfig {
        retries,
        interval,
        jitter_pct: 0,
        fallback_retries,
        fallback_interval: interval,
        give_up: Duration::from_secs(120),
        max_outstanding: 100,
        max_per_second: None,
        poll: Duration::from_millis(20),
    };
}

fn creds(device: &str) -> DeviceCreds {
    let mut c = DeviceCreds::new(device, ClientAuthType::Md5);
    c.server_password = Some(SERVER_PASSWORD.into());
    c
}

async fn notification(server: &Server, id: i64) -> Value {
    let (status, n) = admin_api(server, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert_eq!(status, 200, "{n}");
    n
}

/// Wait until `done` holds for the notification (the scheduler and dispatcher run in the
/// background).
async fn wait_for(server: &Server, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..300 {
        let n = notification(server, id).await;
        if done(&n) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("notification {id} never got {what}: {}", notification(server, id).await);
}

/// What the phone makes of the SMS it got: each WSP push (reassembled from its segments; a
/// package 0 fits one SMS) and the package 0 in it.
fn phone_inbox(inbox: &Inbox) -> Vec<Vec<u8>> {
    inbox
        .lock()
        .unwrap()
        .iter()
        .map(|sms| {
            let (ports, wsp) = reassemble(std::slice::from_ref(sms)).unwrap();
            assert_eq!(ports.destination, Ports::WAP_PUSH, "to the WAP push port 2948");
            let pdu = PushPdu::decode(&wsp).unwrap();
            assert_eq!(pdu.content_type.media, MediaType::DmNotification, "content type 0xC4");
            assert_eq!(pdu.application_id, Some(ApplicationId::SYNCML_DM), "application id 0x07");
            pdu.body
        })
        .collect()
}

/// The device's check (FACTS E.2): the digest with its SRVCRED password and nonce.
fn device_checks(pkg0: &[u8], creds: &DeviceCreds) -> Notification {
    let used = verify_with_resync(pkg0, "omadm", SERVER_PASSWORD, creds.server_nonce.as_bytes());
    assert_eq!(used, Some(NonceUsed::Stored), "the digest verifies with the stored nonce");
    assert_eq!(verify_with_resync(pkg0, "omadm", "wrong", creds.server_nonce.as_bytes()), None);
    let (_, n) = Notification::decode(pkg0).unwrap();
    assert_eq!((n.version.value(), n.initiator, n.server_id.as_str()), (11, Initiator::Server, "omadm"));
    n
}

/// Rule (FACTS E.1-E.3; issue 7): package 0 goes out as WAP push over SMS, verifies with the
/// device's server credentials, and the session that echoes its session id answers it.
async fn wakes_a_device(server: Server, inbox: Inbox) {
    let creds = creds(DEVICE);
    server.add_device(&creds).await;
    let req = json!({ "ui_mode": "background", "msisdn": MSISDN, "channel": "smpp" });
    let (status, n) = admin_api(&server, "POST", &path(DEVICE), Some(req)).await;
    assert_eq!(status, 202, "{n}");
    assert_eq!((n["state"].as_str(), n["dm_version"].as_str()), (Some("queued"), Some("1.2")));
    let id = n["id"].as_i64().unwrap();
    let n = wait_for(&server, id, "its push accepted", |n| n["push_state"] == "accepted").await;
    assert_eq!((n["state"].as_str(), n["attempts"].as_u64()), (Some("sent"), Some(1)), "{n}");

    let pushes = phone_inbox(&inbox);
    assert_eq!(pushes.len(), 1);
    let pkg0 = device_checks(&pushes[0], &creds);
    assert_eq!(pkg0.ui_mode, UiMode::Background);
    assert_eq!(pkg0.session_id_hex(), n["session_id_hex"].as_str().unwrap());

    // The number is stored for later requests.
    let (_, t) = admin_api(&server, "GET", &path(DEVICE), None).await;
    assert_eq!(
        (t["target"]["msisdn"].as_str(), t["target"]["dm_version"].as_str()),
        (Some(MSISDN), Some("1.2"))
    );

    // Woken: the device opens a session with the notified session id.
    let mut device = Client::new(&server, creds);
    device.session_id = pkg0.session_id_hex();
    let pkg1 = device.package1();
    let answer = device.send(&pkg1).await;
    let Command::Status(hdr) = &answer.body.commands[0] else { panic!("no SyncHdr status") };
    assert_eq!(hdr.data, StatusCode::AuthenticationAccepted);
    let n = notification(&server, id).await;
    assert_eq!(n["state"], "session_opened", "{n}");
    assert_eq!(n["answered_session_id"], n["session_id_hex"]);
    assert_eq!(n["next_attempt_at"], Value::Null);
    let q = format!("/api/v1/notifications?device_id={}&state=session_opened", DEVICE.replace(':', "%3A"));
    let (_, list) = admin_api(&server, "GET", &q, None).await;
    assert_eq!(list.as_array().map(|l| l.len()), Some(1), "{list}");
    server.stop().await;
}

#[tokio::test]
async fn a_notification_wakes_a_device_sqlite() {
    let (port, inbox) = smsc().await;
    let server = Server::sqlite_with(|c| with_notify(c, port, Duration::from_secs(60), 2, 1)).await;
    wakes_a_device(server, inbox).await;
}

#[tokio::test]
async fn a_notification_wakes_a_device_postgres() {
    let Some(base) = common::pg_url() else { return };
    let url = common::fresh_pg_db(&base).await;
    let (port, inbox) = smsc().await;
    let mut c = common::config(&url);
    with_notify(&mut c, port, Duration::from_secs(60), 2, 1);
    wakes_a_device(Server::start(c).await, inbox).await;
    common::drop_pg_db(&base, &url).await;
}

/// Rule (issue 7): unanswered, a DM 1.2 notification is re-sent `retries` times, then sent as
/// DM 1.1.2 `fallback_retries` times, then given up; the device is remembered as DM 1.1.2.
async fn retries_fall_back_and_give_up(server: Server, inbox: Inbox) {
    let creds = creds(DEVICE);
    server.add_device(&creds).await;
    let (status, n) = admin_api(&server, "POST", &path(DEVICE), Some(json!({ "msisdn": MSISDN }))).await;
    assert_eq!(status, 202, "{n}");
    let id = n["id"].as_i64().unwrap();
    let n = wait_for(&server, id, "gave_up", |n| n["state"] == "gave_up").await;
    assert_eq!(
        (n["attempts"].as_u64(), n["fallback_attempts"].as_u64(), n["dm_version"].as_str()),
        (Some(3), Some(1), Some("1.1.2")),
        "{n}"
    );
    assert_eq!(n["push_ids"].as_array().unwrap().len(), 3);
    // Every send reaches the SMSC; each verifies, with the notification's one session id.
    wait_for(&server, id, "its last push accepted", |n| n["push_state"] == "accepted").await;
    let pushes = phone_inbox(&inbox);
    assert_eq!(pushes.len(), 3);
    for p in &pushes {
        assert_eq!(device_checks(p, &creds).session_id_hex(), n["session_id_hex"].as_str().unwrap());
    }
    // Remembered: managed with DM 1.1.2, and the next notification starts there.
    let (_, t) = admin_api(&server, "GET", &path(DEVICE), None).await;
    assert_eq!(t["target"]["dm_version"], "1.1.2", "{t}");
    let (_, next) = admin_api(&server, "POST", &path(DEVICE), Some(json!({}))).await;
    assert_eq!(next["dm_version"], "1.1.2", "{next}");
    server.stop().await;
}

#[tokio::test]
async fn unanswered_notifications_retry_fall_back_and_give_up_sqlite() {
    let (port, inbox) = smsc().await;
    let server = Server::sqlite_with(|c| with_notify(c, port, Duration::from_millis(150), 1, 1)).await;
    retries_fall_back_and_give_up(server, inbox).await;
}

#[tokio::test]
async fn unanswered_notifications_retry_fall_back_and_give_up_postgres() {
    let Some(base) = common::pg_url() else { return };
    let url = common::fresh_pg_db(&base).await;
    let (port, inbox) = smsc().await;
    let mut c = common::config(&url);
    with_notify(&mut c, port, Duration::from_millis(150), 1, 1);
    retries_fall_back_and_give_up(Server::start(c).await, inbox).await;
    common::drop_pg_db(&base, &url).await;
}

/// Rule (issue 7): the schedule is in the database: a server stopped after the first send
/// and started again carries on with the retries, not from the start.
#[tokio::test]
async fn a_restart_resumes_the_retry_schedule() {
    let dir = TempDir::new("notify-restart");
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let (port, inbox) = smsc().await;
    let mut c = common::config(&url);
    with_notify(&mut c, port, Duration::from_millis(1500), 2, 0);
    let server = Server::start(c.clone()).await;
    server.add_device(&creds(DEVICE)).await;
    let (_, n) = admin_api(&server, "POST", &path(DEVICE), Some(json!({ "msisdn": MSISDN }))).await;
    let id = n["id"].as_i64().unwrap();
    let n = wait_for(&server, id, "sent", |n| n["state"] == "sent").await;
    assert_eq!(n["attempts"], 1);
    server.stop().await;

    // Down past the next send's time; the row still says where the schedule stood.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let server = Server::start(c).await;
    let n = wait_for(&server, id, "gave_up", |n| n["state"] == "gave_up").await;
    assert_eq!((n["attempts"].as_u64(), n["fallback_attempts"].as_u64()), (Some(3), Some(0)), "{n}");
    wait_for(&server, id, "its last push accepted", |n| n["push_state"] == "accepted").await;
    assert_eq!(phone_inbox(&inbox).len(), 3, "one first send and two retries, none repeated");
    server.stop().await;
}

/// Rule (issue 7): no more than `max_outstanding` notifications are out unanswered; the others
/// wait `queued` and go when one is answered.
#[tokio::test]
async fn the_outstanding_cap_holds_notifications_back() {
    let (port, inbox) = smsc().await;
    let server = Server::sqlite_with(|c| {
        with_notify(c, port, Duration::from_secs(60), 0, 0);
        c.notification.max_outstanding = 1;
    })
    .await;
    let other = "IMEI:353000000000999";
    let (a, b) = (creds(DEVICE), creds(other));
    server.add_device(&a).await;
    server.add_device(&b).await;
    let (_, first) = admin_api(&server, "POST", &path(DEVICE), Some(json!({ "msisdn": MSISDN }))).await;
    let first = wait_for(&server, first["id"].as_i64().unwrap(), "sent", |n| n["state"] == "sent").await;
    let (_, second) =
        admin_api(&server, "POST", &path(other), Some(json!({ "msisdn": "+491709999999" }))).await;
    let second_id = second["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notification(&server, second_id).await["state"], "queued", "held back by the cap");

    // The first device answers (any session does): the second goes out.
    let mut device = Client::new(&server, a);
    let pkg1 = device.package1();
    device.send(&pkg1).await;
    assert_eq!(notification(&server, first["id"].as_i64().unwrap()).await["state"], "session_opened");
    wait_for(&server, second_id, "sent", |n| n["state"] == "sent").await;
    wait_for(&server, second_id, "its push accepted", |n| n["push_state"] == "accepted").await;
    assert_eq!(phone_inbox(&inbox).len(), 2);
    server.stop().await;
}

/// Rule (issue 7): a device that opens a DM 1.1.2 session is notified with DM 1.1.2 from then on.
#[tokio::test]
async fn a_dm112_session_marks_the_device_dm112() {
    let server = Server::sqlite().await;
    let creds = creds(DEVICE);
    server.add_device(&creds).await;
    let mut device = Client::new(&server, creds);
    device.version = DmVersion::V1_1_2;
    let pkg1 = device.package1();
    let answer = device.send(&pkg1).await;
    let Command::Status(hdr) = &answer.body.commands[0] else { panic!("no SyncHdr status") };
    assert_eq!(hdr.data, StatusCode::AuthenticationAccepted);
    let (status, t) = admin_api(&server, "GET", &path(DEVICE), None).await;
    assert_eq!((status, t["target"]["dm_version"].as_str()), (200, Some("1.1.2")), "{t}");
    server.stop().await;
}

/// Requests that cannot be honoured are refused, saying why, and store nothing.
#[tokio::test]
async fn bad_notify_requests_are_refused() {
    let server = Server::sqlite().await;
    let mut no_server_auth = creds(DEVICE);
    no_server_auth.server_password = None;
    server.add_device(&no_server_auth).await;
    server.add_device(&creds("IMEI:2")).await;
    let cases = [
        (DEVICE, json!({ "msisdn": MSISDN }), 400, "server credentials"),
        ("IMEI:2", json!({}), 400, "msisdn"),
        ("IMEI:2", json!({ "msisdn": "0170 123" }), 400, "msisdn"),
        ("IMEI:2", json!({ "msisdn": MSISDN, "ui_mode": "loud" }), 400, "ui_mode"),
        ("IMEI:2", json!({ "msisdn": MSISDN, "dm_version": "2.0" }), 400, "dm_version"),
        ("IMEI:2", json!({ "msisdn": MSISDN, "policy": { "retries": 1000 } }), 400, "retries"),
        ("IMEI:2", json!({ "msisdn": MSISDN, "bogus": 1 }), 400, "bogus"),
        ("IMEI:3", json!({ "msisdn": MSISDN }), 404, "IMEI:3"),
    ];
    for (device, body, code, needle) in cases {
        let (status, answer) = admin_api(&server, "POST", &path(device), Some(body)).await;
        assert_eq!(status, code, "{answer}");
        assert!(answer.to_string().contains(needle), "{needle}: {answer}");
    }
    let (_, list) = admin_api(&server, "GET", "/api/v1/notifications", None).await;
    assert_eq!(list, json!([]));
    let (status, _) = admin_api(&server, "GET", "/api/v1/notifications?state=lost", None).await;
    assert_eq!(status, 400);
    let (status, _) = admin_api(&server, "GET", "/api/v1/notifications/99", None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

fn omadm(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_omadm")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// FACTS.md K.2 / E.3: the spec layout with password `srvpwd`, nonce `srvnonce`, session
/// 0x1234, ui-mode 1, initiator 0, and the SMS user data around it.
#[test]
fn notify_build_prints_the_facts_vector() {
    let (ok, out, err) = omadm(&[
        "notify",
        "build",
        "--server-id",
        "com.mgmtsrv.manage",
        "--server-password",
        "srvpwd",
        "--nonce",
        "c3J2bm9uY2U=",
        "--session-id",
        "0x1234",
        "--ui-mode",
        "background",
        "--initiator",
        "client",
        "--version",
        "1.1.2",
    ]);
    assert!(ok, "{err}");
    let pkg0 = "2e84b4d47d65793a313fb4b5ffcbaac502d0000000123412636f6d2e6d676d747372762e6d616e616765";
    assert!(out.contains(&format!("package 0:     {pkg0}")), "{out}");
    assert!(out.contains(&format!("wsp push:      010603c4af87{pkg0}")), "{out}");
    // UDH: ports 2948 <- 9200 (the spec example's source port is free, FACTS F.2).
    assert!(out.contains(&format!("sms 1/1:       0605040b8423f0010603c4af87{pkg0}")), "{out}");
    assert!(out.contains("device echoes 1234"), "{out}");
    let (ok, _, err) = omadm(&[
        "notify",
        "build",
        "--server-id",
        "s",
        "--server-password",
        "p",
        "--nonce",
        "!!",
        "--session-id",
        "1",
    ]);
    assert!(!ok && err.contains("nonce"), "{err}");
    let (ok, _, err) = omadm(&[
        "notify",
        "build",
        "--server-id",
        "s",
        "--server-password",
        "p",
        "--nonce",
        "AA==",
        "--session-id",
        "0",
    ]);
    assert!(!ok && err.contains("session-id"), "{err}");
}

/// `omadm notify send` and `list` work on the database, like the API.
#[tokio::test]
async fn notify_send_and_list_from_the_command_line() {
    let dir = TempDir::new("notify-cli");
    let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
    let server = Server::start(common::config(&url)).await;
    server.add_device(&creds(DEVICE)).await;
    server.stop().await;
    let (ok, out, err) = omadm(&[
        "notify",
        "send",
        DEVICE,
        "--msisdn",
        MSISDN,
        "--ui-mode",
        "informative",
        "--database-url",
        &url,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("notification 1 for IMEI:353000000000888") && out.contains("queued"), "{out}");
    let (ok, out, err) = omadm(&["notify", "list", "--json", "--database-url", &url]);
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((list[0]["ui_mode"].as_u64(), list[0]["msisdn"].as_str()), (Some(2), Some(MSISDN)));
    let (ok, _, err) = omadm(&["notify", "list", "--state", "lost", "--database-url", &url]);
    assert!(!ok && err.contains("state"), "{err}");
}

/// A bootstrap's number is the device's notification target: a later notify needs none.
#[tokio::test]
async fn a_bootstrapped_device_is_notified_at_its_bootstrap_number() {
    let (port, _inbox) = smsc().await;
    let server = Server::sqlite_with(|c| {
        with_notify(c, port, Duration::from_secs(60), 0, 0);
        c.public_url = Some("http://dm.example.com".into());
    })
    .await;
    let bootstrap = json!({
        "profile": "cp",
        "msisdn": MSISDN,
        "security": { "method": "userpin", "pin": "1234" },
        "client_auth": { "username": "dev888" },
    });
    let bpath = format!("/api/v1/devices/{}/bootstrap", DEVICE.replace(':', "%3A"));
    let (status, view) = admin_api(&server, "POST", &bpath, Some(bootstrap)).await;
    assert_eq!(status, 202, "{view}");
    let (status, n) = admin_api(&server, "POST", &path(DEVICE), Some(json!({}))).await;
    assert_eq!(status, 202, "{n}");
    assert_eq!(n["msisdn"], MSISDN);
    server.stop().await;
}

/// An operator endpoint for the HTTP callback channel: answers 202 to every POST and keeps
/// the JSON bodies.
async fn callback_endpoint() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let body = loop {
                if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    break None;
                }
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    assert!(head.contains("authorization: bearer cb-token"), "{head}");
                    break Some(buf[end + 4..end + 4 + len].to_vec());
                }
            };
            if let Some(body) = body {
                sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                let _ = stream.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await;
            }
        }
    });
    (port, got)
}

/// Rule (issue 7): a device no SMS reaches is notified by an HTTP callback to the operator's
/// URL, with the same package 0 the SMS would carry.
#[tokio::test]
async fn a_device_without_sms_is_notified_by_http_callback() {
    use base64::Engine as _;
    let (port, posts) = callback_endpoint().await;
    let server = Server::sqlite_with(|c| {
        with_notify(c, 1, Duration::from_secs(30), 0, 0);
        c.delivery = DeliveryConfig {
            smpp: None,
            pap: None,
            http: Some(omadm_server::delivery::CallbackConfig {
                url: format!("http://127.0.0.1:{port}/omadm/push"),
                token: Some(Secret::new("cb-token")),
                ca_file: None,
                timeout_ms: 5000,
            }),
        };
    })
    .await;
    let creds = creds(DEVICE);
    server.add_device(&creds).await;
    let (status, n) = admin_api(&server, "POST", &path(DEVICE), Some(json!({ "channel": "http" }))).await;
    assert_eq!(status, 202, "{n}");
    let id = n["id"].as_i64().unwrap();
    wait_for(&server, id, "its push accepted", |n| n["push_state"] == "accepted").await;
    let posts = posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post["device_id"], DEVICE);
    assert_eq!(post["content_type"], "application/vnd.syncml.notification");
    assert_eq!(post["application_id"], "x-wap-application:syncml.dm");
    let pkg0 = base64::engine::general_purpose::STANDARD.decode(post["body_b64"].as_str().unwrap()).unwrap();
    let n = device_checks(&pkg0, &creds);
    assert_eq!(n.session_id_hex(), notification(&server, id).await["session_id_hex"].as_str().unwrap());
    server.stop().await;
}

/// Rule (FACTS.md E.2, nonce resynchronisation): a device that could verify our package 0 only
/// with nonce 0x00000000 authenticates with that nonce; the server accepts it while the device
/// has a notification open, and never otherwise.
#[tokio::test]
async fn a_device_resynchronising_its_nonce_after_a_notification_is_accepted() {
    let (port, _inbox) = smsc().await;
    let server = Server::sqlite_with(|c| with_notify(c, port, Duration::from_secs(30), 0, 0)).await;
    let creds = creds(DEVICE);
    server.add_device(&creds).await;
    let mut zeroed = creds.clone();
    zeroed.client_nonce = omadm_protocol::auth::Nonce::new(vec![0; 4]);

    // No notification open: the zero nonce is just a wrong credential.
    let mut device = Client::new(&server, zeroed.clone());
    let pkg1 = device.package1();
    let answer = device.send(&pkg1).await;
    let Command::Status(hdr) = &answer.body.commands[0] else { panic!("no SyncHdr status") };
    assert_eq!(hdr.data, StatusCode::InvalidCredentials);

    let req = json!({ "msisdn": MSISDN });
    let (status, n) = admin_api(&server, "POST", &path(DEVICE), Some(req)).await;
    assert_eq!(status, 202, "{n}");
    let mut device = Client::new(&server, zeroed);
    device.session_id = n["session_id_hex"].as_str().unwrap().to_owned();
    let pkg1 = device.package1();
    let answer = device.send(&pkg1).await;
    let Command::Status(hdr) = &answer.body.commands[0] else { panic!("no SyncHdr status") };
    assert_eq!(hdr.data, StatusCode::AuthenticationAccepted);
    // A fresh nonce for the next session came with the 212.
    assert_ne!(device.creds.client_nonce.as_bytes(), &[0; 4][..]);
    let n = notification(&server, n["id"].as_i64().unwrap()).await;
    assert_eq!(n["state"], "session_opened", "{n}");
    server.stop().await;
}
