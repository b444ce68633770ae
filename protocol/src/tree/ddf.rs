//! Device Description Framework (OMA-TS-DM_TND-V1_2 "Device Description Framework" and its
//! DTD `-//OMA//DTD-DM-DDF 1.2//EN`; FACTS.md B.5, C.7): what a device's management objects
//! look like — names, placeholders, formats, allowed commands — so that the server can check a
//! queued command before sending it.
//!
//! ```text
//! MgmtTree     (VerDTD, Man?, Mod?, Node+)
//! Node         (NodeName, Path?, RTProperties?, DFProperties, (Node* | Value?))
//! DFProperties (AccessType, DefaultValue?, Description?, DFFormat, Occurrence?, Scope?,
//!               DFTitle?, DFType, CaseSense?)
//! AccessType   (Add?, Copy?, Delete?, Exec?, Get?, Replace?)
//! Occurrence   (One | ZeroOrOne | ZeroOrMore | OneOrMore | ZeroOrN | OneOrN)
//! Scope        (Permanent | Dynamic)
//! DFType       (MIME | DDFName)
//! CaseSense    (CS | CIS)
//! ```
//!
//! An empty `<NodeName/>` is a placeholder (`<x>` in the specifications): its name is chosen
//! when the node is created, so it matches any segment. [`Ddf::resolve`] prefers a child
//! named exactly like the segment over a placeholder sibling.
//!
//! The parser accepts DDF files as vendors write them: with or without the namespace and the
//! DOCTYPE, with foreign elements (e.g. `MSFT:Applicability`) skipped.

use base64::Engine as _;

use crate::error::DecodeError;
use crate::limits::Limits;
use crate::message::ddf::DdfNode as Element;
use crate::message::{Command, Data, Format, Item, Meta};
use crate::tag::DdfTag;
use crate::wbxml::WbxmlReader;
use crate::xml::XmlReader;

use super::Op;
use super::acl::NodeKind;
use super::elements::{elements_of, read_document, text_of};
use super::tnds::{
    self, MgmtTree, NodeType, RtProperties, TndsError, read_format, read_rt_properties, read_type, trimmed,
};
use super::uri::{NodeUri, Property, Query, TargetUri, UriError};

/// Content type of a DDF XML document (FACTS.md B.6).
pub const CONTENT_TYPE_XML: &str = "application/vnd.syncml.dmddf+xml";
/// Content type of a DDF WBXML document (FACTS.md B.6).
pub const CONTENT_TYPE_WBXML: &str = "application/vnd.syncml.dmddf+wbxml";

/// Deepest Node nesting accepted in a DDF.
pub const MAX_NODE_DEPTH: usize = 40;

/// Limits for reading DDF files: vendor DDFs run to megabytes (many objects, long
/// Descriptions), and each Node level adds one element depth plus DFProperties/AccessType/Get.
pub const LIMITS: Limits = Limits {
    max_message_bytes: 8 * 1024 * 1024,
    max_depth: MAX_NODE_DEPTH + 8,
    max_elements: 1 << 20,
    max_string_bytes: 1024 * 1024,
    max_opaque_bytes: 1024 * 1024,
};

/// Why a DDF document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DdfError {
    /// The XML or WBXML is malformed or exceeds [`LIMITS`].
    #[error("DDF document: {0}")]
    Decode(#[from] DecodeError),
    /// Well-formed, but not a valid DDF.
    #[error("DDF <{element}>: {reason}")]
    Structure {
        /// The element at fault.
        element: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A run-time property element that does not parse (e.g. a non-numeric Size).
    #[error("DDF run-time properties: {0}")]
    RtProperties(TndsError),
}

fn structure(element: &'static str, reason: impl Into<String>) -> DdfError {
    DdfError::Structure { element, reason: reason.into() }
}

/// The commands a node accepts (`<AccessType>`), as a set.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AccessType(u8);

impl AccessType {
    /// No command.
    pub const NONE: AccessType = AccessType(0);

    const fn bit(op: Op) -> u8 {
        1 << (op as u8)
    }

    /// The set of `ops`.
    pub fn of(ops: &[Op]) -> AccessType {
        ops.iter().fold(AccessType::NONE, |set, &op| set.with(op))
    }

    /// This set plus `op`.
    pub const fn with(self, op: Op) -> AccessType {
        AccessType(self.0 | AccessType::bit(op))
    }

    /// Whether `op` is allowed.
    pub const fn contains(self, op: Op) -> bool {
        self.0 & AccessType::bit(op) != 0
    }

    /// The allowed commands, in [`Op::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Op> {
        Op::ALL.into_iter().filter(move |&op| self.contains(op))
    }

    /// Whether no command is allowed.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Debug for AccessType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// How many instances of a node may exist (`<Occurrence>`; default One).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Occurrence {
    /// Exactly one.
    One,
    /// Zero or one.
    ZeroOrOne,
    /// Any number.
    ZeroOrMore,
    /// At least one.
    OneOrMore,
    /// Zero to N.
    ZeroOrN(u32),
    /// One to N.
    OneOrN(u32),
}

