//! A FUMO campaign over the fleet, timed: the firmware upload, the campaign's creation over an
//! explicit device list, then the devices driven through the flow the server's
//! `campaign::fumo` expects (FACTS.md I), until the campaign has finished.
//!
//! Per device:
//! 1. **Update session** (once the engine admitted it): package 1; package 2 carries a
//!    Sequence of the Replace of `<x>/DownloadAndUpdate/PkgURL` and the Exec of
//!    `<x>/DownloadAndUpdate` with a Correlator; package 3 answers 200, 200, 200 and 202 for
//!    the Exec, and carries the Generic Alert 1226 (type
//!    `org.openmobilealliance.dm.firmwareupdate.downloadandupdate`, Data `200`) echoing the
//!    Correlator in the same message, as a device that updates at once (FACTS.md I.3, I.4).
//! 2. **Verify session**, [`CampaignOptions::recall`] later (the device's restart after its
//!    update): the engine has queued the Get of `./DevDetail/FwV`; the answer is Results with
//!    [`FW_VERSION`]. A session that brings nothing yet is repeated, the wait doubling each
//!    time up to [`CampaignOptions::recall_max`] (a device that polls hard keeps the engine
//!    busy: every message bumps `devices.updated_at`, which makes the engine look again).
//!
//! Devices are woken the way the server's notification would wake them: a task lists the
//! campaign's `notified` devices through the admin API (`GET /api/v1/campaigns/{id}/devices`)
//! and hands each one to a worker once. Answers are pre-encoded templates, as in [`super::dm`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use bytes::Bytes;
use hyper::Method;
use omadm_protocol::{
    Alert, AlertCode, Command, Data, Encoding, Format, Item, Location, Meta, Results, Status, StatusCode,
    SyncBody, SyncMl, encode,
};
use serde_json::{Value, json};

use super::dm::{self, DevState, Failure, SessionKit, Template};
use super::http::HttpConn;
use super::sys::{CpuSnapshot, CpuUse};
use super::{Errors, Fleet, Target, encode_segment};

/// Where the virtual devices keep their FUMO object (given to the campaign as `fumo_uri`).
pub const FUMO_URI: &str = "./FwUpdate/x1";
/// The version of the firmware package; devices report it in FwV once updated.
pub const FW_VERSION: &str = "LG-FW-2";
/// The Generic Alert type of a DownloadAndUpdate result (FACTS.md I.3).
pub const ALERT_TYPE: &str = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
/// The FwV node (FACTS.md J.2).
pub const FWV: &str = "./DevDetail/FwV";
/// Messages one session may take before the device gives up.
const MAX_MESSAGES: u32 = 8;

// Numeric markers no real MsgID or CmdID reaches; a text marker for the Correlator.
const N_MSGID: u32 = 3_999_999_910;
const N_MSGREF: u32 = 3_999_999_911;
const N_SEQ: u32 = 3_999_999_912;
const N_REPL: u32 = 3_999_999_913;
const N_EXEC: u32 = 3_999_999_914;
const N_GET: u32 = 3_999_999_915;
const M_CORR: &str = "LGMARKCORRLG";

/// The templates of a campaign's device answers, with the package 1 of [`SessionKit`].
pub struct CampaignKit {
    /// Package 1, decoding, authentication.
    pub dm: SessionKit,
    /// Statuses for the Sequence, Replace and Exec (202), and the Generic Alert. Slots:
    /// session, device, MsgID, MsgRef, Sequence, Replace, Exec, Correlator.
    pub update_answer: Template,
    /// Status for the Get and Results of FwV. Slots: session, device, MsgID, MsgRef, Get.
    pub verify_answer: Template,
    pkg_url_uri: String,
    exec_uri: String,
}

fn status(cmd_id: u32, cmd_ref: u32, cmd: &str, code: StatusCode) -> Command {
    Command::Status(Status {
        cmd_id,
        msg_ref: Some(N_MSGREF),
        cmd_ref: Some(cmd_ref),
        cmd: cmd.into(),
        target_ref: vec![],
        source_ref: vec![],
        cred: None,
        chal: None,
        data: code,
        items: vec![],
    })
}

fn hdr_status(dm_url: &str) -> Command {
    let Command::Status(mut s) = status(1, 0, "SyncHdr", StatusCode::Ok) else { unreachable!() };
    s.target_ref = vec![dm::M_DEVICE.into()];
    s.source_ref = vec![dm_url.into()];
    Command::Status(s)
}

