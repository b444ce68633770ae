//! Prometheus metrics: one fixed, process-wide registry of counters and histograms, rendered
//! in the text exposition format (Prometheus "Exposition formats", text format 0.0.4) at
//! `GET /metrics`.
//!
//! Every label value is a `&'static str` chosen by an enum, and every series is an atomic in
//! a fixed array, so recording is a few relaxed atomic adds: no allocation, no lock, no map
//! lookup on the DM hot path. Series of one node only; Prometheus sums the nodes.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omadm_protocol::DmVersion;
use omadm_storage::{Op, SessionOutcome};

use crate::app::App;

/// The registry of this process.
pub static METRICS: Metrics = Metrics::new();

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram bucket bounds in seconds (upper, inclusive), `+Inf` implied.
pub const BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// A monotonically increasing count.
#[derive(Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }
    /// Add one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Observations counted per bucket (not cumulative until rendered); the sum in nanoseconds.
#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram { buckets: [const { AtomicU64::new(0) }; BUCKETS.len() + 1], sum_nanos: AtomicU64::new(0) }
    }
    /// Record one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }
    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// Declares a label: an enum whose variants index a series array and name their value.
macro_rules! label {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The number of values.
            pub const N: usize = $name::ALL.len();
            /// The label value.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
    };
}

label!(
    /// The DM version of a message or session (`unknown` before it is decoded).
    Version { V1_2 = "1.2", V1_1_2 = "1.1.2", Unknown = "unknown" }
);
label!(
    /// What came of one message on `/dm`.
    MessageResult {
        /// Handled by the session engine and stored.
        Answered = "answered",
        /// A retransmission answered with our last answer, or a refusal with no state change.
        Unchanged = "unchanged",
        /// Refused before the engine: unknown device, unknown or expired session, not a package 1.
        Rejected = "rejected",
        /// Not a DM message: wrong content type, undecodable, too large.
        Invalid = "invalid",
        /// The database failed.
        Error = "error",
    }
);
label!(
    /// How a DM session ended.
    Ended {
        Completed = "completed",
        Aborted = "aborted",
        AuthFailed = "auth_failed",
        TimedOut = "timed_out",
        Failed = "failed",
    }
);
label!(
    /// Why a device was not authenticated.
    AuthFailure {
        /// The Source LocURI is not a registered device.
        UnknownDevice = "unknown_device",
        /// No credentials of the expected kind (challenged with 407).
        Missing = "missing",
        /// Wrong credentials (401).
        Refused = "refused",
        /// Client-certificate authentication is on and the certificate does not name the device.
        ClientCertificate = "client_certificate",
    }
);
label!(
    /// A command's operation.
    CommandOp {
        Get = "Get",
        Add = "Add",
        Replace = "Replace",
        Delete = "Delete",
        Exec = "Exec",
        Copy = "Copy",
        Atomic = "Atomic",
        Sequence = "Sequence",
        Alert = "Alert",
    }
);
label!(
    /// A command's final state.
    CommandOutcome { Done = "done", Failed = "failed" }
);
label!(
    /// A push delivery channel.
    Channel {
        Smpp = "smpp",
        Pap = "pap",
        /// The push names a channel that is not configured, or none is.
        None = "none",
        Other = "other",
    }
);
label!(
    /// What came of one push attempt.
    PushResult { Accepted = "accepted", Retry = "retry", Failed = "failed" }
);
label!(
    /// A database transaction being timed.
    DbOperation {
        /// The transaction of one DM message (load, engine, store, commit).
        DmMessage = "dm_message",
        /// The push dispatcher taking due pushes (one round's claim).
        PushClaim = "push_claim",
        /// The push dispatcher recording one attempt's outcome.
        PushFinish = "push_finish",
    }
);
label!(
    /// The class of an HTTP route.
    Route { Dm = "dm", Api = "api", Health = "health", Metrics = "metrics", Other = "other" }
);
label!(
    /// The class of an HTTP status.
    StatusClass { C1xx = "1xx", C2xx = "2xx", C3xx = "3xx", C4xx = "4xx", C5xx = "5xx" }
);

impl From<DmVersion> for Version {
    fn from(v: DmVersion) -> Version {
        match v {
            DmVersion::V1_2 => Version::V1_2,
            DmVersion::V1_1_2 => Version::V1_1_2,
        }
    }
}

impl Version {
    /// From the stored spelling (`SessionRecord::dm_version`).
    pub fn from_name(s: &str) -> Version {
        match s {
            "1.2" => Version::V1_2,
            "1.1.2" => Version::V1_1_2,
            _ => Version::Unknown,
        }
    }
}

