//! `omadm-loadgen`: load generator and benchmark for the omadm DM server.
//!
//! ```sh
//! # Against a running server (state between invocations kept in --state):
//! omadm-loadgen setup --server-url http://127.0.0.1:8080 --token T --devices 100000
//! omadm-loadgen run   --server-url http://127.0.0.1:8080 --token T --concurrency 32 --duration 30 \
//!                     --baseline --server-pid $(pgrep -n omadm)
//! omadm-loadgen memory --server-url http://127.0.0.1:8080 --token T --server-pid PID --sessions 10000
//!
//! # Everything in one go, with a server started (and stopped) by the loadgen:
//! omadm-loadgen bench --spawn-server target/release/omadm --database-url sqlite:///tmp/lg.db \
//!                     --devices 100000 --concurrency 32,128 --encodings xml,wbxml --duration 30 \
//!                     --all-once --memory-sessions 10000
//!
//! # A FUMO campaign over a fresh fleet, timed to its end:
//! omadm-loadgen campaign --spawn-server target/release/omadm --database-url sqlite:///tmp/lc.db \
//!                     --devices 10000 --concurrency 64
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::{Args, Parser, Subcommand};
use omadm_conformance::loadgen::campaign::{self, CampaignOptions};
use omadm_conformance::loadgen::report::{MARKDOWN_HEADER, markdown_row, ratio_line};
use omadm_conformance::loadgen::sys::{self, SpawnedServer};
use omadm_conformance::loadgen::{self, Fleet, RunOptions, RunStats, Target};
use omadm_protocol::Encoding;

#[derive(Parser, Debug)]
#[command(name = "omadm-loadgen", version, about = "Load generator and benchmark for the omadm DM server")]
struct Cli {
    /// Client runtime threads (the client shares the machine with the server).
    #[arg(long, global = true, default_value_t = 2)]
    client_threads: usize,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Register the fleet through the admin API and queue each device's Get and Replace.
    Setup(SetupArgs),
    /// Run sessions for a duration (optionally followed by the baseline), then re-queue.
    Run(RunArgs),
    /// Open sessions, leave them in package 2, and measure the server's RSS per session.
    Memory(MemoryArgs),
    /// Start a server, set up, run a matrix of runs with baselines, measure memory: one report.
    Bench(BenchArgs),
    /// Register a fleet, upload firmware, run a FUMO campaign over it to its end, timed.
    Campaign(CampaignArgs),
}

#[derive(Args, Debug)]
struct ServerArgs {
    /// Base URL of a running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server_url: String,
    /// Admin API bearer token.
    #[arg(long, env = "OMADM_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The running server's pid, to read its peak RSS (VmHWM) and CPU time from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Start this `omadm` binary (`omadm serve` on a free loopback port, with --database-url)
    /// instead of using --server-url, and stop it at the end.
    #[arg(long, value_name = "OMADM_BINARY")]
    spawn_server: Option<PathBuf>,
    /// Database of the spawned server: a fresh SQLite file or PostgreSQL database.
    #[arg(long, requires = "spawn_server")]
    database_url: Option<String>,
    /// RUST_LOG of the spawned server.
    #[arg(long, default_value = "warn")]
    server_log: String,
}

#[derive(Args, Debug)]
struct SetupArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Devices to register (IMEI:LG0 ...).
    #[arg(long)]
    devices: usize,
    /// Parallel admin API connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Where the fleet's state (nonces, queued flags) is kept between invocations.
    #[arg(long, default_value = "omadm-loadgen.state")]
    state: PathBuf,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Devices (with --spawn-server: registered first; otherwise must match the state file).
    #[arg(long)]
    devices: Option<usize>,
    /// Concurrent sessions (workers, one keep-alive connection each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds during which sessions start.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Stop after this many sessions (e.g. the number of devices: each device once).
    #[arg(long)]
    max_sessions: Option<u64>,
    /// WBXML instead of XML.
    #[arg(long)]
    wbxml: bool,
    /// Then run the same load against a trivial HTTP server replaying the DM answers.
    #[arg(long)]
    baseline: bool,
    /// Worker threads of the baseline server (the DM server has one per core).
    #[arg(long)]
    baseline_threads: Option<usize>,
    /// Do not re-queue the commands used by the run.
    #[arg(long)]
    no_refill: bool,
    /// Parallel admin API connections for setup and refill.
    #[arg(long, default_value_t = 64)]
    setup_concurrency: usize,
    /// The fleet's state file (from `setup`).
    #[arg(long, default_value = "omadm-loadgen.state")]
    state: PathBuf,
    /// Also print the result as a Markdown table row with this backend name.
    #[arg(long)]
    backend: Option<String>,
}