fn message(dm_url: &str, commands: Vec<Command>) -> SyncMl {
    SyncMl { hdr: dm::header(dm_url, N_MSGID), body: SyncBody { commands, is_final: true } }
}

fn numbers(ns: &[u32]) -> Vec<String> {
    ns.iter().map(u32::to_string).collect()
}

impl CampaignKit {
    /// Templates for devices talking to `dm_url` in `encoding`.
    pub fn new(dm_url: &str, encoding: Encoding, expect_authority: Option<String>) -> CampaignKit {
        let alert = Command::Alert(Alert {
            cmd_id: 5,
            no_resp: false,
            cred: None,
            data: AlertCode::GenericAlert,
            correlator: Some(M_CORR.into()),
            items: vec![Item {
                source: Some(Location::uri(FUMO_URI)),
                meta: Some(Meta {
                    format: Some(Format::parse("int")),
                    type_: Some(ALERT_TYPE.into()),
                    ..Meta::default()
                }),
                data: Some(Data::from("200")),
                ..Item::default()
            }],
        });
        let update = message(
            dm_url,
            vec![
                hdr_status(dm_url),
                status(2, N_SEQ, "Sequence", StatusCode::Ok),
                status(3, N_REPL, "Replace", StatusCode::Ok),
                status(4, N_EXEC, "Exec", StatusCode::AcceptedForProcessing),
                alert,
            ],
        );
        let verify = message(
            dm_url,
            vec![
                hdr_status(dm_url),
                status(2, N_GET, "Get", StatusCode::Ok),
                Command::Results(Results {
                    cmd_id: 3,
                    msg_ref: Some(N_MSGREF),
                    cmd_ref: N_GET,
                    items: vec![dm::chr_item(FWV, FW_VERSION)],
                    ..Results::default()
                }),
            ],
        );
        let u = numbers(&[N_MSGID, N_MSGREF, N_SEQ, N_REPL, N_EXEC]);
        let update_answer = Template::new(
            &encode(&update, encoding),
            &[
                dm::M_SESSION.as_bytes(),
                dm::M_DEVICE.as_bytes(),
                u[0].as_bytes(),
                u[1].as_bytes(),
                u[2].as_bytes(),
                u[3].as_bytes(),
                u[4].as_bytes(),
                M_CORR.as_bytes(),
            ],
        );
        let v = numbers(&[N_MSGID, N_MSGREF, N_GET]);
        let verify_answer = Template::new(
            &encode(&verify, encoding),
            &[
                dm::M_SESSION.as_bytes(),
                dm::M_DEVICE.as_bytes(),
                v[0].as_bytes(),
                v[1].as_bytes(),
                v[2].as_bytes(),
            ],
        );
        CampaignKit {
            dm: SessionKit::new(dm_url, encoding, expect_authority),
            update_answer,
            verify_answer,
            pkg_url_uri: format!("{FUMO_URI}/DownloadAndUpdate/PkgURL"),
            exec_uri: format!("{FUMO_URI}/DownloadAndUpdate"),
        }
    }
}

/// What one session carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Carried {
    /// The firmware update (Replace PkgURL, Exec), answered with 202 and the Generic Alert.
    pub update: bool,
    /// The FwV read, answered with the new version.
    pub verify: bool,
    /// HTTP requests that got an answer.
    pub requests: u32,
}

/// Plain text that can be spliced into a template (see [`Template::render`]).
fn spliceable(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | 0))
}

