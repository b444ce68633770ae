//! The DDFs queued commands are checked against (OMA-TS-DM_TND-V1_2 "Device Description
//! Framework"; FACTS.md C.7): the standard ones of each DM version merged with the operator's
//! imported DDFs, each placed at its mount point.
//!
//! Pure: the set is built once per change of the imported DDFs (see `crate::ddfs`), handed to
//! the engine through [`super::Input`], and never read from the database per message.

use std::borrow::Cow;

use omadm_protocol::DmVersion;
use omadm_protocol::tree::{Ddf, DdfError, NodeUri, standard};

/// An operator's DDF, parsed and placed at its mount point.
#[derive(Clone, Debug)]
pub struct OperatorDdf {
    /// Its id in the store.
    pub id: i64,
    /// Only for devices whose `./DevInfo/Man` is this (case-insensitive).
    pub man: Option<String>,
    /// Only for devices whose `./DevInfo/Mod` is this (case-insensitive).
    pub model: Option<String>,
    /// The description, mounted.
    pub ddf: Ddf,
}

impl OperatorDdf {
    /// Whether it applies to a device of this manufacturer and model (as mirrored; an
    /// unknown one matches only DDFs without that filter).
    fn applies(&self, man: Option<&str>, model: Option<&str>) -> bool {
        let fits = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got.is_some_and(|g| g.trim().eq_ignore_ascii_case(w.trim())))
        };
        fits(&self.man, man) && fits(&self.model, model)
    }
}

/// The standard DDFs merged with the operator's: those for every device pre-merged per DM
/// version, those filtered by manufacturer/model merged on demand.
#[derive(Clone, Debug)]
pub struct DdfSet {
    dm12: Option<Ddf>,
    dm11: Option<Ddf>,
    filtered: Vec<OperatorDdf>,
}

impl Default for DdfSet {
    /// The standard DDFs only.
    fn default() -> Self {
        DdfSet::new(Vec::new())
    }
}

impl DdfSet {
    /// The standard DDFs (DevInfo, DevDetail, DMAcc or `./SyncML`, FUMO at `./FwUpdate`)
    /// merged with `operator`.
    pub fn new(operator: Vec<OperatorDdf>) -> DdfSet {
        let (general, filtered): (Vec<_>, Vec<_>) =
            operator.into_iter().partition(|d| d.man.is_none() && d.model.is_none());
        let with = |base: Result<Ddf, DdfError>| {
            let mut ddf = base.ok()?;
            for d in &general {
                ddf.merge(d.ddf.clone());
            }
            Some(ddf)
        };
        let fumo = NodeUri::parse(standard::DEFAULT_FUMO_ROOT).unwrap_or_else(|_| NodeUri::root());
        DdfSet { dm12: with(standard::dm12_device(&fumo)), dm11: with(standard::dm11_device()), filtered }
    }

    /// The description of a device of `version`, made by `man`, model `model` (its mirrored
    /// `./DevInfo/Man` and `Mod`).
    pub fn for_device(
        &self,
        version: DmVersion,
        man: Option<&str>,
        model: Option<&str>,
    ) -> Option<Cow<'_, Ddf>> {
        let base = match version {
            DmVersion::V1_2 => self.dm12.as_ref()?,
            DmVersion::V1_1_2 => self.dm11.as_ref()?,
        };
        let mut extra = self.filtered.iter().filter(|d| d.applies(man, model)).peekable();
        if extra.peek().is_none() {
            return Some(Cow::Borrowed(base));
        }
        let mut ddf = base.clone();
        for d in extra {
            ddf.merge(d.ddf.clone());
        }
        Some(Cow::Owned(ddf))
    }
}

/// Places an operator DDF at `mount`, the URI of the MO on devices: a top-level node without
/// a Path named like the mount's last segment *is* the mount (`Acme` at `./Vendor/Acme`);
/// other top-level nodes without a Path, placeholders included, go *below* it (FUMO's `<x>`
/// under `./FwUpdate`; FACTS.md I.1). Nodes with a Path keep it.
pub fn mount(ddf: &mut Ddf, at: &NodeUri) {
    let parent = at.parent().unwrap_or_else(NodeUri::root);
    for node in &mut ddf.nodes {
        if node.path.is_some() || node.node_name == "." {
            continue;
        }
        let place = if at.name() == Some(node.node_name.as_str()) { &parent } else { at };
        node.path = Some(place.to_string());
    }
}

/// The URIs where the top-level nodes of `ddf` sit (`<x>` for a placeholder); an error names
/// a Path that is not a node URI.
pub fn placements(ddf: &Ddf) -> Result<Vec<String>, String> {
    ddf.nodes
        .iter()
        .map(|n| {
            if n.node_name == "." && n.path.is_none() {
                return Ok(".".to_owned());
            }
            let parent = match &n.path {
                Some(p) => NodeUri::resolve(&NodeUri::root(), p)
                    .map_err(|e| format!("node {:?}: Path {p:?}: {e}", n.node_name))?,
                None => NodeUri::root(),
            };
            let name = if n.is_placeholder() { "<x>" } else { n.node_name.as_str() };
            Ok(format!("{parent}/{name}"))
        })
        .collect()
}

