//! What the loadgen reads from Linux `/proc` (memory and CPU of the server, of its own threads,
//! of PostgreSQL, of the machine) and the `omadm serve` child it can start itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Clock ticks per second of `/proc/*/stat` CPU times (`getconf CLK_TCK`; 100 on Linux
/// everywhere but exotic kernels).
pub const TICKS_PER_SEC: f64 = 100.0;

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Current resident set, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Peak resident set since start or the last [`reset_peak`], KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

/// Reset `VmHWM` to the current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux ≥ 4.0; needs
/// the right to ptrace the process). Returns whether it worked.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// `(comm, utime + stime ticks)` of a `/proc/.../stat` file.
fn stat_comm_ticks(path: &Path) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_owned();
    let mut f = s[close + 1..].split_whitespace();
    // After ")": state(3) ... utime(14) stime(15): indexes 11 and 12.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU seconds a process has used (all its threads).
pub fn process_cpu(pid: u32) -> Option<f64> {
    stat_comm_ticks(Path::new(&format!("/proc/{pid}/stat"))).map(|(_, t)| t as f64 / TICKS_PER_SEC)
}

/// CPU seconds used by this process's threads whose name starts with `prefix`.
pub fn own_threads_cpu(prefix: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| stat_comm_ticks(&e.path().join("stat")))
        .filter(|(comm, _)| comm.starts_with(prefix))
        .map(|(_, t)| t as f64 / TICKS_PER_SEC)
        .sum()
}

/// CPU seconds used by every live process named `name` (e.g. `postgres`: the backends serving
/// the server's pool).
pub fn processes_cpu(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0.0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| stat_comm_ticks(&e.path().join("stat")))
        .filter(|(comm, _)| comm == name)
        .map(|(_, t)| t as f64 / TICKS_PER_SEC)
        .sum()
}

/// `(busy, total)` jiffies of the whole machine (`/proc/stat` line `cpu`).
pub fn machine_jiffies() -> (u64, u64) {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else { return (0, 0) };
    let Some(line) = s.lines().next() else { return (0, 0) };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// The 1-minute load average (`/proc/loadavg`).
pub fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// The CPU model name and the number of CPUs this process may use.
pub fn machine() -> (String, usize) {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    (model, std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// CPU use over an interval, in seconds of CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    /// This process minus the baseline server's threads: the client.
    pub client: f64,
    /// The DM server process (or the in-process baseline server's threads).
    pub server: f64,
    /// PostgreSQL processes.
    pub postgres: f64,
    /// Share of the machine's CPU time that was busy (0..1).
    pub machine_busy: f64,
}

/// A point-in-time reading for [`CpuUse`].
#[derive(Clone, Copy, Debug)]
pub struct CpuSnapshot {
    own: f64,
    baseline: f64,
    server: f64,
    postgres: f64,
    jiffies: (u64, u64),
}

impl CpuSnapshot {
    /// Read now; `server_pid` is the DM server, if known.
    pub fn take(server_pid: Option<u32>, baseline_prefix: &str) -> CpuSnapshot {
        CpuSnapshot {
            own: process_cpu(std::process::id()).unwrap_or(0.0),
            baseline: own_threads_cpu(baseline_prefix),
            server: server_pid.and_then(process_cpu).unwrap_or(0.0),
            postgres: processes_cpu("postgres"),
            jiffies: machine_jiffies(),
        }
    }

    /// What was used between `self` and `later`. With `baseline`, the "server" is this
    /// process's baseline threads.
    pub fn until(&self, later: &CpuSnapshot, baseline: bool) -> CpuUse {
        let base = later.baseline - self.baseline;
        let (busy, total) = (later.jiffies.0 - self.jiffies.0, later.jiffies.1 - self.jiffies.1);
        CpuUse {
            client: (later.own - self.own) - base,
            server: if baseline { base } else { later.server - self.server },
            postgres: (later.postgres - self.postgres).max(0.0),
            machine_busy: if total == 0 { 0.0 } else { busy as f64 / total as f64 },
        }
    }
}

/// An `omadm serve` child process, killed when dropped.
pub struct SpawnedServer {
    child: Child,
    /// Its pid.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Where its standard error goes.
    pub log: PathBuf,
}

impl SpawnedServer {
    /// Start `bin serve` on a free loopback port with `database_url` and the admin `token`,
    /// `RUST_LOG=rust_log`, and wait (up to 60 s) until it accepts connections.
    pub fn start(
        bin: &Path,
        database_url: &str,
        token: &str,
        rust_log: &str,
    ) -> anyhow::Result<SpawnedServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let listen = format!("127.0.0.1:{port}");
        let log =
            std::env::temp_dir().join(format!("omadm-loadgen-server-{}-{port}.log", std::process::id()));
        let err = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(bin)
            .args(["serve", "--listen", &listen, "--admin-token", token])
            .env("OMADM_DATABASE_URL", database_url)
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id();
        let mut s = SpawnedServer { child, pid, url: format!("http://{listen}"), log };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = s.child.try_wait()? {
                bail!("{} exited with {status} at start-up; its log: {}", bin.display(), s.log.display());
            }
            if std::net::TcpStream::connect(&listen).is_ok() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("{} does not accept connections on {listen} after 60 s", bin.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
