//! The device's management tree: interior and leaf nodes with their properties, ACLs enforced
//! as a device enforces them, and the node operations a server may ask for.
//!
//! Rules (OMA-TS-DM_TND-V1_2 §7-§9, OMA-TS-DM_Protocol-V1_2 §6.5; FACTS.md C.3, C.7):
//! - Properties: ACL, Format, Name, Size (leaves only), Title, TStamp (ISO 8601 basic UTC),
//!   Type (MIME type of a leaf, MO identifier of an interior node), VerNo (16 bits, wraps).
//! - ACL grammar `acl = entry *("&" entry)`, `entry = command "=" id *("+" id)`, commands
//!   `Add | Delete | Exec | Get | Replace`, `id = "*"` or printable characters other than
//!   `= & * +` and whitespace ([`Acl::parse`], [`Acl`]'s `Display`).
//! - An empty ACL inherits the whole ACL of the nearest ancestor that has one; the root always
//!   has one ([`Tree::effective_acl`]).
//! - Rights: Get, Replace, Delete and Exec on the node itself; Add on the parent; replacing an
//!   ACL needs Replace on the parent, or for an interior node Replace on the node itself.
//!   Missing right → 425. Missing node → 404; Add of an existing node → 418; Exec of a node
//!   that cannot run → 405; an unknown property or `?list=` kind → 406; a command a property
//!   does not take → 405.
//! - A node a server adds gets an empty ACL, except an interior node added by a server without
//!   Replace on the parent, which gets `Add=<id>&Delete=<id>&Replace=<id>`.

use std::fmt;
use std::str::FromStr;

use omadm_protocol::{Format, StatusCode};

/// A command an ACL entry names (FACTS.md C.7: Copy has no entry of its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclCommand {
    /// `Add`: create children of the node.
    Add,
    /// `Delete`: remove the node.
    Delete,
    /// `Exec`: run the node.
    Exec,
    /// `Get`: read the node and its properties.
    Get,
    /// `Replace`: change the node's value or properties.
    Replace,
}

impl AclCommand {
    /// The five commands, in the order of the grammar.
    pub const ALL: [AclCommand; 5] =
        [AclCommand::Add, AclCommand::Delete, AclCommand::Exec, AclCommand::Get, AclCommand::Replace];

    /// The name as written in an ACL.
    pub const fn as_str(self) -> &'static str {
        match self {
            AclCommand::Add => "Add",
            AclCommand::Delete => "Delete",
            AclCommand::Exec => "Exec",
            AclCommand::Get => "Get",
            AclCommand::Replace => "Replace",
        }
    }

    /// The command named `s` (exact spelling).
    pub fn from_name(s: &str) -> Option<AclCommand> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for AclCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an ACL value does not follow the grammar of FACTS.md C.7.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// `&&`, a leading or a trailing `&`.
    #[error("empty ACL entry")]
    EmptyEntry,
    /// An entry without `=`.
    #[error("ACL entry {0:?} has no '='")]
    MissingEquals(String),
    /// A command other than Add, Delete, Exec, Get, Replace.
    #[error("unknown ACL command {0:?}")]
    UnknownCommand(String),
    /// `Get=` or `Get=a++b`: a command must name at least one id, and ids are not empty.
    #[error("ACL entry for {0} has an empty server identifier")]
    EmptyId(AclCommand),
    /// An id with whitespace or one of `= & * +` (other than the lone wildcard `*`).
    #[error("invalid server identifier {0:?} in an ACL")]
    BadId(String),
}

/// An access control list: for each command, the server identifiers allowed to use it
/// (`*` = any server). Empty means "inherit from the nearest ancestor with a value".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// Entries in the order they were written; each command at most once.
    entries: Vec<(AclCommand, Vec<String>)>,
}

impl Acl {
    /// The empty ACL (inherit).
    pub fn empty() -> Acl {
        Acl::default()
    }

    /// Parse an ACL value. The empty string is the empty ACL. A command named twice has its
    /// ids merged (`Get=a&Get=b` reads as `Get=a+b`).
    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        if text.is_empty() {
            return Ok(acl);
        }
        for entry in text.split('&') {
            if entry.is_empty() {
                return Err(AclError::EmptyEntry);
            }
            let (name, ids) =
                entry.split_once('=').ok_or_else(|| AclError::MissingEquals(entry.to_owned()))?;
            let cmd = AclCommand::from_name(name).ok_or_else(|| AclError::UnknownCommand(name.to_owned()))?;
            for id in ids.split('+') {
                if id.is_empty() {
                    return Err(AclError::EmptyId(cmd));
                }
                if id != "*" && !id.chars().all(valid_id_char) {
                    return Err(AclError::BadId(id.to_owned()));
                }
                acl = acl.grant(cmd, id);
            }
        }
        Ok(acl)
    }

    /// This ACL with `id` added to the servers allowed `cmd`.
    pub fn grant(mut self, cmd: AclCommand, id: &str) -> Acl {
        match self.entries.iter_mut().find(|(c, _)| *c == cmd) {
            Some((_, ids)) => {
                if !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
            }
            None => self.entries.push((cmd, vec![id.to_owned()])),
        }
        self
    }

    /// Whether the ACL has no value (and so inherits).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The ids allowed `cmd` (empty when the command has no entry).
    pub fn ids(&self, cmd: AclCommand) -> &[String] {
        self.entries.iter().find(|(c, _)| *c == cmd).map(|(_, ids)| ids.as_slice()).unwrap_or_default()
    }

    /// Whether `server_id` may use `cmd`: named, or the wildcard `*`.
    pub fn allows(&self, cmd: AclCommand, server_id: &str) -> bool {
        self.ids(cmd).iter().any(|i| i == "*" || i == server_id)
    }
}

