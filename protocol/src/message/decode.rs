//! Events to the typed model: a recursive-descent reader over [`EventReader`].
//!
//! Tolerance of real clients (FACTS.md B.1, vectors/clients): whitespace between elements is
//! ignored, unknown elements are skipped with their subtree, numbers may carry surrounding
//! spaces, a SyncHdr Status may lack CmdRef, MetInf elements may lack their namespace (the
//! XML reader resolves that), and `Format` is matched case-insensitively.

use std::borrow::Cow;

use super::code::{AlertCode, StatusCode};
use super::command::*;
use super::ddf::DdfNode;
use super::meta::{Anchor, Format, Mem, Meta};
use super::{SyncBody, SyncHdr, SyncMl};
use crate::error::DecodeError;
use crate::event::{Event, EventReader};
use crate::tag::{MetInfTag as M, SyncMlTag as S, Tag};

/// Read one `<SyncML>` message from `reader`.
pub fn decode_events<'a, R: EventReader<'a>>(reader: R) -> Result<SyncMl, DecodeError> {
    let mut p = Parser { r: reader };
    match p.child("document")? {
        Some(Tag::SyncMl(S::SyncML)) => {}
        Some(t) => {
            return Err(p.structure("document", format!("root element is <{}>, not <SyncML>", t.name())));
        }
        None => return Err(p.structure("document", "no root element")),
    }
    let msg = p.sync_ml()?;
    match p.r.next_event()? {
        Event::Eof => Ok(msg),
        _ => Err(p.structure("SyncML", "content after the root element")),
    }
}

struct Parser<R> {
    r: R,
}

/// The element being read, for error messages.
type Ctx = &'static str;

impl<'a, R: EventReader<'a>> Parser<R> {
    fn structure(&self, element: Ctx, reason: impl Into<String>) -> DecodeError {
        DecodeError::Structure { element, reason: reason.into(), offset: self.r.offset() }
    }

    /// The next child element of the open element, or `None` at its end. Whitespace text
    /// between elements is skipped; other text is an error.
    fn child(&mut self, ctx: Ctx) -> Result<Option<Tag>, DecodeError> {
        loop {
            match self.r.next_event()? {
                Event::Start(t) => return Ok(Some(t)),
                Event::End => return Ok(None),
                Event::Text(t) if t.trim().is_empty() => continue,
                Event::Text(_) => return Err(self.structure(ctx, "unexpected text between elements")),
                Event::Opaque(_) => {
                    return Err(self.structure(ctx, "unexpected opaque data between elements"));
                }
                Event::Eof => return Err(DecodeError::UnexpectedEof { offset: self.r.offset() }),
            }
        }
    }

