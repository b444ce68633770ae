//! `omadm-loadgen`: a fleet of virtual DM devices driving a real `omadm` server over HTTP, and
//! a trivial HTTP server driven the same way as a baseline.
//!
//! - [`setup`] registers the fleet (`IMEI:LG<n>`, MD5 auth) through the admin API and queues,
//!   for every device, the Get and the Replace its next session carries. Queueing is not part
//!   of the measured runs; after a run, [`setup`] in refill mode queues them again for the
//!   devices that used them.
//! - [`run`] drives `concurrency` workers, one keep-alive connection each, for a duration or a
//!   number of sessions; each worker takes the next device round-robin (never one that is in a
//!   session) and runs the four-package exchange of [`dm`]. It records each session's latency,
//!   the HTTP requests, and every failure by kind.
//! - [`run_baseline`] runs the same workers, requests and answer parsing against
//!   [`baseline::BaselineServer`], which replays the DM server's recorded answers.
//! - [`open_sessions`] opens sessions and leaves them waiting in package 2, to measure the
//!   server's memory per in-flight session.
//! - [`campaign`] registers the fleet with nothing queued ([`register`]), runs a FUMO
//!   campaign over it and drives every device through the firmware flow until it finishes.

pub mod baseline;
pub mod campaign;
pub mod dm;
pub mod http;
pub mod report;
pub mod sys;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use hyper::Method;
use omadm_protocol::Encoding;
use omadm_protocol::auth::Nonce;

use self::baseline::{BaselineServer, Canned};
use self::dm::{DevState, Failure, SessionKit};
use self::http::HttpConn;
use self::sys::{CpuSnapshot, CpuUse};

/// Device ids are this prefix and the device's index.
pub const DEVICE_PREFIX: &str = "IMEI:LG";

/// The server under test.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port`.
    pub url: String,
    /// `host:port`, sent as Host.
    pub authority: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// The admin API's bearer token.
    pub token: Option<String>,
}

impl Target {
    /// `url` is `http://host:port` (a trailing `/` is ignored).
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Target> {
        let url = url.trim_end_matches('/');
        let (authority, path) = dm::split_url(url)
            .with_context(|| format!("{url:?}: the server URL must be http://host:port"))?;
        ensure!(path == "/", "{url:?}: give the server's base URL, without a path");
        let addr = authority
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve {authority}"))?
            .next()
            .with_context(|| format!("{authority} resolves to no address"))?;
        Ok(Target { url: url.to_owned(), authority: authority.to_owned(), addr, token })
    }

    /// The DM endpoint.
    pub fn dm_url(&self) -> String {
        format!("{}/dm", self.url)
    }

    /// A new (not yet opened) connection to it.
    pub fn conn(&self) -> HttpConn {
        HttpConn::new(self.addr, &self.authority, self.token.as_deref())
    }
}

/// The virtual devices and what each keeps between sessions.
pub struct Fleet {
    ids: Vec<String>,
    state: Vec<Mutex<DevState>>,
    busy: Vec<AtomicBool>,
}

impl Fleet {
    /// `n` devices `IMEI:LG0` ... with the initial nonce, nothing queued.
    pub fn new(n: usize) -> Fleet {
        Fleet::with_states((0..n).map(|_| DevState::default()).collect())
    }

