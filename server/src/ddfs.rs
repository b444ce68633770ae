//! Operator DDF files (OMA-TS-DM_TND-V1_2 "Device Description Framework"; FACTS.md C.7):
//! import, list and delete for the admin API and the CLI (validated, stored, audited like the
//! other admin writes), and the parsed set each node keeps in memory for the session engine.
//!
//! The engine never reads DDFs from the database per message: [`Ddfs`] holds the merged set
//! ([`DdfSet`]), loaded at start, replaced on this node's imports and deletes, and refreshed
//! every [`REFRESH_PERIOD`] when the table's revision (count, largest id, latest change)
//! differs, so nodes sharing PostgreSQL see each other's changes within that delay.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine as _;
use omadm_protocol::tree::NodeUri;
use omadm_storage::{DdfRecord, DdfRevision, Millis, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admin::AdminError;
use crate::app::now_millis;
use crate::session::ddfs::{self as set, DdfSet, OperatorDdf};

/// Largest DDF document accepted, in bytes (vendor DDFs with long Descriptions run to
/// hundreds of KiB).
pub const MAX_DOCUMENT: usize = 1024 * 1024;
/// Largest `POST /api/v1/ddfs` body: the document in Base64 plus the other fields.
pub const MAX_BODY: usize = MAX_DOCUMENT * 4 / 3 + 64 * 1024;
/// Longest DDF name, MO id, mount URI, Man and Mod, in bytes.
pub const MAX_FIELD: usize = 256;
/// How often a node checks whether another changed the DDFs (the delay before an import
/// through another node, or the CLI, is used here).
pub const REFRESH_PERIOD: Duration = Duration::from_secs(30);

/// A DDF to import (`POST /api/v1/ddfs`, `omadm ddf import`): the document as text
/// (`document`, XML) or Base64 (`document_b64`, XML or WBXML), exactly one.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ImportDdf {
    /// Unique name, e.g. `acme-volume`.
    pub name: String,
    /// Where the MO sits on devices: the URI of its root node (`./Vendor/Acme`) or of the
    /// interior node its placeholder root goes under (`./FwUpdate`).
    pub mount: String,
    /// The DDF as XML text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// The DDF, XML or WBXML, in Base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_b64: Option<String>,
    /// The MO identifier; the DFType of the DDF's first top-level node when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mo_id: Option<String>,
    /// Apply only to devices whose `./DevInfo/Man` is this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub man: Option<String>,
    /// Apply only to devices whose `./DevInfo/Mod` is this.
    #[serde(default, rename = "mod", skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// An imported DDF as shown to operators.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DdfView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// MO identifier.
    pub mo_id: Option<String>,
    /// Mount point.
    pub mount: String,
    /// Device filter: manufacturer.
    pub man: Option<String>,
    /// Device filter: model.
    #[serde(rename = "mod")]
    pub model: Option<String>,
    /// Where its top-level nodes sit (`<x>`: a placeholder), `[]` in lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// The document in Base64 (single reads only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_b64: Option<String>,
    /// When imported.
    pub created_at: Millis,
    /// When last changed.
    pub updated_at: Millis,
}

impl DdfView {
    fn of(r: &DdfRecord, nodes: Vec<String>, document: bool) -> DdfView {
        DdfView {
            id: r.id,
            name: r.name.clone(),
            mo_id: r.mo_id.clone(),
            mount: r.mount.clone(),
            man: r.man.clone(),
            model: r.model.clone(),
            nodes,
            document_b64: document.then(|| base64::engine::general_purpose::STANDARD.encode(&r.document)),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn invalid(msg: impl Into<String>) -> AdminError {
    AdminError::Invalid(msg.into())
}

/// A trimmed, non-empty, bounded text field without control characters.
fn field(name: &str, value: &str) -> Result<String, AdminError> {
    let v = value.trim();
    if v.is_empty() || v.len() > MAX_FIELD || v.chars().any(char::is_control) {
        return Err(invalid(format!("{name}: must be 1..={MAX_FIELD} bytes without control characters")));
    }
    Ok(v.to_owned())
}

fn optional(name: &str, value: Option<&str>) -> Result<Option<String>, AdminError> {
    value.filter(|v| !v.trim().is_empty()).map(|v| field(name, v)).transpose()
}

/// A stored DDF parsed and mounted; the error says why the document or mount is unusable.
fn parse(rec: &DdfRecord) -> Result<OperatorDdf, String> {
    let at = NodeUri::parse(&rec.mount).map_err(|e| format!("mount: {e}"))?;
    let mut ddf = set::parse_document(&rec.document).map_err(|e| e.to_string())?;
    set::mount(&mut ddf, &at);
    set::placements(&ddf)?;
    Ok(OperatorDdf { id: rec.id, man: rec.man.clone(), model: rec.model.clone(), ddf })
}

/// Validate a DDF (size, document, mount), store it with an audit entry `ddf.import`, and
/// reload `ddfs` (this node's in-memory set) when given.
pub async fn import(
    store: &Store,
    ddfs: Option<&Ddfs>,
    req: ImportDdf,
    actor: &str,
) -> Result<DdfView, AdminError> {
    let name = field("name", &req.name)?;
    let mount = NodeUri::parse(req.mount.trim()).map_err(|e| invalid(format!("mount: {e}")))?;
    let document = match (req.document, req.document_b64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(b64)) => {
            if b64.len() > MAX_DOCUMENT.div_ceil(3) * 4 + 1024 {
                return Err(AdminError::TooLarge(format!("document: larger than {MAX_DOCUMENT} bytes")));
            }
            let compact: String = b64.split_ascii_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| invalid(format!("document_b64: not Base64: {e}")))?
        }
        _ => return Err(invalid("give exactly one of document (XML text) and document_b64")),
    };
    if document.len() > MAX_DOCUMENT {
        return Err(AdminError::TooLarge(format!("document: larger than {MAX_DOCUMENT} bytes")));
    }
    let now = now_millis();
    let mut rec = DdfRecord {
        id: 0,
        name,
        mo_id: optional("mo_id", req.mo_id.as_deref())?,
        mount: mount.to_string(),
        man: optional("man", req.man.as_deref())?,
        model: optional("mod", req.model.as_deref())?,
        document,
        created_at: now,
        updated_at: now,
    };
    let parsed = parse(&rec).map_err(invalid)?;
    if rec.mo_id.is_none() {
        rec.mo_id =
            parsed.ddf.nodes.first().and_then(|n| n.df.df_type.as_ref()).map(|t| t.as_str().to_owned());
    }
    let nodes = set::placements(&parsed.ddf).map_err(invalid)?;
    let mut tx = store.begin().await?;
    rec.id = tx.create_ddf(&rec).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::DdfExists(rec.name.clone()),
        e => e.into(),
    })?;
    let detail = json!({
        "id": rec.id, "name": rec.name, "mount": rec.mount, "mo_id": rec.mo_id,
        "man": rec.man, "mod": rec.model, "bytes": rec.document.len(),
    });
    tx.audit(actor, "ddf.import", None, &detail, now).await?;
    tx.commit().await?;
    if let Some(d) = ddfs {
        reload_after_change(d, store).await;
    }
    Ok(DdfView::of(&rec, nodes, false))
}