impl Occurrence {
    /// Fewest instances.
    pub const fn min(self) -> u32 {
        match self {
            Occurrence::One | Occurrence::OneOrMore | Occurrence::OneOrN(_) => 1,
            Occurrence::ZeroOrOne | Occurrence::ZeroOrMore | Occurrence::ZeroOrN(_) => 0,
        }
    }

    /// Most instances, `None` if unbounded.
    pub const fn max(self) -> Option<u32> {
        match self {
            Occurrence::One | Occurrence::ZeroOrOne => Some(1),
            Occurrence::ZeroOrMore | Occurrence::OneOrMore => None,
            Occurrence::ZeroOrN(n) | Occurrence::OneOrN(n) => Some(n),
        }
    }
}

/// Whether a node is created by the device and stays (`Permanent`) or may be added and
/// deleted at run time (`Dynamic`, the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `<Permanent/>`.
    Permanent,
    /// `<Dynamic/>`.
    Dynamic,
}

/// Whether the node's value is case-sensitive (`<CS/>`, the default) or not (`<CIS/>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseSense {
    /// Case-sensitive.
    Cs,
    /// Case-insensitive.
    Cis,
}

/// `<DFProperties>`: the description-framework properties of a node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DfProperties {
    /// `<AccessType>`.
    pub access_type: AccessType,
    /// `<DefaultValue>`.
    pub default_value: Option<String>,
    /// `<Description>`.
    pub description: Option<String>,
    /// `<DFFormat>`.
    pub df_format: Format,
    /// `<Occurrence>`, if given ([`occurrence`](Self::occurrence) applies the default).
    pub occurrence: Option<Occurrence>,
    /// `<Scope>`, if given.
    pub scope: Option<Scope>,
    /// `<DFTitle>`.
    pub df_title: Option<String>,
    /// `<DFType>`: a MIME type for leaves, a DDF name / MO identifier for interior nodes.
    pub df_type: Option<NodeType>,
    /// `<CaseSense>`, if given.
    pub case_sense: Option<CaseSense>,
}

impl DfProperties {
    /// The Occurrence, One when not given.
    pub fn occurrence(&self) -> Occurrence {
        self.occurrence.unwrap_or(Occurrence::One)
    }

    /// The Scope, Dynamic when not given.
    pub fn scope(&self) -> Scope {
        self.scope.unwrap_or(Scope::Dynamic)
    }

    /// The CaseSense, CS when not given.
    pub fn case_sense(&self) -> CaseSense {
        self.case_sense.unwrap_or(CaseSense::Cs)
    }
}

/// A described node (`<Node>` of a DDF). Not to be confused with
/// [`crate::message::ddf::DdfNode`], the raw element tree of an Item's Data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DdfNode {
    /// `<NodeName>`; empty for a placeholder (`<x>`).
    pub node_name: String,
    /// `<Path>`: URI of the parent (top-level nodes), absolute or relative to the root.
    pub path: Option<String>,
    /// `<RTProperties>`: supported run-time properties and their defaults.
    pub rt_properties: Option<RtProperties>,
    /// `<DFProperties>`.
    pub df: DfProperties,
    /// `<Value>`: the default value of new instances.
    pub value: Option<String>,
    /// Child nodes.
    pub children: Vec<DdfNode>,
}

impl DdfNode {
    /// Whether the name is chosen at creation time (empty NodeName).
    pub fn is_placeholder(&self) -> bool {
        self.node_name.is_empty()
    }

