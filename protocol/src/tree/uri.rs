//! Node URIs of the management tree (OMA-TS-DM_TND-V1_2 "Uniform Resource Identifiers";
//! property addressing and `?list=` from "Properties of nodes" and OMA-TS-DM_TND-V1_2 "Device
//! Management Tree Exchange"; FACTS.md C.7).
//!
//! A node URI is either absolute from the root (`./DMAcc/x`) or relative to it (`DMAcc/x`,
//! which means the same node). [`NodeUri`] keeps the normal form: `.` for the root, otherwise
//! `./` followed by the segments joined with `/`, without a trailing `/`. Segments are never
//! empty, `.` or `..`, and hold no control characters.
//!
//! Bounds (the defaults of [`UriLimits`]): at most [`MAX_DEPTH`] segments and
//! [`MAX_TOTAL_LEN`] bytes in normal form. Devices announce their own, smaller limits in
//! `./DevDetail/URI/MaxDepth`, `MaxTotLen`, `MaxSegLen` (FACTS.md J.2, 0 = unlimited); use
//! [`UriLimits::from_dev_detail`] to apply them.

use std::fmt;
use std::str::FromStr;

/// Most segments in a node URI (not counting the root `.`).
pub const MAX_DEPTH: usize = 32;
/// Longest node URI in normal form, in bytes.
pub const MAX_TOTAL_LEN: usize = 1024;
/// Longest query (the part after `?`), in bytes.
pub const MAX_QUERY_LEN: usize = 256;

/// Bounds on node URIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UriLimits {
    /// Most segments.
    pub max_depth: usize,
    /// Longest URI in normal form, in bytes.
    pub max_total_len: usize,
    /// Longest segment, in bytes.
    pub max_segment_len: usize,
}

impl UriLimits {
    /// 32 segments, 1024 bytes, segments up to the whole length.
    pub const DEFAULT: UriLimits =
        UriLimits { max_depth: MAX_DEPTH, max_total_len: MAX_TOTAL_LEN, max_segment_len: MAX_TOTAL_LEN };

    /// The limits a device announces in `./DevDetail/URI/{MaxDepth,MaxTotLen,MaxSegLen}`
    /// (FACTS.md J.2: 0 means unlimited), never looser than [`UriLimits::DEFAULT`].
    pub fn from_dev_detail(max_depth: u32, max_tot_len: u32, max_seg_len: u32) -> UriLimits {
        let pick = |announced: u32, default: usize| match announced {
            0 => default,
            n => usize::try_from(n).unwrap_or(default).min(default),
        };
        UriLimits {
            max_depth: pick(max_depth, MAX_DEPTH),
            max_total_len: pick(max_tot_len, MAX_TOTAL_LEN),
            max_segment_len: pick(max_seg_len, MAX_TOTAL_LEN),
        }
    }
}

impl Default for UriLimits {
    fn default() -> Self {
        UriLimits::DEFAULT
    }
}

/// Why a string is not a valid node URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// Nothing before the query.
    #[error("empty node URI")]
    Empty,
    /// Longer than the length limit.
    #[error("node URI of {len} bytes exceeds the limit of {limit}")]
    TooLong { len: usize, limit: usize },
    /// More segments than the depth limit.
    #[error("node URI has more than {limit} segments")]
    TooDeep { limit: usize },
    /// A segment longer than its limit.
    #[error("segment {index} of the node URI is {len} bytes, more than {limit}")]
    SegmentTooLong { index: usize, len: usize, limit: usize },
    /// `a//b`, or a URI ending in `//`.
    #[error("empty segment {index} in the node URI")]
    EmptySegment { index: usize },
    /// A `.` or `..` segment (only the leading `.` of `./` is allowed).
    #[error("segment {index} of the node URI is `.` or `..`")]
    DotSegment { index: usize },
    /// `/a/b`: node URIs are `./a/b` or `a/b`.
    #[error("node URI starts with `/`; use `./` or a relative URI")]
    LeadingSlash,
    /// A node name holding `/`.
    #[error("a node name cannot contain `/`")]
    SlashInName,
    /// A control character (C0, DEL, C1).
    #[error("control character in the node URI at byte {offset}")]
    ControlChar { offset: usize },
    /// A query that is neither `prop=` nor `list=`.
    #[error("unsupported query {0:?} (expected prop=<name> or list=<Struct|StructData|TNDS...>)")]
    BadQuery(String),
    /// `?prop=` naming no run-time property.
    #[error("unknown property {0:?}")]
    UnknownProperty(String),
    /// A query longer than [`MAX_QUERY_LEN`].
    #[error("query of {len} bytes exceeds the limit of {MAX_QUERY_LEN}")]
    QueryTooLong { len: usize },
}

