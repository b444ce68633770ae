//! Tree and Description Serialization (OMA-TS-DM_TNDS-V1_2; DTD of OMA-TS-DM_TND-V1_2;
//! FACTS.md B.5, B.6, C.7): a management subtree as a document, used to Add whole subtrees
//! (bootstrap, FACTS.md G.5) and returned by `Get <uri>?list=TNDS`.
//!
//! ```text
//! MgmtTree     (VerDTD, Man?, Mod?, Node+)
//! Node         (NodeName, Path?, RTProperties?, (Node* | Value?))
//! RTProperties (ACL?, Format?, Name?, Size?, Title?, TStamp?, Type, VerNo?)
//! Format       (b64 | bin | bool | chr | int | node | null | xml | date | time | float)
//! Type         (MIME | DDFName)
//! ```
//!
//! Three carriers, one model ([`MgmtTree`]):
//! - inline in an Item's `<Data>` of a SyncML message: the element tree
//!   ([`Vec<DdfNode>`](crate::message::ddf::DdfNode), namespace `syncml:dmddf1.2` in XML,
//!   code page 2 in WBXML) — [`MgmtTree::to_elements`] / [`MgmtTree::from_elements`];
//!   libwbxml instead embeds a whole WBXML TNDS document as OPAQUE (FACTS.md B.5), which
//!   [`MgmtTree::from_data`] also reads;
//! - a standalone XML document, `application/vnd.syncml.dmtnds+xml`, root
//!   `<MgmtTree xmlns="syncml:dmddf1.2">` — [`MgmtTree::to_xml`] / [`MgmtTree::from_xml`];
//! - a standalone WBXML document, `application/vnd.syncml.dmtnds+wbxml`, with the FPI
//!   `-//OMA//DTD-DM-DDF 1.2//EN` in the string table and code page 2 —
//!   [`MgmtTree::to_wbxml`] / [`MgmtTree::from_wbxml`].
//!
//! Decoding is lenient where devices are sloppy (missing VerDTD or NodeName read as empty,
//! unknown elements skipped, identifiers trimmed) and strict where the meaning would be lost
//! (a Node with both a Value and child Nodes, a non-numeric Size or VerNo).

use crate::error::DecodeError;
use crate::event::Sink;
use crate::limits::Limits;
use crate::message::ddf::DdfNode as Element;
use crate::message::{Data, Format};
use crate::tag::{DdfTag, NS_DMDDF, Tag};
use crate::wbxml::WbxmlReader;
use crate::xml::{XmlReader, XmlWriter};

use super::elements::{DdfWbxmlWriter, ElementSink, elements_of, read_document, text_of};
use super::uri::{NodeUri, UriError};

/// Content type of a TNDS XML document (FACTS.md B.6).
pub const CONTENT_TYPE_XML: &str = "application/vnd.syncml.dmtnds+xml";
/// Content type of a TNDS WBXML document (FACTS.md B.6).
pub const CONTENT_TYPE_WBXML: &str = "application/vnd.syncml.dmtnds+wbxml";
/// The VerDTD of DM 1.2 TNDS documents.
pub const VER_DTD: &str = "1.2";

/// Deepest Node nesting accepted when reading (a node URI has at most 32 segments; a
/// subtree Added below a target is shallower still).
pub const MAX_NODE_DEPTH: usize = 40;

/// Limits for standalone TNDS documents: [`Limits::DEFAULT`] with room for
/// [`MAX_NODE_DEPTH`] nested Nodes plus MgmtTree, RTProperties, Format and its child.
pub const LIMITS: Limits = Limits { max_depth: MAX_NODE_DEPTH + 4, ..Limits::DEFAULT };