/// Whether `uri` lies at or below a top-level node of `ddf` (a placeholder matches any
/// segment): the DDF then describes it, and a node it does not know is a violation.
pub fn describes(ddf: &Ddf, uri: &NodeUri) -> bool {
    let segments: Vec<&str> = uri.segments().collect();
    ddf.nodes.iter().any(|top| {
        if top.node_name == "." && top.path.is_none() {
            return true;
        }
        let parent = match &top.path {
            Some(p) => match NodeUri::resolve(&NodeUri::root(), p) {
                Ok(parent) => parent,
                Err(_) => return false,
            },
            None => NodeUri::root(),
        };
        let mut pattern: Vec<Option<&str>> = parent.segments().map(Some).collect();
        pattern.push((!top.is_placeholder()).then_some(top.node_name.as_str()));
        pattern.len() <= segments.len()
            && pattern.iter().zip(&segments).all(|(p, s)| p.is_none_or(|p| p == *s))
    })
}

/// Reads a DDF document: WBXML when its first byte is not `<`, whitespace or a UTF-8 BOM
/// (a WBXML document starts with its version byte), XML otherwise.
pub fn parse_document(bytes: &[u8]) -> Result<Ddf, DdfError> {
    let xml = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') | Some(0xEF) | None => true,
        Some(_) => false,
    };
    if xml { Ddf::from_xml(bytes) } else { Ddf::from_wbxml(bytes) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOLUME: &str = r#"<MgmtTree><VerDTD>1.2</VerDTD>
      <Node><NodeName>Acme</NodeName>
        <DFProperties><AccessType><Get/></AccessType><DFFormat><node/></DFFormat></DFProperties>
        <Node><NodeName>Volume</NodeName>
          <DFProperties><AccessType><Get/><Replace/></AccessType><DFFormat><int/></DFFormat></DFProperties>
        </Node>
      </Node></MgmtTree>"#;

    fn uri(s: &str) -> NodeUri {
        NodeUri::parse(s).unwrap()
    }

    #[test]
    fn mounted_by_name_or_below() {
        let mut at = parse_document(VOLUME.as_bytes()).unwrap();
        mount(&mut at, &uri("./Vendor/Acme"));
        assert_eq!(placements(&at).unwrap(), ["./Vendor/Acme"]);
        let mut below = parse_document(VOLUME.as_bytes()).unwrap();
        mount(&mut below, &uri("./Vendor"));
        assert_eq!(placements(&below).unwrap(), ["./Vendor/Acme"]);
        let fumo = standard::StandardDdf::Fumo.parse().unwrap();
        let mut f = fumo.clone();
        mount(&mut f, &uri("./Ext/FwUpdate"));
        assert_eq!(placements(&f).unwrap(), ["./Ext/FwUpdate/<x>"]);
        assert!(describes(&f, &uri("./Ext/FwUpdate/pkg1/PkgName")));
        assert!(!describes(&f, &uri("./Ext/FwUpdate")), "the parent is not FUMO's");
        assert!(describes(&at, &uri("./Vendor/Acme/Other")));
        assert!(!describes(&at, &uri("./Vendor/Other")));
    }

    #[test]
    fn operator_ddfs_merge_with_the_standard_ones() {
        let mut ddf = parse_document(VOLUME.as_bytes()).unwrap();
        mount(&mut ddf, &uri("./Vendor/Acme"));
        let general = OperatorDdf { id: 1, man: None, model: None, ddf: ddf.clone() };
        let only_zeta = OperatorDdf { id: 2, man: Some("Zeta".into()), model: None, ddf };
        let set = DdfSet::new(vec![general.clone()]);
        for v in [DmVersion::V1_2, DmVersion::V1_1_2] {
            let d = set.for_device(v, None, None).unwrap();
            assert!(d.resolve(&uri("./Vendor/Acme/Volume")).is_some());
            assert!(d.resolve(&uri("./DevInfo/Man")).is_some(), "the standard objects stay");
            assert!(matches!(d, Cow::Borrowed(_)), "pre-merged");
        }
        let set = DdfSet::new(vec![only_zeta]);
        let none = set.for_device(DmVersion::V1_2, Some("Acme"), None).unwrap();
        assert!(none.resolve(&uri("./Vendor/Acme/Volume")).is_none());
        assert!(
            set.for_device(DmVersion::V1_2, None, None).unwrap().resolve(&uri("./Vendor/Acme")).is_none()
        );
        let zeta = set.for_device(DmVersion::V1_2, Some(" zeta "), Some("Z1")).unwrap();
        assert!(zeta.resolve(&uri("./Vendor/Acme/Volume")).is_some());
        assert!(
            DdfSet::default()
                .for_device(DmVersion::V1_2, None, None)
                .unwrap()
                .resolve(&uri("./DMAcc"))
                .is_some()
        );
    }

    #[test]
    fn standard_fumo_under_fw_update_is_described() {
        use omadm_protocol::tree::Op;
        let set = DdfSet::default();
        let d = set.for_device(DmVersion::V1_2, None, None).unwrap();
        assert!(describes(&d, &uri("./FwUpdate/x1/Download")));
        assert!(!describes(&d, &uri("./FwUpdate")));
        assert!(d.validate(Op::Exec, "./FwUpdate/x1/Download", None, None).is_ok());
        assert!(d.validate(Op::Replace, "./FwUpdate/x1/Download/PkgURL", None, Some(b"http://x")).is_ok());
        assert!(d.validate(Op::Replace, "./FwUpdate/x1/State", None, Some(b"10")).is_err());
        let v11 = set.for_device(DmVersion::V1_1_2, None, None).unwrap();
        assert!(!describes(&v11, &uri("./FwUpdate/x1/Download")), "DM 1.1.2: no FUMO");
    }

    #[test]
    fn documents_in_either_encoding() {
        assert!(parse_document(b"  <MgmtTree><Node/></MgmtTree>").is_err());
        assert!(parse_document(b"\x02\x00\x00").is_err());
        assert!(parse_document(b"").is_err());
        assert!(parse_document(VOLUME.as_bytes()).is_ok());
    }
}