    /// Whether this is an interior node (DFFormat `node`).
    pub fn is_interior(&self) -> bool {
        self.df.df_format == Format::Node
    }

    /// The child named exactly `name`, else a placeholder child.
    pub fn child(&self, name: &str) -> Option<&DdfNode> {
        self.children
            .iter()
            .find(|c| c.node_name == name)
            .or_else(|| self.children.iter().find(|c| c.is_placeholder()))
    }
}

/// A device description: `<MgmtTree>` of described nodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ddf {
    /// `<VerDTD>`.
    pub ver_dtd: String,
    /// `<Man>`.
    pub man: Option<String>,
    /// `<Mod>`.
    pub mod_: Option<String>,
    /// Top-level nodes. Each sits at its Path (root-relative when relative), or at the
    /// root when it has none; a top-level node named `.` describes the root itself.
    pub nodes: Vec<DdfNode>,
}

/// One segment of the URI pattern of a top-level node: a name or a placeholder.
type Pattern = Vec<Option<String>>;

impl Ddf {
    /// Reads a DDF XML document (`application/vnd.syncml.dmddf+xml`) under [`LIMITS`].
    pub fn from_xml(bytes: &[u8]) -> Result<Ddf, DdfError> {
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
        let mut reader = XmlReader::new(&bytes[start..], &LIMITS)?;
        Ddf::from_root(&read_document(&mut reader)?)
    }

    /// Reads a DDF WBXML document (`application/vnd.syncml.dmddf+wbxml`) under [`LIMITS`].
    pub fn from_wbxml(bytes: &[u8]) -> Result<Ddf, DdfError> {
        let mut reader = WbxmlReader::new(bytes, &LIMITS)?;
        Ddf::from_root(&read_document(&mut reader)?)
    }

    /// Reads a DDF from DDF elements (e.g. an Item's `Data::Ddf`): the first MgmtTree.
    pub fn from_elements(elements: &[Element]) -> Result<Ddf, DdfError> {
        elements_of(elements)
            .find(|(tag, _)| *tag == DdfTag::MgmtTree)
            .map(|(_, children)| ddf_from(children))
            .unwrap_or_else(|| Err(structure("MgmtTree", "no MgmtTree element")))
    }

    fn from_root(root: &Element) -> Result<Ddf, DdfError> {
        Ddf::from_elements(std::slice::from_ref(root))
    }

    /// Places top-level nodes that have no Path at `at` (for MOs whose location the device
    /// chooses, e.g. FUMO's `<x>` at `./FwUpdate`; FACTS.md I.1).
    pub fn mount(&mut self, at: &NodeUri) {
        for node in &mut self.nodes {
            if node.path.is_none() && node.node_name != "." {
                node.path = Some(at.to_string());
            }
        }
    }

    /// Adds the top-level nodes of `other` (describing another MO of the same device).
    pub fn merge(&mut self, other: Ddf) {
        self.nodes.extend(other.nodes);
    }

    /// The URI pattern of a top-level node, `None` if its Path is not a valid URI.
    fn pattern(node: &DdfNode) -> Option<Pattern> {
        if node.node_name == "." && node.path.is_none() {
            return Some(Vec::new());
        }
        let parent = match &node.path {
            Some(path) => NodeUri::resolve(&NodeUri::root(), path).ok()?,
            None => NodeUri::root(),
        };
        let mut pattern: Pattern = parent.segments().map(|s| Some(s.to_owned())).collect();
        pattern.push((!node.is_placeholder()).then(|| node.node_name.clone()));
        Some(pattern)
    }

