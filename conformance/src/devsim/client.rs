//! One DM session, from the device's side (OMA-TS-DM_Protocol-V1_2 §8; OMA-TS-DM_Security-V1_2
//! §5; FACTS.md C.4-C.6, D):
//!
//! - Package 1: Alert 1201 (or 1200) and a Replace of every `./DevInfo` leaf, plus the Generic
//!   Alerts not yet delivered; credentials per the account (`syncml:auth-basic`,
//!   `syncml:auth-md5` in the SyncHdr `<Cred>`, or `x-syncml-hmac` on every message).
//! - The server's Status for our SyncHdr: 212 → authenticated for the session; 200 → for this
//!   message (credentials sent again, HMAC always); 401/407 → the Chal's type and NextNonce are
//!   taken and package 1 is sent again, at most [`DeviceConfig::max_auth_attempts`] times.
//!   Every NextNonce is stored in the account (AAuthData / ClientNonce).
//! - The server's credentials, when the device checks them: `<Cred>` (MD5 with the SRVCRED
//!   secret and the nonce the device issued) and/or its `x-syncml-hmac`. Accepted → 212 with a
//!   fresh nonce for the next session (200 and a fresh nonce per message for HMAC); missing →
//!   407, wrong → 401, both with a Chal carrying a fresh nonce, and the server's commands are
//!   not executed (each gets the same code).
//! - The server's commands are executed against the tree (module `exec`); a Status goes
//!   back for every command (and every Alert), never for Results.
//! - Large objects: chunks the server sends are answered 213 and reassembled, checked against
//!   the Meta Size (424 on a mismatch) and against our MaxObjSize (413); a new command before
//!   the last chunk gets Alert 1225. Our own Results larger than a message go in chunks with
//!   MoreData and the Size on the first; a value larger than the server's MaxObjSize gets 413.
//! - Multi-message packages: a server message without Final is answered with the Statuses so
//!   far and Alert 1222; our own package goes in as many messages as the server's MaxMsgSize
//!   (and our send limit) need, Final only on the last.
//! - The session ends when the server's package carries no command (the device then sends
//!   nothing), on Alert 1223, or on an error.

use std::collections::VecDeque;

use omadm_protocol::auth::{self, AuthType, HmacHeader, Nonce, Secret};
use omadm_protocol::{
    Alert, AlertCode, Chal, Command, Cred, Data, Encoding, Format, Item, ItemCommand, Limits, Location, Meta,
    Results, Status, StatusCode, SyncBody, SyncHdr, SyncMl, decode_as, encode,
};

use super::exec::{Ctx, Piece, carried_len, status};
use super::faults::malform;
use super::objects::Account;
use super::report::{Direction, MessageRecord, Outcome, SessionReport, StatusRecord};
use super::transport::{self, HttpRequest, HttpResponse};
use super::{AuthKind, Device, DeviceConfig, GenericAlert, ReportTiming};

/// Room kept free below a message size limit for what size estimates miss.
const MARGIN: usize = 32;
/// The smallest chunk worth sending.
const MIN_CHUNK: usize = 64;

/// A message to post.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The HTTP request (URL, content type, `x-syncml-hmac`, body).
    pub request: HttpRequest,
    /// The message.
    pub message: SyncMl,
}

/// What to do after the server's answer.
#[derive(Clone, Debug)]
pub enum Step {
    /// Post this next.
    Send(Box<Outgoing>),
    /// The session is over (see the report's outcome).
    End,
}

/// Something waiting to go into one of our messages.
// Stored inline like the protocol's Command: a few per message, boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Out {
    Status(Status),
    Results(Results),
    Alert(Alert),
    Generic(GenericAlert),
    Replace(ItemCommand),
}

/// What [`ClientSession::add_chunk`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkStep {
    /// A chunk went in; more follow (the message must end here).
    More,
    /// The last chunk went in.
    Last,
    /// No room left in this message.
    NoRoom,
}

/// A Results item too large for one message, going out in chunks (FACTS.md C.6).
#[derive(Clone, Debug)]
struct OutChunk {
    results: Results,
    item: Item,
    data: Data,
    offset: usize,
    announced: u64,
}

/// A large object arriving in chunks.
#[derive(Clone, Debug)]
struct InChunk {
    add: bool,
    target: String,
    meta: Option<Meta>,
    size: Option<u64>,
    data: Vec<u8>,
    text: bool,
}

/// What one of our commands was, to read the server's Status for it.
#[derive(Clone, Debug)]
enum SentKind {
    Chunk { last: bool },
    Generic(GenericAlert),
    Other,
}

#[derive(Clone, Debug)]
struct Sent {
    msg_id: u32,
    cmd_id: u32,
    kind: SentKind,
}

/// One session in progress (sans-IO: [`ClientSession::first_message`] and
/// [`ClientSession::receive`] turn answers into the next message; [`run`] drives it over HTTP).
pub struct ClientSession<'d> {
    dev: &'d mut Device,
    account: Account,
    url: String,
    session_id: String,
    msg_id: u32,
    auth: AuthKind,
    send_cred: bool,
    client_authenticated: bool,
    auth_attempts: u32,
    server_authenticated: bool,
    server_hmac_seen: bool,
    prev_server_nonce: Option<Nonce>,
    last_server_msg: Option<u32>,
    server_max_msg: Option<u64>,
    server_max_obj: Option<u64>,
    hdr_reply: Option<Status>,
    outbox: VecDeque<Out>,
    chunking: Option<OutChunk>,
    incoming: Option<InChunk>,
    sent: Vec<Sent>,
    aborting: bool,
    report: SessionReport,
}

fn random_nonce() -> Nonce {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    Nonce::generate(b)
}

fn chal(t: AuthType, nonce: &Nonce) -> Chal {
    Chal {
        meta: Meta {
            format: Some(Format::B64),
            type_: Some(t.meta_type().to_owned()),
            next_nonce: Some(nonce.to_b64()),
            ..Meta::default()
        },
    }
}

/// A one-line description of a command, for the transcript.
pub fn describe(c: &Command) -> String {
    fn item_line(i: &Item) -> String {
        let mut s = i.target.as_ref().or(i.source.as_ref()).map(|l| l.loc_uri.clone()).unwrap_or_default();
        if let Some(d) = &i.data {
            s.push_str(&format!(" ({} bytes", carried_len(d)));
            if let Some(size) = i.meta.as_ref().and_then(|m| m.size) {
                s.push_str(&format!(", Size {size}"));
            }
            if i.more_data {
                s.push_str(", MoreData");
            }
            s.push(')');
        }
        s
    }
    fn items(items: &[Item]) -> String {
        items.iter().map(item_line).collect::<Vec<_>>().join(", ")
    }
    match c {
        Command::Status(s) => format!(
            "Status {} (msg {} cmd {}) {}{}{}",
            s.cmd,
            s.msg_ref.map_or("?".into(), |m| m.to_string()),
            s.cmd_ref.map_or("?".into(), |m| m.to_string()),
            s.data,
            s.target_ref.first().map(|t| format!(" {t}")).unwrap_or_default(),
            if s.chal.is_some() { " +Chal" } else { "" }
        ),
        Command::Results(r) => format!("Results for cmd {}: {}", r.cmd_ref, items(&r.items)),
        Command::Alert(a) => {
            let mut s = format!("Alert {}", a.data);
            if let Some(c) = &a.correlator {
                s.push_str(&format!(" correlator {c}"));
            }
            for i in &a.items {
                if let Some(t) = i.meta.as_ref().and_then(|m| m.type_.as_deref()) {
                    s.push_str(&format!(" {t}"));
                }
                if let Some(d) = i.data.as_ref().and_then(Data::as_text) {
                    s.push_str(&format!(" {d:?}"));
                }
            }
            s
        }
        Command::Exec(e) => format!(
            "Exec {}{}",
            item_line(&e.item),
            e.correlator.as_ref().map(|c| format!(" correlator {c}")).unwrap_or_default()
        ),
        Command::Atomic(x) | Command::Sequence(x) => {
            format!("{} [{}]", c.name(), x.commands.iter().map(describe).collect::<Vec<_>>().join("; "))
        }
        Command::Add(x) | Command::Copy(x) | Command::Delete(x) | Command::Get(x) | Command::Replace(x) => {
            format!("{} {}", c.name(), items(&x.items))
        }
        Command::Unsupported(u) => format!("{} (unsupported)", u.element.name()),
    }
}

fn record_status(s: &Status) -> StatusRecord {
    StatusRecord {
        msg_ref: s.msg_ref,
        cmd_ref: s.cmd_ref,
        cmd: s.cmd.clone(),
        target: s.target_ref.first().or(s.source_ref.first()).cloned(),
        code: s.data.code(),
    }
}

