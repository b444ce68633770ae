//! The standard DDFs shipped with the crate (files under `protocol/ddf/`, embedded with
//! `include_str!`), written for omadm from the public descriptions: OMA-TS-DM_StdObj-V1_2
//! (DevInfo, DevDetail, DMAcc), the DM 1.1.2 `./SyncML` layout as real clients implement it,
//! and OMA-TS-DM-FUMO-V1_0 (FACTS.md H.1, H.3, I.1, J.1, J.2).

use std::sync::OnceLock;

use super::ddf::{Ddf, DdfError};
use super::uri::NodeUri;

/// Where [`StandardDdf::Fumo`] is mounted unless the device says otherwise (FACTS.md I.1).
pub const DEFAULT_FUMO_ROOT: &str = "./FwUpdate";

/// A standard management-object description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StandardDdf {
    /// `./DevInfo`, `urn:oma:mo:oma-dm-devinfo:1.0` (FACTS.md J.1).
    DevInfo,
    /// `./DevDetail`, `urn:oma:mo:oma-dm-devdetail:1.0` (FACTS.md J.2).
    DevDetail,
    /// `./DMAcc/<x>`, `urn:oma:mo:oma-dm-dmacc:1.0`, DM 1.2 (FACTS.md H.1).
    DmAcc,
    /// `./SyncML/DMAcc/<x>` and `./SyncML/Con/<x>`, DM 1.1.2 (FACTS.md H.3).
    SyncMlDmAcc112,
    /// `<x>` of `urn:oma:mo:oma-fumo:1.0`, mounted by the device's choice (FACTS.md I.1);
    /// [`StandardDdf::get`] places it at [`DEFAULT_FUMO_ROOT`].
    Fumo,
}

impl StandardDdf {
    /// All standard descriptions.
    pub const ALL: [StandardDdf; 5] = [
        StandardDdf::DevInfo,
        StandardDdf::DevDetail,
        StandardDdf::DmAcc,
        StandardDdf::SyncMlDmAcc112,
        StandardDdf::Fumo,
    ];

    /// The file name under `protocol/ddf/`.
    pub const fn file_name(self) -> &'static str {
        match self {
            StandardDdf::DevInfo => "devinfo.xml",
            StandardDdf::DevDetail => "devdetail.xml",
            StandardDdf::DmAcc => "dmacc.xml",
            StandardDdf::SyncMlDmAcc112 => "syncml_dmacc_1_1_2.xml",
            StandardDdf::Fumo => "fumo.xml",
        }
    }

    /// The DDF document (XML).
    pub const fn xml(self) -> &'static str {
        match self {
            StandardDdf::DevInfo => include_str!("../../ddf/devinfo.xml"),
            StandardDdf::DevDetail => include_str!("../../ddf/devdetail.xml"),
            StandardDdf::DmAcc => include_str!("../../ddf/dmacc.xml"),
            StandardDdf::SyncMlDmAcc112 => include_str!("../../ddf/syncml_dmacc_1_1_2.xml"),
            StandardDdf::Fumo => include_str!("../../ddf/fumo.xml"),
        }
    }

    /// The management object identifier (the Type of the MO root), `None` for the DM 1.1.2
    /// layout, which predates MO identifiers (FACTS.md C.7).
    pub const fn mo_id(self) -> Option<&'static str> {
        match self {
            StandardDdf::DevInfo => Some("urn:oma:mo:oma-dm-devinfo:1.0"),
            StandardDdf::DevDetail => Some("urn:oma:mo:oma-dm-devdetail:1.0"),
            StandardDdf::DmAcc => Some("urn:oma:mo:oma-dm-dmacc:1.0"),
            StandardDdf::SyncMlDmAcc112 => None,
            StandardDdf::Fumo => Some("urn:oma:mo:oma-fumo:1.0"),
        }
    }

    /// The description of the MO with identifier `mo_id` (exact match).
    pub fn from_mo_id(mo_id: &str) -> Option<StandardDdf> {
        StandardDdf::ALL.into_iter().find(|d| d.mo_id() == Some(mo_id.trim()))
    }

    /// Parses the description; FUMO stays unmounted (its top node has no Path).
    pub fn parse(self) -> Result<Ddf, DdfError> {
        Ddf::from_xml(self.xml().as_bytes())
    }

    /// The description parsed once and kept, FUMO mounted at [`DEFAULT_FUMO_ROOT`].
    pub fn get(self) -> Result<&'static Ddf, &'static DdfError> {
        static CACHE: [OnceLock<Result<Ddf, DdfError>>; 5] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let slot = &CACHE[self as usize];
        slot.get_or_init(|| {
            let mut ddf = self.parse()?;
            if self == StandardDdf::Fumo
                && let Ok(root) = NodeUri::parse(DEFAULT_FUMO_ROOT)
            {
                ddf.mount(&root);
            }
            Ok(ddf)
        })
        .as_ref()
    }

    /// FUMO (or any description) placed at `root`: top-level nodes without a Path go there.
    pub fn mounted_at(self, root: &NodeUri) -> Result<Ddf, DdfError> {
        let mut ddf = self.parse()?;
        ddf.mount(root);
        Ok(ddf)
    }
}

/// The standard objects of a DM 1.2 device: DevInfo, DevDetail, DMAcc and FUMO at
/// `fumo_root` (e.g. [`DEFAULT_FUMO_ROOT`]) merged into one description.
pub fn dm12_device(fumo_root: &NodeUri) -> Result<Ddf, DdfError> {
    let mut ddf = StandardDdf::DevInfo.parse()?;
    ddf.merge(StandardDdf::DevDetail.parse()?);
    ddf.merge(StandardDdf::DmAcc.parse()?);
    ddf.merge(StandardDdf::Fumo.mounted_at(fumo_root)?);
    Ok(ddf)
}

/// The standard objects of a DM 1.1.2 device: DevInfo, DevDetail and `./SyncML`.
pub fn dm11_device() -> Result<Ddf, DdfError> {
    let mut ddf = StandardDdf::DevInfo.parse()?;
    ddf.merge(StandardDdf::DevDetail.parse()?);
    ddf.merge(StandardDdf::SyncMlDmAcc112.parse()?);
    Ok(ddf)
}
