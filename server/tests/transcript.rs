//! Session transcripts: every message of a session, both ways, readable as XML through the
//! admin API whatever the wire encoding, with credentials and nonces redacted; none kept when
//! the retention is 0.

mod common;

use common::{Client, DeviceCreds, Server, admin_api};
use omadm_protocol::Encoding;
use omadm_storage::ClientAuthType;

const DEVICE: &str = "IMEI:100000000000042";

fn session_path(server_session: &str) -> String {
    format!("/api/v1/devices/{}/sessions/{server_session}/transcript", DEVICE.replace(':', "%3A"))
}

/// One WBXML session with MD5 authentication and a Get answered: four messages.
async fn run_session(server: &Server) -> DeviceCreds {
    let mut creds = DeviceCreds::new(DEVICE, ClientAuthType::Md5);
    creds.password = "very-secret-pw".into();
    server.add_device(&creds).await;
    let get = omadm_storage::CommandSpec {
        op: Some(omadm_storage::Op::Get),
        target: Some("./DevDetail/SwV".into()),
        ..Default::default()
    };
    server.store.enqueue_command(DEVICE, &get, 1).await.unwrap();
    let mut dev = Client::new(server, creds.clone());
    dev.encoding = Encoding::Wbxml;
    let pkg1 = dev.package1();
    let pkg2 = dev.send(&pkg1).await;
    let pkg3 = dev.reply(&pkg2, &[("./DevDetail/SwV", "2.0.1")]);
    dev.send(&pkg3).await;
    creds
}

/// Rule (issue 9): a support engineer reads a failing device's messages without a capture,
/// and never its secrets.
#[tokio::test]
async fn a_session_is_kept_as_redacted_xml() {
    let server = Server::sqlite().await;
    let creds = run_session(&server).await;
    let (status, sessions) =
        admin_api(&server, "GET", &format!("/api/v1/devices/{}/sessions", DEVICE.replace(':', "%3A")), None)
            .await;
    assert_eq!(status, 200);
    let id = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    let (status, t) = admin_api(&server, "GET", &session_path(&id), None).await;
    assert_eq!(status, 200, "{t}");
    let messages = t["messages"].as_array().unwrap();
    let seen: Vec<(u64, &str, &str)> = messages
        .iter()
        .map(|m| {
            (m["seq"].as_u64().unwrap(), m["direction"].as_str().unwrap(), m["encoding"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        [(1, "device", "wbxml"), (2, "server", "wbxml"), (3, "device", "wbxml"), (4, "server", "wbxml")]
    );
    let all: String = messages.iter().map(|m| m["xml"].as_str().unwrap()).collect();
    assert!(all.contains("<Get>") && all.contains("./DevDetail/SwV") && all.contains("2.0.1"), "{all}");
    assert!(all.contains("[redacted]"), "the Cred and the NextNonce are replaced");
    assert!(!all.contains("very-secret-pw"));
    let stored_digest =
        omadm_protocol::auth::md5::cred_data(&creds.username, &creds.password, creds.client_nonce.as_bytes());
    assert!(!all.contains(&stored_digest), "the device's digest is not kept");
    assert!(!all.contains("Y2xpZW50bm9uY2U"), "no nonce is kept");
    // Each message is a DM message again.
    for m in messages {
        omadm_protocol::decode(m["xml"].as_str().unwrap().as_bytes(), &omadm_protocol::Limits::default())
            .unwrap();
    }
    let (status, _) = admin_api(&server, "GET", &session_path("0000000000000000"), None).await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn no_transcript_with_zero_retention() {
    let server = Server::sqlite_with(|c| c.transcript_retention = None).await;
    run_session(&server).await;
    let (_, sessions) =
        admin_api(&server, "GET", &format!("/api/v1/devices/{}/sessions", DEVICE.replace(':', "%3A")), None)
            .await;
    let id = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    let (status, t) = admin_api(&server, "GET", &session_path(&id), None).await;
    assert_eq!(status, 200);
    assert_eq!(t["messages"], serde_json::json!([]));
    server.stop().await;
}