/// The Alert command of a Generic Alert (FACTS.md I.3).
pub fn generic_alert_command(a: &GenericAlert, cmd_id: u32) -> Alert {
    Alert {
        cmd_id,
        no_resp: false,
        cred: None,
        data: AlertCode::GenericAlert,
        correlator: a.correlator.clone(),
        items: vec![Item {
            source: Some(Location::uri(a.source.clone())),
            meta: Some(Meta {
                format: Some(Format::parse(&a.format)),
                type_: Some(a.alert_type.clone()),
                mark: a.mark.clone(),
                ..Meta::default()
            }),
            data: Some(Data::Text(a.data.clone())),
            ..Item::default()
        }],
    }
}

fn alert(code: AlertCode) -> Alert {
    Alert { cmd_id: 0, no_resp: false, cred: None, data: code, correlator: None, items: vec![] }
}

impl<'d> ClientSession<'d> {
    /// Begin a session of `dev` (its SessionID is the configured one or the session count in
    /// upper-case hex, FACTS.md C.4).
    pub fn new(dev: &'d mut Device) -> ClientSession<'d> {
        dev.sessions += 1;
        let session_id =
            dev.config.session_id.clone().unwrap_or_else(|| format!("{:X}", (dev.sessions - 1) % 0xFFFF + 1));
        let account = Account::read(&dev.tree, &dev.config);
        let report = SessionReport::new(&dev.config.device_id, &session_id);
        ClientSession {
            url: dev.config.server_url.clone(),
            auth: account.kind,
            send_cred: dev.config.initial_credentials,
            account,
            dev,
            session_id,
            msg_id: 0,
            client_authenticated: false,
            auth_attempts: 0,
            server_authenticated: false,
            server_hmac_seen: false,
            prev_server_nonce: None,
            last_server_msg: None,
            server_max_msg: None,
            server_max_obj: None,
            hdr_reply: None,
            outbox: VecDeque::new(),
            chunking: None,
            incoming: None,
            sent: Vec::new(),
            aborting: false,
            report,
        }
    }

    fn config(&self) -> &DeviceConfig {
        &self.dev.config
    }

    /// Package 1 (FACTS.md C.4, J.1).
    pub fn first_message(&mut self) -> Outgoing {
        self.outbox.clear();
        let code = if self.config().server_initiated {
            AlertCode::ServerInitiatedMgmt
        } else {
            AlertCode::ClientInitiatedMgmt
        };
        self.outbox.push_back(Out::Alert(alert(code)));
        let items: Vec<Item> = self
            .dev
            .tree
            .node("./DevInfo")
            .map(|n| {
                n.children
                    .iter()
                    .filter(|c| !c.is_interior())
                    .map(|c| Item {
                        source: Some(Location::uri(format!("./DevInfo/{}", c.name))),
                        meta: Some(Meta::with_format_and_type(Format::Chr, "text/plain")),
                        data: Some(Data::Text(c.value_text())),
                        ..Item::default()
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.outbox.push_back(Out::Replace(ItemCommand { items, ..ItemCommand::default() }));
        for a in self.dev.pending_alerts.clone() {
            self.outbox.push_back(Out::Generic(a));
        }
        self.build()
    }

    /// The password used for our credentials (wrong on purpose under the fault).
    fn password(&self) -> String {
        if self.config().faults.wrong_password {
            format!("{}-wrong", self.account.password)
        } else {
            self.account.password.clone()
        }
    }

    fn header(&mut self) -> SyncHdr {
        self.msg_id += 1;
        let c = &self.dev.config;
        let mut h = SyncHdr::new(
            c.version,
            self.session_id.clone(),
            self.msg_id,
            Location::uri(c.server_url.clone()),
            Location { loc_uri: c.device_id.clone(), loc_name: Some(self.account.username.clone()) },
        );
        if c.max_msg_size.is_some() || c.max_obj_size.is_some() {
            h.meta =
                Some(Meta { max_msg_size: c.max_msg_size, max_obj_size: c.max_obj_size, ..Meta::default() });
        }
        if self.send_cred {
            let user = self.account.username.clone();
            let pw = self.password();
            h.cred = match self.auth {
                AuthKind::Basic => Some(Cred {
                    meta: Some(Meta::with_format_and_type(Format::B64, AuthType::Basic.meta_type())),
                    data: auth::basic::encode(&user, &pw).expose().to_owned(),
                }),
                AuthKind::Md5 => Some(Cred {
                    meta: Some(Meta::with_format_and_type(Format::B64, AuthType::Md5.meta_type())),
                    data: auth::md5::cred_data(&user, &pw, self.account.client_nonce.as_bytes()),
                }),
                AuthKind::Hmac => None,
            };
        }
        h
    }

    /// The largest message we may send: the server's MaxMsgSize and our own send limit.
    fn limit(&self) -> usize {
        let mut l = u64::MAX;
        if let Some(m) = self.server_max_msg {
            l = l.min(m);
        }
        if let Some(m) = self.config().send_limit {
            l = l.min(m);
        }
        usize::try_from(l).unwrap_or(usize::MAX)
    }

    fn size(&self, msg: &SyncMl) -> usize {
        encode(msg, self.config().encoding).len()
    }

    fn next_id(msg: &SyncMl) -> u32 {
        msg.body.commands.len() as u32 + 1
    }

    /// Build the next message from what is waiting: our Status for the server's SyncHdr, then
    /// as much of the outbox as fits, a chunk ending the message.
    fn build(&mut self) -> Outgoing {
        let hdr = self.header();
        let mut msg = SyncMl { hdr, body: SyncBody::default() };
        if let Some(mut s) = self.hdr_reply.clone() {
            s.cmd_id = 1;
            msg.body.commands.push(Command::Status(s));
        }
        let abort_now = self.config().faults.abort_at_message == Some(self.msg_id);
        if abort_now {
            // The user (or the device) gives up: Alert 1223 with Final, nothing else.
            let mut a = alert(AlertCode::SessionAbort);
            a.cmd_id = Self::next_id(&msg);
            msg.body.commands.push(Command::Alert(a));
            msg.body.is_final = true;
            self.aborting = true;
            return self.finish_message(msg);
        }
        let limit = self.limit();
        loop {
            if self.chunking.is_some() {
                // Statuses first (they answer the server's last message), then the chunk.
                while let Some(Out::Status(st)) =
                    self.outbox.iter().find(|o| matches!(o, Out::Status(_))).cloned()
                {
                    let mut st = st;
                    st.cmd_id = Self::next_id(&msg);
                    let mut candidate = msg.clone();
                    candidate.body.commands.push(Command::Status(st.clone()));
                    if self.size(&candidate) + MARGIN + MIN_CHUNK > limit {
                        break;
                    }
                    let at =
                        self.outbox.iter().position(|o| matches!(o, Out::Status(_))).expect("found above");
                    self.outbox.remove(at);
                    msg.body.commands.push(Command::Status(st));
                }
                match self.add_chunk(&mut msg, limit) {
                    // More chunks follow: nothing else may come between them.
                    ChunkStep::More | ChunkStep::NoRoom => break,
                    ChunkStep::Last => continue,
                }
            }
            let Some(next) = self.outbox.front().cloned() else { break };
            let cmd_id = Self::next_id(&msg);
            let (cmd, kind) = match next {
                Out::Status(mut s) => {
                    s.cmd_id = cmd_id;
                    (Command::Status(s), SentKind::Other)
                }
                Out::Alert(mut a) => {
                    a.cmd_id = cmd_id;
                    (Command::Alert(a), SentKind::Other)
                }
                Out::Generic(g) => (Command::Alert(generic_alert_command(&g, cmd_id)), SentKind::Generic(g)),
                Out::Results(mut r) => {
                    r.cmd_id = cmd_id;
                    (Command::Results(r), SentKind::Other)
                }
                Out::Replace(mut c) => {
                    c.cmd_id = cmd_id;
                    (Command::Replace(c), SentKind::Other)
                }
            };
            let mut candidate = msg.clone();
            candidate.body.commands.push(cmd.clone());
            candidate.body.is_final = true;
            let fits = self.size(&candidate) + MARGIN <= limit;
            let alone =
                msg.body.commands.iter().all(|c| matches!(c, Command::Status(s) if s.is_for_sync_hdr()));
            if fits {
                self.outbox.pop_front();
                msg.body.commands.push(cmd);
                self.sent.push(Sent { msg_id: self.msg_id, cmd_id, kind });
                continue;
            }
            // Too large: a single-item Results goes in chunks, anything else alone.
            if let Command::Results(r) = &cmd
                && r.items.len() == 1
                && r.items[0].data.is_some()
            {
                self.outbox.pop_front();
                let mut item = r.items[0].clone();
                let data = item.data.take().expect("checked");
                let delta = self.config().faults.wrong_object_size.unwrap_or(0);
                let announced = (carried_len(&data) as i64 + delta).max(0) as u64;
                self.chunking = Some(OutChunk { results: r.clone(), item, data, offset: 0, announced });
                continue;
            }
            if alone {
                self.outbox.pop_front();
                msg.body.commands.push(cmd);
                self.sent.push(Sent { msg_id: self.msg_id, cmd_id, kind });
            }
            break;
        }
        let asks_next = msg
            .body
            .commands
            .iter()
            .any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::NextMessage));
        msg.body.is_final = self.outbox.is_empty() && self.chunking.is_none() && !asks_next;
        self.finish_message(msg)
    }

    /// Put the next chunk of the outgoing large object in `msg`, as large as fits.
    fn add_chunk(&mut self, msg: &mut SyncMl, limit: usize) -> ChunkStep {
        let cmd_id = Self::next_id(msg);
        let enc = self.config().encoding;
        let alone = msg.body.commands.iter().all(|c| matches!(c, Command::Status(s) if s.is_for_sync_hdr()));
        let Some(ch) = self.chunking.as_mut() else { return ChunkStep::Last };
        let total = carried_len(&ch.data);
        let first = ch.offset == 0;
        let make = |ch: &OutChunk, end: usize| {
            let more = end < total;
            let data = match &ch.data {
                Data::Text(t) => Data::Text(t[ch.offset..end].to_owned()),
                Data::Opaque(b) => Data::Opaque(b[ch.offset..end].to_vec()),
                Data::Ddf(_) => Data::Text(String::new()),
            };
            let mut item = ch.item.clone();
            let mut meta = item.meta.take().unwrap_or_default();
            meta.size = first.then_some(ch.announced);
            item.meta = Some(meta);
            item.data = Some(data);
            item.more_data = more;
            let r = Results { cmd_id, items: vec![item], ..ch.results.clone() };
            (Command::Results(r), more)
        };
        let boundary = |ch: &OutChunk, mut end: usize| {
            end = end.min(total);
            if let Data::Text(t) = &ch.data {
                while end > ch.offset && !t.is_char_boundary(end) {
                    end -= 1;
                }
            }
            end
        };
        // Start from the room left and shrink until the message fits.
        let base = {
            let mut probe = msg.clone();
            probe.body.commands.push(make(ch, ch.offset).0);
            probe.body.is_final = true;
            encode(&probe, enc).len()
        };
        let room = limit.saturating_sub(base + MARGIN);
        if room < MIN_CHUNK && !alone {
            return ChunkStep::NoRoom;
        }
        let room = room.max(MIN_CHUNK);
        let mut end = boundary(ch, ch.offset + room);
        loop {
            let (cmd, _) = make(ch, end);
            let mut probe = msg.clone();
            probe.body.commands.push(cmd);
            probe.body.is_final = true;
            let size = encode(&probe, enc).len();
            if size + MARGIN <= limit || end - ch.offset <= MIN_CHUNK {
                break;
            }
            let shorter = ch.offset + ((end - ch.offset) * 9 / 10).max(MIN_CHUNK);
            end = boundary(ch, shorter.min(end - 1));
        }
        if end == ch.offset && end < total {
            end = boundary(ch, ch.offset + MIN_CHUNK);
            if end == ch.offset {
                end = total;
            }
        }
        let (cmd, more) = make(ch, end);
        ch.offset = end;
        msg.body.commands.push(cmd);
        self.sent.push(Sent { msg_id: self.msg_id, cmd_id, kind: SentKind::Chunk { last: !more } });
        if more {
            ChunkStep::More
        } else {
            self.chunking = None;
            ChunkStep::Last
        }
    }

    /// Encode, sign, record.
    fn finish_message(&mut self, msg: SyncMl) -> Outgoing {
        let enc = self.config().encoding;
        let body = encode(&msg, enc);
        let hmac = (self.auth == AuthKind::Hmac && self.send_cred).then(|| {
            let secret = auth::md5_secret(&self.account.username, &self.password());
            auth::hmac::header(&self.account.username, &secret, self.account.client_nonce.as_bytes(), &body)
                .to_header_value()
        });
        for c in &msg.body.commands {
            if let Command::Status(s) = c
                && !s.is_for_sync_hdr()
            {
                self.report.device_statuses.push(record_status(s));
            }
        }
        self.report.messages.push(MessageRecord {
            direction: Direction::Sent,
            url: self.url.clone(),
            http_status: None,
            msg_id: Some(msg.hdr.msg_id),
            size: body.len(),
            is_final: msg.body.is_final,
            commands: msg.body.commands.iter().map(describe).collect(),
            hmac: hmac.clone(),
            bytes: body.clone(),
            message: Some(msg.clone()),
        });
        Outgoing { request: HttpRequest::dm(&self.url, enc, hmac, body), message: msg }
    }

    /// Replace the body of the message just built (fault injection); the record follows.
    pub fn replace_body(&mut self, out: &mut Outgoing, body: Vec<u8>) {
        if let Some(m) = self.report.messages.last_mut() {
            m.size = body.len();
            m.bytes = body.clone();
        }
        self.note("(sent malformed: truncated)");
        out.request.body = body;
    }

    /// Add a note to the last message of the transcript.
    pub fn note(&mut self, text: &str) {
        if let Some(m) = self.report.messages.last_mut() {
            m.commands.push(text.to_owned());
        }
    }

    /// End the session with `outcome` (transport failures and faults).
    pub fn end(&mut self, outcome: Outcome) {
        self.report.outcome = outcome;
    }

    /// The report, once the session is over.
    pub fn finish(mut self) -> SessionReport {
        self.report.client_authenticated = self.client_authenticated;
        self.report.server_authenticated = self.server_authenticated;
        self.report
    }

    fn violation(&mut self, v: String) {
        self.report.violations.push(v);
    }

    fn stop(&mut self, outcome: Outcome) -> Step {
        self.report.outcome = outcome;
        Step::End
    }

    /// Take the server's answer to our last message; returns what to send next.
    pub fn receive(&mut self, resp: &HttpResponse) -> Step {
        let hmac_header = resp.header(auth::hmac::HEADER_NAME).map(str::to_owned);
        let enc = self.config().encoding;
        let decoded = decode_as(&resp.body, enc, &Limits::default()).ok();
        self.report.messages.push(MessageRecord {
            direction: Direction::Received,
            url: self.url.clone(),
            http_status: Some(resp.status),
            msg_id: decoded.as_ref().map(|m| m.hdr.msg_id),
            size: resp.body.len(),
            is_final: decoded.as_ref().is_some_and(|m| m.body.is_final),
            commands: decoded
                .as_ref()
                .map(|m| m.body.commands.iter().map(describe).collect())
                .unwrap_or_default(),
            hmac: hmac_header.clone(),
            bytes: resp.body.clone(),
            message: decoded.clone(),
        });
        if self.aborting {
            // A client that sent 1223 does not answer (FACTS.md C.2).
            return self.stop(Outcome::Aborted);
        }
        if resp.status != 200 {
            return self.stop(Outcome::Http { status: resp.status });
        }
        match resp.header("content-type").and_then(Encoding::from_content_type) {
            Some(e) if e == enc => {}
            other => self.violation(format!(
                "answer Content-Type {:?} ({other:?}) does not match the request's {}",
                resp.header("content-type"),
                enc.content_type()
            )),
        }
        let Some(msg) = decoded else {
            let err = decode_as(&resp.body, enc, &Limits::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            return self.stop(Outcome::Protocol { error: format!("undecodable answer: {err}") });
        };
        self.check_header(&msg, resp.body.len());

        // Our credentials, as the server judged them.
        let our_hdr = msg.body.commands.iter().find_map(|c| match c {
            Command::Status(s) if s.is_for_sync_hdr() => Some(s.clone()),
            _ => None,
        });
        for c in &msg.body.commands {
            if let Command::Status(s) = c {
                self.report.server_statuses.push(record_status(s));
            }
        }
        match &our_hdr {
            None => {
                self.violation(format!("server message {} has no Status for our SyncHdr", msg.hdr.msg_id))
            }
            Some(s) => {
                if s.msg_ref.is_some_and(|r| r != self.msg_id) {
                    self.violation(format!(
                        "SyncHdr Status MsgRef {:?}, expected {}",
                        s.msg_ref, self.msg_id
                    ));
                }
                let server_ended = msg.hdr.resp_uri.is_none();
                if let Some(step) = self.our_auth_verdict(s, server_ended) {
                    return step;
                }
            }
        }
        for c in &msg.body.commands {
            if let Command::Status(s) = c
                && !s.is_for_sync_hdr()
            {
                self.status_for_us(s);
            }
        }

        // The server's credentials.
        let (code, server_chal) = self.check_server(&msg, hmac_header.as_deref(), &resp.body);
        self.hdr_reply = Some(Status {
            cmd_id: 1,
            msg_ref: Some(msg.hdr.msg_id),
            cmd_ref: Some(0),
            cmd: "SyncHdr".into(),
            target_ref: vec![msg.hdr.target.loc_uri.clone()],
            source_ref: vec![msg.hdr.source.loc_uri.clone()],
            cred: None,
            chal: server_chal,
            data: code,
            items: vec![],
        });
        let refused = matches!(code, StatusCode::InvalidCredentials | StatusCode::MissingCredentials);

        // The server's commands.
        let mut server_wants_more = false;
        let mut has_commands = false;
        let mut pieces: Vec<Piece> = Vec::new();
        let mut alerts: Vec<GenericAlert> = Vec::new();
        for c in &msg.body.commands {
            match c {
                Command::Status(_) => continue,
                Command::Results(_) => {
                    self.violation("the server sent Results".into());
                    continue;
                }
                Command::Alert(a) if a.data == AlertCode::SessionAbort => {
                    return self.stop(Outcome::ServerAborted);
                }
                _ => {}
            }
            has_commands = true;
            let msg_ref = msg.hdr.msg_id;
            if refused {
                // Not authenticated: nothing is executed, every command gets the same code.
                pieces.push(Piece::Status(status(msg_ref, c.cmd_id().unwrap_or(0), c.name(), code, None)));
                continue;
            }
            match c {
                Command::Alert(a) if a.data == AlertCode::NextMessage => {
                    server_wants_more = true;
                    pieces.push(Piece::Status(status(msg_ref, a.cmd_id, "Alert", StatusCode::Ok, None)));
                }
                Command::Alert(a) if a.data == AlertCode::NoEndOfData => {
                    // The server dropped our large object (FACTS.md C.6).
                    self.chunking = None;
                    pieces.push(Piece::Status(status(msg_ref, a.cmd_id, "Alert", StatusCode::Ok, None)));
                }
                Command::Add(x) | Command::Replace(x)
                    if x.items.len() == 1
                        && (x.items[0].more_data
                            || self.incoming.as_ref().is_some_and(|i| {
                                Some(i.target.as_str())
                                    == x.items[0].target.as_ref().map(|l| l.loc_uri.as_str())
                            })) =>
                {
                    let add = matches!(c, Command::Add(_));
                    let (p, a) = self.chunk(add, x, msg_ref);
                    pieces.extend(p);
                    alerts.extend(a);
                }
                _ => {
                    if self.incoming.is_some() {
                        pieces.push(self.break_incoming());
                    }
                    let (p, a) = self.execute(c, msg_ref);
                    pieces.extend(p);
                    alerts.extend(a);
                }
            }
        }
        for p in pieces {
            self.outbox.push_back(match p {
                Piece::Status(s) => Out::Status(s),
                Piece::Results(r) => Out::Results(r),
                Piece::Alert(a) => Out::Alert(a),
            });
        }
        for a in alerts {
            self.dev.pending_alerts.push(a.clone());
            if self.config().fumo.report == ReportTiming::SameSession {
                self.outbox.push_back(Out::Generic(a));
            }
        }

        if msg.body.is_final && !has_commands && self.outbox.is_empty() && self.chunking.is_none() {
            // A package without commands ends the session; no answer is sent (FACTS.md C.4).
            return self.stop(Outcome::Completed);
        }
        if !msg.body.is_final && !server_wants_more {
            // The server's package goes on: ask for its next message.
            self.outbox.push_back(Out::Alert(alert(AlertCode::NextMessage)));
        }
        Step::Send(Box::new(self.build()))
    }

    /// Checks of the server's SyncHdr (FACTS.md C.4a, C.5).
    fn check_header(&mut self, msg: &SyncMl, size: usize) {
        let c = &self.dev.config;
        let mut v = Vec::new();
        if msg.version() != Some(c.version) {
            v.push(format!(
                "answer VerDTD {} / VerProto {} for a {:?} session",
                msg.hdr.ver_dtd, msg.hdr.ver_proto, c.version
            ));
        }
        if msg.hdr.session_id != self.session_id {
            v.push(format!("answer SessionID {:?}, ours is {:?}", msg.hdr.session_id, self.session_id));
        }
        let expected = self.last_server_msg.map_or(1, |m| m + 1);
        if msg.hdr.msg_id != expected {
            v.push(format!("server MsgID {}, expected {expected}", msg.hdr.msg_id));
        }
        if msg.hdr.target.loc_uri != c.device_id {
            v.push(format!("server SyncHdr Target {:?} is not our DevId", msg.hdr.target.loc_uri));
        }
        if let Some(max) = c.max_msg_size
            && size as u64 > max
        {
            v.push(format!("server message of {size} bytes exceeds our MaxMsgSize {max}"));
        }
        for x in v {
            self.violation(x);
        }
        self.last_server_msg = Some(msg.hdr.msg_id);
        // Next messages go to RespURI; without one, back to the server's address.
        self.url = msg.hdr.resp_uri.clone().unwrap_or_else(|| self.dev.config.server_url.clone());
        if let Some(m) = &msg.hdr.meta {
            if m.max_msg_size.is_some() {
                self.server_max_msg = m.max_msg_size;
            }
            if m.max_obj_size.is_some() {
                self.server_max_obj = m.max_obj_size;
            }
        }
    }

    /// The server's Status for our SyncHdr (FACTS.md D.3). `Some` ends or restarts. A refusal
    /// without RespURI means the server has ended the session: the device stops there.
    fn our_auth_verdict(&mut self, s: &Status, server_ended: bool) -> Option<Step> {
        if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
            match Nonce::from_b64(n) {
                Ok(nonce) => {
                    Account::store_client_nonce(&mut self.dev.tree, &self.dev.config, &nonce);
                    self.account.client_nonce = nonce;
                }
                Err(_) => self.violation(format!("NextNonce {n:?} is not Base64")),
            }
        }
        match s.data {
            StatusCode::AuthenticationAccepted => {
                self.client_authenticated = true;
                if self.auth != AuthKind::Hmac {
                    self.send_cred = false;
                }
                None
            }
            StatusCode::Ok => {
                if self.send_cred || self.auth == AuthKind::Hmac || self.client_authenticated {
                    self.client_authenticated = true;
                }
                None
            }
            StatusCode::InvalidCredentials | StatusCode::MissingCredentials => {
                self.auth_attempts += 1;
                self.send_cred = true;
                if let Some(t) = s.chal.as_ref().and_then(|c| c.meta.type_.as_deref())
                    && let Some(kind) = AuthType::from_meta_type(t).ok().and_then(AuthKind::from_auth_type)
                {
                    self.auth = kind;
                }
                if self.client_authenticated
                    || server_ended
                    || s.chal.is_none()
                    || self.auth_attempts >= self.config().max_auth_attempts
                {
                    return Some(self.stop(Outcome::AuthFailed { code: s.data.code() }));
                }
                // Package 1 again, with the credentials asked for (FACTS.md D.3).
                self.hdr_reply = None;
                self.sent.clear();
                Some(Step::Send(Box::new(self.first_message())))
            }
            code if code.is_success() => None,
            code => Some(self.stop(Outcome::Refused { code: code.code() })),
        }
    }

    /// A Status for one of our commands.
    fn status_for_us(&mut self, s: &Status) {
        let Some(i) =
            self.sent.iter().position(|x| Some(x.msg_id) == s.msg_ref && Some(x.cmd_id) == s.cmd_ref)
        else {
            return;
        };
        let sent = self.sent.remove(i);
        match sent.kind {
            SentKind::Chunk { last: false } => {
                if s.data != StatusCode::ChunkedItemAccepted {
                    self.violation(format!("chunk answered {} instead of 213", s.data));
                    if !s.data.is_success() {
                        self.chunking = None;
                    }
                }
            }
            SentKind::Chunk { last: true } | SentKind::Other => {}
            SentKind::Generic(g) => {
                if s.data.is_success() {
                    if let Some(p) = self.dev.pending_alerts.iter().position(|x| *x == g) {
                        self.dev.pending_alerts.remove(p);
                    }
                    self.report.alerts_delivered += 1;
                }
                if !matches!(s.data, StatusCode::Ok | StatusCode::AcceptedForProcessing) {
                    self.violation(format!("Generic Alert answered {} (must be 200 or 202)", s.data));
                }
            }
        }
    }

    /// Verify the server's credentials, when the device checks them (FACTS.md D.2, D.3).
    fn check_server(&mut self, msg: &SyncMl, hmac: Option<&str>, body: &[u8]) -> (StatusCode, Option<Chal>) {
        let Some(password) = self.account.server_password.clone() else {
            return (StatusCode::Ok, None);
        };
        let server_id = self.config().server_id.clone();
        let secret = auth::md5_secret(&server_id, &password);
        let nonce = self.account.server_nonce.clone();
        let mut verdict: Option<bool> = None;
        if let Some(h) = hmac {
            self.server_hmac_seen = true;
            let ok = HmacHeader::parse(h).ok().is_some_and(|hh| {
                hh.username == server_id && auth::hmac::verify(&hh, &secret, &nonce, body).is_ok()
            });
            if ok {
                self.report.server_hmac_verified += 1;
            } else {
                let stale = self.prev_server_nonce.as_ref().is_some_and(|prev| {
                    HmacHeader::parse(h)
                        .ok()
                        .is_some_and(|hh| auth::hmac::verify(&hh, &secret, prev, body).is_ok())
                });
                self.violation(format!(
                    "server x-syncml-hmac of message {} does not verify with the nonce the device issued last{}",
                    msg.hdr.msg_id,
                    if stale { " (it verifies with the nonce issued before that one: a stale nonce)" } else { "" }
                ));
            }
            verdict = Some(ok);
        }
        if let Some(cred) = &msg.hdr.cred {
            let t = cred.meta.as_ref().and_then(|m| m.type_.as_deref()).map(AuthType::from_meta_type);
            let ok = match t {
                Some(Ok(AuthType::Md5)) => auth::md5::verify(&secret, &cred.data, &nonce).is_ok(),
                None | Some(Ok(AuthType::Basic)) => {
                    auth::basic::verify(&cred.data, &server_id, &Secret::new(password.clone())).is_ok()
                }
                _ => false,
            };
            verdict = Some(verdict.unwrap_or(true) && ok);
        }
        let chal_type = if self.server_hmac_seen { AuthType::Hmac } else { AuthType::Md5 };
        let fresh = |me: &mut Self| {
            let n = random_nonce();
            me.prev_server_nonce = Some(me.account.server_nonce.clone());
            Account::store_server_nonce(&mut me.dev.tree, &me.dev.config, &n);
            me.account.server_nonce = n.clone();
            Some(chal(chal_type, &n))
        };
        match verdict {
            None if self.server_authenticated && !self.server_hmac_seen => (StatusCode::Ok, None),
            None => (StatusCode::MissingCredentials, fresh(self)),
            Some(false) => (StatusCode::InvalidCredentials, fresh(self)),
            Some(true) => {
                self.server_authenticated = true;
                if self.server_hmac_seen {
                    // HMAC: 200 and a new nonce with every message.
                    (StatusCode::Ok, fresh(self))
                } else {
                    // 212: no more credentials needed; the nonce is for the next session.
                    (StatusCode::AuthenticationAccepted, fresh(self))
                }
            }
        }
    }

    fn execute(&mut self, c: &Command, msg_ref: u32) -> (Vec<Piece>, Vec<GenericAlert>) {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            tree: &mut self.dev.tree,
            config: &self.dev.config,
            msg_ref,
            server_max_obj: self.server_max_obj,
            alerts: Vec::new(),
        };
        ctx.run(c, &mut out);
        let alerts = ctx.alerts;
        // A server may write our account: keep the session's view in step.
        self.account = Account { kind: self.account.kind, ..Account::read(&self.dev.tree, &self.dev.config) };
        (out, alerts)
    }

    /// Alert 1225 for a large object a new command interrupted (FACTS.md C.6).
    fn break_incoming(&mut self) -> Piece {
        let inc = self.incoming.take().expect("an object in progress");
        let mut a = alert(AlertCode::NoEndOfData);
        a.items = vec![Item { target: Some(Location::uri(inc.target)), ..Item::default() }];
        Piece::Alert(a)
    }

    /// One chunk of a large object from the server (FACTS.md C.6).
    fn chunk(&mut self, add: bool, x: &ItemCommand, msg_ref: u32) -> (Vec<Piece>, Vec<GenericAlert>) {
        let name = if add { "Add" } else { "Replace" };
        let item = &x.items[0];
        let target = item.target.as_ref().map(|l| l.loc_uri.clone()).unwrap_or_default();
        let mut out = Vec::new();
        if self.incoming.as_ref().is_some_and(|i| i.target != target || i.add != add) {
            out.push(self.break_incoming());
        }
        let (bytes, text) = match &item.data {
            Some(Data::Text(t)) => (t.as_bytes().to_vec(), true),
            Some(Data::Opaque(b)) => (b.clone(), false),
            _ => (Vec::new(), true),
        };
        if self.incoming.is_none() {
            let size = item.meta.as_ref().and_then(|m| m.size);
            if size.is_none() {
                self.violation(format!("first chunk of {target} carries no Meta Size"));
            }
            if let (Some(s), Some(max)) = (size, self.config().max_obj_size)
                && s > max
            {
                // Larger than we said we accept.
                out.push(Piece::Status(status(
                    msg_ref,
                    x.cmd_id,
                    name,
                    StatusCode::RequestEntityTooLarge,
                    Some(&target),
                )));
                return (out, vec![]);
            }
            self.incoming = Some(InChunk {
                add,
                target: target.clone(),
                meta: item.meta.clone().or(x.meta.clone()),
                size,
                data: Vec::new(),
                text,
            });
        } else if item.meta.as_ref().is_some_and(|m| m.size.is_some()) {
            self.violation(format!("a later chunk of {target} repeats Meta Size"));
        }
        let inc = self.incoming.as_mut().expect("set above");
        inc.data.extend_from_slice(&bytes);
        if item.more_data {
            out.push(Piece::Status(status(
                msg_ref,
                x.cmd_id,
                name,
                StatusCode::ChunkedItemAccepted,
                Some(&target),
            )));
            return (out, vec![]);
        }
        let inc = self.incoming.take().expect("set above");
        if inc.size.is_some_and(|s| s != inc.data.len() as u64) {
            out.push(Piece::Status(status(msg_ref, x.cmd_id, name, StatusCode::SizeMismatch, Some(&target))));
            return (out, vec![]);
        }
        let data = if inc.text {
            Data::Text(String::from_utf8_lossy(&inc.data).into_owned())
        } else {
            Data::Opaque(inc.data)
        };
        let mut meta = inc.meta.unwrap_or_default();
        meta.size = None;
        let whole = ItemCommand {
            cmd_id: x.cmd_id,
            no_resp: x.no_resp,
            cred: None,
            meta: x.meta.clone(),
            items: vec![Item {
                target: Some(Location::uri(target)),
                meta: Some(meta),
                data: Some(data),
                ..Item::default()
            }],
        };
        let cmd = if add { Command::Add(whole) } else { Command::Replace(whole) };
        let (p, a) = self.execute(&cmd, msg_ref);
        out.extend(p);
        (out, a)
    }
}

/// Run one session of `dev` over HTTP, injecting the configured faults.
pub async fn run(dev: &mut Device) -> SessionReport {
    let faults = dev.config.faults.clone();
    let timeout = dev.config.http_timeout;
    let mut s = ClientSession::new(dev);
    let mut out = s.first_message();
    let mut n: u32 = 1;
    loop {
        if n > 1
            && let Some(d) = faults.slow_answer
        {
            tokio::time::sleep(d).await;
        }
        if faults.malformed_message == Some(n) {
            let bad = malform(&out.request.body);
            s.replace_body(&mut out, bad);
        }
        if faults.drop_after_message == Some(n) {
            if let Err(e) = transport::send_and_drop(&out.request, timeout).await {
                s.end(Outcome::Transport { error: e.to_string() });
            } else {
                s.end(Outcome::Dropped { after: n });
            }
            break;
        }
        if faults.retransmit_message == Some(n) {
            // The answer is lost; the same bytes go again (same MsgID).
            let _ = transport::send_and_drop(&out.request, timeout).await;
            s.note("(answer lost; message sent again)");
        }
        match transport::send(&out.request, timeout).await {
            Err(e) => {
                s.end(Outcome::Transport { error: e.to_string() });
                break;
            }
            Ok(resp) => match s.receive(&resp) {
                Step::Send(next) => out = *next,
                Step::End => break,
            },
        }
        n += 1;
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devsim::{ServerCredentials, UiAnswer};
    use omadm_protocol::{Container, DmVersion, Exec};

    const SERVER: &str = "http://dm.example.com/dm";

    fn device() -> Device {
        Device::new(DeviceConfig::new(SERVER, "IMEI:42"))
    }

    /// A server message to the device, encoded as the device's encoding expects.
    fn server_msg(
        dev: &Device,
        msg_id: u32,
        commands: Vec<Command>,
        is_final: bool,
    ) -> (SyncMl, HttpResponse) {
        let mut hdr = SyncHdr::new(
            dev.config.version,
            "1",
            msg_id,
            Location::uri(dev.config.device_id.clone()),
            Location::uri(SERVER),
        );
        hdr.resp_uri = Some(format!("{SERVER}?s=t"));
        let mut all = vec![Command::Status(Status {
            cmd_id: 1,
            msg_ref: Some(msg_id),
            cmd_ref: Some(0),
            cmd: "SyncHdr".into(),
            target_ref: vec![],
            source_ref: vec![],
            cred: None,
            chal: None,
            data: StatusCode::AuthenticationAccepted,
            items: vec![],
        })];
        all.extend(commands);
        let msg = SyncMl { hdr, body: SyncBody { commands: all, is_final } };
        let enc = dev.config.encoding;
        let resp = HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), enc.content_type().into())],
            body: encode(&msg, enc),
        };
        (msg, resp)
    }

    fn item_cmd(cmd_id: u32, target: &str, data: Option<&str>) -> ItemCommand {
        ItemCommand {
            cmd_id,
            items: vec![Item {
                target: Some(Location::uri(target)),
                data: data.map(Data::from),
                ..Item::default()
            }],
            ..ItemCommand::default()
        }
    }

    fn sent(step: Step) -> SyncMl {
        match step {
            Step::Send(o) => o.message,
            Step::End => panic!("the session ended"),
        }
    }

    fn statuses(m: &SyncMl) -> Vec<(String, u32, u16)> {
        m.body
            .commands
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) if !s.is_for_sync_hdr() => {
                    Some((s.cmd.clone(), s.cmd_ref.unwrap(), s.data.code()))
                }
                _ => None,
            })
            .collect()
    }

    /// FACTS.md C.4, J.1: package 1 is Alert 1201 and a Replace of every DevInfo leaf, with
    /// the MD5 credential over the account's nonce.
    #[test]
    fn package_one() {
        let mut dev = device();
        let mut s = ClientSession::new(&mut dev);
        let p1 = s.first_message().message;
        assert!(
            matches!(&p1.body.commands[0], Command::Alert(a) if a.data == AlertCode::ClientInitiatedMgmt)
        );
        let Command::Replace(r) = &p1.body.commands[1] else { panic!() };
        let uris: Vec<&str> = r.items.iter().map(|i| i.source.as_ref().unwrap().loc_uri.as_str()).collect();
        assert_eq!(
            uris,
            ["./DevInfo/DevId", "./DevInfo/Man", "./DevInfo/Mod", "./DevInfo/DmV", "./DevInfo/Lang"]
        );
        assert!(p1.body.is_final);
        let cred = p1.hdr.cred.as_ref().unwrap();
        assert_eq!(cred.data, auth::md5::cred_data("devuser", "devpw", b"clientnonce"));
        assert_eq!(p1.hdr.source.loc_name.as_deref(), Some("devuser"));
        assert_eq!(p1.hdr.meta.as_ref().unwrap().max_msg_size, Some(16_384));
    }

    /// OMA-TS-DM_Protocol §6.5: Get → Status and Results; NoResp → no Status; an empty
    /// server package ends the session without an answer.
    #[test]
    fn executes_commands_and_ends_on_an_empty_package() {
        let mut dev = device();
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let mut quiet = item_cmd(4, "./Vendor/Settings/Volume", Some("7"));
        quiet.no_resp = true;
        let (_, resp) = server_msg(
            s.dev,
            1,
            vec![
                Command::Get(item_cmd(3, "./DevDetail/SwV", None)),
                Command::Replace(quiet),
                Command::Delete(item_cmd(5, "./Nope", None)),
            ],
            true,
        );
        let reply = sent(s.receive(&resp));
        assert_eq!(statuses(&reply), [("Get".into(), 3, 200), ("Delete".into(), 5, 404)]);
        let results = reply.body.commands.iter().find_map(|c| match c {
            Command::Results(r) => Some(r),
            _ => None,
        });
        let r = results.expect("Results");
        assert_eq!((r.cmd_ref, r.msg_ref), (3, Some(1)));
        assert_eq!(r.items[0].data.as_ref().and_then(Data::as_text), Some("2.0.1"));
        assert!(reply.body.is_final);
        let (_, resp) = server_msg(s.dev, 2, vec![], true);
        assert!(matches!(s.receive(&resp), Step::End));
        let report = s.finish();
        assert_eq!(report.outcome, Outcome::Completed);
        assert_eq!(dev.tree.text("./Vendor/Settings/Volume").as_deref(), Some("7"));
    }

    /// FACTS.md C.3: a failing command in an Atomic rolls everything back (507, 216 for what
    /// had succeeded, 215 for what did not run); Get inside an Atomic is 500.
    #[test]
    fn atomic_rollback() {
        let mut dev = device();
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let atomic = Command::Atomic(Container {
            cmd_id: 3,
            commands: vec![
                Command::Replace(item_cmd(4, "./Vendor/Settings/Volume", Some("1"))),
                Command::Add(item_cmd(5, "./Vendor/New", Some("n"))),
                Command::Replace(item_cmd(6, "./DevInfo/Man", Some("x"))),
                Command::Delete(item_cmd(7, "./Vendor/Settings", None)),
            ],
            ..Container::default()
        });
        let with_get = Command::Atomic(Container {
            cmd_id: 8,
            commands: vec![Command::Get(item_cmd(9, "./DevInfo/Man", None))],
            ..Container::default()
        });
        let ok = Command::Atomic(Container {
            cmd_id: 10,
            commands: vec![Command::Add(item_cmd(11, "./Vendor/Kept", Some("k")))],
            ..Container::default()
        });
        let (_, resp) = server_msg(s.dev, 1, vec![atomic, with_get, ok], true);
        let reply = sent(s.receive(&resp));
        assert_eq!(
            statuses(&reply),
            [
                ("Atomic".into(), 3, 507),
                ("Replace".into(), 4, 216),
                ("Add".into(), 5, 216),
                ("Replace".into(), 6, 425),
                ("Delete".into(), 7, 215),
                ("Atomic".into(), 8, 507),
                ("Get".into(), 9, 500),
                ("Atomic".into(), 10, 200),
                ("Add".into(), 11, 200),
            ]
        );
        drop(s);
        assert_eq!(dev.tree.text("./Vendor/Settings/Volume").as_deref(), Some("5"));
        assert!(dev.tree.node("./Vendor/New").is_none());
        assert_eq!(dev.tree.text("./Vendor/Kept").as_deref(), Some("k"));
    }

    /// FACTS.md C.2: UI alerts answered per the user; a No stops the rest of a Sequence.
    #[test]
    fn ui_alerts_and_sequences() {
        let mut dev = device();
        dev.config.user.answer = UiAnswer::Reject;
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let ui = |id: u32, code: AlertCode| {
            Command::Alert(Alert {
                cmd_id: id,
                no_resp: false,
                cred: None,
                data: code,
                correlator: None,
                items: vec![
                    Item { data: Some(Data::from("DR=2")), ..Item::default() },
                    Item { data: Some(Data::from("Question")), ..Item::default() },
                ],
            })
        };
        let seq = Command::Sequence(Container {
            cmd_id: 3,
            commands: vec![
                ui(4, AlertCode::ConfirmOrReject),
                Command::Delete(item_cmd(5, "./Vendor/Settings", None)),
            ],
            ..Container::default()
        });
        let (_, resp) =
            server_msg(s.dev, 1, vec![seq, ui(6, AlertCode::TextInput), ui(7, AlertCode::Display)], true);
        let reply = sent(s.receive(&resp));
        assert_eq!(
            statuses(&reply),
            [
                ("Sequence".into(), 3, 200),
                ("Alert".into(), 4, 304),
                ("Delete".into(), 5, 215),
                ("Alert".into(), 6, 200),
                ("Alert".into(), 7, 200),
            ]
        );
        let text = reply.body.commands.iter().find_map(|c| match c {
            Command::Status(st) if st.cmd_ref == Some(6) => st.items.first().cloned(),
            _ => None,
        });
        assert_eq!(text.unwrap().data.unwrap().as_text(), Some("2"), "the DR= default");
    }

    /// FACTS.md C.6: our Results larger than the send limit go in chunks, Size on the first,
    /// MoreData on all but the last, nothing after a chunk, every message within the limit.
    #[test]
    fn outgoing_large_object_chunks() {
        let mut dev = device();
        dev.config.send_limit = Some(1800);
        let value: String = (0..6000).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
        dev.tree.set_value("./Vendor/Log", value.clone());
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let (_, resp) = server_msg(s.dev, 1, vec![Command::Get(item_cmd(3, "./Vendor/Log", None))], true);
        let mut reply = sent(s.receive(&resp));
        let mut got = String::new();
        let mut n = 1;
        loop {
            let size = encode(&reply, Encoding::Xml).len();
            assert!(size <= 1800, "within the send limit: {size}");
            let Some(Command::Results(r)) = reply.body.commands.last() else {
                panic!("a chunk last: {reply:?}")
            };
            let item = &r.items[0];
            assert_eq!(
                item.meta.as_ref().unwrap().size.is_some(),
                got.is_empty(),
                "Size on the first chunk only"
            );
            got.push_str(item.data.as_ref().unwrap().as_text().unwrap());
            if !item.more_data {
                assert!(reply.body.is_final);
                break;
            }
            assert!(!reply.body.is_final);
            // The server: 213 for the chunk, Alert 1222.
            n += 1;
            let st = Command::Status(Status {
                cmd_id: 2,
                msg_ref: Some(reply.hdr.msg_id),
                cmd_ref: Some(r.cmd_id),
                cmd: "Results".into(),
                target_ref: vec![],
                source_ref: vec![],
                cred: None,
                chal: None,
                data: StatusCode::ChunkedItemAccepted,
                items: vec![],
            });
            let next = Command::Alert(Alert {
                cmd_id: 3,
                no_resp: false,
                cred: None,
                data: AlertCode::NextMessage,
                correlator: None,
                items: vec![],
            });
            let (_, resp) = server_msg(s.dev, n, vec![st, next], false);
            reply = sent(s.receive(&resp));
        }
        assert_eq!(got, value);
        assert!(n > 4, "several chunks");
        assert!(s.finish().violations.is_empty());
    }

    /// FACTS.md C.6: incoming chunks are answered 213 and Alert 1222, reassembled, and
    /// checked against Size (424); a new command before the last chunk gets Alert 1225.
    #[test]
    fn incoming_large_object() {
        let chunk = |id: u32, target: &str, data: &str, size: Option<u64>, more: bool| {
            Command::Replace(ItemCommand {
                cmd_id: id,
                items: vec![Item {
                    target: Some(Location::uri(target)),
                    meta: Some(Meta { format: Some(Format::Chr), size, ..Meta::default() }),
                    data: Some(Data::from(data)),
                    more_data: more,
                    ..Item::default()
                }],
                ..ItemCommand::default()
            })
        };
        for (announced, expect) in [(10u64, 200u16), (11, 424)] {
            let mut dev = device();
            let mut s = ClientSession::new(&mut dev);
            s.first_message();
            let (_, resp) =
                server_msg(s.dev, 1, vec![chunk(3, "./Vendor/Log", "01234", Some(announced), true)], false);
            let reply = sent(s.receive(&resp));
            assert_eq!(statuses(&reply), [("Replace".into(), 3, 213)]);
            assert!(
                reply
                    .body
                    .commands
                    .iter()
                    .any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::NextMessage))
            );
            assert!(!reply.body.is_final);
            let (_, resp) = server_msg(s.dev, 2, vec![chunk(2, "./Vendor/Log", "56789", None, false)], true);
            let reply = sent(s.receive(&resp));
            assert_eq!(statuses(&reply), [("Replace".into(), 2, expect)]);
            drop(s);
            let want =
                if expect == 200 { "0123456789".to_owned() } else { dev.tree.text("./Vendor/Log").unwrap() };
            assert_eq!(dev.tree.text("./Vendor/Log").unwrap(), want);
            assert_ne!(expect == 424, dev.tree.text("./Vendor/Log").as_deref() == Some("0123456789"));
        }
        let mut dev = device();
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let (_, resp) = server_msg(s.dev, 1, vec![chunk(3, "./Vendor/Log", "01234", Some(10), true)], false);
        sent(s.receive(&resp));
        let (_, resp) = server_msg(s.dev, 2, vec![Command::Get(item_cmd(2, "./DevInfo/Man", None))], true);
        let reply = sent(s.receive(&resp));
        let broken = reply.body.commands.iter().find_map(|c| match c {
            Command::Alert(a) if a.data == AlertCode::NoEndOfData => Some(a),
            _ => None,
        });
        assert_eq!(broken.expect("Alert 1225").items[0].target.as_ref().unwrap().loc_uri, "./Vendor/Log");
    }

    /// FACTS.md D.3: the server's MD5 Cred over the SRVCRED secret and the device's nonce is
    /// accepted with 212 and a fresh nonce; a wrong one gets 401, a fresh nonce, and every
    /// command answered 401 without being executed.
    #[test]
    fn server_credentials() {
        for good in [true, false] {
            let mut dev = device();
            dev.config.server =
                Some(ServerCredentials { password: "srvpw".into(), nonce: Nonce::new(b"sn".to_vec()) });
            dev.tree = crate::devsim::objects::default_tree(&dev.config);
            let mut s = ClientSession::new(&mut dev);
            s.first_message();
            let (mut msg, _) =
                server_msg(s.dev, 1, vec![Command::Delete(item_cmd(3, "./Vendor/Settings", None))], true);
            let pw = if good { "srvpw" } else { "other" };
            msg.hdr.cred = Some(Cred {
                meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-md5")),
                data: auth::md5::cred_data("omadm", pw, b"sn"),
            });
            let resp = HttpResponse {
                status: 200,
                headers: vec![("Content-Type".into(), Encoding::Xml.content_type().into())],
                body: encode(&msg, Encoding::Xml),
            };
            let reply = sent(s.receive(&resp));
            let Command::Status(h) = &reply.body.commands[0] else { panic!() };
            assert_eq!(h.data.code(), if good { 212 } else { 401 });
            let next = Nonce::from_b64(h.chal.as_ref().unwrap().meta.next_nonce.as_deref().unwrap()).unwrap();
            assert_ne!(next.as_bytes(), b"sn");
            assert_eq!(statuses(&reply), [("Delete".into(), 3, if good { 200 } else { 401 })]);
            drop(s);
            assert_eq!(dev.account().server_nonce, next, "the new nonce is stored");
            assert_eq!(dev.tree.node("./Vendor/Settings").is_none(), good);
        }
    }

    /// FACTS.md I.3: a FUMO Exec is answered 202 and its result goes back as Generic Alert
    /// 1226 with the Correlator; DM 1.1.2 runs it synchronously.
    #[test]
    fn fumo_exec_and_generic_alert() {
        for version in [DmVersion::V1_2, DmVersion::V1_1_2] {
            let mut dev = device();
            dev.config.version = version;
            dev.tree = crate::devsim::objects::default_tree(&dev.config);
            let mut s = ClientSession::new(&mut dev);
            s.first_message();
            let exec = Command::Exec(Exec {
                cmd_id: 3,
                correlator: Some("abc".into()),
                item: Item { target: Some(Location::uri("./FwUpdate/x1/Download")), ..Item::default() },
                ..Exec::default()
            });
            let (_, resp) = server_msg(s.dev, 1, vec![exec], true);
            let reply = sent(s.receive(&resp));
            let alert = reply.body.commands.iter().find_map(|c| match c {
                Command::Alert(a) if a.data == AlertCode::GenericAlert => Some(a.clone()),
                _ => None,
            });
            if version == DmVersion::V1_2 {
                assert_eq!(statuses(&reply), [("Exec".into(), 3, 202)]);
                let a = alert.expect("Generic Alert");
                assert_eq!(a.correlator.as_deref(), Some("abc"));
                let meta = a.items[0].meta.as_ref().unwrap();
                assert_eq!(meta.type_.as_deref(), Some("org.openmobilealliance.dm.firmwareupdate.download"));
                assert_eq!(meta.format, Some(Format::Int));
                assert_eq!(a.items[0].source.as_ref().unwrap().loc_uri, "./FwUpdate/x1");
                assert_eq!(a.items[0].data.as_ref().unwrap().as_text(), Some("200"));
            } else {
                assert_eq!(statuses(&reply), [("Exec".into(), 3, 200)]);
                assert!(alert.is_none());
            }
        }
    }

    /// FACTS.md C.4: a server message without Final is answered with the Statuses and Alert
    /// 1222, without Final.
    #[test]
    fn next_message_request() {
        let mut dev = device();
        let mut s = ClientSession::new(&mut dev);
        s.first_message();
        let (_, resp) = server_msg(s.dev, 1, vec![Command::Get(item_cmd(3, "./DevInfo/Man", None))], false);
        let reply = sent(s.receive(&resp));
        assert!(!reply.body.is_final);
        assert!(
            matches!(reply.body.commands.last(), Some(Command::Alert(a)) if a.data == AlertCode::NextMessage)
        );
    }

    /// Run `wbxml2xml` (libwbxml, Debian libwbxml2-utils) on `wbxml`; fails when missing.
    fn wbxml2xml(wbxml: &[u8]) -> Vec<u8> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir();
        let inp = dir.join(format!("devsim-wbxml-{}-{n}.wbxml", std::process::id()));
        let out = dir.join(format!("devsim-wbxml-{}-{n}.xml", std::process::id()));
        std::fs::write(&inp, wbxml).unwrap();
        let run = std::process::Command::new("wbxml2xml")
            .args(["-m", "0", "-o"])
            .arg(&out)
            .arg(&inp)
            .output()
            .unwrap_or_else(|e| panic!("wbxml2xml is required (apt-get install libwbxml2-utils): {e}"));
        assert!(run.status.success(), "wbxml2xml failed: {}", String::from_utf8_lossy(&run.stderr));
        let xml = std::fs::read(&out).unwrap();
        let _ = std::fs::remove_file(&inp);
        let _ = std::fs::remove_file(&out);
        xml
    }

    /// XML as element names and non-blank texts in document order (namespaces, the
    /// declaration, DOCTYPE and CDATA-versus-escaping are not compared).
    fn structure(xml: &[u8]) -> Vec<String> {
        use quick_xml::events::Event;
        let mut r = quick_xml::Reader::from_reader(xml);
        let mut out = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, out: &mut Vec<String>| {
            if !text.trim().is_empty() {
                out.push(format!("{:?}", text.trim()));
            }
            text.clear();
        };
        loop {
            match r.read_event().unwrap() {
                Event::Start(e) => {
                    flush(&mut text, &mut out);
                    out.push(format!("<{}>", e.local_name().into_inner()));
                }
                Event::Empty(e) => {
                    flush(&mut text, &mut out);
                    out.push(format!("<{}/>", e.local_name().into_inner()));
                }
                Event::End(_) => {
                    flush(&mut text, &mut out);
                    out.push("</>".into());
                }
                Event::Text(t) => text.push_str(&t.xml10_content()),
                Event::CData(c) => text.push_str(&c.xml10_content()),
                Event::GeneralRef(g) => {
                    let name = g.into_inner().to_string();
                    text.push_str(match name.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("entity {other}"),
                    });
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    /// Every kind of message the device sends: package 1 (with a pending Generic Alert), a
    /// reply with Statuses (a Chal, UI answer items), Results, a Generic Alert, Alert 1222 and
    /// large-object chunks, in DM 1.2 and DM 1.1.2.
    fn device_messages(version: DmVersion) -> Vec<SyncMl> {
        let mut dev = device();
        dev.config.version = version;
        dev.config.send_limit = Some(1600);
        dev.config.server =
            Some(ServerCredentials { password: "srvpw".into(), nonce: Nonce::new(b"sn".to_vec()) });
        dev.tree = crate::devsim::objects::default_tree(&dev.config);
        dev.tree.set_value("./Vendor/Log", "log line & <more>\n".repeat(200));
        dev.pending_alerts.push(crate::devsim::GenericAlert {
            correlator: None,
            source: "./FwUpdate/x1".into(),
            alert_type: "org.openmobilealliance.dm.firmwareupdate.update".into(),
            format: "int".into(),
            mark: Some("critical".into()),
            data: "410".into(),
        });
        let mut s = ClientSession::new(&mut dev);
        let mut out = vec![s.first_message().message];
        let ui = Command::Alert(Alert {
            cmd_id: 5,
            no_resp: false,
            cred: None,
            data: AlertCode::TextInput,
            correlator: None,
            items: vec![
                Item { data: Some(Data::from("DR=Room 1")), ..Item::default() },
                Item { data: Some(Data::from("Where?")), ..Item::default() },
            ],
        });
        let exec = Command::Exec(Exec {
            cmd_id: 6,
            correlator: Some("c-1".into()),
            item: Item { target: Some(Location::uri("./FwUpdate/x1/Update")), ..Item::default() },
            ..Exec::default()
        });
        let (mut msg, _) = server_msg(
            s.dev,
            1,
            vec![
                Command::Get(item_cmd(3, "./DevDetail/SwV", None)),
                Command::Get(item_cmd(4, "./Vendor/Log", None)),
                ui,
                exec,
            ],
            false,
        );
        // The server's Cred: the device answers 212 with a Chal for the next session.
        msg.hdr.cred = Some(Cred {
            meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-md5")),
            data: auth::md5::cred_data("omadm", "srvpw", b"sn"),
        });
        let resp = HttpResponse {
            status: 200,
            headers: vec![("Content-Type".into(), Encoding::Xml.content_type().into())],
            body: encode(&msg, Encoding::Xml),
        };
        let mut step = s.receive(&resp);
        let mut n = 1;
        while let Step::Send(o) = step {
            out.push(o.message.clone());
            n += 1;
            if n > 30 {
                break;
            }
            let last_results = o.message.body.commands.iter().rev().find_map(|c| match c {
                Command::Results(r) => Some(r.cmd_id),
                _ => None,
            });
            let mut cmds = Vec::new();
            if let Some(id) = last_results {
                cmds.push(Command::Status(Status {
                    cmd_id: 2,
                    msg_ref: Some(o.message.hdr.msg_id),
                    cmd_ref: Some(id),
                    cmd: "Results".into(),
                    target_ref: vec![],
                    source_ref: vec![],
                    cred: None,
                    chal: None,
                    data: StatusCode::ChunkedItemAccepted,
                    items: vec![],
                }));
            }
            cmds.push(Command::Alert(Alert {
                cmd_id: 3,
                no_resp: false,
                cred: None,
                data: AlertCode::NextMessage,
                correlator: None,
                items: vec![],
            }));
            let last = o.message.body.is_final;
            let (_, resp) = server_msg(s.dev, n, if last { vec![] } else { cmds }, true);
            step = s.receive(&resp);
        }
        out
    }

    /// The device's WBXML, decoded by libwbxml's `wbxml2xml`, has the structure of the
    /// device's XML for the same message (an independent check of the encoder it uses).
    #[test]
    fn wbxml_matches_libwbxml() {
        for version in [DmVersion::V1_2, DmVersion::V1_1_2] {
            let msgs = device_messages(version);
            assert!(msgs.len() >= 4, "{version:?}: {} messages", msgs.len());
            let kinds: std::collections::BTreeSet<&str> =
                msgs.iter().flat_map(|m| m.body.commands.iter().map(|c| c.name())).collect();
            for k in ["Alert", "Replace", "Status", "Results"] {
                assert!(kinds.contains(k), "{version:?}: no {k} in {kinds:?}");
            }
            let all: Vec<&Command> = msgs.iter().flat_map(|m| m.body.commands.iter()).collect();
            let chunked =
                all.iter().any(|c| matches!(c, Command::Results(r) if r.items.iter().any(|i| i.more_data)));
            let chal = all.iter().any(|c| matches!(c, Command::Status(s) if s.chal.is_some()));
            let answer = all.iter().any(|c| matches!(c, Command::Status(s) if !s.items.is_empty()));
            let generic =
                all.iter().any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::GenericAlert));
            let next = all.iter().any(|c| matches!(c, Command::Alert(a) if a.data == AlertCode::NextMessage));
            assert!(
                chunked && chal && answer && generic && next,
                "{version:?}: {chunked} {chal} {answer} {generic} {next}"
            );
            for (i, m) in msgs.iter().enumerate() {
                let ours = encode(m, Encoding::Xml);
                let theirs = wbxml2xml(&encode(m, Encoding::Wbxml));
                assert_eq!(structure(&theirs), structure(&ours), "{version:?} message {i}");
                let doctype = if version == DmVersion::V1_2 { "SyncML 1.2" } else { "SyncML 1.1" };
                assert!(String::from_utf8_lossy(&theirs).contains(doctype), "public id read by libwbxml");
            }
        }
    }
}