impl Ended {
    /// `None` for a session still running.
    pub fn of(o: SessionOutcome) -> Option<Ended> {
        Some(match o {
            SessionOutcome::Active => return None,
            SessionOutcome::Completed => Ended::Completed,
            SessionOutcome::Aborted => Ended::Aborted,
            SessionOutcome::AuthFailed => Ended::AuthFailed,
            SessionOutcome::TimedOut => Ended::TimedOut,
            SessionOutcome::Failed => Ended::Failed,
        })
    }
}

impl From<Op> for CommandOp {
    fn from(o: Op) -> CommandOp {
        match o {
            Op::Get => CommandOp::Get,
            Op::Add => CommandOp::Add,
            Op::Replace => CommandOp::Replace,
            Op::Delete => CommandOp::Delete,
            Op::Exec => CommandOp::Exec,
            Op::Copy => CommandOp::Copy,
            Op::Atomic => CommandOp::Atomic,
            Op::Sequence => CommandOp::Sequence,
            Op::Alert => CommandOp::Alert,
        }
    }
}

impl Channel {
    /// From a channel's name ([`crate::delivery::PushChannel::name`]).
    pub fn of(name: &str) -> Channel {
        match name {
            "smpp" => Channel::Smpp,
            "pap" => Channel::Pap,
            _ => Channel::Other,
        }
    }
}

impl Route {
    /// The class of a request path.
    pub fn of(path: &str) -> Route {
        match path {
            "/dm" => Route::Dm,
            "/healthz" | "/readyz" => Route::Health,
            "/metrics" => Route::Metrics,
            p if p.starts_with("/api/") => Route::Api,
            _ => Route::Other,
        }
    }
}

impl StatusClass {
    fn of(status: u16) -> StatusClass {
        match status {
            ..200 => StatusClass::C1xx,
            200..300 => StatusClass::C2xx,
            300..400 => StatusClass::C3xx,
            400..500 => StatusClass::C4xx,
            _ => StatusClass::C5xx,
        }
    }
}

/// Every series of the server.
#[derive(Debug)]
pub struct Metrics {
    dm_messages: [[Counter; MessageResult::N]; Version::N],
    sessions_started: [Counter; Version::N],
    sessions_ended: [[Counter; Ended::N]; Version::N],
    auth_failures: [Counter; AuthFailure::N],
    commands: [[Counter; CommandOutcome::N]; CommandOp::N],
    pushes: [[Counter; PushResult::N]; Channel::N],
    db_seconds: [Histogram; DbOperation::N],
    http_requests: [[Counter; StatusClass::N]; Route::N],
    http_seconds: [Histogram; Route::N],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All zero.
    pub const fn new() -> Metrics {
        Metrics {
            dm_messages: [const { [const { Counter::new() }; MessageResult::N] }; Version::N],
            sessions_started: [const { Counter::new() }; Version::N],
            sessions_ended: [const { [const { Counter::new() }; Ended::N] }; Version::N],
            auth_failures: [const { Counter::new() }; AuthFailure::N],
            commands: [const { [const { Counter::new() }; CommandOutcome::N] }; CommandOp::N],
            pushes: [const { [const { Counter::new() }; PushResult::N] }; Channel::N],
            db_seconds: [const { Histogram::new() }; DbOperation::N],
            http_requests: [const { [const { Counter::new() }; StatusClass::N] }; Route::N],
            http_seconds: [const { Histogram::new() }; Route::N],
        }
    }

    /// One message on `/dm`.
    pub fn dm_message(&self, v: Version, r: MessageResult) {
        self.dm_messages[v as usize][r as usize].inc();
    }
    /// A session began (its package 1 was stored).
    pub fn session_started(&self, v: Version) {
        self.sessions_started[v as usize].inc();
    }
    /// A session ended.
    pub fn session_ended(&self, v: Version, e: Ended) {
        self.sessions_ended[v as usize][e as usize].inc();
    }
    /// A device failed to authenticate.
    pub fn auth_failure(&self, r: AuthFailure) {
        self.auth_failures[r as usize].inc();
    }
    /// A command reached a final state.
    pub fn command(&self, op: CommandOp, o: CommandOutcome) {
        self.commands[op as usize][o as usize].inc();
    }
    /// A push attempt ended.
    pub fn push(&self, c: Channel, r: PushResult) {
        self.pushes[c as usize][r as usize].inc();
    }
    /// A database transaction took `d`.
    pub fn db(&self, op: DbOperation, d: Duration) {
        self.db_seconds[op as usize].observe(d);
    }
    /// Times a database transaction until dropped.
    pub fn db_timer(&'static self, op: DbOperation) -> DbTimer {
        DbTimer { op, start: Instant::now(), metrics: self }
    }
    /// An HTTP request was answered.
    pub fn http(&self, route: Route, status: u16, d: Duration) {
        self.http_requests[route as usize][StatusClass::of(status) as usize].inc();
        self.http_seconds[route as usize].observe(d);
    }