/// Why a TNDS document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TndsError {
    /// The XML or WBXML itself is malformed or exceeds the limits.
    #[error("TNDS document: {0}")]
    Decode(#[from] DecodeError),
    /// Well-formed, but not a valid TNDS tree.
    #[error("TNDS <{element}>: {reason}")]
    Structure {
        /// The element at fault.
        element: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A node name or Path that does not form a valid node URI.
    #[error("TNDS node URI: {0}")]
    Uri(#[from] UriError),
    /// Two nodes with the same URI (when flattening or unflattening).
    #[error("TNDS holds the node {0} twice")]
    Duplicate(String),
    /// Nodes nest deeper than [`MAX_NODE_DEPTH`].
    #[error("TNDS nodes nest deeper than {MAX_NODE_DEPTH}")]
    TooDeep,
    /// The Data holds no MgmtTree.
    #[error("the data holds no TNDS <MgmtTree>")]
    NoTree,
}

fn structure(element: &'static str, reason: impl Into<String>) -> TndsError {
    TndsError::Structure { element, reason: reason.into() }
}

/// The Type property: a MIME type (leaves) or a DDF name / MO identifier (interior nodes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// `<MIME>`, e.g. `text/plain`.
    Mime(String),
    /// `<DDFName>`, e.g. `urn:oma:mo:oma-dm-dmacc:1.0` or `org.openmobilealliance/1.0/w7`.
    DdfName(String),
}

impl NodeType {
    /// The type string, whichever kind.
    pub fn as_str(&self) -> &str {
        match self {
            NodeType::Mime(s) | NodeType::DdfName(s) => s,
        }
    }
}

/// The run-time properties of a node (OMA-TS-DM_TND-V1_2 "Properties of nodes"; FACTS.md
/// C.7). All are optional in a TNDS document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RtProperties {
    /// `ACL`, as written (parse with [`super::acl::Acl::parse`]).
    pub acl: Option<String>,
    /// `Format`.
    pub format: Option<Format>,
    /// `Name`.
    pub name: Option<String>,
    /// `Size`, in bytes of the unencoded value (leaves only).
    pub size: Option<u64>,
    /// `Title`, verbatim.
    pub title: Option<String>,
    /// `TStamp`, ISO 8601 (e.g. `20010711T163817Z`).
    pub tstamp: Option<String>,
    /// `Type`.
    pub type_: Option<NodeType>,
    /// `VerNo`, 16 bits.
    pub ver_no: Option<u16>,
}

impl RtProperties {
    /// Whether no property is set (the element is then not written).
    pub fn is_empty(&self) -> bool {
        *self == RtProperties::default()
    }
}

/// A `<Node>` of a TNDS tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Node {
    /// `<NodeName>`: one URI segment.
    pub node_name: String,
    /// `<Path>`: the URI of the parent, absolute (`./A`) or relative to the base the tree is
    /// placed at; normally only on top-level nodes.
    pub path: Option<String>,
    /// `<RTProperties>`; not written when empty.
    pub rt_properties: RtProperties,
    /// `<Value>` of a leaf.
    pub value: Option<String>,
    /// Child `<Node>`s of an interior node.
    pub children: Vec<Node>,
}

impl Node {
    /// A leaf named `name` with a value.
    pub fn leaf(name: impl Into<String>, value: impl Into<String>) -> Node {
        Node { node_name: name.into(), value: Some(value.into()), ..Node::default() }
    }

    /// An interior node (Format `node`) named `name`.
    pub fn interior(name: impl Into<String>, children: Vec<Node>) -> Node {
        Node {
            node_name: name.into(),
            rt_properties: RtProperties { format: Some(Format::Node), ..RtProperties::default() },
            children,
            ..Node::default()
        }
    }
}

/// A TNDS document: `<MgmtTree>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MgmtTree {
    /// `<VerDTD>`, `1.2`.
    pub ver_dtd: String,
    /// `<Man>`: manufacturer of the device the tree comes from.
    pub man: Option<String>,
    /// `<Mod>`: its model.
    pub mod_: Option<String>,
    /// The top-level `<Node>`s.
    pub nodes: Vec<Node>,
}

impl Default for MgmtTree {
    fn default() -> Self {
        MgmtTree { ver_dtd: VER_DTD.to_owned(), man: None, mod_: None, nodes: Vec::new() }
    }
}

/// A node of a flattened tree: its URI, properties and value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlatNode {
    /// The node's URI.
    pub uri: NodeUri,
    /// Its run-time properties.
    pub properties: RtProperties,
    /// Its value (leaves).
    pub value: Option<String>,
}

impl MgmtTree {
    /// A DM 1.2 tree holding `nodes`.
    pub fn new(nodes: Vec<Node>) -> MgmtTree {
        MgmtTree { nodes, ..MgmtTree::default() }
    }

