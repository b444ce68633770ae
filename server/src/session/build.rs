//! Our next message: Statuses, then as many queued commands as the device's MaxMsgSize allows,
//! splitting a value too large for one message into chunks (OMA-TS-DM_Protocol-V1_2 §6.2-6.3;
//! FACTS.md C.4-C.6). Final closes our package; a package with no commands ends the session.

use omadm_protocol::{
    Alert, AlertCode, Command, Container, Data, DmVersion, Encoding, Exec, Format, Item, ItemCommand,
    Location, Meta, SyncMl, encode,
};
use omadm_storage::{CommandRecord, CommandState, Op, SessionOutcome};

use super::mirror::{Checker, MirrorOp};
use super::state::{OutgoingObject, Phase, Sent};
use super::{Effect, Output, Response, Session, auth};

/// Room kept free in every message for what size estimates miss (Final, closing tags).
const MARGIN: usize = 64;
/// The smallest chunk worth a message.
const MIN_CHUNK: usize = 128;

impl Session<'_> {
    /// Assemble the response and settle the session's fate.
    pub(super) fn finish(mut self, queued: &[CommandRecord]) -> Output {
        let ending = self.aborted || self.failed;
        let client_final = self.input.msg.body.is_final;
        let device_continues = !ending && (self.receiving_chunks || (!client_final && !self.next_requested));

        let mut resp = self.response_skeleton(false);
        if self.device.server_secret.is_some() && !self.state.server_authenticated {
            let mut device = self.device.clone();
            device.server_nonce = self.server_nonce.clone();
            resp.hdr.cred = auth::server_cred(&device);
            resp.hdr.source.loc_name = Some(self.device.server_id.clone());
        }
        let chal = self.hdr_chal.take().map(|n| self.chal(Some(n)));
        resp.body.commands.push(Command::Status(self.hdr_status(self.hdr_code, chal, 1)));
        for mut s in std::mem::take(&mut self.statuses) {
            s.cmd_id = next_id(&resp);
            resp.body.commands.push(Command::Status(s));
        }
        let mut sent_any = false;
        for mut a in std::mem::take(&mut self.alerts) {
            if let Command::Alert(x) = &mut a {
                x.cmd_id = next_id(&resp);
            }
            resp.body.commands.push(a);
            sent_any = true;
        }

        let outcome;
        if ending {
            if self.failed {
                // The server ends the session: Alert 1223 with Final (FACTS.md C.2).
                let cmd_id = next_id(&resp);
                resp.body.commands.push(alert(cmd_id, AlertCode::SessionAbort));
            }
            outcome = if self.aborted { SessionOutcome::Aborted } else { SessionOutcome::Failed };
            // Unanswered commands stay `sent`: the caller puts them back in the queue.
            self.end(&mut resp, false);
        } else if device_continues {
            // The device's package goes on: ask for its next message, no Final.
            let cmd_id = next_id(&resp);
            resp.body.commands.push(alert(cmd_id, AlertCode::NextMessage));
            outcome = SessionOutcome::Active;
        } else {
            sent_any |= self.send_commands(&mut resp, queued);
            if self.resend {
                // Keep the package open: the device asks for the next message, which carries
                // the re-queued commands under the new credentials.
                self.state.package_open = true;
            }
            if self.state.package_open {
                outcome = SessionOutcome::Active;
            } else if sent_any {
                resp.body.is_final = true;
                outcome = SessionOutcome::Active;
            } else {
                outcome = SessionOutcome::Completed;
                self.end(&mut resp, true);
            }
        }
        self.state.last_out_msg_id = resp.hdr.msg_id;
        Output { response: Response::Message(Box::new(resp)), effects: self.effects, outcome, store: true }
    }

    /// Close the session with this message: Final, no RespURI; commands the device never
    /// answered are failed when `fail_unanswered` (a completed session), else left for re-queueing.
    fn end(&mut self, resp: &mut SyncMl, fail_unanswered: bool) {
        resp.body.is_final = true;
        resp.hdr.resp_uri = None;
        self.state.phase = Phase::Ended;
        self.state.package_open = false;
        if !fail_unanswered {
            return;
        }
        let mut failed: Vec<i64> = Vec::new();
        for s in &self.state.sent {
            if !s.answered && !failed.contains(&s.command_id) {
                failed.push(s.command_id);
            }
        }
        for id in failed {
            self.effects.push(Effect::CommandStatus { id, state: CommandState::Failed, status: None });
        }
    }

    /// Fill `resp` with a chunk of the large object in progress, or with queued commands.
    /// Returns whether any command was added.
    fn send_commands(&mut self, resp: &mut SyncMl, queued: &[CommandRecord]) -> bool {
        self.state.package_open = false;
        if self.state.phase != Phase::Managing {
            return false;
        }
        let encoding = self.input.encoding;
        let budget = self.state.max_msg_size.unwrap_or(self.config.default_device_max_msg_size) as usize;
        let empty = size_of_command(resp, None, encoding);
        let mut used = encode(resp, encoding).len() + MARGIN;
        let msg_id = resp.hdr.msg_id;

        if self.state.outgoing.is_some() {
            self.next_chunk(resp, budget.saturating_sub(used));
            return true;
        }

        let mut added = false;
        let mut ids = Vec::new();
        let man = self.dev_info("./DevInfo/Man");
        let model = self.dev_info("./DevInfo/Mod");
        let ddf = self.input.ddfs.for_device(self.state.version, man.as_deref(), model.as_deref());
        let checker = Checker::new(ddf.as_deref(), &self.device.server_id, self.input.tree);
        // Held commands the mirror and DDFs now allow go back to the queue, in id order with it.
        let mut released: Vec<&CommandRecord> = Vec::new();
        for rec in self.input.held {
            if checker.check(rec).is_ok() {
                self.effects.push(Effect::CommandReleased { id: rec.id });
                released.push(rec);
            }
        }
        let mut order: Vec<&CommandRecord> = queued.iter().chain(released).collect();
        order.sort_by_key(|r| r.id);
        order.dedup_by_key(|r| r.id);
        for rec in order {
            // What the mirrored ACLs or the DDF forbid is held back, unless an operator forced it.
            if !rec.forced
                && let Err(reason) = checker.check(rec)
            {
                self.effects.push(Effect::CommandHeld { id: rec.id, reason });
                continue;
            }
            let cmd_id = next_id(resp);
            let mut sent = Vec::new();
            let cmd = to_protocol(rec, cmd_id, msg_id, self.state.version, &mut sent);
            let size = size_of_command(resp, Some(&cmd), encoding) - empty;
            if used + size <= budget {
                resp.body.commands.push(cmd);
                used += size;
                ids.extend(sent.iter().map(|s| s.command_id));
                self.state.sent.extend(sent);
                added = true;
                continue;
            }
            if let Some(lo) = large_object(rec) {
                if self.state.max_obj_size.is_some_and(|m| lo.data.len() as u64 > m) {
                    // The device said it cannot take an object this large.
                    self.fail_locally(rec.id);
                    continue;
                }
                if budget.saturating_sub(used) >= MIN_CHUNK + (size - lo.data.len()) {
                    self.state.outgoing = Some(lo);
                    self.next_chunk(resp, budget.saturating_sub(used));
                    ids.push(rec.id);
                    added = true;
                    break;
                }
            } else if !added {
                // Too large for any message this device accepts.
                self.fail_locally(rec.id);
                continue;
            }
            self.state.package_open = true;
            break;
        }
        if !ids.is_empty() {
            self.effects.push(Effect::CommandsSent(ids));
        }
        added
    }

    /// A DevInfo leaf as this message reports it (package 1), else as mirrored.
    fn dev_info(&self, uri: &str) -> Option<String> {
        let reported = self.input.msg.body.commands.iter().rev().find_map(|c| match c {
            Command::Replace(r) => r.items.iter().rev().find_map(|i| {
                let at = i.source.as_ref().or(i.target.as_ref())?;
                (at.loc_uri == uri).then(|| super::incoming::data_text(i))
            }),
            _ => None,
        });
        reported.or_else(|| self.input.tree.iter().find(|n| n.uri == uri).and_then(|n| n.value.clone()))
    }

    fn fail_locally(&mut self, id: i64) {
        self.effects.push(Effect::CommandStatus {
            id,
            state: CommandState::Failed,
            status: Some(omadm_protocol::StatusCode::RequestEntityTooLarge.code()),
        });
    }

    /// The next chunk of the outgoing large object, as much as `room` allows.
    fn next_chunk(&mut self, resp: &mut SyncMl, room: usize) {
        let encoding = self.input.encoding;
        let msg_id = resp.hdr.msg_id;
        let cmd_id = next_id(resp);
        let Some(lo) = self.state.outgoing.as_mut() else { return };
        let first = lo.offset == 0;
        let overhead = {
            let probe = chunk_command(lo, cmd_id, first, "", true);
            size_of_command(resp, Some(&probe), encoding) - size_of_command(resp, None, encoding)
        };
        // XML escaping may grow text: leave a sixth of the room for it.
        let room = room.saturating_sub(overhead).saturating_sub(room / 6).max(MIN_CHUNK);
        let mut end = (lo.offset + room).min(lo.data.len());
        while !lo.data.is_char_boundary(end) {
            end -= 1;
        }
        let more = end < lo.data.len();
        let cmd = chunk_command(lo, cmd_id, first, &lo.data[lo.offset..end], more);
        let command_id = lo.command_id;
        let op = lo.op;
        lo.offset = end;
        // The last chunk's Status says whether the whole object was accepted.
        let mirror = (!more).then(|| MirrorOp {
            op,
            target: lo.target.clone(),
            source: None,
            data: Some(lo.data.clone()),
            format: lo.format.clone(),
            mime_type: lo.mime_type.clone(),
        });
        resp.body.commands.push(cmd);
        self.state.sent.push(Sent {
            msg_id,
            cmd_id,
            command_id,
            op,
            chunk: more,
            answered: false,
            mirror,
            atomic: None,
            code: None,
        });
        if more {
            self.state.package_open = true;
        } else {
            self.state.outgoing = None;
        }
    }
}

