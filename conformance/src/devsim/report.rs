//! What happened in a session: every message both ways (decoded and as bytes), the Status
//! codes each side gave, how authentication went, how the session ended, and any breach of
//! the protocol the device noticed in the server's messages.

use std::fmt;

use omadm_protocol::{Command, SyncMl, encode_pretty_xml};
use serde::Serialize;

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Device to server.
    Sent,
    /// Server to device.
    Received,
}

/// One message of the session.
#[derive(Clone, Debug, Serialize)]
pub struct MessageRecord {
    /// Which way.
    pub direction: Direction,
    /// The URL posted to (sent) or answered from (received).
    pub url: String,
    /// HTTP status of the answer (received messages).
    pub http_status: Option<u16>,
    /// SyncHdr MsgID, when the message decoded.
    pub msg_id: Option<u32>,
    /// Size in bytes on the wire.
    pub size: usize,
    /// `<Final/>` present.
    pub is_final: bool,
    /// One line per command, e.g. `Get ./DevDetail/SwV`, `Status SyncHdr 212`.
    pub commands: Vec<String>,
    /// The `x-syncml-hmac` header value, if any.
    pub hmac: Option<String>,
    /// The bytes on the wire.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The decoded message, when it decoded.
    #[serde(skip)]
    pub message: Option<SyncMl>,
}

/// A Status one side gave for a command of the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatusRecord {
    /// MsgRef.
    pub msg_ref: Option<u32>,
    /// CmdRef (0 for the SyncHdr).
    pub cmd_ref: Option<u32>,
    /// Cmd, e.g. `Get`.
    pub cmd: String,
    /// The node (TargetRef, else SourceRef), if named.
    pub target: Option<String>,
    /// The code.
    pub code: u16,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The server sent a package without commands (FACTS.md C.4): the normal end.
    Completed,
    /// The server refused the device's credentials (401/407) and the device gave up, or the
    /// server ended the session.
    AuthFailed {
        /// The last SyncHdr Status code.
        code: u16,
    },
    /// The server's SyncHdr Status refused the message for another reason (e.g. 404 unknown
    /// session, 408 timed out, 400, 505).
    Refused {
        /// The SyncHdr Status code.
        code: u16,
    },
    /// The server aborted the session with Alert 1223.
    ServerAborted,
    /// The device aborted with Alert 1223 (fault `abort_at_message`).
    Aborted,
    /// The device dropped the connection after sending message `after` (fault).
    Dropped {
        /// The message number.
        after: u32,
    },
    /// The server answered with an HTTP error (e.g. 400 for a malformed message).
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// The exchange failed below HTTP.
    Transport {
        /// What failed.
        error: String,
    },
    /// The server's answer could not be used (undecodable, wrong content type...).
    Protocol {
        /// What was wrong.
        error: String,
    },
}

/// Everything about one session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionReport {
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The SessionID.
    pub session_id: String,
    /// The device's DevId.
    pub device_id: String,
    /// Every message, in order.
    pub messages: Vec<MessageRecord>,
    /// Statuses the device gave for the server's commands (not for its SyncHdr).
    pub device_statuses: Vec<StatusRecord>,
    /// Statuses the server gave (SyncHdr included).
    pub server_statuses: Vec<StatusRecord>,
    /// Whether the server accepted the device's credentials.
    pub client_authenticated: bool,
    /// Whether the device accepted the server's credentials (false when it does not check).
    pub server_authenticated: bool,
    /// Server messages whose `x-syncml-hmac` the device verified.
    pub server_hmac_verified: u32,
    /// Generic Alerts the server acknowledged in this session.
    pub alerts_delivered: u32,
    /// Rules the server's messages broke, as the device saw them.
    pub violations: Vec<String>,
}