#[derive(Args, Debug)]
struct MemoryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Devices (with --spawn-server; otherwise from the state file).
    #[arg(long)]
    devices: Option<usize>,
    /// Sessions to open and leave in package 2.
    #[arg(long, default_value_t = 10_000)]
    sessions: usize,
    /// First device to use.
    #[arg(long, default_value_t = 0)]
    first_device: usize,
    /// Connections to open them over (ignored with --hold-connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Give each session its own connection and keep them all open while measuring.
    #[arg(long)]
    hold_connections: bool,
    /// WBXML instead of XML.
    #[arg(long)]
    wbxml: bool,
    /// The fleet's state file (from `setup`).
    #[arg(long, default_value = "omadm-loadgen.state")]
    state: PathBuf,
}

#[derive(Args, Debug)]
struct BenchArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Devices to register.
    #[arg(long, default_value_t = 100_000)]
    devices: usize,
    /// Concurrencies to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,128")]
    concurrency: Vec<usize>,
    /// Encodings to run, comma-separated: xml, wbxml.
    #[arg(long, value_delimiter = ',', default_value = "xml,wbxml")]
    encodings: Vec<String>,
    /// Seconds of each DM run and of each baseline run.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// After the matrix, every device through one session (timed end to end).
    #[arg(long)]
    all_once: bool,
    /// Concurrency of the all-once run.
    #[arg(long, default_value_t = 128)]
    all_once_concurrency: usize,
    /// Sessions for the memory measurement (0: none). Twice: over shared connections, then
    /// each with its own open connection.
    #[arg(long, default_value_t = 10_000)]
    memory_sessions: usize,
    /// Worker threads of the baseline server.
    #[arg(long)]
    baseline_threads: Option<usize>,
    /// Parallel admin API connections for setup and refills.
    #[arg(long, default_value_t = 64)]
    setup_concurrency: usize,
    /// Name of the backend in the table (default: from the database URL).
    #[arg(long)]
    backend: Option<String>,
    /// Also write the report (Markdown) here.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CampaignArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Devices to register (IMEI:LG0 ...; the database must not hold them yet).
    #[arg(long, default_value_t = 10_000)]
    devices: usize,
    /// Concurrent sessions (workers, one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// WBXML instead of XML.
    #[arg(long)]
    wbxml: bool,
    /// Policy max_concurrent (default: every device).
    #[arg(long)]
    max_concurrent: Option<u32>,
    /// Policy max_per_minute (default: 60 x devices).
    #[arg(long)]
    max_per_minute: Option<u32>,
    /// Milliseconds after its update session before a device calls in again (its restart).
    #[arg(long, default_value_t = 2000)]
    recall_ms: u64,
    /// Longest wait, ms, between verify sessions that brought nothing (the wait doubles).
    #[arg(long, default_value_t = 60_000)]
    recall_max_ms: u64,
    /// Milliseconds between reads of the notified devices and of the counters.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
    /// Size of the firmware package, KiB.
    #[arg(long, default_value_t = 64)]
    firmware_kib: usize,
    /// Parallel admin API connections for the registration.
    #[arg(long, default_value_t = 64)]
    setup_concurrency: usize,
}

/// The server to talk to, and the child process when we started it.
struct Server {
    target: Target,
    pid: Option<u32>,
    spawned: Option<SpawnedServer>,
}

