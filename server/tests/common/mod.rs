//! Test harness: the real server on a loopback port, over SQLite or PostgreSQL, and a scripted
//! DM client that reaches it only over HTTP.
#![allow(dead_code)]

pub mod http;
pub mod smsc;

use std::sync::Arc;
use std::time::Duration;

use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::*;
use omadm_server::app::App;
use omadm_server::config::{Config, Overrides};
use omadm_storage::{ClientAuthType, Device, Store};

/// A running server and its store.
pub struct Server {
    pub addr: std::net::SocketAddr,
    pub store: Store,
    pub app: App,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<TempDir>,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "omadm-{tag}-{}-{}",
            std::process::id(),
            omadm_server::app::random_token()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test configuration: loopback port 0.
pub fn config(database_url: &str) -> Config {
    let mut c = Overrides::default().resolve().unwrap();
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.database_url = database_url.to_owned();
    c.server_id = "omadm".into();
    c.admin_token = Some("test-token".into());
    c
}

impl Server {
    /// A server on a fresh SQLite file.
    pub async fn sqlite() -> Server {
        Server::sqlite_with(|_| {}).await
    }

    /// A server on a fresh SQLite file, with a configuration tweak.
    pub async fn sqlite_with(tweak: impl FnOnce(&mut Config)) -> Server {
        let dir = TempDir::new("server");
        let url = format!("sqlite://{}", dir.0.join("omadm.db").display());
        let mut c = config(&url);
        tweak(&mut c);
        let mut s = Server::start(c).await;
        s._dir = Some(dir);
        s
    }

