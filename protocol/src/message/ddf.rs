//! DDF / TNDS elements embedded in a `<Data>` (code page 2, namespace `syncml:dmddf1.2`),
//! kept as a plain element tree. Their meaning (MgmtTree, Node, RTProperties, ...) is given by
//! the TNDS and DDF modules built on top of this (OMA-TS-DM_TNDS-V1_2, OMA-TS-DM_TND-V1_2).

use crate::tag::DdfTag;

/// A node of an embedded DDF/TNDS tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DdfNode {
    /// An element and its children in order.
    Element {
        /// The element.
        tag: DdfTag,
        /// Its content.
        children: Vec<DdfNode>,
    },
    /// Character data.
    Text(String),
}