fn server(args: &ServerArgs) -> anyhow::Result<Server> {
    match &args.spawn_server {
        Some(bin) => {
            let url = args.database_url.as_deref().context("--spawn-server needs --database-url")?;
            let token = args.token.clone().unwrap_or_else(|| "loadgen-token".into());
            let s = SpawnedServer::start(bin, url, &token, &args.server_log)?;
            eprintln!(
                "started {} serve at {} (pid {}, log {})",
                bin.display(),
                s.url,
                s.pid,
                s.log.display()
            );
            Ok(Server { target: Target::new(&s.url, Some(token))?, pid: Some(s.pid), spawned: Some(s) })
        }
        None => Ok(Server {
            target: Target::new(&args.server_url, args.token.clone())?,
            pid: args.server_pid,
            spawned: None,
        }),
    }
}

fn encoding(wbxml: bool) -> Encoding {
    if wbxml { Encoding::Wbxml } else { Encoding::Xml }
}

fn parse_encoding(s: &str) -> anyhow::Result<Encoding> {
    match s.trim() {
        "xml" => Ok(Encoding::Xml),
        "wbxml" => Ok(Encoding::Wbxml),
        other => bail!("unknown encoding {other:?}: xml or wbxml"),
    }
}

fn cores() -> usize {
    sys::machine().1
}

async fn setup_fleet(target: &Target, devices: usize, concurrency: usize) -> anyhow::Result<Arc<Fleet>> {
    Ok(setup_fleet_report(target, devices, concurrency).await?.0)
}

async fn setup_fleet_report(
    target: &Target,
    devices: usize,
    concurrency: usize,
) -> anyhow::Result<(Arc<Fleet>, String)> {
    let fleet = Arc::new(Fleet::new(devices));
    let r = loadgen::setup(target, &fleet, concurrency, true).await;
    let summary = r.summary("setup");
    println!("{summary}");
    ensure!(r.errors.total() == 0, "setup failed (a fresh database is needed)");
    Ok((fleet, summary))
}

async fn refill(target: &Target, fleet: &Arc<Fleet>, concurrency: usize) -> anyhow::Result<()> {
    let r = loadgen::setup(target, fleet, concurrency, false).await;
    println!("{}", r.summary("refill (not measured)"));
    ensure!(r.errors.total() == 0, "refill failed");
    Ok(())
}

/// A fleet for a server: registered now if we started the server, else from the state file.
async fn fleet_for(
    srv: &Server,
    devices: Option<usize>,
    state: &Path,
    setup_concurrency: usize,
) -> anyhow::Result<Arc<Fleet>> {
    if srv.spawned.is_some() {
        let n = devices.context("--devices is needed with --spawn-server")?;
        return setup_fleet(&srv.target, n, setup_concurrency).await;
    }
    let fleet = Fleet::load(state).with_context(|| "run `omadm-loadgen setup` first")?;
    if let Some(n) = devices {
        ensure!(n == fleet.len(), "{} holds {} devices, not {n}", state.display(), fleet.len());
    }
    Ok(Arc::new(fleet))
}

/// A DM run, printed, and its baseline if asked.
async fn pair(
    srv: &Server,
    fleet: &Arc<Fleet>,
    opts: &RunOptions,
    baseline_threads: Option<usize>,
) -> anyhow::Result<(RunStats, Option<RunStats>)> {
    let dm = loadgen::measured(srv.pid, loadgen::run(&srv.target, fleet, opts)).await;
    println!("{}", dm.summary());
    let Some(threads) = baseline_threads else { return Ok((dm, None)) };
    let Some(canned) = &dm.canned else {
        println!("baseline skipped: no DM session completed, so there is no answer to replay");
        return Ok((dm, None));
    };
    let b = loadgen::run_baseline(canned, &srv.target, fleet.len(), threads, opts).await?;
    println!("{}", b.summary());
    println!("{}", ratio_line(&dm, &b));
    Ok((dm, Some(b)))
}

