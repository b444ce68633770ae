//! The ACL run-time property (OMA-TS-DM_TND-V1_2 "ACL"; FACTS.md C.7, H.2).
//!
//! Grammar (FACTS.md C.7):
//!
//! ```text
//! acl     = [entry *("&" entry)]        ; the empty string is the empty ACL
//! entry   = command "=" ids
//! ids     = id *("+" id)
//! command = "Add" / "Delete" / "Exec" / "Get" / "Replace"
//! id      = "*" / 1*(printable character except "=", "&", "*", "+" and whitespace)
//! ```
//!
//! e.g. `Add=srvA&Delete=srvA&Replace=srvA+srvB&Get=*`. A command with no ids is omitted.
//! The canonical form written by [`Acl`]'s `Display` lists commands in the order above and
//! the ids of each command with `*` first, then server ids in byte order.
//!
//! Inheritance: a node whose ACL is empty has the ACL of its nearest ancestor with a value,
//! as a whole (never per command); the root always has a value, by default `Add=*&Get=*`
//! ([`effective_acl`]). Rights to change an ACL: Replace on the node itself (interior nodes
//! only) or on its parent ([`required_rights`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use super::Op;
use super::uri::{NodeUri, Property, Query, TargetUri};

/// Longest ACL value accepted, in bytes.
pub const MAX_ACL_LEN: usize = 16 * 1024;

/// A command an ACL entry grants (no Copy; FACTS.md C.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclCommand {
    /// `Add`: create children of the node.
    Add,
    /// `Delete`.
    Delete,
    /// `Exec`.
    Exec,
    /// `Get`.
    Get,
    /// `Replace`: the value, and the ACL of the node's children.
    Replace,
}

impl AclCommand {
    /// All commands, in canonical order.
    pub const ALL: [AclCommand; 5] =
        [AclCommand::Add, AclCommand::Delete, AclCommand::Exec, AclCommand::Get, AclCommand::Replace];

    /// The name as written in an ACL.
    pub const fn name(self) -> &'static str {
        match self {
            AclCommand::Add => "Add",
            AclCommand::Delete => "Delete",
            AclCommand::Exec => "Exec",
            AclCommand::Get => "Get",
            AclCommand::Replace => "Replace",
        }
    }

    /// The command named `s`, ASCII-case-insensitively (devices vary in case).
    pub fn parse(s: &str) -> Option<AclCommand> {
        AclCommand::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for AclCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who an ACL entry names: everyone (`*`) or one server, by its ServerID (the DMAcc
/// `ServerID`, FACTS.md H.1).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// `*`: every server.
    Any,
    /// A ServerID.
    Server(ServerId),
}

impl Principal {
    /// Parses `*` or a ServerID.
    pub fn parse(s: &str) -> Result<Principal, AclError> {
        if s == "*" { Ok(Principal::Any) } else { ServerId::new(s).map(Principal::Server) }
    }

    /// Whether this principal covers the server `server_id`.
    pub fn covers(&self, server_id: &str) -> bool {
        match self {
            Principal::Any => true,
            Principal::Server(id) => id.as_str() == server_id,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Any => f.write_str("*"),
            Principal::Server(id) => f.write_str(id.as_str()),
        }
    }
}

/// A server identifier as it can appear in an ACL: non-empty, no whitespace or control
/// characters, none of `=`, `&`, `*`, `+`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(String);

impl ServerId {
    /// Checks `s` against the `id` rule of the grammar.
    pub fn new(s: &str) -> Result<ServerId, AclError> {
        if s.is_empty() {
            return Err(AclError::EmptyId);
        }
        if s.len() > MAX_ACL_LEN {
            return Err(AclError::TooLong { len: s.len(), limit: MAX_ACL_LEN });
        }
        if let Some(c) = s.chars().find(|&c| !is_id_char(c)) {
            return Err(AclError::BadIdChar { id: clip(s).to_owned(), c });
        }
        Ok(ServerId(s.to_owned()))
    }

    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters allowed in a server id.
fn is_id_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '=' | '&' | '*' | '+'))
}

