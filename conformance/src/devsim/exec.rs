//! Executing a server's management commands against the tree, as a device does
//! (OMA-TS-DM_Protocol-V1_2 §6.5-6.6, §8 user interaction; FACTS.md C.2, C.3, I.3):
//!
//! - Get → Status, and Results unless it failed (a value larger than the server's MaxObjSize
//!   gets 413 and no Results).
//! - Add, Replace, Delete, Copy, Exec → Status; FUMO Exec → 202 and a Generic Alert.
//! - Atomic: all or nothing. When a child fails (or the user declines), the tree is rolled
//!   back: the children that had succeeded get 216, the failing one keeps its code, the ones
//!   not run get 215, and the Atomic gets 507. Get and Atomic inside an Atomic get 500.
//! - Sequence: children in order; after a declined or cancelled UI alert the rest get 215.
//! - UI alerts 1100-1104, answered per the configured user: 200, 304 (No to 1101), 214
//!   (cancel), 408 (no answer); 1102-1104 carry the answer in Status Items.

use base64::Engine as _;
use omadm_protocol::{
    Alert, AlertCode, Command, Container, Data, DmVersion, Encoding, Format, Item, ItemCommand, Location,
    Meta, Results, Status, StatusCode,
};

use super::objects::FUMO_MO;
use super::tree::{ExecAction, GetItem, NewValue, Tree, TreeError};
use super::{DeviceConfig, GenericAlert, UiAnswer};

/// One element of the device's answer.
// Stored inline like the protocol's Command: a few per message, boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A Status (CmdID filled in when the message is built).
    Status(Status),
    /// Results of a Get.
    Results(Results),
    /// An Alert (1222, 1225, 1226).
    Alert(Alert),
}

/// Whether a command went well, for the container holding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Succeeded.
    Ok,
    /// Failed.
    Failed,
    /// The user declined or cancelled: the rest of the container is not executed.
    Stop,
}

/// What commands run against.
pub(crate) struct Ctx<'a> {
    /// The tree.
    pub tree: &'a mut Tree,
    /// The device's configuration (server id, user, FUMO, version, encoding).
    pub config: &'a DeviceConfig,
    /// MsgID of the server message holding the commands.
    pub msg_ref: u32,
    /// The server's MaxObjSize.
    pub server_max_obj: Option<u64>,
    /// Generic Alerts produced (FUMO results).
    pub alerts: Vec<GenericAlert>,
}

/// A Status answering command `cmd_ref` (`cmd` its element name) of message `msg_ref`.
pub(crate) fn status(
    msg_ref: u32,
    cmd_ref: u32,
    cmd: &str,
    code: StatusCode,
    target: Option<&str>,
) -> Status {
    Status {
        cmd_id: 0,
        msg_ref: Some(msg_ref),
        cmd_ref: Some(cmd_ref),
        cmd: cmd.to_owned(),
        target_ref: target.map(|t| vec![t.to_owned()]).unwrap_or_default(),
        source_ref: vec![],
        cred: None,
        chal: None,
        data: code,
        items: vec![],
    }
}

fn target_of(item: &Item) -> Option<&str> {
    item.target.as_ref().map(|l| l.loc_uri.as_str())
}

fn no_resp(cmd: &Command) -> bool {
    match cmd {
        Command::Add(c) | Command::Copy(c) | Command::Delete(c) | Command::Get(c) | Command::Replace(c) => {
            c.no_resp
        }
        Command::Alert(a) => a.no_resp,
        Command::Exec(e) => e.no_resp,
        Command::Atomic(c) | Command::Sequence(c) => c.no_resp,
        _ => false,
    }
}