impl CampaignKit {
    /// The device's answer to one server message, if it carries commands.
    fn answer(
        &self,
        msg: &SyncMl,
        session_hex: &str,
        device_id: &str,
        msg_id: u32,
        carried: &mut Carried,
    ) -> Result<Option<Vec<u8>>, Failure> {
        dm::check_statuses(msg)?;
        let msg_ref = msg.hdr.msg_id.to_string();
        let mut out: Option<Vec<u8>> = None;
        let msg_id = msg_id.to_string();
        for c in &msg.body.commands {
            let mut buf = Vec::with_capacity(1024);
            match c {
                Command::Status(_) => continue,
                Command::Sequence(seq) => {
                    let (mut replace, mut exec) = (None, None);
                    for k in &seq.commands {
                        match k {
                            Command::Replace(r) if dm::target_of(r) == Some(self.pkg_url_uri.as_str()) => {
                                replace = Some(r.cmd_id)
                            }
                            Command::Exec(e)
                                if e.item.target.as_ref().map(|t| t.loc_uri.as_str())
                                    == Some(self.exec_uri.as_str()) =>
                            {
                                exec = Some((e.cmd_id, e.correlator.clone()))
                            }
                            other => {
                                return Err(Failure::Protocol(format!(
                                    "unexpected {} in the Sequence",
                                    other.name()
                                )));
                            }
                        }
                    }
                    let (Some(r), Some((e, Some(corr)))) = (replace, exec) else {
                        return Err(Failure::Protocol(
                            "the Sequence lacks the PkgURL Replace or the Exec with a Correlator".into(),
                        ));
                    };
                    if !spliceable(&corr) {
                        return Err(Failure::Protocol(format!("Correlator {corr:?}")));
                    }
                    let n = numbers(&[seq.cmd_id, r, e]);
                    self.update_answer.render(
                        &[
                            session_hex.as_bytes(),
                            device_id.as_bytes(),
                            msg_id.as_bytes(),
                            msg_ref.as_bytes(),
                            n[0].as_bytes(),
                            n[1].as_bytes(),
                            n[2].as_bytes(),
                            corr.as_bytes(),
                        ],
                        &mut buf,
                    );
                    carried.update = true;
                }
                Command::Get(g) if dm::target_of(g) == Some(FWV) => {
                    let get = g.cmd_id.to_string();
                    self.verify_answer.render(
                        &[
                            session_hex.as_bytes(),
                            device_id.as_bytes(),
                            msg_id.as_bytes(),
                            msg_ref.as_bytes(),
                            get.as_bytes(),
                        ],
                        &mut buf,
                    );
                    carried.verify = true;
                }
                other => {
                    return Err(Failure::Protocol(format!("unexpected {} from the server", other.name())));
                }
            }
            if out.replace(buf).is_some() {
                return Err(Failure::Protocol("more than one campaign command in a message".into()));
            }
        }
        if !msg.body.is_final {
            return Err(Failure::Protocol("a server message that is not Final".into()));
        }
        Ok(out)
    }

    fn resp_path(&self, msg: &SyncMl) -> Result<String, Failure> {
        let uri = msg.hdr.resp_uri.as_deref().ok_or_else(|| Failure::Protocol("no RespURI".into()))?;
        let (authority, path) =
            dm::split_url(uri).ok_or_else(|| Failure::Protocol(format!("RespURI {uri:?}")))?;
        if let Some(expected) = &self.dm.expect_authority
            && authority != expected
        {
            return Err(Failure::Protocol(format!("RespURI names {authority}, not {expected}")));
        }
        Ok(path.to_owned())
    }

    /// One session of `device_id`: package 1, then an answer to each server message that
    /// carries a campaign command, until one carries none (the session is over).
    pub async fn session(
        &self,
        conn: &mut HttpConn,
        device_id: &str,
        dev: &mut DevState,
    ) -> Result<Carried, (Failure, u32)> {
        let ct = self.dm.content_type();
        let mut hex = String::with_capacity(8);
        let mut buf = Vec::with_capacity(1024);
        self.dm.render_pkg1(device_id, dev, &mut hex, &mut buf);
        let resp = conn.post("/dm", ct, Bytes::from(buf)).await.map_err(|e| (e, 0))?;
        let mut carried = Carried { requests: 1, ..Carried::default() };
        let mut msg = self.dm.decode(&resp).map_err(|e| (e, 1))?;
        dm::accept_chal(&msg, dev).map_err(|e| (e, 1))?;
        for msg_id in 2..=MAX_MESSAGES {
            let r = carried.requests;
            let Some(out) = self.answer(&msg, &hex, device_id, msg_id, &mut carried).map_err(|e| (e, r))?
            else {
                return Ok(carried);
            };
            let path = self.resp_path(&msg).map_err(|e| (e, r))?;
            let resp = conn.post(&path, ct, Bytes::from(out)).await.map_err(|e| (e, r))?;
            carried.requests += 1;
            msg = self.dm.decode(&resp).map_err(|e| (e, carried.requests))?;
            let code = dm::hdr_status(&msg).map(dm::code_of);
            if code != Some(200) {
                return Err((
                    Failure::Protocol(format!("SyncHdr Status {code:?} in message {}", msg.hdr.msg_id)),
                    carried.requests,
                ));
            }
        }
        Err((Failure::Protocol(format!("session longer than {MAX_MESSAGES} messages")), carried.requests))
    }
}

// ------------------------------------------------------------------------------------------
// The run