    /// A counter's value, for tests and checks: messages by version and result.
    pub fn dm_messages_total(&self, v: Version, r: MessageResult) -> u64 {
        self.dm_messages[v as usize][r as usize].get()
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let version = env!("CARGO_PKG_VERSION");
        family(&mut out, "omadm_build_info", "gauge", "The running omadm version (always 1).");
        let _ = writeln!(out, "omadm_build_info{{version=\"{version}\"}} 1");

        family(
            &mut out,
            "omadm_dm_messages_total",
            "counter",
            "DM messages received on /dm, by DM version and result.",
        );
        for v in Version::ALL {
            for r in MessageResult::ALL {
                let c = &self.dm_messages[*v as usize][*r as usize];
                sample2(
                    &mut out,
                    "omadm_dm_messages_total",
                    ("dm_version", v.as_str()),
                    ("result", r.as_str()),
                    c,
                );
            }
        }
        family(&mut out, "omadm_dm_sessions_started_total", "counter", "DM sessions begun, by DM version.");
        for v in Version::ALL {
            let c = &self.sessions_started[*v as usize];
            let _ =
                writeln!(out, "omadm_dm_sessions_started_total{{dm_version=\"{}\"}} {}", v.as_str(), c.get());
        }
        family(
            &mut out,
            "omadm_dm_sessions_ended_total",
            "counter",
            "DM sessions ended, by DM version and outcome.",
        );
        for v in Version::ALL {
            for e in Ended::ALL {
                let c = &self.sessions_ended[*v as usize][*e as usize];
                sample2(
                    &mut out,
                    "omadm_dm_sessions_ended_total",
                    ("dm_version", v.as_str()),
                    ("outcome", e.as_str()),
                    c,
                );
            }
        }
        family(
            &mut out,
            "omadm_auth_failures_total",
            "counter",
            "Device authentication failures, by reason.",
        );
        for r in AuthFailure::ALL {
            let c = &self.auth_failures[*r as usize];
            let _ = writeln!(out, "omadm_auth_failures_total{{reason=\"{}\"}} {}", r.as_str(), c.get());
        }
        family(
            &mut out,
            "omadm_commands_total",
            "counter",
            "Commands answered by devices (or abandoned), by operation and outcome.",
        );
        for op in CommandOp::ALL {
            for o in CommandOutcome::ALL {
                let c = &self.commands[*op as usize][*o as usize];
                sample2(&mut out, "omadm_commands_total", ("op", op.as_str()), ("outcome", o.as_str()), c);
            }
        }
        family(&mut out, "omadm_pushes_total", "counter", "Push delivery attempts, by channel and result.");
        for ch in Channel::ALL {
            for r in PushResult::ALL {
                let c = &self.pushes[*ch as usize][*r as usize];
                sample2(&mut out, "omadm_pushes_total", ("channel", ch.as_str()), ("result", r.as_str()), c);
            }
        }
        family(
            &mut out,
            "omadm_db_transaction_duration_seconds",
            "histogram",
            "Wall time of database transactions, by operation.",
        );
        for op in DbOperation::ALL {
            histogram(
                &mut out,
                "omadm_db_transaction_duration_seconds",
                ("operation", op.as_str()),
                &self.db_seconds[*op as usize],
            );
        }
        family(
            &mut out,
            "omadm_http_requests_total",
            "counter",
            "HTTP requests answered, by route class and status class.",
        );
        for r in Route::ALL {
            for s in StatusClass::ALL {
                let c = &self.http_requests[*r as usize][*s as usize];
                sample2(
                    &mut out,
                    "omadm_http_requests_total",
                    ("route", r.as_str()),
                    ("code", s.as_str()),
                    c,
                );
            }
        }
        family(
            &mut out,
            "omadm_http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests, by route class.",
        );
        for r in Route::ALL {
            histogram(
                &mut out,
                "omadm_http_request_duration_seconds",
                ("route", r.as_str()),
                &self.http_seconds[*r as usize],
            );
        }
        out
    }
}

/// Records the time since it was made into [`Metrics::db`] when dropped.
#[must_use = "the timer records when dropped"]
pub struct DbTimer {
    op: DbOperation,
    start: Instant,
    metrics: &'static Metrics,
}

