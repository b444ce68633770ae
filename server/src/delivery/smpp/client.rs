//! The SMPP transmitter: one background task owns the TCP connection to the SMSC; [`SmppChannel`]
//! hands it pushes through a channel and waits for the outcome.
//!
//! The task binds as a transmitter (SMPP 3.4 §4.1.1), submits each SMS of a push as one
//! submit_sm (§4.4.1: esm_class 0x40 UDHI, data_coding 0x04 8-bit, FACTS F.2), keeps at most
//! `window` submits waiting for their submit_sm_resp, matched by sequence_number (§5.1.4), limits the rate with a token bucket, checks the link with enquire_link (§4.11)
//! and answers the SMSC's, gives up on a response after `response_timeout_ms` (§7.2
//! response_timer), reconnects with capped exponential back-off after a failure, and unbinds
//! (§4.2) on shutdown. A push is accepted only when every one of its SMS is.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use super::SmppConfig;
use super::pdu::{
    BindTransmitter, Body, CommandStatus, DATA_CODING_8BIT, ESM_CLASS_UDHI, Header, INTERFACE_VERSION_34,
    MAX_SEQUENCE_NUMBER, Pdu, SubmitSm, command_id, frame_length,
};
use crate::delivery::{
    ConfigError, DeliveryError, DeliveryFuture, DeliveryOutcome, MAX_SEGMENTS, MAX_SMS_USER_DATA,
    OutboundPush, PushChannel, check_push_id, e164_digits,
};

type Reply = oneshot::Sender<Result<DeliveryOutcome, DeliveryError>>;

/// One push on its way to the connection task.
struct Submission {
    push_id: String,
    destination: String,
    segments: Vec<Vec<u8>>,
    reply: Reply,
}

/// A [`super::super::PushChannel`] that submits SMS to an SMSC over SMPP 3.4.
pub struct SmppChannel {
    requests: mpsc::Sender<Submission>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl SmppChannel {
    /// Validates the configuration and spawns the connection task, which connects and binds
    /// at once. Must be called inside a tokio runtime.
    pub fn start(config: SmppConfig) -> Result<SmppChannel, ConfigError> {
        config.validate()?;
        let config = Arc::new(config);
        let (requests, inbox) = mpsc::channel(usize::from(config.window) * 4);
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(run(config, inbox, stop));
        Ok(SmppChannel { requests, shutdown, task: Mutex::new(Some(task)) })
    }

    /// Stops taking pushes, waits for the responses still due, unbinds and closes the
    /// connection. Later deliveries fail as [`DeliveryError::Unavailable`].
    pub async fn shutdown(&self) {
        self.shutdown.send_replace(true);
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or(None);
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    async fn submit(&self, push: &OutboundPush) -> Result<DeliveryOutcome, DeliveryError> {
        check_push_id(&push.push_id)?;
        let destination = e164_digits(&push.msisdn)?.to_owned();
        let n = push.sms_user_data.len();
        if n == 0 || n > MAX_SEGMENTS {
            return Err(DeliveryError::InvalidPush(format!("{n} SMS; a push takes 1 to {MAX_SEGMENTS}")));
        }
        if let Some((i, s)) =
            push.sms_user_data.iter().enumerate().find(|(_, s)| s.is_empty() || s.len() > MAX_SMS_USER_DATA)
        {
            return Err(DeliveryError::InvalidPush(format!(
                "SMS {} has {} octets of user data; 1 to {MAX_SMS_USER_DATA} fit",
                i + 1,
                s.len()
            )));
        }
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            push_id: push.push_id.clone(),
            destination,
            segments: push.sms_user_data.clone(),
            reply,
        };
        self.requests
            .send(submission)
            .await
            .map_err(|_| DeliveryError::Unavailable { reason: "the SMPP channel is shut down".into() })?;
        answer.await.unwrap_or_else(|_| {
            Err(DeliveryError::Unavailable { reason: "the SMPP channel stopped before answering".into() })
        })
    }
}

impl PushChannel for SmppChannel {
    fn deliver<'a>(&'a self, push: &'a OutboundPush) -> DeliveryFuture<'a> {
        Box::pin(self.submit(push))
    }