/// `printable chars except = & * + and whitespace` (FACTS.md C.7).
fn valid_id_char(c: char) -> bool {
    !c.is_whitespace() && !c.is_control() && !matches!(c, '=' | '&' | '*' | '+')
}

impl fmt::Display for Acl {
    /// The serialised ACL, e.g. `Add=srvA&Get=*`; the empty ACL is the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (cmd, ids)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{cmd}={}", ids.join("+"))?;
        }
        Ok(())
    }
}

impl FromStr for Acl {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Acl, AclError> {
        Acl::parse(s)
    }
}

/// What happens when a server executes a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecAction {
    /// Runs at once and succeeds (Status 200).
    Plain,
    /// FUMO `<x>/Download` (FACTS.md I.3).
    FumoDownload,
    /// FUMO `<x>/Update`.
    FumoUpdate,
    /// FUMO `<x>/DownloadAndUpdate`.
    FumoDownloadAndUpdate,
}

/// A node of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Name property: the last URI segment (`.` for the root).
    pub name: String,
    /// Format property; `node` for an interior node.
    pub format: Format,
    /// Type property: a MIME type for a leaf, an MO identifier for an interior node.
    pub mime_type: Option<String>,
    /// ACL property (empty: inherited).
    pub acl: Acl,
    /// Title property.
    pub title: Option<String>,
    /// TStamp property: last change, ISO 8601 basic UTC.
    pub tstamp: Option<String>,
    /// VerNo property: incremented (wrapping) on every change.
    pub ver_no: u16,
    /// A leaf's value, unencoded bytes.
    pub value: Vec<u8>,
    /// An interior node's children, in creation order.
    pub children: Vec<Node>,
    /// Whether (and how) the node can be executed; `None` → Exec gets 405.
    pub exec: Option<ExecAction>,
    /// A permanent node (part of the device's fixed MOs): cannot be deleted or renamed.
    pub permanent: bool,
}

impl Node {
    /// An interior node with an empty ACL.
    pub fn interior(name: &str) -> Node {
        Node {
            name: name.to_owned(),
            format: Format::Node,
            mime_type: None,
            acl: Acl::empty(),
            title: None,
            tstamp: None,
            ver_no: 0,
            value: Vec::new(),
            children: Vec::new(),
            exec: None,
            permanent: false,
        }
    }

    /// A leaf of `format` holding `value` (MIME type `text/plain` for text formats).
    pub fn leaf(name: &str, format: Format, value: impl Into<Vec<u8>>) -> Node {
        let mime = match format {
            Format::Bin | Format::B64 => "application/octet-stream",
            _ => "text/plain",
        };
        Node { format, mime_type: Some(mime.to_owned()), value: value.into(), ..Node::interior(name) }
    }

    /// A `chr` leaf.
    pub fn text(name: &str, value: &str) -> Node {
        Node::leaf(name, Format::Chr, value.as_bytes())
    }

    /// This node with `acl` (panics on a malformed ACL: for building fixed trees).
    pub fn with_acl(mut self, acl: &str) -> Node {
        self.acl = Acl::parse(acl).expect("a well-formed ACL");
        self
    }

    /// This node with the Type property `t`.
    pub fn with_type(mut self, t: &str) -> Node {
        self.mime_type = Some(t.to_owned());
        self
    }

    /// This node with a Title.
    pub fn with_title(mut self, t: &str) -> Node {
        self.title = Some(t.to_owned());
        self
    }

    /// This node, executable.
    pub fn executable(mut self, action: ExecAction) -> Node {
        self.exec = Some(action);
        self
    }

    /// This node, permanent.
    pub fn permanent(mut self) -> Node {
        self.permanent = true;
        self
    }

    /// This node with `children` appended.
    pub fn with_children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.children.extend(children);
        self
    }

    /// Whether this is an interior node.
    pub fn is_interior(&self) -> bool {
        self.format == Format::Node
    }

    /// Size property: the value's length for a leaf; none for an interior node.
    pub fn size(&self) -> Option<usize> {
        (!self.is_interior()).then_some(self.value.len())
    }

    /// The child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    fn child_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.children.iter_mut().find(|c| c.name == name)
    }

    /// The value as text (lossy for non-UTF-8 bytes).
    pub fn value_text(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }

    /// Record a change: new TStamp, VerNo + 1 (wrapping, FACTS.md C.7).
    fn touch(&mut self) {
        self.tstamp = Some(tstamp_now());
        self.ver_no = self.ver_no.wrapping_add(1);
    }
}

/// The query part of a node URI (OMA-TS-DM_TND-V1_2 §7.7, OMA-TS-DM_TNDS-V1_2; FACTS.md C.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UriQuery {
    /// `?prop=<Name>`.
    Prop(String),
    /// `?list=<Kind>` (`Struct`, `StructData`, `TNDS...`).
    List(String),
}

/// A parsed node URI: segments below the root, and an optional query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeUri {
    /// Segments below `.`; empty for the root.
    pub segments: Vec<String>,
    /// `?prop=` or `?list=`.
    pub query: Option<UriQuery>,
}

