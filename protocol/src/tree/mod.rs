//! The management tree as the server sees it: node URIs, ACLs, serialized subtrees (TNDS) and
//! device descriptions (DDF).
//!
//! - [`uri`]: node URIs (`./DMAcc/x/AppAddr`), their normal form, parents and segments, and
//!   the `?prop=` / `?list=` queries (OMA-TS-DM_TND-V1_2 "URI" and "Properties of nodes";
//!   FACTS.md C.7).
//! - [`acl`]: the ACL property: grammar, canonical form, inheritance from the nearest ancestor
//!   with a value, and whether a server holds the right a command needs (FACTS.md C.7, H.2).
//! - [`tnds`]: Tree and Description Serialization, `application/vnd.syncml.dmtnds+xml` and
//!   `+wbxml` (OMA-TS-DM_TNDS-V1_2; FACTS.md B.5, B.6), inline in an Item's Data or standalone.
//! - [`ddf`]: device descriptions (OMA-TS-DM_TND-V1_2 "Device Description Framework"): the
//!   model, the XML parser, placeholder-aware lookup and validation of queued commands.
//! - [`standard`]: the standard DDFs shipped with the crate (DevInfo, DevDetail, DMAcc for
//!   DM 1.2, the DM 1.1.2 `./SyncML` layout, FUMO; FACTS.md H.1, H.3, I.1, J.1, J.2).
//!
//! Everything here is sans-IO and total: any input yields a value or a typed error, never a
//! panic, and sizes and depths are bounded.

pub mod acl;
pub mod ddf;
mod elements;
pub mod standard;
pub mod tnds;
pub mod uri;

pub use acl::{Acl, AclCommand, AclError, Principal};
pub use ddf::{Ddf, DdfError, Violation};
pub use standard::StandardDdf;
pub use tnds::{MgmtTree, TndsError};
pub use uri::{NodeUri, Property, Query, TargetUri, UriError};

use crate::message::Command;

/// A management command acting on a node, as the DDF AccessType names them
/// (OMA-TS-DM_TND-V1_2 DDF "AccessType": Add, Copy, Delete, Exec, Get, Replace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    /// `<Add>`: create a node.
    Add,
    /// `<Copy>`: copy a node (the DDF AccessType of the source).
    Copy,
    /// `<Delete>`: remove a node and its subtree.
    Delete,
    /// `<Exec>`: run an executable node.
    Exec,
    /// `<Get>`: read a value, a property or a structure.
    Get,
    /// `<Replace>`: overwrite a value or a property.
    Replace,
}

impl Op {
    /// All operations, in AccessType (alphabetical) order.
    pub const ALL: [Op; 6] = [Op::Add, Op::Copy, Op::Delete, Op::Exec, Op::Get, Op::Replace];

    /// The element name (`Add`, `Copy`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Op::Add => "Add",
            Op::Copy => "Copy",
            Op::Delete => "Delete",
            Op::Exec => "Exec",
            Op::Get => "Get",
            Op::Replace => "Replace",
        }
    }

    /// The operation of a message command; `None` for Alert, Status, Results, containers.
    pub fn of_command(command: &Command) -> Option<Op> {
        Some(match command {
            Command::Add(_) => Op::Add,
            Command::Copy(_) => Op::Copy,
            Command::Delete(_) => Op::Delete,
            Command::Exec(_) => Op::Exec,
            Command::Get(_) => Op::Get,
            Command::Replace(_) => Op::Replace,
            _ => return None,
        })
    }

    /// The ACL command guarding this operation on its own node, `None` for Copy, which the
    /// ACL grammar does not name (its target needs Add, its source Get; FACTS.md C.7).
    pub const fn acl_command(self) -> Option<AclCommand> {
        match self {
            Op::Add => Some(AclCommand::Add),
            Op::Copy => None,
            Op::Delete => Some(AclCommand::Delete),
            Op::Exec => Some(AclCommand::Exec),
            Op::Get => Some(AclCommand::Get),
            Op::Replace => Some(AclCommand::Replace),
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