    /// The description of the node at `uri`: the top-level node whose placement matches the
    /// longest prefix of `uri` (exact names before placeholders), then down its children,
    /// taking at each level the child named like the segment, else a placeholder child.
    pub fn resolve(&self, uri: &NodeUri) -> Option<&DdfNode> {
        let segments: Vec<&str> = uri.segments().collect();
        let mut best: Option<((usize, usize), &DdfNode)> = None;
        for top in &self.nodes {
            let Some(pattern) = Ddf::pattern(top) else { continue };
            if pattern.len() > segments.len() {
                continue;
            }
            let matches = pattern.iter().zip(&segments).all(|(p, s)| p.as_deref().is_none_or(|p| p == *s));
            if !matches {
                continue;
            }
            let exact = pattern.iter().filter(|p| p.is_some()).count();
            let rank = (pattern.len(), exact);
            if best.is_some_and(|(r, _)| r >= rank) {
                continue;
            }
            let mut node = top;
            let mut found = true;
            for segment in &segments[pattern.len()..] {
                match node.child(segment) {
                    Some(child) => node = child,
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            if found {
                best = Some((rank, node));
            }
        }
        best.map(|(_, node)| node)
    }

    /// Whether `uri` is an interior node, a leaf, or not described, for ACL decisions
    /// ([`super::acl::check`]).
    pub fn node_kind(&self, uri: &NodeUri) -> NodeKind {
        match self.resolve(uri) {
            Some(node) if node.is_interior() => NodeKind::Interior,
            Some(_) => NodeKind::Leaf,
            None => NodeKind::Unknown,
        }
    }

    /// Checks one operation against the description (OMA-TS-DM_TND-V1_2 DDF; FACTS.md C.7):
    ///
    /// 1. `target` parses as a node URI with an optional query; `?list=` only with Get;
    ///    `?prop=` with Get (any property) or Replace (ACL, Name, Title; not Name of a
    ///    Permanent node).
    /// 2. The node is described ([`resolve`](Self::resolve)); for Add, the new node's
    ///    description, so an Add below a path the DDF does not know fails here.
    /// 3. Its AccessType holds `op` (Exec missing: [`Violation::NotExecutable`]); Delete of a
    ///    Permanent node fails.
    /// 4. Add and Replace: an interior node takes no data and Format `node` only; a leaf takes
    ///    its DFFormat (or `b64` for `bin`, binary over XML). `format: None` means the command
    ///    declares no Format: only the value is checked, against the DFFormat.
    /// 5. The value parses in its format: `int` is a 32-bit signed decimal, `bool` is
    ///    `true`/`false`, `float` a decimal number, `date`/`time` ISO 8601, `b64` Base64, `chr`
    ///    and `xml` UTF-8, `null` empty.
    ///
    /// For Copy, `target` is the source node (its AccessType needs Copy).
    pub fn validate(
        &self,
        op: Op,
        target: &str,
        format: Option<&Format>,
        data: Option<&[u8]>,
    ) -> Result<(), Violation> {
        let target = TargetUri::parse(target)?;
        self.validate_target(op, &target, format, data)
    }

    /// As [`validate`](Self::validate) with a parsed target.
    pub fn validate_target(
        &self,
        op: Op,
        target: &TargetUri,
        format: Option<&Format>,
        data: Option<&[u8]>,
    ) -> Result<(), Violation> {
        let uri_text = || target.uri.to_string();
        if let Some(Query::List(_)) = target.query
            && op != Op::Get
        {
            return Err(Violation::ListNotAllowed { op, uri: target.to_string() });
        }
        let node = self.resolve(&target.uri).ok_or_else(|| Violation::NoSuchNode { uri: uri_text() })?;
        if let Some(Query::Prop(property)) = target.query {
            return match op {
                Op::Get => Ok(()),
                Op::Replace if property == Property::Name && node.df.scope() == Scope::Permanent => {
                    Err(Violation::Permanent { op, uri: target.to_string() })
                }
                Op::Replace if property.replaceable() => Ok(()),
                _ => Err(Violation::PropertyNotAllowed { op, property, uri: uri_text() }),
            };
        }
        if !node.df.access_type.contains(op) {
            return Err(match op {
                Op::Exec => Violation::NotExecutable { uri: uri_text() },
                _ => Violation::AccessDenied { op, uri: uri_text() },
            });
        }
        match op {
            Op::Delete if node.df.scope() == Scope::Permanent => {
                Err(Violation::Permanent { op, uri: uri_text() })
            }
            Op::Add | Op::Replace => check_content(node, &target.uri, format, data),
            _ => Ok(()),
        }
    }

    /// Checks one Item of a command: the target (for Copy: the source with Copy, and the
    /// target must be described), the Format and Type from the Item's Meta or else the
    /// command's, and the data. An Add or Replace whose data is a TNDS tree (Meta Type
    /// [`tnds::CONTENT_TYPE_XML`]/[`tnds::CONTENT_TYPE_WBXML`], or inline DDF elements) is
    /// checked node by node, each node placed below the target ([`MgmtTree::flatten`]).
    pub fn validate_item(&self, op: Op, item: &Item, command_meta: Option<&Meta>) -> Result<(), Violation> {
        let target = item.target.as_ref().map(|t| t.loc_uri.as_str());
        if op == Op::Copy {
            let source = item.source.as_ref().map(|s| s.loc_uri.as_str()).ok_or(Violation::NoTarget)?;
            self.validate(Op::Copy, source, None, None)?;
            let target = TargetUri::parse(target.ok_or(Violation::NoTarget)?)?;
            return match self.resolve(&target.uri) {
                Some(_) => Ok(()),
                None => Err(Violation::NoSuchNode { uri: target.uri.to_string() }),
            };
        }
        let target = TargetUri::parse(target.ok_or(Violation::NoTarget)?)?;
        let item_meta = item.meta.as_ref();
        let format = item_meta
            .and_then(|m| m.format.as_ref())
            .or_else(|| command_meta.and_then(|m| m.format.as_ref()));
        let type_ = item_meta
            .and_then(|m| m.type_.as_deref())
            .or_else(|| command_meta.and_then(|m| m.type_.as_deref()));
        let is_tnds = type_.is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case(tnds::CONTENT_TYPE_XML) || t.eq_ignore_ascii_case(tnds::CONTENT_TYPE_WBXML)
        }) || matches!(item.data, Some(Data::Ddf(_)));
        match (&item.data, op) {
            (Some(data), Op::Add | Op::Replace) if is_tnds && target.query.is_none() => {
                let tree = MgmtTree::from_data(data, &tnds::LIMITS)?;
                for node in tree.flatten(&target.uri)? {
                    let value = node.value.as_deref().map(str::as_bytes);
                    self.validate_target(op, &node.uri.into(), node.properties.format.as_ref(), value)?;
                }
                Ok(())
            }
            (data, _) => self.validate_target(op, &target, format, data.as_ref().and_then(Data::as_bytes)),
        }
    }