impl NodeUri {
    /// Parse `./A/B`, `A/B` (relative to the root), `.` or `./`, with an optional query.
    /// Empty, `.` and `..` segments below the root are refused (400); an unknown query is 406.
    pub fn parse(uri: &str) -> Result<NodeUri, TreeError> {
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (uri, None),
        };
        let query = match query {
            None => None,
            Some(q) => match q.split_once('=') {
                Some(("prop", v)) if !v.is_empty() => Some(UriQuery::Prop(v.to_owned())),
                Some(("list", v)) if !v.is_empty() => Some(UriQuery::List(v.to_owned())),
                _ => return Err(TreeError::NotSupported),
            },
        };
        let rest = if path == "." || path == "./" {
            ""
        } else if let Some(r) = path.strip_prefix("./") {
            r
        } else {
            path
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segments: Vec<String> =
            if rest.is_empty() { Vec::new() } else { rest.split('/').map(str::to_owned).collect() };
        if segments.iter().any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(TreeError::BadRequest);
        }
        Ok(NodeUri { segments, query })
    }

    /// The canonical absolute URI without the query: `.` or `./A/B`.
    pub fn path(&self) -> String {
        path_of(&self.segments)
    }
}

fn path_of(segments: &[String]) -> String {
    if segments.is_empty() { ".".to_owned() } else { format!("./{}", segments.join("/")) }
}

/// Why a tree operation was refused, with the Status code a device answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// 404: no such node.
    #[error("404 node not found")]
    NotFound,
    /// 425: the ACL does not grant the server this command.
    #[error("425 permission denied")]
    PermissionDenied,
    /// 418: Add of a node that exists.
    #[error("418 already exists")]
    AlreadyExists,
    /// 405: the command is not allowed on this node or property (Exec of a non-executable
    /// node, Replace of an interior node's value, Delete of a permanent node, Add on a property).
    #[error("405 command not allowed")]
    NotAllowed,
    /// 406: unknown property or `?list=` kind.
    #[error("406 optional feature not supported")]
    NotSupported,
    /// 400: malformed URI or property value.
    #[error("400 bad request")]
    BadRequest,
    /// 415: the data does not fit the node's format.
    #[error("415 unsupported format")]
    UnsupportedFormat,
}

impl TreeError {
    /// The Status code for this refusal (FACTS.md C.3).
    pub fn status(self) -> StatusCode {
        match self {
            TreeError::NotFound => StatusCode::NotFound,
            TreeError::PermissionDenied => StatusCode::PermissionDenied,
            TreeError::AlreadyExists => StatusCode::AlreadyExists,
            TreeError::NotAllowed => StatusCode::CommandNotAllowed,
            TreeError::NotSupported => StatusCode::OptionalFeatureNotSupported,
            TreeError::BadRequest => StatusCode::BadRequest,
            TreeError::UnsupportedFormat => StatusCode::UnsupportedMediaType,
        }
    }
}

/// One node (or property) returned by [`Tree::get`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GetItem {
    /// The URI to put in the Results Item Source (with `?prop=` for a property).
    pub uri: String,
    /// Meta Format.
    pub format: Format,
    /// Meta Type.
    pub mime_type: Option<String>,
    /// Data; `None` for `?list=Struct` entries.
    pub data: Option<Vec<u8>>,
}

/// A value a server writes with Add, Replace or Copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewValue {
    /// Meta Format (`None` keeps a leaf's format on Replace, `chr` on Add).
    pub format: Option<Format>,
    /// Meta Type.
    pub mime_type: Option<String>,
    /// The value, already decoded from Base64 when the format was `b64`.
    pub data: Vec<u8>,
}

/// The management tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    root: Node,
}

impl Tree {
    /// A tree holding only the root `.`, with `root_acl` (which must not be empty: the root
    /// ACL always has a value, FACTS.md C.7).
    pub fn new(root_acl: &str) -> Tree {
        let root = Node::interior(".").with_acl(root_acl).permanent();
        assert!(!root.acl.is_empty(), "the root ACL must have a value");
        Tree { root }
    }

    /// The root node.
    pub fn root(&self) -> &Node {
        &self.root
    }

    fn find(&self, segments: &[String]) -> Option<&Node> {
        let mut n = &self.root;
        for s in segments {
            n = n.child(s)?;
        }
        Some(n)
    }

    fn find_mut(&mut self, segments: &[String]) -> Option<&mut Node> {
        let mut n = &mut self.root;
        for s in segments {
            n = n.child_mut(s)?;
        }
        Some(n)
    }

    /// The node at `uri` (device side: no ACL check; the query part is ignored).
    pub fn node(&self, uri: &str) -> Option<&Node> {
        self.find(&NodeUri::parse(uri).ok()?.segments)
    }

    /// The node at `uri`, mutable (device side: no ACL check, no TStamp update).
    pub fn node_mut(&mut self, uri: &str) -> Option<&mut Node> {
        let segs = NodeUri::parse(uri).ok()?.segments;
        self.find_mut(&segs)
    }

    /// A leaf's value (device side).
    pub fn value(&self, uri: &str) -> Option<&[u8]> {
        self.node(uri).filter(|n| !n.is_interior()).map(|n| n.value.as_slice())
    }