/// A node URI in normal form (`.` or `./seg/seg`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeUri(String);

impl NodeUri {
    /// The root, `.`.
    pub fn root() -> NodeUri {
        NodeUri(".".to_owned())
    }

    /// Parses and normalises a node URI under [`UriLimits::DEFAULT`]. A query is an error
    /// here (use [`TargetUri::parse`]); a single trailing `/` is dropped (`./Vendor/MSFT/`).
    pub fn parse(s: &str) -> Result<NodeUri, UriError> {
        NodeUri::parse_with(s, &UriLimits::DEFAULT)
    }

    /// As [`parse`](Self::parse), under `limits`.
    pub fn parse_with(s: &str, limits: &UriLimits) -> Result<NodeUri, UriError> {
        if let Some(at) = s.find('?') {
            return Err(UriError::BadQuery(clip(&s[at + 1..]).to_owned()));
        }
        // Normal form is at most 2 bytes longer than the input (`a` -> `./a`); refuse
        // anything that cannot fit before looking at it.
        if s.len() > limits.max_total_len.saturating_add(2) {
            return Err(UriError::TooLong { len: s.len(), limit: limits.max_total_len });
        }
        if let Some(offset) = s.char_indices().find(|(_, c)| c.is_control()).map(|(i, _)| i) {
            return Err(UriError::ControlChar { offset });
        }
        let rest = match s {
            "" => return Err(UriError::Empty),
            "." | "./" => return Ok(NodeUri::root()),
            _ if s.starts_with("./") => &s[2..],
            _ if s.starts_with('/') => return Err(UriError::LeadingSlash),
            _ => s,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        check_segments(rest, 0, limits)?;
        let mut text = String::with_capacity(rest.len() + 2);
        text.push_str("./");
        text.push_str(rest);
        if text.len() > limits.max_total_len {
            return Err(UriError::TooLong { len: text.len(), limit: limits.max_total_len });
        }
        Ok(NodeUri(text))
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root `.`.
    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// The segments after `.`, in order (none for the root).
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.0.get(2..).unwrap_or("").split('/').filter(|s| !s.is_empty())
    }

    /// Number of segments (0 for the root).
    pub fn depth(&self) -> usize {
        if self.is_root() { 0 } else { self.0.bytes().filter(|&b| b == b'/').count() }
    }

    /// The last segment (the node name), `None` for the root.
    pub fn name(&self) -> Option<&str> {
        if self.is_root() { None } else { self.0.rsplit('/').next() }
    }

    /// The parent, `None` for the root.
    pub fn parent(&self) -> Option<NodeUri> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/')?;
        Some(if cut <= 1 { NodeUri::root() } else { NodeUri(self.0[..cut].to_owned()) })
    }

    /// The child named `segment`, under [`UriLimits::DEFAULT`].
    pub fn join(&self, segment: &str) -> Result<NodeUri, UriError> {
        self.join_with(segment, &UriLimits::DEFAULT)
    }

    /// The child named `segment`, under `limits`.
    pub fn join_with(&self, segment: &str, limits: &UriLimits) -> Result<NodeUri, UriError> {
        if segment.contains('/') {
            return Err(UriError::SlashInName);
        }
        self.join_path_with(segment, limits)
    }

