//! The DM session engine: one device message and the stored session state in, the response
//! and the changes to store out. Deterministic and free of I/O (time and randomness are passed
//! in), like quinn-proto: the HTTP layer loads, calls [`handle`], stores, answers.
//!
//! The flow follows OMA-TS-DM_Protocol-V1_2 §8 (packages 1-4; FACTS.md C.4): package 1 carries
//! Alert 1200/1201 and the DevInfo Replace; the server authenticates the client (401/407 with
//! a Chal and a fresh nonce, 212 when accepted) and itself (our `<Cred>`); packages 2/3/4...
//! carry the queued commands and their Status/Results until a server package has no commands.

pub mod auth;
mod build;
pub mod ddfs;
mod incoming;
pub mod mirror;
pub mod state;

use omadm_protocol::auth::Nonce;
use omadm_protocol::{
    Chal, Command, Encoding, Format, Location, Meta, Status, StatusCode, SyncBody, SyncHdr, SyncMl,
};
use omadm_storage::{
    ClientAuthType, CommandRecord, CommandState, Device, GenericAlert, InventoryItem, Millis, ResultItem,
    SessionOutcome, TreeNode,
};

pub use build::correlator;
pub use ddfs::DdfSet;
pub use state::{Phase, SessionState};

use self::auth::ClientAuth;

/// Settings of the engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Largest message we accept, advertised as our MaxMsgSize.
    pub max_msg_size: u64,
    /// Largest object we accept, advertised as our MaxObjSize.
    pub max_obj_size: u64,
    /// Failed authentications before the session is ended.
    pub max_auth_attempts: u8,
    /// MaxMsgSize assumed for a device that announces none.
    pub default_device_max_msg_size: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_msg_size: 512 * 1024,
            max_obj_size: 4 * 1024 * 1024,
            max_auth_attempts: 3,
            default_device_max_msg_size: 64 * 1024,
        }
    }
}

/// One message from the device, as received.
pub struct Input<'a> {
    /// The decoded message.
    pub msg: &'a SyncMl,
    /// The exact HTTP body (the HMAC covers it).
    pub body: &'a [u8],
    /// The `x-syncml-hmac` header, if any.
    pub hmac: Option<&'a str>,
    /// The wire encoding (the answer uses the same).
    pub encoding: Encoding,
    /// The URI (with session token) the device must use next.
    pub resp_uri: &'a str,
    /// Our own URI, for the SyncHdr Source.
    pub server_uri: &'a str,
    /// Now.
    pub now: Millis,
    /// The device's mirrored tree (at least the nodes with an ACL or a Format), for the ACL
    /// checks of queued commands and for Copy; may be empty when nothing is queued or sent.
    pub tree: &'a [TreeNode],
    /// The DDFs (standard and the operator's) queued commands are checked against.
    pub ddfs: &'a DdfSet,
    /// The device's held commands, given at the start of a session (package 1): checked again
    /// against the current mirror and DDFs, and released (and sent) when they now pass.
    pub held: &'a [CommandRecord],
}

/// A change to store, in the same transaction as the session state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The nonce the device must use next (we issued it).
    ClientNonce(String),
    /// The nonce the device wants in our next Cred.
    ServerNonce(String),
    /// The device authenticated: remember the DM version and the time.
    DeviceSession,
    /// Inventory values reported by the device.
    Inventory(Vec<InventoryItem>),
    /// Commands (ids, children included) sent in this response.
    CommandsSent(Vec<i64>),
    /// A command's Status arrived (or it was abandoned).
    CommandStatus { id: i64, state: CommandState, status: Option<u16> },
    /// Results (or a Status Item) for a command.
    Results { id: i64, items: Vec<ResultItem> },
    /// A Generic Alert (or client event) to keep.
    GenericAlert(GenericAlert),
    /// Nodes the device told us about: insert or merge into the tree mirror.
    TreeUpsert(Vec<TreeNode>),
    /// A node (and its subtree) the device deleted.
    TreeDelete(String),
    /// A queued command the mirrored ACLs or the DDF forbid: held back, not sent.
    CommandHeld { id: i64, reason: String },
    /// A held command that the current mirror and DDFs allow: back in the queue.
    CommandReleased { id: i64 },
}

