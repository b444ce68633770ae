//! The server under test, reached only over HTTP: the admin API (`/api/v1`) to register
//! devices, queue commands and read back what the device answered, and `/dm` for the
//! simulated devices of `omadm_conformance::devsim`.
//!
//! By default the subject is omadm itself, started in-process on `127.0.0.1:0` over a fresh
//! SQLite file. With `OMADM_TEST_SUBJECT_URL=http://host:port` (and
//! `OMADM_TEST_SUBJECT_TOKEN=<admin token>`) the same tests run against an external server;
//! tests that need a special server configuration are then skipped with a note.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use omadm_conformance::devsim::transport::{self, HttpRequest};
use omadm_conformance::devsim::{AuthKind, Device, DeviceConfig, ServerCredentials, SessionReport};
use omadm_protocol::auth::Nonce;
use serde_json::{Value, json};

/// Admin token of the in-process server.
const TOKEN: &str = "conformance-admin-token";

/// A temporary directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server under test.
pub struct Subject {
    /// `http://host:port`.
    pub base: String,
    token: Option<String>,
    /// Whether this is omadm started by the test (its configuration can be changed).
    pub in_process: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

/// 8 random bytes as hex.
fn token() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A DevId no other test (or earlier run against an external server) uses.
pub fn unique_device_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("IMEI:{tag}-{}-{}", token(), N.fetch_add(1, Ordering::Relaxed))
}

/// What the server is told about a device (`POST /api/v1/devices`).
#[derive(Clone, Debug)]
pub struct Registration {
    pub device_id: String,
    pub kind: AuthKind,
    pub username: String,
    pub password: String,
    pub nonce: Nonce,
    pub server_password: Option<String>,
    pub server_nonce: Option<Nonce>,
}

impl Registration {
    /// The registration matching a device's configuration.
    pub fn of(c: &DeviceConfig) -> Registration {
        Registration {
            device_id: c.device_id.clone(),
            kind: c.client.kind,
            username: c.client.username.clone(),
            password: c.client.password.clone(),
            nonce: c.client.nonce.clone(),
            server_password: c.server.as_ref().map(|s| s.password.clone()),
            server_nonce: c.server.as_ref().map(|s| s.nonce.clone()),
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({
            "device_id": self.device_id,
            "client_auth": {
                "type": self.kind.as_str(),
                "username": self.username,
                "password": self.password,
                "nonce": self.nonce.to_b64(),
            },
        });
        if let Some(p) = &self.server_password {
            let mut s = json!({ "password": p });
            if let Some(n) = &self.server_nonce {
                s["nonce"] = json!(n.to_b64());
            }
            v["server_auth"] = s;
        }
        v
    }
}

/// Percent-encode a path segment (RFC 3986 unreserved characters stay).
pub fn encode_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// 16 random bytes as a nonce.
pub fn random_nonce() -> Nonce {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).unwrap();
    Nonce::generate(b)
}

impl Subject {
    /// The subject: the external server of `OMADM_TEST_SUBJECT_URL`, else omadm in-process.
    pub async fn start() -> Subject {
        if let Some(s) = Subject::external() {
            return s;
        }
        Subject::in_process(|_| {}).await
    }

    /// omadm in-process with a configuration change; `None` (the test is skipped) when the
    /// subject is an external server, whose configuration the test cannot choose.
    pub async fn start_with(tweak: impl FnOnce(&mut omadm_server::config::Config)) -> Option<Subject> {
        if Subject::external().is_some() {
            eprintln!("skipped: needs a server configuration an external subject cannot be given");
            return None;
        }
        Some(Subject::in_process(tweak).await)
    }

    fn external() -> Option<Subject> {
        let url = std::env::var("OMADM_TEST_SUBJECT_URL").ok().filter(|u| !u.is_empty())?;
        Some(Subject {
            base: url.trim_end_matches('/').to_owned(),
            token: std::env::var("OMADM_TEST_SUBJECT_TOKEN").ok().filter(|t| !t.is_empty()),
            in_process: false,
            stop: None,
            task: None,
            _dir: None,
        })
    }

    async fn in_process(tweak: impl FnOnce(&mut omadm_server::config::Config)) -> Subject {
        let dir = std::env::temp_dir().join(format!("omadm-conformance-{}-{}", std::process::id(), token()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = TempDir(dir);
        let mut config = omadm_server::config::Overrides::default().resolve().unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database_url = format!("sqlite://{}", dir.0.join("omadm.db").display());
        config.admin_token = Some(TOKEN.into());
        tweak(&mut config);
        let store = omadm_storage::Store::connect(&config.database_url).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = omadm_server::app::App::new(store, Arc::new(config));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            omadm_server::serve::serve(listener, app, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Subject {
            base: format!("http://{addr}"),
            token: Some(TOKEN.into()),
            in_process: true,
            stop: Some(tx),
            task: Some(task),
            _dir: Some(dir),
        }
    }

    /// Stop an in-process server (an external one is left alone).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }

    /// The DM endpoint.
    pub fn dm_url(&self) -> String {
        format!("{}/dm", self.base)
    }

    /// Call the admin API; the answer's status and JSON body (`null` when empty).
    pub async fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut headers = Vec::new();
        if let Some(t) = &self.token {
            headers.push(("Authorization".to_owned(), format!("Bearer {t}")));
        }
        if body.is_some() {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        let req = HttpRequest {
            method: method.into(),
            url: format!("{}{path}", self.base),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        };
        let resp = transport::send(&req, Duration::from_secs(30)).await.expect("admin API reachable");
        let v = if resp.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
                panic!("{method} {path}: not JSON ({e}): {}", String::from_utf8_lossy(&resp.body))
            })
        };
        (resp.status, v)
    }

