//! The DM side of one virtual device: pre-encoded request templates for packages 1 and 3, the
//! checks on packages 2 and 4, and one whole session over a keep-alive connection.
//!
//! The exchange is the one of `server/tests/sessions.rs` `basic_auth_session_get_and_results`,
//! with MD5 authentication:
//!
//! 1. package 1: Alert 1201, the DevInfo Replace, `syncml:auth-md5` Cred over the nonce the
//!    server gave this device last time;
//! 2. package 2: SyncHdr Status 212 with a Chal carrying the next nonce (kept for the device's
//!    next session), Status 200 for the Alert and the Replace, a Get of `./DevDetail/SwV` and a
//!    Replace of `./Vendor/Setting`, RespURI;
//! 3. package 3 to the RespURI: Status for the SyncHdr, the Get and the Replace, Results for
//!    the Get;
//! 4. package 4: no command, Final, no RespURI: the session is over.

use bytes::Bytes;
use omadm_protocol::auth::{self, Secret};
use omadm_protocol::{
    Alert, AlertCode, Command, Cred, Data, DmVersion, Encoding, Format, Item, ItemCommand, Limits, Location,
    Meta, Results, Status, StatusCode, SyncBody, SyncHdr, SyncMl, decode_as, encode,
};

use super::http::HttpConn;

/// The user name every virtual device authenticates with (the password is per fleet too; the
/// server looks devices up by their id, so sharing them costs nothing in realism).
pub const USERNAME: &str = "lguser";
/// The password of every virtual device.
pub const PASSWORD: &str = "lgpass";
/// The client nonce registered with every device (16 bytes, like the server's own nonces).
pub const INITIAL_NONCE: &[u8; 16] = b"lg-initial-nonce";
/// The Get the server sends in package 2.
pub const GET_TARGET: &str = "./DevDetail/SwV";
/// The Replace the server sends in package 2.
pub const REPLACE_TARGET: &str = "./Vendor/Setting";
/// The value the devices report for [`GET_TARGET`].
pub const SWV: &str = "LG-2.0.1";
/// The MaxMsgSize the devices announce.
pub const DEVICE_MAX_MSG_SIZE: u64 = 16_384;

/// A message encoded once with markers in place of the values that change per request, and
/// rendered by splicing the values in: no model building and no encoding per request.
///
/// Every value spliced in is plain text that needs no escaping in XML and holds no NUL (WBXML
/// inline strings are NUL-terminated, so their length is free).
#[derive(Clone, Debug)]
pub struct Template {
    parts: Vec<Vec<u8>>,
    slots: Vec<usize>,
}

impl Template {
    /// Split `encoded` at every occurrence of the markers; slot `i` is filled by `values[i]`.
    pub fn new(encoded: &[u8], markers: &[&[u8]]) -> Template {
        let mut parts = Vec::new();
        let mut slots = Vec::new();
        let mut rest = encoded;
        loop {
            let next = markers
                .iter()
                .enumerate()
                .filter_map(|(k, m)| find(rest, m).map(|at| (at, k)))
                .min_by_key(|&(at, _)| at);
            match next {
                Some((at, k)) => {
                    parts.push(rest[..at].to_vec());
                    slots.push(k);
                    rest = &rest[at + markers[k].len()..];
                }
                None => {
                    parts.push(rest.to_vec());
                    break;
                }
            }
        }
        Template { parts, slots }
    }

    /// Write the message with `values` into `out` (cleared first).
    pub fn render(&self, values: &[&[u8]], out: &mut Vec<u8>) {
        out.clear();
        for (part, &slot) in self.parts.iter().zip(&self.slots) {
            out.extend_from_slice(part);
            let v = values[slot];
            debug_assert!(!v.iter().any(|b| matches!(b, b'<' | b'>' | b'&' | 0)), "unsafe template value");
            out.extend_from_slice(v);
        }
        out.extend_from_slice(self.parts.last().map(Vec::as_slice).unwrap_or_default());
    }