/// What to answer.
#[derive(Debug)]
pub enum Response {
    /// A new message.
    Message(Box<SyncMl>),
    /// The device repeated its last message: answer with our last response again.
    Replay,
}

/// The engine's verdict on one message.
#[derive(Debug)]
pub struct Output {
    /// The answer.
    pub response: Response,
    /// Changes to store.
    pub effects: Vec<Effect>,
    /// The session's outcome after this message.
    pub outcome: SessionOutcome,
    /// Whether the state changed and must be stored (false for refusals and replays).
    pub store: bool,
}

/// Handle one device message. `state` is updated in place; `queued` are the device's queued
/// top-level commands (oldest first), of which as many as fit are sent; `random` supplies
/// fresh nonces.
pub fn handle(
    config: &EngineConfig,
    state: &mut SessionState,
    device: &Device,
    queued: &[CommandRecord],
    input: &Input<'_>,
    random: &mut dyn FnMut() -> [u8; 16],
) -> Output {
    let msg = input.msg;
    let hdr = &msg.hdr;

    // A retransmission of the message we last answered (same session, same MsgID) gets the
    // same answer.
    let same_session = msg.version() == Some(state.version) && hdr.session_id == state.session_id;
    if same_session
        && state.last_in_msg_id != 0
        && hdr.msg_id == state.last_in_msg_id
        && state.last_response.is_some()
    {
        return Output { response: Response::Replay, effects: vec![], outcome: outcome(state), store: false };
    }
    let mut s = Session::new(config, state, device, input);

    if s.state.phase == Phase::Ended {
        return s.refuse(StatusCode::BadRequest);
    }
    if !same_session {
        // A message of another session or version may not change this one.
        return s.refuse(StatusCode::BadRequest);
    }
    if hdr.msg_id <= s.state.last_in_msg_id {
        return s.refuse(StatusCode::BadRequest);
    }
    s.state.last_in_msg_id = hdr.msg_id;
    if let Some(meta) = &hdr.meta {
        if let Some(m) = meta.max_msg_size {
            s.state.max_msg_size = Some(m);
        }
        if let Some(m) = meta.max_obj_size {
            s.state.max_obj_size = Some(m);
        }
    }

    // Client authentication: once for the session (basic, MD5), every message (HMAC).
    let must_check = s.state.phase == Phase::AwaitingAuth || s.state.hmac;
    let hdr_code = if must_check {
        match auth::check_client(device, msg, input.hmac, input.body) {
            ClientAuth::Accepted => {
                let first = s.state.phase == Phase::AwaitingAuth;
                s.state.phase = Phase::Managing;
                s.state.hmac = device.client_auth_type == ClientAuthType::Hmac;
                if first {
                    s.effects.push(Effect::DeviceSession);
                }
                // A new nonce per session (MD5) or per message (HMAC), handed over in a Chal
                // beside the success code (FACTS.md D.3).
                if device.client_auth_type != ClientAuthType::Basic {
                    let nonce = s.fresh_client_nonce(random);
                    s.hdr_chal = Some(nonce);
                }
                if s.state.hmac { StatusCode::Ok } else { StatusCode::AuthenticationAccepted }
            }
            verdict => return s.auth_failed(verdict, random),
        }
    } else {
        StatusCode::Ok
    };
    s.hdr_code = hdr_code;

    for cmd in &msg.body.commands {
        s.incoming(cmd);
    }
    s.finish(queued)
}

/// The outcome a state stands for.
fn outcome(state: &SessionState) -> SessionOutcome {
    match state.phase {
        Phase::Ended => SessionOutcome::Completed,
        _ => SessionOutcome::Active,
    }
}

