//! Hostile input against the real server: every case of `conformance/hostile/` (see its
//! README.md) is sent over real HTTP to `omadm serve` on a loopback port with a fresh SQLite
//! file, and each kind checks its rule:
//!
//! - the answer: the HTTP status, and for a 200 the SyncHdr Status (and the Status of given
//!   commands) in a message that decodes, in the request's encoding;
//! - stored state: a snapshot of devices, sessions, commands (with results), inventory, Generic
//!   Alerts and the audit log is taken through the `Store` API just before and just after the
//!   request; the parts the case names must be equal;
//! - the server stays up: after every case, device A's package 1 is still served (212), and
//!   the server task is still running.
//!
//! One test per kind, each on its own server, so they run in parallel. The systematic kinds
//! are written by `conformance/hostile/generate.rs`; `corpus_matches_its_generator` checks
//! that the committed files are what it writes.

#[path = "../hostile/generate.rs"]
mod generate;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use omadm_protocol::auth::{self, Nonce};
use omadm_protocol::{Command, Encoding, Limits, SyncMl, decode_as, encode};
use omadm_server::app::{App, now_millis};
use omadm_server::config::Overrides;
use omadm_storage::{ClientAuthType, CommandSpec, CommandState, Device, Op, SessionOutcome, Store};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/hostile");
const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/tests/vectors");

/// Device A: `syncml:auth-md5`.
const A: &str = "IMEI:490154203237518";
const A_USER: &str = "userA";
const A_PASS: &str = "passA";
/// Device B: `x-syncml-hmac`.
const B: &str = "IMEI:356938035643809";
const B_USER: &str = "userB";
const B_PASS: &str = "passB";
/// The registered devices, whose sessions, commands and inventory the snapshot holds (nothing
/// can be stored for another: every table refers to a device, and the snapshot lists devices).
const SNAPSHOT_DEVICES: [&str; 2] = [A, B];

const HMAC_HEADER: &str = "x-syncml-hmac";
/// Sessions per device in a snapshot (newest first).
const SNAPSHOT_SESSIONS: u32 = 10;