/// How to run a campaign.
#[derive(Clone, Debug)]
pub struct CampaignOptions {
    /// The wire encoding.
    pub encoding: Encoding,
    /// Workers (one keep-alive connection, one session at a time each).
    pub concurrency: usize,
    /// The rollout policy (JSON, as `POST /api/v1/campaigns` takes it).
    pub policy: Value,
    /// How long after its update session a device calls in again (its restart), and after a
    /// verify session that brought nothing.
    pub recall: Duration,
    /// The longest wait between two verify sessions that brought nothing.
    pub recall_max: Duration,
    /// How often the admin API is read: notified devices, campaign counters.
    pub poll: Duration,
    /// Give up after this long.
    pub timeout: Duration,
    /// Size of the firmware package uploaded.
    pub firmware_bytes: usize,
}

impl CampaignOptions {
    /// XML, `concurrency` workers, a policy that does not throttle `devices`.
    pub fn new(devices: usize, concurrency: usize) -> CampaignOptions {
        CampaignOptions {
            encoding: Encoding::Xml,
            concurrency,
            policy: unthrottled_policy(devices),
            recall: Duration::from_secs(2),
            recall_max: Duration::from_secs(60),
            poll: Duration::from_millis(500),
            timeout: Duration::from_secs(3600),
            firmware_bytes: 64 * 1024,
        }
    }
}

/// No canary, every device may be in flight at once, admission not rate-limited, no
/// auto-pause, one attempt.
pub fn unthrottled_policy(devices: usize) -> Value {
    let n = devices.clamp(1, u32::MAX as usize / 2);
    json!({
        "max_concurrent": n,
        "max_per_minute": n.saturating_mul(60).min(u32::MAX as usize),
        "failure_threshold_pct": 100,
        "max_attempts": 1,
    })
}

/// The campaign's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Seconds since the campaign was created.
    pub at: f64,
    /// Not admitted.
    pub pending: i64,
    /// Admitted, not yet in session.
    pub notified: i64,
    /// In session.
    pub in_session: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
}

impl Counts {
    fn of(v: &Value, at: f64) -> Option<Counts> {
        let c = v.get("counts")?;
        let n = |k: &str| c.get(k).and_then(Value::as_i64);
        Some(Counts {
            at,
            pending: n("pending")?,
            notified: n("notified")?,
            in_session: n("in_session")?,
            succeeded: n("succeeded")?,
            failed: n("failed")?,
        })
    }

    /// Devices not finished.
    pub fn unfinished(&self) -> i64 {
        self.pending + self.notified + self.in_session
    }
}

/// Sums read from the server's `/metrics` (differences over the run).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerTimes {
    /// Seconds spent answering `/dm` requests.
    pub dm_http_seconds: f64,
    /// `/dm` requests.
    pub dm_requests: f64,
    /// Seconds in the database transaction of DM messages.
    pub dm_db_seconds: f64,
    /// Seconds answering `/api` requests (the loadgen's notifier and counters).
    pub api_http_seconds: f64,
    /// `/api` requests.
    pub api_requests: f64,
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(line_start)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
}

impl ServerTimes {
    fn parse(text: &str) -> ServerTimes {
        let h = "omadm_http_request_duration_seconds";
        ServerTimes {
            dm_http_seconds: metric(text, &format!("{h}_sum{{route=\"dm\"}}")),
            dm_requests: metric(text, &format!("{h}_count{{route=\"dm\"}}")),
            dm_db_seconds: metric(
                text,
                "omadm_db_transaction_duration_seconds_sum{operation=\"dm_message\"}",
            ),
            api_http_seconds: metric(text, &format!("{h}_sum{{route=\"api\"}}")),
            api_requests: metric(text, &format!("{h}_count{{route=\"api\"}}")),
        }
    }

    fn minus(&self, o: &ServerTimes) -> ServerTimes {
        ServerTimes {
            dm_http_seconds: self.dm_http_seconds - o.dm_http_seconds,
            dm_requests: self.dm_requests - o.dm_requests,
            dm_db_seconds: self.dm_db_seconds - o.dm_db_seconds,
            api_http_seconds: self.api_http_seconds - o.api_http_seconds,
            api_requests: self.api_requests - o.api_requests,
        }
    }
}

