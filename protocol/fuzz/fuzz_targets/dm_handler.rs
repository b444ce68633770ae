//! The whole `POST /dm` handler, as the network reaches it: `omadm_server::serve::router` over an
//! in-memory SQLite store, driven with `tower::ServiceExt::oneshot`.
//!
//! Input layout: byte 0 picks the Content-Type, byte 1 the session token (`?s=`) and whether an
//! `x-syncml-hmac` header signed for the HMAC device is added; the rest is the body. Seeds are
//! the test vectors behind two such bytes (`seed.sh`).
//!
//! Checks: the handler never panics; the HTTP status is 200, 400, 413, 415 or 503; a 200 answer
//! is in the request's encoding, decodes, and carries a Status for the SyncHdr; an error answer
//! is `text/plain`.
//!
//! The store lives across inputs (that is how sessions reach packages 3 and 4): three devices
//! (basic auth as in `tests/vectors/cm_omadm_pkg1*`, MD5, HMAC), each kept with queued commands
//! (a Get, a Replace larger than a message, an Atomic), all recreated every `RESET_EVERY` inputs
//! so that memory stays bounded.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::{Command, Encoding, Limits, decode_as};
use omadm_server::app::App;
use omadm_server::config::Overrides;
use omadm_storage::{ClientAuthType, CommandSpec, Device, Op, Store};
use tower::ServiceExt;

/// The device of the captured vectors (`syncml:auth-basic`, devuser / devpw).
const BASIC: &str = "IMEI:001010123456789";
const MD5: &str = "IMEI:353000000000002";
const HMAC: &str = "IMEI:353000000000003";
const USER: &str = "devuser";
const PASS: &str = "devpw";
/// Inputs between two resets of the devices (and, by cascade, their sessions and commands).
const RESET_EVERY: u64 = 2048;

const CONTENT_TYPES: [Option<&str>; 8] = [
    Some("application/vnd.syncml.dm+xml"),
    Some("application/vnd.syncml.dm+wbxml"),
    Some("application/vnd.syncml+xml"),
    Some("application/vnd.syncml+wbxml"),
    None,
    Some("text/plain"),
    Some("application/vnd.syncml.dm+xml; charset=utf-8"),
    Some("APPLICATION/VND.SYNCML.DM+WBXML"),
];

struct Harness {
    rt: tokio::runtime::Runtime,
    store: Store,
    router: Router,
    inputs: AtomicU64,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (store, router) = rt.block_on(async {
            let store = Store::connect("sqlite::memory:").await.unwrap();
            store.migrate().await.unwrap();
            let mut config = Overrides::default().resolve().unwrap();
            config.database_url = "sqlite::memory:".into();
            config.server_id = "omadm".into();
            config.public_url = Some("http://dm.example".into());
            let app = App::new(store.clone(), std::sync::Arc::new(config));
            (store.clone(), omadm_server::serve::router(app))
        });
        let h = Harness { rt, store, router, inputs: AtomicU64::new(0) };
        h.rt.block_on(reset(&h.store));
        h
    })
}

/// (Re)create the three devices with fresh nonces and queued commands.
async fn reset(store: &Store) {
    for (id, auth) in
        [(BASIC, ClientAuthType::Basic), (MD5, ClientAuthType::Md5), (HMAC, ClientAuthType::Hmac)]
    {
        let _ = store.delete_device(id).await;
        store
            .create_device(&Device {
                device_id: id.into(),
                client_auth_type: auth,
                client_username: USER.into(),
                client_secret: auth::md5_secret(USER, PASS).expose().to_owned(),
                client_nonce: Nonce::new(b"clientnonce".to_vec()).to_b64(),
                server_id: "omadm".into(),
                // The MD5 device also authenticates the server (our Cred, its Chal).
                server_secret: (auth == ClientAuthType::Md5)
                    .then(|| auth::md5_secret("omadm", "srvpw").expose().to_owned()),
                server_nonce: Nonce::new(b"servernonce".to_vec()).to_b64(),
                dm_version: None,
                created_at: 0,
                updated_at: 0,
                last_session_at: None,
            })
            .await
            .unwrap();
        enqueue(store, id).await;
    }
}