// ---------------------------------------------------------------------------------------------
// The rules, one test per kind.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_messages_are_refused_with_400() {
    run_kind("truncated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_messages_are_refused_with_400() {
    run_kind("corrupted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_byte_integer_overflows_are_refused_with_400() {
    run_kind("mbint").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_bombs_are_refused_with_400() {
    run_kind("nesting").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_are_never_expanded_or_fetched() {
    run_kind("entities").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_refused_with_400() {
    run_kind("utf8").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_content_types_are_refused_with_415() {
    run_kind("content_type").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_max_msg_size_are_refused_with_413() {
    run_kind("huge").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_http_is_refused_and_the_server_stays_up() {
    run_kind("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_that_cannot_be_served_get_only_a_synchdr_status() {
    run_kind("session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_commands_from_a_client_are_refused_with_405() {
    run_kind("client_commands").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_for_commands_never_sent_change_nothing() {
    run_kind("unsent_status").await;
}

/// The kinds above; every folder of the corpus must be one of them.
const KINDS: [&str; 12] = [
    "truncated",
    "corrupted",
    "mbint",
    "nesting",
    "entities",
    "utf8",
    "content_type",
    "huge",
    "http",
    "session",
    "client_commands",
    "unsent_status",
];

#[test]
fn corpus_matches_its_generator() {
    let expected = generate::corpus(Path::new(VECTORS));
    let mut on_disk = BTreeMap::new();
    for kind in generate::GENERATED_KINDS {
        for entry in std::fs::read_dir(Path::new(HOSTILE).join(kind)).unwrap() {
            let path = entry.unwrap().path();
            let rel = format!("{kind}/{}", path.file_name().unwrap().to_str().unwrap());
            on_disk.insert(rel, std::fs::read(&path).unwrap());
        }
    }
    let missing: Vec<_> = expected.keys().filter(|k| !on_disk.contains_key(*k)).collect();
    let extra: Vec<_> = on_disk.keys().filter(|k| !expected.contains_key(*k)).collect();
    let differ: Vec<_> =
        expected.iter().filter(|(k, v)| on_disk.get(*k).is_some_and(|d| d != *v)).map(|(k, _)| k).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "conformance/hostile/ differs from generate.rs (rewrite it with `cargo test -p \
         omadm-conformance --test hostile -- --ignored write_generated_corpus`):\n\
         missing {missing:?}\nextra {extra:?}\ndifferent {differ:?}"
    );
}

#[test]
fn corpus_is_large_enough_and_small() {
    let mut cases = 0;
    let mut total = 0u64;
    let mut kinds = Vec::new();
    for entry in std::fs::read_dir(HOSTILE).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            assert!(KINDS.contains(&name.as_str()), "folder {name} is no kind a test runs");
            let (_, list) = load_kind(&name);
            assert!(!list.is_empty(), "kind {name} has no case");
            cases += list.len();
            kinds.push(name.clone());
            for f in std::fs::read_dir(&path).unwrap() {
                let len = f.unwrap().metadata().unwrap().len();
                assert!(len < 64 * 1024, "a file of {name} is {len} bytes (64 KB at most)");
                total += len;
            }
        } else {
            total += path.metadata().unwrap().len();
        }
    }
    kinds.sort();
    let mut all = KINDS.to_vec();
    all.sort();
    assert_eq!(kinds, all, "every kind has a folder");
    assert!(cases >= 200, "{cases} cases (200 at least)");
    assert!(total < 2 * 1024 * 1024, "the corpus is {total} bytes (under 2 MB)");
}

/// Rewrites the generated kinds from `generate.rs` and the vectors.
#[test]
#[ignore = "writes conformance/hostile/; run by hand after changing generate.rs"]
fn write_generated_corpus() {
    let files = generate::corpus(Path::new(VECTORS));
    for kind in generate::GENERATED_KINDS {
        let dir = Path::new(HOSTILE).join(kind);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (rel, bytes) in &files {
        std::fs::write(Path::new(HOSTILE).join(rel), bytes).unwrap();
    }
    eprintln!("wrote {} files", files.len());
}

// ---------------------------------------------------------------------------------------------
// The case format (README.md).

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseSpec {
    /// What the case is, for people.
    #[serde(default)]
    about: Option<String>,
    /// The body file, in the kind's folder.
    #[serde(default)]
    body: Option<String>,
    /// The body built from parts (inputs too large to commit).
    #[serde(default)]
    generate: Option<Vec<Part>>,
    /// Replace `{{...}}` placeholders in the body and header values.
    #[serde(default)]
    template: bool,
    /// `wbxml`: the (templated, valid) XML body is sent in WBXML.
    #[serde(default)]
    encode: Option<String>,
    /// Absent: from the body file's extension; `null`: no Content-Type header.
    #[serde(default, deserialize_with = "double_option")]
    content_type: Option<Option<String>>,
    #[serde(default)]
    http_version: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    /// `A`, `B` (the live session of that device), or the literal token.
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Send the body with chunked transfer coding.
    #[serde(default)]
    chunked: bool,
    /// The whole request, sent verbatim: `{{HOST}}` is our address, `{{LENGTH}}` the length of
    /// the body (file or `generate`), which goes at `{{GENERATED}}` or else after the head.
    #[serde(default)]
    raw: Option<String>,
    /// Shut the connection's write side once the request is sent.
    #[serde(default)]
    half_close: bool,
    #[serde(default)]
    setup: Vec<String>,
    /// A request sent before the case (its expectation defaults to HTTP 200).
    #[serde(default)]
    first: Option<Box<CaseSpec>>,
    /// Send the case's request twice; the second is checked.
    #[serde(default)]
    send_twice: bool,
    #[serde(default)]
    expect: Option<Expect>,
    /// Parts of the snapshot that must not change (default: all).
    #[serde(default)]
    unchanged: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    hex: Option<String>,
    #[serde(default)]
    repeat: Option<String>,
    #[serde(default)]
    repeat_hex: Option<String>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    zeros: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Codes {
    One(u16),
    Any(Vec<u16>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// The HTTP status (or any of several); `null`: no HTTP/1.x answer at all.
    http: Option<Codes>,
    /// For a 200: the code of the Status answering our SyncHdr.
    #[serde(default)]
    hdr_status: Option<u16>,
    /// For a 200: that Status carries a Chal (with a NextNonce).
    #[serde(default)]
    chal: bool,
    /// For a 200: CmdRef -> code of the Status answering that command.
    #[serde(default)]
    statuses: BTreeMap<String, u16>,
    /// For a 200: the answer is byte for byte the answer to the first send.
    #[serde(default)]
    same_answer_as_first: bool,
}

struct Case {
    name: String,
    spec: CaseSpec,
}

/// A kind's rule and cases: `kind.json` gives the rule and the defaults every case starts from;
/// each `*.case.json` is a case, and so is every other file no case names as its body.
fn load_kind(kind: &str) -> (String, Vec<Case>) {
    let dir = Path::new(HOSTILE).join(kind);
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("kind.json")).unwrap())
        .unwrap_or_else(|e| panic!("{kind}/kind.json: {e}"));
    let rule = meta["rule"].as_str().expect("kind.json names its rule").to_owned();
    let defaults = meta.get("defaults").cloned().unwrap_or(Value::Object(Default::default()));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "kind.json")
        .collect();
    names.sort();
    let mut cases = Vec::new();
    let mut bodies = std::collections::BTreeSet::new();
    let spec = |over: Value, name: &str| -> CaseSpec {
        let mut merged = defaults.clone();
        for (k, v) in over.as_object().unwrap() {
            merged[k] = v.clone();
        }
        serde_json::from_value(merged).unwrap_or_else(|e| panic!("{kind}/{name}: {e}"))
    };
    for name in names.iter().filter(|n| n.ends_with(".case.json")) {
        let v: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap())
            .unwrap_or_else(|e| panic!("{kind}/{name}: {e}"));
        let s = spec(v, name);
        for b in s.body.iter().chain(s.first.iter().filter_map(|f| f.body.as_ref())) {
            assert!(dir.join(b).is_file(), "{kind}/{name}: no body file {b}");
            bodies.insert(b.clone());
        }
        cases.push(Case { name: name.trim_end_matches(".case.json").to_owned(), spec: s });
    }
    for name in names.iter().filter(|n| !n.ends_with(".case.json") && !bodies.contains(*n)) {
        cases.push(Case { name: name.clone(), spec: spec(serde_json::json!({ "body": name }), name) });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    (rule, cases)
}

// ---------------------------------------------------------------------------------------------
// The server.

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A device's session in progress: what its next message needs.
#[derive(Clone, Debug)]
struct Live {
    token: String,
    session_id: String,
    /// MsgID of the device's next message.
    next_msg: u32,
    /// MsgID of the server's last message.
    server_msg: u32,
    /// CmdID of the Get the server sent, and the MsgID of the message it went in.
    get: u32,
    get_msg: u32,
    /// The client nonce the device's last message used (HMAC: it changes every message).
    prev_nonce: Vec<u8>,
}

struct Harness {
    addr: std::net::SocketAddr,
    store: Store,
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
    live: BTreeMap<&'static str, Live>,
    sessions_opened: u32,
    first_answer: Option<Vec<u8>>,
    first_hmac: Option<String>,
}

/// A case's request: what goes on the wire, the headers added to it, the encoding it names.
struct Request {
    head: Vec<u8>,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    encoding: Option<Encoding>,
}

/// One HTTP exchange as seen on the wire.
#[derive(Debug, Default)]
struct Answer {
    /// `None` when no HTTP/1.x status line came back.
    status: Option<u16>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The DM message of a 200 answer.
    fn message(&self) -> Result<(SyncMl, Encoding), String> {
        let ct = self.header("content-type").unwrap_or("");
        let enc = Encoding::from_content_type(ct).ok_or(format!("answer of type {ct:?}"))?;
        let msg = decode_as(&self.body, enc, &Limits::default())
            .map_err(|e| format!("the answer does not decode: {e}"))?;
        Ok((msg, enc))
    }
}

fn hdr_status(msg: &SyncMl) -> Option<&omadm_protocol::Status> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.is_for_sync_hdr() => Some(s),
        _ => None,
    })
}

impl Harness {
    async fn start() -> Harness {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "omadm-hostile-{}-{}",
            std::process::id(),
            omadm_server::app::random_token()
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        let mut config = Overrides::default().resolve().unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database_url = format!("sqlite://{}", dir.0.join("omadm.db").display());
        config.server_id = "omadm".into();
        config.admin_token = Some("test-token".into());
        let store = Store::connect(&config.database_url).await.unwrap();
        store.migrate().await.unwrap();
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = App::new(store.clone(), Arc::new(config));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            omadm_server::serve::serve(listener, app, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        for (id, auth, user, pass) in
            [(A, ClientAuthType::Md5, A_USER, A_PASS), (B, ClientAuthType::Hmac, B_USER, B_PASS)]
        {
            let now = now_millis();
            store
                .create_device(&Device {
                    device_id: id.into(),
                    client_auth_type: auth,
                    client_username: user.into(),
                    client_secret: auth::md5_secret(user, pass).expose().to_owned(),
                    client_nonce: Nonce::new(b"clientnonce".to_vec()).to_b64(),
                    server_id: "omadm".into(),
                    server_secret: None,
                    server_nonce: Nonce::new(b"servernonce".to_vec()).to_b64(),
                    dm_version: None,
                    created_at: now,
                    updated_at: now,
                    last_session_at: None,
                })
                .await
                .unwrap();
        }
        Harness {
            addr,
            store,
            task,
            stop: Some(tx),
            _dir: dir,
            live: BTreeMap::new(),
            sessions_opened: 0,
            first_answer: None,
            first_hmac: None,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), &mut self.task).await;
        self.store.close().await;
    }

    fn server_uri(&self) -> String {
        format!("http://{}/dm", self.addr)
    }

    async fn nonce(&self, device: &str) -> Vec<u8> {
        let d = self.store.get_device(device).await.unwrap().unwrap();
        Nonce::from_b64(&d.client_nonce).unwrap().into_bytes()
    }

    fn md5_cred(user: &str, pass: &str, nonce: &[u8]) -> String {
        format!(
            "<Cred><Meta><Format xmlns=\"syncml:metinf\">b64</Format><Type xmlns=\"syncml:metinf\">\
             syncml:auth-md5</Type></Meta><Data>{}</Data></Cred>",
            auth::md5::cred_data(user, pass, nonce)
        )
    }

    fn new_session_id(&mut self) -> String {
        self.sessions_opened += 1;
        format!("{:X}", 0x1000 + self.sessions_opened)
    }

    /// Device `dev`'s package 1 (Alert 1201, a DevInfo Replace), with its credentials.
    async fn package1(&mut self, dev: &'static str, session_id: &str) -> (Vec<u8>, Vec<(String, String)>) {
        let (user, cred) = match dev {
            A => (A_USER, Self::md5_cred(A_USER, A_PASS, &self.nonce(A).await)),
            _ => (B_USER, String::new()),
        };
        let body = format!(
            "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
             <SessionID>{session_id}</SessionID><MsgID>1</MsgID><Target><LocURI>{}</LocURI></Target>\
             <Source><LocURI>{dev}</LocURI><LocName>{user}</LocName></Source>{cred}<Meta><MaxMsgSize \
             xmlns=\"syncml:metinf\">16384</MaxMsgSize></Meta></SyncHdr><SyncBody><Alert><CmdID>1</CmdID>\
             <Data>1201</Data></Alert><Replace><CmdID>2</CmdID><Item><Source><LocURI>./DevInfo/DevId</LocURI>\
             </Source><Data>{dev}</Data></Item><Item><Source><LocURI>./DevInfo/Man</LocURI></Source>\
             <Data>Acme</Data></Item></Replace><Final/></SyncBody></SyncML>",
            self.server_uri()
        )
        .into_bytes();
        let mut headers = Vec::new();
        if dev == B {
            headers.push((HMAC_HEADER.to_owned(), self.hmac_b(&body, None).await));
        }
        (body, headers)
    }

    /// The x-syncml-hmac header of device B over `body` with its stored nonce (or `nonce`).
    async fn hmac_b(&self, body: &[u8], nonce: Option<&[u8]>) -> String {
        let stored = self.nonce(B).await;
        let secret = auth::md5_secret(B_USER, B_PASS);
        auth::hmac::header(B_USER, &secret, nonce.unwrap_or(&stored), body).to_header_value()
    }

    async fn post(&self, path: &str, body: &[u8], headers: &[(String, String)]) -> Answer {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Content-Type: application/vnd.syncml.dm+xml\r\n",
            self.addr,
            body.len()
        );
        for (n, v) in headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        head.push_str("\r\n");
        exchange(self.addr, head.into_bytes(), body.to_vec(), false).await
    }

    /// Fail every command of `dev` still queued or sent: its next package 1 sends nothing.
    async fn clear_queue(&self, dev: &str) {
        for c in self.store.list_commands(dev, None, 1000).await.unwrap() {
            if matches!(c.state, CommandState::Queued | CommandState::Sent) {
                self.store.set_command_status(c.id, CommandState::Failed, None, now_millis()).await.unwrap();
            }
        }
    }

    /// Open a session of `dev` with one Get in flight: package 1 answered by package 2.
    async fn open_session(&mut self, dev: &'static str) -> Result<(), String> {
        self.clear_queue(dev).await;
        let get =
            CommandSpec { op: Some(Op::Get), target: Some("./DevDetail/SwV".into()), ..Default::default() };
        self.store.enqueue_command(dev, &get, now_millis()).await.unwrap();
        let sid = self.new_session_id();
        let nonce = self.nonce(dev).await;
        let (body, headers) = self.package1(dev, &sid).await;
        let answer = self.post("/dm", &body, &headers).await;
        if answer.status != Some(200) {
            return Err(format!("{dev} package 1: HTTP {:?}", answer.status));
        }
        let (msg, _) = answer.message()?;
        let code = hdr_status(&msg).map(|s| s.data.code());
        let want = if dev == A { 212 } else { 200 };
        if code != Some(want) {
            return Err(format!("{dev} package 1: SyncHdr Status {code:?}, not {want}"));
        }
        let token = msg
            .hdr
            .resp_uri
            .as_deref()
            .and_then(|u| u.split_once("?s="))
            .map(|(_, t)| t.to_owned())
            .ok_or("package 2 without RespURI")?;
        let get = msg
            .body
            .commands
            .iter()
            .find_map(|c| match c {
                Command::Get(g) => Some(g.cmd_id),
                _ => None,
            })
            .ok_or("package 2 without the Get")?;
        self.live.insert(
            dev,
            Live {
                token,
                session_id: sid,
                next_msg: 2,
                server_msg: msg.hdr.msg_id,
                get,
                get_msg: msg.hdr.msg_id,
                prev_nonce: nonce,
            },
        );
        Ok(())
    }

    /// Answer the Get of `dev`'s live session: the server's next package is empty and the
    /// session completes.
    async fn end_session(&mut self, dev: &'static str) -> Result<(), String> {
        let live = self.live.get(dev).cloned().ok_or("no live session to end")?;
        let body = format!(
            "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
             <SessionID>{}</SessionID><MsgID>{}</MsgID><Target><LocURI>{}</LocURI></Target><Source>\
             <LocURI>{dev}</LocURI></Source></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>{}</MsgRef>\
             <CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status><Status><CmdID>2</CmdID>\
             <MsgRef>{}</MsgRef><CmdRef>{}</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status><Results>\
             <CmdID>3</CmdID><MsgRef>{}</MsgRef><CmdRef>{}</CmdRef><Item><Source><LocURI>./DevDetail/SwV\
             </LocURI></Source><Data>1.0</Data></Item></Results><Final/></SyncBody></SyncML>",
            live.session_id,
            live.next_msg,
            self.server_uri(),
            live.server_msg,
            live.server_msg,
            live.get,
            live.server_msg,
            live.get
        )
        .into_bytes();
        let mut headers = Vec::new();
        if dev == B {
            headers.push((HMAC_HEADER.to_owned(), self.hmac_b(&body, None).await));
        }
        let answer = self.post(&format!("/dm?s={}", live.token), &body, &headers).await;
        let (msg, _) = answer.message()?;
        if msg.body.commands.iter().any(|c| !matches!(c, Command::Status(_))) || msg.hdr.resp_uri.is_some() {
            return Err("the session did not end".into());
        }
        let l = self.live.get_mut(dev).unwrap();
        l.next_msg += 1;
        l.server_msg = msg.hdr.msg_id;
        Ok(())
    }

    async fn setup(&mut self, step: &str) -> Result<(), String> {
        match step {
            "a_session" => self.open_session(A).await,
            "b_session" => self.open_session(B).await,
            "a_ended" => self.end_session(A).await,
            "a_clear_queue" | "b_clear_queue" => {
                self.clear_queue(if step == "a_clear_queue" { A } else { B }).await;
                Ok(())
            }
            // One Get queued: a package 1 that is accepted leaves a session open.
            "a_queue_get" | "b_queue_get" => {
                let dev = if step == "a_queue_get" { A } else { B };
                self.clear_queue(dev).await;
                let get = CommandSpec {
                    op: Some(Op::Get),
                    target: Some("./DevDetail/SwV".into()),
                    ..Default::default()
                };
                self.store.enqueue_command(dev, &get, now_millis()).await.unwrap();
                Ok(())
            }
            "a_idle" => {
                let live = self.live.get(A).ok_or("a_idle needs a_session")?;
                let mut rec = self.store.get_session(&live.token).await.unwrap().unwrap();
                // Idle for an hour: far beyond the 300 s timeout (the sweeper may not have run).
                rec.last_activity_at -= 3_600_000;
                self.store.update_session(&rec).await.unwrap();
                Ok(())
            }
            other => Err(format!("unknown setup step {other:?}")),
        }
    }

    /// The value of a `{{NAME}}` placeholder.
    async fn placeholder(&mut self, name: &str) -> Result<String, String> {
        let live =
            |d: &str| self.live.get(d).cloned().ok_or(format!("{{{{{name}}}}} needs a session of {d}"));
        Ok(match name {
            "SERVER" => self.server_uri(),
            "A" => A.into(),
            "B" => B.into(),
            "UNKNOWN" => generate::UNKNOWN_DEVICE.into(),
            "A_USER" => A_USER.into(),
            "B_USER" => B_USER.into(),
            "NEW_SID" => self.new_session_id(),
            "A_CRED" => Self::md5_cred(A_USER, A_PASS, &self.nonce(A).await),
            "A_WRONG_CRED" => Self::md5_cred(A_USER, "wrong", &self.nonce(A).await),
            "A_BASIC_CRED" => format!(
                "<Cred><Meta><Format xmlns=\"syncml:metinf\">b64</Format><Type xmlns=\"syncml:metinf\">\
                 syncml:auth-basic</Type></Meta><Data>{}</Data></Cred>",
                auth::basic::encode(A_USER, A_PASS).expose()
            ),
            "A_SID" => live(A)?.session_id,
            "A_MSG" => live(A)?.next_msg.to_string(),
            "A_REF" => live(A)?.server_msg.to_string(),
            "A_GET" => live(A)?.get.to_string(),
            "A_GET_MSG" => live(A)?.get_msg.to_string(),
            "B_SID" => live(B)?.session_id,
            "B_MSG" => live(B)?.next_msg.to_string(),
            "B_REF" => live(B)?.server_msg.to_string(),
            "B_GET" => live(B)?.get.to_string(),
            other => return Err(format!("unknown placeholder {{{{{other}}}}}")),
        })
    }

    async fn fill(&mut self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("{{") {
            out.push_str(&rest[..i]);
            let j = rest[i..].find("}}").ok_or("unclosed {{")? + i;
            out.push_str(&self.placeholder(&rest[i + 2..j]).await?);
            rest = &rest[j + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Header values are filled after the body: `{{B_HMAC...}}` sign it.
    async fn fill_header(&mut self, value: &str, body: &[u8]) -> Result<String, String> {
        Ok(match value {
            "{{B_HMAC}}" => self.hmac_b(body, None).await,
            "{{B_HMAC_STALE}}" => {
                let old = self.live.get(B).ok_or("{{B_HMAC_STALE}} needs b_session")?.prev_nonce.clone();
                self.hmac_b(body, Some(&old)).await
            }
            "{{B_HMAC_OTHER_BODY}}" => self.hmac_b(b"<SyncML/>", None).await,
            "{{B_HMAC_WRONG_USER}}" => {
                let secret = auth::md5_secret(B_USER, B_PASS);
                auth::hmac::header(A_USER, &secret, &self.nonce(B).await, body).to_header_value()
            }
            "{{FIRST_HMAC}}" => self.first_hmac.clone().ok_or("{{FIRST_HMAC}} without a first request")?,
            v => self.fill(v).await?,
        })
    }

    /// The bytes of a case's request: head and body.
    async fn request(&mut self, kind: &str, spec: &CaseSpec) -> Result<Request, String> {
        let dir = Path::new(HOSTILE).join(kind);
        let mut body = match (&spec.body, &spec.generate) {
            (Some(f), None) => std::fs::read(dir.join(f)).map_err(|e| format!("{f}: {e}"))?,
            (None, Some(parts)) => build(parts)?,
            (None, None) => Vec::new(),
            (Some(_), Some(_)) => return Err("both body and generate".into()),
        };
        if spec.template {
            let text = String::from_utf8(body).map_err(|_| "a template must be UTF-8")?;
            body = self.fill(&text).await?.into_bytes();
        }
        let by_ext =
            spec.body.as_deref().map(|f| if f.ends_with(".wbxml") { Encoding::Wbxml } else { Encoding::Xml });
        match spec.encode.as_deref() {
            None => {}
            Some("wbxml") => {
                let msg = decode_as(&body, Encoding::Xml, &Limits::default())
                    .map_err(|e| format!("template does not decode: {e}"))?;
                body = encode(&msg, Encoding::Wbxml);
            }
            Some(other) => return Err(format!("unknown encoding {other}")),
        }
        let content_type = match &spec.content_type {
            Some(ct) => ct.clone(),
            None if spec.encode.as_deref() == Some("wbxml") => {
                Some(Encoding::Wbxml.content_type().to_owned())
            }
            None => by_ext.map(|e| e.content_type().to_owned()),
        };
        let mut headers = Vec::new();
        for (n, v) in &spec.headers {
            headers.push((n.clone(), self.fill_header(v, &body).await?));
        }
        if let Some(raw) = &spec.raw {
            let raw = raw
                .replace("{{HOST}}", &self.addr.to_string())
                .replace("{{LENGTH}}", &body.len().to_string());
            let raw = match raw.split_once("{{GENERATED}}") {
                Some((a, b)) => [a.as_bytes(), &body, b.as_bytes()].concat(),
                None => [raw.as_bytes(), &body].concat(),
            };
            return Ok(Request { head: raw, body: Vec::new(), headers, encoding: None });
        }
        let version = spec.http_version.as_deref().unwrap_or("HTTP/1.1");
        let mut path = spec.path.clone().unwrap_or_else(|| "/dm".into());
        match spec.token.as_deref() {
            None | Some("none") => {}
            Some(dev @ ("A" | "B")) => {
                let d = if dev == "A" { A } else { B };
                let t = &self.live.get(d).ok_or(format!("token {dev} needs a session of {d}"))?.token;
                path = format!("{path}?s={t}");
            }
            Some(literal) => path = format!("{path}?s={}", percent_encode(literal)),
        }
        let mut head = format!(
            "{} {path} {version}\r\nHost: {}\r\n",
            spec.method.as_deref().unwrap_or("POST"),
            self.addr
        );
        if spec.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        } else {
            let _ = write!(head, "Content-Length: {}\r\n", body.len());
        }
        if version == "HTTP/1.1" {
            head.push_str("Connection: close\r\n");
        }
        if let Some(ct) = &content_type {
            let _ = write!(head, "Content-Type: {ct}\r\n");
        }
        for (n, v) in &headers {
            let _ = write!(head, "{n}: {v}\r\n");
        }
        head.push_str("\r\n");
        if spec.chunked {
            let mut chunked = Vec::with_capacity(body.len() + body.len() / 8192 + 16);
            for chunk in body.chunks(64 * 1024) {
                chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                chunked.extend_from_slice(chunk);
                chunked.extend_from_slice(b"\r\n");
            }
            chunked.extend_from_slice(b"0\r\n\r\n");
            body = chunked;
        }
        let encoding = content_type.as_deref().and_then(Encoding::from_content_type);
        Ok(Request { head: head.into_bytes(), body, headers, encoding })
    }

    /// After a 200 in a device's live session, its next message follows on.
    fn advance(&mut self, token: Option<&str>, answer: &Answer) {
        let dev = match token {
            Some("A") => A,
            Some("B") => B,
            _ => return,
        };
        if answer.status != Some(200) {
            return;
        }
        let Ok((msg, _)) = answer.message() else { return };
        if hdr_status(&msg).is_some_and(|s| s.data.is_success()) {
            let Some(l) = self.live.get_mut(dev) else { return };
            l.next_msg += 1;
            l.server_msg = msg.hdr.msg_id;
        }
    }

    async fn snapshot(&self) -> BTreeMap<&'static str, Value> {
        let s = &self.store;
        let mut sessions = serde_json::Map::new();
        let mut commands = serde_json::Map::new();
        let mut inventory = serde_json::Map::new();
        for d in SNAPSHOT_DEVICES {
            // The newest sessions: a case only touches those of its own setup (every case
            // adds one more, the package 1 that checks the server is still up).
            let (recent, cmds, inv) = tokio::join!(
                s.list_sessions(d, SNAPSHOT_SESSIONS),
                s.list_commands(d, None, 1000),
                s.list_inventory(d)
            );
            sessions.insert(d.into(), serde_json::to_value(recent.unwrap()).unwrap());
            commands.insert(d.into(), serde_json::to_value(cmds.unwrap()).unwrap());
            inventory.insert(d.into(), serde_json::to_value(inv.unwrap()).unwrap());
        }
        let open: Vec<Value> = sessions
            .values()
            .flat_map(|l| l.as_array().unwrap().iter())
            .filter(|r| r["outcome"] == serde_json::to_value(SessionOutcome::Active).unwrap())
            // A package 1 that failed authentication leaves a session waiting for the retry
            // (OMA-TS-DM_Security §5.3: the client answers the challenge in the same session);
            // it can do nothing and times out. The rule protects the sessions that hold rights.
            .filter(|r| r["state"]["phase"] != "awaiting_auth")
            .cloned()
            .collect();
        let (devices, alerts, audit) = tokio::join!(
            s.list_devices(None, 1000),
            s.list_generic_alerts(None, 1000),
            s.list_audit(None, 1000)
        );
        BTreeMap::from([
            ("devices", serde_json::to_value(devices.unwrap()).unwrap()),
            ("sessions", Value::Object(sessions)),
            ("open_sessions", Value::Array(open)),
            ("commands", Value::Object(commands)),
            ("inventory", Value::Object(inventory)),
            ("alerts", serde_json::to_value(alerts.unwrap()).unwrap()),
            ("audit", serde_json::to_value(audit.unwrap()).unwrap()),
        ])
    }

    /// The server still serves a good package 1 (device A, MD5: 212).
    async fn still_up(&mut self) -> Result<(), String> {
        if self.task.is_finished() {
            return Err("the server task ended".into());
        }
        let sid = self.new_session_id();
        let (body, headers) = self.package1(A, &sid).await;
        let answer = self.post("/dm", &body, &headers).await;
        let code = answer.message().ok().and_then(|(m, _)| hdr_status(&m).map(|s| s.data.code()));
        if answer.status != Some(200) || code != Some(212) {
            return Err(format!(
                "a good package 1 afterwards got HTTP {:?}, SyncHdr {code:?}",
                answer.status
            ));
        }
        Ok(())
    }

    async fn run(&mut self, kind: &str, case: &Case) -> Result<(), String> {
        let spec = &case.spec;
        self.first_answer = None;
        self.first_hmac = None;
        for step in &spec.setup {
            self.setup(step).await.map_err(|e| format!("setup {step}: {e}"))?;
        }
        if let Some(first) = &spec.first {
            let req = self.request(kind, first).await.map_err(|e| format!("first: {e}"))?;
            let answer = exchange(self.addr, req.head, req.body, first.half_close).await;
            let want = first.expect.clone().unwrap_or(Expect {
                http: Some(Codes::One(200)),
                hdr_status: None,
                chal: false,
                statuses: BTreeMap::new(),
                same_answer_as_first: false,
            });
            check_answer(&want, &answer, None, req.encoding).map_err(|e| format!("first request: {e}"))?;
            self.advance(first.token.as_deref(), &answer);
            self.first_hmac =
                req.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(HMAC_HEADER)).map(|(_, v)| v.clone());
            self.first_answer = Some(answer.body);
        }
        let Request { head, body, encoding, .. } = self.request(kind, spec).await?;
        if spec.send_twice {
            let answer = exchange(self.addr, head.clone(), body.clone(), spec.half_close).await;
            if answer.status != Some(200) {
                return Err(format!("first of two sends: HTTP {:?}", answer.status));
            }
            self.first_answer = Some(answer.body);
        }
        let before = self.snapshot().await;
        let answer = exchange(self.addr, head, body, spec.half_close).await;
        let after = self.snapshot().await;
        let expect = spec.expect.as_ref().ok_or("no expectation")?;
        check_answer(expect, &answer, self.first_answer.as_deref(), encoding)?;
        let parts = spec.unchanged.clone().unwrap_or_else(|| vec!["all".into()]);
        for part in parts.iter().flat_map(|p| -> Vec<&str> {
            if p == "all" {
                vec!["devices", "sessions", "commands", "inventory", "alerts", "audit"]
            } else {
                vec![p.as_str()]
            }
        }) {
            let (Some(b), Some(a)) = (before.get(part), after.get(part)) else {
                return Err(format!("unknown snapshot part {part:?}"));
            };
            if b != a {
                return Err(format!(
                    "stored {part} changed:\n  before {}\n  after  {}",
                    clip(&b.to_string()),
                    clip(&a.to_string())
                ));
            }
        }
        self.still_up().await
    }
}

fn clip(s: &str) -> String {
    if s.len() <= 1500 {
        return s.to_owned();
    }
    let mut end = 1500;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

/// Check `answer` against `expect`; `sent` is the encoding of a DM request, which a 200 must
/// answer in.
fn check_answer(
    expect: &Expect,
    answer: &Answer,
    first: Option<&[u8]>,
    sent: Option<Encoding>,
) -> Result<(), String> {
    let ok = match (&expect.http, answer.status) {
        (None, None) => true,
        (Some(Codes::One(c)), Some(s)) => *c == s,
        (Some(Codes::Any(cs)), Some(s)) => cs.contains(&s),
        _ => false,
    };
    if !ok {
        return Err(format!(
            "HTTP {:?}, expected {:?}: {}",
            answer.status,
            expect.http,
            clip(&String::from_utf8_lossy(&answer.body))
        ));
    }
    if answer.status != Some(200) {
        return Ok(());
    }
    let (msg, encoding) = answer.message()?;
    if sent.is_some_and(|e| e != encoding) {
        return Err(format!("a {sent:?} request answered in {encoding:?}"));
    }
    let hdr = hdr_status(&msg).ok_or("a 200 answer without a SyncHdr Status")?;
    if let Some(code) = expect.hdr_status
        && hdr.data.code() != code
    {
        return Err(format!("SyncHdr Status {}, expected {code}", hdr.data.code()));
    }
    if expect.chal && hdr.chal.as_ref().and_then(|c| c.meta.next_nonce.as_ref()).is_none() {
        return Err("no Chal with a NextNonce beside the SyncHdr Status".into());
    }
    for (cmd_ref, code) in &expect.statuses {
        let want: u32 = cmd_ref.parse().map_err(|_| format!("statuses key {cmd_ref:?}"))?;
        let got: Vec<u16> = msg
            .body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) if !s.is_for_sync_hdr() && s.cmd_ref == Some(want) => Some(s.data.code()),
                _ => None,
            })
            .collect();
        if got != [*code] {
            return Err(format!("Status for CmdRef {cmd_ref}: {got:?}, expected [{code}]"));
        }
    }
    if expect.same_answer_as_first && Some(answer.body.as_slice()) != first {
        return Err("the answer differs from the answer to the first send".into());
    }
    Ok(())
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd hex {s:?}"));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| e.to_string())).collect()
}

/// A body from `generate` parts.
fn build(parts: &[Part]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part { text: Some(t), .. } => out.extend_from_slice(t.as_bytes()),
            Part { hex: Some(h), .. } => out.extend(unhex(h)?),
            Part { repeat: Some(r), count: Some(n), .. } => out.extend(r.as_bytes().repeat(*n)),
            Part { repeat_hex: Some(r), count: Some(n), .. } => out.extend(unhex(r)?.repeat(*n)),
            Part { zeros: Some(n), .. } => out.resize(out.len() + n, 0),
            other => {
                return Err(format!("a generate part needs text, hex, repeat(+count) or zeros: {other:?}"));
            }
        }
    }
    Ok(out)
}

