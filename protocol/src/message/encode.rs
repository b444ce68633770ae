//! The typed model to events, in the element order of the SyncML RepPro 1.2 / MetInf DTDs.

use super::command::*;
use super::ddf::DdfNode;
use super::meta::Meta;
use super::{SyncHdr, SyncMl};
use crate::event::Sink;
use crate::tag::{MetInfTag as M, SyncMlTag as S, Tag};

/// Write `msg` to `sink`.
pub fn encode_events(msg: &SyncMl, sink: &mut impl Sink) {
    let mut w = Writer { sink, num: String::with_capacity(20) };
    w.start(S::SyncML);
    w.sync_hdr(&msg.hdr);
    w.start(S::SyncBody);
    for c in &msg.body.commands {
        w.command(c);
    }
    if msg.body.is_final {
        w.sink.empty(Tag::SyncMl(S::Final));
    }
    w.end();
    w.end();
}

struct Writer<'s, K: Sink> {
    sink: &'s mut K,
    num: String,
}

impl<K: Sink> Writer<'_, K> {
    fn start(&mut self, t: S) {
        self.sink.start(Tag::SyncMl(t));
    }

    fn end(&mut self) {
        self.sink.end();
    }

    fn leaf(&mut self, t: S, text: &str) {
        self.sink.leaf(Tag::SyncMl(t), text);
    }

    fn number(&mut self, tag: Tag, n: u64) {
        use std::fmt::Write;
        self.num.clear();
        let _ = write!(self.num, "{n}");
        self.sink.leaf(tag, &self.num);
    }

    fn flag(&mut self, t: S, on: bool) {
        if on {
            self.sink.empty(Tag::SyncMl(t));
        }
    }

    fn sync_hdr(&mut self, h: &SyncHdr) {
        self.start(S::SyncHdr);
        self.leaf(S::VerDTD, &h.ver_dtd);
        self.leaf(S::VerProto, &h.ver_proto);
        self.leaf(S::SessionID, &h.session_id);
        self.number(Tag::SyncMl(S::MsgID), h.msg_id.into());
        self.location(S::Target, &h.target);
        self.location(S::Source, &h.source);
        if let Some(r) = &h.resp_uri {
            self.leaf(S::RespURI, r);
        }
        self.flag(S::NoResp, h.no_resp);
        self.cred(h.cred.as_ref());
        self.meta(h.meta.as_ref());
        self.end();
    }

    fn location(&mut self, t: S, l: &Location) {
        self.start(t);
        self.leaf(S::LocURI, &l.loc_uri);
        if let Some(n) = &l.loc_name {
            self.leaf(S::LocName, n);
        }
        self.end();
    }

    fn cred(&mut self, c: Option<&Cred>) {
        if let Some(c) = c {
            self.start(S::Cred);
            self.meta(c.meta.as_ref());
            self.leaf(S::Data, &c.data);
            self.end();
        }
    }

    fn cmd_id(&mut self, id: u32) {
        self.number(Tag::SyncMl(S::CmdID), id.into());
    }

    fn command(&mut self, c: &Command) {
        match c {
            Command::Add(x) => self.item_command(S::Add, x),
            Command::Copy(x) => self.item_command(S::Copy, x),
            Command::Delete(x) => self.item_command(S::Delete, x),
            Command::Get(x) => self.item_command(S::Get, x),
            Command::Replace(x) => self.item_command(S::Replace, x),
            Command::Exec(e) => {
                self.start(S::Exec);
                self.cmd_id(e.cmd_id);
                self.flag(S::NoResp, e.no_resp);
                self.cred(e.cred.as_ref());
                self.meta(e.meta.as_ref());
                if let Some(c) = &e.correlator {
                    self.leaf(S::Correlator, c);
                }
                self.item(&e.item);
                self.end();
            }
            Command::Alert(a) => {
                self.start(S::Alert);
                self.cmd_id(a.cmd_id);
                self.flag(S::NoResp, a.no_resp);
                self.cred(a.cred.as_ref());
                self.number(Tag::SyncMl(S::Data), a.data.code().into());
                if let Some(c) = &a.correlator {
                    self.leaf(S::Correlator, c);
                }
                for i in &a.items {
                    self.item(i);
                }
                self.end();
            }
            Command::Atomic(x) => self.container(S::Atomic, x),
            Command::Sequence(x) => self.container(S::Sequence, x),
            Command::Status(s) => {
                self.start(S::Status);
                self.cmd_id(s.cmd_id);
                if let Some(m) = s.msg_ref {
                    self.number(Tag::SyncMl(S::MsgRef), m.into());
                }
                if let Some(c) = s.cmd_ref {
                    self.number(Tag::SyncMl(S::CmdRef), c.into());
                }
                self.leaf(S::Cmd, &s.cmd);
                for r in &s.target_ref {
                    self.leaf(S::TargetRef, r);
                }
                for r in &s.source_ref {
                    self.leaf(S::SourceRef, r);
                }
                self.cred(s.cred.as_ref());
                if let Some(ch) = &s.chal {
                    self.start(S::Chal);
                    self.meta(Some(&ch.meta));
                    self.end();
                }
                self.number(Tag::SyncMl(S::Data), s.data.code().into());
                for i in &s.items {
                    self.item(i);
                }
                self.end();
            }
            Command::Results(r) => {
                self.start(S::Results);
                self.cmd_id(r.cmd_id);
                if let Some(m) = r.msg_ref {
                    self.number(Tag::SyncMl(S::MsgRef), m.into());
                }
                self.number(Tag::SyncMl(S::CmdRef), r.cmd_ref.into());
                self.meta(r.meta.as_ref());
                for x in &r.target_ref {
                    self.leaf(S::TargetRef, x);
                }
                for x in &r.source_ref {
                    self.leaf(S::SourceRef, x);
                }
                for i in &r.items {
                    self.item(i);
                }
                self.end();
            }
            Command::Unsupported(u) => {
                self.start(u.element);
                if let Some(id) = u.cmd_id {
                    self.cmd_id(id);
                }
                self.end();
            }
        }
    }

    fn item_command(&mut self, t: S, c: &ItemCommand) {
        self.start(t);
        self.cmd_id(c.cmd_id);
        self.flag(S::NoResp, c.no_resp);
        self.cred(c.cred.as_ref());
        self.meta(c.meta.as_ref());
        for i in &c.items {
            self.item(i);
        }
        self.end();
    }

    fn container(&mut self, t: S, c: &Container) {
        self.start(t);
        self.cmd_id(c.cmd_id);
        self.flag(S::NoResp, c.no_resp);
        self.meta(c.meta.as_ref());
        for x in &c.commands {
            self.command(x);
        }
        self.end();
    }

    fn item(&mut self, i: &Item) {
        self.start(S::Item);
        if let Some(t) = &i.target {
            self.location(S::Target, t);
        }
        if let Some(s) = &i.source {
            self.location(S::Source, s);
        }
        self.meta(i.meta.as_ref());
        if let Some(d) = &i.data {
            self.start(S::Data);
            match d {
                Data::Text(s) => self.sink.text(s),
                Data::Opaque(b) => self.sink.opaque(b),
                Data::Ddf(nodes) => {
                    for n in nodes {
                        self.ddf(n);
                    }
                }
            }
            self.end();
        }
        self.flag(S::MoreData, i.more_data);
        self.end();
    }

    fn ddf(&mut self, n: &DdfNode) {
        match n {
            DdfNode::Text(t) => self.sink.text(t),
            DdfNode::Element { tag, children } => {
                self.sink.start(Tag::Ddf(*tag));
                for c in children {
                    self.ddf(c);
                }
                self.sink.end();
            }
        }
    }

    fn metinf(&mut self, t: M, text: &str) {
        self.sink.leaf(Tag::MetInf(t), text);
    }

    fn meta(&mut self, m: Option<&Meta>) {
        let Some(m) = m else { return };
        self.start(S::Meta);
        if let Some(f) = &m.format {
            self.metinf(M::Format, f.as_str());
        }
        if let Some(t) = &m.type_ {
            self.metinf(M::Type, t);
        }
        if let Some(x) = &m.mark {
            self.metinf(M::Mark, x);
        }
        if let Some(s) = m.size {
            self.number(Tag::MetInf(M::Size), s);
        }
        if let Some(a) = &m.anchor {
            self.sink.start(Tag::MetInf(M::Anchor));
            if let Some(l) = &a.last {
                self.metinf(M::Last, l);
            }
            self.metinf(M::Next, &a.next);
            self.sink.end();
        }
        if let Some(v) = &m.version {
            self.metinf(M::Version, v);
        }
        if let Some(n) = &m.next_nonce {
            self.metinf(M::NextNonce, n);
        }
        if let Some(s) = m.max_msg_size {
            self.number(Tag::MetInf(M::MaxMsgSize), s);
        }
        if let Some(s) = m.max_obj_size {
            self.number(Tag::MetInf(M::MaxObjSize), s);
        }
        for e in &m.emi {
            self.metinf(M::EMI, e);
        }
        if let Some(mem) = &m.mem {
            self.sink.start(Tag::MetInf(M::Mem));
            if mem.shared_mem {
                self.sink.empty(Tag::MetInf(M::SharedMem));
            }
            if let Some(f) = mem.free_mem {
                self.number(Tag::MetInf(M::FreeMem), f);
            }
            if let Some(f) = mem.free_id {
                self.number(Tag::MetInf(M::FreeID), f);
            }
            self.sink.end();
        }
        if m.field_level {
            self.sink.empty(Tag::MetInf(M::FieldLevel));
        }
        self.end();
    }
}