/// The next free CmdID in a message.
fn next_id(resp: &SyncMl) -> u32 {
    resp.body.commands.len() as u32 + 1
}

fn alert(cmd_id: u32, code: AlertCode) -> Command {
    Command::Alert(Alert { cmd_id, no_resp: false, cred: None, data: code, correlator: None, items: vec![] })
}

/// The size `cmd` adds to `resp` when encoded (`None`: the size of `resp` with no command).
fn size_of_command(resp: &SyncMl, cmd: Option<&Command>, encoding: Encoding) -> usize {
    let probe = SyncMl {
        hdr: resp.hdr.clone(),
        body: omadm_protocol::SyncBody { commands: cmd.into_iter().cloned().collect(), is_final: false },
    };
    encode(&probe, encoding).len()
}

/// A stored Add/Replace whose value could be sent in chunks.
fn large_object(rec: &CommandRecord) -> Option<OutgoingObject> {
    let op = rec.spec.op?;
    if !matches!(op, Op::Add | Op::Replace) || !rec.children.is_empty() {
        return None;
    }
    Some(OutgoingObject {
        command_id: rec.id,
        op,
        target: rec.spec.target.clone()?,
        format: rec.spec.format.clone(),
        mime_type: rec.spec.mime_type.clone(),
        data: rec.spec.data.clone()?,
        offset: 0,
    })
}