    /// How many slots the template has.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// Markers: text no real value contains; numbers no real CmdID or MsgID reaches.
pub(crate) const M_SESSION: &str = "LGMARKSESSIONLG";
pub(crate) const M_DEVICE: &str = "LGMARKDEVICELG";
const M_CRED: &str = "LGMARKCREDLG";
const N_MSGREF: u32 = 3_999_999_901;
const N_GETREF: u32 = 3_999_999_902;
const N_REPLREF: u32 = 3_999_999_903;

/// The per-encoding pieces every session of a run shares.
pub struct SessionKit {
    /// The wire encoding.
    pub encoding: Encoding,
    /// Package 1: slots session id, device id, Cred data.
    pub pkg1: Template,
    /// Package 3: slots session id, device id, MsgRef, Get CmdRef, Replace CmdRef.
    pub pkg3: Template,
    /// `B64(MD5(username:password))`, the secret behind each Cred.
    pub secret: Secret,
    /// The authority (`host:port`) RespURIs must name; `None` to accept any (the baseline's
    /// canned answers name the DM server).
    pub expect_authority: Option<String>,
    limits: Limits,
}

impl SessionKit {
    /// Templates for devices talking to `dm_url` (the server's `/dm` URI) in `encoding`.
    pub fn new(dm_url: &str, encoding: Encoding, expect_authority: Option<String>) -> SessionKit {
        let pkg1 = Template::new(
            &encode(&package1(dm_url), encoding),
            &[M_SESSION.as_bytes(), M_DEVICE.as_bytes(), M_CRED.as_bytes()],
        );
        let refs = [N_MSGREF.to_string(), N_GETREF.to_string(), N_REPLREF.to_string()];
        let pkg3 = Template::new(
            &encode(&package3(dm_url), encoding),
            &[
                M_SESSION.as_bytes(),
                M_DEVICE.as_bytes(),
                refs[0].as_bytes(),
                refs[1].as_bytes(),
                refs[2].as_bytes(),
            ],
        );
        SessionKit {
            encoding,
            pkg1,
            pkg3,
            secret: auth::md5_secret(USERNAME, PASSWORD),
            expect_authority,
            limits: Limits::default(),
        }
    }

    /// The content type of requests and answers.
    pub fn content_type(&self) -> &'static str {
        self.encoding.content_type()
    }
}

pub(crate) fn header(dm_url: &str, msg_id: u32) -> SyncHdr {
    let mut h = SyncHdr::new(
        DmVersion::V1_2,
        M_SESSION,
        msg_id,
        Location::uri(dm_url),
        Location { loc_uri: M_DEVICE.into(), loc_name: Some(USERNAME.into()) },
    );
    h.meta = Some(Meta { max_msg_size: Some(DEVICE_MAX_MSG_SIZE), ..Meta::default() });
    h
}

pub(crate) fn chr_item(source: &str, value: &str) -> Item {
    Item {
        source: Some(Location::uri(source)),
        meta: Some(Meta::with_format_and_type(Format::Chr, "text/plain")),
        data: Some(Data::from(value)),
        ..Item::default()
    }
}

/// Package 1 with markers: Alert 1201, the DevInfo Replace, MD5 Cred.
fn package1(dm_url: &str) -> SyncMl {
    let mut hdr = header(dm_url, 1);
    hdr.cred = Some(Cred {
        meta: Some(Meta::with_format_and_type(Format::B64, "syncml:auth-md5")),
        data: M_CRED.into(),
    });
    SyncMl {
        hdr,
        body: SyncBody {
            commands: vec![
                Command::Alert(Alert {
                    cmd_id: 1,
                    no_resp: false,
                    cred: None,
                    data: AlertCode::ClientInitiatedMgmt,
                    correlator: None,
                    items: vec![],
                }),
                Command::Replace(ItemCommand {
                    cmd_id: 2,
                    items: vec![
                        chr_item("./DevInfo/DevId", M_DEVICE),
                        chr_item("./DevInfo/Man", "Acme"),
                        chr_item("./DevInfo/Mod", "Loadgen 1"),
                        chr_item("./DevInfo/DmV", "1.2"),
                        chr_item("./DevInfo/Lang", "en-US"),
                    ],
                    ..ItemCommand::default()
                }),
            ],
            is_final: true,
        },
    }
}