    /// Checks every Item of a command, Atomic and Sequence included; Alert, Status, Results
    /// and unsupported commands pass. Returns the first violation.
    pub fn validate_command(&self, command: &Command) -> Result<(), Violation> {
        self.validate_command_at(command, 0)
    }

    fn validate_command_at(&self, command: &Command, depth: usize) -> Result<(), Violation> {
        match command {
            Command::Add(c)
            | Command::Copy(c)
            | Command::Delete(c)
            | Command::Get(c)
            | Command::Replace(c) => {
                let Some(op) = Op::of_command(command) else { return Ok(()) };
                c.items.iter().try_for_each(|item| self.validate_item(op, item, c.meta.as_ref()))
            }
            Command::Exec(e) => self.validate_item(Op::Exec, &e.item, e.meta.as_ref()),
            Command::Atomic(c) | Command::Sequence(c) if depth < 8 => {
                c.commands.iter().try_for_each(|inner| self.validate_command_at(inner, depth + 1))
            }
            _ => Ok(()),
        }
    }
}

/// Step 4 and 5 of [`Ddf::validate`].
fn check_content(
    node: &DdfNode,
    uri: &NodeUri,
    format: Option<&Format>,
    data: Option<&[u8]>,
) -> Result<(), Violation> {
    let expected = &node.df.df_format;
    let uri_text = || uri.to_string();
    if node.is_interior() {
        if data.is_some_and(|d| !d.is_empty()) {
            return Err(Violation::InteriorValue { uri: uri_text() });
        }
        return match format {
            Some(got) if *got != Format::Node => {
                Err(Violation::WrongFormat { uri: uri_text(), expected: Format::Node, got: got.clone() })
            }
            _ => Ok(()),
        };
    }
    let effective = match format {
        None => expected,
        Some(got) if got == expected => got,
        Some(Format::B64) if *expected == Format::Bin => &Format::B64,
        Some(got) => {
            return Err(Violation::WrongFormat {
                uri: uri_text(),
                expected: expected.clone(),
                got: got.clone(),
            });
        }
    };
    match data {
        Some(bytes) => check_value(effective, bytes).map_err(|reason| Violation::BadValue {
            uri: uri_text(),
            format: effective.clone(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Whether `data` is a valid value of `format` (step 5 of [`Ddf::validate`]).
pub fn check_value(format: &Format, data: &[u8]) -> Result<(), String> {
    let text = || std::str::from_utf8(data).map_err(|e| format!("not UTF-8 (byte {})", e.valid_up_to()));
    match format {
        Format::Int => {
            let t = text()?;
            t.parse::<i32>().map(|_| ()).map_err(|_| format!("{:?} is not a 32-bit signed integer", clip(t)))
        }
        Format::Bool => {
            let t = text()?;
            if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
                Ok(())
            } else {
                Err(format!("{:?} is not true or false", clip(t)))
            }
        }
        Format::Float => {
            let t = text()?;
            let numeric = !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
            match t.parse::<f64>() {
                Ok(v) if numeric && v.is_finite() => Ok(()),
                _ => Err(format!("{:?} is not a decimal number", clip(t))),
            }
        }
        Format::Date => {
            let t = text()?;
            if is_iso_date(t) { Ok(()) } else { Err(format!("{:?} is not an ISO 8601 date", clip(t))) }
        }
        Format::Time => {
            let t = text()?;
            if is_iso_time(t) { Ok(()) } else { Err(format!("{:?} is not an ISO 8601 time", clip(t))) }
        }
        Format::B64 => {
            let compact: Vec<u8> = data.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .map(|_| ())
                .map_err(|e| format!("not Base64: {e}"))
        }
        Format::Chr | Format::Xml => text().map(|_| ()),
        Format::Null if data.is_empty() => Ok(()),
        Format::Null => Err("a null node takes no value".to_owned()),
        Format::Node => Err("an interior node takes no value".to_owned()),
        Format::Bin | Format::Other(_) => Ok(()),
    }
}

/// `YYYY-MM-DD` or `YYYYMMDD`.
fn is_iso_date(t: &str) -> bool {
    let digits: String = match t.len() {
        10 if t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => t.chars().filter(|&c| c != '-').collect(),
        8 => t.to_owned(),
        _ => return false,
    };
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let month: u32 = digits[4..6].parse().unwrap_or(0);
    let day: u32 = digits[6..8].parse().unwrap_or(0);
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// `hh:mm[:ss[.f]]` or `hhmm[ss[.f]]`, then optionally `Z` or `±hh[[:]mm]`.
fn is_iso_time(t: &str) -> bool {
    let (clock, zone) = match t.find(['Z', '+', '-']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let zone_ok = match zone.as_bytes() {
        [] | [b'Z'] => true,
        [b'+' | b'-', rest @ ..] => {
            let digits: Vec<u8> = rest.iter().copied().filter(|&b| b != b':').collect();
            matches!(digits.len(), 2 | 4) && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    let (main, fraction) = clock.split_once(['.', ',']).unwrap_or((clock, "0"));
    if !zone_ok || fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let parts: Vec<&str> = if main.contains(':') {
        main.split(':').collect()
    } else if main.len() % 2 == 0 && main.is_ascii() {
        (0..main.len() / 2).map(|i| &main[2 * i..2 * i + 2]).collect()
    } else {
        return false;
    };
    let limits = [23u32, 59, 60];
    (2..=3).contains(&parts.len())
        && parts.iter().zip(limits).all(|(p, max)| {
            p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|v| v <= max)
        })
}

/// Why a queued command does not fit the device's description.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Violation {
    /// The target is not a valid node URI (or query).
    #[error("bad target URI: {0}")]
    BadUri(#[from] UriError),
    /// The Item has no Target (or, for Copy, no Source).
    #[error("the item has no target")]
    NoTarget,
    /// The DDF does not describe the node (for Add: the node to create).
    #[error("{uri} is not described by the device's DDF")]
    NoSuchNode {
        /// The node.
        uri: String,
    },
    /// The node's AccessType lacks the command.
    #[error("the DDF does not allow {op} on {uri}")]
    AccessDenied {
        /// The command.
        op: Op,
        /// The node.
        uri: String,
    },
    /// Exec of a node whose AccessType lacks Exec.
    #[error("{uri} is not executable")]
    NotExecutable {
        /// The node.
        uri: String,
    },
    /// The command's Format is not the node's.
    #[error("{uri} has format {}, the command sends {}", .expected.as_str(), .got.as_str())]
    WrongFormat {
        /// The node.
        uri: String,
        /// The DFFormat.
        expected: Format,
        /// The Meta Format sent.
        got: Format,
    },
    /// The value does not parse in the node's format.
    #[error("bad {} value for {uri}: {reason}", .format.as_str())]
    BadValue {
        /// The node.
        uri: String,
        /// The format checked.
        format: Format,
        /// What is wrong.
        reason: String,
    },
    /// Data for an interior node (Format `node`).
    #[error("{uri} is an interior node and takes no value")]
    InteriorValue {
        /// The node.
        uri: String,
    },
    /// A command a property does not support (only Get; Replace of ACL, Name, Title).
    #[error("{op} is not allowed on the {property} property of {uri}")]
    PropertyNotAllowed {
        /// The command.
        op: Op,
        /// The property.
        property: Property,
        /// The node.
        uri: String,
    },
    /// `?list=` with a command other than Get.
    #[error("{op} {uri}: ?list= is only for Get")]
    ListNotAllowed {
        /// The command.
        op: Op,
        /// The target.
        uri: String,
    },
    /// Delete or rename of a Permanent node.
    #[error("{op} {uri}: the node is permanent")]
    Permanent {
        /// The command.
        op: Op,
        /// The target.
        uri: String,
    },
    /// TNDS data that cannot be read or placed.
    #[error("{0}")]
    Tnds(#[from] TndsError),
}

fn ddf_from(children: &[Element]) -> Result<Ddf, DdfError> {
    let mut ddf = Ddf { ver_dtd: String::new(), man: None, mod_: None, nodes: Vec::new() };
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::VerDTD => ddf.ver_dtd = trimmed(content),
            DdfTag::Man => ddf.man = Some(trimmed(content)),
            DdfTag::Mod => ddf.mod_ = Some(trimmed(content)),
            DdfTag::Node => ddf.nodes.push(node_from(content, 1)?),
            _ => {}
        }
    }
    if ddf.nodes.is_empty() {
        return Err(structure("MgmtTree", "no Node"));
    }
    Ok(ddf)
}

fn node_from(children: &[Element], depth: usize) -> Result<DdfNode, DdfError> {
    if depth > MAX_NODE_DEPTH {
        return Err(structure("Node", format!("nodes nest deeper than {MAX_NODE_DEPTH}")));
    }
    let mut name = None;
    let mut path = None;
    let mut rt = None;
    let mut df = None;
    let mut value = None;
    let mut nodes = Vec::new();
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::NodeName => name = Some(trimmed(content)),
            DdfTag::Path => path = Some(trimmed(content)),
            DdfTag::RTProperties => rt = Some(read_rt_properties(content).map_err(DdfError::RtProperties)?),
            DdfTag::DFProperties => df = Some(df_from(content)?),
            DdfTag::Value => value = Some(text_of(content)),
            DdfTag::Node => nodes.push(node_from(content, depth + 1)?),
            _ => {}
        }
    }
    let node_name = name.ok_or_else(|| structure("Node", "a Node without NodeName"))?;
    if node_name.contains('/') {
        return Err(structure("NodeName", format!("{node_name:?} contains `/`")));
    }
    let df = df.ok_or_else(|| structure("Node", format!("node {node_name:?} has no DFProperties")))?;
    if !nodes.is_empty() && df.df_format != Format::Node {
        return Err(structure(
            "Node",
            format!("node {node_name:?} has child Nodes but DFFormat {}", df.df_format.as_str()),
        ));
    }
    Ok(DdfNode { node_name, path, rt_properties: rt, df, value, children: nodes })
}

fn df_from(children: &[Element]) -> Result<DfProperties, DdfError> {
    let mut access_type = None;
    let mut df = DfProperties {
        access_type: AccessType::NONE,
        default_value: None,
        description: None,
        df_format: Format::Chr,
        occurrence: None,
        scope: None,
        df_title: None,
        df_type: None,
        case_sense: None,
    };
    let mut format = None;
    for (tag, content) in elements_of(children) {
        match tag {
            DdfTag::AccessType => access_type = Some(access_from(content)),
            DdfTag::DefaultValue => df.default_value = Some(text_of(content)),
            DdfTag::Description => df.description = Some(text_of(content)),
            DdfTag::DFFormat => {
                format =
                    Some(read_format(content).ok_or_else(|| structure("DFFormat", "no format element"))?);
            }
            DdfTag::Occurrence => df.occurrence = Some(occurrence_from(content)?),
            DdfTag::Scope => {
                df.scope = elements_of(content).find_map(|(t, _)| match t {
                    DdfTag::Permanent => Some(Scope::Permanent),
                    DdfTag::Dynamic => Some(Scope::Dynamic),
                    _ => None,
                });
            }
            DdfTag::DFTitle => df.df_title = Some(text_of(content)),
            DdfTag::DFType => df.df_type = read_type(content),
            DdfTag::CaseSense => {
                df.case_sense = elements_of(content).find_map(|(t, _)| match t {
                    DdfTag::CS => Some(CaseSense::Cs),
                    DdfTag::CIS => Some(CaseSense::Cis),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    df.access_type = access_type.ok_or_else(|| structure("DFProperties", "no AccessType"))?;
    df.df_format = format.ok_or_else(|| structure("DFProperties", "no DFFormat"))?;
    Ok(df)
}

fn access_from(children: &[Element]) -> AccessType {
    elements_of(children).fold(AccessType::NONE, |set, (tag, _)| match tag {
        DdfTag::Add => set.with(Op::Add),
        DdfTag::Copy => set.with(Op::Copy),
        DdfTag::Delete => set.with(Op::Delete),
        DdfTag::Exec => set.with(Op::Exec),
        DdfTag::Get => set.with(Op::Get),
        DdfTag::Replace => set.with(Op::Replace),
        _ => set,
    })
}

fn occurrence_from(children: &[Element]) -> Result<Occurrence, DdfError> {
    let bound = |content: &[Element]| {
        let t = trimmed(content);
        t.parse::<u32>().map_err(|_| structure("Occurrence", format!("{:?} is not a count", clip(&t))))
    };
    for (tag, content) in elements_of(children) {
        return Ok(match tag {
            DdfTag::One => Occurrence::One,
            DdfTag::ZeroOrOne => Occurrence::ZeroOrOne,
            DdfTag::ZeroOrMore => Occurrence::ZeroOrMore,
            DdfTag::OneOrMore => Occurrence::OneOrMore,
            DdfTag::ZeroOrN => Occurrence::ZeroOrN(bound(content)?),
            DdfTag::OneOrN => Occurrence::OneOrN(bound(content)?),
            _ => continue,
        });
    }
    Err(structure("Occurrence", "no occurrence element"))
}

/// At most 64 bytes of `s`, cut at a character boundary, for messages.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        for (format, good, bad) in [
            (
                Format::Int,
                &["0", "-2147483648", "2147483647", "+5"][..],
                &["abc", "", "2147483648", "1.5", " 1"][..],
            ),
            (Format::Bool, &["true", "False"], &["yes", "1", ""]),
            (Format::Float, &["1.5", "-2e10", "3"], &["NaN", "inf", "", "1,5"]),
            (Format::Date, &["2024-02-29", "20240229"], &["2024-13-01", "2024-1-1", "x"]),
            (
                Format::Time,
                &["12:30:00", "123000Z", "12:30", "23:59:60.5+01:00", "1230-0500"],
                &["24:00", "1:2", "12:30:00X"],
            ),
            (Format::B64, &["AAAA", "QUJD\nRA==", ""], &["A", "!!!!"]),
            (Format::Null, &[""], &["x"]),
        ] {
            for v in good {
                assert!(check_value(&format, v.as_bytes()).is_ok(), "{format:?} {v:?}");
            }
            for v in bad {
                assert!(check_value(&format, v.as_bytes()).is_err(), "{format:?} {v:?}");
            }
        }
        assert!(check_value(&Format::Chr, b"\xFF").is_err());
        assert!(check_value(&Format::Bin, b"\xFF").is_ok());
    }

    #[test]
    fn access_type_set() {
        let a = AccessType::of(&[Op::Get, Op::Replace]);
        assert!(a.contains(Op::Get) && a.contains(Op::Replace) && !a.contains(Op::Exec));
        assert_eq!(a.iter().collect::<Vec<_>>(), [Op::Get, Op::Replace]);
        assert_eq!(format!("{a:?}"), "{Get, Replace}");
    }
}