    // ---- element trees (inline in Data) ----

    /// The tree as DDF elements: one `MgmtTree` element, as `Data::Ddf` carries it.
    pub fn to_elements(&self) -> Vec<Element> {
        let mut sink = ElementSink::default();
        self.write(&mut sink);
        sink.finish()
    }

    /// Reads the tree from the elements of an Item's Data: the first `MgmtTree` element.
    pub fn from_elements(elements: &[Element]) -> Result<MgmtTree, TndsError> {
        let children = elements_of(elements)
            .find(|(tag, _)| *tag == DdfTag::MgmtTree)
            .map(|(_, children)| children)
            .ok_or(TndsError::NoTree)?;
        tree_from(children)
    }

    /// The tree as the Data of an Item carrying it inline (`Data::Ddf`). With the Item's
    /// Meta Type [`CONTENT_TYPE_XML`] in an XML message, or [`CONTENT_TYPE_WBXML`] in a
    /// WBXML one (the message codec writes it on code page 2).
    pub fn to_data(&self) -> Data {
        Data::Ddf(self.to_elements())
    }

    /// The tree as the Data of an Item in a WBXML message, the libwbxml way: a whole WBXML
    /// TNDS document as OPAQUE (FACTS.md B.5). Meta Type [`CONTENT_TYPE_WBXML`].
    pub fn to_opaque_data(&self) -> Data {
        Data::Opaque(self.to_wbxml())
    }

    /// Reads the tree from an Item's Data in any of the forms devices use: inline elements,
    /// an OPAQUE WBXML or XML document, or XML text (escaped or CDATA).
    pub fn from_data(data: &Data, limits: &Limits) -> Result<MgmtTree, TndsError> {
        match data {
            Data::Ddf(elements) => MgmtTree::from_elements(elements),
            Data::Opaque(bytes) => MgmtTree::decode(bytes, limits),
            Data::Text(text) => MgmtTree::decode(text.as_bytes(), limits),
        }
    }

    // ---- standalone documents ----