/// This node's set after its own change; on failure the change stays stored and the periodic
/// refresh picks it up.
async fn reload_after_change(ddfs: &Ddfs, store: &Store) {
    if let Err(e) = ddfs.reload(store).await {
        tracing::warn!(error = %e, "DDFs not reloaded after a change; the next refresh will");
    }
}

/// Every imported DDF, by id, without documents.
pub async fn list(store: &Store) -> Result<Vec<DdfView>, AdminError> {
    Ok(store.list_ddfs(false).await?.iter().map(|r| DdfView::of(r, Vec::new(), false)).collect())
}

/// One imported DDF with its placements and document.
pub async fn get(store: &Store, id: i64) -> Result<DdfView, AdminError> {
    let rec = store.get_ddf(id).await?.ok_or(AdminError::DdfNotFound(id))?;
    let nodes = parse(&rec).map(|p| set::placements(&p.ddf).unwrap_or_default()).unwrap_or_default();
    Ok(DdfView::of(&rec, nodes, true))
}

/// Delete an imported DDF, with an audit entry `ddf.delete`; `ddfs` as for [`import`].
pub async fn delete(store: &Store, ddfs: Option<&Ddfs>, id: i64, actor: &str) -> Result<(), AdminError> {
    let mut tx = store.begin().await?;
    if !tx.delete_ddf(id).await? {
        return Err(AdminError::DdfNotFound(id));
    }
    tx.audit(actor, "ddf.delete", None, &json!({ "id": id }), now_millis()).await?;
    tx.commit().await?;
    if let Some(d) = ddfs {
        reload_after_change(d, store).await;
    }
    Ok(())
}

/// The DDFs this node checks commands against, shared by its request handlers (cheap to
/// clone).
#[derive(Clone, Default)]
pub struct Ddfs {
    inner: Arc<RwLock<Loaded>>,
}

#[derive(Default)]
struct Loaded {
    set: Arc<DdfSet>,
    /// The revision `set` was loaded at; `None`: never loaded.
    revision: Option<DdfRevision>,
}

impl std::fmt::Debug for Ddfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ddfs").finish_non_exhaustive()
    }
}

impl Ddfs {
    /// The current set (standard DDFs only until first loaded).
    pub fn current(&self) -> Arc<DdfSet> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).set.clone()
    }

    /// Load every imported DDF from the store and replace the set. A stored document that no
    /// longer parses is left out with a warning (it was valid when imported).
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        // The revision first: a change made during the read shows at the next refresh.
        let revision = store.ddf_revision().await?;
        let mut operator = Vec::new();
        for rec in store.list_ddfs(true).await? {
            match parse(&rec) {
                Ok(d) => operator.push(d),
                Err(e) => tracing::warn!(ddf = rec.id, name = %rec.name, error = %e, "stored DDF left out"),
            }
        }
        let count = operator.len();
        let set = Arc::new(DdfSet::new(operator));
        let mut loaded = self.inner.write().unwrap_or_else(|e| e.into_inner());
        *loaded = Loaded { set, revision: Some(revision) };
        tracing::debug!(operator_ddfs = count, "DDFs loaded");
        Ok(())
    }

    /// Reload when the store's revision differs from the loaded one; returns whether it did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, StoreError> {
        let revision = store.ddf_revision().await?;
        let loaded = self.inner.read().unwrap_or_else(|e| e.into_inner()).revision;
        if loaded == Some(revision) {
            return Ok(false);
        }
        self.reload(store).await?;
        Ok(true)
    }
}

/// Keep `ddfs` in step with the store: load now, then [`Ddfs::refresh`] every
/// [`REFRESH_PERIOD`].
pub async fn refresh_periodically(store: Store, ddfs: Ddfs) {
    let mut tick = tokio::time::interval(REFRESH_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match ddfs.refresh(&store).await {
            Ok(true) => tracing::info!("operator DDFs reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "DDF refresh failed"),
        }
    }
}