/// What a campaign run measured.
#[derive(Clone, Debug, Default)]
pub struct CampaignReport {
    /// Devices in the campaign.
    pub devices: usize,
    /// `xml` or `wbxml`.
    pub encoding: String,
    /// Workers.
    pub concurrency: usize,
    /// The campaign's id.
    pub campaign_id: i64,
    /// Firmware upload time.
    pub upload: Duration,
    /// `POST /api/v1/campaigns` (selecting the devices) time.
    pub create: Duration,
    /// From creation until no device was pending (all admitted, commands queued).
    pub dispatched: Option<Duration>,
    /// From creation until every device had answered the FwV read.
    pub all_verified: Option<Duration>,
    /// From creation until no device was unfinished.
    pub completed: Option<Duration>,
    /// The last counters read.
    pub last: Counts,
    /// Counters about every 10 % of the run.
    pub timeline: Vec<Counts>,
    /// Sessions that carried the update.
    pub update_sessions: u64,
    /// Sessions that carried the FwV read.
    pub verify_sessions: u64,
    /// Sessions that carried nothing (the engine had not moved the device on yet).
    pub empty_sessions: u64,
    /// DM HTTP requests answered.
    pub requests: u64,
    /// Failed sessions by kind, and admin API failures.
    pub errors: Errors,
    /// CPU over the run (creation to completion).
    pub cpu: Option<CpuUse>,
    /// Server time by route, from `/metrics`.
    pub server_times: ServerTimes,
    /// The 1-minute load average at the end.
    pub load_avg: Option<f64>,
}

impl CampaignReport {
    /// All sessions.
    pub fn sessions(&self) -> u64 {
        self.update_sessions + self.verify_sessions + self.empty_sessions
    }

    /// The wall time the rates are over: creation to completion (or to the end).
    pub fn wall(&self) -> Duration {
        self.completed.unwrap_or(Duration::from_secs_f64(self.last.at))
    }

    /// A human-readable report.
    pub fn summary(&self) -> String {
        let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        let wall = self.wall().as_secs_f64().max(1e-9);
        let mut s = format!(
            "campaign {} ({} devices, {}, C={}): upload {:.0} ms, create {:.0} ms; dispatched in {}, all verified in {}, completed in {}: {} succeeded, {} failed\n",
            self.campaign_id,
            self.devices,
            self.encoding,
            self.concurrency,
            self.upload.as_secs_f64() * 1e3,
            self.create.as_secs_f64() * 1e3,
            secs(self.dispatched),
            secs(self.all_verified),
            secs(self.completed),
            self.last.succeeded,
            self.last.failed,
        );
        s.push_str(&format!(
            "  {:.0} devices/s; sessions {} ({} update, {} verify, {} empty) = {:.0}/s; DM messages {} = {:.0}/s; errors {}\n",
            self.last.succeeded as f64 / wall,
            self.sessions(),
            self.update_sessions,
            self.verify_sessions,
            self.empty_sessions,
            self.sessions() as f64 / wall,
            self.requests,
            self.requests as f64 / wall,
            self.errors.total(),
        ));
        if let Some(c) = &self.cpu {
            s.push_str(&format!(
                "  CPU s: server {:.1}, postgres {:.1}, client {:.1}; machine busy {:.0} %, load avg {}\n",
                c.server,
                c.postgres,
                c.client,
                c.machine_busy * 100.0,
                self.load_avg.map_or("-".into(), |l| format!("{l:.1}")),
            ));
        }
        let t = &self.server_times;
        s.push_str(&format!(
            "  server time: /dm {:.1} s over {:.0} requests ({:.2} ms each, DB transaction {:.1} s), /api {:.1} s over {:.0} requests\n",
            t.dm_http_seconds,
            t.dm_requests,
            if t.dm_requests > 0.0 { t.dm_http_seconds * 1e3 / t.dm_requests } else { 0.0 },
            t.dm_db_seconds,
            t.api_http_seconds,
            t.api_requests,
        ));
        s.push_str("  timeline (s: pending / notified / in session / succeeded / failed):");
        for c in &self.timeline {
            s.push_str(&format!(
                " {:.1}: {}/{}/{}/{}/{};",
                c.at, c.pending, c.notified, c.in_session, c.succeeded, c.failed
            ));
        }
        for (k, v) in &self.errors.by_kind {
            s.push_str(&format!("\n  error {k}: {v}"));
        }
        for e in &self.errors.samples {
            s.push_str(&format!("\n  e.g. {e}"));
        }
        s
    }
}