    /// A standalone XML document (`application/vnd.syncml.dmtnds+xml`), compact.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut w = XmlWriter::new(NS_DMDDF);
        self.write(&mut w);
        w.finish()
    }

    /// A standalone XML document, indented.
    pub fn to_xml_pretty(&self) -> Vec<u8> {
        let mut w = XmlWriter::pretty(NS_DMDDF);
        self.write(&mut w);
        w.finish()
    }

    /// A standalone WBXML document (`application/vnd.syncml.dmtnds+wbxml`): WBXML 1.2, the
    /// FPI `-//OMA//DTD-DM-DDF 1.2//EN` in the string table, UTF-8, code page 2; the bytes
    /// libwbxml's `xml2wbxml -v 1.2 -n` writes for the same tree.
    pub fn to_wbxml(&self) -> Vec<u8> {
        let mut w = DdfWbxmlWriter::new();
        self.write(&mut w);
        w.finish()
    }

    /// Reads a standalone XML document. Leading whitespace is skipped.
    pub fn from_xml(bytes: &[u8], limits: &Limits) -> Result<MgmtTree, TndsError> {
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
        let mut reader = XmlReader::new(&bytes[start..], limits)?;
        MgmtTree::from_root(&read_document(&mut reader)?)
    }

    /// Reads a standalone WBXML document, whatever its public id (the FPI, numeric
    /// "unknown", ...): the code-page-2 tokens decide.
    pub fn from_wbxml(bytes: &[u8], limits: &Limits) -> Result<MgmtTree, TndsError> {
        let mut reader = WbxmlReader::new(bytes, limits)?;
        MgmtTree::from_root(&read_document(&mut reader)?)
    }

    /// Reads a standalone document, detecting XML or WBXML from the first byte.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<MgmtTree, TndsError> {
        match bytes.first() {
            Some(0x01..=0x03) => MgmtTree::from_wbxml(bytes, limits),
            _ => MgmtTree::from_xml(bytes, limits),
        }
    }

    fn from_root(root: &Element) -> Result<MgmtTree, TndsError> {
        match root {
            Element::Element { tag: DdfTag::MgmtTree, children } => tree_from(children),
            _ => Err(TndsError::NoTree),
        }
    }

    /// Writes the tree to any sink (XML writer, WBXML writer, element builder).
    pub fn write(&self, sink: &mut impl Sink) {
        sink.start(ddf(DdfTag::MgmtTree));
        sink.leaf(ddf(DdfTag::VerDTD), &self.ver_dtd);
        if let Some(man) = &self.man {
            sink.leaf(ddf(DdfTag::Man), man);
        }
        if let Some(m) = &self.mod_ {
            sink.leaf(ddf(DdfTag::Mod), m);
        }
        for node in &self.nodes {
            write_node(node, sink);
        }
        sink.end();
    }

    // ---- flat form ----

    /// The nodes in document order (parents before children) with their URIs. A node's
    /// parent is its `Path` when it has one (resolved against `base` when relative,
    /// [`NodeUri::resolve`]), else the enclosing node, else `base` — for an Add, the Add's
    /// target; for `?list=TNDS` results, the devices' top-level Paths are absolute. A
    /// top-level node named `.` without Path is the root itself.
    pub fn flatten(&self, base: &NodeUri) -> Result<Vec<FlatNode>, TndsError> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for node in &self.nodes {
            let uri = if node.node_name == "." && node.path.is_none() {
                NodeUri::root()
            } else {
                node_uri(base, base, node)?
            };
            flatten_node(node, uri, base, 1, &mut out, &mut seen)?;
        }
        Ok(out)
    }

    /// Builds a tree from flat nodes (any order; parents need not be present). Nodes whose
    /// parent is among `nodes` become its children, in input order; the others are top-level
    /// nodes with `Path` = their parent URI, or no Path when the parent is `base`. The root
    /// `.` becomes a top-level node named `.`. Inverse of [`flatten`](Self::flatten) for
    /// nodes given in document order.
    pub fn unflatten(nodes: &[FlatNode], base: Option<&NodeUri>) -> Result<MgmtTree, TndsError> {
        use std::collections::HashMap;
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            if index.insert(node.uri.as_str(), i).is_some() {
                return Err(TndsError::Duplicate(node.uri.to_string()));
            }
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
        let mut top = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            match node.uri.parent().and_then(|p| index.get(p.as_str()).copied()) {
                Some(parent) => children[parent].push(i),
                None => top.push(i),
            }
        }
        let build_top = |i: usize| {
            let flat = &nodes[i];
            let mut node = build(nodes, &children, i);
            match flat.uri.parent() {
                None => node.node_name = ".".to_owned(),
                Some(parent) if Some(&parent) == base => {}
                Some(parent) => node.path = Some(parent.to_string()),
            }
            node
        };
        Ok(MgmtTree::new(top.into_iter().map(build_top).collect()))
    }
}

/// The URI of `node`, child of `parent` unless it has a Path.
fn node_uri(parent: &NodeUri, base: &NodeUri, node: &Node) -> Result<NodeUri, TndsError> {
    let parent = match &node.path {
        Some(path) => NodeUri::resolve(base, path)?,
        None => parent.clone(),
    };
    Ok(parent.join(&node.node_name)?)
}

fn flatten_node(
    node: &Node,
    uri: NodeUri,
    base: &NodeUri,
    depth: usize,
    out: &mut Vec<FlatNode>,
    seen: &mut std::collections::HashSet<NodeUri>,
) -> Result<(), TndsError> {
    if depth > MAX_NODE_DEPTH {
        return Err(TndsError::TooDeep);
    }
    if !seen.insert(uri.clone()) {
        return Err(TndsError::Duplicate(uri.to_string()));
    }
    out.push(FlatNode {
        uri: uri.clone(),
        properties: node.rt_properties.clone(),
        value: node.value.clone(),
    });
    for child in &node.children {
        let child_uri = node_uri(&uri, base, child)?;
        flatten_node(child, child_uri, base, depth + 1, out, seen)?;
    }
    Ok(())
}

/// Node `i` of a flat list with its descendants (depth bounded by the URI depth limit).
fn build(nodes: &[FlatNode], children: &[Vec<usize>], i: usize) -> Node {
    let flat = &nodes[i];
    Node {
        node_name: flat.uri.name().unwrap_or(".").to_owned(),
        path: None,
        rt_properties: flat.properties.clone(),
        value: flat.value.clone(),
        children: children[i].iter().map(|&c| build(nodes, children, c)).collect(),
    }
}

