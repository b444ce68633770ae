//! The server's mirror of the device's management tree (OMA-TS-DM_TND-V1_2; FACTS.md C.7):
//! what the device's answers teach us about its nodes, and whether a queued command may be
//! sent given the mirrored ACLs and the DDF of the object it targets.
//!
//! Pure functions: the engine calls them and turns the outcome into [`super::Effect`]s.

use std::collections::HashMap;

use omadm_protocol::tree::acl::{NodeKind, required_rights};
use omadm_protocol::tree::uri::ListKind;
use omadm_protocol::tree::{Acl, Ddf, MgmtTree, NodeUri, Property, Query, TargetUri, tnds};
use omadm_protocol::{Data, Format};
use omadm_storage::{CommandRecord, Millis, Op, TreeNode};
use serde::{Deserialize, Serialize};

/// What a sent command would change in the mirror once the device accepts it (kept in
/// [`super::state::Sent`] until its Status arrives).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorOp {
    /// Add, Replace, Delete, Copy (changes) or Get (to know how to read its Results).
    pub op: Op,
    /// Target URI, query included.
    pub target: String,
    /// Copy's source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The data sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Meta Format sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Meta Type sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

impl MirrorOp {
    /// The mirror-relevant part of a stored command, `None` for Exec, Alert and containers.
    pub fn of(rec: &CommandRecord) -> Option<MirrorOp> {
        let op = rec.spec.op?;
        if !matches!(op, Op::Add | Op::Replace | Op::Delete | Op::Copy | Op::Get) {
            return None;
        }
        let s = &rec.spec;
        // A Get needs only its target; the data of a change is kept to mirror it.
        let change = op != Op::Get;
        Some(MirrorOp {
            op,
            target: s.target.clone()?,
            source: s.source.clone().filter(|_| change),
            data: s.data.clone().filter(|_| change),
            format: s.format.clone().filter(|_| change),
            mime_type: s.mime_type.clone().filter(|_| change),
        })
    }
}

/// A change to the mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Insert or merge nodes.
    Upsert(Vec<TreeNode>),
    /// Remove a node and its subtree.
    Delete(String),
}

fn is_tnds(mime: Option<&str>) -> bool {
    mime.is_some_and(|t| {
        let t = t.trim();
        t.eq_ignore_ascii_case(tnds::CONTENT_TYPE_XML) || t.eq_ignore_ascii_case(tnds::CONTENT_TYPE_WBXML)
    })
}

fn node(uri: &NodeUri, now: Millis) -> TreeNode {
    TreeNode { uri: uri.as_str().to_owned(), updated_at: now, ..TreeNode::default() }
}

/// The nodes of a TNDS tree placed below `base`, properties included.
fn tnds_nodes(data: &Data, base: &NodeUri, now: Millis) -> Vec<TreeNode> {
    let Ok(tree) = MgmtTree::from_data(data, &tnds::LIMITS) else { return Vec::new() };
    let Ok(flat) = tree.flatten(base) else { return Vec::new() };
    flat.into_iter()
        .map(|f| {
            let p = f.properties;
            TreeNode {
                uri: f.uri.as_str().to_owned(),
                value: f.value,
                format: p.format.map(|x| x.as_str().to_owned()),
                mime_type: p.type_.map(|t| t.as_str().to_owned()),
                acl: p.acl,
                title: p.title,
                size: p.size.and_then(|s| i64::try_from(s).ok()),
                tstamp: p.tstamp,
                ver_no: p.ver_no.map(i32::from),
                updated_at: now,
            }
        })
        .collect()
}

/// The Data of a TNDS result kept as text: WBXML arrives Base64-encoded (see
/// `incoming::data_text`).
fn tnds_data(text: &str, mime: Option<&str>) -> Data {
    use base64::Engine;
    if mime.is_some_and(|m| m.to_ascii_lowercase().contains("wbxml"))
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text.trim())
    {
        return Data::Opaque(bytes);
    }
    Data::Text(text.to_owned())
}