/// Decode an Add/Replace item's value: Meta from the item or the command, Base64 undone for
/// Format `b64` (stored as `bin`, FACTS.md C.7).
pub(crate) fn new_value(item: &Item, cmd_meta: Option<&Meta>) -> Result<NewValue, TreeError> {
    let meta =
        |f: fn(&Meta) -> Option<&Format>| item.meta.as_ref().and_then(f).or(cmd_meta.and_then(f)).cloned();
    let mut format = meta(|m| m.format.as_ref());
    let mime_type =
        item.meta.as_ref().and_then(|m| m.type_.clone()).or(cmd_meta.and_then(|m| m.type_.clone()));
    let mut data = match &item.data {
        None => Vec::new(),
        Some(Data::Text(t)) => t.as_bytes().to_vec(),
        Some(Data::Opaque(b)) => b.clone(),
        Some(Data::Ddf(_)) => return Err(TreeError::NotSupported),
    };
    if format == Some(Format::B64) {
        data = b64_decode(&data).ok_or(TreeError::BadRequest)?;
        format = Some(Format::Bin);
    }
    Ok(NewValue { format, mime_type, data })
}

/// Tolerant Base64 (whitespace ignored, padding optional).
pub(crate) fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(compact).ok()
}

/// A Results item for a node: binary data is Base64 with Format `b64` in XML and OPAQUE with
/// Format `bin` in WBXML (FACTS.md C.7).
pub(crate) fn result_item(g: GetItem, encoding: Encoding) -> Item {
    let mut format = g.format.clone();
    let data = g.data.map(|d| {
        if g.format == Format::Bin {
            match encoding {
                Encoding::Xml => {
                    format = Format::B64;
                    Data::Text(base64::engine::general_purpose::STANDARD.encode(d))
                }
                Encoding::Wbxml => Data::Opaque(d),
            }
        } else {
            Data::Text(String::from_utf8_lossy(&d).into_owned())
        }
    });
    Item {
        source: Some(Location::uri(g.uri)),
        meta: Some(Meta { format: Some(format), type_: g.mime_type, ..Meta::default() }),
        data,
        ..Item::default()
    }
}

/// The size of item data as carried (FACTS.md C.6).
pub(crate) fn carried_len(d: &Data) -> usize {
    match d {
        Data::Text(t) => t.len(),
        Data::Opaque(b) => b.len(),
        Data::Ddf(_) => 0,
    }
}

