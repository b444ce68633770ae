//! Real `omadm serve` processes for the tests that kill a server with SIGKILL or run several
//! nodes on one database, and a round-robin TCP load balancer in front of them.
//!
//! The `omadm` binary belongs to `omadm-server`, so `CARGO_BIN_EXE_omadm` is not set here: the
//! first use runs `cargo build -p omadm-server --bin omadm` (the same target directory; a no-op
//! when it is fresh) and takes the executable's path from cargo's JSON messages.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use omadm_conformance::devsim::transport::{self, HttpRequest};
use serde_json::Value;

/// The admin token of every node.
pub const TOKEN: &str = "nodes-admin-token";

/// The `omadm` executable, built once per test process.
pub fn omadm_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
        let out = Command::new(cargo)
            .args([
                "build",
                "-p",
                "omadm-server",
                "--bin",
                "omadm",
                "--message-format=json-render-diagnostics",
            ])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(out.status.success(), "cargo build -p omadm-server --bin omadm failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "omadm")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo reports the omadm executable")
    })
}

/// A free loopback port (bound and released: another process could take it, rarely).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// 8 random bytes as hex.
pub fn random_hex() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How a node is started.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// `sqlite://...` or `postgres://...`.
    pub database_url: String,
    /// `[campaign] firmware_dir` (shared by every node: a firmware package is uploaded once).
    pub firmware_dir: PathBuf,
    /// `[campaign] poll_ms`.
    pub poll_ms: u64,
    /// `public_url` (RespURI and download URLs), e.g. the load balancer's.
    pub public_url: Option<String>,
    /// Where the configuration file is written.
    pub dir: PathBuf,
}

/// One `omadm serve` process; killed (SIGKILL) when dropped.
pub struct Node {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Node {
    /// Start `omadm serve --config <file>` on a free port and wait until `/readyz` says ready.
    pub async fn start(spec: &NodeSpec) -> Node {
        Node::start_on(spec, free_port()).await
    }

    /// The same on a given port.
    pub async fn start_on(spec: &NodeSpec, port: u16) -> Node {
        let config = spec.dir.join(format!("omadm-{port}.toml"));
        let toml = format!(
            "[campaign]\nfirmware_dir = {:?}\npoll_ms = {}\n",
            spec.firmware_dir.display().to_string(),
            spec.poll_ms
        );
        std::fs::write(&config, toml).unwrap();
        let mut cmd = Command::new(omadm_binary());
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("OMADM_LISTEN", format!("127.0.0.1:{port}"))
            .env("OMADM_DATABASE_URL", &spec.database_url)
            .env("OMADM_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        match &spec.public_url {
            Some(u) => cmd.env("OMADM_PUBLIC_URL", u),
            None => cmd.env_remove("OMADM_PUBLIC_URL"),
        };
        let mut node = Node { child: Some(cmd.spawn().expect("omadm starts")), port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let req = HttpRequest {
                method: "GET".into(),
                url: format!("{}/readyz", node.base()),
                headers: vec![],
                body: vec![],
            };
            if transport::send(&req, Duration::from_secs(2)).await.is_ok_and(|r| r.status == 200) {
                return node;
            }
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("omadm serve on port {port} exited: {status}");
            }
            assert!(Instant::now() < deadline, "omadm serve on port {port} not ready after 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// kill -9, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL on Unix
            c.wait().unwrap();
        }
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The admin API of the node at `base`: status and JSON body (`null` when empty).
pub async fn api(base: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut headers = vec![("Authorization".to_owned(), format!("Bearer {TOKEN}"))];
    if body.is_some() {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    let req = HttpRequest {
        method: method.into(),
        url: format!("{base}{path}"),
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
    };
    let resp = transport::send(&req, Duration::from_secs(30)).await.expect("admin API reachable");
    let v = if resp.body.is_empty() { Value::Null } else { serde_json::from_slice(&resp.body).unwrap() };
    (resp.status, v)
}

/// A TCP load balancer on a loopback port: each connection goes to the next backend in turn
/// whose port accepts it (a dead node is skipped). Counts connections per backend.
pub struct Balancer {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// Connections forwarded, per backend.
    pub forwarded: Arc<Vec<AtomicUsize>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    /// Balance over these backend ports.
    pub async fn start(backends: Vec<u16>) -> Balancer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let forwarded = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let stop = Arc::new(AtomicBool::new(false));
        let (counts, stopped) = (forwarded.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let next = Arc::new(AtomicUsize::new(0));
            let backends = Arc::new(backends);
            while !stopped.load(Ordering::Relaxed) {
                let Ok((mut down, _)) = listener.accept().await else { continue };
                let (next, backends, counts) = (next.clone(), backends.clone(), counts.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for k in 0..backends.len() {
                        let i = (first + k) % backends.len();
                        match tokio::net::TcpStream::connect(("127.0.0.1", backends[i])).await {
                            Ok(mut up) => {
                                counts[i].fetch_add(1, Ordering::Relaxed);
                                if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
                                    eprintln!("balancer: backend {i}: {e}");
                                }
                                return;
                            }
                            Err(_) => continue, // a dead node: the next one
                        }
                    }
                    eprintln!("balancer: no backend took the connection");
                });
            }
        });
        Balancer { base, forwarded, stop, task }
    }

    /// Connections forwarded to backend `i`.
    pub fn count(&self, i: usize) -> usize {
        self.forwarded[i].load(Ordering::Relaxed)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new directory under the system's temporary directory.
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("omadm-nodes-{tag}-{}", random_hex()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Await every future, polled together (they may borrow, so they cannot be spawned).
pub async fn join_all<F: std::future::Future>(fs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = fs.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    results.into_iter().map(Option::unwrap).collect()
}

/// The PostgreSQL server of `OMADM_TEST_PG_URL`; under CI its absence is a failure.
pub fn pg_url() -> Option<String> {
    match std::env::var("OMADM_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but OMADM_TEST_PG_URL is not set")
        }
        _ => {
            eprintln!("OMADM_TEST_PG_URL not set: PostgreSQL tests skipped outside CI");
            None
        }
    }
}

/// A fresh PostgreSQL database next to `base`'s; dropped (with FORCE) when dropped.
pub struct PgDb {
    base: String,
    /// Its URL.
    pub url: String,
    name: String,
}

impl PgDb {
    /// Create one.
    pub async fn create(base: &str) -> PgDb {
        use sqlx::Connection;
        let name = format!("omadm_conf_{}", random_hex());
        let mut conn =
            sqlx::PgConnection::connect(base).await.expect("PostgreSQL reachable at OMADM_TEST_PG_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        PgDb { base: base.to_owned(), url: format!("{prefix}/{name}"), name }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee: a thread with its own small runtime.
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                }
            })
        })
        .join();
    }
}