    fn with_states(states: Vec<DevState>) -> Fleet {
        Fleet {
            ids: (0..states.len()).map(|i| format!("{DEVICE_PREFIX}{i}")).collect(),
            busy: (0..states.len()).map(|_| AtomicBool::new(false)).collect(),
            state: states.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the fleet has no device.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Device `i`'s id.
    pub fn id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    /// A copy of device `i`'s state.
    pub fn state(&self, i: usize) -> DevState {
        self.state[i].lock().expect("device state lock").clone()
    }

    /// Devices whose Get and Replace are queued.
    pub fn queued(&self) -> usize {
        (0..self.len()).filter(|&i| self.state(i).queued).count()
    }

    fn set_queued(&self, i: usize, queued: bool) {
        self.state[i].lock().expect("device state lock").queued = queued;
    }

    /// Take device `i` for a session, unless it is in one.
    fn take(&self, i: usize) -> Option<DevState> {
        if self.busy[i].swap(true, Ordering::Acquire) {
            return None;
        }
        Some(self.state(i))
    }

    /// Take the first free device from `i` on (there is one: workers ≤ devices).
    fn take_from(&self, mut i: usize) -> (usize, DevState) {
        loop {
            if let Some(s) = self.take(i) {
                return (i, s);
            }
            i = (i + 1) % self.len();
        }
    }

    /// Give device `i` back after its session.
    fn give(&self, i: usize, s: DevState) {
        *self.state[i].lock().expect("device state lock") = s;
        self.busy[i].store(false, Ordering::Release);
    }

    /// Write the fleet's state (nonces, session counts, queued flags) to `path`, so that a
    /// later `run` in another process continues where this one stopped.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = format!("omadm-loadgen-state 1 {}\n", self.len());
        for i in 0..self.len() {
            let s = self.state(i);
            out.push_str(&format!(
                "{} {} {}\n",
                Nonce::new(s.nonce).to_b64(),
                s.sessions,
                u8::from(s.queued)
            ));
        }
        std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Read a state file written by [`Fleet::save`].
    pub fn load(path: &Path) -> anyhow::Result<Fleet> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let n: usize = head
            .strip_prefix("omadm-loadgen-state 1 ")
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("{}: not a loadgen state file", path.display()))?;
        let mut states = Vec::with_capacity(n);
        for (k, line) in lines.enumerate() {
            let bad = || format!("{}: line {} is malformed", path.display(), k + 2);
            let mut f = line.split(' ');
            let nonce = Nonce::from_b64(f.next().with_context(bad)?).ok().with_context(bad)?.into_bytes();
            let sessions = f.next().and_then(|s| s.parse().ok()).with_context(bad)?;
            let queued = f.next().with_context(bad)? == "1";
            states.push(DevState { nonce, sessions, queued });
        }
        ensure!(states.len() == n, "{}: {} devices announced, {} found", path.display(), n, states.len());
        Ok(Fleet::with_states(states))
    }
}

/// Failures by kind, with a few full messages.
#[derive(Clone, Debug, Default)]
pub struct Errors {
    /// Count per [`Failure::key`].
    pub by_kind: BTreeMap<String, u64>,
    /// The first few failures in full.
    pub samples: Vec<String>,
}

impl Errors {
    fn add(&mut self, f: &Failure, device: &str) {
        *self.by_kind.entry(f.key()).or_default() += 1;
        if self.samples.len() < 5 {
            self.samples.push(format!("{device}: {}", f.detail()));
        }
    }

    fn merge(&mut self, o: Errors) {
        for (k, v) in o.by_kind {
            *self.by_kind.entry(k).or_default() += v;
        }
        for s in o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }

    /// Total failures.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }
}

// ------------------------------------------------------------------------------------------
// Setup and refill

/// What [`setup`] did.
#[derive(Clone, Debug, Default)]
pub struct SetupReport {
    /// Devices registered.
    pub registered: u64,
    /// Devices whose two commands were queued.
    pub queued: u64,
    /// Admin API requests answered.
    pub requests: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Failed requests.
    pub errors: Errors,
}