async fn cmd_setup(a: SetupArgs) -> anyhow::Result<()> {
    let srv = server(&a.server)?;
    let fleet = setup_fleet(&srv.target, a.devices, a.concurrency).await?;
    fleet.save(&a.state)?;
    println!("state written to {}", a.state.display());
    Ok(())
}

async fn cmd_run(a: RunArgs) -> anyhow::Result<()> {
    let srv = server(&a.server)?;
    let fleet = fleet_for(&srv, a.devices, &a.state, a.setup_concurrency).await?;
    let mut opts = RunOptions::new(encoding(a.wbxml), a.concurrency, Duration::from_secs(a.duration));
    if let Some(m) = a.max_sessions {
        opts.max_sessions = m;
    }
    let threads = a.baseline.then(|| a.baseline_threads.unwrap_or_else(cores));
    let (dm, b) = pair(&srv, &fleet, &opts, threads).await?;
    if let Some(backend) = &a.backend {
        println!("{MARKDOWN_HEADER}\n{}", markdown_row(backend, &dm, b.as_ref()));
    }
    if !a.no_refill {
        refill(&srv.target, &fleet, a.setup_concurrency).await?;
    }
    if srv.spawned.is_none() {
        fleet.save(&a.state)?;
    }
    ensure!(dm.errors.total() == 0, "{} sessions failed", dm.errors.total());
    Ok(())
}

async fn cmd_memory(a: MemoryArgs) -> anyhow::Result<()> {
    let srv = server(&a.server)?;
    let pid = srv.pid.context("--server-pid (or --spawn-server) is needed to read the server's RSS")?;
    let fleet = fleet_for(&srv, a.devices, &a.state, 64).await?;
    // Sessions left in package 2 carry the Get and the Replace, as a real in-flight session.
    let range = a.first_device..a.first_device + a.sessions;
    let r = loadgen::setup_range(&srv.target, &fleet, 64, false, range).await;
    if r.queued > 0 || r.errors.total() > 0 {
        println!("{}", r.summary("refill (not measured)"));
    }
    ensure!(r.errors.total() == 0, "refill failed");
    let r = loadgen::memory(
        &srv.target,
        &fleet,
        pid,
        a.first_device,
        a.sessions,
        a.concurrency,
        encoding(a.wbxml),
        a.hold_connections,
    )
    .await?;
    println!("{}", r.summary());
    if srv.spawned.is_none() {
        fleet.save(&a.state)?;
    }
    Ok(())
}