    /// Register a device; returns the device as the server shows it.
    pub async fn register(&self, r: &Registration) -> Value {
        let (status, v) = self.api("POST", "/api/v1/devices", Some(&r.json())).await;
        assert_eq!(status, 201, "registering {}: {v}", r.device_id);
        v
    }

    /// Queue a command (`{"op": ...}`); returns its id.
    pub async fn enqueue(&self, device_id: &str, cmd: Value) -> i64 {
        let path = format!("/api/v1/devices/{}/commands", encode_segment(device_id));
        let (status, v) = self.api("POST", &path, Some(&cmd)).await;
        assert_eq!(status, 201, "queueing {cmd}: {v}");
        v["id"].as_i64().expect("a command id")
    }

    /// A command with its state, Status, Results and children.
    pub async fn command(&self, device_id: &str, id: i64) -> Value {
        let path = format!("/api/v1/devices/{}/commands/{id}", encode_segment(device_id));
        let (status, v) = self.api("GET", &path, None).await;
        assert_eq!(status, 200, "reading command {id}: {v}");
        v
    }

    /// The device's Generic Alerts, newest first.
    pub async fn alerts(&self, device_id: &str) -> Vec<Value> {
        let path = format!("/api/v1/alerts?device_id={}", encode_segment(device_id));
        let (status, v) = self.api("GET", &path, None).await;
        assert_eq!(status, 200, "{v}");
        v["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// The device's sessions, newest first.
    pub async fn sessions(&self, device_id: &str) -> Vec<Value> {
        let path = format!("/api/v1/devices/{}/sessions", encode_segment(device_id));
        let (status, v) = self.api("GET", &path, None).await;
        assert_eq!(status, 200, "{v}");
        v["sessions"].as_array().cloned().unwrap_or_default()
    }

    /// The device's inventory.
    pub async fn inventory(&self, device_id: &str) -> Vec<Value> {
        let path = format!("/api/v1/devices/{}/inventory", encode_segment(device_id));
        let (status, v) = self.api("GET", &path, None).await;
        assert_eq!(status, 200, "{v}");
        v["inventory"].as_array().cloned().unwrap_or_default()
    }

    /// The device as the server shows it.
    pub async fn device_view(&self, device_id: &str) -> Value {
        let (status, v) =
            self.api("GET", &format!("/api/v1/devices/{}", encode_segment(device_id)), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    /// A registered simulated device authenticating with `kind` (random password and nonce).
    pub async fn device(&self, tag: &str, kind: AuthKind) -> Device {
        self.device_with(tag, |c| c.client.kind = kind, |_| {}).await
    }

    /// A registered simulated device: `config` adjusts the device, `registration` what the
    /// server is told (by default the same credentials).
    pub async fn device_with(
        &self,
        tag: &str,
        config: impl FnOnce(&mut DeviceConfig),
        registration: impl FnOnce(&mut Registration),
    ) -> Device {
        let mut c = DeviceConfig::new(&self.dm_url(), &unique_device_id(tag));
        c.client.password = format!("pw-{}", token());
        c.client.nonce = random_nonce();
        c.http_timeout = Duration::from_secs(20);
        config(&mut c);
        let mut r = Registration::of(&c);
        registration(&mut r);
        let view = self.register(&r).await;
        if let Some(sid) = view["server_id"].as_str() {
            c.server_id = sid.to_owned();
            c.account = sid.to_owned();
        }
        Device::new(c)
    }
}

/// Server credentials with a random password and nonce.
pub fn server_credentials() -> ServerCredentials {
    ServerCredentials { password: format!("srv-{}", token()), nonce: random_nonce() }
}

/// Fail with the session summary and every message when `ok` is false.
#[track_caller]
pub fn check(ok: bool, what: &str, report: &SessionReport) {
    assert!(ok, "{what}\n{report}\n{}", report.transcript());
}

/// The session must have ended normally with no protocol violation seen by the device.
#[track_caller]
pub fn completed(report: &SessionReport) {
    check(report.completed(), "the session did not complete", report);
    check(report.violations.is_empty(), "the server broke a rule", report);
}