/// Why an ACL string does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// Longer than [`MAX_ACL_LEN`].
    #[error("ACL of {len} bytes exceeds the limit of {limit}")]
    TooLong { len: usize, limit: usize },
    /// `&&`, a leading or a trailing `&`.
    #[error("empty entry {index} in the ACL")]
    EmptyEntry { index: usize },
    /// An entry without `=`.
    #[error("ACL entry {entry:?} has no `=`")]
    MissingEquals { entry: String },
    /// A command other than Add, Delete, Exec, Get, Replace.
    #[error("unknown ACL command {0:?} (expected Add, Delete, Exec, Get or Replace)")]
    UnknownCommand(String),
    /// `Get=` or `Get=a++b`.
    #[error("empty server id in the ACL")]
    EmptyId,
    /// An id with a forbidden character.
    #[error("server id {id:?} contains the forbidden character {c:?}")]
    BadIdChar { id: String, c: char },
}

/// An Access Control List: for each command, the set of principals granted it. Commands
/// without principals are absent; the empty ACL means "inherit" ([`effective_acl`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Acl {
    entries: BTreeMap<AclCommand, BTreeSet<Principal>>,
}

impl Acl {
    /// The empty ACL.
    pub fn new() -> Acl {
        Acl::default()
    }

    /// The default ACL of the root: `Add=*&Get=*` (FACTS.md C.7).
    pub fn root_default() -> Acl {
        let mut acl = Acl::new();
        acl.grant(AclCommand::Add, Principal::Any);
        acl.grant(AclCommand::Get, Principal::Any);
        acl
    }

    /// The ACL a client sets on a node created by bootstrap (CP w7 or a DM-profile
    /// bootstrap): Get, Replace and Delete for the provisioned server (FACTS.md H.2),
    /// `Delete=id&Get=id&Replace=id`.
    pub fn bootstrap(server_id: &ServerId) -> Acl {
        Acl::granting(server_id, &[AclCommand::Delete, AclCommand::Get, AclCommand::Replace])
    }

    /// The ACL a device gives an interior node Added by a server that has no Replace right
    /// on the parent: Add, Delete and Replace for that server (FACTS.md C.7).
    pub fn added_interior(server_id: &ServerId) -> Acl {
        Acl::granting(server_id, &[AclCommand::Add, AclCommand::Delete, AclCommand::Replace])
    }

    fn granting(server_id: &ServerId, commands: &[AclCommand]) -> Acl {
        let mut acl = Acl::new();
        for &command in commands {
            acl.grant(command, Principal::Server(server_id.clone()));
        }
        acl
    }

    /// Parses an ACL value. Surrounding whitespace is ignored; the empty string is the empty
    /// ACL; a command given twice gets the union of its ids. Command names are matched
    /// ASCII-case-insensitively.
    pub fn parse(s: &str) -> Result<Acl, AclError> {
        if s.len() > MAX_ACL_LEN {
            return Err(AclError::TooLong { len: s.len(), limit: MAX_ACL_LEN });
        }
        let s = s.trim();
        let mut acl = Acl::new();
        if s.is_empty() {
            return Ok(acl);
        }
        for (index, entry) in s.split('&').enumerate() {
            if entry.is_empty() {
                return Err(AclError::EmptyEntry { index });
            }
            let Some((command, ids)) = entry.split_once('=') else {
                return Err(AclError::MissingEquals { entry: clip(entry).to_owned() });
            };
            let command = AclCommand::parse(command)
                .ok_or_else(|| AclError::UnknownCommand(clip(command).to_owned()))?;
            for id in ids.split('+') {
                acl.grant(command, Principal::parse(id)?);
            }
        }
        Ok(acl)
    }

    /// Whether no command is granted to anyone (the node inherits).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `command` is granted to the server `server_id`, directly or through `*`.
    pub fn allows(&self, command: AclCommand, server_id: &str) -> bool {
        self.entries.get(&command).is_some_and(|ids| ids.iter().any(|p| p.covers(server_id)))
    }

    /// The principals granted `command` (empty if none).
    pub fn principals(&self, command: AclCommand) -> impl Iterator<Item = &Principal> {
        self.entries.get(&command).into_iter().flatten()
    }