fn encode_segment(s: &str) -> String {
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

async fn api_post(conn: &mut HttpConn, path: &str, body: serde_json::Value) -> Result<(), Failure> {
    let r = conn.request(Method::POST, path, Some("application/json"), Bytes::from(body.to_string())).await?;
    if r.status != 201 {
        return Err(Failure::Protocol(format!(
            "POST {path}: HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body).trim()
        )));
    }
    Ok(())
}

/// Queue the Get and the Replace for one device.
async fn enqueue_pair(conn: &mut HttpConn, device_id: &str) -> Result<(), Failure> {
    let path = format!("/api/v1/devices/{}/commands", encode_segment(device_id));
    api_post(conn, &path, serde_json::json!({"op": "Get", "target": dm::GET_TARGET})).await?;
    api_post(
        conn,
        &path,
        serde_json::json!({"op": "Replace", "target": dm::REPLACE_TARGET, "data": "on", "format": "chr"}),
    )
    .await
}

/// With `register`, register every device of the fleet through the admin API (MD5, user
/// [`dm::USERNAME`], the initial nonce) and queue its two commands; without, queue the two
/// commands for every device that has none queued (the refill after a run). `concurrency`
/// connections work in parallel.
pub async fn setup(target: &Target, fleet: &Arc<Fleet>, concurrency: usize, register: bool) -> SetupReport {
    setup_range(target, fleet, concurrency, register, 0..fleet.len()).await
}

/// [`setup`] for the devices in `range` only.
pub async fn setup_range(
    target: &Target,
    fleet: &Arc<Fleet>,
    concurrency: usize,
    register: bool,
    range: std::ops::Range<usize>,
) -> SetupReport {
    setup_devices(target, fleet, concurrency, register, true, range).await
}

/// Register every device of the fleet, queueing nothing (a campaign queues their commands).
pub async fn register(target: &Target, fleet: &Arc<Fleet>, concurrency: usize) -> SetupReport {
    setup_devices(target, fleet, concurrency, true, false, 0..fleet.len()).await
}

async fn setup_devices(
    target: &Target,
    fleet: &Arc<Fleet>,
    concurrency: usize,
    register: bool,
    queue: bool,
    range: std::ops::Range<usize>,
) -> SetupReport {
    let started = Instant::now();
    let end = range.end.min(fleet.len());
    let next = Arc::new(AtomicU64::new(range.start as u64));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (target, fleet, next) = (target.clone(), fleet.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = target.conn();
            let mut r = SetupReport::default();
            let nonce = Nonce::new(dm::INITIAL_NONCE.to_vec()).to_b64();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= end {
                    break;
                }
                let id = fleet.id(i);
                if !register && fleet.state(i).queued {
                    continue;
                }
                if register {
                    let body = serde_json::json!({
                        "device_id": id,
                        "client_auth": {"type": "md5", "username": dm::USERNAME, "password": dm::PASSWORD, "nonce": nonce},
                    });
                    r.requests += 1;
                    if let Err(e) = api_post(&mut conn, "/api/v1/devices", body).await {
                        r.errors.add(&e, id);
                        continue;
                    }
                    r.registered += 1;
                }
                if !queue {
                    continue;
                }
                r.requests += 2;
                match enqueue_pair(&mut conn, id).await {
                    Ok(()) => {
                        fleet.set_queued(i, true);
                        r.queued += 1;
                    }
                    Err(e) => r.errors.add(&e, id),
                }
            }
            r
        }));
    }
    let mut total = SetupReport::default();
    for t in tasks {
        let r = t.await.expect("setup worker");
        total.registered += r.registered;
        total.queued += r.queued;
        total.requests += r.requests;
        total.errors.merge(r.errors);
    }
    total.elapsed = started.elapsed();
    total
}

// ------------------------------------------------------------------------------------------
// Runs

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// A label for the report (`dm`, `baseline`, `all-once`).
    pub label: String,
    /// The wire encoding.
    pub encoding: Encoding,
    /// Workers (one keep-alive connection and one session at a time each).
    pub concurrency: usize,
    /// No session starts after this.
    pub duration: Duration,
    /// No session starts after this many have started.
    pub max_sessions: u64,
    /// Queue the commands through the admin API before the session of a device that has none
    /// queued (timed apart from the session; see [`RunStats::enqueues`]). Without, such a
    /// session runs anyway and fails with "package 2 lacks the Get".
    pub enqueue_when_empty: bool,
}