const fn ddf(tag: DdfTag) -> Tag {
    Tag::Ddf(tag)
}

fn write_node(node: &Node, sink: &mut impl Sink) {
    sink.start(ddf(DdfTag::Node));
    sink.leaf(ddf(DdfTag::NodeName), &node.node_name);
    if let Some(path) = &node.path {
        sink.leaf(ddf(DdfTag::Path), path);
    }
    if !node.rt_properties.is_empty() {
        write_rt_properties(&node.rt_properties, sink);
    }
    for child in &node.children {
        write_node(child, sink);
    }
    if let Some(value) = &node.value {
        sink.leaf(ddf(DdfTag::Value), value);
    }
    sink.end();
}

/// Writes `<RTProperties>` in DTD order.
pub(crate) fn write_rt_properties(p: &RtProperties, sink: &mut impl Sink) {
    sink.start(ddf(DdfTag::RTProperties));
    if let Some(acl) = &p.acl {
        sink.leaf(ddf(DdfTag::ACL), acl);
    }
    if let Some(format) = &p.format {
        write_format(DdfTag::Format, format, sink);
    }
    if let Some(name) = &p.name {
        sink.leaf(ddf(DdfTag::Name), name);
    }
    if let Some(size) = p.size {
        sink.leaf(ddf(DdfTag::Size), &size.to_string());
    }
    if let Some(title) = &p.title {
        sink.leaf(ddf(DdfTag::Title), title);
    }
    if let Some(tstamp) = &p.tstamp {
        sink.leaf(ddf(DdfTag::TStamp), tstamp);
    }
    if let Some(type_) = &p.type_ {
        write_type(DdfTag::Type, type_, sink);
    }
    if let Some(ver_no) = p.ver_no {
        sink.leaf(ddf(DdfTag::VerNo), &ver_no.to_string());
    }
    sink.end();
}

/// Writes `<Format><chr/></Format>` (or `DFFormat`). A [`Format::Other`] has no element in
/// the DTD: the wrapper is written empty.
pub(crate) fn write_format(wrapper: DdfTag, format: &Format, sink: &mut impl Sink) {
    sink.start(ddf(wrapper));
    if let Some(tag) = format_tag(format) {
        sink.empty(ddf(tag));
    }
    sink.end();
}

/// Writes `<Type><MIME>...</MIME></Type>` (or `DFType`).
pub(crate) fn write_type(wrapper: DdfTag, type_: &NodeType, sink: &mut impl Sink) {
    sink.start(ddf(wrapper));
    match type_ {
        NodeType::Mime(s) => sink.leaf(ddf(DdfTag::MIME), s),
        NodeType::DdfName(s) => sink.leaf(ddf(DdfTag::DDFName), s),
    }
    sink.end();
}

/// The DDF element naming a format.
pub(crate) fn format_tag(format: &Format) -> Option<DdfTag> {
    Some(match format {
        Format::B64 => DdfTag::B64,
        Format::Bin => DdfTag::Bin,
        Format::Bool => DdfTag::Bool,
        Format::Chr => DdfTag::Chr,
        Format::Int => DdfTag::Int,
        Format::Node => DdfTag::NodeFormat,
        Format::Null => DdfTag::Null,
        Format::Xml => DdfTag::Xml,
        Format::Date => DdfTag::Date,
        Format::Time => DdfTag::Time,
        Format::Float => DdfTag::Float,
        Format::Other(_) => return None,
    })
}

/// The format a DDF element names.
pub(crate) fn tag_format(tag: DdfTag) -> Option<Format> {
    Some(match tag {
        DdfTag::B64 => Format::B64,
        DdfTag::Bin => Format::Bin,
        DdfTag::Bool => Format::Bool,
        DdfTag::Chr => Format::Chr,
        DdfTag::Int => Format::Int,
        DdfTag::NodeFormat => Format::Node,
        DdfTag::Null => Format::Null,
        DdfTag::Xml => Format::Xml,
        DdfTag::Date => Format::Date,
        DdfTag::Time => Format::Time,
        DdfTag::Float => Format::Float,
        _ => return None,
    })
}