    /// A leaf's value as text (device side, lossy).
    pub fn text(&self, uri: &str) -> Option<String> {
        self.value(uri).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Set a leaf's value (device side: no ACL check); updates TStamp and VerNo. False when
    /// there is no such leaf.
    pub fn set_value(&mut self, uri: &str, value: impl Into<Vec<u8>>) -> bool {
        match self.node_mut(uri) {
            Some(n) if !n.is_interior() => {
                n.value = value.into();
                n.touch();
                true
            }
            _ => false,
        }
    }

    /// Add `node` under the interior node `parent` (device side: no ACL check), replacing a
    /// child of the same name. Returns false when `parent` is missing or a leaf.
    pub fn insert(&mut self, parent: &str, node: Node) -> bool {
        match self.node_mut(parent) {
            Some(p) if p.is_interior() => {
                p.children.retain(|c| c.name != node.name);
                p.children.push(node);
                true
            }
            _ => false,
        }
    }

    /// The ACL in force at `uri`: the node's own, or the nearest ancestor's that has a value
    /// (whole-ACL inheritance, FACTS.md C.7). `None` when the node does not exist.
    pub fn effective_acl(&self, uri: &str) -> Option<&Acl> {
        self.effective_acl_of(&NodeUri::parse(uri).ok()?.segments)
    }

    fn effective_acl_of(&self, segments: &[String]) -> Option<&Acl> {
        let mut n = &self.root;
        let mut acl = &self.root.acl;
        for s in segments {
            n = n.child(s)?;
            if !n.acl.is_empty() {
                acl = &n.acl;
            }
        }
        Some(acl)
    }

    /// Whether `server_id` may use `cmd` on the node at `uri` (false if it does not exist).
    pub fn allows(&self, uri: &str, cmd: AclCommand, server_id: &str) -> bool {
        NodeUri::parse(uri).ok().is_some_and(|u| self.allows_at(&u.segments, cmd, server_id))
    }

    fn allows_at(&self, segments: &[String], cmd: AclCommand, server_id: &str) -> bool {
        self.effective_acl_of(segments).is_some_and(|a| a.allows(cmd, server_id))
    }

    fn require(&self, segments: &[String], cmd: AclCommand, server_id: &str) -> Result<(), TreeError> {
        if self.allows_at(segments, cmd, server_id) { Ok(()) } else { Err(TreeError::PermissionDenied) }
    }

    // ------------------------------------------------------------------------------------
    // Server operations, with the ACL enforced.

    /// Get: a leaf's value, an interior node's child list (`A/B/C`, Format node), a property
    /// (`?prop=`), or the structure below a node (`?list=Struct` / `StructData`).
    pub fn get(&self, uri: &str, server_id: &str) -> Result<Vec<GetItem>, TreeError> {
        let u = NodeUri::parse(uri)?;
        let node = self.find(&u.segments).ok_or(TreeError::NotFound)?;
        self.require(&u.segments, AclCommand::Get, server_id)?;
        match &u.query {
            None => Ok(vec![item_of(&u.path(), node, true)]),
            Some(UriQuery::Prop(p)) => {
                let (format, text) = property(node, p)?;
                Ok(vec![GetItem {
                    uri: format!("{}?prop={p}", u.path()),
                    format,
                    mime_type: Some("text/plain".into()),
                    data: Some(text.into_bytes()),
                }])
            }
            Some(UriQuery::List(kind)) => {
                let with_data = match kind.as_str() {
                    "Struct" => false,
                    "StructData" => true,
                    _ => return Err(TreeError::NotSupported),
                };
                let mut out = Vec::new();
                self.walk(&u.segments, node, with_data, server_id, &mut out);
                Ok(out)
            }
        }
    }

    fn walk(&self, segs: &[String], node: &Node, data: bool, server_id: &str, out: &mut Vec<GetItem>) {
        if !self.allows_at(segs, AclCommand::Get, server_id) {
            return;
        }
        out.push(item_of(&path_of(segs), node, data));
        for c in &node.children {
            let mut s = segs.to_vec();
            s.push(c.name.clone());
            self.walk(&s, c, data, server_id, out);
        }
    }

    /// Add a node: a leaf, or an interior node when the Format is `node`. Missing interior
    /// nodes on the way are created. Needs Add on the nearest existing ancestor.
    pub fn add(&mut self, uri: &str, server_id: &str, value: NewValue) -> Result<(), TreeError> {
        let u = NodeUri::parse(uri)?;
        if u.query.is_some() {
            // No Add on properties (FACTS.md C.7).
            return Err(TreeError::NotAllowed);
        }
        if u.segments.is_empty() || self.find(&u.segments).is_some() {
            return Err(TreeError::AlreadyExists);
        }
        // The deepest existing ancestor.
        let mut depth = 0;
        while depth < u.segments.len() && self.find(&u.segments[..=depth]).is_some() {
            depth += 1;
        }
        let parent_segs = &u.segments[..depth];
        let parent = self.find(parent_segs).ok_or(TreeError::NotFound)?;
        if !parent.is_interior() {
            return Err(TreeError::NotAllowed);
        }
        self.require(parent_segs, AclCommand::Add, server_id)?;
        let own_acl = |tree: &Tree, parent: &[String]| {
            // An interior node added without Replace on its parent gets rights for its creator.
            if tree.allows_at(parent, AclCommand::Replace, server_id) {
                Acl::empty()
            } else {
                Acl::empty()
                    .grant(AclCommand::Add, server_id)
                    .grant(AclCommand::Delete, server_id)
                    .grant(AclCommand::Replace, server_id)
            }
        };
        let format = value.format.clone().unwrap_or(Format::Chr);
        let mut new = if format == Format::Node {
            let mut n = Node::interior(&u.segments[u.segments.len() - 1]);
            n.mime_type = value.mime_type.clone();
            n
        } else {
            let mut n = Node::leaf(&u.segments[u.segments.len() - 1], format, value.data.clone());
            if value.mime_type.is_some() {
                n.mime_type = value.mime_type.clone();
            }
            n
        };
        new.touch();
        if new.is_interior() {
            new.acl = own_acl(self, &u.segments[..u.segments.len() - 1]);
        }
        // Intermediate interior nodes, from the outermost down.
        let mut chain: Vec<Node> = Vec::new();
        for i in depth..u.segments.len() - 1 {
            let mut n = Node::interior(&u.segments[i]);
            n.touch();
            n.acl = if i == depth { own_acl(self, parent_segs) } else { Acl::empty() };
            chain.push(n);
        }
        let mut node = new;
        while let Some(mut outer) = chain.pop() {
            outer.children.push(node);
            node = outer;
        }
        let parent = self.find_mut(parent_segs).ok_or(TreeError::NotFound)?;
        parent.children.push(node);
        parent.touch();
        Ok(())
    }

    /// Replace a leaf's value, or a property (`?prop=ACL`, `Title`, `Name`).
    pub fn replace(&mut self, uri: &str, server_id: &str, value: NewValue) -> Result<(), TreeError> {
        let u = NodeUri::parse(uri)?;
        let node = self.find(&u.segments).ok_or(TreeError::NotFound)?;
        match &u.query {
            None => {
                self.require(&u.segments, AclCommand::Replace, server_id)?;
                if node.is_interior() {
                    return Err(TreeError::NotAllowed);
                }
                let new_format = match value.format {
                    Some(Format::Node) => return Err(TreeError::UnsupportedFormat),
                    Some(f) if f != node.format && node.permanent => {
                        return Err(TreeError::UnsupportedFormat);
                    }
                    Some(f) => f,
                    None => node.format.clone(),
                };
                let n = self.find_mut(&u.segments).ok_or(TreeError::NotFound)?;
                n.value = value.data;
                n.format = new_format;
                if value.mime_type.is_some() {
                    n.mime_type = value.mime_type;
                }
                n.touch();
                Ok(())
            }
            Some(UriQuery::List(_)) => Err(TreeError::NotAllowed),
            Some(UriQuery::Prop(p)) => {
                let text = String::from_utf8(value.data).map_err(|_| TreeError::BadRequest)?;
                match p.as_str() {
                    "ACL" => {
                        let parent_ok = !u.segments.is_empty()
                            && self.allows_at(
                                &u.segments[..u.segments.len() - 1],
                                AclCommand::Replace,
                                server_id,
                            );
                        let self_ok =
                            node.is_interior() && self.allows_at(&u.segments, AclCommand::Replace, server_id);
                        if !parent_ok && !self_ok {
                            return Err(TreeError::PermissionDenied);
                        }
                        let acl = Acl::parse(&text).map_err(|_| TreeError::BadRequest)?;
                        if u.segments.is_empty() && acl.is_empty() {
                            // The root ACL always has a value.
                            return Err(TreeError::NotAllowed);
                        }
                        let n = self.find_mut(&u.segments).ok_or(TreeError::NotFound)?;
                        n.acl = acl;
                        n.touch();
                        Ok(())
                    }
                    "Title" => {
                        self.require(&u.segments, AclCommand::Replace, server_id)?;
                        let n = self.find_mut(&u.segments).ok_or(TreeError::NotFound)?;
                        n.title = Some(text);
                        n.touch();
                        Ok(())
                    }
                    "Name" => {
                        self.require(&u.segments, AclCommand::Replace, server_id)?;
                        if node.permanent || u.segments.is_empty() {
                            return Err(TreeError::NotAllowed);
                        }
                        if text.is_empty() || text.contains('/') || text == "." || text == ".." {
                            return Err(TreeError::BadRequest);
                        }
                        let mut sibling = u.segments.clone();
                        *sibling.last_mut().expect("not the root") = text.clone();
                        if self.find(&sibling).is_some() {
                            return Err(TreeError::AlreadyExists);
                        }
                        let n = self.find_mut(&u.segments).ok_or(TreeError::NotFound)?;
                        n.name = text;
                        n.touch();
                        Ok(())
                    }
                    "Format" | "Size" | "TStamp" | "Type" | "VerNo" => Err(TreeError::NotAllowed),
                    _ => Err(TreeError::NotSupported),
                }
            }
        }
    }

    /// Delete a node and everything below it. Needs Delete on the node; the root and
    /// permanent nodes cannot be deleted (405).
    pub fn delete(&mut self, uri: &str, server_id: &str) -> Result<(), TreeError> {
        let u = NodeUri::parse(uri)?;
        if u.query.is_some() {
            return Err(TreeError::NotAllowed);
        }
        let node = self.find(&u.segments).ok_or(TreeError::NotFound)?;
        self.require(&u.segments, AclCommand::Delete, server_id)?;
        if node.permanent || u.segments.is_empty() {
            return Err(TreeError::NotAllowed);
        }
        let (name, parent) = u.segments.split_last().expect("not the root");
        let p = self.find_mut(parent).ok_or(TreeError::NotFound)?;
        p.children.retain(|c| &c.name != name);
        p.touch();
        Ok(())
    }

    /// Copy `source` to `target`: needs Get on the source, and Replace on an existing target
    /// (its value is replaced) or Add on the new target's parent (a copy is made, with an
    /// empty ACL throughout).
    pub fn copy(&mut self, source: &str, target: &str, server_id: &str) -> Result<(), TreeError> {
        let s = NodeUri::parse(source)?;
        let t = NodeUri::parse(target)?;
        if s.query.is_some() || t.query.is_some() {
            return Err(TreeError::NotAllowed);
        }
        let src = self.find(&s.segments).ok_or(TreeError::NotFound)?.clone();
        self.require(&s.segments, AclCommand::Get, server_id)?;
        if let Some(existing) = self.find(&t.segments) {
            if existing.is_interior() || src.is_interior() {
                return Err(TreeError::AlreadyExists);
            }
            return self.replace(
                target,
                server_id,
                NewValue { format: Some(src.format), mime_type: src.mime_type, data: src.value },
            );
        }
        if src.is_interior() {
            self.add(target, server_id, NewValue { format: Some(Format::Node), ..NewValue::default() })?;
            let mut copy = strip_acls(src);
            copy.name = t.segments.last().cloned().unwrap_or_default();
            let acl = self.find(&t.segments).map(|n| n.acl.clone()).unwrap_or_default();
            copy.acl = acl;
            copy.permanent = false;
            let n = self.find_mut(&t.segments).ok_or(TreeError::NotFound)?;
            *n = copy;
            n.touch();
            Ok(())
        } else {
            self.add(
                target,
                server_id,
                NewValue { format: Some(src.format), mime_type: src.mime_type, data: src.value },
            )
        }
    }

    /// Check that `server_id` may Exec `uri`: 404 missing, 425 no Exec right, 405 not
    /// executable. Returns what to run.
    pub fn exec(&self, uri: &str, server_id: &str) -> Result<ExecAction, TreeError> {
        let u = NodeUri::parse(uri)?;
        let node = self.find(&u.segments).ok_or(TreeError::NotFound)?;
        if u.query.is_some() {
            return Err(TreeError::NotAllowed);
        }
        self.require(&u.segments, AclCommand::Exec, server_id)?;
        node.exec.ok_or(TreeError::NotAllowed)
    }
}

/// A copy of `n` with every ACL emptied, not permanent, not executable.
fn strip_acls(mut n: Node) -> Node {
    n.acl = Acl::empty();
    n.permanent = false;
    n.exec = None;
    n.children = n.children.into_iter().map(strip_acls).collect();
    n
}

fn item_of(uri: &str, node: &Node, with_data: bool) -> GetItem {
    let data = if !with_data {
        None
    } else if node.is_interior() {
        // Get on an interior node lists its children's names (OMA-TS-DM_Protocol §6.5.7).
        Some(node.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join("/").into_bytes())
    } else {
        Some(node.value.clone())
    };
    GetItem { uri: uri.to_owned(), format: node.format.clone(), mime_type: node.mime_type.clone(), data }
}

/// A property's Format and value text (FACTS.md C.7).
fn property(node: &Node, name: &str) -> Result<(Format, String), TreeError> {
    Ok(match name {
        // Get on an empty ACL returns empty Data (not the inherited value).
        "ACL" => (Format::Chr, node.acl.to_string()),
        "Format" => (Format::Chr, node.format.as_str().to_owned()),
        "Name" => (Format::Chr, node.name.clone()),
        "Size" => (Format::Int, node.size().ok_or(TreeError::NotSupported)?.to_string()),
        "Title" => (Format::Chr, node.title.clone().unwrap_or_default()),
        "TStamp" => (Format::Chr, node.tstamp.clone().unwrap_or_default()),
        "Type" => (Format::Chr, node.mime_type.clone().unwrap_or_default()),
        "VerNo" => (Format::Int, node.ver_no.to_string()),
        _ => return Err(TreeError::NotSupported),
    })
}

/// Now as an ISO 8601 basic UTC time stamp, e.g. `20010711T163817Z` (FACTS.md C.7).
pub fn tstamp_now() -> String {
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    tstamp(secs)
}

/// Unix seconds as an ISO 8601 basic UTC time stamp.
pub fn tstamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRV: &str = "srvA";