    /// The node at the relative path `rel` (`a/b`) below this one, under
    /// [`UriLimits::DEFAULT`]. `rel` must not start with `./` or `/`.
    pub fn join_path(&self, rel: &str) -> Result<NodeUri, UriError> {
        self.join_path_with(rel, &UriLimits::DEFAULT)
    }

    /// As [`join_path`](Self::join_path), under `limits`.
    pub fn join_path_with(&self, rel: &str, limits: &UriLimits) -> Result<NodeUri, UriError> {
        if rel.contains('?') {
            return Err(UriError::BadQuery(clip(rel).to_owned()));
        }
        if rel.len() > limits.max_total_len {
            return Err(UriError::TooLong { len: rel.len(), limit: limits.max_total_len });
        }
        if rel.starts_with('/') {
            return Err(UriError::LeadingSlash);
        }
        if let Some(offset) = rel.char_indices().find(|(_, c)| c.is_control()).map(|(i, _)| i) {
            return Err(UriError::ControlChar { offset });
        }
        if rel.is_empty() {
            return Err(UriError::EmptySegment { index: self.depth() });
        }
        check_segments(rel, self.depth(), limits)?;
        let mut text = String::with_capacity(self.0.len() + 1 + rel.len());
        text.push_str(if self.is_root() { "." } else { &self.0 });
        text.push('/');
        text.push_str(rel);
        if text.len() > limits.max_total_len {
            return Err(UriError::TooLong { len: text.len(), limit: limits.max_total_len });
        }
        Ok(NodeUri(text))
    }

    /// This node, its parent, ... up to the root.
    pub fn ancestors(&self) -> impl Iterator<Item = NodeUri> {
        std::iter::successors(Some(self.clone()), NodeUri::parent)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &NodeUri) -> bool {
        if other.is_root() {
            return true;
        }
        match self.0.strip_prefix(other.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }

    /// The path of `self` relative to its ancestor `base` (`""` when equal), `None` if `self`
    /// is not below `base`.
    pub fn relative_to(&self, base: &NodeUri) -> Option<&str> {
        if !self.starts_with(base) {
            return None;
        }
        if base.is_root() {
            return Some(self.0.get(2..).unwrap_or(""));
        }
        let rest = &self.0[base.0.len()..];
        Some(rest.strip_prefix('/').unwrap_or(rest))
    }

    /// Resolves a DDF/TNDS `<Path>` (OMA-TS-DM_TND-V1_2 DDF "Path"): `.` or `./...` is
    /// absolute, `/...` is an error, anything else is relative to `base`.
    pub fn resolve(base: &NodeUri, path: &str) -> Result<NodeUri, UriError> {
        let path = path.trim();
        if path == "." || path == "./" || path.starts_with("./") {
            return NodeUri::parse(path);
        }
        if path.starts_with('/') {
            return Err(UriError::LeadingSlash);
        }
        let rel = path.strip_suffix('/').unwrap_or(path);
        base.join_path(rel)
    }
}

/// Checks the segments of `rest` (no leading `./`, no trailing `/`); `first` is the index of
/// its first segment in the whole URI.
fn check_segments(rest: &str, first: usize, limits: &UriLimits) -> Result<(), UriError> {
    for (i, segment) in rest.split('/').enumerate() {
        let index = first + i;
        if index >= limits.max_depth {
            return Err(UriError::TooDeep { limit: limits.max_depth });
        }
        match segment {
            "" => return Err(UriError::EmptySegment { index }),
            "." | ".." => return Err(UriError::DotSegment { index }),
            s if s.len() > limits.max_segment_len => {
                return Err(UriError::SegmentTooLong { index, len: s.len(), limit: limits.max_segment_len });
            }
            _ => {}
        }
    }
    Ok(())
}

impl fmt::Display for NodeUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for NodeUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeUri::parse(s)
    }
}

