//! The device's commands: Status and Results for what we sent, Alerts, the DevInfo Replace.
//!
//! A client may send only Replace (DevInfo), Results, Status and Alert (OMA-TS-DM_Protocol-V1_2
//! §8.3; FACTS.md C.4); anything else is answered 405 and ignored.

use omadm_protocol::auth::Nonce;
use omadm_protocol::{AlertCode, Command, Data, Format, Item, Location, Meta, Results, Status, StatusCode};
use omadm_storage::{CommandState, GenericAlert, InventoryItem, Op, ResultItem, TreeNode};

use super::mirror;
use super::state::IncomingObject;
use super::{Effect, Session};

/// Times the device may refuse our credentials before we give up.
const MAX_SERVER_AUTH_FAILURES: u8 = 3;

/// The text of an item's data (Base64 for binary OPAQUE).
pub(super) fn data_text(item: &Item) -> String {
    match &item.data {
        None => String::new(),
        Some(Data::Text(t)) => t.clone(),
        Some(Data::Opaque(b)) => match std::str::from_utf8(b) {
            Ok(t) => t.to_owned(),
            Err(_) => base64_encode(b),
        },
        Some(Data::Ddf(_)) => String::new(),
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn item_uri(item: &Item) -> Option<&str> {
    item.source.as_ref().or(item.target.as_ref()).map(|l| l.loc_uri.as_str())
}

fn meta_format(item: &Item, outer: Option<&Meta>) -> Option<String> {
    item.meta
        .as_ref()
        .and_then(|m| m.format.as_ref())
        .or(outer.and_then(|m| m.format.as_ref()))
        .map(|f| f.as_str().to_owned())
}

fn meta_type(item: &Item, outer: Option<&Meta>) -> Option<String> {
    item.meta.as_ref().and_then(|m| m.type_.clone()).or(outer.and_then(|m| m.type_.clone()))
}

impl Session<'_> {
    fn answer(&mut self, c: &Command, code: StatusCode) {
        let no_resp = match c {
            Command::Add(x)
            | Command::Copy(x)
            | Command::Delete(x)
            | Command::Get(x)
            | Command::Replace(x) => x.no_resp,
            Command::Alert(a) => a.no_resp,
            Command::Exec(e) => e.no_resp,
            Command::Atomic(x) | Command::Sequence(x) => x.no_resp,
            _ => false,
        };
        if !no_resp {
            let s = self.status_for(c, code, 0);
            self.statuses.push(s);
        }
    }

    /// Handle one command of the device's message.
    pub(super) fn incoming(&mut self, c: &Command) {
        // Anything but the next chunk breaks a large object in progress (Alert 1225).
        if self.state.incoming.is_some() && !self.continues_incoming(c) {
            self.break_incoming();
        }
        match c {
            Command::Status(s) => self.status(s),
            Command::Results(r) => self.results(r),
            Command::Alert(a) => match a.data {
                AlertCode::ClientInitiatedMgmt | AlertCode::ServerInitiatedMgmt => {
                    self.answer(c, StatusCode::Ok)
                }
                AlertCode::NextMessage => {
                    self.next_requested = true;
                    self.answer(c, StatusCode::Ok);
                }
                AlertCode::SessionAbort => {
                    self.aborted = true;
                    self.answer(c, StatusCode::Ok);
                }
                AlertCode::GenericAlert | AlertCode::ClientEvent => {
                    for item in &a.items {
                        let meta = item.meta.as_ref();
                        self.effects.push(Effect::GenericAlert(GenericAlert {
                            id: 0,
                            device_id: self.state.device_id.clone(),
                            session_token: None,
                            alert_type: meta.and_then(|m| m.type_.clone()).or_else(|| {
                                (a.data == AlertCode::ClientEvent).then(|| "client-event".to_owned())
                            }),
                            format: meta.and_then(|m| m.format.as_ref()).map(|f| f.as_str().to_owned()),
                            mark: meta.and_then(|m| m.mark.clone()),
                            source: item_uri(item).map(str::to_owned),
                            data: Some(data_text(item)),
                            correlator: a.correlator.clone(),
                            received_at: self.input.now,
                        }));
                    }
                    self.answer(c, StatusCode::Ok);
                }
                _ => self.answer(c, StatusCode::OptionalFeatureNotSupported),
            },
            Command::Replace(r) => {
                let items: Vec<InventoryItem> = r
                    .items
                    .iter()
                    .filter_map(|i| {
                        Some(InventoryItem {
                            uri: item_uri(i)?.to_owned(),
                            format: meta_format(i, r.meta.as_ref()),
                            value: data_text(i),
                            updated_at: self.input.now,
                        })
                    })
                    .collect();
                if !items.is_empty() {
                    self.effects.push(Effect::Inventory(items));
                }
                let nodes: Vec<TreeNode> = r
                    .items
                    .iter()
                    .filter_map(|i| {
                        let uri = item_uri(i)?;
                        let format = meta_format(i, r.meta.as_ref());
                        let mime = meta_type(i, r.meta.as_ref());
                        Some(mirror::reported(
                            uri,
                            format.as_deref(),
                            mime.as_deref(),
                            i.data.as_ref(),
                            &data_text(i),
                            None,
                            self.input.now,
                        ))
                    })
                    .flatten()
                    .collect();
                if !nodes.is_empty() {
                    self.effects.push(Effect::TreeUpsert(nodes));
                }
                self.answer(c, StatusCode::Ok);
            }
            Command::Unsupported(_) => self.answer(c, StatusCode::OptionalFeatureNotSupported),
            // A client may not manage the server.
            _ => self.answer(c, StatusCode::CommandNotAllowed),
        }
    }

    /// A Status for something we sent.
    fn status(&mut self, s: &Status) {
        let msg_ref = s.msg_ref.unwrap_or(self.state.last_out_msg_id);
        if s.is_for_sync_hdr() {
            return self.status_of_our_header(s, msg_ref);
        }
        let Some(cmd_ref) = s.cmd_ref else { return };
        let Some(index) =
            self.state.sent.iter().position(|x| x.msg_id == msg_ref && x.cmd_id == cmd_ref && !x.answered)
        else {
            // A Status for a command never sent changes nothing.
            return;
        };
        let sent = &mut self.state.sent[index];
        let (id, chunk) = (sent.command_id, sent.chunk);
        if chunk && s.data == StatusCode::ChunkedItemAccepted {
            sent.answered = true;
            return;
        }
        sent.answered = true;
        if matches!(s.data, StatusCode::InvalidCredentials | StatusCode::MissingCredentials)
            && self.device.server_secret.is_some()
            && !self.state.server_authenticated
        {
            // Refused because the device did not accept our Cred: not executed, so it goes
            // back to the queue and out again with the new credentials (libdmclient answers
            // every command of such a message with the SyncHdr's code).
            self.resend = true;
            self.effects.push(Effect::CommandStatus { id, state: CommandState::Queued, status: None });
            return;
        }
        sent.code = Some(s.data.code());
        if chunk {
            // A non-final chunk refused: the object is abandoned.
            self.state.outgoing = None;
        }
        let ok = s.data.took_effect();
        self.mirror_status(index);
        self.effects.push(Effect::CommandStatus {
            id,
            state: if ok { CommandState::Done } else { CommandState::Failed },
            status: Some(s.data.code()),
        });
        // The answer to a UI alert (1102-1104) comes as Status Items.
        if !s.items.is_empty() {
            let items = s
                .items
                .iter()
                .map(|i| ResultItem {
                    source: item_uri(i).unwrap_or("").to_owned(),
                    format: meta_format(i, None),
                    mime_type: meta_type(i, None),
                    data: data_text(i),
                })
                .collect();
            self.effects.push(Effect::Results { id, items });
        }
    }

    /// A Status arrived for `state.sent[index]`: mirror what the device accepted. Inside an
    /// Atomic, nothing counts until every member and the Atomic itself are answered, and then
    /// only if the Atomic succeeded.
    fn mirror_status(&mut self, index: usize) {
        let sent = &self.state.sent[index];
        let group = match (sent.atomic, sent.op) {
            (Some(a), _) => Some(a),
            (None, Op::Atomic) => Some(sent.cmd_id),
            _ => None,
        };
        let msg_id = sent.msg_id;
        let members: Vec<&super::state::Sent> = match group {
            None => vec![sent],
            Some(a) => {
                let members: Vec<_> = self
                    .state
                    .sent
                    .iter()
                    .filter(|x| x.msg_id == msg_id && (x.cmd_id == a || x.atomic == Some(a)))
                    .collect();
                if members.iter().any(|x| !x.answered) {
                    return;
                }
                let atomic_ok = members
                    .iter()
                    .find(|x| x.cmd_id == a)
                    .is_some_and(|x| x.code.is_some_and(|c| (200..300).contains(&c)));
                if !atomic_ok {
                    return;
                }
                members
            }
        };
        let now = self.input.now;
        let mut effects = Vec::new();
        for m in members {
            let Some(op) = m.mirror.as_ref().filter(|_| m.code.is_some_and(|c| (200..300).contains(&c)))
            else {
                continue;
            };
            for change in mirror::accepted(op, self.input.tree, now) {
                effects.push(match change {
                    mirror::Change::Upsert(nodes) => Effect::TreeUpsert(nodes),
                    mirror::Change::Delete(uri) => Effect::TreeDelete(uri),
                });
            }
        }
        self.effects
            .extend(effects.into_iter().filter(|e| !matches!(e, Effect::TreeUpsert(n) if n.is_empty())));
    }

    /// The device's verdict on our credentials (FACTS.md D.3).
    fn status_of_our_header(&mut self, s: &Status, msg_ref: u32) {
        if msg_ref != self.state.last_out_msg_id {
            return;
        }
        if let Some(n) = s.chal.as_ref().and_then(|c| c.meta.next_nonce.as_deref())
            && Nonce::from_b64(n).is_ok()
        {
            self.server_nonce = n.to_owned();
            self.effects.push(Effect::ServerNonce(n.to_owned()));
        }
        match s.data {
            StatusCode::AuthenticationAccepted => self.state.server_authenticated = true,
            StatusCode::InvalidCredentials | StatusCode::MissingCredentials
                if self.device.server_secret.is_some() =>
            {
                self.state.server_auth_failures = self.state.server_auth_failures.saturating_add(1);
                if self.state.server_auth_failures >= MAX_SERVER_AUTH_FAILURES {
                    self.failed = true;
                }
            }
            _ => {}
        }
    }

    fn continues_incoming(&self, c: &Command) -> bool {
        let Some(inc) = &self.state.incoming else { return true };
        match c {
            Command::Status(_) => true,
            Command::Alert(a) => a.data == AlertCode::NextMessage,
            Command::Results(r) => r.items.first().and_then(item_uri) == Some(inc.source.as_str()),
            _ => false,
        }
    }

    /// A large object was interrupted: Alert 1225 naming it, and the Get fails.
    fn break_incoming(&mut self) {
        let Some(inc) = self.state.incoming.take() else { return };
        self.alerts.push(Command::Alert(omadm_protocol::Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: AlertCode::NoEndOfData,
            correlator: None,
            items: vec![Item { source: Some(Location::uri(inc.source)), ..Item::default() }],
        }));
        // The device's Status for the Get was fine; the value never arrived whole.
        self.effects.push(Effect::CommandStatus {
            id: inc.command_id,
            state: CommandState::Failed,
            status: None,
        });
    }

    /// Results for a Get, possibly a chunk of a large object.
    fn results(&mut self, r: &Results) {
        let msg_ref = r.msg_ref.unwrap_or(self.state.last_out_msg_id);
        let Some((id, get_target)) = self
            .state
            .sent
            .iter()
            .find(|x| x.msg_id == msg_ref && x.cmd_id == r.cmd_ref && x.op == Op::Get)
            .map(|x| (x.command_id, x.mirror.as_ref().map(|m| m.target.clone())))
        else {
            return;
        };
        let now = self.input.now;
        let mut nodes: Vec<TreeNode> = Vec::new();
        let mut done = Vec::new();
        for item in &r.items {
            let source = item_uri(item).unwrap_or("").to_owned();
            let chunk_data = data_text(item);
            if item.more_data || self.state.incoming.is_some() {
                let max_obj = self.config.max_obj_size as usize;
                let inc = self.state.incoming.get_or_insert_with(|| IncomingObject {
                    command_id: id,
                    source: source.clone(),
                    format: meta_format(item, r.meta.as_ref()),
                    mime_type: meta_type(item, r.meta.as_ref()),
                    size: item.meta.as_ref().and_then(|m| m.size),
                    data: String::new(),
                });
                if inc.data.len() + chunk_data.len() > max_obj {
                    // Bigger than we said we accept.
                    self.state.incoming = None;
                    self.results_status(r, StatusCode::RequestEntityTooLarge);
                    self.effects.push(Effect::CommandStatus {
                        id,
                        state: CommandState::Failed,
                        status: Some(StatusCode::RequestEntityTooLarge.code()),
                    });
                    return;
                }
                inc.data.push_str(&chunk_data);
                if item.more_data {
                    self.receiving_chunks = true;
                    self.results_status(r, StatusCode::ChunkedItemAccepted);
                    continue;
                }
                let inc = self.state.incoming.take().expect("present");
                if inc.size.is_some_and(|s| s != inc.data.len() as u64) {
                    self.results_status(r, StatusCode::SizeMismatch);
                    self.effects.push(Effect::CommandStatus {
                        id,
                        state: CommandState::Failed,
                        status: Some(StatusCode::SizeMismatch.code()),
                    });
                    continue;
                }
                nodes.extend(mirror::reported(
                    &inc.source,
                    inc.format.as_deref(),
                    inc.mime_type.as_deref(),
                    None,
                    &inc.data,
                    get_target.as_deref(),
                    now,
                ));
                done.push(ResultItem {
                    source: inc.source,
                    format: inc.format,
                    mime_type: inc.mime_type,
                    data: inc.data,
                });
            } else {
                let format = meta_format(item, r.meta.as_ref());
                let mime_type = meta_type(item, r.meta.as_ref());
                nodes.extend(mirror::reported(
                    &source,
                    format.as_deref(),
                    mime_type.as_deref(),
                    item.data.as_ref(),
                    &chunk_data,
                    get_target.as_deref(),
                    now,
                ));
                done.push(ResultItem { source, format, mime_type, data: chunk_data });
            }
        }
        if !nodes.is_empty() {
            self.effects.push(Effect::TreeUpsert(nodes));
        }
        if done.is_empty() {
            return;
        }
        // What the device reads back is inventory too (leaf values; interior nodes list children).
        let inventory: Vec<InventoryItem> = done
            .iter()
            .filter(|d| !d.source.is_empty() && d.format.as_deref() != Some(Format::Node.as_str()))
            .map(|d| InventoryItem {
                uri: d.source.clone(),
                format: d.format.clone(),
                value: d.data.clone(),
                updated_at: self.input.now,
            })
            .collect();
        if !inventory.is_empty() {
            self.effects.push(Effect::Inventory(inventory));
        }
        self.effects.push(Effect::Results { id, items: done });
    }

    fn results_status(&mut self, r: &Results, code: StatusCode) {
        let c = Command::Results(Results { cmd_id: r.cmd_id, ..Results::default() });
        self.answer(&c, code);
    }
}