    /// The granted commands with their principals, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (AclCommand, &BTreeSet<Principal>)> {
        self.entries.iter().map(|(c, ids)| (*c, ids))
    }

    /// Grants `command` to `principal`.
    pub fn grant(&mut self, command: AclCommand, principal: Principal) {
        self.entries.entry(command).or_default().insert(principal);
    }

    /// Revokes `command` from `principal` (not from others covered by `*`); a command left
    /// without principals disappears.
    pub fn revoke(&mut self, command: AclCommand, principal: &Principal) {
        if let Some(ids) = self.entries.get_mut(&command) {
            ids.remove(principal);
            if ids.is_empty() {
                self.entries.remove(&command);
            }
        }
    }
}

impl fmt::Display for Acl {
    /// The canonical form: commands in [`AclCommand::ALL`] order, `*` first, ids sorted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (command, ids)) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("&")?;
            }
            write!(f, "{command}=")?;
            for (j, id) in ids.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{id}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Acl {
    type Err = AclError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Acl::parse(s)
    }
}

/// The ACL in force on a node and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveAcl {
    /// The ACL.
    pub acl: Acl,
    /// The node that holds it: the node itself or its nearest ancestor with a non-empty ACL;
    /// `None` when no node up to the root has one and the root default `Add=*&Get=*` applies.
    pub source: Option<NodeUri>,
}

/// The ACL in force on `uri`: its own if not empty, else that of the nearest ancestor with a
/// non-empty ACL, else the root default `Add=*&Get=*` (FACTS.md C.7). `lookup` returns the
/// stored ACL of a node by its normal-form URI (`.`, `./A/B`), `None` if unknown.
pub fn effective_acl(uri: &NodeUri, lookup: impl Fn(&str) -> Option<Acl>) -> EffectiveAcl {
    for node in uri.ancestors() {
        if let Some(acl) = lookup(node.as_str()).filter(|acl| !acl.is_empty()) {
            return EffectiveAcl { acl, source: Some(node) };
        }
    }
    EffectiveAcl { acl: Acl::root_default(), source: None }
}

/// Whether the target of a command is known to be an interior node, a leaf, or neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// Format `node`.
    Interior,
    /// Any other format.
    Leaf,
    /// Not known to the server; treated like an interior node, the more permissive case
    /// (the device has the last word with 425).
    Unknown,
}

/// One right: `command` on the node `uri`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Right {
    /// The node whose ACL must grant it.
    pub uri: NodeUri,
    /// The command.
    pub command: AclCommand,
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.command, self.uri)
    }
}

/// The rights any one of which lets a server perform `op` on `target` (OMA-TS-DM_TND-V1_2
/// "ACL"; FACTS.md C.7):
///
/// - Get (of a value, a property or a `?list=`): Get on the node.
/// - Add and Copy: Add on the parent of the new node (Copy also needs Get on its source,
///   which the caller checks as a Get).
/// - Delete, Exec, Replace of a value: that command on the node.
/// - Replace of `?prop=ACL`: Replace on the parent; for an interior node Replace on the node
///   itself also suffices. The root has no parent: Replace on the root.
/// - Replace of `?prop=Name` or `?prop=Title`: Replace on the node.
///
/// Operations properties do not support (Add, Delete, Exec, Copy on `?prop=`; Replace of a
/// read-only property) need no right: the device answers 405, and [`super::ddf`] reports it.
pub fn required_rights(op: Op, target: &TargetUri, kind: NodeKind) -> Vec<Right> {
    let node = &target.uri;
    let on = |uri: &NodeUri, command| Right { uri: uri.clone(), command };
    let parent_or_self = node.parent().unwrap_or_else(|| node.clone());
    match (op, &target.query) {
        (Op::Get, _) => vec![on(node, AclCommand::Get)],
        (Op::Replace, Some(Query::Prop(Property::Acl))) => {
            let mut rights = vec![on(&parent_or_self, AclCommand::Replace)];
            if kind != NodeKind::Leaf && !node.is_root() {
                rights.insert(0, on(node, AclCommand::Replace));
            }
            rights
        }
        (_, Some(Query::Prop(p))) if op == Op::Replace && p.replaceable() => {
            vec![on(node, AclCommand::Replace)]
        }
        (_, Some(_)) => Vec::new(),
        (Op::Add | Op::Copy, None) => vec![on(&parent_or_self, AclCommand::Add)],
        (Op::Delete, None) => vec![on(node, AclCommand::Delete)],
        (Op::Exec, None) => vec![on(node, AclCommand::Exec)],
        (Op::Replace, None) => vec![on(node, AclCommand::Replace)],
    }
}