/// One chunk: Meta Size on the first, MoreData on all but the last (FACTS.md C.6).
fn chunk_command(lo: &OutgoingObject, cmd_id: u32, first: bool, data: &str, more: bool) -> Command {
    let meta = Meta {
        format: lo.format.as_deref().map(Format::parse),
        type_: lo.mime_type.clone(),
        size: first.then_some(lo.data.len() as u64),
        ..Meta::default()
    };
    let item = Item {
        target: Some(Location::uri(lo.target.clone())),
        meta: Some(meta),
        data: Some(Data::Text(data.to_owned())),
        more_data: more,
        ..Item::default()
    };
    let c = ItemCommand { cmd_id, items: vec![item], ..ItemCommand::default() };
    if lo.op == Op::Add { Command::Add(c) } else { Command::Replace(c) }
}

/// A stored command as a protocol command with CmdIDs from `cmd_id` on; every command
/// (children included) is recorded in `sent`.
fn to_protocol(
    rec: &CommandRecord,
    cmd_id: u32,
    msg_id: u32,
    version: DmVersion,
    sent: &mut Vec<Sent>,
) -> Command {
    let mut next = cmd_id;
    build(rec, &mut next, msg_id, version, None, sent)
}

/// The Correlator of an Exec: the command's id, echoed by the Generic Alert that reports an
/// asynchronous result (OMA-TS-DM_Protocol-V1_2 §6.6.7; FACTS.md I.3). DM 1.2 only: the
/// SyncML 1.1 DTD has no Correlator.
pub fn correlator(command_id: i64) -> String {
    format!("omadm-{command_id}")
}

