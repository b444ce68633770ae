//! Package 1 exactly as two real open-source DM clients sent it (protocol/tests/vectors, from
//! shared/vectors/clients), replayed byte for byte with their HTTP headers, gets the right first
//! answer: accepted (212, or 200 for HMAC) when the device is registered with the credentials
//! the client used, challenged (401 + Chal) when registered with others.

mod common;

use common::*;
use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::*;
use omadm_storage::{ClientAuthType, Device};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/tests/vectors/");

struct Capture {
    name: &'static str,
    file: &'static str,
    device_id: &'static str,
    auth: ClientAuthType,
    user: &'static str,
    password: &'static str,
    accepted: StatusCode,
}

const CAPTURES: &[Capture] = &[
    Capture {
        name: "cm_omadm_pkg1",
        file: "cm_omadm_pkg1.xml",
        device_id: "IMEI:001010123456789",
        auth: ClientAuthType::Basic,
        user: "devuser",
        password: "devpw",
        accepted: StatusCode::AuthenticationAccepted,
    },
    Capture {
        name: "cm_omadm_pkg1_DIGEST",
        file: "cm_omadm_pkg1_DIGEST.xml",
        device_id: "IMEI:001010123456789",
        auth: ClientAuthType::Md5,
        user: "devuser",
        password: "devpw",
        accepted: StatusCode::AuthenticationAccepted,
    },
    Capture {
        name: "cm_omadm_pkg1_HMAC",
        file: "cm_omadm_pkg1_HMAC.xml",
        device_id: "IMEI:001010123456789",
        auth: ClientAuthType::Hmac,
        user: "devuser",
        password: "devpw",
        accepted: StatusCode::Ok,
    },
    Capture {
        name: "cm_omadm_pkg1_wbxml",
        file: "cm_omadm_pkg1_wbxml.wbxml",
        device_id: "IMEI:001010123456789",
        auth: ClientAuthType::Basic,
        user: "devuser",
        password: "devpw",
        accepted: StatusCode::AuthenticationAccepted,
    },
    Capture {
        name: "libdmclient_xml",
        file: "libdmclient_xml.xml",
        device_id: "DMCtest",
        auth: ClientAuthType::Basic,
        user: "funambol",
        password: "funambol",
        accepted: StatusCode::AuthenticationAccepted,
    },
    Capture {
        name: "libdmclient_wbxml",
        file: "libdmclient_wbxml.wbxml",
        device_id: "DMCtest",
        auth: ClientAuthType::Basic,
        user: "funambol",
        password: "funambol",
        accepted: StatusCode::AuthenticationAccepted,
    },
];

/// The capture's request headers, minus the ones the HTTP client sets itself.
fn headers(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{VECTORS}{name}.headers.txt")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .filter(|(n, _)| !["host", "content-length"].contains(&n.to_ascii_lowercase().as_str()))
        .collect()
}

async fn register(server: &Server, c: &Capture, password: &str) {
    let now = omadm_server::app::now_millis();
    server
        .store
        .create_device(&Device {
            device_id: c.device_id.into(),
            client_auth_type: c.auth,
            client_username: c.user.into(),
            client_secret: auth::md5_secret(c.user, password).expose().to_owned(),
            client_nonce: Nonce::new(b"clientnonce".to_vec()).to_b64(),
            server_id: "testsrv".into(),
            server_secret: None,
            server_nonce: String::new(),
            dm_version: None,
            created_at: now,
            updated_at: now,
            last_session_at: None,
        })
        .await
        .unwrap();
}

async fn first_answer(server: &Server, c: &Capture) -> (http::Response, SyncMl) {
    let body = std::fs::read(format!("{VECTORS}{}", c.file)).unwrap();
    let version = std::fs::read_to_string(format!("{VECTORS}{}.headers.txt", c.name)).unwrap();
    let http_version =
        if version.lines().next().unwrap().ends_with("HTTP/1.0") { "HTTP/1.0" } else { "HTTP/1.1" };
    let r = http::request("POST", &server.dm_url(), http_version, &headers(c.name), &body).await;
    assert_eq!(r.status, 200, "{}: {}", c.name, String::from_utf8_lossy(&r.body));
    let m = decode(&r.body, &Limits::default()).unwrap();
    (r, m)
}

#[tokio::test]
async fn captured_package_one_is_accepted() {
    for c in CAPTURES {
        let server = Server::sqlite().await;
        register(&server, c, c.password).await;
        let (r, m) = first_answer(&server, c).await;
        // The answer uses the request's encoding (the DM content type for that encoding).
        let sent_wbxml = c.file.ends_with(".wbxml");
        assert_eq!(r.header("content-type").unwrap().ends_with("+wbxml"), sent_wbxml, "{}", c.name);
        assert_eq!(hdr_status(&m).data, c.accepted, "{}", c.name);
        let inv = server.store.list_inventory(c.device_id).await.unwrap();
        assert!(inv.iter().any(|i| i.uri == "./DevInfo/DevId"), "{}: DevInfo stored", c.name);
        server.stop().await;
    }
}

#[tokio::test]
async fn captured_package_one_with_other_password_is_challenged() {
    for c in CAPTURES {
        let server = Server::sqlite().await;
        register(&server, c, "another-password").await;
        let (_, m) = first_answer(&server, c).await;
        let s = hdr_status(&m);
        assert_eq!(s.data, StatusCode::InvalidCredentials, "{}", c.name);
        let chal = s.chal.as_ref().expect("a challenge");
        assert_eq!(
            chal.meta.type_.as_deref(),
            Some(omadm_server::session::auth::auth_type(c.auth).meta_type()),
            "{}",
            c.name
        );
        assert!(
            server.store.list_inventory(c.device_id).await.unwrap().is_empty(),
            "{}: nothing stored before auth",
            c.name
        );
        server.stop().await;
    }
}