/// Work in progress on one message.
struct Session<'a> {
    config: &'a EngineConfig,
    state: &'a mut SessionState,
    device: &'a Device,
    input: &'a Input<'a>,
    effects: Vec<Effect>,
    /// Statuses for the device's commands, in order.
    statuses: Vec<Status>,
    /// Alerts we must send (1222, 1225).
    alerts: Vec<Command>,
    /// Status code for the device's SyncHdr.
    hdr_code: StatusCode,
    /// A NextNonce (Base64) for the device, sent as a Chal in the SyncHdr Status.
    hdr_chal: Option<String>,
    /// The device asked for our next message (Alert 1222).
    next_requested: bool,
    /// The device aborted (Alert 1223).
    aborted: bool,
    /// Commands refused only because the device refused our credentials: re-queued, to be
    /// sent again in this session once the new credentials are accepted.
    resend: bool,
    /// A large object is arriving: the device's package goes on.
    receiving_chunks: bool,
    /// The server nonce as known now (a Chal in this message may have changed it).
    server_nonce: String,
    /// End the session for a protocol reason.
    failed: bool,
}

impl<'a> Session<'a> {
    fn new(
        config: &'a EngineConfig,
        state: &'a mut SessionState,
        device: &'a Device,
        input: &'a Input<'a>,
    ) -> Self {
        Session {
            config,
            state,
            device,
            input,
            effects: Vec::new(),
            statuses: Vec::new(),
            alerts: Vec::new(),
            hdr_code: StatusCode::Ok,
            hdr_chal: None,
            next_requested: false,
            aborted: false,
            resend: false,
            receiving_chunks: false,
            server_nonce: device.server_nonce.clone(),
            failed: false,
        }
    }

    fn fresh_client_nonce(&mut self, random: &mut dyn FnMut() -> [u8; 16]) -> String {
        let nonce = Nonce::generate(random()).to_b64();
        self.effects.push(Effect::ClientNonce(nonce.clone()));
        nonce
    }

    /// The Chal for the device's configured auth type.
    fn chal(&self, next_nonce: Option<String>) -> Chal {
        let t = auth::auth_type(self.device.client_auth_type);
        Chal {
            meta: Meta {
                format: Some(Format::B64),
                type_: Some(t.meta_type().to_owned()),
                next_nonce,
                ..Meta::default()
            },
        }
    }

    /// Answer a message that may not change the session: only a SyncHdr Status.
    fn refuse(self, code: StatusCode) -> Output {
        let outcome = outcome(self.state);
        let mut resp = self.response_skeleton(false);
        resp.body.commands.push(Command::Status(self.hdr_status(code, None, 1)));
        resp.body.is_final = true;
        Output { response: Response::Message(Box::new(resp)), effects: vec![], outcome, store: false }
    }

    /// 401/407 with a challenge; every command answered with the same code.
    fn auth_failed(mut self, verdict: ClientAuth, random: &mut dyn FnMut() -> [u8; 16]) -> Output {
        let code = if verdict == ClientAuth::Missing {
            StatusCode::MissingCredentials
        } else {
            StatusCode::InvalidCredentials
        };
        self.state.auth_failures = self.state.auth_failures.saturating_add(1);
        let nonce = match self.device.client_auth_type {
            ClientAuthType::Basic => None,
            _ => Some(self.fresh_client_nonce(random)),
        };
        let ended = self.state.auth_failures >= self.config.max_auth_attempts;
        if ended {
            self.state.phase = Phase::Ended;
        }
        let mut resp = self.response_skeleton(ended);
        self.state.last_out_msg_id += 1;
        let chal = self.chal(nonce);
        resp.body.commands.push(Command::Status(self.hdr_status(code, Some(chal), 1)));
        let mut cmd_id = 2;
        for c in &self.input.msg.body.commands {
            if matches!(c, Command::Status(_) | Command::Results(_)) {
                continue;
            }
            resp.body.commands.push(Command::Status(self.status_for(c, code, cmd_id)));
            cmd_id += 1;
        }
        resp.body.is_final = true;
        let outcome = if ended { SessionOutcome::AuthFailed } else { SessionOutcome::Active };
        Output { response: Response::Message(Box::new(resp)), effects: self.effects, outcome, store: true }
    }