/// Reads `<Format>`/`<DFFormat>` content: the first format element; `None` if there is none.
pub(crate) fn read_format(children: &[Element]) -> Option<Format> {
    elements_of(children).find_map(|(tag, _)| tag_format(tag))
}

/// Reads `<Type>`/`<DFType>` content: the first MIME or DDFName element.
pub(crate) fn read_type(children: &[Element]) -> Option<NodeType> {
    elements_of(children).find_map(|(tag, content)| match tag {
        DdfTag::MIME => Some(NodeType::Mime(trimmed(content))),
        DdfTag::DDFName => Some(NodeType::DdfName(trimmed(content))),
        _ => None,
    })
}

/// The text of an element with surrounding whitespace removed (identifiers, numbers).
pub(crate) fn trimmed(children: &[Element]) -> String {
    let text = text_of(children);
    let t = text.trim();
    if t.len() == text.len() { text } else { t.to_owned() }
}

fn parse_number<T: std::str::FromStr>(
    element: &'static str,
    children: &[Element],
) -> Result<Option<T>, TndsError> {
    let text = trimmed(children);
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| structure(element, format!("{text:?} is not a decimal number in range")))
}

/// Reads `<RTProperties>` content.
pub(crate) fn read_rt_properties(children: &[Element]) -> Result<RtProperties, TndsError> {
    let mut p = RtProperties::default();
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::ACL => p.acl = Some(trimmed(content)),
            DdfTag::Format => p.format = read_format(content),
            DdfTag::Name => p.name = Some(trimmed(content)),
            DdfTag::Size => p.size = parse_number("Size", content)?,
            DdfTag::Title => p.title = Some(text_of(content)),
            DdfTag::TStamp => p.tstamp = Some(trimmed(content)),
            DdfTag::Type => p.type_ = read_type(content),
            DdfTag::VerNo => p.ver_no = parse_number("VerNo", content)?,
            _ => {}
        }
    }
    Ok(p)
}

fn tree_from(children: &[Element]) -> Result<MgmtTree, TndsError> {
    let mut tree = MgmtTree { ver_dtd: String::new(), man: None, mod_: None, nodes: Vec::new() };
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::VerDTD => tree.ver_dtd = trimmed(content),
            DdfTag::Man => tree.man = Some(trimmed(content)),
            DdfTag::Mod => tree.mod_ = Some(trimmed(content)),
            DdfTag::Node => tree.nodes.push(node_from(content, 1)?),
            _ => {}
        }
    }
    Ok(tree)
}