    fn sample() -> Tree {
        let mut t = Tree::new("Add=*&Get=*");
        t.insert(
            ".",
            Node::interior("Vendor").with_acl("Add=*&Delete=*&Get=*&Replace=*&Exec=srvA").with_children([
                Node::text("Greeting", "hello"),
                Node::text("Run", "").executable(ExecAction::Plain),
                Node::interior("Secure")
                    .with_acl("Get=srvB&Replace=srvB")
                    .with_children([Node::text("Key", "k")]),
                Node::text("Fixed", "f").permanent(),
            ]),
        );
        t.insert(".", Node::interior("DevInfo").with_acl("Get=*").permanent());
        t.insert("./DevInfo", Node::text("Man", "Acme").permanent());
        t
    }

    fn text(v: &str) -> NewValue {
        NewValue { format: Some(Format::Chr), mime_type: None, data: v.as_bytes().to_vec() }
    }

    /// FACTS.md C.7: the grammar's own example round-trips.
    #[test]
    fn acl_grammar_example_round_trips() {
        let text = "Add=srvA&Delete=srvA&Replace=srvA+srvB&Get=*";
        let acl = Acl::parse(text).unwrap();
        assert_eq!(acl.to_string(), text);
        assert!(acl.allows(AclCommand::Replace, "srvB"));
        assert!(!acl.allows(AclCommand::Delete, "srvB"));
        assert!(acl.allows(AclCommand::Get, "anyone"));
        assert!(!acl.allows(AclCommand::Exec, "srvA"));
        assert_eq!(acl.ids(AclCommand::Replace), ["srvA", "srvB"]);
        assert_eq!("".parse::<Acl>().unwrap(), Acl::empty());
    }