impl RunOptions {
    /// A DM run of `duration` with `concurrency` workers.
    pub fn new(encoding: Encoding, concurrency: usize, duration: Duration) -> RunOptions {
        RunOptions {
            label: "dm".into(),
            encoding,
            concurrency,
            duration,
            max_sessions: u64::MAX,
            enqueue_when_empty: true,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// [`RunOptions::label`].
    pub label: String,
    /// `xml` or `wbxml`.
    pub encoding: String,
    /// Workers.
    pub concurrency: usize,
    /// From the first request to the end of the last session.
    pub elapsed: Duration,
    /// Sessions completed (packages 1 to 4, every check passed).
    pub sessions: u64,
    /// HTTP requests answered (DM messages), in completed and failed sessions.
    pub requests: u64,
    /// Failed sessions by kind.
    pub errors: Errors,
    /// Latency of each completed session, package 1 sent to package 4 read, µs, sorted.
    pub latencies_us: Vec<u32>,
    /// Admin API enqueues done during the run ([`RunOptions::enqueue_when_empty`]).
    pub enqueues: u64,
    /// Their latencies (both requests), µs, sorted.
    pub enqueue_latencies_us: Vec<u32>,
    /// The answers of one session (packages 2 and 4), for the baseline.
    pub canned: Option<Canned>,
    /// Sizes of packages 1 and 3 as sent.
    pub request_bytes: [usize; 2],
    /// CPU used during the run (set by [`measured`]).
    pub cpu: Option<CpuUse>,
    /// The server's peak RSS during the run, KiB (set by [`measured`]).
    pub server_peak_rss_kib: Option<u64>,
    /// Connections opened (more than the workers means some broke).
    pub connects: u64,
    /// The machine's 1-minute load average at the end (other work on the machine shows here).
    pub load_avg: Option<f64>,
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Xml => "xml",
        Encoding::Wbxml => "wbxml",
    }
}

/// Drive `fleet` against `target`'s DM endpoint. The first completed session's answers are
/// kept in [`RunStats::canned`].
pub async fn run(target: &Target, fleet: &Arc<Fleet>, opts: &RunOptions) -> RunStats {
    let kit = SessionKit::new(&target.dm_url(), opts.encoding, Some(target.authority.clone()));
    drive(target, fleet, opts, Arc::new(kit)).await
}

/// Drive a fresh fleet of `devices` with `opts` against a [`BaselineServer`] replaying
/// `canned`, on `threads` server threads.
pub async fn run_baseline(
    canned: &Canned,
    dm_target: &Target,
    devices: usize,
    threads: usize,
    opts: &RunOptions,
) -> anyhow::Result<RunStats> {
    let server = BaselineServer::start(canned.clone(), threads)?;
    // The same requests as the DM run: the same URL in the messages; only the socket differs.
    let target = Target { addr: server.addr, ..dm_target.clone() };
    let fleet = Fleet::new(devices.max(opts.concurrency));
    for i in 0..fleet.len() {
        fleet.set_queued(i, true);
    }
    let kit = SessionKit::new(&dm_target.dm_url(), opts.encoding, None);
    let opts = RunOptions { label: "baseline".into(), enqueue_when_empty: false, ..opts.clone() };
    let before = CpuSnapshot::take(None, baseline::THREAD_NAME);
    let mut stats = drive(&target, &Arc::new(fleet), &opts, Arc::new(kit)).await;
    stats.cpu = Some(before.until(&CpuSnapshot::take(None, baseline::THREAD_NAME), true));
    drop(server);
    Ok(stats)
}

/// Run `f` (a DM run) and add the CPU used and the server's peak RSS meanwhile.
pub async fn measured(server_pid: Option<u32>, f: impl Future<Output = RunStats>) -> RunStats {
    if let Some(pid) = server_pid {
        sys::reset_peak(pid);
    }
    let before = CpuSnapshot::take(server_pid, baseline::THREAD_NAME);
    let mut stats = f.await;
    stats.cpu = Some(before.until(&CpuSnapshot::take(server_pid, baseline::THREAD_NAME), false));
    stats.server_peak_rss_kib = server_pid.and_then(sys::peak_rss_kib);
    stats
}

struct WorkerResult {
    sessions: u64,
    requests: u64,
    errors: Errors,
    latencies: Vec<u32>,
    enqueues: u64,
    enqueue_latencies: Vec<u32>,
    request_bytes: [usize; 2],
    connects: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn drive(target: &Target, fleet: &Arc<Fleet>, opts: &RunOptions, kit: Arc<SessionKit>) -> RunStats {
    let started = Instant::now();
    let deadline = started + opts.duration;
    let next = Arc::new(AtomicU64::new(0));
    let recorded: Arc<OnceLock<(Bytes, Bytes)>> = Arc::new(OnceLock::new());
    let workers = opts.concurrency.clamp(1, fleet.len().max(1));
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (target, fleet, next, kit, recorded, opts) =
            (target.clone(), fleet.clone(), next.clone(), kit.clone(), recorded.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = target.conn();
            let mut admin: Option<HttpConn> = None;
            let mut w = WorkerResult {
                sessions: 0,
                requests: 0,
                errors: Errors::default(),
                latencies: Vec::with_capacity(4096),
                enqueues: 0,
                enqueue_latencies: Vec::new(),
                request_bytes: [0; 2],
                connects: 0,
            };
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= opts.max_sessions {
                    break;
                }
                let (i, mut st) = fleet.take_from((k % fleet.len() as u64) as usize);
                let id = fleet.id(i);
                if !st.queued && opts.enqueue_when_empty {
                    let t = Instant::now();
                    let admin = admin.get_or_insert_with(|| target.conn());
                    match enqueue_pair(admin, id).await {
                        Ok(()) => {
                            st.queued = true;
                            w.enqueues += 1;
                            w.enqueue_latencies.push(micros(t.elapsed()));
                        }
                        Err(e) => {
                            w.errors.add(&e, id);
                            fleet.give(i, st);
                            continue;
                        }
                    }
                }
                let t0 = Instant::now();
                let record = recorded.get().is_none();
                match kit.session(&mut conn, id, &mut st, false, record).await {
                    Ok(o) => {
                        w.latencies.push(micros(t0.elapsed()));
                        w.sessions += 1;
                        w.requests += u64::from(o.requests);
                        st.queued = false;
                        if let Some(a) = o.answers {
                            let _ = recorded.set(a);
                            w.request_bytes = o.request_bytes;
                        }
                    }
                    Err((f, requests)) => {
                        w.requests += u64::from(requests);
                        if matches!(&f, Failure::Protocol(m) if m.contains("lacks the Get")) {
                            st.queued = false;
                        }
                        w.errors.add(&f, id);
                    }
                }
                fleet.give(i, st);
            }
            w.connects = u64::from(conn.connects);
            w
        }));
    }
    let mut stats = RunStats {
        label: opts.label.clone(),
        encoding: encoding_name(opts.encoding).into(),
        concurrency: workers,
        ..RunStats::default()
    };
    for t in tasks {
        let w = t.await.expect("run worker");
        stats.sessions += w.sessions;
        stats.requests += w.requests;
        stats.errors.merge(w.errors);
        stats.latencies_us.extend(w.latencies);
        stats.enqueues += w.enqueues;
        stats.enqueue_latencies_us.extend(w.enqueue_latencies);
        stats.connects += w.connects;
        if w.request_bytes[0] > 0 {
            stats.request_bytes = w.request_bytes;
        }
    }
    stats.elapsed = started.elapsed();
    stats.load_avg = sys::load_avg();
    stats.latencies_us.sort_unstable();
    stats.enqueue_latencies_us.sort_unstable();
    stats.canned = recorded.get().map(|(p2, p4)| Canned {
        content_type: opts.encoding.content_type(),
        pkg2: p2.clone(),
        pkg4: p4.clone(),
    });
    stats
}