/// A server lacks the right a command needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {target} needs {needed} (effective ACL `{acl}` from {from})")]
pub struct AclDenied {
    /// The operation.
    pub op: Op,
    /// Its target.
    pub target: String,
    /// The first right that would have sufficed.
    pub needed: Right,
    /// The effective ACL of that right's node.
    pub acl: Acl,
    /// Where that ACL comes from (`root default` if no node has one).
    pub from: String,
}

/// Decides whether the server `server_id` may perform `op` on `target`, given the ACLs the
/// server knows of the device's nodes (`lookup`, as for [`effective_acl`]). Returns the first
/// missing right when none of the [`required_rights`] is held.
pub fn check(
    op: Op,
    target: &TargetUri,
    kind: NodeKind,
    server_id: &str,
    lookup: impl Fn(&str) -> Option<Acl>,
) -> Result<(), AclDenied> {
    let rights = required_rights(op, target, kind);
    let mut first_denial = None;
    for right in rights {
        let effective = effective_acl(&right.uri, &lookup);
        if effective.acl.allows(right.command, server_id) {
            return Ok(());
        }
        if first_denial.is_none() {
            first_denial = Some(AclDenied {
                op,
                target: target.to_string(),
                from: effective.source.map_or_else(|| "root default".to_owned(), |s| s.to_string()),
                needed: right,
                acl: effective.acl,
            });
        }
    }
    match first_denial {
        Some(denied) => Err(denied),
        None => Ok(()),
    }
}