    /// FACTS.md C.7: malformed ACLs are refused with the reason.
    #[test]
    fn acl_grammar_errors() {
        assert_eq!(Acl::parse("Get=*&"), Err(AclError::EmptyEntry));
        assert_eq!(Acl::parse("&Get=*"), Err(AclError::EmptyEntry));
        assert_eq!(Acl::parse("Get"), Err(AclError::MissingEquals("Get".into())));
        assert_eq!(Acl::parse("Copy=*"), Err(AclError::UnknownCommand("Copy".into())));
        assert_eq!(Acl::parse("get=*"), Err(AclError::UnknownCommand("get".into())));
        assert_eq!(Acl::parse("Get="), Err(AclError::EmptyId(AclCommand::Get)));
        assert_eq!(Acl::parse("Get=a++b"), Err(AclError::EmptyId(AclCommand::Get)));
        assert_eq!(Acl::parse("Get=a b"), Err(AclError::BadId("a b".into())));
        assert_eq!(Acl::parse("Get=a*"), Err(AclError::BadId("a*".into())));
        assert_eq!(Acl::parse("Get=a=b"), Err(AclError::BadId("a=b".into())));
        // A command named twice is merged.
        assert_eq!(Acl::parse("Get=a&Get=b&Get=a").unwrap().to_string(), "Get=a+b");
    }