async fn enqueue(store: &Store, id: &str) {
    let get = CommandSpec { op: Some(Op::Get), target: Some("./DevDetail/SwV".into()), ..Default::default() };
    let big = CommandSpec {
        op: Some(Op::Replace),
        target: Some("./Vendor/Blob".into()),
        data: Some("x".repeat(40_000)),
        ..Default::default()
    };
    let atomic = CommandSpec {
        op: Some(Op::Atomic),
        children: vec![
            CommandSpec { op: Some(Op::Delete), target: Some("./Vendor/Old".into()), ..Default::default() },
            CommandSpec { op: Some(Op::Exec), target: Some("./Vendor/Run".into()), ..Default::default() },
        ],
        ..Default::default()
    };
    for spec in [get, big, atomic] {
        store.enqueue_command(id, &spec, 0).await.unwrap();
    }
}

/// The token of the newest session of `device`, if any.
async fn latest_token(store: &Store, device: &str) -> Option<String> {
    store.list_sessions(device, 1).await.unwrap().into_iter().next().map(|s| s.token)
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let (ct, rest) = data.split_first().map_or((0, &[][..]), |(a, r)| (*a, r));
    let (sel, body) = rest.split_first().map_or((0, &[][..]), |(a, r)| (*a, r));
    let content_type = CONTENT_TYPES[usize::from(ct) % CONTENT_TYPES.len()];
    let n = h.inputs.fetch_add(1, Ordering::Relaxed);

    h.rt.block_on(async {
        if n > 0 && n % RESET_EVERY == 0 {
            reset(&h.store).await;
        } else if n % 64 == 0 {
            for id in [BASIC, MD5, HMAC] {
                if h.store.next_queued(id, 1).await.unwrap().is_empty() {
                    enqueue(&h.store, id).await;
                }
            }
        }
        let token = match sel & 0x07 {
            0 | 6 | 7 => None,
            1 => latest_token(&h.store, BASIC).await,
            2 => latest_token(&h.store, MD5).await,
            3 => latest_token(&h.store, HMAC).await,
            4 => Some("00000000000000000000000000000000".to_owned()),
            _ => Some("%27%20OR%201%3D1%20--%00%FF".to_owned()),
        };
        let mut req = Request::builder().method("POST").uri(match &token {
            Some(t) => format!("/dm?s={t}"),
            None => "/dm".to_owned(),
        });
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        if sel & 0x80 != 0 {
            // Signed as the HMAC device would sign it, with the nonce it was last given.
            let device = h.store.get_device(HMAC).await.unwrap().unwrap();
            let nonce = Nonce::from_b64(&device.client_nonce).unwrap();
            let secret = auth::md5_secret(USER, PASS);
            let hdr = auth::hmac::header(USER, &secret, nonce.as_bytes(), body);
            req = req.header(auth::hmac::HEADER_NAME, hdr.to_header_value());
        } else if sel & 0x40 != 0 {
            req = req.header(auth::hmac::HEADER_NAME, "algorithm=MD5, username=\"devuser\", mac=AAAA");
        }
        let req = req.body(Body::from(body.to_vec())).unwrap();
        let resp = h.router.clone().oneshot(req).await.unwrap();

        let status = resp.status();
        let answer_type =
            resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        match status {
            StatusCode::OK => {
                let encoding = content_type.and_then(Encoding::from_content_type).expect("200 for a DM type");
                assert_eq!(answer_type, encoding.content_type(), "answer in the request's encoding");
                let msg = decode_as(&bytes, encoding, &Limits::default())
                    .unwrap_or_else(|e| panic!("a 200 answer does not decode: {e}"));
                assert!(
                    msg.body.commands.iter().any(|c| matches!(c, Command::Status(s) if s.is_for_sync_hdr())),
                    "a 200 answer without a SyncHdr Status: {msg:?}"
                );
            }
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::SERVICE_UNAVAILABLE => {
                assert!(answer_type.starts_with("text/plain"), "error answer of type {answer_type:?}");
            }
            other => panic!("unexpected HTTP status {other}"),
        }
    });
});