impl SessionReport {
    /// A report for a session not started yet.
    pub fn new(device_id: &str, session_id: &str) -> SessionReport {
        SessionReport {
            outcome: Outcome::Completed,
            session_id: session_id.to_owned(),
            device_id: device_id.to_owned(),
            messages: Vec::new(),
            device_statuses: Vec::new(),
            server_statuses: Vec::new(),
            client_authenticated: false,
            server_authenticated: false,
            server_hmac_verified: 0,
            alerts_delivered: 0,
            violations: Vec::new(),
        }
    }

    /// The messages that went one way, decoded ones only.
    pub fn decoded(&self, direction: Direction) -> Vec<&SyncMl> {
        self.messages.iter().filter(|m| m.direction == direction).filter_map(|m| m.message.as_ref()).collect()
    }

    /// The server's messages, decoded.
    pub fn received(&self) -> Vec<&SyncMl> {
        self.decoded(Direction::Received)
    }

    /// The device's messages, decoded.
    pub fn sent(&self) -> Vec<&SyncMl> {
        self.decoded(Direction::Sent)
    }

    /// Every management command the server sent (not Status; containers as one command).
    pub fn server_commands(&self) -> Vec<&Command> {
        self.received()
            .into_iter()
            .flat_map(|m| m.body.commands.iter())
            .filter(|c| !matches!(c, Command::Status(_)))
            .collect()
    }

    /// The codes the device gave for `cmd` commands on `target` (e.g. `"Get"`,
    /// `"./DevDetail/SwV"`), in order.
    pub fn device_codes(&self, cmd: &str, target: &str) -> Vec<u16> {
        self.device_statuses
            .iter()
            .filter(|s| s.cmd == cmd && s.target.as_deref() == Some(target))
            .map(|s| s.code)
            .collect()
    }

    /// The SyncHdr Status codes the server gave, in order.
    pub fn server_hdr_codes(&self) -> Vec<u16> {
        self.server_statuses.iter().filter(|s| s.cmd == "SyncHdr").map(|s| s.code).collect()
    }

    /// Whether the session ended normally.
    pub fn completed(&self) -> bool {
        self.outcome == Outcome::Completed
    }

    /// Every message as indented XML, for people (test failure output).
    pub fn transcript(&self) -> String {
        let mut out = String::new();
        for (i, m) in self.messages.iter().enumerate() {
            let arrow = if m.direction == Direction::Sent { ">>" } else { "<<" };
            out.push_str(&format!(
                "{arrow} #{} {} {} bytes{}{}\n",
                i + 1,
                m.url,
                m.size,
                m.http_status.map(|s| format!(" HTTP {s}")).unwrap_or_default(),
                m.hmac.as_ref().map(|h| format!(" x-syncml-hmac: {h}")).unwrap_or_default()
            ));
            match &m.message {
                Some(msg) => out.push_str(&String::from_utf8_lossy(&encode_pretty_xml(msg))),
                None => out.push_str(&format!("{:?}", String::from_utf8_lossy(&m.bytes))),
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for SessionReport {
    /// A summary: outcome, then one line per message with its commands.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "device {} session {}: {:?}", self.device_id, self.session_id, self.outcome)?;
        writeln!(
            f,
            "client authenticated: {}, server authenticated: {}, server HMACs verified: {}, alerts delivered: {}",
            self.client_authenticated,
            self.server_authenticated,
            self.server_hmac_verified,
            self.alerts_delivered
        )?;
        for m in &self.messages {
            let arrow = if m.direction == Direction::Sent { "->" } else { "<-" };
            writeln!(
                f,
                "{arrow} msg {} ({} bytes{}{}{})",
                m.msg_id.map_or("?".to_owned(), |i| i.to_string()),
                m.size,
                if m.is_final { ", final" } else { "" },
                m.http_status.filter(|s| *s != 200).map(|s| format!(", HTTP {s}")).unwrap_or_default(),
                if m.hmac.is_some() { ", hmac" } else { "" },
            )?;
            for c in &m.commands {
                writeln!(f, "     {c}")?;
            }
        }
        for v in &self.violations {
            writeln!(f, "violation: {v}")?;
        }
        Ok(())
    }
}