    /// A server with this configuration (database created and migrated).
    pub async fn start(config: Config) -> Server {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let store = Store::connect(&config.database_url).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::new(store.clone(), Arc::new(config));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_app = app.clone();
        let task = tokio::spawn(async move {
            omadm_server::serve::serve(listener, serve_app, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Server { addr, store, app, stop: Some(tx), task: Some(task), _dir: None }
    }

    pub fn dm_url(&self) -> String {
        format!("http://{}/dm", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }

    /// Register a device directly in the store.
    pub async fn add_device(&self, d: &DeviceCreds) {
        let now = omadm_server::app::now_millis();
        self.store
            .create_device(&Device {
                device_id: d.device_id.clone(),
                client_auth_type: d.auth,
                client_username: d.username.clone(),
                client_secret: auth::md5_secret(&d.username, &d.password).expose().to_owned(),
                client_nonce: d.client_nonce.to_b64(),
                server_id: "omadm".into(),
                server_secret: d
                    .server_password
                    .as_ref()
                    .map(|p| auth::md5_secret("omadm", p).expose().to_owned()),
                server_nonce: d.server_nonce.to_b64(),
                dm_version: None,
                created_at: now,
                updated_at: now,
                last_session_at: None,
            })
            .await
            .unwrap();
    }
}

/// What a device knows about its account.
#[derive(Clone, Debug)]
pub struct DeviceCreds {
    pub device_id: String,
    pub auth: ClientAuthType,
    pub username: String,
    pub password: String,
    pub client_nonce: Nonce,
    pub server_password: Option<String>,
    pub server_nonce: Nonce,
}

impl DeviceCreds {
    pub fn new(device_id: &str, auth: ClientAuthType) -> DeviceCreds {
        DeviceCreds {
            device_id: device_id.into(),
            auth,
            username: "devuser".into(),
            password: "devpw".into(),
            client_nonce: Nonce::new(b"clientnonce".to_vec()),
            server_password: None,
            server_nonce: Nonce::new(b"servernonce".to_vec()),
        }
    }
}

/// A scripted DM client: builds messages, signs them, posts them, follows RespURI.
pub struct Client {
    pub creds: DeviceCreds,
    pub version: DmVersion,
    pub encoding: Encoding,
    pub url: String,
    pub session_id: String,
    pub msg_id: u32,
    pub max_msg_size: Option<u64>,
    /// Send credentials (set false to test the challenge).
    pub send_creds: bool,
    pub last_response: Option<SyncMl>,
    pub last_http: Option<http::Response>,
}

impl Client {
    pub fn new(server: &Server, creds: DeviceCreds) -> Client {
        Client {
            creds,
            version: DmVersion::V1_2,
            encoding: Encoding::Xml,
            url: server.dm_url(),
            session_id: "1F".into(),
            msg_id: 0,
            max_msg_size: Some(16_384),
            send_creds: true,
            last_response: None,
            last_http: None,
        }
    }

    pub fn header(&mut self) -> SyncHdr {
        self.msg_id += 1;
        let mut h = SyncHdr::new(
            self.version,
            self.session_id.clone(),
            self.msg_id,
            Location::uri(self.url.split('?').next().unwrap().to_owned()),
            Location { loc_uri: self.creds.device_id.clone(), loc_name: Some(self.creds.username.clone()) },
        );
        h.meta = self.max_msg_size.map(|m| Meta { max_msg_size: Some(m), ..Meta::default() });
        if self.send_creds {
            h.cred = match self.creds.auth {
                omadm_storage::ClientAuthType::Basic => Some(Cred {
                    meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-basic")),
                    data: auth::basic::encode(&self.creds.username, &self.creds.password).expose().to_owned(),
                }),
                omadm_storage::ClientAuthType::Md5 => Some(Cred {
                    meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-md5")),
                    data: auth::md5::cred_data(
                        &self.creds.username,
                        &self.creds.password,
                        self.creds.client_nonce.as_bytes(),
                    ),
                }),
                omadm_storage::ClientAuthType::Hmac => None,
            };
        }
        h
    }

    /// Package 1: Alert 1201 and the DevInfo Replace.
    pub fn package1(&mut self) -> SyncMl {
        let hdr = self.header();
        let devinfo = |leaf: &str, v: &str| Item {
            source: Some(Location::uri(format!("./DevInfo/{leaf}"))),
            meta: Some(Meta::with_format_and_type(Format::Chr, "text/plain")),
            data: Some(Data::from(v)),
            ..Item::default()
        };
        SyncMl {
            hdr,
            body: SyncBody {
                commands: vec![
                    Command::Alert(Alert {
                        cmd_id: 1,
                        no_resp: false,
                        cred: None,
                        data: AlertCode::ClientInitiatedMgmt,
                        correlator: None,
                        items: vec![],
                    }),
                    Command::Replace(ItemCommand {
                        cmd_id: 2,
                        items: vec![
                            devinfo("DevId", &self.creds.device_id.clone()),
                            devinfo("Man", "Acme"),
                            devinfo("Mod", "Rocket 3"),
                            devinfo("DmV", "1.2"),
                            devinfo("Lang", "en-US"),
                        ],
                        ..ItemCommand::default()
                    }),
                ],
                is_final: true,
            },
        }
    }

    /// Post a message; follow the RespURI; remember the server's nonce challenges.
    pub async fn send(&mut self, msg: &SyncMl) -> SyncMl {
        let body = encode(msg, self.encoding);
        self.send_bytes(body, self.encoding.content_type()).await
    }

    pub async fn send_bytes(&mut self, body: Vec<u8>, content_type: &str) -> SyncMl {
        let mut headers = vec![("Content-Type".to_owned(), content_type.to_owned())];
        if self.creds.auth == omadm_storage::ClientAuthType::Hmac && self.send_creds {
            let secret = auth::md5_secret(&self.creds.username, &self.creds.password);
            let h =
                auth::hmac::header(&self.creds.username, &secret, self.creds.client_nonce.as_bytes(), &body);
            headers.push(("x-syncml-hmac".into(), h.to_header_value()));
        }
        let resp = http::post(&self.url, &headers, &body).await;
        assert_eq!(resp.status, 200, "HTTP {}: {}", resp.status, String::from_utf8_lossy(&resp.body));
        let enc = Encoding::from_content_type(resp.header("content-type").unwrap()).unwrap();
        assert_eq!(enc, self.encoding, "the answer uses the request's encoding");
        let msg = decode(&resp.body, &Limits::default()).unwrap();
        self.absorb(&msg);
        self.last_http = Some(resp);
        self.last_response = Some(msg.clone());
        msg
    }

    /// Take RespURI and NextNonce from a server message.
    pub fn absorb(&mut self, msg: &SyncMl) {
        if let Some(r) = &msg.hdr.resp_uri {
            self.url = r.clone();
        }
        for c in &msg.body.commands {
            if let Command::Status(s) = c
                && s.is_for_sync_hdr()
                && let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref())
            {
                self.creds.client_nonce = Nonce::from_b64(n).unwrap();
            }
        }
    }

    /// A reply to a server message: Status for its header and every command, Results for Gets
    /// from `tree` (URI -> value), answered with `code` unless the tree lacks the node (404).
    pub fn reply(&mut self, server: &SyncMl, tree: &[(&str, &str)]) -> SyncMl {
        let hdr = self.header();
        let mut commands = Vec::new();
        let mut id = 1;
        let status = |id: u32, cmd_ref: u32, cmd: &str, code: StatusCode| {
            Command::Status(Status {
                cmd_id: id,
                msg_ref: Some(server.hdr.msg_id),
                cmd_ref: Some(cmd_ref),
                cmd: cmd.into(),
                target_ref: vec![],
                source_ref: vec![],
                cred: None,
                chal: None,
                data: code,
                items: vec![],
            })
        };
        let hdr_code =
            if server.hdr.cred.is_some() { StatusCode::AuthenticationAccepted } else { StatusCode::Ok };
        commands.push(status(id, 0, "SyncHdr", hdr_code));
        id += 1;
        let mut results = Vec::new();
        fn walk(cmds: &[Command], out: &mut Vec<(u32, &'static str, Option<String>)>) {
            for c in cmds {
                let target = match c {
                    Command::Get(g) => {
                        g.items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.clone())
                    }
                    _ => None,
                };
                match c {
                    Command::Status(_) | Command::Results(_) => {}
                    Command::Atomic(x) | Command::Sequence(x) => {
                        out.push((x.cmd_id, c.name(), None));
                        walk(&x.commands, out);
                    }
                    _ => out.push((c.cmd_id().unwrap(), c.name(), target)),
                }
            }
        }
        let mut todo = Vec::new();
        walk(&server.body.commands, &mut todo);
        for (cmd_id, name, get_target) in todo {
            let code = match &get_target {
                Some(t) => match tree.iter().find(|(u, _)| u == t) {
                    Some((u, v)) => {
                        results.push((cmd_id, u.to_string(), v.to_string()));
                        StatusCode::Ok
                    }
                    None => StatusCode::NotFound,
                },
                None => StatusCode::Ok,
            };
            commands.push(status(id, cmd_id, name, code));
            id += 1;
        }
        for (cmd_ref, uri, value) in results {
            commands.push(Command::Results(Results {
                cmd_id: id,
                msg_ref: Some(server.hdr.msg_id),
                cmd_ref,
                items: vec![Item {
                    source: Some(Location::uri(uri)),
                    meta: Some(Meta::with_format_and_type(Format::Chr, "text/plain")),
                    data: Some(Data::from(value.as_str())),
                    ..Item::default()
                }],
                ..Results::default()
            }));
            id += 1;
        }
        SyncMl { hdr, body: SyncBody { commands, is_final: true } }
    }
}

/// Turn a reply into a "next message" request: no Final, Alert 1222 appended (FACTS.md C.4).
pub fn ask_next(mut reply: SyncMl) -> SyncMl {
    reply.body.is_final = false;
    let cmd_id = reply.body.commands.len() as u32 + 1;
    reply.body.commands.push(Command::Alert(Alert {
        cmd_id,
        no_resp: false,
        cred: None,
        data: AlertCode::NextMessage,
        correlator: None,
        items: vec![],
    }));
    reply
}

/// The Status answering the SyncHdr in a server message.
pub fn hdr_status(msg: &SyncMl) -> &Status {
    msg.body
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Status(s) if s.is_for_sync_hdr() => Some(s),
            _ => None,
        })
        .expect("a Status for the SyncHdr")
}

/// The management commands (not Status) in a server message.
pub fn commands(msg: &SyncMl) -> Vec<&Command> {
    msg.body.commands.iter().filter(|c| !matches!(c, Command::Status(_))).collect()
}

/// The PostgreSQL URL for tests: `OMADM_TEST_PG_URL`; under CI its absence is a failure.
pub fn pg_url() -> Option<String> {
    match std::env::var("OMADM_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but OMADM_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!("OMADM_TEST_PG_URL not set: PostgreSQL tests skipped outside CI");
            None
        }
    }
}

/// A fresh PostgreSQL database for one test, dropped by `drop_pg_db`.
pub async fn fresh_pg_db(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("omadm_srv_{}", omadm_server::app::random_token());
    let mut conn =
        sqlx::PgConnection::connect(base).await.expect("PostgreSQL reachable at OMADM_TEST_PG_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// Drop a database made by `fresh_pg_db` (connections still open are closed by FORCE).
pub async fn drop_pg_db(base: &str, url: &str) {
    use sqlx::Connection;
    let name = url.rsplit('/').next().unwrap();
    assert!(name.starts_with("omadm_srv_"));
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut conn)
        .await;
}

/// An admin API call over HTTP with the test token: status and JSON body (`null` if none).
pub async fn admin_api(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let url = format!("http://{}{path}", server.addr);
    let mut headers = vec![("Authorization".to_owned(), "Bearer test-token".to_owned())];
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if !bytes.is_empty() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let r = http::request(method, &url, "HTTP/1.1", &headers, &bytes).await;
    (r.status, serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
}