fn node_from(children: &[Element], depth: usize) -> Result<Node, TndsError> {
    if depth > MAX_NODE_DEPTH {
        return Err(TndsError::TooDeep);
    }
    let mut node = Node::default();
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::NodeName => node.node_name = trimmed(content),
            DdfTag::Path => node.path = Some(trimmed(content)),
            DdfTag::RTProperties => node.rt_properties = read_rt_properties(content)?,
            DdfTag::Value => node.value = Some(text_of(content)),
            DdfTag::Node => node.children.push(node_from(content, depth + 1)?),
            _ => {}
        }
    }
    if node.value.is_some() && !node.children.is_empty() {
        return Err(structure("Node", format!("node {:?} has both a Value and child Nodes", node.node_name)));
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MgmtTree {
        let mut acc = Node::interior(
            "x1",
            vec![
                Node::leaf("AppID", "w7"),
                Node::leaf("ServerID", "com.mgmtsrv.manage"),
                Node::interior(
                    "AppAddr",
                    vec![Node::interior("1", vec![Node::leaf("Addr", "http://a/b?c=d&e")])],
                ),
            ],
        );
        acc.rt_properties.acl = Some("Get=*".into());
        acc.rt_properties.type_ = Some(NodeType::DdfName("urn:oma:mo:oma-dm-dmacc:1.0".into()));
        let mut dmacc = Node::interior("DMAcc", vec![acc]);
        dmacc.path = Some(".".into());
        MgmtTree { man: Some("Acme".into()), ..MgmtTree::new(vec![dmacc]) }
    }

    #[test]
    fn xml_round_trip() {
        let tree = sample();
        let xml = tree.to_xml();
        let text = std::str::from_utf8(&xml).unwrap();
        assert!(text.contains(r#"<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Man>Acme</Man>"#));
        assert!(text.contains("<Format><node/></Format>"));
        assert_eq!(MgmtTree::from_xml(&xml, &LIMITS).unwrap(), tree);
        assert_eq!(MgmtTree::from_xml(&tree.to_xml_pretty(), &LIMITS).unwrap(), tree);
    }

    #[test]
    fn wbxml_round_trip_and_header() {
        let tree = sample();
        let wbxml = tree.to_wbxml();
        assert_eq!(&wbxml[..5], &[0x02, 0x00, 0x00, 0x6A, 0x1B]);
        assert_eq!(&wbxml[5..32], b"-//OMA//DTD-DM-DDF 1.2//EN\0");
        assert_eq!(&wbxml[32..35], &[0x00, 0x02, 0x60]);
        assert_eq!(MgmtTree::from_wbxml(&wbxml, &LIMITS).unwrap(), tree);
        assert_eq!(MgmtTree::decode(&wbxml, &LIMITS).unwrap(), tree);
    }

    #[test]
    fn data_forms() {
        let tree = sample();
        for data in
            [tree.to_data(), tree.to_opaque_data(), Data::Text(String::from_utf8(tree.to_xml()).unwrap())]
        {
            assert_eq!(MgmtTree::from_data(&data, &LIMITS).unwrap(), tree);
        }
        assert_eq!(MgmtTree::from_data(&Data::Ddf(vec![]), &LIMITS), Err(TndsError::NoTree));
    }

    #[test]
    fn flatten_and_back() {
        let tree = sample();
        let flat = tree.flatten(&NodeUri::root()).unwrap();
        let uris: Vec<&str> = flat.iter().map(|f| f.uri.as_str()).collect();
        assert_eq!(
            uris,
            [
                "./DMAcc",
                "./DMAcc/x1",
                "./DMAcc/x1/AppID",
                "./DMAcc/x1/ServerID",
                "./DMAcc/x1/AppAddr",
                "./DMAcc/x1/AppAddr/1",
                "./DMAcc/x1/AppAddr/1/Addr"
            ]
        );
        let back = MgmtTree::unflatten(&flat, None).unwrap();
        assert_eq!(back.flatten(&NodeUri::root()).unwrap(), flat);
        assert_eq!(back.nodes[0].path.as_deref(), Some("."));
        // Relative to an Add target.
        let base = NodeUri::parse("./DMAcc").unwrap();
        let sub = MgmtTree::new(vec![Node::interior("x2", vec![Node::leaf("Name", "n")])]);
        let flat = sub.flatten(&base).unwrap();
        assert_eq!(flat[1].uri.as_str(), "./DMAcc/x2/Name");
        assert_eq!(MgmtTree::unflatten(&flat, Some(&base)).unwrap(), sub);
    }

    #[test]
    fn structure_errors() {
        let bad = br#"<MgmtTree xmlns="syncml:dmddf1.2"><VerDTD>1.2</VerDTD><Node><NodeName>a</NodeName><Node><NodeName>b</NodeName></Node><Value>v</Value></Node></MgmtTree>"#;
        assert!(matches!(
            MgmtTree::from_xml(bad, &LIMITS),
            Err(TndsError::Structure { element: "Node", .. })
        ));
        let bad = br#"<MgmtTree xmlns="syncml:dmddf1.2"><Node><NodeName>a</NodeName><RTProperties><Size>x</Size></RTProperties></Node></MgmtTree>"#;
        assert!(matches!(
            MgmtTree::from_xml(bad, &LIMITS),
            Err(TndsError::Structure { element: "Size", .. })
        ));
        assert!(matches!(MgmtTree::from_xml(b"<SyncML/>", &LIMITS), Err(TndsError::Decode(_))));
        let dup = MgmtTree::new(vec![Node::leaf("a", "1"), Node::leaf("a", "2")]);
        assert!(matches!(dup.flatten(&NodeUri::root()), Err(TndsError::Duplicate(_))));
        let bad_name = MgmtTree::new(vec![Node::leaf("a/b", "1")]);
        assert!(matches!(bad_name.flatten(&NodeUri::root()), Err(TndsError::Uri(_))));
    }
}