impl Drop for DbTimer {
    fn drop(&mut self) {
        self.metrics.db(self.op, self.start.elapsed());
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample2(out: &mut String, name: &str, a: (&str, &str), b: (&str, &str), c: &Counter) {
    let _ = writeln!(out, "{name}{{{}=\"{}\",{}=\"{}\"}} {}", a.0, a.1, b.0, b.1, c.get());
}

fn histogram(out: &mut String, name: &str, label: (&str, &str), h: &Histogram) {
    // Read each bucket once, so `+Inf` equals `_count` even while others record.
    let counts: Vec<u64> = h.buckets.iter().map(|b| b.load(Relaxed)).collect();
    let mut cumulative = 0u64;
    for (i, n) in counts.iter().enumerate() {
        cumulative += n;
        let le = match BUCKETS.get(i) {
            Some(b) => b.to_string(),
            None => "+Inf".to_owned(),
        };
        let _ = writeln!(out, "{name}_bucket{{{}=\"{}\",le=\"{le}\"}} {cumulative}", label.0, label.1);
    }
    let sum = h.sum_nanos.load(Relaxed) as f64 / 1e9;
    let _ = writeln!(out, "{name}_sum{{{}=\"{}\"}} {sum}", label.0, label.1);
    let _ = writeln!(out, "{name}_count{{{}=\"{}\"}} {cumulative}", label.0, label.1);
}

/// Middleware counting every HTTP request by route class and status.
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = Route::of(req.uri().path());
    let start = Instant::now();
    let resp = next.run(req).await;
    METRICS.http(route, resp.status().as_u16(), start.elapsed());
    resp
}

/// `GET /metrics`: the exposition, behind `metrics_token` when one is configured.
pub async fn get(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(token) = &app.config.metrics_token
        && !bearer_matches(&headers, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required for /metrics\n",
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], METRICS.render()).into_response()
}

/// Whether `Authorization: Bearer <token>` carries `expected` (compared in constant time).
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, token)) = value.trim().split_once(' ') else { return false };
    scheme.eq_ignore_ascii_case("bearer") && bool::from(token.trim().as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_inf_is_count() {
        let m = Metrics::new();
        m.db(DbOperation::DmMessage, Duration::from_micros(300)); // 0.0005
        m.db(DbOperation::DmMessage, Duration::from_millis(2)); // 0.0025
        m.db(DbOperation::DmMessage, Duration::from_secs(60)); // +Inf
        let text = m.render();
        let line = |s: &str| text.lines().find(|l| l.starts_with(s)).unwrap_or_else(|| panic!("{s}"));
        let op = "omadm_db_transaction_duration_seconds_bucket{operation=\"dm_message\"";
        assert!(line(&format!("{op},le=\"0.0005\"}}")).ends_with(" 1"));
        assert!(line(&format!("{op},le=\"0.001\"}}")).ends_with(" 1"));
        assert!(line(&format!("{op},le=\"0.0025\"}}")).ends_with(" 2"));
        assert!(line(&format!("{op},le=\"10\"}}")).ends_with(" 2"));
        assert!(line(&format!("{op},le=\"+Inf\"}}")).ends_with(" 3"));
        assert_eq!(
            line("omadm_db_transaction_duration_seconds_sum{operation=\"dm_message\"}"),
            "omadm_db_transaction_duration_seconds_sum{operation=\"dm_message\"} 60.0023"
        );
        assert!(
            line("omadm_db_transaction_duration_seconds_count{operation=\"dm_message\"}").ends_with(" 3")
        );
    }

    #[test]
    fn labels_map_from_the_protocol_and_storage_words() {
        assert_eq!(Version::from_name("1.1.2"), Version::V1_1_2);
        assert_eq!(Version::from(DmVersion::V1_2).as_str(), "1.2");
        assert_eq!(Ended::of(SessionOutcome::Active), None);
        assert_eq!(Ended::of(SessionOutcome::TimedOut).map(Ended::as_str), Some("timed_out"));
        assert_eq!(CommandOp::from(Op::Exec).as_str(), Op::Exec.as_str());
        assert_eq!(Route::of("/api/v1/devices"), Route::Api);
        assert_eq!(Route::of("/dm"), Route::Dm);
        assert_eq!(Route::of("/apix"), Route::Other);
        assert_eq!(StatusClass::of(503), StatusClass::C5xx);
        assert_eq!(StatusClass::of(99), StatusClass::C1xx);
        assert_eq!(Channel::of("pap"), Channel::Pap);
    }
}