// ------------------------------------------------------------------------------------------
// Memory per in-flight session

/// What [`memory`] measured.
#[derive(Clone, Debug, Default)]
pub struct MemoryReport {
    /// Sessions opened and left waiting in package 2.
    pub sessions: u64,
    /// Connections they were opened over (and that stayed open while measuring).
    pub connections: usize,
    /// Server RSS before, KiB.
    pub rss_before_kib: u64,
    /// Server RSS with the sessions open, KiB.
    pub rss_after_kib: u64,
    /// Failures.
    pub errors: Errors,
    /// Time to open them.
    pub elapsed: Duration,
}

impl MemoryReport {
    /// RSS growth per open session, bytes (may be negative: the allocator returned memory).
    pub fn bytes_per_session(&self) -> f64 {
        if self.sessions == 0 {
            return 0.0;
        }
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) * 1024.0 / self.sessions as f64
    }
}

/// Open one session (package 1, package 2 checked) for each of the devices
/// `first..first + count` and leave it waiting for package 3. With `hold_connections` every
/// session gets its own connection, returned open; otherwise `concurrency` connections are
/// shared and closed at the end.
pub async fn open_sessions(
    target: &Target,
    fleet: &Arc<Fleet>,
    first: usize,
    count: usize,
    concurrency: usize,
    encoding: Encoding,
    hold_connections: bool,
) -> (u64, Errors, Vec<HttpConn>) {
    let kit = Arc::new(SessionKit::new(&target.dm_url(), encoding, Some(target.authority.clone())));
    let next = Arc::new(AtomicU64::new(first as u64));
    let end = (first + count).min(fleet.len()) as u64;
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (target, fleet, next, kit) = (target.clone(), fleet.clone(), next.clone(), kit.clone());
        tasks.push(tokio::spawn(async move {
            let mut shared = target.conn();
            let mut held = Vec::new();
            let (mut ok, mut errors) = (0u64, Errors::default());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (i, mut st) = fleet.take_from(i as usize);
                let mut own = hold_connections.then(|| target.conn());
                let conn = own.as_mut().unwrap_or(&mut shared);
                match kit.session(conn, fleet.id(i), &mut st, true, false).await {
                    Ok(_) => ok += 1,
                    Err((f, _)) => errors.add(&f, fleet.id(i)),
                }
                fleet.give(i, st);
                held.extend(own);
            }
            (ok, errors, held)
        }));
    }
    let (mut ok, mut errors, mut held) = (0, Errors::default(), Vec::new());
    for t in tasks {
        let (o, e, h) = t.await.expect("memory worker");
        ok += o;
        errors.merge(e);
        held.extend(h);
    }
    (ok, errors, held)
}

/// Measure the server's RSS (`pid`) before and after opening `count` sessions from device
/// `first` on (see [`open_sessions`]).
#[allow(clippy::too_many_arguments)]
pub async fn memory(
    target: &Target,
    fleet: &Arc<Fleet>,
    pid: u32,
    first: usize,
    count: usize,
    concurrency: usize,
    encoding: Encoding,
    hold_connections: bool,
) -> anyhow::Result<MemoryReport> {
    ensure!(first + count <= fleet.len(), "{count} sessions from device {first} need more devices");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let Some(before) = sys::rss_kib(pid) else { bail!("cannot read /proc/{pid}/status") };
    let started = Instant::now();
    let (sessions, errors, held) =
        open_sessions(target, fleet, first, count, concurrency, encoding, hold_connections).await;
    let elapsed = started.elapsed();
    // Let the server finish whatever it does after answering (pool connections going idle).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sys::rss_kib(pid).context("the server went away")?;
    let connections = if hold_connections { held.len() } else { concurrency };
    drop(held);
    Ok(MemoryReport { sessions, connections, rss_before_kib: before, rss_after_kib: after, errors, elapsed })
}