/// Package 3 with markers: Status for the SyncHdr, the Get and the Replace; Results.
fn package3(dm_url: &str) -> SyncMl {
    let status = |cmd_id: u32, cmd_ref: u32, cmd: &str, target_ref: Vec<String>, source_ref: Vec<String>| {
        Command::Status(Status {
            cmd_id,
            msg_ref: Some(N_MSGREF),
            cmd_ref: Some(cmd_ref),
            cmd: cmd.into(),
            target_ref,
            source_ref,
            cred: None,
            chal: None,
            data: StatusCode::Ok,
            items: vec![],
        })
    };
    SyncMl {
        hdr: header(dm_url, 2),
        body: SyncBody {
            commands: vec![
                status(1, 0, "SyncHdr", vec![M_DEVICE.into()], vec![dm_url.into()]),
                status(2, N_GETREF, "Get", vec![], vec![]),
                status(3, N_REPLREF, "Replace", vec![], vec![]),
                Command::Results(Results {
                    cmd_id: 4,
                    msg_ref: Some(N_MSGREF),
                    cmd_ref: N_GETREF,
                    items: vec![chr_item(GET_TARGET, SWV)],
                    ..Results::default()
                }),
            ],
            is_final: true,
        },
    }
}

/// Why a session failed. The `key` groups failures in the report.
#[derive(Clone, Debug)]
pub enum Failure {
    /// No connection, or the connection broke.
    Transport(String),
    /// An HTTP status other than 200.
    Http(u16),
    /// The answer is not a DM message in the request's encoding.
    Decode(String),
    /// The server refused the credentials (401, 407); its Chal may carry the nonce to use.
    Auth { code: u16, next_nonce: Option<Vec<u8>> },
    /// A DM answer that is not what the exchange expects.
    Protocol(String),
}

impl Failure {
    /// A short grouping key: `transport`, `http 503`, `decode`, `auth 401`, `protocol: ...`.
    pub fn key(&self) -> String {
        match self {
            Failure::Transport(_) => "transport".into(),
            Failure::Http(c) => format!("http {c}"),
            Failure::Decode(_) => "decode".into(),
            Failure::Auth { code, .. } => format!("auth {code}"),
            Failure::Protocol(m) => format!("protocol: {m}"),
        }
    }

    /// The key with details.
    pub fn detail(&self) -> String {
        match self {
            Failure::Transport(m) | Failure::Decode(m) => format!("{}: {m}", self.key()),
            _ => self.key(),
        }
    }
}

/// What a device keeps between its sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevState {
    /// The nonce for its next MD5 Cred (the last NextNonce the server sent).
    pub nonce: Vec<u8>,
    /// Sessions started (the SessionID is this count, in hex, plus one).
    pub sessions: u32,
    /// Whether the Get and the Replace are queued on the server for its next session.
    pub queued: bool,
}

impl Default for DevState {
    fn default() -> Self {
        DevState { nonce: INITIAL_NONCE.to_vec(), sessions: 0, queued: false }
    }
}

/// What a finished (or half-done) session leaves behind.
pub struct SessionOutcome {
    /// HTTP requests that got an answer.
    pub requests: u32,
    /// Request bytes sent (packages 1 and 3).
    pub request_bytes: [usize; 2],
    /// The raw answers (packages 2 and 4), when asked to record them.
    pub answers: Option<(Bytes, Bytes)>,
}

/// Package 2 as the device understood it.
struct Pkg2 {
    msg_id: u32,
    get_id: u32,
    replace_id: u32,
    resp_path: String,
}

pub(crate) fn code_of(s: &Status) -> u16 {
    s.data.code()
}

pub(crate) fn hdr_status(msg: &SyncMl) -> Option<&Status> {
    msg.body.commands.iter().find_map(|c| match c {
        Command::Status(s) if s.is_for_sync_hdr() => Some(s),
        _ => None,
    })
}

/// Every Status but the SyncHdr's must be 2xx.
pub(crate) fn check_statuses(msg: &SyncMl) -> Result<(), Failure> {
    for c in &msg.body.commands {
        if let Command::Status(s) = c
            && !s.is_for_sync_hdr()
            && !(200..300).contains(&code_of(s))
        {
            return Err(Failure::Protocol(format!("Status {} for {}", code_of(s), s.cmd)));
        }
    }
    Ok(())
}

pub(crate) fn target_of(c: &ItemCommand) -> Option<&str> {
    c.items.first().and_then(|i| i.target.as_ref()).map(|t| t.loc_uri.as_str())
}