    fn name(&self) -> &'static str {
        "smpp"
    }

    fn close(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.shutdown())
    }
}

/// sequence_number allocation: 1..=0x7FFFFFFF, wrapping (SMPP 3.4 §5.1.4).
#[derive(Default)]
struct Sequence(u32);

impl Sequence {
    fn next(&mut self) -> u32 {
        self.0 = if self.0 >= MAX_SEQUENCE_NUMBER { 1 } else { self.0 + 1 };
        self.0
    }
}

/// The connection task: connect, bind, serve, and on failure back off and start again.
async fn run(
    config: Arc<SmppConfig>,
    mut inbox: mpsc::Receiver<Submission>,
    mut stop: watch::Receiver<bool>,
) {
    let min = Duration::from_millis(config.reconnect_min_ms);
    let max = Duration::from_millis(config.reconnect_max_ms);
    let mut backoff = min;
    loop {
        if *stop.borrow() {
            return;
        }
        let bound = tokio::select! {
            biased;
            _ = stop.changed() => return,
            bound = connect_and_bind(&config) => bound,
        };
        let reason = match bound {
            Ok(link) => {
                tracing::info!(smsc = %config.address, "SMPP bound as transmitter");
                backoff = min;
                match Session::new(&config, link).serve(&mut inbox, &mut stop).await {
                    Ended::Stopped => return,
                    Ended::Lost(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        tracing::warn!(smsc = %config.address, %reason, retry_in_ms = backoff.as_millis() as u64, "SMPP link down");
        // While waiting, pushes fail at once so the dispatcher can retry elsewhere or later.
        let until = Instant::now() + backoff;
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = sleep_until(until) => break,
                submission = inbox.recv() => match submission {
                    Some(s) => {
                        let _ = s.reply.send(Err(DeliveryError::Unavailable { reason: format!("SMSC link down: {reason}") }));
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(max);
    }
}

/// A bound connection.
struct Link {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    /// Octets read after the bind response.
    buf: Vec<u8>,
    sequence: Sequence,
}

/// Reads until one whole PDU is in `buf` and returns it. Cancel-safe: a partial PDU stays in
/// `buf` for the next call.
async fn read_frame(rd: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    loop {
        match frame_length(buf) {
            Err(e) => return Err(format!("invalid PDU from the SMSC: {e}")),
            Ok(Some(n)) if buf.len() >= n => return Ok(buf.drain(..n).collect()),
            Ok(_) => {}
        }
        match rd.read_buf(buf).await {
            Ok(0) => return Err("the SMSC closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read from the SMSC: {e}")),
        }
    }
}

async fn write_pdu(wr: &mut OwnedWriteHalf, pdu: &Pdu, limit: Duration) -> Result<(), String> {
    let bytes = pdu.encode().map_err(|e| format!("cannot encode {:?}: {e}", pdu.body.command_id()))?;
    match timeout(limit, wr.write_all(&bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write to the SMSC: {e}")),
        Err(_) => Err("the SMSC does not read (write timed out)".into()),
    }
}

/// TCP connect and bind_transmitter (§4.1.1); a refused bind is reported with its status.
async fn connect_and_bind(config: &SmppConfig) -> Result<Link, String> {
    let limit = config.response_timeout();
    let stream =
        timeout(Duration::from_millis(config.connect_timeout_ms), TcpStream::connect(&config.address))
            .await
            .map_err(|_| format!("connect to {} timed out", config.address))?
            .map_err(|e| format!("connect to {}: {e}", config.address))?;
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let mut link = Link { rd, wr, buf: Vec::new(), sequence: Sequence::default() };
    let seq = link.sequence.next();
    let bind = Pdu::new(
        seq,
        Body::BindTransmitter(BindTransmitter {
            system_id: config.system_id.clone(),
            password: config.password.expose().to_owned(),
            system_type: config.system_type.clone(),
            interface_version: INTERFACE_VERSION_34,
            addr_ton: config.source_addr_ton,
            addr_npi: config.source_addr_npi,
            address_range: String::new(),
        }),
    );
    write_pdu(&mut link.wr, &bind, limit).await?;
    let deadline = Instant::now() + limit;
    loop {
        let frame = timeout_at(deadline, read_frame(&mut link.rd, &mut link.buf))
            .await
            .map_err(|_| format!("no bind_transmitter_resp within {} ms", limit.as_millis()))??;
        let pdu = Pdu::decode(&frame).map_err(|e| format!("undecodable answer to bind_transmitter: {e}"))?;
        match pdu.body {
            Body::BindTransmitterResp { .. } | Body::GenericNack if pdu.sequence_number == seq => {
                if pdu.command_status != CommandStatus::Ok {
                    return Err(format!("bind refused by the SMSC: {}", pdu.command_status));
                }
                return Ok(link);
            }
            Body::EnquireLink => {
                write_pdu(&mut link.wr, &Pdu::new(pdu.sequence_number, Body::EnquireLinkResp), limit).await?;
            }
            _ => tracing::debug!(command_id = pdu.body.command_id(), "SMPP PDU ignored while binding"),
        }
    }
}

/// How a session ended.
enum Ended {
    /// Shut down on request: do not reconnect.
    Stopped,
    /// The link failed: reconnect.
    Lost(String),
}

/// A push whose SMS are being submitted.
struct Job {
    push_id: String,
    destination: String,
    segments: Vec<Vec<u8>>,
    message_ids: Vec<Option<String>>,
    remaining: usize,
    reply: Reply,
}

/// One SMS of a job waiting to be (re)submitted.
struct Segment {
    job: u64,
    index: usize,
    attempt: u32,
}

/// A submit_sm waiting for its response.
struct InFlight {
    job: u64,
    index: usize,
    attempt: u32,
    deadline: Instant,
}

/// Rate limit of submits: a bucket of one token refilled at `rate` per second, so submits
/// are spaced evenly and no second sees more than `rate`.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: u32) -> Self {
        TokenBucket { rate: f64::from(rate), tokens: 1.0, last: Instant::now() }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(1.0);
        self.last = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        now + Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }
}

struct Session<'c> {
    config: &'c SmppConfig,
    link: Link,
    limit: Duration,
    jobs: HashMap<u64, Job>,
    next_job: u64,
    queue: VecDeque<Segment>,
    window: HashMap<u32, InFlight>,
    bucket: TokenBucket,
    paused_until: Option<Instant>,
    enquire_due: Instant,
    enquire_pending: Option<(u32, Instant)>,
}

impl<'c> Session<'c> {
    fn new(config: &'c SmppConfig, link: Link) -> Self {
        let interval = Duration::from_secs(config.enquire_link_interval_secs);
        Session {
            config,
            link,
            limit: config.response_timeout(),
            jobs: HashMap::new(),
            next_job: 0,
            queue: VecDeque::new(),
            window: HashMap::new(),
            bucket: TokenBucket::new(config.submits_per_second),
            paused_until: None,
            enquire_due: Instant::now() + interval,
            enquire_pending: None,
        }
    }

    async fn serve(
        mut self,
        inbox: &mut mpsc::Receiver<Submission>,
        stop: &mut watch::Receiver<bool>,
    ) -> Ended {
        loop {
            if let Err(reason) = self.pump().await {
                return self.lost(reason);
            }
            let accept = self.queue.is_empty() && self.window.len() < usize::from(self.config.window);
            let wake = self.next_wake();
            tokio::select! {
                biased;
                _ = stop.changed() => return self.close().await,
                frame = read_frame(&mut self.link.rd, &mut self.link.buf) => {
                    let handled = match frame {
                        Ok(frame) => self.on_frame(&frame).await,
                        Err(reason) => Err(reason),
                    };
                    if let Err(reason) = handled {
                        return self.lost(reason);
                    }
                }
                submission = inbox.recv(), if accept => match submission {
                    Some(s) => self.accept(s),
                    None => return self.close().await,
                },
                _ = sleep_until(wake) => {
                    if let Err(reason) = self.on_timer().await {
                        return self.lost(reason);
                    }
                }
            }
        }
    }

    fn accept(&mut self, s: Submission) {
        let job = self.next_job;
        self.next_job += 1;
        let n = s.segments.len();
        self.queue.extend((0..n).map(|index| Segment { job, index, attempt: 1 }));
        self.jobs.insert(
            job,
            Job {
                push_id: s.push_id,
                destination: s.destination,
                segments: s.segments,
                message_ids: vec![None; n],
                remaining: n,
                reply: s.reply,
            },
        );
    }

    /// Submits queued SMS while the window, the rate and any throttling pause allow.
    async fn pump(&mut self) -> Result<(), String> {
        let now = Instant::now();
        if self.paused_until.is_some_and(|t| t > now) {
            return Ok(());
        }
        self.paused_until = None;
        while self.window.len() < usize::from(self.config.window)
            && let Some(segment) = self.queue.front()
        {
            let Some(job) = self.jobs.get(&segment.job) else {
                // The push already failed: its other SMS are not sent.
                self.queue.pop_front();
                continue;
            };
            if !self.bucket.take(now) {
                break;
            }
            let submit = SubmitSm {
                service_type: self.config.service_type.clone(),
                source_addr_ton: self.config.source_addr_ton,
                source_addr_npi: self.config.source_addr_npi,
                source_addr: self.config.source_addr.clone(),
                dest_addr_ton: self.config.dest_addr_ton,
                dest_addr_npi: self.config.dest_addr_npi,
                destination_addr: job.destination.clone(),
                esm_class: ESM_CLASS_UDHI,
                protocol_id: 0,
                priority_flag: 0,
                schedule_delivery_time: String::new(),
                validity_period: String::new(),
                registered_delivery: self.config.registered_delivery,
                replace_if_present_flag: 0,
                data_coding: DATA_CODING_8BIT,
                sm_default_msg_id: 0,
                short_message: job.segments[segment.index].clone(),
                tlvs: Vec::new(),
            };
            let Some(segment) = self.queue.pop_front() else { break };
            let seq = self.link.sequence.next();
            let pdu = Pdu::new(seq, Body::SubmitSm(submit));
            if let Err(e) = pdu.encode() {
                self.fail(segment.job, DeliveryError::InvalidPush(format!("submit_sm not encodable: {e}")));
                continue;
            }
            write_pdu(&mut self.link.wr, &pdu, self.limit).await?;
            let deadline = Instant::now() + self.limit;
            self.window.insert(
                seq,
                InFlight { job: segment.job, index: segment.index, attempt: segment.attempt, deadline },
            );
        }
        Ok(())
    }

    /// The next moment a timer needs attention.
    fn next_wake(&mut self) -> Instant {
        let now = Instant::now();
        let mut wake = self.enquire_due;
        if let Some((_, deadline)) = self.enquire_pending {
            wake = wake.min(deadline);
        }
        if let Some(deadline) = self.window.values().map(|f| f.deadline).min() {
            wake = wake.min(deadline);
        }
        if !self.queue.is_empty() && self.window.len() < usize::from(self.config.window) {
            let ready = self.bucket.ready_at(now).max(self.paused_until.unwrap_or(now));
            wake = wake.min(ready);
        }
        wake
    }

    async fn on_timer(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let expired: Vec<u32> =
            self.window.iter().filter(|(_, f)| f.deadline <= now).map(|(s, _)| *s).collect();
        for seq in expired {
            if let Some(f) = self.window.remove(&seq) {
                let reason = format!(
                    "no submit_sm_resp for SMS {} within {} ms",
                    f.index + 1,
                    self.config.response_timeout_ms
                );
                self.fail(f.job, DeliveryError::Temporary { reason });
            }
        }
        if let Some((_, deadline)) = self.enquire_pending
            && deadline <= now
        {
            return Err(format!("no enquire_link_resp within {} ms", self.config.response_timeout_ms));
        }
        if self.enquire_pending.is_none() && now >= self.enquire_due {
            let seq = self.link.sequence.next();
            write_pdu(&mut self.link.wr, &Pdu::new(seq, Body::EnquireLink), self.limit).await?;
            self.enquire_pending = Some((seq, now + self.limit));
            self.enquire_due = now + Duration::from_secs(self.config.enquire_link_interval_secs);
        }
        Ok(())
    }

    async fn on_frame(&mut self, frame: &[u8]) -> Result<(), String> {
        let pdu = match Pdu::decode(frame) {
            Ok(pdu) => pdu,
            Err(e) => {
                let header = Header::parse(frame).map_err(|e| format!("invalid PDU from the SMSC: {e}"))?;
                tracing::warn!(command_id = header.command_id, error = %e, "undecodable SMPP PDU");
                if header.command_id & command_id::RESPONSE_BIT != 0 {
                    if let Some(f) = self.window.remove(&header.sequence_number) {
                        let reason = format!("undecodable submit_sm_resp for SMS {}: {e}", f.index + 1);
                        self.fail(f.job, DeliveryError::Temporary { reason });
                    }
                    return Ok(());
                }
                let nack = Pdu {
                    command_status: CommandStatus::InvalidCommandLength,
                    sequence_number: header.sequence_number.clamp(1, MAX_SEQUENCE_NUMBER),
                    body: Body::GenericNack,
                };
                return write_pdu(&mut self.link.wr, &nack, self.limit).await;
            }
        };
        let seq = pdu.sequence_number;
        match pdu.body {
            Body::SubmitSmResp { message_id } => self.on_submit_resp(seq, pdu.command_status, message_id),
            Body::GenericNack => {
                // A nack of one of our submits: its status says why (ROK would be nonsense).
                let status = match pdu.command_status {
                    CommandStatus::Ok => CommandStatus::SystemError,
                    s => s,
                };
                if self.enquire_pending.is_some_and(|(s, _)| s == seq) {
                    self.enquire_pending = None;
                } else {
                    self.on_submit_resp(seq, status, String::new());
                }
            }
            Body::EnquireLinkResp => {
                if self.enquire_pending.is_some_and(|(s, _)| s == seq) {
                    self.enquire_pending = None;
                }
            }
            Body::EnquireLink => {
                write_pdu(&mut self.link.wr, &Pdu::new(seq, Body::EnquireLinkResp), self.limit).await?;
            }
            Body::Unbind => {
                let _ = write_pdu(&mut self.link.wr, &Pdu::new(seq, Body::UnbindResp), self.limit).await;
                return Err("the SMSC unbound the session".into());
            }
            body if body.command_id() & command_id::RESPONSE_BIT == 0 => {
                // A transmitter serves no requests but enquire_link and unbind.
                let nack = Pdu {
                    command_status: CommandStatus::InvalidCommandId,
                    sequence_number: seq,
                    body: Body::GenericNack,
                };
                write_pdu(&mut self.link.wr, &nack, self.limit).await?;
            }
            body => tracing::debug!(command_id = body.command_id(), seq, "unexpected SMPP response ignored"),
        }
        Ok(())
    }

    fn on_submit_resp(&mut self, seq: u32, status: CommandStatus, message_id: String) {
        let Some(f) = self.window.remove(&seq) else {
            tracing::debug!(seq, "SMPP response for no outstanding submit (late or unknown)");
            return;
        };
        let Some(job) = self.jobs.get_mut(&f.job) else { return };
        let total = job.segments.len();
        if status == CommandStatus::Ok {
            job.message_ids[f.index] = Some(message_id);
            job.remaining -= 1;
            if job.remaining == 0
                && let Some(job) = self.jobs.remove(&f.job)
            {
                let references: Vec<String> = job.message_ids.into_iter().flatten().collect();
                tracing::info!(push_id = %job.push_id, message_ids = ?references, "push accepted by the SMSC");
                let _ = job.reply.send(Ok(DeliveryOutcome::Accepted { references }));
            }
        } else if status.is_temporary() && f.attempt < self.config.max_submit_attempts {
            tracing::warn!(push_id = %job.push_id, sms = f.index + 1, %status, attempt = f.attempt, "SMSC asks to slow down; resubmitting");
            self.paused_until = Some(Instant::now() + Duration::from_millis(self.config.throttle_pause_ms));
            self.queue.push_front(Segment { job: f.job, index: f.index, attempt: f.attempt + 1 });
        } else if status.is_temporary() {
            let reason =
                format!("SMSC answered {status} to SMS {}/{total} after {} attempts", f.index + 1, f.attempt);
            self.fail(f.job, DeliveryError::Temporary { reason });
        } else {
            let reason = format!("SMSC answered {status} to SMS {}/{total}", f.index + 1);
            self.fail(f.job, DeliveryError::Rejected { code: status.to_u32(), reason });
        }
    }

    /// Ends a push with `error`; its SMS still in the window keep their slots until answered.
    fn fail(&mut self, job: u64, error: DeliveryError) {
        if let Some(job) = self.jobs.remove(&job) {
            tracing::warn!(push_id = %job.push_id, %error, "SMPP push failed");
            let _ = job.reply.send(Err(error));
        }
    }

    fn fail_all(&mut self, error: &DeliveryError) {
        for (_, job) in self.jobs.drain() {
            tracing::warn!(push_id = %job.push_id, %error, "SMPP push failed");
            let _ = job.reply.send(Err(error.clone()));
        }
    }

    fn lost(mut self, reason: String) -> Ended {
        self.fail_all(&DeliveryError::Temporary { reason: format!("connection to the SMSC lost: {reason}") });
        Ended::Lost(reason)
    }

    /// Clean end: no new submits, the responses still due (up to one response timeout), then
    /// unbind and wait for unbind_resp (§4.2).
    async fn close(mut self) -> Ended {
        for segment in std::mem::take(&mut self.queue) {
            self.fail(
                segment.job,
                DeliveryError::Unavailable { reason: "the SMPP channel is shutting down".into() },
            );
        }
        let deadline = Instant::now() + self.limit;
        while !self.window.is_empty() {
            match timeout_at(deadline, read_frame(&mut self.link.rd, &mut self.link.buf)).await {
                Ok(Ok(frame)) => {
                    if self.on_frame(&frame).await.is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.fail_all(&DeliveryError::Temporary {
            reason: "no response before the SMPP channel shut down".into(),
        });
        let seq = self.link.sequence.next();
        if write_pdu(&mut self.link.wr, &Pdu::new(seq, Body::Unbind), self.limit).await.is_ok() {
            let deadline = Instant::now() + self.limit;
            while let Ok(Ok(frame)) =
                timeout_at(deadline, read_frame(&mut self.link.rd, &mut self.link.buf)).await
            {
                match Pdu::decode(&frame) {
                    Ok(Pdu { body: Body::UnbindResp, sequence_number, .. }) if sequence_number == seq => {
                        break;
                    }
                    Ok(_) => {
                        if self.on_frame(&frame).await.is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        let _ = self.link.wr.shutdown().await;
        tracing::info!(smsc = %self.config.address, "SMPP unbound");
        Ended::Stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_within_range() {
        let mut s = Sequence(MAX_SEQUENCE_NUMBER - 1);
        assert_eq!(s.next(), MAX_SEQUENCE_NUMBER);
        assert_eq!(s.next(), 1);
        assert_eq!(Sequence::default().next(), 1);
    }

    #[test]
    fn token_bucket_spaces_submits() {
        let mut b = TokenBucket::new(4);
        let t0 = Instant::now();
        assert!(b.take(t0));
        assert!(!b.take(t0));
        assert_eq!(b.ready_at(t0), t0 + Duration::from_millis(250));
        assert!(b.take(t0 + Duration::from_millis(250)));
        // An idle bucket holds one token, not a burst.
        assert!(b.take(t0 + Duration::from_secs(10)));
        assert!(!b.take(t0 + Duration::from_secs(10)));
    }
}