async fn cmd_bench(a: BenchArgs) -> anyhow::Result<()> {
    let srv = server(&a.server)?;
    ensure!(srv.spawned.is_some(), "bench starts its own server: give --spawn-server and --database-url");
    let encodings = a.encodings.iter().map(|e| parse_encoding(e)).collect::<anyhow::Result<Vec<_>>>()?;
    let backend = a.backend.clone().unwrap_or_else(|| {
        let url = a.server.database_url.as_deref().unwrap_or_default();
        if url.starts_with("postgres") { "PostgreSQL".into() } else { "SQLite".into() }
    });
    let threads = a.baseline_threads.unwrap_or_else(cores);
    let (model, ncpu) = sys::machine();
    let mut md = format!(
        "machine: {ncpu} CPUs, {model}; client threads {}, baseline server threads {threads}\n\n",
        tokio::runtime::Handle::current().metrics().num_workers()
    );
    println!("{}", md.trim_end());

    let (fleet, summary) = setup_fleet_report(&srv.target, a.devices, a.setup_concurrency).await?;
    md.push_str(&format!("{summary}\n\n"));

    let mut rows = Vec::new();
    for &enc in &encodings {
        for &c in &a.concurrency {
            let opts = RunOptions::new(enc, c, Duration::from_secs(a.duration));
            let (dm, b) = pair(&srv, &fleet, &opts, Some(threads)).await?;
            rows.push(markdown_row(&backend, &dm, b.as_ref()));
            refill(&srv.target, &fleet, a.setup_concurrency).await?;
        }
    }
    md.push_str(MARKDOWN_HEADER);
    md.push('\n');
    for r in &rows {
        md.push_str(r);
        md.push('\n');
    }

    if a.all_once {
        let mut opts = RunOptions::new(Encoding::Xml, a.all_once_concurrency, Duration::from_secs(3600));
        opts.label = "all-once".into();
        opts.max_sessions = fleet.len() as u64;
        let r = loadgen::measured(srv.pid, loadgen::run(&srv.target, &fleet, &opts)).await;
        println!("{}", r.summary());
        md.push_str(&format!(
            "\nall-once ({backend}, xml, C={}): {} devices each completed one session in {:.1} s ({:.0} sessions/s, p50/p95/p99 {} ms, errors {}, server peak RSS {}; CPU {})\n",
            r.concurrency,
            r.sessions,
            r.elapsed.as_secs_f64(),
            r.sessions_per_sec(),
            r.latency_text(),
            r.errors.total(),
            r.server_peak_rss_kib.map_or("-".into(), |k| format!("{:.0} MiB", k as f64 / 1024.0)),
            r.cpu_text(),
        ));
    }

    if a.memory_sessions > 0 {
        let pid = srv.pid.expect("spawned");
        let n = a.memory_sessions;
        ensure!(2 * n <= fleet.len(), "--memory-sessions {n} needs {} devices", 2 * n);
        // Sessions left in package 2 carry the Get and the Replace, as a real in-flight session.
        let r = loadgen::setup_range(&srv.target, &fleet, a.setup_concurrency, false, 0..2 * n).await;
        println!("{}", r.summary("refill (not measured)"));
        ensure!(r.errors.total() == 0, "refill failed");
        md.push('\n');
        for (first, hold) in [(0, false), (n, true)] {
            let r = loadgen::memory(&srv.target, &fleet, pid, first, n, 64, Encoding::Xml, hold).await?;
            println!("{}", r.summary());
            md.push_str(&format!("{}\n", r.summary()));
        }
    }
    println!("\n{md}");
    if let Some(p) = &a.markdown {
        std::fs::write(p, &md).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(())
}

async fn cmd_campaign(a: CampaignArgs) -> anyhow::Result<()> {
    let srv = server(&a.server)?;
    let (model, ncpu) = sys::machine();
    println!("machine: {ncpu} CPUs, {model}; load avg {:?}", sys::load_avg());
    let fleet = Arc::new(Fleet::new(a.devices));
    let r = loadgen::register(&srv.target, &fleet, a.setup_concurrency).await;
    println!("{}", r.summary("registration (not measured)"));
    ensure!(r.errors.total() == 0, "registration failed (a fresh database is needed)");
    let mut opts = CampaignOptions::new(a.devices, a.concurrency);
    opts.encoding = encoding(a.wbxml);
    if let Some(m) = a.max_concurrent {
        opts.policy["max_concurrent"] = m.into();
    }
    if let Some(m) = a.max_per_minute {
        opts.policy["max_per_minute"] = m.into();
    }
    opts.recall = Duration::from_millis(a.recall_ms);
    opts.recall_max = Duration::from_millis(a.recall_max_ms.max(a.recall_ms));
    opts.poll = Duration::from_millis(a.poll_ms.max(10));
    opts.timeout = Duration::from_secs(a.timeout);
    opts.firmware_bytes = a.firmware_kib * 1024;
    let r = campaign::run(&srv.target, &fleet, &opts, srv.pid).await?;
    println!("{}", r.summary());
    ensure!(r.completed.is_some(), "the campaign did not finish within {} s", a.timeout);
    ensure!(r.errors.total() == 0, "{} errors", r.errors.total());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.client_threads.max(1))
        .thread_name("lg-client")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Setup(a) => cmd_setup(a).await,
            Cmd::Run(a) => cmd_run(a).await,
            Cmd::Memory(a) => cmd_memory(a).await,
            Cmd::Bench(a) => cmd_bench(a).await,
            Cmd::Campaign(a) => cmd_campaign(a).await,
        }
    })
}