    /// The Status answering the device's SyncHdr.
    fn hdr_status(&self, code: StatusCode, chal: Option<Chal>, cmd_id: u32) -> Status {
        let h = &self.input.msg.hdr;
        Status {
            cmd_id,
            msg_ref: Some(h.msg_id),
            cmd_ref: Some(0),
            cmd: "SyncHdr".into(),
            target_ref: vec![h.target.loc_uri.clone()],
            source_ref: vec![h.source.loc_uri.clone()],
            cred: None,
            chal,
            data: code,
            items: vec![],
        }
    }

    /// A Status answering one of the device's commands.
    fn status_for(&self, c: &Command, code: StatusCode, cmd_id: u32) -> Status {
        Status {
            cmd_id,
            msg_ref: Some(self.input.msg.hdr.msg_id),
            cmd_ref: c.cmd_id(),
            cmd: c.name().into(),
            target_ref: vec![],
            source_ref: vec![],
            cred: None,
            chal: None,
            data: code,
            items: vec![],
        }
    }

    /// Our SyncHdr for the next message, with RespURI unless the session ends with it.
    fn response_skeleton(&self, ending: bool) -> SyncMl {
        let msg_id = self.state.last_out_msg_id + 1;
        let mut hdr = SyncHdr::new(
            self.state.version,
            self.state.session_id.clone(),
            msg_id,
            Location::uri(self.input.msg.hdr.source.loc_uri.clone()),
            Location::uri(self.input.server_uri),
        );
        if !ending {
            hdr.resp_uri = Some(self.input.resp_uri.to_owned());
        }
        hdr.meta = Some(Meta {
            max_msg_size: Some(self.config.max_msg_size),
            max_obj_size: Some(self.config.max_obj_size),
            ..Meta::default()
        });
        SyncMl { hdr, body: SyncBody::default() }
    }
}

/// The answer to a message that belongs to no session we can continue (unknown device,
/// unknown or foreign session token, a first message that is not a package 1, a version we do
/// not speak): the SyncHdr Status with `code`, Final, nothing else.
pub fn reject(msg: &SyncMl, server_uri: &str, code: StatusCode) -> SyncMl {
    let version = msg.version().unwrap_or(omadm_protocol::DmVersion::V1_2);
    let h = &msg.hdr;
    let hdr = SyncHdr::new(
        version,
        h.session_id.clone(),
        1,
        Location::uri(h.source.loc_uri.clone()),
        Location::uri(server_uri),
    );
    let status = Status {
        cmd_id: 1,
        msg_ref: Some(h.msg_id),
        cmd_ref: Some(0),
        cmd: "SyncHdr".into(),
        target_ref: vec![h.target.loc_uri.clone()],
        source_ref: vec![h.source.loc_uri.clone()],
        cred: None,
        chal: None,
        data: code,
        items: vec![],
    };
    SyncMl { hdr, body: SyncBody { commands: vec![Command::Status(status)], is_final: true } }
}

/// Whether `msg` opens a session: it carries Alert 1200 or 1201 (package 1).
pub fn is_package_one(msg: &SyncMl) -> bool {
    msg.body.commands.iter().any(|c| {
        matches!(c, Command::Alert(a) if matches!(a.data, omadm_protocol::AlertCode::ClientInitiatedMgmt | omadm_protocol::AlertCode::ServerInitiatedMgmt))
    })
}

#[cfg(test)]
mod tests;