fn build(
    rec: &CommandRecord,
    next: &mut u32,
    msg_id: u32,
    version: DmVersion,
    atomic: Option<u32>,
    sent: &mut Vec<Sent>,
) -> Command {
    let cmd_id = *next;
    *next += 1;
    let spec = &rec.spec;
    let op = spec.op.unwrap_or(Op::Get);
    sent.push(Sent {
        msg_id,
        cmd_id,
        command_id: rec.id,
        op,
        chunk: false,
        answered: false,
        mirror: MirrorOp::of(rec),
        atomic,
        code: None,
    });
    // Children of an Atomic (at any depth) belong to the outermost Atomic.
    let inner = atomic.or((op == Op::Atomic).then_some(cmd_id));
    let meta = (spec.format.is_some() || spec.mime_type.is_some()).then(|| Meta {
        format: spec.format.as_deref().map(Format::parse),
        type_: spec.mime_type.clone(),
        ..Meta::default()
    });
    let target = spec.target.clone().map(Location::uri);
    let data = spec.data.as_deref().map(Data::from);
    let one = |item: Item| ItemCommand { cmd_id, items: vec![item], ..ItemCommand::default() };
    match op {
        Op::Get => Command::Get(one(Item { target, ..Item::default() })),
        Op::Delete => Command::Delete(one(Item { target, ..Item::default() })),
        Op::Add => Command::Add(one(Item { target, meta, data, ..Item::default() })),
        Op::Replace => Command::Replace(one(Item { target, meta, data, ..Item::default() })),
        Op::Copy => Command::Copy(one(Item {
            target,
            source: spec.source.clone().map(Location::uri),
            ..Item::default()
        })),
        Op::Exec => Command::Exec(Exec {
            cmd_id,
            correlator: (version == DmVersion::V1_2).then(|| correlator(rec.id)),
            item: Item { target, meta, data, ..Item::default() },
            ..Exec::default()
        }),
        Op::Alert => Command::Alert(Alert {
            cmd_id,
            no_resp: false,
            cred: None,
            data: AlertCode::from_code(spec.alert_code.unwrap_or(1100)),
            correlator: None,
            items: spec
                .texts
                .iter()
                .map(|t| Item { data: Some(Data::from(t.as_str())), ..Item::default() })
                .collect(),
        }),
        Op::Atomic | Op::Sequence => {
            let commands =
                rec.children.iter().map(|c| build(c, next, msg_id, version, inner, sent)).collect();
            let c = Container { cmd_id, no_resp: false, meta: None, commands };
            if op == Op::Atomic { Command::Atomic(c) } else { Command::Sequence(c) }
        }
    }
}