impl Ctx<'_> {
    fn sid(&self) -> &str {
        &self.config.server_id
    }

    /// Run one command; its Status (and Results) go to `out`.
    pub(crate) fn run(&mut self, cmd: &Command, out: &mut Vec<Piece>) -> Flow {
        self.run_in(cmd, out, false)
    }

    fn run_in(&mut self, cmd: &Command, out: &mut Vec<Piece>, in_atomic: bool) -> Flow {
        let start = out.len();
        let flow = match cmd {
            Command::Get(c) if in_atomic => self.refuse(c, "Get", StatusCode::CommandFailed, out),
            Command::Atomic(c) if in_atomic => {
                out.push(Piece::Status(status(
                    self.msg_ref,
                    c.cmd_id,
                    "Atomic",
                    StatusCode::CommandFailed,
                    None,
                )));
                Flow::Failed
            }
            Command::Get(c) => self.get(c, out),
            Command::Add(c) => self.items(c, "Add", out, |ctx, item, meta| {
                let v = new_value(item, meta)?;
                ctx.tree.add(target_of(item).unwrap_or(""), &ctx.config.server_id, v)
            }),
            Command::Replace(c) => self.items(c, "Replace", out, |ctx, item, meta| {
                let v = new_value(item, meta)?;
                let target = target_of(item).unwrap_or("");
                ctx.tree.replace(target, &ctx.config.server_id, v)?;
                ctx.after_replace(target);
                Ok(())
            }),
            Command::Delete(c) => self.items(c, "Delete", out, |ctx, item, _| {
                ctx.tree.delete(target_of(item).unwrap_or(""), &ctx.config.server_id)
            }),
            Command::Copy(c) => self.items(c, "Copy", out, |ctx, item, _| {
                let source = item.source.as_ref().map(|l| l.loc_uri.as_str()).unwrap_or("");
                ctx.tree.copy(source, target_of(item).unwrap_or(""), &ctx.config.server_id)
            }),
            Command::Exec(e) => {
                let target = target_of(&e.item).unwrap_or("").to_owned();
                let code = match self.tree.exec(&target, self.sid()) {
                    Err(err) => err.status(),
                    Ok(ExecAction::Plain) => StatusCode::Ok,
                    Ok(action) => self.fumo_exec(&target, action, e.correlator.clone()),
                };
                out.push(Piece::Status(status(self.msg_ref, e.cmd_id, "Exec", code, Some(&target))));
                if code.is_success() { Flow::Ok } else { Flow::Failed }
            }
            Command::Alert(a) => self.alert(a, out),
            Command::Atomic(c) => self.atomic(c, out),
            Command::Sequence(c) => self.sequence(c, out, in_atomic),
            Command::Unsupported(u) => {
                let name = u.element.name();
                out.push(Piece::Status(status(
                    self.msg_ref,
                    u.cmd_id.unwrap_or(0),
                    name,
                    StatusCode::OptionalFeatureNotSupported,
                    None,
                )));
                Flow::Failed
            }
            // Status and Results are handled by the session, never executed.
            Command::Status(_) | Command::Results(_) => Flow::Ok,
        };
        if no_resp(cmd) {
            // NoResp: no Status, but Results still go back.
            let own =
                |p: &Piece| matches!(p, Piece::Status(s) if s.cmd_ref == cmd.cmd_id() && s.cmd == cmd.name());
            let mut i = start;
            while i < out.len() {
                if own(&out[i]) {
                    out.remove(i);
                } else {
                    i += 1;
                }
            }
        }
        flow
    }

    fn refuse(&mut self, c: &ItemCommand, name: &str, code: StatusCode, out: &mut Vec<Piece>) -> Flow {
        let target = c.items.first().and_then(target_of);
        out.push(Piece::Status(status(self.msg_ref, c.cmd_id, name, code, target)));
        Flow::Failed
    }

    /// One Status per item (TargetRef names it); failure if any item failed.
    fn items(
        &mut self,
        c: &ItemCommand,
        name: &str,
        out: &mut Vec<Piece>,
        op: impl Fn(&mut Self, &Item, Option<&Meta>) -> Result<(), TreeError>,
    ) -> Flow {
        let mut flow = Flow::Ok;
        if c.items.is_empty() {
            out.push(Piece::Status(status(
                self.msg_ref,
                c.cmd_id,
                name,
                StatusCode::IncompleteCommand,
                None,
            )));
            return Flow::Failed;
        }
        for item in &c.items {
            let code = match op(self, item, c.meta.as_ref()) {
                Ok(()) => StatusCode::Ok,
                Err(e) => {
                    flow = Flow::Failed;
                    e.status()
                }
            };
            out.push(Piece::Status(status(self.msg_ref, c.cmd_id, name, code, target_of(item))));
        }
        flow
    }

    fn get(&mut self, c: &ItemCommand, out: &mut Vec<Piece>) -> Flow {
        let mut flow = Flow::Ok;
        let mut items = Vec::new();
        for item in &c.items {
            let target = target_of(item).unwrap_or("");
            let code = match self.tree.get(target, &self.config.server_id) {
                Err(e) => e.status(),
                Ok(found) => {
                    let found: Vec<Item> =
                        found.into_iter().map(|g| result_item(g, self.config.encoding)).collect();
                    let too_big = self.server_max_obj.is_some_and(|max| {
                        found.iter().any(|i| i.data.as_ref().is_some_and(|d| carried_len(d) as u64 > max))
                    });
                    if too_big {
                        // The server said it cannot take an object this large (FACTS.md C.5).
                        StatusCode::RequestEntityTooLarge
                    } else {
                        items.extend(found);
                        StatusCode::Ok
                    }
                }
            };
            if !code.is_success() {
                flow = Flow::Failed;
            }
            out.push(Piece::Status(status(self.msg_ref, c.cmd_id, "Get", code, Some(target))));
        }
        if !items.is_empty() {
            out.push(Piece::Results(Results {
                cmd_id: 0,
                msg_ref: Some(self.msg_ref),
                cmd_ref: c.cmd_id,
                items,
                ..Results::default()
            }));
        }
        flow
    }

    /// FUMO: a package written in band makes the object ready to update (State 50,
    /// FACTS.md I.2).
    fn after_replace(&mut self, target: &str) {
        if let Some(object) = target.strip_suffix("/Update/PkgData")
            && self.tree.node(object).and_then(|n| n.mime_type.as_deref()) == Some(FUMO_MO)
        {
            self.tree.set_value(&format!("{object}/State"), "50");
        }
    }

    /// FUMO Exec (FACTS.md I.3): DM 1.2 answers 202 and reports the configured result in a
    /// Generic Alert echoing the Exec's Correlator; DM 1.1.2 (no Generic Alert, FACTS.md L.5)
    /// runs it synchronously and answers with the result (200 for success, else 500). A
    /// successful update sets `./DevDetail/FwV` to [`FumoConfig::installs`](super::FumoConfig).
    fn fumo_exec(&mut self, target: &str, action: ExecAction, correlator: Option<String>) -> StatusCode {
        let object = target.rsplit_once('/').map_or(target, |(o, _)| o).to_owned();
        let result = self.config.fumo.result;
        let ok = (200..300).contains(&result);
        let download_failure = matches!(result, 406 | 407 | 411 | 412 | 500 | 501 | 503);
        let (kind, state) = match action {
            ExecAction::FumoDownload => ("download", if ok { 40 } else { 20 }),
            ExecAction::FumoUpdate => ("update", if ok { 100 } else { 80 }),
            _ => (
                "downloadandupdate",
                if ok {
                    100
                } else if download_failure {
                    20
                } else {
                    80
                },
            ),
        };
        self.tree.set_value(&format!("{object}/State"), state.to_string());
        // An installed package changes the firmware version the device reports (FACTS.md J.2).
        if ok
            && !matches!(action, ExecAction::FumoDownload)
            && let Some(v) = self.config.fumo.installs.clone()
        {
            self.tree.set_value("./DevDetail/FwV", v);
        }
        if self.config.version == DmVersion::V1_1_2 {
            return if ok { StatusCode::Ok } else { StatusCode::CommandFailed };
        }
        self.alerts.push(GenericAlert {
            correlator,
            source: object,
            alert_type: format!("org.openmobilealliance.dm.firmwareupdate.{kind}"),
            format: "int".into(),
            mark: (!ok).then(|| "critical".to_owned()),
            data: result.to_string(),
        });
        StatusCode::AcceptedForProcessing
    }

    /// UI alerts (FACTS.md C.2); other server alerts (1222, 1225 are the session's) get 406.
    fn alert(&mut self, a: &Alert, out: &mut Vec<Piece>) -> Flow {
        let code = a.data;
        if !code.is_user_interaction() {
            out.push(Piece::Status(status(
                self.msg_ref,
                a.cmd_id,
                "Alert",
                StatusCode::OptionalFeatureNotSupported,
                None,
            )));
            return Flow::Failed;
        }
        let options = a.items.first().and_then(|i| i.data.as_ref()).and_then(Data::as_text).unwrap_or("");
        let default = options.split('&').find_map(|kv| kv.strip_prefix("DR=")).map(str::to_owned);
        let choices_offered = a.items.len().saturating_sub(2) as u32;
        let user = &self.config.user;
        let (status_code, items, flow) = match (user.answer, code) {
            (UiAnswer::Timeout, _) => (StatusCode::RequestTimeout, vec![], Flow::Stop),
            (UiAnswer::Cancel, _) => (StatusCode::OperationCancelled, vec![], Flow::Stop),
            (UiAnswer::Reject, AlertCode::ConfirmOrReject) => (StatusCode::NotModified, vec![], Flow::Stop),
            (_, AlertCode::TextInput) => {
                let text = user.text.clone().or(default).unwrap_or_default();
                (StatusCode::Ok, vec![text], Flow::Ok)
            }
            (_, AlertCode::SingleChoice) => {
                let pick = user
                    .choices
                    .as_ref()
                    .and_then(|c| c.first().copied())
                    .or_else(|| default.and_then(|d| d.parse().ok()))
                    .unwrap_or(1);
                (StatusCode::Ok, vec![pick.to_string()], Flow::Ok)
            }
            (_, AlertCode::MultipleChoice) => {
                let picks: Vec<u32> = user
                    .choices
                    .clone()
                    .or_else(|| default.map(|d| d.split('-').filter_map(|n| n.parse().ok()).collect()))
                    .unwrap_or_else(|| vec![1]);
                let picks =
                    picks.into_iter().filter(|p| *p >= 1 && (choices_offered == 0 || *p <= choices_offered));
                (StatusCode::Ok, picks.map(|p| p.to_string()).collect(), Flow::Ok)
            }
            _ => (StatusCode::Ok, vec![], Flow::Ok),
        };
        let mut s = status(self.msg_ref, a.cmd_id, "Alert", status_code, None);
        s.items = items.into_iter().map(|t| Item { data: Some(Data::Text(t)), ..Item::default() }).collect();
        out.push(Piece::Status(s));
        flow
    }

    fn atomic(&mut self, c: &Container, out: &mut Vec<Piece>) -> Flow {
        let snapshot = self.tree.clone();
        let alerts = self.alerts.len();
        let at = out.len();
        out.push(Piece::Status(status(self.msg_ref, c.cmd_id, "Atomic", StatusCode::Ok, None)));
        let children_start = out.len();
        let mut failed = false;
        for child in &c.commands {
            if failed {
                self.skip(child, out);
                continue;
            }
            if self.run_in(child, out, true) != Flow::Ok {
                failed = true;
            }
        }
        if !failed {
            return Flow::Ok;
        }
        // Roll back: the tree, the alerts, and the statuses of what had succeeded.
        *self.tree = snapshot;
        self.alerts.truncate(alerts);
        for p in &mut out[children_start..] {
            if let Piece::Status(s) = p
                && s.data.is_success()
                && s.data != StatusCode::NotExecuted
            {
                s.data = StatusCode::AtomicRollBackOk;
            }
        }
        if let Piece::Status(s) = &mut out[at] {
            s.data = StatusCode::AtomicFailed;
        }
        Flow::Failed
    }

    fn sequence(&mut self, c: &Container, out: &mut Vec<Piece>, in_atomic: bool) -> Flow {
        out.push(Piece::Status(status(self.msg_ref, c.cmd_id, "Sequence", StatusCode::Ok, None)));
        let mut stopped = false;
        let mut flow = Flow::Ok;
        for child in &c.commands {
            if stopped {
                self.skip(child, out);
                continue;
            }
            match self.run_in(child, out, in_atomic) {
                Flow::Stop => {
                    stopped = true;
                    flow = Flow::Stop;
                }
                Flow::Failed if flow == Flow::Ok => flow = Flow::Failed,
                _ => {}
            }
        }
        // Inside an Atomic a failed child fails the Atomic; on its own a Sequence succeeds
        // even when some children failed (they carry their own codes).
        if in_atomic {
            flow
        } else if flow == Flow::Stop {
            Flow::Stop
        } else {
            Flow::Ok
        }
    }

    /// 215 Not executed for a command (and, for a container, for its children).
    fn skip(&mut self, cmd: &Command, out: &mut Vec<Piece>) {
        if no_resp(cmd) {
            return;
        }
        let target = match cmd {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => c.items.first().and_then(target_of),
            Command::Exec(e) => target_of(&e.item),
            _ => None,
        };
        out.push(Piece::Status(status(
            self.msg_ref,
            cmd.cmd_id().unwrap_or(0),
            cmd.name(),
            StatusCode::NotExecuted,
            target,
        )));
        if let Command::Atomic(c) | Command::Sequence(c) = cmd {
            for child in &c.commands {
                self.skip(child, out);
            }
        }
    }
}