    /// FACTS.md C.7: an empty ACL inherits the nearest ancestor's whole ACL.
    #[test]
    fn acl_inheritance_from_nearest_ancestor() {
        let t = sample();
        assert_eq!(
            t.effective_acl("./Vendor/Greeting").unwrap().to_string(),
            t.node("./Vendor").unwrap().acl.to_string()
        );
        assert_eq!(t.effective_acl("./Vendor/Secure/Key").unwrap().to_string(), "Get=srvB&Replace=srvB");
        assert_eq!(t.effective_acl("./Nope"), None);
        // Whole-ACL inheritance: Secure names no Add, and Vendor's Add=* does not leak through.
        assert!(!t.allows("./Vendor/Secure/Key", AclCommand::Add, SRV));
        assert!(t.allows("./Vendor/Greeting", AclCommand::Delete, SRV));
        assert_eq!(t.get("./Vendor/Secure/Key", SRV), Err(TreeError::PermissionDenied));
        assert!(t.get("./Vendor/Secure/Key", "srvB").is_ok());
        // Get on an empty ACL property returns empty data.
        let acl = t.get("./Vendor/Greeting?prop=ACL", SRV).unwrap();
        assert_eq!(acl[0].data.as_deref(), Some(&b""[..]));
        assert_eq!(acl[0].uri, "./Vendor/Greeting?prop=ACL");
    }

    /// OMA-TS-DM_Protocol §6.5: the status of each refusal.
    #[test]
    fn refusals_have_their_status_codes() {
        let mut t = sample();
        assert_eq!(t.get("./Vendor/Missing", SRV), Err(TreeError::NotFound));
        assert_eq!(t.add("./Vendor/Greeting", SRV, text("x")), Err(TreeError::AlreadyExists));
        assert_eq!(t.add("./DevInfo/New", SRV, text("x")), Err(TreeError::PermissionDenied));
        assert_eq!(t.replace("./DevInfo/Man", SRV, text("x")), Err(TreeError::PermissionDenied));
        assert_eq!(t.replace("./Vendor", SRV, text("x")), Err(TreeError::NotAllowed));
        assert_eq!(t.delete("./Vendor/Fixed", SRV), Err(TreeError::NotAllowed));
        assert_eq!(t.delete("./DevInfo/Man", SRV), Err(TreeError::PermissionDenied));
        assert_eq!(t.exec("./Vendor/Greeting", SRV), Err(TreeError::NotAllowed));
        assert_eq!(t.exec("./Vendor/Run", "srvB"), Err(TreeError::PermissionDenied));
        assert_eq!(t.exec("./Vendor/Run", SRV), Ok(ExecAction::Plain));
        assert_eq!(t.exec("./Vendor/Gone", SRV), Err(TreeError::NotFound));
        assert_eq!(t.get("./Vendor?prop=Colour", SRV), Err(TreeError::NotSupported));
        assert_eq!(t.get("./Vendor?list=TNDS", SRV), Err(TreeError::NotSupported));
        assert_eq!(t.get("./Vendor?prop=Size", SRV), Err(TreeError::NotSupported));
        assert_eq!(t.add("./Vendor/Greeting?prop=Title", SRV, text("x")), Err(TreeError::NotAllowed));
        assert_eq!(t.replace("./Vendor/Greeting?prop=Format", SRV, text("x")), Err(TreeError::NotAllowed));
        assert_eq!(t.get("./Vendor/../DevInfo", SRV), Err(TreeError::BadRequest));
        assert_eq!(TreeError::PermissionDenied.status(), StatusCode::PermissionDenied);
        assert_eq!(TreeError::AlreadyExists.status().code(), 418);
    }

    /// Values, interior lists, properties, structure, TStamp and VerNo.
    #[test]
    fn get_replace_properties_and_structure() {
        let mut t = sample();
        let v = t.get("./Vendor/Greeting", SRV).unwrap();
        assert_eq!((v[0].format.clone(), v[0].data.as_deref()), (Format::Chr, Some(&b"hello"[..])));
        let list = t.get("./Vendor", SRV).unwrap();
        assert_eq!(list[0].format, Format::Node);
        assert_eq!(list[0].data.as_deref(), Some(&b"Greeting/Run/Secure/Fixed"[..]));
        let ver = t.node("./Vendor/Greeting").unwrap().ver_no;
        t.replace("./Vendor/Greeting", SRV, text("bye")).unwrap();
        assert_eq!(t.text("./Vendor/Greeting").as_deref(), Some("bye"));
        let n = t.node("./Vendor/Greeting").unwrap();
        assert_eq!(n.ver_no, ver.wrapping_add(1));
        assert!(n.tstamp.as_deref().unwrap().ends_with('Z'));
        let size = t.get("./Vendor/Greeting?prop=Size", SRV).unwrap();
        assert_eq!(size[0].data.as_deref(), Some(&b"3"[..]));
        t.replace("./Vendor/Greeting?prop=Title", SRV, text("A greeting")).unwrap();
        assert_eq!(
            t.get("./Vendor/Greeting?prop=Title", SRV).unwrap()[0].data.as_deref(),
            Some(&b"A greeting"[..])
        );
        let s = t.get("./Vendor?list=Struct", SRV).unwrap();
        let uris: Vec<&str> = s.iter().map(|i| i.uri.as_str()).collect();
        // Secure and its child are not readable by srvA, so they are left out.
        assert_eq!(uris, ["./Vendor", "./Vendor/Greeting", "./Vendor/Run", "./Vendor/Fixed"]);
        assert!(s.iter().all(|i| i.data.is_none()));
        let sd = t.get("./Vendor?list=StructData", SRV).unwrap();
        assert_eq!(sd[1].data.as_deref(), Some(&b"bye"[..]));
        // Rename.
        t.replace("./Vendor/Greeting?prop=Name", SRV, text("Hello")).unwrap();
        assert!(t.node("./Vendor/Hello").is_some());
        assert_eq!(t.replace("./Vendor/Fixed?prop=Name", SRV, text("F")), Err(TreeError::NotAllowed));
        // FACTS.md C.7's example time stamp.
        assert_eq!(tstamp(994_869_497), "20010711T163817Z");
    }