async fn api(
    conn: &mut HttpConn,
    method: Method,
    path: &str,
    body: Option<(&'static str, Bytes)>,
) -> anyhow::Result<Value> {
    let (ct, body) = body.map_or((None, Bytes::new()), |(ct, b)| (Some(ct), b));
    let r = conn.request(method.clone(), path, ct, body).await.map_err(|e| anyhow::anyhow!(e.detail()))?;
    ensure!(
        (200..300).contains(&r.status),
        "{method} {path}: HTTP {}: {}",
        r.status,
        String::from_utf8_lossy(&r.body).trim()
    );
    serde_json::from_slice(&r.body).with_context(|| format!("{method} {path}: not JSON"))
}

async fn metrics(conn: &mut HttpConn) -> ServerTimes {
    match conn.request(Method::GET, "/metrics", None, Bytes::new()).await {
        Ok(r) if r.status == 200 => ServerTimes::parse(&String::from_utf8_lossy(&r.body)),
        _ => ServerTimes::default(),
    }
}

/// Upload a firmware package of `bytes` bytes (version [`FW_VERSION`]); its id.
pub async fn upload_firmware(conn: &mut HttpConn, bytes: usize) -> anyhow::Result<i64> {
    let body: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let path = format!("/api/v1/firmware?name=loadgen-fw.bin&version={FW_VERSION}");
    let v = api(conn, Method::POST, &path, Some(("application/octet-stream", Bytes::from(body)))).await?;
    v["firmware"]["id"].as_i64().context("the upload's answer has no firmware.id")
}

/// Create the FUMO campaign over every device of `fleet`; its id.
pub async fn create_campaign(
    conn: &mut HttpConn,
    fleet: &Fleet,
    firmware_id: i64,
    policy: &Value,
) -> anyhow::Result<i64> {
    let ids: Vec<&str> = (0..fleet.len()).map(|i| fleet.id(i)).collect();
    let body = json!({
        "name": format!("loadgen {FW_VERSION} over {} devices", fleet.len()),
        "kind": "fumo",
        "target": {"device_ids": ids},
        "payload": {"firmware_id": firmware_id, "fumo_uri": FUMO_URI},
        "policy": policy,
    });
    let v = api(
        conn,
        Method::POST,
        "/api/v1/campaigns",
        Some(("application/json", Bytes::from(body.to_string()))),
    )
    .await?;
    let total = v["counts"]["total"].as_i64().unwrap_or(-1);
    ensure!(total == fleet.len() as i64, "the campaign selected {total} devices, not {}", fleet.len());
    v["id"].as_i64().context("the campaign has no id")
}

// Where each device is, from its own point of view.
const WAITING: u8 = 0;
const UPDATED: u8 = 1;
const VERIFIED: u8 = 2;

struct Shared {
    fleet: Arc<Fleet>,
    phase: Vec<AtomicU8>,
    woken: Vec<AtomicBool>,
    recalls: Vec<AtomicU8>,
    verified: AtomicU64,
    stop: AtomicBool,
    queue: tokio::sync::mpsc::UnboundedSender<usize>,
}

impl Shared {
    fn wake_later(self: &Arc<Self>, i: usize, after: Duration) {
        let s = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = s.queue.send(i);
        });
    }
}

fn index_of(device_id: &str) -> Option<usize> {
    device_id.strip_prefix(super::DEVICE_PREFIX)?.parse().ok()
}

/// The notification stand-in: hand every `notified` device of the campaign to the workers
/// once.
async fn notifier(target: Target, shared: Arc<Shared>, campaign: i64, poll: Duration) -> Errors {
    let mut conn = target.conn();
    let mut errors = Errors::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let mut after = String::new();
        loop {
            let path = format!(
                "/api/v1/campaigns/{campaign}/devices?state=notified&limit=1000{}",
                if after.is_empty() { String::new() } else { format!("&after={}", encode_segment(&after)) }
            );
            let page = match api(&mut conn, Method::GET, &path, None).await {
                Ok(v) => v,
                Err(e) => {
                    errors.add(&Failure::Protocol(format!("notified list: {e}")), "admin API");
                    break;
                }
            };
            let list = page["devices"].as_array().cloned().unwrap_or_default();
            for d in &list {
                let Some(id) = d["device_id"].as_str() else { continue };
                after = id.to_owned();
                if let Some(i) = index_of(id).filter(|&i| i < shared.fleet.len())
                    && shared.phase[i].load(Ordering::Acquire) == WAITING
                    && !shared.woken[i].swap(true, Ordering::AcqRel)
                {
                    let _ = shared.queue.send(i);
                }
            }
            if list.len() < 1000 {
                break;
            }
        }
        tokio::time::sleep(poll).await;
    }
    errors
}

#[derive(Default)]
struct WorkerResult {
    update: u64,
    verify: u64,
    empty: u64,
    requests: u64,
    errors: Errors,
}