/// One Item the device reported (a package-1 Replace or a Results item of a Get whose target
/// was `get_target`): the nodes it tells about.
pub fn reported(
    source: &str,
    format: Option<&str>,
    mime: Option<&str>,
    data: Option<&Data>,
    text: &str,
    get_target: Option<&str>,
    now: Millis,
) -> Vec<TreeNode> {
    let Ok(target) = TargetUri::parse(source) else { return Vec::new() };
    let uri = &target.uri;
    if is_tnds(mime) {
        let data = match data {
            Some(Data::Text(_)) | None => tnds_data(text, mime),
            Some(d) => d.clone(),
        };
        return tnds_nodes(&data, uri, now);
    }
    let mut n = node(uri, now);
    match &target.query {
        Some(Query::Prop(p)) => {
            let v = Some(text.to_owned());
            match p {
                Property::Acl => n.acl = v,
                Property::Format => n.format = v,
                Property::Type => n.mime_type = v,
                Property::Title => n.title = v,
                Property::Size => n.size = text.trim().parse().ok(),
                Property::TStamp => n.tstamp = v,
                Property::VerNo => n.ver_no = text.trim().parse().ok(),
                _ => {}
            }
            return vec![n];
        }
        Some(Query::List(_)) => return vec![n],
        None => {}
    }
    let structure_only = get_target
        .and_then(|t| TargetUri::parse(t).ok())
        .is_some_and(|t| matches!(t.query, Some(Query::List(ListKind::Struct))));
    n.format = format.map(str::to_owned);
    n.mime_type = mime.map(str::to_owned);
    let interior = format == Some(Format::Node.as_str());
    let mut out = Vec::new();
    if interior {
        // A Get of an interior node lists its children's names.
        if !structure_only && get_target.is_some() {
            for name in text.split('/').map(str::trim).filter(|s| !s.is_empty()) {
                if let Ok(child) = uri.join(name) {
                    out.push(node(&child, now));
                }
            }
        }
    } else if !structure_only && (data.is_some() || !text.is_empty()) {
        n.value = Some(text.to_owned());
    }
    out.insert(0, n);
    out
}

/// What a change the device accepted (2xx) does to the mirror. `tree` is the mirror as loaded
/// (a Copy takes its source's value from it).
pub fn accepted(m: &MirrorOp, tree: &[TreeNode], now: Millis) -> Vec<Change> {
    let Ok(target) = TargetUri::parse(&m.target) else { return Vec::new() };
    let uri = &target.uri;
    let mut n = node(uri, now);
    match (m.op, &target.query) {
        (Op::Delete, None) => vec![Change::Delete(uri.as_str().to_owned())],
        (Op::Replace, Some(Query::Prop(Property::Acl))) => {
            n.acl = Some(m.data.clone().unwrap_or_default());
            vec![Change::Upsert(vec![n])]
        }
        (Op::Replace, Some(Query::Prop(Property::Title))) => {
            n.title = Some(m.data.clone().unwrap_or_default());
            vec![Change::Upsert(vec![n])]
        }
        // Renamed: the mirror forgets the old node and its subtree and knows the new name (a
        // later Get learns the rest).
        (Op::Replace, Some(Query::Prop(Property::Name))) => {
            let mut out = vec![Change::Delete(uri.as_str().to_owned())];
            if let (Some(parent), Some(name)) = (uri.parent(), m.data.as_deref())
                && let Ok(renamed) = parent.join(name.trim())
            {
                out.push(Change::Upsert(vec![node(&renamed, now)]));
            }
            out
        }
        (Op::Add | Op::Replace, None) => {
            if is_tnds(m.mime_type.as_deref())
                && let Some(d) = &m.data
            {
                return vec![Change::Upsert(tnds_nodes(&tnds_data(d, m.mime_type.as_deref()), uri, now))];
            }
            let interior = m.format.as_deref() == Some(Format::Node.as_str());
            if interior {
                n.format = Some(Format::Node.as_str().to_owned());
            } else {
                n.value = m.data.clone().or_else(|| (m.op == Op::Replace).then(String::new));
                n.format = m.format.clone().or_else(|| Some(Format::Chr.as_str().to_owned()));
                n.mime_type = m.mime_type.clone();
            }
            vec![Change::Upsert(vec![n])]
        }
        (Op::Copy, None) => {
            if let Some(src) = m.source.as_deref().and_then(|s| tree.iter().find(|x| x.uri == s)) {
                n.value = src.value.clone();
                n.format = src.format.clone();
                n.mime_type = src.mime_type.clone();
            }
            vec![Change::Upsert(vec![n])]
        }
        _ => Vec::new(),
    }
}

fn tree_op(op: Op) -> Option<omadm_protocol::tree::Op> {
    use omadm_protocol::tree::Op as T;
    Some(match op {
        Op::Add => T::Add,
        Op::Replace => T::Replace,
        Op::Delete => T::Delete,
        Op::Exec => T::Exec,
        Op::Copy => T::Copy,
        Op::Get => T::Get,
        _ => return None,
    })
}