impl AsRef<str> for NodeUri {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A run-time property of a node (OMA-TS-DM_TND-V1_2 "Properties of nodes"; FACTS.md C.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Property {
    /// `ACL`: Get, Replace.
    Acl,
    /// `Format`: Get.
    Format,
    /// `Name`: Get, Replace (a rename).
    Name,
    /// `Size`: Get (leaves only).
    Size,
    /// `Title`: Get, Replace.
    Title,
    /// `TStamp`: Get.
    TStamp,
    /// `Type`: Get.
    Type,
    /// `VerNo`: Get.
    VerNo,
}

impl Property {
    /// All properties.
    pub const ALL: [Property; 8] = [
        Property::Acl,
        Property::Format,
        Property::Name,
        Property::Size,
        Property::Title,
        Property::TStamp,
        Property::Type,
        Property::VerNo,
    ];

    /// The name as written after `?prop=`.
    pub const fn name(self) -> &'static str {
        match self {
            Property::Acl => "ACL",
            Property::Format => "Format",
            Property::Name => "Name",
            Property::Size => "Size",
            Property::Title => "Title",
            Property::TStamp => "TStamp",
            Property::Type => "Type",
            Property::VerNo => "VerNo",
        }
    }

    /// The property named `s`, ASCII-case-insensitively.
    pub fn parse(s: &str) -> Option<Property> {
        Property::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// Whether Replace may change it: ACL, Name and Title only. Every property supports
    /// Get; none supports Add, Delete or Exec (answered 405; FACTS.md C.7).
    pub const fn replaceable(self) -> bool {
        matches!(self, Property::Acl | Property::Name | Property::Title)
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a `?list=TNDS` result may include or exclude: a property or the node value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TndsField {
    /// A run-time property.
    Prop(Property),
    /// `Value`: the leaf values.
    Value,
}

impl TndsField {
    fn parse(s: &str) -> Option<TndsField> {
        if s.eq_ignore_ascii_case("Value") {
            Some(TndsField::Value)
        } else {
            Property::parse(s).map(TndsField::Prop)
        }
    }

    fn name(self) -> &'static str {
        match self {
            TndsField::Prop(p) => p.name(),
            TndsField::Value => "Value",
        }
    }
}

/// The form of a `?list=` result (FACTS.md C.7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `Struct`: the structure, without data.
    Struct,
    /// `StructData`: the structure with leaf data.
    StructData,
    /// `TNDS`, `TNDS+Value+ACL` (include) or `TNDS-Format` (exclude); not combinable.
    Tnds(TndsSelection),
}

/// The `+`/`-` list of a `?list=TNDS` query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TndsSelection {
    /// Plain `TNDS`: the device's default content.
    Default,
    /// `TNDS+A+B`: only these.
    Include(Vec<TndsField>),
    /// `TNDS-A-B`: all but these.
    Exclude(Vec<TndsField>),
}

/// The query of a target URI.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Query {
    /// `?prop=<name>`.
    Prop(Property),
    /// `?list=<kind>`.
    List(ListKind),
}

impl Query {
    /// Parses the part after `?`.
    pub fn parse(q: &str) -> Result<Query, UriError> {
        if q.len() > MAX_QUERY_LEN {
            return Err(UriError::QueryTooLong { len: q.len() });
        }
        if let Some(name) = q.strip_prefix("prop=") {
            return Property::parse(name)
                .map(Query::Prop)
                .ok_or_else(|| UriError::UnknownProperty(clip(name).to_owned()));
        }
        let Some(list) = q.strip_prefix("list=") else {
            return Err(UriError::BadQuery(clip(q).to_owned()));
        };
        if list.eq_ignore_ascii_case("Struct") {
            return Ok(Query::List(ListKind::Struct));
        }
        if list.eq_ignore_ascii_case("StructData") {
            return Ok(Query::List(ListKind::StructData));
        }
        let bad = || UriError::BadQuery(clip(q).to_owned());
        let (head, tail) = list.split_at(list.len().min(4));
        if !head.eq_ignore_ascii_case("TNDS") {
            return Err(bad());
        }
        let selection = match tail.as_bytes().first() {
            None => TndsSelection::Default,
            Some(&sign @ (b'+' | b'-')) => {
                let fields = tail[1..]
                    .split(char::from(sign))
                    .map(|name| TndsField::parse(name).ok_or_else(bad))
                    .collect::<Result<Vec<_>, _>>()?;
                if sign == b'+' { TndsSelection::Include(fields) } else { TndsSelection::Exclude(fields) }
            }
            Some(_) => return Err(bad()),
        };
        Ok(Query::List(ListKind::Tnds(selection)))
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Prop(p) => write!(f, "prop={p}"),
            Query::List(ListKind::Struct) => f.write_str("list=Struct"),
            Query::List(ListKind::StructData) => f.write_str("list=StructData"),
            Query::List(ListKind::Tnds(selection)) => {
                f.write_str("list=TNDS")?;
                let (sign, fields) = match selection {
                    TndsSelection::Default => return Ok(()),
                    TndsSelection::Include(fields) => ('+', fields),
                    TndsSelection::Exclude(fields) => ('-', fields),
                };
                for field in fields {
                    write!(f, "{sign}{}", field.name())?;
                }
                Ok(())
            }
        }
    }
}