async fn worker(
    target: Target,
    kit: Arc<CampaignKit>,
    shared: Arc<Shared>,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::UnboundedReceiver<usize>>>,
    recall: Duration,
    recall_max: Duration,
) -> WorkerResult {
    let mut conn = target.conn();
    let mut w = WorkerResult::default();
    while !shared.stop.load(Ordering::Relaxed) {
        let next = {
            let mut rx = rx.lock().await;
            tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
        };
        let i = match next {
            Ok(Some(i)) => i,
            Ok(None) => break,
            Err(_) => continue,
        };
        let Some(mut st) = shared.fleet.take(i) else {
            shared.wake_later(i, Duration::from_millis(50));
            continue;
        };
        let id = shared.fleet.id(i);
        let phase = shared.phase[i].load(Ordering::Acquire);
        let backoff = || {
            // The device is ours until given back: no other worker touches its count.
            let k = shared.recalls[i].load(Ordering::Acquire);
            shared.recalls[i].store(k.saturating_add(1), Ordering::Release);
            let k = k.min(16);
            recall.saturating_mul(2u32.pow(u32::from(k) + 1)).min(recall_max)
        };
        match kit.session(&mut conn, id, &mut st).await {
            Ok(c) => {
                w.requests += u64::from(c.requests);
                if c.verify {
                    w.verify += 1;
                    shared.phase[i].store(VERIFIED, Ordering::Release);
                    shared.verified.fetch_add(1, Ordering::AcqRel);
                } else if c.update {
                    w.update += 1;
                    shared.phase[i].store(UPDATED, Ordering::Release);
                    shared.wake_later(i, recall);
                } else {
                    w.empty += 1;
                    if phase == WAITING {
                        // Listed as notified again if it still is.
                        shared.woken[i].store(false, Ordering::Release);
                    } else {
                        shared.wake_later(i, backoff());
                    }
                }
            }
            Err((f, requests)) => {
                w.requests += u64::from(requests);
                w.errors.add(&f, id);
                if phase == WAITING {
                    shared.woken[i].store(false, Ordering::Release);
                } else {
                    shared.wake_later(i, backoff());
                }
            }
        }
        shared.fleet.give(i, st);
    }
    w
}