/// The checks made before a queued command is sent.
pub struct Checker<'a> {
    server_id: &'a str,
    ddf: Option<&'a Ddf>,
    /// Mirrored nodes by URI.
    nodes: HashMap<&'a str, &'a TreeNode>,
}

impl<'a> Checker<'a> {
    /// Checks against `ddf` (the device's, [`super::ddfs::DdfSet::for_device`]) and the
    /// mirrored `tree`, for the server known as `server_id`.
    pub fn new(ddf: Option<&'a Ddf>, server_id: &'a str, tree: &'a [TreeNode]) -> Checker<'a> {
        Checker { server_id, ddf, nodes: tree.iter().map(|n| (n.uri.as_str(), n)).collect() }
    }

    /// `Err(reason)` when the mirrored ACLs or the DDF forbid the command (or a command it
    /// contains).
    pub fn check(&self, rec: &CommandRecord) -> Result<(), String> {
        for child in &rec.children {
            self.check(child)?;
        }
        let (Some(op), Some(target)) = (rec.spec.op, rec.spec.target.as_deref()) else { return Ok(()) };
        let Some(top) = tree_op(op) else { return Ok(()) };
        // A target the tree model cannot read (e.g. an unknown `?prop=`) is the device's to
        // answer (406 and the like): not held.
        let Ok(target) = TargetUri::parse(target) else { return Ok(()) };
        self.check_ddf(rec, top, &target).map_err(|v| format!("DDF: {v}"))?;
        self.check_acl(top, &target)?;
        if op == Op::Copy
            && let Some(src) = rec.spec.source.as_deref().and_then(|s| TargetUri::parse(s).ok())
        {
            self.check_acl(omadm_protocol::tree::Op::Get, &src)?;
        }
        Ok(())
    }

    /// The DDF decides for changes to objects it describes; Gets and other objects pass (the
    /// device answers those).
    fn check_ddf(
        &self,
        rec: &CommandRecord,
        op: omadm_protocol::tree::Op,
        target: &TargetUri,
    ) -> Result<(), omadm_protocol::tree::Violation> {
        use omadm_protocol::tree::Op as T;
        let Some(ddf) = self.ddf else { return Ok(()) };
        if op == T::Get {
            return Ok(());
        }
        let described = |uri: &NodeUri| super::ddfs::describes(ddf, uri);
        if op == T::Copy {
            let Some(src) = rec.spec.source.as_deref() else { return Ok(()) };
            return match TargetUri::parse(src) {
                Ok(s) if described(&s.uri) => ddf.validate_target(T::Copy, &s, None, None),
                _ => Ok(()),
            };
        }
        if !described(&target.uri) {
            return Ok(());
        }
        let format = rec.spec.format.as_deref().map(Format::parse);
        let data = rec.spec.data.as_deref().map(str::as_bytes);
        ddf.validate_target(op, target, format.as_ref(), data)
    }

    /// The ACL in force on `uri` as far as the mirror knows: the node's own if not empty, else
    /// its parent's, ...; nodes whose ACL was never read count as inheriting. `None` when no
    /// node up to the root has a known ACL (then the device decides).
    fn effective(&self, uri: &NodeUri) -> Option<(Acl, NodeUri)> {
        for n in uri.ancestors() {
            let Some(acl) = self.nodes.get(n.as_str()).and_then(|x| x.acl.as_deref()) else { continue };
            let acl = Acl::parse(acl).ok()?;
            if !acl.is_empty() {
                return Some((acl, n));
            }
        }
        None
    }

    fn check_acl(&self, op: omadm_protocol::tree::Op, target: &TargetUri) -> Result<(), String> {
        let kind = match self.nodes.get(target.uri.as_str()).and_then(|n| n.format.as_deref()) {
            Some("node") => NodeKind::Interior,
            Some(_) => NodeKind::Leaf,
            None => NodeKind::Unknown,
        };
        let rights = required_rights(op, target, kind);
        let mut denial = None;
        for right in &rights {
            match self.effective(&right.uri) {
                // Not known: the device decides.
                None => return Ok(()),
                Some((acl, _)) if acl.allows(right.command, self.server_id) => return Ok(()),
                Some((acl, from)) => {
                    denial.get_or_insert_with(|| {
                        format!(
                            "ACL: {op} {target} needs {right} for server {}, the ACL `{acl}` of {from} does not grant it",
                            self.server_id
                        )
                    });
                }
            }
        }
        match denial {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }
}