/// A command target: a node URI with an optional `?prop=` or `?list=` query.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetUri {
    /// The node.
    pub uri: NodeUri,
    /// The query, if any.
    pub query: Option<Query>,
}

impl TargetUri {
    /// Parses `./DMAcc/x?prop=ACL` and the like under [`UriLimits::DEFAULT`].
    pub fn parse(s: &str) -> Result<TargetUri, UriError> {
        TargetUri::parse_with(s, &UriLimits::DEFAULT)
    }

    /// As [`parse`](Self::parse), under `limits`.
    pub fn parse_with(s: &str, limits: &UriLimits) -> Result<TargetUri, UriError> {
        let (path, query) = match s.split_once('?') {
            Some((path, query)) => (path, Some(Query::parse(query)?)),
            None => (s, None),
        };
        Ok(TargetUri { uri: NodeUri::parse_with(path, limits)?, query })
    }

    /// The property addressed, if the query is `?prop=`.
    pub fn property(&self) -> Option<Property> {
        match self.query {
            Some(Query::Prop(p)) => Some(p),
            _ => None,
        }
    }
}

impl From<NodeUri> for TargetUri {
    fn from(uri: NodeUri) -> Self {
        TargetUri { uri, query: None }
    }
}

impl fmt::Display for TargetUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.query {
            Some(q) => write!(f, "{}?{q}", self.uri),
            None => write!(f, "{}", self.uri),
        }
    }
}

impl FromStr for TargetUri {
    type Err = UriError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TargetUri::parse(s)
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
    use super::*;