    /// FACTS.md C.7: a new node gets an empty ACL; an interior node added without Replace on
    /// the parent gets Add, Delete and Replace for its creator. Missing parents are created.
    #[test]
    fn add_sets_acls_and_creates_parents() {
        let mut t = sample();
        t.add("./Vendor/Leaf", SRV, text("1")).unwrap();
        assert!(t.node("./Vendor/Leaf").unwrap().acl.is_empty());
        t.add("./Vendor/Dir", SRV, NewValue { format: Some(Format::Node), ..NewValue::default() }).unwrap();
        assert!(t.node("./Vendor/Dir").unwrap().acl.is_empty(), "Vendor grants Replace: inherit");
        // The root grants Add=* but not Replace.
        t.add("./NewMo", SRV, NewValue { format: Some(Format::Node), ..NewValue::default() }).unwrap();
        assert_eq!(t.node("./NewMo").unwrap().acl.to_string(), "Add=srvA&Delete=srvA&Replace=srvA");
        t.add("./Vendor/A/B/C", SRV, text("deep")).unwrap();
        assert!(t.node("./Vendor/A/B").unwrap().is_interior());
        assert_eq!(t.text("./Vendor/A/B/C").as_deref(), Some("deep"));
        assert_eq!(t.add("./Vendor/A/B/C/D", SRV, text("x")), Err(TreeError::NotAllowed), "under a leaf");
        t.delete("./Vendor/A", SRV).unwrap();
        assert!(t.node("./Vendor/A/B/C").is_none());
    }

    /// FACTS.md C.7: changing an ACL needs Replace on the parent (any node) or on the node
    /// itself (interior only); the root ACL cannot be emptied.
    #[test]
    fn replacing_acls() {
        let mut t = sample();
        // Leaf: Replace on the parent (Vendor grants it).
        t.replace("./Vendor/Greeting?prop=ACL", SRV, text("Get=srvB")).unwrap();
        assert_eq!(t.get("./Vendor/Greeting", SRV), Err(TreeError::PermissionDenied));
        // Interior: Secure grants srvB Replace on itself; its parent Vendor grants Replace=*.
        t.replace("./Vendor/Secure?prop=ACL", "srvB", text("Get=*")).unwrap();
        assert!(t.get("./Vendor/Secure/Key", SRV).is_ok());
        // DevInfo/Man: parent grants only Get.
        assert_eq!(t.replace("./DevInfo/Man?prop=ACL", SRV, text("Get=*")), Err(TreeError::PermissionDenied));
        assert_eq!(t.replace("./Vendor/Greeting?prop=ACL", SRV, text("Bad")), Err(TreeError::BadRequest));
        assert_eq!(t.replace(".?prop=ACL", SRV, text("")), Err(TreeError::PermissionDenied));
        let mut open = Tree::new("Add=*&Get=*&Replace=*");
        assert_eq!(open.replace(".?prop=ACL", SRV, text("")), Err(TreeError::NotAllowed));
    }

    /// Copy: a leaf onto a new node and onto an existing one; an interior subtree.
    #[test]
    fn copy_nodes() {
        let mut t = sample();
        t.copy("./Vendor/Greeting", "./Vendor/Copy", SRV).unwrap();
        assert_eq!(t.text("./Vendor/Copy").as_deref(), Some("hello"));
        t.replace("./Vendor/Copy", SRV, text("changed")).unwrap();
        t.copy("./Vendor/Copy", "./Vendor/Greeting", SRV).unwrap();
        assert_eq!(t.text("./Vendor/Greeting").as_deref(), Some("changed"));
        assert_eq!(t.copy("./Vendor/Secure/Key", "./Vendor/Stolen", SRV), Err(TreeError::PermissionDenied));
        assert_eq!(t.copy("./Vendor/None", "./Vendor/X", SRV), Err(TreeError::NotFound));
        t.add("./Vendor/Dir/Leaf", SRV, text("l")).unwrap();
        t.copy("./Vendor/Dir", "./Vendor/Dir2", SRV).unwrap();
        assert_eq!(t.text("./Vendor/Dir2/Leaf").as_deref(), Some("l"));
    }

    #[test]
    fn uri_forms() {
        assert_eq!(NodeUri::parse(".").unwrap().segments, Vec::<String>::new());
        assert_eq!(NodeUri::parse("./").unwrap().path(), ".");
        assert_eq!(NodeUri::parse("DevInfo/Man").unwrap().path(), "./DevInfo/Man");
        assert_eq!(NodeUri::parse("./DevInfo/").unwrap().path(), "./DevInfo");
        assert_eq!(NodeUri::parse("./A?prop=ACL").unwrap().query, Some(UriQuery::Prop("ACL".into())));
        assert_eq!(NodeUri::parse("./A?x=y"), Err(TreeError::NotSupported));
        assert_eq!(NodeUri::parse("./A//B"), Err(TreeError::BadRequest));
    }
}