/// Upload the firmware, create the campaign over `fleet` (registered, nothing queued), and
/// drive the devices until the campaign has finished or `opts.timeout` passed.
pub async fn run(
    target: &Target,
    fleet: &Arc<Fleet>,
    opts: &CampaignOptions,
    server_pid: Option<u32>,
) -> anyhow::Result<CampaignReport> {
    let mut admin = target.conn();
    let t = Instant::now();
    let firmware = upload_firmware(&mut admin, opts.firmware_bytes).await?;
    let upload = t.elapsed();

    let m0 = metrics(&mut admin).await;
    let cpu0 = CpuSnapshot::take(server_pid, super::baseline::THREAD_NAME);
    let started = Instant::now();
    let campaign_id = create_campaign(&mut admin, fleet, firmware, &opts.policy).await?;
    let create = started.elapsed();

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        fleet: fleet.clone(),
        phase: (0..fleet.len()).map(|_| AtomicU8::new(WAITING)).collect(),
        woken: (0..fleet.len()).map(|_| AtomicBool::new(false)).collect(),
        recalls: (0..fleet.len()).map(|_| AtomicU8::new(0)).collect(),
        verified: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        queue: tx,
    });
    let kit = Arc::new(CampaignKit::new(&target.dm_url(), opts.encoding, Some(target.authority.clone())));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..opts.concurrency.clamp(1, fleet.len().max(1)))
        .map(|_| {
            tokio::spawn(worker(
                target.clone(),
                kit.clone(),
                shared.clone(),
                rx.clone(),
                opts.recall,
                opts.recall_max,
            ))
        })
        .collect();
    let notify = tokio::spawn(notifier(target.clone(), shared.clone(), campaign_id, opts.poll));

    let mut report = CampaignReport {
        devices: fleet.len(),
        encoding: match opts.encoding {
            Encoding::Xml => "xml".into(),
            Encoding::Wbxml => "wbxml".into(),
        },
        concurrency: workers.len(),
        campaign_id,
        upload,
        create,
        ..CampaignReport::default()
    };
    let mut samples = Vec::new();
    let deadline = started + opts.timeout;
    loop {
        tokio::time::sleep(opts.poll).await;
        let at = started.elapsed();
        if report.all_verified.is_none() && shared.verified.load(Ordering::Acquire) as usize == fleet.len() {
            report.all_verified = Some(at);
        }
        match api(&mut admin, Method::GET, &format!("/api/v1/campaigns/{campaign_id}"), None).await {
            Ok(v) => {
                let c = Counts::of(&v, at.as_secs_f64()).context("the campaign has no counts")?;
                samples.push(c);
                report.last = c;
                if report.dispatched.is_none() && c.pending == 0 {
                    report.dispatched = Some(at);
                }
                if c.unfinished() == 0 {
                    report.completed = Some(at);
                    break;
                }
            }
            Err(e) => report.errors.add(&Failure::Protocol(format!("campaign counters: {e}")), "admin API"),
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    shared.stop.store(true, Ordering::Release);
    for w in workers {
        let w = w.await.context("campaign worker")?;
        report.update_sessions += w.update;
        report.verify_sessions += w.verify;
        report.empty_sessions += w.empty;
        report.requests += w.requests;
        report.errors.merge(w.errors);
    }
    report.errors.merge(notify.await.context("notifier")?);
    report.cpu = Some(cpu0.until(&CpuSnapshot::take(server_pid, super::baseline::THREAD_NAME), false));
    report.server_times = metrics(&mut admin).await.minus(&m0);
    report.load_avg = super::sys::load_avg();
    // About every 10 % of the run, and the last.
    let step = (samples.len() / 10).max(1);
    report.timeline = samples.iter().step_by(step).copied().collect();
    if let Some(l) = samples.last()
        && report.timeline.last() != Some(l)
    {
        report.timeline.push(*l);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use omadm_protocol::{Limits, decode_as};

    use super::*;

    #[test]
    fn answers_render_what_the_codec_would_encode() {
        for enc in [Encoding::Xml, Encoding::Wbxml] {
            let kit = CampaignKit::new("http://127.0.0.1:9/dm", enc, None);
            let mut out = Vec::new();
            kit.update_answer
                .render(&[b"3", b"IMEI:LG7", b"2", b"1", b"4", b"5", b"6", b"omadm-99"], &mut out);
            let msg = decode_as(&out, enc, &Limits::default()).unwrap();
            assert_eq!((msg.hdr.session_id.as_str(), msg.hdr.msg_id), ("3", 2));
            assert_eq!(msg.hdr.source.loc_uri, "IMEI:LG7");
            let refs: Vec<_> = msg.body.commands[1..4]
                .iter()
                .map(|c| match c {
                    Command::Status(s) => (s.msg_ref, s.cmd_ref, s.cmd.clone(), s.data.code()),
                    other => panic!("{other:?}"),
                })
                .collect();
            assert_eq!(
                refs,
                [
                    (Some(1), Some(4), "Sequence".to_owned(), 200),
                    (Some(1), Some(5), "Replace".to_owned(), 200),
                    (Some(1), Some(6), "Exec".to_owned(), 202),
                ]
            );
            let Command::Alert(a) = &msg.body.commands[4] else { panic!() };
            assert_eq!((a.data, a.correlator.as_deref()), (AlertCode::GenericAlert, Some("omadm-99")));
            let meta = a.items[0].meta.as_ref().unwrap();
            assert_eq!(meta.type_.as_deref(), Some(ALERT_TYPE));
            assert_eq!(a.items[0].data.as_ref().unwrap().as_text(), Some("200"));

            kit.verify_answer.render(&[b"4", b"IMEI:LG7", b"2", b"1", b"3"], &mut out);
            let msg = decode_as(&out, enc, &Limits::default()).unwrap();
            let Command::Status(s) = &msg.body.commands[1] else { panic!() };
            assert_eq!((s.cmd_ref, s.cmd.as_str(), s.data.code()), (Some(3), "Get", 200));
            let Command::Results(r) = &msg.body.commands[2] else { panic!() };
            assert_eq!((r.msg_ref, r.cmd_ref), (Some(1), 3));
            assert_eq!(r.items[0].source.as_ref().unwrap().loc_uri, FWV);
            assert_eq!(r.items[0].data.as_ref().unwrap().as_text(), Some(FW_VERSION));
        }
    }

    #[test]
    fn the_default_policy_does_not_throttle() {
        let p = unthrottled_policy(100_000);
        assert_eq!(
            (p["max_concurrent"].as_u64(), p["max_per_minute"].as_u64()),
            (Some(100_000), Some(6_000_000))
        );
        assert!(!spliceable("a<b") && !spliceable("") && spliceable("omadm-12"));
        assert_eq!(index_of("IMEI:LG42"), Some(42));
    }
}