    #[test]
    fn normal_forms() {
        for (input, normal) in [
            (".", "."),
            ("./", "."),
            ("./DMAcc", "./DMAcc"),
            ("DMAcc/x", "./DMAcc/x"),
            ("./Vendor/MSFT/", "./Vendor/MSFT"),
            ("a b/c:d", "./a b/c:d"),
        ] {
            assert_eq!(NodeUri::parse(input).unwrap().as_str(), normal, "{input}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(NodeUri::parse(""), Err(UriError::Empty));
        assert_eq!(NodeUri::parse("/a"), Err(UriError::LeadingSlash));
        assert_eq!(NodeUri::parse("./a//b"), Err(UriError::EmptySegment { index: 1 }));
        assert_eq!(NodeUri::parse("./a/../b"), Err(UriError::DotSegment { index: 1 }));
        assert_eq!(NodeUri::parse("./a/./b"), Err(UriError::DotSegment { index: 1 }));
        assert_eq!(NodeUri::parse(".."), Err(UriError::DotSegment { index: 0 }));
        assert_eq!(NodeUri::parse("./a//"), Err(UriError::EmptySegment { index: 1 }));
        assert_eq!(NodeUri::parse("./a\nb"), Err(UriError::ControlChar { offset: 3 }));
        assert!(matches!(NodeUri::parse("./a?prop=ACL"), Err(UriError::BadQuery(_))));
        let deep = format!(".{}", "/a".repeat(33));
        assert_eq!(NodeUri::parse(&deep), Err(UriError::TooDeep { limit: 32 }));
        let ok = format!(".{}", "/a".repeat(32));
        assert_eq!(NodeUri::parse(&ok).unwrap().depth(), 32);
        let long = format!("./{}", "a".repeat(1023));
        assert!(matches!(NodeUri::parse(&long), Err(UriError::TooLong { .. })));
        assert!(NodeUri::parse(&format!("./{}", "a".repeat(1022))).is_ok());
    }

    #[test]
    fn navigation() {
        let uri = NodeUri::parse("./DMAcc/x/AppAddr").unwrap();
        assert_eq!(uri.segments().collect::<Vec<_>>(), ["DMAcc", "x", "AppAddr"]);
        assert_eq!(uri.depth(), 3);
        assert_eq!(uri.name(), Some("AppAddr"));
        assert_eq!(uri.parent().unwrap().as_str(), "./DMAcc/x");
        let all: Vec<String> = uri.ancestors().map(|u| u.to_string()).collect();
        assert_eq!(all, ["./DMAcc/x/AppAddr", "./DMAcc/x", "./DMAcc", "."]);
        assert_eq!(NodeUri::root().parent(), None);
        assert_eq!(NodeUri::root().depth(), 0);
        assert_eq!(NodeUri::root().segments().count(), 0);
        assert_eq!(NodeUri::root().join("A").unwrap().as_str(), "./A");
        assert!(NodeUri::root().join("A/B").is_err());
        assert!(NodeUri::root().join("").is_err());
        assert_eq!(uri.join_path("1/Addr").unwrap().as_str(), "./DMAcc/x/AppAddr/1/Addr");
        assert!(uri.starts_with(&NodeUri::parse("./DMAcc").unwrap()));
        assert!(!NodeUri::parse("./DMAccX").unwrap().starts_with(&NodeUri::parse("./DMAcc").unwrap()));
        assert_eq!(uri.relative_to(&NodeUri::parse("./DMAcc").unwrap()), Some("x/AppAddr"));
        assert_eq!(uri.relative_to(&NodeUri::root()), Some("DMAcc/x/AppAddr"));
        assert_eq!(uri.relative_to(&uri), Some(""));
        let base = NodeUri::parse("./A").unwrap();
        assert_eq!(NodeUri::resolve(&base, "B/C").unwrap().as_str(), "./A/B/C");
        assert_eq!(NodeUri::resolve(&base, "./X/").unwrap().as_str(), "./X");
        assert_eq!(NodeUri::resolve(&base, ".").unwrap().as_str(), ".");
    }

    #[test]
    fn queries() {
        let t = TargetUri::parse("./DMAcc/xyzInc?prop=ACL").unwrap();
        assert_eq!(t.property(), Some(Property::Acl));
        assert_eq!(t.to_string(), "./DMAcc/xyzInc?prop=ACL");
        let t = TargetUri::parse("DMAcc/xyzInc?prop=acl").unwrap();
        assert_eq!(t.to_string(), "./DMAcc/xyzInc?prop=ACL");
        for (q, canonical) in [
            ("list=Struct", "list=Struct"),
            ("list=StructData", "list=StructData"),
            ("list=TNDS", "list=TNDS"),
            ("list=TNDS+Value+ACL", "list=TNDS+Value+ACL"),
            ("list=tnds-Format", "list=TNDS-Format"),
        ] {
            assert_eq!(Query::parse(q).unwrap().to_string(), canonical);
        }
        for bad in ["list=TNDS+Value-ACL", "list=TNDSX", "list=Foo", "prop=Foo", "x=y", "list=TNDS+"] {
            assert!(Query::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(Query::parse(&"x".repeat(300)), Err(UriError::QueryTooLong { .. })));
    }

    #[test]
    fn dev_detail_limits() {
        let l = UriLimits::from_dev_detail(0, 100, 10);
        assert_eq!(l, UriLimits { max_depth: 32, max_total_len: 100, max_segment_len: 10 });
        assert!(matches!(
            NodeUri::parse_with("./abcdefghijk", &l),
            Err(UriError::SegmentTooLong { index: 0, len: 11, limit: 10 })
        ));
    }
}