/// At most 64 bytes of `s`, cut at a character boundary, for error messages.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn facts_example() {
        let acl = Acl::parse("Add=srvA&Delete=srvA&Replace=srvA+srvB&Get=*").unwrap();
        assert!(acl.allows(AclCommand::Replace, "srvB"));
        assert!(acl.allows(AclCommand::Get, "anyone"));
        assert!(!acl.allows(AclCommand::Add, "srvB"));
        assert!(!acl.allows(AclCommand::Exec, "srvA"));
        assert_eq!(acl.to_string(), "Add=srvA&Delete=srvA&Get=*&Replace=srvA+srvB");
    }

    #[test]
    fn canonical_and_lenient() {
        assert_eq!(Acl::parse("").unwrap(), Acl::new());
        assert_eq!(Acl::parse("  \n").unwrap().to_string(), "");
        assert_eq!(Acl::parse("get=b+a+*&Get=c").unwrap().to_string(), "Get=*+a+b+c");
        assert_eq!(Acl::root_default().to_string(), "Add=*&Get=*");
    }

    #[test]
    fn errors() {
        assert_eq!(Acl::parse("Get=*&"), Err(AclError::EmptyEntry { index: 1 }));
        assert_eq!(Acl::parse("&Get=*"), Err(AclError::EmptyEntry { index: 0 }));
        assert!(matches!(Acl::parse("Get"), Err(AclError::MissingEquals { .. })));
        assert!(matches!(Acl::parse("Copy=*"), Err(AclError::UnknownCommand(_))));
        assert_eq!(Acl::parse("Get="), Err(AclError::EmptyId));
        assert_eq!(Acl::parse("Get=a++b"), Err(AclError::EmptyId));
        assert!(matches!(Acl::parse("Get=a b"), Err(AclError::BadIdChar { c: ' ', .. })));
        assert!(matches!(Acl::parse("Get=a*"), Err(AclError::BadIdChar { c: '*', .. })));
        assert!(matches!(Acl::parse("Get=a=b"), Err(AclError::BadIdChar { c: '=', .. })));
        assert!(matches!(Acl::parse(&"x".repeat(MAX_ACL_LEN + 1)), Err(AclError::TooLong { .. })));
    }

    #[test]
    fn inheritance() {
        let mut acls: HashMap<String, Acl> = HashMap::new();
        acls.insert("./DMAcc".into(), Acl::parse("Get=srv&Add=srv").unwrap());
        acls.insert("./DMAcc/x/AppAuth".into(), Acl::new());
        let lookup = |u: &str| acls.get(u).cloned();
        let e = effective_acl(&NodeUri::parse("./DMAcc/x/AppAuth").unwrap(), lookup);
        assert_eq!(e.source.unwrap().as_str(), "./DMAcc");
        assert_eq!(e.acl.to_string(), "Add=srv&Get=srv");
        let e = effective_acl(&NodeUri::parse("./DevInfo/Man").unwrap(), lookup);
        assert_eq!(e, EffectiveAcl { acl: Acl::root_default(), source: None });
        acls.insert(".".into(), Acl::parse("Get=*").unwrap());
        let e = effective_acl(&NodeUri::parse("./DevInfo/Man").unwrap(), |u: &str| acls.get(u).cloned());
        assert_eq!(e.source.unwrap().as_str(), ".");
    }

    #[test]
    fn acl_replace_rights() {
        let t = TargetUri::parse("./A/B?prop=ACL").unwrap();
        let leaf = required_rights(Op::Replace, &t, NodeKind::Leaf);
        assert_eq!(leaf, vec![Right { uri: NodeUri::parse("./A").unwrap(), command: AclCommand::Replace }]);
        let interior = required_rights(Op::Replace, &t, NodeKind::Interior);
        assert_eq!(interior.len(), 2);
        assert_eq!(interior[0].uri.as_str(), "./A/B");
        let root = required_rights(Op::Replace, &TargetUri::parse(".?prop=ACL").unwrap(), NodeKind::Interior);
        assert_eq!(root, vec![Right { uri: NodeUri::root(), command: AclCommand::Replace }]);
        assert!(
            required_rights(Op::Add, &TargetUri::parse("./A?prop=ACL").unwrap(), NodeKind::Leaf).is_empty()
        );
    }

    #[test]
    fn check_commands() {
        let mut acls: HashMap<String, Acl> = HashMap::new();
        acls.insert("./A".into(), Acl::parse("Add=s1&Get=*&Replace=s1").unwrap());
        acls.insert("./A/B".into(), Acl::parse("Get=s2&Replace=s2").unwrap());
        let lookup = |u: &str| acls.get(u).cloned();
        let t = |s: &str| TargetUri::parse(s).unwrap();
        assert!(check(Op::Add, &t("./A/C"), NodeKind::Unknown, "s1", lookup).is_ok());
        let denied = check(Op::Add, &t("./A/C"), NodeKind::Unknown, "s2", lookup).unwrap_err();
        assert_eq!(denied.needed.uri.as_str(), "./A");
        assert!(check(Op::Get, &t("./A/C"), NodeKind::Leaf, "s3", lookup).is_ok());
        assert!(check(Op::Get, &t("./A/B"), NodeKind::Leaf, "s1", lookup).is_err());
        // ACL of the leaf ./A/B: Replace on ./A only.
        assert!(check(Op::Replace, &t("./A/B?prop=ACL"), NodeKind::Leaf, "s1", lookup).is_ok());
        assert!(check(Op::Replace, &t("./A/B?prop=ACL"), NodeKind::Leaf, "s2", lookup).is_err());
        // Interior ./A/B: its own Replace suffices.
        assert!(check(Op::Replace, &t("./A/B?prop=ACL"), NodeKind::Interior, "s2", lookup).is_ok());
        // Root default Add=*&Get=*.
        assert!(check(Op::Add, &t("./X"), NodeKind::Unknown, "anyone", lookup).is_ok());
        assert!(check(Op::Delete, &t("./X"), NodeKind::Unknown, "anyone", lookup).is_err());
    }

    #[test]
    fn bootstrap_helpers() {
        let id = ServerId::new("com.mgmtsrv.manage").unwrap();
        assert_eq!(
            Acl::bootstrap(&id).to_string(),
            "Delete=com.mgmtsrv.manage&Get=com.mgmtsrv.manage&Replace=com.mgmtsrv.manage"
        );
        assert_eq!(
            Acl::added_interior(&id).to_string(),
            "Add=com.mgmtsrv.manage&Delete=com.mgmtsrv.manage&Replace=com.mgmtsrv.manage"
        );
        let mut acl = Acl::bootstrap(&id);
        acl.revoke(AclCommand::Get, &Principal::Server(id.clone()));
        assert!(!acl.allows(AclCommand::Get, id.as_str()));
        assert_eq!(acl.principals(AclCommand::Get).count(), 0);
        assert!(ServerId::new("").is_err());
    }
}