    /// Skip the rest of the open element, children included.
    fn skip(&mut self) -> Result<(), DecodeError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.r.next_event()? {
                Event::Start(_) => depth += 1,
                Event::End => depth -= 1,
                Event::Eof => return Err(DecodeError::UnexpectedEof { offset: self.r.offset() }),
                _ => {}
            }
        }
        Ok(())
    }

    /// The text content of the open element up to its end.
    fn text(&mut self, ctx: Ctx) -> Result<String, DecodeError> {
        let mut out: Option<Cow<'a, str>> = None;
        loop {
            let piece: Cow<'a, str> = match self.r.next_event()? {
                Event::End => return Ok(out.map(Cow::into_owned).unwrap_or_default()),
                Event::Text(t) => t,
                Event::Opaque(b) => match b {
                    Cow::Borrowed(b) => Cow::Borrowed(
                        std::str::from_utf8(b)
                            .map_err(|_| self.structure(ctx, "opaque value is not UTF-8 text"))?,
                    ),
                    Cow::Owned(b) => Cow::Owned(
                        String::from_utf8(b)
                            .map_err(|_| self.structure(ctx, "opaque value is not UTF-8 text"))?,
                    ),
                },
                Event::Start(Tag::Unknown) => {
                    self.skip()?;
                    continue;
                }
                Event::Start(t) => {
                    return Err(
                        self.structure(ctx, format!("element <{}> where text was expected", t.name()))
                    );
                }
                Event::Eof => return Err(DecodeError::UnexpectedEof { offset: self.r.offset() }),
            };
            out = Some(match out {
                None => piece,
                Some(prev) => Cow::Owned(prev.into_owned() + &piece),
            });
        }
    }

    fn number<T: std::str::FromStr>(&mut self, ctx: Ctx) -> Result<T, DecodeError> {
        let s = self.text(ctx)?;
        s.trim().parse().map_err(|_| self.structure(ctx, format!("{s:?} is not a valid number")))
    }

    /// An element that must be empty, such as `<Final/>`; content is tolerated and ignored.
    fn flag(&mut self) -> Result<bool, DecodeError> {
        self.skip()?;
        Ok(true)
    }

    fn sync_ml(&mut self) -> Result<SyncMl, DecodeError> {
        let (mut hdr, mut body) = (None, None);
        while let Some(t) = self.child("SyncML")? {
            match t {
                Tag::SyncMl(S::SyncHdr) if hdr.is_none() => hdr = Some(self.sync_hdr()?),
                Tag::SyncMl(S::SyncBody) if body.is_none() => body = Some(self.sync_body()?),
                Tag::SyncMl(S::SyncHdr | S::SyncBody) => {
                    return Err(self.structure("SyncML", format!("more than one <{}>", t.name())));
                }
                _ => self.skip()?,
            }
        }
        let hdr = hdr.ok_or_else(|| self.structure("SyncML", "missing <SyncHdr>"))?;
        let body = body.ok_or_else(|| self.structure("SyncML", "missing <SyncBody>"))?;
        Ok(SyncMl { hdr, body })
    }

    fn sync_hdr(&mut self) -> Result<SyncHdr, DecodeError> {
        const CTX: Ctx = "SyncHdr";
        let (mut ver_dtd, mut ver_proto, mut session_id, mut msg_id) = (None, None, None, None);
        let (mut target, mut source, mut resp_uri, mut cred, mut meta) = (None, None, None, None, None);
        let mut no_resp = false;
        while let Some(t) = self.child(CTX)? {
            match t {
                Tag::SyncMl(S::VerDTD) => ver_dtd = Some(self.text("VerDTD")?.trim().to_owned()),
                Tag::SyncMl(S::VerProto) => ver_proto = Some(self.text("VerProto")?.trim().to_owned()),
                Tag::SyncMl(S::SessionID) => session_id = Some(self.text("SessionID")?.trim().to_owned()),
                Tag::SyncMl(S::MsgID) => msg_id = Some(self.number("MsgID")?),
                Tag::SyncMl(S::Target) => target = Some(self.location("Target")?),
                Tag::SyncMl(S::Source) => source = Some(self.location("Source")?),
                Tag::SyncMl(S::RespURI) => resp_uri = Some(self.text("RespURI")?.trim().to_owned()),
                Tag::SyncMl(S::NoResp) => no_resp = self.flag()?,
                Tag::SyncMl(S::Cred) => cred = Some(self.cred()?),
                Tag::SyncMl(S::Meta) => meta = Some(self.meta()?),
                _ => self.skip()?,
            }
        }
        let missing = |name: &str| self.structure(CTX, format!("missing <{name}>"));
        Ok(SyncHdr {
            ver_dtd: ver_dtd.ok_or_else(|| missing("VerDTD"))?,
            ver_proto: ver_proto.ok_or_else(|| missing("VerProto"))?,
            session_id: session_id.ok_or_else(|| missing("SessionID"))?,
            msg_id: msg_id.ok_or_else(|| missing("MsgID"))?,
            target: target.ok_or_else(|| missing("Target"))?,
            source: source.ok_or_else(|| missing("Source"))?,
            resp_uri,
            no_resp,
            cred,
            meta,
        })
    }

    fn sync_body(&mut self) -> Result<SyncBody, DecodeError> {
        let mut body = SyncBody::default();
        while let Some(t) = self.child("SyncBody")? {
            match t {
                Tag::SyncMl(S::Final) => body.is_final = self.flag()?,
                Tag::SyncMl(s) => body.commands.push(self.command(s, "SyncBody")?),
                _ => self.skip()?,
            }
        }
        Ok(body)
    }

    /// A command element whose start was just read; an error if `s` is not a command.
    fn command(&mut self, s: S, ctx: Ctx) -> Result<Command, DecodeError> {
        Ok(match s {
            S::Add => Command::Add(self.item_command("Add")?),
            S::Copy => Command::Copy(self.item_command("Copy")?),
            S::Delete => Command::Delete(self.item_command("Delete")?),
            S::Get => Command::Get(self.item_command("Get")?),
            S::Replace => Command::Replace(self.item_command("Replace")?),
            S::Exec => Command::Exec(self.exec()?),
            S::Alert => Command::Alert(self.alert()?),
            S::Atomic => Command::Atomic(self.container(S::Atomic)?),
            S::Sequence => Command::Sequence(self.container(S::Sequence)?),
            S::Status => Command::Status(self.status()?),
            S::Results => Command::Results(self.results()?),
            S::Sync | S::Map | S::Put | S::Search | S::Move => Command::Unsupported(self.unsupported(s)?),
            other => {
                return Err(self.structure(ctx, format!("<{}> is not a command", other.name())));
            }
        })
    }

    fn unsupported(&mut self, element: S) -> Result<Unsupported, DecodeError> {
        let mut cmd_id = None;
        while let Some(t) = self.child(element.name())? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = self.text("CmdID")?.trim().parse().ok(),
                _ => self.skip()?,
            }
        }
        Ok(Unsupported { element, cmd_id })
    }

    fn item_command(&mut self, ctx: Ctx) -> Result<ItemCommand, DecodeError> {
        let (mut cmd_id, mut c) = (None, ItemCommand::default());
        while let Some(t) = self.child(ctx)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::NoResp) => c.no_resp = self.flag()?,
                Tag::SyncMl(S::Cred) => c.cred = Some(self.cred()?),
                Tag::SyncMl(S::Meta) => c.meta = Some(self.meta()?),
                Tag::SyncMl(S::Item) => c.items.push(self.item()?),
                _ => self.skip()?,
            }
        }
        c.cmd_id = cmd_id.ok_or_else(|| self.structure(ctx, "missing <CmdID>"))?;
        Ok(c)
    }

    fn exec(&mut self) -> Result<Exec, DecodeError> {
        const CTX: Ctx = "Exec";
        let (mut cmd_id, mut item, mut e) = (None, None, Exec::default());
        while let Some(t) = self.child(CTX)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::NoResp) => e.no_resp = self.flag()?,
                Tag::SyncMl(S::Cred) => e.cred = Some(self.cred()?),
                Tag::SyncMl(S::Meta) => e.meta = Some(self.meta()?),
                Tag::SyncMl(S::Correlator) => e.correlator = Some(self.text("Correlator")?),
                Tag::SyncMl(S::Item) if item.is_none() => item = Some(self.item()?),
                Tag::SyncMl(S::Item) => return Err(self.structure(CTX, "more than one <Item>")),
                _ => self.skip()?,
            }
        }
        e.cmd_id = cmd_id.ok_or_else(|| self.structure(CTX, "missing <CmdID>"))?;
        e.item = item.ok_or_else(|| self.structure(CTX, "missing <Item>"))?;
        Ok(e)
    }

    fn alert(&mut self) -> Result<Alert, DecodeError> {
        const CTX: Ctx = "Alert";
        let (mut cmd_id, mut data) = (None, None);
        let mut a = Alert {
            cmd_id: 0,
            no_resp: false,
            cred: None,
            data: AlertCode::Other(0),
            correlator: None,
            items: vec![],
        };
        while let Some(t) = self.child(CTX)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::NoResp) => a.no_resp = self.flag()?,
                Tag::SyncMl(S::Cred) => a.cred = Some(self.cred()?),
                Tag::SyncMl(S::Data) => data = Some(AlertCode::from_code(self.number("Data")?)),
                Tag::SyncMl(S::Correlator) => a.correlator = Some(self.text("Correlator")?),
                Tag::SyncMl(S::Item) => a.items.push(self.item()?),
                _ => self.skip()?,
            }
        }
        a.cmd_id = cmd_id.ok_or_else(|| self.structure(CTX, "missing <CmdID>"))?;
        a.data = data.ok_or_else(|| self.structure(CTX, "missing <Data> (the alert code)"))?;
        Ok(a)
    }

    fn container(&mut self, kind: S) -> Result<Container, DecodeError> {
        let ctx = kind.name();
        let (mut cmd_id, mut c) = (None, Container::default());
        while let Some(t) = self.child(ctx)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::NoResp) => c.no_resp = self.flag()?,
                Tag::SyncMl(S::Meta) => c.meta = Some(self.meta()?),
                Tag::SyncMl(s @ (S::Status | S::Results)) => {
                    return Err(self.structure(ctx, format!("<{}> may not be nested in <{ctx}>", s.name())));
                }
                Tag::SyncMl(s) => c.commands.push(self.command(s, ctx)?),
                _ => self.skip()?,
            }
        }
        c.cmd_id = cmd_id.ok_or_else(|| self.structure(ctx, "missing <CmdID>"))?;
        Ok(c)
    }

    fn status(&mut self) -> Result<Status, DecodeError> {
        const CTX: Ctx = "Status";
        let (mut cmd_id, mut cmd, mut data) = (None, None, None);
        let mut s = Status {
            cmd_id: 0,
            msg_ref: None,
            cmd_ref: None,
            cmd: String::new(),
            target_ref: vec![],
            source_ref: vec![],
            cred: None,
            chal: None,
            data: StatusCode::Other(0),
            items: vec![],
        };
        while let Some(t) = self.child(CTX)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::MsgRef) => s.msg_ref = Some(self.number("MsgRef")?),
                Tag::SyncMl(S::CmdRef) => s.cmd_ref = Some(self.number("CmdRef")?),
                Tag::SyncMl(S::Cmd) => cmd = Some(self.text("Cmd")?.trim().to_owned()),
                Tag::SyncMl(S::TargetRef) => s.target_ref.push(self.text("TargetRef")?),
                Tag::SyncMl(S::SourceRef) => s.source_ref.push(self.text("SourceRef")?),
                Tag::SyncMl(S::Cred) => s.cred = Some(self.cred()?),
                Tag::SyncMl(S::Chal) => s.chal = Some(self.chal()?),
                Tag::SyncMl(S::Data) => data = Some(StatusCode::from_code(self.number("Data")?)),
                Tag::SyncMl(S::Item) => s.items.push(self.item()?),
                _ => self.skip()?,
            }
        }
        s.cmd_id = cmd_id.ok_or_else(|| self.structure(CTX, "missing <CmdID>"))?;
        s.cmd = cmd.ok_or_else(|| self.structure(CTX, "missing <Cmd>"))?;
        s.data = data.ok_or_else(|| self.structure(CTX, "missing <Data> (the status code)"))?;
        Ok(s)
    }

    fn results(&mut self) -> Result<Results, DecodeError> {
        const CTX: Ctx = "Results";
        let (mut cmd_id, mut cmd_ref, mut r) = (None, None, Results::default());
        while let Some(t) = self.child(CTX)? {
            match t {
                Tag::SyncMl(S::CmdID) => cmd_id = Some(self.number("CmdID")?),
                Tag::SyncMl(S::MsgRef) => r.msg_ref = Some(self.number("MsgRef")?),
                Tag::SyncMl(S::CmdRef) => cmd_ref = Some(self.number("CmdRef")?),
                Tag::SyncMl(S::Meta) => r.meta = Some(self.meta()?),
                Tag::SyncMl(S::TargetRef) => r.target_ref.push(self.text("TargetRef")?),
                Tag::SyncMl(S::SourceRef) => r.source_ref.push(self.text("SourceRef")?),
                Tag::SyncMl(S::Item) => r.items.push(self.item()?),
                _ => self.skip()?,
            }
        }
        r.cmd_id = cmd_id.ok_or_else(|| self.structure(CTX, "missing <CmdID>"))?;
        r.cmd_ref = cmd_ref.ok_or_else(|| self.structure(CTX, "missing <CmdRef>"))?;
        Ok(r)
    }

    fn location(&mut self, ctx: Ctx) -> Result<Location, DecodeError> {
        let (mut loc_uri, mut loc_name) = (None, None);
        while let Some(t) = self.child(ctx)? {
            match t {
                Tag::SyncMl(S::LocURI) => loc_uri = Some(self.text("LocURI")?.trim().to_owned()),
                Tag::SyncMl(S::LocName) => loc_name = Some(self.text("LocName")?),
                _ => self.skip()?,
            }
        }
        let loc_uri = loc_uri.ok_or_else(|| self.structure(ctx, "missing <LocURI>"))?;
        Ok(Location { loc_uri, loc_name })
    }

    fn cred(&mut self) -> Result<Cred, DecodeError> {
        let (mut meta, mut data) = (None, None);
        while let Some(t) = self.child("Cred")? {
            match t {
                Tag::SyncMl(S::Meta) => meta = Some(self.meta()?),
                Tag::SyncMl(S::Data) => data = Some(self.text("Data")?.trim().to_owned()),
                _ => self.skip()?,
            }
        }
        let data = data.ok_or_else(|| self.structure("Cred", "missing <Data>"))?;
        Ok(Cred { meta, data })
    }

    fn chal(&mut self) -> Result<Chal, DecodeError> {
        let mut meta = None;
        while let Some(t) = self.child("Chal")? {
            match t {
                Tag::SyncMl(S::Meta) => meta = Some(self.meta()?),
                _ => self.skip()?,
            }
        }
        let meta = meta.ok_or_else(|| self.structure("Chal", "missing <Meta>"))?;
        Ok(Chal { meta })
    }

    fn item(&mut self) -> Result<Item, DecodeError> {
        let mut item = Item::default();
        while let Some(t) = self.child("Item")? {
            match t {
                Tag::SyncMl(S::Target) => item.target = Some(self.location("Target")?),
                Tag::SyncMl(S::Source) => item.source = Some(self.location("Source")?),
                Tag::SyncMl(S::Meta) => item.meta = Some(self.meta()?),
                Tag::SyncMl(S::Data) => item.data = Some(self.data()?),
                Tag::SyncMl(S::MoreData) => item.more_data = self.flag()?,
                _ => self.skip()?,
            }
        }
        Ok(item)
    }

    /// `<Data>` of an Item: text, opaque bytes, or embedded DDF/TNDS elements.
    fn data(&mut self) -> Result<Data, DecodeError> {
        let mut text: Option<String> = None;
        let mut opaque: Option<Vec<u8>> = None;
        let mut ddf: Vec<DdfNode> = Vec::new();
        loop {
            match self.r.next_event()? {
                Event::End => break,
                Event::Text(t) => text.get_or_insert_with(String::new).push_str(&t),
                Event::Opaque(b) => opaque.get_or_insert_with(Vec::new).extend_from_slice(&b),
                Event::Start(Tag::Ddf(tag)) => ddf.push(self.ddf_element(tag)?),
                Event::Start(_) => self.skip()?,
                Event::Eof => return Err(DecodeError::UnexpectedEof { offset: self.r.offset() }),
            }
        }
        Ok(match (text, opaque) {
            _ if !ddf.is_empty() => Data::Ddf(ddf),
            (None, Some(b)) => Data::Opaque(b),
            (Some(t), None) => Data::Text(t),
            (Some(t), Some(b)) => {
                // Mixed text and opaque: join them as bytes (rare; a split value).
                let mut all = t.into_bytes();
                all.extend_from_slice(&b);
                Data::Opaque(all)
            }
            (None, None) => Data::Text(String::new()),
        })
    }

    fn ddf_element(&mut self, tag: crate::tag::DdfTag) -> Result<DdfNode, DecodeError> {
        let mut children = Vec::new();
        loop {
            match self.r.next_event()? {
                Event::End => break,
                Event::Text(t) if t.trim().is_empty() => {}
                Event::Text(t) => children.push(DdfNode::Text(t.into_owned())),
                Event::Opaque(b) => children.push(DdfNode::Text(
                    String::from_utf8(b.into_owned())
                        .map_err(|_| self.structure("MgmtTree", "opaque value is not UTF-8 text"))?,
                )),
                Event::Start(Tag::Ddf(t)) => children.push(self.ddf_element(t)?),
                Event::Start(_) => self.skip()?,
                Event::Eof => return Err(DecodeError::UnexpectedEof { offset: self.r.offset() }),
            }
        }
        Ok(DdfNode::Element { tag, children })
    }

    fn meta(&mut self) -> Result<Meta, DecodeError> {
        let mut m = Meta::default();
        while let Some(t) = self.child("Meta")? {
            match t {
                // A <MetInf> wrapper (MetInf DTD root) is transparent.
                Tag::MetInf(M::MetInf) => {
                    let inner = self.meta()?;
                    merge_meta(&mut m, inner);
                }
                Tag::MetInf(tag) => self.metinf(tag, &mut m)?,
                _ => self.skip()?,
            }
        }
        Ok(m)
    }

    fn metinf(&mut self, tag: M, m: &mut Meta) -> Result<(), DecodeError> {
        match tag {
            M::Format => m.format = Some(Format::parse(&self.text("Format")?)),
            M::Type => m.type_ = Some(self.text("Type")?.trim().to_owned()),
            M::Mark => m.mark = Some(self.text("Mark")?.trim().to_owned()),
            M::Size => m.size = Some(self.number("Size")?),
            M::Version => m.version = Some(self.text("Version")?.trim().to_owned()),
            M::NextNonce => m.next_nonce = Some(self.text("NextNonce")?.trim().to_owned()),
            M::MaxMsgSize => m.max_msg_size = Some(self.number("MaxMsgSize")?),
            M::MaxObjSize => m.max_obj_size = Some(self.number("MaxObjSize")?),
            M::EMI => m.emi.push(self.text("EMI")?),
            M::FieldLevel => m.field_level = self.flag()?,
            M::Anchor => {
                let mut a = Anchor::default();
                while let Some(t) = self.child("Anchor")? {
                    match t {
                        Tag::MetInf(M::Last) => a.last = Some(self.text("Last")?),
                        Tag::MetInf(M::Next) => a.next = self.text("Next")?,
                        _ => self.skip()?,
                    }
                }
                m.anchor = Some(a);
            }
            M::Mem => {
                let mut mem = Mem::default();
                while let Some(t) = self.child("Mem")? {
                    match t {
                        Tag::MetInf(M::SharedMem) => mem.shared_mem = self.flag()?,
                        Tag::MetInf(M::FreeMem) => mem.free_mem = Some(self.number("FreeMem")?),
                        Tag::MetInf(M::FreeID) => mem.free_id = Some(self.number("FreeID")?),
                        _ => self.skip()?,
                    }
                }
                m.mem = Some(mem);
            }
            _ => self.skip()?,
        }
        Ok(())
    }
}

fn merge_meta(into: &mut Meta, from: Meta) {
    macro_rules! take {
        ($($f:ident),*) => { $( if from.$f.is_some() { into.$f = from.$f; } )* };
    }
    take!(format, type_, mark, size, anchor, version, next_nonce, max_msg_size, max_obj_size, mem);
    into.emi.extend(from.emi);
    into.field_level |= from.field_level;
}