/// Package 2's SyncHdr Status must be 212 with a Chal: the device keeps its NextNonce for its
/// next session (also from a 401/407, whose Chal carries the nonce to retry with).
pub(crate) fn accept_chal(msg: &SyncMl, dev: &mut DevState) -> Result<(), Failure> {
    let hs = hdr_status(msg).ok_or_else(|| Failure::Protocol("no SyncHdr Status in package 2".into()))?;
    let next_nonce = match hs.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref()) {
        Some(n) => Some(
            auth::Nonce::from_b64(n)
                .map_err(|_| Failure::Protocol("NextNonce is not Base64".into()))?
                .into_bytes(),
        ),
        None => None,
    };
    if hs.data != StatusCode::AuthenticationAccepted {
        let code = code_of(hs);
        if let Some(n) = &next_nonce {
            dev.nonce = n.clone();
        }
        return Err(match code {
            401 | 407 => Failure::Auth { code, next_nonce },
            _ => Failure::Protocol(format!("SyncHdr Status {code} in package 2")),
        });
    }
    match next_nonce {
        Some(n) => dev.nonce = n,
        None => return Err(Failure::Protocol("212 without a NextNonce".into())),
    }
    Ok(())
}

/// `http://host:port/path?query` → (`host:port`, `/path?query`).
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    Some(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

impl SessionKit {
    pub(crate) fn decode(&self, resp: &super::http::HttpResponse) -> Result<SyncMl, Failure> {
        if resp.status != 200 {
            return Err(Failure::Http(resp.status));
        }
        if resp.content_type.as_deref() != Some(self.content_type()) {
            return Err(Failure::Decode(format!("content type {:?}", resp.content_type)));
        }
        decode_as(&resp.body, self.encoding, &self.limits).map_err(|e| Failure::Decode(e.to_string()))
    }

    /// Check package 2; on success the device's nonce is the server's NextNonce.
    fn check_pkg2(&self, msg: &SyncMl, dev: &mut DevState) -> Result<Pkg2, Failure> {
        accept_chal(msg, dev)?;
        check_statuses(msg)?;
        let (mut get_id, mut replace_id) = (None, None);
        for c in &msg.body.commands {
            match c {
                Command::Status(_) => {}
                Command::Get(g) if target_of(g) == Some(GET_TARGET) && get_id.is_none() => {
                    get_id = Some(g.cmd_id)
                }
                Command::Replace(r) if target_of(r) == Some(REPLACE_TARGET) && replace_id.is_none() => {
                    replace_id = Some(r.cmd_id)
                }
                other => return Err(Failure::Protocol(format!("unexpected {} in package 2", other.name()))),
            }
        }
        let (Some(get_id), Some(replace_id)) = (get_id, replace_id) else {
            return Err(Failure::Protocol("package 2 lacks the Get or the Replace".into()));
        };
        if !msg.body.is_final {
            return Err(Failure::Protocol("package 2 is not Final".into()));
        }
        let resp_uri = msg
            .hdr
            .resp_uri
            .as_deref()
            .ok_or_else(|| Failure::Protocol("package 2 has no RespURI".into()))?;
        let (authority, path) =
            split_url(resp_uri).ok_or_else(|| Failure::Protocol(format!("RespURI {resp_uri:?}")))?;
        if let Some(expected) = &self.expect_authority
            && authority != expected
        {
            return Err(Failure::Protocol(format!("RespURI names {authority}, not {expected}")));
        }
        Ok(Pkg2 { msg_id: msg.hdr.msg_id, get_id, replace_id, resp_path: path.to_owned() })
    }

    fn check_pkg4(&self, msg: &SyncMl) -> Result<(), Failure> {
        let hs = hdr_status(msg).ok_or_else(|| Failure::Protocol("no SyncHdr Status in package 4".into()))?;
        if code_of(hs) != 200 {
            return Err(Failure::Protocol(format!("SyncHdr Status {} in package 4", code_of(hs))));
        }
        check_statuses(msg)?;
        if let Some(c) = msg.body.commands.iter().find(|c| !matches!(c, Command::Status(_))) {
            return Err(Failure::Protocol(format!("unexpected {} in package 4", c.name())));
        }
        if !msg.body.is_final || msg.hdr.resp_uri.is_some() {
            return Err(Failure::Protocol("package 4 does not end the session".into()));
        }
        Ok(())
    }

    /// Render package 1 for `device_id` with its current nonce; bumps its session count.
    pub fn render_pkg1(
        &self,
        device_id: &str,
        dev: &mut DevState,
        session_hex: &mut String,
        out: &mut Vec<u8>,
    ) {
        use std::fmt::Write;
        dev.sessions = dev.sessions.wrapping_add(1);
        session_hex.clear();
        let _ = write!(session_hex, "{:X}", dev.sessions);
        let cred = auth::md5::digest(&self.secret, &dev.nonce);
        self.pkg1.render(&[session_hex.as_bytes(), device_id.as_bytes(), cred.as_bytes()], out);
    }

    /// One session: packages 1 to 4, or only 1 and 2 with `open_only` (the session is left
    /// waiting for package 3). `dev` is updated (nonce, session count) whatever happens.
    pub async fn session(
        &self,
        conn: &mut HttpConn,
        device_id: &str,
        dev: &mut DevState,
        open_only: bool,
        record: bool,
    ) -> Result<SessionOutcome, (Failure, u32)> {
        let mut session_hex = String::with_capacity(8);
        let mut buf = Vec::with_capacity(1024);
        self.render_pkg1(device_id, dev, &mut session_hex, &mut buf);
        let sizes0 = buf.len();
        let resp = conn.post("/dm", self.content_type(), Bytes::from(buf)).await.map_err(|e| (e, 0))?;
        let msg = self.decode(&resp).map_err(|e| (e, 1))?;
        let pkg2 = self.check_pkg2(&msg, dev).map_err(|e| (e, 1))?;
        if open_only {
            return Ok(SessionOutcome { requests: 1, request_bytes: [sizes0, 0], answers: None });
        }
        let pkg2_body = resp.body;
        let mut buf = Vec::with_capacity(1024);
        let (m, g, r) = (pkg2.msg_id.to_string(), pkg2.get_id.to_string(), pkg2.replace_id.to_string());
        self.pkg3.render(
            &[session_hex.as_bytes(), device_id.as_bytes(), m.as_bytes(), g.as_bytes(), r.as_bytes()],
            &mut buf,
        );
        let sizes1 = buf.len();
        let resp =
            conn.post(&pkg2.resp_path, self.content_type(), Bytes::from(buf)).await.map_err(|e| (e, 1))?;
        let msg = self.decode(&resp).map_err(|e| (e, 2))?;
        self.check_pkg4(&msg).map_err(|e| (e, 2))?;
        Ok(SessionOutcome {
            requests: 2,
            request_bytes: [sizes0, sizes1],
            answers: record.then_some((pkg2_body, resp.body)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_what_the_codec_would_encode() {
        for enc in [Encoding::Xml, Encoding::Wbxml] {
            let kit = SessionKit::new("http://127.0.0.1:9/dm", enc, None);
            assert_eq!(kit.pkg1.slot_count(), 4, "session, device (twice), cred");
            assert_eq!(kit.pkg3.slot_count(), 10);
            let mut dev = DevState::default();
            let mut hex = String::new();
            let mut out = Vec::new();
            kit.render_pkg1("IMEI:LG7", &mut dev, &mut hex, &mut out);
            let msg = decode_as(&out, enc, &Limits::default()).unwrap();
            assert_eq!(msg.hdr.session_id, "1");
            assert_eq!(msg.hdr.source.loc_uri, "IMEI:LG7");
            let cred = msg.hdr.cred.as_ref().unwrap();
            assert_eq!(cred.data, auth::md5::cred_data(USERNAME, PASSWORD, INITIAL_NONCE));
            let Command::Replace(r) = &msg.body.commands[1] else { panic!() };
            assert_eq!(r.items[0].data.as_ref().unwrap().as_text(), Some("IMEI:LG7"));

            kit.pkg3.render(&[b"1", b"IMEI:LG7", b"1", b"4", b"5"], &mut out);
            let msg = decode_as(&out, enc, &Limits::default()).unwrap();
            let Command::Status(s) = &msg.body.commands[1] else { panic!() };
            assert_eq!((s.msg_ref, s.cmd_ref, s.cmd.as_str()), (Some(1), Some(4), "Get"));
            let Command::Results(res) = &msg.body.commands[3] else { panic!() };
            assert_eq!(res.cmd_ref, 4);
            assert_eq!(res.items[0].data.as_ref().unwrap().as_text(), Some(SWV));
        }
    }

    #[test]
    fn urls_split() {
        assert_eq!(split_url("http://127.0.0.1:8080/dm?s=ab"), Some(("127.0.0.1:8080", "/dm?s=ab")));
        assert_eq!(split_url("http://h"), Some(("h", "/")));
        assert_eq!(split_url("https://h/"), None);
    }
}