/// One request on its own connection. The body is written while the answer is read, so a
/// server that answers early (413) and closes is seen; write errors after that are expected.
/// With `half_close` the write side is shut down after the request (a body shorter than its
/// Content-Length then ends); otherwise it stays open, as hyper drops a request whose client
/// half-closes before the answer.
async fn exchange(addr: std::net::SocketAddr, head: Vec<u8>, body: Vec<u8>, half_close: bool) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn(async move {
        w.write_all(&head).await?;
        w.write_all(&body).await?;
        if half_close {
            w.shutdown().await?;
        } else {
            // Keep the write half open until the answer has been read.
            std::future::pending::<()>().await;
        }
        Ok::<(), std::io::Error>(())
    });
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), r.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            // Silence: whatever came is the answer (none, if nothing did).
            Err(_) => break,
        }
    }
    writer.abort();
    parse_answer(&raw)
}

fn parse_answer(mut raw: &[u8]) -> Answer {
    loop {
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return Answer::default() };
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        if !status_line.starts_with("HTTP/1.") {
            return Answer::default();
        }
        let status: Option<u16> = status_line.split(' ').nth(1).and_then(|s| s.parse().ok());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let rest = &raw[end + 4..];
        if status.is_some_and(|s| (100..200).contains(&s)) {
            raw = rest;
            continue;
        }
        let mut a = Answer { status, headers, body: Vec::new() };
        a.body = if a.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(rest)
        } else if let Some(n) = a.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            rest[..n.min(rest.len())].to_vec()
        } else {
            rest.to_vec()
        };
        return a;
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let Ok(n) = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16) else { break };
        if n == 0 || b.len() < i + 2 + n {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[(i + 4 + n).min(b.len())..];
    }
    out
}

/// Run every case of `kind` against one server; report every failure, then fail.
async fn run_kind(kind: &str) {
    let (rule, cases) = load_kind(kind);
    let mut h = Harness::start().await;
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = h.run(kind, case).await {
            let about = case.spec.about.as_deref().map(|a| format!(" ({a})")).unwrap_or_default();
            failures.push(format!("{kind}/{}{about}: {e}", case.name));
        }
    }
    let up = h.still_up().await;
    h.stop().await;
    eprintln!("{kind}: {} cases in {:.1?}", cases.len(), started.elapsed());
    assert!(up.is_ok(), "{kind}: the server did not stay up: {up:?}");
    assert!(
        failures.is_empty(),
        "rule of {kind}: {rule}\n{} of {} cases broke it:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
